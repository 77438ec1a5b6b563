//! Pageable page tables (`process/table_paging.rs`): a user page table that
//! maps nothing valid or in transition is trimmed, written to the paging file,
//! its frame reused, and brought back by a soft or hard fault before anything
//! that needs it; every service over a paged-out table works and leaks
//! nothing; `verify` accepts it at every step.

use super::{RW, assert_verified, machine, req};
use crate::mm::Mm;
use crate::mm::NtStatus;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pid};
use crate::mm::inspect::PagedOutTable;

const ARCHES: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];
/// A region of its own page table (4 MB aligned: a table on every arch).
const BASE: u64 = 0x1000_0000;
const BYTES: u64 = 16 * PAGE_SIZE;

fn pattern(va: u64, len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let a = va + i as u64;
            (a as u8).wrapping_mul(7) ^ ((a >> 12) as u8) ^ seed
        })
        .collect()
}

/// A process whose table for `BASE` holds 16 written pages.
fn written(mm: &Mm, seed: u8) -> Pid {
    let pid = mm.create_process(&format!("tables{seed}")).unwrap();
    mm.allocate(pid, &req(BASE, BYTES, "reserve,commit", RW))
        .unwrap();
    let data = pattern(BASE, BYTES as usize, seed);
    assert_eq!(mm.write_memory(pid, BASE, &data).unwrap(), data.len());
    pid
}

/// Every page of `BASE` but `skip` holds its pattern.
fn check(mm: &Mm, pid: Pid, seed: u8, skip: &[u64], step: &str) {
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    for page in (0..BYTES / PAGE_SIZE).filter(|p| !skip.contains(p)) {
        let va = BASE + page * PAGE_SIZE;
        mm.read_memory(pid, va, &mut buf).unwrap();
        assert!(buf == pattern(va, buf.len(), seed), "{step}: page {page}");
    }
}

fn used_slots(mm: &Mm) -> u64 {
    mm.pagefiles().iter().map(|p| p.used_pages).sum()
}

/// Trims the process and writes and reuses what it trimmed: its data pages'
/// PTEs become paging-file PTEs.
fn data_out(mm: &Mm, pid: Pid) {
    mm.trim(pid).unwrap();
    mm.flush_modified();
    mm.empty_standby();
}

fn table_of(mm: &Mm, pid: Pid, va: u64) -> Option<PagedOutTable> {
    mm.pte_detail(pid, va).unwrap().table_paged_out
}

/// Trims the process (data pages, then the table they left), writes
/// everything out and reuses every standby frame: the PDE becomes a
/// paging-file PTE. Checks each step with `verify`.
fn page_out(mm: &Mm, pid: Pid) {
    // The data pages leave first; while they are in transition their table
    // stays (a reused frame writes its OriginalPte back into it).
    data_out(mm, pid);
    mm.empty_working_sets();
    assert!(
        table_of(mm, pid, BASE).is_some(),
        "after the trim the table is paged out"
    );
    assert_verified(mm);
    mm.flush_modified();
    assert_verified(mm);
    mm.empty_standby();
    assert!(
        matches!(
            table_of(mm, pid, BASE),
            Some(PagedOutTable::PagingFile { .. })
        ),
        "after the frame is reused the PDE is a paging-file PTE"
    );
    assert_verified(mm);
}

#[test]
fn a_page_table_pages_out_and_comes_back_by_a_hard_fault() {
    for arch in ARCHES {
        let mm = machine(arch);
        let pid = written(&mm, 3);
        data_out(&mm, pid);
        assert_eq!(
            table_of(&mm, pid, BASE),
            None,
            "{arch:?}: transition PTEs keep it"
        );
        mm.empty_working_sets();
        assert!(
            matches!(
                table_of(&mm, pid, BASE),
                Some(PagedOutTable::Transition { .. })
            ),
            "{arch:?}: after the trim the PDE is a transition PTE"
        );
        page_out(&mm, pid);
        // The view shows the PTE the paged-out table holds: a paging-file PTE.
        let d = mm.pte_detail(pid, BASE + PAGE_SIZE).unwrap();
        assert!(d.pagefile.is_some(), "{arch:?}: {d:?}");
        let before = mm.process_status(pid).unwrap();
        let mut buf = vec![0u8; BYTES as usize];
        assert_eq!(mm.read_memory(pid, BASE, &mut buf).unwrap(), buf.len());
        assert!(buf == pattern(BASE, buf.len(), 3), "{arch:?}: bytes differ");
        let after = mm.process_status(pid).unwrap();
        // The table and at least the first data page came by hard faults.
        assert!(after.hard_faults >= before.hard_faults + 2, "{arch:?}");
        assert!(after.page_fault_count > before.page_fault_count);
        assert_eq!(table_of(&mm, pid, BASE), None, "{arch:?}: resident again");
        assert_verified(&mm);
    }
}

