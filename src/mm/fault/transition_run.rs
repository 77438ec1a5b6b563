//! A run of prototype faults resolved in one PFN-lock hold: the cache
//! manager's copies (CcCopyRead, CcCopyWrite) touch up to 64 pages of one
//! view, and a newly written file has every one of them in transition
//! (zeroed by MmCopyToCachedPage's stand-in, onto standby); read-ahead makes
//! the pages it read valid the same way, view by view
//! (MmCheckCachedPageState, `cache/read_ahead.rs`). Each page is the same
//! prototype fault `prototype.rs` takes for it, page by page, in the same
//! order: counted as its own fault (the
//! process's counts page by page; the machine's `page_faults` and
//! `prototype_faults` by the run's total when its hold ends, the same sums),
//! traced as its own `fault.prototype` event, taken off its list, made valid in the
//! prototype PTE and in the view's PTE, and entered in the working set. What
//! the run shares is the look-up work: one VAD, one protection check, one
//! page-table walk per table, one PFN-lock hold (WRK resolves a fault's
//! neighbours in one hold too, MiResolveMappedFileFault's cluster).
//!
//! Only the plain case is taken here: a PTE that is zero (never touched
//! through this view) over a prototype PTE in transition whose frame is
//! neither being read nor bad, in a view whose protection allows the access
//! without copy-on-write or guard, while the working set has room (or memory
//! is plentiful), so that the working-set replacement each fault starts with
//! (`replace_if_at_maximum`) would do nothing. Any other page is left as it
//! is, for the ordinary fault its touch takes next.
//!
//! Lock: the caller holds the address space; the PFN lock is taken once,
//! after any page table is made.

use crate::mm::base::counters::add;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Va};
use crate::mm::hw::pagetable::{EntryLoc, LeafCursor};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Machine, PfnState};
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::NewMapping;
use crate::mm::segment::{ControlAreaId, ProtoLoc};

use super::prototype::{trace_prototype, validate_transition_locked};
use super::{Access, check_protection};

/// The view a run lies in: its control area, the prototype index of its
/// first page, and the protection its pages are checked against.
struct RunView {
    ca: ControlAreaId,
    first_index: u64,
    protection: crate::mm::base::protection::Protection,
}

/// Resolves, as prototype faults for `access`, the pages of the
/// `frames.len()` pages from `va` (one view) that are in transition behind
/// zero PTEs, setting `frames[k]` to the frame page `k` is now valid with;
/// leaves every other page alone (and its entry as it was). Returns how many
/// it resolved.
pub fn resolve_transition_run(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    frames: &mut [Option<Pfn>],
) -> u64 {
    let va = va.page_base();
    let pages = frames.len() as u64;
    // Pages all valid already (a cached file's) are the common case: their
    // PTEs are looked at first, before the VAD or anything else.
    if !any_zero_pte(m, space, va, pages) {
        return 0;
    }
    let Some((view, pages)) = run_view(space, va, pages) else {
        return 0;
    };
    if pages == 0 || !room_in_working_set(m, space) || !space.paged_tables.is_empty() {
        return 0;
    }
    let Some(zero) = zero_ptes(m, space, va, pages) else {
        return 0;
    };
    if zero.is_empty() {
        return 0;
    }
    let mut st = m.pfn_lock();
    let mut done = 0;
    let mut last: Option<(u64, ProtoLoc)> = None;
    for (k, loc) in zero {
        // Each fault would first look for a page to give up at the
        // maximum; the run stops where one would.
        if !room_in_working_set(m, space) {
            break;
        }
        let index = view.first_index + k;
        let at = match last {
            // The next slot of the same subsection, if it has one.
            Some((i, p)) if i + 1 == index && next_in_subsection(&st, p) => ProtoLoc {
                subsection: p.subsection,
                slot: p.slot + 1,
            },
            _ => match st.segments.locate(view.ca, index) {
                Some(at) => at,
                None => break,
            },
        };
        if st.segments.is_absent(at) {
            // The page of prototype PTEs is paged out: this page's own
            // fault brings it back first (`prototype.rs`), the run ends.
            break;
        }
        last = Some((index, at));
        let page_va = Va(va.0 + k * PAGE_SIZE);
        if let Some(pfn) = map_one(m, space, &mut st, &view, (page_va, loc, at, index), access) {
            frames[k as usize] = Some(pfn);
            done += 1;
        }
    }
    drop(st);
    count_run(m, done);
    done
}

