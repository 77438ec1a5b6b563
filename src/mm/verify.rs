//! `verify`: every invariant of the PFN database, page tables, working sets and
//! commit charge, checked from scratch. Tests call it after every step; users read
//! it from `system/verify`.
//!
//! Invariants checked (on top of the PFN database's own list checks):
//! - every valid PTE points at an Active page whose PteAddress, owner and use agree
//!   and whose working-set entry points back;
//! - every transition PTE points at a page on the standby/modified lists (or in
//!   transition) whose PteAddress agrees;
//! - a page table's ShareCount is 1 + its valid entries (within user space); a
//!   private page's ShareCount is the number of valid PTEs mapping it (1);
//! - every working-set entry matches a valid PTE (or a page table of the process);
//! - every Active page is found exactly once by the walks;
//! - no PTE outside a VAD holds anything;
//! - each VAD's commit charge is its committed pages; the system commit charge is
//!   the sum of the processes' charges; private page counts match the PTEs;
//! - every paging-file slot in use is named exactly once — by a pagefile PTE, by
//!   the OriginalPte of a frame holding that page, or by a cluster write in
//!   flight — and every slot named is in use;
//! - a standby page has a copy in a paging file (repurposing it loses nothing);
//!   a modified page is marked Modified; a page in Transition has I/O in flight.

use std::collections::HashMap;

use super::Mm;
use super::address_space::pte_va;
use super::pfn::{PageLocation, PageUse};
use super::pte::{Level, PteState};
use super::types::{Pfn, Va};
use super::working_set::WsleKind;

