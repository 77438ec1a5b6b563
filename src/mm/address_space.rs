//! A process's address space: its page tables (real frames of simulated RAM), its
//! VADs, its working set and its charges. Callers hold the process's address-space
//! lock (NT: the working-set pushlock plus the address-creation lock) for every
//! function here; functions that also need the PFN lock take it themselves.

use super::counters::{add, bump};
use super::memory::{NewPage, PageNeed};
use std::sync::MutexGuard;

use super::memory::{Machine, PfnState};
use super::pagetable::{EntryLoc, LeafCursor, PageTables, top_level};
use super::pfn::{PageLocation, PageUse};
use super::process::{Pid, ProcessState};
use super::protection::Protection;
use super::pte::{HardwarePte, Level, PteState};
use super::status::MmResult;
use super::types::{Arch, PAGE_SIZE, Pfn, Va};
use super::vad::VadTree;
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
#[derive(Clone, Debug)]
pub struct Exception {
    pub status: super::NtStatus,
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
    /// Frames of page tables (including the directory) this process holds;
    /// each is charged one page of commit.
    pub page_table_pages: u64,
    /// Private data pages materialized (valid or in transition).
    pub private_pages: u64,
    pub commit_peak: u64,
    pub faults: FaultCounts,
    pub last_exception: Option<Exception>,
    /// Simulated time of the last touch of this process's memory (the swapper
    /// outswaps processes idle for long).
    pub last_access_ms: u64,
}

/// The valid PTE template for an upper-level entry pointing at a user page table:
/// present, writable, user, accessed, dirty (NT's valid PDE for user space).
fn table_entry(m: &Machine, pfn: Pfn, user: bool) -> u64 {
    m.fmt.encode(&PteState::Valid(HardwarePte {
        pfn,
        write: true,
        owner: user,
        accessed: true,
        dirty: true,
        ..HardwarePte::default()
    }))
}

/// A valid PTE for a private data page with protection `p`.
pub fn data_pte(m: &Machine, pfn: Pfn, p: Protection, dirty: bool) -> u64 {
    m.fmt.encode(&PteState::Valid(HardwarePte {
        pfn,
        write: p.allows_write() && !p.is_copy_on_write(),
        owner: true,
        accessed: true,
        dirty,
        copy_on_write: p.is_copy_on_write(),
        no_execute: !p.allows_execute() && m.fmt.arch() != Arch::X86,
        ..HardwarePte::default()
    }))
}

