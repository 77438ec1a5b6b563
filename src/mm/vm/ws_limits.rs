//! SetProcessWorkingSetSize, and resident available memory
//! (MmResidentAvailablePages), which a raise of a minimum is charged against.

use crate::mm::base::status::MmResult;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::machine::Machine;
use crate::mm::pfn::PageLocation;
use crate::mm::process::AddressSpace;
use crate::mm::process::working_set::MINIMUM_FLOOR;

/// Pages of resident available memory a raise of a working-set minimum must
/// leave (WRK MmAdjustWorkingSetSizeEx: twice MM_HIGH_LIMIT, 19 pages).
const RESIDENT_AVAILABLE_RESERVE: u64 = 2 * 19;

/// Resident available memory (MmResidentAvailablePages): RAM less bad pages
/// less every live process's working-set minimum. Negative when the default
/// minimums of many processes exceed a small RAM.
pub fn resident_available(m: &Machine, bad_pages: u64) -> i64 {
    let minimums = m.ws_minimums.load(std::sync::atomic::Ordering::Relaxed);
    m.phys.pages() as i64 - bad_pages as i64 - minimums as i64
}

/// Moves a process's minimum from `old` to `new` in the system-wide total. A
/// raise is refused with STATUS_INSUFFICIENT_RESOURCES when resident available
/// memory, less a reserve, cannot cover it (MmAdjustWorkingSetSizeEx); the
/// check and the charge are one atomic step, so two raises cannot both take
/// the last pages.
fn charge_minimum_growth(m: &Machine, old: u64, new: u64) -> MmResult<()> {
    use std::sync::atomic::Ordering::Relaxed;
    if new <= old {
        m.ws_minimums.fetch_sub(old - new, Relaxed);
        return Ok(());
    }
    let growth = new - old;
    let bad = m.pfn_lock().db.list_count(PageLocation::Bad);
    let limit = (m.phys.pages() as u64).saturating_sub(bad);
    m.ws_minimums
        .fetch_update(Relaxed, Relaxed, |total| {
            (total + growth + RESIDENT_AVAILABLE_RESERVE <= limit).then_some(total + growth)
        })
        .map(|_| ())
        .map_err(|total| {
            mm_err!(
                INSUFFICIENT_RESOURCES,
                "raising the working-set minimum by {growth} pages needs {} pages of resident available memory; there are {} (RAM less bad pages less the minimums of all processes)",
                growth + RESIDENT_AVAILABLE_RESERVE,
                limit.saturating_sub(total)
            )
        })
}

/// SetProcessWorkingSetSize. `None, None` (-1, -1) empties the working set.
/// A maximum below the current size trims the working set down to it.
/// Returns the limits now in force, in pages.
pub fn set_ws_limits(
    m: &Machine,
    space: &mut AddressSpace,
    min_bytes: Option<u64>,
    max_bytes: Option<u64>,
) -> MmResult<(u64, u64)> {
    let (Some(min_b), Some(max_b)) = (min_bytes, max_bytes) else {
        if min_bytes.is_some() || max_bytes.is_some() {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "use -1 for both limits to empty the working set"
            ));
        }
        space.trim_all(m);
        return Ok((space.ws.minimum, space.ws.maximum));
    };
    let min = min_b.div_ceil(PAGE_SIZE).max(MINIMUM_FLOOR);
    let max = max_b.div_ceil(PAGE_SIZE);
    if max < min {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "the maximum ({max} pages) is below the minimum ({min} pages)"
        ));
    }
    let physical = m.phys.pages() as u64;
    if max > physical {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "the maximum ({max} pages) is above physical memory ({physical} pages)"
        ));
    }
    let locked = space.ws.locked_count();
    if locked + 8 > min {
        return Err(mm_err!(
            WORKING_SET_QUOTA,
            "{locked} pages are locked; the minimum must stay above {} pages",
            locked + 8
        ));
    }
    charge_minimum_growth(m, space.ws.minimum, min)?;
    space.ws.minimum = min;
    space.ws.maximum = max;
    if space.ws.len() > max {
        let indexes: Vec<u32> = space.ws.iter().map(|(i, _)| i).collect();
        for i in indexes {
            if space.ws.len() <= max {
                break;
            }
            space.trim_entry(m, i);
        }
    }
    Ok((min, max))
}
