//! The page-fault handler (MmAccessFault): one function per kind of fault.
//!
//! `touch` is what the simulated MMU calls for every page a thread reads or
//! writes: a valid PTE that allows the access is a hit (accessed/dirty bits are
//! set); anything else is a fault, dispatched on the PTE's state as NT does.
//! Callers hold the process's address-space lock.

use super::address_space::{AddressSpace, Exception, activate_locked, count_fault, pte_va};
use super::counters::{add, bump};
use super::memory::{Machine, PageNeed};
use super::pagetable::EntryLoc;
use super::pfn::{PageLocation, PageUse};
use super::protection::Protection;
use super::pte::PteState;
use super::status::{MmError, NtStatus};
use super::types::{PAGE_SIZE, Pfn, Va};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    Read,
    Write,
}

/// How much of the page an access covers. A write that replaces every byte
/// of the page before its caller lets go of the address-space lock lets a
/// demand-zero fault skip the memset: the zeroes would be overwritten before
/// any thread could read them (see `demand_zero`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Extent {
    Part,
    WholePage,
}

/// Why a touch failed; each maps to its own errno in the filesystem (SPEC §7).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultKind {
    /// Not committed (reserved only, free, decommitted): STATUS_ACCESS_VIOLATION.
    NotCommitted,
    /// The protection forbids the access: STATUS_ACCESS_VIOLATION.
    Protection,
    /// A guard page, now disarmed: STATUS_GUARD_PAGE_VIOLATION.
    Guard,
    /// The page could not be read in, or its frame is bad: STATUS_IN_PAGE_ERROR.
    InPage,
    /// No physical page or commit for a page table: STATUS_NO_MEMORY / COMMITMENT_LIMIT.
    Resources,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessFault {
    pub kind: FaultKind,
    pub error: MmError,
}

pub(crate) fn fault(kind: FaultKind, status: NtStatus, message: String) -> AccessFault {
    AccessFault {
        kind,
        error: MmError::new(status, message),
    }
}

pub(crate) fn verb(access: Access) -> &'static str {
    match access {
        Access::Read => "read",
        Access::Write => "write",
    }
}

/// Makes `va` accessible for `access`; returns its frame.
pub fn touch(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
) -> Result<Pfn, AccessFault> {
    touch_extent(m, space, va, access, Extent::Part)
}

/// `touch`, told how much of the page the caller is about to write. With
/// `Extent::WholePage` the caller must write all 4096 bytes of the frame
/// returned before it releases the address-space lock.
pub fn touch_extent(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    extent: Extent,
) -> Result<Pfn, AccessFault> {
    let result = dispatch(m, space, va, access, extent);
    if let Err(f) = &result {
        match f.kind {
            FaultKind::NotCommitted | FaultKind::Protection => bump(&m.counters.access_violations),
            FaultKind::Guard => bump(&m.counters.guard_page_faults),
            FaultKind::InPage => bump(&m.counters.in_page_errors),
            FaultKind::Resources => {}
        }
        space.last_exception = Some(Exception {
            status: f.error.status,
            write: access == Access::Write,
            va,
        });
        crate::mm_event!(
            m,
            "fault.exception",
            "pid={} va={:#x} access={} status={}",
            space.pid,
            va.0,
            verb(access),
            f.error.status.name()
        );
    }
    result
}

