//! Snapshots of the machine for `system/` and `pfn/`: `meminfo` (with the
//! thresholds), `counters`, `usecounts`, the PFN lists and the standby lists
//! by priority, `pfn/priorities`, `pfn/db` and `pfn/<PFN>`.

use crate::mm::kernel::pool::PoolType;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use crate::mm::Mm;
use crate::mm::base::types::{PAGE_SIZE, Pfn, Pid, PteAddress};
use crate::mm::cache::VACB_PAGES;
use crate::mm::machine::PfnState;
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::segment::ControlAreaId;
use crate::mm::vm::resident_available;

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

/// One row of `pfn/priorities` (RAMMap's Priority Summary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityRow {
    /// Standby priority, 0–7 (NT's default is 3).
    pub priority: u8,
    /// Pages on that priority's standby list now.
    pub standby: u64,
    /// Standby pages of that priority repurposed since boot.
    pub repurposed: u64,
}

/// One row of `system/usecounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseRow {
    pub name: &'static str,
    /// total, then by location: active standby modified modified_no_write
    /// transition zeroed free bad.
    pub counts: [u64; 9],
}

/// Where a `pfn/lists/` file read in chunks stands (`Mm::pfn_list_chunk`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListCursor {
    /// The pages of the last chunk given: the walk goes on after the latest
    /// of them still on the list (one chunk's worth, so bounded).
    pub recent: Vec<Pfn>,
    /// Pages given so far: the position to resume at if none of `recent` is
    /// on the list any more.
    pub emitted: u64,
    /// `active`: the next PFN to look at.
    pub scan_from: u32,
    /// Nothing more to give.
    pub done: bool,
}

/// Cache views by (control area, chunk).
type CacheViews = HashMap<(ControlAreaId, u64), u64>;
/// The pids of the owner slots, and the cache's views.
type Owners = (Vec<Option<Pid>>, CacheViews);

impl Mm {
    /// `system/meminfo`, in pages.
    pub fn meminfo(&self) -> Vec<(&'static str, u64)> {
        let m = &self.machine;
        let system_cache = self.system_cache_ws_pages();
        // Pages each pool holds (paged pool's whether in memory or paged
        // out), read under `Mm::kernel` before the PFN lock.
        let (paged_pool, nonpaged_pool) = {
            let k = self.kernel_lock();
            (
                k.pool.pages(PoolType::Paged),
                k.pool.pages(PoolType::NonPaged),
            )
        };
        let st = m.pfn_lock();
        // Paged pool's pages of prototype PTEs are paged pool too (NT counts
        // them in MmPagedPoolInfo.AllocatedPagedPool), in memory or not.
        let paged_pool = paged_pool + st.segments.backed_pages();
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
        let mut out = vec![
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
            ("PagedPoolPages", paged_pool),
            ("NonPagedPoolPages", nonpaged_pool),
            ("SystemCachePages", system_cache),
            // MmResidentAvailablePages: RAM less bad pages less every process's
            // working-set minimum (0 when the minimums exceed it).
            (
                "ResidentAvailablePages",
                resident_available(m, bad).max(0) as u64,
            ),
        ];
        out.extend(self.meminfo_thresholds(zeroed + free + standby));
        out
    }

