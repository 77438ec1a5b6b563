//! Views of sections in a process: NtMapViewOfSection, NtUnmapViewOfSection and
//! NtFlushVirtualMemory (WRK `mapview.c`, `umapview.c`, `flushsec.c`).
//! Callers hold the process's address-space lock.

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{ALLOCATION_GRANULARITY, Mmpte, PAGE_SIZE, Va, Vpn};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::paging::mapped_writer::flush_range;
use crate::mm::process::AddressSpace;
use crate::mm::segment::ControlAreaId;
use crate::mm::vad::{AddressLimits, SectionRef, Vad};

use super::SectionObject;

/// What NtMapViewOfSection is asked for: where (0: the system chooses), how
/// many bytes (0: to the end of the section), from which offset, with which
/// protection.
#[derive(Clone, Copy, Debug)]
pub struct ViewRequest {
    pub address: u64,
    pub size: u64,
    pub offset: u64,
    pub protection: Protection,
}

/// Maps a view of `s` into `space`. Returns the base and size.
pub fn map(
    m: &Machine,
    space: &mut AddressSpace,
    s: &SectionObject,
    req: ViewRequest,
) -> MmResult<(Va, u64)> {
    let ViewRequest {
        offset, protection, ..
    } = req;
    let size = check_view(s, req)?;
    let pages = size.div_ceil(PAGE_SIZE);
    let bytes = pages * PAGE_SIZE;
    let base = view_base(m, space, req.address, bytes)?;
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
    let section = SectionRef {
        id: s.control_area,
        name: s.name.clone(),
        first_prototype_index: offset / PAGE_SIZE,
        offset,
    };
    let mut vad = Vad::mapped(first, last, protection, section, false);
    vad.commit_charge = charge;
    vad.mem_commit = true;
    // Charges `charge` and the view's page tables.
    space.insert_vad(m, vad)?;
    count_view(m, s.control_area, protection);
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

/// Checks a view request against NT's rules (protection, 64 KB alignment of
/// offset and address, the section's size, MiIsProtectionCompatible). Returns
/// the view's size in bytes (a size of 0 meaning the rest of the section).
fn check_view(s: &SectionObject, req: ViewRequest) -> MmResult<u64> {
    let ViewRequest {
        address,
        size,
        offset,
        protection,
    } = req;
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
    if !protection.compatible_with_section(s.protection) {
        return Err(mm_err!(
            SECTION_PROTECTION,
            "a {} view cannot be mapped from section {}, which was created {}",
            protection.name(),
            s.name,
            s.protection.name()
        ));
    }
    Ok(size)
}

/// Where a view of `bytes` goes: at `address`, which must be inside user
/// space, or (0) the lowest free 64 KB-aligned range.
fn view_base(m: &Machine, space: &AddressSpace, address: u64, bytes: u64) -> MmResult<Va> {
    let l = AddressLimits::for_layout(&m.layout);
    if address == 0 {
        return space
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
            });
    }
    let last = address.checked_add(bytes - 1).filter(|&e| e <= l.highest);
    if address < l.lowest || last.is_none() {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "{address:#x}+{bytes:#x} is not inside user space ({:#x}-{:#x})",
            l.lowest,
            l.highest
        ));
    }
    Ok(Va(address))
}

/// A new view of control area `ca` is counted in it (NumberOfMappedViews,
/// NumberOfUserReferences, and WritableUserReferences for shared write).
pub(super) fn count_view(m: &Machine, ca: ControlAreaId, protection: Protection) {
    let mut st = m.pfn_lock();
    if let Some(area) = st.segments.control_area_mut(ca) {
        area.mapped_views += 1;
        area.user_references += 1;
        if protection.allows_write() && !protection.is_copy_on_write() {
            area.writable_user_references += 1;
        }
    }
}

/// Unmaps the view containing `address`: its shared pages lose this mapping,
/// its private (copy-on-write) pages are freed, its charge is returned.
/// Returns the base, size and control area (the caller may delete the area).
pub fn unmap(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
) -> MmResult<(Va, u64, ControlAreaId)> {
    let vad = view_at(space, address)?;
    // Paged-out tables first, so a failure changes nothing.
    space.make_tables_resident(m, vad.start_va().0, vad.end_va().0)?;
    let ca = vad
        .section
        .as_ref()
        .map_or(ControlAreaId::default(), |s| s.id);
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
    if let Err(e) = space.make_tables_resident(m, vad.start_va().0, vad.end_va().0) {
        // Not reached: `unmap` brought them back first, and teardown
        // discarded them (`tear_down`). `destroy_tables` would release what
        // a table still paged out names.
        log::warn!("pid {}: view at {}: {e}", space.pid, vad.range_text());
    }
    let tables = space.tables(m);
    for (va, loc) in tables.nonzero_ptes(vad.starting_vpn, vad.ending_vpn) {
        space.delete_pte(m, loc, va, Mmpte::ZERO);
    }
    space.vads.remove(vad.starting_vpn);
    m.uncharge_commit(vad.commit_charge);
    space.free_empty_tables(m, vad.start_va().0, vad.end_va().0);
    space.return_table_charges(m, vad.starting_vpn, vad.ending_vpn);
    let system = is_system_view(m, vad);
    let mut st = m.pfn_lock();
    if let Some(s) = &vad.section
        && let Some(ca) = st.segments.control_area_mut(s.id)
    {
        if system {
            ca.system_cache_views -= 1;
            return;
        }
        ca.mapped_views -= 1;
        ca.user_references -= 1;
        if vad.protection.allows_write() && !vad.protection.is_copy_on_write() {
            ca.writable_user_references -= 1;
        }
    }
}

/// Whether `vad` is a view in system space: the cache manager's view of a
/// file in the system cache (a VACB), which is not a user reference.
pub fn is_system_view(m: &Machine, vad: &Vad) -> bool {
    vad.start_va().0 > m.layout.highest_user_address()
}

/// MmMapViewInSystemCache: maps `bytes` of control area `ca` from `offset`
/// (a multiple of 256 KB) at `base` in the system cache, read-write, into the
/// System process's address space `space`. The view is counted in
/// NumberOfSystemCacheViews, not as a user reference; its page tables are
/// charged like any view's. The caller (the cache manager) chose `base`.
pub fn map_in_system_cache(
    m: &Machine,
    space: &mut AddressSpace,
    ca: ControlAreaId,
    name: &str,
    base: Va,
    offset: u64,
    bytes: u64,
) -> MmResult<()> {
    let first = base.vpn();
    let last = Vpn(first.0 + bytes.div_ceil(PAGE_SIZE) - 1);
    let section = SectionRef {
        id: ca,
        name: name.to_string(),
        first_prototype_index: offset / PAGE_SIZE,
        offset,
    };
    let mut vad = Vad::mapped(first, last, Protection::READWRITE, section, false);
    vad.mem_commit = true;
    space.insert_vad(m, vad)?;
    if let Some(area) = m.pfn_lock().segments.control_area_mut(ca) {
        area.system_cache_views += 1;
    }
    Ok(())
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
    let outcome = flush_range(m, section.id, first_index, last_index, false);
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
    for (_, loc) in tables.nonzero_ptes(first, last) {
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
