//! Machine-wide commands: RAMMap's Empty Working Sets, Empty Standby List and
//! Empty Modified Page List, marking a frame bad, creating paging files,
//! injecting paging I/O failures, and the system threads (`run`, `tick`).

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, PteAddress};
use crate::mm::base::wakeups::SystemThread;
use crate::mm::machine::Machine;
use crate::mm::pagefile::PagingFileInfo;
use crate::mm::paging::modified_writer::flush_modified;
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::ProcessState;
use crate::mm::process::hyperspace::hyperspace_range;
use crate::mm::threads::ThreadRow;

/// What `bad-page PFN` did to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadPage {
    /// It was bad already.
    AlreadyBad,
    /// A free or zeroed frame: it is on the bad list now.
    Retired,
    /// A frame in use: it stays where it is (this location) and every touch of
    /// it fails until it is freed, when it goes to the bad list.
    InUse(Option<PageLocation>),
}

/// Whether a frame's PTE is in hyperspace: one of a process's own system pages.
fn in_hyperspace(m: &Machine, pte: PteAddress) -> bool {
    let (start, end) = hyperspace_range(&m.layout);
    m.fmt
        .va_of_pte(pte)
        .is_some_and(|va| (start..=end).contains(&va.0))
}

impl Mm {
    /// Marks a physical page bad, as a memory error would (MmMarkPhysicalPageBad-like):
    /// a free or zeroed page moves to the bad list at once; a page in use keeps its
    /// place but every later touch of it fails with STATUS_IN_PAGE_ERROR, and it
    /// goes to the bad list when it is freed. Page-table pages are refused.
    pub fn mark_page_bad(&self, pfn: Pfn) -> MmResult<BadPage> {
        let m = &self.machine;
        // Decide and act on free pages under one hold of the PFN lock, so the page
        // cannot be handed out in between.
        let owner = {
            let mut st = m.pfn_lock();
            let loc = st
                .db
                .location(pfn)
                .ok_or_else(|| mm_err!(INVALID_PARAMETER, "no physical page {:#x}", pfn.0))?;
            match loc {
                PageLocation::Bad => return Ok(BadPage::AlreadyBad),
                PageLocation::Zeroed | PageLocation::Free => {
                    st.db.mark_bad(pfn);
                    return Ok(BadPage::Retired);
                }
                _ if st.db.page_use(pfn) == PageUse::PageTable => {
                    return Err(mm_err!(
                        INVALID_PARAMETER,
                        "pfn {:#x} holds a page table; only data pages can be marked bad",
                        pfn.0
                    ));
                }
                _ if st.db.page_use(pfn) == PageUse::LargePage => {
                    // Nothing faults on a large page (its PDE stays valid), so
                    // the error could never be reported to a toucher.
                    return Err(mm_err!(
                        INVALID_PARAMETER,
                        "pfn {:#x} is part of a large page, which is never unmapped; only pageable data pages can be marked bad",
                        pfn.0
                    ));
                }
                _ if in_hyperspace(m, st.db.pte_address(pfn)) => {
                    return Err(mm_err!(
                        INVALID_PARAMETER,
                        "pfn {:#x} holds a process's working-set list or VAD bitmap (hyperspace); only data pages can be marked bad",
                        pfn.0
                    ));
                }
                _ => {}
            }
            st.db.set_in_page_error(pfn, true);
            st.owner(st.db.owner(pfn))
        };
        // A page in use: take it out of its owner's working set so the next touch
        // faults and finds the error. Re-checked under the owner's lock and the PFN
        // lock: the page must still be that process's and valid in that entry.
        if let Some(p) = owner.and_then(|o| self.process(o.pid).ok()) {
            let mut space = p.space();
            let index = {
                let st = m.pfn_lock();
                let ours = st.db.location(pfn) == Some(PageLocation::Active)
                    && st.db.owner(pfn) == space.slot;
                ours.then(|| st.db.ws_index(pfn))
            };
            if let Some(index) = index.filter(|&i| space.ws.get(i).is_some_and(|e| e.pfn == pfn)) {
                if let Some(e) = space.ws.get_mut(index)
                    && std::mem::take(&mut e.locked)
                {
                    m.uncharge_resident(1);
                }
                space.trim_entry(m, index);
            }
        }
        let location = m.pfn_lock().db.location(pfn);
        Ok(BadPage::InUse(location))
    }

