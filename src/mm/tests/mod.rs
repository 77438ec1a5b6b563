//! Tests of the core without FUSE: services, status codes, faults, the self-map,
//! and invariants after random operation sequences.

use std::collections::HashMap;

use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::Pid;
use crate::mm::base::types::{Arch, PAGE_SIZE, Va};
use crate::mm::fault::FaultKind;
use crate::mm::hw::pte::Level;
use crate::mm::pfn::PageLocation;
use crate::mm::process::address_space::Exception;
use crate::mm::testutil::XorShift;
use crate::mm::vad::AllocRequest;
use crate::mm::{Mm, NtStatus};

const RW: Protection = Protection::READWRITE;

fn machine(arch: Arch) -> Mm {
    Mm::new(MmConfig::for_tests(16 << 20, arch)).unwrap()
}

fn req(address: u64, size: u64, flags: &str, p: Protection) -> AllocRequest {
    let mut r = AllocRequest::new(address, size, p);
    for f in flags.split(',') {
        match f {
            "reserve" => r.reserve = true,
            "commit" => r.commit = true,
            "top-down" => r.top_down = true,
            "reset" => r.reset = true,
            "" => {}
            _ => panic!("flag {f}"),
        }
    }
    r
}

/// A number from the environment (`MMFS_SEED` and the model test's knobs).
fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// The random tests' machine: 1 MB of RAM (256 pages), so that the processes'
/// memory is several times what RAM holds and pages page out and back all the
/// time; and three processes, `p0`, `p1` and `p2`.
fn small_machine(arch: Arch) -> (Mm, Vec<Pid>) {
    let mm = Mm::new(MmConfig::for_tests(1 << 20, arch)).unwrap();
    let pids = (0..3)
        .map(|i| mm.create_process(&format!("p{i}")).unwrap())
        .collect();
    (mm, pids)
}

/// Runs a seeded random test on every arch, with `MMFS_SEED` or `default_seed`.
fn on_every_arch(default_seed: u64, run: impl Fn(u64, Arch)) {
    let seed = env_u64("MMFS_SEED").unwrap_or(default_seed);
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        run(seed, arch);
    }
}

fn assert_verified(mm: &Mm) {
    let r = mm.verify();
    assert!(r.ok(), "verify:\n{}", r.violations.join("\n"));
}

fn meminfo(mm: &Mm, key: &str) -> u64 {
    mm.meminfo().into_iter().find(|(k, _)| *k == key).unwrap().1
}

#[test]
fn boot_state_verifies_on_every_arch() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        assert_verified(&mm);
        let total: u64 = [
            "ZeroedPages",
            "FreePages",
            "StandbyPages",
            "ModifiedPages",
            "ModifiedNoWritePages",
            "BadPages",
            "ActivePages",
            "TransitionPages",
        ]
        .iter()
        .map(|k| meminfo(&mm, k))
        .sum();
        assert_eq!(total, meminfo(&mm, "PhysicalPages"), "{arch:?}");
        let sys = mm.process_status(Pid::SYSTEM).unwrap();
        assert!(sys.page_table_pages >= 1);
        assert_eq!(sys.commit_charge, meminfo(&mm, "CommitCharge"));
    }
}

#[test]
fn demand_zero_write_and_read_back_on_every_arch() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (base, size) = mm
            .allocate(pid, &req(0, 0x10000, "reserve,commit", RW))
            .unwrap();
        assert_eq!(size, 0x10000);
        let data: Vec<u8> = (0..0x3000u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(
            mm.write_memory(pid, base.0 + 0x800, &data).unwrap(),
            data.len()
        );
        let mut back = vec![0u8; data.len()];
        assert_eq!(
            mm.read_memory(pid, base.0 + 0x800, &mut back).unwrap(),
            back.len()
        );
        assert_eq!(back, data);
        // Untouched committed memory reads as zeros.
        let mut z = vec![1u8; 0x1000];
        mm.read_memory(pid, base.0 + 0xF000, &mut z).unwrap();
        assert!(z.iter().all(|&b| b == 0));
        let s = mm.process_status(pid).unwrap();
        assert_eq!(s.demand_zero_faults, 5, "{arch:?}: pages 0..4 and 15");
        assert_eq!(s.private_pages, 5);
        assert_eq!(mm.counter("demand_zero_faults"), 5);
        assert_verified(&mm);
    }
}

#[test]
fn self_map_shows_the_pte_where_nt_says() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (base, _) = mm
            .allocate(pid, &req(0, 0x20000, "reserve,commit", RW))
            .unwrap();
        mm.write_memory(pid, base.0 + 0x1000, b"x").unwrap();
        let va = base.0 + 0x1000;
        let d = mm.pte_detail(pid, va).unwrap();
        assert_eq!(d.state, "valid");
        let pte = d.levels.last().unwrap();
        assert_eq!(pte.name, "PTE");
        let expect = match arch {
            Arch::X86 => 0xC000_0000 + (va >> 12) * 4,
            Arch::Pae => 0xC000_0000 + (va >> 12) * 8,
            Arch::X64 => 0xFFFF_F680_0000_0000 + (va >> 12) * 8,
        };
        assert_eq!(pte.address, Some(expect), "{arch:?}");
        // Translating the PTE's self-map address through the process's own page
        // tables reaches the very entry the walk read: the self-map holds.
        let p = mm.process(pid).unwrap();
        let space = p.space();
        let m = mm.machine();
        let tables = space.tables(m);
        let walk = tables.walk(Va(expect));
        let (level, _, raw) = *walk.last().unwrap();
        assert_eq!(
            level,
            Level::Pte,
            "{arch:?}: self-map walk incomplete: {walk:?}"
        );
        let frame = tables.valid_pfn(raw).expect("self-map page is valid");
        let size = m.fmt.pte_size() as usize;
        let through_self_map = m
            .phys
            .load_entry(frame, (expect % PAGE_SIZE) as usize, size);
        assert_eq!(through_self_map, pte.raw, "{arch:?}");
    }
}

