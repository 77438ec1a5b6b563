//! The simulated Windows NT memory manager: a library with no FUSE in it.
//!
//! [`Mm`] is the façade: NT's executive services (create a process, allocate
//! virtual memory, touch memory, ...) as methods (`api/`), and read-only views of
//! its state as plain data (`inspect/`) that the filesystem layer renders.
//!
//! The layers, bottom first; a module imports only from layers below its own
//! (`docs/ARCHITECTURE.md` draws them and says what each owns; the test
//! `mm_layers_import_only_downwards` in `tests/architecture.rs` keeps imports
//! pointing down):
//!
//! | layer | module | what it owns |
//! |---|---|---|
//! | 0 | `base` | numbers, NT status, protection, config, clock, counters, events, wake-ups |
//! | 1 | `hw` | simulated RAM, PTE formats, page-table walks, layouts |
//! | 2 | `pfn` | the PFN database and its lists |
//! | 3 | `pagefile` | the paging files: slot bitmaps and host files |
//! | 4 | `segment` | control areas, subsections, prototype PTEs |
//! | 5 | `vad` | VAD trees and the rules that need only VADs |
//! | 6 | `machine` | the PFN lock, the shared frame transitions, commit |
//! | 7 | `paging` | the modified and mapped page writers |
//! | 8 | `process` | processes, address spaces, working sets, reclaim |
//! | 9 | `fault` | the page-fault handler, one module per fault kind |
//! | 10 | `vm` | NtAllocate/Free/Protect/Lock/UnlockVirtualMemory, working-set limits |
//! | 11 | `section` | sections, views, fork, control-area deletion |
//! | 12 | `kernel` | system space: pool, system PTEs, MDLs, kernel stacks |
//! | 13 | `cache` | the cache manager: VACBs, shared cache maps, write-behind, read-ahead |
//! | 14 | `threads` | the system threads' passes and `tick` |
//! | 15 | `api` (and this file) | the `Mm` façade |
//! | 16 | `inspect` | snapshots for the views, `verify` |
//!
//! # Lock order
//!
//! Locks are taken in this order and never the other way round, but for the
//! one exception below (the full list, with every place that holds two of one
//! kind, is in `docs/ARCHITECTURE.md`):
//!
//! 0. `Mm::lifecycle` — shared by process creation and termination, exclusive
//!    for `verify`.
//! 1. `SystemThreads::running` — serializes system-thread passes.
//! 2. `Mm::sections` — the section table (`map` and `verify` look processes up
//!    while they hold it). Then, at 2½, `Mm::cache` — the cache manager (its
//!    VACBs and shared cache maps): a copy, a flush or a lazy-writer scan holds
//!    it while it takes the System process's address space, and a truncation
//!    or fsync while it takes each user address space in turn (never two).
//!    At 2¾, `Mm::kernel` — pool, system PTEs, MDLs, kernel stacks: held
//!    while a service takes the System process's address space or one user
//!    address space (never two).
//! 3. `Processes` — the process table.
//! 4. `Process::space` — one address space (fork: parent, then child; verify:
//!    all, in pid order; every other path waits for at most one).
//! 5. `Machine::commit` — the commit charge (never held with 6).
//! 6. `Machine::pfn` — the PFN lock.
//! 7. Leaves: `Machine::pagefiles`, the wake-up condvar, `SystemThreads::stats`
//!    and, innermost of all, the event log's queues: an event may be emitted
//!    under any lock, another leaf included.
//!
//! The exception: reclaim (`reclaim_for` from `api/memory.rs`) holds the
//! faulting process's address space (4) and reads the process table (3) to
//! list the others. It cannot deadlock because no one holding the process
//! table waits for an address space: lookups clone and let go, and creation
//! locks no existing address space. A process holding its own address-space
//! lock only *tries* the others' (`try_space`), so two faulting processes never
//! wait for each other.
//!
//! Paging I/O is never done under the PFN lock, the commit lock or a leaf, but
//! it may run under the locks its caller holds: a hard fault's read, and a
//! cluster written inline because no page is available, under the faulting
//! process's address space (fork: the parent's and the child's); an inline
//! write while `create_process_with` makes the new address space under the
//! process table (write) and the lifecycle lock (shared); `flush` under the
//! caller's address space; the writes of a control area's deletion under the
//! lifecycle lock (shared) when termination deletes it; the cache manager's
//! reads (faults in the system cache) and writes (lazy writer, fsync, the
//! throttle) under `Mm::cache` and the System process's address space; under
//! `Mm::kernel`, an MDL probe's hard faults (with the user's address space), a
//! kernel stack's inswap reads and `kernel/mem`'s faults (with the System
//! process's), and the inline writes of a page allocation for a new process,
//! its kernel stack, `allocate-pages` or a system PTE's page table.
//! `docs/ARCHITECTURE.md` lists every case.

