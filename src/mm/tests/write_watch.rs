//! Write watch (MEM_WRITE_WATCH, GetWriteWatch, ResetWriteWatch; WRK
//! `wrtwatch.c`): which pages a write-watch region reports as written, through
//! every way a dirty page can leave its PTE, the statuses of refused calls
//! (each leaving everything as it was), fork's refusal, and the view.

use super::{RW, assert_verified, machine, req};
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid, Va, Vpn};
use crate::mm::pfn::PageLocation;
use crate::mm::vad::AllocRequest;
use crate::mm::{Mm, NtStatus};

const ALL_ARCHS: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];
const BASE: u64 = 0x10_0000;
const P: u64 = PAGE_SIZE;

/// `alloc ADDR SIZE reserve[,commit],write-watch readwrite`.
fn ww_req(address: u64, size: u64, commit: bool) -> AllocRequest {
    let mut r = req(
        address,
        size,
        if commit { "reserve,commit" } else { "reserve" },
        RW,
    );
    r.write_watch = true;
    r
}

/// A process with a committed 64 KB write-watch region at `BASE`.
fn setup(arch: Arch) -> (Mm, Pid) {
    let mm = machine(arch);
    let pid = mm.create_process("app").unwrap();
    let (base, size) = mm.allocate(pid, &ww_req(BASE, 0x10000, true)).unwrap();
    assert_eq!((base.0, size), (BASE, 0x10000));
    (mm, pid)
}

/// GetWriteWatch over the whole region, as page indexes.
fn written(mm: &Mm, pid: Pid) -> Vec<u64> {
    mm.get_write_watch(pid, BASE, 0x10000)
        .unwrap()
        .into_iter()
        .map(|va| (va.0 - BASE) / P)
        .collect()
}

fn write_page(mm: &Mm, pid: Pid, i: u64, tag: u8) {
    let data = vec![tag; P as usize];
    assert_eq!(
        mm.write_memory(pid, BASE + i * P, &data).unwrap(),
        data.len()
    );
}

fn read_page(mm: &Mm, pid: Pid, i: u64) -> Vec<u8> {
    let mut buf = vec![0u8; P as usize];
    assert_eq!(
        mm.read_memory(pid, BASE + i * P, &mut buf).unwrap(),
        buf.len()
    );
    buf
}

fn state(mm: &Mm, pid: Pid, i: u64) -> &'static str {
    mm.pte_detail(pid, BASE + i * P).unwrap().state
}

fn frame(mm: &Mm, pid: Pid, i: u64) -> Pfn {
    mm.pte_detail(pid, BASE + i * P)
        .unwrap()
        .pfn
        .expect("a frame")
}

fn dirty(mm: &Mm, pid: Pid, i: u64) -> bool {
    mm.pte_detail(pid, BASE + i * P)
        .unwrap()
        .valid_flags
        .expect("a valid PTE")
        .dirty
}

fn status<T: std::fmt::Debug>(r: MmResult<T>) -> NtStatus {
    r.unwrap_err().status
}

/// Trimmed, written to the paging file, its frame reused: the page is only
/// in the paging file now.
fn page_out(mm: &Mm, pid: Pid) {
    mm.trim(pid).unwrap();
    mm.flush_modified();
    mm.empty_standby();
}

