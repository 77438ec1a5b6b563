//! Faults through prototype PTEs (WRK MiResolveProtoPteFault) and copy-on-write
//! (MiCopyOnWrite). Callers hold the process's address-space lock.
//!
//! A process PTE that is zero inside a view, or a prototype pointer, leads to a
//! prototype PTE, which says where the page is:
//! - valid: another process has it; this one maps it too (soft);
//! - transition: on standby, modified or modified-no-write; it comes back (soft);
//! - demand zero: a pagefile-backed page touched for the first time gets a
//!   zeroed frame;
//! - pagefile or subsection (mapped file): a hard fault reads it into a new
//!   frame. While the read is in flight the prototype PTE is a transition PTE
//!   whose frame has ReadInProgress; another process faulting on it waits for
//!   the read (a collided fault) instead of reading it twice.
//!
//! Either way the frame becomes valid in the prototype PTE, and this process's
//! PTE becomes valid too, with a shared working-set entry and one more share.
//! A write through a copy-on-write protection then takes a private copy.

use std::os::unix::fs::FileExt;

use crate::mm::address_space::{AddressSpace, count_fault};
use crate::mm::counters::{add, bump};
use crate::mm::fault::{
    Access, AccessFault, FaultKind, check_protection, fault, not_committed, resources, touch, verb,
};
use crate::mm::memory::{Machine, PageNeed};
use crate::mm::pfn::PageLocation;
use crate::mm::protection::Protection;
use crate::mm::pte::PteState;
use crate::mm::status::NtStatus;
use crate::mm::types::{PAGE_SIZE, Pfn, Va};

use super::Backing;
use super::fork::written_form;

/// Where the page behind a hard prototype fault is read from.
enum Source {
    PagingFile { file: u8, slot: u32 },
    File(std::sync::Arc<std::fs::File>, u64),
}

/// How a prototype fault was satisfied (for counters and the trace).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resolved {
    /// The page was in memory (valid elsewhere, or on a list).
    Memory(Option<PageLocation>),
    DemandZero,
    Read,
}

fn in_page(va: Va, access: Access, why: String) -> AccessFault {
    fault(
        FaultKind::InPage,
        NtStatus::IN_PAGE_ERROR,
        format!("{} of {:#x}: {why}", verb(access), va.0),
    )
}

