//! Read-only views of the memory manager as plain data, for the filesystem to render.
//! Nothing here changes state; each view takes the locks it needs briefly.

use super::Mm;
use super::address_space::pte_va;
use super::pfn::{PageLocation, PageUse};
use super::process::{Pid, ProcessState};
use super::protection::Protection;
use super::pte::{Level, PteState};
use super::status::MmResult;
use super::types::{PAGE_SIZE, Pfn, Va};
use super::working_set::WsleKind;

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
    /// e.g. `STATUS_ACCESS_VIOLATION write 0x00020000`, or `none`.
    pub last_exception: String,
}

/// One row of `pfn/db`, and the `pfn/<PFN>` view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PfnRow {
    pub pfn: Pfn,
    pub location: PageLocation,
    pub use_: PageUse,
    pub pid: Option<Pid>,
    pub va: Option<u64>,
    pub pte_address: u64,
    pub share_count: u32,
    pub reference_count: u16,
    pub priority: u8,
    pub modified: bool,
    pub read_in_progress: bool,
    pub write_in_progress: bool,
    pub prototype: bool,
    pub in_page_error: bool,
    pub original_pte: u64,
    pub flink: Option<Pfn>,
    pub blink: Option<Pfn>,
    pub ws_index: u32,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PteDetail {
    pub va: u64,
    pub levels: Vec<PteLevelView>,
    pub state: &'static str,
    pub pfn: Option<Pfn>,
    pub pagefile: Option<(u8, u32)>,
    pub protection: Option<Protection>,
    pub valid_flags: Option<String>,
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

/// One row of `system/usecounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseRow {
    pub name: &'static str,
    /// total, then by location: active standby modified modified_no_write
    /// transition zeroed free bad.
    pub counts: [u64; 9],
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

fn vad_row(v: &super::vad::Vad) -> VadRow {
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
    pub fn process_status(&self, pid: Pid) -> MmResult<ProcessStatus> {
        let p = self.process(pid)?;
        let space = p.space();
        let last_exception = match &space.last_exception {
            Some(e) => format!(
                "{} {} 0x{:08x}",
                e.status.name(),
                if e.write { "write" } else { "read" },
                e.va.0
            ),
            None => "none".to_string(),
        };
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
            last_exception,
        })
    }

    /// `system/meminfo`, in pages.
    pub fn meminfo(&self) -> Vec<(&'static str, u64)> {
        let m = self.machine();
        let st = m.pfn_lock();
        let c = |l| st.db.list_count(l);
        let (zeroed, free, standby) = (
            c(PageLocation::Zeroed),
            c(PageLocation::Free),
            c(PageLocation::Standby),
        );
        let (modified, mnw, bad) = (
            c(PageLocation::Modified),
            c(PageLocation::ModifiedNoWrite),
            c(PageLocation::Bad),
        );
        let (active, transition) = (c(PageLocation::Active), c(PageLocation::Transition));
        drop(st);
        let commit = *m.commit_lock();
        let physical = m.phys.pages() as u64;
        vec![
            ("PageSize", PAGE_SIZE),
            ("PhysicalPages", physical),
            ("ZeroedPages", zeroed),
            ("FreePages", free),
            ("StandbyPages", standby),
            ("ModifiedPages", modified),
            ("ModifiedNoWritePages", mnw),
            ("BadPages", bad),
            ("ActivePages", active),
            ("TransitionPages", transition),
            ("AvailablePages", zeroed + free + standby),
            ("CommitCharge", commit.total),
            ("CommitLimit", commit.limit),
            ("CommitPeak", commit.peak),
            ("PagedPoolPages", 0),
            ("NonPagedPoolPages", 0),
            ("SystemCachePages", 0),
            // MmResidentAvailablePages: RAM less bad pages less every process's
            // working-set minimum (0 when the minimums exceed it).
            (
                "ResidentAvailablePages",
                super::virtual_memory::resident_available(m, bad).max(0) as u64,
            ),
        ]
    }

    /// `system/counters`.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.machine().counters.snapshot()
    }

    /// A counter by name (for tests).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| v)
    }

    /// `system/usecounts`: RAMMap's Use Counts.
    pub fn usecounts(&self) -> Vec<UseRow> {
        let st = self.machine().pfn_lock();
        let mut rows: Vec<UseRow> = PageUse::ALL
            .iter()
            .map(|u| UseRow {
                name: u.name(),
                counts: [0; 9],
            })
            .collect();
        let column = |l: PageLocation| match l {
            PageLocation::Active => 1,
            PageLocation::Standby => 2,
            PageLocation::Modified => 3,
            PageLocation::ModifiedNoWrite => 4,
            PageLocation::Transition => 5,
            PageLocation::Zeroed => 6,
            PageLocation::Free => 7,
            PageLocation::Bad => 8,
        };
        for pfn in 0..st.db.pages() {
            let pfn = Pfn(pfn);
            let (Some(loc), use_) = (st.db.location(pfn), st.db.page_use(pfn)) else {
                continue;
            };
            let row = PageUse::ALL.iter().position(|u| *u == use_).unwrap_or(0);
            rows[row].counts[0] += 1;
            rows[row].counts[column(loc)] += 1;
        }
        drop(st);
        let mut total = UseRow {
            name: "Total",
            counts: [0; 9],
        };
        for r in &rows {
            for (t, c) in total.counts.iter_mut().zip(r.counts) {
                *t += c;
            }
        }
        rows.push(total);
        rows
    }

    /// `pfn/lists/NAME`: head first (`Active`: every active page in PFN order).
    pub fn pfn_list(&self, loc: PageLocation) -> Vec<Pfn> {
        let st = self.machine().pfn_lock();
        if loc.is_list() {
            st.db.iter_list(loc).collect()
        } else {
            (0..st.db.pages())
                .map(Pfn)
                .filter(|&p| st.db.location(p) == Some(loc))
                .collect()
        }
    }

    fn owner_pids(&self) -> Vec<Option<Pid>> {
        let st = self.machine().pfn_lock();
        st.owners.iter().map(|o| o.map(|o| o.pid)).collect()
    }

    fn row_of(
        &self,
        st: &super::memory::PfnState,
        owners: &[Option<Pid>],
        pfn: Pfn,
    ) -> Option<PfnRow> {
        let e = st.db.entry(pfn)?;
        let fmt = &self.machine().fmt;
        let va = (e.pte_address != 0)
            .then(|| fmt.va_of_pte(Va(e.pte_address)).map(|v| v.0))
            .flatten();
        Some(PfnRow {
            pfn,
            location: e.location,
            use_: e.use_,
            pid: owners.get(e.owner as usize).copied().flatten(),
            va,
            pte_address: e.pte_address,
            share_count: e.share_count,
            reference_count: e.reference_count,
            priority: e.priority,
            modified: e.modified,
            read_in_progress: e.read_in_progress,
            write_in_progress: e.write_in_progress,
            prototype: e.prototype,
            in_page_error: e.in_page_error,
            original_pte: e.original_pte,
            flink: e.flink,
            blink: e.blink,
            ws_index: e.ws_index,
        })
    }

    /// `pfn/db`: every physical page, in PFN order, handed to `visit` one row at a
    /// time (no table of rows is built: with 64 GB of RAM it would be gigabytes).
    /// The PFN lock is held only in chunks, so a large listing does not stall
    /// faults for long; rows are each consistent, the whole is not one instant.
    pub fn for_each_pfn_row(&self, mut visit: impl FnMut(&PfnRow)) {
        let owners = self.owner_pids();
        let pages = self.machine().phys.pages();
        const CHUNK: u32 = 4096;
        let mut rows = Vec::with_capacity(CHUNK as usize);
        let mut start = 0u32;
        while start < pages {
            let end = start.saturating_add(CHUNK).min(pages);
            {
                let st = self.machine().pfn_lock();
                rows.extend((start..end).filter_map(|p| self.row_of(&st, &owners, Pfn(p))));
            }
            rows.iter().for_each(&mut visit);
            rows.clear();
            start = end;
        }
    }

    /// `pfn/<PFN>`.
    pub fn pfn_detail(&self, pfn: Pfn) -> Option<PfnRow> {
        let owners = self.owner_pids();
        let st = self.machine().pfn_lock();
        self.row_of(&st, &owners, pfn)
    }

    pub fn vads(&self, pid: Pid) -> MmResult<Vec<VadRow>> {
        let p = self.process(pid)?;
        let space = p.space();
        Ok(space.vads.iter().map(vad_row).collect())
    }

    fn pte_row(&self, va: u64, raw: u64, wsp: impl Fn(Pfn) -> Option<Protection>) -> PteRow {
        let m = self.machine();
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
            pte_address: pte_va(m, Va(va)),
            raw,
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
        let m = self.machine();
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
        let m = self.machine();
        if va > m.layout.highest_user_address() {
            return Err(mm_err!(
                INVALID_ADDRESS,
                "{va:#x} is not a user address (they end at {:#x})",
                m.layout.highest_user_address()
            ));
        }
        let tables = space.tables(m);
        let walk = tables.walk(Va(va));
        let levels = walk
            .iter()
            .map(|(l, _, raw)| PteLevelView {
                name: level_name(*l),
                address: m.fmt.entry_va(Va(va), *l).map(|a| a.0),
                raw: *raw,
            })
            .collect();
        let leaf = walk
            .last()
            .filter(|(l, _, _)| *l == Level::Pte)
            .map_or(0, |w| w.2);
        let state = m.fmt.decode(leaf);
        let vad = space.vads.find(Va(va).vpn()).map(vad_row);
        let st = m.pfn_lock();
        // The prototype PTE: named by the PTE, by the frame, or by the view.
        let proto_at = match state {
            PteState::Prototype {
                proto_pte: Some(a), ..
            } => st.segments.locate_address(a.0),
            PteState::Valid(h) if st.db.prototype(h.pfn) => m.proto_of_locked(&st, h.pfn),
            PteState::Valid(_) | PteState::Transition { .. } | PteState::PageFile { .. } => None,
            _ => space
                .vads
                .find(Va(va).vpn())
                .and_then(|v| Some((v, v.section.as_ref()?)))
                .and_then(|(v, s)| {
                    st.segments.locate(
                        s.id,
                        s.first_prototype_index + (Va(va).vpn().0 - v.starting_vpn.0),
                    )
                }),
        };
        let prototype = proto_at.map(|at| {
            let raw = st.segments.read(at);
            let pfn = m.fmt.pfn(raw);
            let mnw = pfn.is_some_and(|p| st.db.location(p) == Some(PageLocation::ModifiedNoWrite));
            (
                st.segments.address(at),
                super::section::proto_state_name(&m.fmt.decode_prototype(raw), mnw),
            )
        });
        let proto_protection =
            proto_at.map(|at| m.proto_protection_locked(&st, st.segments.read(at)));
        let (pfn, pagefile, protection, valid_flags) = match state {
            PteState::Valid(h) => {
                let index = space
                    .ws_index_of(&st, Va(va).page_base(), h.pfn)
                    .unwrap_or(u32::MAX);
                let mut flags = String::new();
                for (on, c) in [
                    (h.write, 'W'),
                    (h.owner, 'U'),
                    (h.accessed, 'A'),
                    (h.dirty, 'D'),
                    (h.copy_on_write, 'C'),
                    (h.no_execute, 'X'),
                ] {
                    flags.push(if on { c } else { '-' });
                }
                (
                    Some(h.pfn),
                    None,
                    space.ws.get(index).map(|e| e.protection),
                    Some(flags),
                )
            }
            PteState::Transition { pfn, protection } => (Some(pfn), None, Some(protection), None),
            PteState::PageFile {
                file,
                slot,
                protection,
            } => (None, Some((file, slot)), Some(protection), None),
            PteState::DemandZero { protection } => (None, None, Some(protection), None),
            PteState::Zero => (
                None,
                None,
                vad.as_ref().filter(|v| v.mem_commit).map(|v| v.protection),
                None,
            ),
            PteState::Prototype { protection, .. } if protection.raw() != 0 => {
                (None, None, Some(protection), None)
            }
            PteState::Prototype { .. } => (None, None, proto_protection, None),
            _ => (None, None, None, None),
        };
        drop(st);
        Ok(PteDetail {
            va,
            levels,
            state: state_name(&state),
            pfn,
            pagefile,
            protection,
            valid_flags,
            vad,
            prototype,
        })
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