#[test]
fn allocation_rules_and_status_codes() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (base, _) = mm
        .allocate(pid, &req(0x100000, 0x10000, "reserve", RW))
        .unwrap();
    assert_eq!(base, Va(0x100000));
    let e = mm
        .allocate(pid, &req(0x100000, 0x1000, "reserve", RW))
        .unwrap_err();
    assert_eq!(e.status, NtStatus::CONFLICTING_ADDRESSES);
    let e = mm.free(pid, 0x500000, 0, true).unwrap_err();
    assert_eq!(e.status, NtStatus::MEMORY_NOT_ALLOCATED);
    let e = mm.free(pid, 0x101000, 0, true).unwrap_err();
    assert_eq!(e.status, NtStatus::FREE_VM_NOT_AT_BASE);
    let e = mm.allocate(pid, &req(0, 0x1000, "", RW)).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER_5);
    let e = mm
        .allocate(
            pid,
            &req(0, 0x1000, "reserve,commit", Protection::WRITECOPY),
        )
        .unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PAGE_PROTECTION);
    assert_eq!(
        Protection::parse("readwrite+bogus").unwrap_err().status,
        NtStatus::INVALID_PAGE_PROTECTION
    );
    // Top-down picks the highest 64 KB-aligned hole below
    // MM_HIGHEST_VAD_ADDRESS (0x7FFDFFFF).
    let (top, _) = mm
        .allocate(pid, &req(0, 0x1000, "reserve,top-down", RW))
        .unwrap();
    assert_eq!(top, Va(0x7FFD_0000));
    // Committing inside the reservation charges once, even when repeated; its
    // page table was charged with the reservation.
    let before = meminfo(&mm, "CommitCharge");
    mm.allocate(pid, &req(0x102000, 0x2000, "commit", RW))
        .unwrap();
    mm.allocate(pid, &req(0x102000, 0x2000, "commit", RW))
        .unwrap();
    assert_eq!(meminfo(&mm, "CommitCharge"), before + 2, "2 pages");
    assert_verified(&mm);
}

#[test]
fn commit_limit_is_enforced() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let limit = meminfo(&mm, "CommitLimit");
    let maximum =
        mm.machine().commit_lock().ram_part + mm.machine().pagefiles_lock().maximum_commit_pages();
    // Beyond what the paging files can ever give: refused, nothing changes.
    let e = mm
        .allocate(
            pid,
            &req(0, (maximum + 1) * PAGE_SIZE, "reserve,commit", RW),
        )
        .unwrap_err();
    assert_eq!(e.status, NtStatus::COMMITMENT_LIMIT);
    // The sentence quotes the limit now and the one the maximums would give.
    let both = format!(
        "limit is {limit} pages now and {maximum} with the paging files at their maximum size"
    );
    assert!(e.message.contains(&both), "{}", e.message);
    assert_eq!(meminfo(&mm, "CommitLimit"), limit);
    assert!(mm.vads(pid).unwrap().is_empty());
    // A reservation costs only its page tables (MiInsertVadCharges).
    mm.allocate(pid, &req(0, (maximum + 1) * PAGE_SIZE, "reserve", RW))
        .unwrap();
    assert_verified(&mm);
}

#[test]
fn commit_past_the_limit_grows_the_paging_file() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let limit = meminfo(&mm, "CommitLimit");
    let used = meminfo(&mm, "CommitCharge");
    let size = (limit - used + 10) * PAGE_SIZE;
    let (base, _) = mm
        .allocate(pid, &req(0, size, "reserve,commit", RW))
        .unwrap();
    let grown = meminfo(&mm, "CommitLimit");
    // At least 16 MB at once (facts §7), and the paging file's size follows.
    assert!(grown >= limit + 4096, "{limit} -> {grown}");
    let pf = &mm.pagefiles()[0];
    assert!(pf.current_pages > pf.minimum_pages);
    assert_verified(&mm);
    // Released again: the segment dereference thread shrinks it back.
    mm.free(pid, base.0, 0, true).unwrap();
    mm.run_thread(crate::mm::base::wakeups::SystemThread::SegmentDereference);
    let pf = &mm.pagefiles()[0];
    assert_eq!(pf.current_pages, pf.minimum_pages);
    assert_eq!(meminfo(&mm, "CommitLimit"), limit);
    assert_verified(&mm);
}

#[test]
fn fault_outcomes() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let mut buf = [0u8; 16];
    // Free address space.
    let f = mm.read_memory(pid, 0x300000, &mut buf).unwrap_err();
    assert_eq!(
        (f.kind, f.error.status),
        (FaultKind::NotCommitted, NtStatus::ACCESS_VIOLATION)
    );
    // Reserved only.
    let (r, _) = mm.allocate(pid, &req(0, 0x10000, "reserve", RW)).unwrap();
    assert_eq!(
        mm.read_memory(pid, r.0, &mut buf).unwrap_err().kind,
        FaultKind::NotCommitted
    );
    // Read-only: reads work, writes do not.
    let (ro, _) = mm
        .allocate(pid, &req(0, 0x1000, "reserve,commit", Protection::READONLY))
        .unwrap();
    mm.read_memory(pid, ro.0, &mut buf).unwrap();
    assert_eq!(
        mm.write_memory(pid, ro.0, b"x").unwrap_err().kind,
        FaultKind::Protection
    );
    let s = mm.process_status(pid).unwrap();
    assert_eq!(
        s.last_exception,
        Some(Exception {
            status: NtStatus::ACCESS_VIOLATION,
            write: true,
            va: ro
        })
    );
    // No access.
    let (na, _) = mm
        .allocate(pid, &req(0, 0x1000, "reserve,commit", Protection::NOACCESS))
        .unwrap();
    assert_eq!(
        mm.read_memory(pid, na.0, &mut buf).unwrap_err().kind,
        FaultKind::Protection
    );
    // A guard page fails once, then works.
    let guard = Protection::READWRITE.with_guard(true);
    let (g, _) = mm
        .allocate(pid, &req(0, 0x2000, "reserve,commit", guard))
        .unwrap();
    let f = mm.write_memory(pid, g.0, b"hi").unwrap_err();
    assert_eq!(
        (f.kind, f.error.status),
        (FaultKind::Guard, NtStatus::GUARD_PAGE_VIOLATION)
    );
    assert_eq!(mm.write_memory(pid, g.0, b"hi").unwrap(), 2);
    // The second page's guard is still armed: a transfer across stops at it.
    assert_eq!(
        mm.write_memory(pid, g.0 + 0xFF0, &[7u8; 0x20]).unwrap(),
        0x10
    );
    assert_eq!(mm.counter("guard_page_faults"), 2);
    // Beyond user space.
    assert_eq!(
        mm.read_memory(pid, 0x8000_0000, &mut buf).unwrap_err().kind,
        FaultKind::NotCommitted
    );
    assert_eq!(
        mm.read_memory(pid, u64::MAX - 4, &mut buf)
            .unwrap_err()
            .kind,
        FaultKind::NotCommitted
    );
    assert_verified(&mm);
}

