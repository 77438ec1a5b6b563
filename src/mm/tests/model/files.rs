//! The file model: files of the volume read and written through the cache
//! manager as the file system does it (`Mm::cache_*`), beside the processes'
//! views of sections made on the same files, all checked against a byte
//! model of each file (its contents; their length is the file's size).
//!
//! The rules it holds the cache to:
//!
//! - a cache read (alone, or one of a sequential scan with the read-ahead
//!   thread between the reads) returns min(len, size − offset) bytes (none at
//!   or past the end), the model's; a buffered or write-through write (up to
//!   64 pages, past the dirty page threshold) lands at its offset
//!   and extends the file when it ends past it (zeros in any hole); a
//!   write-through write's pages are in the host file when it returns;
//! - a truncate (`cache_set_size`) is refused with STATUS_USER_MAPPED_FILE,
//!   changing nothing, when a process maps a view of the file past the new
//!   end rounded up to a page; otherwise the file takes the size, and what a
//!   later growth adds reads as zeros;
//! - an O_DIRECT read or write (512-byte sectors) writes the file's dirty
//!   pages first, so the host file is the model's bytes after it; one that is
//!   not on sectors is refused with STATUS_INVALID_PARAMETER and changes
//!   nothing;
//! - after an fsync (`cache_flush`) or a purge (`cache/control purge`) the
//!   host file is the model's bytes, and at any time its length is the
//!   model's size (the cache sets it at once), as is the cache's FileSize;
//! - a second open, a close and a reopen lose nothing, nor do read-ahead
//!   hints; a purge is refused with STATUS_USER_MAPPED_FILE and a delete with
//!   STATUS_CANNOT_DELETE while a process maps a view of the file.
//!
//! A section on a file (`FileOp::CreateSection`; one larger than the file,
//! or extended past it by NtExtendSection, grows the file to its size, as NT
//! sets the end of file, and the cache's size follows) is an ordinary section
//! of the run (a `SectionModel`): the other operations map it into processes
//! (read/write, write-copy, read-only), write and read through its views,
//! fork, unmap, delete it and sweep it. Its bytes are the file's first pages,
//! kept in both models: before each file operation the section's bytes, which
//! processes' writes change, are copied into the file's (`Files::pull`), and
//! after it the file's into the section's (`Files::push`). Only one section
//! is made on a file at a time (another once it is deleted and no view of it
//! is left), so the copies go one way at a time.
//!
//! What the model leaves out: bytes of a view past the end of its file. A
//! view of a file's last page shows the page's bytes past the end of file,
//! which NT leaves unspecified (a process may write them; they never reach
//! the file, and a later growth of the file may or may not show them). So a
//! section on a file is mapped only while it lies within the file
//! (`Files::may_map`), and a file a process maps is truncated only to sizes
//! that must be refused or that leave every view within the file (never into
//! the last page of a view): every byte a process reaches through a view of a
//! file is a byte of the file.
//!
//! The draws are made by the chooser here (`Chooser::file_op`, kinds 42 to 47
//! of `generators.rs`); the calls and the comparisons by `Run::file_op`; the
//! runner's batch check reads one file back whole in turn (`check_files`),
//! and the end of the run flushes every file and compares it with the host
//! file (`finish_files`).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use super::generators::{Chooser, Op, SystemOp};
use super::reference::{Expect, Kind, Model, PAGE, RW, Refusal, SectionModel};
use super::runner::Run;
use crate::mm::NtStatus;
use crate::mm::api::{CachedFile, FileId, Hint, WriteMode};
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::base::wakeups::SystemThread;

/// Files the model keeps at once.
const MAX_FILES: usize = 4;
/// The largest file: 80 pages, more than one 256 KB view of the system cache,
/// so that copies cross from one view to the next.
const MAX_FILE: u64 = 80 * PAGE_SIZE;
/// The sector O_DIRECT transfers must start and end on.
const SECTOR: u64 = 512;

/// One file of the model.
pub(super) struct FileModel {
    /// Its name in the volume (`files_dir`).
    pub(super) name: String,
    /// Its bytes: the file's size is their length.
    pub(super) data: Vec<u8>,
    /// Opens the runner holds of it (0 to 2; the cache counts them).
    pub(super) opens: usize,
    pub(super) deleted: bool,
    /// The sections made on it (indexes into the run's sections), the
    /// current one last.
    pub(super) sections: Vec<usize>,
}

impl FileModel {
    /// What a read of `len` bytes at `offset` returns.
    fn read(&self, offset: u64, len: usize) -> &[u8] {
        let size = self.data.len() as u64;
        if offset >= size {
            return &[];
        }
        let end = (offset + len as u64).min(size);
        &self.data[offset as usize..end as usize]
    }

