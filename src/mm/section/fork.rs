//! `fork CHILD`: cloning an address space copy-on-write, as NT's
//! MiCloneProcessAddressSpace does for POSIX fork.
//!
//! Every private page of the parent (valid, in transition or in a paging file)
//! moves into a *clone block*: a prototype PTE of a clone control area made for
//! this fork (NT: MMCLONE_BLOCK in an MMCLONE_HEADER). The prototype PTE takes
//! the page's protection made copy-on-write (READWRITE → WRITECOPY); the parent's
//! and the child's PTEs both point at it. A write by either takes a
//! copy-on-write fault and gets a private copy; the other keeps the original.
//! Each clone block counts the process PTEs still referring to it
//! (CloneRefCount); at zero its page is freed, and with it the last block the
//! clone control area goes.
//!
//! Views are mapped again in the child (the same section, the same protection);
//! pages already made private inside a write-copy view are cloned like any
//! private page. The child is charged the parent's commit (NT charges the
//! child for every private committed page).

use std::sync::Arc;

use crate::mm::Mm;
use crate::mm::address_space::AddressSpace;
use crate::mm::memory::{Machine, PfnState};
use crate::mm::pagetable::EntryLoc;
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::{Pid, Process};
use crate::mm::protection::Protection;
use crate::mm::pte::PteState;
use crate::mm::status::MmResult;
use crate::mm::types::Va;
use crate::mm::working_set::{Wsle, WsleKind};

use super::{Backing, ProtoLoc};

/// The copy-on-write form of a protection (what a clone block grants).
pub fn copy_on_write_form(p: Protection) -> Protection {
    let base = match p.base() {
        Protection::READWRITE => Protection::WRITECOPY,
        Protection::EXECUTE_READWRITE => Protection::EXECUTE_WRITECOPY,
        other => other,
    };
    Protection::from_raw(base.raw() | (p.raw() & (Protection::GUARD_BIT | Protection::NOCACHE_BIT)))
}

/// The writable form a copy-on-write page gets once copied.
pub fn written_form(p: Protection) -> Protection {
    let base = match p.base() {
        Protection::WRITECOPY => Protection::READWRITE,
        Protection::EXECUTE_WRITECOPY => Protection::EXECUTE_READWRITE,
        other => other,
    };
    Protection::from_raw(base.raw() | (p.raw() & Protection::NOCACHE_BIT))
}

impl Machine {
    /// A process PTE that referred to prototype PTE `at` no longer does. For a
    /// clone block that is one reference fewer; the last one frees its page and
    /// slot, and the last block of a clone control area takes the area with it.
    /// Prototype PTEs of sections are not counted this way (their views are).
    pub fn clone_dereference_locked(&self, st: &mut PfnState, at: ProtoLoc) {
        let Some(ca) = st.segments.owner(at) else {
            return;
        };
        let index = st.segments.index(at) as usize;
        let Some(area) = st.segments.control_area_mut(ca) else {
            return;
        };
        if !area.is_clone() {
            return;
        }
        let Some(refs) = area.clone_refs.get_mut(index) else {
            return;
        };
        debug_assert!(
            *refs > 0,
            "clone block {index} of control area {ca} underflow"
        );
        *refs = refs.saturating_sub(1);
        if *refs > 0 {
            return;
        }
        let raw = st.segments.read(at);
        match self.fmt.decode_prototype(raw) {
            PteState::Transition { pfn, .. } => {
                if let Some(area) = st.segments.control_area_mut(ca) {
                    area.pfn_references -= 1;
                }
                if st.db.location(pfn).is_some_and(PageLocation::is_list) {
                    st.db.unlink(pfn);
                    self.free_page_locked(st, pfn);
                } else {
                    // I/O in flight holds it; its completion frees it.
                    st.db.set_deleted(pfn, true);
                }
            }
            PteState::PageFile { file, slot, .. } => {
                self.pagefiles_lock().release(file, slot);
            }
            _ => {}
        }
        st.segments.write(at, 0);
        if st
            .segments
            .control_area(ca)
            .is_some_and(|a| a.unreferenced())
        {
            st.segments.remove_control_area(ca);
        }
    }
}