/// A fault on `va` whose PTE leads to a prototype PTE: `pointer` is the
/// prototype PTE's address from a prototype-pointer PTE, or `None` to find it
/// through the view's VAD; `pte_protection` is the protection the PTE (or VAD)
/// gives, ZERO_ACCESS meaning "the prototype PTE's own".
pub fn prototype_fault(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    pointer: Option<Va>,
    pte_protection: Protection,
) -> Result<Pfn, AccessFault> {
    let (ca, index, protection) = match pointer {
        Some(address) => {
            let st = m.pfn_lock();
            let at = st.segments.locate_address(address.0).ok_or_else(|| {
                in_page(
                    va,
                    access,
                    format!(
                        "its PTE points at {:#x}, which is no prototype PTE",
                        address.0
                    ),
                )
            })?;
            let p = if pte_protection.raw() == 0 {
                m.proto_protection_locked(&st, st.segments.read(at))
            } else {
                pte_protection
            };
            (st.segments.owner(at).unwrap_or(0), st.segments.index(at), p)
        }
        None => {
            let vad = space.vads.find(va.vpn());
            let Some((vad, section)) = vad.and_then(|v| Some((v, v.section.as_ref()?))) else {
                return Err(not_committed(space, va, access));
            };
            let index = section.first_prototype_index + (va.vpn().0 - vad.starting_vpn.0);
            (section.id, index, pte_protection)
        }
    };
    let in_view = space
        .vads
        .find(va.vpn())
        .is_some_and(|v| v.section.as_ref().is_some_and(|s| s.id == ca));
    check_protection(space, va, access, protection, |space, disarmed| {
        if in_view {
            let loc = space.ensure_leaf(m, va).map_err(resources)?;
            space.tables(m).write(
                loc,
                m.fmt.encode(&PteState::Prototype {
                    proto_pte: None,
                    protection: disarmed,
                }),
            );
        } else {
            // A fork's clone block keeps the page's protection, guard included,
            // for both processes (as NT's fork prototype PTEs do): the guard is
            // disarmed there, once for both.
            disarm_prototype(m, ca, index, disarmed);
        }
        Ok(())
    })?;
    space.replace_if_at_maximum(m);
    let loc = space.ensure_leaf(m, va).map_err(resources)?;
    let tables = space.tables(m);
    let expected = tables.read(loc);
    let write_now = access == Access::Write && !protection.is_copy_on_write();
    let (pfn, how) = loop {
        let mut st = m.pfn_lock();
        if tables.read(loc) != expected {
            drop(st);
            return touch(m, space, va, access);
        }
        let at = st.segments.locate(ca, index).ok_or_else(|| {
            in_page(
                va,
                access,
                format!("control area {ca} has no prototype PTE {index}"),
            )
        })?;
        let raw = st.segments.read(at);
        match m.fmt.decode_prototype(raw) {
            PteState::Valid(h) => {
                if st.db.in_page_error(h.pfn) {
                    return Err(in_page(
                        va,
                        access,
                        format!("its frame {:#x} is bad", h.pfn.0),
                    ));
                }
                space.map_shared_locked(
                    m,
                    &mut st,
                    loc,
                    va.page_base(),
                    h.pfn,
                    protection,
                    write_now,
                );
                break (h.pfn, Resolved::Memory(None));
            }
            PteState::Transition {
                pfn,
                protection: pp,
            } => {
                if st.db.read_in_progress(pfn) {
                    // Another process is reading this page in: wait for it.
                    drop(st);
                    std::thread::yield_now();
                    continue;
                }
                if st.db.in_page_error(pfn) {
                    return Err(in_page(
                        va,
                        access,
                        format!("its frame {:#x} is bad", pfn.0),
                    ));
                }
                let was = st.db.location(pfn);
                if was.is_some_and(PageLocation::is_list) {
                    st.db.unlink(pfn);
                }
                st.segments.write(at, m.valid_proto_pte(pfn, pp));
                space.map_shared_locked(
                    m,
                    &mut st,
                    loc,
                    va.page_base(),
                    pfn,
                    protection,
                    write_now,
                );
                break (pfn, Resolved::Memory(was));
            }
            PteState::DemandZero { protection: pp } => {
                drop(st);
                let Some((mut st, page, at)) = page_for(
                    m,
                    space,
                    (loc, expected),
                    (ca, index, raw),
                    PageNeed::Zeroed,
                )?
                else {
                    continue;
                };
                m.activate_proto_locked(&mut st, page.pfn, at, raw);
                // Never written anywhere: the writer must save it before reuse.
                st.db.set_modified(page.pfn, true);
                st.segments.write(at, m.valid_proto_pte(page.pfn, pp));
                space.map_shared_locked(
                    m,
                    &mut st,
                    loc,
                    va.page_base(),
                    page.pfn,
                    protection,
                    write_now,
                );
                break (page.pfn, Resolved::DemandZero);
            }
            state @ (PteState::PageFile { .. } | PteState::Subsection { .. }) => {
                drop(st);
                let Some((mut st, page, at)) =
                    page_for(m, space, (loc, expected), (ca, index, raw), PageNeed::Any)?
                else {
                    continue;
                };
                let pfn = page.pfn;
                let (source, pp) = match state {
                    PteState::PageFile {
                        file,
                        slot,
                        protection,
                    } => (Source::PagingFile { file, slot }, protection),
                    PteState::Subsection { protection, .. } => {
                        let file = match st.segments.control_area(ca).map(|a| &a.backing) {
                            Some(Backing::File { file, .. }) => file.clone(),
                            _ => {
                                m.free_page_locked(&mut st, pfn);
                                return Err(in_page(
                                    va,
                                    access,
                                    "its subsection PTE belongs to no file".into(),
                                ));
                            }
                        };
                        (Source::File(file, st.segments.file_offset(at)), protection)
                    }
                    _ => unreachable!("matched above"),
                };
                m.activate_proto_locked(&mut st, pfn, at, raw);
                st.db.set_reference_count(pfn, 1);
                st.db.set_read_in_progress(pfn, true);
                st.db.set_modified(pfn, false);
                st.segments.write(
                    at,
                    m.fmt.encode(&PteState::Transition {
                        pfn,
                        protection: pp,
                    }),
                );
                drop(st);
                let mut buf = vec![0u8; PAGE_SIZE as usize];
                let result = read_page(m, &source, &mut buf);
                let mut st = m.pfn_lock();
                st.db.set_read_in_progress(pfn, false);
                if let Err(e) = result {
                    if let Some(at) = st.segments.locate(ca, index) {
                        st.segments.write(at, raw);
                    }
                    if let Some(area) = st.segments.control_area_mut(ca) {
                        area.pfn_references -= 1;
                    }
                    st.db.set_reference_count(pfn, 0);
                    m.free_page_locked(&mut st, pfn);
                    drop(st);
                    crate::mm_event!(
                        m,
                        "section.read-error",
                        "pid={} va={:#x} ca={ca} index={index}",
                        space.pid,
                        va.page_base().0
                    );
                    return Err(in_page(va, access, format!("reading it in failed: {e}")));
                }
                m.phys.write(pfn, 0, &buf);
                st.db.decrement_reference(pfn);
                st.segments.write(at, m.valid_proto_pte(pfn, pp));
                space.map_shared_locked(
                    m,
                    &mut st,
                    loc,
                    va.page_base(),
                    pfn,
                    protection,
                    write_now,
                );
                if let Source::PagingFile { .. } = source {
                    add(&m.counters.pages_read_from_pagefile, 1);
                }
                break (pfn, Resolved::Read);
            }
            _ => return Err(not_committed(space, va, access)),
        }
    };
    count_fault(m, space);
    space.faults.prototype += 1;
    bump(&m.counters.prototype_faults);
    match how {
        Resolved::DemandZero => {
            space.faults.demand_zero += 1;
            bump(&m.counters.demand_zero_faults);
        }
        Resolved::Read => {
            space.faults.hard += 1;
            bump(&m.counters.hard_faults);
        }
        Resolved::Memory(_) => {}
    }
    crate::mm_event!(
        m,
        "fault.prototype",
        "pid={} va={:#x} pfn={pfn:#x} ca={ca} index={index} from={}",
        space.pid,
        va.page_base().0,
        match how {
            Resolved::Memory(None) => "valid",
            Resolved::Memory(Some(l)) => l.name(),
            Resolved::DemandZero => "demand-zero",
            Resolved::Read => "disk",
        }
    );
    if access == Access::Write && protection.is_copy_on_write() {
        return copy_on_write(m, space, va);
    }
    Ok(pfn)
}

