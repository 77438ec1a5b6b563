//! Snapshots of one process for `processes/<name>/`: `status`, `vads`, `maps`,
//! `ptes` and `workingset`, and the process list (`pte/<VA>` is `pte.rs`,
//! `clones` is `clones.rs`).

use crate::mm::Mm;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::hw::pagetable::PageTables;
use crate::mm::hw::pte::{HardwarePte, Level, PteState};
use crate::mm::process::address_space::Exception;
use crate::mm::process::page_tables::pte_va;
use crate::mm::process::working_set::{Wsle, WsleKind};
use crate::mm::process::{AddressSpace, ProcessState};
use crate::mm::vad::{Vad, VadType};

use super::pte::effective_protection;

/// A process as listed under `processes/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessEntry {
    pub name: String,
    pub pid: Pid,
}

/// What `processes/<name>/status` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessStatus {
    pub name: String,
    pub pid: Pid,
    pub state: ProcessState,
    /// Physical address of the top-level page table (CR3).
    pub directory_table_base: u64,
    pub working_set_size: u64,
    pub working_set_minimum: u64,
    pub working_set_maximum: u64,
    pub peak_working_set_size: u64,
    pub private_pages: u64,
    pub commit_charge: u64,
    pub peak_commit_charge: u64,
    pub page_table_pages: u64,
    pub locked_pages: u64,
    pub virtual_size: u64,
    pub page_fault_count: u64,
    pub demand_zero_faults: u64,
    pub transition_faults: u64,
    pub hard_faults: u64,
    pub copy_on_write_faults: u64,
    /// Faults resolved through a prototype PTE (views, fork clones).
    pub prototype_faults: u64,
    /// The last exception a touch of the process's memory raised.
    pub last_exception: Option<Exception>,
    /// AWE pages it owns (AllocateUserPhysicalPages), mapped or not.
    pub awe_pages: u64,
}

/// One row of `processes/<name>/vads` and `maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VadRow {
    pub start: u64,
    /// Inclusive.
    pub end: u64,
    pub commit_pages: u64,
    pub type_name: &'static str,
    pub protection: Protection,
    pub mem_commit: bool,
    pub private: bool,
    pub name: Option<String>,
}

/// One row of `processes/<name>/ptes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PteRow {
    pub va: u64,
    /// Address of the PTE in the self-map.
    pub pte_address: u64,
    pub raw: u64,
    pub state: &'static str,
    /// The frame (valid, transition), pagefile offset, or nothing.
    pub pfn_or_offset: Option<u64>,
    /// The page's effective protection, as `pte/<VA>` shows it.
    pub protection: Option<Protection>,
}

/// One row of `processes/<name>/workingset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsRow {
    pub index: u32,
    pub va: u64,
    pub pfn: Pfn,
    pub age: u8,
    pub locked: bool,
    /// `private`, `shared` (a section or clone page), `pagetable`, or `system`
    /// (the process's hyperspace pages: its VAD bitmap and working-set list).
    pub kind: &'static str,
}

impl WsRow {
    /// A data page of the address space (not a page table or system page).
    pub fn is_data(&self) -> bool {
        matches!(self.kind, "private" | "shared")
    }
}

pub fn state_name(s: &PteState) -> &'static str {
    match s {
        PteState::Valid(_) => "valid",
        PteState::Transition { .. } => "transition",
        PteState::Prototype { .. } | PteState::Subsection { .. } => "prototype",
        PteState::PageFile { .. } => "pagefile",
        PteState::DemandZero { .. } => "demand-zero",
        PteState::Decommitted => "decommitted",
        PteState::Zero => "none",
    }
}

/// The state word of the `ptes` table, limited to the SPEC's set (§7): a
/// decommitted PTE holds no page, so it is `none` there (`pte/<VA>` says more).
fn table_state_name(s: &PteState) -> &'static str {
    match s {
        PteState::Decommitted => "none",
        other => state_name(other),
    }
}

pub(super) fn vad_row(v: &Vad) -> VadRow {
    VadRow {
        start: v.start_va().0,
        end: v.end_va().0,
        commit_pages: v.commit_charge,
        type_name: v.type_name(),
        protection: v.protection,
        mem_commit: v.mem_commit,
        private: v.private_memory,
        name: v.section.as_ref().map(|s| s.name.clone()),
    }
}

impl Mm {
    /// Live processes in pid order.
    pub fn processes(&self) -> Vec<ProcessEntry> {
        self.processes
            .read()
            .iter()
            .map(|p| ProcessEntry {
                name: p.name.clone(),
                pid: p.pid,
            })
            .collect()
    }

