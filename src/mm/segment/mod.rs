//! Layer 4, control areas, segments and subsections: the PFN-lock-protected
//! half of a section (NT: CONTROL_AREA, SEGMENT, SUBSECTION, and the prototype
//! PTEs in paged pool).
//!
//! Every prototype PTE lives in a subsection's array, at a virtual address in
//! paged pool handed out by [`PrototypePool`]: process PTEs in prototype-pointer
//! form and PFN entries (`PteAddress`) name prototype PTEs by that address, as
//! in NT. A subsection PTE (a prototype PTE saying "read me from the file")
//! carries the subsection's number where NT keeps its address. The pages
//! holding the arrays are System pages that page like any paged pool page
//! (`pages.rs`): while one is out of the working set its PTEs are in its frame
//! or paging-file slot, not the arrays, and may not be read or written here
//! (`is_absent`, `try_read`).
//!
//! Lock: all of it is protected by the PFN lock (`Machine::pfn`), as NT changes
//! prototype PTEs holding the PFN lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, PteAddress};

mod pages;

use pages::page_span;
pub use pages::{ProtoPage, ProtoPageState};

/// A control area's number: what sections, views (`SectionRef`) and
/// subsections name their control area by (NT keeps a pointer).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct ControlAreaId(pub u32);

impl std::fmt::Display for ControlAreaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A host file's identity: its device and inode numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The identity of an open host file.
    pub fn of(file: &std::fs::File) -> std::io::Result<FileId> {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata()?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

/// What a control area's pages come back from.
#[derive(Clone, Debug)]
pub enum Backing {
    /// Pagefile-backed ("shared memory"): demand zero, then the paging files.
    PagingFile,
    /// A file of the `--files` volume: pages are read from and written to it.
    File {
        path: PathBuf,
        file: Arc<std::fs::File>,
        /// The host file's identity: one control area per file, however it
        /// was named or opened (NT keeps the control area in the file's
        /// SectionObjectPointers).
        id: FileId,
    },
    /// The clone descriptors of a `fork` (NT's MMCLONE_BLOCKs): prototype PTEs
    /// that the parent's private pages moved into, shared copy-on-write by
    /// parent and child.
    Clone,
}

/// One subsection: a slice of the segment's prototype PTEs, mapping a run of
/// the file (NT: SUBSECTION). Pagefile-backed and clone segments have one.
#[derive(Debug)]
pub struct Subsection {
    pub control_area: ControlAreaId,
    /// Segment-wide index of `ptes[0]`.
    pub first_index: u64,
    /// Virtual address of `ptes[0]` in paged pool (SubsectionBase).
    pub base: u64,
    /// The prototype PTEs (decode with `PteFormat::decode_prototype`).
    pub ptes: Vec<Mmpte>,
    /// First page of the file this subsection maps (StartingSector, in pages).
    pub file_page: u64,
}

/// NT's CONTROL_AREA with its SEGMENT folded in.
#[derive(Debug)]
pub struct ControlArea {
    pub id: ControlAreaId,
    pub backing: Backing,
    /// Subsection numbers, in index order.
    pub subsections: Vec<u32>,
    /// TotalNumberOfPtes.
    pub total_ptes: u64,
    /// SizeOfSegment in bytes (the file's section size, or the pagefile
    /// section's size).
    pub size: u64,
    /// Pages of commit charged for the segment (pagefile-backed: every page).
    pub committed_pages: u64,
    /// The protection of the segment's prototype PTEs (SegmentPteTemplate).
    pub protection: Protection,
    pub section_references: u64,
    pub mapped_views: u64,
    pub user_references: u64,
    /// Views mapped with write access (WritableUserReferences).
    pub writable_user_references: u64,
    /// Views the cache manager maps in the system cache (NT:
    /// NumberOfSystemCacheViews); they are not user references.
    pub system_cache_views: u64,
    /// 1 while the cache manager keeps the file cached (its shared cache map
    /// holds the file object, so the control area stays).
    pub cache_references: u64,
    /// Prototype PTEs whose page is in memory (valid or transition).
    pub pfn_references: u64,
    /// Mapped-page-writer writes in flight.
    pub modified_write_count: u64,
    /// Modified pages go to the modified-no-write list and are not written
    /// (MmDisableModifiedWriteOfSection) until writing is allowed again.
    pub no_modified_writing: bool,
    /// Clone segments: how many process PTEs still refer to each prototype PTE
    /// (NT: CloneRefCount of each MMCLONE_BLOCK).
    pub clone_refs: Vec<u32>,
}

impl ControlArea {
    pub fn is_file(&self) -> bool {
        matches!(self.backing, Backing::File { .. })
    }

    pub fn is_clone(&self) -> bool {
        matches!(self.backing, Backing::Clone)
    }

    /// True when nothing refers to the control area any more, so it can go.
    pub fn unreferenced(&self) -> bool {
        self.section_references == 0
            && self.mapped_views == 0
            && self.user_references == 0
            && self.system_cache_views == 0
            && self.cache_references == 0
            && (!self.is_clone() || self.clone_refs.iter().all(|&r| r == 0))
    }

    /// The NT flag names set on this control area, for `info`.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        match self.backing {
            Backing::File { .. } => v.push("File"),
            Backing::Clone => v.push("Clone"),
            Backing::PagingFile => v.push("Commit"),
        }
        if self.no_modified_writing {
            v.push("NoModifiedWriting");
        }
        if self.modified_write_count > 0 {
            v.push("ModifiedWriteInProgress");
        }
        v
    }
}

