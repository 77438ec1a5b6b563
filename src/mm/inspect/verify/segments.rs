//! The checks of control areas: each prototype PTE against the frame or slot
//! it names, the control area's counters (NumberOfPfnReferences,
//! NumberOfMappedViews, NumberOfUserReferences, NumberOfSectionReferences)
//! against what exists, and each clone block's CloneRefCount against the
//! process PTEs the address-space walks found referring to it.

use std::collections::HashMap;

use crate::mm::base::types::{Mmpte, PteAddress};
use crate::mm::hw::pte::PteState;
use crate::mm::pfn::PageLocation;
use crate::mm::section::SectionTable;
use crate::mm::segment::{ControlArea, ControlAreaId, ProtoLoc};

use super::{EntryText, Tally};

/// Checks every control area (see the module docs); run after the address
/// spaces, whose walks filled `shares`, `clone_refs` and `views`.
pub(super) fn check(t: &mut Tally<'_>, sections: &SectionTable) {
    let mut section_refs: HashMap<ControlAreaId, u64> = HashMap::new();
    for sec in sections.by_name.values() {
        *section_refs.entry(sec.control_area).or_default() += 1;
    }
    let st = t.st;
    for ca in st.segments.control_areas.values() {
        t.commit_sum += ca.committed_pages;
        let mut in_memory = 0u64;
        for at in st.segments.locations(ca.id) {
            if prototype_pte(t, ca, at) {
                in_memory += 1;
            }
        }
        counters(
            t,
            ca,
            in_memory,
            section_refs.get(&ca.id).copied().unwrap_or(0),
        );
    }
}

/// One prototype PTE: a valid one maps an Active prototype frame whose
/// ShareCount is the process PTEs mapping it; a transition one a listed (or
/// in-I/O) frame; a paging-file slot is named once; a subsection PTE names its
/// own subsection. Returns whether the page is in memory.
fn prototype_pte(t: &mut Tally<'_>, ca: &ControlArea, at: ProtoLoc) -> bool {
    let st = t.st;
    // A paged-out page of prototype PTEs: `proto_pages.rs` checks it.
    let Some(raw) = st.segments.try_read(at) else {
        return false;
    };
    let index = st.segments.index(at);
    let address = st.segments.address(at);
    let who = format!("control area {} prototype PTE {index}", ca.id);
    if st.segments.locate(ca.id, index) != Some(at) {
        // `locate`'s array of subsection starts disagrees with the subsections.
        t.v.push(format!(
            "{who}: locate finds {:?}, not {at:?}",
            st.segments.locate(ca.id, index)
        ));
    }
    let in_memory = prototype_state(t, ca, at, raw, address, &who);
    if ca.is_clone() {
        let counted = t.clone_refs.get(&(ca.id, index)).copied().unwrap_or(0);
        let recorded = ca.clone_refs.get(index as usize).copied().unwrap_or(0);
        if counted != recorded {
            t.v.push(format!(
                "{who}: CloneRefCount {recorded} but {counted} process PTEs refer to it"
            ));
        }
    }
    in_memory
}

/// The checks of one prototype PTE's state (see `prototype_pte`).
fn prototype_state(
    t: &mut Tally<'_>,
    ca: &ControlArea,
    at: ProtoLoc,
    raw: Mmpte,
    address: PteAddress,
    who: &str,
) -> bool {
    let (m, st) = (t.m, t.st);
    match m.fmt.decode_prototype(raw) {
        PteState::Valid(h) => {
            t.note(h.pfn, who.to_string());
            let share = t.shares.get(&h.pfn).copied().unwrap_or(0);
            match st.db.entry(h.pfn) {
                Some(e)
                    if e.location == PageLocation::Active
                        && e.prototype
                        && e.pte_address == address =>
                {
                    if e.share_count != share {
                        t.v.push(format!(
                            "{who}: pfn {:#x} has ShareCount {} but {share} process PTEs map it",
                            h.pfn.0, e.share_count
                        ));
                    }
                    if share == 0 || e.reference_count == 0 {
                        t.v.push(format!(
                            "{who}: valid with {share} mappings and ReferenceCount {}",
                            e.reference_count
                        ));
                    }
                }
                other => t.v.push(format!(
                    "{who} is valid for pfn {:#x}, whose entry is {}",
                    h.pfn.0,
                    EntryText(other)
                )),
            }
            true
        }
        PteState::Transition { pfn, .. } => {
            t.note(pfn, who.to_string());
            match st.db.entry(pfn) {
                Some(e)
                    if e.prototype
                        && e.pte_address == address
                        && matches!(
                            e.location,
                            PageLocation::Standby
                                | PageLocation::Modified
                                | PageLocation::ModifiedNoWrite
                                | PageLocation::Transition
                        ) => {}
                other => t.v.push(format!(
                    "{who} is in transition for pfn {:#x}, whose entry is {}",
                    pfn.0,
                    EntryText(other)
                )),
            }
            true
        }
        PteState::PageFile { file, slot, .. } => {
            t.name_slot(file, slot, who.to_string());
            false
        }
        PteState::Subsection { subsection, .. } if subsection != at.subsection || !ca.is_file() => {
            t.v.push(format!(
                "{who} names subsection {subsection}, not its own {}",
                at.subsection
            ));
            false
        }
        _ => false,
    }
}

/// A control area's counters against what the walks found.
fn counters(t: &mut Tally<'_>, ca: &ControlArea, in_memory: u64, named: u64) {
    if in_memory != ca.pfn_references {
        t.v.push(format!(
            "control area {}: NumberOfPfnReferences {} but {in_memory} prototype PTEs are in memory",
            ca.id, ca.pfn_references
        ));
    }
    let mapped = t.views.get(&ca.id).copied().unwrap_or(0);
    if ca.mapped_views != mapped || ca.user_references != mapped {
        t.v.push(format!(
            "control area {}: NumberOfMappedViews {} and NumberOfUserReferences {} but {mapped} views exist",
            ca.id, ca.mapped_views, ca.user_references
        ));
    }
    let cached = t.cache_views.get(&ca.id).copied().unwrap_or(0);
    if ca.system_cache_views != cached {
        t.v.push(format!(
            "control area {}: NumberOfSystemCacheViews {} but {cached} system cache views exist",
            ca.id, ca.system_cache_views
        ));
    }
    if ca.section_references != named {
        t.v.push(format!(
            "control area {}: NumberOfSectionReferences {} but {named} sections name it",
            ca.id, ca.section_references
        ));
    }
    if ca.is_clone() && ca.unreferenced() {
        t.v.push(format!(
            "clone control area {} outlived its last reference",
            ca.id
        ));
    }
}
