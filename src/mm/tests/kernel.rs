//! Kernel memory: system PTEs, kernel stacks (made, outswapped, inswapped,
//! freed), MDLs (probe and lock, allocate, map, unlock, free, every refusal)
//! and locked pages that never move while the working-set manager trims and
//! memory is short.

use super::{RW, assert_verified, machine, meminfo, req};
use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::base::wakeups::SystemThread;
use crate::mm::kernel::stacks::kernel_stack_pages;
use crate::mm::pfn::{PageLocation, PageUse};
use crate::mm::{Mm, NtStatus};

fn use_row(mm: &Mm, name: &str) -> [u64; 9] {
    mm.usecounts()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap()
        .counts
}

/// The frames of `pid`'s kernel stack (valid ones only).
fn stack_frames(mm: &Mm, pid: Pid) -> Vec<Option<Pfn>> {
    let stack = mm.kernel_stack(pid).unwrap();
    let system = mm.process(Pid::SYSTEM).unwrap();
    let space = system.space();
    stack
        .page_vas()
        .map(|va| crate::mm::kernel::stacks::frame_of(mm.machine(), &space, va))
        .collect()
}

#[test]
fn each_process_gets_a_kernel_stack_from_system_ptes_and_gives_it_back() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        let before = mm.system_ptes();
        let resident = meminfo(&mm, "ResidentAvailablePages");
        let pid = mm.create_process("app").unwrap();
        let pages = kernel_stack_pages(arch);
        let stack = mm.kernel_stack(pid).unwrap();
        assert_eq!(stack.pages, pages);
        let ptes = mm.system_ptes();
        assert_eq!(
            ptes.free,
            before.free - pages - 1,
            "{arch:?}: the stack and its guard"
        );
        let run = ptes.runs.iter().find(|r| r.address == stack.guard).unwrap();
        assert_eq!(run.owner, "kernel stack app");
        let region = mm.layout().region_named("system-ptes").unwrap();
        assert!(region.contains(stack.guard.0));
        for pfn in stack_frames(&mm, pid) {
            let row = mm.pfn_detail(pfn.unwrap()).unwrap();
            assert_eq!(
                (row.location, row.use_),
                (PageLocation::Active, PageUse::KernelStack)
            );
            assert_eq!(row.ws_index, 0, "in no working set");
        }
        assert_eq!(use_row(&mm, "KernelStack")[1], pages);
        assert_eq!(
            meminfo(&mm, "ResidentAvailablePages"),
            resident - 50 - pages
        );
        // The stack is readable through kernel/mem, its guard page is not.
        let mut buf = [1u8; 8];
        assert_eq!(
            mm.read_kernel_memory(stack.top().0 - 8, &mut buf).unwrap(),
            8
        );
        assert_eq!(buf, [0; 8]);
        let f = mm.read_kernel_memory(stack.guard.0, &mut buf).unwrap_err();
        assert_eq!(f.error.status, NtStatus::ACCESS_VIOLATION);
        assert_verified(&mm);
        mm.terminate_process(pid).unwrap();
        assert_eq!(mm.system_ptes().free, before.free);
        assert_eq!(use_row(&mm, "KernelStack")[0], 0);
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident);
        assert_verified(&mm);
    }
}

#[test]
fn a_process_whose_stack_does_not_fit_is_refused_and_leaves_nothing() {
    let mm = Mm::new(MmConfig::for_tests(1 << 20, Arch::X64)).unwrap();
    // System's 50 and three processes' 50 + 6 leave 38 pages: a fourth's
    // stack fits, its minimum does not.
    for i in 0..3 {
        mm.create_process(&format!("p{i}")).unwrap();
    }
    let ptes = mm.system_ptes();
    let resident = meminfo(&mm, "ResidentAvailablePages");
    assert_eq!(resident, 256 - 50 - 3 * 56);
    let e = mm.create_process("late").unwrap_err();
    assert_eq!(e.status, NtStatus::INSUFFICIENT_RESOURCES);
    // Lower one minimum so that after another process only 5 pages are
    // left: not even a stack fits, and the stack is what is refused.
    let p0 = mm.pid_of("p0").unwrap();
    mm.set_ws_limits(p0, Some(27 * PAGE_SIZE), None).unwrap();
    mm.create_process("fits").unwrap();
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), 5);
    let e = mm.create_process("late").unwrap_err();
    assert!(e.message.contains("kernel stack"), "{}", e.message);
    assert_eq!(mm.system_ptes().runs.len(), ptes.runs.len() + 1);
    assert!(mm.pid_of("late").is_none());
    assert_verified(&mm);
}