    /// `empty-working-sets` (RAMMap's Empty Working Sets): every process's working
    /// set is emptied, its data pages and then the page tables that map
    /// nothing valid or in transition; returns the pages trimmed.
    pub fn empty_working_sets(&self) -> u64 {
        let m = &self.machine;
        self.all_processes()
            .iter()
            .map(|p| {
                let mut space = p.space();
                if space.state == ProcessState::Terminated {
                    0
                } else {
                    space.trim_all(m) + space.trim_page_tables(m)
                }
            })
            .sum()
    }

    /// `empty-standby` (RAMMap's Empty Standby List): every standby page is
    /// repurposed onto the free list; their owners' next touches are hard faults.
    /// Returns the pages freed.
    pub fn empty_standby(&self) -> u64 {
        let m = &self.machine;
        let mut st = m.pfn_lock();
        let mut n = 0;
        while let Some(pfn) = st.db.remove_head(PageLocation::Standby) {
            m.restore_owner_pte_locked(&mut st, pfn);
            // The owner's PTE now holds the slot.
            st.db.set_original_pte(pfn, Mmpte::ZERO);
            m.free_page_locked(&mut st, pfn);
            n += 1;
        }
        drop(st);
        crate::mm_event!(m, "list.empty-standby", "pages={n}");
        n
    }

    /// `flush-modified` (RAMMap's Empty Modified Page List): writes every modified
    /// page to the paging files; returns the pages written.
    pub fn flush_modified(&self) -> u64 {
        flush_modified(&self.machine)
    }

    /// NtCreatePagingFile (`pagefiles/control create NAME MIN MAX`, sizes in bytes).
    pub fn create_pagefile(&self, name: &str, minimum: u64, maximum: u64) -> MmResult<()> {
        let m = &self.machine;
        let mut c = m.commit_lock();
        let mut pf = m.pagefiles_lock();
        pf.create(name, minimum / PAGE_SIZE, maximum / PAGE_SIZE)?;
        c.follow(&pf);
        Ok(())
    }

    /// `inject pagefile-write|pagefile-read eio N`: the next N paging-file writes
    /// (cluster writes) or reads (hard faults) fail as if the disk returned EIO.
    pub fn inject(&self, what: &str, n: u64) -> MmResult<()> {
        use std::sync::atomic::Ordering;
        let counter = match what {
            "pagefile-write" => &self.machine.injected.pagefile_writes,
            "pagefile-read" => &self.machine.injected.pagefile_reads,
            "mapped-write" => &self.machine.injected.mapped_writes,
            "mapped-read" => &self.machine.injected.mapped_reads,
            _ => {
                return Err(mm_err!(
                    INVALID_PARAMETER,
                    "cannot inject failures into '{}': use pagefile-write, pagefile-read, mapped-write or mapped-read",
                    what.escape_default()
                ));
            }
        };
        counter.store(n, Ordering::Release);
        Ok(())
    }

    /// The paging files, for `pagefiles/`.
    pub fn pagefiles(&self) -> Vec<PagingFileInfo> {
        self.machine.pagefiles_lock().info()
    }

    /// One pass of system thread `t` now (`run THREAD`); returns the pages it
    /// processed.
    pub fn run_thread(&self, t: SystemThread) -> u64 {
        self.threads.run(self.system(), t)
    }

    /// Serves the wake requests made since the last time (highest priority
    /// first); the dispatcher calls this. Returns the pages processed.
    pub fn serve_wakeups(&self) -> u64 {
        self.threads.serve_wakeups(self.system())
    }

    /// `tick SECONDS` (manual clock): simulated time moves on, the system
    /// threads run as their timers and wake-ups say. Returns the new time.
    pub fn tick(&self, ms: u64) -> MmResult<u64> {
        self.threads.tick(self.system(), ms)
    }

    /// Takes the history sample of this second (`threads/history.rs`), if
    /// the clock reached a new whole second since the last; `tick` does so
    /// at each step, the auto clock's dispatcher at each one-second timer.
    pub fn record_history(&self) {
        self.threads.record_history(self.system())
    }

    /// Rows of `system/threads`.
    pub fn thread_rows(&self) -> Vec<ThreadRow> {
        self.threads.rows(&self.machine)
    }
}