#[test]
fn a_transition_table_comes_back_by_a_soft_fault() {
    for arch in ARCHES {
        let mm = machine(arch);
        let pid = written(&mm, 5);
        data_out(&mm, pid);
        mm.empty_working_sets();
        let Some(PagedOutTable::Transition { pfn }) = table_of(&mm, pid, BASE) else {
            panic!("{arch:?}: not in transition");
        };
        let before = mm.process_status(pid).unwrap();
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        mm.read_memory(pid, BASE, &mut buf).unwrap();
        assert!(buf == pattern(BASE, buf.len(), 5));
        let after = mm.process_status(pid).unwrap();
        assert!(after.transition_faults > before.transition_faults);
        assert!(after.hard_faults > before.hard_faults);
        let d = mm.pte_detail(pid, BASE).unwrap();
        assert_eq!(d.table_paged_out, None);
        assert_eq!(
            d.levels.iter().rev().nth(1).and_then(|l| l.pfn),
            Some(pfn),
            "{arch:?}: the same frame is the table again"
        );
        assert_verified(&mm);
    }
}

#[test]
fn services_over_a_paged_out_table_work_and_leak_nothing() {
    for arch in ARCHES {
        let mm = machine(arch);
        let idle = used_slots(&mm);
        let pid = written(&mm, 9);
        page_out(&mm, pid);
        // protect reads and changes the PTEs of the paged-out table.
        let old = mm
            .protect(pid, BASE, PAGE_SIZE, Protection::READONLY)
            .unwrap();
        assert_eq!(old.value, RW, "{arch:?}");
        assert_verified(&mm);
        check(&mm, pid, 9, &[], &format!("{arch:?} protect"));
        page_out(&mm, pid);
        // lock brings the table and its pages back and keeps them.
        mm.lock(pid, BASE + 2 * PAGE_SIZE, PAGE_SIZE).unwrap();
        mm.unlock(pid, BASE + 2 * PAGE_SIZE, PAGE_SIZE).unwrap();
        assert_verified(&mm);
        check(&mm, pid, 9, &[], &format!("{arch:?} lock"));
        page_out(&mm, pid);
        // decommit part, fork, then terminate both.
        mm.free(pid, BASE + 4 * PAGE_SIZE, 2 * PAGE_SIZE, false)
            .unwrap();
        assert_verified(&mm);
        check(&mm, pid, 9, &[4, 5], &format!("{arch:?} decommit"));
        page_out(&mm, pid);
        let child = mm.fork_process(pid, "child").unwrap();
        assert_verified(&mm);
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        mm.read_memory(child, BASE + 8 * PAGE_SIZE, &mut buf)
            .unwrap();
        assert!(
            buf == pattern(BASE + 8 * PAGE_SIZE, buf.len(), 9),
            "{arch:?}"
        );
        let clones = mm.clones(pid).unwrap().len();
        assert!(
            clones > 0,
            "{arch:?}: the fork shares pages through clone blocks"
        );
        page_out(&mm, child);
        page_out(&mm, pid);
        // The clones view reads the paged-out table without bringing it back.
        assert_eq!(mm.clones(pid).unwrap().len(), clones, "{arch:?}");
        assert!(table_of(&mm, pid, BASE).is_some());
        mm.terminate_process(child).unwrap();
        assert_verified(&mm);
        page_out(&mm, pid);
        mm.terminate_process(pid).unwrap();
        assert_verified(&mm);
        assert_eq!(used_slots(&mm), idle, "{arch:?}: slots leaked");
    }
}

