//! Copy-on-write (WRK MiCopyOnWrite): a write to a page that is shared
//! copy-on-write — a write-copy view's page, or a page a fork shares through a
//! clone block — takes a private copy. Also the private copy that `protect` and
//! a recommit make of a fork-shared page before they change its protection.
//! Callers hold the address-space lock.

use crate::mm::base::counters::bump;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{PAGE_SIZE, Pfn, Va};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Machine, PageNeed, PfnState};
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::NewMapping;
use crate::mm::segment::ProtoLoc;

use super::{Access, AccessFault, count_fault, in_page, prototype_fault, resources, touch};

/// A write to a valid copy-on-write page (a write-copy view's page, or a page a
/// fork shares): a new private page gets a copy, the PTE becomes private,
/// writable and dirty (WRITECOPY → READWRITE), and the shared page loses this
/// mapping; other processes keep the bytes they had.
pub(super) fn copy_on_write(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
) -> Result<Pfn, AccessFault> {
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
    let protection = wsle.protection.written_form();
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
    let map = NewMapping::new(loc, va, page.pfn, protection, true);
    space.install_private_locked(m, &mut st, map, original);
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

/// Makes `va`'s page private if it is still shared with a fork relative through
/// a clone block: the page is brought in (without the access check: its
/// protection is about to change) and copied, as a write would. `protect` and a
/// recommit do this first, because the protection of a clone page lives in the
/// clone block, which the relative shares. Returns whether a copy was made.
pub fn privatize_clone_page(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
) -> Result<bool, AccessFault> {
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
                is_clone(&st, st.segments.locate_address(address))
            };
            if !clone {
                return Ok(false);
            }
            // READONLY here only lets the read in whatever the block's
            // protection is; the copy below takes its protection anew.
            prototype_fault(
                m,
                space,
                va,
                Access::Read,
                Some(address),
                Protection::READONLY,
            )?;
        }
        _ => return Ok(false),
    }
    if let Err(f) = copy_on_write(m, space, va) {
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
