//! MEM_LARGE_PAGES (WRK Server 2003 SP1: NtAllocateVirtualMemory's large-page
//! path, MiAllocateLargePages in `iosup.c`; MiFreeLargePages on release).
//!
//! A large-page VAD is committed whole when it is made: each large page (4 MB
//! on x86, 2 MB on PAE and x64) is a run of physically contiguous frames
//! (`machine/large_pages.rs`), zeroed, mapped by one PDE with the LargePage
//! bit and no page table below it. The frames are charged to commit (the
//! VAD's CommitCharge, with the page tables its range needs, as
//! MiInsertVadCharges charges every VAD) and to resident available memory
//! (they are never paged). They are in no working set: nothing trims, ages,
//! outswaps or pages them. The PDE is always present, writable, accessed and
//! dirty: WRK's MiAllocateLargePages builds it with MM_READWRITE whatever
//! protection the VAD records, and NtProtectVirtualMemory accepts only
//! PAGE_READWRITE for it (`vad/protect.rs`). The VAD is released whole or not
//! at all (`vad/free.rs`: a decommit is STATUS_MEMORY_NOT_ALLOCATED, a
//! partial release STATUS_FREE_VM_NOT_AT_BASE).
//!
//! Nothing changes when a run cannot be found (STATUS_INSUFFICIENT_RESOURCES):
//! the runs are looked for before anything is charged or made. WRK inserts
//! the VAD (charging commit) first and looks for memory after, so a request
//! that is both beyond the commit limit and beyond contiguous RAM gets
//! STATUS_COMMITMENT_LIMIT there and STATUS_INSUFFICIENT_RESOURCES here; mmfs
//! keeps its all-or-nothing rule (a charge could grow a paging file).

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, Mmpte, PAGE_SIZE, Pfn, Va, Vpn};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::{HardwarePte, Level, PteState};
use crate::mm::machine::{LargeRun, Machine};
use crate::mm::process::AddressSpace;
use crate::mm::vad::Vad;

/// Frames per large page of the running arch (1024 on x86, 512 on PAE and x64).
pub fn large_page_frames(m: &Machine) -> u32 {
    (m.fmt.large_page_size() / PAGE_SIZE) as u32
}

/// The PDE mapping the large page whose first frame is `base`: valid, user,
/// writable, accessed and dirty (MI_MAKE_VALID_PTE with MM_READWRITE, then
/// MI_SET_PTE_DIRTY, MI_SET_ACCESSED_IN_PTE and MI_MAKE_PDE_MAP_LARGE_PAGE),
/// not executable where the arch has the NX bit.
fn large_pde(m: &Machine, base: Pfn) -> Mmpte {
    m.fmt.encode(&PteState::Valid(HardwarePte {
        pfn: base,
        write: true,
        owner: true,
        accessed: true,
        dirty: true,
        large_page: true,
        no_execute: m.fmt.arch() != Arch::X86,
        ..HardwarePte::default()
    }))
}

fn no_run(pages: u64, count: u64) -> crate::mm::base::status::MmError {
    mm_err!(
        INSUFFICIENT_RESOURCES,
        "no {count} physically contiguous runs of {pages} pages (aligned, each page zeroed, free or standby) are available for MEM_LARGE_PAGES"
    )
}

