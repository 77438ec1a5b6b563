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

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, Pfn, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Machine, PfnState};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::data_pte;
use crate::mm::process::working_set::{Wsle, WsleKind};
use crate::mm::segment::{Backing, ControlAreaId, ProtoLoc};
use crate::mm::vad::{Vad, VadType};

use super::view::count_view;

/// What happens to one PTE of the parent.
enum Plan {
    /// A private page that moves into clone block `block`.
    Move { block: u64 },
    /// The child gets this value as is (demand zero, decommitted, a view's
    /// lookup-form pointer).
    Copy(Mmpte),
    /// The child points at an existing clone block too.
    Share(ProtoLoc),
}

/// Every PTE of the parent that holds anything, with what happens to it, and
/// how many clone blocks the moves need.
struct ClonePlan {
    ptes: Vec<(Va, EntryLoc, Plan)>,
    blocks: u64,
}

/// Clones the parent's address space (`ps`, locked) into the child's (`cs`,
/// locked after it, and new: nobody else can reach it yet). Everything that
/// can fail is done first; a failure leaves the child holding exactly what it
/// was charged, for the caller to terminate. NT: MiCloneProcessAddressSpace.
pub fn clone_into(m: &Machine, ps: &mut AddressSpace, cs: &mut AddressSpace) -> MmResult<()> {
    check_forkable(ps)?;
    // 1. Everything that can fail, first: the child's commit, its page tables,
    //    the clone control area.
    // The parent's paged-out tables come back before anything is planned
    // (resident, they are Active: making the child's tables cannot reuse them).
    ps.make_tables_resident(m, 0, m.layout.highest_user_address())?;
    copy_vads(m, ps, cs)?;
    for (va, _, _) in plan_clone(m, ps).ptes {
        cs.ensure_leaf(m, va)?;
    }
    // 2. Plan every PTE that holds anything, in every VAD, now that no page
    //    will be allocated before the plan is carried out: making the child's
    //    tables may have reused the frame of one of the parent's standby
    //    pages, whose PTE then went back to its paging-file slot or (after
    //    MEM_RESET) to demand zero. WRK likewise reads each PTE only once it
    //    holds what the child needs for it.
    let plan = plan_clone(m, ps);
    let ctables = cs.tables(m);
    let mut child_locs = Vec::with_capacity(plan.ptes.len());
    for (va, _, _) in &plan.ptes {
        // A PTE the second plan keeps was in the first one: its table exists.
        let loc = ctables.leaf(*va).ok_or_else(|| {
            mm_err!(
                INSUFFICIENT_RESOURCES,
                "no child page table for {:#x}",
                va.0
            )
        })?;
        child_locs.push(loc);
    }
    let mut st = m.pfn_lock();
    let clone_ca = add_clone_area(m, &mut st, plan.blocks)?;
    // 3. Nothing fails from here: move the pages, point both processes at them.
    for ((va, ploc, plan), cloc) in plan.ptes.into_iter().zip(child_locs) {
        apply(m, &mut st, (ps, va, ploc), (cs, cloc), (plan, clone_ca));
    }
    drop(st);
    cs.note_commit_peak();
    Ok(())
}

/// WRK's MiCloneProcessAddressSpace refuses to clone a process that has a
/// physical VAD of any sort (its PhysicalVadRoot is not empty) with
/// STATUS_INVALID_PAGE_PROTECTION, before anything is done: a write-watch
/// VAD's bitmap (like an AWE or large-page VAD's frames) is not duplicated.
/// So no child ever gets a write-watch VAD, and no write-watch page becomes a
/// clone block.
pub fn check_forkable(ps: &AddressSpace) -> MmResult<()> {
    // WRK MiCloneProcessAddressSpace: "AWE, write watch and large page
    // regions are not duplicated so fork is not allowed": any entry in the
    // process's PhysicalVadRoot refuses the clone.
    let physical = |t: VadType| {
        matches!(
            t,
            VadType::WriteWatch
                | VadType::Awe
                | VadType::LargePages
                | VadType::DevicePhysicalMemory
                | VadType::RotatePhysical
        )
    };
    if let Some(v) = ps.vads.iter().find(|v| physical(v.vad_type)) {
        return Err(mm_err!(
            INVALID_PAGE_PROTECTION,
            "a process with a {} region ({}) cannot be forked: NT does not clone AWE, write-watch or large-page regions",
            v.type_name(),
            v.range_text()
        ));
    }
    Ok(())
}

/// Step 1: what happens to each PTE of the parent that holds anything.
fn plan_clone(m: &Machine, ps: &AddressSpace) -> ClonePlan {
    let mut plan = ClonePlan {
        ptes: Vec::new(),
        blocks: 0,
    };
    let st = m.pfn_lock();
    let tables = ps.tables(m);
    for vad in ps.vads.iter() {
        let view_ca = vad.section.as_ref().map(|s| s.id);
        for (va, loc) in tables.nonzero_ptes(vad.starting_vpn, vad.ending_vpn) {
            let raw = tables.read(loc);
            let decided = match m.fmt.decode(raw) {
                PteState::Valid(h) if st.db.prototype(h.pfn) => {
                    plan_shared_page(m, &st, ps, vad.protection, view_ca, va, h.pfn)
                }
                PteState::Valid(_) | PteState::Transition { .. } | PteState::PageFile { .. } => {
                    plan.blocks += 1;
                    Some(Plan::Move {
                        block: plan.blocks - 1,
                    })
                }
                PteState::Prototype {
                    proto_pte: Some(address),
                    ..
                } => match st.segments.locate_address(address) {
                    Some(at) if st.segments.owner(at) != view_ca => Some(Plan::Share(at)),
                    _ => None,
                },
                PteState::Prototype {
                    proto_pte: None, ..
                }
                | PteState::DemandZero { .. }
                | PteState::Decommitted => Some(Plan::Copy(raw)),
                _ => None,
            };
            if let Some(p) = decided {
                plan.ptes.push((va, loc, p));
            }
        }
    }
    plan
}

