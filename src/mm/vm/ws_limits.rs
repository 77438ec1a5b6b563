//! SetProcessWorkingSetSize, and resident available memory
//! (MmResidentAvailablePages), which a raise of a minimum is charged against.

use crate::mm::base::status::{MmResult, NtStatus, WithStatus};
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::process::working_set::MINIMUM_FLOOR;

use super::lock::MM_FLUID_WORKING_SET;

/// Resident available memory (MmResidentAvailablePages, `machine/resident.rs`).
pub fn resident_available(m: &Machine, bad_pages: u64) -> i64 {
    m.resident_available(bad_pages)
}

/// Moves a process's minimum from `old` to `new` in the system-wide total. A
/// raise is refused with STATUS_INSUFFICIENT_RESOURCES when resident available
/// memory, less a reserve, cannot cover it (MmAdjustWorkingSetSizeEx); the
/// check and the charge are one atomic step, so two raises cannot both take
/// the last pages.
fn charge_minimum_growth(m: &Machine, old: u64, new: u64) -> MmResult<()> {
    if new <= old {
        m.uncharge_ws_minimum(old - new);
        return Ok(());
    }
    let growth = new - old;
    m.charge_ws_minimum(
        growth,
        &format!("raising the working-set minimum by {growth} pages"),
    )
}

/// The limits a SetProcessWorkingSetSize call left in force.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WsLimits {
    /// Pages.
    pub minimum: u64,
    /// Pages.
    pub maximum: u64,
    /// MaximumWorkingSetHard: the maximum is enforced even when memory is plentiful.
    pub hard_maximum: bool,
}

/// MmMaximumWorkingSetSize: the largest limit a process may have, 512 pages
/// less than the pages available at boot (WRK MmInitSystem). Machines too
/// small for that (under 4 MB, tests only) get half their RAM.
pub fn maximum_working_set_size(m: &Machine) -> u64 {
    let pages = m.phys.pages() as u64;
    pages.saturating_sub(512).max(pages / 2)
}

/// SetProcessWorkingSetSize(Ex), as WRK's MmAdjustWorkingSetSizeEx does it.
/// Sizes are bytes, truncated to pages; `u64::MAX` for both ((SIZE_T)-1)
/// empties the working set and changes no limit; 0 keeps a limit as it is.
/// `hard` sets or clears MaximumWorkingSetHard (`None` leaves it).
///
/// Refused (nothing changes): minimum above maximum, or a maximum that the
/// locked entries plus MM_FLUID_WORKING_SET would not leave room under, with
/// STATUS_BAD_WORKING_SET_LIMIT; a raise of the minimum that resident
/// available memory cannot cover, STATUS_INSUFFICIENT_RESOURCES. A limit
/// outside [MmMinimumWorkingSetSize, MmMaximumWorkingSetSize] is moved inside
/// and the call succeeds with STATUS_WORKING_SET_LIMIT_RANGE. A maximum below
/// the current size trims the working set down to it.
pub fn set_ws_limits(
    m: &Machine,
    space: &mut AddressSpace,
    min_bytes: u64,
    max_bytes: u64,
    hard: Option<bool>,
) -> MmResult<WithStatus<WsLimits>> {
    if min_bytes == u64::MAX && max_bytes == u64::MAX {
        space.trim_all(m);
        return Ok(WithStatus::success(current(space)));
    }
    let keep = |bytes: u64, now: u64| if bytes == 0 { now } else { bytes / PAGE_SIZE };
    let mut min = keep(min_bytes, space.ws.minimum);
    let mut max = keep(max_bytes, space.ws.maximum);
    if min > max {
        return Err(mm_err!(
            BAD_WORKING_SET_LIMIT,
            "the minimum ({min} pages) is above the maximum ({max} pages)"
        ));
    }
    let ceiling = maximum_working_set_size(m);
    let clamped = max > ceiling || min > ceiling || min < MINIMUM_FLOOR;
    max = max.min(ceiling);
    min = min.clamp(MINIMUM_FLOOR, ceiling);
    let first_dynamic = space.ws.first_dynamic();
    if first_dynamic + MM_FLUID_WORKING_SET >= max {
        return Err(mm_err!(
            BAD_WORKING_SET_LIMIT,
            "{first_dynamic} working-set entries are locked (the process's system pages and locked pages); the maximum must be above {} pages",
            first_dynamic + MM_FLUID_WORKING_SET
        ));
    }
    let untrimmable = space.ws.iter().filter(|(_, e)| !e.trimmable()).count() as u64;
    if untrimmable > max {
        return Err(mm_err!(
            BAD_WORKING_SET_LIMIT,
            "{untrimmable} pages of the working set (locked pages and page tables) cannot leave it; the maximum must be at least that"
        ));
    }
    charge_minimum_growth(m, space.ws.minimum, min)?;
    space.ws.minimum = min;
    space.ws.maximum = max;
    if let Some(hard) = hard {
        space.ws.hard_maximum = hard;
    }
    trim_to(m, space, max);
    Ok(WithStatus::informing(
        current(space),
        clamped,
        NtStatus::WORKING_SET_LIMIT_RANGE,
    ))
}

fn current(space: &AddressSpace) -> WsLimits {
    WsLimits {
        minimum: space.ws.minimum,
        maximum: space.ws.maximum,
        hard_maximum: space.ws.hard_maximum,
    }
}

/// Trims the working set down to `max` entries, lowest entries first.
fn trim_to(m: &Machine, space: &mut AddressSpace, max: u64) {
    if space.ws.len() <= max {
        return;
    }
    let indexes: Vec<u32> = space.ws.iter().map(|(i, _)| i).collect();
    for i in indexes {
        if space.ws.len() <= max {
            break;
        }
        space.trim_entry(m, i);
    }
}
