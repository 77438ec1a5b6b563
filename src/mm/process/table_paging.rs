//! Pageable page tables. A user page table that maps no valid page and holds
//! no transition PTE leaves the working set like a data page: its PDE becomes
//! a transition PTE, the frame goes to the modified list, the modified page
//! writer writes it to a paging file, and when the frame is repurposed its
//! OriginalPte (a paging-file PTE) goes back into the PDE. A fault on an
//! address the table maps brings it back first (MmAccessFault resolves the PDE
//! before the PTE), as does every service that walks or changes PTEs in its
//! range (WRK's MiMakePdeExistAndMakeValid): `make_table_resident` and
//! `make_tables_resident`. Callers hold the address-space lock.
//!
//! Only a process's user-space leaf tables page out: the top-level table,
//! PAE's page directories, x64's directory and PDPT pages, hyperspace's tables
//! and the System process's tables stay resident.
//!
//! The rule (WRK, Server 2003 SP1): a table's ShareCount counts its valid PTEs
//! and the transition pages still referring to it, plus one for the table
//! itself; it may go when only that one is left. mmfs lowers a table's
//! ShareCount as soon as a PTE goes to transition (NT does when the frame is
//! reused), so it also scans the table for transition PTEs: a repurposed
//! transition page writes its OriginalPte back into its table, which must then
//! still be there.
//!
//! Only a trim that runs outside any service of the process may take a table
//! (`trim_all`: empty-working-sets, outswap, ws-limits; `trim_page_tables`:
//! reclaim from other processes). Reclaim for the process's own fault or
//! service (`obtain_page`) trims only data pages, so a table a service made
//! resident (or `ensure_leaf` returned a PTE in) stays resident until the
//! service lets the address space go.

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use crate::mm::base::counters::{add, bump};
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Pid, PteAddress, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::{HardwarePte, Level, PteState};
use crate::mm::machine::{ActivePage, Injected, Machine, PageNeed, PfnState, activate_locked};
use crate::mm::pfn::{PageLocation, PageUse};

use super::address_space::AddressSpace;
use super::page_tables::{pte_va, self_map_va, table_entry};
use super::working_set::{Wsle, WsleKind};

/// What each paged-out table held: its non-zero PTEs by index, keyed by the
/// first address the table maps. Simulator bookkeeping, not NT's: `verify`
/// and the views read it so they need neither paging I/O under the PFN lock
/// nor a fault; teardown releases what it names if the table could not be
/// brought back. It stays exact because nothing changes a paged-out table's
/// PTEs: a service makes the table resident first, and the table holds no
/// transition PTE the PFN lock's holder could rewrite.
#[derive(Default, Debug)]
pub struct PagedTables {
    tables: BTreeMap<u64, Vec<(u64, Mmpte)>>,
}

impl PagedTables {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Each paged-out table: the first address it maps and its non-zero PTEs.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[(u64, Mmpte)])> {
        self.tables.iter().map(|(&va, ptes)| (va, ptes.as_slice()))
    }

    /// The paged-out table that maps from `base`, its non-zero PTEs.
    pub fn table(&self, base: u64) -> Option<&[(u64, Mmpte)]> {
        self.tables.get(&base).map(|v| v.as_slice())
    }

    /// The saved (non-zero) PTEs of the paged-out tables for pages in
    /// `[start, end]`, as `(va, raw)`: only the tables that map into the
    /// range are looked at (read without faulting them back).
    pub fn saved_ptes_in(
        &self,
        m: &Machine,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = (u64, Mmpte)> + '_ {
        self.tables
            .range(table_base(m, Va(start))..=end)
            .flat_map(|(&base, ptes)| {
                ptes.iter()
                    .map(move |&(i, raw)| (base + i * PAGE_SIZE, raw))
            })
            .filter(move |&(va, _)| (start..=end).contains(&va))
    }

    /// The first address a paged-out table at or after `from` maps.
    pub fn next_base(&self, from: u64) -> Option<u64> {
        self.tables.range(from..).next().map(|(&b, _)| b)
    }

    /// The saved PTE of `va`, if its table is paged out.
    pub fn pte(&self, m: &Machine, va: Va) -> Option<Mmpte> {
        let base = table_base(m, va);
        let ptes = self.tables.get(&base)?;
        let index = m.fmt.index(va, Level::Pte)?;
        Some(
            ptes.iter()
                .find(|(i, _)| *i == index)
                .map_or(Mmpte::ZERO, |(_, raw)| *raw),
        )
    }
}

