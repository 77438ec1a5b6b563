//! AWE: MEM_PHYSICAL reservations, AllocateUserPhysicalPages,
//! MapUserPhysicalPages and FreeUserPhysicalPages, every status they answer,
//! all or nothing on each refusal, and the pages left alone by trimming,
//! outswap and fork, freed at exit; and random sequences of them checked
//! against a small model (`random_awe_operations_keep_every_invariant`).

use std::collections::HashMap;

use super::{RW, assert_verified, machine, meminfo, req};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::fault::FaultKind;
use crate::mm::inspect::{AweRow, PteRow};
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::testutil::XorShift;
use crate::mm::{Mm, NtStatus};

const ARCHES: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];

/// `alloc ADDR SIZE reserve,physical readwrite`.
fn reserve_awe(mm: &Mm, pid: Pid, address: u64, size: u64) -> (Va, u64) {
    let mut r = req(address, size, "reserve", RW);
    r.physical = true;
    mm.allocate(pid, &r).unwrap()
}

fn awe_row(mm: &Mm) -> [u64; 9] {
    mm.usecounts()
        .into_iter()
        .find(|r| r.name == "AWE")
        .unwrap()
        .counts
}

/// Everything a refused AWE call must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    awe: Vec<AweRow>,
    ptes: Vec<PteRow>,
    use_row: [u64; 9],
    commit: u64,
    resident: u64,
    available: u64,
}

fn snapshot(mm: &Mm, pid: Pid) -> Snapshot {
    Snapshot {
        awe: mm.awe_pages(pid).unwrap(),
        ptes: mm.ptes(pid).unwrap(),
        use_row: awe_row(mm),
        commit: meminfo(mm, "CommitCharge"),
        resident: meminfo(mm, "ResidentAvailablePages"),
        available: meminfo(mm, "AvailablePages"),
    }
}

fn mapped_at(mm: &Mm, pid: Pid, pfn: Pfn) -> Option<Va> {
    mm.awe_pages(pid)
        .unwrap()
        .into_iter()
        .find(|r| r.pfn == pfn)
        .unwrap()
        .va
}

fn read_page(mm: &Mm, pid: Pid, va: u64) -> Result<Vec<u8>, FaultKind> {
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    mm.read_memory(pid, va, &mut buf).map_err(|f| f.kind)?;
    Ok(buf)
}

