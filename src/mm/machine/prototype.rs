//! The life of a prototype-backed frame under the PFN lock: how it becomes
//! valid in a prototype PTE, how mappings come and go (ShareCount), where it
//! goes when the last one leaves (NT: MiDecrementShareCount for prototype
//! frames), and how a fork's clone block gives its page up when its last
//! reference goes. Every function here is called with the PFN lock held (`st`).

use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, Mmpte, Pfn};
use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::segment::{Backing, ProtoLoc};

use super::{Machine, PfnState};

/// The five-minute rule: a mapped-file page that reaches the modified list is
/// written at the latest this long after (WRK's mapped-file write timer).
pub const MAPPED_WRITE_DELAY_MS: u64 = 300_000;

impl Machine {
    /// The protection a prototype PTE grants: its own field, or for a valid one
    /// the frame's OriginalPte (a valid PTE has no protection bits).
    pub fn proto_protection_locked(&self, st: &PfnState, raw: Mmpte) -> Protection {
        match self.fmt.decode_prototype(raw) {
            PteState::Valid(h) => self.fmt.protection_of_original(st.db.original_pte(h.pfn)),
            PteState::Transition { protection, .. }
            | PteState::DemandZero { protection }
            | PteState::PageFile { protection, .. }
            | PteState::Subsection { protection, .. } => protection,
            _ => Protection::ZERO_ACCESS,
        }
    }

    /// The valid prototype PTE for `pfn` with protection `p` (never dirty: a
    /// prototype PTE's dirty state is the frame's Modified flag).
    pub fn valid_proto_pte(&self, pfn: Pfn, p: Protection) -> Mmpte {
        self.fmt.encode(&PteState::Valid(HardwarePte {
            pfn,
            write: p.allows_write() && !p.is_copy_on_write(),
            owner: true,
            accessed: true,
            no_execute: !p.allows_execute() && self.fmt.arch() != Arch::X86,
            ..HardwarePte::default()
        }))
    }

    /// Sets up a frame just taken off the lists as the page of prototype PTE
    /// `at`, whose contents it will hold; `original` is the prototype PTE's
    /// current (invalid) value, restored if the frame is ever repurposed.
    pub fn activate_proto_locked(
        &self,
        st: &mut PfnState,
        pfn: Pfn,
        at: ProtoLoc,
        original: Mmpte,
    ) {
        let address = st.segments.address(at);
        let use_ = match st
            .segments
            .owner(at)
            .and_then(|ca| st.segments.control_area(ca))
            .map(|ca| &ca.backing)
        {
            Some(Backing::File { .. }) => PageUse::MappedFile,
            _ => PageUse::Shareable,
        };
        st.db.set_location(pfn, PageLocation::Transition);
        st.db.set_page_use(pfn, use_);
        st.db.set_owner(pfn, 0);
        st.db.set_pte_address(pfn, address);
        st.db.set_original_pte(pfn, original);
        st.db.set_share_count(pfn, 0);
        st.db.set_ws_index(pfn, 0);
        st.db.set_reference_count(pfn, 0);
        st.db.set_prototype(pfn, true);
        if let Some(area) = st
            .segments
            .owner(at)
            .and_then(|ca| st.segments.control_area_mut(ca))
        {
            area.pfn_references += 1;
        }
    }

    /// The prototype PTE a prototype frame belongs to.
    pub fn proto_of_locked(&self, st: &PfnState, pfn: Pfn) -> Option<ProtoLoc> {
        st.segments.locate_address(st.db.pte_address(pfn))
    }

    /// A write reached a prototype frame (a process PTE became dirty): the
    /// frame is modified, and a paging-file copy it had is stale.
    pub fn mark_shared_dirty_locked(&self, st: &mut PfnState, pfn: Pfn) {
        if !st.db.modified(pfn) {
            st.db.set_modified(pfn, true);
            self.release_backing_locked(st, pfn);
        }
    }

