//! Snapshots of one process for `processes/<name>/`: `status`, `vads`, `maps`,
//! `ptes`, `pte/<VA>` and `workingset`, and the process list.

use crate::mm::Mm;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::hw::pte::{Level, PteState};
use crate::mm::machine::{Machine, PfnState};
use crate::mm::pfn::PageLocation;
use crate::mm::process::address_space::Exception;
use crate::mm::process::page_tables::pte_va;
use crate::mm::process::working_set::WsleKind;
use crate::mm::process::{AddressSpace, ProcessState};
use crate::mm::segment::ProtoLoc;
use crate::mm::vad::Vad;

use super::sections::proto_state_name;

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
    pub protection: Option<Protection>,
}

/// One paging level of the `pte/<VA>` view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PteLevelView {
    /// PXE, PPE, PDE or PTE.
    pub name: &'static str,
    /// The entry's self-map address (none for PAE's PDPT).
    pub address: Option<u64>,
    pub raw: u64,
}

/// The flags of a valid PTE, as `pte/<VA>` shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteFlags {
    pub write: bool,
    pub owner: bool,
    pub accessed: bool,
    pub dirty: bool,
    pub copy_on_write: bool,
    pub no_execute: bool,
}

/// The `pte/<VA>` view: every level's entry, what the PTE says, and what is
/// behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PteDetail {
    pub va: u64,
    pub levels: Vec<PteLevelView>,
    pub state: &'static str,
    pub pfn: Option<Pfn>,
    pub pagefile: Option<(u8, u32)>,
    pub protection: Option<Protection>,
    /// A valid PTE's flags.
    pub valid_flags: Option<PteFlags>,
    pub vad: Option<VadRow>,
    /// The prototype PTE behind the page (a view's or a fork's), and what it says.
    pub prototype: Option<(u64, &'static str)>,
}

/// One row of `processes/<name>/workingset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsRow {
    pub index: u32,
    pub va: u64,
    pub pfn: Pfn,
    pub age: u8,
    pub locked: bool,
    pub page_table: bool,
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

fn vad_row(v: &Vad) -> VadRow {
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

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Pxe => "PXE",
        Level::Ppe => "PPE",
        Level::Pde => "PDE",
        Level::Pte => "PTE",
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
            private_pages: space.private_pages,
            commit_charge: space.commit_charge(),
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

    fn pte_row(&self, va: u64, raw: Mmpte, wsp: impl Fn(Pfn) -> Option<Protection>) -> PteRow {
        let m = &self.machine;
        let state = m.fmt.decode(raw);
        let (pfn_or_offset, protection) = match state {
            PteState::Valid(h) => (Some(h.pfn.0 as u64), wsp(h.pfn)),
            PteState::Transition { pfn, protection } => (Some(pfn.0 as u64), Some(protection)),
            PteState::PageFile {
                slot, protection, ..
            } => (Some(slot as u64 * PAGE_SIZE), Some(protection)),
            PteState::DemandZero { protection } => (None, Some(protection)),
            PteState::Prototype { protection, .. } => (None, Some(protection)),
            _ => (None, None),
        };
        PteRow {
            va,
            pte_address: pte_va(m, Va(va)).0,
            raw: raw.0,
            state: table_state_name(&state),
            pfn_or_offset,
            protection,
        }
    }

    /// `processes/<name>/ptes`: every page of every VAD whose page table exists.
    pub fn ptes(&self, pid: Pid) -> MmResult<Vec<PteRow>> {
        let p = self.process(pid)?;
        // Terminated since the lookup: its page tables are freed.
        let space = p.live_space()?;
        let m = &self.machine;
        let tables = space.tables(m);
        let ws_prot = |pfn: Pfn| {
            let index = m.pfn_lock().db.ws_index(pfn);
            space.ws.get(index).map(|e| e.protection)
        };
        let mut rows = Vec::new();
        for v in space.vads.iter() {
            tables.for_each_entry(v.start_va().0, v.end_va().0, &mut |level, va, _, raw| {
                if level == Level::Pte {
                    rows.push(self.pte_row(va, raw, ws_prot));
                }
            });
        }
        Ok(rows)
    }

    /// `processes/<name>/pte/<VA>`: the `!pte` view.
    pub fn pte_detail(&self, pid: Pid, va: u64) -> MmResult<PteDetail> {
        let p = self.process(pid)?;
        let space = p.live_space()?;
        let m = &self.machine;
        if va > m.layout.highest_user_address() {
            return Err(mm_err!(
                INVALID_ADDRESS,
                "{va:#x} is not a user address (they end at {:#x})",
                m.layout.highest_user_address()
            ));
        }
        let (levels, leaf) = pte_levels(m, &space, Va(va));
        let state = m.fmt.decode(leaf);
        let vad = space.vads.find(Va(va).vpn()).map(vad_row);
        let st = m.pfn_lock();
        let proto_at = prototype_behind(m, &st, &space, Va(va), &state);
        let prototype = proto_at.map(|at| {
            let raw = st.segments.read(at);
            let pfn = m.fmt.pfn(raw);
            let mnw = pfn.is_some_and(|p| st.db.location(p) == Some(PageLocation::ModifiedNoWrite));
            (
                st.segments.address(at).0,
                proto_state_name(&m.fmt.decode_prototype(raw), mnw),
            )
        });
        let proto_protection =
            proto_at.map(|at| m.proto_protection_locked(&st, st.segments.read(at)));
        let mut d = PteDetail {
            va,
            levels,
            state: state_name(&state),
            pfn: None,
            pagefile: None,
            protection: None,
            valid_flags: None,
            vad,
            prototype,
        };
        page_facts(&mut d, &space, &st, &state, proto_protection);
        Ok(d)
    }

    /// `processes/<name>/workingset`: the `!wsle` view.
    pub fn workingset(&self, pid: Pid) -> MmResult<Vec<WsRow>> {
        let p = self.process(pid)?;
        let space = p.space();
        Ok(space
            .ws
            .iter()
            .map(|(index, e)| WsRow {
                index,
                va: e.va.0,
                pfn: e.pfn,
                age: e.age,
                locked: e.locked,
                page_table: e.kind == WsleKind::PageTable,
            })
            .collect())
    }
}