/// MEM_RESERVE | MEM_WRITE_WATCH makes a VadWriteWatch VAD (`writewatch` in
/// `vads`); MEM_WRITE_WATCH without MEM_RESERVE, or with MEM_PHYSICAL, is
/// STATUS_INVALID_PARAMETER_5 and reserves nothing. Committing later inside
/// a reserve-only write-watch region works as for ordinary private memory.
#[test]
fn write_watch_allocation_makes_a_writewatch_vad() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let commit = mm.process_status(pid).unwrap().commit_charge;
        let mut no_reserve = ww_req(BASE, 0x10000, true);
        no_reserve.reserve = false;
        let mut physical = ww_req(BASE, 0x10000, false);
        physical.physical = true;
        for bad in [no_reserve, physical] {
            assert_eq!(
                status(mm.allocate(pid, &bad)),
                NtStatus::INVALID_PARAMETER_5
            );
        }
        assert!(mm.vads(pid).unwrap().is_empty());
        assert_eq!(mm.process_status(pid).unwrap().commit_charge, commit);
        mm.allocate(pid, &ww_req(BASE, 0x20000, false)).unwrap();
        let vads = mm.vads(pid).unwrap();
        assert_eq!(vads.len(), 1);
        assert_eq!(vads[0].type_name, "writewatch");
        assert!(vads[0].private && !vads[0].mem_commit);
        // Reserved only: not readable yet; commit two pages inside.
        let mut buf = [0u8; 8];
        assert!(mm.read_memory(pid, BASE, &mut buf).is_err());
        mm.allocate(pid, &req(BASE + 0x3000, 0x2000, "commit", RW))
            .unwrap();
        assert_eq!(mm.vads(pid).unwrap()[0].commit_pages, 2);
        mm.write_memory(pid, BASE + 0x4000, b"x").unwrap();
        mm.read_memory(pid, BASE + 0x3000, &mut buf).unwrap();
        assert_eq!(
            mm.get_write_watch(pid, BASE, 0x20000).unwrap(),
            vec![Va(BASE + 0x4000)]
        );
        assert_verified(&mm);
    }
}

/// A written page is reported, a page only read is not, even one read for
/// the first time (its demand-zero PTE stays clean in a write-watch region,
/// while its frame is Modified so it is still written out before reuse).
#[test]
fn written_pages_are_reported_and_read_pages_are_not() {
    for arch in ALL_ARCHS {
        let (mm, pid) = setup(arch);
        write_page(&mm, pid, 0, 1);
        write_page(&mm, pid, 2, 2);
        read_page(&mm, pid, 1);
        read_page(&mm, pid, 3);
        // A write of one byte is a write of its page.
        mm.write_memory(pid, BASE + 5 * P + 100, b"y").unwrap();
        assert_eq!(written(&mm, pid), [0, 2, 5], "{arch:?}");
        assert!(!dirty(&mm, pid, 1) && !dirty(&mm, pid, 3));
        assert!(mm.pfn_detail(frame(&mm, pid, 1)).unwrap().modified);
        // GetWriteWatch resets nothing: asking twice gives the same.
        assert_eq!(written(&mm, pid), [0, 2, 5]);
        // A sub-range reports only its own pages.
        assert_eq!(
            mm.get_write_watch(pid, BASE + 2 * P, 3 * P).unwrap(),
            vec![Va(BASE + 2 * P)]
        );
        assert_verified(&mm);
    }
}

/// ResetWriteWatch forgets the writes of its range and makes the valid PTEs
/// clean; the next write to a page that was dirty before the reset is
/// reported again, while a page written only before it is not. The dirty bit
/// goes to the frame's Modified flag first (MI_CAPTURE_DIRTY_BIT_TO_PFN), so
/// the data is still written to the paging file before the frame is reused.
#[test]
fn reset_forgets_and_the_next_write_is_reported_again() {
    for arch in ALL_ARCHS {
        let (mm, pid) = setup(arch);
        for i in 0..4 {
            write_page(&mm, pid, i, 0x40 + i as u8);
        }
        // Page 2 comes back from the paging file clean (its frame not
        // Modified, its slot a copy) and is written again: only its dirty
        // bit says the slot is stale.
        page_out(&mm, pid);
        read_page(&mm, pid, 2);
        assert!(!mm.pfn_detail(frame(&mm, pid, 2)).unwrap().modified);
        write_page(&mm, pid, 2, 0x62);
        for i in [0, 1, 3] {
            write_page(&mm, pid, i, 0x40 + i as u8);
        }
        assert_eq!(mm.reset_write_watch(pid, BASE, 0x10000).unwrap(), 4);
        assert!(mm.pfn_detail(frame(&mm, pid, 2)).unwrap().modified);
        assert!(written(&mm, pid).is_empty());
        assert!((0..4).all(|i| !dirty(&mm, pid, i)));
        // Already dirty before the reset: written again, reported again.
        write_page(&mm, pid, 1, 0x51);
        assert_eq!(written(&mm, pid), [1]);
        // A reset of part of the region leaves the rest as it was.
        write_page(&mm, pid, 3, 0x53);
        mm.reset_write_watch(pid, BASE + 3 * P, P).unwrap();
        assert_eq!(written(&mm, pid), [1]);
        // Pages 0 and 2 were written before the reset only: clean in their
        // PTEs, but Modified, so paging them out keeps their data.
        let f0 = frame(&mm, pid, 0);
        assert!(mm.pfn_detail(f0).unwrap().modified);
        page_out(&mm, pid);
        assert_eq!(state(&mm, pid, 0), "pagefile", "{arch:?}");
        assert_eq!(read_page(&mm, pid, 0), vec![0x40; P as usize]);
        assert_eq!(read_page(&mm, pid, 2), vec![0x62; P as usize]);
        assert_eq!(read_page(&mm, pid, 1), vec![0x51; P as usize]);
        // Read back: still not reported; page 1 (written since) still is.
        assert_eq!(written(&mm, pid), [1]);
        assert_verified(&mm);
    }
}

