//! The mapped page writer (WRK MiMappedPageWriter): modified pages of
//! file-backed sections are written to their file, not to a paging file.
//!
//! A write is a run of up to 16 pages with consecutive prototype PTEs of one
//! subsection (so consecutive file offsets), done as in the modified page
//! writer: under the PFN lock each page gets WriteInProgress, a reference for
//! the I/O, and loses Modified (a page on a list leaves it); its contents are
//! copied out. The `pwrite` happens without the PFN lock, under whatever the
//! caller holds: nothing but `SystemThreads::running` for the writer's pass,
//! an address space for `flush` and for most inline writes. Back under the PFN
//! lock the I/O reference goes; a page written again meanwhile is Modified
//! again, a failed write leaves the page modified, an unreferenced page goes to
//! standby (or back to the modified list). The prototype PTE never changes, so
//! a fault during the write is a soft fault.
//!
//! The writer runs when its five-minute timer fires (armed in `machine/prototype.rs`), when
//! `run mapped-page-writer` asks, when memory runs out (a fault writes one run
//! inline), and for NtFlushVirtualMemory (`flush`, which also writes pages still
//! valid in a process).

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::mm::base::counters::add;
use crate::mm::base::types::{PAGE_SIZE, Pfn};
use crate::mm::machine::{Injected, Machine, PfnState};
use crate::mm::pfn::PageLocation;
use crate::mm::segment::{Backing, ControlAreaId, ProtoLoc};

use super::modified_writer::{ClusterOutcome, WRITE_CLUSTER};

/// One page of a run: its prototype PTE, its frame and its file offset.
struct RunPage {
    pfn: Pfn,
    offset: u64,
}

/// Whether `pfn` (the page of a file-backed prototype PTE) is a page the writer
/// takes: modified, no I/O on it, and valid or on the modified list (or on the
/// modified-no-write list when `no_write_too`).
fn writable_page(st: &PfnState, pfn: Pfn, no_write_too: bool) -> bool {
    st.db.modified(pfn)
        && !st.db.write_in_progress(pfn)
        && !st.db.read_in_progress(pfn)
        && match st.db.location(pfn) {
            Some(PageLocation::Active | PageLocation::Modified) => true,
            Some(PageLocation::ModifiedNoWrite) => no_write_too,
            _ => false,
        }
}

/// Takes the pages of a run for writing (see the module docs) and copies their
/// contents out. Returns the file and the data.
fn start_run(
    m: &Machine,
    st: &mut PfnState,
    ca: ControlAreaId,
    pages: &[RunPage],
) -> Option<(Arc<std::fs::File>, Vec<u8>)> {
    let file = match &st.segments.control_area(ca)?.backing {
        Backing::File { file, .. } => file.clone(),
        _ => return None,
    };
    let mut data = vec![0u8; pages.len() * PAGE_SIZE as usize];
    for (i, p) in pages.iter().enumerate() {
        if st.db.location(p.pfn).is_some_and(|l| l.is_list()) {
            st.db.unlink(p.pfn);
        }
        st.db.increment_reference(p.pfn);
        st.db.set_write_in_progress(p.pfn, true);
        st.db.set_modified(p.pfn, false);
        let at = i * PAGE_SIZE as usize;
        m.phys
            .read(p.pfn, 0, &mut data[at..at + PAGE_SIZE as usize]);
    }
    if let Some(area) = st.segments.control_area_mut(ca) {
        area.modified_write_count += 1;
    }
    Some((file, data))
}

/// Writes a run's data at its file offset; the file's length is not changed
/// (the last page of a file is written only up to its end), nor are its
/// access and modification times: paging I/O is not a write by a user (the
/// file system set the modification time when the bytes were written into
/// the cache or the view, as NTFS does).
fn write_run(m: &Machine, file: &std::fs::File, offset: u64, data: &[u8]) -> std::io::Result<()> {
    if Injected::take(&m.injected.mapped_writes) {
        return Err(std::io::Error::from_raw_os_error(libc::EIO));
    }
    let meta = file.metadata()?;
    let len = meta.len();
    if offset >= len {
        return Ok(());
    }
    let n = ((len - offset) as usize).min(data.len());
    file.write_all_at(&data[..n], offset)?;
    keep_times(file, &meta);
    Ok(())
}