    /// A write of `data` at `offset`, extending the file with zeros up to it.
    fn write(&mut self, offset: u64, data: &[u8]) {
        let end = offset as usize + data.len();
        if end > self.data.len() {
            self.data.resize(end, 0);
        }
        self.data[offset as usize..end].copy_from_slice(data);
    }
}

/// What the file operations did, for the line the test prints.
#[derive(Clone, Copy, Default)]
pub(super) struct FileStats {
    pub(super) ops: u64,
    /// Comparisons of a whole host file with the model (after an fsync, an
    /// O_DIRECT transfer or a purge, and at the end).
    pub(super) host_checks: u64,
    /// Truncates refused with STATUS_USER_MAPPED_FILE.
    pub(super) user_mapped: u64,
    /// O_DIRECT transfers refused for not being on sectors.
    pub(super) unaligned: u64,
    /// Deletes refused with STATUS_CANNOT_DELETE.
    pub(super) delete_refused: u64,
    /// File operations that found bytes a process wrote through a view.
    pub(super) view_writes_seen: u64,
    /// Purges refused with STATUS_USER_MAPPED_FILE.
    pub(super) purge_refused: u64,
    /// The largest a file has been.
    pub(super) largest: u64,
}

/// The files of the model.
#[derive(Default)]
pub(super) struct Files {
    pub(super) files: Vec<FileModel>,
    pub(super) stats: FileStats,
    /// Files made so far, for their names.
    made: u64,
    /// The next file the batch check reads back.
    turn: usize,
}

impl Files {
    /// The indexes of the files not deleted.
    fn live(&self) -> Vec<usize> {
        (0..self.files.len())
            .filter(|&i| !self.files[i].deleted)
            .collect()
    }

    /// The file section `si` was made on, if one of the model's.
    fn file_of_section(&self, si: usize) -> Option<usize> {
        (0..self.files.len()).find(|&fi| self.files[fi].sections.contains(&si))
    }

    /// Whether `s` is a section on one of the model's files (checked by
    /// `finish_files`, not by the runner's end-of-run file check).
    pub(super) fn owns(&self, s: &SectionModel) -> bool {
        s.file
            .as_ref()
            .is_some_and(|f| self.files.iter().any(|m| &m.name == f))
    }

    /// Whether section `si` may be mapped: a section on a file only while it
    /// lies within the file (the module's doc says why).
    pub(super) fn may_map(&self, si: usize, sections: &[SectionModel]) -> bool {
        self.file_of_section(si)
            .is_none_or(|fi| sections[si].data.len() <= self.files[fi].data.len())
    }

    /// Copies what processes wrote through views of each file's current
    /// section into the file's bytes.
    pub(super) fn pull(&mut self, sections: &[SectionModel]) {
        for f in &mut self.files {
            let Some(&si) = f.sections.last() else {
                continue;
            };
            let n = f.data.len().min(sections[si].data.len());
            if f.data[..n] != sections[si].data[..n] {
                f.data[..n].copy_from_slice(&sections[si].data[..n]);
                self.stats.view_writes_seen += 1;
            }
        }
    }

    /// Copies each file's bytes into its current section's (zeros where the
    /// section runs past the end of the file: no view reaches there).
    pub(super) fn push(&self, sections: &mut [SectionModel]) {
        for f in &self.files {
            let Some(&si) = f.sections.last() else {
                continue;
            };
            let s = &mut sections[si].data;
            let n = f.data.len().min(s.len());
            s[..n].copy_from_slice(&f.data[..n]);
            s[n..].fill(0);
        }
    }
}

impl Model {
    /// The views processes map of sections on file `fi`: (first page of the
    /// file, pages).
    fn views_of_file(&self, fi: usize) -> Vec<(u64, u64)> {
        let sections = &self.files.files[fi].sections;
        let mut views = Vec::new();
        for p in &self.procs {
            for r in p.regions.values() {
                if let Kind::View(v) = &r.kind
                    && sections.contains(&v.section)
                {
                    views.push((v.first_page, v.pages()));
                }
            }
        }
        views
    }

    /// The end (in bytes) of the furthest view a process maps of file `fi`,
    /// 0 when none.
    fn mapped_end(&self, fi: usize) -> u64 {
        (self.views_of_file(fi).iter())
            .map(|&(first, pages)| (first + pages) * PAGE_SIZE)
            .max()
            .unwrap_or(0)
    }

