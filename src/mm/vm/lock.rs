//! NtLockVirtualMemory and NtUnlockVirtualMemory (MAP_PROCESS: locked in the
//! working set), following WRK `lockvm.c`.

use crate::mm::base::status::{MmError, MmResult, NtStatus, WithStatus};
use crate::mm::base::types::{PAGE_SIZE, Va, Vpn};
use crate::mm::fault::{Access, touch};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::vad::VadType;

/// MM_FLUID_WORKING_SET: pages a working set must keep unlocked above its
/// locked ones, so it can still take faults.
pub const MM_FLUID_WORKING_SET: u64 = 8;

/// The pages of `[address, address + size)`, rounded out to whole pages.
/// NtLockVirtualMemory and NtUnlockVirtualMemory check the base and size
/// against MM_HIGHEST_USER_ADDRESS and answer plain STATUS_INVALID_PARAMETER.
fn page_range(m: &Machine, address: u64, size: u64) -> MmResult<(Vpn, Vpn)> {
    let highest = m.layout.highest_user_address();
    if address > highest {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "address {address:#x} is above the highest user address {highest:#x}"
        ));
    }
    if highest - address < size {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "{size:#x} bytes at {address:#x} run past the highest user address {highest:#x}"
        ));
    }
    if size == 0 {
        return Err(mm_err!(INVALID_PARAMETER, "the size is 0"));
    }
    Ok((Va(address).vpn(), Va(address + (size - 1)).vpn()))
}

/// The VAD rules of both services: every page must be reserved (no VAD:
/// STATUS_ACCESS_VIOLATION for a lock) and not physical or large-page memory
/// (STATUS_INCOMPATIBLE_FILE_MAP). Returns the first page without a VAD.
fn first_unreserved(space: &AddressSpace, first: Vpn, last: Vpn) -> MmResult<Option<Vpn>> {
    let mut vpn = first;
    while vpn <= last {
        let Some(v) = space.vads.find(vpn) else {
            return Ok(Some(vpn));
        };
        if matches!(
            v.vad_type,
            VadType::Awe | VadType::LargePages | VadType::DevicePhysicalMemory
        ) {
            return Err(mm_err!(
                INCOMPATIBLE_FILE_MAP,
                "the {} reservation at {} cannot be locked or unlocked",
                v.type_name(),
                v.range_text()
            ));
        }
        vpn = Vpn(v.ending_vpn.0 + 1);
    }
    Ok(None)
}

/// NtLockVirtualMemory (MAP_PROCESS): probes every page as a read would
/// (faulting it in), then locks them all in the working set. Returns the
/// pages newly locked, with STATUS_WAS_LOCKED if some were locked already.
///
/// WRK's order: the quota test with NumberToLock (pages less one, as WRK
/// computes it) against the minimum; every page must have a VAD
/// (STATUS_ACCESS_VIOLATION); the quota again with the locked entries
/// (FirstDynamic: the process's system pages and its locked pages); then the
/// probe, whose exception is the answer: an uncommitted or no-access page
/// STATUS_ACCESS_VIOLATION, a guard page STATUS_GUARD_PAGE_VIOLATION (the
/// guard is gone). Pages probed before a failure stay in the working set,
/// unlocked.
pub fn lock(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
    size: u64,
) -> MmResult<WithStatus<u64>> {
    let (first, last) = page_range(m, address, size)?;
    let to_lock = last.0 - first.0;
    if to_lock + MM_FLUID_WORKING_SET > space.ws.minimum {
        return Err(quota_error(space, to_lock + 1, 0));
    }
    // The range is now at most the minimum working set long, which bounds
    // every loop below.
    if let Some(vpn) = first_unreserved(space, first, last)? {
        return Err(mm_err!(
            ACCESS_VIOLATION,
            "{:#x} is not reserved; only committed pages can be locked",
            vpn.va().0
        ));
    }
    let already = (first.0..=last.0)
        .filter(|&v| locked_entry(m, space, Vpn(v)).is_some_and(|(_, l)| l))
        .count() as u64;
    let first_dynamic = space.ws.first_dynamic();
    if space.ws.minimum + already < first_dynamic + to_lock + MM_FLUID_WORKING_SET {
        return Err(quota_error(space, to_lock + 1, already));
    }
    // Every page locked is charged against resident available memory
    // (MiChargeResidentAvailable in NtLockVirtualMemory), before anything
    // changes; what turns out locked already is given back below.
    let charge = to_lock + 1 - already;
    m.charge_resident(charge, &format!("locking {charge} pages"))?;
    for vpn in first.0..=last.0 {
        if let Err(f) = touch(m, space, Vpn(vpn).va(), Access::Read) {
            m.uncharge_resident(charge);
            return Err(f.error);
        }
    }
    let new = lock_resident(m, space, first, last).inspect_err(|_| m.uncharge_resident(charge))?;
    m.uncharge_resident(charge.saturating_sub(new));
    Ok(WithStatus::informing(
        new,
        already > 0,
        NtStatus::WAS_LOCKED,
    ))
}