/// The plan for a valid page mapped through a prototype PTE: a fork relative's
/// clone block is shared; the view's own page is faulted in by the child from
/// the prototype PTE, with the protection `protect` gave it here (VAD-lookup
/// form) if that differs from the view's.
fn plan_shared_page(
    m: &Machine,
    st: &PfnState,
    ps: &AddressSpace,
    view_protection: Protection,
    view_ca: Option<ControlAreaId>,
    va: Va,
    pfn: Pfn,
) -> Option<Plan> {
    match m.proto_of_locked(st, pfn) {
        Some(at) if st.segments.owner(at) != view_ca => Some(Plan::Share(at)),
        _ => {
            let own = ps
                .ws_index_of(st, va, pfn)
                .and_then(|i| ps.ws.get(i))
                .map(|e| e.protection);
            match own {
                Some(p) if p != view_protection => {
                    Some(Plan::Copy(m.fmt.encode(&PteState::Prototype {
                        proto_pte: None,
                        protection: p,
                    })))
                }
                _ => None,
            }
        }
    }
}

/// Step 2, first part: the child gets the parent's VADs, charged as the
/// parent's are (their commit and their page tables); its views are counted
/// in their control areas. A failure part way takes out the VADs inserted so
/// far, with their charges, so that terminating the child gives back exactly
/// what it holds (a view VAD left uncounted would be uncounted twice).
fn copy_vads(m: &Machine, ps: &AddressSpace, cs: &mut AddressSpace) -> MmResult<()> {
    let mut inserted: Vec<&Vad> = Vec::new();
    for v in ps.vads.iter() {
        if let Err(e) = cs.insert_vad(m, v.clone()) {
            for v in inserted {
                cs.vads.remove(v.starting_vpn);
                m.uncharge_commit(v.commit_charge);
                cs.return_table_charges(m, v.starting_vpn, v.ending_vpn);
            }
            return Err(e);
        }
        inserted.push(v);
    }
    for v in cs.vads.iter() {
        if let Some(s) = &v.section {
            count_view(m, s.id, v.protection);
        }
    }
    Ok(())
}

/// Step 2, last part: the clone control area with `blocks` clone blocks, if
/// any page moves.
fn add_clone_area(m: &Machine, st: &mut PfnState, blocks: u64) -> MmResult<Option<ControlAreaId>> {
    if blocks == 0 {
        return Ok(None);
    }
    let ca = st
        .segments
        .add_control_area(Backing::Clone, Protection::WRITECOPY);
    if st
        .segments
        .add_subsection(ca, blocks, Mmpte::ZERO, 0, m.fmt.max_subsection())
        .is_none()
    {
        st.segments.remove_control_area(ca);
        return Err(mm_err!(
            INSUFFICIENT_RESOURCES,
            "paged pool has no room for {blocks} clone blocks"
        ));
    }
    Ok(Some(ca))
}

/// Step 3 for one PTE: the child's PTE at `cloc` gets the planned value; a
/// moving page goes into its clone block and both PTEs point at it.
fn apply(
    m: &Machine,
    st: &mut PfnState,
    (ps, va, ploc): (&mut AddressSpace, Va, EntryLoc),
    (cs, cloc): (&AddressSpace, EntryLoc),
    (plan, clone_ca): (Plan, Option<ControlAreaId>),
) {
    let ctables = cs.tables(m);
    let pointer_to = |st: &PfnState, at: ProtoLoc| {
        m.fmt.encode(&PteState::Prototype {
            proto_pte: Some(st.segments.address(at)),
            protection: Protection::ZERO_ACCESS,
        })
    };
    match plan {
        Plan::Copy(raw) => ctables.write(cloc, raw),
        Plan::Share(at) => {
            bump_clone_ref(st, at, 1);
            ctables.write(cloc, pointer_to(st, at));
        }
        Plan::Move { block } => {
            let ca = clone_ca.expect("blocks were planned");
            let at = st.segments.locate(ca, block).expect("clone block exists");
            move_into_block(m, st, ps, va, ploc, at);
            // The parent's PTE and the child's.
            bump_clone_ref(st, at, 2);
            let pointer = pointer_to(st, at);
            ctables.write(cloc, pointer);
            let ptables = ps.tables(m);
            if !m.fmt.is_valid(ptables.read(ploc)) {
                ptables.write(ploc, pointer);
            }
        }
    }
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
            let protection = e.protection.copy_on_write_form();
            if h.dirty {
                st.db.set_modified(h.pfn, true);
                m.release_backing_locked(st, h.pfn);
            }
            let original = m
                .fmt
                .reprotect_original(st.db.original_pte(h.pfn), protection);
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
            tables.write(loc, data_pte(m, h.pfn, protection, false));
            ps.private_pages -= 1;
        }
        PteState::Transition { pfn, protection } => {
            let protection = protection.copy_on_write_form();
            let original = m
                .fmt
                .reprotect_original(st.db.original_pte(pfn), protection);
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
                    protection: protection.copy_on_write_form(),
                }),
            );
            ps.private_pages -= 1;
        }
        _ => {}
    }
}
