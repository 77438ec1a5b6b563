//! Paging: working sets, the modified page writer, standby and transition, hard
//! faults, repurposing, the system threads, outswap, and no byte lost on any path.

use super::{RW, assert_verified, machine, meminfo, req};
use crate::mm::Mm;
use crate::mm::NtStatus;
use crate::mm::base::config::MmConfig;
use crate::mm::base::types::Pid;
use crate::mm::base::types::{Arch, PAGE_SIZE};
use crate::mm::base::wakeups::SystemThread;
use crate::mm::paging::modified_writer::{
    Gather, gather_cluster_locked, write_cluster, write_modified_cluster,
};
use crate::mm::pfn::PageLocation;
use crate::mm::process::ProcessState;
use crate::mm::process::address_space::Exception;

/// A pattern that differs for every page and every byte of it.
fn pattern(va: u64, len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let a = va + i as u64;
            ((a >> 12) as u8).wrapping_mul(31) ^ (a as u8) ^ seed
        })
        .collect()
}

fn counter(mm: &Mm, name: &str) -> u64 {
    mm.counter(name)
}

fn list(mm: &Mm, loc: PageLocation) -> u64 {
    mm.machine().pfn_lock().db.list_count(loc)
}

/// A process with `bytes` committed read/write; returns its pid and base.
fn process_with(mm: &Mm, name: &str, bytes: u64) -> (Pid, u64) {
    let pid = mm.create_process(name).unwrap();
    let (base, _) = mm
        .allocate(pid, &req(0, bytes, "reserve,commit", RW))
        .unwrap();
    (pid, base.0)
}

fn write_all(mm: &Mm, pid: Pid, base: u64, bytes: u64, seed: u8) {
    const CHUNK: u64 = 1 << 20;
    let mut off = 0;
    while off < bytes {
        let n = CHUNK.min(bytes - off);
        let data = pattern(base + off, n as usize, seed);
        assert_eq!(
            mm.write_memory(pid, base + off, &data).unwrap(),
            n as usize,
            "write at {:#x}",
            base + off
        );
        off += n;
    }
}

fn check_all(mm: &Mm, pid: Pid, base: u64, bytes: u64, seed: u8) {
    const CHUNK: u64 = 1 << 20;
    let mut off = 0;
    let mut buf = vec![0u8; CHUNK as usize];
    while off < bytes {
        let n = CHUNK.min(bytes - off) as usize;
        assert_eq!(mm.read_memory(pid, base + off, &mut buf[..n]).unwrap(), n);
        assert!(
            buf[..n] == pattern(base + off, n, seed)[..],
            "bytes differ in the MiB at {:#x}",
            base + off
        );
        off += n as u64;
    }
}

#[test]
fn four_times_ram_round_trips_on_every_arch() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch); // 16 MB of RAM
        let bytes = 64 << 20;
        let (pid, base) = process_with(&mm, "big", bytes);
        write_all(&mm, pid, base, bytes, 7);
        assert_verified(&mm);
        check_all(&mm, pid, base, bytes, 7);
        assert_verified(&mm);
        assert!(counter(&mm, "pages_written_to_pagefile") >= (48 << 20) / PAGE_SIZE);
        assert!(counter(&mm, "hard_faults") > 0);
        assert!(
            counter(&mm, "pages_read_from_pagefile") > counter(&mm, "hard_faults"),
            "read clustering brings in more than one page per hard fault"
        );
        assert!(counter(&mm, "pages_repurposed") > 0);
        let status = mm.process_status(pid).unwrap();
        assert_eq!(status.private_pages, bytes / PAGE_SIZE);
        // Released: every slot and frame comes back.
        mm.terminate_process(pid).unwrap();
        assert_verified(&mm);
        assert_eq!(mm.machine().pagefiles_lock().used_pages(), 0);
    }
}

