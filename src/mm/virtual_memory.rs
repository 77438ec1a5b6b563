//! NT's virtual memory services on one address space: NtAllocateVirtualMemory,
//! NtFreeVirtualMemory, NtProtectVirtualMemory, NtLockVirtualMemory,
//! NtUnlockVirtualMemory and SetProcessWorkingSetSize. The VAD rules (what may be
//! reserved, split, released) are in `vad/`; this module does the page-table and
//! commit side. Rules follow the WRK (Server 2003 SP1). Callers hold the process's
//! address-space lock.

use super::address_space::AddressSpace;
use super::fault::{Access, touch};
use super::memory::Machine;
use super::protection::Protection;
use super::pte::PteState;
use super::status::MmResult;
use super::types::{PAGE_SIZE, Va, Vpn};
use super::vad::{self, AddressLimits, AllocPlan, AllocRequest, ProtectCheck};
use super::working_set::{MINIMUM_FLOOR, WsleKind};

/// The address range user allocations may use on this machine.
pub fn limits(m: &Machine) -> AddressLimits {
    let base = AddressLimits::for_arch(m.fmt.arch());
    AddressLimits {
        lowest: m.layout.lowest_user_address(),
        highest: m.layout.highest_user_address(),
        large_page_size: base.large_page_size,
    }
}

/// Whether the page at `vpn` (inside VAD `vad_commit`-style reservation) is committed,
/// judged from its PTE as NT's MiIsPteDecommittedPage / MiCalculatePageCommitment do.
fn page_committed(m: &Machine, space: &AddressSpace, vpn: Vpn, vad_mem_commit: bool) -> bool {
    let tables = space.tables(m);
    let raw = tables.leaf(vpn.va()).map_or(0, |l| tables.read(l));
    committed_pte(m, raw, vad_mem_commit)
}

/// NtAllocateVirtualMemory. Returns the base and size of the range.
pub fn allocate(m: &Machine, space: &mut AddressSpace, req: &AllocRequest) -> MmResult<(Va, u64)> {
    if req.large_pages || req.physical || req.write_watch {
        return Err(mm_err!(
            NOT_SUPPORTED,
            "large-pages, physical (AWE) and write-watch allocations are not simulated yet"
        ));
    }
    match vad::plan_allocate(&space.vads, req, limits(m))? {
        AllocPlan::Reserve { base, size, vad } => {
            let charge = vad.commit_charge;
            m.charge_commit(charge)?;
            if let Err(e) = space.vads.insert(vad) {
                m.uncharge_commit(charge);
                return Err(e);
            }
            space.note_commit_peak();
            Ok((base, size))
        }
        AllocPlan::CommitExisting {
            base,
            size,
            vad_start,
        } => {
            let v = space
                .vads
                .get(vad_start)
                .ok_or_else(|| mm_err!(MEMORY_NOT_ALLOCATED, "the reservation went away"))?;
            if !v.private_memory {
                return Err(mm_err!(
                    CONFLICTING_ADDRESSES,
                    "{:#x} is a mapped view; commit it through its section",
                    base.0
                ));
            }
            let mem_commit = v.mem_commit;
            let first = base.vpn();
            let last = Vpn(first.0 + size / PAGE_SIZE - 1);
            let new_pages: Vec<Vpn> = (first.0..=last.0)
                .map(Vpn)
                .filter(|&p| !page_committed(m, space, p, mem_commit))
                .collect();
            m.charge_commit(new_pages.len() as u64)?;
            let template = m.fmt.encode(&PteState::DemandZero {
                protection: req.protection,
            });
            let mut done = 0u64;
            for vpn in &new_pages {
                match space.ensure_leaf(m, vpn.va()) {
                    Ok(loc) => {
                        space.tables(m).write(loc, template);
                        done += 1;
                    }
                    Err(e) => {
                        // Undo: the pages written so far go back to uncommitted.
                        let undo = if mem_commit {
                            m.fmt.encode(&PteState::Decommitted)
                        } else {
                            0
                        };
                        for v in new_pages.iter().take(done as usize) {
                            if let Some(loc) = space.tables(m).leaf(v.va()) {
                                space.tables(m).write(loc, undo);
                            }
                        }
                        m.uncharge_commit(new_pages.len() as u64);
                        return Err(e);
                    }
                }
            }
            if let Some(v) = space.vads.find_mut(vad_start) {
                v.commit_charge += done;
            }
            space.note_commit_peak();
            Ok((base, size))
        }
        AllocPlan::Reset { base, size, .. } => {
            // MEM_RESET: the contents are no longer wanted. The pages stay committed;
            // a modified page loses its modified state so it is never written out.
            let mut st = m.pfn_lock();
            let tables = space.tables(m);
            for v in base.vpn().0..base.vpn().0 + size / PAGE_SIZE {
                if let Some(loc) = tables.leaf(Vpn(v).va()) {
                    match m.fmt.decode(tables.read(loc)) {
                        PteState::Valid(mut h) => {
                            h.dirty = false;
                            tables.write(loc, m.fmt.encode(&PteState::Valid(h)));
                            st.db.set_modified(h.pfn, false);
                        }
                        PteState::Transition { pfn, .. }
                            if st.db.location(pfn) == Some(super::pfn::PageLocation::Modified) =>
                        {
                            st.db.unlink(pfn);
                            st.db.set_modified(pfn, false);
                            st.db.insert(pfn, super::pfn::PageLocation::Standby);
                        }
                        _ => {}
                    }
                }
            }
            Ok((base, size))
        }
    }
}

