//! Layer 6, the machine: physical memory, the PFN database behind the PFN lock,
//! the commit charge, the paging files' slots, counters, the clock and the event
//! trace — everything that is not one process's.
//!
//! - `frames.rs`: the shared transitions of a frame (NT's `pfnlist.c`): taking
//!   one off the lists for a new use, setting it up, putting it back,
//!   repurposing.
//! - `prototype.rs`: the same for frames that belong to prototype PTEs (sections
//!   and fork clone blocks).
//! - `commit.rs`: the commit charge and the commit limit.
//! - `large_pages.rs`: physically contiguous runs for MEM_LARGE_PAGES
//!   (MiFindLargePageMemory): found, taken off the lists (standby pages
//!   repurposed), zeroed, and freed.
//!
//! Transitions that only one caller makes stay with that caller, under the PFN
//! lock all the same: a hard fault's neighbours (`fault/page_file.rs`,
//! `install_neighbours_locked`), a prototype PTE put in transition
//! (`fault/prototype.rs`, `map_transition`), a private page trimmed
//! (`process/ws_policy.rs`, `trim_private`), a page written out (`paging/`),
//! MEM_RESET (`vm/reset.rs`), a private page moved into a clone block
//! (`section/fork.rs`, `move_into_block`) and the standby list emptied
//! (`api/system.rs`, `empty_standby`).
//!
//! Nothing here writes pages out or trims working sets: allocation fails when no
//! page is available, and the layers above (`paging`, `process::reclaim`)
//! decide how to make one available.
//!
//! # The PFN lock
//!
//! `Machine::pfn` is NT's PFN lock: it protects the PFN database, the owner table,
//! the control areas with their prototype PTEs, and every *transition* PTE (a PTE
//! that names a frame on a list). Only leaves (the paging-file lock, the event
//! log's locks, the wake-up condvar) are taken while it is held, so any code
//! holding a process's address-space lock may take it.

mod commit;
mod frames;
mod large_pages;
mod proto_pages;
mod prototype;
mod resident;

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use crate::mm::base::clock::Clock;
use crate::mm::base::config::MmConfig;
use crate::mm::base::counters::SystemCounters;
use crate::mm::base::events::EventLog;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid};
use crate::mm::base::wakeups::Wakeups;
use crate::mm::hw::layout::Layout;
use crate::mm::hw::physmem::PhysicalMemory;
use crate::mm::hw::pte::PteFormat;
use crate::mm::pagefile::PagingFiles;
use crate::mm::pfn::PfnDatabase;
use crate::mm::segment::Segments;

pub use commit::{COMMIT_RAM_RESERVE, CommitState, PAGEFILE_GROWTH_PAGES};
pub use frames::{ActivePage, Extent, NewPage, PageNeed, activate_locked};
pub use large_pages::LargeRun;
pub use prototype::MAPPED_WRITE_DELAY_MS;
pub use resident::{RESIDENT_AVAILABLE_RESERVE, ResidentCharges};

/// Who owns frames tagged with an owner slot: enough to find their PTEs while only
/// the PFN lock is held (repurposing a standby page rewrites its old owner's PTE).
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub pid: Pid,
    pub dtb: Pfn,
    /// Private pages of this process that MEM_RESET gave up and whose frames
    /// were then reused: their PTEs went back to demand zero under the PFN
    /// lock, from another process's allocation, where the owner's
    /// address-space count could not be lowered. `AddressSpace::private_page_count`
    /// subtracts them.
    pub discarded_private: u64,
}

/// What the PFN lock protects.
pub struct PfnState {
    pub db: PfnDatabase,
    /// Owner slots (the PFN's `Owner` field); slot 0 means "none".
    pub owners: Vec<Option<Owner>>,
    /// Paging-file slots handed to cluster writes still in flight (they are in no
    /// PTE or OriginalPte yet); `verify` counts them as referenced.
    pub slots_in_flight: u64,
    /// Control areas, subsections and their prototype PTEs (NT changes
    /// prototype PTEs under the PFN lock too).
    pub segments: Segments,
}

impl PfnState {
    /// Registers an owner; returns its slot (never 0).
    pub fn add_owner(&mut self, owner: Owner) -> Option<u16> {
        if let Some(i) = self.owners.iter().skip(1).position(Option::is_none) {
            self.owners[i + 1] = Some(owner);
            return Some((i + 1) as u16);
        }
        if self.owners.len() > u16::MAX as usize {
            return None;
        }
        self.owners.push(Some(owner));
        Some((self.owners.len() - 1) as u16)
    }

