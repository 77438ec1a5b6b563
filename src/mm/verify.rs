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
//!   a modified page is marked Modified; a page in Transition has I/O in flight;
//! - shared pages: a valid PTE mapping a prototype frame agrees with its
//!   prototype PTE, and its shared working-set entry exists; each frame's
//!   ShareCount is the number of process PTEs mapping it; prototype pointers
//!   point at the prototype PTE their view maps there;
//! - control areas: NumberOfPfnReferences, NumberOfMappedViews,
//!   NumberOfUserReferences and NumberOfSectionReferences match what exists; a
//!   valid or transition prototype PTE's frame points back at it; a clone
//!   block's CloneRefCount is the number of process PTEs referring to it; a
//!   paging-file slot in a prototype PTE is named once like any other.

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
        // No process is being created or torn down while the picture is taken:
        // a process gone from the table may still own pages, and one leaving it
        // after the snapshot below frees its page tables under our feet.
        let _lifecycle = self.lifecycle_exclusive();
        // Lock order: the section table before any address space.
        let sections = self.sections_lock();
        let processes = self.all_processes();
        // Hold every address space (in pid order, as the table lists them) so the
        // picture is consistent, then the PFN lock.
        let spaces: Vec<_> = processes.iter().map(|p| (p.pid, p.space())).collect();
        let minimums: u64 = spaces.iter().map(|(_, s)| s.ws.minimum).sum();
        let charged = m.ws_minimums.load(std::sync::atomic::Ordering::Relaxed);
        if minimums != charged {
            v.push(format!(
                "the working-set minimums add up to {minimums} pages, {charged} are charged against resident available memory"
            ));
        }
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
        // Valid process PTEs per shared (prototype) frame.
        let mut shares: HashMap<Pfn, u32> = HashMap::new();
        // Process PTEs per clone block (control area, index).
        let mut clone_refs: HashMap<(u32, u64), u32> = HashMap::new();
        // Views per control area.
        let mut views: HashMap<u32, u64> = HashMap::new();
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
                let vad = space.vads.find(Va(va).vpn());
                let view_ca = vad.and_then(|v| v.section.as_ref()).map(|s| s.id);
                match state {
                    PteState::Valid(h) if st.db.prototype(h.pfn) => {
                        *children.entry(loc.table).or_default() += 1;
                        *shares.entry(h.pfn).or_default() += 1;
                        let e = st.db.entry(h.pfn).expect("prototype flag read from it");
                        if e.location != PageLocation::Active {
                            v.push(format!("pid {pid}: valid PTE of {va:#x} names shared pfn {:#x} which is {}", h.pfn.0, e.location));
                        }
                        match st.segments.locate_address(e.pte_address) {
                            Some(at) => {
                                if m.fmt.pfn(st.segments.read(at)) != Some(h.pfn) || !m.fmt.is_valid(st.segments.read(at)) {
                                    v.push(format!("pid {pid}: {va:#x} maps pfn {:#x} but its prototype PTE at {:#x} is not valid for it", h.pfn.0, e.pte_address));
                                }
                                let ca = st.segments.owner(at);
                                if ca.is_some_and(|c| st.segments.control_area(c).is_some_and(|a| a.is_clone())) {
                                    *clone_refs.entry((ca.unwrap_or(0), st.segments.index(at))).or_default() += 1;
                                } else if ca != view_ca {
                                    v.push(format!("pid {pid}: {va:#x} maps a page of control area {ca:?} outside its view"));
                                }
                            }
                            None => v.push(format!("pid {pid}: shared pfn {:#x} at {va:#x} has PteAddress {:#x}, no prototype PTE", h.pfn.0, e.pte_address)),
                        }
                        match space.ws.shared_index(Va(va)).and_then(|i| space.ws.get(i)) {
                            Some(w) if w.pfn == h.pfn && w.kind == WsleKind::Shared => {}
                            other => v.push(format!("pid {pid}: shared page {va:#x} (pfn {:#x}) has working-set entry {other:?}", h.pfn.0)),
                        }
                    }
                    PteState::Prototype { proto_pte, .. } => match proto_pte {
                        Some(address) => match st.segments.locate_address(address.0) {
                            Some(at) => {
                                let ca = st.segments.owner(at);
                                if ca.is_some_and(|c| st.segments.control_area(c).is_some_and(|a| a.is_clone())) {
                                    *clone_refs.entry((ca.unwrap_or(0), st.segments.index(at))).or_default() += 1;
                                } else if ca != view_ca {
                                    v.push(format!("pid {pid}: {va:#x} points at a prototype PTE of control area {ca:?} outside its view"));
                                } else if let Some(s) = vad.and_then(|v| v.section.as_ref()) {
                                    let want = s.first_prototype_index + (Va(va).vpn().0 - vad.map_or(0, |v| v.starting_vpn.0));
                                    if st.segments.index(at) != want {
                                        v.push(format!("pid {pid}: {va:#x} points at prototype PTE {} but its view maps {want} there", st.segments.index(at)));
                                    }
                                }
                            }
                            None => v.push(format!("pid {pid}: {va:#x} points at {:#x}, which is no prototype PTE", address.0)),
                        },
                        None if view_ca.is_none() => v.push(format!("pid {pid}: {va:#x} has a VAD-lookup prototype pointer outside any view")),
                        None => {}
                    },
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
                    WsleKind::Shared => {
                        let ok = tables
                            .leaf(e.va)
                            .map(|l| m.fmt.decode(tables.read(l)))
                            .is_some_and(|s| matches!(s, PteState::Valid(h) if h.pfn == e.pfn))
                            && st.db.prototype(e.pfn);
                        if !ok {
                            v.push(format!("pid {pid}: shared working-set entry {index} ({:#x}) has no valid PTE for shared pfn {:#x}", e.va.0, e.pfn.0));
                        }
                    }
                    WsleKind::PageTable => {
                        if !table_frames.contains(&e.pfn) {
                            v.push(format!("pid {pid}: working-set entry {index} names pfn {:#x}, not one of its page tables", e.pfn.0));
                        }
                    }
                }
            }
            for vad in space.vads.iter() {
                if let Some(sr) = &vad.section {
                    *views.entry(sr.id).or_default() += 1;
                    let want = if vad.protection.is_copy_on_write() {
                        vad.page_count()
                    } else {
                        0
                    };
                    if vad.commit_charge != want {
                        v.push(format!(
                            "pid {pid}: view {} charges {} pages, not {want}",
                            vad.range_text(),
                            vad.commit_charge
                        ));
                    }
                    continue;
                }
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
        let mut section_refs: HashMap<u32, u64> = HashMap::new();
        for sec in sections.by_name.values() {
            *section_refs.entry(sec.control_area).or_default() += 1;
        }
        for ca in st.segments.control_areas.values() {
            commit_sum += ca.committed_pages;
            let mut in_memory = 0u64;
            for at in st.segments.locations(ca.id) {
                let raw = st.segments.read(at);
                let index = st.segments.index(at);
                let address = st.segments.address(at);
                let who = format!("control area {} prototype PTE {index}", ca.id);
                match m.fmt.decode_prototype(raw) {
                    PteState::Valid(h) => {
                        in_memory += 1;
                        if let Some(prev) = seen.insert(h.pfn, who.clone()) {
                            v.push(format!(
                                "pfn {:#x} is used twice: {prev} and {who}",
                                h.pfn.0
                            ));
                        }
                        let e = st.db.entry(h.pfn);
                        let share = shares.get(&h.pfn).copied().unwrap_or(0);
                        match e {
                            Some(e)
                                if e.location == PageLocation::Active
                                    && e.prototype
                                    && e.pte_address == address =>
                            {
                                if e.share_count != share {
                                    v.push(format!("{who}: pfn {:#x} has ShareCount {} but {share} process PTEs map it", h.pfn.0, e.share_count));
                                }
                                if share == 0 || e.reference_count == 0 {
                                    v.push(format!(
                                        "{who}: valid with {share} mappings and ReferenceCount {}",
                                        e.reference_count
                                    ));
                                }
                            }
                            other => v.push(format!(
                                "{who} is valid for pfn {:#x}, whose entry is {other:?}",
                                h.pfn.0
                            )),
                        }
                    }
                    PteState::Transition { pfn, .. } => {
                        in_memory += 1;
                        if let Some(prev) = seen.insert(pfn, who.clone()) {
                            v.push(format!("pfn {:#x} is used twice: {prev} and {who}", pfn.0));
                        }
                        match st.db.entry(pfn) {
                            Some(e)
                                if e.prototype
                                    && e.pte_address == address
                                    && matches!(
                                        e.location,
                                        PageLocation::Standby
                                            | PageLocation::Modified
                                            | PageLocation::ModifiedNoWrite
                                            | PageLocation::Transition
                                    ) => {}
                            other => v.push(format!(
                                "{who} is in transition for pfn {:#x}, whose entry is {other:?}",
                                pfn.0
                            )),
                        }
                    }
                    PteState::PageFile { file, slot, .. } => {
                        name_slot(file, slot, who.clone(), &mut v)
                    }
                    PteState::Subsection { subsection, .. }
                        if subsection != at.subsection || !ca.is_file() =>
                    {
                        v.push(format!(
                            "{who} names subsection {subsection}, not its own {}",
                            at.subsection
                        ));
                    }
                    _ => {}
                }
                if ca.is_clone() {
                    let counted = clone_refs.get(&(ca.id, index)).copied().unwrap_or(0);
                    let recorded = ca.clone_refs.get(index as usize).copied().unwrap_or(0);
                    if counted != recorded {
                        v.push(format!(
                            "{who}: CloneRefCount {recorded} but {counted} process PTEs refer to it"
                        ));
                    }
                }
            }
            if in_memory != ca.pfn_references {
                v.push(format!("control area {}: NumberOfPfnReferences {} but {in_memory} prototype PTEs are in memory", ca.id, ca.pfn_references));
            }
            let mapped = views.get(&ca.id).copied().unwrap_or(0);
            if ca.mapped_views != mapped || ca.user_references != mapped {
                v.push(format!("control area {}: NumberOfMappedViews {} and NumberOfUserReferences {} but {mapped} views exist", ca.id, ca.mapped_views, ca.user_references));
            }
            let named = section_refs.get(&ca.id).copied().unwrap_or(0);
            if ca.section_references != named {
                v.push(format!(
                    "control area {}: NumberOfSectionReferences {} but {named} sections name it",
                    ca.id, ca.section_references
                ));
            }
            if ca.is_clone() && ca.unreferenced() {
                v.push(format!(
                    "clone control area {} outlived its last reference",
                    ca.id
                ));
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
            }) && matches!(
                st.db.page_use(pfn),
                PageUse::ProcessPrivate | PageUse::Shareable | PageUse::MappedFile
            ) {
                let mapped_file = m.is_mapped_file_page_locked(&st, pfn);
                match m.fmt.decode(st.db.original_pte(pfn)) {
                    PteState::PageFile { file, slot, .. } => name_slot(
                        file,
                        slot,
                        format!("pfn {:#x}'s OriginalPte", pfn.0),
                        &mut v,
                    ),
                    _ if location == Some(PageLocation::Standby) && !mapped_file => {
                        v.push(format!(
                            "pfn {:#x} is on standby with no copy in a paging file",
                            pfn.0
                        ))
                    }
                    _ => {}
                }
            }
            if location == Some(PageLocation::ModifiedNoWrite) && !st.db.modified(pfn) {
                v.push(format!(
                    "pfn {:#x} is on the modified-no-write list but not Modified",
                    pfn.0
                ));
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
