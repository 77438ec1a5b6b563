//! The memory manager's system threads: the balance set manager, the working-set
//! manager it calls, the swapper, the modified page writer, the segment
//! dereference thread and the zero page thread.
//!
//! Each thread is a *pass* — one run of its loop body, callable directly (tests and
//! `run THREAD` do) — plus a wake condition. Who calls the passes depends on the
//! clock:
//!
//! - `--clock manual`: nothing runs by itself. `tick N` steps simulated time one
//!   second at a time; at each step the wake requests made since the last step are
//!   served, then the balance set manager's one-second timer fires.
//! - `--clock auto`: one dispatcher OS thread does the same on real time and wakes
//!   early when a wake request arrives (a condvar).
//!
//! The mapped page writer's five-minute timer is checked at each balance set
//! manager tick. Threads with no machinery behind them yet (lazy writer,
//! read-ahead) are not listed; they come with the cache manager.

mod balance_set;
mod dispatcher;
mod segment_dereference;
mod swapper;
mod working_set_manager;
mod zero_page;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

pub use dispatcher::Dispatcher;
pub use swapper::{OUTSWAP_IDLE_MS, inswap};

use super::Mm;

/// The memory manager's system threads, by the names `system/threads` uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum SystemThread {
    BalanceSetManager,
    WorkingSetManager,
    Swapper,
    ModifiedPageWriter,
    MappedPageWriter,
    SegmentDereference,
    ZeroPageThread,
}

/// How many system threads there are.
const THREADS: usize = 7;