/// The first address of the range one page table maps around `va`.
fn table_base(m: &Machine, va: Va) -> u64 {
    va.0 & !((1u64 << m.fmt.table_span_shift()) - 1)
}

/// How a paged-out table came back (for the counters and the event).
#[derive(Clone, Copy)]
enum TableFault {
    Transition(PageLocation),
    Hard { file: u8, slot: u32 },
}

impl AddressSpace {
    /// The first address a pageable page table maps (a user leaf table of a
    /// process, unlocked), from its working-set entry; `None` for any other.
    fn pageable_table_base(&self, m: &Machine, e: &Wsle) -> Option<Va> {
        if e.kind != WsleKind::PageTable || e.locked || self.pid == Pid::SYSTEM {
            return None;
        }
        // A leaf table appears at the self-map address of the PTEs it holds;
        // directories appear higher up, at addresses whose "mapped" VA is in
        // system space.
        let first = m.fmt.va_of_pte(PteAddress(e.va.0))?;
        (first.0 <= m.layout.highest_user_address()).then_some(first)
    }

    /// Trims the page table at working-set `index` if it maps nothing valid
    /// or in transition (see the module docs); false leaves it as it was.
    pub(super) fn trim_page_table(&mut self, m: &Machine, index: u32, e: Wsle) -> bool {
        let Some(base) = self.pageable_table_base(m, &e) else {
            return false;
        };
        let tables = self.tables(m);
        let Some(pde) = tables.entry(base, Level::Pde) else {
            return false;
        };
        let mut st = m.pfn_lock();
        let PteState::Valid(h) = m.fmt.decode(tables.read(pde)) else {
            return false;
        };
        if h.pfn != e.pfn || st.db.share_count(h.pfn) != 1 {
            return false;
        }
        let mut held = Vec::new();
        for i in 0..m.fmt.entries_per_table(Level::Pte) {
            let raw = tables.read(EntryLoc {
                table: h.pfn,
                index: i,
            });
            match m.fmt.decode(raw) {
                PteState::Valid(_) | PteState::Transition { .. } => return false,
                PteState::Zero => {}
                _ => held.push((i, raw)),
            }
        }
        if st.db.original_pte(h.pfn).is_zero() {
            // Never written yet: the writer takes the protection from here.
            let protection = Protection::READWRITE;
            st.db
                .set_original_pte(h.pfn, m.fmt.encode(&PteState::DemandZero { protection }));
        }
        self.ws.remove(index);
        self.paged_tables.tables.insert(base.0, held);
        // A PDE is always written dirty (`table_entry`): the table goes to the
        // modified list, any copy in a paging file being stale.
        let h = HardwarePte { dirty: true, ..h };
        self.trim_private_pte(m, st, e, pde, h);
        bump(&m.counters.pages_trimmed);
        bump(&m.counters.page_tables_trimmed);
        true
    }

    /// Trims every pageable page table that maps nothing valid or in
    /// transition. Returns how many left the working set.
    pub fn trim_page_tables(&mut self, m: &Machine) -> u64 {
        self.trim_page_tables_sparing(m, None)
    }

    /// `trim_page_tables`, but never the table that maps `spare` (the page a
    /// fault that found no page is about to retry: trimming its table would
    /// only make the retry fault it back).
    pub fn trim_page_tables_sparing(&mut self, m: &Machine, spare: Option<Va>) -> u64 {
        if self.pid == Pid::SYSTEM {
            return 0;
        }
        let spared = spare.map(|va| self_map_va(m, Level::Pte, va));
        let candidates: Vec<(u32, Wsle)> = self
            .ws
            .iter()
            .filter(|(_, e)| e.kind == WsleKind::PageTable && !e.locked)
            .filter(|(_, e)| Some(e.va) != spared)
            .map(|(i, e)| (i, *e))
            .collect();
        candidates
            .into_iter()
            .filter(|&(i, e)| self.trim_page_table(m, i, e))
            .count() as u64
    }

