//! The model-based random test: random sequences of every service a process can
//! call — allocate, commit, decommit, release, protect, lock, unlock, working-set
//! limits, reads and writes through the MMU, map, unmap, fork, outswap, section
//! create and delete — mixed with the system threads and the clock, over many
//! processes on 1 MB of RAM that is several times overcommitted.
//!
//! A reference model says, before each call, what it must do: which status a
//! refused call returns (and then nothing may change), how many bytes a transfer
//! moves and which fault stops it, and what every readable byte is. `verify` runs
//! after every batch, with a full read-back of one process and a comparison of
//! locked pages against the working set.
//!
//! `MMFS_SEED=N` replays a seed; `MMFS_MODEL_OPS=N` sets the operations per arch
//! (the long run documented in the README uses 1,000,000 in a release build);
//! `MMFS_MODEL_ARCH=x86|pae|x64` runs one arch. A failure names the seed and the
//! step, and one that may be about memory prints where every page is.

use std::collections::{BTreeMap, HashMap};

use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::Pid;
use crate::mm::fault::{AccessFault, FaultKind};

use crate::mm::base::types::{Arch, PAGE_SIZE, Va};
use crate::mm::base::wakeups::SystemThread;
use crate::mm::testutil::XorShift;
use crate::mm::vad::AllocRequest;
use crate::mm::{Mm, MmResult, NtStatus};

const PAGE: usize = PAGE_SIZE as usize;
const GRANULE: u64 = 64 << 10;
/// Pages the model lets processes and sections commit in all: twelve times the
/// 256 pages of RAM, well under the commit limit (RAM + a 64 MB paging file).
const COMMIT_BUDGET: u64 = 3072;
/// Highest address the test picks on its own (auto allocations start low).
/// With `REGION_LIMIT` this bounds the page tables a process needs: at most
/// 8 on PAE and x64 (4 on x86), so that eight processes' tables and the locked
/// pages never fill the 256 pages of RAM. (mmfs keeps page tables resident, as
/// the README says; NT would page out a table with no valid entry.)
const ADDRESS_WINDOW: u64 = 0x0100_0000;
/// Regions (reservations and views) per process: beyond it, an allocation or
/// a map becomes a release or an unmap, so that reservations, which cost no
/// commit, do not pile up without bound.
const REGION_LIMIT: usize = 48;
/// Operations between checks (`MMFS_MODEL_BATCH=1` checks after every one,
/// to find the operation that broke an invariant).
const BATCH: u64 = 50;
/// Pages the model lets processes lock in all (see `Run::lock`).
const LOCK_BUDGET: u64 = 85;

type Bytes = Box<[u8]>;

fn zero_page() -> Bytes {
    vec![0u8; PAGE].into_boxed_slice()
}

/// One private page of the model.
#[derive(Clone)]
struct PrivatePage {
    committed: bool,
    protection: Protection,
    /// None: zeros (never written since committed).
    data: Option<Bytes>,
    locked: bool,
    /// Shared with a fork relative through a clone block until written.
    cloned: bool,
    /// A guard page in a clone block: its guard is the block's, shared with
    /// the relatives; the first touch by any of them disarms it for all.
    guard_link: Option<u64>,
}

impl PrivatePage {
    fn reserved() -> PrivatePage {
        PrivatePage {
            committed: false,
            protection: Protection::NOACCESS,
            data: None,
            locked: false,
            cloned: false,
            guard_link: None,
        }
    }
    fn committed(protection: Protection) -> PrivatePage {
        PrivatePage {
            committed: true,
            protection,
            ..PrivatePage::reserved()
        }
    }
}

#[derive(Clone)]
struct ViewModel {
    section: usize,
    first_page: u64,
    /// The protection the view was mapped with (the VAD's).
    protection: Protection,
    /// Each page's protection now (`protect` changes them one by one).
    page_protection: Vec<Protection>,
    /// Pages a write-copy view has made private, by page of the view.
    copies: HashMap<u64, Bytes>,
}

#[derive(Clone)]
enum Kind {
    Private(Vec<PrivatePage>),
    View(ViewModel),
}

#[derive(Clone)]
struct Region {
    base: u64,
    pages: u64,
    kind: Kind,
}

impl Region {
    fn end(&self) -> u64 {
        self.base + self.pages * PAGE_SIZE
    }
    fn is_view(&self) -> bool {
        matches!(self.kind, Kind::View(_))
    }
}

struct ProcessModel {
    pid: Pid,
    name: String,
    /// By base address.
    regions: BTreeMap<u64, Region>,
    ws_minimum: u64,
    /// Made by `fork` or `create` during the run: may be terminated.
    disposable: bool,
}

impl ProcessModel {
    fn region_at(&self, va: u64) -> Option<&Region> {
        self.regions
            .range(..=va)
            .next_back()
            .map(|(_, r)| r)
            .filter(|r| va < r.end())
    }
    fn region_base_at(&self, va: u64) -> Option<u64> {
        self.region_at(va).map(|r| r.base)
    }
    fn overlaps(&self, first: u64, last: u64) -> bool {
        self.regions
            .range(..=last)
            .next_back()
            .is_some_and(|(_, r)| r.end() > first)
    }
    /// The base of the lowest region overlapping `first..=last` (the VAD WRK
    /// checks a commit or protect range against).
    fn first_overlapping(&self, first: u64, last: u64) -> Option<u64> {
        self.regions
            .range(..=last)
            .filter(|(_, r)| r.end() > first)
            .map(|(&b, _)| b)
            .next()
    }
    fn locked_count(&self) -> u64 {
        self.regions
            .values()
            .map(|r| match &r.kind {
                Kind::Private(p) => p.iter().filter(|p| p.locked).count() as u64,
                Kind::View(_) => 0,
            })
            .sum()
    }
    fn committed_pages(&self) -> u64 {
        self.regions
            .values()
            .map(|r| match &r.kind {
                Kind::Private(p) => p.iter().filter(|p| p.committed).count() as u64,
                Kind::View(v) => v.copies.len() as u64 + r.pages,
            })
            .sum()
    }
}

struct SectionModel {
    name: String,
    data: Vec<u8>,
    file: Option<String>,
    deleted: bool,
}

struct Run {
    mm: Mm,
    rng: XorShift,
    seed: u64,
    arch: Arch,
    step: u64,
    procs: Vec<ProcessModel>,
    sections: Vec<SectionModel>,
    names: u64,
    /// Refused calls checked (for the summary).
    refusals: u64,
}