/// NtAllocateVirtualMemory with MEM_LARGE_PAGES: `vad` (planned by
/// `vad::plan_allocate`, committed) is inserted and every large page of it
/// mapped. On any failure nothing is left: no frame, no charge, no VAD.
pub fn allocate_large(m: &Machine, space: &mut AddressSpace, vad: Vad) -> MmResult<()> {
    let lp = m.fmt.large_page_size();
    let base = vad.start_va().0;
    let count = vad.page_count() * PAGE_SIZE / lp;
    let frames = large_page_frames(m);
    let total = count * u64::from(frames);
    // 1. The runs must exist now: a failure here has changed nothing.
    if m.find_large_runs_locked(&m.pfn_lock(), count, frames)
        .is_none()
    {
        return Err(no_run(frames.into(), count));
    }
    // 2. Resident available memory, then the VAD with its commit.
    m.charge_resident(total, "MEM_LARGE_PAGES memory")?;
    let (first, last) = (vad.starting_vpn, vad.ending_vpn);
    if let Err(e) = space.insert_vad(m, vad) {
        m.uncharge_resident(total);
        return Err(e);
    }
    // 3. The page directories above the PDEs (x64: PDPT and PD pages may be
    //    new), then the runs again, under the PFN lock, since making a
    //    directory may have taken a frame of one.
    let mut pdes: Vec<EntryLoc> = Vec::new();
    for i in 0..count {
        match space.ensure_entry(m, Va(base + i * lp), Level::Pde) {
            Ok(loc) => pdes.push(loc),
            Err(e) => {
                undo_insert(m, space, (first, last), total);
                return Err(e);
            }
        }
    }
    let tables = space.tables(m);
    if let Some(loc) = pdes.iter().find(|&&loc| !tables.read(loc).is_zero()) {
        // No VAD covered the range, so no page table may be left under it
        // (a release frees its empty tables); refuse rather than replace one.
        let raw = tables.read(*loc);
        undo_insert(m, space, (first, last), total);
        return Err(mm_err!(
            CONFLICTING_ADDRESSES,
            "a page-directory entry in the range already holds {raw:#x}"
        ));
    }
    let mut st = m.pfn_lock();
    let Some(runs) = m.find_large_runs_locked(&st, count, frames) else {
        drop(st);
        undo_insert(m, space, (first, last), total);
        return Err(no_run(frames.into(), count));
    };
    for (i, (run, loc)) in runs.into_iter().zip(pdes).enumerate() {
        let va = Va(base + i as u64 * lp);
        let pde_va = m.fmt.entry_va(va, Level::Pde).unwrap_or_default();
        m.take_large_run_locked(&mut st, run, space.slot, pde_va);
        // The directory's ShareCount counts its valid entries, a large PDE too.
        st.db.increment_share(loc.table);
        tables.write(loc, large_pde(m, run.base));
        crate::mm_event!(
            m,
            "vm.large-page",
            "pid={} va={:#x} pfn={:#x} pages={}",
            space.pid,
            va.0,
            run.base.0,
            frames
        );
    }
    Ok(())
}

/// Takes out a large-page VAD inserted by `allocate_large` that could not be
/// mapped: its charges, and any directory made for it.
fn undo_insert(m: &Machine, space: &mut AddressSpace, (first, last): (Vpn, Vpn), total: u64) {
    if let Some(v) = space.vads.get(first) {
        let charge = v.commit_charge;
        space.vads.remove(first);
        m.uncharge_commit(charge);
    }
    space.free_empty_tables(m, first.va().0, last.va().0 + (PAGE_SIZE - 1));
    space.return_table_charges(m, first, last);
    m.uncharge_resident(total);
}

/// MiFreeLargePages for `[first, last]` (a whole large-page VAD being
/// released): each large PDE goes to zero and its run back to the free list;
/// the resident available charge is returned. The caller removes the VAD and
/// returns its commit.
pub fn release_large(m: &Machine, space: &mut AddressSpace, first: Vpn, last: Vpn) {
    let tables = space.tables(m);
    let frames = large_page_frames(m);
    let pdes = tables.large_pdes(first.va().0, last.va().0 + (PAGE_SIZE - 1));
    let mut st = m.pfn_lock();
    for (_, loc, raw) in &pdes {
        let Some(base) = m.fmt.valid_pfn(*raw) else {
            continue;
        };
        tables.write(*loc, Mmpte::ZERO);
        st.db.decrement_share(loc.table);
        m.free_large_run_locked(
            &mut st,
            LargeRun {
                base,
                pages: frames,
            },
        );
    }
    drop(st);
    m.uncharge_resident(pdes.len() as u64 * u64::from(frames));
}