#[test]
fn pages_are_allocated_mapped_remapped_and_unmapped_on_every_arch() {
    for arch in ARCHES {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (base, size) = reserve_awe(&mm, pid, 0, 0x10000);
        assert_eq!(size, 0x10000);
        let vads = mm.vads(pid).unwrap();
        assert_eq!(vads[0].type_name, "awe");
        assert_eq!(vads[0].commit_pages, 0, "{arch:?}: no commit for the VAD");
        assert_verified(&mm);
        let commit = meminfo(&mm, "CommitCharge");
        let resident = meminfo(&mm, "ResidentAvailablePages");
        let pfns = mm.allocate_user_physical_pages(pid, 4).unwrap();
        assert_eq!(pfns.len(), 4);
        assert_eq!(meminfo(&mm, "CommitCharge"), commit + 4, "{arch:?}");
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident - 4);
        assert_eq!(awe_row(&mm)[0..2], [4, 4], "{arch:?}: total, active");
        assert_eq!(mm.process_status(pid).unwrap().awe_pages, 4);
        for &p in &pfns {
            let e = mm.pfn_detail(p).unwrap();
            assert_eq!((e.location, e.use_), (PageLocation::Active, PageUse::Awe));
        }
        // Allocated pages are zeroed and mapped nowhere yet: the VA faults.
        assert_eq!(read_page(&mm, pid, base.0), Err(FaultKind::NotCommitted));
        assert_verified(&mm);

        assert_eq!(
            mm.map_user_physical_pages(pid, base.0, Some(&pfns[..2]), 0)
                .unwrap(),
            2
        );
        assert_eq!(read_page(&mm, pid, base.0).unwrap(), vec![0; 4096]);
        let data: Vec<u8> = (0..2 * PAGE_SIZE).map(|i| (i % 251) as u8).collect();
        assert_eq!(mm.write_memory(pid, base.0, &data).unwrap(), data.len());
        assert_eq!(mapped_at(&mm, pid, pfns[1]), Some(Va(base.0 + PAGE_SIZE)));
        // pfn/db: AWE, the process, the address.
        let row = mm.pfn_detail(pfns[1]).unwrap();
        assert_eq!((row.pid, row.va), (Some(pid), Some(base.0 + PAGE_SIZE)));
        assert_eq!(mm.pfn_detail(pfns[3]).unwrap().pid, Some(pid));
        // Valid, in no working set.
        assert!(
            mm.workingset(pid)
                .unwrap()
                .iter()
                .all(|w| !pfns.contains(&w.pfn))
        );
        assert_verified(&mm);

        // Unmap the second page, map its frame at the VAD's last page: the
        // same bytes appear there.
        mm.map_user_physical_pages(pid, base.0 + PAGE_SIZE, None, 1)
            .unwrap();
        assert_eq!(
            read_page(&mm, pid, base.0 + PAGE_SIZE),
            Err(FaultKind::NotCommitted)
        );
        let last = base.0 + size - PAGE_SIZE;
        mm.map_user_physical_pages(pid, last, Some(&pfns[1..2]), 0)
            .unwrap();
        assert_eq!(
            read_page(&mm, pid, last).unwrap(),
            data[PAGE_SIZE as usize..]
        );
        assert_eq!(mapped_at(&mm, pid, pfns[1]), Some(Va(last)));
        assert_verified(&mm);

        // A page mapped at the target is replaced (and unmapped).
        mm.map_user_physical_pages(pid, base.0, Some(&pfns[2..3]), 0)
            .unwrap();
        assert_eq!(mapped_at(&mm, pid, pfns[0]), None);
        assert_eq!(mapped_at(&mm, pid, pfns[2]), Some(base));
        assert_eq!(read_page(&mm, pid, base.0).unwrap(), vec![0; 4096]);
        assert_verified(&mm);

        // Unmap the whole VAD at once.
        assert_eq!(
            mm.map_user_physical_pages(pid, base.0, None, size / PAGE_SIZE)
                .unwrap(),
            size / PAGE_SIZE
        );
        assert!(mm.awe_pages(pid).unwrap().iter().all(|r| r.va.is_none()));
        assert_verified(&mm);
    }
}

#[test]
fn before_awe_alloc_there_is_no_bitmap_and_physical_needs_reserve() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (base, _) = reserve_awe(&mm, pid, 0x100000, 0x10000);
    let status = |r: Result<u64, crate::mm::MmError>| r.unwrap_err().status;
    // No AllocateUserPhysicalPages yet: no bitmap.
    let s0 = snapshot(&mm, pid);
    assert_eq!(
        status(mm.map_user_physical_pages(pid, base.0, None, 1)),
        NtStatus::INVALID_PARAMETER_1
    );
    assert_eq!(
        status(mm.free_user_physical_pages(pid, &[Pfn(1)])),
        NtStatus::INVALID_PARAMETER_1
    );
    assert_eq!(snapshot(&mm, pid), s0);

    // NtLockVirtualMemory refuses AWE memory; NtProtectVirtualMemory keeps it
    // read/write.
    assert_eq!(
        mm.lock(pid, base.0, 0x1000).unwrap_err().status,
        NtStatus::INCOMPATIBLE_FILE_MAP
    );
    assert_eq!(
        mm.protect(pid, base.0, 0x1000, Protection::READONLY)
            .unwrap_err()
            .status,
        NtStatus::CONFLICTING_ADDRESSES
    );
    // MEM_PHYSICAL needs MEM_RESERVE and PAGE_READWRITE only.
    let mut r = req(0x300000, 0x10000, "reserve,commit", RW);
    r.physical = true;
    assert_eq!(
        mm.allocate(pid, &r).unwrap_err().status,
        NtStatus::INVALID_PARAMETER_5
    );
    assert_verified(&mm);
}

