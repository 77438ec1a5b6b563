//! AWE's invariants (`process/awe.rs`): every frame a process owns is an
//! Active AWE frame of that process, used once, with one reference (and one
//! per MDL lock) and ShareCount 1, mapped exactly when its PteAddress names
//! a PTE, which is then valid for it, inside an AWE VAD of the process; every valid PTE of an AWE VAD maps such a frame (an AWE page is
//! the one valid user page in no working set); no Active AWE frame is
//! anyone else's; each AWE VAD charges no commit, and its page tables are
//! held and charged (`space.rs` counts the holds in each table's ShareCount);
//! the frames are charged to commit and, with the tables, to resident
//! available memory (`kernel.rs` adds them up).

use crate::mm::base::types::{Pfn, Pid, Va};
use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::AddressSpace;
use crate::mm::process::awe::{awe_table_pages, leaf_tables};
use crate::mm::process::page_tables::pte_va;
use crate::mm::vad::VadType;

use super::{EntryText, Tally};

/// The frames `space` owns (one reference each, and one per MDL lock), and
/// its AWE charges. Runs after `kernel.rs` has counted the MDL locks.
pub(super) fn check(t: &mut Tally<'_>, pid: Pid, space: &AddressSpace) {
    let m = t.m;
    for pfn in space.awe.iter() {
        t.note(pfn, format!("pid {pid} AWE page"));
        let Some(e) = t.st.db.entry(pfn) else {
            t.v.push(format!("pid {pid}: AWE pfn {:#x} beyond RAM", pfn.0));
            continue;
        };
        let mapped = e.pte_address.0 != 0;
        let locks = t.mdl_locked.get(&pfn).copied().unwrap_or(0);
        let ok = e.location == PageLocation::Active
            && e.use_ == PageUse::Awe
            && e.owner == space.slot
            && u32::from(e.reference_count) == 1 + locks
            && e.share_count == 1;
        if !ok {
            t.v.push(format!(
                "pid {pid}: AWE pfn {:#x} is {}",
                pfn.0,
                EntryText(Some(e))
            ));
        }
        if mapped {
            mapped_at(t, pid, space, pfn, e.pte_address);
        }
    }
    let mut tables = 0;
    let walk = space.tables(m);
    for v in space.vads.iter().filter(|v| v.vad_type == VadType::Awe) {
        tables += awe_table_pages(m, v.starting_vpn, v.ending_vpn);
        // Made with the VAD, held until it goes (`space.rs` counts the holds).
        if let Some(va) =
            leaf_tables(m, v.starting_vpn, v.ending_vpn).find(|&va| walk.leaf(va).is_none())
        {
            t.v.push(format!(
                "pid {pid}: the page table for {:#x} of AWE VAD {} is missing",
                va.0,
                v.range_text()
            ));
        }
    }
    if tables != space.awe.table_charge {
        t.v.push(format!(
            "pid {pid}: its AWE reservations have {tables} page-table pages but {} are charged",
            space.awe.table_charge
        ));
    }
    // The frames' commit (MmAllocatePagesForMdl's), beside the process's own.
    t.commit_sum += space.awe.len();
}

/// A mapped AWE frame's PteAddress names a valid PTE for it, in an AWE VAD.
fn mapped_at(
    t: &mut Tally<'_>,
    pid: Pid,
    space: &AddressSpace,
    pfn: Pfn,
    at: crate::mm::base::types::PteAddress,
) {
    let m = t.m;
    let Some(va) = m.fmt.va_of_pte(at) else {
        t.v.push(format!(
            "pid {pid}: AWE pfn {:#x} has PteAddress {:#x}, no PTE",
            pfn.0, at.0
        ));
        return;
    };
    let tables = space.tables(m);
    let state = tables.leaf(va).map(|l| m.fmt.decode(tables.read(l)));
    let in_awe = space
        .vads
        .find(va.vpn())
        .is_some_and(|v| v.vad_type == VadType::Awe);
    if !matches!(state, Some(PteState::Valid(h)) if h.pfn == pfn) || !in_awe {
        t.v.push(format!(
            "pid {pid}: AWE pfn {:#x} says it is mapped at {:#x}, whose PTE is {state:?} (in an AWE VAD: {in_awe})",
            pfn.0, va.0
        ));
    }
}

/// A valid PTE in an AWE VAD (the walk's `leaf`): it maps one of the
/// process's AWE frames, which names this PTE back, read/write.
pub(super) fn valid(t: &mut Tally<'_>, pid: Pid, space: &AddressSpace, va: Va, h: HardwarePte) {
    let back = t.st.db.pte_address(h.pfn) == pte_va(t.m, va);
    if !space.awe.owns(h.pfn) || !back || !h.write {
        t.v.push(format!(
            "pid {pid}: valid PTE of {:#x} in an AWE VAD maps pfn {:#x} (owned: {}, PteAddress back: {back}, writable: {})",
            va.0,
            h.pfn.0,
            space.awe.owns(h.pfn),
            h.write
        ));
    }
}

/// How many AWE VADs of `space` overlap the page table mapping
/// `[base, base + span)`: the holds on its ShareCount.
pub(super) fn table_holds(space: &AddressSpace, base: u64, span: u64) -> u32 {
    let (first, last) = (Va(base).vpn(), Va(base + span - 1).vpn());
    space
        .vads
        .find_overlapping(first, last)
        .filter(|v| v.vad_type == VadType::Awe)
        .count() as u32
}
