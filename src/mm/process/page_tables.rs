//! Page tables as the address space owns them: created on demand (held in the
//! working set; their commit is charged when a VAD needs them, see
//! `table_charges.rs`), freed when they map nothing, and the self-map
//! addresses at which the process sees them. Callers hold the address-space
//! lock.

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, Mmpte, PAGE_SIZE, Pfn, Pid, PteAddress, Va, Vpn};
use crate::mm::hw::pagetable::{EntryLoc, PageTables};
use crate::mm::hw::pte::{HardwarePte, Level, PteState};
use std::sync::MutexGuard;

use crate::mm::machine::{ActivePage, Machine, NewPage, PageNeed, PfnState, activate_locked};
use crate::mm::pfn::PageUse;

use super::address_space::AddressSpace;
use super::system_tables::is_shared_entry;
use super::table_paging::PagedTables;
use super::working_set::{Wsle, WsleKind};

/// Where a walk that must create page tables gets their frames: the allocator
/// (a fault) or frames set aside beforehand (a new address space).
pub(super) type TableSource<'f, 'm> =
    dyn FnMut(&mut AddressSpace, &'m Machine) -> MmResult<(MutexGuard<'m, PfnState>, NewPage)> + 'f;

impl AddressSpace {
    /// The PTE location of `va`, creating any missing page tables on the way
    /// (each added to the working set; their commit was charged with the VAD,
    /// see `table_charges.rs`).
    pub fn ensure_leaf(&mut self, m: &Machine, va: Va) -> MmResult<EntryLoc> {
        self.ensure_entry(m, va, Level::Pte)
    }

    /// The location of `va`'s entry at `level`, creating the tables above it
    /// that are missing (`ensure_leaf` is `level` PTE; a large page's PDE
    /// needs only the directories, `vm/large_pages.rs`).
    pub fn ensure_entry(&mut self, m: &Machine, va: Va, level: Level) -> MmResult<EntryLoc> {
        self.walk_to(m, va, level, &mut |space, m| {
            space.obtain_page(m, PageNeed::Zeroed)
        })
    }

