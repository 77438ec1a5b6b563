//! The checks of every frame, after the walks have said who uses which: a
//! frame holding a page with a paging-file copy names its slot once; a standby
//! page is not Modified and has a copy somewhere, unless MEM_RESET said its
//! contents are not wanted (OriginalPte demand zero); a page on the modified
//! lists is Modified; an Active page is mapped; a page in Transition has I/O in
//! flight. Then the
//! totals: slots in use against slots named, and the commit charge against
//! what every process and control area charges.

use crate::mm::base::types::Pfn;
use crate::mm::hw::pte::PteState;
use crate::mm::pfn::{PageLocation, PageUse};

use super::Tally;

/// Checks every frame (see the module docs).
pub(super) fn check(t: &mut Tally<'_>) {
    for pfn in 0..t.st.db.pages() {
        frame(t, Pfn(pfn));
        if t.full() {
            break;
        }
    }
}

fn frame(t: &mut Tally<'_>, pfn: Pfn) {
    let (m, st) = (t.m, t.st);
    let location = st.db.location(pfn);
    let holds_data = location.is_some_and(|l| {
        !matches!(
            l,
            PageLocation::Zeroed | PageLocation::Free | PageLocation::Bad
        )
    }) && matches!(
        st.db.page_use(pfn),
        PageUse::ProcessPrivate
            | PageUse::PagedPool
            | PageUse::Shareable
            | PageUse::MappedFile
            | PageUse::PageTable
    );
    if holds_data {
        let mapped_file = m.is_mapped_file_page_locked(st, pfn);
        match m.fmt.decode(st.db.original_pte(pfn)) {
            PteState::PageFile { file, slot, .. } => {
                t.name_slot(file, slot, format!("pfn {:#x}'s OriginalPte", pfn.0))
            }
            // MEM_RESET: the page may be repurposed and read back as zeros.
            PteState::DemandZero { .. } => {}
            _ if location == Some(PageLocation::Standby) && !mapped_file => t.v.push(format!(
                "pfn {:#x} is on standby with no copy in a paging file",
                pfn.0
            )),
            _ => {}
        }
    }
    if location == Some(PageLocation::Standby) && st.db.modified(pfn) {
        t.v.push(format!(
            "pfn {:#x} is on the standby list but Modified",
            pfn.0
        ));
    }
    if location == Some(PageLocation::ModifiedNoWrite) && !st.db.modified(pfn) {
        t.v.push(format!(
            "pfn {:#x} is on the modified-no-write list but not Modified",
            pfn.0
        ));
    }
    if location == Some(PageLocation::Modified) && !st.db.modified(pfn) {
        t.v.push(format!(
            "pfn {:#x} is on the modified list but not Modified",
            pfn.0
        ));
    }
    // A large page released while an MDL locks it waits in Transition,
    // deleted, for the last unlock.
    let waits_for_unlock = location == Some(PageLocation::Transition)
        && st.db.deleted(pfn)
        && t.mdl_locked.contains_key(&pfn);
    if st.db.page_use(pfn) == PageUse::LargePage
        && location != Some(PageLocation::Active)
        && !waits_for_unlock
    {
        t.v.push(format!(
            "pfn {:#x} is a LargePage frame but {}",
            pfn.0,
            location.map_or("beyond RAM", PageLocation::name)
        ));
    }
    let seen = t.seen.contains_key(&pfn);
    match location {
        Some(PageLocation::Active) if !seen => {
            t.v.push(format!(
                "pfn {:#x} is Active but no page table maps it",
                pfn.0
            ));
        }
        Some(PageLocation::Transition)
            if !st.db.write_in_progress(pfn)
                && !st.db.read_in_progress(pfn)
                && !t.mdl_locked.contains_key(&pfn) =>
        {
            t.v.push(format!(
                "pfn {:#x} is in Transition with no I/O in flight",
                pfn.0
            ));
        }
        Some(l)
            if l.is_list()
                && seen
                && l != PageLocation::Standby
                && l != PageLocation::Modified
                && l != PageLocation::ModifiedNoWrite =>
        {
            t.v.push(format!(
                "pfn {:#x} is on the {l} list but still mapped",
                pfn.0
            ));
        }
        _ => {}
    }
}

/// Every paging-file slot in use is named (by a PTE, a prototype PTE, an
/// OriginalPte, or a cluster write in flight); the commit charge is what the
/// processes and control areas charge.
pub(super) fn check_totals(t: &mut Tally<'_>, commit_total: u64) {
    let named = t.slots.len() as u64 + t.st.slots_in_flight + t.hidden_slots;
    let used = t.pagefiles.used_pages();
    if named != used {
        t.v.push(format!(
            "the paging files have {used} slots in use but {named} are named ({} by a cluster write in flight)",
            t.st.slots_in_flight
        ));
    }
    if t.commit_sum != commit_total {
        t.v.push(format!(
            "commit charge {commit_total} but the processes' charges add up to {}",
            t.commit_sum
        ));
    }
}
