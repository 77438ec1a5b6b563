//! The pages every process has before it touches anything, as WRK's
//! MmCreateProcessAddressSpace makes them and MiInitializeWorkingSetList
//! enters them in the working set: the top-level table (x86: the page
//! directory; PAE: its four page directories; x64: the PML4), the page tables
//! that map hyperspace (x64: with the page-directory-pointer page and page
//! directory above them), the VAD bitmap page (VAD_BITMAP_SPACE) and the
//! working-set list page (MmWorkingSetList). Their entries are the first in
//! the working set and locked there (below FirstDynamic), so they count
//! against VirtualLock's quota and are never trimmed; the process is charged
//! MM_PROCESS_COMMIT_CHARGE pages for them.
//!
//! PAE's page-directory-pointer table is a frame of its own here; WRK carves
//! 32-byte PDPTs out of shared pages and charges nothing for them, so it is
//! neither charged nor in the working set.

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, Mmpte, PAGE_SIZE, Pfn, Va};
use crate::mm::hw::layout::Layout;
use crate::mm::hw::pte::{Level, PteState};
use crate::mm::machine::{ActivePage, Machine, PageNeed, activate_locked};
use crate::mm::pfn::PageUse;

use super::address_space::AddressSpace;
use super::page_tables::{TableSource, pte_va, table_entry};
use super::reclaim::obtain_page_without_trim;
use super::working_set::{Wsle, WsleKind};

/// MM_PROCESS_COMMIT_CHARGE: x86 4 (page directory, hyperspace page table,
/// VAD bitmap, working-set list), PAE 8 (four page directories, two
/// hyperspace page tables, VAD bitmap, working-set list), x64 6 (PML4,
/// hyperspace PDP page, page directory and page table, VAD bitmap,
/// working-set list).
pub const fn process_commit_charge(arch: Arch) -> u64 {
    match arch {
        Arch::X86 => 4,
        Arch::Pae => 8,
        Arch::X64 => 6,
    }
}

/// Where the VAD bitmap page sits above the start of hyperspace: after the
/// mapping PTEs (FIRST_MAPPING_PTE, 255 of them on x86, 126 on x64) and the
/// compression mapping PTE.
fn vad_bitmap_offset(arch: Arch) -> u64 {
    let mapping_ptes = if arch == Arch::X64 { 126 } else { 255 };
    (mapping_ptes + 2) * PAGE_SIZE
}

/// The data pages of hyperspace: the VAD bitmap page, then the working-set
/// list page (on x86 0xC0501000 and 0xC0502000; on x64 0xFFFFF70000080000
/// and 0xFFFFF70000081000).
pub fn hyperspace_data_pages(layout: &Layout) -> [Va; 2] {
    let bitmap = layout.hyper_space() + vad_bitmap_offset(layout.arch());
    [Va(bitmap), Va(bitmap + PAGE_SIZE)]
}

/// Hyperspace, inclusive: the range the process's own system pages live in.
pub fn hyperspace_range(layout: &Layout) -> (u64, u64) {
    layout
        .region_named(crate::mm::hw::layout::names::HYPERSPACE)
        .map_or((0, 0), |r| (r.start, r.end))
}

/// Page tables hyperspace has besides those on the way to its data pages:
/// PAE's second (HYPER_SPACE2, 2 MB up), which maps the rest of the working-set
/// list as it grows.
fn extra_tables(layout: &Layout) -> Vec<Va> {
    match layout.arch() {
        Arch::Pae => vec![Va(layout.hyper_space() + (2 << 20))],
        _ => Vec::new(),
    }
}

impl AddressSpace {
    /// Builds hyperspace in a new address space whose top-level tables are in
    /// place: its page tables and the two data pages, each entered locked in
    /// the working set in WRK's order. Frames come from the lists (writing
    /// modified pages out if need be, never trimming anyone: the caller holds
    /// the process table). On failure what was built stays for
    /// `destroy_tables` to free.
    pub(super) fn build_hyperspace(&mut self, m: &Machine) -> MmResult<()> {
        let source: &mut TableSource<'_, '_> = &mut |_, m| {
            obtain_page_without_trim(m, PageNeed::Zeroed).ok_or_else(|| {
                mm_err!(
                    NO_MEMORY,
                    "no physical page is available for a new process's hyperspace"
                )
            })
        };
        let [bitmap, list] = hyperspace_data_pages(&m.layout);
        let leaf = self.walk_to_leaf(m, bitmap, source)?;
        for va in extra_tables(&m.layout) {
            self.walk_to_leaf(m, va, source)?;
        }
        for va in [bitmap, list] {
            let (mut st, page) = source(self, m)?;
            let mut entry = Wsle::new(va, page.pfn, Protection::READWRITE, WsleKind::System);
            entry.locked = true;
            let ws_index = self.ws.insert(entry);
            let active = ActivePage {
                use_: PageUse::ProcessPrivate,
                owner: self.slot,
                pte_address: pte_va(m, va),
                original_pte: m.fmt.encode(&PteState::DemandZero {
                    protection: Protection::READWRITE,
                }),
                share: 1,
                ws_index,
            };
            activate_locked(&mut st, page.pfn, active);
            st.db.increment_share(leaf.table);
            drop(st);
            // Both pages are in the one table that maps the start of hyperspace.
            let loc = self.tables(m).leaf(va).unwrap_or(leaf);
            self.tables(m).write(loc, table_entry(m, page.pfn, false));
        }
        Ok(())
    }

    /// Every frame of hyperspace: (tables, data pages), for teardown.
    pub(super) fn hyperspace_frames(&self, m: &Machine) -> (Vec<Pfn>, Vec<Pfn>) {
        let tables = self.tables(m);
        let (start, end) = hyperspace_range(&m.layout);
        let (mut table_frames, mut data) = (Vec::new(), Vec::new());
        tables.for_each_entry(start, end, &mut |level, _, _, raw: Mmpte| {
            let Some(child) = tables.valid_pfn(raw) else {
                return;
            };
            if level == Level::Pte {
                data.push(child);
            } else if !(m.fmt.arch() == Arch::Pae && level == Level::Ppe) {
                // PAE's page directories belong to the top-level set.
                table_frames.push(child);
            }
        });
        (table_frames, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperspace_pages_are_where_wrk_puts_them() {
        let x86 = Layout::new(Arch::X86, false);
        assert_eq!(
            hyperspace_data_pages(&x86),
            [Va(0xC050_1000), Va(0xC050_2000)]
        );
        let x64 = Layout::new(Arch::X64, false);
        assert_eq!(
            hyperspace_data_pages(&x64),
            [Va(0xFFFF_F700_0008_0000), Va(0xFFFF_F700_0008_1000)]
        );
        let pae = Layout::new(Arch::Pae, false);
        assert_eq!(hyperspace_data_pages(&pae)[0], Va(0xC090_1000));
        assert_eq!(extra_tables(&pae), vec![Va(0xC0A0_0000)]);
        assert_eq!(process_commit_charge(Arch::Pae), 8);
    }
}
