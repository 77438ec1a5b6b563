//! The machine: physical memory, the PFN database behind the PFN lock, commit,
//! paging files, counters, the clock and the event trace — everything that is not
//! one process's.
//!
//! # The PFN lock
//!
//! `Machine::pfn` is NT's PFN lock: it protects the PFN database, the owner table
//! and every *transition* PTE (a PTE that names a frame on a list). Only the
//! paging-file lock and the event log's locks (leaves) are taken while it is held,
//! so any code holding a process's address-space lock may take it.

use std::sync::{Mutex, MutexGuard};

use super::clock::Clock;
use super::counters::{SystemCounters, bump};
use super::events::EventLog;
use super::layout::Layout;
use super::pagefile::PagingFiles;
use super::pagetable::PageTables;
use super::pfn::{PageLocation, PageUse, PfnDatabase};
use super::physmem::PhysicalMemory;
use super::process::Pid;
use super::pte::{PteFormat, PteState};
use super::threads::Wakeups;
use super::types::{Pfn, Va};

/// Who owns frames tagged with an owner slot: enough to find their PTEs while only
/// the PFN lock is held (repurposing a standby page rewrites its old owner's PTE).
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub pid: Pid,
    pub dtb: Pfn,
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
    pub segments: super::section::Segments,
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

/// Commit charge, system-wide (in pages).
#[derive(Clone, Copy, Debug, Default)]
pub struct CommitState {
    pub total: u64,
    pub peak: u64,
    pub limit: u64,
    /// The part of the limit that RAM gives (RAM minus the resident reserve); the
    /// paging files add their current sizes on top.
    pub ram_part: u64,
}

impl CommitState {
    /// The limit follows the paging files' current sizes (facts §7): RAM less the
    /// reserve, plus each file's size less its unusable slot 0.
    pub fn follow(&mut self, pagefiles: &PagingFiles) {
        self.limit = self.ram_part + pagefiles.commit_pages();
    }
}

/// Frames the memory manager keeps back from the commit limit (NT subtracts a
/// resident reserve from RAM; WRK's is of this order on small machines).
pub const COMMIT_RAM_RESERVE: u64 = 64;

/// A pagefile grows by at least this much when a charge hits the limit (facts §7:
/// "by ≥ 16 MB, falling back to ≥ 1 MB").
pub const PAGEFILE_GROWTH_PAGES: u64 = 4096;

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
    /// The PFN lock. Innermost but for the leaves below.
    pub pfn: Mutex<PfnState>,
    /// Commit charge; taken alone or under an address-space lock, never with `pfn`.
    pub commit: Mutex<CommitState>,
    /// The paging files (a leaf: taken under the PFN lock or the commit lock, and
    /// nothing is taken while it is held). File I/O happens outside it.
    pub pagefiles: Mutex<PagingFiles>,
    pub counters: SystemCounters,
    pub events: EventLog,
    pub thresholds: Thresholds,
    /// Wake requests for the system threads (atomics and a condvar; a leaf).
    pub wakeups: Wakeups,
    /// Paging I/O failures to simulate (`inject`), for testing the error paths.
    pub injected: Injected,
    /// Available pages as of the last allocation: the fault path's "is memory
    /// short?" test reads it without taking the PFN lock a second time.
    pub available_hint: std::sync::atomic::AtomicU64,
    /// When the mapped page writer's five-minute timer fires (simulated ms);
    /// 0 = not armed.
    pub mapped_write_due_ms: std::sync::atomic::AtomicU64,
    /// Paging-file cluster writes failed since the last one that succeeded: the
    /// first failure of a run is logged, the rest only counted.
    pub pagefile_write_failures_in_a_row: std::sync::atomic::AtomicU64,
    /// The working-set minimums of every live process, in pages: what NT takes
    /// from MmResidentAvailablePages when it creates an address space and when
    /// a minimum is raised (MmAdjustWorkingSetSize), so that the pages every
    /// process may keep (and lock) can always be resident together.
    pub ws_minimums: std::sync::atomic::AtomicU64,
}

/// Counts of paging I/O operations still to fail (each failing one takes one off).
#[derive(Default)]
pub struct Injected {
    pub pagefile_writes: std::sync::atomic::AtomicU64,
    pub pagefile_reads: std::sync::atomic::AtomicU64,
    /// Mapped page writer writes to a section's file.
    pub mapped_writes: std::sync::atomic::AtomicU64,
    /// Hard faults reading a section's file.
    pub mapped_reads: std::sync::atomic::AtomicU64,
}