    /// Whether a section on file `fi` is still there: not deleted, or mapped.
    fn has_present_section(&self, fi: usize) -> bool {
        let f = &self.files.files[fi];
        f.sections.iter().any(|&si| !self.sections[si].deleted) || self.mapped_end(fi) > 0
    }

    /// What `cache_set_size(size)` on file `fi` must do (MmCanFileBeTruncated).
    fn set_size(&self, fi: usize, size: u64) -> Expect<()> {
        let old = self.files.files[fi].data.len() as u64;
        if size < old && self.mapped_end(fi) > size.next_multiple_of(PAGE_SIZE) {
            return Err(Refusal {
                what: "truncate below a mapped view",
                status: NtStatus::USER_MAPPED_FILE,
            });
        }
        Ok(())
    }

    /// What `cache_purge_path` on file `fi` must do.
    fn purge(&self, fi: usize) -> Expect<()> {
        if self.mapped_end(fi) > 0 {
            return Err(Refusal {
                what: "purge a mapped file",
                status: NtStatus::USER_MAPPED_FILE,
            });
        }
        Ok(())
    }

    /// What `cache_check_delete` on file `fi` must do (MmFlushImageSection).
    fn delete_file(&self, fi: usize) -> Expect<()> {
        if self.mapped_end(fi) > 0 {
            return Err(Refusal {
                what: "delete a mapped file",
                status: NtStatus::CANNOT_DELETE,
            });
        }
        Ok(())
    }
}

/// A call of the cache manager on a file of the model (by its index).
pub(super) enum FileOp {
    /// A new file with these bytes, opened.
    Create(Vec<u8>),
    Read {
        fi: usize,
        offset: u64,
        len: usize,
    },
    /// `count` reads of `len` bytes one after the other from `offset`, the
    /// read-ahead thread running after each (a sequential scan).
    Scan {
        fi: usize,
        offset: u64,
        len: usize,
        count: u64,
    },
    Write {
        fi: usize,
        offset: u64,
        data: Vec<u8>,
        mode: WriteMode,
    },
    /// Truncate or extend.
    SetSize {
        fi: usize,
        size: u64,
    },
    Flush(usize),
    DirectRead {
        fi: usize,
        offset: u64,
        len: usize,
    },
    DirectWrite {
        fi: usize,
        offset: u64,
        data: Vec<u8>,
    },
    /// Close one of the file's opens.
    Close(usize),
    /// Open the file (again).
    Open(usize),
    /// A section of `pages` pages on the file (from its start).
    CreateSection {
        fi: usize,
        pages: u64,
    },
    /// NtExtendSection of the file's section to `pages` pages.
    ExtendSection {
        fi: usize,
        pages: u64,
    },
    /// `cache/control purge` (CcPurgeCacheSection).
    Purge(usize),
    /// `cache/control hint` (FILE_FLAG_SEQUENTIAL_SCAN, RANDOM_ACCESS).
    Hint(usize, Hint),
    Delete(usize),
}

impl FileOp {
    /// The operation and its arguments, for `MMFS_MODEL_TRACE`.
    pub(super) fn describe(&self) -> String {
        match self {
            FileOp::Create(d) => format!("create a file of {:#x} bytes", d.len()),
            FileOp::Read { fi, offset, len } => {
                format!("cache read file {fi} {offset:#x} +{len:#x}")
            }
            FileOp::Scan {
                fi,
                offset,
                len,
                count,
            } => format!("scan file {fi} from {offset:#x}: {count} reads of {len:#x}"),
            FileOp::Write {
                fi,
                offset,
                data,
                mode,
            } => format!(
                "cache write file {fi} {offset:#x} +{:#x} {mode:?}",
                data.len()
            ),
            FileOp::SetSize { fi, size } => format!("set the size of file {fi} to {size:#x}"),
            FileOp::Flush(fi) => format!("fsync file {fi}"),
            FileOp::DirectRead { fi, offset, len } => {
                format!("O_DIRECT read file {fi} {offset:#x} +{len:#x}")
            }
            FileOp::DirectWrite { fi, offset, data } => {
                format!("O_DIRECT write file {fi} {offset:#x} +{:#x}", data.len())
            }
            FileOp::Close(fi) => format!("close file {fi}"),
            FileOp::Open(fi) => format!("reopen file {fi}"),
            FileOp::CreateSection { fi, pages } => {
                format!("create a section of {pages} pages on file {fi}")
            }
            FileOp::ExtendSection { fi, pages } => {
                format!("extend the section on file {fi} to {pages} pages")
            }
            FileOp::Purge(fi) => format!("purge file {fi}"),
            FileOp::Hint(fi, h) => format!("hint file {fi} {}", h.name()),
            FileOp::Delete(fi) => format!("delete file {fi}"),
        }
    }
}

