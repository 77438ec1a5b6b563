//! The cache manager as the file system sees it (NT's Cc entry points that a
//! file system calls): open a file for caching (CcInitializeCacheMap), copy
//! reads and writes (CcCopyRead, CcCopyWrite), set its size
//! (CcSetFileSizes), flush (CcFlushCache, for FlushFileBuffers), close
//! (CcUninitializeCacheMap), and the checks a delete or a truncate makes
//! (MmCanFileBeTruncated, MmFlushImageSection).
//!
//! The file system (`src/fs`) opens the host file itself, safely inside the
//! volume, and hands it over; the memory manager identifies a file by its
//! device and inode, so a file has one control area however it was named,
//! shared with the sections made on it.
//!
//! Locks: `Mm::cache` (2½), then the System process's address space (4) for
//! the copies and views, then the PFN lock inside.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::base::types::Va;
use crate::mm::cache::vacb::view_of;
use crate::mm::cache::write_behind::{MAX_RUN_PAGES, harvest_cache_views};
use crate::mm::cache::{CacheManager, SharedCacheMap, VACB_PAGES, VACB_SIZE};
use crate::mm::fault::Access;
use crate::mm::fault::prefetch::zero_fill;
use crate::mm::fault::transition_run::resolve_transition_run;
use crate::mm::paging::mapped_writer::flush_range;
use crate::mm::process::AddressSpace;
use crate::mm::section::create::{control_area_for_file, grow_segment};
use crate::mm::segment::{Backing, ControlAreaId};

pub use crate::mm::segment::FileId;

use super::memory::SystemCopy;

/// One open of a file through the cache (NT: a file object, with its
/// private cache map: the read history, kept in the shared cache map under
/// `open`).
#[derive(Debug)]
pub struct CachedFile {
    pub id: FileId,
    pub(super) ca: ControlAreaId,
    pub(super) open: u64,
}

/// How a write reaches the file (the open's flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum WriteMode {
    /// Copied into the cache; the lazy writer writes it later.
    #[default]
    Buffered,
    /// FILE_FLAG_WRITE_THROUGH (O_SYNC, O_DSYNC): copied into the cache and
    /// written to the file before the call returns.
    WriteThrough,
}

/// Closed files whose shared cache map (and so their control area and cached
/// pages) is kept for the next open; past this, the least recently closed
/// ones are let go. NT keeps such files' control areas on its unused segment
/// list, trimmed under memory pressure.
pub(super) const KEEP_CLOSED_MAPS: usize = 256;

impl Mm {
    /// Opens `file` (a regular file of the volume, opened by the caller
    /// read-write where it may be written) for caching. `shown` is its name in
    /// the volume, for the views.
    pub fn cache_open(&self, file: File, shown: &str) -> MmResult<CachedFile> {
        let size = file
            .metadata()
            .map_err(|e| mm_err!(INVALID_DEVICE_REQUEST, "cannot stat {shown}: {e}"))?
            .len();
        let id = FileId::of(&file)
            .map_err(|e| mm_err!(INVALID_DEVICE_REQUEST, "cannot stat {shown}: {e}"))?;
        let m = &self.machine;
        let mut cc = self.cache_lock();
        let path = self.config.files_dir.join(shown);
        let ca = control_area_for_file(m, file, path)
            .map_err(|e| mm_err!(INVALID_DEVICE_REQUEST, "cannot open {shown}: {e}"))?;
        // The control area's handle (the writable one, if any open was).
        let host = {
            let mut st = m.pfn_lock();
            let area = st.segments.control_area_mut(ca);
            let area = area.ok_or_else(|| mm_err!(INVALID_DEVICE_REQUEST, "no control area"))?;
            area.cache_references = 1;
            match &area.backing {
                Backing::File { file, .. } => file.clone(),
                _ => return Err(mm_err!(INVALID_DEVICE_REQUEST, "{shown} is not a file")),
            }
        };
        let hint = cc.hints.get(shown).copied();
        cc.next_open += 1;
        let open = cc.next_open;
        let map = cc.maps.entry(ca).or_insert_with(|| {
            crate::mm_event!(m, "cache.open", "file={shown} ca={ca} size={size:#x}");
            SharedCacheMap::new(ca, id, host.clone(), shown, size)
        });
        map.file = host;
        map.histories.insert(open, Default::default());
        map.open_count += 1;
        map.shown = shown.to_string();
        map.last_closed = 0;
        if let Some(hint) = hint {
            map.hint = hint;
        }
        Ok(CachedFile { id, ca, open })
    }