/// Prototype PTE `index` of control area `ca` takes protection `disarmed` (its
/// own without GUARD). A guard page is never valid (touching it disarms it), so
/// the prototype PTE is in transition or a paging file, or demand zero.
fn disarm_prototype(m: &Machine, ca: u32, index: u64, disarmed: Protection) {
    let mut st = m.pfn_lock();
    let Some(at) = st.segments.locate(ca, index) else {
        return;
    };
    let raw = st.segments.read(at);
    let new = match m.fmt.decode_prototype(raw) {
        PteState::Transition { pfn, .. } => {
            let original =
                crate::mm::virtual_memory::reprotect(m, st.db.original_pte(pfn), disarmed);
            st.db.set_original_pte(pfn, original);
            PteState::Transition {
                pfn,
                protection: disarmed,
            }
        }
        PteState::PageFile { file, slot, .. } => PteState::PageFile {
            file,
            slot,
            protection: disarmed,
        },
        PteState::DemandZero { .. } => PteState::DemandZero {
            protection: disarmed,
        },
        _ => return,
    };
    st.segments.write(at, m.fmt.encode(&new));
}

/// A frame for prototype PTE `index` of control area `ca`, returned with the
/// PFN lock held, if the prototype PTE still holds `raw` and the process PTE
/// at `loc` still `expected` once the frame is found (finding one may reclaim
/// and so change them); else the frame goes back and the caller looks again.
#[allow(clippy::type_complexity)]
fn page_for<'m>(
    m: &'m Machine,
    space: &mut AddressSpace,
    (loc, expected): (crate::mm::pagetable::EntryLoc, u64),
    (ca, index, raw): (u32, u64, u64),
    need: PageNeed,
) -> Result<
    Option<(
        std::sync::MutexGuard<'m, crate::mm::memory::PfnState>,
        crate::mm::memory::NewPage,
        super::ProtoLoc,
    )>,
    AccessFault,
