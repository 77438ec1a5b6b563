//! A process's address space: its page tables (real frames of simulated RAM), its
//! VADs, its working set and its charges. Callers hold the process's address-space
//! lock (NT: the working-set pushlock plus the address-creation lock) for every
//! function here and in the sibling files that extend `AddressSpace`
//! (`page_tables.rs`, `mapping.rs`, `ws_policy.rs`, `reclaim.rs`); functions that
//! also need the PFN lock take it themselves.

use crate::mm::base::counters::bump;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::{MmResult, NtStatus};
use crate::mm::base::types::{Arch, Mmpte, PAGE_SIZE, Pfn, Pid, PteAddress, Va};
use crate::mm::hw::pagetable::{EntryLoc, PageTables, top_level};
use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::machine::{ActivePage, Machine, PageNeed, PfnState, activate_locked};
use crate::mm::pfn::PageUse;
use crate::mm::vad::VadTree;

use super::ProcessState;
use super::awe::AwePages;
use super::hyperspace::process_commit_charge;
use super::page_tables::{pte_va, self_map_va, table_entry};
use super::reclaim::obtain_page_without_trim;
use super::table_charges::TableCharges;
use super::table_paging::PagedTables;
use super::working_set::{WorkingSet, Wsle, WsleKind};

/// Per-process fault counts (status file).
#[derive(Clone, Copy, Default, Debug)]
pub struct FaultCounts {
    pub page_faults: u64,
    pub demand_zero: u64,
    pub transition: u64,
    pub hard: u64,
    pub copy_on_write: u64,
    /// Faults resolved through a prototype PTE (views and fork clones).
    pub prototype: u64,
}

/// The last exception a touch of this process's memory raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub status: NtStatus,
    pub write: bool,
    pub va: Va,
}

pub struct AddressSpace {
    pub pid: Pid,
    /// Owner slot in the PFN database.
    pub slot: u16,
    /// DirectoryTableBase.
    pub dtb: Pfn,
    pub state: ProcessState,
    pub vads: VadTree,
    pub ws: WorkingSet,
    /// Frames of page tables this process holds: the top-level ones,
    /// hyperspace's and those made for its VADs.
    pub page_table_pages: u64,
    /// Its user page tables paged out, with what they held (`table_paging.rs`).
    pub paged_tables: PagedTables,
    /// The page tables its VADs have been charged for (`table_charges.rs`).
    pub table_charges: TableCharges,
    /// MM_PROCESS_COMMIT_CHARGE, charged at creation (`hyperspace.rs`).
    pub process_charge: u64,
    /// Private data pages materialized (valid or in transition).
    pub private_pages: u64,
    pub commit_peak: u64,
    pub faults: FaultCounts,
    pub last_exception: Option<Exception>,
    /// MmSetPageFaultReadAhead (ETHREAD's ReadClusterSize and
    /// ForwardClusterOnly), kept here because the thread that sets it holds
    /// this address space for as long as it is set: a cache copy read sets
    /// the end of the bytes it is copying in the current view, and a hard
    /// fault on a mapped file page then reads the pages up to it with the
    /// faulting one (`fault/prototype.rs`). None: the default cluster.
    pub fault_read_ahead_end: Option<Va>,
    /// Simulated time of the last touch of this process's memory (the swapper
    /// outswaps processes idle for long).
    pub last_access_ms: u64,
    /// Its AWE frames and AWE page-table charge (`awe.rs`).
    pub awe: AwePages,
}

/// A page-table frame a new address space starts with, to set up under the PFN
/// lock once its entries are written.
struct TopTable {
    pfn: Pfn,
    /// Where the process sees it through the self-map (none for PAE's PDPT).
    self_map: Option<Va>,
    /// Valid entries it holds that point at other tables of this set.
    children: u32,
}

