//! The machine: physical memory, the PFN database behind the PFN lock, commit,
//! counters — everything that is not one process's.
//!
//! # The PFN lock
//!
//! `Machine::pfn` is NT's PFN lock: it protects the PFN database, the owner table
//! and every *transition* PTE (a PTE that names a frame on a list). It is the
//! innermost lock: nothing else is taken while it is held, so any code holding a
//! process's address-space lock may take it.

use std::sync::{Mutex, MutexGuard};

use super::counters::{SystemCounters, bump};
use super::layout::Layout;
use super::pagetable::PageTables;
use super::pfn::{PageLocation, PageUse, PfnDatabase};
use super::physmem::PhysicalMemory;
use super::process::Pid;
use super::pte::PteFormat;
use super::types::{Pfn, Va};

/// Who owns frames tagged with an owner slot: enough to find their PTEs while only
/// the PFN lock is held (repurposing a standby page rewrites its old owner's PTE).
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub pid: Pid,
    pub dtb: Pfn,
}

/// What the PFN lock protects.
pub struct PfnState {
    pub db: PfnDatabase,
    /// Owner slots (the PFN's `Owner` field); slot 0 means "none".
    pub owners: Vec<Option<Owner>>,
}

impl PfnState {
    /// Registers an owner; returns its slot (never 0).
    pub fn add_owner(&mut self, owner: Owner) -> Option<u16> {
        if let Some(i) = self.owners.iter().skip(1).position(Option::is_none) {
            self.owners[i + 1] = Some(owner);
            return Some((i + 1) as u16);
        }
        if self.owners.len() > u16::MAX as usize {
            return None;
        }
        self.owners.push(Some(owner));
        Some((self.owners.len() - 1) as u16)
    }

    pub fn remove_owner(&mut self, slot: u16) {
        if let Some(o) = self.owners.get_mut(slot as usize) {
            *o = None;
        }
    }

    pub fn owner(&self, slot: u16) -> Option<Owner> {
        self.owners.get(slot as usize).copied().flatten()
    }
}

/// Commit charge, system-wide (in pages).
#[derive(Clone, Copy, Debug, Default)]
pub struct CommitState {
    pub total: u64,
    pub peak: u64,
    pub limit: u64,
}

/// Frames the memory manager keeps back from the commit limit (NT subtracts a
/// resident reserve from RAM; WRK's is of this order on small machines).
pub const COMMIT_RAM_RESERVE: u64 = 64;

pub struct Machine {
    pub fmt: PteFormat,
    pub layout: Layout,
    pub phys: PhysicalMemory,
    /// The PFN lock. Innermost.
    pub pfn: Mutex<PfnState>,
    /// Commit charge; taken alone or under an address-space lock, never with `pfn`.
    pub commit: Mutex<CommitState>,
    pub counters: SystemCounters,
}

/// A frame taken off a list for a new use, not yet set up.
pub struct NewPage {
    pub pfn: Pfn,
    pub from: PageLocation,
}

impl Machine {
    pub fn pfn_lock(&self) -> MutexGuard<'_, PfnState> {
        self.pfn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn commit_lock(&self) -> MutexGuard<'_, CommitState> {
        self.commit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a page in NT's order (need zeroed: zeroed, free, standby; else free,
    /// zeroed, standby). A free page is zeroed now if asked; a standby page is
    /// repurposed: its old owner's PTE is restored from OriginalPte first.
    /// The page is left in Transition, on no list; the caller makes it Active.
    pub fn allocate_locked(&self, st: &mut PfnState, need_zeroed: bool) -> Option<NewPage> {
        let (pfn, from) = loop {
            let (pfn, from) = st.db.remove_any(need_zeroed)?;
            if st.db.in_page_error(pfn) {
                // A standby page marked bad: its owner's PTE goes back to the
                // paging file form, and the frame is retired instead of reused.
                if from == PageLocation::Standby {
                    self.repurpose_locked(st, pfn);
                }
                st.db.insert(pfn, PageLocation::Bad);
                continue;
            }
            break (pfn, from);
        };
        if from == PageLocation::Standby {
            self.repurpose_locked(st, pfn);
        }
        if need_zeroed && from != PageLocation::Zeroed {
            self.phys.zero(pfn);
            bump(&self.counters.pages_zeroed);
        }
        st.db.set_modified(pfn, false);
        st.db.set_prototype(pfn, false);
        st.db.set_in_page_error(pfn, false);
        st.db.set_deleted(pfn, false);
        st.db.set_priority(pfn, super::pfn::DEFAULT_PRIORITY);
        Some(NewPage { pfn, from })
    }

    /// A standby page is about to be reused: the transition PTE still naming it
    /// gets its OriginalPte back (pagefile or prototype form), so the old owner's
    /// next touch is a hard fault rather than a read of someone else's data.
    fn repurpose_locked(&self, st: &mut PfnState, pfn: Pfn) {
        bump(&self.counters.pages_repurposed);
        let owner = st.db.owner(pfn);
        let pte_va = Va(st.db.pte_address(pfn));
        let original = st.db.original_pte(pfn);
        let Some(o) = st.owner(owner) else { return };
        let Some(va) = self.fmt.va_of_pte(pte_va) else {
            return;
        };
        let tables = PageTables::new(&self.fmt, &self.phys, o.dtb);
        if let Some(loc) = tables.leaf(va) {
            let raw = tables.read(loc);
            if self.fmt.pfn(raw) == Some(pfn) && !self.fmt.is_valid(raw) {
                tables.write(loc, original);
            }
        }
    }

    /// Returns an Active/Transition page to the free list, clearing what it was.
    pub fn free_page_locked(&self, st: &mut PfnState, pfn: Pfn) {
        st.db.set_share_count(pfn, 0);
        st.db.set_ws_index(pfn, 0);
        st.db.set_reference_count(pfn, 0);
        st.db.set_pte_address(pfn, 0);
        st.db.set_original_pte(pfn, 0);
        st.db.set_modified(pfn, false);
        st.db.set_page_use(pfn, PageUse::Unused);
        st.db.set_owner(pfn, 0);
        let bad = st.db.in_page_error(pfn);
        st.db.insert(
            pfn,
            if bad {
                PageLocation::Bad
            } else {
                PageLocation::Free
            },
        );
    }

    /// Charges `pages` of commit, or fails with STATUS_COMMITMENT_LIMIT.
    pub fn charge_commit(&self, pages: u64) -> super::MmResult<()> {
        let mut c = self.commit_lock();
        let want = c.total.saturating_add(pages);
        if want > c.limit {
            return Err(mm_err!(
                COMMITMENT_LIMIT,
                "committing {pages} more pages would take the commit charge to {want} pages, above the commit limit of {} pages",
                c.limit
            ));
        }
        c.total = want;
        c.peak = c.peak.max(want);
        Ok(())
    }

    pub fn uncharge_commit(&self, pages: u64) {
        let mut c = self.commit_lock();
        debug_assert!(c.total >= pages, "commit underflow");
        c.total = c.total.saturating_sub(pages);
    }
}