#[test]
fn protect_returns_the_old_protection() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x4000, "reserve,commit", RW))
        .unwrap();
    mm.write_memory(pid, b.0, b"abc").unwrap();
    assert_eq!(
        mm.protect(pid, b.0, 0x4000, Protection::READONLY)
            .unwrap()
            .value,
        RW
    );
    assert_eq!(
        mm.write_memory(pid, b.0, b"x").unwrap_err().kind,
        FaultKind::Protection
    );
    assert_eq!(
        mm.protect(pid, b.0, 0x1000, Protection::NOACCESS)
            .unwrap()
            .value,
        Protection::READONLY
    );
    let mut buf = [0u8; 3];
    assert_eq!(
        mm.read_memory(pid, b.0, &mut buf).unwrap_err().kind,
        FaultKind::Protection
    );
    assert_eq!(
        mm.protect(pid, b.0, 0x1000, RW).unwrap().value,
        Protection::NOACCESS
    );
    mm.read_memory(pid, b.0, &mut buf).unwrap();
    assert_eq!(&buf, b"abc", "contents survive protection changes");
    let (r, _) = mm.allocate(pid, &req(0, 0x10000, "reserve", RW)).unwrap();
    assert_eq!(
        mm.protect(pid, r.0, 0x1000, Protection::READONLY)
            .unwrap_err()
            .status,
        NtStatus::NOT_COMMITTED
    );
    assert_verified(&mm);
}

#[test]
fn trim_then_transition_fault_keeps_the_bytes() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x8000, "reserve,commit", RW))
        .unwrap();
    let data: Vec<u8> = (0..0x8000u32).map(|i| (i % 253) as u8).collect();
    mm.write_memory(pid, b.0, &data).unwrap();
    let modified = meminfo(&mm, "ModifiedPages");
    assert_eq!(mm.trim(pid).unwrap(), 8);
    assert_eq!(meminfo(&mm, "ModifiedPages"), modified + 8);
    assert_verified(&mm);
    let d = mm.pte_detail(pid, b.0).unwrap();
    assert_eq!(d.state, "transition");
    let mut back = vec![0u8; data.len()];
    mm.read_memory(pid, b.0, &mut back).unwrap();
    assert_eq!(back, data);
    assert_eq!(mm.process_status(pid).unwrap().transition_faults, 8);
    assert_eq!(meminfo(&mm, "ModifiedPages"), modified);
    assert_verified(&mm);
}

#[test]
fn decommit_and_release_free_everything() {
    let mm = machine(Arch::X86);
    // The first process's kernel stack makes the System process's page
    // table for the system PTEs, which stays: one made and gone first.
    let warm = mm.create_process("warm").unwrap();
    mm.terminate_process(warm).unwrap();
    let before: Vec<(&str, u64)> = mm.meminfo();
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x40000, "reserve,commit", RW))
        .unwrap();
    mm.write_memory(pid, b.0, &vec![5u8; 0x40000]).unwrap();
    mm.trim(pid).unwrap();
    mm.read_memory(pid, b.0, &mut [0u8; 0x2000]).unwrap();
    mm.free(pid, b.0 + 0x1000, 0x1000, false).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(
        mm.read_memory(pid, b.0 + 0x1000, &mut buf)
            .unwrap_err()
            .kind,
        FaultKind::NotCommitted
    );
    assert_verified(&mm);
    // Recommitting gives a zero page.
    mm.allocate(pid, &req(b.0 + 0x1000, 0x1000, "commit", RW))
        .unwrap();
    mm.read_memory(pid, b.0 + 0x1000, &mut buf).unwrap();
    assert_eq!(buf, [0; 4]);
    assert_verified(&mm);
    // Releasing a middle part splits the reservation.
    mm.free(pid, b.0 + 0x10000, 0x10000, true).unwrap();
    assert_eq!(mm.vads(pid).unwrap().len(), 2);
    assert_verified(&mm);
    mm.terminate_process(pid).unwrap();
    assert_verified(&mm);
    let after = mm.meminfo();
    for key in [
        "AvailablePages",
        "ActivePages",
        "CommitCharge",
        "ModifiedPages",
        "StandbyPages",
    ] {
        let get = |v: &[(&str, u64)]| v.iter().find(|(k, _)| *k == key).unwrap().1;
        assert_eq!(get(&after), get(&before), "{key}");
    }
}

/// The limits a ws-limits call left, in pages.
fn ws_pages(r: crate::mm::WithStatus<crate::mm::vm::WsLimits>) -> (u64, u64) {
    (r.value.minimum, r.value.maximum)
}

#[test]
fn lock_quota_and_unlock() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x100000, "reserve,commit", RW))
        .unwrap();
    // NtLockVirtualMemory's quota: the minimum (50) must cover FirstDynamic
    // (the 4 system pages of an x86 process) + NumberToLock (pages less one)
    // + MM_FLUID_WORKING_SET (8): 39 pages fit, 40 do not.
    assert_eq!(
        mm.lock(pid, b.0, 40 * PAGE_SIZE).unwrap_err().status,
        NtStatus::WORKING_SET_QUOTA
    );
    assert_eq!(mm.lock(pid, b.0, 39 * PAGE_SIZE).unwrap().value, 39);
    assert_eq!(mm.process_status(pid).unwrap().locked_pages, 39);
    // Locked pages survive trimming.
    mm.trim(pid).unwrap();
    assert_eq!(mm.process_status(pid).unwrap().locked_pages, 39);
    assert_eq!(mm.pte_detail(pid, b.0).unwrap().state, "valid");
    // Unlocking pages that are not locked: STATUS_NOT_LOCKED, and they leave the working set.
    mm.write_memory(pid, b.0 + 50 * PAGE_SIZE, b"z").unwrap();
    let e = mm.unlock(pid, b.0 + 50 * PAGE_SIZE, PAGE_SIZE).unwrap_err();
    assert_eq!(e.status, NtStatus::NOT_LOCKED);
    assert_eq!(
        mm.pte_detail(pid, b.0 + 50 * PAGE_SIZE).unwrap().state,
        "transition"
    );
    assert_eq!(mm.unlock(pid, b.0, 39 * PAGE_SIZE).unwrap(), 39);
    assert_eq!(mm.process_status(pid).unwrap().locked_pages, 0);
    // ws-limits: raising the minimum allows more locking; a minimum above the
    // maximum is STATUS_BAD_WORKING_SET_LIMIT (MmAdjustWorkingSetSizeEx).
    assert_eq!(
        mm.set_ws_limits(pid, Some(200 * PAGE_SIZE), Some(100 * PAGE_SIZE))
            .unwrap_err()
            .status,
        NtStatus::BAD_WORKING_SET_LIMIT
    );
    assert_eq!(
        mm.set_ws_limits(pid, Some(200 * PAGE_SIZE), Some(400 * PAGE_SIZE))
            .map(ws_pages)
            .unwrap(),
        (200, 400)
    );
    assert_eq!(mm.lock(pid, b.0, 100 * PAGE_SIZE).unwrap().value, 100);
    assert_verified(&mm);
}