#[test]
fn trim_writer_standby_and_soft_faults() {
    let mm = machine(Arch::X86);
    let bytes = 1 << 20;
    let (pid, base) = process_with(&mm, "app", bytes);
    write_all(&mm, pid, base, bytes, 1);
    let pages = bytes / PAGE_SIZE;

    let modified = list(&mm, PageLocation::Modified);
    assert_eq!(mm.trim(pid).unwrap(), pages);
    assert_eq!(list(&mm, PageLocation::Modified), modified + pages);
    assert_verified(&mm);

    let standby = list(&mm, PageLocation::Standby);
    let written = mm.run_thread(SystemThread::ModifiedPageWriter);
    assert!(written >= pages - 15, "{written}");
    assert!(list(&mm, PageLocation::Modified) < 16);
    assert_eq!(list(&mm, PageLocation::Standby), standby + written);
    assert_eq!(counter(&mm, "pages_written_to_pagefile"), written);
    assert_eq!(counter(&mm, "pagefile_write_ios"), written.div_ceil(16));
    assert_verified(&mm);

    let (soft, hard) = (
        counter(&mm, "transition_faults"),
        counter(&mm, "hard_faults"),
    );
    check_all(&mm, pid, base, bytes, 1);
    assert_eq!(counter(&mm, "transition_faults"), soft + pages);
    assert_eq!(counter(&mm, "hard_faults"), hard);
    assert_verified(&mm);

    // Read, not written: trimming them again sends the written ones straight to
    // standby (their paging-file copy is still good).
    let standby = list(&mm, PageLocation::Standby);
    mm.trim(pid).unwrap();
    assert_eq!(list(&mm, PageLocation::Standby), standby + written);
    assert_verified(&mm);
}

#[test]
fn empty_standby_makes_the_next_touch_a_hard_fault() {
    let mm = machine(Arch::X64);
    let bytes = 256 * PAGE_SIZE;
    let (pid, base) = process_with(&mm, "app", bytes);
    write_all(&mm, pid, base, bytes, 2);
    mm.trim(pid).unwrap();
    assert_eq!(mm.flush_modified(), 256);
    assert_eq!(list(&mm, PageLocation::Modified), 0);
    assert_eq!(mm.empty_standby(), 256);
    assert_eq!(list(&mm, PageLocation::Standby), 0);
    assert_verified(&mm);
    let ptes = mm.ptes(pid).unwrap();
    assert!(ptes.iter().all(|r| r.state == "pagefile"), "{ptes:?}");

    check_all(&mm, pid, base, bytes, 2);
    let hard = counter(&mm, "hard_faults");
    let read = counter(&mm, "pages_read_from_pagefile");
    assert_eq!(read, 256);
    // Sequential touches: each hard fault reads a cluster of 4, the other 3
    // come back as soft faults from standby.
    assert_eq!(hard, 256 / 4);
    assert_eq!(counter(&mm, "transition_faults"), 256 - 256 / 4);
    assert_eq!(mm.process_status(pid).unwrap().hard_faults, hard);
    assert_verified(&mm);
}