/// Where a prototype PTE is: its subsection and the index in that subsection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtoLoc {
    pub subsection: u32,
    pub slot: usize,
}

/// A first-fit allocator of paged-pool addresses for prototype PTE arrays.
#[derive(Debug)]
pub struct PrototypePool {
    start: u64,
    end: u64,
    /// Free ranges: start → length in bytes.
    free: BTreeMap<u64, u64>,
}

/// Prototype PTE arrays start on this boundary (a pool block's alignment).
const POOL_ALIGN: u64 = 64;

impl PrototypePool {
    pub fn new(start: u64, end: u64) -> PrototypePool {
        let mut free = BTreeMap::new();
        if end > start {
            free.insert(start, end - start);
        }
        PrototypePool { start, end, free }
    }

    /// `bytes` of pool, or `None` when paged pool is exhausted.
    pub fn allocate(&mut self, bytes: u64) -> Option<u64> {
        self.allocate_avoiding(bytes, |_| false)
    }

    /// `allocate`, first fit, but never in a page for which `avoid` is true:
    /// a prototype page that is out of the working set takes no new prototype
    /// PTEs, since its frame or slot, not the arrays, holds that page's PTEs.
    pub fn allocate_avoiding(&mut self, bytes: u64, avoid: impl Fn(u64) -> bool) -> Option<u64> {
        let want = bytes.max(1).div_ceil(POOL_ALIGN) * POOL_ALIGN;
        let found = self.free.iter().find_map(|(&at, &len)| {
            let mut cand = at;
            while cand.checked_add(want)? <= at + len {
                let bad = (cand / PAGE_SIZE * PAGE_SIZE..cand + want)
                    .step_by(PAGE_SIZE as usize)
                    .find(|&p| avoid(p));
                match bad {
                    None => return Some((at, len, cand)),
                    Some(p) => cand = p + PAGE_SIZE,
                }
            }
            None
        });
        let (at, len, cand) = found?;
        self.free.remove(&at);
        if cand > at {
            self.free.insert(at, cand - at);
        }
        if at + len > cand + want {
            self.free.insert(cand + want, at + len - cand - want);
        }
        Some(cand)
    }

    /// Takes the free range `[at, at + len)` (inside one free run) out of the
    /// free map: a prototype page no subsection uses any more stays claimed
    /// until its System PTE is deleted. False if it is not wholly free.
    pub fn carve(&mut self, at: u64, len: u64) -> bool {
        let Some((&start, &flen)) = self.free.range(..=at).next_back() else {
            return false;
        };
        if start + flen < at + len {
            return false;
        }
        self.free.remove(&start);
        if at > start {
            self.free.insert(start, at - start);
        }
        if start + flen > at + len {
            self.free.insert(at + len, start + flen - at - len);
        }
        true
    }