#[test]
fn raising_a_minimum_is_charged_against_resident_available_memory() {
    // 256 pages: MmMaximumWorkingSetSize is half of them here (128), the
    // smallest real machine's rule (RAM less 512 pages) leaving nothing.
    let mm = Mm::new(MmConfig::for_tests(1 << 20, Arch::X86)).unwrap();
    let resident = |mm: &Mm| meminfo(mm, "ResidentAvailablePages");
    // System and `a` keep 50 pages each, and `a`'s kernel stack 3 more.
    let a = mm.create_process("a").unwrap();
    assert_eq!(resident(&mm), 153);
    // MmAdjustWorkingSetSizeEx: a raise must leave 100 pages: 53 more fit,
    // 54 do not.
    let e = mm
        .set_ws_limits(a, Some(104 * PAGE_SIZE), Some(120 * PAGE_SIZE))
        .unwrap_err();
    assert_eq!(e.status, NtStatus::INSUFFICIENT_RESOURCES);
    assert!(e.message.contains("resident available"), "{}", e.message);
    assert_eq!(mm.process_status(a).unwrap().working_set_minimum, 50);
    assert_eq!(resident(&mm), 153, "a refused raise charges nothing");
    assert_eq!(
        mm.set_ws_limits(a, Some(103 * PAGE_SIZE), Some(120 * PAGE_SIZE))
            .map(ws_pages)
            .unwrap(),
        (103, 120)
    );
    assert_eq!(resident(&mm), 100);
    // A new process is still created (its stack and minimum charged, with no
    // reserve kept), but cannot grow.
    let b = mm.create_process("b").unwrap();
    assert_eq!(resident(&mm), 47);
    assert_eq!(
        mm.set_ws_limits(b, Some(60 * PAGE_SIZE), Some(100 * PAGE_SIZE))
            .unwrap_err()
            .status,
        NtStatus::INSUFFICIENT_RESOURCES
    );
    // Lowering a minimum gives its pages back; so does terminating.
    mm.set_ws_limits(a, Some(44 * PAGE_SIZE), Some(120 * PAGE_SIZE))
        .unwrap();
    assert_eq!(resident(&mm), 106);
    assert_eq!(
        mm.set_ws_limits(b, Some(56 * PAGE_SIZE), Some(100 * PAGE_SIZE))
            .map(ws_pages)
            .unwrap(),
        (56, 100)
    );
    assert_verified(&mm);
    mm.terminate_process(a).unwrap();
    assert_eq!(resident(&mm), 256 - 50 - 56 - 3);
    assert_verified(&mm);
}

/// PAE's four page-directory-pointer entries hold Present and the frame
/// only: R/W, U/S, Accessed and Dirty are reserved bits there, which the CPU
/// faults on when it loads the PDPT (NT's PAE kernel writes none of them).
#[test]
fn pae_pdptes_hold_only_present_and_the_frame() {
    let mm = machine(Arch::Pae);
    let pid = mm.create_process("app").unwrap();
    let p = mm.process(pid).unwrap();
    let space = p.space();
    let tables = space.tables(mm.machine());
    for index in 0..4 {
        let raw = tables.read(crate::mm::hw::pagetable::EntryLoc {
            table: space.dtb,
            index,
        });
        assert_eq!(raw.0 & 0xfff, 0x1, "PDPTE {index} is {:#x}", raw.0);
        assert_eq!(raw.0 >> 63, 0, "PDPTE {index} has NX set");
        assert!(tables.valid_pfn(raw).is_some());
    }
}

#[test]
fn page_tables_are_real_pages() {
    let mm = machine(Arch::X64);
    let pid = mm.create_process("app").unwrap();
    let before = mm.process_status(pid).unwrap().page_table_pages;
    let (b, _) = mm
        .allocate(pid, &req(0, 0x1000, "reserve,commit", RW))
        .unwrap();
    mm.write_memory(pid, b.0, b"x").unwrap();
    // x64: a PDPT, a PD and a PT appear below the PML4.
    assert_eq!(mm.process_status(pid).unwrap().page_table_pages, before + 3);
    let usecounts = mm.usecounts();
    let pt = usecounts.iter().find(|r| r.name == "PageTable").unwrap();
    assert_eq!(
        pt.counts[0],
        mm.process_status(pid).unwrap().page_table_pages
            + mm.process_status(Pid::SYSTEM).unwrap().page_table_pages
    );
    mm.free(pid, b.0, 0, true).unwrap();
    assert_eq!(
        mm.process_status(pid).unwrap().page_table_pages,
        before,
        "empty tables are freed"
    );
    assert_verified(&mm);
}

/// Random operation sequences over several processes, checked against a model of
/// every byte and of which touches must fail, with verify after every batch.
#[test]
fn random_sequences_keep_every_invariant() {
    on_every_arch(0x9E37_79B9_7F4A_7C15, |seed, arch| {
        InvariantRun::new(seed, arch).run(1500)
    });
}

