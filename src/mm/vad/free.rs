//! The VAD half of NtFreeVirtualMemory (WRK `freevm.c`, Server 2003 SP1).

use super::{Vad, VadTree, VadType, vpn_range_text};
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Va, Vpn};

/// What a free does to the VAD.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum FreeKind {
    /// MEM_DECOMMIT: the VAD stays; its pages in the range are decommitted.
    Decommit,
    /// MEM_RELEASE of the whole VAD: remove it.
    RemoveWhole,
    /// MEM_RELEASE of the VAD's first pages: the VAD now starts after them.
    TrimStart,
    /// MEM_RELEASE of the VAD's last pages: the VAD now ends before them.
    TrimEnd,
    /// MEM_RELEASE of pages strictly inside: the VAD becomes two.
    SplitMiddle,
}

/// A validated NtFreeVirtualMemory request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct FreePlan {
    /// First page to decommit or release.
    pub first_vpn: Vpn,
    /// Last page to decommit or release (inclusive).
    pub last_vpn: Vpn,
    /// StartingVpn of the VAD before the change.
    pub vad_start: Vpn,
    /// EndingVpn of the VAD before the change.
    pub vad_end: Vpn,
    pub vad_type: VadType,
    pub kind: FreeKind,
}

impl FreePlan {
    /// The base NT writes back to `*BaseAddress`.
    pub fn base(&self) -> Va {
        self.first_vpn.va()
    }
    /// The size NT writes back to `*RegionSize`.
    pub fn size(&self) -> u64 {
        (self.last_vpn.0.saturating_sub(self.first_vpn.0))
            .saturating_add(1)
            .saturating_mul(PAGE_SIZE)
    }
    pub fn is_release(&self) -> bool {
        self.kind != FreeKind::Decommit
    }
}

/// Validates NtFreeVirtualMemory(`address`, `size`, MEM_RELEASE if `release`
/// else MEM_DECOMMIT) against the VAD tree. The range covers every page
/// touched; size 0 means "the whole VAD" and then `address` must lie in the
/// VAD's first page (WRK compares page numbers).
pub fn plan_free(
    tree: &VadTree,
    address: u64,
    size: u64,
    release: bool,
    highest: u64,
) -> MmResult<FreePlan> {
    check_user_range(address, size, highest)?;
    let first_vpn = Va(address).vpn();
    let Some(vad) = tree.find(first_vpn) else {
        return Err(mm_err!(
            MEMORY_NOT_ALLOCATED,
            "nothing is reserved at {:#x}",
            address
        ));
    };
    let asked_last = Va(address + size.saturating_sub(1)).vpn();
    check_vad(vad, first_vpn, asked_last, size)?;
    let mut plan = FreePlan {
        first_vpn,
        last_vpn: asked_last,
        vad_start: vad.starting_vpn,
        vad_end: vad.ending_vpn,
        vad_type: vad.vad_type,
        kind: FreeKind::Decommit,
    };
    if size == 0 {
        if first_vpn != vad.starting_vpn {
            return Err(mm_err!(
                FREE_VM_NOT_AT_BASE,
                "with size 0 the address must be the base of the reservation ({:#x}), not {:#x}",
                vad.start_va().0,
                address
            ));
        }
        plan.first_vpn = vad.starting_vpn;
        plan.last_vpn = vad.ending_vpn;
    }
    if release {
        plan.kind = release_kind(vad, &plan)?;
    } else if matches!(
        vad.vad_type,
        VadType::Awe | VadType::LargePages | VadType::RotatePhysical
    ) {
        // WRK: AWE pages go back through FreeUserPhysicalPages, and large-page
        // and rotate-physical memory can only be released.
        return Err(mm_err!(
            MEMORY_NOT_ALLOCATED,
            "the {} reservation at {} cannot be decommitted, only released",
            vad.type_name(),
            vad.range_text()
        ));
    }
    Ok(plan)
}

/// NtFreeVirtualMemory's checks against MM_HIGHEST_USER_ADDRESS (`highest`):
/// a base above it is STATUS_INVALID_PARAMETER_2, a size larger than
/// `highest - base` STATUS_INVALID_PARAMETER_3.
fn check_user_range(address: u64, size: u64, highest: u64) -> MmResult<()> {
    if address > highest {
        return Err(mm_err!(
            INVALID_PARAMETER_2,
            "address {address:#x} is above the highest user address {highest:#x}"
        ));
    }
    if highest - address < size {
        return Err(mm_err!(
            INVALID_PARAMETER_3,
            "{size:#x} bytes at {address:#x} run past the highest user address {highest:#x}"
        ));
    }
    Ok(())
}

