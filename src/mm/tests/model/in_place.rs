//! The pagefile-backed sections' pages read where they lie, without a fault:
//! the frame a valid or transition prototype PTE names, the paging-file slot
//! a paging-file one names, zeros for demand zero. A sweep reads through one
//! process's views and faults, so it finds a lost page only when a view of
//! it is read; this check looks at every section page the model is sure of
//! after every batch, and names the first one that went wrong.

use crate::mm::Mm;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::hw::pte::PteState;
use crate::mm::segment::ControlAreaId;

/// Page `page` of the section whose control area is `ca`, as it lies: `None`
/// when it cannot be told without a fault (its prototype PTEs' page is paged
/// out, the control area is gone) or it is not a pagefile-backed page.
pub(super) fn section_page(mm: &Mm, ca: ControlAreaId, page: u64) -> Option<Vec<u8>> {
    let m = &mm.machine;
    let st = m.pfn_lock();
    let at = st.segments.locate(ca, page)?;
    let raw = st.segments.try_read(at)?;
    let mut bytes = vec![0u8; PAGE_SIZE as usize];
    match m.fmt.decode_prototype(raw) {
        PteState::Valid(h) => m.phys.read(h.pfn, 0, &mut bytes),
        PteState::Transition { pfn, .. } => m.phys.read(pfn, 0, &mut bytes),
        PteState::PageFile { file, slot, .. } => {
            // The paging files' lock is taken below the PFN lock, as the
            // fault's read does (`fault/prototype.rs`).
            let io = m.pagefiles_lock().io(file)?;
            io.read_pages(slot, &mut bytes).ok()?;
        }
        PteState::DemandZero { .. } | PteState::Zero => {}
        _ => return None,
    }
    Some(bytes)
}