/// One arch's run of `random_sequences_keep_every_invariant`: three processes,
/// their regions, and a model of every page: per (pid, page va), Some(contents)
/// if committed (None = reserved only).
struct InvariantRun {
    mm: Mm,
    rng: XorShift,
    seed: u64,
    arch: Arch,
    step: u64,
    pids: Vec<Pid>,
    model: HashMap<(Pid, u64), Option<Vec<u8>>>,
    /// (pid, base, size) of each reservation.
    regions: Vec<(Pid, u64, u64)>,
}

impl InvariantRun {
    fn new(seed: u64, arch: Arch) -> InvariantRun {
        let (mm, pids) = small_machine(arch);
        InvariantRun {
            mm,
            rng: XorShift(seed ^ arch as u64),
            seed,
            arch,
            step: 0,
            pids,
            model: HashMap::new(),
            regions: Vec::new(),
        }
    }

    fn run(mut self, steps: u64) {
        for step in 0..steps {
            self.step = step;
            let pid = self.pids[self.rng.below(3) as usize];
            // A step that finds no region skips the check, as it always has.
            if self.op(pid) && step % 100 == 99 {
                let r = self.mm.verify();
                assert!(
                    r.ok(),
                    "seed {:#x} {:?} step {step}:\n{}",
                    self.seed,
                    self.arch,
                    r.violations.join("\n")
                );
            }
        }
        self.finish();
    }

    /// One random operation by `pid`; false when it found no region.
    fn op(&mut self, pid: Pid) -> bool {
        match self.rng.below(8) {
            0 => self.allocate(pid),
            1..=3 => return self.write(pid),
            4 => return self.commit_or_decommit(pid),
            5 => return self.release(pid),
            6 => self.system(pid),
            _ => self.read_back(pid),
        }
        true
    }

    /// The regions of `pid`.
    fn regions_of(&self, pid: Pid) -> Vec<(Pid, u64, u64)> {
        self.regions
            .iter()
            .filter(|r| r.0 == pid)
            .cloned()
            .collect()
    }

    /// A random region of `pid`'s.
    fn random_region(&mut self, pid: Pid) -> Option<(u64, u64)> {
        let cands = self.regions_of(pid);
        if cands.is_empty() {
            return None;
        }
        let (_, b, size) = cands[self.rng.below(cands.len() as u64) as usize];
        Some((b, size))
    }

    fn allocate(&mut self, pid: Pid) {
        let pages = 1 + self.rng.below(64);
        let commit = self.rng.below(2) == 0;
        let flags = if commit { "reserve,commit" } else { "reserve" };
        let request = req(0, pages * PAGE_SIZE, flags, RW);
        if let Ok((b, size)) = self.mm.allocate(pid, &request) {
            for p in 0..size / PAGE_SIZE {
                self.model.insert(
                    (pid, b.0 + p * PAGE_SIZE),
                    commit.then(|| vec![0u8; PAGE_SIZE as usize]),
                );
            }
            self.regions.push((pid, b.0, size));
        }
    }

    fn write(&mut self, pid: Pid) -> bool {
        let Some((b, size)) = self.random_region(pid) else {
            return false;
        };
        // Mostly small writes; one in four fills the whole region.
        let (off, len) = if self.rng.below(4) == 0 {
            (0, size as usize)
        } else {
            let off = self.rng.below(size);
            let len = (1 + self.rng.below(3 * PAGE_SIZE)).min(size - off);
            (off, len as usize)
        };
        let byte = self.rng.next() as u8;
        let data = vec![byte; len];
        let res = self.mm.write_memory(pid, b + off, &data);
        // Expected: bytes up to the first uncommitted page.
        let mut expect = 0usize;
        while expect < len {
            let va = b + off + expect as u64;
            let page = va & !(PAGE_SIZE - 1);
            match self.model.get_mut(&(pid, page)) {
                Some(Some(c)) => {
                    let po = (va - page) as usize;
                    let n = (PAGE_SIZE as usize - po).min(len - expect);
                    c[po..po + n].copy_from_slice(&data[expect..expect + n]);
                    expect += n;
                }
                _ => break,
            }
        }
        let (seed, step) = (self.seed, self.step);
        match res {
            Ok(n) => assert_eq!(n, expect, "seed {seed:#x} step {step}"),
            Err(f) => {
                assert_eq!(expect, 0, "seed {seed:#x} step {step}: {f:?}");
                assert_eq!(f.kind, FaultKind::NotCommitted);
            }
        }
        true
    }

    fn commit_or_decommit(&mut self, pid: Pid) -> bool {
        let Some((b, size)) = self.random_region(pid) else {
            return false;
        };
        let p = self.rng.below(size / PAGE_SIZE);
        let n = 1 + self.rng.below(size / PAGE_SIZE - p);
        let start = b + p * PAGE_SIZE;
        if self.rng.below(2) == 0 {
            self.mm
                .allocate(pid, &req(start, n * PAGE_SIZE, "commit", RW))
                .unwrap();
            for i in 0..n {
                let e = self.model.get_mut(&(pid, start + i * PAGE_SIZE)).unwrap();
                if e.is_none() {
                    *e = Some(vec![0u8; PAGE_SIZE as usize]);
                }
            }
        } else {
            self.mm.free(pid, start, n * PAGE_SIZE, false).unwrap();
            for i in 0..n {
                *self.model.get_mut(&(pid, start + i * PAGE_SIZE)).unwrap() = None;
            }
        }
        true
    }

    fn release(&mut self, pid: Pid) -> bool {
        let cands: Vec<usize> = (0..self.regions.len())
            .filter(|&i| self.regions[i].0 == pid)
            .collect();
        if cands.is_empty() {
            return false;
        }
        let i = cands[self.rng.below(cands.len() as u64) as usize];
        let (_, b, size) = self.regions.remove(i);
        self.mm.free(pid, b, 0, true).unwrap();
        for p in 0..size / PAGE_SIZE {
            self.model.remove(&(pid, b + p * PAGE_SIZE));
        }
        true
    }

    fn system(&mut self, pid: Pid) {
        use crate::mm::base::wakeups::SystemThread;
        let mm = &self.mm;
        match self.rng.below(9) {
            0 => drop(mm.trim(pid).unwrap()),
            1 => drop(mm.run_thread(SystemThread::ModifiedPageWriter)),
            2 => drop(mm.flush_modified()),
            3 => drop(mm.empty_standby()),
            4 => drop(mm.outswap(pid).unwrap()),
            5 => drop(mm.tick(1000 * (1 + self.rng.below(20))).unwrap()),
            6 => drop(mm.run_thread(SystemThread::WorkingSetManager)),
            7 => drop(mm.run_thread(SystemThread::ZeroPageThread)),
            _ => drop(mm.empty_working_sets()),
        }
    }

