//! Read-ahead (WRK `cc/cachesub.c`, CcScheduleReadAhead and
//! CcPerformReadAhead): the history of a file's last reads decides what the
//! `read-ahead` thread brings in before it is asked for.
//!
//! As NT's CcCopyRead does, a copy read asks for its read-ahead before it
//! copies (so the read-ahead overlaps with the copy and the reads after it),
//! once read-ahead is on; a read that found pages not resident turns it on
//! and asks after its copy. What to ask for, with a read of `offset..end` and
//! `size` its length rounded up to the 64 KB granularity:
//!
//! - sequential-only (the sequential hint): read-ahead stays 3 × `size`
//!   beyond the read, asking only for what lies past what was asked already
//!   (NT's high-water mark); a read that goes back before the last one, or
//!   lies outside the range asked so far (a new pass over the file), starts
//!   over (NT starts over once read-ahead reaches the end of the file);
//! - otherwise, the third of three sequential reads (each beginning where the
//!   one before ended) asks for `size` bytes at the next granularity boundary
//!   `size` past its end: the read after the next one, which the read before
//!   asked for;
//! - three reads with an equal stride ask for `size` bytes a stride on;
//! - a random-access file reads nothing ahead.
//!
//! The same range is not asked for twice in a row. Read-ahead is capped at 8
//! MB per request, and a pass of the thread that found every page resident
//! turns read-ahead off until a read misses again (CcPerformReadAhead).
//!
//! Its reads put the pages on the standby list (`fault/prefetch.rs`), without
//! the cache's lock; then, as CcPerformReadAhead touches each page through a
//! view (MmCheckCachedPageState), the pages in memory are made valid in the
//! views of the system cache, so the copy read that wanted them takes no fault.

use crate::mm::base::types::{PAGE_SIZE, Pfn, Va};
use crate::mm::machine::Machine;
use crate::mm::process::Process;

use std::sync::Mutex;

use super::vacb::view_of;
use super::{CacheManager, ReadAheadRequest, VACB_PAGES, VACB_SIZE};
use crate::mm::fault::Access;
use crate::mm::fault::prefetch::{Prefetched, prefetch};
use crate::mm::fault::transition_run::resolve_transition_run;
use crate::mm::section::create::grow_segment;

/// READ_AHEAD_GRANULARITY as file systems set it: 64 KB.
pub const GRANULARITY: u64 = 64 << 10;
/// The most read ahead at once.
pub const MAX_READ_AHEAD: u64 = 8 << 20;

/// FILE_FLAG_SEQUENTIAL_SCAN, FILE_FLAG_RANDOM_ACCESS, or neither.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Hint {
    #[default]
    Normal,
    Sequential,
    Random,
}

impl Hint {
    pub fn name(self) -> &'static str {
        match self {
            Hint::Normal => "normal",
            Hint::Sequential => "sequential",
            Hint::Random => "random",
        }
    }

    pub fn parse(s: &str) -> Option<Hint> {
        match s {
            "normal" => Some(Hint::Normal),
            "sequential" => Some(Hint::Sequential),
            "random" => Some(Hint::Random),
            _ => None,
        }
    }
}

/// The last two reads (NT's FileOffset1/BeyondLastByte1 and
/// FileOffset2/BeyondLastByte2), what read-ahead was last asked for, and
/// whether it is on (NT's PRIVATE_CACHE_MAP).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadHistory {
    pub last: [(u64, u64); 2],
    /// The byte range read-ahead was last asked for (ReadAheadOffset[1] and
    /// its length). For a sequential-only file, the whole range asked for
    /// since its pass began: its end is the high-water mark.
    pub asked: (u64, u64),
    /// ReadAheadEnabled: set by a copy read that was not all resident (or the
    /// sequential hint), cleared by a read-ahead pass that faulted nothing.
    pub enabled: bool,
}

impl ReadHistory {
    /// CcScheduleReadAhead's decision for a read of `offset..end`, the
    /// history holding the reads before it: the byte range to read ahead, if
    /// any (remembered as asked).
    pub fn plan(&mut self, offset: u64, end: u64, hint: Hint) -> Option<(u64, u64)> {
        let size = (end - offset)
            .max(1)
            .next_multiple_of(GRANULARITY)
            .min(MAX_READ_AHEAD);
        let [older, newer] = self.last;
        let (from, to) = match hint {
            Hint::Random => return None,
            Hint::Sequential => {
                let (asked_from, asked_to) = self.asked;
                let want = end + (3 * size).min(MAX_READ_AHEAD);
                // A read back before the last one starts a new pass.
                let same_pass = offset >= newer.0 && asked_from <= offset && offset <= asked_to;
                let from = if same_pass { asked_to.max(end) } else { end };
                if want <= from {
                    return None;
                }
                self.asked = (if same_pass { asked_from } else { end }, want);
                return Some((from, want));
            }
            Hint::Normal if offset == newer.1 && newer.0 == older.1 => {
                let first_read_small = offset == 0 && end + PAGE_SIZE - 1 < GRANULARITY;
                let at = if first_read_small {
                    end.next_multiple_of(PAGE_SIZE)
                } else {
                    (end + size) / GRANULARITY * GRANULARITY
                };
                (at, at + size)
            }
            Hint::Normal => {
                let stride = newer.0.checked_sub(older.0).filter(|&s| s > 0);
                match stride {
                    Some(s) if offset.checked_sub(newer.0) == Some(s) => {
                        (offset + s, offset + s + size)
                    }
                    _ => return None,
                }
            }
        };
        if self.asked == (from, to) {
            return None;
        }
        self.asked = (from, to);
        Some((from, to))
    }

