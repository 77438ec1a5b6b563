//! Layer 14, the memory manager's system threads: the balance set manager, the
//! working-set manager it calls, the swapper, the modified and mapped page
//! writers, the segment dereference thread and the zero page thread.
//!
//! Each thread is a *pass* — one run of its loop body, callable directly (tests and
//! `run THREAD` do) — plus a wake condition (`base::wakeups`). Who calls the
//! passes depends on the clock:
//!
//! - `--clock manual`: nothing runs by itself. `tick N` steps simulated time one
//!   second at a time; at each step the wake requests made since the last step are
//!   served, then the balance set manager's one-second timer fires (a fraction of
//!   a second left over is one last, shorter step). `tick N` leaves the system
//!   exactly as N `tick 1` would: same outswaps at the same times, same trims,
//!   counters and thread statistics. Seconds in which provably nothing would
//!   happen are not stepped through but accounted for at once
//!   (`fast_forward.rs`), so a year passes in a moment.
//! - `--clock auto`: one dispatcher OS thread (`api/dispatcher.rs`) does the same
//!   on real time and wakes early when a wake request arrives.
//!
//! The mapped page writer's five-minute timer is checked at each balance set
//! manager tick; the lazy writer's one-second scan runs at each step, after
//! the balance set manager. The read-ahead thread runs when a copy read wakes
//! it.
//!
//! Lock: `SystemThreads::running` serializes passes (NT runs each thread as one
//! thread; two callers must not run the same loop body at once). It is taken
//! before any other lock and held for the pass, and while `tick` decides and
//! applies a skip. Memory touched by another thread while a long `tick` runs is
//! seen by the next step, as between single ticks; a skip already decided
//! does not see it (the skipped seconds were judged quiet just before).

mod balance_set;
mod fast_forward;
mod history;
mod lazy_writer;
mod read_ahead;
mod segment_dereference;
mod swapper;
mod working_set_manager;
mod zero_page;

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use crate::mm::base::status::MmResult;
use crate::mm::base::wakeups::{SystemThread, THREADS};
use crate::mm::cache::CacheManager;
use crate::mm::kernel::KernelSpace;
use crate::mm::machine::Machine;
use crate::mm::paging::modified_writer::modified_page_writer_pass;
use crate::mm::process::Processes;
use crate::mm::section::delete::mapped_page_writer_pass;

pub use history::{FAULT_KINDS, HISTORY_SAMPLES, HistorySample, SAMPLE_MS};
pub use swapper::OUTSWAP_IDLE_MS;

/// What the system threads work on: the machine and every process.
#[derive(Clone, Copy)]
pub struct System<'a> {
    pub m: &'a Machine,
    pub processes: &'a Processes,
    /// The cache manager (`Mm::cache`, lock order 2½).
    pub cache: &'a Mutex<CacheManager>,
    /// Kernel memory (`Mm::kernel`, lock order 2¾): the swapper's stacks.
    pub kernel: &'a Mutex<KernelSpace>,
}

impl System<'_> {
    pub fn cache_lock(&self) -> MutexGuard<'_, CacheManager> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn kernel_lock(&self) -> MutexGuard<'_, KernelSpace> {
        self.kernel.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a pass runs: a full pass (its timer fired, or `run THREAD`), or a wake
/// request (the working-set manager then trims without aging: aging is the
/// once-a-second sweep, not something every low-memory allocation should do).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pass {
    Full,
    Woken,
}

/// What `system/threads` shows of one thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadStats {
    pub running: bool,
    pub wakeups: u64,
    /// Simulated time of the last run's start; `None` if it never ran.
    pub last_run_ms: Option<u64>,
    pub pages_processed: u64,
}

/// One row of `system/threads`.
#[derive(Clone, Debug)]
pub struct ThreadRow {
    pub name: &'static str,
    pub priority: u8,
    pub state: &'static str,
    pub wakeups: u64,
    pub last_run_ms: Option<u64>,
    pub pages_processed: u64,
}

/// The threads' statistics, the lock that serializes their passes, and the
/// state the passes keep between runs.
#[derive(Default)]
pub struct SystemThreads {
    stats: Mutex<[ThreadStats; THREADS]>,
    /// Serializes passes (see the module docs).
    running: Mutex<()>,
    /// Balance set manager ticks so far (every 4th wakes the swapper).
    bsm_ticks: AtomicU64,
    /// The repurpose counter at the last working-set manager pass.
    repurposed_seen: AtomicU64,
    /// Working-set entries the last full working-set manager pass aged or found
    /// accessed (0: aging has nothing left to do until a page is touched).
    aging_changes: AtomicU64,
    /// The last ten minutes, a sample a second (`history.rs`). A leaf (lock
    /// order 7): nothing is taken under it.
    history: Mutex<history::History>,
}

