//! Memory descriptor lists: MmProbeAndLockPages / MmUnlockPages,
//! MmAllocatePagesForMdl / MmFreePagesFromMdl, MmMapLockedPagesSpecifyCache /
//! MmUnmapLockedPages.
//!
//! A locked page holds one more reference (ReferenceCount) than its mappings
//! account for, NT's way of pinning a frame: the working-set manager may still
//! trim it (its PTE becomes a transition PTE) but the frame then stays off the
//! lists, in Transition, so it is never written out, repurposed or freed until
//! the last unlock (`unlock_page_locked`) places it. Every locked page is also
//! charged against resident available memory.
//!
//! The MDL table is protected by `Mm::kernel`; a probe runs with the target
//! process's address space held, a mapping with the System process's.

use std::collections::BTreeMap;

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Pid, PteAddress, Va};
use crate::mm::fault::{Access, touch};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{ActivePage, Machine, PageNeed, PfnState, activate_locked};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::process::AddressSpace;
use crate::mm::process::mapping::system_data_pte;
use crate::mm::process::reclaim::obtain_page_without_trim;

use super::sysptes::SystemPtes;

/// NT's MdlFlags (wdm.h).
pub const MDL_MAPPED_TO_SYSTEM_VA: u16 = 0x0001;
pub const MDL_PAGES_LOCKED: u16 = 0x0002;
pub const MDL_WRITE_OPERATION: u16 = 0x0080;
/// mmfs's own marker (not a wdm.h flag) for the pages of MmAllocatePagesForMdl,
/// which NT tells apart only by how the MDL was made: such an MDL is freed
/// with MmFreePagesFromMdl, never unlocked.
pub const MDL_PAGES_ALLOCATED: u16 = 0x4000;

/// The names of the flags, lowest bit first.
pub const MDL_FLAG_NAMES: &[(u16, &str)] = &[
    (MDL_MAPPED_TO_SYSTEM_VA, "MDL_MAPPED_TO_SYSTEM_VA"),
    (MDL_PAGES_LOCKED, "MDL_PAGES_LOCKED"),
    (MDL_WRITE_OPERATION, "MDL_WRITE_OPERATION"),
    (MDL_PAGES_ALLOCATED, "MDL_PAGES_ALLOCATED"),
];

/// One MDL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mdl {
    pub id: u32,
    pub flags: u16,
    /// The process whose pages it describes (None: allocated pages).
    pub process: Option<Pid>,
    /// StartVa: the page-aligned user address (0 for allocated pages).
    pub start_va: Va,
    pub byte_offset: u64,
    pub byte_count: u64,
    /// The PFN array.
    pub pfns: Vec<Pfn>,
    /// The system PTE run it is mapped at (MappedSystemVa less ByteOffset).
    pub mapped: Option<Va>,
}

impl Mdl {
    pub fn locked(&self) -> bool {
        self.flags & MDL_PAGES_LOCKED != 0
    }

    pub fn allocated(&self) -> bool {
        self.flags & MDL_PAGES_ALLOCATED != 0
    }

    pub fn mapped_system_va(&self) -> Option<Va> {
        self.mapped.map(|v| Va(v.0 + self.byte_offset))
    }
}

/// The MDLs in use, by id.
#[derive(Default, Debug)]
pub struct Mdls {
    next: u32,
    pub by_id: BTreeMap<u32, Mdl>,
}

impl Mdls {
    pub fn insert(&mut self, mut mdl: Mdl) -> u32 {
        self.next += 1;
        mdl.id = self.next;
        self.by_id.insert(self.next, mdl);
        self.next
    }

    pub fn get(&self, id: u32) -> MmResult<&Mdl> {
        self.by_id
            .get(&id)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "there is no MDL {id}"))
    }

    pub fn get_mut(&mut self, id: u32) -> MmResult<&mut Mdl> {
        self.by_id
            .get_mut(&id)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "there is no MDL {id}"))
    }

    /// True if some MDL still holds pages of `pid` locked.
    pub fn locks_pages_of(&self, pid: Pid) -> bool {
        self.by_id
            .values()
            .any(|d| d.process == Some(pid) && d.locked())
    }
}

/// The pages of `[address, address + size)`: (first page, count). A range
/// reaching above user space fails as MmProbeAndLockPages's probe does in user
/// mode: STATUS_ACCESS_VIOLATION.
pub fn user_range(m: &Machine, address: u64, size: u64) -> MmResult<(Va, u64)> {
    if size == 0 {
        return Err(mm_err!(INVALID_PARAMETER, "the size is 0"));
    }
    let highest = m.layout.highest_user_address();
    let last = address.checked_add(size - 1).filter(|&l| l <= highest);
    let Some(last) = last else {
        return Err(mm_err!(
            ACCESS_VIOLATION,
            "{size:#x} bytes at {address:#x} reach above the highest user address {highest:#x}"
        ));
    };
    let first = Va(address).page_base();
    Ok((first, (last / PAGE_SIZE) - (first.0 / PAGE_SIZE) + 1))
}

/// MmProbeAndLockPages: faults each page in for `access` with the process's
/// protections and takes one reference on its frame. On a fault the pages
/// locked so far are unlocked again and the fault's status is returned.
/// The resident charge is the caller's.
pub fn probe_and_lock(
    m: &Machine,
    space: &mut AddressSpace,
    first: Va,
    pages: u64,
    access: Access,
) -> MmResult<Vec<Pfn>> {
    let mut pfns = Vec::with_capacity(pages as usize);
    for i in 0..pages {
        let va = Va(first.0 + i * PAGE_SIZE);
        let pfn = match touch(m, space, va, access) {
            Ok(pfn) => pfn,
            Err(f) => {
                unlock_pages(m, &pfns);
                return Err(f.error);
            }
        };
        let mut st = m.pfn_lock();
        st.db.increment_reference(pfn);
        if access == Access::Write {
            // The device will write it: whatever copy a paging file has is
            // stale from now on (WRK sets the PFN modified for a write lock).
            st.db.set_modified(pfn, true);
            if !st.db.prototype(pfn) {
                m.release_backing_locked(&mut st, pfn);
            }
        }
        pfns.push(pfn);
    }
    Ok(pfns)
}