/// `len` bytes of a pattern that starts from `fill`.
fn pattern(fill: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (fill.wrapping_add(i as u64 * 0x9E37) >> 8) as u8)
        .collect()
}

fn on_sectors(offset: u64, len: usize) -> bool {
    offset.is_multiple_of(SECTOR) && (len as u64).is_multiple_of(SECTOR)
}

// ---- choosing ------------------------------------------------------------------

impl Chooser<'_> {
    /// A file operation (kinds 42 to 47), a transfer through a process's view
    /// of a section on a file, or a pass of the lazy writer or read-ahead.
    pub(super) fn file_op(&mut self, pi: usize) -> Option<Op> {
        let op = match self.rng.below(20) {
            0 => self.create_file()?,
            1..=2 => self.cache_read()?,
            3 => self.scan()?,
            4..=6 => self.cache_write(WriteMode::Buffered)?,
            7 => self.cache_write(WriteMode::WriteThrough)?,
            8..=9 => self.set_size()?,
            10 => FileOp::Flush(self.file_where(|f| f.opens > 0)?),
            11 => self.direct(false)?,
            12 => self.direct(true)?,
            13 => self.close_or_open()?,
            14 if self.chance(3) => self.extend_section()?,
            14 => self.file_section()?,
            15..=17 => return self.view_transfer(pi),
            18 => match self.rng.below(6) {
                0..=1 => self.delete_file()?,
                2..=3 => FileOp::Purge(self.file_where(|_| true)?),
                _ => {
                    let fi = self.file_where(|_| true)?;
                    let hint = [Hint::Normal, Hint::Sequential, Hint::Random][self.pick(3)];
                    FileOp::Hint(fi, hint)
                }
            },
            19 => {
                let t = [SystemThread::LazyWriter, SystemThread::ReadAhead][self.pick(2)];
                return Some(Op::System(SystemOp::Thread(t)));
            }
            _ => return None,
        };
        Some(Op::File(op))
    }

    /// A file not deleted that `keep` accepts.
    fn file_where(&mut self, keep: impl Fn(&FileModel) -> bool) -> Option<usize> {
        let files = &self.model.files;
        let fs: Vec<usize> = (files.live().into_iter())
            .filter(|&i| keep(&files.files[i]))
            .collect();
        if fs.is_empty() {
            return None;
        }
        Some(fs[self.pick(fs.len())])
    }

    fn size_of(&self, fi: usize) -> u64 {
        self.model.files.files[fi].data.len() as u64
    }

    /// A new file: empty, or up to 24 pages (a whole number of them half the
    /// time).
    fn create_file(&mut self) -> Option<FileOp> {
        if self.model.files.live().len() >= MAX_FILES {
            return None;
        }
        let size = match self.rng.below(4) {
            0 => 0,
            1 => (1 + self.rng.below(24)) * PAGE_SIZE,
            _ => 1 + self.rng.below(24 * PAGE_SIZE),
        };
        Some(FileOp::Create(pattern(self.rng.next(), size as usize)))
    }

    /// An offset for a transfer in a file of `size` bytes: mostly inside it,
    /// a quarter of the time about its end (a write there extends the file);
    /// page-aligned a quarter of the time.
    fn file_offset(&mut self, size: u64) -> u64 {
        let offset = if self.chance(4) {
            size.saturating_sub(PAGE_SIZE) + self.rng.below(3 * PAGE_SIZE)
        } else {
            self.rng.below(size.max(1))
        };
        match self.chance(4) {
            true => offset & !(PAGE_SIZE - 1),
            false => offset,
        }
    }

    /// A transfer's length: up to 3 pages, an eighth of the time up to 24,
    /// and one time in 16 from 32 to 64 (the cache's dirty page threshold
    /// on 1 MB is 64 pages: the write throttle).
    fn file_len(&mut self) -> usize {
        if self.chance(16) {
            return (32 * PAGE_SIZE + self.rng.below(32 * PAGE_SIZE)) as usize;
        }
        let most = if self.chance(7) { 24 } else { 3 };
        1 + self.rng.below(most * PAGE_SIZE) as usize
    }

    fn cache_read(&mut self) -> Option<FileOp> {
        let fi = self.file_where(|f| f.opens > 0)?;
        let size = self.size_of(fi);
        let (offset, len) = match self.chance(10) {
            true => (0, size as usize + 1),
            false => (self.file_offset(size), self.file_len()),
        };
        Some(FileOp::Read { fi, offset, len })
    }

    /// A sequential scan of 2 to 8 reads of 1 to 16 pages, from the start
    /// half the time.
    fn scan(&mut self) -> Option<FileOp> {
        let fi = self.file_where(|f| f.opens > 0)?;
        let size = self.size_of(fi);
        let offset = match self.chance(2) {
            true => 0,
            false => self.rng.below(size.max(1)) & !(PAGE_SIZE - 1),
        };
        let len = ((1 + self.rng.below(16)) * PAGE_SIZE) as usize;
        let count = 2 + self.rng.below(7);
        Some(FileOp::Scan {
            fi,
            offset,
            len,
            count,
        })
    }

    fn cache_write(&mut self, mode: WriteMode) -> Option<FileOp> {
        let fi = self.file_where(|f| f.opens > 0)?;
        let offset = self.file_offset(self.size_of(fi)).min(MAX_FILE - 1);
        let len = self.file_len().min((MAX_FILE - offset) as usize);
        let data = pattern(self.rng.next(), len);
        Some(FileOp::Write {
            fi,
            offset,
            data,
            mode,
        })
    }

    /// A new size: half the time smaller, else larger, a third of the time
    /// page-aligned. A file a process maps is not truncated into the last page
    /// of a view (the module's doc says why).
    fn set_size(&mut self) -> Option<FileOp> {
        let fi = self.file_where(|f| f.opens > 0)?;
        let old = self.size_of(fi);
        let mut size = match self.chance(2) {
            true => self.rng.below(old + 1),
            false => old + self.rng.below(8 * PAGE_SIZE),
        };
        if self.chance(3) {
            size &= !(PAGE_SIZE - 1);
        }
        let size = size.min(MAX_FILE);
        let end = self.model.mapped_end(fi);
        if size < end && size.next_multiple_of(PAGE_SIZE) >= end {
            return None;
        }
        Some(FileOp::SetSize { fi, size })
    }

    /// An O_DIRECT read or write: whole sectors, but a quarter of the time
    /// off them by the offset or the length (refused).
    fn direct(&mut self, write: bool) -> Option<FileOp> {
        let fi = self.file_where(|f| f.opens > 0)?;
        let size = self.size_of(fi);
        let mut len = SECTOR * (1 + self.rng.below(24));
        let room = (MAX_FILE - len).min(size + 4 * SECTOR);
        let mut offset = SECTOR * self.rng.below(room / SECTOR + 1);
        if self.chance(4) {
            match self.chance(2) {
                true => offset += 1 + self.rng.below(SECTOR - 1),
                false => len -= 1 + self.rng.below(SECTOR - 1),
            }
        }
        let len = len as usize;
        Some(match write {
            true => {
                let data = pattern(self.rng.next(), len);
                FileOp::DirectWrite { fi, offset, data }
            }
            false => FileOp::DirectRead { fi, offset, len },
        })
    }

    /// Opens a file a second time, or closes one of its opens.
    fn close_or_open(&mut self) -> Option<FileOp> {
        let fi = self.file_where(|_| true)?;
        let close = match self.model.files.files[fi].opens {
            0 => false,
            1 => self.chance(2),
            _ => true,
        };
        Some(match close {
            true => FileOp::Close(fi),
            false => FileOp::Open(fi),
        })
    }

    /// NtExtendSection on a file's live section: up to 8 pages more (which
    /// grows the file where it passes it).
    fn extend_section(&mut self) -> Option<FileOp> {
        let model = self.model;
        let live = |f: &FileModel| {
            f.sections
                .last()
                .is_some_and(|&si| !model.sections[si].deleted)
        };
        let fi = self.file_where(live)?;
        let si = *model.files.files[fi].sections.last()?;
        let now = model.sections[si].data.len() as u64 / PAGE_SIZE;
        let pages = (now + 1 + self.rng.below(8)).min(MAX_FILE / PAGE_SIZE);
        Some(FileOp::ExtendSection { fi, pages })
    }

    /// A section on a file with no section there now (while fewer than four
    /// sections are live): mostly within the file, a quarter of the time
    /// larger, which grows the file.
    fn file_section(&mut self) -> Option<FileOp> {
        if SectionModel::live(&self.model.sections).len() >= 4 {
            return None;
        }
        let fi = self.file_where(|_| true)?;
        if self.model.has_present_section(fi) {
            return None;
        }
        let whole = self.size_of(fi) / PAGE_SIZE;
        let pages = match whole == 0 || self.chance(4) {
            true => (whole + 1 + self.rng.below(8)).min(MAX_FILE / PAGE_SIZE),
            false => 1 + self.rng.below(whole),
        };
        Some(FileOp::CreateSection {
            fi,
            pages: pages.min(40),
        })
    }

    /// A write or read through a view process `pi` maps of a section on a
    /// file, inside the view.
    fn view_transfer(&mut self, pi: usize) -> Option<Op> {
        let model = self.model;
        let files = &model.files;
        let r = self.random_region(
            pi,
            |r| matches!(&r.kind, Kind::View(v) if files.file_of_section(v.section).is_some()),
        )?;
        let va = r.base + self.rng.below(r.pages * PAGE_SIZE);
        let len = (1 + self.rng.below(2 * PAGE_SIZE)).min(r.end() - va) as usize;
        Some(match self.chance(2) {
            true => Op::Write {
                va,
                data: pattern(self.rng.next(), len),
            },
            false => Op::Read { va, len },
        })
    }

    /// A file with no live section object on it (one whose sections are
    /// deleted, but maybe still mapped: then the delete is refused).
    fn delete_file(&mut self) -> Option<FileOp> {
        let model = self.model;
        let sections = &model.sections;
        let fi = self.file_where(|f| f.sections.iter().all(|&si| sections[si].deleted))?;
        Some(FileOp::Delete(fi))
    }
}