    /// `ensure_leaf` with the frames of new tables taken from `source`.
    pub(super) fn walk_to_leaf<'m>(
        &mut self,
        m: &'m Machine,
        va: Va,
        source: &mut TableSource<'_, 'm>,
    ) -> MmResult<EntryLoc> {
        self.walk_to(m, va, Level::Pte, source)
    }

    /// `ensure_entry` with the frames of new tables taken from `source`. A
    /// large-page PDE on the way is refused (STATUS_CONFLICTING_ADDRESSES):
    /// there is no page table below it, and it is never replaced by one.
    fn walk_to<'m>(
        &mut self,
        m: &'m Machine,
        va: Va,
        target: Level,
        source: &mut TableSource<'_, 'm>,
    ) -> MmResult<EntryLoc> {
        let tables = self.tables(m);
        let mut level = tables.top();
        let mut table = self.dtb;
        loop {
            let index = m
                .fmt
                .index(va, level)
                .ok_or_else(|| mm_err!(INVALID_ADDRESS, "{:#x} is not translatable", va.0))?;
            let loc = EntryLoc { table, index };
            if level <= target {
                return Ok(loc);
            }
            let lower = Level::from_number(level.number() - 1).expect("level below");
            let mut raw = tables.read(loc);
            if level == Level::Pde && m.fmt.is_large_page(raw) {
                return Err(mm_err!(
                    CONFLICTING_ADDRESSES,
                    "{:#x} is in a large page: its PDE maps the page itself, with no page table below",
                    va.0
                ));
            }
            if level == Level::Pde
                && user_va(m, va)
                && !raw.is_zero()
                && tables.valid_pfn(raw).is_none()
            {
                // A paged-out table (`table_paging.rs`): bring it back, never
                // make a new one over the PDE that names it.
                self.make_table_resident(m, va)?;
                raw = tables.read(loc);
            }
            table = match tables.valid_pfn(raw) {
                Some(child) => child,
                None if !raw.is_zero() && level == Level::Pde && user_va(m, va) => {
                    return Err(mm_err!(
                        INVALID_ADDRESS,
                        "the page-directory entry for {:#x} holds {raw:#x}, not a page table",
                        va.0
                    ));
                }
                None => {
                    let (st, page) = source(self, m)?;
                    self.create_table(m, (st, page), va, level, loc)
                }
            };
            level = lower;
        }
    }

    /// Makes `page` the table that `parent` (an entry at `level`) points at.
    /// A table mapping system space (hyperspace) is locked in the working set,
    /// below FirstDynamic as WRK keeps it.
    fn create_table(
        &mut self,
        m: &Machine,
        (mut st, page): (MutexGuard<'_, PfnState>, NewPage),
        va: Va,
        level: Level,
        parent: EntryLoc,
    ) -> Pfn {
        let lower = Level::from_number(level.number() - 1).expect("level below");
        let table_va = self_map_va(m, lower, va);
        let user = va.0 <= m.layout.highest_user_address();
        let mut entry = Wsle::new(
            table_va,
            page.pfn,
            Protection::READWRITE,
            WsleKind::PageTable,
        );
        entry.locked = !user;
        let ws_index = self.ws.insert(entry);
        let active = ActivePage {
            use_: PageUse::PageTable,
            owner: self.slot,
            pte_address: pte_va(m, table_va),
            original_pte: Mmpte::ZERO,
            share: 1,
            ws_index,
        };
        activate_locked(&mut st, page.pfn, active);
        st.db.increment_share(parent.table);
        drop(st);
        self.tables(m).write(parent, table_entry(m, page.pfn, user));
        self.page_table_pages += 1;
        page.pfn
    }

    /// Frees every page table that maps nothing in `[start, end]` any more (after a
    /// release), lowest level first; the top-level table and PAE's four fixed page
    /// directories stay.
    pub fn free_empty_tables(&mut self, m: &Machine, start: u64, end: u64) {
        let tables = self.tables(m);
        let pae = m.fmt.arch() == Arch::Pae;
        // (level of the parent entry, parent entry, child table)
        let mut candidates: Vec<(Level, EntryLoc, Pfn)> = Vec::new();
        // The System process keeps the tables its shared system entries
        // point at: every process holds a copy of those entries.
        let system = self.pid == Pid::SYSTEM;
        tables.for_each_entry(start, end, &mut |level, va, loc, raw| {
            if level == Level::Pte || (pae && level == Level::Ppe) {
                return;
            }
            if system && is_shared_entry(m, va, level) {
                return;
            }
            if let Some(child) = tables.valid_pfn(raw) {
                candidates.push((level, loc, child));
            }
        });
        candidates.sort_by_key(|c| c.0);
        for (level, parent, child) in candidates {
            let child_level = Level::from_number(level.number() - 1).unwrap_or(Level::Pte);
            let entries = m.fmt.entries_per_table(child_level);
            let empty = (0..entries).all(|i| {
                tables
                    .read(EntryLoc {
                        table: child,
                        index: i,
                    })
                    .is_zero()
            });
            if !empty {
                continue;
            }
            let mut st = m.pfn_lock();
            if st.db.share_count(child) != 1 {
                // Held by an AWE VAD (`awe.rs`) though it maps nothing now.
                continue;
            }
            let index = st.db.ws_index(child);
            self.ws.remove(index);
            tables.write(parent, Mmpte::ZERO);
            st.db.decrement_share(parent.table);
            m.free_page_locked(&mut st, child);
            drop(st);
            self.page_table_pages -= 1;
        }
    }

    /// Frees every table frame and hyperspace page (the address space must hold
    /// no other pages any more) and returns the process's own commit charge.
    pub fn destroy_tables(&mut self, m: &Machine) {
        // Tables still paged out (`tear_down` discards them first; this
        // catches a failed creation's).
        self.discard_paged_tables(m);
        let tables = self.tables(m);
        let mut frames: Vec<Pfn> = Vec::new();
        let user_end = m.layout.highest_user_address();
        tables.for_each_entry(0, user_end, &mut |level, _, _, raw| {
            if level != Level::Pte
                && let Some(child) = tables.valid_pfn(raw)
            {
                frames.push(child);
            }
        });
        let (hyper_tables, hyper_data) = self.hyperspace_frames(m);
        frames.extend(hyper_tables);
        if m.fmt.arch() == Arch::Pae {
            // The four page directories: user ones were found above if in range.
            for i in 0..4 {
                if let Some(pd) = tables.valid_pfn(tables.read(EntryLoc {
                    table: self.dtb,
                    index: i,
                })) && !frames.contains(&pd)
                {
                    frames.push(pd);
                }
            }
        }
        frames.push(self.dtb);
        let table_count = frames.len() as u64;
        frames.extend(hyper_data);
        let mut st = m.pfn_lock();
        for &f in &frames {
            let index = st.db.ws_index(f);
            self.ws.remove(index);
            m.free_page_locked(&mut st, f);
        }
        drop(st);
        m.uncharge_commit(self.process_charge);
        self.process_charge = 0;
        self.page_table_pages = self.page_table_pages.saturating_sub(table_count);
    }
}