const RW: Protection = Protection::READWRITE;
const RO: Protection = Protection::READONLY;
const WC: Protection = Protection::WRITECOPY;

fn guard(p: Protection) -> Protection {
    p.with_guard(true)
}

impl Run {
    fn ctx(&self) -> String {
        format!(
            "seed {:#x} {:?} step {} (replay: MMFS_SEED={} MMFS_MODEL_OPS={})",
            self.seed,
            self.arch,
            self.step,
            self.seed,
            self.step + 1
        )
    }

    fn pick(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.rng.below(one_in) == 0
    }

    fn private_protection(&mut self) -> Protection {
        [
            RW,
            RW,
            RW,
            RO,
            Protection::EXECUTE_READWRITE,
            Protection::NOACCESS,
            guard(RW),
        ][self.pick(7)]
    }

    fn committed_total(&self) -> u64 {
        let procs: u64 = self.procs.iter().map(|p| p.committed_pages()).sum();
        let sections: u64 = self
            .sections
            .iter()
            .filter(|s| !s.deleted && s.file.is_none())
            .map(|s| s.data.len() as u64 / PAGE_SIZE)
            .sum();
        procs + sections
    }

    /// A refused call: the status must be `want`.
    fn expect_refused<T: std::fmt::Debug>(&mut self, what: &str, r: MmResult<T>, want: NtStatus) {
        match r {
            Ok(v) => panic!(
                "{}: {what} succeeded ({v:?}); the model expected {}",
                self.ctx(),
                want.name()
            ),
            Err(e) => {
                assert_eq!(
                    e.status,
                    want,
                    "{}: {what}: {e}; the model expected {}",
                    self.ctx(),
                    want.name()
                );
                self.refusals += 1;
            }
        }
    }

    /// Prints where memory is, for a failure that may be about memory: the
    /// list counts, the use counts, and per process the working set, page
    /// tables, locked pages, limits, VADs and PTE states.
    fn dump_memory(&self) {
        let meminfo: Vec<String> = self
            .mm
            .meminfo()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        eprintln!("meminfo: {}", meminfo.join(", "));
        let uses: Vec<String> = self
            .mm
            .usecounts()
            .iter()
            .filter(|u| u.counts[0] > 0)
            .map(|u| format!("{} {}", u.name, u.counts[0]))
            .collect();
        eprintln!("pages by use: {}", uses.join(", "));
        for p in self.mm.processes() {
            let Ok(st) = self.mm.process_status(p.pid) else {
                continue;
            };
            let mut states: BTreeMap<&str, u64> = BTreeMap::new();
            for r in self.mm.ptes(p.pid).unwrap_or_default() {
                *states.entry(r.state).or_default() += 1;
            }
            eprintln!(
                "{} (pid {}): working set {} (minimum {}, maximum {}), page tables {}, locked {}, commit {}, VADs {}, PTEs {states:?}",
                p.name,
                p.pid,
                st.working_set_size,
                st.working_set_minimum,
                st.working_set_maximum,
                st.page_table_pages,
                st.locked_pages,
                st.commit_charge,
                self.mm.vads(p.pid).map(|v| v.len()).unwrap_or(0),
            );
        }
    }

    fn expect_ok<T>(&self, what: &str, r: MmResult<T>) -> T {
        r.unwrap_or_else(|e| {
            self.dump_memory();
            panic!(
                "{}: {what} failed: {e}; the model expected success",
                self.ctx()
            )
        })
    }

    // ---- allocation ----------------------------------------------------------

    fn alloc_anywhere(&mut self, pi: usize) {
        let pages = 1 + self.rng.below(48);
        let commit = self.chance(2);
        if commit && self.committed_total() + pages > COMMIT_BUDGET {
            return;
        }
        let protection = self.private_protection();
        let flags = if commit { "reserve,commit" } else { "reserve" };
        let req = request(0, pages * PAGE_SIZE, flags, protection);
        let pid = self.procs[pi].pid;
        let (base, size) = self.expect_ok("alloc", self.mm.allocate(pid, &req));
        let ctx = self.ctx();
        assert_eq!(base.0 % GRANULE, 0, "{ctx}: base {:#x}", base.0);
        assert_eq!(size, pages * PAGE_SIZE, "{ctx}: size");
        let p = &mut self.procs[pi];
        assert!(
            !p.overlaps(base.0, base.0 + size - 1),
            "{ctx}: {:#x} overlaps a reservation",
            base.0
        );
        let page = if commit {
            PrivatePage::committed(protection)
        } else {
            PrivatePage::reserved()
        };
        p.regions.insert(
            base.0,
            Region {
                base: base.0,
                pages,
                kind: Kind::Private(vec![page; pages as usize]),
            },
        );
    }

    /// MEM_RESERVE at an address: near an existing reservation (mostly a
    /// conflict) or anywhere in the window.
    fn reserve_at(&mut self, pi: usize) {
        let pages = 1 + self.rng.below(32);
        let address = match self.random_region(pi, |_| true) {
            Some(r) if self.chance(2) => r.base + self.rng.below(r.pages) * PAGE_SIZE,
            _ => GRANULE * (1 + self.rng.below(ADDRESS_WINDOW / GRANULE - 1)),
        };
        let commit = self.chance(2);
        if commit && self.committed_total() + pages > COMMIT_BUDGET {
            return;
        }
        let protection = if self.chance(10) {
            WC
        } else {
            self.private_protection()
        };
        let flags = if commit { "reserve,commit" } else { "reserve" };
        let base = address - address % GRANULE;
        let last = (address + pages * PAGE_SIZE - 1) | (PAGE_SIZE - 1);
        let pid = self.procs[pi].pid;
        let r = self
            .mm
            .allocate(pid, &request(address, pages * PAGE_SIZE, flags, protection));
        if protection == WC {
            return self.expect_refused("reserve write-copy", r, NtStatus::INVALID_PAGE_PROTECTION);
        }
        if self.procs[pi].overlaps(base, last) {
            return self.expect_refused(
                "reserve over a reservation",
                r,
                NtStatus::CONFLICTING_ADDRESSES,
            );
        }
        let (got, size) = self.expect_ok("reserve at an address", r);
        assert_eq!((got.0, size), (base, last + 1 - base), "{}", self.ctx());
        let n = size / PAGE_SIZE;
        let page = if commit {
            PrivatePage::committed(protection)
        } else {
            PrivatePage::reserved()
        };
        self.procs[pi].regions.insert(
            base,
            Region {
                base,
                pages: n,
                kind: Kind::Private(vec![page; n as usize]),
            },
        );
    }

