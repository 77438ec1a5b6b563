//! NtProtectVirtualMemory, and the protection of one committed page.

use crate::mm::base::protection::Protection;
use crate::mm::base::status::{MmResult, NtStatus, WithStatus};
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Vpn};
use crate::mm::fault::privatize_clone_page;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::data_pte;
use crate::mm::vad::{self, ProtectCheck};

/// Protection a committed page has now, from its PTE (or its VAD for a zero PTE).
pub(super) fn page_protection(m: &Machine, space: &AddressSpace, vpn: Vpn) -> Option<Protection> {
    let tables = space.tables(m);
    let loc = tables.leaf(vpn.va());
    let raw = loc.map_or(Mmpte::ZERO, |l| tables.read(l));
    match m.fmt.decode(raw) {
        PteState::Valid(h) => {
            let st = m.pfn_lock();
            let index = space.ws_index_of(&st, vpn.va(), h.pfn)?;
            space.ws.get(index).map(|e| e.protection)
        }
        PteState::Transition { protection, .. }
        | PteState::DemandZero { protection }
        | PteState::PageFile { protection, .. } => Some(protection),
        PteState::Prototype {
            proto_pte: None,
            protection,
        } => Some(protection),
        PteState::Prototype {
            proto_pte: Some(address),
            ..
        } => {
            let st = m.pfn_lock();
            let at = st.segments.locate_address(address)?;
            if st.segments.is_absent(at) {
                // Its page of prototype PTEs is paged out. Only a clone
                // block's PTE (never paged out) changes protection on its
                // own: any other has the segment's (SegmentPteTemplate), so
                // no System fault is needed under this address space.
                let ca = st.segments.owner(at)?;
                return st.segments.control_area(ca).map(|a| a.protection);
            }
            Some(m.proto_protection_locked(&st, st.segments.read(at)))
        }
        PteState::Zero => space
            .vads
            .find(vpn)
            .filter(|v| v.mem_commit)
            .map(|v| v.protection),
        _ => None,
    }
}

/// NtProtectVirtualMemory. Returns the old protection of the first page, with
/// STATUS_WAS_UNLOCKED if a locked page had to leave the working set (a
/// no-access or guard protection; MiProtectVirtualMemory).
pub fn protect(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
    size: u64,
    new: Protection,
) -> MmResult<WithStatus<Protection>> {
    let highest = m.layout.highest_user_address();
    let (first, last) = vad::plan_protect(&space.vads, address, size, highest)?;
    // Each page's protection is read from its PTE: paged-out tables first.
    space.make_tables_resident(m, first.va().0, last.va().0 + (PAGE_SIZE - 1))?;
    let v = space
        .vads
        .find(first)
        .ok_or_else(|| mm_err!(MEMORY_NOT_ALLOCATED, "{address:#x} is not allocated"))?;
    if vad::check_protect_change(v, new)? == ProtectCheck::AlreadyReadWrite {
        return Ok(WithStatus::success(Protection::READWRITE));
    }
    if v.section.is_some() && !new.compatible_with_section(v.protection) {
        return Err(mm_err!(
            SECTION_PROTECTION,
            "the view at {} was mapped {}; it cannot become {}",
            v.range_text(),
            v.protection.name(),
            new.name()
        ));
    }
    // Every page must be committed (the loop stops at the first that is not, so it
    // is bounded by the commit limit), and gets its page table now, so the second
    // pass cannot fail half way.
    let mut old = None;
    for vpn in first.0..=last.0 {
        let Some(p) = page_protection(m, space, Vpn(vpn)) else {
            return Err(mm_err!(
                NOT_COMMITTED,
                "{:#x} is not committed; only committed pages can be protected",
                Vpn(vpn).va().0
            ));
        };
        old.get_or_insert(p);
        space.ensure_leaf(m, Vpn(vpn).va())?;
    }
    privatize_clone_pages(m, space, first, last)?;
    let mut unlocked = false;
    for vpn in first.0..=last.0 {
        unlocked |= set_page_protection(m, space, Vpn(vpn), new);
    }
    Ok(WithStatus::informing(
        old.unwrap_or(new),
        unlocked,
        NtStatus::WAS_UNLOCKED,
    ))
}

