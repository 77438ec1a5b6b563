//! The system threads' names and their wake-up events. The allocator, the
//! commit code and the threads themselves set a request (NT: they signal the
//! event a thread waits on); the dispatcher (`--clock auto`) or `tick`
//! (`--clock manual`) serves it. A leaf: setting a request may happen under
//! the PFN lock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

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
    LazyWriter,
    ReadAhead,
}

/// How many system threads there are.
pub const THREADS: usize = 9;

impl SystemThread {
    pub const ALL: [SystemThread; THREADS] = [
        SystemThread::BalanceSetManager,
        SystemThread::WorkingSetManager,
        SystemThread::Swapper,
        SystemThread::ModifiedPageWriter,
        SystemThread::MappedPageWriter,
        SystemThread::SegmentDereference,
        SystemThread::ZeroPageThread,
        SystemThread::LazyWriter,
        SystemThread::ReadAhead,
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
            SystemThread::LazyWriter => "lazy-writer",
            SystemThread::ReadAhead => "read-ahead",
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
            // The cache manager's work items run on the system worker threads
            // (the delayed work queue, priority 12).
            SystemThread::LazyWriter | SystemThread::ReadAhead => 12,
        }
    }

    pub fn from_name(name: &str) -> Option<SystemThread> {
        SystemThread::ALL.into_iter().find(|t| t.name() == name)
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }

    pub fn index(self) -> usize {
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