impl AddressSpace {
    pub fn tables<'a>(&self, m: &'a Machine) -> PageTables<'a> {
        PageTables::new(&m.fmt, &m.phys, self.dtb)
    }

    /// Commit charged to this process: its VADs, the page tables they are
    /// charged for, and its own pages (MM_PROCESS_COMMIT_CHARGE).
    pub fn commit_charge(&self) -> u64 {
        self.vads.iter().map(|v| v.commit_charge).sum::<u64>()
            + self.table_charges.len()
            + self.process_charge
    }

    /// Private pages (valid, in transition or in a paging file): those counted
    /// here less those MEM_RESET discarded whose frames were reused since
    /// (`Owner::discarded_private`). Caller holds the PFN lock.
    pub fn private_page_count(&self, st: &PfnState) -> u64 {
        let discarded = st.owner(self.slot).map_or(0, |o| o.discarded_private);
        self.private_pages.saturating_sub(discarded)
    }

    pub fn note_commit_peak(&mut self) {
        self.commit_peak = self.commit_peak.max(self.commit_charge());
    }

    /// Creates an address space (MmCreateProcessAddressSpace): the top-level
    /// table with its self-map entry (PAE: the PDPT and its four page
    /// directories), then hyperspace (`hyperspace.rs`), all in the working
    /// set, locked. Charges MM_PROCESS_COMMIT_CHARGE; nothing is held on
    /// failure.
    pub fn create(
        m: &Machine,
        pid: Pid,
        slot: u16,
        ws_min: u64,
        ws_max: u64,
    ) -> MmResult<AddressSpace> {
        let charge = process_commit_charge(m.fmt.arch());
        m.charge_commit(charge)?;
        let pages = match allocate_top_tables(m) {
            Ok(pages) => pages,
            Err(e) => {
                m.uncharge_commit(charge);
                return Err(e);
            }
        };
        let mut space = AddressSpace {
            pid,
            slot,
            dtb: pages[0],
            state: ProcessState::Running,
            vads: VadTree::new(),
            ws: WorkingSet::new(ws_min, ws_max),
            page_table_pages: pages.len() as u64,
            paged_tables: PagedTables::default(),
            table_charges: TableCharges::default(),
            process_charge: charge,
            private_pages: 0,
            commit_peak: charge,
            faults: FaultCounts::default(),
            last_exception: None,
            fault_read_ahead_end: None,
            last_access_ms: m.clock.now_ms(),
            awe: AwePages::default(),
        };
        let setup = match m.fmt.arch() {
            Arch::X86 | Arch::X64 => space.write_self_map(m),
            Arch::Pae => space.write_pae_directories(m, &pages[1..5]),
        };
        space.activate_top_tables(m, setup);
        if let Err(e) = space.build_hyperspace(m) {
            space.destroy_tables(m);
            return Err(e);
        }
        Ok(space)
    }

    /// Sets up the top-level tables' frames once their entries are written;
    /// each the process sees through the self-map is a locked working-set
    /// entry.
    fn activate_top_tables(&mut self, m: &Machine, setup: Vec<TopTable>) {
        let mut st = m.pfn_lock();
        for t in setup {
            let ws_index = t.self_map.map_or(0, |va| {
                let mut e = Wsle::new(va, t.pfn, Protection::READWRITE, WsleKind::PageTable);
                e.locked = true;
                self.ws.insert(e)
            });
            let page = ActivePage {
                use_: PageUse::PageTable,
                owner: self.slot,
                pte_address: t.self_map.map_or(PteAddress(0), |va| pte_va(m, va)),
                original_pte: Mmpte::ZERO,
                share: 1 + t.children,
                ws_index,
            };
            activate_locked(&mut st, t.pfn, page);
        }
    }

    /// x86 and x64: one top-level entry points at the top-level table itself,
    /// which so appears at PTE_BASE's top-level address (the self-map).
    fn write_self_map(&self, m: &Machine) -> Vec<TopTable> {
        let tables = self.tables(m);
        let pte_base = Va(m.layout.pte_base());
        let level = top_level(&m.fmt);
        let loc = tables.entry(pte_base, level).expect("self-map entry");
        tables.write(loc, table_entry(m, self.dtb, false));
        vec![TopTable {
            pfn: self.dtb,
            self_map: Some(self_map_va(m, level, pte_base)),
            children: 0,
        }]
    }

    /// PAE: PDPT entry i points at page directory i, and the directory for
    /// 0xC0000000 maps all four directories at PDE_BASE (its entries 0..3),
    /// which is PAE's self-map. The PDPT itself has no self-map address (NT
    /// keeps it outside the mapped tables).
    fn write_pae_directories(&self, m: &Machine, pds: &[Pfn]) -> Vec<TopTable> {
        let tables = self.tables(m);
        let self_pd = pds[3];
        for (i, &pd) in pds.iter().enumerate() {
            let index = i as u64;
            let pdpte = EntryLoc {
                table: self.dtb,
                index,
            };
            tables.write(pdpte, pae_pdpte(m, pd));
            let pde = EntryLoc {
                table: self_pd,
                index,
            };
            tables.write(pde, table_entry(m, pd, false));
        }
        let mut setup = vec![TopTable {
            pfn: self.dtb,
            self_map: None,
            children: pds.len() as u32,
        }];
        for (i, &pd) in pds.iter().enumerate() {
            setup.push(TopTable {
                pfn: pd,
                self_map: Some(Va(m.layout.pde_base() + i as u64 * PAGE_SIZE)),
                children: 0,
            });
        }
        setup
    }

    /// Outswaps the process (the swapper, and `outswap`): its working set is
    /// emptied (locked pages stay), then the page tables that map nothing
    /// valid or in transition go too (the top-level table and hyperspace
    /// stay), and it is marked outswapped. Returns the pages that left the
    /// working set.
    pub fn outswap(&mut self, m: &Machine) -> u64 {
        let pages = self.trim_all(m) + self.trim_page_tables(m);
        self.state = ProcessState::Outswapped;
        bump(&m.counters.outswaps);
        crate::mm_event!(m, "process.outswap", "pid={} pages={pages}", self.pid);
        pages
    }

    /// Inswaps the process if it is outswapped (a thread of it runs, or
    /// `inswap`); its pages come back by faulting. True if it was outswapped.
    pub fn inswap(&mut self, m: &Machine) -> bool {
        if self.state != ProcessState::Outswapped {
            return false;
        }
        self.state = ProcessState::Running;
        self.last_access_ms = m.clock.now_ms();
        bump(&m.counters.inswaps);
        crate::mm_event!(m, "process.inswap", "pid={}", self.pid);
        true
    }
}

/// A PAE page-directory-pointer entry: only Present and the frame. The CPU
/// loads all four at once from CR3, and R/W, U/S, Accessed and Dirty are
/// reserved bits there (a PDPTE with them set faults), so NT writes none.
fn pae_pdpte(m: &Machine, pd: Pfn) -> Mmpte {
    m.fmt.encode(&PteState::Valid(HardwarePte::new(pd)))
}

/// The frames a new address space's top-level tables take (PAE: the PDPT and
/// four page directories; else the top-level table), zeroed. Nothing is held
/// on failure.
fn allocate_top_tables(m: &Machine) -> MmResult<Vec<Pfn>> {
    let needed = match m.fmt.arch() {
        Arch::Pae => 5,
        _ => 1,
    };
    let mut pages = Vec::new();
    for _ in 0..needed {
        match obtain_page_without_trim(m, PageNeed::Zeroed) {
            Some((_, p)) => pages.push(p.pfn),
            None => {
                let mut st = m.pfn_lock();
                for &p in &pages {
                    m.free_page_locked(&mut st, p);
                }
                return Err(mm_err!(
                    NO_MEMORY,
                    "no physical page is available for a new page directory"
                ));
            }
        }
    }
    Ok(pages)
}