> {
    let (mut st, page) = space.obtain_page(m, need).map_err(resources)?;
    let at = st.segments.locate(ca, index);
    match at {
        Some(at) if space.tables(m).read(loc) == expected && st.segments.read(at) == raw => {
            Ok(Some((st, page, at)))
        }
        _ => {
            m.free_page_locked(&mut st, page.pfn);
            Ok(None)
        }
    }
}

fn read_page(m: &Machine, source: &Source, buf: &mut [u8]) -> std::io::Result<()> {
    match source {
        Source::PagingFile { file, slot } => {
            if crate::mm::memory::Injected::take(&m.injected.pagefile_reads) {
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
            match m.pagefiles_lock().io(*file) {
                Some(io) => io.read_pages(*slot, buf),
                None => Err(std::io::Error::other("no such paging file")),
            }
        }
        Source::File(file, offset) => {
            if crate::mm::memory::Injected::take(&m.injected.mapped_reads) {
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
            // Past the end of the file the page reads as zeros.
            let mut done = 0;
            while done < buf.len() {
                let n = file.read_at(&mut buf[done..], offset + done as u64)?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            buf[done..].fill(0);
            Ok(())
        }
    }
}

/// A write to a valid copy-on-write page (a write-copy view's page, or a page a
/// fork shares): a new private page gets a copy, the PTE becomes private,
/// writable and dirty (WRITECOPY → READWRITE), and the shared page loses this
/// mapping; other processes keep the bytes they had.
pub fn copy_on_write(m: &Machine, space: &mut AddressSpace, va: Va) -> Result<Pfn, AccessFault> {
    let tables = space.tables(m);
    let Some(loc) = tables.leaf(va) else {
        return touch(m, space, va, Access::Write);
    };
    let raw = tables.read(loc);
    let PteState::Valid(h) = m.fmt.decode(raw) else {
        return touch(m, space, va, Access::Write);
    };
    let index = space.ws_index_of(&m.pfn_lock(), va.page_base(), h.pfn);
    let Some(wsle) = index.and_then(|i| space.ws.get(i)).copied() else {
        return Err(in_page(
            va,
            Access::Write,
            format!("its frame {:#x} has no working-set entry", h.pfn.0),
        ));
    };
    let protection = written_form(wsle.protection);
    let (mut st, page) = space
        .obtain_page_sparing(m, PageNeed::Any, Some(va.page_base()))
        .map_err(resources)?;
    if tables.read(loc) != raw {
        // Reclaiming trimmed this very page: start over.
        m.free_page_locked(&mut st, page.pfn);
        drop(st);
        return touch(m, space, va, Access::Write);
    }
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    m.phys.read(h.pfn, 0, &mut buf);
    m.phys.write(page.pfn, 0, &buf);
    if let Some(i) = index {
        space.ws.remove(i);
    }
    st.db.decrement_share(loc.table);
    if st.db.prototype(h.pfn) {
        let at = m.proto_of_locked(&st, h.pfn);
        m.release_shared_locked(&mut st, h.pfn, false);
        if let Some(at) = at {
            m.clone_dereference_locked(&mut st, at);
        }
    } else {
        m.release_frame_locked(&mut st, h.pfn);
        space.private_pages -= 1;
    }
    let original = m.fmt.encode(&PteState::DemandZero { protection });
    space.install_private_locked(
        m,
        &mut st,
        loc,
        va.page_base(),
        page.pfn,
        protection,
        original,
        true,
    );
    if wsle.locked {
        let i = st.db.ws_index(page.pfn);
        if let Some(e) = space.ws.get_mut(i) {
            e.locked = true;
        }
    }
    drop(st);
    space.private_pages += 1;
    space.faults.copy_on_write += 1;
    count_fault(m, space);
    bump(&m.counters.copy_on_write_faults);
    crate::mm_event!(
        m,
        "fault.copy-on-write",
        "pid={} va={:#x} from={:#x} pfn={:#x}",
        space.pid,
        va.page_base().0,
        h.pfn.0,
        page.pfn.0
    );
    Ok(page.pfn)
}