impl Injected {
    /// True (and one fewer left) if the next operation of this kind is to fail.
    pub fn take(counter: &std::sync::atomic::AtomicU64) -> bool {
        use std::sync::atomic::Ordering;
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// What a new page must hold when the allocator hands it over.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PageNeed {
    /// Anything: the caller overwrites every byte (a page read in from a file).
    Any,
    /// Zeroes, written by the allocator (under the PFN lock) unless the page
    /// comes from the zeroed list.
    Zeroed,
    /// Zeroes, written by the caller after it drops the PFN lock, as WRK's
    /// MiResolveDemandZeroFault does (MiInitializePfn, UNLOCK_PFN, then
    /// MiZeroPhysicalPage): 4 KiB of stores no longer hold up every other
    /// fault. Only for a page nothing else can reach before the caller zeroes
    /// it: a private page whose PTE is made valid under its address-space lock,
    /// held until the zeroing is done (see `Machine::zero_new_page`).
    ZeroedByCaller,
}

impl PageNeed {
    fn zeroed(self) -> bool {
        self != PageNeed::Any
    }
}

/// A frame taken off a list for a new use, not yet set up.
pub struct NewPage {
    pub pfn: Pfn,
    pub from: PageLocation,
    /// `PageNeed::ZeroedByCaller` only: the frame still holds its old bytes.
    pub must_zero: bool,
}

/// Emits an event on machine `$m`'s trace if anyone is reading it.
#[macro_export]
macro_rules! mm_event {
    ($m:expr, $name:expr, $($fmt:tt)+) => {{
        let m = &$m;
        $crate::emit_event!(m.events, m.clock.now_ms(), $name, $($fmt)+);
    }};
}

impl Machine {
    pub fn pfn_lock(&self) -> MutexGuard<'_, PfnState> {
        self.pfn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn commit_lock(&self) -> MutexGuard<'_, CommitState> {
        self.commit.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn pagefiles_lock(&self) -> MutexGuard<'_, PagingFiles> {
        self.pagefiles.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a page in NT's order (need zeroed: zeroed, free, standby; else free,
    /// zeroed, standby). A free page is zeroed now if asked; a standby page is
    /// repurposed: its old owner's PTE is restored from OriginalPte first.
    /// The page is left in Transition, on no list; the caller makes it Active.
    /// `None` when no page is available: the caller reclaims (see
    /// `AddressSpace::obtain_page`) and tries again.
    pub fn allocate_locked(&self, st: &mut PfnState, need: PageNeed) -> Option<NewPage> {
        let (pfn, from) = loop {
            let (pfn, from) = st.db.remove_any(need.zeroed())?;
            if st.db.in_page_error(pfn) {
                // A standby page marked bad: its owner's PTE goes back to the
                // paging file form, and the frame is retired instead of reused.
                if from == PageLocation::Standby {
                    self.restore_owner_pte_locked(st, pfn);
                }
                st.db.set_original_pte(pfn, 0);
                st.db.insert(pfn, PageLocation::Bad);
                continue;
            }
            break (pfn, from);
        };
        if from == PageLocation::Standby {
            bump(&self.counters.pages_repurposed);
            self.restore_owner_pte_locked(st, pfn);
            crate::mm_event!(self, "page.repurposed", "pfn={:#x}", pfn.0);
        }
        let unzeroed = need.zeroed() && from != PageLocation::Zeroed;
        if unzeroed && need == PageNeed::Zeroed {
            self.phys.zero(pfn);
            bump(&self.counters.pages_zeroed);
        }
        // The old owner's PTE now holds the backing (pagefile slot); the frame
        // keeps none, so freeing it unused releases nothing.
        st.db.set_original_pte(pfn, 0);
        st.db.set_modified(pfn, false);
        st.db.set_prototype(pfn, false);
        st.db.set_in_page_error(pfn, false);
        st.db.set_deleted(pfn, false);
        st.db.set_priority(pfn, super::pfn::DEFAULT_PRIORITY);
        self.note_allocation_locked(st);
        Some(NewPage {
            pfn,
            from,
            must_zero: unzeroed && need == PageNeed::ZeroedByCaller,
        })
    }

