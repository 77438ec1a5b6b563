//! Asynchronous cluster writes for a thread that pages (issue 18): NT's
//! IoAsynchronousPageWrite, which starts a cluster's write and returns, and
//! MiWriteComplete, which places the pages when it is done.
//!
//! A `mem` transfer (`Mm::transfer`) opens a [`WriteBehindScope`] for its
//! thread. Inside it, a fault that finds no available page
//! (`process::reclaim::obtain_page_without_trim`) gathers its cluster exactly
//! as an inline write does (`gather_cluster`: the same list order, cluster size,
//! slots, WriteInProgress and a reference per frame, all under the PFN lock),
//! and gathers one more cluster ahead of need; each goes to the page-write
//! thread, which copies the frames into the paging file (no lock held, the
//! frames kept by WriteInProgress and the reference). The faulting thread then
//! waits for the oldest write only, completes it (PFN lock: to standby, or
//! kept modified on an error, as `write_cluster` does) and goes on, while the
//! write ahead of it runs on the other core.
//!
//! Determinism (tests with `--clock manual` assert exact states): a write's
//! completion, the only step that changes what others see, is made by the
//! thread that started it, at points that do not depend on timing: when it
//! needs a page again, and when the scope ends. The scope ends before the
//! transfer lets its address space go, so no write is in flight at a request
//! boundary. (NT too delivers MiWriteComplete to the thread that issued the
//! write, as an APC it takes at its next wait; there the timing decides.) The
//! one difference from writing inline is the cluster written ahead: a request
//! that had to write writes one cluster more than it needed.
//!
//! Locks: the faulting thread waits for a write holding its address space
//! (order 4) and nothing else; the page-write thread takes no lock but the
//! write's own `Done` mutex (a leaf, taken alone by both sides), so it always
//! finishes and nothing can wait for the waiter. Threads without a scope (the
//! system threads, `flush-modified`, other services) write inline as before.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};

use crate::mm::base::types::Pfn;
use crate::mm::hw::physmem::PhysicalMemory;
use crate::mm::machine::Machine;
use crate::mm::pagefile::PagefileIo;

use super::modified_writer::{
    Cluster, ClusterOutcome, cluster_io, complete_cluster, gather_cluster, write_modified_cluster,
};

/// Clusters in flight at most per thread: the one waited for and one ahead.
const IN_FLIGHT: usize = 8;

/// A write's result, set once by whoever did the I/O.
#[derive(Default)]
struct Done {
    result: Mutex<Option<io::Result<()>>>,
    ready: Condvar,
}

impl Done {
    fn set(&self, r: io::Result<()>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        self.ready.notify_all();
    }

    fn wait(&self) -> io::Result<()> {
        let mut g = self.result.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = g.take() {
                return r;
            }
            g = self.ready.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Simulated RAM, for the page-write thread.
struct PhysRef(*const PhysicalMemory);

// SAFETY: `PhysicalMemory` is Sync; the pointer is only used while the
// `Machine` that owns it is borrowed by the scope that submitted the job, and
// that scope waits for every job it submitted before it ends (`Drop`).
unsafe impl Send for PhysRef {}

/// One cluster's copy into the paging file, for the page-write thread.
struct Job {
    io: Arc<PagefileIo>,
    first: u32,
    frames: Vec<Pfn>,
    phys: PhysRef,
    done: Arc<Done>,
}

impl Job {
    fn run(self) {
        // SAFETY: see `PhysRef`: the machine outlives this job.
        let phys = unsafe { &*self.phys.0 };
        self.done.set(self.io.write_frames(self.first, &self.frames, phys));
    }
}

/// The page-write thread (one for the daemon), started on first use; `None`
/// if the host would not start it (then writes are made inline).
fn page_writer() -> Option<&'static Mutex<mpsc::Sender<Vec<Job>>>> {
    static WRITER: OnceLock<Option<Mutex<mpsc::Sender<Vec<Job>>>>> = OnceLock::new();
    WRITER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Vec<Job>>();
            std::thread::Builder::new()
                .name("mm-page-write".into())
                .spawn(move || rx.into_iter().flatten().for_each(Job::run))
                .ok()
                .map(|_| Mutex::new(tx))
        })
        .as_ref()
}