#[macro_use]
pub mod base;
pub mod api;
pub mod cache;
pub mod fault;
pub mod hw;
pub mod inspect;
pub mod kernel;
pub mod machine;
pub mod pagefile;
pub mod paging;
pub mod pfn;
pub mod process;
pub mod section;
pub mod segment;
pub mod threads;
pub mod vad;
pub mod vm;

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use base::config::MmConfig;
use base::types::Pid;
use machine::Machine;
use process::{Process, Processes};
use section::SectionTable;
use threads::{System, SystemThreads};

pub use api::dispatcher::Dispatcher;
pub use base::status::{MmError, MmResult, NtStatus, WithStatus};

/// One simulated machine's memory manager. Everything lives in this value, so a
/// test can run several machines at once.
pub struct Mm {
    config: MmConfig,
    machine: Machine,
    /// Creation and termination (shared) against `verify` (exclusive). Lock
    /// order: 0.
    lifecycle: RwLock<()>,
    /// The process table. Lock order: 3.
    processes: Processes,
    /// The system threads' statistics and serializing lock. Lock order: 1.
    threads: SystemThreads,
    /// Named section objects. Lock order: 2, before the process table and
    /// any address space.
    sections: Mutex<SectionTable>,
    /// The cache manager. Lock order: 2½, after the section table, before
    /// the process table.
    cache: Mutex<cache::CacheManager>,
    /// Kernel memory: pool, system PTEs, MDLs, kernel stacks. Lock order:
    /// 2¾, after the cache manager, before the process table.
    kernel: Mutex<kernel::KernelSpace>,
    /// The System process, made at boot and never terminated: kept here so
    /// the services that work in system space (pool, `kernel/mem`, the
    /// cache's copies) need not look it up in the process table each time.
    system: std::sync::OnceLock<Arc<Process>>,
}

impl Mm {
    /// Boots a simulated machine: physical memory, the PFN database (every page
    /// zeroed), the paging files (host files in the state directory) and the
    /// System process (pid 4).
    pub fn new(config: MmConfig) -> MmResult<Mm> {
        let machine = Machine::new(&config)?;
        let machine_layout = machine.layout.clone();
        let physical_pages = machine.phys.pages();
        let mm = Mm {
            config,
            machine,
            lifecycle: RwLock::new(()),
            processes: Processes::default(),
            threads: SystemThreads::default(),
            sections: Default::default(),
            cache: Mutex::new(cache::CacheManager::new(
                &machine_layout,
                u64::from(physical_pages),
            )),
            kernel: Mutex::new(kernel::KernelSpace {
                sysptes: kernel::sysptes::SystemPtes::new(
                    &machine_layout,
                    u64::from(physical_pages),
                ),
                ..Default::default()
            }),
            system: std::sync::OnceLock::new(),
        };
        mm.create_system_process()?;
        let system = mm.processes.get(base::types::Pid::SYSTEM)?;
        let _ = mm.system.set(system);
        Ok(mm)
    }

    pub fn config(&self) -> &MmConfig {
        &self.config
    }

    pub fn clock(&self) -> &base::clock::Clock {
        &self.machine.clock
    }

    /// The live trace (`system/events`).
    pub fn events(&self) -> &base::events::EventLog {
        &self.machine.events
    }

    /// The machine (physical memory, PFN database, counters), for the core's
    /// own tests and benchmarks; the filesystem asks through `Mm`'s methods.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// Pages of simulated RAM.
    pub fn physical_pages(&self) -> u32 {
        self.machine.phys.pages()
    }

    /// The address-space layout of the running arch (`system/layout`).
    pub fn layout(&self) -> &hw::layout::Layout {
        &self.machine.layout
    }

    /// The highest address a process may use (MM_HIGHEST_USER_ADDRESS).
    pub fn highest_user_address(&self) -> u64 {
        self.machine.layout.highest_user_address()
    }

    /// What the system threads work on.
    fn system(&self) -> System<'_> {
        System {
            m: &self.machine,
            processes: &self.processes,
            cache: &self.cache,
            kernel: &self.kernel,
        }
    }

    /// Lock order 0, shared (creation, termination) or exclusive (`verify`).
    fn lifecycle_shared(&self) -> RwLockReadGuard<'_, ()> {
        self.lifecycle.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lifecycle_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.lifecycle.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The live process with `pid`.
    pub fn process(&self, pid: Pid) -> MmResult<Arc<Process>> {
        self.processes.get(pid)
    }

    /// The System process (pid 4).
    fn system_process(&self) -> MmResult<&Arc<Process>> {
        self.system
            .get()
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "the System process is not made yet"))
    }

    fn all_processes(&self) -> Vec<Arc<Process>> {
        self.processes.all()
    }

    /// Lock order 2½.
    fn cache_lock(&self) -> std::sync::MutexGuard<'_, cache::CacheManager> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lock order 2¾.
    fn kernel_lock(&self) -> std::sync::MutexGuard<'_, kernel::KernelSpace> {
        self.kernel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lock order 2.
    fn sections_lock(&self) -> std::sync::MutexGuard<'_, SectionTable> {
        self.sections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
/// The seeded random numbers of the tests, also used by the benchmarks.
pub mod testutil;
