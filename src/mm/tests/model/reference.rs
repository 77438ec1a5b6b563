//! The reference model: what every process and section holds, and what each
//! service must do — the status of a refused call, what a call that succeeds
//! returns, how many bytes a transfer moves and which fault stops it, and what
//! every byte reads. It never calls `Mm`: the runner asks it what a call must
//! do, and applies the call to it when `Mm` did that.
//!
//! The section twin (`random_section_sequences_lose_no_byte`) keeps its
//! sections and views in the same `SectionModel` and `ViewModel`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use crate::mm::NtStatus;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pid};
use crate::mm::fault::FaultKind;
use crate::mm::process::hyperspace::process_commit_charge;
use crate::mm::process::working_set::{
    DEFAULT_MAXIMUM, DEFAULT_MINIMUM, MINIMUM_FLOOR, SYSTEM_MINIMUM,
};

use super::files::Files;
use super::reset::{Reset, write_candidates};

pub(super) const PAGE: usize = PAGE_SIZE as usize;
/// The allocation granularity: reservations and views start on it.
pub(super) const GRANULE: u64 = 64 << 10;

pub(super) const RW: Protection = Protection::READWRITE;
pub(super) const RO: Protection = Protection::READONLY;
pub(super) const WC: Protection = Protection::WRITECOPY;

pub(super) fn guard(p: Protection) -> Protection {
    p.with_guard(true)
}

pub(in crate::mm::tests) type Bytes = Box<[u8]>;

pub(super) fn zero_page() -> Bytes {
    vec![0u8; PAGE].into_boxed_slice()
}

// ---- what the model holds ----------------------------------------------------

/// One private page of the model.
#[derive(Clone)]
pub(super) struct PrivatePage {
    pub(super) committed: bool,
    pub(super) protection: Protection,
    /// None: zeros (never written since committed).
    pub(super) data: Option<Bytes>,
    pub(super) locked: bool,
    /// Shared with a fork relative through a clone block until written.
    pub(super) cloned: bool,
    /// A guard page in a clone block: its guard is the block's, shared with
    /// the relatives; the first touch by any of them disarms it for all.
    pub(super) guard_link: Option<u64>,
    /// The clone block a fork put this page in, while this process still
    /// shares it: every relative whose page at the same address has the same
    /// link reads the same frame, so a reset, and what a read finds out about
    /// a reset page, apply to all of them.
    pub(super) link: Option<u64>,
    /// What the page may hold since a MEM_RESET, besides `data` (`reset.rs`).
    pub(super) reset: Option<Reset>,
}

impl PrivatePage {
    pub(super) fn reserved() -> PrivatePage {
        PrivatePage {
            committed: false,
            protection: Protection::NOACCESS,
            data: None,
            locked: false,
            cloned: false,
            guard_link: None,
            link: None,
            reset: None,
        }
    }
    pub(super) fn committed(protection: Protection) -> PrivatePage {
        PrivatePage {
            committed: true,
            protection,
            ..PrivatePage::reserved()
        }
    }
}

/// A view of a section: which section and where in it, and what its pages
/// are now.
#[derive(Clone)]
pub(in crate::mm::tests) struct ViewModel {
    /// Index into the run's sections.
    pub(in crate::mm::tests) section: usize,
    pub(in crate::mm::tests) first_page: u64,
    /// The protection the view was mapped with (the VAD's).
    pub(in crate::mm::tests) protection: Protection,
    /// Each page's protection now (`protect` changes them one by one).
    pub(in crate::mm::tests) page_protection: Vec<Protection>,
    /// Pages a write-copy view has made private, by page of the view.
    pub(in crate::mm::tests) copies: HashMap<u64, Bytes>,
    /// A copy taken of a reset section page: what else it may hold.
    pub(in crate::mm::tests) copy_resets: HashMap<u64, Reset>,
    /// A copy whose guard a fork put in a clone block, by page of the view:
    /// the guard is the block's, shared with the relatives, and the first
    /// touch by any of them disarms it for all (as `PrivatePage::guard_link`).
    pub(in crate::mm::tests) guard_links: HashMap<u64, u64>,
}

impl ViewModel {
    pub(in crate::mm::tests) fn new(
        section: usize,
        first_page: u64,
        pages: u64,
        protection: Protection,
    ) -> ViewModel {
        ViewModel {
            section,
            first_page,
            protection,
            page_protection: vec![protection; pages as usize],
            copies: HashMap::new(),
            copy_resets: HashMap::new(),
            guard_links: HashMap::new(),
        }
    }

    pub(in crate::mm::tests) fn pages(&self) -> u64 {
        self.page_protection.len() as u64
    }

    /// The bytes page `index` of the view reads and writes: its own copy, or
    /// the section's page (shorter where a file ends inside it). A write to a
    /// copy-on-write page first copies it, as the copy-on-write fault does.
    pub(in crate::mm::tests) fn bytes_mut<'a>(
        &'a mut self,
        section: &'a mut SectionModel,
        index: usize,
        write: bool,
    ) -> &'a mut [u8] {
        let p = self.page_protection[index];
        let key = index as u64;
        if write && p.is_copy_on_write() && !self.copies.contains_key(&key) {
            let copy = section.copy_page(self.first_page + key);
            // A reset section page is copied as it is, whichever candidate
            // that is.
            if let Some(r) = section.resets.get(&(self.first_page + key)) {
                self.copy_resets.insert(key, r.clone());
            }
            self.copies.insert(key, copy);
            self.page_protection[index] = p.written_form();
        }
        match self.copies.get_mut(&key) {
            Some(c) => c,
            None => section.page_mut(self.first_page + key),
        }
    }

    /// Page `index` of the view as it reads (zeros past the end of a file).
    pub(in crate::mm::tests) fn read_page(&self, section: &SectionModel, index: u64) -> Bytes {
        match self.copies.get(&index) {
            Some(c) => c.clone(),
            None => section.copy_page(self.first_page + index),
        }
    }
}