#[test]
fn a_write_during_the_cluster_write_is_not_lost() {
    let mm = machine(Arch::Pae);
    let (pid, base) = process_with(&mm, "app", 16 * PAGE_SIZE);
    write_all(&mm, pid, base, 16 * PAGE_SIZE, 3);
    mm.trim(pid).unwrap();
    let m = mm.machine();
    let gathered = gather_cluster_locked(m, &mut m.pfn_lock());
    let Gather::Cluster(c) = gathered else {
        panic!("nothing gathered")
    };
    assert_verified(&mm); // a write in flight is a consistent state
    // The owner touches page 0 while it is being written, and dirties page 1.
    check_all(&mm, pid, base, PAGE_SIZE, 3);
    mm.write_memory(pid, base + PAGE_SIZE, b"changed while in flight")
        .unwrap();
    assert_verified(&mm);
    let outcome = write_cluster(m, c);
    assert_eq!(outcome.written, 16);
    assert_verified(&mm);
    // Everything trimmed again and pushed out and back: page 1 keeps the new bytes.
    mm.trim(pid).unwrap();
    mm.flush_modified();
    mm.empty_standby();
    let mut buf = [0u8; 23];
    mm.read_memory(pid, base + PAGE_SIZE, &mut buf).unwrap();
    assert_eq!(&buf, b"changed while in flight");
    check_all(&mm, pid, base, PAGE_SIZE, 3);
    let mut rest = pattern(base + PAGE_SIZE, PAGE_SIZE as usize, 3);
    rest[..23].copy_from_slice(b"changed while in flight");
    let mut page = vec![0u8; PAGE_SIZE as usize];
    mm.read_memory(pid, base + PAGE_SIZE, &mut page).unwrap();
    assert_eq!(page, rest);
    check_all(&mm, pid, base + 2 * PAGE_SIZE, 14 * PAGE_SIZE, 3);
    assert_verified(&mm);
}

#[test]
fn freeing_or_terminating_during_a_cluster_write_frees_at_completion() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 32 * PAGE_SIZE);
    write_all(&mm, pid, base, 32 * PAGE_SIZE, 4);
    mm.trim(pid).unwrap();
    let m = mm.machine();
    let Gather::Cluster(first) = gather_cluster_locked(m, &mut m.pfn_lock()) else {
        panic!("nothing gathered")
    };
    let Gather::Cluster(second) = gather_cluster_locked(m, &mut m.pfn_lock()) else {
        panic!("nothing gathered")
    };
    // Decommit the first cluster's pages, then terminate the process.
    mm.free(pid, base, 16 * PAGE_SIZE, false).unwrap();
    assert_verified(&mm);
    mm.terminate_process(pid).unwrap();
    assert_verified(&mm);
    assert_eq!(m.pfn_lock().db.list_count(PageLocation::Transition), 32);
    write_cluster(m, first);
    write_cluster(m, second);
    assert_eq!(m.pfn_lock().db.list_count(PageLocation::Transition), 0);
    assert_eq!(m.pagefiles_lock().used_pages(), 0);
    assert_verified(&mm);
}

#[test]
fn repurposed_pages_come_back_from_the_paging_file() {
    let mm = machine(Arch::X64);
    let (a, base_a) = process_with(&mm, "a", 1 << 20);
    write_all(&mm, a, base_a, 1 << 20, 5);
    mm.trim(a).unwrap();
    mm.flush_modified();
    assert!(list(&mm, PageLocation::Standby) >= 256);
    // Another process takes every page there is, repurposing a's standby pages.
    let (b, base_b) = process_with(&mm, "b", 15 << 20);
    write_all(&mm, b, base_b, 15 << 20, 6);
    assert!(counter(&mm, "pages_repurposed") > 0);
    assert_verified(&mm);
    check_all(&mm, a, base_a, 1 << 20, 5);
    check_all(&mm, b, base_b, 15 << 20, 6);
    assert!(mm.process_status(a).unwrap().hard_faults > 0);
    assert_verified(&mm);
}