fn dispatch(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    extent: Extent,
) -> Result<Pfn, AccessFault> {
    let tables = space.tables(m);
    let loc = tables.leaf(va);
    let raw = loc.map_or(0, |l| tables.read(l));
    match m.fmt.decode(raw) {
        PteState::Valid(h) => {
            let loc = loc.expect("valid PTE has a location");
            if access == Access::Write && !h.write {
                if h.copy_on_write {
                    return crate::mm::section::fault::copy_on_write(m, space, va);
                }
                return Err(protection_fault(va, access, "the page is not writable"));
            }
            if access == Access::Write
                && !h.dirty
                && space
                    .vads
                    .find(va.vpn())
                    .is_some_and(|v| v.section.is_some())
            {
                // The first write through this PTE: a shared frame learns now
                // that it is modified (NT's MP kernels take this fault through
                // the software write bit), so a flush or the last unmap finds it.
                // Only a view's pages can be shared and writable (a fork's
                // clone pages are copy-on-write), so private memory skips the
                // PFN lock here.
                let mut st = m.pfn_lock();
                if st.db.prototype(h.pfn) {
                    m.mark_shared_dirty_locked(&mut st, h.pfn);
                }
            }
            let mut h2 = h;
            h2.accessed = true;
            if access == Access::Write {
                h2.dirty = true;
            }
            if h2 != h {
                tables.write(loc, m.fmt.encode(&PteState::Valid(h2)));
            }
            Ok(h.pfn)
        }
        PteState::Zero => {
            // The VAD says what a zero PTE means: a view's page comes from its
            // prototype PTE; committed private memory is demand zero.
            let vad = space.vads.find(va.vpn()).map(|v| {
                (
                    v.section.is_some(),
                    v.mem_commit && v.private_memory,
                    v.protection,
                )
            });
            match vad {
                Some((true, _, protection)) => crate::mm::section::fault::prototype_fault(
                    m, space, va, access, None, protection,
                ),
                Some((false, true, protection)) => {
                    demand_zero(m, space, va, access, protection, extent)
                }
                _ => Err(not_committed(space, va, access)),
            }
        }
        PteState::DemandZero { protection } => {
            demand_zero(m, space, va, access, protection, extent)
        }
        PteState::Transition { pfn, protection } => transition(
            m,
            space,
            loc.expect("transition PTE has a location"),
            va,
            access,
            pfn,
            protection,
        ),
        PteState::Decommitted => Err(not_committed(space, va, access)),
        PteState::PageFile {
            file,
            slot,
            protection,
        } => page_file(
            m,
            space,
            loc.expect("pagefile PTE has a location"),
            va,
            access,
            file,
            slot,
            protection,
        ),
        PteState::Prototype {
            proto_pte,
            protection,
        } => {
            crate::mm::section::fault::prototype_fault(m, space, va, access, proto_pte, protection)
        }
        PteState::Subsection { .. } => Err(fault(
            FaultKind::InPage,
            NtStatus::IN_PAGE_ERROR,
            format!(
                "{:#x}'s PTE holds a subsection PTE, which belongs only in a prototype PTE",
                va.0
            ),
        )),
    }
}

pub(crate) fn not_committed(space: &AddressSpace, va: Va, access: Access) -> AccessFault {
    let what = if space.vads.find(va.vpn()).is_some() {
        "is reserved but not committed"
    } else {
        "is not allocated"
    };
    fault(
        FaultKind::NotCommitted,
        NtStatus::ACCESS_VIOLATION,
        format!("{} of {:#x}: the address {what}", verb(access), va.0),
    )
}

pub(crate) fn protection_fault(va: Va, access: Access, why: &str) -> AccessFault {
    fault(
        FaultKind::Protection,
        NtStatus::ACCESS_VIOLATION,
        format!("{} of {:#x}: {why}", verb(access), va.0),
    )
}

