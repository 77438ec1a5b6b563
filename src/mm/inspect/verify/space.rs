//! The checks of one address space: its page tables (ShareCount = 1 + valid
//! entries, owner, use), every PTE against the frame or slot or prototype PTE it
//! names, its working-set entries against its PTEs, and each VAD's charge
//! against its committed pages.

use std::collections::HashMap;

use crate::mm::base::types::{Arch, Mmpte, PAGE_SIZE, Pfn, Pid, PteAddress, Va};
use crate::mm::hw::pagetable::{EntryLoc, PageTables};
use crate::mm::hw::pte::{HardwarePte, Level, PteState};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::AddressSpace;
use crate::mm::process::hyperspace::hyperspace_range;
use crate::mm::process::mapping::private_use;
use crate::mm::process::page_tables::{count_committed, pte_va, self_map_va};
use crate::mm::process::table_charges::needed_by;
use crate::mm::process::working_set::WsleKind;
use crate::mm::segment::ControlAreaId;
use crate::mm::vad::{Vad, VadType};

use super::Tally;

/// What the walk of one address space counts, to compare with what the space
/// and its tables say.
struct SpaceWalk {
    pid: Pid,
    /// Valid entries found per table frame.
    children: HashMap<Pfn, u32>,
    /// Every table frame found (the directory first).
    table_frames: Vec<Pfn>,
    /// Private pages found in the PTEs (valid, transition, pagefile).
    private: u64,
    /// Each user leaf table and the first address it maps (AWE holds).
    leaf_bases: HashMap<Pfn, u64>,
}

/// Checks one address space (see the module docs).
pub(super) fn check(t: &mut Tally<'_>, pid: Pid, space: &AddressSpace) {
    let mut w = SpaceWalk {
        pid,
        children: HashMap::new(),
        table_frames: vec![space.dtb],
        private: 0,
        leaf_bases: HashMap::new(),
    };
    t.note(space.dtb, format!("pid {pid} directory"));
    let tables = space.tables(t.m);
    if t.m.fmt.arch() == Arch::Pae {
        w.pae_directories(t, space, &tables);
    }
    let user_end = t.m.layout.highest_user_address();
    let l = &t.m.layout;
    // User space, then the system cache (where the System process maps the
    // cache manager's views).
    let cache = (
        l.system_cache_start(),
        l.system_cache_start() + l.system_cache_bytes() - 1,
    );
    // Only the System process owns system-space tables (the system cache,
    // non-paged and paged pool, system PTEs); the others' shared system
    // entries point at its tables (`shared_tables.rs` checks them). The
    // system PTEs' leaves are `kernel.rs`'s to check, their tables this walk's.
    let system_ptes = super::kernel::system_pte_region(t).filter(|_| pid == Pid::SYSTEM);
    let mut ranges = vec![(0, user_end)];
    if pid == Pid::SYSTEM {
        ranges.push(cache);
        ranges.extend(
            t.pool_ranges
                .iter()
                .filter(|r| r.1 > r.0)
                .map(|r| (r.0, r.1 - 1)),
        );
        ranges.extend(system_ptes);
    }
    // Ranges may share an upper-level entry (x64's paged and non-paged pool
    // are under one PML4 entry): count each upper entry once.
    let mut upper_seen = std::collections::HashSet::new();
    for (from, to) in ranges {
        let kernel_leaves = Some((from, to)) == system_ptes;
        tables.for_each_entry(from, to, &mut |level, va, loc, raw| {
            let pae_top = t.m.fmt.arch() == Arch::Pae && level == Level::Ppe;
            if level != Level::Pte && !upper_seen.insert((loc.table, loc.index)) {
                return;
            }
            if level == Level::Pte && kernel_leaves {
                if tables.valid_pfn(raw).is_some() {
                    *w.children.entry(loc.table).or_default() += 1;
                }
            } else if level == Level::Pte {
                w.leaf(t, space, Va(va), loc, raw);
            } else if pae_top && from > 0 {
                // PAE's page directories are counted by `pae_directories`.
            } else if let Some(child) = tables.valid_pfn(raw) {
                if !(t.m.fmt.arch() == Arch::Pae && level == Level::Ppe) {
                    *w.children.entry(loc.table).or_default() += 1;
                }
                w.table_frames.push(child);
                if level == Level::Pde && va <= user_end {
                    w.leaf_bases.insert(child, va);
                }
                t.note(child, format!("pid {pid} table for {va:#x}"));
            }
        });
    }
    super::large_pages::check(t, space, &tables, &mut w.children);
    w.hyperspace(t, space, &tables);
    w.paged_out_tables(t, space, &tables);
    w.check_tables(t, space);
    check_working_set(t, pid, space, &tables, &w.table_frames);
    check_table_charges(t, pid, space);
    for vad in space.vads.iter() {
        check_vad(t, pid, space, &tables, vad);
    }
    t.commit_sum += space.commit_charge();
}