/// The range must stay inside the VAD found at its start
/// (STATUS_UNABLE_TO_FREE_VM), which must be allocated memory, not a view
/// (STATUS_UNABLE_TO_DELETE_SECTION).
fn check_vad(vad: &Vad, first_vpn: Vpn, asked_last: Vpn, size: u64) -> MmResult<()> {
    if size != 0 && asked_last > vad.ending_vpn {
        return Err(mm_err!(
            UNABLE_TO_FREE_VM,
            "{} runs past the end of the reservation at {}; free each reservation separately",
            vpn_range_text(first_vpn, asked_last),
            vad.range_text()
        ));
    }
    // Rotate-physical views are the one non-private kind freed here.
    let is_view = (!vad.private_memory && vad.vad_type != VadType::RotatePhysical)
        || vad.vad_type == VadType::DevicePhysicalMemory;
    if is_view {
        return Err(mm_err!(
            UNABLE_TO_DELETE_SECTION,
            "{} is a mapped view, not allocated memory; unmap the view instead",
            vad.range_text()
        ));
    }
    Ok(())
}

/// What a MEM_RELEASE of `plan`'s range does to `vad`; only VADs that may be
/// split lose part of themselves (else STATUS_FREE_VM_NOT_AT_BASE).
fn release_kind(vad: &Vad, plan: &FreePlan) -> MmResult<FreeKind> {
    let at_start = plan.first_vpn == vad.starting_vpn;
    let at_end = plan.last_vpn == vad.ending_vpn;
    let kind = match (at_start, at_end) {
        (true, true) => FreeKind::RemoveWhole,
        (true, false) => FreeKind::TrimStart,
        (false, true) => FreeKind::TrimEnd,
        (false, false) => FreeKind::SplitMiddle,
    };
    if kind != FreeKind::RemoveWhole && !vad.vad_type.can_split() {
        return Err(mm_err!(
            FREE_VM_NOT_AT_BASE,
            "the {} reservation at {} can only be released whole (size 0 at its base)",
            vad.type_name(),
            vad.range_text()
        ));
    }
    Ok(kind)
}

/// Performs the VAD change of a MEM_RELEASE plan and returns the commit
/// charge given back (NT's CommitReduction). `committed(first, last)` must
/// count the committed pages in `first..=last` of the VAD (NT's
/// `MiCalculatePageCommitment`, which reads the PTEs); it is called before
/// the caller deletes the pages. A whole VAD gives back its CommitCharge.
pub fn apply_release(
    tree: &mut VadTree,
    plan: &FreePlan,
    mut committed: impl FnMut(Vpn, Vpn) -> u64,
) -> MmResult<u64> {
    if plan.kind == FreeKind::Decommit {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "a decommit leaves the reservation at {} as it is",
            vpn_range_text(plan.vad_start, plan.vad_end)
        ));
    }
    let charge = match tree.get(plan.vad_start) {
        Some(v) if v.ending_vpn == plan.vad_end => v.commit_charge,
        _ => {
            return Err(mm_err!(
                MEMORY_NOT_ALLOCATED,
                "the reservation at {} changed before it could be released",
                vpn_range_text(plan.vad_start, plan.vad_end)
            ));
        }
    };
    let inside = plan.vad_start <= plan.first_vpn
        && plan.first_vpn <= plan.last_vpn
        && plan.last_vpn <= plan.vad_end;
    let stale = || {
        mm_err!(
            INVALID_PARAMETER,
            "{} is not a valid release of the reservation at {}",
            vpn_range_text(plan.first_vpn, plan.last_vpn),
            vpn_range_text(plan.vad_start, plan.vad_end)
        )
    };
    let expected = match (
        plan.first_vpn == plan.vad_start,
        plan.last_vpn == plan.vad_end,
    ) {
        (true, true) => FreeKind::RemoveWhole,
        (true, false) => FreeKind::TrimStart,
        (false, true) => FreeKind::TrimEnd,
        (false, false) => FreeKind::SplitMiddle,
    };
    if !inside || expected != plan.kind {
        return Err(stale());
    }
    // Both exist: vad_start <= first_vpn <= last_vpn <= vad_end < 2^52.
    let (before, after) = (
        Vpn(plan.first_vpn.0.saturating_sub(1)),
        Vpn(plan.last_vpn.0 + 1),
    );
    let released = committed(plan.first_vpn, plan.last_vpn).min(charge);
    match plan.kind {
        FreeKind::RemoveWhole => {
            tree.remove(plan.vad_start);
            return Ok(charge);
        }
        FreeKind::TrimStart => {
            if !tree.trim_start(plan.vad_start, after) {
                return Err(stale());
            }
            set_charge(tree, after, charge - released);
        }
        FreeKind::TrimEnd => {
            if !tree.trim_end(plan.vad_start, before) {
                return Err(stale());
            }
            set_charge(tree, plan.vad_start, charge - released);
        }
        FreeKind::SplitMiddle => {
            let lower = committed(plan.vad_start, before);
            if !tree.split(plan.vad_start, plan.first_vpn, plan.last_vpn) {
                return Err(stale());
            }
            // NT cannot tell which half the remaining charge belongs to, so
            // it recounts the lower half and gives the rest to the upper.
            let remaining = charge - released;
            let lower = lower.min(remaining);
            set_charge(tree, plan.vad_start, lower);
            set_charge(tree, after, remaining - lower);
        }
        FreeKind::Decommit => {}
    }
    Ok(released)
}

fn set_charge(tree: &mut VadTree, vpn: Vpn, charge: u64) {
    if let Some(v) = tree.find_mut(vpn) {
        v.commit_charge = charge;
    }
}
