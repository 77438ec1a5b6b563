//! The simulated Windows NT memory manager: a library with no FUSE in it.
//!
//! [`Mm`] is the façade: NT's executive services (create a process, allocate
//! virtual memory, touch memory, ...) as methods, and read-only views of its state
//! as plain data (`views.rs`) that the filesystem layer renders.
//!
//! # Lock order
//!
//! Locks are taken in this order and never the other way round:
//!
//! 0. `Mm::lifecycle` — held shared by process creation and termination for
//!    their whole run, and exclusively by `verify`, which so never meets a
//!    process half made or half torn down. Taken holding no other lock.
//! 1. `Mm::processes` — the process table (RwLock); held only to find or
//!    insert/remove a process, except that creation and termination hold it while
//!    they set up or tear down (so a name is never half-created).
//! 2. `Process::space` — one process's address space: VADs, page tables, working
//!    set (NT: the working-set pushlock and the address-creation lock).
//! 3. `Machine::commit` — the commit charge (never held with 4).
//! 4. `Machine::pfn` — the PFN lock: the PFN database and every transition PTE.
//! 5. Leaves, taken under 3 or 4 and holding nothing else:
//!    `Machine::pagefiles` (the slot bitmaps; file I/O happens with no lock held),
//!    the event log's queues, and the system threads' wake-up condvar.
//!
//! Paging I/O is done holding at most the faulting process's address-space lock
//! (a hard fault) or no lock at all (the modified page writer): never the PFN lock.
//! A process holding its own address-space lock only *tries* other processes'
//! locks (reclaim), so two faulting processes never wait for each other.

#[macro_use]
pub mod status;
pub mod address_space;
pub mod clock;
pub mod config;
pub mod counters;
pub mod events;
pub mod fault;
pub mod layout;
pub mod memory;
pub mod modified_writer;
pub mod pagefile;
pub mod pagetable;
pub mod pfn;
pub mod physmem;
pub mod process;
pub mod protection;
pub mod pte;
pub mod section;
pub mod threads;
pub mod types;
pub mod vad;
pub mod verify;
pub mod views;
pub mod virtual_memory;
pub mod working_set;

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use address_space::AddressSpace;
use clock::Clock;
use config::MmConfig;
use events::EventLog;
use fault::{Access, AccessFault};
use memory::{COMMIT_RAM_RESERVE, CommitState, Machine, Owner, PfnState};
use pagefile::PagingFiles;
use pfn::PfnDatabase;
use physmem::PhysicalMemory;
use process::{Pid, Process, ProcessTable, SYSTEM_PROCESS_NAME};
use protection::Protection;
use pte::PteFormat;
use types::{PAGE_SIZE, Va};
use vad::AllocRequest;

pub use status::{MmError, MmResult, NtStatus};

/// Pages a faulting process asks the others for, per round, when none is left.
const RECLAIM_FROM_OTHERS: u64 = 64;

/// One simulated machine's memory manager. Everything lives in this value, so a
/// test can run several machines at once.
pub struct Mm {
    config: MmConfig,
    machine: Machine,
    /// Creation and termination (shared) against `verify` (exclusive). Lock
    /// order: 0.
    lifecycle: RwLock<()>,
    /// The process table. Lock order: 1.
    processes: RwLock<ProcessTable>,
    /// The system threads' statistics.
    threads: threads::ThreadTable,
    /// Named section objects. Lock order: after `processes`, before any
    /// address space.
    sections: Mutex<section::SectionTable>,
}