impl SpaceWalk {
    /// PAE: the PDPT's four entries point at the page directories; those for
    /// system space are not reached by the user-space walk.
    fn pae_directories(&mut self, t: &mut Tally<'_>, space: &AddressSpace, tables: &PageTables) {
        let user_end = t.m.layout.highest_user_address();
        for i in 0..4u64 {
            let loc = EntryLoc {
                table: space.dtb,
                index: i,
            };
            if let Some(pd) = tables.valid_pfn(tables.read(loc)) {
                *self.children.entry(space.dtb).or_default() += 1;
                if i * (1 << 30) > user_end {
                    self.table_frames.push(pd);
                    t.note(pd, format!("pid {} page directory {i}", self.pid));
                }
            }
        }
    }

    /// The process's hyperspace: its page tables (PAE's page directory for it
    /// is one of the four already counted) and its locked system pages.
    fn hyperspace(&mut self, t: &mut Tally<'_>, space: &AddressSpace, tables: &PageTables) {
        let pid = self.pid;
        let pae = t.m.fmt.arch() == Arch::Pae;
        let (start, end) = hyperspace_range(&t.m.layout);
        tables.for_each_entry(start, end, &mut |level, va, loc, raw| {
            if level == Level::Pte {
                if !raw.is_zero() {
                    *self.children.entry(loc.table).or_default() += 1;
                    system_page(t, pid, space, Va(va), raw);
                }
            } else if let Some(child) = tables.valid_pfn(raw)
                && !(pae && level == Level::Ppe)
            {
                *self.children.entry(loc.table).or_default() += 1;
                self.table_frames.push(child);
                t.note(child, format!("pid {pid} hyperspace table for {va:#x}"));
            }
        });
    }

    /// User page tables paged out (`process/table_paging.rs`): each PDE is a
    /// transition PTE (the frame on a list or under a write, a PageTable of
    /// this process whose PteAddress is the PDE's, holding what was saved)
    /// or a paging-file PTE (its slot allocated), and what the table holds is
    /// checked as the walk checks resident PTEs. Nothing is faulted in.
    fn paged_out_tables(&mut self, t: &mut Tally<'_>, space: &AddressSpace, tables: &PageTables) {
        let pid = self.pid;
        let mut pdes = Vec::new();
        let user_end = t.m.layout.highest_user_address();
        tables.for_each_paged_out_table(0, user_end, &mut |va, _, raw| pdes.push((va, raw)));
        if pdes.len() != space.paged_tables.len() {
            t.v.push(format!(
                "pid {pid}: {} page tables are paged out but {} are saved",
                pdes.len(),
                space.paged_tables.len()
            ));
        }
        for (va, raw) in pdes {
            let Some(ptes) = space
                .paged_tables
                .iter()
                .find(|(b, _)| *b == va)
                .map(|p| p.1)
            else {
                t.v.push(format!(
                    "pid {pid}: page table for {va:#x} is paged out unsaved"
                ));
                continue;
            };
            match t.m.fmt.decode(raw) {
                PteState::Transition { pfn, .. } => {
                    t.note(pfn, format!("pid {pid} page table for {va:#x} (paged out)"));
                    paged_out_frame(t, space, Va(va), pfn, ptes);
                }
                PteState::PageFile { file, slot, .. } => t.name_slot(
                    file,
                    slot,
                    format!("pid {pid}'s paged-out page table for {va:#x}"),
                ),
                _ => t.v.push(format!(
                    "pid {pid}: the PDE for {va:#x} holds {raw:#x}, neither a table nor paged out"
                )),
            }
            for &(index, pte) in ptes {
                let at = Va(va + index * PAGE_SIZE);
                if matches!(
                    t.m.fmt.decode(pte),
                    PteState::Valid(_) | PteState::Transition { .. }
                ) {
                    t.v.push(format!(
                        "pid {pid}: paged-out page table holds {pte:#x} for {:#x}",
                        at.0
                    ));
                    continue;
                }
                let nowhere = EntryLoc {
                    table: Pfn(u32::MAX),
                    index,
                };
                self.leaf(t, space, at, nowhere, pte);
            }
        }
    }

