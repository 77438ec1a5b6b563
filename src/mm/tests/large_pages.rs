//! MEM_LARGE_PAGES (WRK Server 2003 SP1, NtAllocateVirtualMemory's large-page
//! path and MiAllocateLargePages): contiguous aligned runs of frames mapped
//! by large PDEs, on x86 (4 MB), PAE and x64 (2 MB); and random sequences of
//! them among ordinary pages under paging pressure
//! (`random_large_page_operations_keep_bytes_counts_and_invariants`).

use super::{RW, assert_verified, meminfo};
use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::fault::FaultKind;
use crate::mm::pfn::PageLocation;
use crate::mm::vad::AllocRequest;
use crate::mm::{Mm, NtStatus};

const ALL_ARCHS: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];

fn large(arch: Arch) -> u64 {
    if arch == Arch::X86 { 4 << 20 } else { 2 << 20 }
}

fn frames(arch: Arch) -> u64 {
    large(arch) / PAGE_SIZE
}

/// A machine with room for three large pages of its arch.
fn machine(arch: Arch) -> Mm {
    Mm::new(MmConfig::for_tests(large(arch) * 5, arch)).unwrap()
}

/// reserve,commit,large-pages at `address`.
fn req_large(address: u64, size: u64, p: Protection) -> AllocRequest {
    let mut r = AllocRequest::new(address, size, p);
    r.reserve = true;
    r.commit = true;
    r.large_pages = true;
    r
}

fn status<T: std::fmt::Debug>(r: MmResult<T>) -> NtStatus {
    r.unwrap_err().status
}

/// The LargePage row of `usecounts`: total, active.
fn large_use(mm: &Mm) -> (u64, u64) {
    let row = mm
        .usecounts()
        .into_iter()
        .find(|r| r.name == "LargePage")
        .unwrap();
    (row.counts[0], row.counts[1])
}

fn pattern(len: usize, tag: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8 ^ tag).collect()
}

/// Everything a refused request must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    meminfo: Vec<(&'static str, u64)>,
    usecounts: Vec<[u64; 9]>,
    lists: Vec<Vec<Pfn>>,
    vads: usize,
    commit: u64,
}

fn snapshot(mm: &Mm, pid: Pid) -> Snapshot {
    Snapshot {
        meminfo: mm
            .meminfo()
            .into_iter()
            .filter(|(k, _)| *k != "CommitPeak")
            .collect(),
        usecounts: mm.usecounts().into_iter().map(|r| r.counts).collect(),
        lists: [
            PageLocation::Zeroed,
            PageLocation::Free,
            PageLocation::Standby,
            PageLocation::Modified,
        ]
        .into_iter()
        .map(|l| mm.pfn_list(l))
        .collect(),
        vads: mm.vads(pid).unwrap().len(),
        commit: mm.process_status(pid).unwrap().commit_charge,
    }
}

