//! NT's virtual memory services on one address space: NtAllocateVirtualMemory,
//! NtFreeVirtualMemory, NtProtectVirtualMemory, NtLockVirtualMemory,
//! NtUnlockVirtualMemory and SetProcessWorkingSetSize. The VAD rules (what may be
//! reserved, split, released) are in `vad/`; this module does the page-table and
//! commit side. Rules follow the WRK (Server 2003 SP1). Callers hold the process's
//! address-space lock.
//!
//! Cost: a reservation can span all of user space (8 TB on x64) at no charge, so no
//! loop here runs over every page of a range unless those pages are committed
//! (bounded by the commit limit) or in the working set; sparse ranges are walked
//! through the page tables that exist (`PageTables::for_each_entry`).
//! Every service checks what can fail before it changes anything.

use super::address_space::{AddressSpace, data_pte};
use super::fault::{Access, touch};
use super::memory::Machine;
use super::pagetable::{EntryLoc, PageTables};
use super::protection::Protection;
use super::pte::{Level, PteState};
use super::status::MmResult;
use super::types::{PAGE_SIZE, Va, Vpn};
use super::vad::{self, AddressLimits, AllocPlan, AllocRequest, ProtectCheck};
use super::working_set::MINIMUM_FLOOR;

/// The address range user allocations may use on this machine.
pub fn limits(m: &Machine) -> AddressLimits {
    let base = AddressLimits::for_arch(m.fmt.arch());
    AddressLimits {
        lowest: m.layout.lowest_user_address(),
        highest: m.layout.highest_user_address(),
        large_page_size: base.large_page_size,
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

/// Whether the page at `vpn` is committed, judged from its PTE.
fn page_committed(m: &Machine, space: &AddressSpace, vpn: Vpn, mem_commit: bool) -> bool {
    let tables = space.tables(m);
    let raw = tables.leaf(vpn.va()).map_or(0, |l| tables.read(l));
    committed_pte(m, raw, mem_commit)
}

/// Committed pages in `[first, last]`, walking only the page tables that exist
/// (a missing table means zero PTEs: committed exactly when `mem_commit`).
pub fn count_committed(
    m: &Machine,
    tables: &PageTables<'_>,
    first: Vpn,
    last: Vpn,
    mem_commit: bool,
) -> u64 {
    let pages = last.0 - first.0 + 1;
    let (mut yes, mut no) = (0u64, 0u64);
    tables.for_each_entry(
        first.va().0,
        last.va().0 + (PAGE_SIZE - 1),
        &mut |level, _, _, raw| {
            if level == Level::Pte {
                if committed_pte(m, raw, mem_commit) {
                    yes += 1;
                } else {
                    no += 1;
                }
            }
        },
    );
    if mem_commit { pages - no } else { yes }
}

/// The PTEs of existing page tables in `[first, last]` that hold anything, with
/// the pages they map.
pub fn nonzero_ptes(tables: &PageTables<'_>, first: Vpn, last: Vpn) -> Vec<(Va, EntryLoc)> {
    let mut out = Vec::new();
    tables.for_each_entry(
        first.va().0,
        last.va().0 + (PAGE_SIZE - 1),
        &mut |level, va, loc, raw| {
            if level == Level::Pte && raw != 0 {
                out.push((Va(va), loc));
            }
        },
    );
    out
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
            commit_existing(m, space, base, size, vad_start, req.protection)?;
            Ok((base, size))
        }
        AllocPlan::Reset { base, size, .. } => {
            reset(m, space, base, size);
            Ok((base, size))
        }
    }
}

/// MEM_COMMIT inside an existing reservation: uncommitted pages get demand-zero
/// PTEs (charged once), and already-committed pages take the new protection, as
/// WRK's NtAllocateVirtualMemory does by protecting the whole range.
fn commit_existing(
    m: &Machine,
    space: &mut AddressSpace,
    base: Va,
    size: u64,
    vad_start: Vpn,
    protection: Protection,
) -> MmResult<()> {
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
    let already = count_committed(m, &space.tables(m), first, last, mem_commit);
    let new = (last.0 - first.0 + 1) - already;
    // Charged before any page-table work, so a range beyond the limit costs nothing.
    m.charge_commit(new)?;
    // Every page of the range is committed from here on, so this loop is bounded by
    // the commit limit. Page tables first: their failure leaves nothing half done.
    for vpn in first.0..=last.0 {
        if let Err(e) = space.ensure_leaf(m, Vpn(vpn).va()) {
            m.uncharge_commit(new);
            return Err(e);
        }
    }
    if let Err(e) = privatize_clone_pages(m, space, first, last) {
        m.uncharge_commit(new);
        return Err(e);
    }
    let template = m.fmt.encode(&PteState::DemandZero { protection });
    for vpn in first.0..=last.0 {
        let vpn = Vpn(vpn);
        if page_committed(m, space, vpn, mem_commit) {
            set_page_protection(m, space, vpn, protection);
        } else if let Some(loc) = space.tables(m).leaf(vpn.va()) {
            space.tables(m).write(loc, template);
        }
    }
    if let Some(v) = space.vads.find_mut(vad_start) {
        v.commit_charge += new;
    }
    space.note_commit_peak();
    Ok(())
}