    /// CcCopyRead: up to `buf.len()` bytes from `offset`; fewer at the end of
    /// the file, 0 at or past it. The bytes are copied from the file's views
    /// in the system cache, faulting the pages in as the System process.
    pub fn cache_read(&self, f: &CachedFile, offset: u64, buf: &mut [u8]) -> MmResult<usize> {
        let mut cc = self.cache_lock();
        let size = map_of(&cc, f)?.file_size;
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let len = (buf.len() as u64).min(size - offset) as usize;
        let end = offset + len as u64;
        self.read_ahead_before_copy(&mut cc, f, offset, end);
        let system = self.system_process()?;
        let mut space = system.space();
        // A hit needs no I/O: every page was valid or came back from a list
        // (NT counts a copy read that had to wait for a read as a miss).
        let hard_before = space.faults.hard;
        self.copy_through_views(
            &mut space,
            &mut cc,
            f.ca,
            offset,
            SystemCopy::Read(&mut buf[..len]),
        )?;
        let hit = space.faults.hard == hard_before;
        self.unmap_behind(&mut space, &mut cc, f, offset);
        drop(space);
        cc.stats.copy_reads += 1;
        cc.stats.copy_read_hits += u64::from(hit);
        self.machine
            .counters
            .cache_copy_reads
            .fetch_add(1, Ordering::Relaxed);
        self.read_ahead_after_copy(&mut cc, f, offset, end, hit);
        Ok(len)
    }

