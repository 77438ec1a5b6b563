//! The cache manager's views (`cache/stats`, `cache/views`, `cache/files`) and
//! the system cache working set's size for `system/meminfo`.

use crate::mm::Mm;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::cache::{VACB_SIZE, system_cache_ws};
use crate::mm::segment::FileId;

/// One row of `cache/views`: a VACB in use.
#[derive(Clone, Debug)]
pub struct CacheViewRow {
    pub index: usize,
    pub base: u64,
    pub file: String,
    pub file_offset: u64,
    pub active: u32,
    pub dirty_pages: u64,
}

/// One row of `cache/files` (the `!filecache` view).
#[derive(Clone, Debug)]
pub struct CacheFileRow {
    pub file: String,
    pub id: FileId,
    pub size: u64,
    pub cached_pages: u64,
    pub dirty_pages: u64,
    pub views: u64,
    pub mapped_views: u64,
    pub read_ahead: &'static str,
    pub open_count: u64,
}

impl Mm {
    /// `cache/stats`: NT's cache counters, in SPEC order.
    pub fn cache_stats(&self) -> Vec<(&'static str, u64)> {
        let ws = self.system_cache_ws_pages();
        let cc = self.cache_lock();
        let s = cc.stats;
        let percent = (s.copy_read_hits * 100)
            .checked_div(s.copy_reads)
            .unwrap_or(0);
        vec![
            ("CopyReads", s.copy_reads),
            ("CopyReadHits", s.copy_read_hits),
            ("CopyReadHitsPercent", percent),
            ("CopyWrites", s.copy_writes),
            ("DataMaps", s.data_maps),
            ("ReadAheads", s.read_aheads),
            ("ReadAheadPages", s.read_ahead_pages),
            ("LazyWriteFlushes", s.lazy_write_flushes),
            ("LazyWritePages", s.lazy_write_pages),
            ("DirtyPages", cc.dirty_pages()),
            ("DirtyPageThreshold", cc.dirty_page_threshold),
            ("ThrottledWrites", s.throttled_writes),
            ("SystemCacheWorkingSet", ws),
            // Sampled by each lazy-writer scan, and by this read.
            ("PeakSystemCacheWorkingSet", s.peak_system_cache_ws.max(ws)),
            ("Vacbs", cc.vacbs.vacbs.len() as u64),
            ("ActiveVacbs", cc.vacbs.in_use() as u64),
        ]
    }

    /// The read-ahead requests queued for the `read-ahead` thread: (first
    /// page, pages) each.
    #[cfg(test)]
    pub fn cache_read_ahead_queue(&self) -> Vec<(u64, u64)> {
        let cc = self.cache_lock();
        cc.read_ahead_queue
            .iter()
            .map(|r| (r.first, r.pages))
            .collect()
    }

    /// `cache/views`: every VACB that maps a view, by index.
    pub fn cache_views(&self) -> Vec<CacheViewRow> {
        let cc = self.cache_lock();
        cc.vacbs
            .vacbs
            .iter()
            .enumerate()
            .filter_map(|(index, v)| {
                let (ca, chunk) = v.mapping?;
                let map = cc.maps.get(&ca)?;
                let first = chunk * VACB_SIZE / PAGE_SIZE;
                let pages = VACB_SIZE / PAGE_SIZE;
                Some(CacheViewRow {
                    index,
                    base: v.base.0,
                    file: map.shown.clone(),
                    file_offset: chunk * VACB_SIZE,
                    active: v.active,
                    dirty_pages: map.dirty.range(first..first + pages).count() as u64,
                })
            })
            .collect()
    }

    /// `cache/files`: every cached file (open, or closed and kept).
    pub fn cache_files(&self) -> Vec<CacheFileRow> {
        let cc = self.cache_lock();
        let st = self.machine.pfn_lock();
        cc.maps
            .values()
            .map(|map| {
                let area = st.segments.control_area(map.ca);
                CacheFileRow {
                    file: map.shown.clone(),
                    id: map.id,
                    size: map.file_size,
                    cached_pages: area.map_or(0, |a| a.pfn_references),
                    dirty_pages: map.dirty.len() as u64,
                    views: map.vacbs.len() as u64,
                    mapped_views: area.map_or(0, |a| a.mapped_views),
                    read_ahead: map.hint.name(),
                    open_count: map.open_count,
                }
            })
            .collect()
    }

    /// Pages of the system cache working set: the System process's working
    /// set entries inside the system cache range.
    pub fn system_cache_ws_pages(&self) -> u64 {
        let Ok(system) = self.system_process() else {
            return 0;
        };
        system_cache_ws(&self.machine.layout, &system.space())
    }
}
