//! Deleting a control area once nothing refers to it (NT: MiCheckControlArea and
//! MiSegmentDelete). Its modified pages are written to its file first, so a
//! file-backed section's data is in the file byte for byte once its last view
//! and name are gone; then every page and paging-file slot it held is freed and
//! the commit it charged is returned. If a write fails the control area stays
//! (unreferenced) and the mapped page writer tries again on its next pass.

use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::machine::Machine;
use crate::mm::paging::mapped_writer::{flush_range, write_all_mapped};
use crate::mm::pfn::PageLocation;
use crate::mm::segment::ControlAreaId;

/// Deletes control area `ca` if nothing refers to it. Call without the commit
/// or PFN lock: it writes the area's dirty pages to its file (`flush_range`),
/// then takes the PFN lock and, once that is let go, the commit lock. No
/// caller holds an address space, so no fault waits behind those writes:
/// termination holds only the lifecycle lock (shared), the mapped page
/// writer's pass only `SystemThreads::running`, `unmap` nothing.
pub fn delete_if_unreferenced(m: &Machine, ca: ControlAreaId) {
    let is_file = {
        let st = m.pfn_lock();
        match st.segments.control_area(ca) {
            Some(area) if area.unreferenced() && !area.is_clone() => area.is_file(),
            _ => return,
        }
    };
    if is_file {
        flush_range(m, ca, 0, u64::MAX, true);
    }
    let mut st = m.pfn_lock();
    let Some(area) = st.segments.control_area(ca) else {
        return;
    };
    if !area.unreferenced() {
        return;
    }
    let locations = st.segments.locations(ca);
    if is_file {
        // Anything still dirty (a write failed) or being written keeps the
        // area alive until the writer has it on disk.
        let pending = locations.iter().any(|&at| {
            st.segments
                .try_read(at)
                .and_then(|raw| m.fmt.pfn(raw))
                .is_some_and(|p| st.db.modified(p) || st.db.write_in_progress(p))
        });
        if pending {
            return;
        }
    }
    for at in locations {
        // A paged-out page of prototype PTEs holds no page in memory; the
        // paging-file slots its PTEs name are freed when the System process
        // faults it back (`remove_control_area` makes them the page's
        // orphans; `kernel/proto_pages.rs` settles them), as NT's
        // MiSegmentDelete faults the prototype PTEs in.
        let Some(raw) = st.segments.try_read(at) else {
            continue;
        };
        match m.fmt.decode_prototype(raw) {
            PteState::Transition { pfn, .. } | PteState::Valid(HardwarePte { pfn, .. }) => {
                if st.db.location(pfn).is_some_and(PageLocation::is_list) {
                    st.db.unlink(pfn);
                    m.free_page_locked(&mut st, pfn);
                } else {
                    // Reads and writes in flight hold it; they free it.
                    st.db.set_deleted(pfn, true);
                }
            }
            PteState::PageFile { file, slot, .. } => m.pagefiles_lock().release(file, slot),
            _ => {}
        }
    }
    let committed = st
        .segments
        .remove_control_area(ca)
        .map_or(0, |a| a.committed_pages);
    drop(st);
    m.uncharge_commit(committed);
    crate::mm_event!(m, "section.control-area-deleted", "ca={ca}");
}

/// One pass of the mapped page writer, for the system thread and for
/// `Mm::mapped_page_writer_pass` alike: every mapped-file page on the modified
/// list is written (`write_all_mapped`), then the control areas a failed write
/// kept alive are deleted if their pages are on disk now. Call holding at most
/// `SystemThreads::running`: the writes here hold no data lock, so no fault
/// waits behind them (see `delete_if_unreferenced`). Returns the pages written.
pub fn mapped_page_writer_pass(m: &Machine) -> u64 {
    let written = write_all_mapped(m);
    retry_unreferenced(m);
    written
}

/// Tries again to delete control areas left behind by failed writes.
fn retry_unreferenced(m: &Machine) {
    let leftover: Vec<ControlAreaId> = {
        let st = m.pfn_lock();
        st.segments
            .control_areas
            .values()
            .filter(|a| a.unreferenced() && !a.is_clone())
            .map(|a| a.id)
            .collect()
    };
    for ca in leftover {
        delete_if_unreferenced(m, ca);
    }
}