    /// CcCopyWrite: all of `data` at `offset`, extending the file if it ends
    /// beyond it (the host file's size changes at once; its bytes when the
    /// pages are written). A write that would pass the dirty page threshold
    /// first writes dirty pages behind itself (the throttle, counted in
    /// `ThrottledWrites`). Returns the bytes written (all of them).
    pub fn cache_write(
        &self,
        f: &CachedFile,
        offset: u64,
        data: &[u8],
        mode: WriteMode,
    ) -> MmResult<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or_else(|| mm_err!(INVALID_PARAMETER, "{offset:#x} is past the largest file"))?;
        let mut cc = self.cache_lock();
        let old_size = map_of(&cc, f)?.file_size;
        self.extend_for_write(&mut cc, f, end)?;
        let system = self.system_process()?;
        let mut space = system.space();
        // View by view, each first let through the throttle, so the dirty
        // pages never pass the threshold.
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let n = ((VACB_SIZE - at % VACB_SIZE) as usize).min(data.len() - done);
            let piece = &data[done..done + n];
            self.throttle(&mut space, &mut cc, at, n as u64);
            self.fill_without_reading(f.ca, at, n as u64, old_size)?;
            self.copy_through_views(&mut space, &mut cc, f.ca, at, SystemCopy::Write(piece))?;
            let (first, last) = (at / PAGE_SIZE, (at + n as u64 - 1) / PAGE_SIZE);
            if let Some(map) = cc.maps.get_mut(&f.ca) {
                map.dirty.extend(first..=last);
            }
            cc.dirtied_since_scan += last - first + 1;
            done += n;
        }
        cc.stats.copy_writes += 1;
        touch_mtime(&map_of(&cc, f)?.file);
        if mode == WriteMode::WriteThrough {
            drop(space);
            let (first, last) = (offset / PAGE_SIZE, (end - 1) / PAGE_SIZE);
            self.write_dirty(&mut cc, f.ca, first, last)?;
            return self.sync_file(&mut cc, f).map(|()| data.len());
        }
        Ok(data.len())
    }

    /// FILE_FLAG_NO_BUFFERING (O_DIRECT) read: the file's dirty pages are
    /// written first, then the bytes come from the host file itself.
    /// `offset` and the length must be multiples of 512 (else
    /// STATUS_INVALID_PARAMETER).
    pub fn cache_direct_read(
        &self,
        f: &CachedFile,
        offset: u64,
        buf: &mut [u8],
    ) -> MmResult<usize> {
        check_sector_aligned(offset, buf.len())?;
        let mut cc = self.cache_lock();
        self.write_all_dirty(&mut cc, f.ca)?;
        let size = map_of(&cc, f)?.file_size;
        if offset >= size {
            return Ok(0);
        }
        let len = (buf.len() as u64).min(size - offset) as usize;
        let host = map_of(&cc, f)?.file.clone();
        read_host(&host, offset, &mut buf[..len])
    }

    /// FILE_FLAG_NO_BUFFERING write: the file's dirty pages are written and
    /// the range's cached pages purged, then the bytes go to the host
    /// file itself. Pages a process maps cannot be purged; for them the write
    /// goes through the cache and is written through, so the process and the
    /// file agree.
    pub fn cache_direct_write(&self, f: &CachedFile, offset: u64, data: &[u8]) -> MmResult<usize> {
        check_sector_aligned(offset, data.len())?;
        if data.is_empty() {
            return Ok(0);
        }
        let end = offset + data.len() as u64;
        let mut cc = self.cache_lock();
        self.write_all_dirty(&mut cc, f.ca)?;
        let first = offset / PAGE_SIZE;
        let last = (end - 1) / PAGE_SIZE;
        if !self.purge_range(&mut cc, f.ca, first, last) {
            drop(cc);
            return self.cache_write(f, offset, data, WriteMode::WriteThrough);
        }
        self.extend_for_write(&mut cc, f, end)?;
        let map = map_of(&cc, f)?;
        map.file
            .write_all_at(data, offset)
            .map_err(|e| mm_err!(DISK_FULL, "writing {}: {e}", map.shown))?;
        Ok(data.len())
    }

    /// The file's size as the cache knows it (FileSize).
    pub fn cache_file_size(&self, f: &CachedFile) -> MmResult<u64> {
        Ok(map_of(&self.cache_lock(), f)?.file_size)
    }

    /// Sets the file's size (truncate or extend: CcSetFileSizes). Shrinking
    /// below a view a process maps fails with STATUS_USER_MAPPED_FILE and
    /// changes nothing (MmCanFileBeTruncated); otherwise the cached pages past
    /// the new end are purged and their frames freed.
    pub fn cache_set_size(&self, f: &CachedFile, size: u64) -> MmResult<()> {
        let mut cc = self.cache_lock();
        let old = map_of(&cc, f)?.file_size;
        if size < old {
            self.check_truncate(f.ca, size)?;
            self.shrink_cached(&mut cc, f, size)?;
        }
        let map = map_of(&cc, f)?;
        map.file
            .set_len(size)
            .map_err(|e| mm_err!(DISK_FULL, "setting the size of {}: {e}", map.shown))?;
        if let Some(map) = cc.maps.get_mut(&f.ca) {
            map.file_size = size;
        }
        Ok(())
    }

    /// FlushFileBuffers (fsync): every dirty page of the file, whether the
    /// cache or a process's view dirtied it, is written, then the host file
    /// is synced. A write-behind that failed earlier is reported here once
    /// (STATUS_LOST_WRITEBEHIND_DATA). A flush whose own writes fail reports
    /// that, which says all a lost delayed write would: the next close does
    /// not report it again.
    pub fn cache_flush(&self, f: &CachedFile) -> MmResult<()> {
        let mut cc = self.cache_lock();
        if let Err(e) = self.write_all_dirty(&mut cc, f.ca) {
            if let Some(map) = cc.maps.get_mut(&f.ca) {
                map.lost_write = None;
            }
            return Err(e);
        }
        self.sync_file(&mut cc, f)
    }

    /// Closes an open (CcUninitializeCacheMap). It does not flush; a lost
    /// delayed write not yet reported is reported here. The file stays cached
    /// for the next open (up to `KEEP_CLOSED_MAPS` closed files), unless it
    /// was deleted.
    pub fn cache_close(&self, f: CachedFile) -> MmResult<()> {
        let mut cc = self.cache_lock();
        cc.close_clock += 1;
        let stamp = cc.close_clock;
        let map = map_of_mut(&mut cc, &f)?;
        map.open_count = map.open_count.saturating_sub(1);
        map.histories.remove(&f.open);
        let lost = take_lost(map);
        let deleted = map.open_count == 0 && map.file.metadata().is_ok_and(|m| unlinked(&m));
        if map.open_count == 0 {
            map.last_closed = stamp;
        }
        if deleted {
            self.teardown(&mut cc, f.ca);
        }
        self.trim_closed_maps(&mut cc);
        lost
    }

    /// Reports (once) a delayed write of the file that was lost, without
    /// closing it: `close()` gets EIO from the FUSE flush that precedes it.
    pub fn cache_check_lost(&self, f: &CachedFile) -> MmResult<()> {
        take_lost(map_of_mut(&mut self.cache_lock(), f)?)
    }

    /// Whether the file `id` may be deleted, or replaced by a rename: not
    /// while a process maps a view of it (STATUS_CANNOT_DELETE, as
    /// MmFlushImageSection(MmFlushForDelete) refuses). A closed file that may
    /// go is no longer kept cached.
    pub fn cache_check_delete(&self, id: FileId) -> MmResult<()> {
        let mut cc = self.cache_lock();
        let found = self.machine.pfn_lock().segments.file_control_area(id);
        let Some(ca) = found else {
            return Ok(());
        };
        let users = self.user_references(ca);
        if users > 0 {
            return Err(mm_err!(
                CANNOT_DELETE,
                "a process maps {users} view(s) of the file; unmap them first"
            ));
        }
        if cc.maps.get(&ca).is_some_and(|m| m.open_count == 0) {
            self.teardown(&mut cc, ca);
        }
        Ok(())
    }

    /// The file `id` is now called `shown` (a rename), for the views.
    pub fn cache_renamed(&self, id: FileId, shown: &str) {
        let mut cc = self.cache_lock();
        if let Some(map) = cc.by_file_mut(id) {
            map.shown = shown.to_string();
        }
        let path = self.config.files_dir.join(shown);
        let mut st = self.machine.pfn_lock();
        let ca = st.segments.file_control_area(id);
        if let Some(Backing::File { path: p, .. }) = ca
            .and_then(|ca| st.segments.control_area_mut(ca))
            .map(|a| &mut a.backing)
        {
            *p = path;
        }
    }

    /// Writes every dirty page of every cached file and syncs them (unmount,
    /// SIGTERM). Returns the first failure, after trying every file.
    pub fn cache_flush_all(&self) -> MmResult<()> {
        let mut cc = self.cache_lock();
        let files: Vec<ControlAreaId> = cc.maps.keys().copied().collect();
        let mut first_error = None;
        for ca in files {
            let r = self.write_all_dirty(&mut cc, ca).and_then(|()| {
                let map = cc.maps.get(&ca).expect("listed above");
                map.file
                    .sync_data()
                    .map_err(|e| mm_err!(LOST_WRITEBEHIND_DATA, "syncing {}: {e}", map.shown))
            });
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Mm {
    /// Copies between the caller and the file's views, view by view (each
    /// 256 KB chunk mapped if it is not), in the System process's address
    /// space `space`.
    pub(super) fn copy_through_views(
        &self,
        space: &mut AddressSpace,
        cc: &mut CacheManager,
        ca: ControlAreaId,
        offset: u64,
        mut copy: SystemCopy<'_>,
    ) -> MmResult<()> {
        let m = &self.machine;
        let len = match &copy {
            SystemCopy::Read(b) => b.len(),
            SystemCopy::Write(d) => d.len(),
        };
        let mut done = 0usize;
        while done < len {
            let at = offset + done as u64;
            let chunk = at / VACB_SIZE;
            let within = at % VACB_SIZE;
            let n = ((VACB_SIZE - within) as usize).min(len - done);
            let base = view_of(m, space, cc, ca, chunk)?;
            let va = base.0 + within;
            // The pages of this view the copy touches that are in transition
            // (a hard fault's cluster neighbours, pages read ahead that the
            // read-ahead could not make valid, or zeroed for a write) take
            // their faults in one PFN-lock hold; the copy's touches then
            // find them valid.
            let pages = (va + n as u64 - 1) / PAGE_SIZE - va / PAGE_SIZE + 1;
            let access = match &copy {
                SystemCopy::Read(_) => Access::Read,
                SystemCopy::Write(_) => Access::Write,
            };
            let mut known = [None; VACB_PAGES as usize + 1];
            let known = &mut known[..pages as usize];
            resolve_transition_run(m, space, Va(va), access, known);
            let result = match &mut copy {
                SystemCopy::Read(b) => {
                    // CcCopyRead's MmSetPageFaultReadAhead: a miss reads the
                    // rest of this view's bytes with it, in one fault.
                    space.fault_read_ahead_end = Some(Va(va + n as u64));
                    let copied = self.system_copy(
                        space,
                        va,
                        SystemCopy::Read(&mut b[done..done + n]),
                        known,
                    );
                    space.fault_read_ahead_end = None;
                    copied
                }
                SystemCopy::Write(d) => {
                    self.system_copy(space, va, SystemCopy::Write(&d[done..done + n]), known)
                }
            };
            match result {
                Ok(k) if k == n => {}
                Ok(_) => return Err(mm_err!(IN_PAGE_ERROR, "the copy stopped short")),
                Err(f) => return Err(f.error),
            }
            done += n;
        }
        Ok(())
    }

    /// The pages of a write of `len` bytes at `at` that need not be read
    /// first (wholly overwritten, or wholly past the file's old end
    /// `old_size`) become zeroed pages on standby (`prefetch::zero_fill`), so
    /// the copy takes a soft fault instead of reading them from the file.
    fn fill_without_reading(
        &self,
        ca: ControlAreaId,
        at: u64,
        len: u64,
        old_size: u64,
    ) -> MmResult<()> {
        let m = &self.machine;
        grow_segment(m, ca, (at + len).next_multiple_of(VACB_SIZE))?;
        let (first, last) = (at / PAGE_SIZE, (at + len - 1) / PAGE_SIZE);
        let skip_read = |p: u64| {
            let (start, end) = (p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
            (start >= at && end <= at + len) || start >= old_size
        };
        zero_fill(m, ca, (first..=last).filter(|&p| skip_read(p)));
        Ok(())
    }

    /// Makes the file at least `end` bytes long for a write (the host file
    /// too, so `stat` shows the size at once).
    fn extend_for_write(&self, cc: &mut CacheManager, f: &CachedFile, end: u64) -> MmResult<()> {
        let map = map_of(cc, f)?;
        if end <= map.file_size {
            return Ok(());
        }
        map.file
            .set_len(end)
            .map_err(|e| mm_err!(DISK_FULL, "extending {} to {end} bytes: {e}", map.shown))?;
        if let Some(map) = cc.maps.get_mut(&f.ca) {
            map.file_size = end;
        }
        Ok(())
    }

    /// CcCanIWrite: a write of `bytes` that would take the dirty pages past
    /// the threshold first writes dirty pages behind itself until it fits.
    fn throttle(&self, space: &mut AddressSpace, cc: &mut CacheManager, at: u64, bytes: u64) {
        let pages = (at + bytes).div_ceil(PAGE_SIZE) - at / PAGE_SIZE;
        let dirty = cc.dirty_pages();
        if dirty + pages <= cc.dirty_page_threshold {
            return;
        }
        cc.stats.throttled_writes += 1;
        let need = (dirty + pages - cc.dirty_page_threshold).max(MAX_RUN_PAGES);
        let written = crate::mm::cache::write_behind::write_behind(&self.machine, space, cc, need);
        crate::mm_event!(
            &self.machine,
            "cache.throttle",
            "dirty={dirty} threshold={} written={written}",
            cc.dirty_page_threshold
        );
    }

    /// Writes every dirty page of file `ca`. See `write_dirty`.
    pub(super) fn write_all_dirty(&self, cc: &mut CacheManager, ca: ControlAreaId) -> MmResult<()> {
        self.write_dirty(cc, ca, 0, u64::MAX)
    }

    /// Writes the dirty pages of file `ca` with indexes `first..=last`,
    /// whether the cache or a process's view dirtied them (CcFlushCache over
    /// a range): the views' Dirty bits go to the frames, then every modified
    /// page of the range is written. Fails if a write failed; the pages stay
    /// dirty.
    fn write_dirty(
        &self,
        cc: &mut CacheManager,
        ca: ControlAreaId,
        first: u64,
        last: u64,
    ) -> MmResult<()> {
        let m = &self.machine;
        {
            let system = self.system_process()?;
            harvest_cache_views(m, &system.space(), cc, ca, first, last);
        }
        self.harvest_user_views(ca);
        let outcome = flush_range(m, ca, first, last, false);
        let Some(map) = cc.maps.get_mut(&ca) else {
            return Ok(());
        };
        if outcome.failed > 0 {
            return Err(mm_err!(
                LOST_WRITEBEHIND_DATA,
                "{}: {} pages could not be written (they stay dirty)",
                map.shown,
                outcome.failed
            ));
        }
        map.dirty.retain(|&p| p < first || p > last);
        Ok(())
    }

    /// Syncs the host file, reporting a lost delayed write once.
    fn sync_file(&self, cc: &mut CacheManager, f: &CachedFile) -> MmResult<()> {
        let map = map_of_mut(cc, f)?;
        take_lost(map)?;
        map.file
            .sync_data()
            .map_err(|e| mm_err!(LOST_WRITEBEHIND_DATA, "syncing {}: {e}", map.shown))
    }
}

/// The shared cache map of an open.
pub(super) fn map_of<'a>(cc: &'a CacheManager, f: &CachedFile) -> MmResult<&'a SharedCacheMap> {
    cc.maps
        .get(&f.ca)
        .ok_or_else(|| mm_err!(INVALID_DEVICE_REQUEST, "the file is not open in the cache"))
}

/// The shared cache map of an open, to change.
fn map_of_mut<'a>(cc: &'a mut CacheManager, f: &CachedFile) -> MmResult<&'a mut SharedCacheMap> {
    cc.maps
        .get_mut(&f.ca)
        .ok_or_else(|| mm_err!(INVALID_DEVICE_REQUEST, "the file is not open in the cache"))
}

