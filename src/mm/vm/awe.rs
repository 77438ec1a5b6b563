//! AWE's services on one (locked) address space, as WRK's `physical.c`:
//! NtAllocateUserPhysicalPages, NtMapUserPhysicalPages and
//! NtFreeUserPhysicalPages, and the frames' release at process exit
//! (MiCleanPhysicalProcessPages). The per-process state and the PTE changes
//! are `process/awe.rs`'s; the MEM_PHYSICAL reservation is `allocate.rs`'s.
//!
//! Every refusal changes nothing: each service checks its whole request
//! before it changes a PTE or a frame.

use std::collections::HashSet;

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, PteAddress, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::machine::{
    ActivePage, Machine, PageNeed, RESIDENT_AVAILABLE_RESERVE, activate_locked,
};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::AddressSpace;
use crate::mm::process::awe::awe_unmapped_locked;
use crate::mm::vad::VadType;

/// NtAllocateUserPhysicalPages: up to `pages` zeroed frames for the process,
/// in no PTE. Returns their PFNs, which may be fewer than asked: WRK's loop
/// over MmAllocatePagesForMdl keeps what it got when RAM runs out ("make do
/// with what we've gotten so far"), and only none at all is
/// STATUS_INSUFFICIENT_RESOURCES. MmAllocatePagesForMdl charges each page
/// against commit and resident available memory (MmFreePagesFromMdl gives
/// both back, MiReturnCommitment and MI_INCREMENT_RESIDENT_AVAILABLE) and
/// takes the pages off the zeroed, free and standby lists above 16 MB
/// (`candidates`), zeroing a free or standby one, without writing anything
/// out or trimming a working set.
/// 0 pages is STATUS_SUCCESS with none, as NT answers it.
pub fn allocate_user_physical_pages(
    m: &Machine,
    space: &mut AddressSpace,
    pages: u64,
) -> MmResult<Vec<Pfn>> {
    if pages == 0 {
        return Ok(Vec::new());
    }
    // The bitmap is made before any page is taken, and stays if none is.
    space.awe.bitmap = true;
    let want = affordable(m, pages);
    if want == 0 {
        return Err(mm_err!(
            INSUFFICIENT_RESOURCES,
            "no physical page can be allocated for AWE: {} available, and resident available memory must keep {RESIDENT_AVAILABLE_RESERVE}",
            m.pfn_lock().db.available()
        ));
    }
    m.charge_resident(want, "AWE pages")?;
    if let Err(e) = m.charge_commit(want) {
        m.uncharge_resident(want);
        // MmAllocatePagesForMdl returns no MDL; NtAllocateUserPhysicalPages
        // answers STATUS_INSUFFICIENT_RESOURCES.
        return Err(mm_err!(
            INSUFFICIENT_RESOURCES,
            "{want} AWE pages cannot be charged: {}",
            e.message
        ));
    }
    let mut got = Vec::with_capacity(want as usize);
    for pfn in candidates(m, want) {
        // Each page under its own hold of the PFN lock (zeroing one is 4 KiB
        // of stores); one taken meanwhile is skipped.
        let mut st = m.pfn_lock();
        let Some(page) = m.take_page_locked(&mut st, pfn, PageNeed::Zeroed) else {
            continue;
        };
        let active = ActivePage {
            use_: PageUse::Awe,
            owner: space.slot,
            pte_address: PteAddress(0),
            original_pte: Mmpte::ZERO,
            share: 1,
            ws_index: 0,
        };
        activate_locked(&mut st, page.pfn, active);
        space.awe.insert(page.pfn);
        got.push(page.pfn);
    }
    let short = want - got.len() as u64;
    m.uncharge_resident(short);
    m.uncharge_commit(short);
    if got.is_empty() {
        return Err(mm_err!(
            INSUFFICIENT_RESOURCES,
            "no physical page is available for AWE"
        ));
    }
    crate::mm_event!(m, "awe.alloc", "pid={} pages={}", space.pid, got.len());
    Ok(got)
}

/// WRK NtAllocateUserPhysicalPages: "Don't use the low 16mb of memory so
/// that at least some low pages are left for 32/24-bit device drivers",
/// unless RAM ends there ("just take pages from anywhere").
const LOWEST_USABLE_PHYSICAL_ADDRESS: u64 = 16 << 20;

