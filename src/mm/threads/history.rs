//! The last ten minutes of the machine, one sample per simulated second:
//! the page counts of every PFN list, the commit charge and limit, and the
//! faults of each kind during the second (`system/history.svg`, the
//! dashboard). NT keeps no such ring; Performance Monitor samples the same
//! counters (Memory\Available Bytes, Committed Bytes, Transition Faults/sec,
//! Demand Zero Faults/sec, Page Reads/sec...) once a second from user mode.
//!
//! When a sample is taken: at the end of every step of simulated time that
//! reaches a new whole second (`tick`'s one-second steps, the auto clock's
//! dispatcher after its one-second timer), so `tick 30` leaves 30 samples and
//! `tick 0.5` twice leaves one. Seconds `tick` skips as quiet
//! (`fast_forward.rs`) get the samples single steps would have left: the
//! same counts, no fault (a skip needs every counter unchanged).
//!
//! Lock: `SystemThreads::history`, a leaf (order 7): nothing is taken under
//! it. A reading of the machine (the PFN lock, then the commit lock, one
//! after the other) is made before it is taken. It is taken alone (`tick`'s
//! steps, the dispatcher, `system/history.svg`), under
//! `SystemThreads::running` (fast-forward's quiet seconds) or under the
//! exclusive `Mm::lifecycle` (`verify`). Its memory is fixed:
//! [`HISTORY_SAMPLES`] samples of a hundred-odd bytes, allocated once.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;

use crate::mm::base::counters::SystemCounters;
use crate::mm::machine::Machine;
use crate::mm::pfn::PageLocation;

/// Samples kept: ten minutes at one a second.
pub const HISTORY_SAMPLES: usize = 600;

/// Simulated milliseconds between samples.
pub const SAMPLE_MS: u64 = 1000;

/// The fault kinds a sample counts, by their names in `system/counters`
/// without `_faults` (MmAccessFault's outcomes: MiResolveDemandZeroFault,
/// MiResolveTransitionFault, MiResolvePageFileFault, MiResolveProtoPteFault,
/// MiCopyOnWrite, and a page table's own fault).
pub const FAULT_KINDS: [&str; 6] = [
    "demand-zero",
    "transition",
    "hard",
    "prototype",
    "copy-on-write",
    "page-table",
];

/// One second of the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistorySample {
    /// Simulated time of the sample (the end of the second it describes).
    pub time_ms: u64,
    /// Simulated milliseconds since the previous sample (since boot for the
    /// first): the faults below happened during it.
    pub interval_ms: u64,
    /// Pages in each location, indexed by `PageLocation as usize`
    /// (`PageLocation::ALL` order).
    pub pages: [u64; 8],
    pub commit_charge: u64,
    pub commit_limit: u64,
    /// Faults of each of [`FAULT_KINDS`] during the interval.
    pub faults: [u64; FAULT_KINDS.len()],
}

impl HistorySample {
    /// Pages in location `loc`.
    pub fn pages_in(&self, loc: PageLocation) -> u64 {
        self.pages[loc as usize]
    }

    /// Faults of kind `kind` (an index into [`FAULT_KINDS`]) per simulated
    /// second over the interval.
    pub fn fault_rate(&self, kind: usize) -> f64 {
        let n = self.faults.get(kind).copied().unwrap_or(0) as f64;
        n * 1000.0 / self.interval_ms.max(1) as f64
    }
}

/// What the machine looks like now: the counts a sample records, and the
/// fault counters since boot (a sample records their growth).
#[derive(Clone, Copy)]
pub(super) struct Reading {
    pages: [u64; 8],
    commit_charge: u64,
    commit_limit: u64,
    fault_totals: [u64; FAULT_KINDS.len()],
}

impl Reading {
    /// Reads the lists under the PFN lock, then the commit charge under the
    /// commit lock (never both at once: lock order 5 is never held with 6),
    /// then the counters (atomics).
    pub(super) fn take(m: &Machine) -> Reading {
        let pages = {
            let st = m.pfn_lock();
            PageLocation::ALL.map(|l| st.db.list_count(l))
        };
        let (commit_charge, commit_limit) = {
            let c = m.commit_lock();
            (c.total, c.limit)
        };
        Reading {
            pages,
            commit_charge,
            commit_limit,
            fault_totals: fault_totals(&m.counters),
        }
    }
}

fn fault_totals(c: &SystemCounters) -> [u64; FAULT_KINDS.len()] {
    [
        &c.demand_zero_faults,
        &c.transition_faults,
        &c.hard_faults,
        &c.prototype_faults,
        &c.copy_on_write_faults,
        &c.page_table_faults,
    ]
    .map(|a| a.load(Relaxed))
}

/// The ring of samples, oldest first, and what the next sample is measured
/// from. Protected by `SystemThreads::history`.
pub(super) struct History {
    samples: VecDeque<HistorySample>,
    /// Time of the last sample (0: boot).
    last_ms: u64,
    /// The fault counters at the last sample (zeros: boot).
    last_faults: [u64; FAULT_KINDS.len()],
}