#[test]
fn an_outswapped_stack_goes_to_the_modified_list_and_comes_back_from_the_paging_file() {
    for arch in [Arch::X86, Arch::X64] {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (base, _) = mm
            .allocate(pid, &req(0, PAGE_SIZE, "reserve,commit", RW))
            .unwrap();
        mm.write_memory(pid, base.0, b"x").unwrap();
        let pages = kernel_stack_pages(arch);
        // Something on the stack to find again.
        let frames = stack_frames(&mm, pid);
        for (i, f) in frames.iter().enumerate() {
            mm.machine().phys.write(f.unwrap(), 100, &[i as u8 + 7; 16]);
        }
        let resident = meminfo(&mm, "ResidentAvailablePages");
        mm.outswap(pid).unwrap();
        assert!(mm.kernel_stack(pid).unwrap().outswapped);
        assert_eq!(use_row(&mm, "KernelStack")[3], pages, "{arch:?}: modified");
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident + pages);
        assert_verified(&mm);
        // Written to the paging file: standby; then the frames are reused.
        mm.flush_modified();
        assert_eq!(use_row(&mm, "KernelStack")[2], pages, "{arch:?}: standby");
        assert_verified(&mm);
        mm.empty_standby();
        assert_eq!(use_row(&mm, "KernelStack")[0], 0);
        assert_verified(&mm);
        // A touch of the process brings its stack back (hard faults).
        let read = mm.counter("pages_read_from_pagefile");
        let mut b = [0u8; 1];
        mm.read_memory(pid, base.0, &mut b).unwrap();
        assert_eq!(b, *b"x");
        assert!(!mm.kernel_stack(pid).unwrap().outswapped);
        // The stack's pages, and the process's own.
        assert_eq!(mm.counter("pages_read_from_pagefile"), read + pages + 1);
        for (i, f) in stack_frames(&mm, pid).iter().enumerate() {
            let mut got = [0u8; 16];
            mm.machine().phys.read(f.unwrap(), 100, &mut got);
            assert_eq!(got, [i as u8 + 7; 16], "{arch:?}: stack page {i}");
        }
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident);
        assert_eq!(use_row(&mm, "KernelStack")[1], pages);
        assert_verified(&mm);
        // Out and straight back: the same frames, off the modified list.
        let now = stack_frames(&mm, pid);
        mm.outswap(pid).unwrap();
        assert!(mm.inswap(pid).unwrap());
        assert_eq!(stack_frames(&mm, pid), now);
        assert_eq!(use_row(&mm, "KernelStack")[1], pages);
        assert_verified(&mm);
        // Terminating an outswapped process frees its stack too.
        mm.outswap(pid).unwrap();
        mm.flush_modified();
        mm.terminate_process(pid).unwrap();
        assert_eq!(use_row(&mm, "KernelStack")[0], 0);
        assert_eq!(
            meminfo(&mm, "ResidentAvailablePages"),
            resident + pages + 50
        );
        assert_verified(&mm);
    }
}

#[test]
fn the_swapper_outswaps_the_stack_with_the_process() {
    let mm = machine(Arch::Pae);
    let pid = mm.create_process("idle").unwrap();
    mm.tick(20_000).unwrap();
    assert!(mm.kernel_stack(pid).unwrap().outswapped);
    assert_verified(&mm);
    mm.inswap(pid).unwrap();
    assert!(!mm.kernel_stack(pid).unwrap().outswapped);
    assert_verified(&mm);
}