/// Up to `want` frames for AWE pages, as MiAllocatePagesForMdl chooses them:
/// at or above LOWEST_USABLE_PHYSICAL_ADDRESS (below, when RAM ends there),
/// from the zeroed list, then the free list, then standby (lowest priority
/// first), none marked bad. Read under the PFN lock, taken later page by
/// page (`take_page_locked` skips one that has moved).
fn candidates(m: &Machine, want: u64) -> Vec<Pfn> {
    let highest = u64::from(m.phys.pages().saturating_sub(1));
    let low = if LOWEST_USABLE_PHYSICAL_ADDRESS >= highest * PAGE_SIZE {
        0
    } else {
        LOWEST_USABLE_PHYSICAL_ADDRESS / PAGE_SIZE
    };
    let st = m.pfn_lock();
    [
        PageLocation::Zeroed,
        PageLocation::Free,
        PageLocation::Standby,
    ]
    .into_iter()
    .flat_map(|loc| st.db.iter_list(loc))
    .filter(|&p| u64::from(p.0) >= low && !st.db.in_page_error(p))
    .take(want as usize)
    .collect()
}

/// How many of `pages` the machine can give now: the pages on the zeroed,
/// free and standby lists, and resident available memory above its reserve.
fn affordable(m: &Machine, pages: u64) -> u64 {
    let (available, bad) = {
        let st = m.pfn_lock();
        (
            st.db.available(),
            st.db.list_count(crate::mm::pfn::PageLocation::Bad),
        )
    };
    let room = m.resident_available(bad) - RESIDENT_AVAILABLE_RESERVE as i64;
    pages.min(available).min(room.max(0) as u64)
}

/// What NtMapUserPhysicalPages is asked to put in each PTE of the range.
#[derive(Clone, Copy)]
pub enum AweMapping<'a> {
    /// One frame per page from the address on.
    Frames(&'a [Pfn]),
    /// A null PFN array: this many pages are unmapped.
    Unmap(u64),
}

/// NtMapUserPhysicalPages: maps `frames` at `address` (page-aligned down),
/// one per page, replacing whatever AWE page was there, or unmaps the pages.
/// WRK's order and statuses: a page count that overflows the address space
/// or is 0 with no array, STATUS_INVALID_PARAMETER_2 (0 with an array maps
/// nothing and succeeds); no AllocateUserPhysicalPages yet, or a range not
/// inside one AWE VAD, STATUS_INVALID_PARAMETER_1; then each frame in order:
/// one the process does not own, STATUS_CONFLICTING_ADDRESSES; one mapped
/// anywhere (at this very page too: its ShareCount is 2) or listed twice,
/// STATUS_INVALID_PARAMETER_3. Returns the pages changed.
pub fn map_user_physical_pages(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
    what: AweMapping<'_>,
) -> MmResult<u64> {
    let count = match what {
        AweMapping::Frames([]) => return Ok(0),
        AweMapping::Frames(f) => f.len() as u64,
        AweMapping::Unmap(n) => n,
    };
    let base = address - address % PAGE_SIZE;
    let end = count
        .checked_mul(PAGE_SIZE)
        .and_then(|bytes| bytes.checked_sub(1))
        .and_then(|last| base.checked_add(last))
        .ok_or_else(|| {
            mm_err!(
                INVALID_PARAMETER_2,
                "{count} pages at {base:#x} is no range"
            )
        })?;
    check_awe_range(space, base, end)?;
    // Frames: one PTE per frame listed. Unmap: only the PTEs that map
    // something (the range may be as long as the VAD).
    let tables = space.tables(m);
    let changes: Vec<(EntryLoc, Va, Option<Pfn>)> = match what {
        AweMapping::Frames(frames) => {
            check_frames(m, space, frames)?;
            let mut v = Vec::with_capacity(frames.len());
            for (i, &pfn) in frames.iter().enumerate() {
                let va = Va(base + i as u64 * PAGE_SIZE);
                let loc = tables.leaf(va).ok_or_else(|| {
                    mm_err!(
                        INSUFFICIENT_RESOURCES,
                        "the page table for {:#x} of the AWE reservation is missing",
                        va.0
                    )
                })?;
                v.push((loc, va, Some(pfn)));
            }
            v
        }
        AweMapping::Unmap(_) => tables
            .nonzero_ptes(Va(base).vpn(), Va(end).vpn())
            .into_iter()
            .map(|(va, loc)| (loc, va, None))
            .collect(),
    };
    let mut st = m.pfn_lock();
    for (loc, va, pfn) in changes {
        space.awe_set_pte_locked(m, &mut st, (loc, va), pfn);
    }
    drop(st);
    crate::mm_event!(
        m,
        "awe.map",
        "pid={} va={base:#x} pages={count} unmap={}",
        space.pid,
        u8::from(matches!(what, AweMapping::Unmap(_)))
    );
    Ok(count)
}

/// `[base, end]` must lie inside one AWE VAD of a process that has
/// allocated AWE pages (STATUS_INVALID_PARAMETER_1).
fn check_awe_range(space: &AddressSpace, base: u64, end: u64) -> MmResult<()> {
    if !space.awe.bitmap {
        return Err(mm_err!(
            INVALID_PARAMETER_1,
            "the process has no AWE pages: allocate some with awe-alloc first"
        ));
    }
    let inside = space
        .vads
        .find(Va(base).vpn())
        .is_some_and(|v| v.vad_type == VadType::Awe && Va(end).vpn() <= v.ending_vpn);
    if !inside {
        return Err(mm_err!(
            INVALID_PARAMETER_1,
            "{base:#x}-{end:#x} is not inside one AWE reservation (alloc ... reserve,physical readwrite)"
        ));
    }
    Ok(())
}