    /// After the copy: the read joins the history.
    pub fn record(&mut self, offset: u64, end: u64) {
        self.last = [self.last[1], (offset, end)];
    }
}

/// One pass of the `read-ahead` thread (CcPerformReadAhead): every queued
/// request's pages that are not in memory, up to the file's current end, are
/// read in runs of at most 64 KB onto the standby list (`prefetch.rs`), then
/// made valid in the system cache's views (`validate_in_views`, unless the
/// System process cannot be had). Returns the pages read.
///
/// Lock: takes `Mm::cache` to take the queue, to read each file's size, and
/// after the reads to drop what a truncation left past the end, count, and
/// (view by view) validate, then with the System process's address space
/// (the copies' order); it is not held for the reads, so copies go on
/// meanwhile (a page being read ahead is in transition with ReadInProgress;
/// a copy that needs it waits for it, as for another fault's read).
pub fn perform(m: &Machine, cache: &Mutex<CacheManager>, system: Option<&Process>) -> u64 {
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    let queue = std::mem::take(&mut lock().read_ahead_queue);
    let mut brought = 0;
    for mut r in queue {
        // Not past the end of the file as it is now: a truncation may have
        // come since the read that asked.
        if let Some(end) = end_page(&lock(), &r) {
            r.pages = end.saturating_sub(r.first);
        }
        // The segment covers whole views; read-ahead may run past the views
        // mapped so far.
        let end = ((r.first + r.pages) * PAGE_SIZE).next_multiple_of(VACB_SIZE);
        if r.pages == 0 || grow_segment(m, r.ca, end).is_err() {
            continue;
        }
        let done = prefetch(m, r.ca, r.first, r.pages);
        brought += done.pages;
        {
            let mut cc = lock();
            drop_past_end(m, &cc, &r);
            account(m, &mut cc, r, done);
        }
        if let Some(system) = system {
            validate_in_views(m, system, cache, &r);
        }
    }
    brought
}

/// A truncation that came while `r`'s pages were read (after its purge, so
/// the host file still had the old bytes) leaves pages past the new end on
/// standby: they are purged here, as the truncation would have, so a later
/// extension reads zeros there, not the old bytes. Lock: `Mm::cache` held.
fn drop_past_end(m: &Machine, cc: &CacheManager, r: &ReadAheadRequest) {
    let Some(end) = end_page(cc, r) else {
        return;
    };
    if end < r.first + r.pages {
        super::purge::purge(m, r.ca, end.max(r.first), r.first + r.pages - 1);
    }
}

/// The page after the last of `r` that is still in its file (the file may
/// have been cut short since `r` was asked for); None if the file is no
/// longer cached. Lock: `Mm::cache` held.
fn end_page(cc: &CacheManager, r: &ReadAheadRequest) -> Option<u64> {
    let size = cc.maps.get(&r.ca)?.file_size;
    Some((r.first + r.pages).min(size.div_ceil(PAGE_SIZE)))
}

/// MmCheckCachedPageState for every page of `r`, as CcPerformReadAhead calls
/// it through the view CcGetVirtualAddress maps: a page in memory (just read,
/// or on standby already) is made valid in the system cache working set by
/// a counted prototype fault of the System process, so the copy read that
/// wanted it finds it valid. A page the read could not bring in, or one the
/// working set has no room for, is left for the copy's own fault; a file no
/// longer cached, or a view that cannot be had (every VACB in use), leaves
/// the rest on standby; pages past the file's end now are left alone.
///
/// Lock: `Mm::cache`, then the System process's address space, taken for
/// one view at a time (a request may span 32 views), so a copy waits for
/// one view's validation at most.
fn validate_in_views(
    m: &Machine,
    system: &Process,
    cache: &Mutex<CacheManager>,
    r: &ReadAheadRequest,
) {
    let mut at = r.first * PAGE_SIZE;
    loop {
        let mut cc = cache.lock().unwrap_or_else(|e| e.into_inner());
        let Some(end) = end_page(&cc, r).map(|p| p * PAGE_SIZE) else {
            return;
        };
        if at >= end {
            return;
        }
        let chunk = at / VACB_SIZE;
        let view_end = ((chunk + 1) * VACB_SIZE).min(end);
        let mut space = system.space();
        let Ok(base) = view_of(m, &mut space, &mut cc, r.ca, chunk) else {
            return;
        };
        let mut frames: [Option<Pfn>; VACB_PAGES as usize] = [None; VACB_PAGES as usize];
        let pages = ((view_end - at) / PAGE_SIZE) as usize;
        let va = Va(base.0 + at % VACB_SIZE);
        resolve_transition_run(m, &mut space, va, Access::Read, &mut frames[..pages]);
        at = view_end;
    }
}

