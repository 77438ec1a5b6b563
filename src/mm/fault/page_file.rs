//! The hard fault on private memory (MiResolvePageFileFault): the page is in a
//! paging file. Its slot is read into a new frame together with neighbouring
//! pages of the same page table whose slots follow on (read clustering, as
//! MiResolvePageFileFault gathers a run); the neighbours go to standby with
//! transition PTEs, so touching them next is a soft fault. The frame keeps the
//! slot in its OriginalPte: the page stays clean until written, and a clean
//! page trims straight to standby.

use std::sync::MutexGuard;

use crate::mm::base::counters::{add, bump};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{PAGE_SIZE, Pfn, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::{Level, PteState};
use crate::mm::machine::{ActivePage, Injected, Machine, PageNeed, PfnState, activate_locked};
use crate::mm::pfn::PageLocation;
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::{NewMapping, private_use};
use crate::mm::process::page_tables::pte_va;

use super::{Access, AccessFault, check_protection, count_fault, in_page, resources};

/// Pages a hard fault on private data reads at once (WRK: the data cluster, the
/// faulting page and 3 more; code would read 8).
const READ_CLUSTER: u64 = 4;

/// A page's place in the paging files: file number and slot.
#[derive(Clone, Copy, Debug)]
pub(super) struct SlotRef {
    pub file: u8,
    pub slot: u32,
}

/// One page of a read cluster: its PTE, its slot, its protection.
struct ClusterPage {
    loc: EntryLoc,
    va: Va,
    slot: u32,
    protection: Protection,
}

/// A read in flight: the faulting page's frame first, then one frame per
/// neighbour read with it, and the lowest slot of the run.
struct ClusterRead {
    frames: Vec<Pfn>,
    neighbours: Vec<ClusterPage>,
    first_slot: u32,
}

impl ClusterRead {
    /// The frames in the order of their slots (the run from `first_slot`): the
    /// read copies each slot straight into its frame, with no bounce buffer.
    fn frames_by_slot(&self, slot: u32) -> Vec<Pfn> {
        let place = |s: u32| (s - self.first_slot) as usize;
        let mut out = vec![self.frames[0]; self.frames.len()];
        debug_assert!(place(slot) < out.len());
        for (n, &f) in self.neighbours.iter().zip(&self.frames[1..]) {
            out[place(n.slot)] = f;
        }
        out
    }
}

/// The hard fault itself (see the module docs).
pub(super) fn page_file(
    m: &Machine,
    space: &mut AddressSpace,
    loc: EntryLoc,
    va: Va,
    access: Access,
    at: SlotRef,
    protection: Protection,
) -> Result<Pfn, AccessFault> {
    let SlotRef { file, slot } = at;
    check_protection(space, va, access, protection, |space, disarmed| {
        let pte = PteState::PageFile {
            file,
            slot,
            protection: disarmed,
        };
        space.tables(m).write(loc, m.fmt.encode(&pte));
        Ok(())
    })?;
    space.replace_if_at_maximum(m);
    let read = start_cluster(m, space, loc, va, at)?;
    // A statement of its own: the `pagefiles` guard drops before the I/O.
    let io = m.pagefiles_lock().io(file);
    let result = match io {
        _ if Injected::take(&m.injected.pagefile_reads) => {
            Err(std::io::Error::from_raw_os_error(libc::EIO))
        }
        // Straight into the ReadInProgress frames, which are this thread's.
        Some(io) => io.read_frames(read.first_slot, &read.frames_by_slot(slot), &m.phys),
        None => Err(std::io::Error::other("no such paging file")),
    };
    let mut st = m.pfn_lock();
    if let Err(e) = result {
        for &f in &read.frames {
            st.db.set_read_in_progress(f, false);
            m.free_page_locked(&mut st, f);
        }
        drop(st);
        log::warn!("paging file {file} read at slot {slot:#x} failed: {e}");
        crate::mm_event!(
            m,
            "pagefile.read-error",
            "pid={} va={:#x} file={file} slot={slot:#x}",
            space.pid,
            va.page_base().0
        );
        let why = format!("reading it from paging file {file} at slot {slot:#x} failed: {e}");
        return Err(in_page(va, access, why));
    }
    install_neighbours_locked(m, space, &mut st, &read, file);
    let pfn = read.frames[0];
    st.db.set_read_in_progress(pfn, false);
    let original = m.fmt.encode(&PteState::PageFile {
        file,
        slot,
        protection,
    });
    let map = NewMapping::new(loc, va, pfn, protection, access == Access::Write);
    space.install_private_locked(m, &mut st, map, original);
    if access == Access::Write {
        // Written at once: the slot's copy is stale already.
        st.db.set_modified(pfn, true);
        m.release_backing_locked(&mut st, pfn);
    }
    drop(st);
    let pages = read.frames.len() as u64;
    space.faults.hard += 1;
    count_fault(m, space);
    bump(&m.counters.hard_faults);
    add(&m.counters.pages_read_from_pagefile, pages);
    crate::mm_event!(
        m,
        "fault.hard",
        "pid={} va={:#x} pfn={:#x} file={file} slot={slot:#x} pages={pages}",
        space.pid,
        va.page_base().0,
        pfn.0
    );
    Ok(pfn)
}

/// Takes a frame for the faulting page (reclaiming if need be) and one for each
/// neighbour worth reading with it (only while frames are free: clustering
/// never reclaims), all marked ReadInProgress. The PFN lock is dropped after.
fn start_cluster(
    m: &Machine,
    space: &mut AddressSpace,
    loc: EntryLoc,
    va: Va,
    at: SlotRef,
) -> Result<ClusterRead, AccessFault> {
    let (mut st, page) = space.obtain_page(m, PageNeed::Any).map_err(resources)?;
    // Reclaiming trims only valid pages of this process, so the PTE still names
    // the same slot; the cluster is chosen after it.
    let mut neighbours = read_cluster(m, space, loc, va, at);
    let frames = cluster_frames(m, &mut st, page.pfn, neighbours.len());
    neighbours.truncate(frames.len() - 1);
    let first_slot = neighbours
        .iter()
        .map(|n| n.slot)
        .chain([at.slot])
        .min()
        .unwrap_or(at.slot);
    Ok(ClusterRead {
        frames,
        neighbours,
        first_slot,
    })
}

/// `first` and up to `wanted` more frames from the lists, all ReadInProgress.
fn cluster_frames(
    m: &Machine,
    st: &mut MutexGuard<'_, PfnState>,
    first: Pfn,
    wanted: usize,
) -> Vec<Pfn> {
    let mut frames = vec![first];
    for _ in 0..wanted {
        match m.allocate_locked(st, PageNeed::Any) {
            Some(p) => frames.push(p.pfn),
            None => break,
        }
    }
    for &f in &frames {
        st.db.set_read_in_progress(f, true);
    }
    frames
}

/// The neighbours read with the faulting page go to standby, their PTEs in
/// transition, each frame holding its slot in OriginalPte.
fn install_neighbours_locked(
    m: &Machine,
    space: &AddressSpace,
    st: &mut PfnState,
    read: &ClusterRead,
    file: u8,
) {
    for (n, &f) in read.neighbours.iter().zip(&read.frames[1..]) {
        let original = m.fmt.encode(&PteState::PageFile {
            file,
            slot: n.slot,
            protection: n.protection,
        });
        let page = ActivePage {
            // Paged pool's neighbours too (the System process's pool pages).
            use_: private_use(m, n.va),
            owner: space.slot,
            pte_address: pte_va(m, n.va),
            original_pte: original,
            share: 0,
            ws_index: 0,
        };
        activate_locked(st, f, page);
        st.db.set_read_in_progress(f, false);
        st.db.set_reference_count(f, 0);
        st.db.set_location(f, PageLocation::Transition);
        st.db.insert(f, PageLocation::Standby);
        let transition = PteState::Transition {
            pfn: f,
            protection: n.protection,
        };
        space.tables(m).write(n.loc, m.fmt.encode(&transition));
    }
}

/// The neighbours of a hard fault worth reading with it: PTEs of the same page
/// table, after the fault and then before it, that are in the same paging file at
/// the slots that continue the run.
fn read_cluster(
    m: &Machine,
    space: &AddressSpace,
    loc: EntryLoc,
    va: Va,
    at: SlotRef,
) -> Vec<ClusterPage> {
    let tables = space.tables(m);
    let entries = m.fmt.entries_per_table(Level::Pte);
    let mut out = Vec::new();
    for direction in [1i64, -1] {
        for k in 1..READ_CLUSTER as i64 {
            if out.len() as u64 + 1 >= READ_CLUSTER {
                return out;
            }
            let index = loc.index as i64 + direction * k;
            let s = at.slot as i64 + direction * k;
            if index < 0 || index >= entries as i64 || s <= 0 || s > u32::MAX as i64 {
                break;
            }
            let l = EntryLoc {
                table: loc.table,
                index: index as u64,
            };
            match m.fmt.decode(tables.read(l)) {
                PteState::PageFile {
                    file: f,
                    slot: ns,
                    protection,
                } if f == at.file && ns as i64 == s => out.push(ClusterPage {
                    loc: l,
                    va: Va((va.page_base().0 as i64 + direction * k * PAGE_SIZE as i64) as u64),
                    slot: ns,
                    protection,
                }),
                _ => break,
            }
        }
    }
    out
}
