//! Layer 3, paging files: where modified private and pagefile-backed pages go
//! when their frame is reused (NT: `MmPagingFile[]`, one `MMPAGING_FILE` each).
//!
//! Up to 16 paging files; a file's index is the `PageFileLow` field of the pagefile
//! PTEs that point into it, and a slot number (page offset) is `PageFileHigh`. Each
//! paging file is a real host file, so page contents really go to disk and back.
//!
//! Space is tracked as NT does it: one bitmap per file (a set bit is a used slot) and
//! a hint, the slot after the last allocation, where the next search starts
//! (MiAllocatePagingFileSpace / MiGatherPagefilePages with `HintSetToZero`). The
//! modified page writer asks for runs of up to 16 consecutive slots, so one cluster
//! of up to 16 pages (64 KB) goes out in one write.
//!
//! Slot 0 of every file is never handed out: its bit is set when the file is created
//! and stays set (as MiCreatePagingFile does), so a pagefile PTE with `PageFileHigh`
//! 0 always means demand zero. It is not counted as used.
//!
//! [`PagingFiles`] has no lock of its own: the caller keeps it behind a leaf Mutex.
//! Page I/O goes through [`PagefileIo`], which the caller clones out under that lock
//! and uses after dropping it, so no disk access happens with the lock held.

mod host_map;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Pfn};
use crate::mm::hw::physmem::PhysicalMemory;
use host_map::HostMap;

/// NT supports at most 16 paging files (`PageFileLow` is 4 bits).
pub const MAX_PAGING_FILES: usize = 16;

/// The longest run one allocation hands out: the modified page writer's cluster
/// (MM_MAXIMUM_WRITE_CLUSTER, 16 pages = 64 KB).
pub const MAX_CLUSTER: u32 = 16;

/// The smallest paging file: slot 0 plus one usable slot.
pub const MINIMUM_PAGES: u64 = 2;

/// The longest name accepted for a paging file (it is also a host file name).
const MAX_NAME_LEN: usize = 64;

/// What NT leaves free on the volume when it extends a paging file
/// (MmMinimumFreeDiskSpace, 1 MB).
pub const MINIMUM_FREE_DISK_SPACE: u64 = 1 << 20;

/// Names that would collide with the files of `pagefiles/` itself.
const RESERVED_NAMES: [&str; 4] = [".", "..", "README", "control"];

/// A run of consecutive slots in one paging file, handed out for one cluster write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SlotRun {
    pub file: u8,
    pub first: u32,
    pub count: u32,
}

/// Plain-data view for `pagefiles/NAME/info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagingFileInfo {
    pub index: u8,
    pub name: String,
    pub path: PathBuf,
    pub minimum_pages: u64,
    pub maximum_pages: u64,
    pub current_pages: u64,
    pub used_pages: u64,
    pub free_pages: u64,
    pub peak_used_pages: u64,
    pub pages_written: u64,
    pub pages_read: u64,
}

/// Does a paging file's I/O without the paging-file lock: clone the `Arc` under the
/// lock, drop the lock, then read or write. A memcpy through the mapping of the
/// minimum size (`host_map.rs`, guarded against SIGBUS), positioned I/O
/// (pread/pwrite) beyond it or once the mapping is retired: neither needs a file
/// position, so any number of threads may use one handle at once.
pub struct PagefileIo {
    file: File,
    /// The first `minimum` pages mapped (`host_map.rs`); None when the host
    /// refused, and pread/pwrite do everything.
    map: Option<HostMap>,
    pages_written: AtomicU64,
    pages_read: AtomicU64,
}

impl PagefileIo {
    /// pwrite of whole pages at `first_slot * 4096` (`data.len()` a multiple of 4096).
    /// Counts pages_written on success.
    pub fn write_pages(&self, first_slot: u32, data: &[u8]) -> io::Result<()> {
        let pages = whole_pages(data.len())?;
        let at = slot_offset(first_slot);
        // A memcpy into the mapping when it can (the minimum size, never retired);
        // pwrite otherwise, and whenever the copy faulted, so a host error comes
        // back as an error and the page stays dirty.
        if !self.map.as_ref().is_some_and(|m| m.write(at, data)) {
            self.file.write_all_at(data, at)?;
        }
        self.pages_written.fetch_add(pages, Ordering::Relaxed);
        Ok(())
    }

    /// pread of whole pages; a short read (beyond the end of the file) is an error
    /// (`UnexpectedEof`). Counts pages_read on success.
    pub fn read_pages(&self, first_slot: u32, buf: &mut [u8]) -> io::Result<()> {
        let pages = whole_pages(buf.len())?;
        let at = slot_offset(first_slot);
        // As for `write_pages`: a failed copy is redone by pread, whose error
        // becomes STATUS_IN_PAGE_ERROR.
        if !self.map.as_ref().is_some_and(|m| m.read(at, buf)) {
            self.file.read_exact_at(buf, at)?;
        }
        self.pages_read.fetch_add(pages, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the slots from `first_slot` on straight into `frames`, one frame a
    /// slot in slot order (the disk's DMA into RAM, IoPageRead into an MDL): a copy
    /// out of the mapping with no bounce buffer (issue 18). The caller owns the
    /// frames for the read (ReadInProgress). Beyond the mapping, or when its copy
    /// faulted, a pread as `read_pages` does, whose error is the caller's
    /// STATUS_IN_PAGE_ERROR (the frames then hold garbage the caller frees).
    pub fn read_frames(
        &self,
        first_slot: u32,
        frames: &[Pfn],
        phys: &PhysicalMemory,
    ) -> io::Result<()> {
        let at = slot_offset(first_slot);
        let len = frames.len() * PAGE_SIZE as usize;
        let copied = self
            .map
            .as_ref()
            .is_some_and(|m| m.read_with(at, len, |src| phys.scatter(frames, src)));
        if !copied {
            let mut buf = vec![0u8; len];
            self.file.read_exact_at(&mut buf, at)?;
            phys.scatter(frames, &buf);
        }
        self.pages_read
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Writes `frames` (one a slot, in slot order) to the slots from `first_slot`
    /// on, straight from the frames (IoAsynchronousPageWrite of an MDL): a copy
    /// into the mapping, or a pwrite from a buffer beyond it or once it is
    /// retired, whose error leaves the pages dirty. The caller keeps the frames'
    /// bytes still for the write: WriteInProgress, which a fault waits out.
    pub fn write_frames(
        &self,
        first_slot: u32,
        frames: &[Pfn],
        phys: &PhysicalMemory,
    ) -> io::Result<()> {
        let at = slot_offset(first_slot);
        let len = frames.len() * PAGE_SIZE as usize;
        let copied = self
            .map
            .as_ref()
            .is_some_and(|m| m.write_with(at, len, |dst| phys.gather(frames, dst)));
        if !copied {
            let mut buf = vec![0u8; len];
            phys.gather(frames, &mut buf);
            self.file.write_all_at(&buf, at)?;
        }
        self.pages_written
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    pub fn pages_written(&self) -> u64 {
        self.pages_written.load(Ordering::Relaxed)
    }

    pub fn pages_read(&self) -> u64 {
        self.pages_read.load(Ordering::Relaxed)
    }
}

fn whole_pages(len: usize) -> io::Result<u64> {
    if !(len as u64).is_multiple_of(PAGE_SIZE) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("paging file I/O of {len} bytes is not a whole number of pages"),
        ));
    }
    Ok(len as u64 / PAGE_SIZE)
}

fn slot_offset(slot: u32) -> u64 {
    u64::from(slot) * PAGE_SIZE
}

/// One bit per slot, a set bit meaning "in use". Bits at or beyond `len` are always
/// clear, so whole-word tests need no masking.
struct SlotBitmap {
    words: Vec<u64>,
    len: u64,
}

impl SlotBitmap {
    fn words_for(len: u64) -> usize {
        len.div_ceil(64) as usize
    }