    /// Reads every region of `pid` back and compares it with the model.
    fn read_back(&self, pid: Pid) {
        let (seed, step) = (self.seed, self.step);
        for (_, b, size) in self.regions_of(pid) {
            for p in 0..size / PAGE_SIZE {
                let va = b + p * PAGE_SIZE;
                let mut buf = vec![0u8; PAGE_SIZE as usize];
                let r = self.mm.read_memory(pid, va, &mut buf);
                match self.model.get(&(pid, va)).unwrap() {
                    Some(c) => {
                        assert_eq!(r.unwrap(), PAGE_SIZE as usize);
                        assert!(
                            buf == *c,
                            "seed {seed:#x} step {step}: contents of {va:#x} differ"
                        );
                    }
                    None => assert_eq!(r.unwrap_err().kind, FaultKind::NotCommitted),
                }
            }
        }
    }

    fn finish(self) {
        let (mm, arch) = (&self.mm, self.arch);
        // The run really paged: pages went to the paging file and came back.
        // (Whether standby pages get repurposed depends on the seed: the random
        // empty-standby often gets there first; a test of its own asserts it.)
        for c in ["pages_written_to_pagefile", "hard_faults"] {
            assert!(mm.counter(c) > 0, "{arch:?}: {c} is 0");
        }
        for &pid in &self.pids {
            mm.terminate_process(pid).unwrap();
        }
        assert_verified(mm);
        assert_eq!(mm.machine().pagefiles_lock().used_pages(), 0);
        assert_eq!(
            meminfo(mm, "CommitCharge"),
            mm.process_status(Pid::SYSTEM).unwrap().commit_charge
        );
        assert_eq!(
            mm.pfn_list(PageLocation::Active).len() as u64,
            meminfo(mm, "ActivePages")
        );
    }
}

#[test]
fn a_transfer_into_a_bad_page_returns_the_bytes_before_it() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x4000, "reserve,commit", RW))
        .unwrap();
    mm.write_memory(pid, b.0, &[9u8; 0x4000]).unwrap();
    let pfn = mm.pte_detail(pid, b.0 + 0x2000).unwrap().pfn.unwrap();
    mm.mark_page_bad(pfn).unwrap();
    assert_verified(&mm);
    let mut buf = vec![0u8; 0x4000];
    assert_eq!(mm.read_memory(pid, b.0, &mut buf).unwrap(), 0x2000);
    let f = mm.read_memory(pid, b.0 + 0x2000, &mut buf).unwrap_err();
    assert_eq!(
        (f.kind, f.error.status),
        (FaultKind::InPage, NtStatus::IN_PAGE_ERROR)
    );
    // Both transfers hit the bad page: the first stopped there, the second failed.
    assert_eq!(mm.counter("in_page_errors"), 2);
    // Freed, it lands on the bad list for good.
    let bad = meminfo(&mm, "BadPages");
    mm.free(pid, b.0 + 0x2000, 0x1000, false).unwrap();
    assert_eq!(meminfo(&mm, "BadPages"), bad + 1);
    assert_verified(&mm);
    // A free page goes straight to the bad list and is never handed out again.
    let z = mm.pfn_list(PageLocation::Zeroed)[0];
    mm.mark_page_bad(z).unwrap();
    assert_eq!(mm.pfn_list(PageLocation::Bad).len() as u64, bad + 2);
    let e = mm
        .mark_page_bad(mm.process(pid).unwrap().space().dtb)
        .unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER);
    assert_verified(&mm);
}

#[test]
fn huge_ranges_are_bounded_and_refused_cleanly() {
    let mm = machine(Arch::X64);
    let pid = mm.create_process("app").unwrap();
    // A reservation of most of x64 user space needs 3.5 M page tables, whose
    // commit it is charged when inserted (MiInsertVadCharges): refused, and
    // nothing is left behind.
    let charge = meminfo(&mm, "CommitCharge");
    assert_eq!(
        mm.allocate(pid, &req(0, 0x700_0000_0000, "reserve", RW))
            .unwrap_err()
            .status,
        NtStatus::COMMITMENT_LIMIT
    );
    assert!(mm.vads(pid).unwrap().is_empty());
    assert_eq!(meminfo(&mm, "CommitCharge"), charge);
    // 8 GB from 0x10000 spans 4097 page tables, 9 page directories and a PDP
    // page, which it costs, and every service on it finishes at once.
    let (b, size) = mm
        .allocate(pid, &req(0, 0x2_0000_0000, "reserve", RW))
        .unwrap();
    assert_eq!(b, Va(0x10000));
    assert_eq!(meminfo(&mm, "CommitCharge"), charge + 4097 + 9 + 1);
    let e = mm.unlock(pid, 0, u64::MAX).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER);
    assert_eq!(
        mm.unlock(pid, b.0, size).unwrap_err().status,
        NtStatus::NOT_LOCKED
    );
    assert_eq!(
        mm.lock(pid, b.0, size).unwrap_err().status,
        NtStatus::WORKING_SET_QUOTA
    );
    assert_eq!(
        mm.protect(pid, b.0, size, Protection::READONLY)
            .unwrap_err()
            .status,
        NtStatus::NOT_COMMITTED
    );
    mm.allocate(pid, &req(b.0 + 0x1000, 0x2000, "commit", RW))
        .unwrap();
    mm.write_memory(pid, b.0 + 0x1000, b"x").unwrap();
    assert_eq!(
        mm.allocate(pid, &req(b.0, size, "commit", RW))
            .unwrap_err()
            .status,
        NtStatus::COMMITMENT_LIMIT
    );
    assert_verified(&mm);
    mm.free(pid, b.0, size, false).unwrap();
    mm.free(pid, b.0, 0, true).unwrap();
    assert_verified(&mm);
    // Kernel addresses are not lockable.
    let x86 = machine(Arch::X86);
    let p = x86.create_process("k").unwrap();
    assert_eq!(
        x86.lock(p, 0xC030_0000, 0x1000).unwrap_err().status,
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        x86.touch_pages(p, 0x7FFF_0000, 4, false).unwrap_err().kind,
        FaultKind::NotCommitted
    );
}