    pub fn remove_owner(&mut self, slot: u16) {
        if let Some(o) = self.owners.get_mut(slot as usize) {
            *o = None;
        }
    }

    pub fn owner(&self, slot: u16) -> Option<Owner> {
        self.owners.get(slot as usize).copied().flatten()
    }
}

/// The page-count thresholds that steer the system threads, sized for this
/// machine's RAM. WRK (Server 2003 SP1) values; see `Thresholds::for_ram`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// MmPlentyFreePages: the working-set manager trims when available pages are
    /// at or below this; its goal is 1.5 × this.
    pub plenty_free: u64,
    /// MmMinimumFreePages: below this the modified page writer is woken.
    pub minimum_free: u64,
    /// MmModifiedPageMaximum: a modified list this long wakes the writer.
    pub modified_maximum: u64,
    /// The zero page thread wakes when the free list reaches this many pages.
    pub zero_wake: u64,
}

impl Thresholds {
    /// WRK's values by RAM size class. MmPlentyFreePages is 400 in WRK; mmfs caps
    /// it at 1/8 of RAM so that a tiny `--ram` machine is not trimmed all the time.
    /// MmModifiedPageMaximum is 100 / 150 / 300 / 800 for small / medium / large /
    /// very large machines; mmfs draws the classes at 32 MB, 128 MB and 1 GB.
    pub fn for_ram(pages: u64) -> Thresholds {
        let mb = pages / 256;
        let modified_maximum = match mb {
            0..=32 => 100,
            33..=128 => 150,
            129..=1024 => 300,
            _ => 800,
        };
        Thresholds {
            plenty_free: 400.min(pages / 8).max(1),
            minimum_free: 26.min(pages / 16).max(1),
            modified_maximum,
            zero_wake: 8,
        }
    }
}

pub struct Machine {
    pub fmt: PteFormat,
    pub layout: Layout,
    pub phys: PhysicalMemory,
    pub clock: Clock,
    /// The PFN lock (lock order 6). Innermost but for the leaves. Reached
    /// through `pfn_lock`.
    pfn: Mutex<PfnState>,
    /// Commit charge (lock order 5); taken alone or under an address-space
    /// lock, never with `pfn`. Reached through `commit_lock`.
    commit: Mutex<CommitState>,
    /// The paging files (a leaf, lock order 7: taken alone or under the PFN
    /// lock or the commit lock; only events are emitted while it is held).
    /// Paging I/O happens outside it: callers take the io handle
    /// (`PagingFiles::io`) on a statement of its own so the guard drops first.
    pagefiles: Mutex<PagingFiles>,
    pub counters: SystemCounters,
    pub events: EventLog,
    pub thresholds: Thresholds,
    /// Wake requests for the system threads (atomics and a condvar; a leaf).
    pub wakeups: Wakeups,
    /// Paging I/O failures to simulate (`inject`), for testing the error paths.
    pub injected: Injected,
    /// Available pages as of the last allocation: the fault path's "is memory
    /// short?" test reads it without taking the PFN lock a second time.
    pub available_hint: AtomicU64,
    /// When the mapped page writer's five-minute timer fires (simulated ms);
    /// 0 = not armed.
    pub mapped_write_due_ms: AtomicU64,
    /// Paging-file cluster writes failed since the last one that succeeded: the
    /// first failure of a run is logged, the rest only counted.
    pub pagefile_write_failures_in_a_row: AtomicU64,
    /// What is charged against resident available memory
    /// (MmResidentAvailablePages, `resident.rs`): the working-set minimums of
    /// every live process, kernel stacks, non-paged pool, locked pages.
    pub resident: ResidentCharges,
}

