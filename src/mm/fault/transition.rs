//! The transition (soft) fault (MiResolveTransitionFault): the page is still in
//! memory, on the standby or modified list or under a write in flight.

use crate::mm::base::counters::bump;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::NtStatus;
use crate::mm::base::types::{Pfn, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::pfn::PageLocation;
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::NewMapping;

use super::{Access, AccessFault, FaultKind, check_protection, count_fault, fault, touch, verb};

/// A transition (soft) fault: the page is still in memory on the standby or
/// modified list; take it back without any I/O.
#[inline]
pub(super) fn transition(
    m: &Machine,
    space: &mut AddressSpace,
    loc: EntryLoc,
    va: Va,
    access: Access,
    pfn: Pfn,
    protection: Protection,
) -> Result<Pfn, AccessFault> {
    check_protection(space, va, access, protection, |space, disarmed| {
        // Transition PTEs change only under the PFN lock. The frame's
        // OriginalPte loses the guard too: it is what the PTE becomes if the
        // page is repurposed, and the guard must not come back then.
        let mut st = m.pfn_lock();
        let original = m.fmt.reprotect_original(st.db.original_pte(pfn), disarmed);
        st.db.set_original_pte(pfn, original);
        space.tables(m).write(
            loc,
            m.fmt.encode(&PteState::Transition {
                pfn,
                protection: disarmed,
            }),
        );
        Ok(())
    })?;
    space.replace_if_at_maximum(m);
    let mut st = m.pfn_lock();
    // Re-read under the PFN lock: transition PTEs are the PFN lock's to change.
    let tables = space.tables(m);
    if m.fmt.decode(tables.read(loc)) != (PteState::Transition { pfn, protection }) {
        drop(st);
        return touch(m, space, va, access);
    }
    if st.db.in_page_error(pfn) {
        return Err(fault(
            FaultKind::InPage,
            NtStatus::IN_PAGE_ERROR,
            format!(
                "{} of {:#x}: its frame {:#x} is bad",
                verb(access),
                va.0,
                pfn.0
            ),
        ));
    }
    let was = st.db.location(pfn);
    if was.is_some_and(PageLocation::is_list) {
        st.db.unlink(pfn);
    }
    // From a list, or (no list) a frame whose cluster write is still in flight.
    st.db.set_location(pfn, PageLocation::Active);
    let map = NewMapping::new(loc, va, pfn, protection, access == Access::Write);
    space.map_valid_locked(m, &mut st, map);
    drop(st);
    space.faults.transition += 1;
    count_fault(m, space);
    bump(&m.counters.transition_faults);
    crate::mm_event!(
        m,
        "fault.transition",
        "pid={} va={:#x} pfn={:#x} from={}",
        space.pid,
        va.page_base().0,
        pfn.0,
        was.map_or("?", PageLocation::name)
    );
    Ok(pfn)
}