/// A process with `pages` committed read/write pages written with `seed`.
fn process_with(mm: &Mm, name: &str, pages: u64) -> (Pid, u64) {
    let pid = mm.create_process(name).unwrap();
    let (base, _) = mm
        .allocate(pid, &req(0, pages * PAGE_SIZE, "reserve,commit", RW))
        .unwrap();
    for i in 0..pages {
        mm.write_memory(pid, base.0 + i * PAGE_SIZE, &[i as u8 + 1; 64])
            .unwrap();
    }
    (pid, base.0)
}

#[test]
fn probe_and_lock_references_pages_and_refuses_bad_ranges_changing_nothing() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 4);
    let resident = meminfo(&mm, "ResidentAvailablePages");
    let id = mm
        .mdl_probe_and_lock(pid, base + 0x10, 3 * PAGE_SIZE, false)
        .unwrap();
    let d = mm.mdl(id).unwrap();
    assert_eq!(
        (d.start_va, d.byte_offset, d.byte_count),
        (Va(base), 0x10, 3 * PAGE_SIZE)
    );
    assert_eq!(d.pfns.len(), 4, "the offset makes it span four pages");
    assert_eq!(d.flags, crate::mm::kernel::mdl::MDL_PAGES_LOCKED);
    for &pfn in &d.pfns {
        assert_eq!(mm.pfn_detail(pfn).unwrap().reference_count, 2);
    }
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident - 4);
    assert_verified(&mm);
    let refused = |addr: u64, size: u64, write: bool| {
        let e = mm.mdl_probe_and_lock(pid, addr, size, write).unwrap_err();
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident - 4, "{e}");
        assert_eq!(mm.mdls().len(), 1, "{e}");
        assert_verified(&mm);
        e.status
    };
    // No VAD after the region; above user space; a size of 0.
    assert_eq!(
        refused(base, 5 * PAGE_SIZE, false),
        NtStatus::ACCESS_VIOLATION
    );
    assert_eq!(
        refused(0x8000_0000, PAGE_SIZE, false),
        NtStatus::ACCESS_VIOLATION
    );
    assert_eq!(
        refused(0x7FFF_F000, 2 * PAGE_SIZE, false),
        NtStatus::ACCESS_VIOLATION
    );
    assert_eq!(refused(base, 0, false), NtStatus::INVALID_PARAMETER);
    // Write to read-only; a guard page (consumed).
    mm.protect(pid, base + 3 * PAGE_SIZE, PAGE_SIZE, Protection::READONLY)
        .unwrap();
    assert_eq!(
        refused(base, 4 * PAGE_SIZE, true),
        NtStatus::ACCESS_VIOLATION
    );
    let guarded = Protection::from_raw(Protection::READWRITE.raw() | 0x10);
    mm.protect(pid, base + 2 * PAGE_SIZE, PAGE_SIZE, guarded)
        .unwrap();
    assert_eq!(
        refused(base, 4 * PAGE_SIZE, false),
        NtStatus::GUARD_PAGE_VIOLATION
    );
    // An uncommitted page.
    let (r, _) = mm.allocate(pid, &req(0, PAGE_SIZE, "reserve", RW)).unwrap();
    assert_eq!(refused(r.0, PAGE_SIZE, false), NtStatus::ACCESS_VIOLATION);
    // Unknown process, the System process.
    assert!(mm.mdl_probe_and_lock(Pid(4000), base, 1, false).is_err());
    assert!(mm.mdl_probe_and_lock(Pid::SYSTEM, base, 1, false).is_err());
    // Unlock: the references and the charge go back.
    mm.mdl_unlock(id).unwrap();
    for &pfn in &d.pfns {
        // The mapping's reference, if the page is still mapped (the guard
        // and read-only pages were trimmed by their protect).
        let row = mm.pfn_detail(pfn).unwrap();
        assert_eq!(
            row.reference_count,
            u16::from(row.location == PageLocation::Active)
        );
    }
    assert_eq!(mm.mdl_unlock(id).unwrap_err().status, NtStatus::NOT_LOCKED);
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident);
    mm.mdl_free(id).unwrap();
    assert!(mm.mdl(id).is_none());
    assert_eq!(
        mm.mdl_free(id).unwrap_err().status,
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    assert_verified(&mm);
}