/// NtMapUserPhysicalPages's first pass over the frames (see
/// `map_user_physical_pages`).
fn check_frames(m: &Machine, space: &AddressSpace, frames: &[Pfn]) -> MmResult<()> {
    let st = m.pfn_lock();
    let mut seen = HashSet::with_capacity(frames.len());
    for &pfn in frames {
        if !space.awe.owns(pfn) {
            return Err(mm_err!(
                CONFLICTING_ADDRESSES,
                "pfn {:#x} is not one of the process's AWE pages",
                pfn.0
            ));
        }
        if !seen.insert(pfn) {
            return Err(mm_err!(
                INVALID_PARAMETER_3,
                "pfn {:#x} is listed twice",
                pfn.0
            ));
        }
        let mapped = st.db.pte_address(pfn);
        if mapped != PteAddress(0) {
            let at = m.fmt.va_of_pte(mapped).map_or(0, |v| v.0);
            return Err(mm_err!(
                INVALID_PARAMETER_3,
                "pfn {:#x} is mapped already, at {at:#x}; unmap it first",
                pfn.0
            ));
        }
    }
    Ok(())
}

/// NtFreeUserPhysicalPages: unmaps the frames wherever they are mapped and
/// frees them, giving back their commit and resident charges. Returns the
/// pages freed. A frame the process does not own, or one listed twice (NT
/// finds its bit clear the second time), is STATUS_CONFLICTING_ADDRESSES; an
/// empty list STATUS_INVALID_PARAMETER_2; no AllocateUserPhysicalPages yet
/// STATUS_INVALID_PARAMETER_1. NT frees the frames before a bad one and
/// reports how many it freed; mmfs checks the whole list first and frees
/// nothing if any is bad (the project's all-or-nothing rule).
pub fn free_user_physical_pages(
    m: &Machine,
    space: &mut AddressSpace,
    frames: &[Pfn],
) -> MmResult<u64> {
    if frames.is_empty() {
        return Err(mm_err!(INVALID_PARAMETER_2, "no page to free"));
    }
    if !space.awe.bitmap {
        return Err(mm_err!(
            INVALID_PARAMETER_1,
            "the process has no AWE pages: allocate some with awe-alloc first"
        ));
    }
    let mut seen = HashSet::with_capacity(frames.len());
    for &pfn in frames {
        if !space.awe.owns(pfn) || !seen.insert(pfn) {
            return Err(mm_err!(
                CONFLICTING_ADDRESSES,
                "pfn {:#x} is not one of the process's AWE pages{}",
                pfn.0,
                if space.awe.owns(pfn) {
                    " (it is listed twice)"
                } else {
                    ""
                }
            ));
        }
    }
    release_frames(m, space, frames);
    crate::mm_event!(m, "awe.free", "pid={} pages={}", space.pid, frames.len());
    Ok(frames.len() as u64)
}

/// MiCleanPhysicalProcessPages: at exit, every AWE frame the process still
/// owns is freed (its AWE VADs are released first, which unmaps them).
pub fn free_all(m: &Machine, space: &mut AddressSpace) {
    let frames: Vec<Pfn> = space.awe.iter().collect();
    release_frames(m, space, &frames);
}

/// Unmaps (if mapped) and frees owned frames, with their charges.
fn release_frames(m: &Machine, space: &mut AddressSpace, frames: &[Pfn]) {
    let tables = space.tables(m);
    let mut st = m.pfn_lock();
    for &pfn in frames {
        let mapped = st.db.pte_address(pfn);
        if let Some(loc) = m.fmt.va_of_pte(mapped).and_then(|va| tables.leaf(va))
            && mapped != PteAddress(0)
        {
            tables.write(loc, Mmpte::ZERO);
            st.db.decrement_share(loc.table);
        }
        awe_unmapped_locked(&mut st, pfn);
        if st.db.decrement_reference(pfn) > 0 {
            // An MDL still locks it (MmProbeAndLockPages): as NT's
            // MiFreeAwePage leaves such a page, it waits out of every list
            // for the last unlock, which frees it (`unlock_page_locked`).
            st.db.set_share_count(pfn, 0);
            st.db.set_deleted(pfn, true);
            st.db.set_location(pfn, PageLocation::Transition);
        } else {
            m.free_page_locked(&mut st, pfn);
        }
        space.awe.remove(pfn);
    }
    drop(st);
    let n = frames.len() as u64;
    m.uncharge_resident(n);
    m.uncharge_commit(n);
}