#[test]
fn every_refusal_answers_nt_s_status_and_changes_nothing() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let other = mm.create_process("other").unwrap();
    let (base, _) = reserve_awe(&mm, pid, 0x100000, 0x10000);
    let (private, _) = mm
        .allocate(pid, &req(0x200000, 0x10000, "reserve,commit", RW))
        .unwrap();
    let status = |r: Result<u64, crate::mm::MmError>| r.unwrap_err().status;
    let pfns = mm.allocate_user_physical_pages(pid, 3).unwrap();
    let theirs = mm.allocate_user_physical_pages(other, 1).unwrap();
    mm.map_user_physical_pages(pid, base.0, Some(&pfns[..1]), 0)
        .unwrap();
    let before = snapshot(&mm, pid);
    let refusals: Vec<(Result<u64, crate::mm::MmError>, NtStatus)> = vec![
        // Not inside one AWE VAD: private memory, past the end, nothing there.
        (
            mm.map_user_physical_pages(pid, private.0, Some(&pfns[1..2]), 0),
            NtStatus::INVALID_PARAMETER_1,
        ),
        (
            mm.map_user_physical_pages(pid, base.0 + 0xF000, Some(&pfns[1..3]), 0),
            NtStatus::INVALID_PARAMETER_1,
        ),
        (
            mm.map_user_physical_pages(pid, 0x7000_0000, None, 1),
            NtStatus::INVALID_PARAMETER_1,
        ),
        // Unmapping no pages, or more than the address space holds.
        (
            mm.map_user_physical_pages(pid, base.0, None, 0),
            NtStatus::INVALID_PARAMETER_2,
        ),
        (
            mm.map_user_physical_pages(pid, base.0, None, u64::MAX / 2),
            NtStatus::INVALID_PARAMETER_2,
        ),
        // Another process's frame, a frame beyond RAM: not ours.
        (
            mm.map_user_physical_pages(pid, base.0 + 0x1000, Some(&[pfns[1], theirs[0]]), 0),
            NtStatus::CONFLICTING_ADDRESSES,
        ),
        (
            mm.map_user_physical_pages(pid, base.0 + 0x1000, Some(&[Pfn(u32::MAX)]), 0),
            NtStatus::CONFLICTING_ADDRESSES,
        ),
        // Listed twice; mapped elsewhere; mapped at this very page.
        (
            mm.map_user_physical_pages(pid, base.0 + 0x1000, Some(&[pfns[1], pfns[1]]), 0),
            NtStatus::INVALID_PARAMETER_3,
        ),
        (
            mm.map_user_physical_pages(pid, base.0 + 0x1000, Some(&[pfns[1], pfns[0]]), 0),
            NtStatus::INVALID_PARAMETER_3,
        ),
        (
            mm.map_user_physical_pages(pid, base.0, Some(&pfns[..1]), 0),
            NtStatus::INVALID_PARAMETER_3,
        ),
        // FreeUserPhysicalPages: nothing, not ours, listed twice.
        (
            mm.free_user_physical_pages(pid, &[]),
            NtStatus::INVALID_PARAMETER_2,
        ),
        (
            mm.free_user_physical_pages(pid, &[pfns[2], theirs[0]]),
            NtStatus::CONFLICTING_ADDRESSES,
        ),
        (
            mm.free_user_physical_pages(pid, &[pfns[0], pfns[0]]),
            NtStatus::CONFLICTING_ADDRESSES,
        ),
    ];
    for (i, (r, want)) in refusals.into_iter().enumerate() {
        assert_eq!(status(r), want, "refusal {i}");
        assert_eq!(snapshot(&mm, pid), before, "refusal {i} changed something");
    }
    // An empty frame list maps nothing and succeeds (NT's early return).
    assert_eq!(mm.map_user_physical_pages(pid, base.0, Some(&[]), 0), Ok(0));
    // Zero pages asked: success, none given.
    assert_eq!(mm.allocate_user_physical_pages(pid, 0), Ok(vec![]));
    assert_eq!(snapshot(&mm, pid), before);
    assert_verified(&mm);
}