/// The result of a verify pass.
pub struct VerifyReport {
    pub violations: Vec<String>,
    pub pages: u64,
    pub processes: u64,
    pub commit: u64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Stop collecting after this many lines: one broken invariant can cascade.
const MAX_LINES: usize = 200;

impl Mm {
    pub fn verify(&self) -> VerifyReport {
        let m = self.machine();
        let mut v: Vec<String> = Vec::new();
        let processes = self.all_processes();
        // Hold every address space (in pid order, as the table lists them) so the
        // picture is consistent, then the PFN lock.
        let spaces: Vec<_> = processes.iter().map(|p| (p.pid, p.space())).collect();
        let commit = *m.commit_lock();
        let st = m.pfn_lock();
        v.extend(st.db.verify());

        let pagefiles = m.pagefiles_lock();
        v.extend(pagefiles.verify());
        // (file, slot) -> who names it.
        let mut slots: HashMap<(u8, u32), String> = HashMap::new();
        let mut name_slot = |file: u8, slot: u32, who: String, v: &mut Vec<String>| {
            if !pagefiles.is_allocated(file, slot) {
                v.push(format!(
                    "{who} names paging file {file} slot {slot:#x}, which is free"
                ));
            }
            if let Some(prev) = slots.insert((file, slot), who.clone()) {
                v.push(format!(
                    "paging file {file} slot {slot:#x} is named twice: by {prev} and by {who}"
                ));
            }
        };
        let mut seen: HashMap<Pfn, String> = HashMap::new();
        let mut commit_sum = 0u64;
        for (pid, space) in &spaces {
            let tables = space.tables(m);
            let user_end = m.layout.highest_user_address();
            let mut children: HashMap<Pfn, u32> = HashMap::new();
            let mut table_frames: Vec<Pfn> = vec![space.dtb];
            let mut private = 0u64;
            let mut note = |pfn: Pfn, what: String, v: &mut Vec<String>| {
                if let Some(prev) = seen.insert(pfn, what.clone()) {
                    v.push(format!("pfn {:#x} is used twice: {prev} and {what}", pfn.0));
                }
            };
            note(space.dtb, format!("pid {pid} directory"), &mut v);
            if m.fmt.arch() == super::types::Arch::Pae {
                // The PDPT's four entries point at the page directories; those for
                // system space are not reached by the user-space walk below.
                for i in 0..4u64 {
                    let loc = super::pagetable::EntryLoc {
                        table: space.dtb,
                        index: i,
                    };
                    if let Some(pd) = tables.valid_pfn(tables.read(loc)) {
                        *children.entry(space.dtb).or_default() += 1;
                        if i * (1 << 30) > user_end {
                            table_frames.push(pd);
                            note(pd, format!("pid {pid} page directory {i}"), &mut v);
                        }
                    }
                }
            }
            tables.for_each_entry(0, user_end, &mut |level, va, loc, raw| {
                if level != Level::Pte {
                    let Some(child) = tables.valid_pfn(raw) else { return };
                    if !(m.fmt.arch() == super::types::Arch::Pae && level == Level::Ppe) {
                        *children.entry(loc.table).or_default() += 1;
                    }
                    table_frames.push(child);
                    note(child, format!("pid {pid} table for {va:#x}"), &mut v);
                    return;
                }
                let state = m.fmt.decode(raw);
                let in_vad = space.vads.find(Va(va).vpn()).is_some();
                if !in_vad && raw != 0 {
                    v.push(format!("pid {pid}: PTE of {va:#x} outside any VAD holds {raw:#x}"));
                }
                match state {
                    PteState::Valid(h) => {
                        *children.entry(loc.table).or_default() += 1;
                        private += 1;
                        note(h.pfn, format!("pid {pid} va {va:#x}"), &mut v);
                        let Some(e) = st.db.entry(h.pfn) else {
                            v.push(format!("pid {pid}: valid PTE of {va:#x} names pfn {:#x} beyond RAM", h.pfn.0));
                            return;
                        };
                        if e.location != PageLocation::Active {
                            v.push(format!("pid {pid}: valid PTE of {va:#x} names pfn {:#x} which is {}", h.pfn.0, e.location));
                        }
                        if e.pte_address != pte_va(m, Va(va)) {
                            v.push(format!("pfn {:#x}: PteAddress {:#x} but it is mapped by the PTE of {va:#x} at {:#x}", h.pfn.0, e.pte_address, pte_va(m, Va(va))));
                        }
                        if e.owner != space.slot {
                            v.push(format!("pfn {:#x}: owner slot {} but mapped by pid {pid} (slot {})", h.pfn.0, e.owner, space.slot));
                        }
                        if e.use_ != PageUse::ProcessPrivate {
                            v.push(format!("pfn {:#x}: use {} for a private page", h.pfn.0, e.use_.name()));
                        }
                        if e.share_count != 1 {
                            v.push(format!("pfn {:#x}: ShareCount {} but one PTE maps it", h.pfn.0, e.share_count));
                        }
                        match space.ws.get(e.ws_index) {
                            Some(w) if w.pfn == h.pfn && w.va == Va(va) => {}
                            other => v.push(format!(
                                "pid {pid}: valid page {va:#x} (pfn {:#x}) has WsIndex {} whose entry is {other:?}",
                                h.pfn.0, e.ws_index
                            )),
                        }
                    }
                    PteState::PageFile { file, slot, .. } => {
                        private += 1;
                        name_slot(file, slot, format!("pid {pid}'s PTE of {va:#x}"), &mut v);
                    }
                    PteState::Transition { pfn, .. } => {
                        private += 1;
                        note(pfn, format!("pid {pid} va {va:#x} (transition)"), &mut v);
                        match st.db.entry(pfn) {
                            Some(e) => {
                                if !matches!(
                                    e.location,
                                    PageLocation::Standby
                                        | PageLocation::Modified
                                        | PageLocation::ModifiedNoWrite
                                        | PageLocation::Transition
                                ) {
                                    v.push(format!("pid {pid}: transition PTE of {va:#x} names pfn {:#x} which is {}", pfn.0, e.location));
                                }
                                if e.pte_address != pte_va(m, Va(va)) {
                                    v.push(format!("pfn {:#x}: PteAddress {:#x} but its transition PTE is at {:#x}", pfn.0, e.pte_address, pte_va(m, Va(va))));
                                }
                            }
                            None => v.push(format!("pid {pid}: transition PTE of {va:#x} names pfn {:#x} beyond RAM", pfn.0)),
                        }
                    }
                    _ => {}
                }
            });
            for &t in &table_frames {
                match st.db.entry(t) {
                    Some(e) => {
                        let want = 1 + children.get(&t).copied().unwrap_or(0);
                        if e.location != PageLocation::Active || e.use_ != PageUse::PageTable {
                            v.push(format!(
                                "pid {pid}: page table pfn {:#x} is {} {}",
                                t.0,
                                e.location,
                                e.use_.name()
                            ));
                        }
                        if e.share_count != want {
                            v.push(format!("pid {pid}: page table pfn {:#x} has ShareCount {} but 1 + {} valid entries", t.0, e.share_count, want - 1));
                        }
                        if e.owner != space.slot {
                            v.push(format!(
                                "pid {pid}: page table pfn {:#x} has owner slot {}",
                                t.0, e.owner
                            ));
                        }
                    }
                    None => v.push(format!("pid {pid}: page table pfn {:#x} beyond RAM", t.0)),
                }
            }
            if table_frames.len() as u64 != space.page_table_pages {
                v.push(format!(
                    "pid {pid}: {} page-table frames found, {} counted",
                    table_frames.len(),
                    space.page_table_pages
                ));
            }
            if private != space.private_pages {
                v.push(format!(
                    "pid {pid}: {private} private pages in the PTEs, PrivatePages says {}",
                    space.private_pages
                ));
            }
            for (index, e) in space.ws.iter() {
                match e.kind {
                    WsleKind::Private => {
                        let ok = tables
                            .leaf(e.va)
                            .map(|l| m.fmt.decode(tables.read(l)))
                            .is_some_and(|s| matches!(s, PteState::Valid(h) if h.pfn == e.pfn));
                        if !ok {
                            v.push(format!("pid {pid}: working-set entry {index} ({:#x}) has no valid PTE for pfn {:#x}", e.va.0, e.pfn.0));
                        }
                        if st.db.ws_index(e.pfn) != index {
                            v.push(format!(
                                "pid {pid}: working-set entry {index} but pfn {:#x} has WsIndex {}",
                                e.pfn.0,
                                st.db.ws_index(e.pfn)
                            ));
                        }
                    }
                    WsleKind::Shared => {}
                    WsleKind::PageTable => {
                        if !table_frames.contains(&e.pfn) {
                            v.push(format!("pid {pid}: working-set entry {index} names pfn {:#x}, not one of its page tables", e.pfn.0));
                        }
                    }
                }
            }
            for vad in space.vads.iter() {
                let committed = super::virtual_memory::count_committed(
                    m,
                    &tables,
                    vad.starting_vpn,
                    vad.ending_vpn,
                    vad.mem_commit,
                );
                if committed != vad.commit_charge {
                    v.push(format!(
                        "pid {pid}: VAD {} charges {} pages but {committed} are committed",
                        vad.range_text(),
                        vad.commit_charge
                    ));
                }
            }
            commit_sum += space.commit_charge();
            if v.len() > MAX_LINES {
                break;
            }
        }
        for pfn in 0..st.db.pages() {
            let pfn = Pfn(pfn);
            let location = st.db.location(pfn);
            if location.is_some_and(|l| {
                !matches!(
                    l,
                    PageLocation::Zeroed | PageLocation::Free | PageLocation::Bad
                )
            }) && st.db.page_use(pfn) == PageUse::ProcessPrivate
            {
                match m.fmt.decode(st.db.original_pte(pfn)) {
                    PteState::PageFile { file, slot, .. } => name_slot(
                        file,
                        slot,
                        format!("pfn {:#x}'s OriginalPte", pfn.0),
                        &mut v,
                    ),
                    _ if location == Some(PageLocation::Standby) => v.push(format!(
                        "pfn {:#x} is on standby with no copy in a paging file",
                        pfn.0
                    )),
                    _ => {}
                }
            }
            if location == Some(PageLocation::Modified) && !st.db.modified(pfn) {
                v.push(format!(
                    "pfn {:#x} is on the modified list but not Modified",
                    pfn.0
                ));
            }
            match location {
                Some(PageLocation::Active) if !seen.contains_key(&pfn) => {
                    v.push(format!(
                        "pfn {:#x} is Active but no page table maps it",
                        pfn.0
                    ));
                }
                Some(PageLocation::Transition)
                    if !st.db.write_in_progress(pfn) && !st.db.read_in_progress(pfn) =>
                {
                    v.push(format!(
                        "pfn {:#x} is in Transition with no I/O in flight",
                        pfn.0
                    ));
                }
                Some(l)
                    if l.is_list()
                        && seen.contains_key(&pfn)
                        && l != PageLocation::Standby
                        && l != PageLocation::Modified
                        && l != PageLocation::ModifiedNoWrite =>
                {
                    v.push(format!(
                        "pfn {:#x} is on the {l} list but still mapped",
                        pfn.0
                    ));
                }
                _ => {}
            }
            if v.len() > MAX_LINES {
                break;
            }
        }
        let named = slots.len() as u64 + st.slots_in_flight;
        if named != pagefiles.used_pages() {
            v.push(format!(
                "the paging files have {} slots in use but {} are named ({} by a cluster write in flight)",
                pagefiles.used_pages(),
                named,
                st.slots_in_flight
            ));
        }
        if commit_sum != commit.total {
            v.push(format!(
                "commit charge {} but the processes' charges add up to {commit_sum}",
                commit.total
            ));
        }
        v.truncate(MAX_LINES);
        VerifyReport {
            violations: v,
            pages: st.db.pages() as u64,
            processes: spaces.len() as u64,
            commit: commit.total,
        }
    }
}