/// A frame whose number does not fit the PTE's PFN field would be mapped as another
/// frame (its number truncated): such RAM is refused at boot rather than corrupted.
/// NT's non-PAE x86 kernel uses no memory above 4 GB (Server 2003 SP1 boots
/// ntkrnlpa.exe for that); mmfs makes the choice explicit (STATUS_INVALID_PARAMETER).
fn ram_fits_pfn_field(config: &MmConfig, fmt: &PteFormat) -> MmResult<()> {
    if config.physical_pages() <= fmt.max_physical_pages() {
        return Ok(());
    }
    let wider = match config.arch {
        Arch::X64 => "",
        _ => "; use --arch pae or x64",
    };
    Err(mm_err!(
        INVALID_PARAMETER,
        "--ram {} MB is more than {} PTEs can name ({} GB){wider}",
        config.ram_bytes >> 20,
        config.arch.name(),
        (fmt.max_physical_pages() * PAGE_SIZE) >> 30
    ))
}

impl Machine {
    /// Boots the hardware and the memory manager's global state: simulated RAM
    /// (every page zeroed), the PFN database, the paging files (host files in
    /// the state directory) and the commit limit they give.
    pub fn new(config: &MmConfig) -> MmResult<Machine> {
        let pages = u32::try_from(config.physical_pages())
            .map_err(|_| mm_err!(INVALID_PARAMETER, "--ram is too large"))?;
        let fmt = PteFormat::new(config.arch);
        ram_fits_pfn_field(config, &fmt)?;
        let phys = PhysicalMemory::new(pages).map_err(|e| {
            mm_err!(
                INSUFFICIENT_RESOURCES,
                "cannot reserve {} bytes of host address space for simulated RAM: {e}",
                config.ram_bytes
            )
        })?;
        let mut pagefiles = PagingFiles::new(config.state_dir.clone(), fmt.max_pagefile_slots());
        for (i, spec) in config.pagefiles.iter().enumerate() {
            let name = if i == 0 {
                "pagefile.sys".to_string()
            } else {
                format!("pagefile{i}.sys")
            };
            pagefiles.create(&name, spec.minimum / PAGE_SIZE, spec.maximum / PAGE_SIZE)?;
        }
        let layout = Layout::new(config.arch, config.three_gb);
        let segments = Segments::new(
            layout.paged_pool_start(),
            layout.paged_pool_end(pages as u64),
            fmt.pte_size(),
        );
        Ok(Machine {
            fmt,
            layout,
            phys,
            clock: Clock::new(config.clock),
            pfn: Mutex::new(PfnState {
                db: PfnDatabase::new(pages),
                owners: vec![None],
                slots_in_flight: 0,
                segments,
            }),
            commit: Mutex::new(CommitState::new(pages as u64, &pagefiles)),
            pagefiles: Mutex::new(pagefiles),
            counters: Default::default(),
            events: EventLog::new(),
            thresholds: Thresholds::for_ram(pages as u64),
            wakeups: Default::default(),
            injected: Default::default(),
            available_hint: AtomicU64::new(pages as u64),
            mapped_write_due_ms: AtomicU64::new(0),
            pagefile_write_failures_in_a_row: AtomicU64::new(0),
            resident: ResidentCharges::default(),
        })
    }

    /// Lock order 6 (see `docs/ARCHITECTURE.md`).
    pub fn pfn_lock(&self) -> MutexGuard<'_, PfnState> {
        self.pfn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lock order 5; never held with the PFN lock.
    pub fn commit_lock(&self) -> MutexGuard<'_, CommitState> {
        self.commit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A leaf (lock order 7): taken under the PFN lock or the commit lock; no
    /// lock but the event log's is taken under it. Never hold the guard across
    /// paging-file I/O (a slot freed under the PFN lock would wait for the disk).
    pub fn pagefiles_lock(&self) -> MutexGuard<'_, PagingFiles> {
        self.pagefiles.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts of paging I/O operations still to fail (each failing one takes one off).
#[derive(Default)]
pub struct Injected {
    pub pagefile_writes: AtomicU64,
    pub pagefile_reads: AtomicU64,
    /// Mapped page writer writes to a section's file.
    pub mapped_writes: AtomicU64,
    /// Hard faults reading a section's file.
    pub mapped_reads: AtomicU64,
}

impl Injected {
    /// True (and one fewer left) if the next operation of this kind is to fail.
    pub fn take(counter: &AtomicU64) -> bool {
        use std::sync::atomic::Ordering;
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Emits an event on machine `$m`'s trace if anyone is reading it.
#[macro_export]
macro_rules! mm_event {
    ($m:expr, $name:expr, $($fmt:tt)+) => {{
        let m = &$m;
        $crate::emit_event!(m.events, m.clock.now_ms(), $name, $($fmt)+);
    }};
}
