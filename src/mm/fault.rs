//! The page-fault handler (MmAccessFault): one function per kind of fault.
//!
//! `touch` is what the simulated MMU calls for every page a thread reads or
//! writes: a valid PTE that allows the access is a hit (accessed/dirty bits are
//! set); anything else is a fault, dispatched on the PTE's state as NT does.
//! Callers hold the process's address-space lock.

use super::address_space::{AddressSpace, Exception, count_fault};
use super::counters::bump;
use super::memory::Machine;
use super::pagetable::EntryLoc;
use super::pfn::PageLocation;
use super::protection::Protection;
use super::pte::PteState;
use super::status::{MmError, NtStatus};
use super::types::{Pfn, Va};

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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessFault {
    pub kind: FaultKind,
    pub error: MmError,
}

fn fault(kind: FaultKind, status: NtStatus, message: String) -> AccessFault {
    AccessFault {
        kind,
        error: MmError::new(status, message),
    }
}

fn verb(access: Access) -> &'static str {
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
    let result = dispatch(m, space, va, access);
    if let Err(f) = &result {
        match f.kind {
            FaultKind::NotCommitted | FaultKind::Protection => bump(&m.counters.access_violations),
            FaultKind::Guard => bump(&m.counters.guard_page_faults),
            FaultKind::InPage => bump(&m.counters.in_page_errors),
            FaultKind::Resources => {}
        }
        space.last_exception = Some(Exception {
            status: f.error.status,
            write: access == Access::Write,
            va,
        });
    }
    result
}

fn dispatch(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
) -> Result<Pfn, AccessFault> {
    let tables = space.tables(m);
    let loc = tables.leaf(va);
    let raw = loc.map_or(0, |l| tables.read(l));
    match m.fmt.decode(raw) {
        PteState::Valid(h) => {
            let loc = loc.expect("valid PTE has a location");
            if access == Access::Write && !h.write {
                return Err(protection_fault(va, access, "the page is not writable"));
            }
            let mut h2 = h;
            h2.accessed = true;
            if access == Access::Write {
                h2.dirty = true;
            }
            if h2 != h {
                tables.write(loc, m.fmt.encode(&PteState::Valid(h2)));
            }
            Ok(h.pfn)
        }
        PteState::Zero => {
            let vpn = va.vpn();
            let committed = space
                .vads
                .find(vpn)
                .filter(|v| v.mem_commit && v.private_memory);
            match committed {
                Some(v) => {
                    let protection = v.protection;
                    demand_zero(m, space, va, access, protection)
                }
                None => Err(not_committed(space, va, access)),
            }
        }
        PteState::DemandZero { protection } => demand_zero(m, space, va, access, protection),
        PteState::Transition { pfn, protection } => transition(
            m,
            space,
            loc.expect("transition PTE has a location"),
            va,
            access,
            pfn,
            protection,
        ),
        PteState::Decommitted => Err(not_committed(space, va, access)),
        PteState::PageFile { .. } => Err(fault(
            FaultKind::InPage,
            NtStatus::IN_PAGE_ERROR,
            format!(
                "{:#x} is in a paging file, which this build cannot read",
                va.0
            ),
        )),
        PteState::Prototype { .. } | PteState::Subsection { .. } => Err(fault(
            FaultKind::InPage,
            NtStatus::IN_PAGE_ERROR,
            format!(
                "{:#x} is mapped through a prototype PTE, which this build cannot resolve",
                va.0
            ),
        )),
    }
}