    /// Gives back a range from `allocate`, merging it with free neighbours.
    pub fn release(&mut self, at: u64, bytes: u64) {
        let mut start = at;
        let mut len = bytes.max(1).div_ceil(POOL_ALIGN) * POOL_ALIGN;
        debug_assert!(start >= self.start && start + len <= self.end);
        if let Some((&prev, &plen)) = self.free.range(..start).next_back()
            && prev + plen == start
        {
            self.free.remove(&prev);
            start = prev;
            len += plen;
        }
        if let Some(&nlen) = self.free.get(&(start + len)) {
            self.free.remove(&(start + len));
            len += nlen;
        }
        self.free.insert(start, len);
    }

    /// `pages` whole pages for the executive's paged pool, page aligned, taken
    /// from the top of the range while prototype PTE arrays are taken from the
    /// bottom: one free map for both, so pool pages and prototype PTEs never
    /// share an address (in NT prototype PTEs are paged pool allocations).
    /// `None` when no free run holds them.
    pub fn claim_pages(&mut self, pages: u64) -> Option<u64> {
        let want = pages.checked_mul(PAGE_SIZE)?;
        let (at, len, base) = self.free.iter().rev().find_map(|(&at, &len)| {
            let top = (at + len) / PAGE_SIZE * PAGE_SIZE;
            let base = top.checked_sub(want)?;
            (base >= at && want > 0).then_some((at, len, base))
        })?;
        self.free.remove(&at);
        if base > at {
            self.free.insert(at, base - at);
        }
        if at + len > base + want {
            self.free.insert(base + want, at + len - base - want);
        }
        Some(base)
    }

    /// Gives back pages from `claim_pages`.
    pub fn release_pages(&mut self, at: u64, pages: u64) {
        self.release(at, pages * PAGE_SIZE);
    }
}

/// Every control area and subsection of the machine.
#[derive(Debug)]
pub struct Segments {
    pub control_areas: BTreeMap<ControlAreaId, ControlArea>,
    /// By subsection number (the value subsection PTEs carry); 0 is never used.
    pub subsections: Vec<Option<Subsection>>,
    /// Subsection bases, for finding a prototype PTE by address.
    by_base: BTreeMap<u64, u32>,
    pub pool: PrototypePool,
    /// The pages of paged pool holding prototype PTEs, by address.
    pages: BTreeMap<u64, ProtoPage>,
    /// How many of `pages` are `Absent` (0: reads need no page lookup).
    absent: usize,
    /// Pages with work for the System process's side (`take_pending`): to
    /// be backed, deleted, or faulted back for their orphans.
    pending: BTreeSet<u64>,
    next_id: u32,
    pte_size: u64,
}

impl Segments {
    pub fn new(pool_start: u64, pool_end: u64, pte_size: u64) -> Segments {
        Segments {
            control_areas: BTreeMap::new(),
            subsections: vec![None],
            by_base: BTreeMap::new(),
            pool: PrototypePool::new(pool_start, pool_end),
            pages: BTreeMap::new(),
            absent: 0,
            pending: BTreeSet::new(),
            next_id: 1,
            pte_size,
        }
    }

    pub fn pte_size(&self) -> u64 {
        self.pte_size
    }

    /// A new control area with no subsections yet.
    /// The control area of the host file `id`, if it has one (one per file).
    pub fn file_control_area(&self, id: FileId) -> Option<ControlAreaId> {
        self.control_areas
            .values()
            .find(|a| matches!(&a.backing, Backing::File { id: i, .. } if *i == id))
            .map(|a| a.id)
    }