    /// An empty bitmap of `len` slots; fails instead of aborting when the host
    /// cannot give the memory.
    fn new(len: u64) -> Result<SlotBitmap, std::collections::TryReserveError> {
        let mut b = SlotBitmap {
            words: Vec::new(),
            len: 0,
        };
        b.grow(len)?;
        Ok(b)
    }

    fn grow(&mut self, len: u64) -> Result<(), std::collections::TryReserveError> {
        let want = Self::words_for(len);
        if want > self.words.len() {
            self.words.try_reserve_exact(want - self.words.len())?;
            self.words.resize(want, 0);
        }
        self.len = self.len.max(len);
        Ok(())
    }

    /// Drops the slots from `len` on; they must be clear already, but are cleared anyway
    /// so the "nothing beyond len" invariant holds whatever the caller did.
    fn truncate(&mut self, len: u64) {
        self.words.truncate(Self::words_for(len));
        if !len.is_multiple_of(64)
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << (len % 64)) - 1;
        }
        self.len = len;
    }

    fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: u64) {
        self.words[(i / 64) as usize] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: u64) {
        self.words[(i / 64) as usize] &= !(1 << (i % 64));
    }

    /// The first clear bit in `[from, end)`, skipping full words a word at a time.
    fn next_clear(&self, from: u64, end: u64) -> Option<u64> {
        let end = end.min(self.len);
        if from >= end {
            return None;
        }
        let mut w = (from / 64) as usize;
        let mut word = !self.words[w] & (!0u64 << (from % 64));
        loop {
            if word != 0 {
                let i = w as u64 * 64 + u64::from(word.trailing_zeros());
                return (i < end).then_some(i);
            }
            w += 1;
            if w as u64 * 64 >= end {
                return None;
            }
            word = !self.words[w];
        }
    }

    /// The first set bit in `[from, end)`, or `end` when there is none.
    fn next_set(&self, from: u64, end: u64) -> u64 {
        let end = end.min(self.len);
        if from >= end {
            return end;
        }
        let mut w = (from / 64) as usize;
        let mut word = self.words[w] & (!0u64 << (from % 64));
        loop {
            if word != 0 {
                let i = w as u64 * 64 + u64::from(word.trailing_zeros());
                return i.min(end);
            }
            w += 1;
            if w as u64 * 64 >= end {
                return end;
            }
            word = self.words[w];
        }
    }

    /// The highest set bit, if any.
    fn last_set(&self) -> Option<u64> {
        self.words
            .iter()
            .rposition(|&w| w != 0)
            .map(|w| w as u64 * 64 + 63 - u64::from(self.words[w].leading_zeros()))
    }

    fn count_ones(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Clear bits immediately below `i` (not counting `i`), at most `cap`.
    fn clear_below(&self, i: u64, cap: u32) -> u32 {
        let mut n = 0;
        while n < cap && u64::from(n) < i && !self.get(i - 1 - u64::from(n)) {
            n += 1;
        }
        n
    }

    /// Clear bits immediately above `i` (not counting `i`), at most `cap`.
    fn clear_above(&self, i: u64, cap: u32) -> u32 {
        let mut n = 0;
        while n < cap && i + 1 + u64::from(n) < self.len && !self.get(i + 1 + u64::from(n)) {
            n += 1;
        }
        n
    }
}

/// What a search for a run of free slots found.
enum RunSearch {
    /// A run of at least the length asked for starts here.
    Found(u64),
    /// No run that long; the longest (shorter) run, `(length, start)`, length 0 if none.
    NotFound(u32, u64),
}

/// One paging file (MMPAGING_FILE).
struct PagingFile {
    name: String,
    path: PathBuf,
    minimum: u64,
    maximum: u64,
    /// The slots in use; its length is the current size in pages.
    bitmap: SlotBitmap,
    /// Used slots, slot 0 not counted.
    used: u64,
    peak_used: u64,
    /// Where the next search starts: the slot after the last allocation (HintSetToZero).
    hint: u64,
    /// An upper bound on the longest free run, capped at MAX_CLUSTER: lets `allocate`
    /// skip a fragmented file without rescanning it on every cluster. Exact after a
    /// failed search; raised by `release` and `extend` to the run they create.
    longest_bound: u32,
    io: Arc<PagefileIo>,
}

impl PagingFile {
    fn current(&self) -> u64 {
        self.bitmap.len
    }

    fn free(&self) -> u64 {
        self.current() - 1 - self.used
    }

    /// Next-fit: the first run of `target` free slots from the hint on, wrapping to
    /// the start of the file. Full bitmap words are skipped whole, and each free run
    /// is looked at once, so a search costs O(words + runs).
    fn find_run(&self, target: u32) -> RunSearch {
        let end = self.current();
        let hint = self.hint.min(end);
        let mut longest = (0u32, 0u64);
        // First runs starting in [hint, end), then runs starting in [0, hint); the
        // second pass reads a run to its real end, so one split by the hint is whole.
        for (from, stop) in [(hint, end), (0, hint)] {
            let mut p = from;
            while let Some(start) = self.bitmap.next_clear(p, stop) {
                let limit = end.min(start + u64::from(target));
                let run_end = self.bitmap.next_set(start, limit);
                let len = (run_end - start) as u32;
                if len >= target {
                    return RunSearch::Found(start);
                }
                if len > longest.0 {
                    longest = (len, start);
                }
                p = run_end;
            }
        }
        RunSearch::NotFound(longest.0, longest.1)
    }

    fn take(&mut self, first: u64, count: u32) {
        for s in first..first + u64::from(count) {
            self.bitmap.set(s);
        }
        self.used += u64::from(count);
        self.peak_used = self.peak_used.max(self.used);
        self.hint = first + u64::from(count);
        if self.hint >= self.current() {
            self.hint = 1;
        }
    }

    /// The longest free run, capped at MAX_CLUSTER (for `verify`).
    fn longest_run(&self) -> u32 {
        match self.find_run(MAX_CLUSTER) {
            RunSearch::Found(_) => MAX_CLUSTER,
            RunSearch::NotFound(len, _) => len,
        }
    }

