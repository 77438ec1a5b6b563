//! The balance set manager (KeBalanceSetManager): a one-second timer that calls the
//! working-set manager each time and wakes the swapper every fourth time (WRK).

use std::sync::atomic::Ordering;

use super::{Pass, SystemThread};
use crate::mm::Mm;

/// The swapper runs at least this often (simulated ms), so a long `tick` that
/// skips quiet seconds still gives it its turn.
const SWAPPER_PERIOD_MS: u64 = 4000;

impl Mm {
    pub(super) fn balance_set_manager_pass(&self) -> u64 {
        let tick = self.threads.bsm_ticks.fetch_add(1, Ordering::Relaxed) + 1;
        let mut pages = self.run_thread_serialized(SystemThread::WorkingSetManager, Pass::Full);
        let now = self.clock().now_ms();
        let last_swap = self.threads.stats()[SystemThread::Swapper as usize].last_run_ms;
        if tick.is_multiple_of(4)
            || last_swap.is_none_or(|t| now.saturating_sub(t) >= SWAPPER_PERIOD_MS)
        {
            pages += self.run_thread_serialized(SystemThread::Swapper, Pass::Full);
        }
        // The mapped page writer's five-minute timer (facts §6).
        let due = self.machine().mapped_write_due_ms.load(Ordering::Acquire);
        if due != 0 && now >= due {
            pages += self.run_thread_serialized(SystemThread::MappedPageWriter, Pass::Full);
        }
        pages
    }
}