#[derive(Clone)]
pub(super) enum Kind {
    Private(Vec<PrivatePage>),
    View(ViewModel),
}

#[derive(Clone)]
pub(super) struct Region {
    pub(super) base: u64,
    pub(super) pages: u64,
    pub(super) kind: Kind,
    /// A write-watch region (MEM_WRITE_WATCH): the indexes of its pages
    /// written since its last ResetWriteWatch. A page counts once a write
    /// reached it; decommit, MEM_RESET, trims and paging keep it (mmfs
    /// captures the dirty bit wherever it goes); only a reset or the
    /// region's release forgets it. None for any other region.
    pub(super) write_watch: Option<BTreeSet<u64>>,
}

impl Region {
    pub(super) fn private(base: u64, pages: Vec<PrivatePage>) -> Region {
        Region {
            base,
            pages: pages.len() as u64,
            kind: Kind::Private(pages),
            write_watch: None,
        }
    }
    /// The first and last page of this region that `size` bytes at
    /// `address` (inside it) touch.
    pub(super) fn page_indices(&self, address: u64, size: u64) -> (usize, usize) {
        let (first, last) = page_span(address, size);
        (
            ((first - self.base) / PAGE_SIZE) as usize,
            ((last - self.base) / PAGE_SIZE) as usize,
        )
    }
    pub(super) fn end(&self) -> u64 {
        self.base + self.pages * PAGE_SIZE
    }
    pub(super) fn is_view(&self) -> bool {
        matches!(self.kind, Kind::View(_))
    }
    /// Pages of this region counted by `private` (private pages) or `view`
    /// (a view).
    fn count(
        &self,
        private: impl Fn(&PrivatePage) -> bool,
        view: impl Fn(&ViewModel) -> u64,
    ) -> u64 {
        match &self.kind {
            Kind::Private(p) => p.iter().filter(|p| private(p)).count() as u64,
            Kind::View(v) => view(v),
        }
    }
}

pub(super) struct ProcessModel {
    pub(super) pid: Pid,
    pub(super) name: String,
    /// By base address.
    pub(super) regions: BTreeMap<u64, Region>,
    pub(super) ws_minimum: u64,
    pub(super) ws_maximum: u64,
    /// Made by `fork` or `create` during the run: may be terminated.
    pub(super) disposable: bool,
}