    /// MEM_COMMIT without MEM_RESERVE: inside one reservation, or refused.
    fn commit_at(&mut self, pi: usize) {
        let (address, size) = self.random_range(pi, true);
        let protection = if self.chance(12) {
            WC
        } else {
            self.private_protection()
        };
        let first = address & !(PAGE_SIZE - 1);
        let last = (address + size - 1) | (PAGE_SIZE - 1);
        let pid = self.procs[pi].pid;
        let p = &self.procs[pi];
        let lowest = p.first_overlapping(first, last);
        let Some(lowest) = lowest else {
            let r = self
                .mm
                .allocate(pid, &request(address, size, "commit", protection));
            return self.expect_refused(
                "commit outside any reservation",
                r,
                NtStatus::CONFLICTING_ADDRESSES,
            );
        };
        let region = &p.regions[&lowest];
        let inside = first >= region.base && last < region.end();
        if !inside || region.is_view() {
            let r = self
                .mm
                .allocate(pid, &request(address, size, "commit", protection));
            return self.expect_refused(
                "commit across or into a view",
                r,
                NtStatus::CONFLICTING_ADDRESSES,
            );
        }
        if protection == WC {
            let r = self
                .mm
                .allocate(pid, &request(address, size, "commit", protection));
            return self.expect_refused("commit write-copy", r, NtStatus::INVALID_PAGE_PROTECTION);
        }
        let region_base = region.base;
        let Kind::Private(pages) = &region.kind else {
            unreachable!()
        };
        let first_i = ((first - region_base) / PAGE_SIZE) as usize;
        let last_i = ((last - region_base) / PAGE_SIZE) as usize;
        let new = pages[first_i..=last_i]
            .iter()
            .filter(|p| !p.committed)
            .count() as u64;
        if self.committed_total() + new > COMMIT_BUDGET {
            return;
        }
        let r = self
            .mm
            .allocate(pid, &request(address, size, "commit", protection));
        let (got, bytes) = self.expect_ok("commit", r);
        assert_eq!((got.0, bytes), (first, last + 1 - first), "{}", self.ctx());
        let Kind::Private(pages) = &mut self.procs[pi].regions.get_mut(&region_base).unwrap().kind
        else {
            unreachable!()
        };
        for page in &mut pages[first_i..=last_i] {
            if page.committed {
                set_private_protection(page, protection);
            } else {
                *page = PrivatePage::committed(protection);
            }
        }
    }

    // ---- free ----------------------------------------------------------------

    fn free(&mut self, pi: usize) {
        let release = self.chance(2);
        let pid = self.procs[pi].pid;
        let what = if release { "release" } else { "decommit" };
        let Some(r) = self.random_region(pi, |_| true) else {
            let address = GRANULE * (1 + self.rng.below(ADDRESS_WINDOW / GRANULE - 1));
            if self.procs[pi].region_at(address).is_none() {
                let res = self.mm.free(pid, address, 0, release);
                self.expect_refused(what, res, NtStatus::MEMORY_NOT_ALLOCATED);
            }
            return;
        };
        let at_base = self.chance(2);
        let first_i = if at_base { 0 } else { self.rng.below(r.pages) };
        let address = r.base + first_i * PAGE_SIZE + self.rng.below(PAGE_SIZE);
        let size = if self.chance(3) {
            0
        } else {
            (1 + self.rng.below(r.pages + 2 - first_i)) * PAGE_SIZE - self.rng.below(PAGE_SIZE)
        };
        let res = self.mm.free(pid, address, size, release);
        let last_i = if size == 0 {
            r.pages - 1
        } else {
            (address + size - 1 - r.base) / PAGE_SIZE
        };
        if size != 0 && last_i >= r.pages {
            return self.expect_refused(what, res, NtStatus::UNABLE_TO_FREE_VM);
        }
        if r.is_view() {
            return self.expect_refused(what, res, NtStatus::UNABLE_TO_DELETE_SECTION);
        }
        if size == 0 && first_i != 0 {
            return self.expect_refused(what, res, NtStatus::FREE_VM_NOT_AT_BASE);
        }
        let (first_i, last_i) = if size == 0 {
            (0, r.pages - 1)
        } else {
            (first_i, last_i)
        };
        let (got, bytes) = self.expect_ok(what, res);
        assert_eq!(
            (got.0, bytes),
            (
                r.base + first_i * PAGE_SIZE,
                (last_i - first_i + 1) * PAGE_SIZE
            ),
            "{}",
            self.ctx()
        );
        let p = &mut self.procs[pi];
        let mut region = p.regions.remove(&r.base).unwrap();
        let Kind::Private(pages) = &mut region.kind else {
            unreachable!()
        };
        if !release {
            for page in &mut pages[first_i as usize..=last_i as usize] {
                *page = PrivatePage::reserved();
            }
            p.regions.insert(r.base, region);
            return;
        }
        // Release: what is left before and after the range stays reserved.
        let after = pages.split_off(last_i as usize + 1);
        pages.truncate(first_i as usize);
        let before = std::mem::take(pages);
        if !before.is_empty() {
            p.regions.insert(
                r.base,
                Region {
                    base: r.base,
                    pages: before.len() as u64,
                    kind: Kind::Private(before),
                },
            );
        }
        if !after.is_empty() {
            let base = r.base + (last_i + 1) * PAGE_SIZE;
            p.regions.insert(
                base,
                Region {
                    base,
                    pages: after.len() as u64,
                    kind: Kind::Private(after),
                },
            );
        }
    }

    /// Releases a whole private region or unmaps a whole view.
    fn release_region(&mut self, pi: usize) {
        let Some(r) = self.random_region(pi, |_| true) else {
            return;
        };
        let pid = self.procs[pi].pid;
        let got = if r.is_view() {
            self.expect_ok("unmap", self.mm.unmap_view(pid, r.base))
        } else {
            self.expect_ok("release", self.mm.free(pid, r.base, 0, true))
        };
        self.region_gone(pi, &r, got);
    }