/// Pages of the range still shared with a fork relative through clone blocks
/// (private pages, and a write-copy view's copies) become private first, since their protection lives in the shared block (see
/// `privatize_clone_page`). Only pages with a PTE are looked at. A failure (no
/// page for a copy) leaves the pages copied so far private, which no one can
/// tell apart from before.
pub(super) fn privatize_clone_pages(
    m: &Machine,
    space: &mut AddressSpace,
    first: Vpn,
    last: Vpn,
) -> MmResult<()> {
    let tables = space.tables(m);
    for (va, _) in tables.nonzero_ptes(first, last) {
        let before = page_protection(m, space, va.vpn());
        if privatize_clone_page(m, space, va).map_err(|f| f.error)?
            && let Some(p) = before
        {
            // The copy keeps the page's protection (its write-copy form made
            // writable, as a write would), so a protect that fails later and
            // is retried still reports and keeps it.
            let kept = p.written_form().raw() | (p.raw() & Protection::GUARD_BIT);
            set_page_protection(m, space, va.vpn(), Protection::from_raw(kept));
        }
    }
    Ok(())
}

/// Gives a committed page (whose page table exists) protection `new`. The PFN's
/// OriginalPte takes it too, so a page that is repurposed and read back keeps it.
/// True if the page was locked and had to leave the working set.
pub(super) fn set_page_protection(
    m: &Machine,
    space: &mut AddressSpace,
    vpn: Vpn,
    new: Protection,
) -> bool {
    let tables = space.tables(m);
    let Some(loc) = tables.leaf(vpn.va()) else {
        return false;
    };
    match m.fmt.decode(tables.read(loc)) {
        PteState::Valid(h) => {
            let index = {
                let mut st = m.pfn_lock();
                if !st.db.prototype(h.pfn) {
                    // A shared frame's OriginalPte is its prototype PTE's, not
                    // this process's to change.
                    let original = m.fmt.reprotect_original(st.db.original_pte(h.pfn), new);
                    st.db.set_original_pte(h.pfn, original);
                }
                space.ws_index_of(&st, vpn.va(), h.pfn).unwrap_or(u32::MAX)
            };
            if new.is_noaccess() || new.is_guard() {
                // A page that may not be touched cannot stay valid: it leaves the
                // working set (as a trim would) with the new protection, and so
                // loses any VirtualLock (MiRemovePageFromWorkingSet; the caller
                // answers STATUS_WAS_UNLOCKED).
                let mut was_locked = false;
                if let Some(e) = space.ws.get_mut(index) {
                    e.protection = new;
                    was_locked = e.locked;
                    e.locked = false;
                }
                if was_locked {
                    // NtLockVirtualMemory's resident charge (`lock.rs`).
                    m.uncharge_resident(1);
                }
                space.trim_entry(m, index);
                return was_locked;
            }
            if let Some(e) = space.ws.get_mut(index) {
                e.protection = new;
            }
            tables.write(loc, data_pte(m, h.pfn, new, h.dirty));
        }
        PteState::Transition { pfn, .. } => {
            let mut st = m.pfn_lock();
            let original = m.fmt.reprotect_original(st.db.original_pte(pfn), new);
            st.db.set_original_pte(pfn, original);
            tables.write(
                loc,
                m.fmt.encode(&PteState::Transition {
                    pfn,
                    protection: new,
                }),
            );
        }
        PteState::Zero if space.vads.find(vpn).is_some_and(|v| v.section.is_some()) => {
            // An untouched page of a view: it still comes from the prototype PTE,
            // now with a protection of its own.
            tables.write(
                loc,
                m.fmt.encode(&PteState::Prototype {
                    proto_pte: None,
                    protection: new,
                }),
            );
        }
        PteState::DemandZero { .. } | PteState::Zero => {
            tables.write(loc, m.fmt.encode(&PteState::DemandZero { protection: new }));
        }
        PteState::PageFile { file, slot, .. } => {
            tables.write(
                loc,
                m.fmt.encode(&PteState::PageFile {
                    file,
                    slot,
                    protection: new,
                }),
            );
        }
        PteState::Prototype { .. } if space.vads.find(vpn).is_some_and(|v| v.section.is_some()) => {
            // A view's page keeps its own protection in the VAD-lookup form.
            tables.write(
                loc,
                m.fmt.encode(&PteState::Prototype {
                    proto_pte: None,
                    protection: new,
                }),
            );
        }
        _ => {}
    }
    false
}
