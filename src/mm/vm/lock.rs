//! NtLockVirtualMemory and NtUnlockVirtualMemory (MAP_PROCESS: locked in the
//! working set).

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Va, Vpn};
use crate::mm::fault::{Access, touch};
use crate::mm::hw::pte::{Level, PteState};
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;

use super::protect::page_protection;

/// The pages of `[address, address + size)`, rounded out to whole pages, which
/// must lie in user space.
fn page_range(m: &Machine, address: u64, size: u64) -> MmResult<(Vpn, Vpn)> {
    if size == 0 {
        return Err(mm_err!(INVALID_PARAMETER, "the size is 0"));
    }
    let end = address
        .checked_add(size - 1)
        .ok_or_else(|| mm_err!(INVALID_PARAMETER, "{address:#x} + {size:#x} wraps around"))?;
    let highest = m.layout.highest_user_address();
    if end > highest {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "{address:#x}-{end:#x} goes beyond the highest user address {highest:#x}"
        ));
    }
    Ok((Va(address).vpn(), Va(end).vpn()))
}

/// NtLockVirtualMemory (MAP_PROCESS): makes the pages resident and locks them in
/// the working set. Returns the number of pages newly locked.
pub fn lock(m: &Machine, space: &mut AddressSpace, address: u64, size: u64) -> MmResult<u64> {
    let (first, last) = page_range(m, address, size)?;
    let pages = last.0 - first.0 + 1;
    let locked = space.ws.locked_count();
    // WRK: the working set must keep 8 pages free above the locked ones. Pages of
    // the range that are locked already count once, so `pages` bounds the need;
    // checking it first also bounds every loop below by the working-set minimum.
    let quota_error = |new: u64| {
        mm_err!(
            WORKING_SET_QUOTA,
            "locking {new} more pages needs a working-set minimum above {} pages (it is {}); raise it with ws-limits",
            locked + new + 8,
            space.ws.minimum
        )
    };
    if pages + 8 > space.ws.minimum {
        return Err(quota_error(pages));
    }
    for vpn in first.0..=last.0 {
        let p = page_protection(m, space, Vpn(vpn)).ok_or_else(|| {
            mm_err!(
                NOT_COMMITTED,
                "{:#x} is not committed; only committed pages can be locked",
                Vpn(vpn).va().0
            )
        })?;
        if p.is_noaccess() || p.is_guard() || !p.allows_read() {
            return Err(mm_err!(
                ACCESS_VIOLATION,
                "{:#x} is {}; locked pages must be accessible",
                Vpn(vpn).va().0,
                p.name()
            ));
        }
    }
    let already = (first.0..=last.0)
        .filter(|&v| locked_entry(m, space, Vpn(v)).is_some_and(|(_, l)| l))
        .count() as u64;
    let new = pages - already;
    if locked + new + 8 > space.ws.minimum {
        return Err(quota_error(new));
    }
    // A touch can still fail (no page even after reclaiming): then the pages this
    // call locked are unlocked again, so a refused lock changes nothing (and the
    // caller's retry after reclaiming from other processes counts them as new).
    let mut newly = Vec::new();
    for vpn in first.0..=last.0 {
        let va = Vpn(vpn).va();
        if let Err(f) = touch(m, space, va, Access::Read) {
            for v in newly {
                if let Some((index, _)) = locked_entry(m, space, v)
                    && let Some(e) = space.ws.get_mut(index)
                {
                    e.locked = false;
                }
            }
            return Err(f.error);
        }
        if let Some((index, was)) = locked_entry(m, space, Vpn(vpn))
            && let Some(e) = space.ws.get_mut(index)
        {
            e.locked = true;
            if !was {
                newly.push(Vpn(vpn));
            }
        }
    }
    Ok(new)
}

/// The working-set entry of a valid private page: (index, locked).
fn locked_entry(m: &Machine, space: &AddressSpace, vpn: Vpn) -> Option<(u32, bool)> {
    let tables = space.tables(m);
    let loc = tables.leaf(vpn.va())?;
    let PteState::Valid(h) = m.fmt.decode(tables.read(loc)) else {
        return None;
    };
    let index = space.ws_index_of(&m.pfn_lock(), vpn.va(), h.pfn)?;
    space.ws.get(index).map(|e| (index, e.locked))
}

/// NtUnlockVirtualMemory. Every page must be locked: otherwise the unlocked ones
/// are removed from the working set and STATUS_NOT_LOCKED is returned (NT does
/// exactly this). Returns the number of pages unlocked.
pub fn unlock(m: &Machine, space: &mut AddressSpace, address: u64, size: u64) -> MmResult<u64> {
    let (first, last) = page_range(m, address, size)?;
    let pages = last.0 - first.0 + 1;
    // More pages than are locked at all cannot all be locked; otherwise the range
    // is no longer than the working set, which bounds the walk.
    if pages <= space.ws.locked_count() {
        let entries: Vec<Option<(u32, bool)>> = (first.0..=last.0)
            .map(|v| locked_entry(m, space, Vpn(v)))
            .collect();
        if entries.iter().all(|e| e.is_some_and(|(_, l)| l)) {
            for (index, _) in entries.into_iter().flatten() {
                if let Some(e) = space.ws.get_mut(index) {
                    e.locked = false;
                }
            }
            return Ok(pages);
        }
    }
    // Remove the range's unlocked valid pages from the working set; only the page
    // tables that exist are walked.
    let tables = space.tables(m);
    let mut valid = Vec::new();
    tables.for_each_entry(
        first.va().0,
        last.va().0 + (PAGE_SIZE - 1),
        &mut |level, va, _, raw| {
            if level == Level::Pte && m.fmt.is_valid(raw) {
                valid.push(Va(va).vpn());
            }
        },
    );
    for vpn in valid {
        if let Some((index, false)) = locked_entry(m, space, vpn) {
            space.trim_entry(m, index);
        }
    }
    Err(mm_err!(
        NOT_LOCKED,
        "{:#x}-{:#x} was not all locked; its unlocked pages were removed from the working set",
        first.va().0,
        last.va().0 + PAGE_SIZE - 1
    ))
}