/// A written page that leaves the working set keeps its write in the VAD's
/// bitmap (MiCaptureWriteWatchDirtyBit): trimmed, written to the paging file,
/// its frame reused, then read back in (a clean PTE now), it is still
/// reported. A page only read, paged out and read back is not.
#[test]
fn a_written_page_paged_out_and_read_back_is_still_reported() {
    for arch in ALL_ARCHS {
        let (mm, pid) = setup(arch);
        write_page(&mm, pid, 0, 7);
        read_page(&mm, pid, 1);
        mm.trim(pid).unwrap();
        assert_eq!(state(&mm, pid, 0), "transition");
        assert_eq!(written(&mm, pid), [0]);
        page_out(&mm, pid);
        assert_eq!(state(&mm, pid, 0), "pagefile", "{arch:?}");
        assert_eq!(written(&mm, pid), [0]);
        assert_eq!(read_page(&mm, pid, 0), vec![7; P as usize]);
        read_page(&mm, pid, 1);
        assert_eq!(state(&mm, pid, 0), "valid");
        assert!(!dirty(&mm, pid, 0));
        assert_eq!(written(&mm, pid), [0]);
        // The reset clears the captured bit too.
        mm.reset_write_watch(pid, BASE, P).unwrap();
        assert!(written(&mm, pid).is_empty());
        assert_verified(&mm);
    }
}

/// Every other way a dirty page leaves the working set captures its bit:
/// outswap, empty-working-sets, a working-set replacement at a hard maximum,
/// protection to no-access, MEM_RESET and decommit.
#[test]
fn every_way_out_of_the_working_set_keeps_the_write() {
    for arch in ALL_ARCHS {
        let (mm, pid) = setup(arch);
        write_page(&mm, pid, 0, 1);
        mm.outswap(pid).unwrap();
        assert_eq!(written(&mm, pid), [0]);
        mm.inswap(pid).unwrap();
        write_page(&mm, pid, 1, 1);
        mm.empty_working_sets();
        assert_eq!(written(&mm, pid), [0, 1]);
        write_page(&mm, pid, 2, 1);
        mm.protect(
            pid,
            BASE + 2 * P,
            P,
            crate::mm::base::protection::Protection::NOACCESS,
        )
        .unwrap();
        assert_eq!(state(&mm, pid, 2), "transition");
        assert_eq!(written(&mm, pid), [0, 1, 2]);
        // MEM_RESET: the contents go, the record of the write stays.
        write_page(&mm, pid, 3, 1);
        mm.allocate(pid, &req(BASE + 3 * P, P, "reset", RW))
            .unwrap();
        assert!(!dirty(&mm, pid, 3));
        assert_eq!(written(&mm, pid), [0, 1, 2, 3]);
        // Decommit: the page is gone, its write is still reported.
        write_page(&mm, pid, 4, 1);
        mm.free(pid, BASE + 4 * P, P, false).unwrap();
        assert_eq!(state(&mm, pid, 4), "decommitted");
        assert_eq!(written(&mm, pid), [0, 1, 2, 3, 4]);
        assert_verified(&mm);
    }
}