/// What happens to one PTE of the parent.
/// Makes `va`'s page private if it is still shared with a fork relative through
/// a clone block: the page is brought in (without the access check: its
/// protection is about to change) and copied, as a write would. `protect` and a
/// recommit do this first, because the protection of a clone page lives in the
/// clone block, which the relative shares. Returns whether a copy was made.
pub fn privatize_clone_page(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
) -> Result<bool, crate::mm::fault::AccessFault> {
    let tables = space.tables(m);
    let Some(loc) = tables.leaf(va) else {
        return Ok(false);
    };
    let is_clone = |st: &PfnState, at: Option<ProtoLoc>| {
        at.and_then(|at| st.segments.owner(at))
            .and_then(|ca| st.segments.control_area(ca))
            .is_some_and(|a| a.is_clone())
    };
    match m.fmt.decode(tables.read(loc)) {
        PteState::Valid(h) => {
            let st = m.pfn_lock();
            if !st.db.prototype(h.pfn) || !is_clone(&st, m.proto_of_locked(&st, h.pfn)) {
                return Ok(false);
            }
        }
        PteState::Prototype {
            proto_pte: Some(address),
            ..
        } => {
            let clone = {
                let st = m.pfn_lock();
                is_clone(&st, st.segments.locate_address(address.0))
            };
            if !clone {
                return Ok(false);
            }
            // READONLY here only lets the read in whatever the block's
            // protection is; the copy below takes its protection anew.
            super::fault::prototype_fault(
                m,
                space,
                va,
                crate::mm::fault::Access::Read,
                Some(address),
                Protection::READONLY,
            )?;
        }
        _ => return Ok(false),
    }
    if let Err(f) = super::fault::copy_on_write(m, space, va) {
        // No page for the copy: the page brought in above (with a protection
        // that was only for the read) leaves the working set again, so the PTE
        // points at the clone block as before.
        let tables = space.tables(m);
        if let PteState::Valid(h) = m.fmt.decode(tables.read(loc)) {
            let index = space.ws_index_of(&m.pfn_lock(), va.page_base(), h.pfn);
            if let Some(i) = index {
                space.trim_entry(m, i);
            }
        }
        return Err(f);
    }
    Ok(true)
}

enum Plan {
    /// A private page that moves into clone block `block`.
    Move { block: u64 },
    /// The child gets this value as is (demand zero, decommitted, a view's
    /// lookup-form pointer).
    Copy(u64),
    /// The child points at an existing clone block too.
    Share(ProtoLoc),
}

pub fn fork(mm: &Mm, parent: &Arc<Process>, child_name: &str) -> MmResult<Pid> {
    let m = mm.machine();
    let child_pid = mm.create_process(child_name)?;
    let result = clone_into(mm, parent, child_pid);
    if let Err(e) = result {
        if let Err(t) = mm.terminate_process(child_pid) {
            log::error!("fork: removing the half-made child {child_pid}: {t}");
        }
        return Err(e);
    }
    crate::mm_event!(m, "process.fork", "parent={} child={child_pid}", parent.pid);
    Ok(child_pid)
}

