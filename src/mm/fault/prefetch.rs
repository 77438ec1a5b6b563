//! Reading file pages ahead of need (the cache manager's read-ahead, and the
//! neighbours a hard fault on a mapped file reads with its page):
//! the pages of a file range that are not in memory are read in runs of
//! consecutive pages, one host read per run of at most 64 KB, and placed on
//! the standby list in transition, in no working set.
//!
//! Read-ahead then makes the pages valid in the system cache's views
//! (`cache/read_ahead.rs`, WRK's MmCheckCachedPageState through the view
//! CcPerformReadAhead maps), so its copy read takes no fault; a hard fault's
//! neighbours stay on standby until touched, as WRK's cluster pages do.
//!
//! While a run is read its pages are in transition with ReadInProgress, so a
//! process faulting on one of them waits for the read (a collided fault), as
//! it would for a hard fault's read. Frames come only from the free, zeroed
//! and standby lists: read-ahead never trims or writes to get pages.

use std::sync::Arc;

use crate::mm::base::types::{Mmpte, Pfn};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Machine, PageNeed, PfnState};
use crate::mm::segment::{Backing, ControlAreaId, ProtoLoc};

/// The most pages one read-ahead I/O reads: 64 KB.
pub const MAX_RUN_PAGES: u64 = 16;

/// What a prefetch did: pages read, and host reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Prefetched {
    pub pages: u64,
    pub ios: u64,
}

/// One page of a run being read.
pub(super) struct RunPage {
    pub(super) at: ProtoLoc,
    pub(super) pfn: Pfn,
    pub(super) original: Mmpte,
}

/// Reads the pages of control area `ca` with indexes `first..first + pages`
/// that are not in memory.
pub fn prefetch(m: &Machine, ca: ControlAreaId, first: u64, pages: u64) -> Prefetched {
    let mut done = Prefetched::default();
    let mut index = first;
    let end = first + pages;
    while index < end {
        let Some((file, offset, run, next)) = start_run(m, ca, index, end) else {
            break;
        };
        index = next;
        if run.is_empty() {
            continue;
        }
        let frames: Vec<Pfn> = run.iter().map(|p| p.pfn).collect();
        let ok = m.phys.read_file(&file, offset, &frames).is_ok();
        finish_run(m, ca, &run, ok);
        if ok {
            done.pages += run.len() as u64;
            done.ios += 1;
        }
    }
    done
}

/// From `index`, skips pages in memory and takes the next run of pages that
/// are not (subsection PTEs, consecutive in one subsection, at most 64 KB):
/// frames allocated, prototype PTEs in transition with ReadInProgress.
/// Returns the file, the run's offset, the run and where to go on; `None` to
/// stop (no frame, no such page, not a file).
fn start_run(
    m: &Machine,
    ca: ControlAreaId,
    mut index: u64,
    end: u64,
) -> Option<(Arc<std::fs::File>, u64, Vec<RunPage>, u64)> {
    let mut st = m.pfn_lock();
    let file = match &st.segments.control_area(ca)?.backing {
        Backing::File { file, .. } => file.clone(),
        _ => return None,
    };
    // Pages in memory before the run are skipped; a paged-out page of
    // prototype PTEs stops it all (read-ahead is a hint, not worth a System
    // fault for).
    let mut prev = None;
    while index < end {
        let at = st.segments.locate_next(ca, index, prev)?;
        match st.segments.try_read(at) {
            Some(raw) if !not_in_memory(m, raw) => index += 1,
            _ => break,
        }
        prev = Some(at);
    }
    // The run's pages first, then their frames: see `ascending_frames`.
    let wanted = absent_run(m, &st, ca, index..end, MAX_RUN_PAGES);
    // Out of frames: the run is what got one; the rest is read later.
    let run = take_frames(m, &mut st, wanted);
    index += run.len() as u64;
    if run.is_empty() && index < end {
        return None; // no frame for even one page
    }
    let offset = run.first().map_or(0, |p| st.segments.file_offset(p.at));
    Some((file, offset, run, index))
}

/// Whether a prototype PTE says its page is in no frame and no paging file:
/// only in the file (a subsection PTE), so a read may bring it.
fn not_in_memory(m: &Machine, raw: Mmpte) -> bool {
    matches!(m.fmt.decode_prototype(raw), PteState::Subsection { .. })
}

/// The pages of `indexes` (at most `limit`) from its first on that are only
/// in the file (`not_in_memory`) and follow each other in one subsection,
/// with their prototype PTEs' values: one host read's worth. Stops at the
/// first page in memory, in another subsection or past a gap, or whose
/// prototype PTEs' page is paged out.
fn absent_run(
    m: &Machine,
    st: &PfnState,
    ca: ControlAreaId,
    indexes: std::ops::Range<u64>,
    limit: u64,
) -> Vec<(ProtoLoc, Mmpte)> {
    let mut run: Vec<(ProtoLoc, Mmpte)> = Vec::new();
    for index in indexes {
        if run.len() as u64 == limit {
            break;
        }
        let Some(at) = st
            .segments
            .locate_next(ca, index, run.last().map(|&(p, _)| p))
        else {
            break;
        };
        let Some(raw) = st.segments.try_read(at) else {
            break;
        };
        let follows = (run.last())
            .is_none_or(|(p, _)| p.subsection == at.subsection && p.slot + 1 == at.slot);
        if !follows || !not_in_memory(m, raw) {
            break;
        }
        run.push((at, raw));
    }
    run
}