#[test]
fn a_terminated_process_refuses_requests() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let p = mm.process(pid).unwrap();
    mm.terminate_process(pid).unwrap();
    // A request holding the process from before the rmdir sees it dead.
    let e = p.live_space().err().unwrap();
    assert_eq!(e.status, NtStatus::PROCESS_IS_TERMINATING);
    assert_eq!(
        mm.allocate(pid, &req(0, 0x1000, "reserve", RW))
            .unwrap_err()
            .status,
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    assert_verified(&mm);
}

/// `verify` while other threads create processes, fill them and terminate them:
/// it must never see one half made or half torn down (it once walked the freed
/// page tables of a process terminated after its snapshot, and panicked).
#[test]
fn verify_while_processes_come_and_go() {
    let mm = std::sync::Arc::new(machine(Arch::X86));
    let workers: Vec<_> = (0..2)
        .map(|t| {
            let mm = mm.clone();
            std::thread::spawn(move || {
                for round in 0..150 {
                    let pid = mm.create_process(&format!("t{t}-{round}")).unwrap();
                    let (base, _) = mm
                        .allocate(pid, &req(0, 16 * PAGE_SIZE, "reserve,commit", RW))
                        .unwrap();
                    let data = vec![round as u8; 16 * PAGE_SIZE as usize];
                    assert_eq!(mm.write_memory(pid, base.0, &data).unwrap(), data.len());
                    mm.terminate_process(pid).unwrap();
                }
            })
        })
        .collect();
    let mut checks = 0;
    while workers.iter().any(|w| !w.is_finished()) {
        assert_verified(&mm);
        checks += 1;
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_verified(&mm);
    assert!(checks > 0);
}

#[test]
fn recommit_changes_protection_and_ws_limits_trim() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm.allocate(pid, &req(0, 0x100000, "reserve", RW)).unwrap();
    mm.allocate(pid, &req(b.0, 0x100000, "commit", RW)).unwrap();
    mm.write_memory(pid, b.0, &[1u8; 0x100000]).unwrap();
    let commit = meminfo(&mm, "CommitCharge");
    mm.allocate(pid, &req(b.0, 0x1000, "commit", Protection::READONLY))
        .unwrap();
    assert_eq!(meminfo(&mm, "CommitCharge"), commit, "no second charge");
    assert_eq!(
        mm.write_memory(pid, b.0, b"x").unwrap_err().kind,
        FaultKind::Protection
    );
    // A maximum below the working set trims it down.
    assert!(mm.process_status(pid).unwrap().working_set_size > 100);
    mm.set_ws_limits(pid, Some(50 * PAGE_SIZE), Some(100 * PAGE_SIZE))
        .unwrap();
    assert!(mm.process_status(pid).unwrap().working_set_size <= 100);
    let mut back = vec![0u8; 0x100000];
    mm.read_memory(pid, b.0, &mut back).unwrap();
    assert!(back.iter().all(|&x| x == 1));
    assert_verified(&mm);
}

mod awe;
mod cache;
mod fidelity;
mod history;
mod kernel;
mod large_pages;
mod model;
mod page_tables;
mod paging;
mod pool;
mod proto_paging;
mod sections;
mod threads;
mod token;
mod write_watch;

/// Demand-zero faults on frames from the free list (dirty, as a terminated
/// process left them): the fault zeroes after dropping the PFN lock, and a
/// write covering a page in full skips the memset. Whatever the write leaves
/// unwritten must read as zeros, however the page was touched.
#[test]
fn demand_zero_on_dirty_free_frames_shows_only_zeros_and_what_was_written() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        // Dirty most of RAM, then hand it back to the free list.
        let dirty = mm.create_process("dirty").unwrap();
        let (base, size) = mm
            .allocate(dirty, &req(0, 12 << 20, "reserve,commit", RW))
            .unwrap();
        assert_eq!(
            mm.write_memory(dirty, base.0, &vec![0xAB; size as usize])
                .unwrap(),
            size as usize
        );
        mm.terminate_process(dirty).unwrap();
        assert!(meminfo(&mm, "FreePages") >= 3000, "{arch:?}");

        let pid = mm.create_process("app").unwrap();
        let (base, _) = mm
            .allocate(pid, &req(0, 14 << 20, "reserve,commit", RW))
            .unwrap();
        // Use up the zeroed list so that every fault below takes a dirty frame.
        let zeroed = meminfo(&mm, "ZeroedPages");
        let past = base.0 + 0x40_0000;
        assert_eq!(
            mm.touch_pages(pid, past, zeroed + 8, false).unwrap(),
            zeroed + 8
        );
        assert_eq!(meminfo(&mm, "ZeroedPages"), 0, "{arch:?}");
        // The page table for the pages below, so that only they fault now.
        assert_eq!(mm.touch_pages(pid, base.0 + 0x7000, 1, false).unwrap(), 1);
        let free_before = meminfo(&mm, "FreePages");
        let zeroed_before = mm.counter("pages_zeroed");

        // Page 0: 100 bytes in the middle. Pages 1..4: one write from 0x800 in
        // page 1 to 0x800 in page 3 (a tail, a whole page, a head). Page 4: a
        // whole page. Page 5: touched for write with nothing copied. Page 6: read.
        let pattern = |n: usize| -> Vec<u8> { (0..n).map(|i| (i % 251) as u8 + 1).collect() };
        mm.write_memory(pid, base.0 + 0x100, &pattern(100)).unwrap();
        mm.write_memory(pid, base.0 + 0x1800, &pattern(0x2000))
            .unwrap();
        mm.write_memory(pid, base.0 + 0x4000, &pattern(0x1000))
            .unwrap();
        assert_eq!(mm.touch_pages(pid, base.0 + 0x5000, 1, true).unwrap(), 1);
        let mut page6 = vec![0xFFu8; 0x1000];
        mm.read_memory(pid, base.0 + 0x6000, &mut page6).unwrap();

        let mut expected = vec![0u8; 0x7000];
        expected[0x100..0x164].copy_from_slice(&pattern(100));
        expected[0x1800..0x3800].copy_from_slice(&pattern(0x2000));
        expected[0x4000..0x5000].copy_from_slice(&pattern(0x1000));
        let mut back = vec![0xFFu8; 0x7000];
        mm.read_memory(pid, base.0, &mut back).unwrap();
        for (page, (got, want)) in back.chunks(0x1000).zip(expected.chunks(0x1000)).enumerate() {
            assert!(
                got == want,
                "{arch:?}: page {page} holds bytes it was never given"
            );
        }
        // Seven faults, all from the free list, all counted as zeroed pages
        // (NT zeroes each; the two written in full skipped only the memset).
        assert_eq!(free_before - meminfo(&mm, "FreePages"), 7, "{arch:?}");
        assert_eq!(mm.counter("pages_zeroed") - zeroed_before, 7, "{arch:?}");
        assert_verified(&mm);
    }
}

