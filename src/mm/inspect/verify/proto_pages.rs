//! The checks of the pages of paged pool holding prototype PTEs, against the
//! System process's page tables: an unbacked page has no System PTE; a
//! resident one is valid (the space walk checks its working-set entry); an
//! absent one is in transition or in a paging file, and (when its frame is
//! in memory) holds no valid or transition prototype PTE. Each backed page is
//! one page of commit; the paging-file slots an absent page's PTEs name are
//! counted as named (they cannot be read without I/O).
//!
//! Looking never faults a page in: an absent page's PTEs are read from its
//! frame only when it is in transition.

use crate::mm::base::types::{Mmpte, PAGE_SIZE, Va};
use crate::mm::hw::pte::PteState;
use crate::mm::pfn::PageUse;
use crate::mm::process::AddressSpace;
use crate::mm::segment::ProtoPageState;

use super::Tally;

pub(super) fn check(t: &mut Tally<'_>, system: &AddressSpace) {
    let (m, st) = (t.m, t.st);
    let tables = system.tables(m);
    for (&page, p) in st.segments.proto_pages() {
        let pte = tables
            .leaf(Va(page))
            .map_or(Mmpte::ZERO, |loc| tables.read(loc));
        let state = m.fmt.decode(pte);
        let who = format!("prototype page {page:#x}");
        match (p.state, state) {
            (ProtoPageState::Unbacked, PteState::Zero) if p.users > 0 => {}
            (ProtoPageState::Resident, PteState::Valid(h)) => {
                if st.db.page_use(h.pfn) != PageUse::PagedPool {
                    t.v.push(format!("{who}: frame {:#x} is not paged pool", h.pfn.0));
                }
            }
            (ProtoPageState::Absent, PteState::Transition { pfn, .. }) => {
                absent_frame(t, page, pfn, &who);
                t.hidden_slots += p.slots;
            }
            (ProtoPageState::Absent, PteState::PageFile { .. }) => t.hidden_slots += p.slots,
            (s, other) => t.v.push(format!(
                "{who} ({} users) is {s:?} but its System PTE is {other:?}",
                p.users
            )),
        }
        if p.state != ProtoPageState::Absent && !p.orphans.is_empty() {
            t.v.push(format!("{who} is {:?} but keeps orphans", p.state));
        }
    }
    t.commit_sum += st.segments.backed_pages();
}

/// An absent page still in memory: none of its prototype PTEs, as its frame
/// holds them, is valid or in transition.
fn absent_frame(t: &mut Tally<'_>, page: u64, pfn: crate::mm::base::types::Pfn, who: &str) {
    let (m, st) = (t.m, t.st);
    let size = st.segments.pte_size() as usize;
    let mut frame = vec![0u8; PAGE_SIZE as usize];
    m.phys.read(pfn, 0, &mut frame);
    for (_, offset) in st.segments.page_offsets(page) {
        let at = offset as usize;
        let mut raw = [0u8; 8];
        if let Some(src) = frame.get(at..at + size) {
            raw[..size].copy_from_slice(src);
        }
        let pte = Mmpte(u64::from_le_bytes(raw));
        if matches!(
            m.fmt.decode_prototype(pte),
            PteState::Valid(_) | PteState::Transition { .. }
        ) {
            t.v.push(format!(
                "{who} is paged out but its PTE at offset {offset:#x} is {pte:#x}, in memory"
            ));
        }
    }
}
