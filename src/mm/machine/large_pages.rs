//! Physically contiguous runs for MEM_LARGE_PAGES (WRK `iosup.c`,
//! MiFindLargePageMemory, and MiFreeLargePageMemory).
//!
//! A large page is `pages` frames (1024 on x86, 512 on PAE and x64) starting
//! at a PFN that is a multiple of `pages`, as the hardware requires of the
//! frame a large PDE names. A frame can join a run only if it is on the
//! zeroed, free or standby list (WRK takes pages whose PageLocation is at most
//! StandbyPageList): active, modified, bad and in-flight pages are never
//! moved. The search first looks for a run of zeroed and free pages; only if
//! there is none does it take standby pages too (repurposing them as
//! `allocate_locked` does, their owners' PTEs going back to their paging-file
//! or subsection form), as WRK's caller first finds free memory and then
//! empties working sets and flushes to make more standby pages to take.
//! Everything here runs under the PFN lock (`st`).

use crate::mm::base::types::{Mmpte, Pfn, PteAddress};
use crate::mm::pfn::{PageLocation, PageUse};

use super::frames::{ActivePage, PageNeed, activate_locked};
use super::{Machine, PfnState};

/// Whether frame `pfn` may join a run: free RAM (zeroed or free), or, with
/// `standby`, a standby page (not one marked bad by a read error, which is
/// retired, not reused).
fn eligible(st: &PfnState, pfn: Pfn, standby: bool) -> bool {
    match st.db.location(pfn) {
        Some(PageLocation::Zeroed | PageLocation::Free) => true,
        Some(PageLocation::Standby) => standby && !st.db.in_page_error(pfn),
        _ => false,
    }
}

/// Where the frames of one large page come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LargeRun {
    /// The first frame, a multiple of the run's length.
    pub base: Pfn,
    pub pages: u32,
}

impl Machine {
    /// MiFindLargePageMemory for `count` large pages of `pages` frames each:
    /// one aligned run per large page, disjoint, or `None` if RAM holds fewer
    /// (nothing is taken: the caller takes them with `take_large_run_locked`).
    /// Runs of free frames first, then runs with standby frames. Two passes
    /// over the PFN database at most, whatever `count` is.
    pub fn find_large_runs_locked(
        &self,
        st: &PfnState,
        count: u64,
        pages: u32,
    ) -> Option<Vec<LargeRun>> {
        if pages == 0 || count > u64::from(st.db.pages() / pages) {
            return None;
        }
        let mut bases: Vec<Pfn> = Vec::new();
        for standby in [false, true] {
            if bases.len() as u64 == count {
                break;
            }
            let found = find_runs(st, pages, standby, count - bases.len() as u64, &bases);
            bases.extend(found);
        }
        if (bases.len() as u64) < count {
            return None;
        }
        Some(
            bases
                .into_iter()
                .map(|base| LargeRun { base, pages })
                .collect(),
        )
    }

    /// Takes the frames of `run` off their lists (a standby frame repurposed),
    /// zeroes them (NT hands out zeroed memory), and makes each an Active
    /// LargePage frame of owner slot `owner`, ShareCount and ReferenceCount 1
    /// (locked: never in a working set, never trimmed or paged), whose
    /// PteAddress is `pde`, the PDE that maps the run (WRK records the
    /// allocation's first PDE in every frame and marks it deleted; mmfs
    /// records each large page's own PDE, which is the same for a run of one
    /// large page, and keeps Deleted for its meaning of "free when the I/O
    /// completes"). Every frame must be eligible (`find_large_runs_locked`
    /// under the same hold of the lock).
    pub fn take_large_run_locked(
        &self,
        st: &mut PfnState,
        run: LargeRun,
        owner: u16,
        pde: PteAddress,
    ) {
        for i in 0..run.pages {
            let pfn = Pfn(run.base.0 + i);
            let Some(from) = st.db.unlink(pfn) else {
                continue;
            };
            let page = self.claim_locked(st, pfn, from, PageNeed::Zeroed);
            let active = ActivePage {
                use_: PageUse::LargePage,
                owner,
                pte_address: pde,
                original_pte: Mmpte::ZERO,
                share: 1,
                ws_index: 0,
            };
            activate_locked(st, page.pfn, active);
        }
    }

    /// MiFreeLargePageMemory: every frame of `run` goes back to the free
    /// list (its PDE is already gone). A frame an MDL still locks (a
    /// reference beyond the mapping's) is marked deleted instead and freed by
    /// the last unlock, as any released page is (`release_frame_locked`).
    pub fn free_large_run_locked(&self, st: &mut PfnState, run: LargeRun) {
        for i in 0..run.pages {
            self.release_frame_locked(st, Pfn(run.base.0 + i));
        }
    }
}

/// Up to `want` aligned runs of `pages` eligible frames, in PFN order,
/// leaving out the bases in `taken` (sorted: an earlier pass's runs). A frame
/// that is not eligible skips the search to the next aligned base after it,
/// so RAM is read about once.
fn find_runs(st: &PfnState, pages: u32, standby: bool, want: u64, taken: &[Pfn]) -> Vec<Pfn> {
    let total = st.db.pages();
    let mut found = Vec::new();
    let mut base = 0u32;
    'bases: while (found.len() as u64) < want && base.checked_add(pages).is_some_and(|e| e <= total)
    {
        if taken.binary_search(&Pfn(base)).is_ok() {
            base += pages;
            continue;
        }
        for i in 0..pages {
            if !eligible(st, Pfn(base + i), standby) {
                base = (base + i) / pages * pages + pages;
                continue 'bases;
            }
        }
        found.push(Pfn(base));
        base += pages;
    }
    found
}