    /// The zeroing a `PageNeed::ZeroedByCaller` allocation left to its caller,
    /// done with the PFN lock released (the caller still holds the address-space
    /// lock that keeps the page to itself). With `Extent::WholePage` the caller
    /// is about to write every byte, so the memset is a dead store and is
    /// skipped; the page still counts as zeroed, as NT zeroes it.
    pub fn zero_new_page(&self, page: &NewPage, extent: super::fault::Extent) {
        if !page.must_zero {
            return;
        }
        if extent == super::fault::Extent::Part {
            self.phys.zero(page.pfn);
        }
        bump(&self.counters.pages_zeroed);
    }

    /// A page, writing modified pages inline while none is available (each
    /// cluster written turns modified pages into standby pages, which are
    /// available). Returned with the PFN lock still held, so the caller sets the
    /// page up in the same hold (one lock round trip per fault). `None` when
    /// nothing is available and nothing could be written.
    pub fn obtain_page_without_trim(
        &self,
        need: PageNeed,
    ) -> Option<(MutexGuard<'_, PfnState>, NewPage)> {
        loop {
            let mut st = self.pfn_lock();
            if let Some(p) = self.allocate_locked(&mut st, need) {
                return Some((st, p));
            }
            drop(st);
            if self.write_modified_cluster().written == 0
                && super::section::writer::write_mapped_cluster(self).written == 0
            {
                return None;
            }
        }
    }

    /// After an allocation: wake the threads whose conditions now hold (WRK wakes
    /// the modified page writer from the allocator when available pages run low
    /// or the modified list is long).
    fn note_allocation_locked(&self, st: &PfnState) {
        let modified = st.db.list_count(PageLocation::Modified);
        let available = st.db.available();
        self.available_hint
            .store(available, std::sync::atomic::Ordering::Relaxed);
        if modified >= self.thresholds.modified_maximum
            || (available < self.thresholds.minimum_free && modified > 0)
        {
            self.wakeups
                .wake(super::threads::SystemThread::ModifiedPageWriter);
        }
        if available < self.thresholds.plenty_free {
            self.wakeups
                .wake(super::threads::SystemThread::WorkingSetManager);
        }
    }

    /// A standby page is about to be reused: the transition PTE still naming it
    /// gets its OriginalPte back (pagefile form), so the old owner's next touch is
    /// a hard fault rather than a read of someone else's data.
    pub fn restore_owner_pte_locked(&self, st: &mut PfnState, pfn: Pfn) {
        if st.db.prototype(pfn) {
            // A section's page: the prototype PTE takes its OriginalPte back (a
            // subsection, paging-file or demand-zero PTE), and the control area
            // has one page fewer in memory.
            if let Some(at) = self.proto_of_locked(st, pfn) {
                let raw = st.segments.read(at);
                if self.fmt.pfn(raw) == Some(pfn) && !self.fmt.is_valid(raw) {
                    st.segments.write(at, st.db.original_pte(pfn));
                    if let Some(area) = st
                        .segments
                        .owner(at)
                        .and_then(|ca| st.segments.control_area_mut(ca))
                    {
                        area.pfn_references -= 1;
                    }
                }
            }
            return;
        }
        let owner = st.db.owner(pfn);
        let pte_va = Va(st.db.pte_address(pfn));
        let original = st.db.original_pte(pfn);
        let Some(o) = st.owner(owner) else { return };
        let Some(va) = self.fmt.va_of_pte(pte_va) else {
            return;
        };
        let tables = PageTables::new(&self.fmt, &self.phys, o.dtb);
        if let Some(loc) = tables.leaf(va) {
            let raw = tables.read(loc);
            if self.fmt.pfn(raw) == Some(pfn) && !self.fmt.is_valid(raw) {
                tables.write(loc, original);
            }
        }
    }

    /// Releases the paging-file slot a frame's OriginalPte names, if any, and
    /// leaves OriginalPte in the slot-less (demand-zero) form with the same
    /// protection: the frame's contents changed, so the copy on disk is stale.
    pub fn release_backing_locked(&self, st: &mut PfnState, pfn: Pfn) {
        if let PteState::PageFile {
            file,
            slot,
            protection,
        } = self.fmt.decode(st.db.original_pte(pfn))
        {
            self.pagefiles_lock().release(file, slot);
            st.db
                .set_original_pte(pfn, self.fmt.encode(&PteState::DemandZero { protection }));
        }
    }

