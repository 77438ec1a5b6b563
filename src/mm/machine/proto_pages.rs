//! The pages of paged pool that hold prototype PTEs, under the PFN lock: what
//! happens to their bytes when one leaves the System working set and when it
//! comes back (NT: prototype PTEs are paged pool; MiMakeSystemAddressValidPfn
//! faults a page of them back in).
//!
//! While a page is resident the subsections' arrays (`segment`) hold its PTEs;
//! when it is trimmed they are written into its frame in the arch's PTE
//! encoding (`pte_size` bytes each, little-endian) and the page is marked
//! absent; when the System process faults it back (soft from a list, or hard
//! from the paging file) they are read back from the frame. A page may leave
//! only while none of its PTEs is valid or in transition (NT: such a PTE's
//! frame holds a share of the prototype page, its PteFrame) and none belongs
//! to a fork's clone blocks (kept resident: `section/fork.rs` makes them under
//! two user address spaces, where the System process's cannot be taken).
//! Every function here is called with the PFN lock held (`st`).

use crate::mm::base::types::{PAGE_SIZE, Pfn};
use crate::mm::hw::pte::PteState;
use crate::mm::segment::ProtoPageState;

use super::{Machine, PfnState};

impl Machine {
    /// The page address of a prototype page holding `va`, if `va` is in one.
    pub fn proto_page_at_locked(&self, st: &PfnState, va: u64) -> Option<u64> {
        let page = va / PAGE_SIZE * PAGE_SIZE;
        st.segments.proto_page(page).map(|_| page)
    }

    /// Whether prototype page `page` may leave the System working set: it is
    /// backed, no PTE in it is valid or in transition, none is a clone
    /// block's.
    pub fn proto_page_trimmable_locked(&self, st: &PfnState, page: u64) -> bool {
        let segs = &st.segments;
        if segs
            .proto_page(page)
            .is_none_or(|p| p.state != ProtoPageState::Resident)
        {
            return false;
        }
        segs.page_locations(page).into_iter().all(|at| {
            let clone = segs
                .owner(at)
                .and_then(|ca| segs.control_area(ca))
                .is_some_and(|a| a.is_clone());
            !clone
                && !matches!(
                    self.fmt.decode_prototype(segs.read(at)),
                    PteState::Valid(_) | PteState::Transition { .. }
                )
        })
    }

    /// Prototype page `page` (frame `pfn`) leaves the working set: its PTEs
    /// are written into the frame and it is marked absent. Returns whether
    /// that changed the frame's bytes (the page is then dirty: any copy of it
    /// in a paging file is stale).
    pub fn proto_page_out_locked(&self, st: &mut PfnState, page: u64, pfn: Pfn) -> bool {
        let changed = self.write_proto_image_locked(st, page, pfn);
        let slots = st
            .segments
            .page_locations(page)
            .into_iter()
            .filter(|&at| {
                matches!(
                    self.fmt.decode_prototype(st.segments.read(at)),
                    PteState::PageFile { .. }
                )
            })
            .count() as u64;
        st.segments.set_page_slots(page, slots);
        st.segments.set_page_state(page, ProtoPageState::Absent);
        crate::mm_event!(
            self,
            "section.proto-page-out",
            "va={page:#x} pfn={:#x}",
            pfn.0
        );
        changed
    }

    /// Writes the resident prototype page `page`'s PTEs into frame `pfn`
    /// (also what `kernel/mem` shows); returns whether the bytes changed.
    pub fn write_proto_image_locked(&self, st: &PfnState, page: u64, pfn: Pfn) -> bool {
        let mut changed = false;
        for (offset, bytes) in st.segments.page_image(page) {
            let mut old = vec![0u8; bytes.len()];
            self.phys.read(pfn, offset as usize, &mut old);
            if old != bytes {
                self.phys.write(pfn, offset as usize, &bytes);
                changed = true;
            }
        }
        changed
    }

    /// Resident prototype page `page`'s PTEs written into its frame `pfn`
    /// for someone to read the bytes (`kernel/mem`). Bytes that change make
    /// the page modified, its paging-file copy released: they went in past
    /// its valid PTE's Dirty bit, and the trim that later writes the same
    /// image finds nothing changed, so the page would leave clean and the
    /// stale copy in its slot come back in its place (the PTEs it held, and
    /// the pages they named, lost).
    pub fn show_proto_image_locked(&self, st: &mut PfnState, page: u64, pfn: Pfn) {
        if self.write_proto_image_locked(st, page, pfn) {
            st.db.set_modified(pfn, true);
            self.release_backing_locked(st, pfn);
        }
    }

    /// The System process made page `va` valid with frame `pfn`: if it is an
    /// absent prototype page its PTEs are read back from the frame, and the
    /// orphans of deleted sections free the paging-file slots they name.
    pub fn proto_page_in_locked(&self, st: &mut PfnState, va: u64, pfn: Pfn) {
        let page = va / PAGE_SIZE * PAGE_SIZE;
        if st
            .segments
            .proto_page(page)
            .is_none_or(|p| p.state != ProtoPageState::Absent)
        {
            return;
        }
        let mut frame = vec![0u8; PAGE_SIZE as usize];
        self.phys.read(pfn, 0, &mut frame);
        st.segments.load_page(page, &frame);
        st.segments.set_page_state(page, ProtoPageState::Resident);
        let size = st.segments.pte_size() as usize;
        for (offset, count) in st.segments.take_orphans(page) {
            for k in 0..count as usize {
                let at = offset as usize + k * size;
                let mut raw = [0u8; 8];
                if let Some(src) = frame.get(at..at + size) {
                    raw[..size].copy_from_slice(src);
                }
                let pte = crate::mm::base::types::Mmpte(u64::from_le_bytes(raw));
                if let PteState::PageFile { file, slot, .. } = self.fmt.decode_prototype(pte) {
                    self.pagefiles_lock().release(file, slot);
                }
            }
        }
        crate::mm_event!(
            self,
            "section.proto-page-in",
            "va={page:#x} pfn={:#x}",
            pfn.0
        );
    }
}