    /// A call that took all of region `r` away returned `(base, size)`: it
    /// must be exactly the region's, which leaves the model.
    fn region_gone(&mut self, pi: usize, r: &Region, (base, size): (Va, u64)) {
        assert_eq!(
            (base.0, size),
            (r.base, r.pages * PAGE_SIZE),
            "{}",
            self.ctx()
        );
        self.procs[pi].regions.remove(&r.base);
    }

    // ---- protect -------------------------------------------------------------

    fn protect(&mut self, pi: usize) {
        let (address, size) = self.random_range(pi, false);
        let pid = self.procs[pi].pid;
        let first = address & !(PAGE_SIZE - 1);
        let last = (address + size - 1) | (PAGE_SIZE - 1);
        let p = &self.procs[pi];
        let lowest = p.first_overlapping(first, last);
        let view = lowest.is_some_and(|b| p.regions[&b].is_view());
        let new = if view {
            [RW, RO, WC, Protection::NOACCESS, Protection::EXECUTE_READ][self.pick(5)]
        } else if self.chance(12) {
            WC
        } else {
            self.private_protection()
        };
        let res = self.mm.protect(pid, address, size, new);
        let Some(base) = lowest else {
            return self.expect_refused("protect nothing", res, NtStatus::CONFLICTING_ADDRESSES);
        };
        let region = self.procs[pi].regions[&base].clone();
        if first < region.base || last >= region.end() {
            return self.expect_refused("protect across", res, NtStatus::CONFLICTING_ADDRESSES);
        }
        let (fi, li) = (
            ((first - region.base) / PAGE_SIZE) as usize,
            ((last - region.base) / PAGE_SIZE) as usize,
        );
        match region.kind {
            Kind::Private(pages) => {
                if new.is_copy_on_write() {
                    return self.expect_refused(
                        "protect private write-copy",
                        res,
                        NtStatus::INVALID_PARAMETER,
                    );
                }
                if pages[fi..=li].iter().any(|p| !p.committed) {
                    return self.expect_refused(
                        "protect uncommitted",
                        res,
                        NtStatus::NOT_COMMITTED,
                    );
                }
                let old = self.expect_ok("protect", res);
                let first_page = &pages[fi];
                let want = first_page.protection;
                assert!(
                    old == want || first_page.cloned && old == want.copy_on_write_form(),
                    "{}: protect returned {} for a {} page",
                    self.ctx(),
                    old.name(),
                    want.name()
                );
                let Kind::Private(pages) = &mut self.procs[pi].regions.get_mut(&base).unwrap().kind
                else {
                    unreachable!()
                };
                for page in &mut pages[fi..=li] {
                    set_private_protection(page, new);
                }
            }
            Kind::View(v) => {
                let section_protection = RW;
                if !new.compatible_with_section(v.protection)
                    || !new.compatible_with_section(section_protection)
                {
                    return self.expect_refused(
                        "protect a view",
                        res,
                        NtStatus::SECTION_PROTECTION,
                    );
                }
                let old = self.expect_ok("protect a view", res);
                let want = v.page_protection[fi];
                assert!(
                    old == want
                        || v.copies.contains_key(&(fi as u64))
                            && (old == want.copy_on_write_form() || old == want.written_form()),
                    "{}: protect returned {} for a {} view page",
                    self.ctx(),
                    old.name(),
                    want.name()
                );
                let Kind::View(v) = &mut self.procs[pi].regions.get_mut(&base).unwrap().kind else {
                    unreachable!()
                };
                for p in &mut v.page_protection[fi..=li] {
                    *p = new;
                }
            }
        }
    }

    // ---- lock ----------------------------------------------------------------

    fn lock(&mut self, pi: usize) {
        let Some(r) = self.random_region(pi, |r| !r.is_view()) else {
            return;
        };
        let fi = self.rng.below(r.pages);
        let n = 1 + self.rng.below((r.pages - fi).min(12));
        let address = r.base + fi * PAGE_SIZE + self.rng.below(PAGE_SIZE);
        let last = (r.base + (fi + n - 1) * PAGE_SIZE + self.rng.below(PAGE_SIZE)).max(address);
        let size = last - address + 1;
        let pid = self.procs[pi].pid;
        let unlock = self.chance(3);
        let Kind::Private(pages) = &r.kind else {
            unreachable!()
        };
        let range = fi as usize..(fi + n) as usize;
        if unlock {
            let res = self.mm.unlock(pid, address, size);
            if pages[range].iter().all(|p| p.locked) {
                assert_eq!(self.expect_ok("unlock", res), n, "{}", self.ctx());
                set_locks(&mut self.procs[pi], r.base, fi, n, false);
            } else {
                self.expect_refused("unlock", res, NtStatus::NOT_LOCKED);
            }
            return;
        }
        let p = &self.procs[pi];
        let expected = if n + 8 > p.ws_minimum {
            Err(NtStatus::WORKING_SET_QUOTA)
        } else if let Some(page) = pages[range.clone()].iter().find(|page| {
            let pr = page.protection;
            !page.committed || pr.is_noaccess() || pr.is_guard() || !pr.allows_read()
        }) {
            // Page by page: the first uncommitted or inaccessible page decides.
            Err(if page.committed {
                NtStatus::ACCESS_VIOLATION
            } else {
                NtStatus::NOT_COMMITTED
            })
        } else {
            let new = pages[range].iter().filter(|p| !p.locked).count() as u64;
            if p.locked_count() + new + 8 > p.ws_minimum {
                Err(NtStatus::WORKING_SET_QUOTA)
            } else {
                Ok(new)
            }
        };
        // Locks live inside working-set minimums, which are charged against
        // resident available memory; but mmfs does not refuse a process whose
        // default minimum no longer fits (NT would), and eight processes'
        // minimums exceed 1 MB of RAM. So enough locks across processes could
        // leave no page to fault with: the model keeps them under a third of RAM.
        let all: u64 = self.procs.iter().map(|p| p.locked_count()).sum();
        if expected.is_ok_and(|new| all + new > LOCK_BUDGET) {
            return;
        }
        let res = self.mm.lock(pid, address, size);
        match expected {
            Err(status) => self.expect_refused("lock", res, status),
            Ok(new) => {
                assert_eq!(
                    self.expect_ok("lock", res),
                    new,
                    "{}: pages newly locked",
                    self.ctx()
                );
                set_locks(&mut self.procs[pi], r.base, fi, n, true);
            }
        }
    }