#[test]
fn working_set_manager_ages_and_trims_oldest_first_above_minimums() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 64 * PAGE_SIZE);
    write_all(&mm, pid, base, 64 * PAGE_SIZE, 8);
    // Plenty of memory: passes age but trim nothing.
    for _ in 0..3 {
        assert_eq!(mm.run_thread(SystemThread::WorkingSetManager), 0);
    }
    let ages: Vec<u8> = mm
        .workingset(pid)
        .unwrap()
        .iter()
        .filter(|r| r.is_data())
        .map(|r| r.age)
        .collect();
    assert!(ages.iter().all(|&a| a == 2), "{ages:?}");
    // Touch the first half: their accessed bits make them young again.
    check_all(&mm, pid, base, 32 * PAGE_SIZE, 8);
    mm.run_thread(SystemThread::WorkingSetManager);
    let rows = mm.workingset(pid).unwrap();
    for r in rows.iter().filter(|r| r.is_data()) {
        let young = r.va < base + 32 * PAGE_SIZE;
        assert_eq!(r.age, if young { 0 } else { 3 }, "{r:?}");
    }
    // A hog drives available memory below MmPlentyFreePages; the next pass trims
    // the old pages first, the hog (largest) before app.
    let (hog, hog_base) = process_with(&mm, "hog", 15 << 20);
    let plenty = mm.machine().thresholds.plenty_free;
    let hog_pages = {
        let mut n = 0;
        while meminfo(&mm, "AvailablePages") > plenty / 2 {
            mm.write_memory(hog, hog_base + n * PAGE_SIZE, &[1])
                .unwrap();
            n += 1;
        }
        n
    };
    assert!(hog_pages > 0);
    mm.run_thread(SystemThread::WorkingSetManager);
    let app = mm.process_status(pid).unwrap();
    assert!(app.working_set_size >= app.working_set_minimum.min(64 + 2));
    mm.run_thread(SystemThread::WorkingSetManager);
    mm.run_thread(SystemThread::ModifiedPageWriter);
    assert!(
        meminfo(&mm, "AvailablePages") >= plenty,
        "trimmed toward the goal"
    );
    let hog_status = mm.process_status(hog).unwrap();
    assert!(hog_status.working_set_size >= hog_status.working_set_minimum);
    assert!(counter(&mm, "working_set_trims") > 0);
    assert_verified(&mm);
    check_all(&mm, pid, base, 64 * PAGE_SIZE, 8);
}

#[test]
fn locked_pages_and_minimums_hold_under_trimming() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 64 * PAGE_SIZE);
    write_all(&mm, pid, base, 64 * PAGE_SIZE, 9);
    mm.lock(pid, base, 8 * PAGE_SIZE).unwrap();
    mm.empty_working_sets();
    mm.outswap(pid).unwrap();
    mm.flush_modified();
    mm.empty_standby();
    let ws: Vec<u64> = mm
        .workingset(pid)
        .unwrap()
        .iter()
        .filter(|r| r.is_data())
        .map(|r| r.va)
        .collect();
    assert_eq!(ws, (0..8).map(|i| base + i * PAGE_SIZE).collect::<Vec<_>>());
    let (soft, hard) = (
        counter(&mm, "transition_faults"),
        counter(&mm, "hard_faults"),
    );
    check_all(&mm, pid, base, 8 * PAGE_SIZE, 9);
    assert_eq!(
        (
            counter(&mm, "transition_faults"),
            counter(&mm, "hard_faults")
        ),
        (soft, hard)
    );
    check_all(&mm, pid, base, 64 * PAGE_SIZE, 9);
    assert_verified(&mm);
}

#[test]
fn replacement_keeps_a_process_at_its_hard_maximum() {
    let mm = machine(Arch::X64);
    let (pid, base) = process_with(&mm, "app", 1 << 20);
    mm.set_ws_limits(pid, Some(100 * PAGE_SIZE), Some(120 * PAGE_SIZE))
        .unwrap();
    mm.process(pid).unwrap().space().ws.hard_maximum = true;
    write_all(&mm, pid, base, 1 << 20, 10);
    let s = mm.process_status(pid).unwrap();
    assert!(s.working_set_size <= 120, "{}", s.working_set_size);
    assert!(s.peak_working_set_size <= 120);
    check_all(&mm, pid, base, 1 << 20, 10);
    assert_verified(&mm);
}