/// Every level's entry for `va`, top first, and the leaf PTE's value (0 if
/// its page table does not exist).
fn pte_levels(m: &Machine, space: &AddressSpace, va: Va) -> (Vec<PteLevelView>, Mmpte) {
    let walk = space.tables(m).walk(va);
    let levels = walk
        .iter()
        .map(|(l, _, raw)| PteLevelView {
            name: level_name(*l),
            address: m.fmt.entry_va(va, *l).map(|a| a.0),
            raw: raw.0,
        })
        .collect();
    let leaf = walk
        .last()
        .filter(|(l, _, _)| *l == Level::Pte)
        .map_or(Mmpte::ZERO, |w| w.2);
    (levels, leaf)
}

/// The prototype PTE behind the page at `va`: named by the PTE, by the frame,
/// or by the view.
fn prototype_behind(
    m: &Machine,
    st: &PfnState,
    space: &AddressSpace,
    va: Va,
    state: &PteState,
) -> Option<ProtoLoc> {
    match *state {
        PteState::Prototype {
            proto_pte: Some(a), ..
        } => st.segments.locate_address(a),
        PteState::Valid(h) if st.db.prototype(h.pfn) => m.proto_of_locked(st, h.pfn),
        PteState::Valid(_) | PteState::Transition { .. } | PteState::PageFile { .. } => None,
        _ => {
            let v = space.vads.find(va.vpn())?;
            let s = v.section.as_ref()?;
            let index = s.first_prototype_index + (va.vpn().0 - v.starting_vpn.0);
            st.segments.locate(s.id, index)
        }
    }
}

/// The frame, paging-file place, protection and valid flags the PTE's state
/// gives (a valid page's protection is its working-set entry's; a zero PTE's
/// its VAD's; a prototype pointer's its own or the prototype PTE's).
fn page_facts(
    d: &mut PteDetail,
    space: &AddressSpace,
    st: &PfnState,
    state: &PteState,
    proto_protection: Option<Protection>,
) {
    match *state {
        PteState::Valid(h) => {
            let index = space
                .ws_index_of(st, Va(d.va).page_base(), h.pfn)
                .unwrap_or(u32::MAX);
            d.pfn = Some(h.pfn);
            d.protection = space.ws.get(index).map(|e| e.protection);
            d.valid_flags = Some(PteFlags {
                write: h.write,
                owner: h.owner,
                accessed: h.accessed,
                dirty: h.dirty,
                copy_on_write: h.copy_on_write,
                no_execute: h.no_execute,
            });
        }
        PteState::Transition { pfn, protection } => {
            d.pfn = Some(pfn);
            d.protection = Some(protection);
        }
        PteState::PageFile {
            file,
            slot,
            protection,
        } => {
            d.pagefile = Some((file, slot));
            d.protection = Some(protection);
        }
        PteState::DemandZero { protection } => d.protection = Some(protection),
        PteState::Zero => {
            d.protection = d
                .vad
                .as_ref()
                .filter(|v| v.mem_commit)
                .map(|v| v.protection);
        }
        PteState::Prototype { protection, .. } if protection.raw() != 0 => {
            d.protection = Some(protection);
        }
        PteState::Prototype { .. } => d.protection = proto_protection,
        _ => {}
    }
}