/// A working-set replacement (a process at its hard maximum replaces its own
/// pages) captures the dirty bits of the pages it pushes out.
#[test]
fn replacement_at_the_maximum_keeps_every_write() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        mm.allocate(pid, &ww_req(BASE, 0x40000, true)).unwrap();
        mm.set_ws_limits_ex(pid, Some(20 * P), Some(32 * P), Some(true))
            .unwrap();
        for i in 0..64 {
            mm.write_memory(pid, BASE + i * P, &[i as u8]).unwrap();
        }
        assert!(mm.process_status(pid).unwrap().working_set_size <= 32);
        let pages = mm.get_write_watch(pid, BASE, 0x40000).unwrap();
        assert_eq!(
            pages,
            (0..64).map(|i| Va(BASE + i * P)).collect::<Vec<_>>(),
            "{arch:?}"
        );
        assert_verified(&mm);
    }
}

/// GetWriteWatch and ResetWriteWatch refuse, with WRK's statuses, a range
/// that is not inside one write-watch region, and change nothing:
/// _2 a base above MM_HIGHEST_VAD_ADDRESS, _3 a size running past it, a size
/// of 0 _4 (Get) or _3 (Reset), _1 no write-watch region at the base or the
/// range running past its end.
#[test]
fn refused_ranges_get_wrk_statuses_and_change_nothing() {
    for arch in ALL_ARCHS {
        let (mm, pid) = setup(arch);
        mm.allocate(pid, &req(0x20_0000, 0x10000, "reserve,commit", RW))
            .unwrap();
        write_page(&mm, pid, 0, 1);
        mm.trim(pid).unwrap();
        write_page(&mm, pid, 1, 1);
        let highest = crate::mm::vad::AddressLimits::for_layout(&mm.machine.layout).highest;
        let cases: [(u64, u64, NtStatus, NtStatus); 8] = [
            (
                highest + 1,
                P,
                NtStatus::INVALID_PARAMETER_2,
                NtStatus::INVALID_PARAMETER_2,
            ),
            (
                BASE,
                highest,
                NtStatus::INVALID_PARAMETER_3,
                NtStatus::INVALID_PARAMETER_3,
            ),
            (
                BASE,
                0,
                NtStatus::INVALID_PARAMETER_4,
                NtStatus::INVALID_PARAMETER_3,
            ),
            (
                0,
                0,
                NtStatus::INVALID_PARAMETER_1,
                NtStatus::INVALID_PARAMETER_1,
            ),
            (
                0x50_0000,
                P,
                NtStatus::INVALID_PARAMETER_1,
                NtStatus::INVALID_PARAMETER_1,
            ),
            // An ordinary private region is not a write-watch one.
            (
                0x20_0000,
                P,
                NtStatus::INVALID_PARAMETER_1,
                NtStatus::INVALID_PARAMETER_1,
            ),
            // Running past the region's end (into nothing, or the next VAD).
            (
                BASE + 0xF000,
                2 * P,
                NtStatus::INVALID_PARAMETER_1,
                NtStatus::INVALID_PARAMETER_1,
            ),
            (
                BASE,
                0x10_0001,
                NtStatus::INVALID_PARAMETER_1,
                NtStatus::INVALID_PARAMETER_1,
            ),
        ];
        for (address, size, get, reset) in cases {
            let what = format!("{arch:?} {address:#x} {size:#x}");
            assert_eq!(
                status(mm.get_write_watch(pid, address, size)),
                get,
                "{what}"
            );
            assert_eq!(
                status(mm.reset_write_watch(pid, address, size)),
                reset,
                "{what}"
            );
            assert_eq!(written(&mm, pid), [0, 1], "{what}");
            assert!(dirty(&mm, pid, 1));
        }
        let e = mm.reset_write_watch(pid, 0x20_0000, P).unwrap_err();
        assert!(e.message.contains("not a write-watch"), "{}", e.message);
        assert_verified(&mm);
    }
}

/// A write-watch VAD cannot be split: a partial release is
/// STATUS_FREE_VM_NOT_AT_BASE and keeps every bit; releasing it whole drops
/// its bits with it (a new region in its place starts empty).
#[test]
fn release_is_whole_and_drops_the_bits() {
    let (mm, pid) = setup(Arch::X86);
    write_page(&mm, pid, 0, 1);
    write_page(&mm, pid, 3, 1);
    mm.trim(pid).unwrap();
    for (address, size) in [(BASE, P), (BASE + P, P), (BASE + 0xF000, P)] {
        assert_eq!(
            status(mm.free(pid, address, size, true)),
            NtStatus::FREE_VM_NOT_AT_BASE
        );
    }
    assert_eq!(written(&mm, pid), [0, 3]);
    mm.free(pid, BASE, 0, true).unwrap();
    assert_eq!(
        status(mm.get_write_watch(pid, BASE, P)),
        NtStatus::INVALID_PARAMETER_1
    );
    assert!(mm.write_watch(pid).unwrap().is_empty());
    mm.allocate(pid, &ww_req(BASE, 0x10000, true)).unwrap();
    assert!(written(&mm, pid).is_empty());
    assert_verified(&mm);
}