    pub fn add_control_area(&mut self, backing: Backing, protection: Protection) -> ControlAreaId {
        let id = ControlAreaId(self.next_id);
        self.next_id += 1;
        self.control_areas.insert(
            id,
            ControlArea {
                id,
                backing,
                subsections: Vec::new(),
                total_ptes: 0,
                size: 0,
                committed_pages: 0,
                protection,
                section_references: 0,
                mapped_views: 0,
                user_references: 0,
                writable_user_references: 0,
                system_cache_views: 0,
                cache_references: 0,
                pfn_references: 0,
                modified_write_count: 0,
                no_modified_writing: false,
                clone_refs: Vec::new(),
            },
        );
        id
    }

    /// Appends a subsection of `count` prototype PTEs, all `initial`, mapping the
    /// file from page `file_page`. `None` (nothing changed) when paged pool or
    /// subsection numbers run out.
    pub fn add_subsection(
        &mut self,
        ca: ControlAreaId,
        count: u64,
        initial: Mmpte,
        file_page: u64,
        max_subsection: u32,
    ) -> Option<u32> {
        let number = match self.subsections.iter().skip(1).position(Option::is_none) {
            Some(i) => (i + 1) as u32,
            None if (self.subsections.len() as u64) <= max_subsection as u64 => {
                self.subsections.push(None);
                (self.subsections.len() - 1) as u32
            }
            None => return None,
        };
        let area = self.control_areas.get(&ca)?;
        let first_index = area.total_ptes;
        let bytes = count.max(1).checked_mul(self.pte_size)?;
        let pages = &self.pages;
        let base = self.pool.allocate_avoiding(bytes, |p| {
            pages
                .get(&p)
                .is_some_and(|g| g.state == ProtoPageState::Absent)
        })?;
        // Paged pool bounds the array; a host that still cannot hold it fails
        // like an exhausted pool instead of aborting the daemon.
        let mut ptes = Vec::new();
        let len = usize::try_from(count).ok();
        if len.is_none_or(|n| ptes.try_reserve_exact(n).is_err()) {
            self.pool.release(base, bytes);
            return None;
        }
        ptes.resize(count as usize, initial);
        for page in page_span(base, bytes) {
            let p = self.pages.entry(page).or_insert(ProtoPage {
                users: 0,
                state: ProtoPageState::Unbacked,
                orphans: Vec::new(),
                slots: 0,
            });
            p.users += 1;
            if p.state == ProtoPageState::Unbacked {
                self.pending.insert(page);
            }
        }
        self.subsections[number as usize] = Some(Subsection {
            control_area: ca,
            first_index,
            base,
            ptes,
            file_page,
        });
        self.by_base.insert(base, number);
        let area = self.control_areas.get_mut(&ca)?;
        area.subsections.push(number);
        area.total_ptes += count;
        if area.is_clone() {
            area.clone_refs.resize(area.total_ptes as usize, 0);
        }
        Some(number)
    }

    /// Removes a control area and its subsections, giving their pool back. The
    /// caller has released every page and slot its prototype PTEs named,
    /// except those in absent pages: for a pagefile-backed area those runs
    /// become the page's orphans. A backed page no subsection uses any more
    /// stays claimed (`dying_pages`) until its System PTE is deleted.
    pub fn remove_control_area(&mut self, ca: ControlAreaId) -> Option<ControlArea> {
        let area = self.control_areas.remove(&ca)?;
        let orphaning = matches!(area.backing, Backing::PagingFile);
        for &n in &area.subsections {
            if let Some(s) = self.subsections.get_mut(n as usize).and_then(Option::take) {
                self.by_base.remove(&s.base);
                let bytes = (s.ptes.len() as u64).max(1) * self.pte_size;
                self.pool.release(s.base, bytes);
                let end = s.base + s.ptes.len() as u64 * self.pte_size;
                for page in page_span(s.base, bytes) {
                    self.leave_page(page, orphaning.then_some((s.base, end)));
                }
            }
        }
        Some(area)
    }

    pub fn control_area(&self, ca: ControlAreaId) -> Option<&ControlArea> {
        self.control_areas.get(&ca)
    }

    pub fn control_area_mut(&mut self, ca: ControlAreaId) -> Option<&mut ControlArea> {
        self.control_areas.get_mut(&ca)
    }