/// A cluster whose write was started.
struct InFlight {
    cluster: Cluster,
    done: Arc<Done>,
}

/// The writes this thread has in flight, and for which machine.
struct Scope {
    machine: *const Machine,
    in_flight: VecDeque<InFlight>,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// While alive, reclaim on this thread for `m` writes clusters behind (module
/// docs); dropping it completes every write still in flight. Drop it before
/// letting go of the address space the transfer holds.
pub struct WriteBehindScope<'m> {
    m: &'m Machine,
    /// False for a scope opened inside another (it leaves that one alone).
    owner: bool,
}

impl<'m> WriteBehindScope<'m> {
    pub fn begin(m: &'m Machine) -> WriteBehindScope<'m> {
        let owner = SCOPE.with(|s| {
            let mut s = s.borrow_mut();
            if s.is_some() {
                return false;
            }
            *s = Some(Scope {
                machine: m,
                in_flight: VecDeque::new(),
            });
            true
        });
        WriteBehindScope { m, owner }
    }
}

impl Drop for WriteBehindScope<'_> {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        while let Some(w) = pop_oldest(self.m) {
            complete(self.m, w);
        }
        SCOPE.with(|s| *s.borrow_mut() = None);
    }
}

/// Writes modified pages so that some become available: behind, in this
/// thread's scope for `m` (module docs), else one cluster inline. True if
/// any page was written.
pub fn write_for_reclaim(m: &Machine) -> bool {
    if !in_scope(m) {
        return write_modified_cluster(m).written > 0;
    }
    if in_flight() <= IN_FLIGHT / 2 {
        let mut batch = Vec::new();
        let mut jobs = Vec::new();
        while in_flight() + batch.len() < IN_FLIGHT {
            let Some(c) = gather_cluster(m) else { break };
            let (w, job) = prepare(m, c);
            jobs.extend(job);
            batch.push(w);
        }
        send(jobs);
        SCOPE.with(|s| {
            if let Some(scope) = s.borrow_mut().as_mut() {
                scope.in_flight.extend(batch);
            }
        });
    }
    while let Some(w) = pop_oldest(m) {
        if complete(m, w).written > 0 {
            return true;
        }
    }
    false
}

/// Writes in flight on this thread (for tests: none after a transfer).
pub fn in_flight() -> usize {
    SCOPE.with(|s| s.borrow().as_ref().map_or(0, |scope| scope.in_flight.len()))
}

fn in_scope(m: &Machine) -> bool {
    SCOPE.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|scope| std::ptr::eq(scope.machine, m))
    })
}

fn pop_oldest(m: &Machine) -> Option<InFlight> {
    SCOPE.with(|s| {
        s.borrow_mut()
            .as_mut()
            .filter(|scope| std::ptr::eq(scope.machine, m))
            .and_then(|scope| scope.in_flight.pop_front())
    })
}

/// A gathered cluster's write, ready for the page-write thread (`None` when
/// it ends at once, with an error).
fn prepare(m: &Machine, cluster: Cluster) -> (InFlight, Option<Job>) {
    let done = Arc::new(Done::default());
    let job = match cluster_io(m, &cluster) {
        Err(e) => {
            done.set(Err(e));
            None
        }
        Ok(io) => Some(Job {
            io,
            first: cluster.first_slot(),
            frames: cluster.frames().to_vec(),
            phys: PhysRef(&m.phys),
            done: done.clone(),
        }),
    };
    (InFlight { cluster, done }, job)
}

/// Hands writes to the page-write thread in one wake-up (or makes them
/// here if it cannot take them).
fn send(jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    let refused = match page_writer() {
        Some(tx) => tx.lock().unwrap_or_else(|e| e.into_inner()).send(jobs).err(),
        None => Some(mpsc::SendError(jobs)),
    };
    if let Some(mpsc::SendError(jobs)) = refused {
        jobs.into_iter().for_each(Job::run);
    }
}

/// Waits for a write and completes it (MiWriteComplete), on this thread.
fn complete(m: &Machine, w: InFlight) -> ClusterOutcome {
    let result = w.done.wait();
    complete_cluster(m, w.cluster, result)
}
