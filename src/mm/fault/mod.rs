//! Layer 9, the page-fault handler (MmAccessFault), one module per kind of fault
//! as WRK's `pagfault.c` keeps them apart:
//!
//! - `demand_zero.rs`: a committed page touched for the first time;
//! - `transition.rs`: a page still in memory on a list (soft fault);
//! - `page_file.rs`: a page in a paging file (hard fault, read clustering);
//! - `prototype.rs`: a page found through a prototype PTE (views, fork clones),
//!   collided faults included;
//! - `copy_on_write.rs`: a write to a copy-on-write page, and making a fork's
//!   shared page private before its protection changes;
//! - `large_page.rs`: an access under a large-page PDE (no page table, never
//!   a fault: the MMU's translation and its Accessed/Dirty bits);
//! - `transition_run.rs`: the prototype faults of a run of pages in
//!   transition in one view, resolved in one PFN-lock hold, each counted and
//!   traced as its own (the cache manager's copies).
//!
//! `touch` is what the simulated MMU calls for every page a thread reads or
//! writes: a valid PTE that allows the access is a hit (accessed/dirty bits are
//! set); anything else is a fault, dispatched on the PTE's state as NT does.
//! Callers hold the process's address-space lock. A fault kind that finds the
//! PTE changed under it (reclaim trimmed, another process read the page in)
//! starts over through `touch`.

mod copy_on_write;
mod demand_zero;
mod large_page;
mod page_file;
pub mod prefetch;
mod prototype;
mod transition;
pub mod transition_run;

use crate::mm::base::counters::{add, bump};
use crate::mm::base::protection::Protection;
use crate::mm::base::status::{MmError, NtStatus};
use crate::mm::base::types::{Mmpte, Pfn, Pid, Va};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::process::address_space::Exception;

pub use crate::mm::machine::Extent;
pub use copy_on_write::privatize_clone_page;
// Only for this module: `dispatch` below, and the two kinds calling each other
// (`prototype.rs` hands a write to a copy-on-write page to `copy_on_write`;
// `privatize_clone_page` brings a clone page in with `prototype_fault`).
use copy_on_write::copy_on_write;
use prototype::prototype_fault;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    Read,
    Write,
}

/// Why a touch failed; each maps to its own errno in the filesystem (SPEC §7).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultKind {
    /// Not committed (reserved only, free, decommitted): STATUS_ACCESS_VIOLATION.
    NotCommitted,
    /// The protection forbids the access: STATUS_ACCESS_VIOLATION.
    Protection,
    /// A guard page, now disarmed: STATUS_GUARD_PAGE_VIOLATION.
    Guard,
    /// The page could not be read in, or its frame is bad: STATUS_IN_PAGE_ERROR.
    InPage,
    /// No physical page or commit for a page table: STATUS_NO_MEMORY / COMMITMENT_LIMIT.
    Resources,
    /// The prototype PTE the fault needs is in a page of paged pool that is
    /// out of the System working set (the page's address). Not an error: the
    /// caller lets its own address space go, faults the page in as the
    /// System process (`kernel/proto_pages.rs` `make_resident`) and touches
    /// again (NT: MiMakeSystemAddressValidPfn, which drops the working-set
    /// lock). Never seen by a System fault, which faults the page itself.
    PrototypePage(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessFault {
    pub kind: FaultKind,
    pub error: MmError,
}

pub(crate) fn fault(kind: FaultKind, status: NtStatus, message: String) -> AccessFault {
    AccessFault {
        kind,
        error: MmError::new(status, message),
    }
}

pub(crate) fn verb(access: Access) -> &'static str {
    match access {
        Access::Read => "read",
        Access::Write => "write",
    }
}

/// Makes `va` accessible for `access`; returns its frame.
pub fn touch(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
) -> Result<Pfn, AccessFault> {
    touch_extent(m, space, va, access, Extent::Part)
}

