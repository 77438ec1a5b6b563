//! Dropping a file's cached pages past a new end of file (WRK MmPurgeSection,
//! called by CcPurgeCacheSection when a file is truncated or purged). A page
//! on a list (standby or modified) goes to the free list and its prototype
//! PTE becomes the subsection PTE again, so the data past the end is gone, not
//! written. The caller has unmapped the cache's views of the range and made
//! sure no process maps it (STATUS_USER_MAPPED_FILE otherwise).

use crate::mm::base::protection::Protection;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::pfn::PageLocation;
use crate::mm::segment::ControlAreaId;

/// Purges the pages of control area `ca` with indexes `first..=last`.
/// Returns how many pages could not be purged because I/O was in flight on
/// them or a view still maps them (they are left as they are).
pub fn purge(m: &Machine, ca: ControlAreaId, first: u64, last: u64) -> u64 {
    let mut st = m.pfn_lock();
    let Some(total) = st.segments.control_area(ca).map(|a| a.total_ptes) else {
        return 0;
    };
    let mut left = 0;
    for index in first..total.min(last.saturating_add(1)) {
        let Some(at) = st.segments.locate(ca, index) else {
            continue;
        };
        // A paged-out page of prototype PTEs holds no page in memory.
        let Some(raw) = st.segments.try_read(at) else {
            continue;
        };
        let pfn = match m.fmt.decode_prototype(raw) {
            PteState::Transition { pfn, .. } => pfn,
            PteState::Valid(_) => {
                left += 1;
                continue;
            }
            _ => continue,
        };
        if !st.db.location(pfn).is_some_and(PageLocation::is_list) {
            left += 1; // read or write in flight
            continue;
        }
        st.db.unlink(pfn);
        m.free_page_locked(&mut st, pfn);
        let template = m.fmt.encode(&PteState::Subsection {
            subsection: at.subsection,
            protection: Protection::READWRITE,
        });
        st.segments.write(at, template);
        if let Some(area) = st.segments.control_area_mut(ca) {
            area.pfn_references -= 1;
        }
    }
    left
}