    pub fn subsection(&self, n: u32) -> Option<&Subsection> {
        self.subsections.get(n as usize)?.as_ref()
    }

    /// The prototype PTE with segment-wide `index` in control area `ca`.
    pub fn locate(&self, ca: ControlAreaId, index: u64) -> Option<ProtoLoc> {
        let area = self.control_areas.get(&ca)?;
        // An area's subsections are appended in index order, each starting
        // where the last ended (`add_subsection`), so a binary search finds
        // the one holding `index`: a file the cache grew 256 KB at a time
        // has one per view (512 for 128 MB), and every fault and read-ahead
        // page looks one up under the PFN lock.
        let first_index = |n: u32| self.subsection(n).map_or(u64::MAX, |s| s.first_index);
        let after = area
            .subsections
            .partition_point(|&n| first_index(n) <= index);
        let n = *area.subsections.get(after.checked_sub(1)?)?;
        let s = self.subsection(n)?;
        (index < s.first_index + s.ptes.len() as u64).then(|| ProtoLoc {
            subsection: n,
            slot: (index - s.first_index) as usize,
        })
    }

    /// `locate(ca, index)` for a walk over consecutive indexes: `prev` is
    /// where `index - 1` was found, and while `index` lies in the same
    /// subsection it is the next slot, with no search.
    pub fn locate_next(
        &self,
        ca: ControlAreaId,
        index: u64,
        prev: Option<ProtoLoc>,
    ) -> Option<ProtoLoc> {
        if let Some(p) = prev
            && self
                .subsection(p.subsection)
                .is_some_and(|s| p.slot + 1 < s.ptes.len())
        {
            return Some(ProtoLoc {
                subsection: p.subsection,
                slot: p.slot + 1,
            });
        }
        self.locate(ca, index)
    }

    /// The prototype PTE at virtual address `address`, if it is one.
    pub fn locate_address(&self, address: PteAddress) -> Option<ProtoLoc> {
        let (&base, &n) = self.by_base.range(..=address.0).next_back()?;
        let s = self.subsection(n)?;
        let offset = address.0 - base;
        if !offset.is_multiple_of(self.pte_size) {
            return None;
        }
        let slot = (offset / self.pte_size) as usize;
        (slot < s.ptes.len()).then_some(ProtoLoc {
            subsection: n,
            slot,
        })
    }

    /// The prototype PTE at `at`. Its page must not be absent (a caller that
    /// may meet one checks `is_absent` or uses `try_read`).
    pub fn read(&self, at: ProtoLoc) -> Mmpte {
        debug_assert!(!self.is_absent(at), "read of a paged-out prototype PTE");
        self.read_unchecked(at)
    }

    fn read_unchecked(&self, at: ProtoLoc) -> Mmpte {
        self.subsection(at.subsection)
            .and_then(|s| s.ptes.get(at.slot).copied())
            .unwrap_or(Mmpte::ZERO)
    }

    /// Sets the prototype PTE at `at`; its page must not be absent.
    pub fn write(&mut self, at: ProtoLoc, raw: Mmpte) {
        debug_assert!(!self.is_absent(at), "write of a paged-out prototype PTE");
        if let Some(p) = self
            .subsections
            .get_mut(at.subsection as usize)
            .and_then(Option::as_mut)
            .and_then(|s| s.ptes.get_mut(at.slot))
        {
            *p = raw;
        }
    }

    /// The virtual address of a prototype PTE (what PteAddress and prototype
    /// pointers hold).
    pub fn address(&self, at: ProtoLoc) -> PteAddress {
        PteAddress(
            self.subsection(at.subsection)
                .map_or(0, |s| s.base + at.slot as u64 * self.pte_size),
        )
    }

    /// Segment-wide index of a prototype PTE.
    pub fn index(&self, at: ProtoLoc) -> u64 {
        self.subsection(at.subsection)
            .map_or(0, |s| s.first_index + at.slot as u64)
    }

    /// The control area a prototype PTE belongs to.
    pub fn owner(&self, at: ProtoLoc) -> Option<ControlAreaId> {
        self.subsection(at.subsection).map(|s| s.control_area)
    }