    /// Returns an Active/Transition page to the free list, clearing what it was and
    /// releasing its paging-file slot.
    pub fn free_page_locked(&self, st: &mut PfnState, pfn: Pfn) {
        self.release_backing_locked(st, pfn);
        st.db.set_share_count(pfn, 0);
        st.db.set_ws_index(pfn, 0);
        st.db.set_reference_count(pfn, 0);
        st.db.set_pte_address(pfn, 0);
        st.db.set_original_pte(pfn, 0);
        st.db.set_modified(pfn, false);
        st.db.set_deleted(pfn, false);
        st.db.set_page_use(pfn, PageUse::Unused);
        st.db.set_owner(pfn, 0);
        let bad = st.db.in_page_error(pfn);
        st.db.insert(
            pfn,
            if bad {
                PageLocation::Bad
            } else {
                PageLocation::Free
            },
        );
        if st.db.list_count(PageLocation::Free) >= self.thresholds.zero_wake {
            self.wakeups
                .wake(super::threads::SystemThread::ZeroPageThread);
        }
    }

    /// A mapping of an Active or in-transition frame went away (its PTE now says
    /// something else). With no I/O in flight the frame is freed; otherwise it is
    /// marked deleted and the I/O's completion frees it (WRK: MiDecrementReferenceCount
    /// with PteAddress marked deleted).
    pub fn release_frame_locked(&self, st: &mut PfnState, pfn: Pfn) {
        let location = st.db.location(pfn);
        if location.is_some_and(PageLocation::is_list) {
            st.db.unlink(pfn);
            self.free_page_locked(st, pfn);
            return;
        }
        // Off the lists, u1/u2 are WsIndex/ShareCount (on a list they are links).
        st.db.set_share_count(pfn, 0);
        st.db.set_ws_index(pfn, 0);
        let references = if location == Some(PageLocation::Active) {
            st.db.decrement_reference(pfn)
        } else {
            st.db.reference_count(pfn)
        };
        if references == 0 {
            self.free_page_locked(st, pfn);
        } else {
            if location == Some(PageLocation::Active) {
                st.db.set_location(pfn, PageLocation::Transition);
            }
            st.db.set_deleted(pfn, true);
        }
    }

    /// Charges `pages` of commit. At the limit, the paging files grow first (by at
    /// least 16 MB, else by what is needed, up to their maximums); then the charge
    /// fails with STATUS_COMMITMENT_LIMIT.
    pub fn charge_commit(&self, pages: u64) -> super::MmResult<()> {
        let mut c = self.commit_lock();
        let want = c.total.saturating_add(pages);
        if want > c.limit {
            let need = want - c.limit;
            let mut pf = self.pagefiles_lock();
            if c.ram_part + pf.maximum_commit_pages() < want {
                // Not even the paging files at their maximum would do: fail
                // without growing them for nothing.
                drop(pf);
                return Err(mm_err!(
                    COMMITMENT_LIMIT,
                    "committing {pages} more pages would take the commit charge to {want} pages, above the commit limit of {} pages even with the paging files at their maximum size",
                    c.limit
                ));
            }
            let added = pf.extend(need.max(PAGEFILE_GROWTH_PAGES));
            c.follow(&pf);
            drop(pf);
            if added > 0 {
                crate::mm_event!(self, "pagefile.extend", "pages={added} limit={}", c.limit);
            }
        }
        if want > c.limit {
            return Err(mm_err!(
                COMMITMENT_LIMIT,
                "committing {pages} more pages would take the commit charge to {want} pages, above the commit limit of {} pages (the paging files are at their maximum size)",
                c.limit
            ));
        }
        c.total = want;
        c.peak = c.peak.max(want);
        if c.total * 10 > c.limit * 9 {
            // Above 90% use: the segment dereference thread extends toward 85%.
            self.wakeups
                .wake(super::threads::SystemThread::SegmentDereference);
        }
        Ok(())
    }

    pub fn uncharge_commit(&self, pages: u64) {
        let mut c = self.commit_lock();
        debug_assert!(c.total >= pages, "commit underflow");
        c.total = c.total.saturating_sub(pages);
        if c.total * 10 < c.limit * 8 {
            self.wakeups
                .wake(super::threads::SystemThread::SegmentDereference);
        }
    }

    /// Recomputes the commit limit after the paging files changed size.
    pub fn refresh_commit_limit(&self) {
        let mut c = self.commit_lock();
        c.follow(&self.pagefiles_lock());
    }
}