/// MEM_RESET: the contents are no longer wanted. The pages stay committed and are
/// never written out: a valid page is made clean (if it has no paging-file copy,
/// trimming it then frees it), a page waiting on the modified list is freed now.
fn reset(m: &Machine, space: &mut AddressSpace, base: Va, size: u64) {
    let tables = space.tables(m);
    let last = Vpn(base.vpn().0 + size / PAGE_SIZE - 1);
    for (_, loc) in nonzero_ptes(&tables, base.vpn(), last) {
        let mut st = m.pfn_lock();
        match m.fmt.decode(tables.read(loc)) {
            PteState::Valid(mut h) => {
                h.dirty = false;
                tables.write(loc, m.fmt.encode(&PteState::Valid(h)));
                st.db.set_modified(h.pfn, false);
            }
            PteState::Transition { pfn, protection }
                if st.db.location(pfn) == Some(super::pfn::PageLocation::Modified) =>
            {
                // Waiting to be written, and nobody wants the contents: the frame
                // is freed and the page reads as zeros from now on.
                st.db.unlink(pfn);
                m.free_page_locked(&mut st, pfn);
                tables.write(loc, m.fmt.encode(&PteState::DemandZero { protection }));
                space.private_pages -= 1;
            }
            _ => {}
        }
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
    if plan.is_release() {
        // The reservation changes first, its charge recounted from the PTEs as they
        // are; then the pages go and their PTEs become zero (nothing reserved).
        let released = vad::apply_release(&mut space.vads, &plan, |a, b| {
            count_committed(m, &tables, a, b, mem_commit)
        })?;
        for (va, loc) in nonzero_ptes(&tables, first, last) {
            space.delete_pte(m, loc, va, 0);
        }
        m.uncharge_commit(released);
        space.free_empty_tables(m, first.va().0, last.va().0 + PAGE_SIZE - 1);
        return Ok((plan.base(), plan.size()));
    }
    let released = count_committed(m, &tables, first, last, mem_commit);
    if mem_commit {
        // In a MemCommit reservation a zero PTE reads as committed, so every page
        // needs a PTE that says decommitted (NT makes the page tables for that).
        // The range is committed pages, bounded by the commit limit. Tables first,
        // so a failure changes nothing.
        for vpn in first.0..=last.0 {
            space.ensure_leaf(m, Vpn(vpn).va())?;
        }
        let decommitted = m.fmt.encode(&PteState::Decommitted);
        for vpn in first.0..=last.0 {
            if let Some(loc) = space.tables(m).leaf(Vpn(vpn).va()) {
                space.delete_pte(m, loc, Vpn(vpn).va(), decommitted);
            }
        }
    } else {
        for (va, loc) in nonzero_ptes(&tables, first, last) {
            space.delete_pte(m, loc, va, 0);
        }
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
            let index = space.ws_index_of(&st, vpn.va(), h.pfn)?;
            space.ws.get(index).map(|e| e.protection)
        }
        PteState::Transition { protection, .. }
        | PteState::DemandZero { protection }
        | PteState::PageFile { protection, .. } => Some(protection),
        PteState::Prototype {
            proto_pte: None,
            protection,
        } => Some(protection),
        PteState::Prototype {
            proto_pte: Some(address),
            ..
        } => {
            let st = m.pfn_lock();
            let at = st.segments.locate_address(address.0)?;
            Some(m.proto_protection_locked(&st, st.segments.read(at)))
        }
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
    if v.section.is_some() && !super::section::view::compatible(v.protection, new) {
        return Err(mm_err!(
            SECTION_PROTECTION,
            "the view at {} was mapped {}; it cannot become {}",
            v.range_text(),
            v.protection.name(),
            new.name()
        ));
    }
    // Every page must be committed (the loop stops at the first that is not, so it
    // is bounded by the commit limit), and gets its page table now, so the second
    // pass cannot fail half way.
    let mut old = None;
    for vpn in first.0..=last.0 {
        let Some(p) = page_protection(m, space, Vpn(vpn)) else {
            return Err(mm_err!(
                NOT_COMMITTED,
                "{:#x} is not committed; only committed pages can be protected",
                Vpn(vpn).va().0
            ));
        };
        old.get_or_insert(p);
        space.ensure_leaf(m, Vpn(vpn).va())?;
    }
    privatize_clone_pages(m, space, first, last)?;
    for vpn in first.0..=last.0 {
        set_page_protection(m, space, Vpn(vpn), new);
    }
    Ok(old.unwrap_or(new))
}

/// Pages of the range still shared with a fork relative through clone blocks
/// (private pages, and a write-copy view's copies) become private first, since their protection lives in the shared block (see
/// `privatize_clone_page`). Only pages with a PTE are looked at. A failure (no
/// page for a copy) leaves the pages copied so far private, which no one can
/// tell apart from before.
fn privatize_clone_pages(
    m: &Machine,
    space: &mut AddressSpace,
    first: Vpn,
    last: Vpn,
) -> MmResult<()> {
    let tables = space.tables(m);
    for (va, _) in nonzero_ptes(&tables, first, last) {
        let before = page_protection(m, space, va.vpn());
        if crate::mm::section::fork::privatize_clone_page(m, space, va).map_err(|f| f.error)?
            && let Some(p) = before
        {
            // The copy keeps the page's protection (its write-copy form made
            // writable, as a write would), so a protect that fails later and
            // is retried still reports and keeps it.
            let kept =
                crate::mm::section::fork::written_form(p).raw() | (p.raw() & Protection::GUARD_BIT);
            set_page_protection(m, space, va.vpn(), Protection::from_raw(kept));
        }
    }
    Ok(())
}

/// Gives a committed page (whose page table exists) protection `new`. The PFN's
/// OriginalPte takes it too, so a page that is repurposed and read back keeps it.
fn set_page_protection(m: &Machine, space: &mut AddressSpace, vpn: Vpn, new: Protection) {
    let tables = space.tables(m);
    let Some(loc) = tables.leaf(vpn.va()) else {
        return;
    };
    match m.fmt.decode(tables.read(loc)) {
        PteState::Valid(h) => {
            let index = {
                let mut st = m.pfn_lock();
                if !st.db.prototype(h.pfn) {
                    // A shared frame's OriginalPte is its prototype PTE's, not
                    // this process's to change.
                    let original = reprotect(m, st.db.original_pte(h.pfn), new);
                    st.db.set_original_pte(h.pfn, original);
                }
                space.ws_index_of(&st, vpn.va(), h.pfn).unwrap_or(u32::MAX)
            };
            if new.is_noaccess() || new.is_guard() {
                // A page that may not be touched cannot stay valid: it leaves the
                // working set (as a trim would) with the new protection, and so
                // loses any VirtualLock (mmfs's rule; a locked page is one the
                // process can touch without faulting).
                if let Some(e) = space.ws.get_mut(index) {
                    e.protection = new;
                    e.locked = false;
                }
                space.trim_entry(m, index);
                return;
            }
            if let Some(e) = space.ws.get_mut(index) {
                e.protection = new;
            }
            tables.write(loc, data_pte(m, h.pfn, new, h.dirty));
        }
        PteState::Transition { pfn, .. } => {
            let mut st = m.pfn_lock();
            let original = reprotect(m, st.db.original_pte(pfn), new);
            st.db.set_original_pte(pfn, original);
            tables.write(
                loc,
                m.fmt.encode(&PteState::Transition {
                    pfn,
                    protection: new,
                }),
            );
        }
        PteState::Zero if space.vads.find(vpn).is_some_and(|v| v.section.is_some()) => {
            // An untouched page of a view: it still comes from the prototype PTE,
            // now with a protection of its own.
            tables.write(
                loc,
                m.fmt.encode(&PteState::Prototype {
                    proto_pte: None,
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
        PteState::Prototype { .. } if space.vads.find(vpn).is_some_and(|v| v.section.is_some()) => {
            // A view's page keeps its own protection in the VAD-lookup form.
            tables.write(
                loc,
                m.fmt.encode(&PteState::Prototype {
                    proto_pte: None,
                    protection: new,
                }),
            );
        }
        _ => {}
    }
}

/// An OriginalPte with protection `new`: a paging-file copy stays named (its slot
/// is the page's backing), anything else becomes demand-zero.
pub(crate) fn reprotect(m: &Machine, original: u64, new: Protection) -> u64 {
    match m.fmt.decode(original) {
        PteState::PageFile { file, slot, .. } => m.fmt.encode(&PteState::PageFile {
            file,
            slot,
            protection: new,
        }),
        _ => m.fmt.encode(&PteState::DemandZero { protection: new }),
    }
}

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

/// SetProcessWorkingSetSize. `None, None` (-1, -1) empties the working set.
/// A maximum below the current size trims the working set down to it.
/// Returns the limits now in force, in pages.
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
    let bad = m.pfn_lock().db.list_count(super::pfn::PageLocation::Bad);
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
