//! Mappings in one address space: a frame becoming valid in a PTE (private or
//! through a prototype PTE), the invalid PTE a shared page leaves behind, and
//! taking whatever a PTE holds away. Callers hold the address-space lock; the
//! `_locked` functions also the PFN lock (`st`).

use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, Mmpte, Pfn, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::machine::{ActivePage, Machine, PfnState, activate_locked};
use crate::mm::pfn::{PageLocation, PageUse};

use super::address_space::AddressSpace;
use super::page_tables::pte_va;
use super::working_set::{Wsle, WsleKind};

/// A frame about to become valid in this address space: the PTE at `loc`, for
/// the page at `va`, will map `pfn` with `protection`, Dirty if `dirty`.
#[derive(Clone, Copy, Debug)]
pub struct NewMapping {
    pub loc: EntryLoc,
    pub va: Va,
    pub pfn: Pfn,
    pub protection: Protection,
    pub dirty: bool,
}

impl NewMapping {
    /// The page holding `va` (any address in it), mapped by the PTE at `loc`.
    pub fn new(loc: EntryLoc, va: Va, pfn: Pfn, protection: Protection, dirty: bool) -> Self {
        NewMapping {
            loc,
            va: va.page_base(),
            pfn,
            protection,
            dirty,
        }
    }
}

/// A valid PTE for a private data page of user space with protection `p`.
pub fn data_pte(m: &Machine, pfn: Pfn, p: Protection, dirty: bool) -> Mmpte {
    valid_pte(m, pfn, p, dirty, true)
}

/// A valid PTE for a page of system space (pool, a kernel stack, a mapped
/// MDL): as `data_pte`, but kernel-mode only (the Owner bit clear, as
/// MiFillSystemPageDirectory and MmMapLockedPages make them).
pub fn system_data_pte(m: &Machine, pfn: Pfn, p: Protection, dirty: bool) -> Mmpte {
    valid_pte(m, pfn, p, dirty, false)
}

/// `data_pte` or `system_data_pte`, whichever `va` needs.
fn data_pte_at(m: &Machine, va: Va, pfn: Pfn, p: Protection, dirty: bool) -> Mmpte {
    let user = va.0 <= m.layout.highest_user_address();
    valid_pte(m, pfn, p, dirty, user)
}

fn valid_pte(m: &Machine, pfn: Pfn, p: Protection, dirty: bool, owner: bool) -> Mmpte {
    m.fmt.encode(&PteState::Valid(HardwarePte {
        pfn,
        write: p.allows_write() && !p.is_copy_on_write(),
        owner,
        accessed: true,
        dirty,
        copy_on_write: p.is_copy_on_write(),
        no_execute: !p.allows_execute() && m.fmt.arch() != Arch::X86,
        // MmProtectToPteMask: a PAGE_NOCACHE protection maps with PCD.
        cache_disable: p.is_nocache(),
        ..HardwarePte::default()
    }))
}

/// What a private page at `va` is used for: paged pool when it lies in the
/// paged pool range of system space (the System process's pageable pool
/// pages, faulted in and paged out like a process's), else process private.
pub fn private_use(m: &Machine, va: Va) -> PageUse {
    if m.layout.is_paged_pool(va.0) {
        return PageUse::PagedPool;
    }
    PageUse::ProcessPrivate
}

impl AddressSpace {
    /// Installs a new private page: the frame (just allocated, with its contents
    /// in place) becomes Active, valid in the PTE, and joins the working set.
    /// `original` is its backing: demand-zero (a new page) or the paging-file
    /// slot it was read from. Caller holds the PFN lock (`st`).
    pub fn install_private_locked(
        &mut self,
        m: &Machine,
        st: &mut PfnState,
        map: NewMapping,
        original: Mmpte,
    ) {
        let page = ActivePage {
            use_: private_use(m, map.va),
            owner: self.slot,
            pte_address: pte_va(m, map.va),
            original_pte: original,
            share: 1,
            ws_index: 0,
        };
        activate_locked(st, map.pfn, page);
        st.db.set_reference_count(map.pfn, 0);
        // A page with no copy in a paging file starts modified, so the modified
        // page writer writes it before it is reused (WRK: MiInitializePfn on
        // demand zero); one read from its slot is clean.
        let backed = matches!(m.fmt.decode(original), PteState::PageFile { .. });
        st.db.set_modified(map.pfn, !backed);
        self.map_valid_locked(m, st, map);
    }

    /// The last step of every fault that makes a private frame valid (demand zero,
    /// transition): the frame joins the working set, the PTE becomes valid, and the
    /// page table counts one more valid entry. The frame is already Active.
    pub fn map_valid_locked(&mut self, m: &Machine, st: &mut PfnState, map: NewMapping) {
        let ws_index = self.ws.insert(Wsle::new(
            map.va,
            map.pfn,
            map.protection,
            WsleKind::Private,
        ));
        st.db.set_share_count(map.pfn, 1);
        // One reference for the mapping; a cluster write still in flight holds
        // its own (the frame came back while being written).
        st.db.increment_reference(map.pfn);
        st.db.set_ws_index(map.pfn, ws_index);
        st.db.increment_share(map.loc.table);
        let pte = data_pte_at(m, map.va, map.pfn, map.protection, map.dirty);
        self.tables(m).write(map.loc, pte);
    }

