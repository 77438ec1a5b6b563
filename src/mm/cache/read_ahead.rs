//! Read-ahead (WRK `cc/readsup.c`, CcScheduleReadAhead and
//! CcPerformReadAhead): the history of a file's last reads decides what the
//! `read-ahead` thread brings in before it is asked for.
//!
//! - A file opened (or hinted) sequential reads 3 × the read's length ahead,
//!   rounded up to the 64 KB granularity.
//! - Otherwise, when the last reads were sequential (each began where the one
//!   before ended) or had an equal stride, one read's length ahead at the next
//!   position.
//! - A random-access file reads nothing ahead.
//!
//! Read-ahead is capped at 8 MB per request, and turned on by a copy read
//! that found a page not resident (NT: when the copy took a fault). Its reads
//! put the pages on standby (`prefetch.rs`).

use crate::mm::base::types::PAGE_SIZE;
use crate::mm::machine::Machine;

use std::sync::Mutex;

use super::{CacheManager, ReadAheadRequest, VACB_SIZE};
use crate::mm::fault::prefetch::{Prefetched, prefetch};
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
/// FileOffset2/BeyondLastByte2) and how far ahead has been read already.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadHistory {
    pub last: [(u64, u64); 2],
    /// Byte offset up to which read-ahead has been asked for.
    pub read_ahead_end: u64,
    /// ReadAheadEnabled: set by a copy read that was not all resident, and
    /// cleared by a read-ahead that found everything in memory, so reads that
    /// hit do not keep waking the read-ahead thread.
    pub enabled: bool,
}

impl ReadHistory {
    /// Records a read of `offset..end` and returns the byte range to read
    /// ahead, if any.
    pub fn record(&mut self, offset: u64, end: u64, hint: Hint) -> Option<(u64, u64)> {
        let [older, newer] = self.last;
        self.last = [newer, (offset, end)];
        let len = (end - offset).max(1).next_multiple_of(GRANULARITY);
        let sequential = newer.1 == offset && (older.1 == newer.0 || hint == Hint::Sequential);
        let stride = newer.0.checked_sub(older.0);
        let strided =
            stride.is_some_and(|s| s > 0 && offset.checked_sub(newer.0) == Some(s)) && !sequential;
        let ahead = match hint {
            Hint::Random => return None,
            Hint::Sequential => (3 * len).min(MAX_READ_AHEAD),
            Hint::Normal if sequential => len.min(MAX_READ_AHEAD),
            Hint::Normal if strided => {
                let next = offset + stride.unwrap_or(0);
                return Some((next, next + len));
            }
            Hint::Normal => return None,
        };
        // Only what has not been asked for already.
        let from = end.max(self.read_ahead_end);
        let to = end + ahead;
        if to <= from {
            return None;
        }
        self.read_ahead_end = to;
        Some((from, to))
    }
}

/// One pass of the `read-ahead` thread (CcPerformReadAhead): every queued
/// request's pages that are not in memory are read, in runs of at most 64 KB,
/// onto the standby list (`prefetch.rs`), where the copy reads find them.
/// Returns the pages read. Takes `Mm::cache` to take the queue and to count,
/// and lets it go for the reads, so copies go on meanwhile (a page being
/// read ahead is in transition with ReadInProgress; a copy that needs it
/// waits for it, as for another fault's read).
pub fn perform(m: &Machine, cache: &Mutex<CacheManager>) -> u64 {
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    let queue = std::mem::take(&mut lock().read_ahead_queue);
    let mut brought = 0;
    for r in queue {
        // The segment covers whole views; read-ahead may run past the views
        // mapped so far.
        let end = ((r.first + r.pages) * PAGE_SIZE).next_multiple_of(VACB_SIZE);
        if grow_segment(m, r.ca, end).is_err() {
            continue;
        }
        let done = prefetch(m, r.ca, r.first, r.pages);
        brought += done.pages;
        account(m, &mut lock(), r, done);
    }
    brought
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

    #[test]
    fn sequential_reads_keep_one_read_ahead() {
        let mut h = ReadHistory::default();
        // A read at 0 continues the empty history: sequential from the start.
        assert_eq!(
            h.record(0, 4096, Hint::Normal),
            Some((4096, 4096 + GRANULARITY))
        );
        // The next one asks only for what lies beyond what was asked.
        let r = h.record(4096, 8192, Hint::Normal);
        assert_eq!(r, Some((4096 + GRANULARITY, 8192 + GRANULARITY)));
        // A jump elsewhere is neither sequential nor strided.
        assert_eq!(h.record(1 << 30, (1 << 30) + 4096, Hint::Normal), None);
    }

    #[test]
    fn sequential_hint_reads_three_times_ahead_from_the_first_read() {
        let mut h = ReadHistory::default();
        let r = h.record(0, 128 << 10, Hint::Sequential).unwrap();
        assert_eq!(r, (128 << 10, (128 << 10) * 4));
        // The next read asks only for what lies beyond.
        let r = h.record(128 << 10, 256 << 10, Hint::Sequential).unwrap();
        assert_eq!(r.0, (128 << 10) * 4);
    }

    #[test]
    fn random_reads_nothing_ahead() {
        let mut h = ReadHistory::default();
        h.record(0, 4096, Hint::Random);
        assert_eq!(h.record(4096, 8192, Hint::Random), None);
    }

    #[test]
    fn an_equal_stride_reads_at_the_next_stride() {
        let mut h = ReadHistory::default();
        h.record(0, 4096, Hint::Normal);
        h.record(1 << 20, (1 << 20) + 4096, Hint::Normal);
        let r = h.record(2 << 20, (2 << 20) + 4096, Hint::Normal);
        assert_eq!(r, Some((3 << 20, (3 << 20) + GRANULARITY)));
    }
}