    /// The thresholds that steer the system threads (`Thresholds`, sized for
    /// this RAM), appended to `meminfo`, and where the working-set manager's
    /// repurpose trigger stands (`available`: pages available now). There is
    /// no dirty page threshold until the cache manager exists.
    fn meminfo_thresholds(&self, available: u64) -> [(&'static str, u64); 7] {
        let t = self.machine.thresholds;
        let repurposed = self.machine.counters.pages_repurposed.load(Relaxed);
        [
            // MmMinimumFreePages: an allocation that leaves fewer available
            // pages wakes the modified page writer (if any page is modified).
            ("MinimumFreePages", t.minimum_free),
            // MmPlentyFreePages: an allocation that leaves fewer wakes the
            // working-set manager.
            ("PlentyFreePages", t.plenty_free),
            // The working-set manager trims toward 1.5 × MmPlentyFreePages
            // available pages.
            ("WorkingSetManagerGoal", t.plenty_free * 3 / 2),
            // MmModifiedPageMaximum: a modified list this long wakes the writer.
            ("ModifiedPageMaximum", t.modified_maximum),
            // A free list this long wakes the zero page thread.
            ("ZeroPageThreadWake", t.zero_wake),
            // Standby pages repurposed since the working-set manager's last
            // pass; at RepurposedTrimThreshold (a quarter of the available
            // pages) or more, its next pass trims.
            (
                "RepurposedSinceLastPass",
                repurposed.saturating_sub(self.threads.repurposed_at_last_pass()),
            ),
            ("RepurposedTrimThreshold", available / 4),
        ]
    }

    /// `pfn/lists/standby-N`: standby sublist `priority` (0–7), head (oldest,
    /// the next repurposed) first.
    pub fn standby_list(&self, priority: u8) -> Vec<Pfn> {
        let st = self.machine.pfn_lock();
        st.db.iter_standby(priority).collect()
    }

    /// `pfn/priorities`: RAMMap's Priority Summary, one row per standby
    /// priority 0–7.
    pub fn standby_priorities(&self) -> Vec<PriorityRow> {
        let st = self.machine.pfn_lock();
        let repurposed = &self.machine.counters.repurposed_by_priority;
        (0..8u8)
            .map(|priority| PriorityRow {
                priority,
                standby: st.db.standby_count(priority),
                repurposed: repurposed[priority as usize].load(Relaxed),
            })
            .collect()
    }

    /// `system/counters`.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.machine.counters.snapshot()
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
        let st = self.machine.pfn_lock();
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
        let st = self.machine.pfn_lock();
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
        let st = self.machine.pfn_lock();
        st.owners.iter().map(|o| o.map(|o| o.pid)).collect()
    }

    /// Where the cache manager maps each file chunk: (control area, 256 KB
    /// chunk) → view base. Taken before the PFN lock (the cache's lock comes
    /// first).
    fn cache_view_bases(&self) -> HashMap<(ControlAreaId, u64), u64> {
        let cc = self.cache_lock();
        cc.vacbs
            .vacbs
            .iter()
            .filter_map(|v| v.mapping.map(|m| (m, v.base.0)))
            .collect()
    }

    /// A file page the cache maps: the System process and its system cache
    /// address.
    fn cached_at(st: &PfnState, views: &CacheViews, pte_address: PteAddress) -> Option<u64> {
        let at = st.segments.locate_address(pte_address)?;
        let ca = st.segments.owner(at)?;
        let page = st.segments.file_offset(at) / PAGE_SIZE;
        let base = views.get(&(ca, page / VACB_PAGES))?;
        Some(base + page % VACB_PAGES * PAGE_SIZE)
    }