impl SystemThreads {
    fn stats(&self) -> MutexGuard<'_, [ThreadStats; THREADS]> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The repurpose counter (`pages_repurposed`) as the working-set manager's
    /// last pass saw it: repurposes since then count toward its trim trigger.
    pub fn repurposed_at_last_pass(&self) -> u64 {
        self.repurposed_seen
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One pass of system thread `t` now (`run THREAD`); returns the pages it
    /// processed.
    pub fn run(&self, sys: System<'_>, t: SystemThread) -> u64 {
        self.run_as(sys, t, Pass::Full)
    }

    fn run_as(&self, sys: System<'_>, t: SystemThread, pass: Pass) -> u64 {
        let _serial = self.running.lock().unwrap_or_else(|e| e.into_inner());
        self.run_serialized(sys, t, pass)
    }

    /// Runs a pass with the serializing lock already held (the balance set manager
    /// calls the working-set manager and the swapper this way).
    fn run_serialized(&self, sys: System<'_>, t: SystemThread, pass: Pass) -> u64 {
        let m = sys.m;
        let now = m.clock.now_ms();
        {
            let mut s = self.stats();
            let row = &mut s[t.index()];
            row.running = true;
            row.wakeups += 1;
            row.last_run_ms = Some(now);
        }
        let pages = match t {
            SystemThread::BalanceSetManager => balance_set::pass(self, sys),
            SystemThread::WorkingSetManager => {
                working_set_manager::pass(self, sys, pass == Pass::Full)
            }
            SystemThread::Swapper => swapper::pass(sys),
            SystemThread::ModifiedPageWriter => modified_page_writer_pass(m),
            SystemThread::MappedPageWriter => {
                let written = mapped_page_writer_pass(m);
                // Control areas it deleted leave prototype pages behind:
                // their System PTEs go now (`running`, then System's space).
                if let Ok(system) = sys.processes.get(crate::mm::base::types::Pid::SYSTEM) {
                    crate::mm::kernel::proto_pages::settle(m, &mut system.space());
                }
                written
            }
            SystemThread::SegmentDereference => segment_dereference::pass(m),
            SystemThread::ZeroPageThread => zero_page::pass(m),
            SystemThread::LazyWriter => lazy_writer::pass(sys),
            SystemThread::ReadAhead => read_ahead::pass(sys),
        };
        {
            let mut s = self.stats();
            let row = &mut s[t.index()];
            row.running = false;
            row.pages_processed += pages;
        }
        crate::mm_event!(m, "thread.run", "name={} pages={pages}", t.name());
        pages
    }

    /// Serves the wake requests made since the last time (highest priority first).
    /// Returns the pages processed.
    pub fn serve_wakeups(&self, sys: System<'_>) -> u64 {
        let mut pages = 0;
        for t in sys.m.wakeups.take() {
            pages += self.run_as(sys, t, Pass::Woken);
        }
        pages
    }

    /// `tick SECONDS` (manual clock): step simulated time a second at a time,
    /// serving wake requests and firing the balance set manager's timer at each
    /// step; after a step that left the system at a fixed point, the quiet
    /// seconds up to the next thing due are skipped with the statistics they
    /// would have produced (`fast_forward.rs`). Returns the new time.
    pub fn tick(&self, sys: System<'_>, ms: u64) -> MmResult<u64> {
        let clock = &sys.m.clock;
        // Validate (mode, length) before anything moves.
        clock.check_advance(ms)?;
        let mut left = ms;
        while left > 0 {
            let before = fast_forward::Snapshot::take(self, sys);
            let dt = left.min(fast_forward::STEP_MS);
            clock.advance(dt)?;
            left -= dt;
            self.serve_wakeups(sys);
            self.run(sys, SystemThread::BalanceSetManager);
            self.run(sys, SystemThread::LazyWriter);
            self.serve_wakeups(sys);
            self.record_history(sys);
            let whole_steps = left / fast_forward::STEP_MS;
            if whole_steps > 0 {
                let skipped = fast_forward::fast_forward(self, sys, &before, whole_steps)?;
                left -= skipped * fast_forward::STEP_MS;
            }
        }
        Ok(clock.now_ms())
    }

    /// Takes this second's history sample, if the clock has reached a new
    /// whole second since the last (`history.rs`): at the end of each of
    /// `tick`'s steps and of the auto clock's one-second timer.
    pub fn record_history(&self, sys: System<'_>) {
        let reading = history::Reading::take(sys.m);
        let now = sys.m.clock.now_ms();
        self.history_lock().record(now, &reading);
    }

    fn history_lock(&self) -> MutexGuard<'_, history::History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The history samples, oldest first (at most `HISTORY_SAMPLES`).
    pub fn history(&self) -> Vec<HistorySample> {
        self.history_lock().samples()
    }

    /// Rows of `system/threads`, in `SystemThread::ALL` order.
    pub fn rows(&self, m: &Machine) -> Vec<ThreadRow> {
        let s = *self.stats();
        SystemThread::ALL
            .into_iter()
            .map(|t| {
                let row = s[t.index()];
                let state = if row.running {
                    "running"
                } else if m.wakeups.is_pending(t) {
                    "ready"
                } else {
                    "waiting"
                };
                ThreadRow {
                    name: t.name(),
                    priority: t.priority(),
                    state,
                    wakeups: row.wakeups,
                    last_run_ms: row.last_run_ms,
                    pages_processed: row.pages_processed,
                }
            })
            .collect()
    }
}