/// Whether the PTE value `raw` (inside a VAD with MemCommit `mem_commit`) is a
/// committed page, as NT's MiCalculatePageCommitment judges it.
fn committed_pte(m: &Machine, raw: u64, mem_commit: bool) -> bool {
    match m.fmt.decode(raw) {
        PteState::Zero => mem_commit,
        PteState::Decommitted => false,
        _ => true,
    }
}

/// NtFreeVirtualMemory (decommit or release). Returns the base and size freed.
pub fn free(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
    size: u64,
    release: bool,
) -> MmResult<(Va, u64)> {
    let plan = vad::plan_free(&space.vads, address, size, release)?;
    let v = space
        .vads
        .get(plan.vad_start)
        .ok_or_else(|| mm_err!(MEMORY_NOT_ALLOCATED, "the reservation went away"))?;
    let mem_commit = v.mem_commit;
    let (first, last) = (plan.first_vpn, plan.last_vpn);
    let tables = space.tables(m);
    let committed = |a: Vpn, b: Vpn| {
        (a.0..=b.0)
            .filter(|&p| {
                let raw = tables.leaf(Vpn(p).va()).map_or(0, |l| tables.read(l));
                committed_pte(m, raw, mem_commit)
            })
            .count() as u64
    };
    if plan.is_release() {
        // The reservation changes first, its charge recounted from the PTEs as they
        // are; then the pages go and their PTEs become zero (nothing reserved).
        let released = vad::apply_release(&mut space.vads, &plan, committed)?;
        for vpn in first.0..=last.0 {
            if let Some(loc) = space.tables(m).leaf(Vpn(vpn).va()) {
                space.delete_pte(m, loc, 0);
            }
        }
        m.uncharge_commit(released);
        space.free_empty_tables(m, first.va().0, last.va().0 + PAGE_SIZE - 1);
        return Ok((plan.base(), plan.size()));
    }
    // Decommit: each committed page's frame goes to the free list and its PTE says
    // decommitted (zero would read as committed in a MemCommit reservation).
    let released = committed(first, last);
    let new_pte = if mem_commit {
        m.fmt.encode(&PteState::Decommitted)
    } else {
        0
    };
    for vpn in first.0..=last.0 {
        let va = Vpn(vpn).va();
        let loc = match space.tables(m).leaf(va) {
            Some(loc) => loc,
            // A never-touched page of a MemCommit reservation needs a PTE that
            // says it is decommitted (NT makes the page table for it too).
            None if mem_commit => space.ensure_leaf(m, va)?,
            None => continue,
        };
        space.delete_pte(m, loc, new_pte);
    }
    if let Some(v) = space.vads.find_mut(plan.vad_start) {
        v.commit_charge -= released.min(v.commit_charge);
    }
    m.uncharge_commit(released);
    Ok((plan.base(), plan.size()))
}