#[test]
fn large_pages_read_and_write_across_pages_and_large_pages() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let before = mm.process_status(pid).unwrap();
        let resident_before = meminfo(&mm, "ResidentAvailablePages");
        let lp = large(arch);
        let (base, size) = mm.allocate(pid, &req_large(0, 2 * lp, RW)).unwrap();
        assert_eq!(size, 2 * lp, "{arch:?}");
        assert_eq!(base.0 % lp, 0, "{arch:?}: base {:#x} not aligned", base.0);
        // NT hands out zeroed memory.
        let mut z = vec![1u8; 0x2000];
        mm.read_memory(pid, base.0 + lp - 0x1000, &mut z).unwrap();
        assert!(z.iter().all(|&b| b == 0), "{arch:?}");
        // Across 4 KB pages and from the first large page into the second.
        let data = pattern(0x6000, 0x5a);
        let at = base.0 + lp - 0x3001;
        assert_eq!(mm.write_memory(pid, at, &data).unwrap(), data.len());
        let mut back = vec![0u8; data.len()];
        assert_eq!(mm.read_memory(pid, at, &mut back).unwrap(), back.len());
        assert_eq!(back, data, "{arch:?}");
        let small = [1u8, 2, 3, 4];
        mm.write_memory(pid, base.0 + 0xffe, &small).unwrap();
        let mut b4 = [0u8; 4];
        mm.read_memory(pid, base.0 + 0xffe, &mut b4).unwrap();
        assert_eq!(b4, small);
        assert_verified(&mm);

        // The views: usecounts, status, vads, pte/<VA>, pfn/<PFN>, ptes.
        assert_eq!(large_use(&mm), (2 * frames(arch), 2 * frames(arch)));
        let after = mm.process_status(pid).unwrap();
        assert!(after.commit_charge >= before.commit_charge + 2 * frames(arch));
        assert_eq!(after.private_pages, before.private_pages, "{arch:?}");
        assert!(
            mm.workingset(pid)
                .unwrap()
                .iter()
                .all(|r| r.va < base.0 || r.va >= base.0 + size),
            "{arch:?}: a large page is in the working set"
        );
        assert_eq!(
            meminfo(&mm, "ResidentAvailablePages"),
            resident_before - 2 * frames(arch)
        );
        let vad = mm
            .vads(pid)
            .unwrap()
            .into_iter()
            .find(|v| v.start == base.0)
            .unwrap();
        assert_eq!(vad.type_name, "largepages");
        assert_eq!(vad.commit_pages, 2 * frames(arch));
        let d0 = mm.pte_detail(pid, base.0).unwrap();
        let d = mm.pte_detail(pid, base.0 + lp + 0x5123).unwrap();
        assert!(d.large_page && d0.large_page, "{arch:?}");
        assert_eq!(d.state, "valid");
        let pde = d.levels.last().unwrap();
        assert_eq!(pde.name, "PDE");
        let flags = pde.flags.unwrap();
        assert!(flags.large_page && flags.accessed && flags.dirty && flags.write);
        let first = pde.pfn.unwrap();
        assert_eq!(
            first.0 as u64 % frames(arch),
            0,
            "{arch:?}: run not aligned"
        );
        assert_eq!(d.pfn, Some(Pfn(first.0 + 5)));
        assert_eq!(
            d.physical_address,
            Some((first.0 as u64 + 5) * PAGE_SIZE + 0x123)
        );
        let row = mm.pfn_detail(Pfn(first.0 + 5)).unwrap();
        assert_eq!(row.use_.name(), "LargePage");
        assert_eq!(row.location, PageLocation::Active);
        assert_eq!(row.pid, Some(pid));
        assert_eq!(row.va, Some(base.0 + lp + 0x5000));
        let rows: Vec<_> = mm
            .ptes(pid)
            .unwrap()
            .into_iter()
            .filter(|r| r.va >= base.0 && r.va < base.0 + size)
            .collect();
        assert_eq!(rows.len() as u64, 2 * frames(arch));
        assert!(rows.iter().all(|r| r.state == "valid"));
        assert_eq!(rows[7].pfn_or_offset, Some(d0.pfn.unwrap().0 as u64 + 7));
        assert_eq!(rows[7].protection, Some(RW));
    }
}

#[test]
fn trimming_emptying_and_outswapping_leave_large_pages_resident() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (base, _) = mm.allocate(pid, &req_large(0, large(arch), RW)).unwrap();
        let data = pattern(0x3000, 7);
        mm.write_memory(pid, base.0 + 0x1800, &data).unwrap();
        let pfn = mm.pte_detail(pid, base.0).unwrap().pfn;
        mm.trim(pid).unwrap();
        mm.empty_working_sets();
        mm.outswap(pid).unwrap();
        // Four seconds of the working-set manager, the swapper and the writers.
        mm.tick(4000).unwrap();
        assert_verified(&mm);
        assert_eq!(mm.pte_detail(pid, base.0).unwrap().pfn, pfn, "{arch:?}");
        assert_eq!(large_use(&mm).1, frames(arch));
        mm.inswap(pid).unwrap();
        let hard = mm.process_status(pid).unwrap().hard_faults;
        let mut back = vec![0u8; data.len()];
        mm.read_memory(pid, base.0 + 0x1800, &mut back).unwrap();
        assert_eq!(back, data, "{arch:?}");
        assert_eq!(mm.process_status(pid).unwrap().hard_faults, hard);
        assert!(
            mm.workingset(pid)
                .unwrap()
                .iter()
                .all(|r| r.va < base.0 || r.va >= base.0 + large(arch)),
            "{arch:?}: a large page is in the working set"
        );
        assert_verified(&mm);
    }
}

