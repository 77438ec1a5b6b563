//! Layer 13, the cache manager (NT's Cc): files of the `--files` volume read
//! and written through 256 KB views of their sections, mapped in the system
//! cache (WRK `cc/`, *Windows Internals* ch. 10).
//!
//! A cached file is a file-backed control area, the same one a
//! `sections/create ... file=PATH` uses, with a shared cache map beside it
//! (`SharedCacheMap`: its size, its views, the pages the cache dirtied, the
//! read history). A view is a VACB: a 256 KB window at a fixed address of the
//! system cache range, mapped as a view of the control area in the System
//! process's address space, so touching it takes ordinary page faults there
//! (pid 4) and its pages are in the System process's working set, the system
//! cache working set. Copy reads and writes (`api/cache.rs`) touch the pages
//! through the simulated MMU like any thread.
//!
//! - `vacb.rs`: the VACB array, least-recently-used reuse of inactive views;
//! - `write_behind.rs`: the lazy writer's scan and the write throttle;
//! - `read_ahead.rs`: the read history and what to read ahead;
//! - `purge.rs`: dropping cached pages past a new end of file.
//!
//! Lock: `Mm::cache` (order 2½: after `Mm::sections`, before the process
//! table); a copy holds it across the touch of the System process's address
//! space, so a VACB is never unmapped while a copy uses it (NT's ActiveCount
//! plays that part for concurrent copies; here they are serialized).

pub mod purge;
pub mod read_ahead;
pub mod vacb;
pub mod write_behind;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::sync::Arc;

use crate::mm::base::types::PAGE_SIZE;
use crate::mm::hw::layout::Layout;
use crate::mm::segment::{ControlAreaId, FileId};

use read_ahead::{Hint, ReadHistory};

use vacb::VacbArray;

/// VACB_MAPPING_GRANULARITY: each view maps 256 KB of a file.
pub const VACB_SIZE: u64 = 256 << 10;
/// Pages in one view.
pub const VACB_PAGES: u64 = VACB_SIZE / PAGE_SIZE;

/// Pages of the system cache working set: the System process's working-set
/// entries inside the system cache range of layout `l`.
pub fn system_cache_ws(l: &Layout, system: &crate::mm::process::AddressSpace) -> u64 {
    let range = l.system_cache_start()..l.system_cache_start() + l.system_cache_bytes();
    system
        .ws
        .iter()
        .filter(|(_, w)| range.contains(&w.va.0))
        .count() as u64
}

/// The counters of `cache/stats` (NT's Cache performance counters).
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheStats {
    pub copy_reads: u64,
    /// Copy reads that needed no read from the file (every page valid, or
    /// brought back from a list by a soft fault).
    pub copy_read_hits: u64,
    pub copy_writes: u64,
    /// Views mapped (CcMapData and the VACB maps a copy needed).
    pub data_maps: u64,
    pub read_aheads: u64,
    pub read_ahead_pages: u64,
    pub lazy_write_flushes: u64,
    pub lazy_write_pages: u64,
    pub throttled_writes: u64,
    pub peak_system_cache_ws: u64,
}

/// A read-ahead the `read-ahead` thread is to do: pages `first..first +
/// pages` of file `ca`, for open `open`.
#[derive(Clone, Copy, Debug)]
pub struct ReadAheadRequest {
    pub ca: ControlAreaId,
    pub open: u64,
    pub first: u64,
    pub pages: u64,
}

/// One cached file (NT's SHARED_CACHE_MAP).
#[derive(Debug)]
pub struct SharedCacheMap {
    pub ca: ControlAreaId,
    pub id: FileId,
    /// The host file (the control area's), for sizes and syncs.
    pub file: Arc<File>,
    /// The file's name in the volume, for the views (updated on rename).
    pub shown: String,
    /// FileSize: the end of the file as the cache knows it.
    pub file_size: u64,
    /// Opens of the file through the cache (OpenCount).
    pub open_count: u64,
    /// Views mapped: 256 KB chunk number → VACB index.
    pub vacbs: BTreeMap<u64, usize>,
    /// Pages the cache dirtied (CcCopyWrite) and the lazy writer has not yet
    /// written, by page index in the file (NT's dirty page mask).
    pub dirty: BTreeSet<u64>,
    /// FILE_FLAG_SEQUENTIAL_SCAN / RANDOM_ACCESS, from `hint` or the open.
    pub hint: Hint,
    /// The read history of each open of the file (NT's PRIVATE_CACHE_MAP,
    /// one per file object), by open number.
    pub histories: BTreeMap<u64, ReadHistory>,
    /// A write-behind that failed (the host said why): reported once by the
    /// next flush or close (NT's lost delayed write).
    pub lost_write: Option<String>,
    /// When the last open closed (`CacheManager::close_clock`), 0 while open:
    /// the least recently closed maps go first when too many are kept.
    pub last_closed: u64,
}