#[test]
fn free_unmaps_wherever_mapped_and_gives_the_charges_back() {
    let mm = machine(Arch::Pae);
    let pid = mm.create_process("app").unwrap();
    let (base, _) = reserve_awe(&mm, pid, 0, 0x10000);
    let commit = meminfo(&mm, "CommitCharge");
    let resident = meminfo(&mm, "ResidentAvailablePages");
    let pfns = mm.allocate_user_physical_pages(pid, 3).unwrap();
    mm.map_user_physical_pages(pid, base.0 + 0x2000, Some(&pfns), 0)
        .unwrap();
    assert_eq!(mm.free_user_physical_pages(pid, &pfns[1..]), Ok(2));
    assert_eq!(
        read_page(&mm, pid, base.0 + 0x3000),
        Err(FaultKind::NotCommitted)
    );
    assert!(read_page(&mm, pid, base.0 + 0x2000).is_ok());
    assert_eq!(meminfo(&mm, "CommitCharge"), commit + 1);
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident - 1);
    assert_eq!(awe_row(&mm)[0], 1);
    for &p in &pfns[1..] {
        assert_eq!(mm.pfn_detail(p).unwrap().use_, PageUse::Unused);
    }
    // Freed frames are no longer the process's.
    assert_eq!(
        mm.map_user_physical_pages(pid, base.0, Some(&pfns[1..2]), 0)
            .unwrap_err()
            .status,
        NtStatus::CONFLICTING_ADDRESSES
    );
    assert_verified(&mm);
}

#[test]
fn trimming_outswap_and_the_working_set_manager_leave_awe_pages_alone() {
    for arch in ARCHES {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (base, _) = reserve_awe(&mm, pid, 0, 0x10000);
        let pfns = mm.allocate_user_physical_pages(pid, 2).unwrap();
        mm.map_user_physical_pages(pid, base.0, Some(&pfns), 0)
            .unwrap();
        mm.write_memory(pid, base.0, b"awe page").unwrap();
        let before = mm.awe_pages(pid).unwrap();
        mm.trim(pid).unwrap();
        mm.empty_working_sets();
        mm.outswap(pid).unwrap();
        mm.empty_standby();
        mm.run_thread(crate::mm::base::wakeups::SystemThread::WorkingSetManager);
        assert_eq!(mm.awe_pages(pid).unwrap(), before, "{arch:?}");
        // The page table of an AWE VAD is held even when nothing is mapped.
        mm.map_user_physical_pages(pid, base.0, None, 2).unwrap();
        let tables = mm.process_status(pid).unwrap().page_table_pages;
        mm.trim(pid).unwrap();
        mm.empty_working_sets();
        assert_eq!(mm.process_status(pid).unwrap().page_table_pages, tables);
        mm.map_user_physical_pages(pid, base.0 + 0x4000, Some(&pfns[..1]), 0)
            .unwrap();
        let mut back = [0u8; 8];
        mm.read_memory(pid, base.0 + 0x4000, &mut back).unwrap();
        assert_eq!(&back, b"awe page", "{arch:?}");
        for &p in &pfns {
            assert_eq!(mm.pfn_detail(p).unwrap().location, PageLocation::Active);
        }
        assert_verified(&mm);
    }
}