    /// One leaf PTE of the walk.
    fn leaf(&mut self, t: &mut Tally<'_>, space: &AddressSpace, va: Va, loc: EntryLoc, raw: Mmpte) {
        let pid = self.pid;
        let vad = space.vads.find(va.vpn());
        let pool = (pid == Pid::SYSTEM)
            .then(|| {
                t.pool_ranges
                    .iter()
                    .position(|r| (r.0..r.1).contains(&va.0))
            })
            .flatten();
        if vad.is_none() && !raw.is_zero() && pool.is_none() {
            t.v.push(format!(
                "pid {pid}: PTE of {:#x} outside any VAD holds {raw:#x}",
                va.0
            ));
        }
        let view = vad.and_then(|v| Some((v, v.section.as_ref()?)));
        let awe = vad.is_some_and(|v| v.vad_type == VadType::Awe);
        match t.m.fmt.decode(raw) {
            // An AWE page: valid, in no working set (`awe.rs`).
            PteState::Valid(h) if awe => {
                *self.children.entry(loc.table).or_default() += 1;
                super::awe::valid(t, pid, space, va, h);
            }
            PteState::Valid(h) if t.st.db.prototype(h.pfn) => {
                *self.children.entry(loc.table).or_default() += 1;
                *t.shares.entry(h.pfn).or_default() += 1;
                shared_valid(t, pid, space, va, h, view.map(|(_, s)| s.id));
            }
            PteState::Prototype { proto_pte, .. } => prototype_pointer(t, pid, va, proto_pte, view),
            // Non-paged pool (index 0 of the ranges): resident, in no working set.
            PteState::Valid(h) if pool == Some(0) => {
                *self.children.entry(loc.table).or_default() += 1;
                t.note(h.pfn, format!("non-paged pool {:#x}", va.0));
                nonpaged_valid(t, space, va, h);
            }
            PteState::Valid(h) => {
                *self.children.entry(loc.table).or_default() += 1;
                self.private += 1;
                t.note(h.pfn, format!("pid {pid} va {:#x}", va.0));
                private_valid(t, pid, space, va, h);
            }
            PteState::PageFile { file, slot, .. } => {
                self.private += 1;
                t.name_slot(file, slot, format!("pid {pid}'s PTE of {:#x}", va.0));
            }
            PteState::Transition { pfn, .. } => {
                self.private += 1;
                t.note(pfn, format!("pid {pid} va {:#x} (transition)", va.0));
                transition(t, pid, va, pfn);
            }
            _ => {}
        }
    }