#[test]
fn release_and_termination_free_the_frames_and_the_charges() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let commit = meminfo(&mm, "CommitCharge");
        let resident = meminfo(&mm, "ResidentAvailablePages");
        let free = meminfo(&mm, "FreePages") + meminfo(&mm, "ZeroedPages");
        let (base, _) = mm
            .allocate(pid, &req_large(0, 2 * large(arch), RW))
            .unwrap();
        mm.write_memory(pid, base.0, b"x").unwrap();
        assert_eq!(
            mm.free(pid, base.0, 0, true).unwrap(),
            (base, 2 * large(arch))
        );
        assert_eq!(meminfo(&mm, "CommitCharge"), commit, "{arch:?}");
        assert_eq!(meminfo(&mm, "ResidentAvailablePages"), resident);
        assert_eq!(large_use(&mm), (0, 0));
        assert!(meminfo(&mm, "FreePages") + meminfo(&mm, "ZeroedPages") >= free);
        let f = mm.read_memory(pid, base.0, &mut [0u8; 4]).unwrap_err();
        assert_eq!(f.kind, FaultKind::NotCommitted);
        assert_verified(&mm);
        // Terminating the process frees them too.
        let (_, _) = mm.allocate(pid, &req_large(0, large(arch), RW)).unwrap();
        assert_eq!(large_use(&mm).0, frames(arch));
        mm.terminate_process(pid).unwrap();
        assert_eq!(large_use(&mm), (0, 0));
        assert_verified(&mm);
    }
}

/// WRK MiCloneProcessAddressSpace refuses a process with any physical VAD,
/// large pages included (STATUS_INVALID_PAGE_PROTECTION), and makes nothing.
#[test]
fn a_process_with_large_pages_cannot_fork() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (base, _) = mm.allocate(pid, &req_large(0, large(arch), RW)).unwrap();
        mm.write_memory(pid, base.0 + 8, b"parent").unwrap();
        let processes = mm.processes().len();
        let e = mm.fork_process(pid, "child").unwrap_err();
        assert_eq!(e.status, NtStatus::INVALID_PAGE_PROTECTION, "{arch:?}");
        assert_eq!(mm.processes().len(), processes, "{arch:?}");
        let mut b = [0u8; 6];
        mm.read_memory(pid, base.0 + 8, &mut b).unwrap();
        assert_eq!(&b, b"parent");
        assert_eq!(large_use(&mm).0, frames(arch));
        assert_verified(&mm);
    }
}