    /// Brings back the page table that maps `va` if it is paged out (a
    /// transition PDE: soft, a paging-file PDE: hard, reading the paging file
    /// under this address space's lock). True if it had to.
    pub fn make_table_resident(&mut self, m: &Machine, va: Va) -> MmResult<bool> {
        if self.paged_tables.is_empty() || va.0 > m.layout.highest_user_address() {
            return Ok(false);
        }
        let tables = self.tables(m);
        let Some(pde) = tables.entry(va, Level::Pde) else {
            return Ok(false);
        };
        let base = Va(table_base(m, va));
        loop {
            let raw = tables.read(pde);
            let how = match m.fmt.decode(raw) {
                PteState::Transition { pfn, .. } => {
                    match self.table_soft_fault(m, pde, base, pfn) {
                        Some(from) => TableFault::Transition(from),
                        // Repurposed meanwhile: the PDE is a paging-file PTE now.
                        None => continue,
                    }
                }
                PteState::PageFile { file, slot, .. } => {
                    self.table_hard_fault(m, pde, base, raw, (file, slot))?;
                    TableFault::Hard { file, slot }
                }
                _ => return Ok(false),
            };
            self.count_table_fault(m, base, how);
            return Ok(true);
        }
    }

    /// `make_table_resident` for every paged-out table mapping part of
    /// `[start, end]` (a service's range, before it walks the PTEs).
    pub fn make_tables_resident(&mut self, m: &Machine, start: u64, end: u64) -> MmResult<()> {
        if self.paged_tables.is_empty() {
            return Ok(());
        }
        let end = end.min(m.layout.highest_user_address());
        if start > end {
            return Ok(());
        }
        let mut bases = Vec::new();
        self.tables(m)
            .for_each_paged_out_table(start, end, &mut |va, _, _| bases.push(va));
        for va in bases {
            self.make_table_resident(m, Va(va))?;
        }
        Ok(())
    }

    /// A transition PDE: the table's frame is still in memory (on the standby
    /// or modified list, or under a write); take it back. `None` if the PDE
    /// changed before the PFN lock was held.
    fn table_soft_fault(
        &mut self,
        m: &Machine,
        pde: EntryLoc,
        base: Va,
        pfn: Pfn,
    ) -> Option<PageLocation> {
        let mut st = m.pfn_lock();
        // Transition PTEs are the PFN lock's to change: read again under it.
        match m.fmt.decode(self.tables(m).read(pde)) {
            PteState::Transition { pfn: p, .. } if p == pfn => {}
            _ => return None,
        }
        let was = st.db.location(pfn).unwrap_or(PageLocation::Transition);
        if was.is_list() {
            st.db.unlink(pfn);
        }
        st.db.set_location(pfn, PageLocation::Active);
        // One reference for the PDE; a write in flight holds its own.
        st.db.increment_reference(pfn);
        self.table_back_locked(m, &mut st, pde, base, pfn);
        Some(was)
    }

    /// A paging-file PDE: read the table into a new frame. The frame keeps
    /// the slot in OriginalPte until the table is trimmed again (a PDE is
    /// always dirty, so the next trim releases it).
    fn table_hard_fault(
        &mut self,
        m: &Machine,
        pde: EntryLoc,
        base: Va,
        raw: Mmpte,
        (file, slot): (u8, u32),
    ) -> MmResult<()> {
        // Own reclaim never trims a table, so the PDE stays as read.
        let (st, page) = self.obtain_page(m, PageNeed::Any)?;
        drop(st);
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        // A statement of its own: the `pagefiles` guard drops before the I/O.
        let io = m.pagefiles_lock().io(file);
        let result = match io {
            _ if Injected::take(&m.injected.pagefile_reads) => {
                Err(std::io::Error::from_raw_os_error(libc::EIO))
            }
            Some(io) => io.read_pages(slot, &mut buf),
            None => Err(std::io::Error::other("no such paging file")),
        };
        let mut st = m.pfn_lock();
        if let Err(e) = result {
            m.free_page_locked(&mut st, page.pfn);
            drop(st);
            crate::mm_event!(
                m,
                "pagefile.read-error",
                "pid={} va={:#x} file={file} slot={slot:#x} page-table=1",
                self.pid,
                base.0
            );
            return Err(mm_err!(
                IN_PAGE_ERROR,
                "reading the page table for {:#x} from paging file {file} at slot {slot:#x} failed: {e}",
                base.0
            ));
        }
        m.phys.write(page.pfn, 0, &buf);
        let table_va = self_map_va(m, Level::Pte, base);
        let active = ActivePage {
            use_: PageUse::PageTable,
            owner: self.slot,
            pte_address: pte_va(m, table_va),
            original_pte: raw,
            share: 1,
            ws_index: 0,
        };
        activate_locked(&mut st, page.pfn, active);
        self.table_back_locked(m, &mut st, pde, base, page.pfn);
        Ok(())
    }