// ---- running -------------------------------------------------------------------

impl Run {
    /// Applies a file operation to `Mm` and to the model, and compares.
    pub(super) fn file_op(&mut self, op: FileOp) {
        self.model.files.stats.ops += 1;
        let m = &mut self.model;
        m.files.pull(&m.sections);
        match op {
            FileOp::Create(data) => self.create_file(data),
            FileOp::Read { fi, offset, len } => self.cache_read(fi, offset, len),
            FileOp::Scan {
                fi,
                offset,
                len,
                count,
            } => {
                for i in 0..count {
                    self.cache_read(fi, offset + i * len as u64, len);
                    self.mm.run_thread(SystemThread::ReadAhead);
                }
            }
            FileOp::Write {
                fi,
                offset,
                data,
                mode,
            } => self.cache_write(fi, offset, &data, mode),
            FileOp::SetSize { fi, size } => self.set_size(fi, size),
            FileOp::Flush(fi) => {
                let r = self.mm.cache_flush(self.handle(fi));
                self.expect_ok("fsync", r);
                self.check_host(fi, "after fsync");
            }
            FileOp::DirectRead { fi, offset, len } => self.direct_read(fi, offset, len),
            FileOp::DirectWrite { fi, offset, data } => self.direct_write(fi, offset, &data),
            FileOp::Close(fi) => {
                let h = self.handles[fi].pop().expect("open");
                self.expect_ok("close", self.mm.cache_close(h));
                self.model.files.files[fi].opens -= 1;
            }
            FileOp::Open(fi) => {
                let h = self.open_file(fi);
                self.handles[fi].push(h);
                self.model.files.files[fi].opens += 1;
            }
            FileOp::CreateSection { fi, pages } => self.file_section(fi, pages),
            FileOp::ExtendSection { fi, pages } => self.extend_section(fi, pages),
            FileOp::Purge(fi) => self.purge(fi),
            FileOp::Hint(fi, hint) => {
                let name = &self.model.files.files[fi].name;
                self.expect_ok("hint", self.mm.cache_hint_path(name, hint));
            }
            FileOp::Delete(fi) => self.delete_file(fi),
        }
        let m = &mut self.model;
        m.files.push(&mut m.sections);
        let largest = m.files.files.iter().map(|f| f.data.len() as u64).max();
        let stats = &mut m.files.stats;
        stats.largest = stats.largest.max(largest.unwrap_or(0));
        self.check_sizes();
    }

