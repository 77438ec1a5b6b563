//! The balance set manager (KeBalanceSetManager): a one-second timer that calls the
//! working-set manager each time and wakes the swapper every fourth time (WRK:
//! `StackScanPeriod` counts down from STACK_SCAN_PERIOD, 4 on a small system).

use std::sync::atomic::Ordering;

use crate::mm::base::wakeups::SystemThread;

use super::{Pass, System, SystemThreads};

/// Balance set manager ticks between two swapper runs (WRK STACK_SCAN_PERIOD).
pub(super) const SWAPPER_EVERY: u64 = 4;

/// One tick of the one-second timer.
pub(super) fn pass(threads: &SystemThreads, sys: System<'_>) -> u64 {
    let tick = threads.bsm_ticks.fetch_add(1, Ordering::Relaxed) + 1;
    let mut pages = threads.run_serialized(sys, SystemThread::WorkingSetManager, Pass::Full);
    if tick.is_multiple_of(SWAPPER_EVERY) {
        pages += threads.run_serialized(sys, SystemThread::Swapper, Pass::Full);
    }
    // The mapped page writer's five-minute timer (facts §6).
    let due = sys.m.mapped_write_due_ms.load(Ordering::Acquire);
    if due != 0 && sys.m.clock.now_ms() >= due {
        pages += threads.run_serialized(sys, SystemThread::MappedPageWriter, Pass::Full);
    }
    pages
}