fn clone_into(mm: &Mm, parent: &Arc<Process>, child_pid: Pid) -> MmResult<()> {
    let m = mm.machine();
    let child = mm.process(child_pid)?;
    let mut ps = parent.live_space()?;
    let mut cs = child.live_space()?;
    // 1. Plan every PTE that holds anything, in every VAD.
    let mut plans: Vec<(Va, EntryLoc, Plan)> = Vec::new();
    let mut blocks = 0u64;
    {
        let st = m.pfn_lock();
        let tables = ps.tables(m);
        for vad in ps.vads.iter() {
            let view_ca = vad.section.as_ref().map(|s| s.id);
            for (va, loc) in super::super::virtual_memory::nonzero_ptes(
                &tables,
                vad.starting_vpn,
                vad.ending_vpn,
            ) {
                let raw = tables.read(loc);
                let plan = match m.fmt.decode(raw) {
                    PteState::Valid(h) if st.db.prototype(h.pfn) => {
                        match m.proto_of_locked(&st, h.pfn) {
                            Some(at) if st.segments.owner(at) != view_ca => Plan::Share(at),
                            _ => {
                                // The view's own page: the child faults it in from
                                // the prototype PTE, with the protection `protect`
                                // gave it here (VAD-lookup form) if that differs.
                                let own = ps
                                    .ws_index_of(&st, va, h.pfn)
                                    .and_then(|i| ps.ws.get(i))
                                    .map(|e| e.protection);
                                match own {
                                    Some(p) if p != vad.protection => {
                                        Plan::Copy(m.fmt.encode(&PteState::Prototype {
                                            proto_pte: None,
                                            protection: p,
                                        }))
                                    }
                                    _ => continue,
                                }
                            }
                        }
                    }
                    PteState::Valid(_)
                    | PteState::Transition { .. }
                    | PteState::PageFile { .. } => {
                        blocks += 1;
                        Plan::Move { block: blocks - 1 }
                    }
                    PteState::Prototype {
                        proto_pte: Some(address),
                        ..
                    } => match st.segments.locate_address(address.0) {
                        Some(at) if st.segments.owner(at) != view_ca => Plan::Share(at),
                        _ => continue,
                    },
                    PteState::Prototype {
                        proto_pte: None, ..
                    }
                    | PteState::DemandZero { .. }
                    | PteState::Decommitted => Plan::Copy(raw),
                    _ => continue,
                };
                plans.push((va, loc, plan));
            }
        }
    }
    // 2. Everything that can fail, first: the child's commit, its page tables,
    //    the clone control area.
    let charge: u64 = ps.vads.iter().map(|v| v.commit_charge).sum();
    m.charge_commit(charge)?;
    for v in ps.vads.iter() {
        if let Err(e) = cs.vads.insert(v.clone()) {
            m.uncharge_commit(charge);
            return Err(e);
        }
    }
    // From here the child's VADs hold the charge and its views are counted in
    // their control areas: if a later step fails, terminating the child gives
    // back exactly that (a view VAD left uncounted would be uncounted twice).
    {
        let mut st = m.pfn_lock();
        for views in cs
            .vads
            .iter()
            .filter_map(|v| v.section.as_ref().map(|s| (s.id, v.protection)))
        {
            if let Some(area) = st.segments.control_area_mut(views.0) {
                area.mapped_views += 1;
                area.user_references += 1;
                if views.1.allows_write() && !views.1.is_copy_on_write() {
                    area.writable_user_references += 1;
                }
            }
        }
    }
    let mut child_locs = Vec::with_capacity(plans.len());
    for (va, _, _) in &plans {
        child_locs.push(cs.ensure_leaf(m, *va)?);
    }
    let mut st = m.pfn_lock();
    let clone_ca = if blocks > 0 {
        let ca = st
            .segments
            .add_control_area(Backing::Clone, Protection::WRITECOPY);
        if st
            .segments
            .add_subsection(ca, blocks, 0, 0, m.fmt.max_subsection())
            .is_none()
        {
            st.segments.remove_control_area(ca);
            return Err(mm_err!(
                INSUFFICIENT_RESOURCES,
                "paged pool has no room for {blocks} clone blocks"
            ));
        }
        Some(ca)
    } else {
        None
    };
    // 3. Nothing fails from here: move the pages, point both processes at them.
    let ptables = ps.tables(m);
    let ctables = cs.tables(m);
    for ((va, ploc, plan), cloc) in plans.into_iter().zip(child_locs) {
        match plan {
            Plan::Copy(raw) => ctables.write(cloc, raw),
            Plan::Share(at) => {
                bump_clone_ref(&mut st, at, 1);
                let pointer = m.fmt.encode(&PteState::Prototype {
                    proto_pte: Some(Va(st.segments.address(at))),
                    protection: Protection::ZERO_ACCESS,
                });
                ctables.write(cloc, pointer);
            }
            Plan::Move { block } => {
                let ca = clone_ca.expect("blocks were planned");
                let at = st.segments.locate(ca, block).expect("clone block exists");
                move_into_block(m, &mut st, &mut ps, va, ploc, at);
                // The parent's PTE and the child's.
                bump_clone_ref(&mut st, at, 2);
                let pointer = m.fmt.encode(&PteState::Prototype {
                    proto_pte: Some(Va(st.segments.address(at))),
                    protection: Protection::ZERO_ACCESS,
                });
                ctables.write(cloc, pointer);
                if !m.fmt.is_valid(ptables.read(ploc)) {
                    ptables.write(ploc, pointer);
                }
            }
        }
    }
    drop(st);
    cs.note_commit_peak();
    Ok(())
}

