//! The AWE commands of `processes/<name>/control`: `awe-alloc PAGES`
//! (AllocateUserPhysicalPages), `awe-map ADDR PFN...` and `awe-map ADDR none
//! COUNT` (MapUserPhysicalPages), `awe-free PFN...` (FreeUserPhysicalPages).

use super::Outcome;
use super::Words;
use super::args::parse_number;
use crate::mm::base::types::{Pfn, Pid};
use crate::mm::{Mm, MmError};
use crate::mm_err;

/// `awe-alloc PAGES`. Result: the PFNs allocated, space-separated (fewer
/// than asked when RAM runs short, as NT).
pub fn alloc(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let [n] = <[&str; 1]>::try_from(w.args.as_slice())
        .map_err(|_| mm_err!(INVALID_PARAMETER, "usage: awe-alloc PAGES"))?;
    let pages = parse_number(n).map_err(|e| mm_err!(INVALID_PARAMETER_2, "pages: {e}"))?;
    let pfns = mm.allocate_user_physical_pages(pid, pages)?;
    Ok(pfn_list(mm, &pfns))
}

/// `awe-map ADDR PFN...` or `awe-map ADDR none COUNT`. Result: the pages
/// mapped or unmapped.
pub fn map(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let usage = || {
        mm_err!(
            INVALID_PARAMETER,
            "usage: awe-map ADDR PFN... | awe-map ADDR none COUNT"
        )
    };
    let (a, rest) = w.args.split_first().ok_or_else(usage)?;
    let address = parse_number(a).map_err(|e| mm_err!(INVALID_PARAMETER_1, "address: {e}"))?;
    let n = match rest {
        [none, count] if none.eq_ignore_ascii_case("none") => {
            let count =
                parse_number(count).map_err(|e| mm_err!(INVALID_PARAMETER_2, "count: {e}"))?;
            mm.map_user_physical_pages(pid, address, None, count)?
        }
        [] => return Err(usage()),
        frames => {
            let pfns = parse_pfns(frames)?;
            mm.map_user_physical_pages(pid, address, Some(&pfns), 0)?
        }
    };
    Ok(n.to_string())
}

/// `awe-free PFN...`. Result: the pages freed.
pub fn free(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    if w.args.is_empty() {
        return Err(mm_err!(INVALID_PARAMETER, "usage: awe-free PFN..."));
    }
    let pfns = parse_pfns(&w.args)?;
    Ok(mm.free_user_physical_pages(pid, &pfns)?.to_string())
}

/// PFNs as hex (`0x1a3`) or decimal. One too large for a frame number is no
/// frame of the process (NT: STATUS_CONFLICTING_ADDRESSES, past the bitmap).
fn parse_pfns(words: &[&str]) -> Result<Vec<Pfn>, MmError> {
    words
        .iter()
        .map(|s| {
            let n = parse_number(s).map_err(|e| mm_err!(INVALID_PARAMETER, "pfn: {e}"))?;
            u32::try_from(n)
                .map(Pfn)
                .map_err(|_| mm_err!(CONFLICTING_ADDRESSES, "{n:#x} is beyond any physical page"))
        })
        .collect()
}

/// The PFNs in the width `pfn/db` and `awe` print them (at least five hex
/// digits, enough for the highest frame), so a script can match them.
fn pfn_list(mm: &Mm, pfns: &[Pfn]) -> String {
    let max = mm.physical_pages().saturating_sub(1).max(1);
    let width = (32 - max.leading_zeros()).div_ceil(4).max(5) as usize;
    pfns.iter()
        .map(|p| format!("0x{:0width$x}", p.0))
        .collect::<Vec<_>>()
        .join(" ")
}