    fn ws_limits(&mut self, pi: usize) {
        let pid = self.procs[pi].pid;
        if self.chance(4) {
            self.expect_ok("ws-limits -1 -1", self.mm.set_ws_limits(pid, None, None));
            return;
        }
        let min = 10 + self.rng.below(200);
        let max = (min + self.rng.below(300)).saturating_sub(20);
        let res = self
            .mm
            .set_ws_limits(pid, Some(min * PAGE_SIZE), Some(max * PAGE_SIZE));
        let min = min.max(crate::mm::process::working_set::MINIMUM_FLOOR);
        let physical = self.mm.config().physical_pages();
        if max < min || max > physical {
            return self.expect_refused("ws-limits", res, NtStatus::INVALID_PARAMETER);
        }
        if self.procs[pi].locked_count() + 8 > min {
            return self.expect_refused(
                "ws-limits below the locked pages",
                res,
                NtStatus::WORKING_SET_QUOTA,
            );
        }
        // Resident available memory: RAM less every minimum (System's too)
        // must cover a raise and leave 38 pages.
        let minimums = crate::mm::process::working_set::SYSTEM_MINIMUM
            + self.procs.iter().map(|p| p.ws_minimum).sum::<u64>();
        let old = self.procs[pi].ws_minimum;
        if min > old && minimums + (min - old) + 38 > physical {
            return self.expect_refused(
                "ws-limits beyond resident available memory",
                res,
                NtStatus::INSUFFICIENT_RESOURCES,
            );
        }
        assert_eq!(
            self.expect_ok("ws-limits", res),
            (min, max),
            "{}",
            self.ctx()
        );
        self.procs[pi].ws_minimum = min;
    }

    // ---- transfers -----------------------------------------------------------

    /// What a transfer must do, page by page: the bytes before the first page that
    /// faults, or that fault. Applies the model's side effects (guards disarmed,
    /// write-copy pages copied, bytes written).
    fn model_transfer(
        &mut self,
        pi: usize,
        va: u64,
        data: Option<&[u8]>,
        len: usize,
    ) -> (usize, Option<FaultKind>, Vec<u8>) {
        let write = data.is_some();
        let mut done = 0usize;
        let mut out = Vec::with_capacity(len);
        while done < len {
            let at = va + done as u64;
            let page_va = at & !(PAGE_SIZE - 1);
            let offset = (at - page_va) as usize;
            let n = (PAGE - offset).min(len - done);
            let Some(base) = self.procs[pi].region_base_at(page_va) else {
                return (done, Some(FaultKind::NotCommitted), out);
            };
            let region = self.procs[pi].regions.get_mut(&base).unwrap();
            let index = ((page_va - base) / PAGE_SIZE) as usize;
            match &mut region.kind {
                Kind::Private(pages) => {
                    let page = &mut pages[index];
                    if !page.committed {
                        return (done, Some(FaultKind::NotCommitted), out);
                    }
                    if let Some(k) = access_check(&mut page.protection, write) {
                        if let Some(link) = page.guard_link.filter(|_| k == FaultKind::Guard) {
                            // The clone block's guard, disarmed for every relative.
                            self.disarm_link(link);
                        }
                        return (done, Some(k), out);
                    }
                    let bytes = page.data.get_or_insert_with(zero_page);
                    match data {
                        Some(d) => {
                            bytes[offset..offset + n].copy_from_slice(&d[done..done + n]);
                            if page.cloned {
                                page.cloned = false;
                                page.protection = page.protection.written_form();
                            }
                        }
                        None => out.extend_from_slice(&bytes[offset..offset + n]),
                    }
                }
                Kind::View(v) => {
                    let mut p = v.page_protection[index];
                    if let Some(k) = access_check(&mut p, write) {
                        return (done, Some(k), out);
                    }
                    let file_page = v.first_page + index as u64;
                    let section = &mut self.sections[v.section].data;
                    let start = (file_page * PAGE_SIZE) as usize;
                    if write && p.is_copy_on_write() && !v.copies.contains_key(&(index as u64)) {
                        let mut c = zero_page();
                        c.copy_from_slice(&section[start..start + PAGE]);
                        v.copies.insert(index as u64, c);
                        v.page_protection[index] = p.written_form();
                    }
                    let bytes: &mut [u8] = match v.copies.get_mut(&(index as u64)) {
                        Some(c) => c,
                        None => &mut section[start..start + PAGE],
                    };
                    match data {
                        Some(d) => bytes[offset..offset + n].copy_from_slice(&d[done..done + n]),
                        None => out.extend_from_slice(&bytes[offset..offset + n]),
                    }
                }
            }
            done += n;
        }
        (done, None, out)
    }

    fn disarm_link(&mut self, link: u64) {
        for p in &mut self.procs {
            for r in p.regions.values_mut() {
                if let Kind::Private(pages) = &mut r.kind {
                    for page in pages.iter_mut().filter(|p| p.guard_link == Some(link)) {
                        page.guard_link = None;
                        page.protection = page.protection.with_guard(false);
                    }
                }
            }
        }
    }

    fn check_transfer(
        &self,
        what: &str,
        got: Result<usize, AccessFault>,
        want: (usize, Option<FaultKind>),
    ) -> usize {
        let ctx = self.ctx();
        match (got, want) {
            (Ok(n), (done, _)) if done > 0 => {
                assert_eq!(n, done, "{ctx}: {what}: bytes moved");
                n
            }
            (Err(f), (0, Some(kind))) => {
                assert_eq!(f.kind, kind, "{ctx}: {what}: {}", f.error);
                0
            }
            (got, want) => {
                self.dump_memory();
                panic!("{ctx}: {what}: got {got:?}, the model expected {want:?}")
            }
        }
    }

    fn write(&mut self, pi: usize) {
        let (va, len) = self.transfer_range(pi);
        let fill = self.rng.next();
        let data: Vec<u8> = (0..len)
            .map(|i| (fill.wrapping_add(i as u64 * 0x9E37) >> 8) as u8)
            .collect();
        let pid = self.procs[pi].pid;
        let got = self.mm.write_memory(pid, va, &data);
        let (done, fault, _) = self.model_transfer(pi, va, Some(&data), len);
        self.check_transfer("write", got, (done, fault));
    }