    pub fn process_status(&self, pid: Pid) -> MmResult<ProcessStatus> {
        let p = self.process(pid)?;
        let space = p.space();
        Ok(ProcessStatus {
            name: p.name.clone(),
            pid: p.pid,
            state: space.state,
            directory_table_base: space.dtb.phys(),
            working_set_size: space.ws.len(),
            working_set_minimum: space.ws.minimum,
            working_set_maximum: space.ws.maximum,
            peak_working_set_size: space.ws.peak,
            private_pages: space.private_page_count(&self.machine.pfn_lock()),
            commit_charge: space.commit_charge(),
            awe_pages: space.awe.len(),
            peak_commit_charge: space.commit_peak,
            page_table_pages: space.page_table_pages,
            locked_pages: space.ws.locked_count(),
            virtual_size: space.vads.iter().map(|v| v.size_bytes()).sum(),
            page_fault_count: space.faults.page_faults,
            demand_zero_faults: space.faults.demand_zero,
            transition_faults: space.faults.transition,
            hard_faults: space.faults.hard,
            copy_on_write_faults: space.faults.copy_on_write,
            prototype_faults: space.faults.prototype,
            last_exception: space.last_exception.clone(),
        })
    }

    pub fn vads(&self, pid: Pid) -> MmResult<Vec<VadRow>> {
        let p = self.process(pid)?;
        let space = p.space();
        Ok(space.vads.iter().map(vad_row).collect())
    }

    /// One row of `ptes`. The protection is the page's effective one, worked
    /// out as `pte/<VA>` does (`effective_protection`), so the two agree.
    fn pte_row(&self, space: &AddressSpace, vad: &Vad, va: u64, raw: Mmpte) -> PteRow {
        let m = &self.machine;
        let state = m.fmt.decode(raw);
        let pfn_or_offset = match state {
            PteState::Valid(h) => Some(h.pfn.0 as u64),
            PteState::Transition { pfn, .. } => Some(pfn.0 as u64),
            PteState::PageFile { slot, .. } => Some(slot as u64 * PAGE_SIZE),
            _ => None,
        };
        PteRow {
            va,
            pte_address: pte_va(m, Va(va)).0,
            raw: raw.0,
            state: table_state_name(&state),
            pfn_or_offset,
            protection: effective_protection(m, None, space, Va(va), &state, Some(vad)),
        }
    }

    /// The `ptes` rows of a large-page VAD: one per 4 KB page, each showing
    /// the large PDE that maps it (its self-map address and value) and its
    /// frame, the PDE's first frame plus the page's index.
    /// Only the pages in `[from, to]`.
    fn large_page_rows(&self, space: &AddressSpace, vad: &Vad, from: u64, to: u64) -> Vec<PteRow> {
        let m = &self.machine;
        let frames = m.fmt.large_page_size() / PAGE_SIZE;
        let mut rows = Vec::new();
        for (base, _, raw) in space.tables(m).large_pdes(from, to) {
            let PteState::Valid(h) = m.fmt.decode(raw) else {
                continue;
            };
            let pde = m.fmt.entry_va(Va(base), Level::Pde).unwrap_or_default();
            for i in 0..frames {
                let va = base + i * PAGE_SIZE;
                if va < from || va > to {
                    continue;
                }
                let state = PteState::Valid(HardwarePte {
                    pfn: Pfn(h.pfn.0 + i as u32),
                    ..h
                });
                rows.push(PteRow {
                    va,
                    pte_address: pde.0,
                    raw: raw.0,
                    state: table_state_name(&state),
                    pfn_or_offset: Some(u64::from(h.pfn.0) + i),
                    protection: effective_protection(m, None, space, Va(va), &state, Some(vad)),
                });
            }
        }
        rows
    }

    /// `processes/<name>/ptes`: every page of every VAD whose page table exists
    /// (a large-page VAD's pages through their large PDEs).
    pub fn ptes(&self, pid: Pid) -> MmResult<Vec<PteRow>> {
        let p = self.process(pid)?;
        // Terminated since the lookup: its page tables are freed.
        let space = p.live_space()?;
        let m = &self.machine;
        let tables = space.tables(m);
        let mut rows = Vec::new();
        for v in space.vads.iter() {
            if v.vad_type == VadType::LargePages {
                rows.extend(self.large_page_rows(&space, v, v.start_va().0, v.end_va().0));
                continue;
            }
            tables.for_each_entry(v.start_va().0, v.end_va().0, &mut |level, va, _, raw| {
                if level == Level::Pte {
                    rows.push(self.pte_row(&space, v, va, raw));
                }
            });
            // Paged-out tables: every PTE they held, read without bringing
            // them back.
            for (base, ptes) in space.paged_tables.iter() {
                let table_end = base + (1u64 << m.fmt.table_span_shift()) - 1;
                if table_end < v.start_va().0 || base > v.end_va().0 {
                    continue;
                }
                for index in 0..m.fmt.entries_per_table(Level::Pte) {
                    let va = base + index * PAGE_SIZE;
                    if va < v.start_va().0 || va > v.end_va().0 {
                        continue;
                    }
                    let raw = ptes
                        .iter()
                        .find(|(i, _)| *i == index)
                        .map_or(Mmpte::ZERO, |(_, raw)| *raw);
                    rows.push(self.pte_row(&space, v, va, raw));
                }
            }
        }
        rows.sort_by_key(|r| r.va);
        Ok(rows)
    }