impl AddressSpace {
    pub fn tables<'a>(&self, m: &'a Machine) -> PageTables<'a> {
        PageTables::new(&m.fmt, &m.phys, self.dtb)
    }

    /// Commit charged to this process: its VADs plus its page tables.
    pub fn commit_charge(&self) -> u64 {
        self.vads.iter().map(|v| v.commit_charge).sum::<u64>() + self.page_table_pages
    }

    pub fn note_commit_peak(&mut self) {
        self.commit_peak = self.commit_peak.max(self.commit_charge());
    }

    /// Creates an address space: the top-level table with its self-map entry
    /// (PAE: the PDPT and its four page directories). Charges their commit.
    pub fn create(
        m: &Machine,
        pid: Pid,
        slot: u16,
        ws_min: u64,
        ws_max: u64,
    ) -> MmResult<AddressSpace> {
        let tables_needed = match m.fmt.arch() {
            Arch::Pae => 5,
            _ => 1,
        };
        m.charge_commit(tables_needed)?;
        let mut pages = Vec::new();
        for _ in 0..tables_needed {
            match m.obtain_page_without_trim(PageNeed::Zeroed) {
                Some((_, p)) => pages.push(p.pfn),
                None => {
                    let mut st = m.pfn_lock();
                    for &p in &pages {
                        m.free_page_locked(&mut st, p);
                    }
                    drop(st);
                    m.uncharge_commit(tables_needed);
                    return Err(mm_err!(
                        NO_MEMORY,
                        "no physical page is available for a new page directory"
                    ));
                }
            }
        }
        let dtb = pages[0];
        let mut space = AddressSpace {
            pid,
            slot,
            dtb,
            state: ProcessState::Running,
            vads: VadTree::new(),
            ws: WorkingSet::new(ws_min, ws_max),
            page_table_pages: tables_needed,
            private_pages: 0,
            commit_peak: tables_needed,
            faults: FaultCounts::default(),
            last_exception: None,
            last_access_ms: m.clock.now_ms(),
        };
        let tables = space.tables(m);
        let pte_base = m.layout.pte_base();
        let mut setup: Vec<(Pfn, u64, Option<Va>, u32)> = Vec::new(); // pfn, pte_address, ws va, children
        match m.fmt.arch() {
            Arch::X86 | Arch::X64 => {
                // The self-map: one top-level entry points at the top-level table.
                let level = top_level(&m.fmt);
                let loc = tables.entry(Va(pte_base), level).expect("self-map entry");
                tables.write(loc, table_entry(m, dtb, false));
                let table_va = self_map_va(m, level, Va(pte_base));
                setup.push((dtb, pte_va(m, table_va), Some(table_va), 0));
            }
            Arch::Pae => {
                // PDPT entry i -> page directory i; the directory for 0xC0000000 maps all
                // four directories at PDE_BASE (entries 0..3), which is PAE's self-map.
                let pds = &pages[1..5];
                for (i, &pd) in pds.iter().enumerate() {
                    tables.write(
                        EntryLoc {
                            table: dtb,
                            index: i as u64,
                        },
                        table_entry(m, pd, true),
                    );
                }
                let self_pd = pds[3];
                for (i, &pd) in pds.iter().enumerate() {
                    tables.write(
                        EntryLoc {
                            table: self_pd,
                            index: i as u64,
                        },
                        table_entry(m, pd, false),
                    );
                }
                // The PDPT has no self-map address (NT keeps it outside the mapped tables).
                setup.push((dtb, 0, None, 4));
                for (i, &pd) in pds.iter().enumerate() {
                    let table_va = Va(m.layout.pde_base() + i as u64 * PAGE_SIZE);
                    setup.push((pd, pte_va(m, table_va), Some(table_va), 0));
                }
            }
        }
        let mut st = m.pfn_lock();
        for (pfn, pte_address, ws_va, children) in setup {
            let ws_index = match ws_va {
                Some(va) => space.ws.insert(Wsle::new(
                    va,
                    pfn,
                    Protection::READWRITE,
                    WsleKind::PageTable,
                )),
                None => 0,
            };
            activate_locked(
                &mut st,
                pfn,
                slot,
                PageUse::PageTable,
                pte_address,
                0,
                1 + children,
                ws_index,
            );
        }
        Ok(space)
    }

    /// The PTE location of `va`, creating any missing page tables on the way
    /// (each charged one page of commit and added to the working set).
    pub fn ensure_leaf(&mut self, m: &Machine, va: Va) -> MmResult<EntryLoc> {
        let tables = self.tables(m);
        let mut level = tables.top();
        let mut table = self.dtb;
        loop {
            let index = m
                .fmt
                .index(va, level)
                .ok_or_else(|| mm_err!(INVALID_ADDRESS, "{:#x} is not translatable", va.0))?;
            let loc = EntryLoc { table, index };
            if level == Level::Pte {
                return Ok(loc);
            }
            let lower = Level::from_number(level.number() - 1).expect("level below");
            let raw = tables.read(loc);
            table = match tables.valid_pfn(raw) {
                Some(child) => child,
                None => self.create_table(m, va, level, loc)?,
            };
            level = lower;
        }
    }

    /// Creates the table that `parent` (an entry at `level`) will point at.
    fn create_table(
        &mut self,
        m: &Machine,
        va: Va,
        level: Level,
        parent: EntryLoc,
    ) -> MmResult<Pfn> {
        m.charge_commit(1)?;
        let (mut st, page) = match self.obtain_page(m, PageNeed::Zeroed) {
            Ok(got) => got,
            Err(e) => {
                m.uncharge_commit(1);
                return Err(e);
            }
        };
        let lower = Level::from_number(level.number() - 1).expect("level below");
        let table_va = self_map_va(m, lower, va);
        let ws_index = self.ws.insert(Wsle::new(
            table_va,
            page.pfn,
            Protection::READWRITE,
            WsleKind::PageTable,
        ));
        activate_locked(
            &mut st,
            page.pfn,
            self.slot,
            PageUse::PageTable,
            pte_va(m, table_va),
            0,
            1,
            ws_index,
        );
        st.db.increment_share(parent.table);
        drop(st);
        self.tables(m).write(parent, table_entry(m, page.pfn, true));
        self.page_table_pages += 1;
        self.note_commit_peak();
        Ok(page.pfn)
    }

    /// Installs a new private page at `va`: the page (just allocated, with its
    /// contents in place) becomes Active, valid in the PTE at `loc`, and joins the
    /// working set. `original` is its backing: demand-zero (a new page) or the
    /// paging-file slot it was read from. Caller holds the PFN lock (`st`).
    #[allow(clippy::too_many_arguments)]
    pub fn install_private_locked(
        &mut self,
        m: &Machine,
        st: &mut PfnState,
        loc: EntryLoc,
        va: Va,
        pfn: Pfn,
        protection: Protection,
        original: u64,
        dirty: bool,
    ) {
        activate_locked(
            st,
            pfn,
            self.slot,
            PageUse::ProcessPrivate,
            pte_va(m, va),
            original,
            1,
            0,
        );
        st.db.set_reference_count(pfn, 0);
        // A page with no copy in a paging file starts modified, so the modified
        // page writer writes it before it is reused (WRK: MiInitializePfn on
        // demand zero); one read from its slot is clean.
        let backed = matches!(m.fmt.decode(original), PteState::PageFile { .. });
        st.db.set_modified(pfn, !backed);
        self.map_valid_locked(m, st, loc, va, pfn, protection, dirty);
    }

    /// The last step of every fault that makes a private frame valid (demand zero,
    /// transition): the frame joins the working set, the PTE becomes valid, and the
    /// page table counts one more valid entry. The frame is already Active.
    #[allow(clippy::too_many_arguments)]
    pub fn map_valid_locked(
        &mut self,
        m: &Machine,
        st: &mut PfnState,
        loc: EntryLoc,
        va: Va,
        pfn: Pfn,
        protection: Protection,
        dirty: bool,
    ) {
        let ws_index = self
            .ws
            .insert(Wsle::new(va, pfn, protection, WsleKind::Private));
        st.db.set_share_count(pfn, 1);
        // One reference for the mapping; a cluster write still in flight holds
        // its own (the frame came back while being written).
        st.db.increment_reference(pfn);
        st.db.set_ws_index(pfn, ws_index);
        st.db.increment_share(loc.table);
        self.tables(m)
            .write(loc, data_pte(m, pfn, protection, dirty));
    }

    /// The last step of a fault that makes a prototype-backed frame valid in this
    /// process: a shared working-set entry, one more share of the frame (its
    /// first share takes the frame's reference), one more valid entry in the page
    /// table, and the valid PTE. Caller holds the PFN lock (`st`).
    #[allow(clippy::too_many_arguments)]
    pub fn map_shared_locked(
        &mut self,
        m: &Machine,
        st: &mut PfnState,
        loc: EntryLoc,
        va: Va,
        pfn: Pfn,
        protection: Protection,
        dirty: bool,
    ) {
        self.ws
            .insert(Wsle::new(va, pfn, protection, WsleKind::Shared));
        if st.db.increment_share(pfn) == 1 {
            st.db.increment_reference(pfn);
        }
        st.db.set_location(pfn, PageLocation::Active);
        st.db.increment_share(loc.table);
        if dirty {
            m.mark_shared_dirty_locked(st, pfn);
        }
        self.tables(m)
            .write(loc, data_pte(m, pfn, protection, dirty));
    }

    /// The working-set index of the valid page `pfn` at `va`: a private page's
    /// WsIndex, or the shared entry found by address.
    pub fn ws_index_of(&self, st: &PfnState, va: Va, pfn: Pfn) -> Option<u32> {
        let index = if st.db.prototype(pfn) {
            self.ws.shared_index(va)?
        } else {
            st.db.ws_index(pfn)
        };
        self.ws
            .get(index)
            .filter(|e| e.pfn == pfn && e.va == va.page_base())
            .map(|_| index)
    }

    /// The invalid PTE a trimmed or unmapped shared page leaves behind: a pointer
    /// to its prototype PTE. The address form means "the prototype PTE's
    /// protection"; a page whose protection differs takes the form that finds
    /// the prototype PTE through the VAD and keeps its own protection (NT does
    /// the same where the x86 format has no room for both).
    pub fn proto_pointer_pte(
        &self,
        m: &Machine,
        st: &PfnState,
        va: Va,
        pfn: Pfn,
        protection: Protection,
    ) -> u64 {
        let address = st.db.pte_address(pfn);
        let proto_protection =
            super::section::pages::protection_of_original(m, st.db.original_pte(pfn));
        // The VAD-lookup form only finds pages of the view's own section (a
        // fork's clone page inside a view must keep its address).
        let owner = st
            .segments
            .locate_address(address)
            .and_then(|at| st.segments.owner(at));
        let in_view = self
            .vads
            .find(va.vpn())
            .and_then(|v| v.section.as_ref())
            .is_some_and(|s| Some(s.id) == owner);
        let state = if protection == proto_protection || !in_view {
            PteState::Prototype {
                proto_pte: Some(Va(address)),
                protection: Protection::ZERO_ACCESS,
            }
        } else {
            PteState::Prototype {
                proto_pte: None,
                protection,
            }
        };
        m.fmt.encode(&state)
    }

    /// Takes a valid private page out of the working set: its PTE becomes a
    /// transition PTE and the page goes to the modified list if it was dirtied (or
    /// was never written to the paging file), else to standby. Returns false (and
    /// does nothing) for a locked or page-table entry.
    pub fn trim_entry(&mut self, m: &Machine, index: u32) -> bool {
        let Some(e) = self.ws.get(index).copied() else {
            return false;
        };
        if e.locked || e.kind == WsleKind::PageTable {
            return false;
        }
        let tables = self.tables(m);
        let Some(loc) = tables.leaf(e.va) else {
            return false;
        };
        let mut st = m.pfn_lock();
        let raw = tables.read(loc);
        let PteState::Valid(h) = m.fmt.decode(raw) else {
            return false;
        };
        self.ws.remove(index);
        if e.kind == WsleKind::Shared {
            // The PTE points back at the prototype PTE; the frame leaves memory
            // only when no other process maps it either.
            let pointer = self.proto_pointer_pte(m, &st, e.va, h.pfn, e.protection);
            tables.write(loc, pointer);
            st.db.decrement_share(loc.table);
            m.release_shared_locked(&mut st, h.pfn, h.dirty);
            let share = st.db.share_count(h.pfn);
            drop(st);
            bump(&m.counters.pages_trimmed);
            crate::mm_event!(
                m,
                "ws.trim",
                "pid={} va={:#x} pfn={:#x} shared=1 share={share}",
                self.pid,
                e.va.0,
                h.pfn.0
            );
            return true;
        }
        if h.dirty {
            // Written since it came in: any copy in the paging file is stale.
            st.db.set_modified(h.pfn, true);
            m.release_backing_locked(&mut st, h.pfn);
        }
        let backed = matches!(
            m.fmt.decode(st.db.original_pte(h.pfn)),
            PteState::PageFile { .. }
        );
        if !st.db.modified(h.pfn) && !backed && st.db.reference_count(h.pfn) == 1 {
            // Clean with no copy anywhere: only MEM_RESET makes such a page, and
            // its contents are not wanted. It is freed; the page reads as zeros.
            st.db.decrement_share(loc.table);
            tables.write(
                loc,
                m.fmt.encode(&PteState::DemandZero {
                    protection: e.protection,
                }),
            );
            m.release_frame_locked(&mut st, h.pfn);
            self.private_pages -= 1;
            drop(st);
            bump(&m.counters.pages_trimmed);
            return true;
        }
        tables.write(
            loc,
            m.fmt.encode(&PteState::Transition {
                pfn: h.pfn,
                protection: e.protection,
            }),
        );
        st.db.decrement_share(loc.table);
        st.db.set_share_count(h.pfn, 0);
        st.db.set_ws_index(h.pfn, 0);
        let to = if st.db.modified(h.pfn) {
            PageLocation::Modified
        } else {
            PageLocation::Standby
        };
        if st.db.decrement_reference(h.pfn) == 0 {
            st.db.insert(h.pfn, to);
        } else {
            // A cluster write of this frame is still in flight; its completion
            // puts the frame on the right list.
            st.db.set_location(h.pfn, PageLocation::Transition);
        }
        drop(st);
        bump(&m.counters.pages_trimmed);
        crate::mm_event!(
            m,
            "ws.trim",
            "pid={} va={:#x} pfn={:#x} to={}",
            self.pid,
            e.va.0,
            h.pfn.0,
            to.name()
        );
        true
    }

    /// Empties the working set (all but locked and page-table entries); returns how
    /// many pages left it.
    pub fn trim_all(&mut self, m: &Machine) -> u64 {
        let indexes: Vec<u32> = self.ws.iter().map(|(i, _)| i).collect();
        let trimmed = indexes
            .into_iter()
            .filter(|&i| self.trim_entry(m, i))
            .count() as u64;
        bump(&m.counters.working_set_trims);
        trimmed
    }

    /// Trims pages of age `min_age` or more, at most `max_pages`, never taking the
    /// working set below `floor` pages. Returns the pages trimmed.
    pub fn trim_aged(&mut self, m: &Machine, min_age: u8, max_pages: u64, floor: u64) -> u64 {
        self.trim_where(m, max_pages, floor, |e| e.age >= min_age)
    }

    /// Trims unlocked data pages that `pick` chooses, at most `max_pages`, never
    /// taking the working set below `floor` pages. Returns the pages trimmed.
    fn trim_where(
        &mut self,
        m: &Machine,
        max_pages: u64,
        floor: u64,
        pick: impl Fn(&Wsle) -> bool,
    ) -> u64 {
        let candidates: Vec<u32> = self
            .ws
            .iter()
            .filter(|(_, e)| e.kind != WsleKind::PageTable && !e.locked && pick(e))
            .map(|(i, _)| i)
            .collect();
        let mut trimmed = 0;
        for i in candidates {
            if trimmed >= max_pages || self.ws.len() <= floor {
                break;
            }
            if self.trim_entry(m, i) {
                trimmed += 1;
            }
        }
        if trimmed > 0 {
            bump(&m.counters.working_set_trims);
        }
        trimmed
    }

    /// One aging pass (the working-set manager's): an entry whose PTE was accessed
    /// since the last pass gets age 0 and its accessed bit cleared; any other entry
    /// ages by one, up to 3 (WRK: two bits of age in the WSLE).
    pub fn age_working_set(&mut self, m: &Machine) -> u64 {
        let tables = self.tables(m);
        let mut aged = 0;
        for (_, e) in self.ws.iter_mut() {
            if e.kind == WsleKind::PageTable {
                continue;
            }
            let Some(loc) = tables.leaf(e.va) else {
                continue;
            };
            let raw = tables.read(loc);
            if let PteState::Valid(mut h) = m.fmt.decode(raw) {
                if h.accessed {
                    h.accessed = false;
                    tables.write(loc, m.fmt.encode(&PteState::Valid(h)));
                    e.age = 0;
                } else {
                    e.age = (e.age + 1).min(super::working_set::MAXIMUM_AGE);
                }
                aged += 1;
            }
        }
        aged
    }

    /// Working-set replacement at fault time: a process at its maximum while
    /// memory is not plentiful gives up one of its own pages before it takes a new
    /// one (WRK MiDoReplacement). The victim is found by a clock hand: an entry
    /// whose page was accessed since it was last looked at gets a second chance
    /// (accessed bit cleared, age 0); the first entry of age 2 or more goes, else
    /// the oldest of the first `REPLACEMENT_SCAN` looked at.
    pub fn replace_if_at_maximum(&mut self, m: &Machine) {
        if self.ws.len() < self.ws.maximum {
            return;
        }
        let available = m.available_hint.load(std::sync::atomic::Ordering::Relaxed);
        if available > m.thresholds.plenty_free && !self.ws.hard_maximum {
            return;
        }
        let tables = self.tables(m);
        // Nothing below frees a page table until the scan is over.
        let mut cursor = LeafCursor::default();
        let mut best: Option<(u32, u8)> = None;
        let mut looked = 0;
        let slots = self.ws.slots();
        for step in 0..slots {
            let i = ((self.ws.hand as u64 + step) % slots.max(1)) as u32;
            let Some(e) = self.ws.get_mut(i) else {
                continue;
            };
            if e.locked || e.kind == WsleKind::PageTable {
                continue;
            }
            looked += 1;
            if let Some(loc) = tables.leaf_near(&mut cursor, e.va) {
                let raw = tables.read(loc);
                if m.fmt.accessed(raw) {
                    tables.write(loc, m.fmt.set_accessed(raw, false));
                    e.age = 0;
                }
            }
            if e.age >= 2 {
                best = Some((i, e.age));
                break;
            }
            if best.is_none_or(|(_, age)| e.age > age) {
                best = Some((i, e.age));
            }
            if looked >= REPLACEMENT_SCAN {
                break;
            }
        }
        if let Some((victim, _)) = best {
            self.ws.hand = victim.wrapping_add(1);
            if self.trim_entry(m, victim) {
                crate::mm_event!(m, "ws.replace", "pid={} index={victim}", self.pid);
            }
        }
    }

    /// A free page for this process's fault, reclaiming if none is available: the
    /// modified page writer writes a cluster inline (making standby pages), else
    /// this process gives up some of its own pages. Allocation never blocks on the
    /// background threads, so it cannot deadlock on them; it fails with
    /// STATUS_NO_MEMORY only when nothing here can be reclaimed (the caller may
    /// still trim other processes).
    /// The page comes with the PFN lock held (see `Machine::obtain_page_without_trim`).
    pub fn obtain_page<'m>(
        &mut self,
        m: &'m Machine,
        need: PageNeed,
    ) -> MmResult<(MutexGuard<'m, PfnState>, NewPage)> {
        self.obtain_page_sparing(m, need, None)
    }

    /// `obtain_page`, but never trimming the page at `spare`: a copy-on-write
    /// fault needs a new frame while its source page stays valid (NT's
    /// MiCopyOnWrite reuses the source's working-set entry, so it never
    /// replaces), and trimming the source would only make the fault start over.
    pub fn obtain_page_sparing<'m>(
        &mut self,
        m: &'m Machine,
        need: PageNeed,
        spare: Option<Va>,
    ) -> MmResult<(MutexGuard<'m, PfnState>, NewPage)> {
        loop {
            if let Some(got) = m.obtain_page_without_trim(need) {
                return Ok(got);
            }
            // Down to nothing if need be: this fault must make progress.
            if self.trim_where(m, RECLAIM_BATCH, 0, |e| Some(e.va) != spare) == 0 {
                return Err(mm_err!(
                    NO_MEMORY,
                    "no physical page is available: every page is in use, locked or waiting to be written to a full paging file"
                ));
            }
        }
    }

    /// Frees whatever page the PTE at `loc` (for `va`) holds and writes `new`
    /// into the PTE: a private page (valid, in transition or in a paging file) is
    /// freed; a shared page loses this mapping; a pointer into a fork's clone
    /// block drops its reference. Returns true if the PTE held a committed page
    /// state (valid, transition, demand-zero or pagefile).
    pub fn delete_pte(&mut self, m: &Machine, loc: EntryLoc, va: Va, new: u64) -> bool {
        let tables = self.tables(m);
        let mut st = m.pfn_lock();
        let raw = tables.read(loc);
        let committed = match m.fmt.decode(raw) {
            PteState::Valid(h) if st.db.prototype(h.pfn) => {
                if let Some(index) = self.ws.shared_index(va) {
                    self.ws.remove(index);
                }
                st.db.decrement_share(loc.table);
                let at = m.proto_of_locked(&st, h.pfn);
                m.release_shared_locked(&mut st, h.pfn, h.dirty);
                if let Some(at) = at {
                    m.clone_dereference_locked(&mut st, at);
                }
                true
            }
            PteState::Valid(h) => {
                let index = st.db.ws_index(h.pfn);
                if let Some(e) = self.ws.remove(index) {
                    debug_assert_eq!(e.pfn, h.pfn);
                }
                st.db.decrement_share(loc.table);
                m.release_frame_locked(&mut st, h.pfn);
                self.private_pages -= 1;
                true
            }
            PteState::Transition { pfn, .. } => {
                m.release_frame_locked(&mut st, pfn);
                self.private_pages -= 1;
                true
            }
            PteState::PageFile { file, slot, .. } => {
                m.pagefiles_lock().release(file, slot);
                self.private_pages -= 1;
                true
            }
            PteState::Prototype {
                proto_pte: Some(address),
                ..
            } => {
                if let Some(at) = st.segments.locate_address(address.0) {
                    m.clone_dereference_locked(&mut st, at);
                }
                true
            }
            PteState::DemandZero { .. } | PteState::Prototype { .. } => true,
            _ => false,
        };
        tables.write(loc, new);
        committed
    }

    /// Frees every page table that maps nothing in `[start, end]` any more (after a
    /// release), lowest level first; the top-level table and PAE's four fixed page
    /// directories stay.
    pub fn free_empty_tables(&mut self, m: &Machine, start: u64, end: u64) {
        let tables = self.tables(m);
        let pae = m.fmt.arch() == Arch::Pae;
        // (level of the parent entry, parent entry, child table)
        let mut candidates: Vec<(Level, EntryLoc, Pfn)> = Vec::new();
        tables.for_each_entry(start, end, &mut |level, _, loc, raw| {
            if level == Level::Pte || (pae && level == Level::Ppe) {
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
                tables.read(EntryLoc {
                    table: child,
                    index: i,
                }) == 0
            });
            if !empty {
                continue;
            }
            let mut st = m.pfn_lock();
            let index = st.db.ws_index(child);
            self.ws.remove(index);
            tables.write(parent, 0);
            st.db.decrement_share(parent.table);
            m.free_page_locked(&mut st, child);
            drop(st);
            self.page_table_pages -= 1;
            m.uncharge_commit(1);
        }
    }

    /// Frees every table frame (the address space must hold no pages any more).
    pub fn destroy_tables(&mut self, m: &Machine) {
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
        let mut st = m.pfn_lock();
        for &f in &frames {
            let index = st.db.ws_index(f);
            self.ws.remove(index);
            m.free_page_locked(&mut st, f);
        }
        drop(st);
        m.uncharge_commit(frames.len() as u64);
        self.page_table_pages = self.page_table_pages.saturating_sub(frames.len() as u64);
    }
}