#[test]
fn bad_large_page_requests_get_nt_statuses_and_change_nothing() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let lp = large(arch);
        let (base, _) = mm.allocate(pid, &req_large(0, lp, RW)).unwrap();
        let snap = snapshot(&mm, pid);
        let mut reserve_only = req_large(0, lp, RW);
        reserve_only.commit = false;
        let mut write_watch = req_large(0, lp, RW);
        write_watch.write_watch = true;
        let mut physical = req_large(0, lp, RW);
        physical.physical = true;
        let cases = [
            (reserve_only, NtStatus::INVALID_PARAMETER_5),
            (write_watch, NtStatus::INVALID_PARAMETER_5),
            (physical, NtStatus::INVALID_PARAMETER_5),
            (
                req_large(0, lp + PAGE_SIZE, RW),
                NtStatus::INVALID_PARAMETER_4,
            ),
            (req_large(0, lp / 2, RW), NtStatus::INVALID_PARAMETER_4),
            // More than RAM: no runs (found before anything is charged).
            (req_large(0, 64 * lp, RW), NtStatus::INSUFFICIENT_RESOURCES),
            (
                req_large(0, lp, Protection::WRITECOPY),
                NtStatus::INVALID_PAGE_PROTECTION,
            ),
            // The base rounds down to the large page: onto the one there.
            (
                req_large(base.0 + 0x10000, lp, RW),
                NtStatus::CONFLICTING_ADDRESSES,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(status(mm.allocate(pid, &r)), want, "{arch:?} {r:?}");
        }
        // Committing inside it, decommitting, partial release, protection
        // other than read/write, locking.
        let mut commit = AllocRequest::new(base.0, PAGE_SIZE, RW);
        commit.commit = true;
        assert_eq!(
            status(mm.allocate(pid, &commit)),
            NtStatus::CONFLICTING_ADDRESSES
        );
        assert_eq!(
            status(mm.free(pid, base.0, PAGE_SIZE, false)),
            NtStatus::MEMORY_NOT_ALLOCATED
        );
        assert_eq!(
            status(mm.free(pid, base.0, PAGE_SIZE, true)),
            NtStatus::FREE_VM_NOT_AT_BASE
        );
        assert_eq!(
            status(mm.free(pid, base.0 + 0x1000, 0, true)),
            NtStatus::FREE_VM_NOT_AT_BASE
        );
        assert_eq!(
            status(mm.protect(pid, base.0, PAGE_SIZE, Protection::READONLY)),
            NtStatus::CONFLICTING_ADDRESSES
        );
        assert_eq!(
            status(mm.lock(pid, base.0, PAGE_SIZE)),
            NtStatus::INCOMPATIBLE_FILE_MAP
        );
        assert_eq!(
            status(mm.unlock(pid, base.0, PAGE_SIZE)),
            NtStatus::INCOMPATIBLE_FILE_MAP
        );
        let mut reset = AllocRequest::new(base.0, PAGE_SIZE, RW);
        reset.reset = true;
        assert_eq!(
            status(mm.allocate(pid, &reset)),
            NtStatus::CONFLICTING_ADDRESSES
        );
        assert_eq!(snapshot(&mm, pid), snap, "{arch:?}");
        // PAGE_READWRITE is what it is already.
        let old = mm.protect(pid, base.0, PAGE_SIZE, RW).unwrap();
        assert_eq!(old.value, RW);
        assert_verified(&mm);
    }
}

/// Touches `pages` pages of a new committed region of `pid`, each written
/// with a pattern naming it; returns the region's base.
fn fill(mm: &Mm, pid: Pid, pages: u64) -> Va {
    // A working set big enough to keep every page (MmMaximumWorkingSetSize
    // is RAM less 512 pages).
    mm.set_ws_limits(pid, Some(0), Some(pages * PAGE_SIZE + (64 << 20)))
        .unwrap();
    let mut r = AllocRequest::new(0, pages * PAGE_SIZE, RW);
    r.reserve = true;
    r.commit = true;
    let (base, _) = mm.allocate(pid, &r).unwrap();
    // Page tables first, so that they sit together in the first frames
    // taken rather than one in every large page's worth of RAM.
    let per_table = (2 << 20) / PAGE_SIZE;
    for i in (0..pages).step_by(per_table as usize) {
        mm.write_memory(
            pid,
            base.0 + i * PAGE_SIZE,
            &pattern(PAGE_SIZE as usize, i as u8),
        )
        .unwrap();
    }
    for i in 0..pages {
        let page = pattern(PAGE_SIZE as usize, i as u8);
        mm.write_memory(pid, base.0 + i * PAGE_SIZE, &page).unwrap();
    }
    base
}