    fn read(&mut self, pi: usize) {
        let (va, len) = self.transfer_range(pi);
        let pid = self.procs[pi].pid;
        let mut buf = vec![0u8; len];
        let got = self.mm.read_memory(pid, va, &mut buf);
        let (done, fault, want) = self.model_transfer(pi, va, None, len);
        let n = self.check_transfer("read", got, (done, fault));
        self.compare(pi, va, &buf[..n], &want[..n]);
    }

    fn compare(&self, pi: usize, va: u64, have: &[u8], want: &[u8]) {
        if have != want {
            let i = (0..have.len()).find(|&i| have[i] != want[i]).unwrap();
            panic!(
                "{}: pid {} reads {:#x} at {:#x}; the model says {:#x}",
                self.ctx(),
                self.procs[pi].pid,
                have[i],
                va + i as u64,
                want[i]
            );
        }
    }

    /// Reads every page of every region of one process and compares it. Guard
    /// pages and inaccessible pages are skipped (touching a guard disarms it).
    fn sweep(&mut self, pi: usize) {
        let pid = self.procs[pi].pid;
        let regions: Vec<Region> = self.procs[pi].regions.values().cloned().collect();
        for r in regions {
            for i in 0..r.pages {
                let va = r.base + i * PAGE_SIZE;
                let readable = match &r.kind {
                    Kind::Private(p) => {
                        p[i as usize].committed && plain_readable(p[i as usize].protection)
                    }
                    Kind::View(v) => plain_readable(v.page_protection[i as usize]),
                };
                if !readable {
                    continue;
                }
                let mut buf = vec![0u8; PAGE];
                let got = self.mm.read_memory(pid, va, &mut buf);
                let (done, fault, want) = self.model_transfer(pi, va, None, PAGE);
                self.check_transfer("sweep read", got, (done, fault));
                self.compare(pi, va, &buf, &want);
            }
        }
    }

    /// Locked pages are exactly the model's.
    fn check_locks(&self, pi: usize) {
        let pid = self.procs[pi].pid;
        let ws = self.expect_ok("workingset", self.mm.workingset(pid));
        let mut have: Vec<u64> = ws.iter().filter(|w| w.locked).map(|w| w.va).collect();
        have.sort_unstable();
        let mut want = Vec::new();
        for r in self.procs[pi].regions.values() {
            if let Kind::Private(p) = &r.kind {
                for (i, page) in p.iter().enumerate() {
                    if page.locked {
                        want.push(r.base + i as u64 * PAGE_SIZE);
                    }
                }
            }
        }
        assert_eq!(have, want, "{}: locked pages of pid {pid}", self.ctx());
    }

    // ---- sections and views --------------------------------------------------

    fn create_section(&mut self) {
        if self.sections.iter().filter(|s| !s.deleted).count() >= 4 {
            return;
        }
        let pages = 1 + self.rng.below(40);
        if self.committed_total() + pages > COMMIT_BUDGET {
            return;
        }
        self.names += 1;
        let name = format!("s{}", self.names);
        let file = self.chance(2).then(|| format!("{name}.dat"));
        let data: Vec<u8> = match &file {
            Some(_) => (0..pages * PAGE_SIZE)
                .map(|_| self.rng.next() as u8)
                .collect(),
            None => vec![0; (pages * PAGE_SIZE) as usize],
        };
        let r = match &file {
            Some(f) => {
                std::fs::write(self.mm.config().files_dir.join(f), &data).unwrap();
                self.mm.create_section(&name, 0, Some(f), RW, false)
            }
            None => self
                .mm
                .create_section(&name, pages * PAGE_SIZE, None, RW, false),
        };
        self.expect_ok("create section", r);
        self.sections.push(SectionModel {
            name,
            data,
            file,
            deleted: false,
        });
    }

    fn delete_section(&mut self) {
        let live: Vec<usize> = (0..self.sections.len())
            .filter(|&i| !self.sections[i].deleted)
            .collect();
        if live.is_empty() {
            return;
        }
        let si = live[self.pick(live.len())];
        let r = self.mm.delete_section(&self.sections[si].name);
        self.expect_ok("delete section", r);
        self.sections[si].deleted = true;
    }

    fn map(&mut self, pi: usize) {
        let live: Vec<usize> = (0..self.sections.len())
            .filter(|&i| !self.sections[i].deleted)
            .collect();
        if live.is_empty() {
            return;
        }
        let si = live[self.pick(live.len())];
        let section_pages = self.sections[si].data.len() as u64 / PAGE_SIZE;
        let protection = [RW, RW, WC, RO][self.pick(4)];
        let offset = if section_pages > 16 && self.chance(2) {
            GRANULE
        } else {
            0
        };
        let pages = section_pages - offset / PAGE_SIZE;
        if protection == WC && self.committed_total() + pages > COMMIT_BUDGET {
            return;
        }
        let pid = self.procs[pi].pid;
        let name = self.sections[si].name.clone();
        // Sometimes at an address: misaligned, over a reservation, or free.
        let address = if self.chance(4) {
            match self.random_region(pi, |_| true) {
                Some(r) if self.chance(2) => r.base + self.rng.below(r.pages) * PAGE_SIZE,
                _ => GRANULE * (1 + self.rng.below(ADDRESS_WINDOW / GRANULE - 1)),
            }
        } else {
            0
        };
        let res = self.mm.map_view(pid, &name, address, 0, offset, protection);
        if address % GRANULE != 0 {
            return self.expect_refused("map misaligned", res, NtStatus::MAPPED_ALIGNMENT);
        }
        if address != 0 && self.procs[pi].overlaps(address, address + pages * PAGE_SIZE - 1) {
            return self.expect_refused(
                "map over a reservation",
                res,
                NtStatus::CONFLICTING_ADDRESSES,
            );
        }
        let (base, bytes) = self.expect_ok("map", res);
        let ctx = self.ctx();
        assert_eq!(bytes, pages * PAGE_SIZE, "{ctx}: view size");
        assert!(address == 0 || base.0 == address, "{ctx}: view base");
        let p = &mut self.procs[pi];
        assert!(
            !p.overlaps(base.0, base.0 + bytes - 1),
            "{ctx}: view overlaps"
        );
        p.regions.insert(
            base.0,
            Region {
                base: base.0,
                pages,
                kind: Kind::View(ViewModel {
                    section: si,
                    first_page: offset / PAGE_SIZE,
                    protection,
                    page_protection: vec![protection; pages as usize],
                    copies: HashMap::new(),
                }),
            },
        );
    }