#[test]
fn release_and_terminate_of_a_paged_out_table_free_its_slots() {
    for arch in ARCHES {
        let mm = machine(arch);
        let idle = used_slots(&mm);
        let pid = written(&mm, 1);
        page_out(&mm, pid);
        mm.free(pid, BASE, 0, true).unwrap();
        assert_verified(&mm);
        assert_eq!(table_of(&mm, pid, BASE), None);
        let other = written(&mm, 2);
        page_out(&mm, other);
        mm.terminate_process(other).unwrap();
        assert_verified(&mm);
        assert_eq!(used_slots(&mm), idle, "{arch:?}");
    }
}

#[test]
fn outswap_takes_the_page_tables_too() {
    for arch in ARCHES {
        let mm = machine(arch);
        let pid = written(&mm, 4);
        data_out(&mm, pid);
        mm.outswap(pid).unwrap();
        assert!(table_of(&mm, pid, BASE).is_some(), "{arch:?}");
        assert_verified(&mm);
        mm.inswap(pid).unwrap();
        let mut buf = vec![0u8; BYTES as usize];
        mm.read_memory(pid, BASE, &mut buf).unwrap();
        assert!(buf == pattern(BASE, buf.len(), 4));
        assert_verified(&mm);
    }
}

#[test]
fn commit_reset_and_unmap_over_a_paged_out_table() {
    const VIEW: u64 = 0x2000_0000;
    const WRITE_COPY: Protection = Protection::WRITECOPY;
    for arch in ARCHES {
        let mm = machine(arch);
        let idle = used_slots(&mm);
        let pid = written(&mm, 6);
        // Decommit part, page the table out, commit it again: the PTEs are
        // counted and changed in the table brought back.
        mm.free(pid, BASE + 10 * PAGE_SIZE, 2 * PAGE_SIZE, false)
            .unwrap();
        page_out(&mm, pid);
        mm.allocate(
            pid,
            &req(BASE + 10 * PAGE_SIZE, 2 * PAGE_SIZE, "commit", RW),
        )
        .unwrap();
        assert_verified(&mm);
        check(&mm, pid, 6, &[10, 11], &format!("{arch:?} commit"));
        // MEM_RESET over a paged-out table: the pages may read as zeros now.
        page_out(&mm, pid);
        mm.allocate(pid, &req(BASE, 4 * PAGE_SIZE, "reset", RW))
            .unwrap();
        assert_verified(&mm);
        check(
            &mm,
            pid,
            6,
            &[0, 1, 2, 3, 10, 11],
            &format!("{arch:?} reset"),
        );
        // A write-copy view with private copies in its own page table.
        mm.create_section("s", 64 << 10, None, RW, false).unwrap();
        let (va, _) = mm.map_view(pid, "s", VIEW, 0, 0, WRITE_COPY).unwrap();
        assert_eq!(va.0, VIEW);
        mm.write_memory(pid, VIEW, b"copied").unwrap();
        mm.trim(pid).unwrap();
        mm.flush_modified();
        mm.empty_standby();
        mm.empty_working_sets();
        assert!(table_of(&mm, pid, VIEW).is_some(), "{arch:?}");
        assert_verified(&mm);
        mm.unmap_view(pid, VIEW).unwrap();
        assert_verified(&mm);
        mm.terminate_process(pid).unwrap();
        mm.delete_section("s").unwrap();
        assert_verified(&mm);
        assert_eq!(used_slots(&mm), idle, "{arch:?}");
    }
}

#[test]
fn a_failed_page_table_read_is_an_in_page_error_and_the_next_touch_works() {
    for arch in ARCHES {
        let mm = machine(arch);
        let pid = written(&mm, 8);
        page_out(&mm, pid);
        mm.inject("pagefile-read", 1).unwrap();
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        let e = mm.read_memory(pid, BASE, &mut buf).unwrap_err();
        assert_eq!(e.error.status, NtStatus::IN_PAGE_ERROR, "{arch:?}: {e:?}");
        assert!(
            matches!(
                table_of(&mm, pid, BASE),
                Some(PagedOutTable::PagingFile { .. })
            ),
            "{arch:?}: the PDE still names the slot"
        );
        assert_verified(&mm);
        check(&mm, pid, 8, &[], &format!("{arch:?} after the failed read"));
        assert_verified(&mm);
    }
}