#[test]
fn a_process_with_locked_pages_cannot_be_terminated_until_they_are_unlocked() {
    let mm = machine(Arch::X64);
    let (pid, base) = process_with(&mm, "app", 2);
    let id = mm
        .mdl_probe_and_lock(pid, base, 2 * PAGE_SIZE, true)
        .unwrap();
    let e = mm.terminate_process(pid).unwrap_err();
    assert_eq!(e.status, NtStatus::CANNOT_DELETE);
    assert!(mm.pid_of("app").is_some(), "nothing changed");
    // A free of a still-locked MDL is refused too.
    assert_eq!(
        mm.mdl_free(id).unwrap_err().status,
        NtStatus::INVALID_PARAMETER
    );
    assert_verified(&mm);
    mm.mdl_unlock(id).unwrap();
    mm.terminate_process(pid).unwrap();
    mm.mdl_free(id).unwrap();
    assert_verified(&mm);
}

#[test]
fn allocated_pages_map_into_system_ptes_and_kernel_mem_sees_them() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        let free = mm.system_ptes().free;
        let id = mm.mdl_allocate_pages(3).unwrap();
        let d = mm.mdl(id).unwrap();
        for &pfn in &d.pfns {
            let row = mm.pfn_detail(pfn).unwrap();
            assert_eq!(
                (row.location, row.use_),
                (PageLocation::Active, PageUse::DriverLocked)
            );
        }
        assert_eq!(use_row(&mm, "DriverLocked")[1], 3);
        assert_verified(&mm);
        let va = mm.mdl_map(id).unwrap();
        assert_eq!(mm.system_ptes().free, free - 3);
        assert_eq!(
            mm.mdl_map(id).unwrap_err().status,
            NtStatus::INVALID_PARAMETER
        );
        mm.machine().phys.write(d.pfns[1], 0, b"mdl");
        let mut buf = [0u8; 3];
        mm.read_kernel_memory(va.0 + PAGE_SIZE, &mut buf).unwrap();
        assert_eq!(&buf, b"mdl", "{arch:?}");
        mm.write_kernel_memory(va.0 + 2 * PAGE_SIZE, b"back")
            .unwrap();
        let mut got = [0u8; 4];
        mm.machine().phys.read(d.pfns[2], 0, &mut got);
        assert_eq!(&got, b"back");
        assert_verified(&mm);
        assert_eq!(
            mm.mdl_unlock(id).unwrap_err().status,
            NtStatus::INVALID_PARAMETER
        );
        mm.mdl_unmap(id).unwrap();
        assert_eq!(
            mm.mdl_unmap(id).unwrap_err().status,
            NtStatus::INVALID_PARAMETER
        );
        assert!(mm.read_kernel_memory(va.0, &mut buf).is_err());
        assert_eq!(mm.system_ptes().free, free);
        mm.mdl_map(id).unwrap();
        mm.mdl_free(id).unwrap();
        assert_eq!(mm.system_ptes().free, free);
        assert_eq!(use_row(&mm, "DriverLocked")[0], 0);
        assert!(mm.mdl_allocate_pages(0).is_err());
        assert_eq!(
            mm.mdl_allocate_pages(1 << 40).unwrap_err().status,
            NtStatus::INVALID_PARAMETER
        );
        assert_verified(&mm);
    }
}