    /// Each table frame is an Active page table of this process whose
    /// ShareCount is 1 + its valid entries; the space counts them all, and its
    /// private pages.
    fn check_tables(&self, t: &mut Tally<'_>, space: &AddressSpace) {
        let pid = self.pid;
        for &f in &self.table_frames {
            let Some(e) = t.st.db.entry(f) else {
                t.v.push(format!("pid {pid}: page table pfn {:#x} beyond RAM", f.0));
                continue;
            };
            // An AWE VAD holds each of its tables once more (`process/awe.rs`).
            let span = 1u64 << t.m.fmt.table_span_shift();
            let holds = self
                .leaf_bases
                .get(&f)
                .map_or(0, |&base| super::awe::table_holds(space, base, span));
            let want = 1 + holds + self.children.get(&f).copied().unwrap_or(0);
            if e.location != PageLocation::Active || e.use_ != PageUse::PageTable {
                t.v.push(format!(
                    "pid {pid}: page table pfn {:#x} is {} {}",
                    f.0,
                    e.location,
                    e.use_.name()
                ));
            }
            if e.share_count != want {
                t.v.push(format!(
                    "pid {pid}: page table pfn {:#x} has ShareCount {} but 1 + {} valid entries + {holds} AWE holds",
                    f.0,
                    e.share_count,
                    want - 1 - holds
                ));
            }
            if e.owner != space.slot {
                t.v.push(format!(
                    "pid {pid}: page table pfn {:#x} has owner slot {}",
                    f.0, e.owner
                ));
            }
        }
        let paged_out = space.paged_tables.len() as u64;
        if self.table_frames.len() as u64 + paged_out != space.page_table_pages {
            t.v.push(format!(
                "pid {pid}: {} page-table frames found and {paged_out} paged out, {} counted",
                self.table_frames.len(),
                space.page_table_pages
            ));
        }
        let counted = space.private_page_count(t.st);
        if self.private != counted {
            t.v.push(format!(
                "pid {pid}: {} private pages in the PTEs, PrivatePages says {counted}",
                self.private
            ));
        }
    }
}

/// A valid PTE mapping a prototype frame: the frame is Active, its prototype
/// PTE is valid for it, the prototype PTE is a clone block or the view's own,
/// and a shared working-set entry maps it.
fn shared_valid(
    t: &mut Tally<'_>,
    pid: Pid,
    space: &AddressSpace,
    va: Va,
    h: HardwarePte,
    view_ca: Option<ControlAreaId>,
) {
    let (m, st) = (t.m, t.st);
    let e = st.db.entry(h.pfn).expect("prototype flag read from it");
    if e.location != PageLocation::Active {
        t.v.push(format!(
            "pid {pid}: valid PTE of {:#x} names shared pfn {:#x} which is {}",
            va.0, h.pfn.0, e.location
        ));
    }
    match st.segments.locate_address(e.pte_address) {
        Some(at) => {
            let proto = st.segments.try_read(at).unwrap_or(Mmpte::ZERO);
            if m.fmt.pfn(proto) != Some(h.pfn) || !m.fmt.is_valid(proto) {
                t.v.push(format!(
                    "pid {pid}: {:#x} maps pfn {:#x} but its prototype PTE at {:#x} is not valid for it",
                    va.0, h.pfn.0, e.pte_address
                ));
            }
            let ca = st.segments.owner(at);
            if is_clone(t, ca) {
                let block = (ca.unwrap_or_default(), st.segments.index(at));
                *t.clone_refs.entry(block).or_default() += 1;
            } else if ca != view_ca {
                t.v.push(format!(
                    "pid {pid}: {:#x} maps a page of control area {:?} outside its view",
                    va.0,
                    ca.map(|c| c.0)
                ));
            }
        }
        None => t.v.push(format!(
            "pid {pid}: shared pfn {:#x} at {:#x} has PteAddress {:#x}, no prototype PTE",
            h.pfn.0, va.0, e.pte_address
        )),
    }
    match space.ws.shared_index(va).and_then(|i| space.ws.get(i)) {
        Some(w) if w.pfn == h.pfn && w.kind == WsleKind::Shared => {}
        other => t.v.push(format!(
            "pid {pid}: shared page {:#x} (pfn {:#x}) has working-set entry {other:?}",
            va.0, h.pfn.0
        )),
    }
}

/// Whether control area `ca` is a fork's clone control area.
fn is_clone(t: &Tally<'_>, ca: Option<ControlAreaId>) -> bool {
    ca.is_some_and(|c| t.st.segments.control_area(c).is_some_and(|a| a.is_clone()))
}

