//! Views of sections in a process: NtMapViewOfSection, NtUnmapViewOfSection and
//! NtFlushVirtualMemory (WRK `mapview.c`, `umapview.c`, `flushsec.c`).
//! Callers hold the process's address-space lock.

use crate::mm::address_space::AddressSpace;
use crate::mm::memory::Machine;
use crate::mm::protection::Protection;
use crate::mm::pte::PteState;
use crate::mm::status::MmResult;
use crate::mm::types::{ALLOCATION_GRANULARITY, PAGE_SIZE, Va, Vpn};
use crate::mm::vad::{SectionRef, Vad};
use crate::mm::virtual_memory::{limits, nonzero_ptes};

use super::SectionObject;

/// Whether a view with protection `view` may be mapped from a section created
/// with `section` (NT's MiIsProtectionCompatible): shared write needs a
/// writable section, execute an executable one; copy-on-write and read-only
/// views only need read access, and no-access views are always allowed.
pub fn compatible(section: Protection, view: Protection) -> bool {
    let v = view.base();
    if v.is_noaccess() {
        return true;
    }
    let s = section.base();
    let shared_write = v.allows_write() && !v.is_copy_on_write();
    let section_shared_write = s.allows_write() && !s.is_copy_on_write();
    (!shared_write || section_shared_write)
        && (!v.allows_execute() || s.allows_execute())
        && (!v.allows_read() || s.allows_read())
}

/// Maps a view of `s` into `space`. Returns the base and size.
pub fn map(
    m: &Machine,
    space: &mut AddressSpace,
    s: &SectionObject,
    address: u64,
    size: u64,
    offset: u64,
    protection: Protection,
) -> MmResult<(Va, u64)> {
    if protection.raw() == 0 || protection.is_decommit() && !protection.is_noaccess() {
        return Err(mm_err!(
            INVALID_PAGE_PROTECTION,
            "{} is not a protection a view can have",
            protection.name()
        ));
    }
    if !offset.is_multiple_of(ALLOCATION_GRANULARITY) {
        return Err(mm_err!(
            MAPPED_ALIGNMENT,
            "the view offset {offset:#x} is not a multiple of 64 KB (the allocation granularity)"
        ));
    }
    if !address.is_multiple_of(ALLOCATION_GRANULARITY) {
        return Err(mm_err!(
            MAPPED_ALIGNMENT,
            "the view address {address:#x} is not a multiple of 64 KB (the allocation granularity)"
        ));
    }
    if offset >= s.size {
        return Err(mm_err!(
            INVALID_VIEW_SIZE,
            "the offset {offset:#x} is at or beyond the end of section {} ({:#x} bytes)",
            s.name,
            s.size
        ));
    }
    let size = if size == 0 { s.size - offset } else { size };
    if offset.checked_add(size).is_none_or(|end| end > s.size) {
        return Err(mm_err!(
            INVALID_VIEW_SIZE,
            "{size:#x} bytes at offset {offset:#x} run past the end of section {} ({:#x} bytes)",
            s.name,
            s.size
        ));
    }
    if !compatible(s.protection, protection) {
        return Err(mm_err!(
            SECTION_PROTECTION,
            "a {} view cannot be mapped from section {}, which was created {}",
            protection.name(),
            s.name,
            s.protection.name()
        ));
    }
    let pages = size.div_ceil(PAGE_SIZE);
    let bytes = pages * PAGE_SIZE;
    let l = limits(m);
    let base = if address == 0 {
        space
            .vads
            .find_free(
                bytes,
                ALLOCATION_GRANULARITY,
                Va(l.lowest),
                Va(l.highest),
                false,
            )
            .ok_or_else(|| {
                mm_err!(
                    NO_MEMORY,
                    "no free range of {bytes:#x} bytes is left in the address space"
                )
            })?
    } else {
        let last = address.checked_add(bytes - 1).filter(|&e| e <= l.highest);
        if address < l.lowest || last.is_none() {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "{address:#x}+{bytes:#x} is not inside user space ({:#x}-{:#x})",
                l.lowest,
                l.highest
            ));
        }
        Va(address)
    };
    let first = base.vpn();
    let last = Vpn(first.0 + pages - 1);
    if let Some(v) = space.vads.find_overlapping(first, last).next() {
        return Err(mm_err!(
            CONFLICTING_ADDRESSES,
            "{:#x}-{:#x} overlaps the reservation at {}",
            base.0,
            base.0 + bytes - 1,
            v.range_text()
        ));
    }
    // A copy-on-write view is charged for every page: each may become private.
    let charge = if protection.is_copy_on_write() {
        pages
    } else {
        0
    };
    m.charge_commit(charge)?;
    let mut vad = Vad::mapped(
        first,
        last,
        protection,
        SectionRef {
            id: s.control_area,
            name: s.name.clone(),
            first_prototype_index: offset / PAGE_SIZE,
            offset,
        },
        false,
    );
    vad.commit_charge = charge;
    vad.mem_commit = true;
    if let Err(e) = space.vads.insert(vad) {
        m.uncharge_commit(charge);
        return Err(e);
    }
    space.note_commit_peak();
    {
        let mut st = m.pfn_lock();
        if let Some(ca) = st.segments.control_area_mut(s.control_area) {
            ca.mapped_views += 1;
            ca.user_references += 1;
            if protection.allows_write() && !protection.is_copy_on_write() {
                ca.writable_user_references += 1;
            }
        }
    }
    crate::mm_event!(
        m,
        "view.map",
        "pid={} section={} base={:#x} size={bytes:#x} offset={offset:#x}",
        space.pid,
        s.name,
        base.0
    );
    Ok((base, bytes))
}