    fn unmap(&mut self, pi: usize) {
        let pid = self.procs[pi].pid;
        match self.random_region(pi, |_| true) {
            Some(r) if r.is_view() => {
                let address = r.base + self.rng.below(r.pages * PAGE_SIZE);
                let got = self.expect_ok("unmap", self.mm.unmap_view(pid, address));
                self.region_gone(pi, &r, got);
            }
            Some(r) => {
                let res = self.mm.unmap_view(pid, r.base);
                self.expect_refused("unmap private memory", res, NtStatus::NOT_MAPPED_VIEW);
            }
            None => {}
        }
    }

    // ---- processes -----------------------------------------------------------

    fn fork(&mut self, pi: usize) {
        if self.procs.len() >= 8 {
            return;
        }
        let extra = self.procs[pi].committed_pages();
        if self.committed_total() + extra > COMMIT_BUDGET {
            return;
        }
        self.names += 1;
        let name = format!("f{}", self.names);
        let parent = self.procs[pi].pid;
        let child = self.expect_ok("fork", self.mm.fork_process(parent, &name));
        // A guard page that has a frame or a paging-file copy goes into a clone
        // block with its guard; one never touched stays demand zero in each.
        for r in self.procs[pi].regions.values_mut() {
            if let Kind::Private(pages) = &mut r.kind {
                for page in pages.iter_mut().filter(|p| p.committed) {
                    page.cloned = true;
                    if page.protection.is_guard()
                        && page.data.is_some()
                        && page.guard_link.is_none()
                    {
                        self.names += 1;
                        page.guard_link = Some(self.names);
                    }
                }
            }
        }
        let mut regions = self.procs[pi].regions.clone();
        for r in regions.values_mut() {
            if let Kind::Private(pages) = &mut r.kind {
                for page in pages.iter_mut() {
                    page.locked = false;
                }
            }
        }
        self.procs.push(ProcessModel {
            pid: child,
            name,
            regions,
            ws_minimum: crate::mm::process::working_set::DEFAULT_MINIMUM,
            disposable: true,
        });
    }

    fn create_process(&mut self) {
        if self.procs.len() >= 8 {
            return;
        }
        self.names += 1;
        let name = format!("c{}", self.names);
        let pid = self.expect_ok("create process", self.mm.create_process(&name));
        self.procs.push(ProcessModel {
            pid,
            name,
            regions: BTreeMap::new(),
            ws_minimum: crate::mm::process::working_set::DEFAULT_MINIMUM,
            disposable: true,
        });
    }

    fn terminate(&mut self) {
        let candidates: Vec<usize> = (0..self.procs.len())
            .filter(|&i| self.procs[i].disposable)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let pi = candidates[self.pick(candidates.len())];
        let p = self.procs.remove(pi);
        self.expect_ok("terminate", self.mm.terminate_process(p.pid));
        assert!(self.mm.pid_of(&p.name).is_none(), "{}", self.ctx());
    }

    fn system(&mut self, pi: usize) {
        let pid = self.procs[pi].pid;
        match self.rng.below(12) {
            0 => drop(self.expect_ok("trim", self.mm.trim(pid))),
            1 => drop(self.mm.flush_modified()),
            2 => drop(self.mm.empty_standby()),
            3 => drop(self.mm.empty_working_sets()),
            4 => drop(self.mm.mapped_page_writer_pass()),
            5 => {
                let ms = 100 * (1 + self.rng.below(100));
                self.expect_ok("tick", self.mm.tick(ms));
            }
            6 => drop(self.expect_ok("outswap", self.mm.outswap(pid))),
            7 => drop(self.expect_ok("inswap", self.mm.inswap(pid))),
            _ => {
                let t = SystemThread::ALL[self.pick(SystemThread::ALL.len())];
                self.mm.run_thread(t);
            }
        }
    }

    // ---- choosing ------------------------------------------------------------

    fn random_region(&mut self, pi: usize, keep: impl Fn(&Region) -> bool) -> Option<Region> {
        let rs: Vec<&Region> = self.procs[pi]
            .regions
            .values()
            .filter(|r| keep(r))
            .collect();
        if rs.is_empty() {
            return None;
        }
        let i = self.rng.below(rs.len() as u64) as usize;
        Some(rs[i].clone())
    }

    /// A byte range for commit/protect: usually inside one region, sometimes
    /// running past its end, sometimes where nothing is reserved.
    fn random_range(&mut self, pi: usize, allow_free: bool) -> (u64, u64) {
        match self.random_region(pi, |_| true) {
            Some(r) if !(allow_free && self.chance(8)) => {
                let fi = self.rng.below(r.pages);
                let address = r.base + fi * PAGE_SIZE + self.rng.below(PAGE_SIZE);
                let room = r.end() - address;
                let size = if self.chance(6) {
                    room + 1 + self.rng.below(4 * PAGE_SIZE)
                } else {
                    1 + self.rng.below(room)
                };
                (address, size)
            }
            _ => (
                GRANULE * (1 + self.rng.below(ADDRESS_WINDOW / GRANULE - 1))
                    + self.rng.below(GRANULE),
                1 + self.rng.below(8 * PAGE_SIZE),
            ),
        }
    }

    /// A transfer: mostly inside a region, sometimes running off its end.
    fn transfer_range(&mut self, pi: usize) -> (u64, usize) {
        match self.random_region(pi, |_| true) {
            Some(r) => {
                if self.chance(6) {
                    // The whole region, and a page beyond.
                    return (r.base, ((r.pages + 1) * PAGE_SIZE) as usize);
                }
                let va = r.base + self.rng.below(r.pages * PAGE_SIZE);
                let len = 1 + self.rng.below(3 * PAGE_SIZE);
                (va, len as usize)
            }
            None => (
                GRANULE + self.rng.below(ADDRESS_WINDOW),
                1 + self.pick(PAGE),
            ),
        }
    }

    // ---- the run -------------------------------------------------------------