#[test]
fn allocating_more_than_resident_available_memory_is_refused() {
    let mm = machine(Arch::X86);
    let resident = meminfo(&mm, "ResidentAvailablePages");
    let e = mm.mdl_allocate_pages(resident - 99).unwrap_err();
    assert_eq!(e.status, NtStatus::INSUFFICIENT_RESOURCES);
    let id = mm.mdl_allocate_pages(resident - 100).unwrap();
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), 100);
    assert_verified(&mm);
    mm.mdl_free(id).unwrap();
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident);
}

#[test]
fn a_write_through_a_mapped_mdl_reaches_the_process() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 2);
    let id = mm
        .mdl_probe_and_lock(pid, base, 2 * PAGE_SIZE, true)
        .unwrap();
    let va = mm.mdl_map(id).unwrap();
    mm.write_kernel_memory(va.0 + PAGE_SIZE + 8, b"dma")
        .unwrap();
    // The process is trimmed meanwhile: the frame stays, the bytes too.
    mm.trim(pid).unwrap();
    assert_verified(&mm);
    mm.mdl_unlock(id).unwrap();
    mm.flush_modified();
    mm.empty_standby();
    let mut buf = [0u8; 3];
    mm.read_memory(pid, base + PAGE_SIZE + 8, &mut buf).unwrap();
    assert_eq!(&buf, b"dma");
    // A read-only lock maps read-only.
    let id2 = mm.mdl_probe_and_lock(pid, base, PAGE_SIZE, false).unwrap();
    let va2 = mm.mdl_map(id2).unwrap();
    assert!(mm.write_kernel_memory(va2.0, b"no").is_err());
    mm.mdl_unlock(id2).unwrap();
    mm.mdl_free(id2).unwrap();
    mm.mdl_free(id).unwrap();
    assert_verified(&mm);
}

/// Model-ish: a few processes lock pages with MDLs while others write far
/// more than RAM and the working-set manager, the writers and outswaps run;
/// the locked frames never change, never leave memory, and keep their bytes.
#[test]
fn locked_pages_never_move_while_memory_is_short() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = Mm::new(MmConfig::for_tests(2 << 20, arch)).unwrap();
        let (a, abase) = process_with(&mm, "a", 16);
        let (hog, hbase) = process_with(&mm, "hog", 8);
        let hog_pages = 1200;
        let (big, _) = mm
            .allocate(hog, &req(0, hog_pages * PAGE_SIZE, "reserve,commit", RW))
            .unwrap();
        let id = mm
            .mdl_probe_and_lock(a, abase + 0x800, 10 * PAGE_SIZE, true)
            .unwrap();
        let locked = mm.mdl(id).unwrap().pfns;
        let mut rng = crate::mm::testutil::XorShift(7);
        for round in 0..6u64 {
            for i in 0..hog_pages {
                mm.write_memory(hog, big.0 + i * PAGE_SIZE, &[round as u8; 32])
                    .unwrap();
            }
            match rng.next() % 4 {
                0 => drop(mm.trim(a)),
                1 => drop(mm.outswap(a)),
                2 => drop(mm.run_thread(SystemThread::WorkingSetManager)),
                _ => drop(mm.run_thread(SystemThread::ModifiedPageWriter)),
            }
            mm.empty_standby();
            assert_eq!(mm.mdl(id).unwrap().pfns, locked);
            for (i, &pfn) in locked.iter().enumerate() {
                let row = mm.pfn_detail(pfn).unwrap();
                assert!(
                    matches!(
                        row.location,
                        PageLocation::Active | PageLocation::Transition
                    ),
                    "{arch:?} round {round}: locked pfn {:#x} is {:?}",
                    pfn.0,
                    row.location
                );
                let mut got = [0u8; 64];
                mm.machine().phys.read(pfn, 0, &mut got);
                assert_eq!(got, [i as u8 + 1; 64], "{arch:?} round {round}: page {i}");
            }
            assert_verified(&mm);
        }
        let _ = hbase;
        mm.mdl_unlock(id).unwrap();
        mm.mdl_free(id).unwrap();
        for i in 0..16 {
            let mut b = [0u8; 1];
            mm.read_memory(a, abase + i * PAGE_SIZE, &mut b).unwrap();
            assert_eq!(b[0], i as u8 + 1);
        }
        assert_verified(&mm);
    }
}