/// Counts a read-ahead; one that found everything in memory already turns
/// read-ahead off for its open until a copy read misses again
/// (ReadAheadEnabled).
fn account(m: &Machine, cc: &mut CacheManager, r: ReadAheadRequest, done: Prefetched) {
    if done.pages == 0 {
        let history = cc
            .maps
            .get_mut(&r.ca)
            .and_then(|s| s.histories.get_mut(&r.open));
        if let Some(h) = history {
            h.enabled = false;
        }
        return;
    }
    cc.stats.read_aheads += 1;
    cc.stats.read_ahead_pages += done.pages;
    m.counters
        .cache_read_ahead_ios
        .fetch_add(done.ios, std::sync::atomic::Ordering::Relaxed);
    crate::mm_event!(
        m,
        "cache.read-ahead",
        "pid=4 ca={} offset={:#x} pages={} read={} ios={}",
        r.ca,
        r.first * PAGE_SIZE,
        r.pages,
        done.pages,
        done.ios
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const K128: u64 = 128 << 10;

    /// Plans, then records, a read of `offset..end` (as a copy read does).
    fn read(h: &mut ReadHistory, offset: u64, end: u64, hint: Hint) -> Option<(u64, u64)> {
        let r = h.plan(offset, end, hint);
        h.record(offset, end);
        r
    }

    #[test]
    fn sequential_reads_ask_for_the_read_after_the_next() {
        let mut h = ReadHistory::default();
        // A read at 0 continues the empty history: the third of three.
        assert_eq!(
            read(&mut h, 0, K128, Hint::Normal),
            Some((2 * K128, 3 * K128))
        );
        assert_eq!(
            read(&mut h, K128, 2 * K128, Hint::Normal),
            Some((3 * K128, 4 * K128))
        );
        // Asked already: not again.
        assert_eq!(h.plan(K128, 2 * K128, Hint::Normal), None);
        // A jump elsewhere is neither sequential nor strided.
        assert_eq!(read(&mut h, 1 << 30, (1 << 30) + 4096, Hint::Normal), None);
    }

    #[test]
    fn a_small_first_read_asks_for_the_rest_of_its_granule() {
        let mut h = ReadHistory::default();
        assert_eq!(
            read(&mut h, 0, 4096, Hint::Normal),
            Some((4096, 4096 + GRANULARITY))
        );
    }

    #[test]
    fn a_new_pass_over_the_file_reads_ahead_again() {
        for hint in [Hint::Normal, Hint::Sequential] {
            let mut h = ReadHistory::default();
            let asked = |h: &mut ReadHistory| {
                (0..8)
                    .filter_map(|i| read(h, i * K128, (i + 1) * K128, hint))
                    .count()
            };
            let first = asked(&mut h);
            assert!(
                first >= 6,
                "{hint:?}: {first} read-aheads in the first pass"
            );
            // Without a fresh open, two reads show the pattern again.
            let second = asked(&mut h);
            assert!(second + 2 >= first, "{hint:?}: {second} in the second pass");
        }
    }

    #[test]
    fn sequential_hint_keeps_three_reads_ahead() {
        let mut h = ReadHistory::default();
        assert_eq!(
            read(&mut h, 0, K128, Hint::Sequential),
            Some((K128, 4 * K128))
        );
        // The next read asks only for what lies beyond.
        assert_eq!(
            read(&mut h, K128, 2 * K128, Hint::Sequential),
            Some((4 * K128, 5 * K128))
        );
        // Skipping around within the pass asks for nothing already asked.
        assert_eq!(
            read(&mut h, 3 * K128, 4 * K128, Hint::Sequential),
            Some((5 * K128, 7 * K128))
        );
    }

    #[test]
    fn random_reads_nothing_ahead() {
        let mut h = ReadHistory::default();
        read(&mut h, 0, 4096, Hint::Random);
        assert_eq!(read(&mut h, 4096, 8192, Hint::Random), None);
    }

    #[test]
    fn an_equal_stride_reads_at_the_next_stride() {
        let mut h = ReadHistory::default();
        read(&mut h, 0, 4096, Hint::Normal);
        h.asked = (0, 0);
        read(&mut h, 1 << 20, (1 << 20) + 4096, Hint::Normal);
        let r = read(&mut h, 2 << 20, (2 << 20) + 4096, Hint::Normal);
        assert_eq!(r, Some((3 << 20, (3 << 20) + GRANULARITY)));
    }
}