    /// The file's latest open.
    fn handle(&self, fi: usize) -> &CachedFile {
        self.handles[fi]
            .last()
            .expect("the model keeps the file open")
    }

    fn host_path(&self, fi: usize) -> std::path::PathBuf {
        let name = &self.model.files.files[fi].name;
        self.mm.config().files_dir.join(name)
    }

    fn open_file(&self, fi: usize) -> CachedFile {
        let path = self.host_path(fi);
        let f = OpenOptions::new().read(true).write(true).open(&path);
        let f = f.unwrap_or_else(|e| panic!("{}: open {}: {e}", self.ctx(), path.display()));
        let name = &self.model.files.files[fi].name;
        self.expect_ok("cache open", self.mm.cache_open(f, name))
    }

    fn create_file(&mut self, data: Vec<u8>) {
        let files = &mut self.model.files;
        files.made += 1;
        files.files.push(FileModel {
            name: format!("cf{}", files.made),
            data,
            opens: 1,
            deleted: false,
            sections: Vec::new(),
        });
        let fi = files.files.len() - 1;
        let path = self.host_path(fi);
        std::fs::write(path, &self.model.files.files[fi].data).unwrap();
        let h = self.open_file(fi);
        self.handles.push(vec![h]);
    }

    fn cache_read(&mut self, fi: usize, offset: u64, len: usize) {
        let mut buf = vec![0u8; len];
        let r = self.mm.cache_read(self.handle(fi), offset, &mut buf);
        let n = self.expect_ok("cache read", r);
        let want = self.model.files.files[fi].read(offset, len);
        self.compare_file(fi, "cache read", offset, &buf[..n], want);
    }