/// `leaf_near` (the working-set scan's walk) finds the same PTE as a full
/// walk, across page-table boundaries, back and forth, and where no table is.
#[test]
fn leaf_near_agrees_with_a_full_walk() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        // 12 MB: three x86 page tables, six PAE/x64 ones; touch one page in
        // every other 1 MB so that some tables exist and the span has holes.
        let (base, size) = mm
            .allocate(pid, &req(0, 12 << 20, "reserve,commit", RW))
            .unwrap();
        for mb in (0..12u64).step_by(2) {
            mm.write_memory(pid, base.0 + (mb << 20), b"t").unwrap();
        }
        let p = mm.process(pid).unwrap();
        let space = p.space();
        let tables = space.tables(mm.machine());
        let mut cursor = crate::mm::hw::pagetable::LeafCursor::default();
        let mut rng = XorShift(7);
        let mut vas: Vec<u64> = (0..size / PAGE_SIZE)
            .map(|i| base.0 + i * PAGE_SIZE)
            .collect();
        vas.extend(
            (0..2000).map(|_| base.0 + rng.below(size + (64 << 20)) / PAGE_SIZE * PAGE_SIZE),
        );
        vas.push(mm.machine().layout.highest_user_address() & !(PAGE_SIZE - 1));
        let mut found = 0;
        for va in vas {
            let near = tables.leaf_near(&mut cursor, Va(va));
            assert_eq!(near, tables.leaf(Va(va)), "{arch:?} va {va:#x}");
            found += usize::from(near.is_some());
        }
        assert!(found > 0, "{arch:?}: no page table found at all");
    }
}

#[test]
fn mm_create_process_address_space_is_refused_when_its_minimum_does_not_fit() {
    // 256 pages hold System's minimum of 50 and three processes' minimums
    // of 50 with their kernel stacks of 3; a fourth's stack fits, its
    // minimum does not (and its stack is deleted again).
    let mm = Mm::new(MmConfig::for_tests(1 << 20, Arch::X86)).unwrap();
    for i in 0..3 {
        mm.create_process(&format!("p{i}")).unwrap();
    }
    let before = meminfo(&mm, "ResidentAvailablePages");
    assert_eq!(before, 47);
    let ptes = mm.system_ptes();
    let e = mm.create_process("late").unwrap_err();
    assert_eq!(e.status, NtStatus::INSUFFICIENT_RESOURCES);
    assert!(e.message.contains("resident available"), "{}", e.message);
    assert!(mm.pid_of("late").is_none(), "nothing is left behind");
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), before);
    assert_eq!(mm.system_ptes(), ptes, "its stack's system PTEs are back");
    assert_verified(&mm);
    // Terminating one gives its minimum back, and the name can be used.
    let p0 = mm.pid_of("p0").unwrap();
    mm.terminate_process(p0).unwrap();
    mm.create_process("late").unwrap();
    assert_verified(&mm);
}

#[test]
fn kernel_mem_reads_the_system_space_through_the_system_process() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        let layout = mm.layout().clone();
        // The self-map: the System process's top-level table, read through
        // its own entry, holds a valid entry pointing at itself.
        let top = layout.pde_base().max(layout.pte_base());
        let mut buf = [0u8; 4096];
        let base = match arch {
            Arch::X64 => 0xFFFF_F6FB_7DBE_D000,
            Arch::Pae => 0xC060_0000 + 3 * 4096,
            Arch::X86 => 0xC030_0000,
        };
        assert!(top > 0);
        assert_eq!(
            mm.read_kernel_memory(base, &mut buf).unwrap(),
            4096,
            "{arch:?}"
        );
        assert!(
            buf.iter().any(|&b| b != 0),
            "{arch:?}: the top table has entries"
        );
        // Paged pool holds nothing yet: an access violation, counted.
        let pool = layout.paged_pool_start();
        let f = mm.read_kernel_memory(pool, &mut buf).unwrap_err();
        assert_eq!(f.error.status, NtStatus::ACCESS_VIOLATION, "{arch:?}");
        // The page tables cannot be written.
        let f = mm.write_kernel_memory(base, &[1]).unwrap_err();
        assert_eq!(f.kind, crate::mm::fault::FaultKind::Protection, "{arch:?}");
        // Offsets of kernel/mem map back to the addresses.
        let off = mm.kernel_mem_offset(base);
        assert!(off < mm.kernel_mem_size());
        assert_eq!(mm.kernel_mem_address(off), Some(base), "{arch:?}");
        assert_eq!(mm.kernel_mem_address(mm.kernel_mem_size()), None);
        assert_verified(&mm);
    }
}

/// RAM beyond what the PTE's PFN field names is refused at boot: before, a 64 GB x86
/// machine mapped frame 0x1000013 as frame 0x13 (a page table), so writes landed in
/// another page. Exactly as much as the field names boots.
#[test]
fn ram_beyond_the_pfn_field_is_refused_at_boot() {
    for (ram, arch) in [(4u64 << 30, Arch::X86), (64 << 30, Arch::Pae)] {
        let Err(e) = Mm::new(MmConfig::for_tests(ram + PAGE_SIZE, arch)) else {
            panic!("{arch:?} booted with a frame its PTEs cannot name");
        };
        assert_eq!(e.status, NtStatus::INVALID_PARAMETER);
    }
    for (ram, arch) in [(4u64 << 30, Arch::X86), (64 << 30, Arch::Pae)] {
        let mm = Mm::new(MmConfig::for_tests(ram, arch)).unwrap();
        assert_eq!(u64::from(mm.physical_pages()), ram / PAGE_SIZE);
    }
}