/// Entries the replacement clock hand looks at before it settles for the oldest
/// seen: bounded so a fault at the maximum costs the same whatever the working
/// set's size (with 64 the sequential paging bench spent a third of its time here).
const REPLACEMENT_SCAN: u32 = 16;

/// Pages a faulting process gives up at a time when no page is available.
const RECLAIM_BATCH: u64 = 16;

/// Sets up a frame that just left the lists for a new use.
#[allow(clippy::too_many_arguments)]
pub fn activate_locked(
    st: &mut PfnState,
    pfn: Pfn,
    slot: u16,
    use_: PageUse,
    pte_address: u64,
    original_pte: u64,
    share: u32,
    ws_index: u32,
) {
    st.db.set_location(pfn, PageLocation::Active);
    st.db.set_page_use(pfn, use_);
    st.db.set_owner(pfn, slot);
    st.db.set_pte_address(pfn, pte_address);
    st.db.set_original_pte(pfn, original_pte);
    st.db.set_share_count(pfn, share);
    st.db.set_reference_count(pfn, 1);
    st.db.set_ws_index(pfn, ws_index);
}

/// The self-map address of the PTE of `va` (NT's MiGetPteAddress).
pub fn pte_va(m: &Machine, va: Va) -> u64 {
    m.fmt.entry_va(va, Level::Pte).map_or(0, |v| v.0)
}

/// The self-map VA at which the table holding `va`'s `level` entry appears.
fn self_map_va(m: &Machine, level: Level, va: Va) -> Va {
    m.fmt.entry_va(va, level).map_or(Va(0), |e| e.page_base())
}

/// Adds to a per-process and the matching system counter.
pub fn count_fault(m: &Machine, space: &mut AddressSpace) {
    space.faults.page_faults += 1;
    add(&m.counters.page_faults, 1);
}