    /// The last step of a fault that makes a prototype-backed frame valid in this
    /// process: a shared working-set entry, one more share of the frame (its
    /// first share takes the frame's reference), one more valid entry in the page
    /// table, and the valid PTE. Caller holds the PFN lock (`st`).
    pub fn map_shared_locked(&mut self, m: &Machine, st: &mut PfnState, map: NewMapping) {
        self.ws
            .insert(Wsle::new(map.va, map.pfn, map.protection, WsleKind::Shared));
        if st.db.increment_share(map.pfn) == 1 {
            st.db.increment_reference(map.pfn);
        }
        st.db.set_location(map.pfn, PageLocation::Active);
        st.db.increment_share(map.loc.table);
        if map.dirty {
            m.mark_shared_dirty_locked(st, map.pfn);
        }
        let pte = data_pte_at(m, map.va, map.pfn, map.protection, map.dirty);
        self.tables(m).write(map.loc, pte);
    }

    /// The working-set index of the valid page `pfn` at `va`: a private page's
    /// WsIndex, or the shared entry found by address.
    pub fn ws_index_of(&self, st: &PfnState, va: Va, pfn: Pfn) -> Option<u32> {
        let index = if st.db.prototype(pfn) {
            self.ws.shared_index(va)?
        } else {
            st.db.ws_index(pfn)
        };
        self.ws
            .get(index)
            .filter(|e| e.pfn == pfn && e.va == va.page_base())
            .map(|_| index)
    }

    /// The invalid PTE a trimmed or unmapped shared page leaves behind: a pointer
    /// to its prototype PTE. The address form means "the prototype PTE's
    /// protection"; a page whose protection differs takes the form that finds
    /// the prototype PTE through the VAD and keeps its own protection (NT does
    /// the same where the x86 format has no room for both).
    pub fn proto_pointer_pte(
        &self,
        m: &Machine,
        st: &PfnState,
        va: Va,
        pfn: Pfn,
        protection: Protection,
    ) -> Mmpte {
        let address = st.db.pte_address(pfn);
        let proto_protection = m.fmt.protection_of_original(st.db.original_pte(pfn));
        // The VAD-lookup form only finds pages of the view's own section (a
        // fork's clone page inside a view must keep its address).
        let owner = st
            .segments
            .locate_address(address)
            .and_then(|at| st.segments.owner(at));
        let in_view = self
            .vads
            .find(va.vpn())
            .and_then(|v| v.section.as_ref())
            .is_some_and(|s| Some(s.id) == owner);
        let state = if protection == proto_protection || !in_view {
            PteState::Prototype {
                proto_pte: Some(address),
                protection: Protection::ZERO_ACCESS,
            }
        } else {
            PteState::Prototype {
                proto_pte: None,
                protection,
            }
        };
        m.fmt.encode(&state)
    }

    /// Frees whatever page the PTE at `loc` (for `va`) holds and writes `new`
    /// into the PTE: a private page (valid, in transition or in a paging file) is
    /// freed; a shared page loses this mapping; a pointer into a fork's clone
    /// block drops its reference. Returns true if the PTE held a committed page
    /// state (valid, transition, demand-zero or pagefile).
    pub fn delete_pte(&mut self, m: &Machine, loc: EntryLoc, va: Va, new: Mmpte) -> bool {
        let tables = self.tables(m);
        let mut st = m.pfn_lock();
        let raw = tables.read(loc);
        let committed = match m.fmt.decode(raw) {
            PteState::Valid(h) if st.db.prototype(h.pfn) => {
                if let Some(index) = self.ws.shared_index(va) {
                    self.ws
                        .remove(index)
                        .filter(|e| e.locked)
                        .inspect(|_| m.uncharge_resident(1));
                }
                st.db.decrement_share(loc.table);
                let at = m.proto_of_locked(&st, h.pfn);
                m.release_shared_locked(&mut st, h.pfn, h.dirty);
                if let Some(at) = at {
                    m.clone_dereference_locked(&mut st, at);
                }
                true
            }
            PteState::Valid(h) if st.db.page_use(h.pfn) == PageUse::Awe => {
                // An AWE page (MiRemoveUserPhysicalPagesVad): unmapped, it
                // stays the process's until FreeUserPhysicalPages or exit.
                super::awe::awe_unmapped_locked(&mut st, h.pfn);
                st.db.decrement_share(loc.table);
                false
            }
            PteState::Valid(h) => {
                if h.dirty {
                    // Decommit of a written write-watch page: its write is
                    // still reported (release drops the VAD and its bits
                    // with it). WRK's MiDecommitPages drops the dirty bit
                    // uncaptured; mmfs keeps it, so the answer does not
                    // depend on whether the page had been trimmed first.
                    self.vads.capture_write_watch(va.vpn());
                }
                let index = st.db.ws_index(h.pfn);
                if let Some(e) = self.ws.remove(index) {
                    debug_assert_eq!(e.pfn, h.pfn);
                    if e.locked {
                        // NtLockVirtualMemory's resident charge (vm/lock.rs).
                        m.uncharge_resident(1);
                    }
                }
                st.db.decrement_share(loc.table);
                m.release_frame_locked(&mut st, h.pfn);
                self.private_pages -= 1;
                true
            }
            PteState::Transition { pfn, .. } => {
                m.release_frame_locked(&mut st, pfn);
                self.private_pages -= 1;
                true
            }
            PteState::PageFile { file, slot, .. } => {
                m.pagefiles_lock().release(file, slot);
                self.private_pages -= 1;
                true
            }
            PteState::Prototype {
                proto_pte: Some(address),
                ..
            } => {
                if let Some(at) = st.segments.locate_address(address) {
                    m.clone_dereference_locked(&mut st, at);
                }
                true
            }
            PteState::DemandZero { .. } | PteState::Prototype { .. } => true,
            _ => false,
        };
        tables.write(loc, new);
        committed
    }
}