impl ProcessModel {
    pub(super) fn new(pid: Pid, name: String, disposable: bool) -> ProcessModel {
        ProcessModel {
            pid,
            name,
            regions: BTreeMap::new(),
            ws_minimum: DEFAULT_MINIMUM,
            ws_maximum: DEFAULT_MAXIMUM,
            disposable,
        }
    }
    pub(super) fn region_at(&self, va: u64) -> Option<&Region> {
        self.regions
            .range(..=va)
            .next_back()
            .map(|(_, r)| r)
            .filter(|r| va < r.end())
    }
    pub(super) fn region_base_at(&self, va: u64) -> Option<u64> {
        self.region_at(va).map(|r| r.base)
    }
    pub(super) fn overlaps(&self, first: u64, last: u64) -> bool {
        self.regions
            .range(..=last)
            .next_back()
            .is_some_and(|(_, r)| r.end() > first)
    }
    /// The base of the lowest region overlapping `first..=last`.
    fn first_overlapping(&self, first: u64, last: u64) -> Option<u64> {
        self.regions
            .range(..=last)
            .filter(|(_, r)| r.end() > first)
            .map(|(&b, _)| b)
            .next()
    }
    /// The lowest region the pages of `size` bytes at `address` overlap (the
    /// VAD WRK checks a commit or protect range against), and whether they
    /// lie inside it.
    pub(super) fn lowest_region(&self, address: u64, size: u64) -> Option<(&Region, bool)> {
        let (first, last) = page_span(address, size);
        let base = self.first_overlapping(first, last)?;
        let region = &self.regions[&base];
        Some((region, first >= region.base && last < region.end()))
    }
    pub(super) fn locked_count(&self) -> u64 {
        self.regions
            .values()
            .map(|r| r.count(|p| p.locked, |_| 0))
            .sum()
    }
    pub(super) fn committed_pages(&self) -> u64 {
        self.regions
            .values()
            .map(|r| r.count(|p| p.committed, |v| v.copies.len() as u64 + r.pages))
            .sum()
    }
    /// The private page at `va`, if a private region holds it.
    pub(super) fn private_page(&self, va: u64) -> Option<&PrivatePage> {
        let r = self.region_at(va)?;
        match &r.kind {
            Kind::Private(pages) => Some(&pages[((va - r.base) / PAGE_SIZE) as usize]),
            Kind::View(_) => None,
        }
    }
    pub(super) fn private_page_mut(&mut self, va: u64) -> Option<&mut PrivatePage> {
        let base = self.region_base_at(va)?;
        match &mut self.regions.get_mut(&base).unwrap().kind {
            Kind::Private(pages) => Some(&mut pages[((va - base) / PAGE_SIZE) as usize]),
            Kind::View(_) => None,
        }
    }
    /// The commit this process is charged, in three parts (the process's own,
    /// its regions', its page tables'), as MM_PROCESS_COMMIT_CHARGE and
    /// MiInsertVadCharges charge it: the process's own pages; each private
    /// region's committed pages and each write-copy view's every page (a
    /// view mapped otherwise charges nothing; its section is charged); and one
    /// page per page table its regions reach, reservations included, counted
    /// once per table however many regions share it (x64 also charges the
    /// page directories and page-directory-pointer pages).
    pub(super) fn commit_charge(&self, arch: Arch) -> (u64, u64, u64) {
        let own = self
            .regions
            .values()
            .map(|r| {
                r.count(
                    |p| p.committed,
                    |v| match v.protection.is_copy_on_write() {
                        true => r.pages,
                        false => 0,
                    },
                )
            })
            .sum();
        // The bytes one table maps, as a shift: a page table maps 4 MB on x86
        // and 2 MB on PAE and x64; an x64 page directory 1 GB, a PDP page 512 GB.
        let shifts: &[u32] = match arch {
            Arch::X86 => &[22],
            Arch::Pae => &[21],
            Arch::X64 => &[21, 30, 39],
        };
        let tables = shifts
            .iter()
            .map(|&shift| {
                // Regions are in address order and never overlap, so a table
                // can only be shared with the region before.
                let mut last = None;
                let mut count = 0;
                for r in self.regions.values() {
                    let (a, b) = (r.base >> shift, (r.end() - 1) >> shift);
                    count += b - a + 1 - u64::from(last == Some(a));
                    last = Some(b);
                }
                count
            })
            .sum();
        (process_commit_charge(arch), own, tables)
    }
    /// The private pages clean since a reset and not locked, whose frames
    /// may be gone (a demand-zero PTE again) or on standby: what a fork does
    /// with them depends on which (`Run::fork`).
    pub(super) fn clean_reset_pages(&self) -> Vec<u64> {
        let mut vas = Vec::new();
        for r in self.regions.values() {
            if let Kind::Private(pages) = &r.kind {
                for (i, p) in pages.iter().enumerate() {
                    if !p.locked && p.reset.as_ref().is_some_and(|s| s.is_clean()) {
                        vas.push(r.base + i as u64 * PAGE_SIZE);
                    }
                }
            }
        }
        vas
    }
    /// The addresses of the locked pages, in order.
    pub(super) fn locked_pages(&self) -> Vec<u64> {
        let mut want = Vec::new();
        for r in self.regions.values() {
            if let Kind::Private(p) = &r.kind {
                for (i, page) in p.iter().enumerate() {
                    if page.locked {
                        want.push(r.base + i as u64 * PAGE_SIZE);
                    }
                }
            }
        }
        want
    }
    /// A new private region of `pages` pages, all committed with `protection`
    /// or all reserved.
    pub(super) fn insert_private(
        &mut self,
        base: u64,
        pages: u64,
        commit: bool,
        protection: Protection,
    ) {
        let page = if commit {
            PrivatePage::committed(protection)
        } else {
            PrivatePage::reserved()
        };
        self.regions
            .insert(base, Region::private(base, vec![page; pages as usize]));
    }
    fn private_pages_mut(&mut self, base: u64) -> &mut Vec<PrivatePage> {
        match &mut self.regions.get_mut(&base).unwrap().kind {
            Kind::Private(pages) => pages,
            Kind::View(_) => unreachable!(),
        }
    }
    pub(super) fn set_locks(&mut self, base: u64, first: u64, n: u64, locked: bool) {
        let pages = self.private_pages_mut(base);
        for page in &mut pages[first as usize..(first + n) as usize] {
            page.locked = locked;
            // Locking makes the page resident: it has a frame from now on.
            if locked {
                page.data.get_or_insert_with(zero_page);
            }
        }
    }
}

/// A section: its bytes (a file's, or zeros for a pagefile-backed one).
pub(in crate::mm::tests) struct SectionModel {
    pub(in crate::mm::tests) name: String,
    pub(in crate::mm::tests) data: Vec<u8>,
    pub(in crate::mm::tests) file: Option<String>,
    pub(in crate::mm::tests) deleted: bool,
    /// Pages reset through a view (pagefile-backed sections only): what else
    /// each may hold, by page of the section.
    pub(in crate::mm::tests) resets: HashMap<u64, Reset>,
}

impl SectionModel {
    pub(in crate::mm::tests) fn new(name: String, data: Vec<u8>, file: Option<String>) -> Self {
        SectionModel {
            name,
            data,
            file,
            deleted: false,
            resets: HashMap::new(),
        }
    }

    /// A copy of page `page`: the section's bytes, zeros past their end.
    pub(in crate::mm::tests) fn copy_page(&self, page: u64) -> Bytes {
        let mut c = zero_page();
        let start = (page * PAGE_SIZE) as usize;
        if start < self.data.len() {
            let end = (start + PAGE).min(self.data.len());
            c[..end - start].copy_from_slice(&self.data[start..end]);
        }
        c
    }