#[test]
fn release_unmaps_and_rmdir_frees_everything() {
    for arch in ARCHES {
        let mm = machine(arch);
        let commit = meminfo(&mm, "CommitCharge");
        let resident = meminfo(&mm, "ResidentAvailablePages");
        let pid = mm.create_process("app").unwrap();
        let after_create = (
            meminfo(&mm, "CommitCharge"),
            meminfo(&mm, "ResidentAvailablePages"),
        );
        let (base, size) = reserve_awe(&mm, pid, 0, 0x20000);
        // A private VAD beside it, in the same page table: releasing it must
        // not free the table the AWE VAD holds.
        let (private, _) = mm
            .allocate(pid, &req(base.0 + size, 0x10000, "reserve,commit", RW))
            .unwrap();
        mm.write_memory(pid, private.0, b"x").unwrap();
        mm.free(pid, private.0, 0, true).unwrap();
        assert_verified(&mm);
        let pfns = mm.allocate_user_physical_pages(pid, 5).unwrap();
        mm.map_user_physical_pages(pid, base.0, Some(&pfns), 0)
            .unwrap();
        mm.free(pid, base.0, 0, true).unwrap();
        assert_eq!(read_page(&mm, pid, base.0), Err(FaultKind::NotCommitted));
        assert_eq!(mm.awe_pages(pid).unwrap().len(), 5, "{arch:?}: still owned");
        assert!(mm.awe_pages(pid).unwrap().iter().all(|r| r.va.is_none()));
        assert_eq!(
            (
                meminfo(&mm, "CommitCharge"),
                meminfo(&mm, "ResidentAvailablePages")
            ),
            (after_create.0 + 5, after_create.1 - 5),
            "{arch:?}: the tables' charges came back"
        );
        assert_verified(&mm);
        // A new AWE VAD can map them again.
        let (again, _) = reserve_awe(&mm, pid, 0, 0x10000);
        mm.map_user_physical_pages(pid, again.0, Some(&pfns[..2]), 0)
            .unwrap();
        assert_verified(&mm);
        mm.terminate_process(pid).unwrap();
        assert_eq!(awe_row(&mm)[0], 0, "{arch:?}");
        assert_eq!(meminfo(&mm, "CommitCharge"), commit);
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident);
        assert_verified(&mm);
    }
}

/// WRK MiCloneProcessAddressSpace refuses a process with any physical VAD
/// (STATUS_INVALID_PAGE_PROTECTION) before it makes anything; once the AWE
/// reservation is released the process forks.
#[test]
fn a_process_with_an_awe_reservation_cannot_fork() {
    let mm = machine(Arch::X64);
    let pid = mm.create_process("app").unwrap();
    let (base, _) = reserve_awe(&mm, pid, 0, 0x10000);
    let pfns = mm.allocate_user_physical_pages(pid, 1).unwrap();
    mm.map_user_physical_pages(pid, base.0, Some(&pfns), 0)
        .unwrap();
    let processes = mm.processes().len();
    let e = mm.fork_process(pid, "child").unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PAGE_PROTECTION, "{e:?}");
    assert_eq!(mm.processes().len(), processes);
    assert_verified(&mm);
    mm.free(pid, base.0, 0, true).unwrap();
    // The AWE pages themselves (no reservation left) do not stop a fork.
    let child = mm.fork_process(pid, "child").unwrap();
    assert!(mm.awe_pages(child).unwrap().is_empty());
    assert_verified(&mm);
}

#[test]
fn allocation_returns_what_ram_allows_then_refuses_with_nothing_changed() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let resident = meminfo(&mm, "ResidentAvailablePages");
    let got = mm.allocate_user_physical_pages(pid, 1 << 40).unwrap();
    assert!(!got.is_empty() && (got.len() as u64) < 1 << 40);
    // What is left: the resident reserve, or no available page.
    let left = meminfo(&mm, "ResidentAvailablePages");
    assert!(
        left == 100 || meminfo(&mm, "AvailablePages") == 0,
        "resident {resident} -> {left}"
    );
    assert_verified(&mm);
    let before = snapshot(&mm, pid);
    assert_eq!(
        mm.allocate_user_physical_pages(pid, 1).unwrap_err().status,
        NtStatus::INSUFFICIENT_RESOURCES
    );
    assert_eq!(snapshot(&mm, pid), before);
    // An AWE reservation's page tables need resident memory too.
    let mut r = req(0, 0x10000, "reserve", RW);
    r.physical = true;
    let vads = mm.vads(pid).unwrap();
    assert_eq!(
        mm.allocate(pid, &r).unwrap_err().status,
        NtStatus::INSUFFICIENT_RESOURCES
    );
    assert_eq!(mm.vads(pid).unwrap(), vads);
    assert_eq!(snapshot(&mm, pid), before);
    assert_eq!(
        mm.free_user_physical_pages(pid, &got).unwrap(),
        got.len() as u64
    );
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident);
    assert_verified(&mm);
}

