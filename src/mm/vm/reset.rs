//! MEM_RESET (WRK MiResetVirtualMemory): the caller no longer wants the
//! contents of a range, so no page of it is ever written out again. The pages
//! stay committed and keep their contents until their frames are reused; a
//! page read after that is zeros.
//!
//! Per PTE of the range (a zero PTE, such as a view page this process never
//! touched, is skipped as in WRK):
//! - valid: Accessed is cleared and its working-set entry aged to 3, so it is
//!   trimmed first; a frame only this mapping references loses Modified and
//!   its paging-file slot; Dirty is cleared. Trimmed later, the page goes to
//!   standby with its transition PTE (its OriginalPte is demand zero);
//! - transition on the modified list (no write in flight): Modified cleared,
//!   slot released, moved to standby; the PTE stays a transition PTE;
//! - in a paging file: the slot is released and the PTE becomes demand zero;
//! - a prototype pointer (a view or a fork's clone block): the same rules
//!   applied to the prototype PTE it leads to.
//!
//! Callers hold the address-space lock; the PFN lock is taken per page.

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Pfn, PteAddress, Va, Vpn};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::machine::{Machine, PfnState};
use crate::mm::pfn::PageLocation;
use crate::mm::process::AddressSpace;
use crate::mm::process::working_set::MAXIMUM_AGE;
use crate::mm::segment::ProtoLoc;

/// MEM_RESET of the whole pages `[base, base + size)`, all inside the VAD at
/// `vad_start`. Only private memory and views of pagefile-backed sections can
/// be reset; a view of a mapped file is STATUS_USER_MAPPED_FILE.
pub(super) fn reset(m: &Machine, space: &mut AddressSpace, base: Va, size: u64) -> MmResult<()> {
    refuse_mapped_file(m, space, base)?;
    let tables = space.tables(m);
    let last = Vpn(base.vpn().0 + size / PAGE_SIZE - 1);
    for (va, loc) in tables.nonzero_ptes(base.vpn(), last) {
        match m.fmt.decode(tables.read(loc)) {
            PteState::Valid(h) => reset_valid(m, space, va, loc, h),
            PteState::Transition { pfn, .. } => reset_transition_locked(m, &mut m.pfn_lock(), pfn),
            PteState::PageFile {
                file,
                slot,
                protection,
            } => {
                // The PFN lock orders the slot's release with the writers.
                let st = m.pfn_lock();
                m.pagefiles_lock().release(file, slot);
                tables.write(loc, m.fmt.encode(&PteState::DemandZero { protection }));
                drop(st);
                // No frame and no copy: no longer a private page.
                space.private_pages -= 1;
            }
            PteState::Prototype { proto_pte, .. } => reset_prototype(m, space, va, proto_pte),
            _ => {}
        }
    }
    Ok(())
}

/// WRK refuses MEM_RESET on a view of a mapped file: its pages are the file's.
fn refuse_mapped_file(m: &Machine, space: &AddressSpace, base: Va) -> MmResult<()> {
    let Some(section) = space.vads.find(base.vpn()).and_then(|v| v.section.as_ref()) else {
        return Ok(());
    };
    let st = m.pfn_lock();
    if st
        .segments
        .control_area(section.id)
        .is_some_and(|ca| ca.is_file())
    {
        return Err(mm_err!(
            USER_MAPPED_FILE,
            "{:#x} is in a view of a mapped file; only private memory and pagefile-backed sections can be reset",
            base.0
        ));
    }
    Ok(())
}

/// A valid page: aged, made clean, its paging-file copy dropped.
fn reset_valid(m: &Machine, space: &mut AddressSpace, va: Va, loc: EntryLoc, mut h: HardwarePte) {
    let mut st = m.pfn_lock();
    if h.accessed
        && let Some(index) = space.ws_index_of(&st, va, h.pfn)
        && let Some(e) = space.ws.get_mut(index)
    {
        e.age = MAXIMUM_AGE;
    }
    if st.db.reference_count(h.pfn) == 1 {
        // Only this mapping references the frame (no write in flight).
        st.db.set_modified(h.pfn, false);
        m.release_backing_locked(&mut st, h.pfn);
    }
    drop(st);
    if h.dirty {
        // A write-watch page keeps its write in the VAD's bitmap: MEM_RESET
        // discards the contents, not the record that the page was written
        // (WRK's MiResetVirtualMemory clears the dirty bit uncaptured; mmfs
        // reports a write until ResetWriteWatch).
        space.vads.capture_write_watch(va.vpn());
    }
    if h.accessed || h.dirty {
        h.accessed = false;
        h.dirty = false;
        space
            .tables(m)
            .write(loc, m.fmt.encode(&PteState::Valid(h)));
    }
}

/// A page in transition: one waiting on the modified list (and not being
/// written) moves to standby without its slot; any other stays as it is.
fn reset_transition_locked(m: &Machine, st: &mut PfnState, pfn: Pfn) {
    if st.db.location(pfn) != Some(PageLocation::Modified) || st.db.reference_count(pfn) != 0 {
        return;
    }
    st.db.set_modified(pfn, false);
    st.db.unlink(pfn);
    m.release_backing_locked(st, pfn);
    st.db.insert(pfn, PageLocation::Standby);
}

/// A prototype pointer: the prototype PTE it leads to (through the view's VAD
/// when the PTE carries no address) is reset by the same rules, except that
/// its Accessed and Dirty bits are not this process's to clear.
fn reset_prototype(m: &Machine, space: &AddressSpace, va: Va, pointer: Option<PteAddress>) {
    let mut st = m.pfn_lock();
    let Some(at) = proto_of(&st, space, va, pointer) else {
        return;
    };
    // A paged-out page of prototype PTEs: `Mm::allocate` faulted the range's
    // back before taking this address space; one trimmed again meanwhile
    // holds nothing in memory, and a paging-file copy named there is kept
    // (MEM_RESET allows the data to go; it does not require it).
    let Some(raw) = st.segments.try_read(at) else {
        return;
    };
    match m.fmt.decode_prototype(raw) {
        PteState::Valid(h) if st.db.reference_count(h.pfn) == 1 => {
            st.db.set_modified(h.pfn, false);
            m.release_backing_locked(&mut st, h.pfn);
        }
        PteState::Transition { pfn, .. } => reset_transition_locked(m, &mut st, pfn),
        PteState::PageFile {
            file,
            slot,
            protection,
        } => {
            m.pagefiles_lock().release(file, slot);
            let zero = m.fmt.encode(&PteState::DemandZero { protection });
            st.segments.write(at, zero);
        }
        _ => {}
    }
}

/// The prototype PTE a prototype-pointer PTE of `va` leads to.
fn proto_of(
    st: &PfnState,
    space: &AddressSpace,
    va: Va,
    pointer: Option<PteAddress>,
) -> Option<ProtoLoc> {
    match pointer {
        Some(address) => st.segments.locate_address(address),
        None => {
            let vad = space.vads.find(va.vpn())?;
            let section = vad.section.as_ref()?;
            let index = section.first_prototype_index + (va.vpn().0 - vad.starting_vpn.0);
            st.segments.locate(section.id, index)
        }
    }
}