/// Protection a committed page has now, from its PTE (or its VAD for a zero PTE).
fn page_protection(m: &Machine, space: &AddressSpace, vpn: Vpn) -> Option<Protection> {
    let tables = space.tables(m);
    let loc = tables.leaf(vpn.va());
    let raw = loc.map_or(0, |l| tables.read(l));
    match m.fmt.decode(raw) {
        PteState::Valid(h) => {
            let st = m.pfn_lock();
            let index = st.db.ws_index(h.pfn);
            drop(st);
            space.ws.get(index).map(|e| e.protection)
        }
        PteState::Transition { protection, .. }
        | PteState::DemandZero { protection }
        | PteState::PageFile { protection, .. } => Some(protection),
        PteState::Zero => space
            .vads
            .find(vpn)
            .filter(|v| v.mem_commit)
            .map(|v| v.protection),
        _ => None,
    }
}

/// NtProtectVirtualMemory. Returns the old protection of the first page.
pub fn protect(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
    size: u64,
    new: Protection,
) -> MmResult<Protection> {
    let (first, last) = vad::plan_protect(&space.vads, address, size)?;
    let v = space
        .vads
        .find(first)
        .ok_or_else(|| mm_err!(MEMORY_NOT_ALLOCATED, "{address:#x} is not allocated"))?;
    if vad::check_protect_change(v, new)? == ProtectCheck::AlreadyReadWrite {
        return Ok(Protection::READWRITE);
    }
    let mut old = None;
    for vpn in first.0..=last.0 {
        match page_protection(m, space, Vpn(vpn)) {
            Some(p) => {
                old.get_or_insert(p);
            }
            None => {
                return Err(mm_err!(
                    NOT_COMMITTED,
                    "{:#x} is not committed; only committed pages can be protected",
                    Vpn(vpn).va().0
                ));
            }
        }
    }
    for vpn in first.0..=last.0 {
        set_page_protection(m, space, Vpn(vpn), new)?;
    }
    Ok(old.unwrap_or(new))
}

fn set_page_protection(
    m: &Machine,
    space: &mut AddressSpace,
    vpn: Vpn,
    new: Protection,
) -> MmResult<()> {
    let va = vpn.va();
    let loc = space.ensure_leaf(m, va)?;
    let tables = space.tables(m);
    let raw = tables.read(loc);
    match m.fmt.decode(raw) {
        PteState::Valid(h) => {
            let index = m.pfn_lock().db.ws_index(h.pfn);
            if new.is_noaccess() || new.is_guard() {
                // A page that may not be touched cannot stay valid: it leaves the
                // working set (as a trim would) with the new protection.
                if let Some(e) = space.ws.get_mut(index) {
                    e.protection = new;
                    e.locked = false;
                }
                space.trim_entry(m, index);
                return Ok(());
            }
            if let Some(e) = space.ws.get_mut(index) {
                e.protection = new;
            }
            let dirty = h.dirty;
            tables.write(loc, super::address_space::data_pte(m, h.pfn, new, dirty));
        }
        PteState::Transition { pfn, .. } => {
            let _st = m.pfn_lock();
            tables.write(
                loc,
                m.fmt.encode(&PteState::Transition {
                    pfn,
                    protection: new,
                }),
            );
        }
        PteState::DemandZero { .. } | PteState::Zero => {
            tables.write(loc, m.fmt.encode(&PteState::DemandZero { protection: new }));
        }
        PteState::PageFile { file, slot, .. } => {
            tables.write(
                loc,
                m.fmt.encode(&PteState::PageFile {
                    file,
                    slot,
                    protection: new,
                }),
            );
        }
        _ => {}
    }
    Ok(())
}

