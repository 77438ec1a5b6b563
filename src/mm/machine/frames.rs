//! The shared transitions of a frame, as WRK's `pfnlist.c` and `pfndec.c` keep
//! them in one place: taking a frame off the lists for a new use (repurposing a
//! standby page on the way), setting it up, releasing a mapping of it, and
//! putting it back on the free list (the module docs of `machine` list the
//! transitions kept elsewhere). Every function here is called with the PFN lock
//! held (`st`) and takes no lock but the leaves: the paging-file lock (a slot
//! released), the wake-up lock (the writers, the working-set manager and the
//! zero page thread woken) and the event log's (a repurpose recorded).

use crate::mm::base::counters::bump;
use crate::mm::base::types::{Mmpte, Pfn, PteAddress};
use crate::mm::base::wakeups::SystemThread;
use crate::mm::hw::pagetable::PageTables;
use crate::mm::hw::pte::PteState;
use crate::mm::pfn::{DEFAULT_PRIORITY, PageLocation, PageUse};

use super::{Machine, PfnState};

/// How much of the page an access covers. A write that replaces every byte
/// of the page before its caller lets go of the address-space lock lets a
/// demand-zero fault skip the memset: the zeroes would be overwritten before
/// any thread could read them (see `Machine::zero_new_page`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Extent {
    Part,
    WholePage,
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

/// What a frame becomes when `activate_locked` sets it up.
#[derive(Clone, Copy, Debug)]
pub struct ActivePage {
    pub use_: PageUse,
    /// The owner slot (0 for none: a prototype frame).
    pub owner: u16,
    /// The virtual address of the PTE that maps it (PteAddress).
    pub pte_address: PteAddress,
    /// What the PTE becomes when the frame leaves memory (OriginalPte).
    pub original_pte: Mmpte,
    pub share: u32,
    pub ws_index: u32,
}

/// Sets up a frame that just left the lists for a new use: Active, with its use,
/// owner, PTE address, OriginalPte, ShareCount and WsIndex, one reference.
pub fn activate_locked(st: &mut PfnState, pfn: Pfn, page: ActivePage) {
    st.db.set_location(pfn, PageLocation::Active);
    st.db.set_page_use(pfn, page.use_);
    st.db.set_owner(pfn, page.owner);
    st.db.set_pte_address(pfn, page.pte_address);
    st.db.set_original_pte(pfn, page.original_pte);
    st.db.set_share_count(pfn, page.share);
    st.db.set_reference_count(pfn, 1);
    st.db.set_ws_index(pfn, page.ws_index);
}

impl Machine {
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
                st.db.set_original_pte(pfn, Mmpte::ZERO);
                st.db.insert(pfn, PageLocation::Bad);
                continue;
            }
            break (pfn, from);
        };
        Some(self.claim_locked(st, pfn, from, need))
    }

    /// `allocate_locked` for one chosen page (MiAllocatePagesForMdl picks its
    /// pages by frame number): `pfn` must be on the zeroed, free or standby
    /// list and not marked bad. `None` (nothing changed) otherwise.
    pub fn take_page_locked(&self, st: &mut PfnState, pfn: Pfn, need: PageNeed) -> Option<NewPage> {
        let on_list = matches!(
            st.db.location(pfn),
            Some(PageLocation::Zeroed | PageLocation::Free | PageLocation::Standby)
        );
        if !on_list || st.db.in_page_error(pfn) {
            return None;
        }
        let from = st.db.unlink(pfn)?;
        Some(self.claim_locked(st, pfn, from, need))
    }

    /// A frame just unlinked from list `from` for a new use: a standby page is
    /// repurposed (its owner's PTE restored from OriginalPte), the frame is
    /// zeroed if asked, and what it was is cleared. It stays in Transition, on
    /// no list. `allocate_locked`'s second half, and MiFindLargePageMemory's
    /// for each frame of a large page's run (`large_pages.rs`).
    pub(super) fn claim_locked(
        &self,
        st: &mut PfnState,
        pfn: Pfn,
        from: PageLocation,
        need: PageNeed,
    ) -> NewPage {
        if from == PageLocation::Standby {
            bump(&self.counters.pages_repurposed);
            let priority = st.db.priority(pfn) as usize;
            if let Some(c) = self.counters.repurposed_by_priority.get(priority) {
                bump(c);
            }
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
        st.db.set_original_pte(pfn, Mmpte::ZERO);
        st.db.set_modified(pfn, false);
        st.db.set_prototype(pfn, false);
        st.db.set_in_page_error(pfn, false);
        st.db.set_deleted(pfn, false);
        st.db.set_priority(pfn, DEFAULT_PRIORITY);
        self.note_allocation_locked(st);
        NewPage {
            pfn,
            from,
            must_zero: unzeroed && need == PageNeed::ZeroedByCaller,
        }
    }

    /// The zeroing a `PageNeed::ZeroedByCaller` allocation left to its caller,
    /// done with the PFN lock released (the caller still holds the address-space
    /// lock that keeps the page to itself). With `Extent::WholePage` the caller
    /// is about to write every byte, so the memset is a dead store and is
    /// skipped; the page still counts as zeroed, as NT zeroes it.
    pub fn zero_new_page(&self, page: &NewPage, extent: Extent) {
        if !page.must_zero {
            return;
        }
        if extent == Extent::Part {
            self.phys.zero(page.pfn);
        }
        bump(&self.counters.pages_zeroed);
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
            self.wakeups.wake(SystemThread::ModifiedPageWriter);
        }
        if available < self.thresholds.plenty_free {
            self.wakeups.wake(SystemThread::WorkingSetManager);
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
        let pte_va = st.db.pte_address(pfn);
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
                if matches!(self.fmt.decode(original), PteState::DemandZero { .. })
                    && let Some(Some(o)) = st.owners.get_mut(owner as usize)
                {
                    // A page MEM_RESET discarded: it is no longer a private page.
                    o.discarded_private += 1;
                }
            }
        }
    }

    /// Releases the paging-file slot a frame's OriginalPte names, if any, and
    /// leaves OriginalPte in the slot-less (demand-zero) form with the same
    /// protection: the frame's contents changed, so the copy on disk is stale.
    pub fn release_backing_locked(&self, st: &mut PfnState, pfn: Pfn) {
        // Most frames have no slot (a file page's original PTE is a
        // subsection PTE): a look at the bits first, the decode only for a
        // slot (every first write to a cached page comes here).
        if !self.fmt.is_page_file(st.db.original_pte(pfn)) {
            return;
        }
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
        st.db.set_pte_address(pfn, PteAddress(0));
        st.db.set_original_pte(pfn, Mmpte::ZERO);
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
            self.wakeups.wake(SystemThread::ZeroPageThread);
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
}
