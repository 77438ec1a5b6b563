//! The snapshot behind `processes/<name>/map.svg` (VMMap's picture of an
//! address space): each VAD with its pages in runs of reserved, committed
//! (not resident) and resident. Runs, not pages: a 1 GB reservation with no
//! page table is one run, and only the PTEs of existing page tables are read.

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pid};
use crate::mm::hw::pte::{Level, PteState};
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::process::page_tables::committed_pte;
use crate::mm::vad::{Vad, VadType};

use super::process::{VadRow, vad_row};

/// What one page of a VAD is, as VMMap counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageClass {
    /// Reserved, not committed (a zero or decommitted PTE where the VAD is
    /// not MemCommit).
    Reserved,
    /// Committed but not in the working set: demand zero, in transition, in a
    /// paging file, or behind a prototype PTE.
    Committed,
    /// Valid in the process's page tables (in its working set, or a mapped
    /// AWE or large page, which NT keeps out of the working-set list).
    Resident,
}

/// `pages` consecutive pages of one class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    pub pages: u64,
    pub class: PageClass,
}

/// One VAD and its pages, in address order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRegion {
    pub vad: VadRow,
    /// Runs covering the VAD exactly, neighbours of different classes.
    pub runs: Vec<PageRun>,
}

impl MapRegion {
    /// Pages of `class` in the region.
    pub fn pages(&self, class: PageClass) -> u64 {
        self.runs
            .iter()
            .filter(|r| r.class == class)
            .map(|r| r.pages)
            .sum()
    }
}

/// A process's address space for its picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressMap {
    pub name: String,
    pub pid: Pid,
    /// The top of user space (MM_HIGHEST_USER_ADDRESS), inclusive.
    pub highest_user_address: u64,
    pub regions: Vec<MapRegion>,
    pub working_set: u64,
    pub commit_charge: u64,
    pub page_table_pages: u64,
}

/// A page's class from its PTE (`committed_pte` is NT's
/// MiCalculatePageCommitment rule).
fn class_of(m: &Machine, raw: Mmpte, mem_commit: bool) -> PageClass {
    match m.fmt.decode(raw) {
        PteState::Valid(_) => PageClass::Resident,
        _ if committed_pte(m, raw, mem_commit) => PageClass::Committed,
        _ => PageClass::Reserved,
    }
}

/// Pages of a VAD whose class differs from what a missing PTE means there:
/// `(first page index in the VAD, pages, class)`, in any order.
type Marks = Vec<(u64, u64, PageClass)>;

/// The marks of an ordinary VAD: the PTEs of its resident page tables, then
/// those its paged-out tables saved (zero PTEs are not saved: they read as
/// missing, which is right).
fn pte_marks(m: &Machine, space: &AddressSpace, vad: &Vad, missing: PageClass) -> Marks {
    let (start, end) = (vad.start_va().0, vad.end_va().0);
    let mut marks = Vec::new();
    let mut mark = |va: u64, raw: Mmpte| {
        let class = class_of(m, raw, vad.mem_commit);
        if class != missing {
            marks.push(((va - start) / PAGE_SIZE, 1, class));
        }
    };
    space
        .tables(m)
        .for_each_entry(start, end, &mut |level, va, _, raw| {
            if level == Level::Pte {
                mark(va, raw);
            }
        });
    for (va, raw) in space.paged_tables.saved_ptes_in(m, start, end) {
        mark(va, raw);
    }
    marks
}

/// The marks of a large-page VAD: each valid large PDE's pages, resident.
fn large_page_marks(m: &Machine, space: &AddressSpace, vad: &Vad) -> Marks {
    let (start, end) = (vad.start_va().0, vad.end_va().0);
    let frames = m.fmt.large_page_size() / PAGE_SIZE;
    space
        .tables(m)
        .large_pdes(start, end)
        .into_iter()
        .filter(|(base, _, raw)| *base >= start && matches!(m.fmt.decode(*raw), PteState::Valid(_)))
        .map(|(base, _, _)| ((base - start) / PAGE_SIZE, frames, PageClass::Resident))
        .collect()
}

/// Runs covering `pages` pages: the marks, and `missing` between them.
fn runs_of(pages: u64, missing: PageClass, mut marks: Marks) -> Vec<PageRun> {
    marks.sort_unstable_by_key(|&(first, _, _)| first);
    let mut runs: Vec<PageRun> = Vec::new();
    let mut push = |n: u64, class: PageClass| match runs.last_mut() {
        _ if n == 0 => {}
        Some(last) if last.class == class => last.pages += n,
        _ => runs.push(PageRun { pages: n, class }),
    };
    let mut at = 0u64;
    for (first, n, class) in marks {
        // Marks never overlap (one PTE each, or whole large pages); clamp
        // anyway so the runs always add up to the VAD.
        let (first, last) = (first.max(at), (first + n).min(pages));
        if first >= last {
            continue;
        }
        push(first - at, missing);
        push(last - first, class);
        at = last;
    }
    push(pages - at, missing);
    runs
}

fn region(m: &Machine, space: &AddressSpace, vad: &Vad) -> MapRegion {
    let missing = if vad.mem_commit {
        PageClass::Committed
    } else {
        PageClass::Reserved
    };
    let marks = match vad.vad_type {
        VadType::LargePages => large_page_marks(m, space, vad),
        _ => pte_marks(m, space, vad, missing),
    };
    MapRegion {
        vad: vad_row(vad),
        runs: runs_of(vad.page_count(), missing, marks),
    }
}

impl Mm {
    /// `processes/<name>/map.svg`'s data. Under the process's address-space
    /// lock only: valid PTEs change only under it; a PTE the PFN lock guards
    /// (transition) may turn into a paging-file PTE meanwhile, but both are
    /// Committed, so the picture is one instant of the address space.
    pub fn address_map(&self, pid: Pid) -> MmResult<AddressMap> {
        let p = self.process(pid)?;
        let space = p.live_space()?;
        let m = &self.machine;
        Ok(AddressMap {
            name: p.name.clone(),
            pid,
            highest_user_address: m.layout.highest_user_address(),
            regions: space.vads.iter().map(|v| region(m, &space, v)).collect(),
            working_set: space.ws.len(),
            commit_charge: space.commit_charge(),
            page_table_pages: space.page_table_pages,
        })
    }
}