/// The pages of `[address, address + size)`, rounded out to whole pages.
fn page_range(address: u64, size: u64) -> MmResult<(Vpn, Vpn)> {
    if size == 0 {
        return Err(mm_err!(INVALID_PARAMETER, "the size is 0"));
    }
    let end = address
        .checked_add(size - 1)
        .ok_or_else(|| mm_err!(INVALID_PARAMETER, "{address:#x} + {size:#x} wraps around"))?;
    Ok((Va(address).vpn(), Va(end).vpn()))
}

/// NtLockVirtualMemory (MAP_PROCESS): makes the pages resident and locks them in
/// the working set. Returns the number of pages newly locked.
pub fn lock(m: &Machine, space: &mut AddressSpace, address: u64, size: u64) -> MmResult<u64> {
    let (first, last) = page_range(address, size)?;
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
    let pages = last.0 - first.0 + 1;
    let already = (first.0..=last.0)
        .filter(|&v| locked_entry(m, space, Vpn(v)).is_some_and(|(_, l)| l))
        .count() as u64;
    let locked = space.ws.locked_count();
    let new = pages - already;
    // WRK: the working set must keep 8 pages free above the locked ones.
    if locked + new + 8 > space.ws.minimum {
        return Err(mm_err!(
            WORKING_SET_QUOTA,
            "locking {new} more pages needs a working-set minimum above {} pages (it is {}); raise it with ws-limits",
            locked + new + 8,
            space.ws.minimum
        ));
    }
    for vpn in first.0..=last.0 {
        let va = Vpn(vpn).va();
        touch(m, space, va, Access::Read).map_err(|f| f.error)?;
        if let Some((index, _)) = locked_entry(m, space, Vpn(vpn))
            && let Some(e) = space.ws.get_mut(index)
        {
            e.locked = true;
        }
    }
    Ok(new)
}

/// The working-set entry of a valid page: (index, locked).
fn locked_entry(m: &Machine, space: &AddressSpace, vpn: Vpn) -> Option<(u32, bool)> {
    let tables = space.tables(m);
    let loc = tables.leaf(vpn.va())?;
    let PteState::Valid(h) = m.fmt.decode(tables.read(loc)) else {
        return None;
    };
    let index = m.pfn_lock().db.ws_index(h.pfn);
    space.ws.get(index).map(|e| (index, e.locked))
}

/// NtUnlockVirtualMemory. Every page must be locked: otherwise the unlocked ones
/// are removed from the working set and STATUS_NOT_LOCKED is returned (NT does
/// exactly this). Returns the number of pages unlocked.
pub fn unlock(m: &Machine, space: &mut AddressSpace, address: u64, size: u64) -> MmResult<u64> {
    let (first, last) = page_range(address, size)?;
    let entries: Vec<Option<(u32, bool)>> = (first.0..=last.0)
        .map(|v| locked_entry(m, space, Vpn(v)))
        .collect();
    if entries.iter().all(|e| e.is_some_and(|(_, l)| l)) {
        for (index, _) in entries.into_iter().flatten() {
            if let Some(e) = space.ws.get_mut(index) {
                e.locked = false;
            }
        }
        return Ok(last.0 - first.0 + 1);
    }
    for (index, locked) in entries.into_iter().flatten() {
        if !locked {
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

/// SetProcessWorkingSetSize. `None, None` (-1, -1) empties the working set.
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
    space.ws.minimum = min;
    space.ws.maximum = max;
    Ok((min, max))
}

/// How many private (non page-table) pages the working set holds.
pub fn private_ws_pages(space: &AddressSpace) -> u64 {
    space
        .ws
        .iter()
        .filter(|(_, e)| e.kind == WsleKind::Private)
        .count() as u64
}
