//! The System process's side of the prototype PTEs' pages of paged pool
//! (`machine/proto_pages.rs` has their bytes): backing a new page with a
//! System page (a demand-zero PTE charged to commit, faulted in at once, so
//! it joins the System working set like any paged pool page), deleting the
//! System PTE of a page no subsection uses any more (its frame or paging-file
//! slot freed, its commit returned), and faulting an absent page back in.
//!
//! Lock: the caller holds the System process's address space (order 4) and
//! nothing below it; the commit lock and the PFN lock are taken here, one at
//! a time. `Mm::kernel` is not needed: these addresses are no pool block's.
//! A fault of these pages is the System process's (`fault.*` with pid=4).

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, Pfn, Va};
use crate::mm::fault::{self, Access};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::segment::ProtoPageState;

/// Backs every page that waits for a System page, deletes the System PTEs
/// of pages no subsection uses (MiSegmentDelete's ExFreePool), and faults
/// back the pages holding a deleted section's PTEs (to free their slots):
/// the pages `Segments` marked pending, so a call with nothing to do costs
/// one hold of the PFN lock. A page whose work fails now (no commit, no
/// frame, a read error) stays pending, resident in the arrays if unbacked,
/// and is tried again next time.
pub fn settle(m: &Machine, system: &mut AddressSpace) {
    let pending = m.pfn_lock().segments.take_pending();
    for page in pending {
        let done = match work_of(m, page) {
            Work::Back => back_page(m, system, page).is_ok(),
            Work::Delete => delete_page(m, system, page),
            // A deleted section's PTEs in a page other sections still use:
            // the page comes back now so the slots they name are freed.
            Work::Orphans => make_resident(m, system, page).is_ok(),
            Work::Nothing => true,
        };
        if !done {
            m.pfn_lock().segments.mark_pending(page);
        }
    }
}

/// What a pending page needs.
enum Work {
    Back,
    Delete,
    Orphans,
    Nothing,
}

fn work_of(m: &Machine, page: u64) -> Work {
    let st = m.pfn_lock();
    match st.segments.proto_page(page) {
        Some(p) if p.users == 0 => Work::Delete,
        Some(p) if p.state == ProtoPageState::Unbacked => Work::Back,
        Some(p) if p.state == ProtoPageState::Absent && !p.orphans.is_empty() => Work::Orphans,
        _ => Work::Nothing,
    }
}

/// Gives prototype page `page` a System page: charged, mapped demand zero,
/// touched for write (a demand-zero fault of the System process), filled
/// with its PTEs, marked resident.
fn back_page(m: &Machine, system: &mut AddressSpace, page: u64) -> MmResult<()> {
    m.charge_commit(1)?;
    let mapped = system.ensure_leaf(m, Va(page)).and_then(|loc| {
        let pte = m.fmt.encode(&PteState::DemandZero {
            protection: Protection::READWRITE,
        });
        system.tables(m).write(loc, pte);
        fault::touch(m, system, Va(page), Access::Write).map_err(|f| f.error)
    });
    let pfn = match mapped {
        Ok(pfn) => pfn,
        Err(e) => {
            unmap(m, system, page);
            m.uncharge_commit(1);
            return Err(e);
        }
    };
    let mut st = m.pfn_lock();
    let still = st
        .segments
        .proto_page(page)
        .is_some_and(|p| p.users > 0 && p.state == ProtoPageState::Unbacked);
    if still {
        m.write_proto_image_locked(&st, page, pfn);
        st.segments.set_page_state(page, ProtoPageState::Resident);
        return Ok(());
    }
    // Its subsections went while the page was being made.
    drop(st);
    unmap(m, system, page);
    m.uncharge_commit(1);
    Ok(())
}

/// Deletes the System PTE of a page no subsection uses. An absent page with
/// orphans (a deleted pagefile-backed section's PTEs naming slots) is
/// faulted in first, which frees those slots. False if that read failed:
/// the slots stay named (`verify` counts them as the page's) until a later
/// settle reads it.
fn delete_page(m: &Machine, system: &mut AddressSpace, page: u64) -> bool {
    let orphans = {
        let st = m.pfn_lock();
        match st.segments.proto_page(page) {
            Some(p) if p.users == 0 => !p.orphans.is_empty(),
            _ => return true,
        }
    };
    if orphans && make_resident(m, system, page).is_err() {
        return false;
    }
    unmap(m, system, page);
    m.uncharge_commit(1);
    m.pfn_lock().segments.forget_page(page);
    true
}

/// Takes the System PTE of `page` away, freeing its frame or slot.
fn unmap(m: &Machine, system: &mut AddressSpace, page: u64) {
    if let Some(loc) = system.tables(m).leaf(Va(page)) {
        system.delete_pte(m, loc, Va(page), Mmpte::ZERO);
    }
}

/// Faults the prototype page holding `va` into the System working set (soft
/// or hard), which reads its PTEs back (NT: MiMakeSystemAddressValidPfn).
pub fn make_resident(m: &Machine, system: &mut AddressSpace, va: u64) -> MmResult<Pfn> {
    fault::touch(m, system, Va(va), Access::Read).map_err(|f| f.error)
}