    /// `processes/<name>/workingset`: the `!wsle` view.
    pub fn workingset(&self, pid: Pid) -> MmResult<Vec<WsRow>> {
        let p = self.process(pid)?;
        let space = p.space();
        Ok(space.ws.iter().map(|(index, e)| ws_row(index, e)).collect())
    }

    /// The `workingset` rows from WSLE index `from` on, at most `max`, and the
    /// index the next chunk starts at (`None`: the end). Under the address
    /// space once: each chunk is one instant of the working set, the whole
    /// file is not.
    pub fn workingset_chunk(
        &self,
        pid: Pid,
        from: u32,
        max: usize,
    ) -> MmResult<(Vec<WsRow>, Option<u32>)> {
        let p = self.process(pid)?;
        let space = p.space();
        let slots = u32::try_from(space.ws.slots()).unwrap_or(u32::MAX);
        let mut rows = Vec::new();
        let mut index = from;
        while index < slots && rows.len() < max {
            if let Some(e) = space.ws.get(index) {
                rows.push(ws_row(index, e));
            }
            index += 1;
        }
        Ok((rows, (index < slots).then_some(index)))
    }

    /// The `ptes` rows from address `from` on, in address order: at least
    /// `max` of them (a page table's worth more at most) unless the address
    /// space ends first, and the address the next chunk starts at (`None`:
    /// the end). Under the address space once: each chunk is one instant of
    /// it, the whole file is not. The rows `ptes` gives, walked one page
    /// table's span at a time, skipping what no table maps.
    pub fn ptes_chunk(
        &self,
        pid: Pid,
        from: u64,
        max: usize,
    ) -> MmResult<(Vec<PteRow>, Option<u64>)> {
        let p = self.process(pid)?;
        let space = p.live_space()?;
        let m = &self.machine;
        let tables = space.tables(m);
        let span = 1u64 << m.fmt.table_span_shift();
        // A window is one page table's span, and the last may go past `max`.
        let mut rows = Vec::with_capacity(max.saturating_add((span / PAGE_SIZE) as usize));
        for v in space.vads.iter().filter(|v| v.end_va().0 >= from) {
            let mut at = from.max(v.start_va().0);
            while at <= v.end_va().0 {
                if rows.len() >= max {
                    return Ok((rows, Some(at)));
                }
                let to = (at | (span - 1)).min(v.end_va().0);
                match self.pte_window(&space, &tables, v, (at, to), &mut rows) {
                    Some(next) => at = next,
                    None => break,
                }
            }
        }
        Ok((rows, None))
    }

    /// Appends the rows of `v`'s pages in `[at, to]` (within one page table's
    /// span) and gives the next address to look at: past the window, or,
    /// where no table exists, past what the entry the walk stopped at maps
    /// (but not past a paged-out table).
    fn pte_window(
        &self,
        space: &AddressSpace,
        tables: &PageTables,
        v: &Vad,
        (at, to): (u64, u64),
        rows: &mut Vec<PteRow>,
    ) -> Option<u64> {
        let m = &self.machine;
        let span = 1u64 << m.fmt.table_span_shift();
        if v.vad_type == VadType::LargePages {
            rows.extend(self.large_page_rows(space, v, at, to));
            return to.checked_add(1);
        }
        let stop = tables.walk(Va(at)).last().map(|(l, _, _)| *l);
        if stop == Some(Level::Pte) {
            tables.for_each_entry(at, to, &mut |level, va, _, raw| {
                if level == Level::Pte {
                    rows.push(self.pte_row(space, v, va, raw));
                }
            });
            return to.checked_add(1);
        }
        let base = at & !(span - 1);
        if let Some(ptes) = space.paged_tables.table(base) {
            // A paged-out table: the PTEs it held, read without bringing it back.
            for va in (at..=to).step_by(PAGE_SIZE as usize) {
                let index = (va - base) / PAGE_SIZE;
                let raw = ptes
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map_or(Mmpte::ZERO, |(_, raw)| *raw);
                rows.push(self.pte_row(space, v, va, raw));
            }
            return to.checked_add(1);
        }
        let level_span = stop.map_or(span, |l| tables.span(l)).max(span);
        let paged = space.paged_tables.next_base(at);
        match (at | (level_span - 1)).checked_add(1) {
            Some(skip) => Some(paged.map_or(skip, |b| b.min(skip))),
            None => paged,
        }
    }
}

fn ws_row(index: u32, e: &Wsle) -> WsRow {
    WsRow {
        index,
        va: e.va.0,
        pfn: e.pfn,
        age: e.age,
        locked: e.locked,
        kind: match e.kind {
            WsleKind::PageTable => "pagetable",
            other => other.name(),
        },
    }
}