/// Puts back the access and modification times `meta` had.
fn keep_times(file: &std::fs::File, meta: &std::fs::Metadata) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let times = [
        libc::timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        libc::timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    ];
    // SAFETY: futimens on an open descriptor with two valid timespecs. A
    // failure (a file not ours to touch) leaves the times the write gave.
    unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) };
}

/// Completes a run under the PFN lock.
fn finish_run(m: &Machine, st: &mut PfnState, ca: ControlAreaId, pages: &[RunPage], ok: bool) {
    for p in pages {
        st.db.set_write_in_progress(p.pfn, false);
        if !ok {
            st.db.set_modified(p.pfn, true);
        }
        if st.db.decrement_reference(p.pfn) > 0 {
            // Still mapped (valid in a process) or faulted back meanwhile.
            continue;
        }
        if st.db.location(p.pfn) == Some(PageLocation::Transition) {
            m.place_unreferenced_proto_locked(st, p.pfn);
        }
    }
    if let Some(area) = st.segments.control_area_mut(ca) {
        area.modified_write_count -= 1;
    }
}

/// Writes one gathered run (the PFN lock is dropped for the I/O).
fn write_gathered(
    m: &Machine,
    mut st: std::sync::MutexGuard<'_, PfnState>,
    ca: ControlAreaId,
    pages: Vec<RunPage>,
) -> ClusterOutcome {
    let Some(first) = pages.first().map(|p| p.offset) else {
        return ClusterOutcome::default();
    };
    let Some((file, data)) = start_run(m, &mut st, ca, &pages) else {
        return ClusterOutcome::default();
    };
    drop(st);
    let result = write_run(m, &file, first, &data);
    let mut st = m.pfn_lock();
    finish_run(m, &mut st, ca, &pages, result.is_ok());
    drop(st);
    let n = pages.len() as u64;
    match result {
        Ok(()) => {
            add(&m.counters.pages_written_to_mapped_files, n);
            crate::mm_event!(m, "mapped.write", "ca={ca} offset={first:#x} pages={n}");
            ClusterOutcome {
                written: n,
                failed: 0,
            }
        }
        Err(e) => {
            log::warn!(
                "mapped file write of {n} pages at {first:#x} failed: {e}; the pages stay modified"
            );
            crate::mm_event!(
                m,
                "mapped.write-error",
                "ca={ca} offset={first:#x} pages={n}"
            );
            ClusterOutcome {
                written: 0,
                failed: n,
            }
        }
    }
}

/// The frame a prototype PTE names, if it is valid or in transition (never
/// in a paged-out page of prototype PTEs, which holds neither).
fn frame_at(m: &Machine, st: &PfnState, at: ProtoLoc) -> Option<Pfn> {
    m.fmt.pfn(st.segments.try_read(at)?)
}