/// The valid PTE template for an upper-level entry pointing at a user page table:
/// present, writable, user, accessed, dirty (NT's valid PDE for user space).
pub(super) fn table_entry(m: &Machine, pfn: Pfn, user: bool) -> Mmpte {
    m.fmt.encode(&PteState::Valid(HardwarePte {
        pfn,
        write: true,
        owner: user,
        accessed: true,
        dirty: true,
        ..HardwarePte::default()
    }))
}

/// Whether `va` is in user space (the only place page tables page out).
fn user_va(m: &Machine, va: Va) -> bool {
    va.0 <= m.layout.highest_user_address()
}

/// The self-map address of the PTE of `va` (NT's MiGetPteAddress).
pub fn pte_va(m: &Machine, va: Va) -> PteAddress {
    m.fmt.entry_va(va, Level::Pte).unwrap_or_default()
}

/// The self-map VA at which the table holding `va`'s `level` entry appears.
pub fn self_map_va(m: &Machine, level: Level, va: Va) -> Va {
    m.fmt
        .entry_va(va, level)
        .map_or(Va(0), |e| e.va().page_base())
}

/// Whether the PTE value `raw` (inside a VAD with MemCommit `mem_commit`) is a
/// committed page, as NT's MiCalculatePageCommitment judges it.
pub fn committed_pte(m: &Machine, raw: Mmpte, mem_commit: bool) -> bool {
    match m.fmt.decode(raw) {
        PteState::Zero => mem_commit,
        PteState::Decommitted => false,
        _ => true,
    }
}

/// Committed pages in `[first, last]`, walking only the page tables that exist
/// (a missing table means zero PTEs: committed exactly when `mem_commit`) and
/// reading what the paged-out ones hold from `paged` (without faulting them
/// back: verify and a split's recount of the half it keeps use it too).
pub fn count_committed(
    m: &Machine,
    tables: &PageTables<'_>,
    paged: &PagedTables,
    first: Vpn,
    last: Vpn,
    mem_commit: bool,
) -> u64 {
    let resident = count_resident_committed(m, tables, first, last, mem_commit);
    // Paged-out tables read as missing (all zero) above: correct by what
    // they hold (their zero PTEs are not saved, and already counted right).
    let (start, end) = (first.va().0, last.va().0 + (PAGE_SIZE - 1));
    let mut committed = resident;
    for (_, raw) in paged.saved_ptes_in(m, start, end) {
        match (mem_commit, committed_pte(m, raw, mem_commit)) {
            (true, false) => committed = committed.saturating_sub(1),
            (false, true) => committed += 1,
            _ => {}
        }
    }
    committed
}

/// `count_committed` over the resident page tables only.
fn count_resident_committed(
    m: &Machine,
    tables: &PageTables<'_>,
    first: Vpn,
    last: Vpn,
    mem_commit: bool,
) -> u64 {
    let pages = last.0 - first.0 + 1;
    let (mut yes, mut no) = (0u64, 0u64);
    tables.for_each_entry(
        first.va().0,
        last.va().0 + (PAGE_SIZE - 1),
        &mut |level, _, _, raw| {
            if level == Level::Pte {
                if committed_pte(m, raw, mem_commit) {
                    yes += 1;
                } else {
                    no += 1;
                }
            }
        },
    );
    if mem_commit { pages - no } else { yes }
}
