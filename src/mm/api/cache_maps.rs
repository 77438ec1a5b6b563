//! The cache manager's bookkeeping around the copies (`cache.rs`): truncation
//! (MmCanFileBeTruncated, CcPurgeCacheSection), the dirty bits of processes'
//! views of a cached file, scheduling read-ahead, the two system threads'
//! passes, and letting a shared cache map go (CcDeleteSharedCacheMap).
//!
//! Locks: `Mm::cache` is held throughout; the process table and one address
//! space at a time are taken under it (never two spaces at once).

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Pid};
use crate::mm::base::wakeups::SystemThread;
use crate::mm::cache::purge::purge;
use crate::mm::cache::vacb::unmap_file_views;
use crate::mm::cache::{CacheManager, ReadAheadRequest, VACB_PAGES, read_ahead};
use crate::mm::paging::mapped_writer::flush_range;
use crate::mm::section::delete::delete_if_unreferenced;
use crate::mm::section::view::harvest_dirty;
use crate::mm::segment::ControlAreaId;

use super::cache::{CachedFile, KEEP_CLOSED_MAPS, map_of};
use super::memory::SystemCopy;

/// How long a purge waits for paging I/O on the pages it drops (1 ms steps).
const PURGE_WAIT_STEPS: u32 = 2000;

impl Mm {
    /// NumberOfUserReferences of control area `ca`: views processes map.
    pub(super) fn user_references(&self, ca: ControlAreaId) -> u64 {
        let st = self.machine.pfn_lock();
        st.segments
            .control_area(ca)
            .map_or(0, |a| a.user_references)
    }

