//! NtFreeVirtualMemory: decommit or release.

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Va, Vpn};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::process::page_tables::count_committed;
use crate::mm::vad::{self, VadType};

/// NtFreeVirtualMemory (decommit or release). Returns the base and size freed.
pub fn free(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
    size: u64,
    release: bool,
) -> MmResult<(Va, u64)> {
    let highest = m.layout.highest_user_address();
    let plan = vad::plan_free(&space.vads, address, size, release, highest)?;
    let v = space
        .vads
        .get(plan.vad_start)
        .ok_or_else(|| mm_err!(MEMORY_NOT_ALLOCATED, "the reservation went away"))?;
    let mem_commit = v.mem_commit;
    let awe = v.vad_type == vad::VadType::Awe;
    let (first, last) = (plan.first_vpn, plan.last_vpn);
    // Paged-out page tables come back before any PTE is counted or freed
    // (MiMakePdeExistAndMakeValid); a failure here changes nothing.
    space.make_tables_resident(m, first.va().0, last.va().0 + PAGE_SIZE - 1)?;
    let tables = space.tables(m);
    if plan.is_release() {
        // The reservation changes first, its charge recounted from the PTEs as they
        // are; then the pages go and their PTEs become zero (nothing reserved).
        let released = vad::apply_release(&mut space.vads, &plan, |a, b| {
            count_committed(m, &tables, &space.paged_tables, a, b, mem_commit)
        })?;
        for (va, loc) in tables.nonzero_ptes(first, last) {
            space.delete_pte(m, loc, va, Mmpte::ZERO);
        }
        if plan.vad_type == VadType::LargePages {
            // Released whole (`vad::plan_free`): its large PDEs and frames.
            super::large_pages::release_large(m, space, first, last);
        }
        m.uncharge_commit(released);
        if awe {
            // Its AWE pages were unmapped above (`delete_pte`) and stay the
            // process's; its tables are let go (freevm.c, VadAwe).
            space.delete_awe_tables(m, first, last);
        }
        space.free_empty_tables(m, first.va().0, last.va().0 + PAGE_SIZE - 1);
        space.return_table_charges(m, first, last);
        return Ok((plan.base(), plan.size()));
    }
    let released = count_committed(m, &tables, &space.paged_tables, first, last, mem_commit);
    if mem_commit {
        // In a MemCommit reservation a zero PTE reads as committed, so every page
        // needs a PTE that says decommitted (NT makes the page tables for that).
        // The range is committed pages, bounded by the commit limit. Tables first,
        // so a failure changes nothing.
        for vpn in first.0..=last.0 {
            space.ensure_leaf(m, Vpn(vpn).va())?;
        }
        let decommitted = m.fmt.encode(&PteState::Decommitted);
        for vpn in first.0..=last.0 {
            if let Some(loc) = space.tables(m).leaf(Vpn(vpn).va()) {
                space.delete_pte(m, loc, Vpn(vpn).va(), decommitted);
            }
        }
    } else {
        for (va, loc) in tables.nonzero_ptes(first, last) {
            space.delete_pte(m, loc, va, Mmpte::ZERO);
        }
    }
    if let Some(v) = space.vads.find_mut(plan.vad_start) {
        v.commit_charge -= released.min(v.commit_charge);
    }
    m.uncharge_commit(released);
    Ok((plan.base(), plan.size()))
}