/// MiFindLargePageMemory finds no run when every aligned run holds an active
/// or modified page: STATUS_INSUFFICIENT_RESOURCES, and nothing changed (no
/// frame taken, no commit charged, no VAD).
#[test]
fn no_contiguous_run_is_insufficient_resources_and_changes_nothing() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        // One process takes RAM until fewer free pages than one large page
        // are left, all in its working set.
        let filler = mm.create_process("filler").unwrap();
        let free = meminfo(&mm, "FreePages") + meminfo(&mm, "ZeroedPages");
        fill(&mm, filler, free - frames(arch) / 2);
        assert!(meminfo(&mm, "FreePages") + meminfo(&mm, "ZeroedPages") < frames(arch));
        assert_eq!(meminfo(&mm, "StandbyPages"), 0, "{arch:?}");
        let snap = snapshot(&mm, pid);
        let r = mm.allocate(pid, &req_large(0, large(arch), RW));
        assert_eq!(status(r), NtStatus::INSUFFICIENT_RESOURCES, "{arch:?}");
        assert_eq!(snapshot(&mm, pid), snap, "{arch:?}");
        assert_eq!(large_use(&mm), (0, 0));
        assert_verified(&mm);
    }
}

/// With no run of free pages, one is made by taking standby pages
/// (repurposed: their owners' PTEs go back to their paging-file form), and
/// their owners read their data back from the paging file.
#[test]
fn a_run_is_made_from_standby_pages_whose_owners_fault_them_back() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let p = mm.create_process("filler").unwrap();
        let free = meminfo(&mm, "FreePages") + meminfo(&mm, "ZeroedPages");
        let pages = free - frames(arch) / 2;
        let filled = [(p, fill(&mm, p, pages), pages)];
        // Every filled page to standby, its page tables too: trimmed,
        // written, clean.
        mm.empty_working_sets();
        mm.flush_modified();
        assert!(meminfo(&mm, "StandbyPages") > 0);
        let repurposed = mm.counter("pages_repurposed");
        let (base, _) = mm.allocate(pid, &req_large(0, large(arch), RW)).unwrap();
        assert!(mm.counter("pages_repurposed") > repurposed, "{arch:?}");
        let mut z = vec![1u8; PAGE_SIZE as usize];
        for i in [0, frames(arch) - 1] {
            mm.read_memory(pid, base.0 + i * PAGE_SIZE, &mut z).unwrap();
            assert!(
                z.iter().all(|&b| b == 0),
                "{arch:?}: a large page not zeroed"
            );
        }
        assert_verified(&mm);
        // Every owner reads its pages back, soft or hard.
        for &(p, at, pages) in &filled {
            for i in 0..pages {
                let mut b = vec![0u8; PAGE_SIZE as usize];
                mm.read_memory(p, at.0 + i * PAGE_SIZE, &mut b).unwrap();
                assert_eq!(
                    b,
                    pattern(PAGE_SIZE as usize, i as u8),
                    "{arch:?} {p} page {i}"
                );
            }
        }
        assert!(
            filled
                .iter()
                .any(|&(p, _, _)| mm.process_status(p).unwrap().hard_faults > 0)
        );
        assert_verified(&mm);
    }
}

/// MmProbeAndLockPages on a large page takes a reference on its frame; a
/// release of the VAD meanwhile leaves the locked frames for the last unlock
/// to free, as any released page.
#[test]
fn an_mdl_lock_outlives_the_release_of_a_large_page() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (base, _) = mm.allocate(pid, &req_large(0, large(arch), RW)).unwrap();
        mm.write_memory(pid, base.0 + 0x3000, b"dma").unwrap();
        let id = mm
            .mdl_probe_and_lock(pid, base.0 + 0x3000, 2 * PAGE_SIZE, true)
            .unwrap();
        let pfns = mm.mdl(id).unwrap().pfns;
        let first = mm.pte_detail(pid, base.0).unwrap().pfn.unwrap();
        assert_eq!(pfns, vec![Pfn(first.0 + 3), Pfn(first.0 + 4)], "{arch:?}");
        assert_eq!(mm.pfn_detail(pfns[0]).unwrap().reference_count, 2);
        assert_verified(&mm);
        mm.free(pid, base.0, 0, true).unwrap();
        assert_verified(&mm);
        for &p in &pfns {
            assert_eq!(mm.pfn_detail(p).unwrap().location, PageLocation::Transition);
        }
        assert_eq!(large_use(&mm).0, 2);
        mm.mdl_unlock(id).unwrap();
        mm.mdl_free(id).unwrap();
        assert_eq!(large_use(&mm), (0, 0));
        for &p in &pfns {
            assert_eq!(mm.pfn_detail(p).unwrap().location, PageLocation::Free);
        }
        assert_verified(&mm);
    }
}