fn bump_clone_ref(st: &mut PfnState, at: ProtoLoc, by: u32) {
    let index = st.segments.index(at) as usize;
    if let Some(r) = st
        .segments
        .owner(at)
        .and_then(|ca| st.segments.control_area_mut(ca))
        .and_then(|a| a.clone_refs.get_mut(index))
    {
        *r += by;
    }
}

/// Moves the parent's private page at `va` into clone block `at`: the frame
/// (or slot) now belongs to the prototype PTE, with the copy-on-write form of
/// its protection. A valid page stays valid in the parent, write-protected and
/// copy-on-write, as a shared working-set entry.
fn move_into_block(
    m: &Machine,
    st: &mut PfnState,
    ps: &mut AddressSpace,
    va: Va,
    loc: EntryLoc,
    at: ProtoLoc,
) {
    let tables = ps.tables(m);
    let raw = tables.read(loc);
    match m.fmt.decode(raw) {
        PteState::Valid(h) => {
            let index = st.db.ws_index(h.pfn);
            let e = ps
                .ws
                .remove(index)
                .expect("a valid private page has a WSLE");
            let protection = copy_on_write_form(e.protection);
            if h.dirty {
                st.db.set_modified(h.pfn, true);
                m.release_backing_locked(st, h.pfn);
            }
            let original =
                crate::mm::virtual_memory::reprotect(m, st.db.original_pte(h.pfn), protection);
            let share = st.db.share_count(h.pfn);
            let references = st.db.reference_count(h.pfn);
            m.activate_proto_locked(st, h.pfn, at, original);
            st.db.set_page_use(h.pfn, PageUse::Shareable);
            st.db.set_location(h.pfn, PageLocation::Active);
            st.db.set_share_count(h.pfn, share);
            st.db.set_reference_count(h.pfn, references);
            st.segments.write(at, m.valid_proto_pte(h.pfn, protection));
            let mut w = Wsle::new(va, h.pfn, protection, WsleKind::Shared);
            w.locked = e.locked;
            w.age = e.age;
            ps.ws.insert(w);
            tables.write(
                loc,
                crate::mm::address_space::data_pte(m, h.pfn, protection, false),
            );
            ps.private_pages -= 1;
        }
        PteState::Transition { pfn, protection } => {
            let protection = copy_on_write_form(protection);
            let original =
                crate::mm::virtual_memory::reprotect(m, st.db.original_pte(pfn), protection);
            let location = st.db.location(pfn);
            let references = st.db.reference_count(pfn);
            let on_list = location.is_some_and(PageLocation::is_list);
            if on_list {
                st.db.unlink(pfn);
            }
            m.activate_proto_locked(st, pfn, at, original);
            st.db.set_page_use(pfn, PageUse::Shareable);
            st.db.set_reference_count(pfn, references);
            st.segments
                .write(at, m.fmt.encode(&PteState::Transition { pfn, protection }));
            if on_list {
                m.place_unreferenced_proto_locked(st, pfn);
            }
            ps.private_pages -= 1;
        }
        PteState::PageFile {
            file,
            slot,
            protection,
        } => {
            st.segments.write(
                at,
                m.fmt.encode(&PteState::PageFile {
                    file,
                    slot,
                    protection: copy_on_write_form(protection),
                }),
            );
            ps.private_pages -= 1;
        }
        _ => {}
    }
}
