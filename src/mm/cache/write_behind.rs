//! The lazy writer's write-behind (WRK `cc/lazyrite.c`, CcLazyWriteScan and
//! CcWriteBehind) and the write throttle (CcCanIWrite).
//!
//! Each scan (once a second of the clock) writes an eighth of the pages the
//! cache has dirtied, and when pages were dirtied since the last scan faster
//! than that scan's eighth, the difference too; it goes round-robin over the files
//! from where the last scan stopped, each I/O a run of at most 64 KB of
//! consecutive pages. A failed write keeps its pages dirty; when write-behind
//! failed (the lazy writer's, or the throttle's on a writer's behalf) nobody
//! is there to be told, so it says so in an event and the file's next flush
//! or close reports it (NT's lost delayed write). A flush that fails tells its
//! own caller instead. Callers hold `Mm::cache` and the System process's
//! address space; the host I/O happens under both, without the PFN lock.

use std::collections::BTreeSet;

use crate::mm::base::types::{PAGE_SIZE, Va};
use crate::mm::machine::Machine;
use crate::mm::paging::mapped_writer::flush_range;
use crate::mm::process::AddressSpace;
use crate::mm::section::view::harvest_dirty;
use crate::mm::segment::ControlAreaId;

use super::{CacheManager, VACB_PAGES};

/// The largest write-behind I/O: 64 KB.
pub const MAX_RUN_PAGES: u64 = 16;

/// What a scan should write (CcLazyWriteScan): an eighth of the dirty pages;
/// when pages were dirtied since the last scan faster than that scan's eighth
/// (`last_share`), the difference as well; at least one run, at most every
/// dirty page.
pub fn scan_budget(dirty: u64, dirtied_since_last: u64, last_share: u64) -> u64 {
    let extra = dirtied_since_last.saturating_sub(last_share);
    (dirty / 8 + extra).max(MAX_RUN_PAGES).min(dirty)
}

/// Writes up to `budget` dirty pages, round-robin over the files. Returns the
/// pages written.
pub fn write_behind(
    m: &Machine,
    space: &mut AddressSpace,
    cc: &mut CacheManager,
    budget: u64,
) -> u64 {
    let files: Vec<ControlAreaId> = {
        use std::ops::Bound::{Excluded, Unbounded};
        let cursor = cc.lazy_cursor;
        let after = cc
            .maps
            .range((Excluded(cursor), Unbounded))
            .map(|(&k, _)| k);
        let before = cc.maps.range(..=cursor).map(|(&k, _)| k);
        after.chain(before).collect()
    };
    let mut written = 0;
    for ca in files {
        if written >= budget {
            break;
        }
        let w = write_file(m, space, cc, ca, budget - written);
        written += w.pages;
        cc.lazy_cursor = ca;
        cc.stats.lazy_write_flushes += w.runs;
        cc.stats.lazy_write_pages += w.pages;
        m.counters
            .lazy_writer_pages
            .fetch_add(w.pages, std::sync::atomic::Ordering::Relaxed);
        if let (Some(why), Some(map)) = (w.failed, cc.maps.get_mut(&ca)) {
            crate::mm_event!(m, "cache.lost-write", "file={} {why}", map.shown);
            map.lost_write = Some(why);
        }
    }
    written
}

/// What writing a file's dirty pages did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileWrite {
    pub pages: u64,
    pub runs: u64,
    /// Why a run could not be written (its pages, and those after it, stay
    /// dirty).
    pub failed: Option<String>,
}

/// Writes up to `budget` of file `ca`'s dirty pages (all of them for
/// `u64::MAX`), in runs. A failed run stops the file's writing; the caller
/// decides who hears of it.
fn write_file(
    m: &Machine,
    space: &mut AddressSpace,
    cc: &mut CacheManager,
    ca: ControlAreaId,
    budget: u64,
) -> FileWrite {
    let mut done = FileWrite::default();
    while done.pages < budget {
        let Some(run) = next_run(cc, ca, budget - done.pages) else {
            break;
        };
        let (first, last) = (run[0], run[run.len() - 1]);
        harvest_cache_views(m, space, cc, ca, first, last);
        let outcome = flush_range(m, ca, first, last, false);
        let Some(map) = cc.maps.get_mut(&ca) else {
            break;
        };
        if outcome.failed > 0 {
            done.failed = Some(format!(
                "{} pages at offset {:#x} could not be written",
                outcome.failed,
                first * PAGE_SIZE
            ));
            break;
        }
        for p in &run {
            map.dirty.remove(p);
        }
        done.pages += run.len() as u64;
        done.runs += 1;
    }
    done
}

/// The first run of consecutive dirty pages of file `ca`: at most 16 pages and
/// `budget`.
fn next_run(cc: &CacheManager, ca: ControlAreaId, budget: u64) -> Option<Vec<u64>> {
    let dirty: &BTreeSet<u64> = &cc.maps.get(&ca)?.dirty;
    let mut run: Vec<u64> = Vec::new();
    for &p in dirty {
        let continues = run.last().is_none_or(|&l| l + 1 == p);
        if !continues || run.len() as u64 >= MAX_RUN_PAGES.min(budget) {
            break;
        }
        run.push(p);
    }
    (!run.is_empty()).then_some(run)
}

/// Moves the Dirty bits of the cache's view PTEs over pages `first..=last`
/// of file `ca` to the frames (MiFlushDirtyBitsToPfn), so a write sees them
/// and the next write through the view marks the frame again. One walk per
/// view the range crosses.
pub fn harvest_cache_views(
    m: &Machine,
    space: &AddressSpace,
    cc: &CacheManager,
    ca: ControlAreaId,
    first: u64,
    last: u64,
) {
    let Some(map) = cc.maps.get(&ca) else { return };
    for (&chunk, &i) in map.vacbs.range(first / VACB_PAGES..=last / VACB_PAGES) {
        let from = first.max(chunk * VACB_PAGES) - chunk * VACB_PAGES;
        let to = last.min(chunk * VACB_PAGES + VACB_PAGES - 1) - chunk * VACB_PAGES;
        let base = cc.vacbs.vacbs[i].base.0;
        let va = |page: u64| Va(base + page * PAGE_SIZE).vpn();
        harvest_dirty(m, space, va(from), va(to));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_writes_an_eighth_plus_what_outpaced_the_last_one() {
        // Nothing new: an eighth.
        assert_eq!(scan_budget(800, 0, 100), 100);
        // Dirtied slower than the last eighth: still an eighth.
        assert_eq!(scan_budget(800, 90, 100), 100);
        // Faster: the difference too.
        assert_eq!(scan_budget(800, 300, 100), 300);
        // A burst after a quiet time: all of it.
        assert_eq!(scan_budget(256, 256, 0), 256);
        // Never less than a run, never more than there is.
        assert_eq!(scan_budget(40, 0, 0), 16);
        assert_eq!(scan_budget(10, 0, 0), 10);
    }
}
