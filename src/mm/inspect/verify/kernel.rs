//! Kernel memory's invariants (`kernel/`): the system PTE pool's bitmap agrees
//! with its runs, every run belongs to a kernel stack or a mapped MDL and no
//! PTE of the region outside a run holds anything; a kernel stack's guard PTE
//! is empty and its pages are resident (valid, KernelStack, in no working
//! set) or, when outswapped, in transition or in a paging file; a mapped
//! MDL's PTEs name its frames; each frame an MDL locks holds one reference
//! per lock on top of its mapping's (and an I/O's), stays off the lists, and
//! allocated MDL pages are Active DriverLocked frames; the charges against
//! resident available memory add up.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;

use crate::mm::base::types::{PAGE_SIZE, Pfn, Va};
use crate::mm::hw::layout::names;
use crate::mm::hw::pte::PteState;
use crate::mm::kernel::KernelSpace;
use crate::mm::kernel::mdl::Mdl;
use crate::mm::kernel::stacks::KernelStack;
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::AddressSpace;

use super::Tally;

/// The SYSTEM_PTES region, whose page tables the System process's walk
/// counts (`space.rs`) and whose leaves are checked here.
pub(super) fn system_pte_region(t: &Tally<'_>) -> Option<(u64, u64)> {
    t.m.layout
        .region_named(names::SYSTEM_PTES)
        .map(|r| (r.start, r.end))
}

/// Checks kernel memory (see the module docs). `locked_in_ws` is the sum of
/// the processes' NtLockVirtualMemory pages and AWE frames and tables.
pub(super) fn check(t: &mut Tally<'_>, k: &KernelSpace, system: &AddressSpace, locked_in_ws: u64) {
    t.v.extend(k.sysptes.verify());
    check_runs(t, k, system);
    // Non-paged pool's pages are resident for good.
    let mut resident = locked_in_ws + k.pool.pages(crate::mm::kernel::pool::PoolType::NonPaged);
    for (pid, stack) in &k.stacks {
        stack_pages(t, system, *pid, stack);
        if !stack.outswapped {
            resident += stack.pages;
        }
    }
    let mut locks: HashMap<Pfn, u32> = HashMap::new();
    for d in k.mdls.by_id.values() {
        mdl_pages(t, system, d, &mut locks);
        if d.locked() {
            resident += d.pfns.len() as u64;
        }
    }
    lock_references(t, &locks);
    t.mdl_locked = locks;
    let charged = t.m.resident.charged.load(Ordering::Relaxed);
    if charged != resident {
        t.v.push(format!(
            "resident available memory: {charged} pages charged but locked pages, AWE pages and tables, kernel stacks, MDLs and non-paged pool account for {resident}"
        ));
    }
}

/// Every run is a stack's or a mapped MDL's, and the PTEs outside the runs
/// are empty.
fn check_runs(t: &mut Tally<'_>, k: &KernelSpace, system: &AddressSpace) {
    let mut owners: BTreeSet<u64> = k.stacks.values().map(|s| s.guard.0).collect();
    owners.extend(k.mdls.by_id.values().filter_map(|d| d.mapped.map(|v| v.0)));
    let runs = k.sysptes.runs();
    let starts: BTreeSet<u64> = runs.iter().map(|r| r.address.0).collect();
    if owners != starts {
        t.v.push(format!(
            "system PTE runs start at {:x?} but stacks and mapped MDLs own {:x?}",
            starts, owners
        ));
    }
    let Some((start, end)) = system_pte_region(t) else {
        return;
    };
    let tables = system.tables(t.m);
    for (va, _) in tables.nonzero_ptes(Va(start).vpn(), Va(end).vpn()) {
        let inside = runs
            .iter()
            .any(|r| va.0 >= r.address.0 && va.0 < r.address.0 + r.pages * PAGE_SIZE);
        if !inside {
            t.v.push(format!(
                "system PTE of {:#x} holds something but belongs to no run",
                va.0
            ));
        }
    }
}