impl Mm {
    /// Boots a simulated machine: physical memory, the PFN database (every page
    /// zeroed), the paging files (host files in the state directory) and the
    /// System process (pid 4).
    pub fn new(config: MmConfig) -> MmResult<Mm> {
        let pages = u32::try_from(config.physical_pages())
            .map_err(|_| mm_err!(INVALID_PARAMETER, "--ram is too large"))?;
        let phys = PhysicalMemory::new(pages).map_err(|e| {
            mm_err!(
                INSUFFICIENT_RESOURCES,
                "cannot reserve {} bytes of host address space for simulated RAM: {e}",
                config.ram_bytes
            )
        })?;
        let fmt = PteFormat::new(config.arch);
        let mut pagefiles = PagingFiles::new(config.state_dir.clone(), fmt.max_pagefile_slots());
        for (i, spec) in config.pagefiles.iter().enumerate() {
            let name = if i == 0 {
                "pagefile.sys".to_string()
            } else {
                format!("pagefile{i}.sys")
            };
            pagefiles.create(&name, spec.minimum / PAGE_SIZE, spec.maximum / PAGE_SIZE)?;
        }
        let ram_part = (pages as u64).saturating_sub(COMMIT_RAM_RESERVE);
        let limit = ram_part + pagefiles.commit_pages();
        let layout = layout::Layout::new(config.arch, config.three_gb);
        let machine = Machine {
            fmt,
            layout: layout.clone(),
            phys,
            clock: Clock::new(config.clock),
            pfn: Mutex::new(PfnState {
                db: PfnDatabase::new(pages),
                owners: vec![None],
                slots_in_flight: 0,
                segments: section::Segments::new(
                    layout.paged_pool_start(),
                    layout.paged_pool_end(pages as u64),
                    fmt.pte_size(),
                ),
            }),
            commit: Mutex::new(CommitState {
                total: 0,
                peak: 0,
                limit,
                ram_part,
            }),
            pagefiles: Mutex::new(pagefiles),
            counters: Default::default(),
            events: EventLog::new(),
            thresholds: memory::Thresholds::for_ram(pages as u64),
            wakeups: Default::default(),
            injected: Default::default(),
            available_hint: std::sync::atomic::AtomicU64::new(pages as u64),
            mapped_write_due_ms: std::sync::atomic::AtomicU64::new(0),
            pagefile_write_failures_in_a_row: std::sync::atomic::AtomicU64::new(0),
            ws_minimums: std::sync::atomic::AtomicU64::new(0),
        };
        let mm = Mm {
            config,
            machine,
            lifecycle: RwLock::new(()),
            processes: RwLock::new(ProcessTable::new()),
            threads: Default::default(),
            sections: Default::default(),
        };
        mm.create_process_with(
            SYSTEM_PROCESS_NAME,
            Some(Pid::SYSTEM),
            working_set::SYSTEM_MINIMUM,
            working_set::SYSTEM_MAXIMUM,
        )?;
        Ok(mm)
    }

    pub fn config(&self) -> &MmConfig {
        &self.config
    }

    pub fn clock(&self) -> &Clock {
        &self.machine.clock
    }

    /// The live trace (`system/events`).
    pub fn events(&self) -> &EventLog {
        &self.machine.events
    }