#[test]
fn outswap_and_inswap() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 32 * PAGE_SIZE);
    write_all(&mm, pid, base, 32 * PAGE_SIZE, 11);
    assert_eq!(mm.outswap(pid).unwrap(), 32);
    let s = mm.process_status(pid).unwrap();
    assert_eq!(s.state, ProcessState::Outswapped);
    assert_eq!(counter(&mm, "outswaps"), 1);
    assert_eq!(
        mm.outswap(Pid::SYSTEM).unwrap_err().status.name(),
        "STATUS_INVALID_PARAMETER"
    );
    // A touch inswaps it.
    check_all(&mm, pid, base, PAGE_SIZE, 11);
    assert_eq!(mm.process_status(pid).unwrap().state, ProcessState::Running);
    assert_eq!(counter(&mm, "inswaps"), 1);
    assert!(!mm.inswap(pid).unwrap());
    // The swapper outswaps it after 15 s of idleness (manual clock).
    mm.tick(10_000).unwrap();
    assert_eq!(mm.process_status(pid).unwrap().state, ProcessState::Running);
    mm.tick(10_000).unwrap();
    assert_eq!(
        mm.process_status(pid).unwrap().state,
        ProcessState::Outswapped
    );
    assert_eq!(counter(&mm, "outswaps"), 2);
    check_all(&mm, pid, base, 32 * PAGE_SIZE, 11);
    assert_verified(&mm);
}

#[test]
fn zero_page_thread_zeroes_freed_pages() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 64 * PAGE_SIZE);
    write_all(&mm, pid, base, 64 * PAGE_SIZE, 12);
    mm.terminate_process(pid).unwrap();
    let free = list(&mm, PageLocation::Free);
    assert!(free >= 64);
    let zeroed = list(&mm, PageLocation::Zeroed);
    assert_eq!(mm.run_thread(SystemThread::ZeroPageThread), free);
    assert_eq!(list(&mm, PageLocation::Free), 0);
    assert_eq!(list(&mm, PageLocation::Zeroed), zeroed + free);
    // And they really are zero.
    let head = mm.pfn_list(PageLocation::Zeroed)[0];
    let mut page = vec![1u8; PAGE_SIZE as usize];
    mm.machine().phys.read(head, 0, &mut page);
    assert!(page.iter().all(|&b| b == 0));
    assert_verified(&mm);
}

#[test]
fn tick_runs_the_threads_the_manual_clock_owes() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 1 << 20);
    write_all(&mm, pid, base, 1 << 20, 13);
    mm.trim(pid).unwrap();
    // Nothing runs by itself.
    assert_eq!(counter(&mm, "pages_written_to_pagefile"), 0);
    // The modified list (256) is above MmModifiedPageMaximum (100 on 16 MB): the
    // working-set manager wakes the writer at the next second.
    mm.tick(1000).unwrap();
    assert!(counter(&mm, "pages_written_to_pagefile") >= 256 - 15);
    let rows = mm.thread_rows();
    let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
    assert_eq!(row("balance-set-manager").wakeups, 1);
    assert_eq!(row("working-set-manager").wakeups, 1);
    assert!(row("modified-page-writer").pages_processed >= 241);
    assert_eq!(row("swapper").priority, 23);
    // A year passes quickly, and the swapper still gets its turn; every second
    // of it counts as a balance set manager tick.
    mm.tick(365 * 24 * 3600 * 1000).unwrap();
    assert_eq!(
        mm.process_status(pid).unwrap().state,
        ProcessState::Outswapped
    );
    let rows = mm.thread_rows();
    let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
    assert_eq!(row("balance-set-manager").wakeups, 1 + 365 * 24 * 3600);
    assert_verified(&mm);
}

#[test]
fn commit_beyond_every_limit_fails_and_changes_nothing() {
    let mut config = MmConfig::for_tests(16 << 20, Arch::X86);
    config.pagefiles[0].minimum = 4 << 20;
    config.pagefiles[0].maximum = 8 << 20;
    let mm = Mm::new(config).unwrap();
    let pid = mm.create_process("app").unwrap();
    let before = mm.meminfo();
    let e = mm
        .allocate(pid, &req(0, 32 << 20, "reserve,commit", RW))
        .unwrap_err();
    assert_eq!(e.status.name(), "STATUS_COMMITMENT_LIMIT");
    assert_eq!(mm.meminfo(), before);
    // Within the maximum: the paging file grows to 8 MB and the commit succeeds.
    mm.allocate(pid, &req(0, 20 << 20, "reserve,commit", RW))
        .unwrap();
    assert_eq!(mm.pagefiles()[0].current_pages, 2048);
    assert_verified(&mm);
}