/// MmUnlockPages for each frame.
pub fn unlock_pages(m: &Machine, pfns: &[Pfn]) {
    let mut st = m.pfn_lock();
    for &pfn in pfns {
        unlock_page_locked(m, &mut st, pfn);
    }
}

/// Drops a lock's reference. The last reference of a frame no PTE maps any
/// more (trimmed or freed while locked, so in Transition) places it as a
/// write's completion would: freed if deleted, else to its list.
pub fn unlock_page_locked(m: &Machine, st: &mut PfnState, pfn: Pfn) {
    if st.db.decrement_reference(pfn) > 0 || st.db.location(pfn) != Some(PageLocation::Transition) {
        return;
    }
    if st.db.write_in_progress(pfn) || st.db.read_in_progress(pfn) {
        return;
    }
    if st.db.prototype(pfn) {
        m.place_unreferenced_proto_locked(st, pfn);
    } else if st.db.deleted(pfn) {
        m.free_page_locked(st, pfn);
    } else if st.db.modified(pfn) {
        st.db.insert(pfn, PageLocation::Modified);
    } else {
        st.db.insert(pfn, PageLocation::Standby);
    }
}

/// MmAllocatePagesForMdl: `pages` zeroed frames, Active and locked (use
/// DriverLocked, in no PTE). Either all or none: a shortage frees what was
/// taken and answers STATUS_INSUFFICIENT_RESOURCES. The resident charge is
/// the caller's.
pub fn allocate_pages(m: &Machine, pages: u64) -> MmResult<Vec<Pfn>> {
    let mut pfns = Vec::with_capacity(pages as usize);
    for _ in 0..pages {
        let Some((mut st, page)) = obtain_page_without_trim(m, PageNeed::Zeroed) else {
            free_pages(m, &pfns);
            return Err(mm_err!(
                INSUFFICIENT_RESOURCES,
                "only {} of {pages} physical pages could be allocated",
                pfns.len()
            ));
        };
        activate_locked(
            &mut st,
            page.pfn,
            ActivePage {
                use_: PageUse::DriverLocked,
                owner: 0,
                pte_address: PteAddress(0),
                original_pte: Mmpte::ZERO,
                share: 0,
                ws_index: 0,
            },
        );
        pfns.push(page.pfn);
    }
    Ok(pfns)
}

/// MmFreePagesFromMdl.
pub fn free_pages(m: &Machine, pfns: &[Pfn]) {
    let mut st = m.pfn_lock();
    for &pfn in pfns {
        m.release_frame_locked(&mut st, pfn);
    }
}

/// MmMapLockedPagesSpecifyCache (KernelMode): a run of system PTEs, each
/// made valid for its frame; read-only unless the pages were locked for
/// writing or allocated. The frames' counts do not change (the lock's
/// reference keeps them). Returns the run's first address.
pub fn map(
    m: &Machine,
    ptes: &mut SystemPtes,
    system: &mut AddressSpace,
    mdl: &Mdl,
) -> MmResult<Va> {
    let pages = mdl.pfns.len() as u64;
    let base = ptes.reserve(pages, &format!("mdl {}", mdl.id))?;
    let writable = mdl.flags & (MDL_WRITE_OPERATION | MDL_PAGES_ALLOCATED) != 0;
    let protection = if writable {
        Protection::READWRITE
    } else {
        Protection::READONLY
    };
    for (i, &pfn) in mdl.pfns.iter().enumerate() {
        let va = Va(base.0 + i as u64 * PAGE_SIZE);
        let loc = match system.ensure_leaf(m, va) {
            Ok(loc) => loc,
            Err(e) => {
                unmap_pages(m, system, base, i as u64);
                ptes.release(base);
                return Err(e);
            }
        };
        let mut st = m.pfn_lock();
        st.db.increment_share(loc.table);
        system
            .tables(m)
            .write(loc, system_data_pte(m, pfn, protection, false));
    }
    Ok(base)
}

/// MmUnmapLockedPages: clears the PTEs (a page written through the mapping
/// is marked Modified first, so its bytes are written out before the frame
/// is reused) and returns the run.
pub fn unmap(m: &Machine, ptes: &mut SystemPtes, system: &mut AddressSpace, mdl: &Mdl) {
    let Some(base) = mdl.mapped else { return };
    unmap_pages(m, system, base, mdl.pfns.len() as u64);
    ptes.release(base);
}

fn unmap_pages(m: &Machine, system: &mut AddressSpace, base: Va, pages: u64) {
    let tables = system.tables(m);
    let mut st = m.pfn_lock();
    for i in 0..pages {
        let Some(loc) = tables.leaf(Va(base.0 + i * PAGE_SIZE)) else {
            continue;
        };
        if let PteState::Valid(h) = m.fmt.decode(tables.read(loc)) {
            if h.dirty && st.db.page_use(h.pfn) != PageUse::DriverLocked {
                st.db.set_modified(h.pfn, true);
                if !st.db.prototype(h.pfn) {
                    m.release_backing_locked(&mut st, h.pfn);
                }
            }
            st.db.decrement_share(loc.table);
        }
        tables.write(loc, Mmpte::ZERO);
    }
}