/// A prototype-pointer PTE: its address is a prototype PTE, of a clone block or
/// of its own view at the index the view maps there; the VAD-lookup form only
/// inside a view.
fn prototype_pointer(
    t: &mut Tally<'_>,
    pid: Pid,
    va: Va,
    proto_pte: Option<PteAddress>,
    view: Option<(&Vad, &crate::mm::vad::SectionRef)>,
) {
    let st = t.st;
    let Some(address) = proto_pte else {
        if view.is_none() {
            t.v.push(format!(
                "pid {pid}: {:#x} has a VAD-lookup prototype pointer outside any view",
                va.0
            ));
        }
        return;
    };
    let Some(at) = st.segments.locate_address(address) else {
        t.v.push(format!(
            "pid {pid}: {:#x} points at {:#x}, which is no prototype PTE",
            va.0, address.0
        ));
        return;
    };
    let ca = st.segments.owner(at);
    if is_clone(t, ca) {
        let block = (ca.unwrap_or_default(), st.segments.index(at));
        *t.clone_refs.entry(block).or_default() += 1;
    } else if ca != view.map(|(_, s)| s.id) {
        t.v.push(format!(
            "pid {pid}: {:#x} points at a prototype PTE of control area {:?} outside its view",
            va.0,
            ca.map(|c| c.0)
        ));
    } else if let Some((vad, s)) = view {
        let want = s.first_prototype_index + (va.vpn().0 - vad.starting_vpn.0);
        if st.segments.index(at) != want {
            t.v.push(format!(
                "pid {pid}: {:#x} points at prototype PTE {} but its view maps {want} there",
                va.0,
                st.segments.index(at)
            ));
        }
    }
}

/// A valid private PTE: an Active private frame of this process whose
/// PteAddress, ShareCount and working-set entry agree.
fn private_valid(t: &mut Tally<'_>, pid: Pid, space: &AddressSpace, va: Va, h: HardwarePte) {
    let m = t.m;
    let Some(e) = t.st.db.entry(h.pfn) else {
        t.v.push(format!(
            "pid {pid}: valid PTE of {:#x} names pfn {:#x} beyond RAM",
            va.0, h.pfn.0
        ));
        return;
    };
    let v = &mut t.v;
    if e.location != PageLocation::Active {
        v.push(format!(
            "pid {pid}: valid PTE of {:#x} names pfn {:#x} which is {}",
            va.0, h.pfn.0, e.location
        ));
    }
    if e.pte_address != pte_va(m, va) {
        v.push(format!(
            "pfn {:#x}: PteAddress {:#x} but it is mapped by the PTE of {:#x} at {:#x}",
            h.pfn.0,
            e.pte_address,
            va.0,
            pte_va(m, va)
        ));
    }
    if e.owner != space.slot {
        v.push(format!(
            "pfn {:#x}: owner slot {} but mapped by pid {pid} (slot {})",
            h.pfn.0, e.owner, space.slot
        ));
    }
    if e.use_ != private_use(m, va) {
        v.push(format!(
            "pfn {:#x}: use {} for a private page",
            h.pfn.0,
            e.use_.name()
        ));
    }
    if e.share_count != 1 {
        v.push(format!(
            "pfn {:#x}: ShareCount {} but one PTE maps it",
            h.pfn.0, e.share_count
        ));
    }
    match space.ws.get(e.ws_index) {
        Some(w) if w.pfn == h.pfn && w.va == va => {}
        other => v.push(format!(
            "pid {pid}: valid page {:#x} (pfn {:#x}) has WsIndex {} whose entry is {other:?}",
            va.0, h.pfn.0, e.ws_index
        )),
    }
}

/// A valid non-paged pool PTE: an Active NonPagedPool frame of the System
/// process, mapped once, in no working set.
fn nonpaged_valid(t: &mut Tally<'_>, space: &AddressSpace, va: Va, h: HardwarePte) {
    let ok = t.st.db.entry(h.pfn).is_some_and(|e| {
        e.location == PageLocation::Active
            && e.use_ == PageUse::NonPagedPool
            && e.owner == space.slot
            && e.share_count == 1
            && e.pte_address == pte_va(t.m, va)
    });
    if !ok {
        t.v.push(format!(
            "non-paged pool page {:#x} (pfn {:#x}) is not an Active NonPagedPool page mapped once by System",
            va.0, h.pfn.0
        ));
    }
    let idx = t.st.db.ws_index(h.pfn);
    if space.ws.get(idx).is_some_and(|w| w.pfn == h.pfn) {
        t.v.push(format!(
            "non-paged pool page {:#x} is in the System working set (entry {idx})",
            va.0
        ));
    }
}