#[test]
fn a_second_paging_file_takes_writes() {
    let mm = machine(Arch::X86);
    mm.create_pagefile("second.sys", 4 << 20, 8 << 20).unwrap();
    let e = mm
        .create_pagefile("second.sys", 4 << 20, 8 << 20)
        .unwrap_err();
    assert_eq!(e.status.name(), "STATUS_OBJECT_NAME_COLLISION");
    let files = mm.pagefiles();
    assert_eq!(files.len(), 2);
    assert!(files[1].path.exists());
    let limit = meminfo(&mm, "CommitLimit");
    assert_eq!(
        limit,
        mm.machine().commit_lock().ram_part
            + files.iter().map(|f| f.current_pages - 1).sum::<u64>()
    );
    assert_verified(&mm);
}

#[test]
fn locking_most_of_ram_still_lets_the_rest_page() {
    let mut config = MmConfig::for_tests(2 << 20, Arch::X86); // 512 pages
    config.pagefiles[0].minimum = 4 << 20;
    let mm = Mm::new(config).unwrap();
    let (pid, base) = process_with(&mm, "app", 2 << 20);
    // The highest limits allowed: MmMaximumWorkingSetSize (half of RAM on
    // a machine this small), which resident available memory (512 pages less
    // System's 50 less a reserve of 100) covers.
    mm.set_ws_limits(pid, Some(256 * PAGE_SIZE), Some(256 * PAGE_SIZE))
        .unwrap();
    // Lock as much as resident available memory allows (each locked page is
    // charged against it, and 100 pages must be left), a page at a time, then
    // touch beyond what RAM holds.
    let resident = meminfo(&mm, "ResidentAvailablePages");
    let mut locked = 0;
    let refused = loop {
        match mm.lock(pid, base + locked * PAGE_SIZE, PAGE_SIZE) {
            Ok(_) => locked += 1,
            Err(e) => break e.status,
        }
    };
    assert_eq!(refused, NtStatus::INSUFFICIENT_RESOURCES);
    assert_eq!(locked, resident - 100);
    assert_eq!(meminfo(&mm, "ResidentAvailablePages"), 100);
    let mut buf = vec![0u8; 2 << 20];
    let done = mm.read_memory(pid, base, &mut buf);
    // Unlocked pages page in and out; the read completes.
    assert_eq!(done.unwrap(), 2 << 20);
    assert_verified(&mm);
}

#[test]
fn a_failed_cluster_write_keeps_the_pages_modified() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 32 * PAGE_SIZE);
    write_all(&mm, pid, base, 32 * PAGE_SIZE, 14);
    mm.trim(pid).unwrap();
    mm.inject("pagefile-write", 1).unwrap();
    let o = write_modified_cluster(mm.machine());
    assert_eq!((o.written, o.failed), (0, 16));
    assert_eq!(list(&mm, PageLocation::Modified), 32);
    assert_eq!(mm.machine().pagefiles_lock().used_pages(), 0);
    assert_eq!(counter(&mm, "pagefile_write_errors"), 1);
    assert_eq!(counter(&mm, "pages_written_to_pagefile"), 0);
    assert_verified(&mm);
    // The next writes succeed; every byte comes back from the paging file.
    assert_eq!(mm.flush_modified(), 32);
    mm.empty_standby();
    check_all(&mm, pid, base, 32 * PAGE_SIZE, 14);
    assert_verified(&mm);
}