    /// MmCanFileBeTruncated: no process may map a view of file `ca` that
    /// reaches past `size` (rounded up to a page).
    pub(super) fn check_truncate(&self, ca: ControlAreaId, size: u64) -> MmResult<()> {
        let users = self.user_references(ca);
        if users == 0 {
            return Ok(());
        }
        let end = size.next_multiple_of(PAGE_SIZE);
        for p in self.all_processes() {
            if p.pid == Pid::SYSTEM {
                continue;
            }
            let space = p.space();
            for vad in space.vads.iter() {
                let Some(s) = vad.section.as_ref().filter(|s| s.id == ca) else {
                    continue;
                };
                if s.offset + vad.size_bytes() > end {
                    return Err(mm_err!(
                        USER_MAPPED_FILE,
                        "process {} maps the file up to offset {:#x} (view at {}); the file cannot shrink to {size:#x} bytes",
                        p.name,
                        s.offset + vad.size_bytes(),
                        vad.range_text()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Drops what the cache holds of `f` past `size`: the tail of the new last
    /// page is zeroed (so the bytes do not come back if the file grows again),
    /// the views past it are unmapped, and the pages past it purged.
    pub(super) fn shrink_cached(
        &self,
        cc: &mut CacheManager,
        f: &CachedFile,
        size: u64,
    ) -> MmResult<()> {
        let old = map_of(cc, f)?.file_size;
        let tail = (PAGE_SIZE - size % PAGE_SIZE) % PAGE_SIZE;
        let tail = tail.min(old - size);
        if tail > 0 {
            let zeros = vec![0u8; tail as usize];
            let system = self.system_process()?;
            let mut space = system.space();
            self.copy_zeros(&mut space, cc, f, size, &zeros)?;
        }
        let first = size.div_ceil(PAGE_SIZE);
        if !self.purge_range(cc, f.ca, first, u64::MAX) {
            return Err(mm_err!(
                USER_MAPPED_FILE,
                "pages past {size:#x} are still in use; try again"
            ));
        }
        Ok(())
    }

    /// Unmaps the cache's views over pages `first..=last` of file `ca`,
    /// forgets their dirtiness and purges them. False if some page could not
    /// be purged (a process maps it, or its I/O did not finish in time).
    pub(super) fn purge_range(
        &self,
        cc: &mut CacheManager,
        ca: ControlAreaId,
        first: u64,
        last: u64,
    ) -> bool {
        let m = &self.machine;
        if let Ok(system) = self.system_process() {
            let mut space = system.space();
            let from = first / VACB_PAGES;
            let views: Vec<usize> = cc
                .maps
                .get(&ca)
                .map(|s| {
                    let to = last / VACB_PAGES;
                    s.vacbs.range(from..=to).map(|(_, &i)| i).collect()
                })
                .unwrap_or_default();
            for i in views {
                crate::mm::cache::vacb::unmap_vacb(m, &mut space, cc, i);
            }
        }
        if let Some(map) = cc.maps.get_mut(&ca) {
            map.dirty.retain(|&p| p < first || p > last);
        }
        for _ in 0..PURGE_WAIT_STEPS {
            if purge(m, ca, first, last) == 0 {
                return true;
            }
            let users = m
                .pfn_lock()
                .segments
                .control_area(ca)
                .map_or(0, |a| a.user_references);
            if users > 0 {
                return false; // a process's valid page: it stays
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        false
    }

    /// Moves the Dirty bits of every process's views of file `ca` to the
    /// frames, so a flush writes what processes wrote too. One address
    /// space at a time.
    pub(super) fn harvest_user_views(&self, ca: ControlAreaId) {
        let users = self.user_references(ca);
        if users == 0 {
            return;
        }
        for p in self.all_processes() {
            if p.pid == Pid::SYSTEM {
                continue;
            }
            let space = p.space();
            let views: Vec<_> = space
                .vads
                .iter()
                .filter(|v| v.section.as_ref().is_some_and(|s| s.id == ca))
                .map(|v| (v.starting_vpn, v.ending_vpn))
                .collect();
            for (first, last) in views {
                harvest_dirty(&self.machine, &space, first, last);
            }
        }
    }

    /// Before a copy read of `offset..end` (CcCopyRead): with read-ahead on
    /// for this open, queues what its history and this read say should be
    /// read ahead, for the `read-ahead` thread, so it overlaps with the copy.
    pub(super) fn read_ahead_before_copy(
        &self,
        cc: &mut CacheManager,
        f: &CachedFile,
        offset: u64,
        end: u64,
    ) {
        let on = cc
            .maps
            .get(&f.ca)
            .and_then(|m| m.histories.get(&f.open))
            .is_some_and(|h| h.enabled);
        if on {
            self.schedule_read_ahead(cc, f, offset, end);
        }
    }

    /// After a copy read of `offset..end`: a read that was not all resident
    /// (`hit` false) turns read-ahead on and asks for the first one (so does
    /// the sequential hint), except for a random-access file; then the read
    /// joins the open's history.
    pub(super) fn read_ahead_after_copy(
        &self,
        cc: &mut CacheManager,
        f: &CachedFile,
        offset: u64,
        end: u64,
        hit: bool,
    ) {
        let Some(map) = cc.maps.get_mut(&f.ca) else {
            return;
        };
        let hint = map.hint;
        let history = map.histories.entry(f.open).or_default();
        let turn_on = !history.enabled
            && hint != read_ahead::Hint::Random
            && (!hit || hint == read_ahead::Hint::Sequential);
        if turn_on {
            history.enabled = true;
            self.schedule_read_ahead(cc, f, offset, end);
        }
        if let Some(h) = cc
            .maps
            .get_mut(&f.ca)
            .and_then(|m| m.histories.get_mut(&f.open))
        {
            h.record(offset, end);
        }
    }

    /// CcScheduleReadAhead: queues what a read of `offset..end` says should
    /// be read ahead (within the file) and wakes the `read-ahead` thread.
    fn schedule_read_ahead(&self, cc: &mut CacheManager, f: &CachedFile, offset: u64, end: u64) {
        let Some(map) = cc.maps.get_mut(&f.ca) else {
            return;
        };
        let size = map.file_size;
        let hint = map.hint;
        let history = map.histories.entry(f.open).or_default();
        let Some((from, to)) = history.plan(offset, end, hint) else {
            return;
        };
        let to = to.min(size);
        if from >= to {
            return;
        }
        let first = from / PAGE_SIZE;
        let pages = to.div_ceil(PAGE_SIZE) - first;
        cc.read_ahead_queue.push(ReadAheadRequest {
            ca: f.ca,
            open: f.open,
            first,
            pages,
        });
        self.machine.wakeups.wake(SystemThread::ReadAhead);
    }

    /// Unmap-behind for a sequential-only file (FILE_FLAG_SEQUENTIAL_SCAN,
    /// `hint PATH sequential`): once its sequential reader is past 1 MB, the
    /// views that end more than 1 MB before it are unmapped, so one long scan
    /// does not take every view (NT also puts those pages at the front of
    /// standby; mmfs puts them at its end like any unmapped page).
    pub(super) fn unmap_behind(
        &self,
        space: &mut crate::mm::process::AddressSpace,
        cc: &mut CacheManager,
        f: &CachedFile,
        offset: u64,
    ) {
        const BEHIND: u64 = 1 << 20;
        let Some(map) = cc.maps.get(&f.ca) else {
            return;
        };
        let Some(history) = map.histories.get(&f.open) else {
            return;
        };
        let [older, newer] = history.last;
        let sequential = newer.1 == offset && older.1 == newer.0;
        if map.hint != read_ahead::Hint::Sequential || !sequential || offset <= BEHIND {
            return;
        }
        let keep_from = (offset - BEHIND) / crate::mm::cache::VACB_SIZE;
        let behind: Vec<usize> = map.vacbs.range(..keep_from).map(|(_, &i)| i).collect();
        for i in behind {
            crate::mm::cache::vacb::unmap_vacb(&self.machine, space, cc, i);
        }
    }

    /// Copies `zeros` into file `f` at `offset` through the views, as dirty
    /// cache pages.
    fn copy_zeros(
        &self,
        space: &mut crate::mm::process::AddressSpace,
        cc: &mut CacheManager,
        f: &CachedFile,
        offset: u64,
        zeros: &[u8],
    ) -> MmResult<()> {
        self.copy_through_views(space, cc, f.ca, offset, SystemCopy::Write(zeros))?;
        if let Some(map) = cc.maps.get_mut(&f.ca) {
            map.dirty.insert(offset / PAGE_SIZE);
        }
        Ok(())
    }

    /// Lets the shared cache map of file `ca` go: its views are unmapped, its
    /// dirty pages written, and the control area is deleted if nothing else
    /// refers to it (its pages are freed).
    pub(super) fn teardown(&self, cc: &mut CacheManager, ca: ControlAreaId) {
        let m = &self.machine;
        if let Ok(system) = self.system_process() {
            // Unmapping the views moves their Dirty bits to the frames.
            unmap_file_views(m, &mut system.space(), cc, ca, 0);
        }
        flush_range(m, ca, 0, u64::MAX, false);
        if let Some(map) = cc.maps.remove(&ca) {
            crate::mm_event!(m, "cache.close", "file={} ca={ca}", map.shown);
        }
        if let Some(area) = m.pfn_lock().segments.control_area_mut(ca) {
            area.cache_references = 0;
        }
        delete_if_unreferenced(m, ca);
        // No address space is held here (the cache's lock is).
        self.settle_prototype_pages();
    }

    /// Lets the least recently closed files go past `KEEP_CLOSED_MAPS`.
    pub(super) fn trim_closed_maps(&self, cc: &mut CacheManager) {
        let mut closed: Vec<(u64, ControlAreaId)> = cc
            .maps
            .values()
            .filter(|s| s.open_count == 0)
            .map(|s| (s.last_closed, s.ca))
            .collect();
        if closed.len() <= KEEP_CLOSED_MAPS {
            return;
        }
        closed.sort_unstable();
        let excess = closed.len() - KEEP_CLOSED_MAPS;
        for &(_, ca) in &closed[..excess] {
            self.teardown(cc, ca);
        }
    }
}