    fn cache_write(&mut self, fi: usize, offset: u64, data: &[u8], mode: WriteMode) {
        let r = self.mm.cache_write(self.handle(fi), offset, data, mode);
        let n = self.expect_ok("cache write", r);
        assert_eq!(n, data.len(), "{}: cache write", self.ctx());
        self.model.files.files[fi].write(offset, data);
        if mode == WriteMode::WriteThrough {
            // The pages the write dirtied are in the host file.
            let first = offset & !(PAGE_SIZE - 1);
            let end = (offset + data.len() as u64).next_multiple_of(PAGE_SIZE);
            let end = end.min(self.model.files.files[fi].data.len() as u64);
            let mut host = vec![0u8; (end - first) as usize];
            let file = std::fs::File::open(self.host_path(fi)).unwrap();
            file.read_exact_at(&mut host, first).unwrap();
            let want = &self.model.files.files[fi].data[first as usize..end as usize];
            self.compare_file(
                fi,
                "the host file after a write-through",
                first,
                &host,
                want,
            );
        }
    }

    fn set_size(&mut self, fi: usize, size: u64) {
        let want = self.model.set_size(fi, size);
        let r = self.mm.cache_set_size(self.handle(fi), size);
        match self.expect("set size", r, want) {
            Some(_) => self.model.files.files[fi].data.resize(size as usize, 0),
            None => self.model.files.stats.user_mapped += 1,
        }
    }

    fn direct_read(&mut self, fi: usize, offset: u64, len: usize) {
        let mut buf = vec![0u8; len];
        let r = self.mm.cache_direct_read(self.handle(fi), offset, &mut buf);
        if !on_sectors(offset, len) {
            self.model.files.stats.unaligned += 1;
            return self.expect_refused("O_DIRECT read", r, NtStatus::INVALID_PARAMETER);
        }
        let n = self.expect_ok("O_DIRECT read", r);
        let want = self.model.files.files[fi].read(offset, len);
        self.compare_file(fi, "O_DIRECT read", offset, &buf[..n], want);
        self.check_host(fi, "after an O_DIRECT read");
    }

    fn direct_write(&mut self, fi: usize, offset: u64, data: &[u8]) {
        let r = self.mm.cache_direct_write(self.handle(fi), offset, data);
        if !on_sectors(offset, data.len()) {
            self.model.files.stats.unaligned += 1;
            return self.expect_refused("O_DIRECT write", r, NtStatus::INVALID_PARAMETER);
        }
        let n = self.expect_ok("O_DIRECT write", r);
        assert_eq!(n, data.len(), "{}: O_DIRECT write", self.ctx());
        self.model.files.files[fi].write(offset, data);
        self.check_host(fi, "after an O_DIRECT write");
    }

    fn file_section(&mut self, fi: usize, pages: u64) {
        let name = self.model.next_name("fs");
        let file = self.model.files.files[fi].name.clone();
        let bytes = pages * PAGE_SIZE;
        let r = self.mm.create_section(&name, bytes, Some(&file), RW, false);
        let got = self.expect_ok("create a section on a cached file", r);
        assert_eq!(got, bytes, "{}: section size", self.ctx());
        // A section larger than its file grows the file (NtCreateSection
        // sets the end of file).
        let f = &mut self.model.files.files[fi];
        if f.data.len() < bytes as usize {
            f.data.resize(bytes as usize, 0);
        }
        let data = f.data[..bytes as usize].to_vec();
        self.model
            .sections
            .push(SectionModel::new(name, data, Some(file)));
        let si = self.model.sections.len() - 1;
        self.model.files.files[fi].sections.push(si);
    }

    fn extend_section(&mut self, fi: usize, pages: u64) {
        let si = *self.model.files.files[fi].sections.last().expect("chosen");
        let bytes = pages * PAGE_SIZE;
        let name = &self.model.sections[si].name;
        let got = self.expect_ok("extend a section", self.mm.extend_section(name, bytes));
        assert_eq!(got, bytes, "{}: extended section size", self.ctx());
        self.model.sections[si].data.resize(bytes as usize, 0);
        let f = &mut self.model.files.files[fi];
        if f.data.len() < bytes as usize {
            f.data.resize(bytes as usize, 0);
        }
    }