impl SystemThread {
    pub const ALL: [SystemThread; THREADS] = [
        SystemThread::BalanceSetManager,
        SystemThread::WorkingSetManager,
        SystemThread::Swapper,
        SystemThread::ModifiedPageWriter,
        SystemThread::MappedPageWriter,
        SystemThread::SegmentDereference,
        SystemThread::ZeroPageThread,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SystemThread::BalanceSetManager => "balance-set-manager",
            SystemThread::WorkingSetManager => "working-set-manager",
            SystemThread::Swapper => "swapper",
            SystemThread::ModifiedPageWriter => "modified-page-writer",
            SystemThread::MappedPageWriter => "mapped-page-writer",
            SystemThread::SegmentDereference => "segment-dereference",
            SystemThread::ZeroPageThread => "zero-page-thread",
        }
    }

    /// Priorities as in WRK (facts §6): writers 17, balance set manager 16 (the
    /// working-set manager runs in its context), swapper 23, zero page thread 0;
    /// the segment dereference thread 18 as in *Windows Internals* 6th edition.
    pub fn priority(self) -> u8 {
        match self {
            SystemThread::BalanceSetManager | SystemThread::WorkingSetManager => 16,
            SystemThread::Swapper => 23,
            SystemThread::ModifiedPageWriter | SystemThread::MappedPageWriter => 17,
            SystemThread::SegmentDereference => 18,
            SystemThread::ZeroPageThread => 0,
        }
    }

    pub fn from_name(name: &str) -> Option<SystemThread> {
        SystemThread::ALL.into_iter().find(|t| t.name() == name)
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Wake requests (NT: the events the threads wait on). Setting one is an atomic
/// `fetch_or`; only the first request since the last service takes the condvar's
/// mutex (a leaf lock, so this may be called under the PFN lock).
#[derive(Default)]
pub struct Wakeups {
    pending: AtomicU32,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Wakeups {
    pub fn wake(&self, t: SystemThread) {
        if self.pending.fetch_or(t.bit(), Ordering::AcqRel) & t.bit() == 0 {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cv.notify_all();
        }
    }

    /// Takes the pending requests, highest priority first.
    pub fn take(&self) -> Vec<SystemThread> {
        let bits = self.pending.swap(0, Ordering::AcqRel);
        let mut ts: Vec<SystemThread> = SystemThread::ALL
            .into_iter()
            .filter(|t| bits & t.bit() != 0)
            .collect();
        ts.sort_by_key(|t| std::cmp::Reverse(t.priority()));
        ts
    }

    pub fn is_pending(&self, t: SystemThread) -> bool {
        self.pending.load(Ordering::Acquire) & t.bit() != 0
    }

    /// Waits up to `timeout` for a request (or a `notify` for shutdown).
    pub fn wait(&self, timeout: Duration) {
        let g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.pending.load(Ordering::Acquire) != 0 {
            return;
        }
        let _ = self.cv.wait_timeout(g, timeout);
    }

    /// Wakes the waiter without a request (shutdown).
    pub fn notify(&self) {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.cv.notify_all();
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

/// The threads' statistics and the balance set manager's tick count.
#[derive(Default)]
pub struct ThreadTable {
    stats: Mutex<[ThreadStats; THREADS]>,
    /// Serializes passes of the threads (NT runs each as one thread; two callers
    /// of `run` must not run the same loop body at once).
    running: Mutex<()>,
    /// Balance set manager ticks so far (every 4th wakes the swapper).
    pub(super) bsm_ticks: AtomicU32,
    /// The repurpose counter at the last working-set manager pass.
    pub(super) repurposed_seen: std::sync::atomic::AtomicU64,
}

impl ThreadTable {
    fn stats(&self) -> MutexGuard<'_, [ThreadStats; THREADS]> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Seconds of simulated time a `tick` steps through one by one; beyond that, once
/// the system is quiet, the rest is skipped in one step (nothing is due in a
/// quiet system but the timers, which the last step fires).
const TICK_STEPS_BEFORE_SKIP: u64 = 8;

impl Mm {
    /// One pass of system thread `t` now (`run THREAD`); returns the pages it
    /// processed.
    pub fn run_thread(&self, t: SystemThread) -> u64 {
        self.run_thread_as(t, Pass::Full)
    }

    fn run_thread_as(&self, t: SystemThread, pass: Pass) -> u64 {
        let _serial = self
            .threads
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.run_thread_serialized(t, pass)
    }

    /// Runs a pass with the serializing lock already held (the balance set manager
    /// calls the working-set manager and the swapper this way).
    fn run_thread_serialized(&self, t: SystemThread, pass: Pass) -> u64 {
        let now = self.clock().now_ms();
        {
            let mut s = self.threads.stats();
            let row = &mut s[t.index()];
            row.running = true;
            row.wakeups += 1;
            row.last_run_ms = Some(now);
        }
        let pages = match t {
            SystemThread::BalanceSetManager => self.balance_set_manager_pass(),
            SystemThread::WorkingSetManager => self.working_set_manager_pass(pass == Pass::Full),
            SystemThread::Swapper => self.swapper_pass(),
            SystemThread::ModifiedPageWriter => self.machine().modified_page_writer_pass(),
            SystemThread::MappedPageWriter => self.mapped_page_writer_pass(),
            SystemThread::SegmentDereference => self.segment_dereference_pass(),
            SystemThread::ZeroPageThread => self.zero_page_pass(),
        };
        {
            let mut s = self.threads.stats();
            let row = &mut s[t.index()];
            row.running = false;
            row.pages_processed += pages;
        }
        crate::mm_event!(
            self.machine(),
            "thread.run",
            "name={} pages={pages}",
            t.name()
        );
        pages
    }

    /// Serves the wake requests made since the last time (highest priority first).
    /// Returns the pages processed.
    pub(crate) fn serve_wakeups(&self) -> u64 {
        let mut pages = 0;
        for t in self.machine().wakeups.take() {
            pages += self.run_thread_as(t, Pass::Woken);
        }
        pages
    }

    /// `tick SECONDS` (manual clock): step simulated time a second at a time,
    /// serving wake requests and firing the balance set manager's timer at each
    /// step. Returns the new time.
    pub fn tick(&self, ms: u64) -> super::MmResult<u64> {
        // Validate (mode, length) before anything moves.
        self.clock().check_advance(ms)?;
        let mut left = ms;
        let mut quiet_steps = 0u64;
        while left > 0 {
            let dt = if quiet_steps >= TICK_STEPS_BEFORE_SKIP && left > 1000 {
                // Quiet: jump to one second before the end; the last step fires
                // the timers at the final time.
                left - 1000
            } else {
                left.min(1000)
            };
            self.clock().advance(dt)?;
            left -= dt;
            let mut pages = self.serve_wakeups();
            pages += self.run_thread(SystemThread::BalanceSetManager);
            pages += self.serve_wakeups();
            quiet_steps = if pages == 0 { quiet_steps + 1 } else { 0 };
        }
        Ok(self.clock().now_ms())
    }

    /// Rows of `system/threads`, in `SystemThread::ALL` order.
    pub fn thread_rows(&self) -> Vec<ThreadRow> {
        let s = *self.threads.stats();
        SystemThread::ALL
            .into_iter()
            .map(|t| {
                let row = s[t.index()];
                let state = if row.running {
                    "running"
                } else if self.machine().wakeups.is_pending(t) {
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