/// The page-table walkers treat a large PDE as the end of the walk: no leaf,
/// no entries below it, never a table to free or page, and `ensure_leaf`
/// refuses to put a page table in its place (its frame holds data, not PTEs).
#[test]
fn walkers_never_look_below_a_large_pde() {
    use crate::mm::hw::pte::Level;
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let lp = large(arch);
        let (base, _) = mm.allocate(pid, &req_large(0, lp, RW)).unwrap();
        // Data that would read as valid PTEs if a walk took the frame for a table.
        let fake = vec![0x67u8; 0x2000];
        mm.write_memory(pid, base.0, &fake).unwrap();
        let m = mm.machine();
        let p = mm.process(pid).unwrap();
        let mut space = p.space();
        let tables = space.tables(m);
        assert_eq!(tables.leaf(Va(base.0 + 0x1000)), None, "{arch:?}");
        let walk = tables.walk(Va(base.0 + 0x1000));
        assert_eq!(walk.last().unwrap().0, Level::Pde);
        let mut below = 0;
        tables.for_each_entry(base.0, base.0 + lp - 1, &mut |level, _, _, _| {
            // The directories above are visited; the PDE and below never.
            if level <= Level::Pde {
                below += 1
            }
        });
        assert_eq!(
            below, 0,
            "{arch:?}: for_each_entry visited the large PDE or below"
        );
        assert!(
            tables
                .nonzero_ptes(base.vpn(), Va(base.0 + lp - 1).vpn())
                .is_empty()
        );
        assert_eq!(
            tables.large_pdes(0, m.layout.highest_user_address()).len(),
            1
        );
        let e = space.ensure_leaf(m, Va(base.0 + 0x1000)).unwrap_err();
        assert_eq!(e.status, NtStatus::CONFLICTING_ADDRESSES);
        assert_eq!(space.trim_page_tables(m), 0);
        drop(space);
        assert_verified(&mm);
        let mut back = vec![0u8; fake.len()];
        mm.read_memory(pid, base.0, &mut back).unwrap();
        assert_eq!(back, fake);
    }
}

/// A large page's frame cannot be marked bad: nothing would ever fault on it
/// to report the error (its PDE is never made invalid).
#[test]
fn a_large_page_frame_cannot_be_marked_bad() {
    let mm = machine(Arch::X64);
    let pid = mm.create_process("app").unwrap();
    let (base, _) = mm
        .allocate(pid, &req_large(0, large(Arch::X64), RW))
        .unwrap();
    let pfn = mm.pte_detail(pid, base.0 + 0x7000).unwrap().pfn.unwrap();
    assert_eq!(status(mm.mark_page_bad(pfn)), NtStatus::INVALID_PARAMETER);
    assert!(!mm.pfn_detail(pfn).unwrap().in_page_error);
    assert_verified(&mm);
}

/// The random test's expectations: every large-page region and ordinary
/// region of one process, with the bytes it must hold.
struct Region {
    pid: Pid,
    base: u64,
    bytes: Vec<u8>,
    large: bool,
}