    /// CcPurgeCacheSection: refused while a process maps the file; else the
    /// dirty pages are written and the cached ones dropped, so the host file
    /// is the model's bytes and the next reads come from it.
    fn purge(&mut self, fi: usize) {
        let want = self.model.purge(fi);
        let r = self.mm.cache_purge_path(&self.model.files.files[fi].name);
        match self.expect("purge", r, want) {
            Some(_) => self.check_host(fi, "after a purge"),
            None => self.model.files.stats.purge_refused += 1,
        }
    }

    fn delete_file(&mut self, fi: usize) {
        let path = self.host_path(fi);
        let id = FileId::of(&std::fs::File::open(&path).unwrap()).unwrap();
        let want = self.model.delete_file(fi);
        let r = self.mm.cache_check_delete(id);
        if self.expect("delete", r, want).is_none() {
            self.model.files.stats.delete_refused += 1;
            return;
        }
        std::fs::remove_file(&path).unwrap();
        for h in std::mem::take(&mut self.handles[fi]) {
            self.expect_ok("close a deleted file", self.mm.cache_close(h));
        }
        let f = &mut self.model.files.files[fi];
        f.deleted = true;
        f.opens = 0;
    }

    // ---- the checks ----------------------------------------------------------

    /// Bytes of file `fi` from `offset` that must be the model's.
    fn compare_file(&self, fi: usize, what: &str, offset: u64, have: &[u8], want: &[u8]) {
        let name = &self.model.files.files[fi].name;
        assert_eq!(
            have.len(),
            want.len(),
            "{}: {what} of file {fi} ({name}) at {offset:#x}: bytes",
            self.ctx()
        );
        if let Some(i) = (0..have.len()).find(|&i| have[i] != want[i]) {
            panic!(
                "{}: {what} of file {fi} ({name}) finds {:#x} at {:#x}; the model says {:#x}",
                self.ctx(),
                have[i],
                offset + i as u64,
                want[i]
            );
        }
    }

    /// The host file is the model's bytes.
    fn check_host(&mut self, fi: usize, when: &str) {
        let host = std::fs::read(self.host_path(fi)).unwrap();
        let what = format!("the host file {when}");
        self.compare_file(fi, &what, 0, &host, &self.model.files.files[fi].data);
        self.model.files.stats.host_checks += 1;
    }

    /// Every file's host length, and the cache's size of every open file, is
    /// the model's size.
    fn check_sizes(&self) {
        for fi in self.model.files.live() {
            let f = &self.model.files.files[fi];
            let size = f.data.len() as u64;
            let host = std::fs::metadata(self.host_path(fi)).unwrap().len();
            let ctx = self.ctx();
            assert_eq!(
                host, size,
                "{ctx}: the host length of file {fi} ({})",
                f.name
            );
            if let Some(h) = self.handles[fi].last() {
                let cached = self.expect_ok("file size", self.mm.cache_file_size(h));
                assert_eq!(cached, size, "{ctx}: the cache's size of file {fi}");
            }
        }
    }

    /// The batch check: the sizes, and one open file read back whole (each
    /// in turn).
    pub(super) fn check_files(&mut self) {
        let m = &mut self.model;
        m.files.pull(&m.sections);
        self.check_sizes();
        let open: Vec<usize> = (self.model.files.live().into_iter())
            .filter(|&fi| self.model.files.files[fi].opens > 0)
            .collect();
        if open.is_empty() {
            return;
        }
        let files = &mut self.model.files;
        let fi = open[files.turn % open.len()];
        files.turn += 1;
        let len = files.files[fi].data.len();
        self.cache_read(fi, 0, len + PAGE);
    }

    /// The end of the run (every process and section gone): each file is
    /// opened if it is closed, flushed, compared with its host file and
    /// closed; `verify` still holds.
    pub(super) fn finish_files(&mut self) {
        let m = &mut self.model;
        m.files.pull(&m.sections);
        for fi in self.model.files.live() {
            if self.handles[fi].is_empty() {
                let h = self.open_file(fi);
                self.handles[fi].push(h);
            }
            self.expect_ok("fsync", self.mm.cache_flush(self.handle(fi)));
            self.check_host(fi, "at the end");
            self.check_sizes();
            for h in std::mem::take(&mut self.handles[fi]) {
                self.expect_ok("close", self.mm.cache_close(h));
            }
        }
        let r = self.mm.verify();
        assert!(r.ok(), "{}:\n{}", self.ctx(), r.violations.join("\n"));
    }
}