    /// The section's bytes of page `page`: shorter (or none) where the data
    /// ends inside it or before it.
    pub(super) fn page_mut(&mut self, page: u64) -> &mut [u8] {
        let len = self.data.len();
        let start = ((page * PAGE_SIZE) as usize).min(len);
        let end = (start + PAGE).min(len);
        &mut self.data[start..end]
    }

    /// The indices of the sections not deleted.
    pub(in crate::mm::tests) fn live(sections: &[SectionModel]) -> Vec<usize> {
        (0..sections.len())
            .filter(|&i| !sections[i].deleted)
            .collect()
    }
}

// ---- the rules -----------------------------------------------------------------

/// The first and last byte of the pages `size` bytes at `address` touch.
pub(super) fn page_span(address: u64, size: u64) -> (u64, u64) {
    (
        address & !(PAGE_SIZE - 1),
        (address + size - 1) | (PAGE_SIZE - 1),
    )
}

/// The access check the model applies to a page about to be touched; a guard
/// is disarmed (as the fault does) and reported.
pub(super) fn access_check(p: &mut Protection, write: bool) -> Option<FaultKind> {
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

pub(super) fn plain_readable(p: Protection) -> bool {
    !p.is_guard() && !p.is_noaccess() && !p.is_decommit() && p.raw() != 0 && p.allows_read()
}

/// Protect (or recommit) a committed private page: a page that may not be
/// touched leaves the working set and loses its lock.
fn set_private_protection(page: &mut PrivatePage, new: Protection) {
    page.protection = new;
    // The page is made private first (its clone block is left to the relatives).
    page.guard_link = None;
    if page.link.take().is_some() {
        // The private copy is a new dirty page: a reset's candidates stay,
        // but it can no longer lose its contents.
        super::reset::made_dirty(page);
    }
    if new.is_noaccess() || new.is_guard() {
        page.locked = false;
    }
}

/// A call the model says must be refused: what it was, and with which status.
pub(super) struct Refusal {
    pub(super) what: &'static str,
    pub(super) status: NtStatus,
}

/// What a call must do: be refused, or succeed with what the model says.
pub(super) type Expect<T> = Result<T, Refusal>;

fn refuse<T>(what: &'static str, status: NtStatus) -> Expect<T> {
    Err(Refusal { what, status })
}

/// A commit the model accepts: which pages of which reservation, and how many
/// of them it newly commits.
pub(super) struct Commit {
    region_base: u64,
    first_i: usize,
    last_i: usize,
    pub(super) new: u64,
    /// In a view of a pagefile-backed section: nothing is committed, the
    /// pages take the protection.
    view: bool,
}

/// A protect the model accepts: pages `fi..=li` of the region at `base`, a
/// view or private memory.
pub(super) struct Protect {
    base: u64,
    fi: usize,
    li: usize,
    pub(super) view: bool,
}

/// The reference model of a run: the processes, the sections, the cached
/// files, and the counter names (and clone-block guards) are numbered from.
pub(super) struct Model {
    pub(super) procs: Vec<ProcessModel>,
    pub(super) sections: Vec<SectionModel>,
    pub(super) names: u64,
    /// Clone blocks numbered so far (`PrivatePage::link`).
    pub(super) links: u64,
    /// The locked working-set entries every process starts with (its top-level
    /// tables, hyperspace and working-set list: MiInitializeWorkingSetList).
    pub(super) system_pages: u64,
    /// KERNEL_STACK_SIZE in pages: each process's kernel stack.
    pub(super) stack_pages: u64,
    /// Kernel stacks outswapped now (set by the runner before a prediction).
    pub(super) stacks_out: u64,
    /// The files read and written through the cache (`files.rs`).
    pub(super) files: Files,
}

impl Model {
    pub(super) fn new(procs: Vec<ProcessModel>, arch: Arch) -> Model {
        Model {
            procs,
            sections: Vec::new(),
            names: 0,
            links: 0,
            system_pages: process_commit_charge(arch),
            stack_pages: crate::mm::kernel::stacks::kernel_stack_pages(arch),
            stacks_out: 0,
            files: Files::default(),
        }
    }

    /// What is charged against resident available memory: every working-set
    /// minimum (System's too), each process's kernel stack but those
    /// outswapped (`stacks_out`, which the runner asks the real system: the
    /// swapper outswaps on its own) and the pages locked.
    pub(super) fn resident_charged(&self) -> u64 {
        let stacks = (self.procs.len() as u64).saturating_sub(self.stacks_out) * self.stack_pages;
        SYSTEM_MINIMUM
            + stacks
            + self
                .procs
                .iter()
                .map(|p| p.ws_minimum + p.locked_count())
                .sum::<u64>()
    }

    /// A name not used before in the run: `prefix` and the next number.
    pub(super) fn next_name(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}{}", self.names)
    }

    pub(super) fn committed_total(&self) -> u64 {
        let procs: u64 = self.procs.iter().map(|p| p.committed_pages()).sum();
        let sections: u64 = self
            .sections
            .iter()
            .filter(|s| !s.deleted && s.file.is_none())
            .map(|s| s.data.len() as u64 / PAGE_SIZE)
            .sum();
        procs + sections
    }

    /// The commit pagefile-backed sections hold: all their pages, from their
    /// creation until they are deleted and their last view is gone (then the
    /// control area goes, and its charge with it).
    pub(super) fn section_charge(&self) -> u64 {
        let mapped = |si: usize| {
            self.procs.iter().any(|p| {
                p.regions
                    .values()
                    .any(|r| matches!(&r.kind, Kind::View(v) if v.section == si))
            })
        };
        (self.sections.iter().enumerate())
            .filter(|(si, s)| s.file.is_none() && (!s.deleted || mapped(*si)))
            .map(|(_, s)| s.data.len() as u64 / PAGE_SIZE)
            .sum()
    }

    /// The region a commit or protect of `size` bytes at `address` applies to:
    /// the lowest one its pages overlap, which must hold them all. Else it is
    /// refused with STATUS_CONFLICTING_ADDRESSES (`nothing`: its pages overlap
    /// no region; `across`: they run out of the lowest).
    pub(super) fn range_region(
        &self,
        pi: usize,
        address: u64,
        size: u64,
        nothing: &'static str,
        across: &'static str,
    ) -> Expect<&Region> {
        match self.procs[pi].lowest_region(address, size) {
            None => refuse(nothing, NtStatus::CONFLICTING_ADDRESSES),
            Some((_, false)) => refuse(across, NtStatus::CONFLICTING_ADDRESSES),
            Some((region, true)) => Ok(region),
        }
    }

    // ---- allocation ----------------------------------------------------------

    /// MEM_RESERVE of `pages` pages at `address`: the base and size it returns.
    pub(super) fn reserve(
        &self,
        pi: usize,
        address: u64,
        pages: u64,
        protection: Protection,
    ) -> Expect<(u64, u64)> {
        let base = address - address % GRANULE;
        let last = (address + pages * PAGE_SIZE - 1) | (PAGE_SIZE - 1);
        if protection == WC {
            return refuse("reserve write-copy", NtStatus::INVALID_PAGE_PROTECTION);
        }
        if self.procs[pi].overlaps(base, last) {
            return refuse(
                "reserve over a reservation",
                NtStatus::CONFLICTING_ADDRESSES,
            );
        }
        Ok((base, last + 1 - base))
    }

    /// MEM_COMMIT without MEM_RESERVE: inside one reservation, or refused.
    pub(super) fn commit(
        &self,
        pi: usize,
        address: u64,
        size: u64,
        protection: Protection,
    ) -> Expect<Commit> {
        let across = "commit across reservations";
        let region =
            self.range_region(pi, address, size, "commit outside any reservation", across)?;
        if let Kind::View(v) = &region.kind {
            // NtAllocateVirtualMemory: a mapped file's view is committed
            // already; a pagefile-backed one takes the protection.
            if self.sections[v.section].file.is_some() {
                return refuse("commit in a file view", NtStatus::ALREADY_COMMITTED);
            }
            let at = self.protect(pi, address, size, protection)?;
            return Ok(Commit {
                region_base: at.base,
                first_i: at.fi,
                last_i: at.li,
                new: 0,
                view: true,
            });
        }
        if protection == WC {
            return refuse("commit write-copy", NtStatus::INVALID_PAGE_PROTECTION);
        }
        let Kind::Private(pages) = &region.kind else {
            unreachable!()
        };
        let (first_i, last_i) = region.page_indices(address, size);
        let new = pages[first_i..=last_i]
            .iter()
            .filter(|p| !p.committed)
            .count() as u64;
        Ok(Commit {
            region_base: region.base,
            first_i,
            last_i,
            new,
            view: false,
        })
    }

    pub(super) fn apply_commit(&mut self, pi: usize, c: &Commit, protection: Protection) {
        if c.view {
            let at = Protect {
                base: c.region_base,
                fi: c.first_i,
                li: c.last_i,
                view: true,
            };
            self.apply_protect(pi, &at, protection);
            return;
        }
        let pages = self.procs[pi].private_pages_mut(c.region_base);
        for page in &mut pages[c.first_i..=c.last_i] {
            if page.committed {
                set_private_protection(page, protection);
            } else {
                *page = PrivatePage::committed(protection);
            }
        }
        // Pages made private or unlocked may no longer be held by anyone.
        self.settle_pages(c.region_base, c.first_i, c.last_i);
    }

    // ---- free ----------------------------------------------------------------

    /// Decommit or release (`what`) of `size` bytes at `address`, page
    /// `first_i` of region `r`: the pages it frees, `first_i..=last_i`.
    pub(super) fn free(
        r: &Region,
        (what, release): (&'static str, bool),
        first_i: u64,
        address: u64,
        size: u64,
    ) -> Expect<(u64, u64)> {
        let last_i = if size == 0 {
            r.pages - 1
        } else {
            (address + size - 1 - r.base) / PAGE_SIZE
        };
        if size != 0 && last_i >= r.pages {
            return refuse(what, NtStatus::UNABLE_TO_FREE_VM);
        }
        if r.is_view() {
            return refuse(what, NtStatus::UNABLE_TO_DELETE_SECTION);
        }
        if size == 0 && first_i != 0 {
            return refuse(what, NtStatus::FREE_VM_NOT_AT_BASE);
        }
        let range = if size == 0 {
            (0, r.pages - 1)
        } else {
            (first_i, last_i)
        };
        // A write-watch region is released whole or not at all.
        if release && r.write_watch.is_some() && range != (0, r.pages - 1) {
            return refuse(
                "release part of a write-watch region",
                NtStatus::FREE_VM_NOT_AT_BASE,
            );
        }
        Ok(range)
    }

    pub(super) fn apply_free(
        &mut self,
        pi: usize,
        r: &Region,
        (first_i, last_i): (u64, u64),
        release: bool,
    ) {
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
        } else {
            // Release: what is left before and after the range stays reserved.
            let after = pages.split_off(last_i as usize + 1);
            pages.truncate(first_i as usize);
            let before = std::mem::take(pages);
            if !before.is_empty() {
                p.regions.insert(r.base, Region::private(r.base, before));
            }
            if !after.is_empty() {
                let base = r.base + (last_i + 1) * PAGE_SIZE;
                p.regions.insert(base, Region::private(base, after));
            }
        }
        // A relative's page this one held locked in a clone block is free to go.
        self.settle_span(r.base + first_i * PAGE_SIZE, last_i - first_i + 1);
    }

    // ---- protect -------------------------------------------------------------

    pub(super) fn protect(
        &self,
        pi: usize,
        address: u64,
        size: u64,
        new: Protection,
    ) -> Expect<Protect> {
        let region = self.range_region(pi, address, size, "protect nothing", "protect across")?;
        let (fi, li) = region.page_indices(address, size);
        match &region.kind {
            Kind::Private(pages) => {
                if new.is_copy_on_write() {
                    // MiProtectVirtualMemory: the protection is parameter 4.
                    return refuse("protect private write-copy", NtStatus::INVALID_PARAMETER_4);
                }
                if pages[fi..=li].iter().any(|p| !p.committed) {
                    return refuse("protect uncommitted", NtStatus::NOT_COMMITTED);
                }
            }
            Kind::View(v) => {
                let section_protection = RW;
                if !new.compatible_with_section(v.protection)
                    || !new.compatible_with_section(section_protection)
                {
                    return refuse("protect a view", NtStatus::SECTION_PROTECTION);
                }
            }
        }
        Ok(Protect {
            base: region.base,
            fi,
            li,
            view: region.is_view(),
        })
    }

    /// The protection of the first page `protect` reported as `old`: the
    /// model's, and whether `old` is a form of it the page may be in (a page
    /// shared with a fork relative, a write-copy page copied).
    pub(super) fn protect_reported(
        &self,
        pi: usize,
        at: &Protect,
        old: Protection,
    ) -> (Protection, bool) {
        match &self.procs[pi].regions[&at.base].kind {
            Kind::Private(pages) => {
                let first_page = &pages[at.fi];
                let want = first_page.protection;
                let ok = old == want || first_page.cloned && old == want.copy_on_write_form();
                (want, ok)
            }
            Kind::View(v) => {
                let want = v.page_protection[at.fi];
                let ok = old == want
                    || v.copies.contains_key(&(at.fi as u64))
                        && (old == want.copy_on_write_form() || old == want.written_form());
                (want, ok)
            }
        }
    }

    pub(super) fn apply_protect(&mut self, pi: usize, at: &Protect, new: Protection) {
        match &mut self.procs[pi].regions.get_mut(&at.base).unwrap().kind {
            Kind::Private(pages) => {
                for page in &mut pages[at.fi..=at.li] {
                    set_private_protection(page, new);
                }
                self.settle_pages(at.base, at.fi, at.li);
            }
            Kind::View(v) => {
                for p in &mut v.page_protection[at.fi..=at.li] {
                    *p = new;
                }
                // A copy in a clone block is made private first.
                for i in at.fi..=at.li {
                    v.guard_links.remove(&(i as u64));
                }
            }
        }
    }

    // ---- lock and working-set limits -----------------------------------------

    /// Locking pages `fi..fi + n` of the private region at `base`
    /// (NtLockVirtualMemory): how many pages it newly locks, or the status
    /// that refuses it. The quota is checked twice, with WRK's NumberToLock
    /// (the pages less one) and FirstDynamic (the system pages and the locked
    /// ones); then every page is probed in order, as a read would touch it
    /// (a guard page is disarmed and stops the lock), before any is locked.
    pub(super) fn lock(
        &mut self,
        pi: usize,
        (base, fi, n): (u64, u64, u64),
        physical: u64,
    ) -> Result<u64, NtStatus> {
        let to_lock = n - 1;
        let p = &self.procs[pi];
        if to_lock + 8 > p.ws_minimum {
            return Err(NtStatus::WORKING_SET_QUOTA);
        }
        let Kind::Private(pages) = &p.regions[&base].kind else {
            unreachable!()
        };
        let range = fi as usize..(fi + n) as usize;
        let already = pages[range.clone()].iter().filter(|p| p.locked).count() as u64;
        let first_dynamic = self.system_pages + p.locked_count();
        if p.ws_minimum + already < first_dynamic + to_lock + 8 {
            return Err(NtStatus::WORKING_SET_QUOTA);
        }
        // The pages not locked yet are charged against resident available
        // memory, which must keep 100 pages.
        if n > already && self.resident_charged() + (n - already) + 100 > physical {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        for i in range.clone() {
            let mut none = ReadOut::default();
            let va = base + i as u64 * PAGE_SIZE;
            match self.touch(pi, va, 0..0, Chunk::Read(&mut none)) {
                Err(FaultKind::Guard) => return Err(NtStatus::GUARD_PAGE_VIOLATION),
                Err(_) => return Err(NtStatus::ACCESS_VIOLATION),
                Ok(()) => {}
            }
        }
        Ok(n - already)
    }

    /// Whether unlocking pages `fi..fi + n` of private region `r` succeeds:
    /// only when every one of them is locked.
    pub(super) fn unlock(r: &Region, fi: u64, n: u64) -> bool {
        let Kind::Private(pages) = &r.kind else {
            unreachable!()
        };
        pages[fi as usize..(fi + n) as usize]
            .iter()
            .all(|p| p.locked)
    }

    /// Working-set limits of `min` and `max` pages (0: keep) on a machine of
    /// `physical` pages whose process `pi` has `untrimmable` working-set
    /// entries (page tables and locked pages) now, as MmAdjustWorkingSetSizeEx
    /// decides: the limits that take effect and whether one was moved into
    /// range (STATUS_WORKING_SET_LIMIT_RANGE), or the refusal.
    pub(super) fn ws_limits(
        &self,
        pi: usize,
        (min, max): (u64, u64),
        physical: u64,
        untrimmable: u64,
    ) -> Expect<(u64, u64, bool)> {
        let p = &self.procs[pi];
        let min = if min == 0 { p.ws_minimum } else { min };
        let max = if max == 0 { p.ws_maximum } else { max };
        if min > max {
            return refuse("ws-limits min above max", NtStatus::BAD_WORKING_SET_LIMIT);
        }
        let ceiling = physical.saturating_sub(512).max(physical / 2);
        let clamped = max > ceiling || min > ceiling || min < MINIMUM_FLOOR;
        let (min, max) = (min.clamp(MINIMUM_FLOOR, ceiling), max.min(ceiling));
        if self.system_pages + p.locked_count() + 8 >= max || untrimmable > max {
            return refuse(
                "ws-limits below the locked entries",
                NtStatus::BAD_WORKING_SET_LIMIT,
            );
        }
        // Resident available memory: RAM less every charge must cover a
        // raise and leave 100 pages.
        let old = p.ws_minimum;
        if min > old && self.resident_charged() + (min - old) + 100 > physical {
            return refuse(
                "ws-limits beyond resident available memory",
                NtStatus::INSUFFICIENT_RESOURCES,
            );
        }
        Ok((min, max, clamped))
    }

    /// Whether a new process's minimum fits in resident available memory
    /// (MmCreateProcessAddressSpace, no reserve): RAM less every minimum.
    /// Its kernel stack is charged first, with no reserve either.
    pub(super) fn new_process_fits(&self, physical: u64) -> bool {
        self.resident_charged() + self.stack_pages + DEFAULT_MINIMUM <= physical
    }

    // ---- transfers -----------------------------------------------------------

    /// What a transfer must do, page by page: the bytes before the first page
    /// that faults, or that fault, and for a read what it must find. Applies
    /// the model's side effects (guards disarmed, write-copy pages copied,
    /// bytes written).
    pub(super) fn transfer(
        &mut self,
        pi: usize,
        va: u64,
        data: Option<&[u8]>,
        len: usize,
    ) -> (usize, Option<FaultKind>, ReadOut) {
        let mut done = 0usize;
        let mut out = ReadOut::default();
        if data.is_none() {
            out.bytes.reserve(len);
        }
        while done < len {
            let at = va + done as u64;
            let page_va = at & !(PAGE_SIZE - 1);
            let offset = (at - page_va) as usize;
            let n = (PAGE - offset).min(len - done);
            let chunk = match data {
                Some(d) => Chunk::Write(&d[done..done + n]),
                None => Chunk::Read(&mut out),
            };
            if let Err(k) = self.touch(pi, page_va, offset..offset + n, chunk) {
                return (done, Some(k), out);
            }
            done += n;
        }
        (done, None, out)
    }

    /// One page's part of a transfer: bytes `span` of the page at `page_va`.
    fn touch(
        &mut self,
        pi: usize,
        page_va: u64,
        span: Range<usize>,
        chunk: Chunk,
    ) -> Result<(), FaultKind> {
        let Some(base) = self.procs[pi].region_base_at(page_va) else {
            return Err(FaultKind::NotCommitted);
        };
        let index = ((page_va - base) / PAGE_SIZE) as usize;
        let region = self.procs[pi].regions.get_mut(&base).unwrap();
        let write = matches!(chunk, Chunk::Write(_));
        let page = match &mut region.kind {
            Kind::Private(pages) => &mut pages[index],
            Kind::View(v) => {
                // A guard is disarmed in this process's view only, unless a
                // fork shares it in a clone block.
                if let Some(k) = access_check(&mut v.page_protection[index], write) {
                    let link = v.guard_links.remove(&(index as u64));
                    if let Some(link) = link.filter(|_| k == FaultKind::Guard) {
                        self.disarm_link(link);
                    }
                    return Err(k);
                }
                let section = &mut self.sections[v.section];
                let uncertain = v.uncertain(section, index as u64);
                let bytes = v.bytes_mut(section, index, write);
                match chunk {
                    Chunk::Write(d) => {
                        bytes[span.clone()].copy_from_slice(d);
                        v.note_write(section, index as u64, span, d);
                    }
                    Chunk::Read(out) => out.push(page_va, span.clone(), &bytes[span], uncertain),
                }
                return Ok(());
            }
        };
        if !page.committed {
            return Err(FaultKind::NotCommitted);
        }
        if let Some(k) = access_check(&mut page.protection, write) {
            if let Some(link) = page.guard_link.filter(|_| k == FaultKind::Guard) {
                // The clone block's guard, disarmed for every relative.
                self.disarm_link(link);
            }
            return Err(k);
        }
        let bytes = page.data.get_or_insert_with(zero_page);
        match chunk {
            Chunk::Write(d) => {
                bytes[span.clone()].copy_from_slice(d);
                write_candidates(bytes, &mut page.reset, span, d);
                if let Some(written) = &mut region.write_watch {
                    written.insert(index as u64);
                }
            }
            Chunk::Read(out) => {
                let uncertain = page.reset.is_some();
                out.push(page_va, span.clone(), &bytes[span], uncertain);
            }
        }
        if write && page.cloned {
            page.cloned = false;
            page.protection = page.protection.written_form();
        }
        // A write gives this process a copy of its own: it leaves the clone
        // block, and a lock it held there no longer holds the relatives' page.
        if write && page.link.take().is_some() {
            self.settle_at(page_va);
        }
        Ok(())
    }

    fn disarm_link(&mut self, link: u64) {
        for p in &mut self.procs {
            for r in p.regions.values_mut() {
                match &mut r.kind {
                    Kind::Private(pages) => {
                        for page in pages.iter_mut().filter(|p| p.guard_link == Some(link)) {
                            page.guard_link = None;
                            page.protection = page.protection.with_guard(false);
                        }
                    }
                    Kind::View(v) => {
                        v.guard_links.retain(|&i, l| {
                            let this = *l == link;
                            if this {
                                let p = &mut v.page_protection[i as usize];
                                *p = p.with_guard(false);
                            }
                            !this
                        });
                    }
                }
            }
        }
    }

    /// The pages of process `pi` a fork moves into clone blocks (those with a
    /// frame or a paging-file copy, unless in one already), with their guards:
    /// private pages, and the pages write-copy views have copied. A guard
    /// page never touched stays demand zero in each process.
    fn move_to_clone_blocks(&mut self, pi: usize) {
        for r in self.procs[pi].regions.values_mut() {
            match &mut r.kind {
                Kind::Private(pages) => {
                    for page in pages.iter_mut().filter(|p| p.committed) {
                        page.cloned = true;
                        if page.data.is_some() && page.link.is_none() {
                            self.links += 1;
                            page.link = Some(self.links);
                        }
                        if page.protection.is_guard()
                            && page.data.is_some()
                            && page.guard_link.is_none()
                        {
                            self.names += 1;
                            page.guard_link = Some(self.names);
                        }
                    }
                }
                Kind::View(v) => {
                    for &i in v.copies.keys() {
                        if v.page_protection[i as usize].is_guard()
                            && !v.guard_links.contains_key(&i)
                        {
                            self.names += 1;
                            v.guard_links.insert(i, self.names);
                        }
                    }
                }
            }
        }
    }

    // ---- views and processes -------------------------------------------------

    /// Mapping a view of `pages` pages at `address` (0: anywhere).
    pub(super) fn map(&self, pi: usize, address: u64, pages: u64) -> Expect<()> {
        if !address.is_multiple_of(GRANULE) {
            return refuse("map misaligned", NtStatus::MAPPED_ALIGNMENT);
        }
        if address != 0 && self.procs[pi].overlaps(address, address + pages * PAGE_SIZE - 1) {
            return refuse("map over a reservation", NtStatus::CONFLICTING_ADDRESSES);
        }
        Ok(())
    }

    /// Process `pi` forked into `child`: the committed private pages go into
    /// clone blocks shared with it, and the child has no locked page. Reset
    /// pages at `dropped` had lost their frames: they are demand zero again,
    /// and each process gets its own.
    pub(super) fn fork(&mut self, pi: usize, child: Pid, name: String, dropped: &[u64]) {
        for &va in dropped {
            self.frame_lost(pi, va);
        }
        self.move_to_clone_blocks(pi);
        let mut regions = self.procs[pi].regions.clone();
        for r in regions.values_mut() {
            if let Kind::Private(pages) = &mut r.kind {
                for page in pages.iter_mut() {
                    page.locked = false;
                }
            }
        }
        let mut p = ProcessModel::new(child, name, true);
        p.regions = regions;
        self.procs.push(p);
    }
}

/// One page's part of a transfer: the bytes to write, or where the bytes read
/// go.
enum Chunk<'a> {
    Write(&'a [u8]),
    Read(&'a mut ReadOut),
}

/// What a read must find: the bytes, and where among them a reset page's
/// part is, which may read as another of its candidates (`reset.rs`).
#[derive(Default)]
pub(super) struct ReadOut {
    pub(super) bytes: Vec<u8>,
    /// Each reset page's part: the page's address, the bytes of the page, and
    /// where they start in `bytes`.
    pub(super) uncertain: Vec<(u64, Range<usize>, usize)>,
}

impl ReadOut {
    /// Bytes `span` of the page at `page_va` (`bytes`) are read next.
    fn push(&mut self, page_va: u64, span: Range<usize>, bytes: &[u8], uncertain: bool) {
        if uncertain && !span.is_empty() {
            self.uncertain.push((page_va, span, self.bytes.len()));
        }
        self.bytes.extend_from_slice(bytes);
    }
}