    fn row_of(&self, st: &PfnState, owners: &Owners, pfn: Pfn) -> Option<PfnRow> {
        let (owners, views) = owners;
        let e = st.db.entry(pfn)?;
        let fmt = &self.machine.fmt;
        let cached = e
            .prototype
            .then(|| Self::cached_at(st, views, e.pte_address))
            .flatten();
        let va = match cached {
            Some(va) => Some(va),
            // A large page's frames record its PDE: the page's base plus the
            // frame's index in the run.
            None if e.use_ == PageUse::LargePage => {
                let frames = fmt.large_page_size() / PAGE_SIZE;
                fmt.va_of_pde(e.pte_address)
                    .map(|v| v.0 + (pfn.0 as u64 % frames) * PAGE_SIZE)
            }
            None => (e.pte_address.0 != 0)
                .then(|| fmt.va_of_pte(e.pte_address).map(|v| v.0))
                .flatten(),
        };
        let pid = match cached {
            Some(_) => Some(Pid::SYSTEM),
            None => owners.get(e.owner as usize).copied().flatten(),
        };
        Some(PfnRow {
            pfn,
            location: e.location,
            use_: e.use_,
            pid,
            va,
            pte_address: e.pte_address.0,
            share_count: e.share_count,
            reference_count: e.reference_count,
            priority: e.priority,
            modified: e.modified,
            read_in_progress: e.read_in_progress,
            write_in_progress: e.write_in_progress,
            prototype: e.prototype,
            in_page_error: e.in_page_error,
            original_pte: e.original_pte.0,
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
        let pages = self.machine.phys.pages();
        const CHUNK: u32 = 4096;
        let mut start = 0u32;
        while start < pages {
            let end = start.saturating_add(CHUNK).min(pages);
            self.pfn_rows(start, end - start)
                .iter()
                .for_each(&mut visit);
            start = end;
        }
    }

    /// The `pfn/db` rows of PFNs `[first, first + count)` (fewer past the end
    /// of RAM): the owner slots and the cache's views first, then the PFN lock
    /// once for the whole range (a streamed `pfn/db` reads it so, chunk by chunk).
    pub fn pfn_rows(&self, first: u32, count: u32) -> Vec<PfnRow> {
        let owners = (self.owner_pids(), self.cache_view_bases());
        let end = first.saturating_add(count).min(self.machine.phys.pages());
        // Sized up front: a collect through `filter_map` grew the vector by
        // doubling, copying the rows again, under the PFN lock.
        let mut rows = Vec::with_capacity(end.saturating_sub(first) as usize);
        let st = self.machine.pfn_lock();
        for p in first..end {
            rows.extend(self.row_of(&st, &owners, Pfn(p)));
        }
        rows
    }

    /// The next at most `max` pages of a `pfn/lists/` file (`priority`: a
    /// standby sublist, `standby-N`), continuing where `cursor` stands; under
    /// the PFN lock once. A list is followed from the latest page of the last
    /// chunk still on it (pages taken off or put on before that point change
    /// nothing); if none is, by position from the head (as Linux's seq_file:
    /// the listing is not one instant). `active` is not a list: it is the PFN
    /// range scanned on.
    pub fn pfn_list_chunk(
        &self,
        loc: PageLocation,
        priority: Option<u8>,
        cursor: &mut ListCursor,
        max: usize,
    ) -> Vec<Pfn> {
        let st = self.machine.pfn_lock();
        let db = &st.db;
        if !loc.is_list() {
            // Scan at most 16 pages per row wanted, so one chunk holds the lock briefly.
            let end = cursor
                .scan_from
                .saturating_add(max.saturating_mul(16) as u32)
                .min(db.pages());
            let out: Vec<Pfn> = (cursor.scan_from..end)
                .map(Pfn)
                .filter(|&p| db.location(p) == Some(loc))
                .take(max)
                .collect();
            cursor.scan_from = out.last().map_or(end, |p| p.0 + 1);
            cursor.done = cursor.scan_from >= db.pages();
            return out;
        }
        let after = cursor.recent.iter().rev().find_map(|&p| match priority {
            Some(n) => db.iter_standby_after(n, p),
            None => db.iter_list_after(loc, p),
        });
        let out: Vec<Pfn> = match (after, priority) {
            (Some(rest), _) => rest.take(max).collect(),
            (None, Some(n)) => db
                .iter_standby(n)
                .skip(cursor.emitted as usize)
                .take(max)
                .collect(),
            (None, None) => db
                .iter_list(loc)
                .skip(cursor.emitted as usize)
                .take(max)
                .collect(),
        };
        cursor.emitted += out.len() as u64;
        if !out.is_empty() {
            cursor.recent.clone_from(&out);
        }
        cursor.done = out.len() < max;
        out
    }

    /// `pfn/<PFN>`.
    pub fn pfn_detail(&self, pfn: Pfn) -> Option<PfnRow> {
        let owners = (self.owner_pids(), self.cache_view_bases());
        let st = self.machine.pfn_lock();
        self.row_of(&st, &owners, pfn)
    }
}