    /// One process PTE stopped mapping prototype frame `pfn` (trim, unmap,
    /// copy-on-write). `dirty` is that PTE's Dirty bit. When the last mapping
    /// goes, the prototype PTE becomes a transition PTE and the frame goes to
    /// the modified, modified-no-write or standby list.
    pub fn release_shared_locked(&self, st: &mut PfnState, pfn: Pfn, dirty: bool) {
        if dirty {
            self.mark_shared_dirty_locked(st, pfn);
        }
        if st.db.decrement_share(pfn) > 0 {
            return;
        }
        if let Some(at) = self.proto_of_locked(st, pfn) {
            let protection = self.fmt.protection_of_original(st.db.original_pte(pfn));
            st.segments.write(
                at,
                self.fmt.encode(&PteState::Transition { pfn, protection }),
            );
        }
        st.db.set_ws_index(pfn, 0);
        if st.db.decrement_reference(pfn) == 0 {
            self.place_unreferenced_proto_locked(st, pfn);
        } else {
            // I/O still holds it; its completion places it.
            st.db.set_location(pfn, PageLocation::Transition);
        }
    }

    /// A prototype frame (in Transition, no references) goes to its list:
    /// modified pages to the modified list, or to the modified-no-write list
    /// while its section's writing is disabled; clean ones to standby. A deleted
    /// frame (its control area is gone) is freed.
    pub fn place_unreferenced_proto_locked(&self, st: &mut PfnState, pfn: Pfn) {
        if st.db.deleted(pfn) {
            self.free_page_locked(st, pfn);
            return;
        }
        if !st.db.modified(pfn) {
            st.db.insert(pfn, PageLocation::Standby);
            return;
        }
        let mapped = self.is_mapped_file_page_locked(st, pfn);
        let no_write = mapped
            && self
                .proto_of_locked(st, pfn)
                .and_then(|at| st.segments.owner(at))
                .and_then(|ca| st.segments.control_area(ca))
                .is_some_and(|ca| ca.no_modified_writing);
        if no_write {
            st.db.insert(pfn, PageLocation::ModifiedNoWrite);
        } else {
            st.db.insert(pfn, PageLocation::Modified);
            if mapped {
                self.arm_mapped_write_timer();
            }
        }
    }

    /// True for a frame whose backing store is a mapped file (NT: OriginalPte
    /// has the Prototype bit, i.e. it is a subsection PTE).
    pub fn is_mapped_file_page_locked(&self, st: &PfnState, pfn: Pfn) -> bool {
        st.db.prototype(pfn)
            && matches!(
                self.fmt.decode_prototype(st.db.original_pte(pfn)),
                PteState::Subsection { .. }
            )
    }

    /// A process PTE that referred to prototype PTE `at` no longer does. For a
    /// clone block that is one reference fewer; the last one frees its page and
    /// slot, and the last block of a clone control area takes the area with it.
    /// Prototype PTEs of sections are not counted this way (their views are).
    pub fn clone_dereference_locked(&self, st: &mut PfnState, at: ProtoLoc) {
        let Some(ca) = st.segments.owner(at) else {
            return;
        };
        let index = st.segments.index(at) as usize;
        let Some(area) = st.segments.control_area_mut(ca) else {
            return;
        };
        if !area.is_clone() {
            return;
        }
        let Some(refs) = area.clone_refs.get_mut(index) else {
            return;
        };
        debug_assert!(
            *refs > 0,
            "clone block {index} of control area {ca} underflow"
        );
        *refs = refs.saturating_sub(1);
        if *refs > 0 {
            return;
        }
        let raw = st.segments.read(at);
        match self.fmt.decode_prototype(raw) {
            PteState::Transition { pfn, .. } => {
                if let Some(area) = st.segments.control_area_mut(ca) {
                    area.pfn_references -= 1;
                }
                if st.db.location(pfn).is_some_and(PageLocation::is_list) {
                    st.db.unlink(pfn);
                    self.free_page_locked(st, pfn);
                } else {
                    // I/O in flight holds it; its completion frees it.
                    st.db.set_deleted(pfn, true);
                }
            }
            PteState::PageFile { file, slot, .. } => {
                self.pagefiles_lock().release(file, slot);
            }
            _ => {}
        }
        st.segments.write(at, Mmpte::ZERO);
        if st
            .segments
            .control_area(ca)
            .is_some_and(|a| a.unreferenced())
        {
            st.segments.remove_control_area(ca);
        }
    }

    /// Arms the five-minute timer if it is not armed.
    pub fn arm_mapped_write_timer(&self) {
        use std::sync::atomic::Ordering;
        let due = self.clock.now_ms() + MAPPED_WRITE_DELAY_MS;
        let _ =
            self.mapped_write_due_ms
                .compare_exchange(0, due, Ordering::AcqRel, Ordering::Acquire);
    }
}