/// The access check for a page that is about to become valid with protection `p`.
/// A guard page is disarmed (its PTE rewritten without GUARD) and reported once.
pub(crate) fn check_protection(
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    p: Protection,
    rearm: impl FnOnce(&mut AddressSpace, Protection) -> Result<(), AccessFault>,
) -> Result<(), AccessFault> {
    if p.is_guard() && !p.is_decommit() {
        rearm(space, p.with_guard(false))?;
        return Err(fault(
            FaultKind::Guard,
            NtStatus::GUARD_PAGE_VIOLATION,
            format!(
                "{} of {:#x} hit a guard page; the guard is now gone",
                verb(access),
                va.0
            ),
        ));
    }
    if p.is_noaccess() || p.is_decommit() || p.raw() == 0 {
        return Err(protection_fault(va, access, "the page is PAGE_NOACCESS"));
    }
    match access {
        Access::Write if !p.allows_write() => Err(protection_fault(
            va,
            access,
            &format!("the page is {}", p.name()),
        )),
        Access::Read if !p.allows_read() => Err(protection_fault(
            va,
            access,
            &format!("the page is {}", p.name()),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn resources(e: MmError) -> AccessFault {
    AccessFault {
        kind: FaultKind::Resources,
        error: e,
    }
}

/// A demand-zero fault: a committed page touched for the first time gets a zeroed frame.
/// The frame comes in NT's order (zeroed list first) and is zeroed, if it needs
/// it, after the PFN lock is dropped. A write covering the whole page
/// (`Extent::WholePage`) skips the memset itself, a dead store: the page is
/// this process's alone until its address-space lock is released, and by then
/// every byte has been written. Everything NT does is still done and counted
/// (the list the page came from, `pages_zeroed`, the fault).
fn demand_zero(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    protection: Protection,
    extent: Extent,
) -> Result<Pfn, AccessFault> {
    check_protection(space, va, access, protection, |space, disarmed| {
        let loc = space.ensure_leaf(m, va).map_err(resources)?;
        space.tables(m).write(
            loc,
            m.fmt.encode(&PteState::DemandZero {
                protection: disarmed,
            }),
        );
        Ok(())
    })?;
    space.replace_if_at_maximum(m);
    let loc = space.ensure_leaf(m, va).map_err(resources)?;
    let (mut st, page) = space
        .obtain_page(m, PageNeed::ZeroedByCaller)
        .map_err(resources)?;
    let original = m.fmt.encode(&PteState::DemandZero { protection });
    space.install_private_locked(
        m,
        &mut st,
        loc,
        va.page_base(),
        page.pfn,
        protection,
        original,
        access == Access::Write,
    );
    drop(st);
    // The PTE is valid now, but only through this address space, whose lock we
    // hold until the fault is done: no thread can read the frame before it is
    // zeroed (WRK zeroes at this point too, before it sets the PTE valid).
    m.zero_new_page(&page, extent);
    space.private_pages += 1;
    space.faults.demand_zero += 1;
    count_fault(m, space);
    bump(&m.counters.demand_zero_faults);
    crate::mm_event!(
        m,
        "fault.demand-zero",
        "pid={} va={:#x} pfn={:#x}",
        space.pid,
        va.page_base().0,
        page.pfn.0
    );
    Ok(page.pfn)
}

/// A transition (soft) fault: the page is still in memory on the standby or
/// modified list; take it back without any I/O.
fn transition(
    m: &Machine,
    space: &mut AddressSpace,
    loc: EntryLoc,
    va: Va,
    access: Access,
    pfn: Pfn,
    protection: Protection,
) -> Result<Pfn, AccessFault> {
    check_protection(space, va, access, protection, |space, disarmed| {
        // Transition PTEs change only under the PFN lock. The frame's
        // OriginalPte loses the guard too: it is what the PTE becomes if the
        // page is repurposed, and the guard must not come back then.
        let mut st = m.pfn_lock();
        let original = crate::mm::virtual_memory::reprotect(m, st.db.original_pte(pfn), disarmed);
        st.db.set_original_pte(pfn, original);
        space.tables(m).write(
            loc,
            m.fmt.encode(&PteState::Transition {
                pfn,
                protection: disarmed,
            }),
        );
        Ok(())
    })?;
    space.replace_if_at_maximum(m);
    let mut st = m.pfn_lock();
    // Re-read under the PFN lock: transition PTEs are the PFN lock's to change.
    let tables = space.tables(m);
    if m.fmt.decode(tables.read(loc)) != (PteState::Transition { pfn, protection }) {
        drop(st);
        return touch(m, space, va, access);
    }
    if st.db.in_page_error(pfn) {
        return Err(fault(
            FaultKind::InPage,
            NtStatus::IN_PAGE_ERROR,
            format!(
                "{} of {:#x}: its frame {:#x} is bad",
                verb(access),
                va.0,
                pfn.0
            ),
        ));
    }
    let was = st.db.location(pfn);
    if was.is_some_and(PageLocation::is_list) {
        st.db.unlink(pfn);
    }
    // From a list, or (no list) a frame whose cluster write is still in flight.
    st.db.set_location(pfn, PageLocation::Active);
    space.map_valid_locked(
        m,
        &mut st,
        loc,
        va.page_base(),
        pfn,
        protection,
        access == Access::Write,
    );
    drop(st);
    space.faults.transition += 1;
    count_fault(m, space);
    bump(&m.counters.transition_faults);
    crate::mm_event!(
        m,
        "fault.transition",
        "pid={} va={:#x} pfn={:#x} from={}",
        space.pid,
        va.page_base().0,
        pfn.0,
        was.map_or("?", PageLocation::name)
    );
    Ok(pfn)
}

/// Pages a hard fault on private data reads at once (WRK: the data cluster, the
/// faulting page and 3 more; code would read 8).
pub const READ_CLUSTER: u64 = 4;

/// One page of a read cluster: its PTE, its slot, its protection.
struct ClusterPage {
    loc: EntryLoc,
    va: Va,
    slot: u32,
    protection: Protection,
}

/// A hard fault: the page is in a paging file. Its slot is read into a new frame
/// together with neighbouring pages of the same page table whose slots follow on
/// (read clustering); the neighbours go to standby with transition PTEs, so touching
/// them next is a soft fault. The frame keeps the slot in its OriginalPte: the
/// page stays clean until written, and a clean page trims straight to standby.
#[allow(clippy::too_many_arguments)]
fn page_file(
    m: &Machine,
    space: &mut AddressSpace,
    loc: EntryLoc,
    va: Va,
    access: Access,
    file: u8,
    slot: u32,
    protection: Protection,
) -> Result<Pfn, AccessFault> {
    check_protection(space, va, access, protection, |space, disarmed| {
        space.tables(m).write(
            loc,
            m.fmt.encode(&PteState::PageFile {
                file,
                slot,
                protection: disarmed,
            }),
        );
        Ok(())
    })?;
    space.replace_if_at_maximum(m);
    let (mut st, page) = space.obtain_page(m, PageNeed::Any).map_err(resources)?;
    // Reclaiming trims only valid pages of this process, so the PTE still names
    // the same slot; the cluster is chosen after it.
    let neighbours = read_cluster(m, space, loc, va, file, slot);
    let mut frames = vec![page.pfn];
    for _ in &neighbours {
        // Clustering is opportunistic: it never reclaims.
        match m.allocate_locked(&mut st, PageNeed::Any) {
            Some(p) => frames.push(p.pfn),
            None => break,
        }
    }
    for &f in &frames {
        st.db.set_read_in_progress(f, true);
    }
    drop(st);
    let neighbours = &neighbours[..frames.len() - 1];
    let first_slot = neighbours
        .iter()
        .map(|n| n.slot)
        .chain([slot])
        .min()
        .unwrap_or(slot);
    let mut buf = vec![0u8; frames.len() * PAGE_SIZE as usize];
    let io = m.pagefiles_lock().io(file);
    let read = match io {
        _ if crate::mm::memory::Injected::take(&m.injected.pagefile_reads) => {
            Err(std::io::Error::from_raw_os_error(libc::EIO))
        }
        Some(io) => io.read_pages(first_slot, &mut buf),
        None => Err(std::io::Error::other("no such paging file")),
    };
    let mut st = m.pfn_lock();
    if let Err(e) = read {
        for &f in &frames {
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
        return Err(fault(
            FaultKind::InPage,
            NtStatus::IN_PAGE_ERROR,
            format!(
                "{} of {:#x}: reading it from paging file {file} at slot {slot:#x} failed: {e}",
                verb(access),
                va.0
            ),
        ));
    }
    let slice = |s: u32| {
        let at = (s - first_slot) as usize * PAGE_SIZE as usize;
        &buf[at..at + PAGE_SIZE as usize]
    };
    for (n, &f) in neighbours.iter().zip(&frames[1..]) {
        m.phys.write(f, 0, slice(n.slot));
        let original = m.fmt.encode(&PteState::PageFile {
            file,
            slot: n.slot,
            protection: n.protection,
        });
        activate_locked(
            &mut st,
            f,
            space.slot,
            PageUse::ProcessPrivate,
            pte_va(m, n.va),
            original,
            0,
            0,
        );
        st.db.set_read_in_progress(f, false);
        st.db.set_reference_count(f, 0);
        st.db.set_location(f, PageLocation::Transition);
        st.db.insert(f, PageLocation::Standby);
        space.tables(m).write(
            n.loc,
            m.fmt.encode(&PteState::Transition {
                pfn: f,
                protection: n.protection,
            }),
        );
    }
    m.phys.write(page.pfn, 0, slice(slot));
    st.db.set_read_in_progress(page.pfn, false);
    let original = m.fmt.encode(&PteState::PageFile {
        file,
        slot,
        protection,
    });
    space.install_private_locked(
        m,
        &mut st,
        loc,
        va.page_base(),
        page.pfn,
        protection,
        original,
        access == Access::Write,
    );
    if access == Access::Write {
        // Written at once: the slot's copy is stale already.
        st.db.set_modified(page.pfn, true);
        m.release_backing_locked(&mut st, page.pfn);
    }
    drop(st);
    let pages = frames.len() as u64;
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
        page.pfn.0
    );
    Ok(page.pfn)
}

/// The neighbours of a hard fault worth reading with it: PTEs of the same page
/// table, after the fault and then before it, that are in the same paging file at
/// the slots that continue the run.
fn read_cluster(
    m: &Machine,
    space: &AddressSpace,
    loc: EntryLoc,
    va: Va,
    file: u8,
    slot: u32,
) -> Vec<ClusterPage> {
    let tables = space.tables(m);
    let entries = m.fmt.entries_per_table(crate::mm::pte::Level::Pte);
    let mut out = Vec::new();
    for direction in [1i64, -1] {
        for k in 1..READ_CLUSTER as i64 {
            if out.len() as u64 + 1 >= READ_CLUSTER {
                return out;
            }
            let index = loc.index as i64 + direction * k;
            let s = slot as i64 + direction * k;
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
                } if f == file && ns as i64 == s => out.push(ClusterPage {
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