/// Gives each of `pages` (prototype PTEs not in memory, with their values)
/// a frame being read (`take_frame`), frames from `ascending_frames`; stops
/// short when no frame is left.
fn take_frames(m: &Machine, st: &mut PfnState, pages: Vec<(ProtoLoc, Mmpte)>) -> Vec<RunPage> {
    let frames = ascending_frames(m, st, pages.len(), PageNeed::Any);
    pages
        .into_iter()
        .zip(frames)
        .map(|((at, original), pfn)| {
            take_frame(m, st, at, pfn, original);
            RunPage { at, pfn, original }
        })
        .collect()
}

/// Up to `count` frames for one run of pages (a read, or a write's zeroed
/// pages), taken from the lists in their order and handed out lowest first.
/// NT gives the consecutive pages of a read consecutive page colors
/// (MiRemoveAnyPage with the next color), so neighbouring pages sit in
/// neighbouring physical memory; mmfs has no color lists, and the same order
/// within a run lets the host's copies into and out of the frames stream
/// forward (the zeroed list, LIFO, hands out frames highest first).
fn ascending_frames(m: &Machine, st: &mut PfnState, count: usize, need: PageNeed) -> Vec<Pfn> {
    let mut frames: Vec<Pfn> = Vec::with_capacity(count);
    while frames.len() < count {
        let Some(page) = m.allocate_locked(st, need) else {
            break;
        };
        frames.push(page.pfn);
    }
    frames.sort_unstable();
    frames
}

/// Makes `pfn` the page of prototype PTE `at`, being read.
pub(super) fn take_frame(m: &Machine, st: &mut PfnState, at: ProtoLoc, pfn: Pfn, original: Mmpte) {
    m.activate_proto_locked(st, pfn, at, original);
    st.db.set_reference_count(pfn, 1);
    st.db.set_read_in_progress(pfn, true);
    st.db.set_modified(pfn, false);
    let protection = m.fmt.protection_of_original(original);
    st.segments
        .write(at, m.fmt.encode(&PteState::Transition { pfn, protection }));
}

/// Completes a run under the PFN lock (its bytes were read into its frames):
/// the pages go onto standby (unless a fault that waited for the read has
/// mapped one meanwhile); after a failed read the prototype PTEs get their
/// old values back and the frames are freed.
pub(super) fn finish_run(m: &Machine, ca: ControlAreaId, run: &[RunPage], ok: bool) {
    let mut st = m.pfn_lock();
    // The control area went while the pages were read (its deletion marked
    // them deleted): they are freed as they are placed.
    let gone = st.segments.control_area(ca).is_none();
    for p in run {
        st.db.set_read_in_progress(p.pfn, false);
        if !ok && !gone {
            st.segments.write(p.at, p.original);
            if let Some(area) = st.segments.control_area_mut(ca) {
                area.pfn_references -= 1;
            }
            st.db.set_reference_count(p.pfn, 0);
            m.free_page_locked(&mut st, p.pfn);
            continue;
        }
        if st.db.decrement_reference(p.pfn) == 0 && st.db.share_count(p.pfn) == 0 {
            m.place_unreferenced_proto_locked(&mut st, p.pfn);
        }
    }
}

/// Pages a copy write will fill without reading them first (NT's
/// MmCopyToCachedPage): for each index in `pages` whose prototype PTE is not
/// in memory (a subsection PTE), a zeroed frame becomes the page, on the
/// standby list, clean: a page the write covers whole, or one wholly past
/// the file's old end, whose bytes on disk are zeros or about to be replaced.
/// Returns how many were made. Stops quietly when no frame is free (the
/// copy's fault then reads the page as usual).
pub fn zero_fill(m: &Machine, ca: ControlAreaId, pages: impl Iterator<Item = u64>) -> u64 {
    let mut st = m.pfn_lock();
    let mut absent: Vec<(ProtoLoc, Mmpte)> = Vec::new();
    for index in pages {
        let Some(at) = st.segments.locate(ca, index) else {
            continue;
        };
        // A paged-out page of prototype PTEs is left to the copy's fault.
        let Some(raw) = st.segments.try_read(at) else {
            continue;
        };
        if not_in_memory(m, raw) {
            absent.push((at, raw));
        }
    }
    let frames = ascending_frames(m, &mut st, absent.len(), PageNeed::Zeroed);
    let made = frames.len() as u64;
    for ((at, raw), pfn) in absent.into_iter().zip(frames) {
        take_frame(m, &mut st, at, pfn, raw);
        st.db.set_read_in_progress(pfn, false);
        st.db.decrement_reference(pfn);
        m.place_unreferenced_proto_locked(&mut st, pfn);
    }
    made
}

/// The pages a hard fault on page `index` of file control area `ca` (at
/// `at`) reads with it (WRK MiResolveMappedFileFault: MmDataClusterSize
/// pages from the fault on): up to `wanted` following pages of the same
/// subsection that are not in memory, each given a frame and put in
/// transition with ReadInProgress. Stops at the first page in memory, the
/// subsection's end, or when no frame is left. The caller holds the PFN lock
/// and reads them with the faulting page in one read, then calls
/// `finish_run`.
pub(super) fn take_cluster(
    m: &Machine,
    st: &mut PfnState,
    ca: ControlAreaId,
    index: u64,
    at: ProtoLoc,
    wanted: u64,
) -> Vec<RunPage> {
    let mut pages = absent_run(m, st, ca, index + 1..index + 1 + wanted, wanted);
    // The cluster goes on from the faulting page, in its subsection.
    let follows = |p: &ProtoLoc| p.subsection == at.subsection && p.slot == at.slot + 1;
    if !pages.first().is_some_and(|(p, _)| follows(p)) {
        pages.clear();
    }
    take_frames(m, st, pages)
}