/// Pages locked by an MDL whose mappings go away (decommitted, a view
/// unmapped and its section deleted) stay until the unlock, which frees them
/// (MiDecrementReferenceCount of a deleted page).
#[test]
fn locked_pages_outlive_their_mappings_until_unlocked() {
    for arch in [Arch::X86, Arch::X64] {
        let mm = machine(arch);
        let (pid, base) = process_with(&mm, "app", 2);
        let private = mm
            .mdl_probe_and_lock(pid, base, 2 * PAGE_SIZE, true)
            .unwrap();
        mm.free(pid, base, 2 * PAGE_SIZE, false).unwrap();
        assert_verified(&mm);
        mm.create_section("s", 64 << 10, None, RW, false).unwrap();
        let (va, _) = mm.map_view(pid, "s", 0, 0, 0, RW).unwrap();
        mm.write_memory(pid, va.0, b"shared").unwrap();
        let shared = mm.mdl_probe_and_lock(pid, va.0, 8, false).unwrap();
        let pfn = mm.mdl(shared).unwrap().pfns[0];
        mm.unmap_view(pid, va.0).unwrap();
        mm.delete_section("s").unwrap();
        assert_verified(&mm);
        let mut got = [0u8; 6];
        mm.machine().phys.read(pfn, 0, &mut got);
        assert_eq!(&got, b"shared", "{arch:?}: the locked frame kept its bytes");
        let active = meminfo(&mm, "ActivePages") + meminfo(&mm, "TransitionPages");
        for id in [private, shared] {
            mm.mdl_unlock(id).unwrap();
            mm.mdl_free(id).unwrap();
            assert_verified(&mm);
        }
        assert!(meminfo(&mm, "ActivePages") + meminfo(&mm, "TransitionPages") < active);
        mm.terminate_process(pid).unwrap();
        assert_verified(&mm);
    }
}

#[test]
fn mm_create_process_address_space_copies_the_system_entries() {
    use crate::mm::base::types::Mmpte;
    use crate::mm::kernel::pool::PoolType;
    use crate::mm::process::system_tables::shared_level;
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = Mm::new(MmConfig::for_tests(16 << 20, arch)).unwrap();
        let early = mm.create_process("early").unwrap();
        // Paged pool's first page makes a system page table in the System
        // process after `early` exists.
        let block = mm.pool_alloc(PoolType::Paged, 64, "Shrd").unwrap();
        let late = mm.create_process("late").unwrap();
        let m = mm.machine();
        let level = shared_level(m);
        let entry = |pid| {
            let p = mm.process(pid).unwrap();
            let space = p.space();
            let tables = space.tables(m);
            tables.read(tables.entry(Va(block), level).unwrap())
        };
        let system = entry(Pid::SYSTEM);
        assert!(
            !system.is_zero(),
            "{arch:?}: the System process maps its pool"
        );
        assert_eq!(
            entry(late),
            system,
            "{arch:?}: a new process shares the table"
        );
        let before = entry(early);
        assert!(
            before.is_zero() || before == system,
            "{arch:?}: an older process's copy is empty until its first touch"
        );
        assert_verified(&mm);
        // A copy that names another table is what verify looks for.
        let p = mm.process(early).unwrap();
        let loc = {
            let space = p.space();
            space.tables(m).entry(Va(block), level).unwrap()
        };
        let tables = p.space().tables(m);
        tables.write(loc, Mmpte(system.0 ^ 0x1000));
        let v = mm.verify().violations;
        assert!(
            v.iter().any(|l| l.contains("system entry")),
            "{arch:?}: {v:?}"
        );
        tables.write(loc, before);
        assert_verified(&mm);
    }
}