    /// Sets the host file's length to `pages` pages.
    fn set_host_len(&self, pages: u64) -> io::Result<()> {
        self.io.file.set_len(pages * PAGE_SIZE)
    }

    /// Grows the host file from `old` to `new` pages with the new blocks allocated
    /// (MiAttemptPageFileExtension sets the new end of file on the volume, and NTFS
    /// allocates it: paging files are never sparse).
    /// On an error the file is cut back to `old` pages, as it was.
    fn grow_host_file(&self, old: u64, new: u64) -> io::Result<()> {
        allocate_host_pages(&self.io.file, old, new).inspect_err(|_| {
            let _ = self.set_host_len(old);
        })
    }

    /// Bytes of the file's length the host has not allocated (0 once fallocate
    /// allocated it; slots never written where the host has no fallocate).
    fn unallocated_bytes(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let len = self.current() * PAGE_SIZE;
        match self.io.file.metadata() {
            Ok(m) => len.saturating_sub(m.blocks() * 512),
            Err(_) => len,
        }
    }

    fn info(&self, index: usize) -> PagingFileInfo {
        PagingFileInfo {
            index: index as u8,
            name: self.name.clone(),
            path: self.path.clone(),
            minimum_pages: self.minimum,
            maximum_pages: self.maximum,
            current_pages: self.current(),
            used_pages: self.used,
            free_pages: self.free(),
            peak_used_pages: self.peak_used,
            pages_written: self.io.pages_written(),
            pages_read: self.io.pages_read(),
        }
    }
}

/// The set of paging files (MmPagingFile[] and MmNumberOfPagingFiles).
pub struct PagingFiles {
    dir: PathBuf,
    /// The largest size, in pages, the running PTE format can address (PageFileHigh:
    /// 20 bits on x86, 32 on PAE and x64), and never more than a `u32` slot can name.
    max_slots: u64,
    files: Vec<PagingFile>,
}

impl PagingFiles {
    /// `dir` is the state directory; `max_slots` is the largest page offset the running
    /// PTE format can encode (x86: 2^20, PAE/x64: 2^32) — no file may grow beyond it.
    pub fn new(dir: PathBuf, max_slots: u64) -> PagingFiles {
        PagingFiles {
            dir,
            max_slots: max_slots.min(1 << 32),
            files: Vec::new(),
        }
    }

    /// The largest size, in pages, any paging file may have.
    pub fn max_slots(&self) -> u64 {
        self.max_slots
    }