fn quota_error(space: &AddressSpace, pages: u64, already: u64) -> MmError {
    mm_err!(
        WORKING_SET_QUOTA,
        "locking {pages} pages ({already} of them locked already) with {} locked working-set entries (the process's system pages and locked pages) needs a working-set minimum of at least {} pages (it is {}); raise it with ws-limits",
        space.ws.first_dynamic(),
        space.ws.first_dynamic() + (pages - 1) + MM_FLUID_WORKING_SET - already,
        space.ws.minimum
    )
}

/// Locks the probed pages. A page the probe brought in may have left the
/// working set since (replaced by a later page of the range), so each is
/// touched again first; if that fails (no page even after reclaiming) the
/// pages this call locked are unlocked again and the call fails, so a
/// refused lock changes no lock (the caller's retry after reclaiming from
/// other processes counts them as new).
fn lock_resident(m: &Machine, space: &mut AddressSpace, first: Vpn, last: Vpn) -> MmResult<u64> {
    let mut newly = Vec::new();
    for vpn in first.0..=last.0 {
        if let Err(f) = touch(m, space, Vpn(vpn).va(), Access::Read) {
            for v in newly {
                set_locked(m, space, v, false);
            }
            return Err(f.error);
        }
        if set_locked(m, space, Vpn(vpn), true) == Some(false) {
            newly.push(Vpn(vpn));
        }
    }
    Ok(newly.len() as u64)
}

/// Sets the lock flag of a valid page's working-set entry; returns what it was.
fn set_locked(m: &Machine, space: &mut AddressSpace, vpn: Vpn, locked: bool) -> Option<bool> {
    let (index, was) = locked_entry(m, space, vpn)?;
    space.ws.get_mut(index)?.locked = locked;
    Some(was)
}

/// The working-set entry of a valid page: (index, locked).
fn locked_entry(m: &Machine, space: &AddressSpace, vpn: Vpn) -> Option<(u32, bool)> {
    let tables = space.tables(m);
    let loc = tables.leaf(vpn.va())?;
    let PteState::Valid(h) = m.fmt.decode(tables.read(loc)) else {
        return None;
    };
    let index = space.ws_index_of(&m.pfn_lock(), vpn.va(), h.pfn)?;
    space.ws.get(index).map(|e| (index, e.locked))
}

/// NtUnlockVirtualMemory. Every page must be locked; otherwise (WRK) each
/// page of the range up to the first one with no VAD is looked at, the valid
/// unlocked ones leave the working set, nothing is unlocked, and the answer
/// is STATUS_NOT_LOCKED. Returns the number of pages unlocked.
pub fn unlock(m: &Machine, space: &mut AddressSpace, address: u64, size: u64) -> MmResult<u64> {
    let (first, last) = page_range(m, address, size)?;
    let pages = last.0 - first.0 + 1;
    let hole = first_unreserved(space, first, last)?;
    // More pages than are locked at all cannot all be locked; otherwise the range
    // is no longer than the working set, which bounds the walk.
    if hole.is_none() && pages <= space.ws.locked_count() {
        let entries: Vec<Option<(u32, bool)>> = (first.0..=last.0)
            .map(|v| locked_entry(m, space, Vpn(v)))
            .collect();
        if entries.iter().all(|e| e.is_some_and(|(_, l)| l)) {
            for (index, _) in entries.into_iter().flatten() {
                if let Some(e) = space.ws.get_mut(index) {
                    e.locked = false;
                }
            }
            m.uncharge_resident(pages);
            return Ok(pages);
        }
    }
    let end = hole.map_or(last, |h| Vpn(h.0.saturating_sub(1)));
    if hole != Some(first) {
        remove_unlocked(m, space, first, end);
    }
    Err(mm_err!(
        NOT_LOCKED,
        "{:#x}-{:#x} was not all locked; its unlocked pages were removed from the working set",
        first.va().0,
        last.va().0 + PAGE_SIZE - 1
    ))
}

/// Removes the unlocked valid pages of `[first, last]` from the working set;
/// only the page tables that exist are walked.
fn remove_unlocked(m: &Machine, space: &mut AddressSpace, first: Vpn, last: Vpn) {
    let tables = space.tables(m);
    let valid: Vec<Vpn> = tables
        .nonzero_ptes(first, last)
        .into_iter()
        .filter(|(_, loc)| m.fmt.is_valid(tables.read(*loc)))
        .map(|(va, _)| va.vpn())
        .collect();
    for vpn in valid {
        if let Some((index, false)) = locked_entry(m, space, vpn) {
            space.trim_entry(m, index);
        }
    }
}