/// `count_fault` and the prototype-fault count of `faults` faults, added to
/// the machine's counters at once: a locked increment per page, on a line
/// the read-ahead thread's counters share, was most of a page's cost.
fn count_run(m: &Machine, faults: u64) {
    if faults > 0 {
        add(&m.counters.page_faults, faults);
        add(&m.counters.prototype_faults, faults);
    }
}

/// The view holding `va`, and how many of `pages` lie in it, if the access
/// is allowed there without copy-on-write or a guard page.
fn run_view(space: &AddressSpace, va: Va, pages: u64) -> Option<(RunView, u64)> {
    let vad = space.vads.find(va.vpn())?;
    let section = vad.section.as_ref()?;
    let p = vad.protection;
    if p.is_guard() || p.is_copy_on_write() {
        return None;
    }
    let first_index = section.first_prototype_index + (va.vpn().0 - vad.starting_vpn.0);
    let in_vad = vad.ending_vpn.0 - va.vpn().0 + 1;
    let view = RunView {
        ca: section.id,
        first_index,
        protection: p,
    };
    Some((view, pages.min(in_vad)))
}

/// Whether a fault's working-set replacement (`replace_if_at_maximum`)
/// would do nothing now: below the maximum, or memory plentiful and the
/// maximum not hard.
fn room_in_working_set(m: &Machine, space: &AddressSpace) -> bool {
    if space.ws.len() < space.ws.maximum {
        return true;
    }
    let available = m.available_hint.load(std::sync::atomic::Ordering::Relaxed);
    available > m.thresholds.plenty_free && !space.ws.hard_maximum
}

/// The pages of the run whose PTE is zero, with its location: the first
/// page's table is made if missing (as its fault would); the run stops at a
/// page whose table is missing after that (none is, within one view).
fn zero_ptes(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    pages: u64,
) -> Option<Vec<(u64, EntryLoc)>> {
    space.ensure_leaf(m, va).ok()?;
    let tables = space.tables(m);
    let mut cursor = LeafCursor::default();
    let mut zero = Vec::with_capacity(pages as usize);
    for k in 0..pages {
        let Some(loc) = tables.leaf_near(&mut cursor, Va(va.0 + k * PAGE_SIZE)) else {
            break;
        };
        if tables.read(loc) == Mmpte::ZERO {
            zero.push((k, loc));
        }
    }
    Some(zero)
}

/// Whether some page of the run has a zero PTE, or no page table yet.
fn any_zero_pte(m: &Machine, space: &AddressSpace, va: Va, pages: u64) -> bool {
    let tables = space.tables(m);
    let mut cursor = LeafCursor::default();
    (0..pages).any(
        |k| match tables.leaf_near(&mut cursor, Va(va.0 + k * PAGE_SIZE)) {
            Some(loc) => tables.read(loc) == Mmpte::ZERO,
            None => true,
        },
    )
}

/// Whether the prototype PTE after `at` is in the same subsection.
fn next_in_subsection(st: &PfnState, at: ProtoLoc) -> bool {
    st.segments
        .subsection(at.subsection)
        .is_some_and(|s| at.slot + 1 < s.ptes.len())
}

/// One page of the run: `prototype.rs`'s `map_transition` and `account`
/// (the machine's counters but for `count_run`) for a fault on `va` (PTE at
/// `loc`, prototype PTE `at`, number `index`), if its prototype PTE is in
/// transition and its frame is usable: the frame, or `None` if the page was
/// left for its own fault.
fn map_one(
    m: &Machine,
    space: &mut AddressSpace,
    st: &mut PfnState,
    view: &RunView,
    (va, loc, at, index): (Va, EntryLoc, ProtoLoc, u64),
    access: Access,
) -> Option<Pfn> {
    if check_protection(space, va, access, view.protection, |_, _| Ok(())).is_err() {
        return None;
    }
    let PteState::Transition { pfn, protection } = m.fmt.decode_prototype(st.segments.read(at))
    else {
        return None;
    };
    if st.db.read_in_progress(pfn) || st.db.in_page_error(pfn) {
        return None;
    }
    let write_now = access == Access::Write;
    let mapping = NewMapping::new(loc, va, pfn, view.protection, write_now);
    let was = validate_transition_locked(m, space, st, at, (pfn, protection), mapping);
    // The process's counts here (its lock is held); the machine's shared
    // counters once for the run (`count_run`).
    space.faults.page_faults += 1;
    space.faults.prototype += 1;
    let from = was.map_or("valid", |l| l.name());
    trace_prototype(m, (space.pid, va), pfn, (view.ca, index), from);
    Some(pfn)
}
