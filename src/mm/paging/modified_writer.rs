//! The modified page writer (MiModifiedPageWriter): writes modified private pages
//! to the paging files in clusters and moves them to standby.
//!
//! One cluster write, as in WRK:
//!
//! 1. Under the PFN lock: take up to 16 pagefile-bound pages from the head of the
//!    modified list and a run of as many consecutive paging-file slots; each page
//!    leaves the list (location Transition), gains a reference for the I/O, gets
//!    WriteInProgress, and loses Modified (so a write to it meanwhile shows).
//! 2. Without the PFN lock: the frames are copied straight into the paging
//!    file (its mapping, or a `pwrite`), as NT's IoAsynchronousPageWrite
//!    hands the disk an MDL of the frames themselves (issue 18: no bounce
//!    buffer). The caller's own locks, if any, stay held; the `pagefiles`
//!    guard is dropped first. A fault may take a page back meanwhile (its
//!    transition PTE names the frame) and even write it, as on NT while the
//!    DMA reads it: the write sets the PTE's Dirty bit, so the page is
//!    modified again at the latest when it is trimmed, and the slot's copy,
//!    torn or not, is released then and never read.
//! 3. Under the PFN lock again, per page: drop the I/O reference. On success the
//!    OriginalPte names the slot, and an unreferenced page goes to the tail of
//!    standby — unless it was dirtied meanwhile (back to modified, slot released).
//!    On failure (an I/O error, the host disk full) the slot is released and the
//!    page goes back on the modified list with nothing lost; `pagefile_write_errors`
//!    counts the failed writes. A page deleted meanwhile (freed, process gone) is
//!    freed now.
//!
//! The owner's transition PTE never changes: it names the frame throughout, so a
//! fault during the write is an ordinary soft fault.
//!
//! A cluster is the modified list's order, as in WRK's MiGatherPagefilePages: it
//! takes pages from the head of the list and gives them consecutive slots, and
//! looks at no neighbouring PTE (MiGatherMappedPages does that, over prototype
//! PTEs, for mapped files). So pages that left their working set in address
//! order get slots in address order, which a hard fault's read clustering needs;
//! emptying a working set keeps that order across trims (the free entry list
//! is rebuilt lowest first, as MiRemoveWorkingSetPages does).

use crate::mm::base::counters::{add, bump};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::Pfn;
use crate::mm::base::wakeups::SystemThread;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Injected, Machine, PAGEFILE_GROWTH_PAGES, PfnState};
use crate::mm::pagefile::SlotRun;
use crate::mm::pfn::PageLocation;

/// Pages per cluster write (WRK: MM_MAXIMUM_WRITE_CLUSTER, 64 KB).
pub const WRITE_CLUSTER: u32 = 16;

/// What one cluster write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterOutcome {
    pub written: u64,
    pub failed: u64,
}

pub(crate) struct Cluster {
    pages: Vec<Pfn>,
    run: SlotRun,
}

pub(crate) enum Gather {
    Empty,
    NoSlots,
    Cluster(Cluster),
}

/// Writes one cluster of modified pages (growing a paging file if every slot is
/// taken). Call without the PFN, commit or `pagefiles` lock: this takes the PFN
/// lock twice and does the I/O between. Locks the caller holds (an address
/// space, for an inline write) are held across the write.
pub fn write_modified_cluster(m: &Machine) -> ClusterOutcome {
    let mut grown = false;
    loop {
        let gathered = {
            let mut st = m.pfn_lock();
            gather_cluster_locked(m, &mut st)
        };
        match gathered {
            Gather::Empty => return ClusterOutcome::default(),
            Gather::NoSlots if !grown => {
                // Every slot is taken at the current sizes: grow toward the
                // maximum (the commit limit rises with it), then try again.
                grown = true;
                let added = m.pagefiles_lock().extend(PAGEFILE_GROWTH_PAGES);
                if added == 0 {
                    return ClusterOutcome::default();
                }
                m.refresh_commit_limit();
                crate::mm_event!(m, "pagefile.extend", "pages={added}");
            }
            Gather::NoSlots => return ClusterOutcome::default(),
            Gather::Cluster(c) => return write_cluster(m, c),
        }
    }
}

pub(crate) fn gather_cluster_locked(m: &Machine, st: &mut PfnState) -> Gather {
    // Mapped-file pages on the list are the mapped page writer's.
    let bound: Vec<Pfn> = st
        .db
        .iter_list(PageLocation::Modified)
        .filter(|&p| !m.is_mapped_file_page_locked(st, p))
        .take(WRITE_CLUSTER as usize)
        .collect();
    if bound.is_empty() {
        return Gather::Empty;
    }
    let want = bound.len() as u32;
    let Some(run) = m.pagefiles_lock().allocate(want) else {
        return Gather::NoSlots;
    };
    let pages: Vec<Pfn> = bound.into_iter().take(run.count as usize).collect();
    for &pfn in &pages {
        st.db.unlink(pfn);
        st.db.increment_reference(pfn);
        st.db.set_write_in_progress(pfn, true);
        st.db.set_modified(pfn, false);
    }
    // The run is at most `want`, which is at most the list's length.
    debug_assert_eq!(pages.len() as u32, run.count);
    st.slots_in_flight += run.count as u64;
    Gather::Cluster(Cluster { pages, run })
}