fn not_committed(space: &AddressSpace, va: Va, access: Access) -> AccessFault {
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

fn protection_fault(va: Va, access: Access, why: &str) -> AccessFault {
    fault(
        FaultKind::Protection,
        NtStatus::ACCESS_VIOLATION,
        format!("{} of {:#x}: {why}", verb(access), va.0),
    )
}

/// The access check for a page that is about to become valid with protection `p`.
/// A guard page is disarmed (its PTE rewritten without GUARD) and reported once.
fn check_protection(
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    p: Protection,
    rearm: impl FnOnce(&mut AddressSpace, Protection) -> Result<(), AccessFault>,
) -> Result<(), AccessFault> {
    if p.is_guard() && !p.is_decommit() {
        rearm(space, p.with_guard(false))?;
        return Err(fault(
            FaultKind::Guard,
            NtStatus::GUARD_PAGE_VIOLATION,
            format!(
                "{} of {:#x} hit a guard page; the guard is now gone",
                verb(access),
                va.0
            ),
        ));
    }
    if p.is_noaccess() || p.is_decommit() || p.raw() == 0 {
        return Err(protection_fault(va, access, "the page is PAGE_NOACCESS"));
    }
    match access {
        Access::Write if !p.allows_write() => Err(protection_fault(
            va,
            access,
            &format!("the page is {}", p.name()),
        )),
        Access::Read if !p.allows_read() => Err(protection_fault(
            va,
            access,
            &format!("the page is {}", p.name()),
        )),
        _ => Ok(()),
    }
}

fn resources(e: MmError) -> AccessFault {
    AccessFault {
        kind: FaultKind::Resources,
        error: e,
    }
}

/// A demand-zero fault: a committed page touched for the first time gets a zeroed frame.
fn demand_zero(
    m: &Machine,
    space: &mut AddressSpace,
    va: Va,
    access: Access,
    protection: Protection,
) -> Result<Pfn, AccessFault> {
    check_protection(space, va, access, protection, |space, disarmed| {
        let loc = space.ensure_leaf(m, va).map_err(resources)?;
        space.tables(m).write(
            loc,
            m.fmt.encode(&PteState::DemandZero {
                protection: disarmed,
            }),
        );
        Ok(())
    })?;
    let loc = space.ensure_leaf(m, va).map_err(resources)?;
    let mut st = m.pfn_lock();
    let page = m.allocate_locked(&mut st, true).ok_or_else(|| {
        resources(mm_err!(
            NO_MEMORY,
            "no physical page is available for {:#x}",
            va.0
        ))
    })?;
    space.install_private_locked(
        m,
        &mut st,
        loc,
        va.page_base(),
        page.pfn,
        protection,
        access == Access::Write,
    );
    drop(st);
    space.private_pages += 1;
    space.faults.demand_zero += 1;
    count_fault(m, space);
    bump(&m.counters.demand_zero_faults);
    Ok(page.pfn)
}

/// A transition (soft) fault: the page is still in memory on the standby or
/// modified list; take it back without any I/O.
fn transition(
    m: &Machine,
    space: &mut AddressSpace,
    loc: EntryLoc,
    va: Va,
    access: Access,
    pfn: Pfn,
    protection: Protection,
) -> Result<Pfn, AccessFault> {
    check_protection(space, va, access, protection, |space, disarmed| {
        // Transition PTEs change only under the PFN lock.
        let _pfn_lock = m.pfn_lock();
        space.tables(m).write(
            loc,
            m.fmt.encode(&PteState::Transition {
                pfn,
                protection: disarmed,
            }),
        );
        Ok(())
    })?;
    let mut st = m.pfn_lock();
    // Re-read under the PFN lock: transition PTEs are the PFN lock's to change.
    let tables = space.tables(m);
    if m.fmt.decode(tables.read(loc)) != (PteState::Transition { pfn, protection }) {
        drop(st);
        return touch(m, space, va, access);
    }
    if st.db.in_page_error(pfn) {
        return Err(fault(
            FaultKind::InPage,
            NtStatus::IN_PAGE_ERROR,
            format!(
                "{} of {:#x}: its frame {:#x} is bad",
                verb(access),
                va.0,
                pfn.0
            ),
        ));
    }
    let was = st.db.location(pfn);
    if was.is_some_and(PageLocation::is_list) {
        st.db.unlink(pfn);
    }
    st.db.set_location(pfn, PageLocation::Active);
    space.map_valid_locked(
        m,
        &mut st,
        loc,
        va.page_base(),
        pfn,
        protection,
        access == Access::Write,
    );
    drop(st);
    space.faults.transition += 1;
    count_fault(m, space);
    bump(&m.counters.transition_faults);
    Ok(pfn)
}