/// `touch`, told how much of the page the caller is about to write. With
/// `Extent::WholePage` the caller must write all 4096 bytes of the frame
/// returned before it releases the address-space lock.
#[inline]
pub fn touch_extent(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    extent: Extent,
) -> Result<Pfn, AccessFault> {
    let faults_before = space.faults.page_faults;
    let result = dispatch(m, space, va, access, extent);
    if let Ok(pfn) = result
        && space.pid == Pid::SYSTEM
        && space.faults.page_faults != faults_before
        && m.layout.is_paged_pool(va.0)
    {
        // A System fault brought a paged pool page in: if it holds
        // prototype PTEs, they are read back from the frame.
        m.proto_page_in_locked(&mut m.pfn_lock(), va.0, pfn);
    }
    if let Err(f) = &result
        && !matches!(f.kind, FaultKind::PrototypePage(_))
    {
        match f.kind {
            FaultKind::NotCommitted | FaultKind::Protection => bump(&m.counters.access_violations),
            FaultKind::Guard => bump(&m.counters.guard_page_faults),
            FaultKind::InPage => bump(&m.counters.in_page_errors),
            FaultKind::Resources | FaultKind::PrototypePage(_) => {}
        }
        space.last_exception = Some(Exception {
            status: f.error.status,
            write: access == Access::Write,
            va,
        });
        crate::mm_event!(
            m,
            "fault.exception",
            "pid={} va={:#x} access={} status={}",
            space.pid,
            va.0,
            verb(access),
            f.error.status.name()
        );
    }
    result
}

#[inline]
fn dispatch(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    extent: Extent,
) -> Result<Pfn, AccessFault> {
    let tables = space.tables(m);
    let mut loc = tables.leaf(va);
    if loc.is_none() && !space.paged_tables.is_empty() {
        // The PDE fault before the PTE fault: a paged-out page table comes
        // back first (`process/table_paging.rs`).
        if space.make_table_resident(m, va).map_err(table_fault)? {
            loc = tables.leaf(va);
        }
    }
    if loc.is_none()
        && let Some(pde) = tables.large_pde(va)
    {
        // No page table: a large page's PDE maps the page itself.
        return large_page::large_page(m, space, pde, va, access);
    }
    let raw = loc.map_or(Mmpte::ZERO, |l| tables.read(l));
    // A valid PTE the access changes nothing in (Accessed set; for a write,
    // Write and Dirty too) is what `valid` below would return at once.
    if let Some(pfn) = m.fmt.resident_hit(raw, access == Access::Write) {
        return Ok(pfn);
    }
    // A PTE that names anything has a location; only `Zero` may lack one.
    let at = || loc.expect("a non-zero PTE has a location");
    match m.fmt.decode(raw) {
        PteState::Valid(h) => valid(m, space, at(), va, access, h),
        PteState::Zero => zero_pte(m, space, va, access, extent),
        PteState::DemandZero { protection } => {
            demand_zero::demand_zero(m, space, va, access, protection, extent)
        }
        PteState::Transition { pfn, protection } => {
            transition::transition(m, space, at(), va, access, pfn, protection)
        }
        PteState::Decommitted => Err(not_committed(space, va, access)),
        PteState::PageFile {
            file,
            slot,
            protection,
        } => {
            let slot = page_file::SlotRef { file, slot };
            page_file::page_file(m, space, at(), va, access, slot, protection)
        }
        PteState::Prototype {
            proto_pte,
            protection,
        } => prototype_fault(m, space, va, access, proto_pte, protection),
        PteState::Subsection { .. } => Err(fault(
            FaultKind::InPage,
            NtStatus::IN_PAGE_ERROR,
            format!(
                "{:#x}'s PTE holds a subsection PTE, which belongs only in a prototype PTE",
                va.0
            ),
        )),
    }
}

/// A valid PTE: a hit, unless a write meets a read-only or copy-on-write page.
/// The hardware sets Accessed, and Dirty on a write. (Inlined: this is every
/// access to a resident page.)
#[inline]
fn valid(
    m: &Machine,
    space: &mut AddressSpace,
    loc: EntryLoc,
    va: Va,
    access: Access,
    h: HardwarePte,
) -> Result<Pfn, AccessFault> {
    if access == Access::Write && !h.write {
        if h.copy_on_write {
            return copy_on_write(m, space, va);
        }
        return Err(protection_fault(va, access, "the page is not writable"));
    }
    if access == Access::Write
        && !h.dirty
        && space
            .vads
            .find(va.vpn())
            .is_some_and(|v| v.section.is_some())
    {
        // The first write through this PTE: a shared frame learns now
        // that it is modified (NT's MP kernels take this fault through
        // the software write bit), so a flush or the last unmap finds it.
        // Only a view's pages can be shared and writable (a fork's
        // clone pages are copy-on-write), so private memory skips the
        // PFN lock here.
        let mut st = m.pfn_lock();
        if st.db.prototype(h.pfn) {
            m.mark_shared_dirty_locked(&mut st, h.pfn);
        }
    }
    set_accessed_and_dirty(m, space, loc, h, access);
    Ok(h.pfn)
}