/// Writes the modified pages of control area `ca` whose prototype PTEs have
/// indexes `first..=last` (valid ones too), in runs. `no_write_too` includes
/// pages on the modified-no-write list (deleting the control area); otherwise a
/// control area whose writing is disabled writes nothing.
pub fn flush_range(
    m: &Machine,
    ca: ControlAreaId,
    first: u64,
    last: u64,
    no_write_too: bool,
) -> ClusterOutcome {
    let mut total = ClusterOutcome::default();
    let mut cursor = first;
    loop {
        let st = m.pfn_lock();
        let Some(area) = st.segments.control_area(ca) else {
            return total;
        };
        if !area.is_file() || (area.no_modified_writing && !no_write_too) {
            return total;
        }
        // Walk the indexes from the cursor (not every prototype PTE each time:
        // a flush of a large view stays linear).
        let end = last.min(area.total_ptes.saturating_sub(1));
        let mut run: Vec<RunPage> = Vec::new();
        let mut prev: Option<ProtoLoc> = None;
        while cursor <= end && area.total_ptes > 0 {
            let Some(at) = st.segments.locate(ca, cursor) else {
                break;
            };
            let Some(pfn) = frame_at(m, &st, at).filter(|&p| writable_page(&st, p, no_write_too))
            else {
                if !run.is_empty() {
                    break;
                }
                cursor += 1;
                continue;
            };
            let follows =
                prev.is_none_or(|p| p.subsection == at.subsection && p.slot + 1 == at.slot);
            if !follows || run.len() as u32 >= WRITE_CLUSTER {
                break;
            }
            run.push(RunPage {
                pfn,
                offset: st.segments.file_offset(at),
            });
            prev = Some(at);
            cursor += 1;
        }
        if run.is_empty() {
            return total;
        }
        let o = write_gathered(m, st, ca, run);
        total.written += o.written;
        total.failed += o.failed;
        if o.failed > 0 {
            return total;
        }
    }
}

/// One run from the modified list: the first mapped-file page on it and the
/// modified pages that follow it in its subsection. Returns what was written.
pub fn write_mapped_cluster(m: &Machine) -> ClusterOutcome {
    let st = m.pfn_lock();
    let head = st
        .db
        .iter_list(PageLocation::Modified)
        .find(|&p| m.is_mapped_file_page_locked(&st, p));
    let Some(head) = head else {
        return ClusterOutcome::default();
    };
    let Some(at) = m.proto_of_locked(&st, head) else {
        return ClusterOutcome::default();
    };
    let Some(ca) = st.segments.owner(at) else {
        return ClusterOutcome::default();
    };
    let mut run = vec![RunPage {
        pfn: head,
        offset: st.segments.file_offset(at),
    }];
    let mut next = at;
    while (run.len() as u32) < WRITE_CLUSTER {
        next.slot += 1;
        let Some(pfn) = frame_at(m, &st, next).filter(|&p| {
            st.db.location(p) == Some(PageLocation::Modified) && writable_page(&st, p, false)
        }) else {
            break;
        };
        run.push(RunPage {
            pfn,
            offset: st.segments.file_offset(next),
        });
    }
    write_gathered(m, st, ca, run)
}

/// One pass of the mapped page writer: every mapped-file page on the modified
/// list is written (the timer is disarmed; pages that arrive later arm it
/// again). Stops at the first failed write. Returns the pages written. The
/// thread's pass (`section::delete::mapped_page_writer_pass`) then retries
/// deleting the control areas a failed write kept alive.
pub fn write_all_mapped(m: &Machine) -> u64 {
    m.mapped_write_due_ms
        .store(0, std::sync::atomic::Ordering::Release);
    let mut total = 0;
    loop {
        let o = write_mapped_cluster(m);
        if o.written == 0 {
            if o.failed > 0 {
                // Try again on the next timer.
                m.arm_mapped_write_timer();
            }
            break;
        }
        total += o.written;
    }
    total
}

/// Writing is allowed again for control area `ca`: its pages waiting on the
/// modified-no-write list move to the modified list. Returns how many.
pub fn release_modified_no_write_locked(m: &Machine, st: &mut PfnState, ca: ControlAreaId) -> u64 {
    let waiting: Vec<Pfn> = st
        .db
        .iter_list(PageLocation::ModifiedNoWrite)
        .filter(|&p| {
            m.proto_of_locked(st, p)
                .and_then(|at| st.segments.owner(at))
                == Some(ca)
        })
        .collect();
    for &pfn in &waiting {
        st.db.unlink(pfn);
        st.db.insert(pfn, PageLocation::Modified);
    }
    if !waiting.is_empty() {
        m.arm_mapped_write_timer();
    }
    waiting.len() as u64
}