    /// NtCreatePagingFile: creates (or truncates) the host file `dir/name`, sized to
    /// `minimum_pages` with its blocks allocated (fallocate), and returns its index. On failure nothing
    /// changes and no host file is left behind. NT allocates the minimum on the
    /// volume, so it fails with STATUS_DISK_FULL when the volume cannot hold it
    /// (see [`PagingFiles::volume_room`]).
    pub fn create(&mut self, name: &str, minimum_pages: u64, maximum_pages: u64) -> MmResult<u8> {
        check_name(name)?;
        if self.files.iter().any(|f| f.name == name) {
            return Err(mm_err!(
                OBJECT_NAME_COLLISION,
                "a paging file named {name} already exists"
            ));
        }
        if self.files.len() >= MAX_PAGING_FILES {
            return Err(mm_err!(
                INSUFFICIENT_RESOURCES,
                "there are already {MAX_PAGING_FILES} paging files, the most NT supports"
            ));
        }
        if minimum_pages < MINIMUM_PAGES {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "the minimum size of a paging file is {MINIMUM_PAGES} pages (slot 0 is never used), not {minimum_pages}"
            ));
        }
        if minimum_pages > maximum_pages {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "the minimum size ({minimum_pages} pages) is larger than the maximum size ({maximum_pages} pages)"
            ));
        }
        if maximum_pages > self.max_slots {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "the maximum size ({maximum_pages} pages) is larger than the {} pages a pagefile PTE can address",
                self.max_slots
            ));
        }

        let mut bitmap = SlotBitmap::new(minimum_pages).map_err(|_| {
            mm_err!(
                INSUFFICIENT_RESOURCES,
                "there is not enough host memory for the slot bitmap of a {minimum_pages}-page paging file"
            )
        })?;
        bitmap.set(0);
        let path = self.dir.join(name);
        let promised = self.unallocated_bytes();
        let file = create_host_file(&self.dir, &path, minimum_pages, promised)?;
        let index = self.files.len();
        self.files.push(PagingFile {
            name: name.to_string(),
            path,
            minimum: minimum_pages,
            maximum: maximum_pages,
            bitmap,
            used: 0,
            peak_used: 0,
            hint: 1,
            longest_bound: (minimum_pages - 1).min(u64::from(MAX_CLUSTER)) as u32,
            io: Arc::new(PagefileIo {
                map: usize::try_from(minimum_pages * PAGE_SIZE)
                    .ok()
                    .and_then(|len| HostMap::new(&file, len)),
                file,
                pages_written: AtomicU64::new(0),
                pages_read: AtomicU64::new(0),
            }),
        });
        log::info!("paging file {index} ({name}): {minimum_pages} pages, up to {maximum_pages}");
        Ok(index as u8)
    }

    /// Bytes of the paging files' lengths not yet allocated on the host.
    fn unallocated_bytes(&self) -> u64 {
        self.files.iter().map(PagingFile::unallocated_bytes).sum()
    }

    /// What the host volume of the state directory can still give the paging
    /// files: its free space less the slots they own but never wrote. NT's paging
    /// files are allocated in full, and so are mmfs's (fallocate); where the host
    /// cannot, they are sparse, and the space a slot will take when written counts
    /// as taken already. `None` when the volume cannot be asked.
    fn volume_room(&self) -> Option<u64> {
        let free = free_bytes(&nix::sys::statvfs::statvfs(&self.dir).ok()?);
        Some(free.saturating_sub(self.unallocated_bytes()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// What the paging files add to the commit limit now: each file's size less
    /// slot 0.
    pub fn commit_pages(&self) -> u64 {
        self.files.iter().map(|f| f.current() - 1).sum()
    }

    /// The same with every file at its maximum (the commit limit's maximum).
    pub fn maximum_commit_pages(&self) -> u64 {
        self.files.iter().map(|f| f.maximum - 1).sum()
    }

    /// Total used slots over all files.
    pub fn used_pages(&self) -> u64 {
        self.files.iter().map(|f| f.used).sum()
    }

    /// Takes up to `want` consecutive free slots in one file (`want` is clamped to
    /// 1..=16): a file that can give all `want` is preferred, files in index order,
    /// each searched from its hint; otherwise the longest shorter run, lower index
    /// first on a tie. None when every file is full at its current size (the caller
    /// may then `extend`).
    pub fn allocate(&mut self, want: u32) -> Option<SlotRun> {
        let want = want.clamp(1, MAX_CLUSTER);
        // Pass 1: a whole cluster. Files whose bound says they cannot are not searched.
        let mut scanned: [Option<(u32, u64)>; MAX_PAGING_FILES] = [None; MAX_PAGING_FILES];
        for (i, f) in self.files.iter_mut().enumerate() {
            if f.free() == 0 || f.longest_bound < want {
                continue;
            }
            match f.find_run(want) {
                RunSearch::Found(start) => return Some(self.take(i, start, want)),
                RunSearch::NotFound(len, start) => {
                    f.longest_bound = len;
                    scanned[i] = Some((len, start));
                }
            }
        }
        // Pass 2: the longest shorter run. A file not searched yet is searched for
        // its bound, which is at least its longest run, and only if it could win.
        let mut best: Option<(u32, usize, u64)> = None;
        for (i, f) in self.files.iter_mut().enumerate() {
            let (len, start) = match scanned[i] {
                Some(found) => found,
                None => {
                    let bound = f.longest_bound.min(want);
                    if f.free() == 0 || bound == 0 || best.is_some_and(|b| b.0 >= bound) {
                        continue;
                    }
                    match f.find_run(bound) {
                        RunSearch::Found(start) => (bound, start),
                        RunSearch::NotFound(len, start) => {
                            f.longest_bound = len;
                            (len, start)
                        }
                    }
                }
            };
            if len > 0 && best.is_none_or(|b| len > b.0) {
                best = Some((len, i, start));
            }
        }
        let (len, i, start) = best?;
        Some(self.take(i, start, len))
    }

    fn take(&mut self, file: usize, start: u64, count: u32) -> SlotRun {
        self.files[file].take(start, count);
        SlotRun {
            file: file as u8,
            first: start as u32,
            count,
        }
    }

    /// Frees one slot. Anything but a used slot of an existing file is a caller bug:
    /// it stops a debug build, and is logged and ignored in a release build.
    pub fn release(&mut self, file: u8, slot: u32) {
        let Some(f) = self.files.get_mut(file as usize) else {
            caller_bug(format!(
                "releasing slot {slot:#x} of paging file {file}, which does not exist"
            ));
            return;
        };
        let slot = u64::from(slot);
        if slot == 0 {
            caller_bug(format!(
                "releasing slot 0 of paging file {file}, which is never used"
            ));
            return;
        }
        if slot >= f.current() {
            caller_bug(format!(
                "releasing slot {slot:#x} of paging file {file}, beyond its {} pages",
                f.current()
            ));
            return;
        }
        if !f.bitmap.get(slot) {
            caller_bug(format!(
                "releasing slot {slot:#x} of paging file {file}, which is already free"
            ));
            return;
        }
        f.bitmap.clear(slot);
        f.used -= 1;
        let run =
            f.bitmap.clear_below(slot, MAX_CLUSTER) + 1 + f.bitmap.clear_above(slot, MAX_CLUSTER);
        f.longest_bound = f.longest_bound.max(run.min(MAX_CLUSTER));
    }

    /// Whether `slot` of `file` is in use (slot 0 and slots out of range are not).
    pub fn is_allocated(&self, file: u8, slot: u32) -> bool {
        slot != 0
            && self
                .files
                .get(file as usize)
                .is_some_and(|f| f.bitmap.get(u64::from(slot)))
    }

    /// Grows paging files by up to `pages` in total, files in index order, each up to
    /// its maximum (NT extends by at least 16 MB, falling back to 1 MB; the caller
    /// chooses `pages`). Returns the pages added; a file whose host file cannot grow
    /// is logged and skipped.
    ///
    /// As MiAttemptPageFileExtension, an extension never takes the volume below
    /// [`MINIMUM_FREE_DISK_SPACE`] of free space (counting slots never written as
    /// taken), and none happens when the volume cannot be asked: on a full disk the
    /// paging files quietly stay as they are, and so does the commit limit.
    pub fn extend(&mut self, pages: u64) -> u64 {
        if self.files.iter().all(|f| f.current() >= f.maximum) {
            return 0;
        }
        let room = self.volume_room();
        let mut room_pages =
            room.map_or(0, |r| r.saturating_sub(MINIMUM_FREE_DISK_SPACE) / PAGE_SIZE);
        let mut added = 0;
        for (i, f) in self.files.iter_mut().enumerate() {
            let old = f.current();
            let wanted = (pages - added).min(f.maximum - old);
            let grow = wanted.min(room_pages);
            if grow < wanted {
                log::info!(
                    "paging file {i} ({}) grows by {grow} of {wanted} pages: {} leaves {} bytes for the paging files, and {MINIMUM_FREE_DISK_SPACE} must stay free",
                    f.name,
                    self.dir.display(),
                    room.map_or("unknown".to_string(), |r| r.to_string()),
                );
            }
            if grow == 0 {
                continue;
            }
            let new = old + grow;
            if f.bitmap.grow(new).is_err() {
                log::error!(
                    "cannot extend paging file {i} ({}) to {new} pages: not enough host memory for its bitmap",
                    f.name
                );
                continue;
            }
            if let Err(e) = f.grow_host_file(old, new) {
                f.bitmap.truncate(old);
                log::error!(
                    "cannot extend paging file {i} ({}) to {new} pages: {}: {e}",
                    f.name,
                    f.path.display()
                );
                continue;
            }
            let run = u64::from(f.bitmap.clear_below(old, MAX_CLUSTER)) + grow;
            f.longest_bound = f.longest_bound.max(run.min(u64::from(MAX_CLUSTER)) as u32);
            added += grow;
            room_pages -= grow;
            if added == pages {
                break;
            }
        }
        added
    }

    /// Shrinks paging files by up to `pages` in total, files in index order: only free
    /// slots at the tail of a file go, and never below its minimum. Returns the pages
    /// removed; a file whose host file cannot shrink is logged and left as it was.
    pub fn shrink(&mut self, pages: u64) -> u64 {
        let mut removed = 0;
        for (i, f) in self.files.iter_mut().enumerate() {
            let old = f.current();
            // Slot 0's bit is always set, so there is a last used slot.
            let floor = f.minimum.max(f.bitmap.last_set().map_or(1, |s| s + 1));
            let cut = (pages - removed).min(old.saturating_sub(floor));
            if cut == 0 {
                continue;
            }
            let new = old - cut;
            if let Err(e) = f.set_host_len(new) {
                log::error!(
                    "cannot shrink paging file {i} ({}) to {new} pages: {}: {e}",
                    f.name,
                    f.path.display()
                );
                continue;
            }
            f.bitmap.truncate(new);
            if f.hint >= new {
                f.hint = 1;
            }
            removed += cut;
            if removed == pages {
                break;
            }
        }
        removed
    }

    /// The I/O handle of file `file`.
    pub fn io(&self, file: u8) -> Option<Arc<PagefileIo>> {
        self.files.get(file as usize).map(|f| Arc::clone(&f.io))
    }

    pub fn info(&self) -> Vec<PagingFileInfo> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| f.info(i))
            .collect()
    }

    pub fn find(&self, name: &str) -> Option<PagingFileInfo> {
        self.files
            .iter()
            .position(|f| f.name == name)
            .map(|i| self.files[i].info(i))
    }

    /// Consistency check for `system/verify`: one sentence per violation.
    pub fn verify(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            let who = format!("paging file {i} ({})", f.name);
            let current = f.current();
            if !(f.minimum <= current && current <= f.maximum && f.maximum <= self.max_slots) {
                problems.push(format!(
                    "{who} is {current} pages, outside its minimum {} and maximum {} (or the maximum exceeds {} pages).",
                    f.minimum, f.maximum, self.max_slots
                ));
            }
            if f.bitmap.words.len() != SlotBitmap::words_for(current) {
                problems.push(format!(
                    "{who} has {} bitmap words for {current} pages.",
                    f.bitmap.words.len()
                ));
                continue;
            }
            if !f.bitmap.get(0) {
                problems.push(format!("{who} does not keep slot 0 reserved."));
            }
            if !current.is_multiple_of(64)
                && f.bitmap
                    .words
                    .last()
                    .is_some_and(|w| w >> (current % 64) != 0)
            {
                problems.push(format!(
                    "{who} has slots marked used beyond its size of {current} pages."
                ));
            }
            let marked = f
                .bitmap
                .count_ones()
                .saturating_sub(u64::from(f.bitmap.get(0)));
            if marked != f.used {
                problems.push(format!(
                    "{who} counts {} used slots but its bitmap marks {marked}.",
                    f.used
                ));
            }
            if f.used > f.peak_used {
                problems.push(format!(
                    "{who} has {} used slots, above its peak of {}.",
                    f.used, f.peak_used
                ));
            }
            if f.hint >= current {
                problems.push(format!(
                    "{who} has its search hint at slot {:#x}, beyond its size of {current} pages.",
                    f.hint
                ));
            }
            let longest = f.longest_run();
            if f.longest_bound < longest {
                problems.push(format!(
                    "{who} has a free run of {longest} slots but records at most {}.",
                    f.longest_bound
                ));
            }
        }
        problems
    }
}