fn stack_pages(
    t: &mut Tally<'_>,
    system: &AddressSpace,
    pid: crate::mm::base::types::Pid,
    stack: &KernelStack,
) {
    let tables = system.tables(t.m);
    let read = |va: Va| tables.leaf(va).map(|loc| tables.read(loc));
    if read(stack.guard).is_some_and(|raw| !raw.is_zero()) {
        t.v.push(format!(
            "pid {pid}: the kernel stack's guard PTE at {:#x} is not empty",
            stack.guard.0
        ));
    }
    for va in stack.page_vas() {
        let state = read(va).map(|raw| t.m.fmt.decode(raw));
        let who = format!("pid {pid}'s kernel stack page {:#x}", va.0);
        match state {
            Some(PteState::Valid(h)) => {
                stack_frame(t, system, va, h.pfn, PageLocation::Active, &who);
                if stack.outswapped {
                    t.v.push(format!("{who} is valid but the stack is outswapped"));
                }
            }
            Some(PteState::Transition { pfn, .. }) if stack.outswapped => {
                stack_frame(t, system, va, pfn, PageLocation::Transition, &who);
            }
            Some(PteState::PageFile { file, slot, .. }) if stack.outswapped => {
                t.name_slot(file, slot, who);
            }
            other => t.v.push(format!(
                "{who} is {other:?} (outswapped: {})",
                stack.outswapped
            )),
        }
    }
}

/// A stack frame: its use, owner and PTE address; Active with one reference
/// and share, or (outswapped) on the modified or standby list or written.
fn stack_frame(
    t: &mut Tally<'_>,
    system: &AddressSpace,
    va: Va,
    pfn: Pfn,
    want: PageLocation,
    who: &str,
) {
    t.note(pfn, who.to_string());
    let Some(e) = t.st.db.entry(pfn) else {
        t.v.push(format!("{who}: pfn {:#x} beyond RAM", pfn.0));
        return;
    };
    let location_ok = if want == PageLocation::Active {
        e.location == PageLocation::Active && e.reference_count == 1 && e.share_count == 1
    } else {
        matches!(
            e.location,
            PageLocation::Modified | PageLocation::Standby | PageLocation::Transition
        )
    };
    let pte_ok = e.pte_address == crate::mm::process::page_tables::pte_va(t.m, va);
    if !location_ok || e.use_ != PageUse::KernelStack || e.owner != system.slot || !pte_ok {
        t.v.push(format!(
            "{who}: pfn {:#x} is {}",
            pfn.0,
            super::EntryText(Some(e))
        ));
    }
    if let PteState::PageFile { file, slot, .. } = t.m.fmt.decode(e.original_pte) {
        t.name_slot(file, slot, format!("{who}'s OriginalPte"));
    }
}

/// A mapped MDL's PTEs name its frames; allocated pages are DriverLocked;
/// locked pages are counted in `locks`.
fn mdl_pages(t: &mut Tally<'_>, system: &AddressSpace, d: &Mdl, locks: &mut HashMap<Pfn, u32>) {
    if let Some(base) = d.mapped {
        let tables = system.tables(t.m);
        for (i, &pfn) in d.pfns.iter().enumerate() {
            let va = Va(base.0 + i as u64 * PAGE_SIZE);
            let state = tables.leaf(va).map(|loc| t.m.fmt.decode(tables.read(loc)));
            if !matches!(state, Some(PteState::Valid(h)) if h.pfn == pfn) {
                t.v.push(format!(
                    "MDL {}: the system PTE of {:#x} is {state:?}, not valid for pfn {:#x}",
                    d.id, va.0, pfn.0
                ));
            }
        }
    }
    if d.allocated() {
        for &pfn in &d.pfns {
            t.note(pfn, format!("MDL {} allocated page", d.id));
            let e = t.st.db.entry(pfn);
            if !e.is_some_and(|e| {
                e.location == PageLocation::Active
                    && e.use_ == PageUse::DriverLocked
                    && e.reference_count == 1
            }) {
                t.v.push(format!(
                    "MDL {}: allocated pfn {:#x} is {}",
                    d.id,
                    pfn.0,
                    super::EntryText(e)
                ));
            }
        }
    } else if d.locked() {
        for &pfn in &d.pfns {
            *locks.entry(pfn).or_default() += 1;
        }
    }
}

/// A frame locked n times holds n references besides its mapping's (when
/// Active) and an I/O's, and is on no list.
fn lock_references(t: &mut Tally<'_>, locks: &HashMap<Pfn, u32>) {
    for (&pfn, &n) in locks {
        let Some(e) = t.st.db.entry(pfn) else {
            continue;
        };
        if e.read_in_progress {
            continue;
        }
        let expected =
            n + u32::from(e.location == PageLocation::Active) + u32::from(e.write_in_progress);
        let placed = matches!(e.location, PageLocation::Active | PageLocation::Transition);
        if u32::from(e.reference_count) != expected || !placed {
            t.v.push(format!(
                "pfn {:#x} is locked by {n} MDL(s) but is {}",
                pfn.0,
                super::EntryText(Some(e))
            ));
        }
    }
}
