//! `tick`'s fast-forward: after a step (one second of simulated time) that left
//! the system at a fixed point, the seconds up to the next moment anything is due
//! are accounted for at once instead of stepped through, with the very state the
//! skipped steps would have produced.
//!
//! A step is at a fixed point when it changed no counter, left no wake request
//! pending, ran no thread but the balance set manager, the working-set manager
//! (once each) and perhaps the swapper, processed no page, and its working-set
//! manager pass aged no entry (every entry at the oldest age, no accessed bit set).
//! Such a step changed nothing but the threads' statistics, the balance set
//! manager's tick count and the clock: the next step starts from the same state
//! and makes the same decisions — no trim (the working sets and available memory
//! are what they were), no wake-up, no write — until one of the two things that
//! depend on the time comes due: a running process (not System) idle for
//! `OUTSWAP_IDLE_MS` at a swapper tick, or the mapped page writer's five-minute
//! timer. The skipped steps are those strictly before the earliest of these; the
//! one at or after it runs as usual.
//!
//! Each skipped step would have woken the balance set manager, the
//! working-set manager and the lazy writer once, and the swapper on every fourth tick, each
//! processing no page; those statistics are added here, and the history
//! sample each would have ended with (`history.rs`). Each would also have
//! emitted `thread.run` events, so nothing is skipped while anyone reads
//! `system/events`.

use std::sync::atomic::Ordering;

use crate::mm::base::status::MmResult;
use crate::mm::base::types::Pid;
use crate::mm::base::wakeups::{SystemThread, THREADS};
use crate::mm::process::ProcessState;

use super::balance_set::SWAPPER_EVERY;
use super::history::Reading;
use super::swapper::OUTSWAP_IDLE_MS;
use super::{System, SystemThreads, ThreadStats};

/// Simulated milliseconds of one step of `tick`.
pub(super) const STEP_MS: u64 = 1000;
// A skipped step is one history sample (`History::record_quiet`).
const _: () = assert!(STEP_MS == super::history::SAMPLE_MS);

/// What a step is judged by: the counters and the threads' statistics.
pub(super) struct Snapshot {
    counters: Vec<(&'static str, u64)>,
    stats: [ThreadStats; THREADS],
}

impl Snapshot {
    pub(super) fn take(threads: &SystemThreads, sys: System<'_>) -> Snapshot {
        Snapshot {
            counters: sys.m.counters.snapshot(),
            stats: *threads.stats(),
        }
    }
}

/// After a step that began at `before`, skips up to `steps` further whole steps
/// if the step left the system at a fixed point (module docs). Returns the steps
/// skipped; the clock has moved by as many seconds.
pub(super) fn fast_forward(
    threads: &SystemThreads,
    sys: System<'_>,
    before: &Snapshot,
    steps: u64,
) -> MmResult<u64> {
    // No pass may run between the judgement and the skip.
    let _serial = threads.running.lock().unwrap_or_else(|e| e.into_inner());
    let after = Snapshot::take(threads, sys);
    if !at_fixed_point(threads, sys, before, &after) {
        return Ok(0);
    }
    let now = sys.m.clock.now_ms();
    let skip = match next_due_ms(sys) {
        None => steps,
        // Only steps strictly before the due time are skipped.
        Some(due) if due > now => steps.min((due - now - 1) / STEP_MS),
        Some(_) => 0,
    };
    if skip == 0 {
        return Ok(0);
    }
    account_skipped(threads, now, skip);
    sys.m.clock.advance(skip * STEP_MS)?;
    // Each skipped step would have ended with a history sample of the
    // unchanged machine.
    let reading = Reading::take(sys.m);
    threads.history_lock().record_quiet(now, skip, &reading);
    Ok(skip)
}

/// Whether the step from `before` to `after` changed nothing a later step would
/// see (module docs).
fn at_fixed_point(
    threads: &SystemThreads,
    sys: System<'_>,
    before: &Snapshot,
    after: &Snapshot,
) -> bool {
    let m = sys.m;
    if m.events.subscribers() != 0
        || before.counters != after.counters
        || SystemThread::ALL
            .into_iter()
            .any(|t| m.wakeups.is_pending(t))
        || threads.aging_changes.load(Ordering::Relaxed) != 0
        || cache_has_work(sys)
    {
        return false;
    }
    SystemThread::ALL.into_iter().all(|t| {
        let (b, a) = (before.stats[t.index()], after.stats[t.index()]);
        let runs = a.wakeups - b.wakeups;
        let expected = match t {
            SystemThread::BalanceSetManager
            | SystemThread::WorkingSetManager
            | SystemThread::LazyWriter => runs == 1,
            SystemThread::Swapper => runs <= 1,
            _ => runs == 0,
        };
        expected && a.pages_processed == b.pages_processed
    })
}

/// Whether the cache manager's threads have work: dirty pages for the lazy
/// writer (it writes some every second), requests for read-ahead.
fn cache_has_work(sys: System<'_>) -> bool {
    let cc = sys.cache_lock();
    cc.dirty_pages() > 0 || !cc.read_ahead_queue.is_empty()
}

/// The earliest simulated time a step would act on the clock: a running process
/// (not System) becoming idle for `OUTSWAP_IDLE_MS`, or the mapped page writer's
/// timer. `None` if neither will ever come.
fn next_due_ms(sys: System<'_>) -> Option<u64> {
    let idle = sys
        .processes
        .all()
        .into_iter()
        .filter(|p| p.pid != Pid::SYSTEM)
        .filter_map(|p| {
            let space = p.space();
            (space.state == ProcessState::Running)
                .then(|| space.last_access_ms.saturating_add(OUTSWAP_IDLE_MS))
        })
        .min();
    let mapped = match sys.m.mapped_write_due_ms.load(Ordering::Acquire) {
        0 => None,
        due => Some(due),
    };
    idle.into_iter().chain(mapped).min()
}

/// The statistics of `skip` quiet steps after the one that ended at `now`: the
/// balance set manager and the working-set manager ran at each, the swapper at
/// each tick that is a multiple of `SWAPPER_EVERY`; none processed a page.
fn account_skipped(threads: &SystemThreads, now: u64, skip: u64) {
    let ticks = threads.bsm_ticks.fetch_add(skip, Ordering::Relaxed);
    let last = now + skip * STEP_MS;
    let mut s = threads.stats();
    for t in [
        SystemThread::BalanceSetManager,
        SystemThread::WorkingSetManager,
        SystemThread::LazyWriter,
    ] {
        let row = &mut s[t.index()];
        row.wakeups += skip;
        row.last_run_ms = Some(last);
    }
    let swaps = (ticks + skip) / SWAPPER_EVERY - ticks / SWAPPER_EVERY;
    if swaps > 0 {
        let last_swap_tick = (ticks + skip) / SWAPPER_EVERY * SWAPPER_EVERY;
        let row = &mut s[SystemThread::Swapper.index()];
        row.wakeups += swaps;
        row.last_run_ms = Some(now + (last_swap_tick - ticks) * STEP_MS);
    }
}