#[test]
fn a_failed_read_is_an_in_page_error_and_the_next_touch_works() {
    let mm = machine(Arch::X64);
    let (pid, base) = process_with(&mm, "app", 8 * PAGE_SIZE);
    write_all(&mm, pid, base, 8 * PAGE_SIZE, 15);
    mm.trim(pid).unwrap();
    mm.flush_modified();
    mm.empty_standby();
    mm.inject("pagefile-read", 1).unwrap();
    let mut buf = [0u8; 16];
    let f = mm.read_memory(pid, base, &mut buf).unwrap_err();
    assert_eq!(f.kind, crate::mm::fault::FaultKind::InPage);
    assert_eq!(f.error.status.name(), "STATUS_IN_PAGE_ERROR");
    let s = mm.process_status(pid).unwrap();
    assert!(
        matches!(
            s.last_exception,
            Some(Exception {
                status: NtStatus::IN_PAGE_ERROR,
                write: false,
                ..
            })
        ),
        "{:?}",
        s.last_exception
    );
    assert_eq!(counter(&mm, "in_page_errors"), 1);
    assert_verified(&mm);
    check_all(&mm, pid, base, 8 * PAGE_SIZE, 15);
    assert_verified(&mm);
    assert_eq!(
        mm.inject("disk", 1).unwrap_err().status.name(),
        "STATUS_INVALID_PARAMETER"
    );
}

/// The paging-file slots of the pages from `base` on, in address order.
fn slots(mm: &Mm, pid: Pid) -> Vec<u64> {
    mm.ptes(pid)
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r.state, "pagefile", "{r:?}");
            r.pfn_or_offset.unwrap() / PAGE_SIZE
        })
        .collect()
}

/// WRK MiGatherPagefilePages builds a cluster from the head of the modified
/// list, in list order (skipping mapped-file pages), and gives it consecutive
/// slots: a cluster is virtually contiguous when its pages left the working set
/// in address order. Emptying a working set (MiEmptyWorkingSet) ends with
/// MiRemoveWorkingSetPages, which rebuilds the free entry list in ascending
/// order, so pages faulted back in take entries in the order they come and the
/// next trim meets them in address order again: clustered reads work after the
/// second trim as after the first.
#[test]
fn mi_gather_pagefile_pages_clusters_survive_a_second_trim() {
    let mm = machine(Arch::X86);
    let (pid, base) = process_with(&mm, "app", 64 * PAGE_SIZE);
    let ascending = |s: &[u64]| s.windows(2).all(|w| w[1] == w[0] + 1);
    write_all(&mm, pid, base, 64 * PAGE_SIZE, 16);
    mm.trim(pid).unwrap();
    assert_eq!(mm.run_thread(SystemThread::ModifiedPageWriter), 64);
    assert_eq!(counter(&mm, "pagefile_write_ios"), 4);
    mm.empty_standby();
    let first = slots(&mm, pid);
    assert!(first.chunks(16).all(ascending), "{first:?}");
    // Faulted back in by writing: 16 hard faults of 4 pages each.
    let hard = counter(&mm, "hard_faults");
    write_all(&mm, pid, base, 64 * PAGE_SIZE, 17);
    assert_eq!(counter(&mm, "hard_faults") - hard, 16);
    mm.trim(pid).unwrap();
    assert_eq!(mm.run_thread(SystemThread::ModifiedPageWriter), 64);
    assert_eq!(counter(&mm, "pagefile_write_ios"), 8);
    mm.empty_standby();
    let second = slots(&mm, pid);
    assert!(second.chunks(16).all(ascending), "{second:?}");
    // Read back: 16 hard faults of 4 pages, the other 48 soft.
    let (hard, soft) = (
        counter(&mm, "hard_faults"),
        counter(&mm, "transition_faults"),
    );
    check_all(&mm, pid, base, 64 * PAGE_SIZE, 17);
    assert_eq!(counter(&mm, "hard_faults") - hard, 16);
    assert_eq!(counter(&mm, "transition_faults") - soft, 48);
    assert_verified(&mm);
}
