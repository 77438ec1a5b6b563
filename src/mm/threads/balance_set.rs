//! The balance set manager (KeBalanceSetManager): a one-second timer that calls the
//! working-set manager each time and wakes the swapper every fourth time (WRK).

use std::sync::atomic::Ordering;

use crate::mm::base::wakeups::SystemThread;

use super::{Pass, System, SystemThreads};

/// The swapper runs at least this often (simulated ms), so a long `tick` that
/// skips quiet seconds still gives it its turn.
const SWAPPER_PERIOD_MS: u64 = 4000;

/// One tick of the one-second timer.
pub(super) fn pass(threads: &SystemThreads, sys: System<'_>) -> u64 {
    let tick = threads.bsm_ticks.fetch_add(1, Ordering::Relaxed) + 1;
    let mut pages = threads.run_serialized(sys, SystemThread::WorkingSetManager, Pass::Full);
    let now = sys.m.clock.now_ms();
    let last_swap = threads.stats()[SystemThread::Swapper.index()].last_run_ms;
    if tick.is_multiple_of(4)
        || last_swap.is_none_or(|t| now.saturating_sub(t) >= SWAPPER_PERIOD_MS)
    {
        pages += threads.run_serialized(sys, SystemThread::Swapper, Pass::Full);
    }
    // The mapped page writer's five-minute timer (facts §6).
    let due = sys.m.mapped_write_due_ms.load(Ordering::Acquire);
    if due != 0 && now >= due {
        pages += threads.run_serialized(sys, SystemThread::MappedPageWriter, Pass::Full);
    }
    pages
}
