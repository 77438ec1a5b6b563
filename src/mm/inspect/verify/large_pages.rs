//! The checks of one address space's large pages (MEM_LARGE_PAGES,
//! `vm/large_pages.rs`): every large-page PDE lies in a large-page VAD that
//! covers its whole page, is valid, user and writable, and names the first
//! frame of an aligned run inside RAM; every frame of the run is an Active
//! LargePage frame of this process, mapped once (ShareCount 1,
//! ReferenceCount 1 plus its MDL locks, which `kernel.rs` counts), whose
//! PteAddress is that PDE, and in no working set
//! (the one kind of valid user mapping exempt from the working set here);
//! nothing else maps them (`Tally::note`). Each large-page VAD has a PDE for
//! every large page. The PDEs count as valid entries of their directory, and
//! the frames as resident available memory charged.

use std::collections::HashMap;

use crate::mm::base::types::{PAGE_SIZE, Pfn, Va};
use crate::mm::hw::pagetable::PageTables;
use crate::mm::hw::pte::{Level, PteState};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::AddressSpace;
use crate::mm::vad::VadType;

use super::Tally;

/// Checks the large pages of `space` (see the module docs); adds each PDE to
/// `children` (valid entries per table frame).
pub(super) fn check(
    t: &mut Tally<'_>,
    space: &AddressSpace,
    tables: &PageTables,
    children: &mut HashMap<Pfn, u32>,
) {
    let pid = space.pid;
    let lp = t.m.fmt.large_page_size();
    let frames = (lp / PAGE_SIZE) as u32;
    let user_end = t.m.layout.highest_user_address();
    let mut per_vad: HashMap<u64, u64> = HashMap::new();
    for (va, loc, raw) in tables.large_pdes(0, user_end) {
        *children.entry(loc.table).or_default() += 1;
        let vad = space
            .vads
            .find(Va(va).vpn())
            .filter(|v| v.vad_type == VadType::LargePages && v.end_va().0 >= va + (lp - 1));
        match vad {
            Some(v) => *per_vad.entry(v.starting_vpn.0).or_default() += 1,
            None => t.v.push(format!(
                "pid {pid}: large-page PDE for {va:#x} is not inside a large-page VAD"
            )),
        }
        let PteState::Valid(h) = t.m.fmt.decode(raw) else {
            continue;
        };
        if !h.write || !h.owner {
            t.v.push(format!(
                "pid {pid}: large-page PDE for {va:#x} holds {raw:#x}, not a writable user entry"
            ));
        }
        if h.pfn.0 % frames != 0 || h.pfn.0.saturating_add(frames) > t.st.db.pages() {
            t.v.push(format!(
                "pid {pid}: large page {va:#x} starts at pfn {:#x}, not an aligned run of {frames} frames in RAM",
                h.pfn.0
            ));
            continue;
        }
        let pde = t.m.fmt.entry_va(Va(va), Level::Pde).unwrap_or_default();
        t.large_page_frames += u64::from(frames);
        for i in 0..frames {
            let pfn = Pfn(h.pfn.0 + i);
            t.note(pfn, format!("pid {pid} large page {va:#x} + {i:#x}"));
            frame(t, space, pfn, pde, va);
        }
    }
    for v in space
        .vads
        .iter()
        .filter(|v| v.vad_type == VadType::LargePages)
    {
        let want = v.page_count() * PAGE_SIZE / lp;
        let found = per_vad.get(&v.starting_vpn.0).copied().unwrap_or(0);
        if found != want {
            t.v.push(format!(
                "pid {pid}: large-page VAD {} has {found} large PDEs, not {want}",
                v.range_text()
            ));
        }
    }
}

/// One frame of a large page mapped by the PDE at self-map address `pde`.
fn frame(
    t: &mut Tally<'_>,
    space: &AddressSpace,
    pfn: Pfn,
    pde: crate::mm::base::types::PteAddress,
    va: u64,
) {
    let Some(e) = t.st.db.entry(pfn) else {
        return;
    };
    let ok = e.location == PageLocation::Active
        && e.use_ == PageUse::LargePage
        && e.owner == space.slot
        && e.pte_address == pde
        && e.share_count == 1
        && e.reference_count >= 1;
    if !ok {
        t.v.push(format!(
            "pid {}: large page {va:#x}: pfn {:#x} is {} {} owner {} PteAddress {:#x} share {} ref {}, not an Active LargePage frame of the process mapped by its PDE {:#x}",
            space.pid,
            pfn.0,
            e.location,
            e.use_.name(),
            e.owner,
            e.pte_address,
            e.share_count,
            e.reference_count,
            pde
        ));
    }
    if space.ws.get(e.ws_index).is_some_and(|w| w.pfn == pfn) {
        t.v.push(format!(
            "pid {}: large page {va:#x}: pfn {:#x} is in the working set (entry {})",
            space.pid, pfn.0, e.ws_index
        ));
    }
}
