//! NtAllocateVirtualMemory: reserve, commit inside a reservation, and MEM_RESET.

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Va, Vpn};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::process::page_tables::count_committed;
use crate::mm::segment::ControlAreaId;
use crate::mm::vad::{self, AddressLimits, AllocPlan, AllocRequest, Vad, VadType};

use super::page_committed;
use super::protect::{privatize_clone_pages, set_page_protection};

/// NtAllocateVirtualMemory. Returns the base and size of the range.
pub fn allocate(m: &Machine, space: &mut AddressSpace, req: &AllocRequest) -> MmResult<(Va, u64)> {
    // NT checks the parameters first (STATUS_INVALID_PARAMETER_5/_6 for the
    // types' rules, _2/_4 for the range), then takes the path of the VAD's kind.
    let plan = vad::plan_allocate(&space.vads, req, AddressLimits::for_layout(&m.layout))?;
    match plan {
        AllocPlan::Reserve { base, size, vad } if req.large_pages => {
            // MiAllocateLargePages: contiguous frames, mapped by large PDEs.
            super::large_pages::allocate_large(m, space, vad)?;
            Ok((base, size))
        }
        AllocPlan::Reserve { base, size, vad } if vad.vad_type == VadType::Awe => {
            reserve_awe(m, space, vad)?;
            Ok((base, size))
        }
        AllocPlan::Reserve { base, size, vad } => {
            // Charges the VAD's committed pages and its page tables.
            space.insert_vad(m, vad)?;
            Ok((base, size))
        }
        AllocPlan::CommitExisting {
            base,
            size,
            vad_start,
        } => {
            // The PTEs are counted and changed: their tables must be resident.
            space.make_tables_resident(m, base.0, base.0 + size.max(1) - 1)?;
            commit_existing(m, space, base, size, vad_start, req.protection)?;
            Ok((base, size))
        }
        AllocPlan::Reset { base, size, .. } => {
            space.make_tables_resident(m, base.0, base.0 + size.max(1) - 1)?;
            super::reset::reset(m, space, base, size)?;
            Ok((base, size))
        }
    }
}

/// MEM_COMMIT inside a mapped view (NtAllocateVirtualMemory's section path):
/// a view of a mapped file is STATUS_ALREADY_COMMITTED, its pages being the
/// file's; in a view of a pagefile-backed section every prototype PTE is
/// committed already (mmfs sections are SEC_COMMIT), so nothing more is
/// charged and the range takes the protection, as MiSetProtectionOnSection
/// gives it. PAGE_NOCACHE is refused first, for any view
/// (STATUS_INVALID_PAGE_PROTECTION). WRK
/// charges a write-copy protection's pages here once more; mmfs charges a
/// write-copy view once, when it is mapped.
fn commit_in_view(
    m: &Machine,
    space: &mut AddressSpace,
    (base, size): (Va, u64),
    ca: ControlAreaId,
    protection: Protection,
) -> MmResult<()> {
    if protection.is_nocache() {
        return Err(mm_err!(
            INVALID_PAGE_PROTECTION,
            "a view cannot be committed {}: PAGE_NOCACHE is only for private memory",
            protection.name()
        ));
    }
    if m.pfn_lock()
        .segments
        .control_area(ca)
        .is_some_and(|a| a.is_file())
    {
        return Err(mm_err!(
            ALREADY_COMMITTED,
            "{:#x} is in a view of a mapped file, whose pages are always committed",
            base.0
        ));
    }
    super::protect(m, space, base.0, size, protection).map(|_| ())
}

/// MEM_COMMIT inside an existing reservation: uncommitted pages get demand-zero
/// PTEs (charged once), and already-committed pages take the new protection, as
/// WRK's NtAllocateVirtualMemory does by protecting the whole range.
fn commit_existing(
    m: &Machine,
    space: &mut AddressSpace,
    base: Va,
    size: u64,
    vad_start: Vpn,
    protection: Protection,
) -> MmResult<()> {
    let v = space
        .vads
        .get(vad_start)
        .ok_or_else(|| mm_err!(MEMORY_NOT_ALLOCATED, "the reservation went away"))?;
    if let Some(section) = &v.section {
        let ca = section.id;
        return commit_in_view(m, space, (base, size), ca, protection);
    }
    let mem_commit = v.mem_commit;
    let first = base.vpn();
    let last = Vpn(first.0 + size / PAGE_SIZE - 1);
    let already = count_committed(
        m,
        &space.tables(m),
        &space.paged_tables,
        first,
        last,
        mem_commit,
    );
    let new = (last.0 - first.0 + 1) - already;
    // Charged before any page-table work, so a range beyond the limit costs nothing.
    m.charge_commit(new)?;
    // Every page of the range is committed from here on, so this loop is bounded by
    // the commit limit. Page tables first: their failure leaves nothing half done.
    for vpn in first.0..=last.0 {
        if let Err(e) = space.ensure_leaf(m, Vpn(vpn).va()) {
            m.uncharge_commit(new);
            return Err(e);
        }
    }
    if let Err(e) = privatize_clone_pages(m, space, first, last) {
        m.uncharge_commit(new);
        return Err(e);
    }
    let template = m.fmt.encode(&PteState::DemandZero { protection });
    for vpn in first.0..=last.0 {
        let vpn = Vpn(vpn);
        if page_committed(m, space, vpn, mem_commit) {
            set_page_protection(m, space, vpn, protection);
        } else if let Some(loc) = space.tables(m).leaf(vpn.va()) {
            space.tables(m).write(loc, template);
        }
    }
    if let Some(v) = space.vads.find_mut(vad_start) {
        v.commit_charge += new;
    }
    space.note_commit_peak();
    Ok(())
}

/// MEM_RESERVE | MEM_PHYSICAL (WRK NtAllocateVirtualMemory): the VAD charges
/// no commit of its own (its pages come from AllocateUserPhysicalPages,
/// which charges them), only its page tables (MiInsertVadCharges); then
/// MiCreatePageTablesForPhysicalRange makes those tables at once and holds
/// them (`process/awe.rs`). If that fails the VAD goes again with its
/// charges (MiRemoveVad, MiReturnPageTablePageCommitment).
fn reserve_awe(m: &Machine, space: &mut AddressSpace, vad: Vad) -> MmResult<()> {
    let (first, last) = (vad.starting_vpn, vad.ending_vpn);
    space.insert_vad(m, vad)?;
    if let Err(e) = space.create_awe_tables(m, first, last) {
        space.vads.remove(first);
        space.return_table_charges(m, first, last);
        return Err(e);
    }
    Ok(())
}