/// One random step: a large-page allocation (which may find no run and must
/// then change nothing), a release, a write or read through either kind of
/// region, or paging pressure (trim everything, write the modified pages,
/// empty standby) that must leave large pages where they are and let runs be
/// made from what standby held.
fn large_page_step(
    mm: &Mm,
    arch: Arch,
    pids: &[Pid],
    model: &mut Vec<Region>,
    rng: &mut crate::mm::testutil::XorShift,
) {
    let pid = pids[rng.below(pids.len() as u64) as usize];
    match rng.below(10) {
        0 | 1 => {
            let n = 1 + rng.below(2);
            let vads = mm.vads(pid).unwrap().len();
            let free = meminfo(mm, "FreePages") + meminfo(mm, "ZeroedPages");
            match mm.allocate(pid, &req_large(0, n * large(arch), RW)) {
                Ok((base, size)) => model.push(Region {
                    pid,
                    base: base.0,
                    bytes: vec![0; size as usize],
                    large: true,
                }),
                Err(e) => {
                    assert!(
                        matches!(
                            e.status,
                            NtStatus::INSUFFICIENT_RESOURCES | NtStatus::COMMITMENT_LIMIT
                        ),
                        "{arch:?}: {e:?}"
                    );
                    assert_eq!(
                        mm.vads(pid).unwrap().len(),
                        vads,
                        "{arch:?}: a refused allocation left a VAD"
                    );
                    assert_eq!(meminfo(mm, "FreePages") + meminfo(mm, "ZeroedPages"), free);
                }
            }
        }
        2 => {
            if let Some(i) = (!model.is_empty()).then(|| rng.below(model.len() as u64) as usize) {
                let r = model.swap_remove(i);
                mm.free(r.pid, r.base, 0, true).unwrap();
            }
        }
        3 => {
            mm.empty_working_sets();
            mm.flush_modified();
            if rng.below(2) == 0 {
                mm.empty_standby();
            }
        }
        _ => large_page_access(mm, model, rng),
    }
}

/// A write or a read of a few bytes somewhere in a random region, checked
/// against the model.
fn large_page_access(mm: &Mm, model: &mut [Region], rng: &mut crate::mm::testutil::XorShift) {
    if model.is_empty() {
        return;
    }
    let r = &mut model[rng.below(model.len() as u64) as usize];
    let len = 1 + rng.below(3 * PAGE_SIZE) as usize;
    let off = rng.below(r.bytes.len() as u64 - len as u64 + 1) as usize;
    if rng.below(2) == 0 {
        let data = pattern(len, rng.below(256) as u8);
        assert_eq!(
            mm.write_memory(r.pid, r.base + off as u64, &data).unwrap(),
            len
        );
        r.bytes[off..off + len].copy_from_slice(&data);
    } else {
        let mut got = vec![0u8; len];
        mm.read_memory(r.pid, r.base + off as u64, &mut got)
            .unwrap();
        assert!(
            got == r.bytes[off..off + len],
            "large={} at {:#x}",
            r.large,
            r.base + off as u64
        );
    }
}

/// Random large-page allocations and releases among ordinary pages under
/// paging pressure, on every arch: the bytes of both kinds always read back,
/// the LargePage use count is exactly the regions' frames, and `verify` holds.
#[test]
fn random_large_page_operations_keep_bytes_counts_and_invariants() {
    for (seed, arch) in [(7u64, Arch::X86), (11, Arch::Pae), (13, Arch::X64)] {
        let mm = machine(arch);
        let mut rng = crate::mm::testutil::XorShift(seed);
        let pids = [
            mm.create_process("a").unwrap(),
            mm.create_process("b").unwrap(),
        ];
        let mut model = Vec::new();
        let (mut made, mut held) = (0u64, 0u64);
        for &pid in &pids {
            let mut r = AllocRequest::new(0, large(arch), RW);
            r.reserve = true;
            r.commit = true;
            let (base, size) = mm.allocate(pid, &r).unwrap();
            model.push(Region {
                pid,
                base: base.0,
                bytes: vec![0; size as usize],
                large: false,
            });
        }
        for step in 0..400 {
            large_page_step(&mm, arch, &pids, &mut model, &mut rng);
            made += u64::from(model.iter().filter(|r| r.large).count() as u64 > held);
            held = model.iter().filter(|r| r.large).count() as u64;
            if step % 20 == 19 {
                let frames_held: u64 = model
                    .iter()
                    .filter(|r| r.large)
                    .map(|r| r.bytes.len() as u64 / PAGE_SIZE)
                    .sum();
                assert_eq!(large_use(&mm).0, frames_held, "{arch:?} step {step}");
                assert_verified(&mm);
            }
        }
        // The sequence must have exercised what it claims to.
        assert!(
            made >= 5,
            "{arch:?}: only {made} large-page allocations succeeded"
        );
    }
}