/// A transition PTE: its frame is on a list (or under I/O) with this PTE's
/// address.
fn transition(t: &mut Tally<'_>, pid: Pid, va: Va, pfn: Pfn) {
    let m = t.m;
    let Some(e) = t.st.db.entry(pfn) else {
        t.v.push(format!(
            "pid {pid}: transition PTE of {:#x} names pfn {:#x} beyond RAM",
            va.0, pfn.0
        ));
        return;
    };
    if !matches!(
        e.location,
        PageLocation::Standby
            | PageLocation::Modified
            | PageLocation::ModifiedNoWrite
            | PageLocation::Transition
    ) {
        t.v.push(format!(
            "pid {pid}: transition PTE of {:#x} names pfn {:#x} which is {}",
            va.0, pfn.0, e.location
        ));
    }
    if e.pte_address != pte_va(m, va) {
        t.v.push(format!(
            "pfn {:#x}: PteAddress {:#x} but its transition PTE is at {:#x}",
            pfn.0,
            e.pte_address,
            pte_va(m, va)
        ));
    }
}

/// A PTE of hyperspace: valid, for an Active private page of this process
/// whose working-set entry is a locked system entry.
fn system_page(t: &mut Tally<'_>, pid: Pid, space: &AddressSpace, va: Va, raw: Mmpte) {
    let PteState::Valid(h) = t.m.fmt.decode(raw) else {
        t.v.push(format!(
            "pid {pid}: hyperspace PTE of {:#x} holds {raw:#x}, not a valid page",
            va.0
        ));
        return;
    };
    t.note(h.pfn, format!("pid {pid} hyperspace page {:#x}", va.0));
    let e = t.st.db.entry(h.pfn);
    if !e.is_some_and(|e| {
        e.location == PageLocation::Active
            && e.use_ == PageUse::ProcessPrivate
            && e.owner == space.slot
    }) {
        t.v.push(format!(
            "pid {pid}: hyperspace page {:#x} (pfn {:#x}) is not an Active private page of the process",
            va.0, h.pfn.0
        ));
    }
    match space.ws.get(t.st.db.ws_index(h.pfn)) {
        Some(w) if w.kind == WsleKind::System && w.locked && w.va == va => {}
        other => t.v.push(format!(
            "pid {pid}: hyperspace page {:#x} has working-set entry {other:?}, not a locked system entry",
            va.0
        )),
    }
}

/// The page tables charged are exactly those the VADs need
/// (MiInsertVadCharges, MiReturnPageTablePageCommitment).
fn check_table_charges(t: &mut Tally<'_>, pid: Pid, space: &AddressSpace) {
    let needed = needed_by(&space.vads, t.m.fmt.arch());
    let charged: std::collections::BTreeSet<_> = space.table_charges.iter().collect();
    if needed != charged {
        t.v.push(format!(
            "pid {pid}: {} page tables are charged but its VADs need {} (first difference: {:?})",
            charged.len(),
            needed.len(),
            needed.symmetric_difference(&charged).next()
        ));
    }
}

/// Every working-set entry matches a valid PTE of its kind (or one of the
/// process's page tables), and a private entry is its frame's WsIndex.
fn check_working_set(
    t: &mut Tally<'_>,
    pid: Pid,
    space: &AddressSpace,
    tables: &PageTables,
    table_frames: &[Pfn],
) {
    let (m, st) = (t.m, t.st);
    let maps = |va: Va, pfn: Pfn| {
        tables
            .leaf(va)
            .map(|l| m.fmt.decode(tables.read(l)))
            .is_some_and(|s| matches!(s, PteState::Valid(h) if h.pfn == pfn))
    };
    for (index, e) in space.ws.iter() {
        match e.kind {
            WsleKind::Private => {
                if !maps(e.va, e.pfn) {
                    t.v.push(format!(
                        "pid {pid}: working-set entry {index} ({:#x}) has no valid PTE for pfn {:#x}",
                        e.va.0, e.pfn.0
                    ));
                }
                if st.db.ws_index(e.pfn) != index {
                    t.v.push(format!(
                        "pid {pid}: working-set entry {index} but pfn {:#x} has WsIndex {}",
                        e.pfn.0,
                        st.db.ws_index(e.pfn)
                    ));
                }
            }
            WsleKind::Shared => {
                if !(maps(e.va, e.pfn) && st.db.prototype(e.pfn)) {
                    t.v.push(format!(
                        "pid {pid}: shared working-set entry {index} ({:#x}) has no valid PTE for shared pfn {:#x}",
                        e.va.0, e.pfn.0
                    ));
                }
            }
            WsleKind::System => {
                if !maps(e.va, e.pfn) || st.db.ws_index(e.pfn) != index || !e.locked {
                    t.v.push(format!(
                        "pid {pid}: system working-set entry {index} ({:#x}) is not a locked entry of its valid page {:#x}",
                        e.va.0, e.pfn.0
                    ));
                }
            }
            WsleKind::PageTable => {
                if !table_frames.contains(&e.pfn) {
                    t.v.push(format!(
                        "pid {pid}: working-set entry {index} names pfn {:#x}, not one of its page tables",
                        e.pfn.0
                    ));
                }
            }
        }
    }
}