    /// The machine (physical memory, PFN database, counters) for views and tests.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// Lock order 0, shared (creation, termination) or exclusive (`verify`).
    fn lifecycle_shared(&self) -> RwLockReadGuard<'_, ()> {
        self.lifecycle.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lifecycle_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.lifecycle.write().unwrap_or_else(|e| e.into_inner())
    }

    fn processes_read(&self) -> RwLockReadGuard<'_, ProcessTable> {
        // A poisoned lock means a thread panicked mid-update; the table itself is
        // still a valid map, and refusing every later request would hang users.
        self.processes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn processes_write(&self) -> RwLockWriteGuard<'_, ProcessTable> {
        self.processes.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The live process with `pid`.
    pub fn process(&self, pid: Pid) -> MmResult<Arc<Process>> {
        self.processes_read()
            .get(pid)
            .cloned()
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no process has pid {pid}"))
    }

    fn create_process_with(
        &self,
        name: &str,
        pid: Option<Pid>,
        ws_min: u64,
        ws_max: u64,
    ) -> MmResult<Pid> {
        let mut table = self.processes_write();
        let pid = table.reserve(name, pid)?;
        let m = &self.machine;
        let slot = m
            .pfn_lock()
            .add_owner(Owner {
                pid,
                dtb: types::Pfn(0),
            })
            .ok_or_else(|| mm_err!(INSUFFICIENT_RESOURCES, "too many processes"))?;
        let space = match AddressSpace::create(m, pid, slot, ws_min, ws_max) {
            Ok(s) => s,
            Err(e) => {
                m.pfn_lock().remove_owner(slot);
                return Err(e);
            }
        };
        if let Some(o) = m.pfn_lock().owners.get_mut(slot as usize) {
            *o = Some(Owner {
                pid,
                dtb: space.dtb,
            });
        }
        // Charged, never refused: NT refuses an address space once resident
        // available memory is below its minimum; mmfs lets it through (the
        // raise of a minimum is what it refuses, see `set_ws_limits`).
        m.ws_minimums
            .fetch_add(space.ws.minimum, std::sync::atomic::Ordering::Relaxed);
        table.insert(Process::new(pid, name, m.clock.now_ms(), space));
        Ok(pid)
    }

    /// Creates a process with an empty address space (`mkdir processes/NAME`).
    pub fn create_process(&self, name: &str) -> MmResult<Pid> {
        let _lifecycle = self.lifecycle_shared();
        self.with_reclaim(Pid(0), || {
            self.create_process_with(
                name,
                None,
                working_set::DEFAULT_MINIMUM,
                working_set::DEFAULT_MAXIMUM,
            )
        })
    }

    /// Terminates a process and frees everything it held (`rmdir processes/NAME`):
    /// every page, page table, VAD and commit charge.
    pub fn terminate_process(&self, pid: Pid) -> MmResult<()> {
        if pid == Pid::SYSTEM {
            return Err(mm_err!(
                ACCESS_DENIED,
                "the System process cannot be terminated"
            ));
        }
        let _lifecycle = self.lifecycle_shared();
        // Out of the table first (so no new request finds it), then torn down
        // without holding the table: a big address space takes a while to free.
        let process = self
            .processes_write()
            .remove(pid)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no process has pid {pid}"))?;
        let m = &self.machine;
        let mut space = process.space();
        // Marked first: a request that found the process before it left the table
        // and waits for this lock must see it dead, not a half-freed space.
        space.state = process::ProcessState::Terminated;
        let vads: Vec<vad::Vad> = space.vads.iter().cloned().collect();
        let mut control_areas = Vec::new();
        for v in vads {
            if let Some(s) = &v.section {
                control_areas.push(s.id);
                section::view::remove_view(m, &mut space, &v);
                continue;
            }
            let start = v.start_va().0;
            if let Err(e) = virtual_memory::free(m, &mut space, start, 0, true) {
                log::error!("terminating pid {pid}: releasing {start:#x}: {e}");
            }
        }
        space.destroy_tables(m);
        m.pfn_lock().remove_owner(space.slot);
        m.ws_minimums
            .fetch_sub(space.ws.minimum, std::sync::atomic::Ordering::Relaxed);
        drop(space);
        for ca in control_areas {
            section::delete::delete_if_unreferenced(m, ca);
        }
        Ok(())
    }

    pub fn pid_of(&self, name: &str) -> Option<Pid> {
        self.processes_read().pid_of(name)
    }

    pub fn process_name(&self, pid: Pid) -> Option<String> {
        self.processes_read().get(pid).map(|p| p.name.clone())
    }

    /// Live processes in pid order.
    pub fn processes(&self) -> Vec<views::ProcessEntry> {
        self.processes_read()
            .iter()
            .map(|p| views::ProcessEntry {
                name: p.name.clone(),
                pid: p.pid,
            })
            .collect()
    }

    fn all_processes(&self) -> Vec<Arc<Process>> {
        self.processes_read().iter().cloned().collect()
    }

    /// Runs a service that may need physical pages (for page tables, or to make
    /// pages resident). The services fail atomically, so when one finds no page
    /// even after reclaiming from its own process, other processes give up some
    /// and it runs again — as NT's allocator would wait for the working-set
    /// manager rather than fail while memory can be reclaimed.
    fn with_reclaim<T>(&self, pid: Pid, mut op: impl FnMut() -> MmResult<T>) -> MmResult<T> {
        loop {
            match op() {
                Err(e)
                    if e.status == NtStatus::NO_MEMORY
                        && self.trim_other_processes(pid, RECLAIM_FROM_OTHERS) > 0 => {}
                result => return result,
            }
        }
    }

    /// NtAllocateVirtualMemory.
    pub fn allocate(&self, pid: Pid, req: &AllocRequest) -> MmResult<(Va, u64)> {
        let p = self.process(pid)?;
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            virtual_memory::allocate(&self.machine, &mut space, req)
        })
    }

    /// NtFreeVirtualMemory.
    pub fn free(&self, pid: Pid, address: u64, size: u64, release: bool) -> MmResult<(Va, u64)> {
        let p = self.process(pid)?;
        // Decommitting may need page tables for its decommitted PTEs.
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            virtual_memory::free(&self.machine, &mut space, address, size, release)
        })
    }

    /// NtProtectVirtualMemory; returns the old protection.
    pub fn protect(
        &self,
        pid: Pid,
        address: u64,
        size: u64,
        new: Protection,
    ) -> MmResult<Protection> {
        let p = self.process(pid)?;
        // Protecting a page shared with a fork relative copies it first.
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            virtual_memory::protect(&self.machine, &mut space, address, size, new)
        })
    }

    /// NtLockVirtualMemory; returns the pages newly locked.
    pub fn lock(&self, pid: Pid, address: u64, size: u64) -> MmResult<u64> {
        let p = self.process(pid)?;
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            virtual_memory::lock(&self.machine, &mut space, address, size)
        })
    }

    /// NtUnlockVirtualMemory; returns the pages unlocked.
    pub fn unlock(&self, pid: Pid, address: u64, size: u64) -> MmResult<u64> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        virtual_memory::unlock(&self.machine, &mut space, address, size)
    }

    /// SetProcessWorkingSetSize (bytes; `None, None` empties the working set).
    pub fn set_ws_limits(
        &self,
        pid: Pid,
        min: Option<u64>,
        max: Option<u64>,
    ) -> MmResult<(u64, u64)> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        virtual_memory::set_ws_limits(&self.machine, &mut space, min, max)
    }

    /// SetProcessWorkingSetSizeEx: the limits, and whether the maximum is hard
    /// (`None` leaves that as it was). Returns the limits in pages and the flag.
    pub fn set_ws_limits_ex(
        &self,
        pid: Pid,
        min: Option<u64>,
        max: Option<u64>,
        hard_maximum: Option<bool>,
    ) -> MmResult<(u64, u64, bool)> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        let (min, max) = virtual_memory::set_ws_limits(&self.machine, &mut space, min, max)?;
        if let Some(hard) = hard_maximum {
            space.ws.hard_maximum = hard;
        }
        Ok((min, max, space.ws.hard_maximum))
    }

    /// Empties a process's working set; returns the pages trimmed.
    pub fn trim(&self, pid: Pid) -> MmResult<u64> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        Ok(space.trim_all(&self.machine))
    }

    /// Marks a physical page bad, as a memory error would (MmMarkPhysicalPageBad-like):
    /// a free or zeroed page moves to the bad list at once; a page in use keeps its
    /// place but every later touch of it fails with STATUS_IN_PAGE_ERROR, and it
    /// goes to the bad list when it is freed. Page-table pages are refused.
    pub fn mark_page_bad(&self, pfn: types::Pfn) -> MmResult<String> {
        use pfn::{PageLocation as L, PageUse};
        let m = &self.machine;
        // Decide and act on free pages under one hold of the PFN lock, so the page
        // cannot be handed out in between.
        let owner = {
            let mut st = m.pfn_lock();
            let loc = st
                .db
                .location(pfn)
                .ok_or_else(|| mm_err!(INVALID_PARAMETER, "no physical page {:#x}", pfn.0))?;
            match loc {
                L::Bad => return Ok("already bad".into()),
                L::Zeroed | L::Free => {
                    st.db.mark_bad(pfn);
                    return Ok("bad".into());
                }
                _ if st.db.page_use(pfn) == PageUse::PageTable => {
                    return Err(mm_err!(
                        INVALID_PARAMETER,
                        "pfn {:#x} holds a page table; only data pages can be marked bad",
                        pfn.0
                    ));
                }
                _ => {}
            }
            st.db.set_in_page_error(pfn, true);
            st.owner(st.db.owner(pfn))
        };
        // A page in use: take it out of its owner's working set so the next touch
        // faults and finds the error. Re-checked under the owner's lock and the PFN
        // lock: the page must still be that process's and valid in that entry.
        if let Some(p) = owner.and_then(|o| self.process(o.pid).ok()) {
            let mut space = p.space();
            let index = {
                let st = m.pfn_lock();
                let ours = st.db.location(pfn) == Some(L::Active) && st.db.owner(pfn) == space.slot;
                ours.then(|| st.db.ws_index(pfn))
            };
            if let Some(index) = index.filter(|&i| space.ws.get(i).is_some_and(|e| e.pfn == pfn)) {
                if let Some(e) = space.ws.get_mut(index) {
                    e.locked = false;
                }
                space.trim_entry(m, index);
            }
        }
        let st = m.pfn_lock();
        Ok(format!(
            "bad ({} until freed)",
            st.db.location(pfn).map_or("?", |l| l.name())
        ))
    }

    /// Reclaim for a process that found no page: trims up to `pages` pages from
    /// the other processes (largest working sets first) whose address-space lock
    /// can be taken without waiting — the caller holds its own, and waiting for
    /// another could deadlock with that process doing the same.
    fn trim_other_processes(&self, except: Pid, pages: u64) -> u64 {
        let m = &self.machine;
        let mut others: Vec<(u64, Arc<Process>)> = self
            .all_processes()
            .into_iter()
            .filter(|p| p.pid != except)
            .filter_map(|p| {
                let len = p.try_space()?.ws.len();
                Some((len, p))
            })
            .collect();
        others.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        let mut trimmed = 0;
        for (_, p) in others {
            if trimmed >= pages {
                break;
            }
            if let Some(mut space) = p.try_space() {
                trimmed += space.trim_aged(m, 0, pages - trimmed, 0);
            }
        }
        // The trimmed pages are modified: write them so they become available.
        if trimmed > 0 {
            m.flush_modified();
        }
        trimmed
    }

    /// `empty-working-sets` (RAMMap's Empty Working Sets): every process's working
    /// set is emptied; returns the pages trimmed.
    pub fn empty_working_sets(&self) -> u64 {
        let m = &self.machine;
        self.all_processes()
            .iter()
            .map(|p| {
                let mut space = p.space();
                if space.state == process::ProcessState::Terminated {
                    0
                } else {
                    space.trim_all(m)
                }
            })
            .sum()
    }

    /// `empty-standby` (RAMMap's Empty Standby List): every standby page is
    /// repurposed onto the free list; their owners' next touches are hard faults.
    /// Returns the pages freed.
    pub fn empty_standby(&self) -> u64 {
        let m = &self.machine;
        let mut st = m.pfn_lock();
        let mut n = 0;
        while let Some(pfn) = st.db.remove_head(pfn::PageLocation::Standby) {
            m.restore_owner_pte_locked(&mut st, pfn);
            // The owner's PTE now holds the slot.
            st.db.set_original_pte(pfn, 0);
            m.free_page_locked(&mut st, pfn);
            n += 1;
        }
        drop(st);
        crate::mm_event!(m, "list.empty-standby", "pages={n}");
        n
    }

    /// `flush-modified` (RAMMap's Empty Modified Page List): writes every modified
    /// page to the paging files; returns the pages written.
    pub fn flush_modified(&self) -> u64 {
        self.machine.flush_modified()
    }

    /// NtCreatePagingFile (`pagefiles/control create NAME MIN MAX`, sizes in bytes).
    pub fn create_pagefile(&self, name: &str, minimum: u64, maximum: u64) -> MmResult<()> {
        let m = &self.machine;
        let mut c = m.commit_lock();
        let mut pf = m.pagefiles_lock();
        pf.create(name, minimum / PAGE_SIZE, maximum / PAGE_SIZE)?;
        c.follow(&pf);
        Ok(())
    }

    /// `inject pagefile-write|pagefile-read eio N`: the next N paging-file writes
    /// (cluster writes) or reads (hard faults) fail as if the disk returned EIO.
    pub fn inject(&self, what: &str, n: u64) -> MmResult<()> {
        use std::sync::atomic::Ordering;
        let counter = match what {
            "pagefile-write" => &self.machine.injected.pagefile_writes,
            "pagefile-read" => &self.machine.injected.pagefile_reads,
            "mapped-write" => &self.machine.injected.mapped_writes,
            "mapped-read" => &self.machine.injected.mapped_reads,
            _ => {
                return Err(mm_err!(
                    INVALID_PARAMETER,
                    "cannot inject failures into '{}': use pagefile-write, pagefile-read, mapped-write or mapped-read",
                    what.escape_default()
                ));
            }
        };
        counter.store(n, Ordering::Release);
        Ok(())
    }

    /// The paging files, for `pagefiles/`.
    pub fn pagefiles(&self) -> Vec<pagefile::PagingFileInfo> {
        self.machine.pagefiles_lock().info()
    }

    /// Touches `pages` pages from `va` as a thread would (one access per page, no
    /// data copied): the fault path alone, for probes and benchmarks. Returns the
    /// pages touched before the first failure.
    pub fn touch_pages(
        &self,
        pid: Pid,
        va: u64,
        pages: u64,
        write: bool,
    ) -> Result<u64, AccessFault> {
        let access = if write { Access::Write } else { Access::Read };
        let len = usize::try_from(pages.saturating_mul(PAGE_SIZE)).unwrap_or(usize::MAX);
        let done = self.transfer(
            pid,
            va & !(PAGE_SIZE - 1),
            len,
            access,
            fault::Extent::Part,
            |_, _, _, _, _| {},
        )?;
        Ok((done as u64).div_ceil(PAGE_SIZE))
    }

    /// Reads process memory through the simulated MMU, page by page, as a thread of
    /// the process would. Stops at the first page that cannot be touched: returns
    /// the bytes done, or the fault if none were.
    pub fn read_memory(&self, pid: Pid, va: u64, buf: &mut [u8]) -> Result<usize, AccessFault> {
        self.transfer(
            pid,
            va,
            buf.len(),
            Access::Read,
            fault::Extent::Part,
            |m, pfn, off, done, n| {
                m.phys.read(pfn, off, &mut buf[done..done + n]);
            },
        )
    }

    /// Writes process memory through the simulated MMU (see `read_memory`).
    pub fn write_memory(&self, pid: Pid, va: u64, data: &[u8]) -> Result<usize, AccessFault> {
        self.transfer(
            pid,
            va,
            data.len(),
            Access::Write,
            fault::Extent::WholePage,
            |m, pfn, off, done, n| {
                m.phys.write(pfn, off, &data[done..done + n]);
            },
        )
    }

    /// Touches each page of `va..va + len` for `access` and calls `copy` with
    /// (machine, frame, offset in page, bytes done, bytes in this page) while
    /// holding the address-space lock. `full_pages` is what a page the span
    /// covers in full is touched with: `Extent::WholePage` promises that `copy`
    /// writes every byte it is given, which lets a demand-zero fault skip
    /// zeroing that page (see `fault::demand_zero`).
    fn transfer(
        &self,
        pid: Pid,
        va: u64,
        len: usize,
        access: Access,
        full_pages: fault::Extent,
        mut copy: impl FnMut(&Machine, types::Pfn, usize, usize, usize),
    ) -> Result<usize, AccessFault> {
        let process = self.process(pid).map_err(|error| AccessFault {
            kind: fault::FaultKind::NotCommitted,
            error,
        })?;
        let m = &self.machine;
        let user_end = m.layout.highest_user_address();
        let mut space = process.live_space().map_err(|error| AccessFault {
            kind: fault::FaultKind::NotCommitted,
            error,
        })?;
        // A thread of the process runs: an outswapped process comes back first.
        threads::inswap(m, &mut space);
        space.last_access_ms = m.clock.now_ms();
        let mut done = 0usize;
        while done < len {
            let addr = va.checked_add(done as u64).filter(|&a| a <= user_end);
            let Some(addr) = addr else {
                let a = va.saturating_add(done as u64);
                let f = AccessFault {
                    kind: fault::FaultKind::NotCommitted,
                    error: mm_err!(
                        ACCESS_VIOLATION,
                        "{a:#x} is above the highest user address {user_end:#x}"
                    ),
                };
                space.last_exception = Some(address_space::Exception {
                    status: NtStatus::ACCESS_VIOLATION,
                    write: access == Access::Write,
                    va: Va(a),
                });
                m.counters
                    .access_violations
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return if done > 0 { Ok(done) } else { Err(f) };
            };
            let page_off = (addr % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - page_off).min(len - done);
            let extent = if n == PAGE_SIZE as usize {
                full_pages
            } else {
                fault::Extent::Part
            };
            let mut result = fault::touch_extent(m, &mut space, Va(addr), access, extent);
            // Out of pages even after this process gave up its own: other
            // processes give up some (those whose lock is free right now), then
            // the touch is retried.
            while let Err(f) = &result {
                if f.kind != fault::FaultKind::Resources || f.error.status != NtStatus::NO_MEMORY {
                    break;
                }
                if self.trim_other_processes(pid, RECLAIM_FROM_OTHERS) == 0 {
                    break;
                }
                result = fault::touch_extent(m, &mut space, Va(addr), access, extent);
            }
            match result {
                Ok(pfn) => copy(m, pfn, page_off, done, n),
                Err(f) => return if done > 0 { Ok(done) } else { Err(f) },
            }
            done += n;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests;
/// The seeded random numbers of the tests, also used by the benchmarks.
pub mod testutil;