#[test]
fn a_page_an_mdl_locks_is_freed_by_the_last_unlock() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (base, _) = reserve_awe(&mm, pid, 0, 0x10000);
    let pfns = mm.allocate_user_physical_pages(pid, 2).unwrap();
    mm.map_user_physical_pages(pid, base.0, Some(&pfns), 0)
        .unwrap();
    let id = mm.mdl_probe_and_lock(pid, base.0, 0x2000, true).unwrap();
    assert_verified(&mm);
    // A trim leaves the locked AWE pages where they are.
    mm.trim(pid).unwrap();
    assert_eq!(mapped_at(&mm, pid, pfns[0]), Some(base));
    // Freed while locked: out of the process, on no list until the unlock.
    assert_eq!(mm.free_user_physical_pages(pid, &pfns), Ok(2));
    assert!(mm.awe_pages(pid).unwrap().is_empty());
    for &p in &pfns {
        assert_eq!(mm.pfn_detail(p).unwrap().location, PageLocation::Transition);
    }
    assert_verified(&mm);
    mm.mdl_unlock(id).unwrap();
    mm.mdl_free(id).unwrap();
    for &p in &pfns {
        let row = mm.pfn_detail(p).unwrap();
        assert!(
            matches!(row.location, PageLocation::Free | PageLocation::Zeroed),
            "{row:?}"
        );
    }
    assert_eq!(awe_row(&mm)[0], 0);
    assert_verified(&mm);
}

#[test]
fn awe_reservations_hold_every_table_they_span_and_share_them() {
    for arch in ARCHES {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let span = if arch == Arch::X86 { 4 << 20 } else { 2 << 20 };
        let resident = meminfo(&mm, "ResidentAvailablePages");
        // One reservation across a table boundary, two more in one table.
        let (across, _) = reserve_awe(&mm, pid, span - 0x10000, 0x20000);
        let (a, _) = reserve_awe(&mm, pid, 3 * span, 0x10000);
        let (b, _) = reserve_awe(&mm, pid, 3 * span + 0x10000, 0x10000);
        // x86 and PAE charge the leaf tables (2 + 1 + 1); x64 each
        // reservation's page directory and PDPT page too (4 + 3 + 3).
        let charged = if arch == Arch::X64 { 10 } else { 4 };
        assert_eq!(
            resident - meminfo(&mm, "ResidentAvailablePages"),
            charged,
            "{arch:?}"
        );
        assert_verified(&mm);
        let pfns = mm.allocate_user_physical_pages(pid, 3).unwrap();
        mm.map_user_physical_pages(pid, across.0 + 0xF000, Some(&pfns[..2]), 0)
            .unwrap();
        mm.map_user_physical_pages(pid, b.0, Some(&pfns[2..]), 0)
            .unwrap();
        mm.write_memory(pid, across.0 + 0xF000, &[7u8; 0x2000])
            .unwrap();
        assert_verified(&mm);
        // Releasing one of two reservations in a table keeps it for the other.
        mm.free(pid, a.0, 0, true).unwrap();
        mm.trim(pid).unwrap();
        mm.empty_working_sets();
        assert_verified(&mm);
        mm.map_user_physical_pages(pid, b.0 + 0x1000, None, 15)
            .unwrap();
        // Still mapped across the boundary: refused until unmapped there.
        assert_eq!(
            mm.map_user_physical_pages(pid, b.0 + 0x3000, Some(&pfns[..1]), 0)
                .unwrap_err()
                .status,
            NtStatus::INVALID_PARAMETER_3
        );
        mm.map_user_physical_pages(pid, across.0 + 0xF000, None, 1)
            .unwrap();
        mm.map_user_physical_pages(pid, b.0 + 0x3000, Some(&pfns[..1]), 0)
            .unwrap();
        assert_eq!(read_page(&mm, pid, b.0 + 0x3000).unwrap(), vec![7u8; 4096]);
        assert_verified(&mm);
        mm.free(pid, b.0, 0, true).unwrap();
        mm.free(pid, across.0, 0, true).unwrap();
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident - 3);
        assert_verified(&mm);
    }
}