/// What the MMU does to a valid entry it translates through (a PTE, or a
/// large page's PDE): sets Accessed, and Dirty on a write; the entry is
/// written back only if that changed it.
pub(super) fn set_accessed_and_dirty(
    m: &Machine,
    space: &AddressSpace,
    loc: EntryLoc,
    h: HardwarePte,
    access: Access,
) {
    let mut h2 = h;
    h2.accessed = true;
    if access == Access::Write {
        h2.dirty = true;
    }
    if h2 != h {
        space
            .tables(m)
            .write(loc, m.fmt.encode(&PteState::Valid(h2)));
    }
}

/// A zero PTE: the VAD says what it means. A view's page comes from its
/// prototype PTE; committed private memory is demand zero.
fn zero_pte(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    extent: Extent,
) -> Result<Pfn, AccessFault> {
    let vad = space.vads.find(va.vpn()).map(|v| {
        (
            v.section.is_some(),
            v.mem_commit && v.private_memory,
            v.protection,
        )
    });
    match vad {
        Some((true, _, protection)) => prototype_fault(m, space, va, access, None, protection),
        Some((false, true, protection)) => {
            demand_zero::demand_zero(m, space, va, access, protection, extent)
        }
        _ => Err(not_committed(space, va, access)),
    }
}

/// A page table that could not be brought back: its read failed
/// (STATUS_IN_PAGE_ERROR) or no page was available for it.
fn table_fault(e: MmError) -> AccessFault {
    let kind = if e.status == NtStatus::IN_PAGE_ERROR {
        FaultKind::InPage
    } else {
        FaultKind::Resources
    };
    AccessFault { kind, error: e }
}

/// STATUS_IN_PAGE_ERROR for `access` of `va`, saying why.
pub(crate) fn in_page(va: Va, access: Access, why: String) -> AccessFault {
    fault(
        FaultKind::InPage,
        NtStatus::IN_PAGE_ERROR,
        format!("{} of {:#x}: {why}", verb(access), va.0),
    )
}

pub(crate) fn not_committed(space: &AddressSpace, va: Va, access: Access) -> AccessFault {
    let what = if space.vads.find(va.vpn()).is_some() {
        "is reserved but not committed"
    } else {
        "is not allocated"
    };
    fault(
        FaultKind::NotCommitted,
        NtStatus::ACCESS_VIOLATION,
        format!("{} of {:#x}: the address {what}", verb(access), va.0),
    )
}

pub(crate) fn protection_fault(va: Va, access: Access, why: &str) -> AccessFault {
    fault(
        FaultKind::Protection,
        NtStatus::ACCESS_VIOLATION,
        format!("{} of {:#x}: {why}", verb(access), va.0),
    )
}

/// The access check for a page that is about to become valid with protection `p`.
/// A guard page is disarmed (its PTE rewritten without GUARD) and reported once.
#[inline]
pub(crate) fn check_protection(
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    p: Protection,
    rearm: impl FnOnce(&mut AddressSpace, Protection) -> Result<(), AccessFault>,
) -> Result<(), AccessFault> {
    if p.is_guard() && !p.is_decommit() {
        rearm(space, p.with_guard(false))?;
        return Err(guard_hit(va, access));
    }
    let allowed = match access {
        Access::Write => p.allows_write(),
        Access::Read => p.allows_read(),
    };
    if allowed && !(p.is_noaccess() || p.is_decommit() || p.raw() == 0) {
        return Ok(());
    }
    Err(denied(va, access, p))
}

/// The fault a guard page raises (its guard already disarmed).
#[cold]
fn guard_hit(va: Va, access: Access) -> AccessFault {
    fault(
        FaultKind::Guard,
        NtStatus::GUARD_PAGE_VIOLATION,
        format!(
            "{} of {:#x} hit a guard page; the guard is now gone",
            verb(access),
            va.0
        ),
    )
}

/// The access violation of a protection that forbids `access` (kept off the
/// fault path: the message is formatted only when it is raised).
#[cold]
fn denied(va: Va, access: Access, p: Protection) -> AccessFault {
    if p.is_noaccess() || p.is_decommit() || p.raw() == 0 {
        return protection_fault(va, access, "the page is PAGE_NOACCESS");
    }
    protection_fault(va, access, &format!("the page is {}", p.name()))
}

pub(crate) fn resources(e: MmError) -> AccessFault {
    AccessFault {
        kind: FaultKind::Resources,
        error: e,
    }
}

/// Counts a resolved fault for the process and the system.
pub(crate) fn count_fault(m: &Machine, space: &mut AddressSpace) {
    space.faults.page_faults += 1;
    add(&m.counters.page_faults, 1);
}