/// A paging file name is also a host file name and a directory under `pagefiles/`.
fn check_name(name: &str) -> MmResult<()> {
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > MAX_NAME_LEN || !chars_ok {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "a paging file name must be 1 to {MAX_NAME_LEN} characters from A-Z, a-z, 0-9, '.', '_' and '-', not {name:?}"
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "{name:?} cannot name a paging file: it is taken by pagefiles/ itself"
        ));
    }
    Ok(())
}

/// Free bytes on a volume for an unprivileged writer.
fn free_bytes(vfs: &nix::sys::statvfs::Statvfs) -> u64 {
    vfs.blocks_available().saturating_mul(vfs.fragment_size())
}

/// Creates (or truncates) the host file and sizes it; removes it again on failure.
/// `promised` is the space other paging files on the volume own but have not
/// written yet: the new file's minimum must fit in the free space beyond it.
fn create_host_file(dir: &Path, path: &Path, pages: u64, promised: u64) -> MmResult<File> {
    let host_error = |what: &str, e: io::Error| {
        let full = if e.kind() == io::ErrorKind::StorageFull {
            " (the host disk is full)"
        } else {
            ""
        };
        mm_err!(
            INSUFFICIENT_RESOURCES,
            "cannot {what} paging file {}: {e}{full}",
            path.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(|e| host_error("make the directory for", e))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        // Never write through a symlink someone left in the state directory.
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| host_error("create", e))?;
    // Asked after the truncation, so an old file of the same name counts as free.
    if let Ok(vfs) = nix::sys::statvfs::fstatvfs(&file) {
        let room = free_bytes(&vfs).saturating_sub(promised);
        if pages * PAGE_SIZE > room {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(mm_err!(
                DISK_FULL,
                "cannot create paging file {} with its minimum size of {} bytes: the volume of {} has {room} bytes left for it",
                path.display(),
                pages * PAGE_SIZE,
                dir.display()
            ));
        }
    }
    if let Err(e) = allocate_host_pages(&file, 0, pages) {
        drop(file);
        let _ = std::fs::remove_file(path);
        if e.kind() == io::ErrorKind::StorageFull {
            // The volume-room check above raced with another writer, or the
            // host counts blocks differently (metadata): still NT's disk full.
            return Err(mm_err!(
                DISK_FULL,
                "cannot allocate the minimum size of {} bytes of paging file {}: {e}",
                pages * PAGE_SIZE,
                path.display()
            ));
        }
        return Err(host_error(&format!("size to {pages} pages the"), e));
    }
    Ok(file)
}

/// Makes the host file `to` pages long with the blocks of pages `[from, to)`
/// allocated (fallocate mode 0): NT's paging file is allocated on the volume when
/// created or extended (NtCreatePagingFile, MiAttemptPageFileExtension), so a full
/// disk is reported then, never later as a failed page write (or, through the
/// mapping, a SIGBUS). A host file system without fallocate (EOPNOTSUPP) gets the
/// length only, sparse as before, and a warning; the free-space accounting
/// ([`PagingFiles::volume_room`]) still counts its unwritten slots as taken.
fn allocate_host_pages(file: &File, from: u64, to: u64) -> io::Result<()> {
    use nix::errno::Errno;
    use nix::fcntl::{FallocateFlags, fallocate};
    let too_big = || io::Error::from(io::ErrorKind::FileTooLarge);
    let offset = i64::try_from(from * PAGE_SIZE).map_err(|_| too_big())?;
    let len = i64::try_from((to - from) * PAGE_SIZE).map_err(|_| too_big())?;
    loop {
        match fallocate(file, FallocateFlags::empty(), offset, len) {
            Ok(()) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EOPNOTSUPP) => {
                log::warn!(
                    "the host file system cannot allocate paging file space up front (fallocate: EOPNOTSUPP): the file is sparse, and a full volume shows as failed page writes"
                );
                return file.set_len(to * PAGE_SIZE);
            }
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// A caller broke the paging-file contract: stop a debug build, log in release.
fn caller_bug(message: String) {
    debug_assert!(false, "{message}");
    log::error!("{message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::NtStatus;

    const X86_SLOTS: u64 = 1 << 20;

    fn files(dir: &Path) -> PagingFiles {
        PagingFiles::new(dir.to_path_buf(), X86_SLOTS)
    }

    fn status<T: std::fmt::Debug>(r: MmResult<T>) -> NtStatus {
        r.expect_err("the call should fail").status
    }

    #[test]
    fn pagefile_io_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PagefileIo>();
    }

    #[test]
    fn create_sizes_the_host_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        assert_eq!(pf.create("pagefile.sys", 100, 200), Ok(0));
        assert_eq!(pf.create("second", 2, 2), Ok(1));
        assert_eq!(
            std::fs::metadata(dir.path().join("pagefile.sys"))
                .unwrap()
                .len(),
            100 * PAGE_SIZE
        );
        assert_eq!(pf.len(), 2);
        assert_eq!(pf.commit_pages(), 99 + 1);
        assert_eq!(pf.maximum_commit_pages(), 199 + 1);
        let info = pf.find("pagefile.sys").unwrap();
        assert_eq!(info.index, 0);
        assert_eq!(info.path, dir.path().join("pagefile.sys"));
        assert_eq!(
            (info.current_pages, info.used_pages, info.free_pages),
            (100, 0, 99)
        );
        assert!(pf.find("nope").is_none());
        assert!(pf.verify().is_empty());
    }

    /// Blocks the host allocated to paging file `name`, in bytes.
    fn allocated_bytes(dir: &Path, name: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir.join(name)).unwrap().blocks() * 512
    }

    #[test]
    fn the_minimum_and_each_extension_are_allocated_on_the_host() {
        // NtCreatePagingFile allocates the minimum; an extension its extent.
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 256, 1024).unwrap();
        assert!(
            allocated_bytes(dir.path(), "a") >= 256 * PAGE_SIZE,
            "{} bytes allocated for a 1 MB minimum",
            allocated_bytes(dir.path(), "a")
        );
        assert_eq!(
            pf.unallocated_bytes(),
            0,
            "nothing promised but unallocated"
        );
        assert_eq!(pf.extend(300), 300);
        assert!(allocated_bytes(dir.path(), "a") >= 556 * PAGE_SIZE);
        assert_eq!(pf.unallocated_bytes(), 0);
        assert!(pf.verify().is_empty());
    }

    #[test]
    fn pages_go_through_the_mapping_and_reach_the_host_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 16, 32).unwrap();
        let io = pf.io(0).unwrap();
        assert!(io.map.is_some(), "the minimum size is mapped");
        io.write_pages(2, &[9; 8192]).unwrap();
        // pread of the host file sees what the memcpy put in the page cache.
        let mut page = [0; 4096];
        io.file.read_exact_at(&mut page, 3 * PAGE_SIZE).unwrap();
        assert_eq!(page, [9; 4096]);
        // Beyond the minimum (a grown file) pread/pwrite do it.
        pf.io(0).unwrap().file.set_len(20 * PAGE_SIZE).unwrap();
        io.write_pages(18, &[5; 4096]).unwrap();
        io.read_pages(18, &mut page).unwrap();
        assert_eq!(page, [5; 4096]);
        assert_eq!((io.pages_written(), io.pages_read()), (3, 1));
    }

    #[test]
    fn a_host_error_under_the_mapping_is_an_error_not_a_sigbus() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 16, 16).unwrap();
        let io = pf.io(0).unwrap();
        io.write_pages(1, &[7; 4096]).unwrap();
        // The host file cut short under the mapping: touching slot 4 through it
        // raises SIGBUS; the guarded copy survives it and pread reports the error.
        io.file.set_len(2 * PAGE_SIZE).unwrap();
        let mut page = [0; 4096];
        let e = io.read_pages(4, &mut page).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(io.map.as_ref().unwrap().is_retired());
        assert_eq!(io.pages_read(), 0, "a failed read is not counted");
        // From then on pread/pwrite: slot 1 is still there, and writes extend the file.
        io.read_pages(1, &mut page).unwrap();
        assert_eq!(page, [7; 4096]);
        io.write_pages(4, &[3; 4096]).unwrap();
        io.read_pages(4, &mut page).unwrap();
        assert_eq!(page, [3; 4096]);
    }

    #[test]
    fn frames_go_straight_to_and_from_slots_and_a_host_error_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 16, 16).unwrap();
        let io = pf.io(0).unwrap();
        let phys = PhysicalMemory::new(8).unwrap();
        for (i, fill) in [(0u32, 1u8), (1, 2), (2, 3)] {
            phys.write(Pfn(i), 0, &[fill; 4096]);
        }
        // Frames 2, 0, 1 into slots 5, 6, 7 (slot order, not frame order).
        io.write_frames(5, &[Pfn(2), Pfn(0), Pfn(1)], &phys)
            .unwrap();
        assert_eq!(io.pages_written(), 3);
        let mut page = [0; 4096];
        io.read_pages(5, &mut page).unwrap();
        assert_eq!(page, [3; 4096]);
        io.read_frames(5, &[Pfn(5), Pfn(6), Pfn(7)], &phys).unwrap();
        for (pfn, fill) in [(5u32, 3u8), (6, 1), (7, 2)] {
            phys.read(Pfn(pfn), 0, &mut page);
            assert_eq!(page, [fill; 4096], "frame {pfn}");
        }
        // The host file cut short under the mapping: the guarded copy survives
        // the SIGBUS, pread reports the error, and the mapping is retired.
        io.file.set_len(2 * PAGE_SIZE).unwrap();
        let e = io.read_frames(4, &[Pfn(3)], &phys).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(io.map.as_ref().unwrap().is_retired());
        assert_eq!(io.pages_read(), 4, "a failed read is not counted");
        // pwrite from the frames from then on, and back through pread.
        io.write_frames(4, &[Pfn(1)], &phys).unwrap();
        io.read_frames(4, &[Pfn(4)], &phys).unwrap();
        phys.read(Pfn(4), 0, &mut page);
        assert_eq!(page, [2; 4096]);
    }

    #[test]
    fn create_errors_leave_state_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 10, 10).unwrap();
        pf.io(0).unwrap().write_pages(1, &[7; 4096]).unwrap();
        let before = pf.info();

        let long = "x".repeat(65);
        for bad in [
            "",
            ".",
            "..",
            "README",
            "control",
            "a/b",
            "a b",
            "é",
            long.as_str(),
        ] {
            assert_eq!(
                status(pf.create(bad, 10, 10)),
                NtStatus::OBJECT_NAME_INVALID
            );
        }
        assert!(pf.create(&"x".repeat(64), 10, 10).is_ok());
        let before_valid = pf.info();
        assert_eq!(before_valid.len(), before.len() + 1);

        let e = pf.create("a", 10, 10).unwrap_err();
        assert_eq!(e.status, NtStatus::OBJECT_NAME_COLLISION);
        assert!(e.message.contains("already exists"));
        // The collision did not truncate the existing file.
        let mut page = [0; 4096];
        pf.io(0).unwrap().read_pages(1, &mut page).unwrap();
        assert_eq!(page, [7; 4096]);

        assert_eq!(status(pf.create("b", 1, 10)), NtStatus::INVALID_PARAMETER);
        assert_eq!(status(pf.create("b", 11, 10)), NtStatus::INVALID_PARAMETER);
        let e = pf.create("b", 2, X86_SLOTS + 1).unwrap_err();
        assert_eq!(e.status, NtStatus::INVALID_PARAMETER);
        assert!(e.message.contains("larger than"), "{}", e.message);
        assert!(pf.create("b", 2, X86_SLOTS).is_ok());
        assert_eq!(pf.len(), 3);
        // Only the three good names made host files.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a".to_string(), "b".to_string(), "x".repeat(64)]);

        // The state directory is a regular file: a host error, nothing recorded.
        let not_dir = dir.path().join("plain");
        std::fs::write(&not_dir, b"x").unwrap();
        let mut broken = files(&not_dir);
        let e = broken.create("p", 2, 2).unwrap_err();
        assert_eq!(e.status, NtStatus::INSUFFICIENT_RESOURCES);
        assert!(e.message.contains("plain"), "{}", e.message);
        assert!(broken.is_empty());
    }

    #[test]
    fn at_most_sixteen_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        for i in 0..MAX_PAGING_FILES {
            assert_eq!(pf.create(&format!("p{i}"), 2, 4), Ok(i as u8));
        }
        assert_eq!(
            status(pf.create("p16", 2, 4)),
            NtStatus::INSUFFICIENT_RESOURCES
        );
        assert!(!dir.path().join("p16").exists());
        assert_eq!(pf.len(), MAX_PAGING_FILES);
    }

    #[test]
    fn runs_are_consecutive_never_slot_zero_and_fill_then_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 40, 40).unwrap(); // 39 usable
        pf.create("b", 10, 10).unwrap(); // 9 usable
        let mut seen = std::collections::HashSet::new();
        let mut runs = Vec::new();
        while let Some(run) = pf.allocate(16) {
            assert!((1..=16).contains(&run.count));
            assert_ne!(run.first, 0);
            for s in run.first..run.first + run.count {
                assert!(seen.insert((run.file, s)), "slot handed out twice");
                assert!(pf.is_allocated(run.file, s));
            }
            runs.push(run);
        }
        // a gives two full clusters; then neither file has 16, so the longer run
        // goes first (b's 9), then a's 7.
        assert_eq!(
            runs,
            vec![
                SlotRun {
                    file: 0,
                    first: 1,
                    count: 16
                },
                SlotRun {
                    file: 0,
                    first: 17,
                    count: 16
                },
                SlotRun {
                    file: 1,
                    first: 1,
                    count: 9
                },
                SlotRun {
                    file: 0,
                    first: 33,
                    count: 7
                },
            ]
        );
        assert_eq!(pf.used_pages(), 48);
        assert!(!pf.is_allocated(0, 0));
        assert!(!pf.is_allocated(5, 1));
        assert!(!pf.is_allocated(0, 40));
        assert_eq!(pf.find("a").unwrap().peak_used_pages, 39);
        assert!(pf.verify().is_empty());
    }

    #[test]
    fn a_full_cluster_is_preferred_over_an_earlier_short_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 6, 6).unwrap();
        pf.create("b", 20, 20).unwrap();
        assert_eq!(
            pf.allocate(8),
            Some(SlotRun {
                file: 1,
                first: 1,
                count: 8
            })
        );
        assert_eq!(
            pf.allocate(4),
            Some(SlotRun {
                file: 0,
                first: 1,
                count: 4
            })
        );
        // a has 1 left, b has 11: the longest shorter run wins.
        assert_eq!(
            pf.allocate(16),
            Some(SlotRun {
                file: 1,
                first: 9,
                count: 11
            })
        );
        assert_eq!(
            pf.allocate(16),
            Some(SlotRun {
                file: 0,
                first: 5,
                count: 1
            })
        );
        assert_eq!(pf.allocate(1), None);
        assert!(pf.verify().is_empty());
    }

    #[test]
    fn release_makes_slots_reusable_and_the_hint_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 33, 33).unwrap();
        let r1 = pf.allocate(16).unwrap();
        pf.allocate(16).unwrap();
        assert_eq!(pf.allocate(1), None);
        for s in [3, 4, 5, 20] {
            pf.release(0, s);
            assert!(!pf.is_allocated(0, s));
        }
        assert_eq!(pf.used_pages(), 28);
        // The hint is past the end; the search wraps and finds the run of three.
        assert_eq!(
            pf.allocate(4),
            Some(SlotRun {
                file: 0,
                first: 3,
                count: 3
            })
        );
        assert_eq!(
            pf.allocate(4),
            Some(SlotRun {
                file: 0,
                first: 20,
                count: 1
            })
        );
        assert_eq!(pf.allocate(1), None);
        for s in r1.first..r1.first + r1.count {
            pf.release(0, s);
        }
        assert_eq!(pf.allocate(16), Some(r1));
        assert_eq!(pf.find("a").unwrap().peak_used_pages, 32);
        assert!(pf.verify().is_empty());
    }

    #[test]
    fn a_run_split_by_the_hint_is_found_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 41, 41).unwrap();
        pf.allocate(16).unwrap(); // 1..=16
        pf.allocate(16).unwrap(); // 17..=32, hint 33
        pf.allocate(8).unwrap(); // 33..=40, hint wraps to 1
        for s in 10..=20 {
            pf.release(0, s);
        }
        pf.allocate(2).unwrap(); // 10..=11, hint 12
        for s in 10..=11 {
            pf.release(0, s);
        }
        // Free: 10..=20 (11 slots); the hint (12) splits it, the search sees it whole.
        assert_eq!(
            pf.allocate(11),
            Some(SlotRun {
                file: 0,
                first: 10,
                count: 11
            })
        );
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "already free")]
    fn double_release_stops_a_debug_build() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 4, 4).unwrap();
        let r = pf.allocate(1).unwrap();
        pf.release(0, r.first);
        pf.release(0, r.first);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "slot 0")]
    fn releasing_slot_zero_stops_a_debug_build() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 4, 4).unwrap();
        pf.release(0, 0);
    }

    #[test]
    fn extend_respects_maximum_and_max_slots() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = PagingFiles::new(dir.path().to_path_buf(), 64);
        assert_eq!(status(pf.create("big", 2, 65)), NtStatus::INVALID_PARAMETER);
        pf.create("a", 10, 20).unwrap();
        pf.create("b", 10, 64).unwrap();
        assert_eq!(pf.extend(5), 5);
        assert_eq!(pf.find("a").unwrap().current_pages, 15);
        assert_eq!(pf.extend(100), 5 + 54);
        assert_eq!(pf.find("a").unwrap().current_pages, 20);
        assert_eq!(pf.find("b").unwrap().current_pages, 64);
        assert_eq!(
            std::fs::metadata(dir.path().join("b")).unwrap().len(),
            64 * PAGE_SIZE
        );
        assert_eq!(pf.extend(1), 0);
        assert_eq!(pf.commit_pages(), pf.maximum_commit_pages());
        assert!(pf.verify().is_empty());
    }

    #[test]
    fn a_full_file_has_room_after_extend() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 8, 100).unwrap();
        assert_eq!(
            pf.allocate(16),
            Some(SlotRun {
                file: 0,
                first: 1,
                count: 7
            })
        );
        assert_eq!(pf.allocate(16), None);
        assert_eq!(pf.extend(16), 16);
        assert_eq!(
            pf.allocate(16),
            Some(SlotRun {
                file: 0,
                first: 8,
                count: 16
            })
        );
        assert!(pf.verify().is_empty());
    }

    #[test]
    fn shrink_takes_only_free_tail_slots_and_keeps_the_minimum() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 10, 100).unwrap();
        assert_eq!(pf.extend(90), 90);
        while pf.allocate(16).is_some() {}
        // Keep 1..=32 and 50; free the rest.
        for s in (33..100).filter(|&s| s != 50) {
            pf.release(0, s);
        }
        assert!(pf.verify().is_empty());
        assert_eq!(pf.shrink(1000), 100 - 51);
        assert_eq!(pf.find("a").unwrap().current_pages, 51);
        assert_eq!(
            std::fs::metadata(dir.path().join("a")).unwrap().len(),
            51 * PAGE_SIZE
        );
        assert!(pf.verify().is_empty());

        // With everything free the file goes back to its minimum, no further.
        for s in 1..51 {
            if pf.is_allocated(0, s) {
                pf.release(0, s);
            }
        }
        assert_eq!(pf.shrink(5), 5);
        assert_eq!(pf.shrink(1000), 46 - 10);
        assert_eq!(pf.find("a").unwrap().current_pages, 10);
        assert_eq!(pf.shrink(1000), 0);
        assert!(pf.verify().is_empty());
        assert_eq!(
            pf.allocate(16),
            Some(SlotRun {
                file: 0,
                first: 1,
                count: 9
            })
        );
    }

    #[test]
    fn pages_round_trip_through_the_host_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 8, 8).unwrap();
        let run = pf.allocate(3).unwrap();
        let io = pf.io(run.file).unwrap();
        let data: Vec<u8> = (0..3 * 4096).map(|i| (i % 251) as u8).collect();
        io.write_pages(run.first, &data).unwrap();

        let raw = std::fs::read(dir.path().join("a")).unwrap();
        let at = run.first as usize * 4096;
        assert_eq!(&raw[at..at + data.len()], &data[..]);

        let mut back = vec![0; data.len()];
        io.read_pages(run.first, &mut back).unwrap();
        assert_eq!(back, data);
        let mut one = vec![0; 4096];
        io.read_pages(run.first + 2, &mut one).unwrap();
        assert_eq!(one, data[2 * 4096..]);

        assert!(io.write_pages(1, &[0; 100]).is_err());
        let info = pf.find("a").unwrap();
        assert_eq!((info.pages_written, info.pages_read), (3, 4));
        assert!(pf.io(1).is_none());
    }

    #[test]
    fn reading_past_the_end_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 4, 4).unwrap();
        let io = pf.io(0).unwrap();
        let mut buf = vec![0; 4096];
        io.read_pages(3, &mut buf).unwrap();
        let e = io.read_pages(4, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let mut two = vec![0; 2 * 4096];
        assert!(io.read_pages(3, &mut two).is_err());
        assert_eq!(io.pages_read(), 1);
    }

    #[test]
    fn verify_catches_a_wrong_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("a", 100, 100).unwrap();
        pf.allocate(5).unwrap();
        assert!(pf.verify().is_empty());
        pf.files[0].used += 1;
        pf.files[0].bitmap.clear(0);
        let problems = pf.verify();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    /// Random allocate/release/extend/shrink against a set of used slots: every run
    /// is free and in range before, the largest possible, and `verify` stays clean.
    #[test]
    fn random_operations_match_a_reference_model() {
        use crate::mm::testutil::XorShift;
        use std::collections::BTreeSet;
        for seed in 1..=8u64 {
            let dir = tempfile::tempdir().unwrap();
            let mut pf = files(dir.path());
            pf.create("a", 2 + seed % 7, 300).unwrap();
            pf.create("b", 40, 90).unwrap();
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut used: BTreeSet<(u8, u32)> = BTreeSet::new();
            for step in 0..1500 {
                let sizes: Vec<u64> = pf.info().iter().map(|i| i.current_pages).collect();
                // The longest free run per file, capped at 16, from the model.
                let longest = |used: &BTreeSet<(u8, u32)>, file: u8| {
                    let (mut best, mut run) = (0u32, 0u32);
                    for s in 1..sizes[file as usize] as u32 {
                        run = if used.contains(&(file, s)) {
                            0
                        } else {
                            run + 1
                        };
                        best = best.max(run.min(MAX_CLUSTER));
                    }
                    best
                };
                match rng.below(10) {
                    0..=4 => {
                        let want = 1 + rng.below(16) as u32;
                        let most = (0..2).map(|f| longest(&used, f)).max().unwrap();
                        match pf.allocate(want) {
                            Some(r) => {
                                assert_eq!(r.count, want.min(most), "seed {seed} step {step}");
                                for s in r.first..r.first + r.count {
                                    assert!(s != 0 && u64::from(s) < sizes[r.file as usize]);
                                    assert!(used.insert((r.file, s)), "seed {seed} step {step}");
                                }
                            }
                            None => assert_eq!(most, 0, "seed {seed} step {step}"),
                        }
                    }
                    5..=7 => {
                        let n = used.len() as u64;
                        if let Some(&(f, s)) = used.iter().nth(rng.below(n) as usize) {
                            pf.release(f, s);
                            used.remove(&(f, s));
                        }
                    }
                    8 => {
                        pf.extend(rng.below(40));
                    }
                    _ => {
                        pf.shrink(rng.below(40));
                        for (f, &size) in pf.info().iter().zip(&sizes) {
                            let floor = used
                                .range((f.index, 0)..(f.index + 1, 0))
                                .next_back()
                                .map_or(1, |&(_, s)| u64::from(s) + 1)
                                .max(f.minimum_pages);
                            assert!(f.current_pages >= floor && f.current_pages <= size);
                        }
                    }
                }
                assert_eq!(pf.used_pages(), used.len() as u64);
                let problems = pf.verify();
                assert!(problems.is_empty(), "seed {seed} step {step}: {problems:?}");
            }
        }
    }

    #[test]
    fn a_one_gib_file_allocates_and_frees_every_slot_quickly() {
        const SLOTS: u64 = 262_144;
        let dir = tempfile::tempdir().unwrap();
        let mut pf = files(dir.path());
        pf.create("big", SLOTS, SLOTS).unwrap();
        let started = std::time::Instant::now();

        let mut runs = Vec::new();
        while let Some(r) = pf.allocate(16) {
            runs.push(r);
        }
        assert_eq!(pf.used_pages(), SLOTS - 1);
        // Free every other slot: the worst fragmentation, then fill it one by one.
        for r in &runs {
            for s in (r.first..r.first + r.count).filter(|s| s % 2 == 0) {
                pf.release(0, s);
            }
        }
        let mut refilled = 0;
        while let Some(r) = pf.allocate(16) {
            assert_eq!(r.count, 1);
            refilled += 1;
        }
        assert_eq!(refilled, SLOTS / 2 - 1);
        for s in 1..SLOTS as u32 {
            pf.release(0, s);
        }
        assert_eq!(pf.used_pages(), 0);
        assert!(pf.verify().is_empty());
        let elapsed = started.elapsed();
        assert!(elapsed.as_secs_f64() < 1.0, "took {elapsed:?}");
    }
}