/// The random test's expectations for one process.
#[derive(Default)]
struct AweModel {
    /// AWE reservations: slot -> base (16 pages each).
    vads: std::collections::BTreeMap<u64, u64>,
    owned: Vec<Pfn>,
    /// awe-alloc has run (NT's bitmap exists).
    bitmap: bool,
    /// Page address -> frame mapped there.
    mapped: std::collections::BTreeMap<u64, Pfn>,
    /// The byte each frame holds at offset 0.
    tag: HashMap<Pfn, u8>,
}

const SLOT: u64 = 0x100000;
const VAD_PAGES: u64 = 16;

impl AweModel {
    fn random_va(&self, rng: &mut XorShift) -> Option<u64> {
        let bases: Vec<u64> = self.vads.values().copied().collect();
        let base = *bases.get(rng.below(bases.len().max(1) as u64) as usize)?;
        Some(base + rng.below(VAD_PAGES) * PAGE_SIZE)
    }

    fn unmap(&mut self, from: u64, pages: u64) {
        let end = from + pages * PAGE_SIZE;
        self.mapped.retain(|&va, _| va < from || va >= end);
    }
}

/// One random operation on `pid`, checked against `model`.
fn awe_step(mm: &Mm, pid: Pid, model: &mut AweModel, rng: &mut XorShift) {
    match rng.below(10) {
        0 => {
            let slot = 1 + rng.below(4);
            let base = slot * SLOT;
            let mut r = req(base, VAD_PAGES * PAGE_SIZE, "reserve", RW);
            r.physical = true;
            let got = mm.allocate(pid, &r);
            assert_eq!(got.is_ok(), !model.vads.contains_key(&slot), "{got:?}");
            model.vads.insert(slot, base);
        }
        1 => {
            if let Some((&slot, &base)) = model.vads.iter().nth(rng.below(4) as usize) {
                mm.free(pid, base, 0, true).unwrap();
                model.vads.remove(&slot);
                model.unmap(base, VAD_PAGES);
            }
        }
        2 => {
            model.bitmap = true;
            let got = mm
                .allocate_user_physical_pages(pid, 1 + rng.below(4))
                .unwrap();
            for p in got {
                model.owned.push(p);
                model.tag.insert(p, 0);
            }
        }
        3 => awe_free_step(mm, pid, model, rng),
        4 | 5 => awe_map_step(mm, pid, model, rng),
        6 => {
            if let Some(va) = model.random_va(rng) {
                let pages = 1 + rng.below(VAD_PAGES - (va / PAGE_SIZE) % VAD_PAGES);
                let r = mm.map_user_physical_pages(pid, va, None, pages);
                if !model.bitmap {
                    assert_eq!(r.unwrap_err().status, NtStatus::INVALID_PARAMETER_1);
                    return;
                }
                assert_eq!(r, Ok(pages));
                model.unmap(va, pages);
            }
        }
        7 | 8 => awe_touch_step(mm, pid, model, rng),
        _ => match rng.below(3) {
            0 => drop(mm.trim(pid).unwrap()),
            1 => drop(mm.empty_working_sets()),
            _ => drop(mm.outswap(pid).unwrap()),
        },
    }
}

fn awe_free_step(mm: &Mm, pid: Pid, model: &mut AweModel, rng: &mut XorShift) {
    let mut pick: Vec<Pfn> = model
        .owned
        .iter()
        .copied()
        .filter(|_| rng.below(3) == 0)
        .collect();
    let bogus = rng.below(4) == 0;
    if bogus {
        pick.push(Pfn(1));
    }
    let r = mm.free_user_physical_pages(pid, &pick);
    if bogus || pick.is_empty() {
        assert!(r.is_err(), "{r:?}");
        return;
    }
    assert_eq!(r, Ok(pick.len() as u64));
    model.owned.retain(|p| !pick.contains(p));
    model.mapped.retain(|_, p| !pick.contains(p));
}