impl SharedCacheMap {
    pub fn new(ca: ControlAreaId, id: FileId, file: Arc<File>, shown: &str, size: u64) -> Self {
        SharedCacheMap {
            ca,
            id,
            file,
            shown: shown.to_string(),
            file_size: size,
            open_count: 0,
            vacbs: BTreeMap::new(),
            dirty: BTreeSet::new(),
            hint: Hint::Normal,
            histories: BTreeMap::new(),
            lost_write: None,
            last_closed: 0,
        }
    }
}

/// The cache manager's state (behind `Mm::cache`).
#[derive(Debug)]
pub struct CacheManager {
    pub vacbs: VacbArray,
    pub maps: BTreeMap<ControlAreaId, SharedCacheMap>,
    pub stats: CacheStats,
    /// CcDirtyPageThreshold.
    pub dirty_page_threshold: u64,
    /// Where the lazy writer's round-robin over files resumes.
    pub lazy_cursor: ControlAreaId,
    /// Read-ahead requests waiting for the `read-ahead` thread.
    pub read_ahead_queue: Vec<ReadAheadRequest>,
    /// Counts closes, to order closed maps.
    pub close_clock: u64,
    /// Numbers opens (each has its own read history).
    pub next_open: u64,
    /// Pages copy writes dirtied since the lazy writer's last scan.
    pub dirtied_since_scan: u64,
    /// The eighth the last scan set out to write (what dirtying is compared
    /// with).
    pub last_scan_share: u64,
    /// Hints given by name (`cache/control hint`), applied when a file of
    /// that name is opened.
    pub hints: std::collections::HashMap<String, Hint>,
}

impl CacheManager {
    /// The cache of a machine with `physical_pages` of RAM and layout `l`.
    ///
    /// The system cache's virtual size: NT sizes it at boot from the RAM
    /// (MmSizeOfSystemCacheInPages); mmfs makes it the RAM's size, at least
    /// 64 MB and at most the system cache range of the layout, and has NT's
    /// number of VACBs for it (cache pages / 64 − 2).
    ///
    /// CcDirtyPageThreshold: an eighth of RAM on small machines, a quarter
    /// on larger ones (CcInitializeCacheManager; mmfs calls a machine small
    /// below 64 MB), at least 64 pages and at most half of RAM.
    pub fn new(l: &Layout, physical_pages: u64) -> CacheManager {
        let range = l.system_cache_bytes();
        let want = (physical_pages * PAGE_SIZE).max(64 << 20);
        let bytes = want.min(range);
        let count = (bytes / VACB_SIZE).saturating_sub(2).max(1) as usize;
        let threshold = if physical_pages * PAGE_SIZE < (64 << 20) {
            physical_pages / 8
        } else {
            physical_pages / 4
        };
        CacheManager {
            vacbs: VacbArray::new(l.system_cache_start(), count),
            maps: BTreeMap::new(),
            stats: CacheStats::default(),
            dirty_page_threshold: threshold.max(64).min(physical_pages / 2),
            lazy_cursor: ControlAreaId(0),
            read_ahead_queue: Vec::new(),
            close_clock: 0,
            next_open: 0,
            dirtied_since_scan: 0,
            last_scan_share: 0,
            hints: std::collections::HashMap::new(),
        }
    }

    /// Pages the cache has dirtied and not yet written (CcTotalDirtyPages).
    pub fn dirty_pages(&self) -> u64 {
        self.maps.values().map(|s| s.dirty.len() as u64).sum()
    }

    pub fn by_file_mut(&mut self, id: FileId) -> Option<&mut SharedCacheMap> {
        self.maps.values_mut().find(|s| s.id == id)
    }
}