    /// The table at `pfn` (Active, referenced) is valid again: in the working
    /// set, its PDE valid, one more valid entry in the directory.
    fn table_back_locked(
        &mut self,
        m: &Machine,
        st: &mut MutexGuard<'_, PfnState>,
        pde: EntryLoc,
        base: Va,
        pfn: Pfn,
    ) {
        let table_va = self_map_va(m, Level::Pte, base);
        let entry = Wsle::new(table_va, pfn, Protection::READWRITE, WsleKind::PageTable);
        let ws_index = self.ws.insert(entry);
        st.db.set_share_count(pfn, 1);
        st.db.set_ws_index(pfn, ws_index);
        st.db.increment_share(pde.table);
        self.tables(m).write(pde, table_entry(m, pfn, true));
        self.paged_tables.tables.remove(&base.0);
    }

    /// A page-table fault counts as a fault of its kind, as the data faults do.
    fn count_table_fault(&mut self, m: &Machine, base: Va, how: TableFault) {
        self.faults.page_faults += 1;
        add(&m.counters.page_faults, 1);
        bump(&m.counters.page_table_faults);
        match how {
            TableFault::Transition(from) => {
                self.faults.transition += 1;
                bump(&m.counters.transition_faults);
                crate::mm_event!(
                    m,
                    "fault.page-table",
                    "pid={} va={:#x} kind=transition from={}",
                    self.pid,
                    base.0,
                    from.name()
                );
            }
            TableFault::Hard { file, slot } => {
                self.faults.hard += 1;
                bump(&m.counters.hard_faults);
                add(&m.counters.pages_read_from_pagefile, 1);
                crate::mm_event!(
                    m,
                    "fault.page-table",
                    "pid={} va={:#x} kind=hard file={file} slot={slot:#x}",
                    self.pid,
                    base.0
                );
            }
        }
    }

    /// Teardown: every table still paged out is released without I/O (no
    /// need to read a table back only to free it): its frame or slot, and
    /// what its saved PTEs name (paging-file slots, clone-block references),
    /// as `delete_pte` would for each; its PDE becomes zero. A paged-out
    /// table holds nothing else (no valid or transition PTE). Returns how
    /// many tables went.
    pub fn discard_paged_tables(&mut self, m: &Machine) -> u64 {
        let user_end = m.layout.highest_user_address();
        let tables = self.tables(m);
        let mut pdes = Vec::new();
        tables.for_each_paged_out_table(0, user_end, &mut |_, loc, raw| pdes.push((loc, raw)));
        let mut st = m.pfn_lock();
        for &(loc, raw) in &pdes {
            match m.fmt.decode(raw) {
                PteState::Transition { pfn, .. } => m.release_frame_locked(&mut st, pfn),
                PteState::PageFile { file, slot, .. } => m.pagefiles_lock().release(file, slot),
                _ => {}
            }
            tables.write(loc, Mmpte::ZERO);
        }
        for (_, ptes) in std::mem::take(&mut self.paged_tables.tables) {
            for (_, raw) in ptes {
                match m.fmt.decode(raw) {
                    PteState::PageFile { file, slot, .. } => {
                        m.pagefiles_lock().release(file, slot);
                        self.private_pages = self.private_pages.saturating_sub(1);
                    }
                    PteState::Prototype {
                        proto_pte: Some(address),
                        ..
                    } => {
                        if let Some(at) = st.segments.locate_address(address) {
                            m.clone_dereference_locked(&mut st, at);
                        }
                    }
                    _ => {}
                }
            }
        }
        let gone = pdes.len() as u64;
        self.page_table_pages = self.page_table_pages.saturating_sub(gone);
        gone
    }
}