fn awe_map_step(mm: &Mm, pid: Pid, model: &mut AweModel, rng: &mut XorShift) {
    let Some(va) = model.random_va(rng) else {
        return;
    };
    let room = VAD_PAGES - (va / PAGE_SIZE) % VAD_PAGES;
    let free: Vec<Pfn> = model
        .owned
        .iter()
        .copied()
        .filter(|p| !model.mapped.values().any(|m| m == p))
        .collect();
    let n = (1 + rng.below(3)).min(room).min(free.len() as u64) as usize;
    if n == 0 {
        return;
    }
    let mut frames = free[..n].to_vec();
    // Now and then a frame mapped elsewhere: refused, nothing changes.
    let clash = model
        .mapped
        .values()
        .next()
        .copied()
        .filter(|_| rng.below(4) == 0);
    if let Some(p) = clash {
        frames[0] = p;
    }
    let r = mm.map_user_physical_pages(pid, va, Some(&frames), 0);
    if clash.is_some() {
        assert_eq!(r.unwrap_err().status, NtStatus::INVALID_PARAMETER_3);
        return;
    }
    assert_eq!(r, Ok(n as u64));
    for (i, &p) in frames.iter().enumerate() {
        model.mapped.insert(va + i as u64 * PAGE_SIZE, p);
    }
}

fn awe_touch_step(mm: &Mm, pid: Pid, model: &mut AweModel, rng: &mut XorShift) {
    let Some(va) = model.random_va(rng) else {
        return;
    };
    let mut b = [0u8; 1];
    match model.mapped.get(&va).copied() {
        Some(p) if rng.below(2) == 0 => {
            let t = rng.below(256) as u8;
            mm.write_memory(pid, va, &[t]).unwrap();
            model.tag.insert(p, t);
        }
        Some(p) => {
            mm.read_memory(pid, va, &mut b).unwrap();
            assert_eq!(b[0], model.tag[&p], "{va:#x} pfn {:#x}", p.0);
        }
        None => {
            let f = mm.read_memory(pid, va, &mut b).unwrap_err();
            assert_eq!(f.kind, FaultKind::NotCommitted, "{va:#x}");
        }
    }
}

#[test]
fn random_awe_operations_keep_every_invariant() {
    let seed = super::env_u64("MMFS_SEED").unwrap_or(0xa3e);
    for arch in ARCHES {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let mut rng = XorShift(seed | 1);
        let mut model = AweModel::default();
        for step in 0..400 {
            awe_step(&mm, pid, &mut model, &mut rng);
            if step % 8 == 0 {
                let r = mm.verify();
                assert!(r.ok(), "{arch:?} step {step}:\n{}", r.violations.join("\n"));
            }
            let rows = mm.awe_pages(pid).unwrap();
            assert_eq!(rows.len(), model.owned.len(), "{arch:?} step {step}");
            for r in rows {
                let at = model
                    .mapped
                    .iter()
                    .find(|(_, p)| **p == r.pfn)
                    .map(|(v, _)| Va(*v));
                assert_eq!(r.va, at, "{arch:?} step {step} pfn {:#x}", r.pfn.0);
            }
        }
        mm.terminate_process(pid).unwrap();
        assert_eq!(awe_row(&mm)[0], 0);
        assert_verified(&mm);
    }
}

#[test]
fn awe_pages_come_from_above_16_mb_unless_ram_ends_there() {
    let mm = Mm::new(crate::mm::base::config::MmConfig::for_tests(
        64 << 20,
        Arch::X86,
    ))
    .unwrap();
    let pid = mm.create_process("app").unwrap();
    let pfns = mm.allocate_user_physical_pages(pid, 64).unwrap();
    assert_eq!(pfns.len(), 64);
    assert!(pfns.iter().all(|p| p.0 >= 0x1000), "{pfns:x?}");
    // The zeroed list first: every page reads as zeros.
    let (base, _) = reserve_awe(&mm, pid, 0, 0x10000);
    mm.map_user_physical_pages(pid, base.0, Some(&pfns[..16]), 0)
        .unwrap();
    let mut buf = vec![1u8; 0x10000];
    mm.read_memory(pid, base.0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    assert_verified(&mm);
    // 16 MB of RAM: the low pages are all there is.
    let small = machine(Arch::X86);
    let pid = small.create_process("app").unwrap();
    let low = small.allocate_user_physical_pages(pid, 4).unwrap();
    assert!(low.iter().all(|p| p.0 < 0x1000), "{low:x?}");
    assert_verified(&small);
}