/// A VAD's charge: a view charges every page if copy-on-write, else nothing
/// (and counts as a view of its control area); private memory charges its
/// committed pages.
fn check_vad(t: &mut Tally<'_>, pid: Pid, space: &AddressSpace, tables: &PageTables, vad: &Vad) {
    if let Some(sr) = &vad.section {
        if vad.start_va().0 > t.m.layout.highest_user_address() {
            *t.cache_views.entry(sr.id).or_default() += 1;
        } else {
            *t.views.entry(sr.id).or_default() += 1;
        }
        let want = if vad.protection.is_copy_on_write() {
            vad.page_count()
        } else {
            0
        };
        if vad.commit_charge != want {
            t.v.push(format!(
                "pid {pid}: view {} charges {} pages, not {want}",
                vad.range_text(),
                vad.commit_charge
            ));
        }
        return;
    }
    if vad.vad_type == VadType::Awe {
        // Its valid PTEs map AWE pages, charged when allocated, not here.
        if vad.commit_charge != 0 {
            t.v.push(format!(
                "pid {pid}: AWE VAD {} charges {} pages",
                vad.range_text(),
                vad.commit_charge
            ));
        }
        return;
    }
    let committed = count_committed(
        t.m,
        tables,
        &space.paged_tables,
        vad.starting_vpn,
        vad.ending_vpn,
        vad.mem_commit,
    );
    if committed != vad.commit_charge {
        t.v.push(format!(
            "pid {pid}: VAD {} charges {} pages but {committed} are committed",
            vad.range_text(),
            vad.commit_charge
        ));
    }
}

/// The frame of a page table paged out to a transition PDE.
fn paged_out_frame(
    t: &mut Tally<'_>,
    space: &AddressSpace,
    base: Va,
    pfn: Pfn,
    saved: &[(u64, Mmpte)],
) {
    let (m, pid) = (t.m, space.pid);
    let Some(e) = t.st.db.entry(pfn) else {
        t.v.push(format!(
            "pid {pid}: paged-out table for {:#x} names pfn {:#x} beyond RAM",
            base.0, pfn.0
        ));
        return;
    };
    let want = pte_va(m, self_map_va(m, Level::Pte, base));
    let placed = matches!(
        e.location,
        PageLocation::Standby | PageLocation::Modified | PageLocation::Transition
    );
    if !placed || e.use_ != PageUse::PageTable || e.owner != space.slot || e.pte_address != want {
        t.v.push(format!(
            "pid {pid}: paged-out table for {:#x} (pfn {:#x}) is {} {} owner {} PteAddress {:#x}, not a listed PageTable at {want:#x}",
            base.0,
            pfn.0,
            e.location,
            e.use_.name(),
            e.owner,
            e.pte_address
        ));
    }
    let tables = space.tables(m);
    let held: Vec<(u64, Mmpte)> = (0..m.fmt.entries_per_table(Level::Pte))
        .map(|index| (index, tables.read(EntryLoc { table: pfn, index })))
        .filter(|(_, raw)| !raw.is_zero())
        .collect();
    if held != saved {
        t.v.push(format!(
            "pid {pid}: paged-out table for {:#x} (pfn {:#x}) holds {} entries, {} saved",
            base.0,
            pfn.0,
            held.len(),
            saved.len()
        ));
    }
}
