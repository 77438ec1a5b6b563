//! Finding a page when none is available, in the order NT's allocator and
//! working-set manager would provide one: write modified pages out (they become
//! standby, which is available), then give up pages of the faulting process's own
//! working set, then ask other processes for some. The allocator in `machine`
//! only takes pages off the lists; everything that writes or trims is here.

use std::sync::{Arc, MutexGuard};

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Pid, Va};
use crate::mm::machine::{Machine, NewPage, PageNeed, PfnState};
use crate::mm::paging::mapped_writer::write_mapped_cluster;
use crate::mm::paging::modified_writer::{flush_modified, write_modified_cluster};

use super::address_space::AddressSpace;
use super::{Process, Processes};

/// Pages a faulting process gives up at a time when no page is available.
const RECLAIM_BATCH: u64 = 16;

/// A page, writing modified pages inline while none is available (each
/// cluster written turns modified pages into standby pages, which are
/// available). Returned with the PFN lock still held, so the caller sets the
/// page up in the same hold (one lock round trip per fault). `None` when
/// nothing is available and nothing could be written.
pub fn obtain_page_without_trim(
    m: &Machine,
    need: PageNeed,
) -> Option<(MutexGuard<'_, PfnState>, NewPage)> {
    loop {
        let mut st = m.pfn_lock();
        if let Some(p) = m.allocate_locked(&mut st, need) {
            return Some((st, p));
        }
        drop(st);
        if write_modified_cluster(m).written == 0 && write_mapped_cluster(m).written == 0 {
            return None;
        }
    }
}

impl AddressSpace {
    /// A free page for this process's fault, reclaiming if none is available: the
    /// modified page writer writes a cluster inline (making standby pages), else
    /// this process gives up some of its own pages. Allocation never blocks on the
    /// background threads, so it cannot deadlock on them; it fails with
    /// STATUS_NO_MEMORY only when nothing here can be reclaimed (the caller may
    /// still trim other processes).
    /// The page comes with the PFN lock held (see `obtain_page_without_trim`).
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
            if let Some(got) = obtain_page_without_trim(m, need) {
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
}

/// Reclaim for a process that found no page: trims up to `pages` pages from
/// the other processes (largest working sets first) whose address-space lock
/// can be taken without waiting — the caller holds its own, and waiting for
/// another could deadlock with that process doing the same. Returns the pages
/// trimmed (and written out, so they are available).
pub fn trim_other_processes(m: &Machine, processes: &Processes, except: Pid, pages: u64) -> u64 {
    let mut others: Vec<(u64, Arc<Process>)> = processes
        .all()
        .into_iter()
        .filter(|p| p.pid != except)
        .filter_map(|p| {
            let len = p.try_space()?.ws.len();
            Some((len, p))
        })
        .collect();
    others.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
    let mut trimmed = 0;
    for (_, p) in others {
        if trimmed >= pages {
            break;
        }
        if let Some(mut space) = p.try_space() {
            trimmed += space.trim_aged(m, 0, pages - trimmed, 0);
            // Its tables whose pages are all out already (no service of it
            // is under way: its lock was free).
            trimmed += space.trim_page_tables(m);
        }
    }
    // The trimmed pages are modified: write them so they become available.
    if trimmed > 0 {
        flush_modified(m);
    }
    trimmed
}