/// Reports, once, a delayed write of the file that was lost (NT's
/// lost-delayed-write).
fn take_lost(map: &mut SharedCacheMap) -> MmResult<()> {
    match map.lost_write.take() {
        Some(why) => Err(mm_err!(
            LOST_WRITEBEHIND_DATA,
            "a delayed write was lost: {why}"
        )),
        None => Ok(()),
    }
}

/// A section made the file of control area `ca` at least `size` bytes long
/// (NtCreateSection and NtExtendSection set the end of file): the cache's
/// FileSize follows, as the file system's CcSetFileSizes makes it in NT.
/// Without it a copy read stopped at the old size, and a copy write past it
/// set the host file's length back below the section.
pub(super) fn file_size_at_least(cc: &mut CacheManager, ca: ControlAreaId, size: u64) {
    if let Some(map) = cc.maps.get_mut(&ca)
        && map.file_size < size
    {
        map.file_size = size;
    }
}

/// Whether a file's last name is gone.
fn unlinked(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.nlink() == 0
}

/// A write changes the file's modification time now, as the file system
/// does when the bytes enter the cache; the lazy writer's write later keeps
/// the times (`paging/mapped_writer.rs`).
fn touch_mtime(file: &File) {
    use std::os::fd::AsRawFd;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    ];
    // SAFETY: futimens on an open descriptor with two valid timespecs.
    unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) };
}

/// Reads `buf.len()` bytes of the host file at `offset` (fewer at its end).
fn read_host(file: &File, offset: u64, buf: &mut [u8]) -> MmResult<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => return Err(mm_err!(IN_PAGE_ERROR, "reading the file: {e}")),
        }
    }
    Ok(done)
}

/// FILE_FLAG_NO_BUFFERING's rule: offset and length are multiples of the
/// sector size (512 bytes).
fn check_sector_aligned(offset: u64, len: usize) -> MmResult<()> {
    const SECTOR: u64 = 512;
    if !offset.is_multiple_of(SECTOR) || !(len as u64).is_multiple_of(SECTOR) {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "an unbuffered transfer must start and end on 512-byte sectors (offset {offset:#x}, {len:#x} bytes)"
        ));
    }
    Ok(())
}