/// Unmaps the view containing `address`: its shared pages lose this mapping,
/// its private (copy-on-write) pages are freed, its charge is returned.
/// Returns the base, size and control area (the caller may delete the area).
pub fn unmap(m: &Machine, space: &mut AddressSpace, address: u64) -> MmResult<(Va, u64, u32)> {
    let vad = view_at(space, address)?;
    let ca = vad.section.as_ref().map_or(0, |s| s.id);
    remove_view(m, space, &vad);
    crate::mm_event!(
        m,
        "view.unmap",
        "pid={} base={:#x} size={:#x}",
        space.pid,
        vad.start_va().0,
        vad.size_bytes()
    );
    Ok((vad.start_va(), vad.size_bytes(), ca))
}

/// Takes a view out of an address space (unmap, and process termination).
pub fn remove_view(m: &Machine, space: &mut AddressSpace, vad: &Vad) {
    let tables = space.tables(m);
    for (va, loc) in nonzero_ptes(&tables, vad.starting_vpn, vad.ending_vpn) {
        space.delete_pte(m, loc, va, 0);
    }
    space.vads.remove(vad.starting_vpn);
    m.uncharge_commit(vad.commit_charge);
    space.free_empty_tables(m, vad.start_va().0, vad.end_va().0);
    let mut st = m.pfn_lock();
    if let Some(s) = &vad.section
        && let Some(ca) = st.segments.control_area_mut(s.id)
    {
        ca.mapped_views -= 1;
        ca.user_references -= 1;
        if vad.protection.allows_write() && !vad.protection.is_copy_on_write() {
            ca.writable_user_references -= 1;
        }
    }
}

/// NtFlushVirtualMemory: the dirty bits of this process's PTEs in the range go
/// to their frames (the PTEs become clean, so the next write marks the frame
/// again), then every modified page of the range is written to the section's
/// file. Pagefile-backed views have nothing to flush. Returns the range and the
/// pages written.
pub fn flush(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
    size: u64,
) -> MmResult<(Va, u64, u64)> {
    let vad = view_at(space, address)?;
    let first = Va(address).vpn();
    let last = if size == 0 {
        vad.ending_vpn
    } else {
        let end = address
            .checked_add(size - 1)
            .ok_or_else(|| mm_err!(INVALID_PARAMETER, "{address:#x} + {size:#x} wraps around"))?;
        Va(end).vpn()
    };
    if last > vad.ending_vpn {
        return Err(mm_err!(
            NOT_MAPPED_VIEW,
            "{:#x}-{:#x} runs past the end of the view at {}",
            first.va().0,
            last.va().0 + PAGE_SIZE - 1,
            vad.range_text()
        ));
    }
    let section = vad.section.clone().expect("a view has a section");
    harvest_dirty(m, space, first, last);
    let first_index = section.first_prototype_index + (first.0 - vad.starting_vpn.0);
    let last_index = section.first_prototype_index + (last.0 - vad.starting_vpn.0);
    let outcome = super::writer::flush_range(m, section.id, first_index, last_index, false);
    if outcome.failed > 0 {
        return Err(mm_err!(
            IN_PAGE_ERROR,
            "{} pages could not be written to the section's file (they stay modified)",
            outcome.failed
        ));
    }
    let base = first.va();
    Ok((base, (last.0 - first.0 + 1) * PAGE_SIZE, outcome.written))
}

/// Moves the Dirty bits of this process's valid shared PTEs in `first..=last`
/// to their frames' Modified flags and cleans the PTEs (NT's
/// MiFlushDirtyBitsToPfn), so the next write marks the frame again.
pub fn harvest_dirty(m: &Machine, space: &AddressSpace, first: Vpn, last: Vpn) {
    let tables = space.tables(m);
    let mut st = m.pfn_lock();
    for (_, loc) in nonzero_ptes(&tables, first, last) {
        if let PteState::Valid(mut h) = m.fmt.decode(tables.read(loc))
            && h.dirty
            && st.db.prototype(h.pfn)
        {
            m.mark_shared_dirty_locked(&mut st, h.pfn);
            h.dirty = false;
            tables.write(loc, m.fmt.encode(&PteState::Valid(h)));
        }
    }
}

/// The view VAD containing `address` (STATUS_NOT_MAPPED_VIEW if none).
fn view_at(space: &AddressSpace, address: u64) -> MmResult<Vad> {
    space
        .vads
        .find(Va(address).vpn())
        .filter(|v| v.section.is_some())
        .cloned()
        .ok_or_else(|| {
            mm_err!(
                NOT_MAPPED_VIEW,
                "{address:#x} is not inside a mapped view of a section"
            )
        })
}