    /// Byte offset in the file of the page behind a prototype PTE.
    pub fn file_offset(&self, at: ProtoLoc) -> u64 {
        self.subsection(at.subsection)
            .map_or(0, |s| (s.file_page + at.slot as u64) * PAGE_SIZE)
    }

    /// Every prototype PTE of a control area, in index order.
    pub fn locations(&self, ca: ControlAreaId) -> Vec<ProtoLoc> {
        let Some(area) = self.control_areas.get(&ca) else {
            return Vec::new();
        };
        area.subsections
            .iter()
            .filter_map(|&n| Some((n, self.subsection(n)?.ptes.len())))
            .flat_map(|(n, len)| {
                (0..len).map(move |slot| ProtoLoc {
                    subsection: n,
                    slot,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_and_merges() {
        let mut p = PrototypePool::new(0x1000, 0x2000);
        let a = p.allocate(100).unwrap();
        let b = p.allocate(100).unwrap();
        assert_eq!(a, 0x1000);
        assert_eq!(b, 0x1080);
        p.release(a, 100);
        p.release(b, 100);
        assert_eq!(p.allocate(0x1000), Some(0x1000), "ranges merged back whole");
        assert_eq!(p.allocate(1), None);
    }

    #[test]
    fn addresses_locate_their_prototype_ptes() {
        let mut s = Segments::new(0xE100_0000, 0xE800_0000, 4);
        let ca = s.add_control_area(Backing::PagingFile, Protection::READWRITE);
        let n1 = s.add_subsection(ca, 3, Mmpte(0x80), 0, 1 << 20).unwrap();
        let n2 = s.add_subsection(ca, 2, Mmpte(0x80), 3, 1 << 20).unwrap();
        let at = s.locate(ca, 4).unwrap();
        assert_eq!(
            at,
            ProtoLoc {
                subsection: n2,
                slot: 1
            }
        );
        assert_eq!(s.locate_address(s.address(at)), Some(at));
        assert_eq!(s.index(at), 4);
        assert_eq!(s.locate(ca, 2).unwrap().subsection, n1);
        assert_eq!(s.locate(ca, 5), None);
        assert_eq!(s.locate_address(PteAddress(s.address(at).0 + 1)), None);
        s.remove_control_area(ca);
        assert_eq!(s.locate_address(PteAddress(0xE100_0000)), None);
    }

    /// A file grown a piece at a time (the cache's 256 KB steps) has many
    /// subsections of different sizes, interleaved in numbering with another
    /// area's: every index finds its own, past the end none.
    #[test]
    fn every_index_of_many_subsections_is_located() {
        let mut s = Segments::new(0xE100_0000, 0xE800_0000, 4);
        let ca = s.add_control_area(Backing::PagingFile, Protection::READWRITE);
        let other = s.add_control_area(Backing::PagingFile, Protection::READWRITE);
        let mut expected = Vec::new();
        for k in 0..40u64 {
            let count = 1 + k % 5;
            let n = s
                .add_subsection(ca, count, Mmpte(0x80), 0, 1 << 20)
                .unwrap();
            s.add_subsection(other, 2, Mmpte(0x80), 0, 1 << 20).unwrap();
            expected.extend((0..count as usize).map(|slot| ProtoLoc {
                subsection: n,
                slot,
            }));
        }
        let mut prev = None;
        for (index, &at) in expected.iter().enumerate() {
            assert_eq!(s.locate(ca, index as u64), Some(at), "index {index}");
            assert_eq!(s.index(at), index as u64);
            // The walk's shortcut finds the same, across subsection ends.
            assert_eq!(
                s.locate_next(ca, index as u64, prev),
                Some(at),
                "index {index}"
            );
            prev = Some(at);
        }
        assert_eq!(s.locate(ca, expected.len() as u64), None);
        assert_eq!(s.locate_next(ca, expected.len() as u64, prev), None);
        assert_eq!(s.locate(other, 80), None);
        assert_eq!(s.locate(other, 79).map(|at| s.index(at)), Some(79));
    }
}
