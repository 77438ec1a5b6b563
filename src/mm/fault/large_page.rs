//! An access under a large-page PDE (MEM_LARGE_PAGES, `vm/large_pages.rs`):
//! the MMU stops at the PDE, whose LargePage bit says it maps the page
//! itself; the frame is the PDE's first frame plus the 4 KB page's index in
//! the large page. Never a fault: the PDE is always valid and writable (WRK
//! maps large pages read/write), so the hardware only sets Accessed, and
//! Dirty on a write, in the PDE.

use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;

use super::{Access, AccessFault, protection_fault, set_accessed_and_dirty};

/// The frame of `va` under the large PDE at `loc` holding `raw`.
pub(super) fn large_page(
    m: &Machine,
    space: &mut AddressSpace,
    (loc, raw): (EntryLoc, Mmpte),
    va: Va,
    access: Access,
) -> Result<Pfn, AccessFault> {
    let PteState::Valid(h) = m.fmt.decode(raw) else {
        return Err(protection_fault(va, access, "the large page is not mapped"));
    };
    if access == Access::Write && !h.write {
        return Err(protection_fault(
            va,
            access,
            "the large page is not writable",
        ));
    }
    set_accessed_and_dirty(m, space, loc, h, access);
    let index = (va.0 % m.fmt.large_page_size()) / PAGE_SIZE;
    Ok(Pfn(h.pfn.0 + index as u32))
}