pub(crate) fn write_cluster(m: &Machine, c: Cluster) -> ClusterOutcome {
    // A statement of its own: the `pagefiles` guard drops before the I/O.
    let io = m.pagefiles_lock().io(c.run.file);
    let result = match io {
        _ if Injected::take(&m.injected.pagefile_writes) => {
            Err(std::io::Error::from_raw_os_error(libc::EIO))
        }
        // The frames stay put: WriteInProgress and the I/O's reference.
        Some(io) => io.write_frames(c.run.first, &c.pages, &m.phys),
        None => Err(std::io::Error::other("the paging file is gone")),
    };
    let mut st = m.pfn_lock();
    st.slots_in_flight -= c.run.count as u64;
    let ok = result.is_ok();
    for (i, &pfn) in c.pages.iter().enumerate() {
        complete_page_write_locked(m, &mut st, pfn, c.run.file, c.run.first + i as u32, ok);
    }
    drop(st);
    let n = c.pages.len() as u64;
    let failures = &m.pagefile_write_failures_in_a_row;
    match result {
        Ok(()) => {
            let failed = failures.swap(0, std::sync::atomic::Ordering::Relaxed);
            if failed > 0 {
                log::warn!(
                    "paging file {} written again after {failed} failed cluster writes",
                    c.run.file
                );
            }
            add(&m.counters.pages_written_to_pagefile, n);
            bump(&m.counters.pagefile_write_ios);
            crate::mm_event!(
                m,
                "pagefile.write",
                "file={} slot={:#x} pages={n}",
                c.run.file,
                c.run.first
            );
            ClusterOutcome {
                written: n,
                failed: 0,
            }
        }
        Err(e) => {
            bump(&m.counters.pagefile_write_errors);
            // One line per run of failures: a full disk fails every write until
            // space is freed, and the writer keeps trying.
            if failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                log::warn!(
                    "paging file {} write of {n} pages at slot {:#x} failed: {e}; the pages stay modified (further failures are counted in pagefile_write_errors)",
                    c.run.file,
                    c.run.first
                );
            }
            let error = e.raw_os_error().map_or("other".to_string(), |code| {
                format!("{:?}", nix::errno::Errno::from_raw(code))
            });
            crate::mm_event!(
                m,
                "pagefile.write-error",
                "file={} slot={:#x} pages={n} error={error}",
                c.run.file,
                c.run.first
            );
            ClusterOutcome {
                written: 0,
                failed: n,
            }
        }
    }
}

/// Step 3 for one page (see the module docs).
fn complete_page_write_locked(
    m: &Machine,
    st: &mut PfnState,
    pfn: Pfn,
    file: u8,
    slot: u32,
    ok: bool,
) {
    st.db.set_write_in_progress(pfn, false);
    let references = st.db.decrement_reference(pfn);
    let dirtied = st.db.modified(pfn);
    if ok && !dirtied && !st.db.deleted(pfn) {
        let protection = match m.fmt.decode(st.db.original_pte(pfn)) {
            PteState::DemandZero { protection } | PteState::PageFile { protection, .. } => {
                protection
            }
            _ => Protection::READWRITE,
        };
        st.db.set_original_pte(
            pfn,
            m.fmt.encode(&PteState::PageFile {
                file,
                slot,
                protection,
            }),
        );
    } else {
        // Failed, dirtied again, or deleted: this slot holds nothing anyone
        // will read.
        m.pagefiles_lock().release(file, slot);
        if !ok {
            st.db.set_modified(pfn, true);
        }
    }
    if references > 0 {
        // Mapped again meanwhile: it stays Active; a later trim places it.
        return;
    }
    if st.db.deleted(pfn) {
        m.free_page_locked(st, pfn);
    } else if st.db.modified(pfn) {
        st.db.insert(pfn, PageLocation::Modified);
    } else {
        st.db.insert(pfn, PageLocation::Standby);
    }
}

/// Writes modified pages until the list is empty or nothing more can be
/// written (RAMMap's "Empty Modified Page List", and `flush-modified`).
pub fn flush_modified(m: &Machine) -> u64 {
    let mut total = 0;
    loop {
        let o = write_modified_cluster(m);
        if o.written == 0 {
            return total;
        }
        total += o.written;
    }
}

/// One pass of the modified page writer thread: clusters until fewer than a
/// cluster's worth of pages remain (WRK), or a write fails.
/// Mapped-file pages it finds are left to the mapped page writer, which it
/// wakes when they are the larger part of the list (WRK serves whichever
/// kind is larger each round).
pub fn modified_page_writer_pass(m: &Machine) -> u64 {
    let mut total = 0;
    while m.pfn_lock().db.list_count(PageLocation::Modified) >= WRITE_CLUSTER as u64 {
        let o = write_modified_cluster(m);
        if o.written == 0 {
            break;
        }
        total += o.written;
    }
    let mapped = {
        let st = m.pfn_lock();
        if !st.segments.control_areas.values().any(|a| a.is_file()) {
            // No mapped file: no need to look through the list.
            return total;
        }
        st.db
            .iter_list(PageLocation::Modified)
            .filter(|&p| m.is_mapped_file_page_locked(&st, p))
            .take(WRITE_CLUSTER as usize)
            .count() as u32
    };
    if mapped >= WRITE_CLUSTER {
        m.wakeups.wake(SystemThread::MappedPageWriter);
    }
    total
}
