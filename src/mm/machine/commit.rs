//! The commit charge (MmTotalCommittedPages) and the commit limit
//! (MmTotalCommitLimit): what every private committed page, page table and
//! pagefile-backed section page is charged against, and how the paging files
//! grow when a charge reaches the limit (facts §7).
//!
//! Lock: `Machine::commit` (order 5), never held with the PFN lock; the
//! paging-file lock (a leaf) is taken under it.

use crate::mm::base::status::MmResult;
use crate::mm::base::wakeups::SystemThread;
use crate::mm::pagefile::PagingFiles;

use super::Machine;

/// Commit charge, system-wide (in pages).
#[derive(Clone, Copy, Debug, Default)]
pub struct CommitState {
    pub total: u64,
    pub peak: u64,
    pub limit: u64,
    /// The part of the limit that RAM gives (RAM minus the resident reserve); the
    /// paging files add their current sizes on top.
    pub ram_part: u64,
}

impl CommitState {
    /// The state at boot: nothing charged; the limit is RAM less the resident
    /// reserve plus the paging files' minimum sizes.
    pub fn new(physical_pages: u64, pagefiles: &PagingFiles) -> CommitState {
        let ram_part = physical_pages.saturating_sub(COMMIT_RAM_RESERVE);
        CommitState {
            total: 0,
            peak: 0,
            limit: ram_part + pagefiles.commit_pages(),
            ram_part,
        }
    }

    /// The limit follows the paging files' current sizes (facts §7): RAM less the
    /// reserve, plus each file's size less its unusable slot 0.
    pub fn follow(&mut self, pagefiles: &PagingFiles) {
        self.limit = self.ram_part + pagefiles.commit_pages();
    }
}

/// Frames the memory manager keeps back from the commit limit (NT subtracts a
/// resident reserve from RAM; WRK's is of this order on small machines).
pub const COMMIT_RAM_RESERVE: u64 = 64;

/// A pagefile grows by at least this much when a charge hits the limit (facts §7:
/// "by ≥ 16 MB, falling back to ≥ 1 MB").
pub const PAGEFILE_GROWTH_PAGES: u64 = 4096;

impl Machine {
    /// Charges `pages` of commit. At the limit, the paging files grow first (by at
    /// least 16 MB, else by what is needed, up to their maximums); then the charge
    /// fails with STATUS_COMMITMENT_LIMIT.
    pub fn charge_commit(&self, pages: u64) -> MmResult<()> {
        let mut c = self.commit_lock();
        let want = c.total.saturating_add(pages);
        if want > c.limit {
            let need = want - c.limit;
            let mut pf = self.pagefiles_lock();
            let maximum = c.ram_part + pf.maximum_commit_pages();
            if maximum < want {
                // Not even the paging files at their maximum would do: fail
                // without growing them for nothing.
                drop(pf);
                return Err(mm_err!(
                    COMMITMENT_LIMIT,
                    "committing {pages} more pages would take the commit charge to {want} pages; the commit limit is {} pages now and {maximum} with the paging files at their maximum size",
                    c.limit
                ));
            }
            let added = pf.extend(need.max(PAGEFILE_GROWTH_PAGES));
            c.follow(&pf);
            drop(pf);
            if added > 0 {
                crate::mm_event!(self, "pagefile.extend", "pages={added} limit={}", c.limit);
            }
        }
        if want > c.limit {
            return Err(mm_err!(
                COMMITMENT_LIMIT,
                "committing {pages} more pages would take the commit charge to {want} pages, above the commit limit of {} pages (the paging files are at their maximum size)",
                c.limit
            ));
        }
        c.total = want;
        c.peak = c.peak.max(want);
        if c.total * 10 > c.limit * 9 {
            // Above 90% use: the segment dereference thread extends toward 85%.
            self.wakeups.wake(SystemThread::SegmentDereference);
        }
        Ok(())
    }

    pub fn uncharge_commit(&self, pages: u64) {
        let mut c = self.commit_lock();
        debug_assert!(c.total >= pages, "commit underflow");
        c.total = c.total.saturating_sub(pages);
        if c.total * 10 < c.limit * 8 {
            self.wakeups.wake(SystemThread::SegmentDereference);
        }
    }

    /// Recomputes the commit limit after the paging files changed size.
    pub fn refresh_commit_limit(&self) {
        let mut c = self.commit_lock();
        c.follow(&self.pagefiles_lock());
    }
}