    fn op(&mut self, trace: bool) {
        let pi = self.pick(self.procs.len());
        let k = self.rng.below(40);
        if trace {
            eprintln!("step {}: op {k} on pid {}", self.step, self.procs[pi].pid);
        }
        if self.procs[pi].regions.len() >= REGION_LIMIT && matches!(k, 0..=4 | 30..=31) {
            return self.release_region(pi);
        }
        match k {
            0..=3 => self.alloc_anywhere(pi),
            4 => self.reserve_at(pi),
            5..=6 => self.commit_at(pi),
            7..=8 => self.free(pi),
            9..=11 => self.protect(pi),
            12..=14 => self.lock(pi),
            15 => self.ws_limits(pi),
            16..=23 => self.write(pi),
            24..=28 => self.read(pi),
            29 => self.create_section(),
            30..=31 => self.map(pi),
            32 => self.unmap(pi),
            33 if self.chance(4) => self.delete_section(),
            34 if self.chance(3) => self.fork(pi),
            35 if self.chance(6) => self.create_process(),
            36 if self.chance(4) => self.terminate(),
            37..=39 => self.system(pi),
            _ => {}
        }
    }

    fn check_batch(&mut self) {
        let r = self.mm.verify();
        assert!(r.ok(), "{}:\n{}", self.ctx(), r.violations.join("\n"));
        for pi in 0..self.procs.len() {
            self.check_locks(pi);
        }
        let pi = self.pick(self.procs.len());
        self.sweep(pi);
    }

    /// Ends the run: every process and section goes, every file holds its
    /// bytes, and nothing is left charged or allocated.
    fn finish(mut self) -> Summary {
        for pi in 0..self.procs.len() {
            self.sweep(pi);
        }
        for p in std::mem::take(&mut self.procs) {
            self.expect_ok("terminate", self.mm.terminate_process(p.pid));
        }
        for s in self.sections.iter().filter(|s| !s.deleted) {
            self.mm.delete_section(&s.name).unwrap();
        }
        let r = self.mm.verify();
        assert!(r.ok(), "{}:\n{}", self.ctx(), r.violations.join("\n"));
        for s in &self.sections {
            if let Some(f) = &s.file {
                let on_disk = std::fs::read(self.mm.config().files_dir.join(f)).unwrap();
                assert!(
                    on_disk == s.data,
                    "{}: file {f} differs from the model",
                    self.ctx()
                );
            }
        }
        assert_eq!(
            self.mm.machine().pagefiles_lock().used_pages(),
            0,
            "{}",
            self.ctx()
        );
        Summary {
            steps: self.step,
            refusals: self.refusals,
            hard_faults: self.mm.counter("hard_faults"),
            pages_written: self.mm.counter("pages_written_to_pagefile"),
        }
    }
}

struct Summary {
    steps: u64,
    refusals: u64,
    hard_faults: u64,
    pages_written: u64,
}

/// The access check the model applies to a page about to be touched; a guard
/// is disarmed (as the fault does) and reported.
fn access_check(p: &mut Protection, write: bool) -> Option<FaultKind> {
    if p.is_guard() && !p.is_decommit() {
        *p = p.with_guard(false);
        return Some(FaultKind::Guard);
    }
    if p.is_noaccess() || p.is_decommit() || p.raw() == 0 {
        return Some(FaultKind::Protection);
    }
    let allowed = if write {
        p.allows_write()
    } else {
        p.allows_read()
    };
    (!allowed).then_some(FaultKind::Protection)
}

fn plain_readable(p: Protection) -> bool {
    !p.is_guard() && !p.is_noaccess() && !p.is_decommit() && p.raw() != 0 && p.allows_read()
}

/// Protect (or recommit) a committed private page: a page that may not be
/// touched leaves the working set and loses its lock.
fn set_private_protection(page: &mut PrivatePage, new: Protection) {
    page.protection = new;
    // The page is made private first (its clone block is left to the relatives).
    page.guard_link = None;
    if new.is_noaccess() || new.is_guard() {
        page.locked = false;
    }
}

fn set_locks(p: &mut ProcessModel, base: u64, first: u64, n: u64, locked: bool) {
    if let Kind::Private(pages) = &mut p.regions.get_mut(&base).unwrap().kind {
        for page in &mut pages[first as usize..(first + n) as usize] {
            page.locked = locked;
            // Locking makes the page resident: it has a frame from now on.
            if locked {
                page.data.get_or_insert_with(zero_page);
            }
        }
    }
}

fn request(address: u64, size: u64, flags: &str, protection: Protection) -> AllocRequest {
    let mut r = AllocRequest::new(address, size, protection);
    for f in flags.split(',') {
        match f {
            "reserve" => r.reserve = true,
            "commit" => r.commit = true,
            _ => unreachable!("{f}"),
        }
    }
    r
}

fn run(seed: u64, arch: Arch, ops: u64) -> Summary {
    let mm = Mm::new(MmConfig::for_tests(1 << 20, arch)).unwrap();
    let procs = (0..3)
        .map(|i| {
            let name = format!("p{i}");
            ProcessModel {
                pid: mm.create_process(&name).unwrap(),
                name,
                regions: BTreeMap::new(),
                ws_minimum: crate::mm::process::working_set::DEFAULT_MINIMUM,
                disposable: false,
            }
        })
        .collect();
    let mut run = Run {
        mm,
        rng: XorShift(seed ^ (arch as u64 + 1).wrapping_mul(0x9E37_79B9)),
        seed,
        arch,
        step: 0,
        procs,
        sections: Vec::new(),
        names: 0,
        refusals: 0,
    };
    let batch = env_u64("MMFS_MODEL_BATCH").unwrap_or(BATCH).max(1);
    let trace = std::env::var_os("MMFS_MODEL_TRACE").is_some();
    while run.step < ops {
        run.op(trace);
        if run.step % batch == batch - 1 {
            run.check_batch();
        }
        run.step += 1;
    }
    run.finish()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn model_random_sequences_match_the_reference_model() {
    let seed = env_u64("MMFS_SEED").unwrap_or(0x6D6F_6465_6C21);
    let ops = env_u64("MMFS_MODEL_OPS").unwrap_or(25_000);
    let only = std::env::var("MMFS_MODEL_ARCH").ok();
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        if only
            .as_ref()
            .is_some_and(|a| !format!("{arch:?}").eq_ignore_ascii_case(a))
        {
            continue;
        }
        let s = run(seed, arch, ops);
        eprintln!(
            "model: seed {seed:#x} {arch:?}: {} operations, {} refused as the model said, {} hard faults, {} pages written to the paging file, 0 bytes lost",
            s.steps, s.refusals, s.hard_faults, s.pages_written
        );
        assert!(
            s.hard_faults > 0 && s.pages_written > 0,
            "RAM was not overcommitted"
        );
    }
}