/// WRK's MiCloneProcessAddressSpace refuses a process with any physical VAD,
/// a write-watch one included, with STATUS_INVALID_PAGE_PROTECTION, before
/// anything is made: no child appears. Without the region the fork works.
#[test]
fn fork_of_a_write_watch_process_is_refused() {
    let (mm, pid) = setup(Arch::X86);
    write_page(&mm, pid, 0, 9);
    let before = mm.processes().len();
    assert_eq!(
        status(mm.fork_process(pid, "child")),
        NtStatus::INVALID_PAGE_PROTECTION
    );
    assert_eq!(mm.processes().len(), before);
    assert!(mm.pid_of("child").is_none());
    assert_eq!(written(&mm, pid), [0]);
    assert_eq!(state(&mm, pid, 0), "valid");
    assert_verified(&mm);
    mm.free(pid, BASE, 0, true).unwrap();
    let child = mm.fork_process(pid, "child").unwrap();
    assert!(mm.pid_of("child") == Some(child));
    assert_verified(&mm);
}

/// The `write-watch` view: every write-watch region's written pages, region
/// by region in address order; ordinary regions are not in it.
#[test]
fn the_view_lists_every_region_in_address_order() {
    let (mm, pid) = setup(Arch::X64);
    let second = 0x40_0000;
    mm.allocate(pid, &ww_req(second, 0x10000, true)).unwrap();
    mm.allocate(pid, &req(0x20_0000, 0x10000, "reserve,commit", RW))
        .unwrap();
    mm.write_memory(pid, second + 0x2000, b"b").unwrap();
    mm.write_memory(pid, 0x20_0000, b"c").unwrap();
    write_page(&mm, pid, 4, 1);
    write_page(&mm, pid, 1, 1);
    let rows: Vec<(u64, u64)> = mm
        .write_watch(pid)
        .unwrap()
        .into_iter()
        .map(|r| (r.region, r.va))
        .collect();
    assert_eq!(
        rows,
        [
            (BASE, BASE + P),
            (BASE, BASE + 4 * P),
            (second, second + 0x2000)
        ]
    );
}

/// `verify` checks the bitmaps: a bit in a VAD that is not a write-watch one,
/// or outside its write-watch VAD, is reported.
#[test]
fn verify_finds_bits_where_they_cannot_be() {
    let (mm, pid) = setup(Arch::X86);
    mm.allocate(pid, &req(0x20_0000, 0x10000, "reserve,commit", RW))
        .unwrap();
    assert_verified(&mm);
    let p = mm.process(pid).unwrap();
    let outside = Va(BASE + 0x10000).vpn().0;
    p.space()
        .vads
        .find_mut(Vpn(Va(BASE).vpn().0))
        .unwrap()
        .write_watch
        .insert(outside);
    let r = mm.verify();
    assert!(
        r.violations.iter().any(|v| v.contains("outside it")),
        "{:?}",
        r.violations
    );
    {
        let mut space = p.space();
        let ww = space.vads.find_mut(Va(BASE).vpn()).unwrap();
        ww.write_watch.remove(&outside);
        let plain = space.vads.find_mut(Va(0x20_0000).vpn()).unwrap();
        plain.write_watch.insert(Va(0x20_0000).vpn().0);
    }
    let r = mm.verify();
    assert!(
        r.violations
            .iter()
            .any(|v| v.contains("is not a write-watch VAD")),
        "{:?}",
        r.violations
    );
    p.space()
        .vads
        .find_mut(Va(0x20_0000).vpn())
        .unwrap()
        .write_watch
        .clear();
    assert_verified(&mm);
    // The page lists are untouched by all this.
    assert!(mm.pfn_list(PageLocation::Bad).is_empty());
}
