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
//! Read-ahead is capped at 8 MB per request, and only scheduled when the copy
//! read found a page not resident (NT: when the copy took a fault).

use crate::mm::base::types::{PAGE_SIZE, Va};
use crate::mm::fault::{Access, touch};
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;

use super::vacb::view_of;
use super::{CacheManager, VACB_PAGES};

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
    /// ReadAheadEnabled: set by a copy read that was not all resident, so a
    /// file whose reads always hit never schedules read-ahead.
    pub enabled: bool,
}

impl ReadHistory {
    /// Records a read of `offset..end` and returns the byte range to read
    /// ahead, if any.
    pub fn record(&mut self, offset: u64, end: u64, hint: Hint) -> Option<(u64, u64)> {
        let [older, newer] = self.last;
        self.last = [newer, (offset, end)];
        if newer.1 != offset {
            // A read that does not continue the last one starts a new run:
            // how far the last run was read ahead says nothing about this
            // one (a scan begun again from the start of a file whose pages
            // have gone would otherwise never be read ahead again).
            self.read_ahead_end = 0;
        }
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
/// request's pages are touched through the file's views, so those not
/// resident are read in (hard faults, in clusters) or brought back from
/// standby. Returns the pages brought in. Holds `Mm::cache` and the System
/// process's address space.
pub fn perform(m: &Machine, space: &mut AddressSpace, cc: &mut CacheManager) -> u64 {
    let queue = std::mem::take(&mut cc.read_ahead_queue);
    let mut brought = 0;
    for (ca, first, pages) in queue {
        let hard_before = space.faults.hard;
        let faults_before = space.faults.page_faults;
        for page in first..first + pages {
            let Ok(base) = view_of(m, space, cc, ca, page / VACB_PAGES) else {
                break;
            };
            let va = Va(base.0 + (page % VACB_PAGES) * PAGE_SIZE);
            if touch(m, space, va, Access::Read).is_err() {
                break; // out of memory, or a read error: the copy will say
            }
        }
        let ios = space.faults.hard - hard_before;
        let faulted = space.faults.page_faults - faults_before;
        brought += faulted;
        cc.stats.read_aheads += 1;
        cc.stats.read_ahead_pages += faulted;
        m.counters
            .cache_read_ahead_ios
            .fetch_add(ios, std::sync::atomic::Ordering::Relaxed);
        crate::mm_event!(
            m,
            "cache.read-ahead",
            "pid=4 ca={ca} offset={:#x} pages={pages} faulted={faulted} ios={ios}",
            first * PAGE_SIZE
        );
    }
    brought
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