impl Default for History {
    fn default() -> History {
        History {
            samples: VecDeque::with_capacity(HISTORY_SAMPLES),
            last_ms: 0,
            last_faults: [0; FAULT_KINDS.len()],
        }
    }
}

impl History {
    /// Records `r` as the sample of `now` if `now` is in a later whole second
    /// than the last sample (module docs); returns whether it did.
    pub(super) fn record(&mut self, now: u64, r: &Reading) -> bool {
        if now / SAMPLE_MS <= self.last_ms / SAMPLE_MS {
            return false;
        }
        self.push(now, r);
        true
    }

    /// Records the samples of `seconds` quiet seconds after `now` (each a
    /// second later than the one before), as single steps would have: `r` is
    /// the machine now, unchanged through them. Only the last
    /// `HISTORY_SAMPLES` can stay, so only those are made.
    pub(super) fn record_quiet(&mut self, now: u64, seconds: u64, r: &Reading) {
        if now < self.last_ms {
            // Another `tick` sampled later already; its samples stand.
            return;
        }
        let first = seconds.saturating_sub(HISTORY_SAMPLES as u64 - 1).max(1);
        if first > 1 {
            // The dropped seconds were quiet too: the interval before the
            // first kept sample is one second, its faults none.
            self.last_ms = now + (first - 1) * SAMPLE_MS;
            self.last_faults = r.fault_totals;
        }
        for k in first..=seconds {
            self.push(now + k * SAMPLE_MS, r);
        }
    }

    fn push(&mut self, now: u64, r: &Reading) {
        let mut faults = [0; FAULT_KINDS.len()];
        for (i, f) in faults.iter_mut().enumerate() {
            // Counters only grow; saturate all the same (a sample is no
            // place to panic).
            *f = r.fault_totals[i].saturating_sub(self.last_faults[i]);
        }
        if self.samples.len() == HISTORY_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(HistorySample {
            time_ms: now,
            interval_ms: now.saturating_sub(self.last_ms),
            pages: r.pages,
            commit_charge: r.commit_charge,
            commit_limit: r.commit_limit,
            faults,
        });
        self.last_ms = now;
        self.last_faults = r.fault_totals;
    }

    /// The samples, oldest first.
    pub(super) fn samples(&self) -> Vec<HistorySample> {
        self.samples.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(active: u64, hard: u64) -> Reading {
        let mut pages = [0; 8];
        pages[PageLocation::Active as usize] = active;
        let mut fault_totals = [0; FAULT_KINDS.len()];
        fault_totals[2] = hard;
        Reading {
            pages,
            commit_charge: 10,
            commit_limit: 100,
            fault_totals,
        }
    }

    #[test]
    fn one_sample_per_whole_second() {
        let mut h = History::default();
        assert!(!h.record(500, &reading(1, 0)));
        assert!(h.record(1000, &reading(1, 4)));
        assert!(!h.record(1999, &reading(1, 4)));
        assert!(h.record(2500, &reading(2, 10)));
        let s = h.samples();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].time_ms, s[0].interval_ms, s[0].faults[2]),
            (1000, 1000, 4)
        );
        assert_eq!(
            (s[1].time_ms, s[1].interval_ms, s[1].faults[2]),
            (2500, 1500, 6)
        );
        assert_eq!(s[1].fault_rate(2), 4.0);
        assert_eq!(s[1].pages_in(PageLocation::Active), 2);
    }

    #[test]
    fn the_ring_keeps_the_last_ten_minutes() {
        let mut h = History::default();
        for s in 1..=700u64 {
            h.record(s * 1000, &reading(s, s));
        }
        let s = h.samples();
        assert_eq!(s.len(), HISTORY_SAMPLES);
        assert_eq!(s[0].time_ms, 101_000);
        assert_eq!(s[599].time_ms, 700_000);
        assert!(s.iter().all(|x| x.faults[2] == 1 && x.interval_ms == 1000));
    }

    #[test]
    fn quiet_seconds_are_the_samples_single_steps_leave() {
        let (mut stepped, mut skipped) = (History::default(), History::default());
        for h in [&mut stepped, &mut skipped] {
            h.record(1000, &reading(3, 7));
        }
        for s in 2..=1000u64 {
            stepped.record(s * 1000, &reading(3, 7));
        }
        skipped.record_quiet(1000, 999, &reading(3, 7));
        assert_eq!(stepped.samples(), skipped.samples());
        assert_eq!(skipped.last_ms, stepped.last_ms);
        let mut few = History::default();
        few.record(1000, &reading(3, 7));
        few.record_quiet(1000, 3, &reading(3, 7));
        assert_eq!(few.samples().len(), 4);
        assert_eq!(few.samples()[3].time_ms, 4000);
        assert_eq!(few.samples()[3].faults, [0; FAULT_KINDS.len()]);
    }
}
