//! The demand-zero fault (MiResolveDemandZeroFault).

use crate::mm::base::counters::bump;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Pfn, Va};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Extent, Machine, PageNeed};
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::NewMapping;

use super::{Access, AccessFault, check_protection, count_fault, resources};

/// A demand-zero fault: a committed page touched for the first time gets a zeroed frame.
/// The frame comes in NT's order (zeroed list first) and is zeroed, if it needs
/// it, after the PFN lock is dropped. A write covering the whole page
/// (`Extent::WholePage`) skips the memset itself, a dead store: the page is
/// this process's alone until its address-space lock is released, and by then
/// every byte has been written. Everything NT does is still done and counted
/// (the list the page came from, `pages_zeroed`, the fault).
#[inline]
pub(super) fn demand_zero(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    protection: Protection,
    extent: Extent,
) -> Result<Pfn, AccessFault> {
    check_protection(space, va, access, protection, |space, disarmed| {
        let loc = space.ensure_leaf(m, va).map_err(resources)?;
        space.tables(m).write(
            loc,
            m.fmt.encode(&PteState::DemandZero {
                protection: disarmed,
            }),
        );
        Ok(())
    })?;
    space.replace_if_at_maximum(m);
    let loc = space.ensure_leaf(m, va).map_err(resources)?;
    let (mut st, page) = space
        .obtain_page(m, PageNeed::ZeroedByCaller)
        .map_err(resources)?;
    let original = m.fmt.encode(&PteState::DemandZero { protection });
    // WRK sets Dirty in a writable page's new PTE whatever the access: the
    // page exists only in memory, so it must be written out before its frame
    // is reused (a read of never-written memory still makes a page to save).
    // In a write-watch VAD a read leaves the PTE clean, or GetWriteWatch would
    // report a page that was only read (a deviation from WRK, whose write
    // watch does report it); the frame is Modified all the same
    // (`install_private_locked`), so it is still written out before reuse.
    let writable = protection.allows_write() && !protection.is_copy_on_write();
    let dirty = access == Access::Write || (writable && !space.vads.is_write_watched(va.vpn()));
    let map = NewMapping::new(loc, va, page.pfn, protection, dirty);
    space.install_private_locked(m, &mut st, map, original);
    drop(st);
    // The PTE is valid now, but only through this address space, whose lock we
    // hold until the fault is done: no thread can read the frame before it is
    // zeroed (WRK zeroes at this point too, before it sets the PTE valid).
    m.zero_new_page(&page, extent);
    space.private_pages += 1;
    space.faults.demand_zero += 1;
    count_fault(m, space);
    bump(&m.counters.demand_zero_faults);
    crate::mm_event!(
        m,
        "fault.demand-zero",
        "pid={} va={:#x} pfn={:#x}",
        space.pid,
        va.page_base().0,
        page.pfn.0
    );
    Ok(page.pfn)
}
