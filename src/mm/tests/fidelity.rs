//! The fidelity fixes of issue 21, one test per behaviour. Each test is named
//! after the WRK (Server 2003 SP1) routine whose rule it checks, and checks it
//! the way a user of the services would see it: statuses, commit charges,
//! PTE states, PFN lists, working-set rows.

use super::{RW, assert_verified, machine, meminfo, req, small_machine};
use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::fault::FaultKind;
use crate::mm::pfn::PageLocation;
use crate::mm::vad::{AddressLimits, AllocPlan, VadTree, plan_allocate};
use crate::mm::{Mm, NtStatus};

const RO: Protection = Protection::READONLY;
const ALL_ARCHS: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];

/// The status of a refused call.
fn status<T: std::fmt::Debug>(r: MmResult<T>) -> NtStatus {
    r.unwrap_err().status
}

fn commit_charge(mm: &Mm) -> u64 {
    meminfo(mm, "CommitCharge")
}

fn process_commit(mm: &Mm, pid: Pid) -> u64 {
    mm.process_status(pid).unwrap().commit_charge
}

fn pte_state(mm: &Mm, pid: Pid, va: u64) -> &'static str {
    mm.pte_detail(pid, va).unwrap().state
}

/// The frame behind a valid or transition PTE.
fn frame(mm: &Mm, pid: Pid, va: u64) -> Pfn {
    mm.pte_detail(pid, va).unwrap().pfn.expect("a frame")
}

fn on_list(mm: &Mm, loc: PageLocation, pfn: Pfn) -> bool {
    mm.pfn_list(loc).contains(&pfn)
}

/// The working-set row of the page at `va`.
fn ws_row(mm: &Mm, pid: Pid, va: u64) -> Option<crate::mm::inspect::WsRow> {
    mm.workingset(pid).unwrap().into_iter().find(|r| r.va == va)
}

fn read_page(mm: &Mm, pid: Pid, va: u64) -> Vec<u8> {
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    assert_eq!(mm.read_memory(pid, va, &mut buf).unwrap(), buf.len());
    buf
}

/// A page of bytes that says which page it is.
fn pattern(tag: u8) -> Vec<u8> {
    (0..PAGE_SIZE as usize)
        .map(|i| (i % 251) as u8 ^ tag)
        .collect()
}

// --- 1. The bounds of NtAllocateVirtualMemory, NtProtectVirtualMemory and
// NtFreeVirtualMemory ---

/// NtAllocateVirtualMemory: no VAD may reach above MM_HIGHEST_VAD_ADDRESS, the
/// highest user address less the 64 KB that hold the shared user data page.
/// A base above it is STATUS_INVALID_PARAMETER_2, a size running past it _4;
/// the last 64 KB below it can be reserved, and a top-down reservation ends
/// there. Checked on x86, PAE, x86 with /3GB and x64.
#[test]
fn nt_allocate_virtual_memory_stops_at_mm_highest_vad_address() {
    // (arch, /3GB, MM_HIGHEST_VAD_ADDRESS + 1)
    for (arch, three_gb, top) in [
        (Arch::X86, false, 0x7ffe_0000u64),
        (Arch::Pae, false, 0x7ffe_0000),
        (Arch::X86, true, 0xbffe_0000),
        (Arch::X64, false, 0x7ff_fffe_0000),
    ] {
        let what = format!("{arch:?} /3GB={three_gb}");
        let mut config = MmConfig::for_tests(16 << 20, arch);
        config.three_gb = three_gb;
        let mm = Mm::new(config).unwrap();
        let pid = mm.create_process("app").unwrap();
        assert_eq!(mm.highest_user_address(), top + 0xffff, "{what}");
        let alloc =
            |address: u64, size: u64, flags: &str| mm.allocate(pid, &req(address, size, flags, RW));
        assert_eq!(
            status(alloc(top, 0x10000, "reserve")),
            NtStatus::INVALID_PARAMETER_2,
            "{what}"
        );
        assert_eq!(
            status(alloc(top - 0x30000, 0x30001, "reserve")),
            NtStatus::INVALID_PARAMETER_4,
            "{what}: one byte past the top"
        );
        assert_eq!(
            status(alloc(top - 0x10000, 0, "reserve")),
            NtStatus::INVALID_PARAMETER_4,
            "{what}: size 0"
        );
        assert!(mm.vads(pid).unwrap().is_empty(), "{what}");
        // A 1 MB top-down reservation ends at MM_HIGHEST_VAD_ADDRESS (x86:
        // 0x7fee0000-0x7ffdffff).
        let (down, size) = alloc(0, 1 << 20, "reserve,top-down").unwrap();
        assert_eq!((down, size), (Va(top - 0x10_0000), 1 << 20), "{what}");
        mm.free(pid, down.0, 0, true).unwrap();
        // The last 64 KB below the top fit exactly.
        let (b, size) = alloc(top - 0x10000, 0x10000, "reserve").unwrap();
        assert_eq!((b, size), (Va(top - 0x10000), 0x10000), "{what}");
        assert_verified(&mm);
    }
    // The /3GB top is refused without the switch.
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    assert_eq!(
        status(mm.allocate(pid, &req(0xbffd_0000, 0x10000, "reserve", RW))),
        NtStatus::INVALID_PARAMETER_2
    );
}

/// NtAllocateVirtualMemory numbers the parameter it refuses: the type
/// (AllocationType) is the fifth, a MEM_PHYSICAL protection other than
/// PAGE_READWRITE the sixth. Nothing is reserved or charged by a refusal.
#[test]
fn nt_allocate_virtual_memory_numbers_its_parameters() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let charge = commit_charge(&mm);
    for (r, want) in [
        (req(0, 0x1000, "", RW), NtStatus::INVALID_PARAMETER_5),
        (
            req(0, 0x1000, "reset,commit", RW),
            NtStatus::INVALID_PARAMETER_5,
        ),
        (
            req(0, 0, "reserve,commit", RW),
            NtStatus::INVALID_PARAMETER_4,
        ),
    ] {
        assert_eq!(status(mm.allocate(pid, &r)), want, "{r:?}");
    }
    assert!(mm.vads(pid).unwrap().is_empty());
    assert_eq!(commit_charge(&mm), charge);
    // MEM_PHYSICAL (AWE) memory must be PAGE_READWRITE. The rule lives in the
    // VAD layer's plan (Mm::allocate refuses every MEM_PHYSICAL request as not
    // simulated before it gets there).
    let limits = AddressLimits::for_layout(mm.layout());
    let mut physical = req(0, 0x10000, "reserve", RO);
    physical.physical = true;
    let e = plan_allocate(&VadTree::default(), &physical, limits).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER_6);
    physical.protection = RW;
    assert!(matches!(
        plan_allocate(&VadTree::default(), &physical, limits),
        Ok(AllocPlan::Reserve { .. })
    ));
    // MEM_PHYSICAL with MEM_COMMIT is a bad type, not a bad protection.
    physical.commit = true;
    physical.protection = RO;
    let e = plan_allocate(&VadTree::default(), &physical, limits).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER_5);
    assert_verified(&mm);
}

/// NtAllocateVirtualMemory checks a MEM_PHYSICAL request's protection
/// (STATUS_INVALID_PARAMETER_6) with its other parameters, before anything
/// else is looked at: only a valid request meets mmfs's STATUS_NOT_SUPPORTED
/// for the kinds it does not simulate yet (it once came first).
#[test]
fn nt_allocate_virtual_memory_checks_mem_physical_parameters_first() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let mut physical = req(0, 0x10000, "reserve", RO);
    physical.physical = true;
    assert_eq!(
        status(mm.allocate(pid, &physical)),
        NtStatus::INVALID_PARAMETER_6
    );
    physical.commit = true;
    assert_eq!(
        status(mm.allocate(pid, &physical)),
        NtStatus::INVALID_PARAMETER_5
    );
    assert_verified(&mm);
}

/// NtProtectVirtualMemory and NtFreeVirtualMemory check their range against
/// MM_HIGHEST_USER_ADDRESS (0x7ffeffff on x86), not the VAD limit: a base
/// above it is STATUS_INVALID_PARAMETER_2, a size of 0 (protect) or one
/// running past it _3. An address between the two limits passes the check and
/// finds no VAD.
#[test]
fn nt_protect_and_nt_free_virtual_memory_check_mm_highest_user_address() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x10000, "reserve,commit", RW))
        .unwrap();
    let protect = |address: u64, size: u64| mm.protect(pid, address, size, RO);
    assert_eq!(
        status(protect(0x8000_0000, 0x1000)),
        NtStatus::INVALID_PARAMETER_2
    );
    assert_eq!(status(protect(b.0, 0)), NtStatus::INVALID_PARAMETER_3);
    // WRK's test is `highest - base < size`: a range ending exactly at the
    // highest user address is refused too.
    assert_eq!(
        status(protect(0x7ffe_0000, 0x10000)),
        NtStatus::INVALID_PARAMETER_3
    );
    assert_eq!(
        status(protect(0x7ffe_0000, 0x1000)),
        NtStatus::CONFLICTING_ADDRESSES
    );
    assert_eq!(
        status(mm.free(pid, 0x8000_0000, 0, true)),
        NtStatus::INVALID_PARAMETER_2
    );
    assert_eq!(
        status(mm.free(pid, 0x7ffe_0000, 0x10000, true)),
        NtStatus::INVALID_PARAMETER_3
    );
    assert_eq!(
        status(mm.free(pid, 0x7ffe_0000, 0x1000, true)),
        NtStatus::MEMORY_NOT_ALLOCATED
    );
    // Nothing of the real reservation changed.
    assert_eq!(protect(b.0, 0x1000).unwrap().value, RW);
    assert_eq!(mm.vads(pid).unwrap().len(), 1);
    assert_verified(&mm);
}

// --- 2. Page tables charged with their VADs ---

/// MiInsertVadCharges: a reservation, even one with nothing committed, is
/// charged one page of commit for every page table its range needs (x64: and
/// every page directory and page-directory-pointer page), to the system's
/// CommitCharge and the process's alike; releasing it gives them back.
///
/// `alloc 0 256M reserve` lands at 0x10000 (the lowest address the system
/// hands out), so it spans 0x10000-0x1000ffff: 65 x86 page tables of 4 MB
/// (indexes 0 to 0x40), not 64, and 129 PAE/x64 tables of 2 MB; x64 adds the
/// one page directory and the one PDP page above them.
#[test]
fn mi_insert_vad_charges_a_reservations_page_tables() {
    for (arch, tables) in [(Arch::X86, 65), (Arch::Pae, 129), (Arch::X64, 129 + 1 + 1)] {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (system, own) = (commit_charge(&mm), process_commit(&mm, pid));
        let (b, size) = mm.allocate(pid, &req(0, 256 << 20, "reserve", RW)).unwrap();
        assert_eq!((b, size), (Va(0x10000), 256 << 20), "{arch:?}");
        assert_eq!(commit_charge(&mm), system + tables, "{arch:?}");
        assert_eq!(process_commit(&mm, pid), own + tables, "{arch:?}");
        assert_eq!(mm.vads(pid).unwrap()[0].commit_pages, 0, "reserved only");
        // Committing inside costs the pages only: their tables are paid for.
        mm.allocate(pid, &req(b.0 + (100 << 20), 0x3000, "commit", RW))
            .unwrap();
        assert_eq!(commit_charge(&mm), system + tables + 3, "{arch:?}");
        // Touching makes page tables, at no further charge.
        mm.write_memory(pid, b.0 + (100 << 20), b"x").unwrap();
        assert_eq!(commit_charge(&mm), system + tables + 3, "{arch:?}");
        assert_verified(&mm);
        mm.free(pid, b.0, 0, true).unwrap();
        assert_eq!(commit_charge(&mm), system, "{arch:?}");
        assert_eq!(process_commit(&mm, pid), own, "{arch:?}");
        assert_verified(&mm);
    }
}

/// MiReturnPageTablePageCommitment: two reservations in one 4 MB page table
/// share its charge, and the charge stays while any VAD still covers the
/// table; releasing the last one returns it. Releasing part of a VAD returns
/// the tables that part alone needed.
#[test]
fn mi_return_page_table_page_commitment_waits_for_the_last_vad() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let charge = commit_charge(&mm);
    let reserve = |address: u64, size: u64| {
        let (b, _) = mm
            .allocate(pid, &req(address, size, "reserve", RW))
            .unwrap();
        assert_eq!(b, Va(address));
    };
    reserve(0x100_0000, 0x10000);
    assert_eq!(commit_charge(&mm), charge + 1);
    reserve(0x130_0000, 0x10000);
    assert_eq!(commit_charge(&mm), charge + 1, "the same page table");
    mm.free(pid, 0x100_0000, 0, true).unwrap();
    assert_eq!(commit_charge(&mm), charge + 1, "0x1300000 still needs it");
    assert_verified(&mm);
    mm.free(pid, 0x130_0000, 0, true).unwrap();
    assert_eq!(commit_charge(&mm), charge);
    // 12 MB from 0x2000000: three tables; releasing the last 4 MB returns one,
    // releasing a middle 64 KB none.
    reserve(0x200_0000, 12 << 20);
    assert_eq!(commit_charge(&mm), charge + 3);
    mm.free(pid, 0x280_0000, 4 << 20, true).unwrap();
    assert_eq!(commit_charge(&mm), charge + 2);
    mm.free(pid, 0x220_0000, 0x10000, true).unwrap();
    assert_eq!(commit_charge(&mm), charge + 2);
    assert_eq!(
        process_commit(&mm, pid) - 4,
        2,
        "4: the process's own pages"
    );
    assert_verified(&mm);
}

/// MiInsertVadCharges on x64: besides page tables, a page directory (1 GB)
/// and a page-directory-pointer page (512 GB) are charged the first time a
/// VAD needs them.
#[test]
fn mi_insert_vad_charges_x64_directories_and_pdp_pages() {
    let mm = machine(Arch::X64);
    let pid = mm.create_process("app").unwrap();
    let mut charge = commit_charge(&mm);
    // (base, pages charged): a new PT, PD and PDP page; a new PT only; a new
    // PT and PD; all three again in the next 512 GB.
    for (base, added) in [
        (0x10000u64, 3),
        (0x20_0000, 1),
        (0x4000_0000, 2),
        (0x80_0000_0000, 3),
    ] {
        mm.allocate(pid, &req(base, 0x10000, "reserve", RW))
            .unwrap();
        assert_eq!(commit_charge(&mm), charge + added, "{base:#x}");
        charge += added;
    }
    mm.free(pid, 0x4000_0000, 0, true).unwrap();
    assert_eq!(commit_charge(&mm), charge - 2);
    mm.free(pid, 0x20_0000, 0, true).unwrap();
    assert_eq!(commit_charge(&mm), charge - 3);
    assert_verified(&mm);
}

/// MiInsertVadCharges at the commit limit: a reservation whose page tables
/// the limit (paging files at their maximum) cannot cover is refused with
/// STATUS_COMMITMENT_LIMIT and leaves no VAD and no charge; one that needs
/// exactly what is left fits, and after it only a reservation inside an
/// already-charged table can be made.
#[test]
fn mi_insert_vad_charges_stop_at_the_commit_limit() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let maximum =
        mm.machine().commit_lock().ram_part + mm.machine().pagefiles_lock().maximum_commit_pages();
    // 128 MB reserved (33 tables), then committed up to 5 pages below the
    // largest limit the paging files can give.
    let (b, _) = mm.allocate(pid, &req(0, 128 << 20, "reserve", RW)).unwrap();
    let fill = maximum - commit_charge(&mm) - 5;
    mm.allocate(pid, &req(b.0, fill * PAGE_SIZE, "commit", RW))
        .unwrap();
    assert_eq!(commit_charge(&mm), maximum - 5);
    let vads = mm.vads(pid).unwrap().len();
    let own = process_commit(&mm, pid);
    // Six fresh page tables: refused, nothing left behind.
    assert_eq!(
        status(mm.allocate(pid, &req(0x4000_0000, 24 << 20, "reserve", RW))),
        NtStatus::COMMITMENT_LIMIT
    );
    assert_eq!(mm.vads(pid).unwrap().len(), vads);
    assert_eq!(commit_charge(&mm), maximum - 5);
    assert_eq!(process_commit(&mm, pid), own);
    assert_verified(&mm);
    // Five fit, to the last page.
    mm.allocate(pid, &req(0x4000_0000, 20 << 20, "reserve", RW))
        .unwrap();
    assert_eq!(commit_charge(&mm), maximum);
    assert_eq!(
        status(mm.allocate(pid, &req(0x5000_0000, 0x10000, "reserve", RW))),
        NtStatus::COMMITMENT_LIMIT
    );
    // 0x8010000 is in the table the 128 MB reservation's end already paid for.
    let end = b.0 + (128 << 20);
    assert_eq!(end, 0x801_0000);
    mm.allocate(pid, &req(end, 0x10000, "reserve", RW)).unwrap();
    assert_eq!(commit_charge(&mm), maximum);
    assert_verified(&mm);
}

// --- 3 and 4. MEM_RESET ---

/// MiResetVirtualMemory on a page waiting on the modified list: it moves to
/// the standby list with its Modified bit cleared, never gets a paging-file
/// slot (the modified page writer has nothing to write for it), and its PTE
/// stays a transition PTE. Read back before the frame is reused it is a soft
/// fault with the old bytes. (What happens once the frame is reused is
/// `mi_reset_virtual_memory_page_reads_zeros_once_its_frame_is_reused`, below.)
#[test]
fn mi_reset_virtual_memory_moves_a_modified_page_to_standby() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x10000, "reserve,commit", RW))
        .unwrap();
    // Pages 0 and 2 are reset, page 1 is kept.
    let va = |page: u64| b.0 + page * PAGE_SIZE;
    for page in 0..3 {
        mm.write_memory(pid, va(page), &pattern(page as u8))
            .unwrap();
    }
    mm.trim(pid).unwrap();
    let frames: Vec<Pfn> = (0..3).map(|p| frame(&mm, pid, va(p))).collect();
    for &f in &frames {
        assert!(on_list(&mm, PageLocation::Modified, f), "{f:?}");
    }
    for page in [0, 2] {
        mm.allocate(pid, &req(va(page), PAGE_SIZE, "reset", RW))
            .unwrap();
    }
    for page in [0, 2] {
        let f = frames[page as usize];
        assert!(on_list(&mm, PageLocation::Standby, f), "page {page}");
        assert!(!on_list(&mm, PageLocation::Modified, f), "page {page}");
        assert!(!mm.pfn_detail(f).unwrap().modified, "page {page}");
        assert_eq!(pte_state(&mm, pid, va(page)), "transition");
        assert_eq!(frame(&mm, pid, va(page)), f, "page {page}");
    }
    assert!(on_list(&mm, PageLocation::Modified, frames[1]));
    assert_verified(&mm);
    // The writer writes page 1 only.
    let written = mm.pagefiles()[0].pages_written;
    mm.flush_modified();
    assert_eq!(mm.pagefiles()[0].pages_written, written + 1);
    assert_eq!(mm.pagefiles()[0].used_pages, 1);
    // Page 0 comes back from its frame: a soft (transition) fault.
    let s = mm.process_status(pid).unwrap();
    assert_eq!(read_page(&mm, pid, va(0)), pattern(0));
    let t = mm.process_status(pid).unwrap();
    assert_eq!(t.transition_faults, s.transition_faults + 1);
    assert_eq!(t.hard_faults, s.hard_faults);
    assert_eq!(frame(&mm, pid, va(0)), frames[0]);
    assert_eq!(pte_state(&mm, pid, va(0)), "valid");
    // Page 2 waits on standby with no slot; page 1 has its slot.
    assert_eq!(pte_state(&mm, pid, va(2)), "transition");
    assert!(on_list(&mm, PageLocation::Standby, frames[1]));
    assert_verified(&mm);
}

/// MiResetVirtualMemory on valid dirty pages: the PTE loses Dirty and
/// Accessed and the working-set entry is aged to 3 (the oldest), so a trim
/// puts the frames on the standby list, not the modified list, with
/// transition PTEs; the bytes stay until the frames are reused. A page that
/// was not reset goes to the modified list as usual.
#[test]
fn mi_reset_virtual_memory_ages_valid_pages_and_trim_puts_them_on_standby() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x10000, "reserve,commit", RW))
        .unwrap();
    let va = |page: u64| b.0 + page * PAGE_SIZE;
    for page in 0..5 {
        mm.write_memory(pid, va(page), &pattern(page as u8))
            .unwrap();
    }
    for page in 0..5 {
        let flags = mm.pte_detail(pid, va(page)).unwrap().valid_flags.unwrap();
        assert!(flags.dirty && flags.accessed, "page {page} before");
        assert_eq!(ws_row(&mm, pid, va(page)).unwrap().age, 0);
    }
    // Pages 0-3 reset; page 4 kept.
    mm.allocate(pid, &req(va(0), 4 * PAGE_SIZE, "reset", RW))
        .unwrap();
    for page in 0..4 {
        let d = mm.pte_detail(pid, va(page)).unwrap();
        assert_eq!(d.state, "valid", "page {page}: still mapped");
        let flags = d.valid_flags.unwrap();
        assert!(!flags.dirty && !flags.accessed, "page {page}: {flags:?}");
        assert_eq!(ws_row(&mm, pid, va(page)).unwrap().age, 3, "page {page}");
        assert!(!mm.pfn_detail(d.pfn.unwrap()).unwrap().modified);
    }
    assert_eq!(ws_row(&mm, pid, va(4)).unwrap().age, 0);
    assert_verified(&mm);
    let frames: Vec<Pfn> = (0..5).map(|p| frame(&mm, pid, va(p))).collect();
    let (modified, free) = (meminfo(&mm, "ModifiedPages"), meminfo(&mm, "FreePages"));
    mm.trim(pid).unwrap();
    for page in 0..4 {
        let f = frames[page as usize];
        assert!(on_list(&mm, PageLocation::Standby, f), "page {page}");
        assert_eq!(pte_state(&mm, pid, va(page)), "transition");
    }
    assert!(on_list(&mm, PageLocation::Modified, frames[4]));
    assert_eq!(meminfo(&mm, "ModifiedPages"), modified + 1);
    assert_eq!(meminfo(&mm, "FreePages"), free, "no frame was freed");
    assert_verified(&mm);
    // Until the frames are reused the bytes are there: soft faults.
    let transition = mm.process_status(pid).unwrap().transition_faults;
    assert_eq!(read_page(&mm, pid, va(0)), pattern(0));
    assert_eq!(read_page(&mm, pid, va(4)), pattern(4));
    let s = mm.process_status(pid).unwrap();
    assert_eq!((s.transition_faults, s.hard_faults), (transition + 2, 0));
    assert_eq!(frame(&mm, pid, va(0)), frames[0]);
    assert_verified(&mm);
}

/// MiResetVirtualMemory, then the frame reused: the standby page of a reset
/// page is taken for someone else, its PTE gets its OriginalPte back, which
/// MEM_RESET made demand zero (no paging-file copy), so the page reads as
/// zeros, and the process's PrivatePages must stop counting it until that
/// fault makes it again.
/// `restore_owner_pte_locked` (machine/frames.rs) records the page as
/// discarded for its owner (`Owner::discarded_private`), since the owner's
/// count cannot be lowered from another process's allocation.
#[test]
fn mi_reset_virtual_memory_page_reads_zeros_once_its_frame_is_reused() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x10000, "reserve,commit", RW))
        .unwrap();
    let va = |page: u64| b.0 + page * PAGE_SIZE;
    for page in 0..2 {
        mm.write_memory(pid, va(page), &pattern(page as u8))
            .unwrap();
    }
    mm.trim(pid).unwrap();
    mm.allocate(pid, &req(va(0), PAGE_SIZE, "reset", RW))
        .unwrap();
    mm.flush_modified();
    assert_verified(&mm);
    // Both frames are on standby now; reuse them.
    mm.empty_standby();
    assert_eq!(pte_state(&mm, pid, va(0)), "demand-zero");
    assert_eq!(pte_state(&mm, pid, va(1)), "pagefile");
    assert_verified(&mm);
    assert_eq!(read_page(&mm, pid, va(0)), vec![0u8; PAGE_SIZE as usize]);
    assert_eq!(read_page(&mm, pid, va(1)), pattern(1));
    assert_eq!(mm.process_status(pid).unwrap().private_pages, 2);
    assert_verified(&mm);
}

/// MiResetVirtualMemory on a page that is only in the paging file: its slot
/// is released and its PTE becomes a demand-zero PTE, so the page reads as
/// zeros, and it is no longer one of the process's private pages until that
/// read makes it again.

#[test]
fn mi_reset_virtual_memory_drops_a_paging_file_copy() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x10000, "reserve,commit", RW))
        .unwrap();
    mm.write_memory(pid, b.0, &pattern(7)).unwrap();
    mm.trim(pid).unwrap();
    mm.flush_modified();
    mm.empty_standby();
    assert_eq!(pte_state(&mm, pid, b.0), "pagefile");
    assert_eq!(mm.pagefiles()[0].used_pages, 1);
    assert_verified(&mm);
    mm.allocate(pid, &req(b.0, PAGE_SIZE, "reset", RW)).unwrap();
    assert_eq!(pte_state(&mm, pid, b.0), "demand-zero");
    assert_eq!(mm.pagefiles()[0].used_pages, 0);
    assert_verified(&mm);
    assert_eq!(read_page(&mm, pid, b.0), vec![0u8; PAGE_SIZE as usize]);
    assert_eq!(mm.process_status(pid).unwrap().private_pages, 1);
    assert_verified(&mm);
}

/// MiCloneProcessAddressSpace and a reset page on standby: a fork must leave
/// parent and child both reading a committed page, whatever happened to its
/// frame. WRK reads each PTE only after it has the pages the child needs for
/// it, under the PFN lock; mmfs once planned the fork first and then made the
/// child's page tables, whose allocation could reuse the frame of the reset
/// page (found by the model test, seed 4 on PAE): the parent's PTE turned
/// demand zero after the plan said "move this transition page into a clone
/// block", and both processes were left pointing at an empty block (every
/// access STATUS_ACCESS_VIOLATION). The loop leaves 0 to 11 free pages before
/// the fork, so that on each arch one run has the child's page table take that
/// frame (x86: 4, PAE: 9, x64: 8).
#[test]
fn mi_clone_process_address_space_keeps_a_reset_page_whose_frame_the_child_reuses() {
    let free = |mm: &Mm| meminfo(mm, "ZeroedPages") + meminfo(mm, "FreePages");
    for arch in ALL_ARCHS {
        for spare in 0..12 {
            let (mm, pids) = small_machine(arch);
            let (parent, hog) = (pids[0], pids[1]);
            // Room in resident available memory for the child's kernel stack
            // and minimum.
            mm.set_ws_limits(pids[2], Some(20 * PAGE_SIZE), None)
                .unwrap();
            let (a, _) = mm
                .allocate(parent, &req(0, PAGE_SIZE, "reserve,commit", RW))
                .unwrap();
            mm.write_memory(parent, a.0, &pattern(5)).unwrap();
            mm.allocate(parent, &req(a.0, PAGE_SIZE, "reset", RW))
                .unwrap();
            mm.empty_standby();
            // Another process takes every free page but `spare` (nothing
            // trims it: the system threads run only when told).
            let (b, _) = mm
                .allocate(hog, &req(0, 400 * PAGE_SIZE, "reserve,commit", RW))
                .unwrap();
            let mut page = 0;
            while free(&mm) > spare {
                mm.write_memory(hog, b.0 + page * PAGE_SIZE, &[1]).unwrap();
                page += 1;
            }
            // The reset page goes to standby, the only page there.
            mm.trim(parent).unwrap();
            let child = mm.fork_process(parent, "child").unwrap();
            for pid in [parent, child] {
                let mut byte = [0u8; 1];
                let r = mm.read_memory(pid, a.0, &mut byte);
                assert!(r.is_ok(), "{arch:?}, {spare} free pages: pid {pid}: {r:?}");
                assert!(byte[0] == 0 || byte[0] == pattern(5)[0], "{arch:?}");
            }
            assert_verified(&mm);
        }
    }
}

// --- 5. The NULL page ---

/// NtAllocateVirtualMemory with an explicit base below 64 KB: the base rounds
/// down to 0 and the NULL page is mapped (Server 2003 allowed it; Windows 8
/// closed it). A NULL base still means the system chooses, from 0x10000 up.
#[test]
fn nt_allocate_virtual_memory_maps_the_null_page() {
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let (b, size) = mm
            .allocate(pid, &req(0x1000, 0x1000, "reserve,commit", RW))
            .unwrap();
        assert_eq!((b, size), (Va(0), 0x2000), "{arch:?}");
        assert_eq!(mm.write_memory(pid, 0, b"null").unwrap(), 4);
        let mut back = [0u8; 4];
        mm.read_memory(pid, 0, &mut back).unwrap();
        assert_eq!(&back, b"null");
        assert_eq!(pte_state(&mm, pid, 0), "valid");
        // The second page is committed too; the third is not.
        assert_eq!(mm.write_memory(pid, 0x1ff0, &[1u8; 0x20]).unwrap(), 0x10);
        let (c, _) = mm
            .allocate(pid, &req(0, 0x1000, "reserve,commit", RW))
            .unwrap();
        assert_eq!(c, Va(0x10000), "{arch:?}: a NULL base means anywhere");
        assert_eq!(
            status(mm.allocate(pid, &req(0xfff, 1, "reserve", RW))),
            NtStatus::CONFLICTING_ADDRESSES
        );
        assert_verified(&mm);
        mm.free(pid, 0, 0, true).unwrap();
        assert_eq!(
            mm.read_memory(pid, 0, &mut back).unwrap_err().kind,
            FaultKind::NotCommitted
        );
        assert_verified(&mm);
    }
}

// --- 6. Working-set limits ---

/// MmAdjustWorkingSetSizeEx: a minimum above the maximum is
/// STATUS_BAD_WORKING_SET_LIMIT; a maximum above MmMaximumWorkingSetSize (RAM
/// less 512 pages) is brought down to it and a minimum below 20 pages up to
/// 20, and the call succeeds with STATUS_WORKING_SET_LIMIT_RANGE; 0 keeps a
/// limit as it is.
#[test]
fn mm_adjust_working_set_size_ex_moves_limits_into_range() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let page = PAGE_SIZE;
    let ceiling = crate::mm::vm::maximum_working_set_size(mm.machine());
    assert_eq!(ceiling, 4096 - 512, "16 MB of RAM");
    let limits = |min: u64, max: u64| mm.set_ws_limits(pid, Some(min), Some(max));
    assert_eq!(
        status(limits(300 * page, 200 * page)),
        NtStatus::BAD_WORKING_SET_LIMIT
    );
    let r = limits(0, 20 << 20).unwrap();
    assert_eq!(r.status, NtStatus::WORKING_SET_LIMIT_RANGE);
    assert_eq!((r.value.minimum, r.value.maximum), (50, ceiling));
    let r = limits(5 * page, 200 * page).unwrap();
    assert_eq!(r.status, NtStatus::WORKING_SET_LIMIT_RANGE);
    assert_eq!((r.value.minimum, r.value.maximum), (20, 200));
    // In range: plain success; 0 keeps the minimum.
    let r = limits(100 * page, 300 * page).unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    let r = limits(0, 400 * page).unwrap();
    assert_eq!(
        (r.status, r.value.minimum, r.value.maximum),
        (NtStatus::SUCCESS, 100, 400)
    );
    let s = mm.process_status(pid).unwrap();
    assert_eq!((s.working_set_minimum, s.working_set_maximum), (100, 400));
    // A refused call changes nothing.
    assert_eq!(
        status(limits(500 * page, 0)),
        NtStatus::BAD_WORKING_SET_LIMIT
    );
    let s = mm.process_status(pid).unwrap();
    assert_eq!((s.working_set_minimum, s.working_set_maximum), (100, 400));
    assert_verified(&mm);
}

/// MmAdjustWorkingSetSizeEx compares the locked entries (FirstDynamic: the
/// process's system pages and its VirtualLocked pages) with the new
/// maximum, which must stay above them plus MM_FLUID_WORKING_SET (8); the
/// minimum may go below them.
#[test]
fn mm_adjust_working_set_size_ex_compares_locked_pages_with_the_maximum() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let page = PAGE_SIZE;
    let (b, _) = mm
        .allocate(pid, &req(0, 0x40000, "reserve,commit", RW))
        .unwrap();
    // 30 locked pages and the 4 system pages of an x86 process: FirstDynamic 34.
    assert_eq!(mm.lock(pid, b.0, 30 * page).unwrap().value, 30);
    assert_eq!(
        status(mm.set_ws_limits(pid, Some(20 * page), Some(42 * page))),
        NtStatus::BAD_WORKING_SET_LIMIT
    );
    let r = mm
        .set_ws_limits(pid, Some(20 * page), Some(43 * page))
        .unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    assert_eq!((r.value.minimum, r.value.maximum), (20, 43));
    let s = mm.process_status(pid).unwrap();
    assert_eq!(s.locked_pages, 30);
    assert!(s.working_set_size <= 43, "{}", s.working_set_size);
    assert_verified(&mm);
    // Unlocked, only the 4 system pages count: a maximum of 21 (just above the
    // minimum's floor of 20) is allowed now.
    assert_eq!(mm.unlock(pid, b.0, 30 * page).unwrap(), 30);
    assert_eq!(
        mm.set_ws_limits(pid, Some(20 * page), Some(21 * page))
            .unwrap()
            .value
            .maximum,
        21
    );
    assert_verified(&mm);
}

// --- 7. NtLockVirtualMemory ---

/// NtLockVirtualMemory probes every page as a read would: a page that is not
/// committed (reserved only, or not even reserved) is STATUS_ACCESS_VIOLATION
/// (not NOT_COMMITTED); a guard page is STATUS_GUARD_PAGE_VIOLATION and the
/// probe used its guard up, so the next lock succeeds. Pages probed before
/// the failing one are left in the working set, unlocked.
#[test]
fn nt_lock_virtual_memory_probes_each_page() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm.allocate(pid, &req(0, 0x10000, "reserve", RW)).unwrap();
    mm.allocate(pid, &req(b.0, 2 * PAGE_SIZE, "commit", RW))
        .unwrap();
    let va = |page: u64| b.0 + page * PAGE_SIZE;
    assert_eq!(
        status(mm.lock(pid, va(4), PAGE_SIZE)),
        NtStatus::ACCESS_VIOLATION,
        "reserved only"
    );
    assert_eq!(
        status(mm.lock(pid, 0x300_0000, PAGE_SIZE)),
        NtStatus::ACCESS_VIOLATION,
        "not reserved"
    );
    // Pages 0 and 1 are committed, page 2 is not.
    assert_eq!(pte_state(&mm, pid, va(0)), "demand-zero");
    assert_eq!(
        status(mm.lock(pid, va(0), 3 * PAGE_SIZE)),
        NtStatus::ACCESS_VIOLATION
    );
    for page in 0..2 {
        assert_eq!(pte_state(&mm, pid, va(page)), "valid", "page {page}");
        let row = ws_row(&mm, pid, va(page)).expect("in the working set");
        assert!(!row.locked, "page {page}");
    }
    assert_eq!(mm.process_status(pid).unwrap().locked_pages, 0);
    assert_verified(&mm);
    // A guard page: the first lock fails and disarms it, the second locks it.
    let guard = RW.with_guard(true);
    let (g, _) = mm
        .allocate(pid, &req(0, 0x2000, "reserve,commit", guard))
        .unwrap();
    assert_eq!(
        status(mm.lock(pid, g.0, PAGE_SIZE)),
        NtStatus::GUARD_PAGE_VIOLATION
    );
    assert_eq!(mm.pte_detail(pid, g.0).unwrap().protection, Some(RW));
    let r = mm.lock(pid, g.0, PAGE_SIZE).unwrap();
    assert_eq!((r.value, r.status), (1, NtStatus::SUCCESS));
    assert!(ws_row(&mm, pid, g.0).unwrap().locked);
    // The second page's guard is still armed.
    assert_eq!(
        mm.pte_detail(pid, g.0 + PAGE_SIZE).unwrap().protection,
        Some(guard)
    );
    // A no-access page fails the probe too.
    let (n, _) = mm
        .allocate(pid, &req(0, 0x1000, "reserve,commit", Protection::NOACCESS))
        .unwrap();
    assert_eq!(
        status(mm.lock(pid, n.0, PAGE_SIZE)),
        NtStatus::ACCESS_VIOLATION
    );
    assert_verified(&mm);
}

/// NtLockVirtualMemory on pages that are locked already succeeds with the
/// informational STATUS_WAS_LOCKED; the count is of the pages newly locked.
#[test]
fn nt_lock_virtual_memory_says_was_locked() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x10000, "reserve,commit", RW))
        .unwrap();
    let r = mm.lock(pid, b.0, PAGE_SIZE).unwrap();
    assert_eq!((r.value, r.status), (1, NtStatus::SUCCESS));
    let r = mm.lock(pid, b.0, PAGE_SIZE).unwrap();
    assert_eq!((r.value, r.status), (0, NtStatus::WAS_LOCKED));
    let r = mm.lock(pid, b.0, 3 * PAGE_SIZE).unwrap();
    assert_eq!((r.value, r.status), (2, NtStatus::WAS_LOCKED));
    assert_eq!(mm.process_status(pid).unwrap().locked_pages, 3);
    assert_eq!(mm.unlock(pid, b.0, 3 * PAGE_SIZE).unwrap(), 3);
    assert_eq!(mm.process_status(pid).unwrap().locked_pages, 0);
    assert_verified(&mm);
}

// --- 8. PAGE_NOCACHE and views ---

/// MiProtectVirtualMemory: PAGE_NOCACHE is for private memory only; a view of
/// a section cannot be made no-cache (STATUS_INVALID_PARAMETER_4), though it
/// can take other protections its section allows.
#[test]
fn mi_protect_virtual_memory_refuses_nocache_on_a_view() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let nocache = Protection::parse("readwrite+nocache").unwrap();
    mm.create_section("s", 64 << 10, None, RW, false).unwrap();
    let (view, _) = mm.map_view(pid, "s", 0, 0, 0, RW).unwrap();
    mm.write_memory(pid, view.0, b"view").unwrap();
    assert_eq!(
        status(mm.protect(pid, view.0, PAGE_SIZE, nocache)),
        NtStatus::INVALID_PARAMETER_4
    );
    assert_eq!(mm.pte_detail(pid, view.0).unwrap().protection, Some(RW));
    assert_eq!(
        mm.protect(pid, view.0, PAGE_SIZE, RO).unwrap().value,
        RW,
        "other protections are allowed"
    );
    let (private, _) = mm
        .allocate(pid, &req(0, 0x2000, "reserve,commit", RW))
        .unwrap();
    let r = mm.protect(pid, private.0, PAGE_SIZE, nocache).unwrap();
    assert_eq!((r.value, r.status), (RW, NtStatus::SUCCESS));
    assert_eq!(
        mm.pte_detail(pid, private.0).unwrap().protection,
        Some(nocache)
    );
    assert_verified(&mm);
}

// --- 9. The demand-zero PTE ---

/// MiResolveDemandZeroFault: the new PTE of a writable page is made Dirty
/// whatever the access (the page exists only in memory); a read-only page's
/// PTE is left clean. A PAGE_NOCACHE page's PTE has PCD (0x10) set. Both
/// frames are marked modified (MiInitializePfn with ModifiedState 1), so
/// trimmed, both go to the modified list. Bits as on every arch: Dirty 0x40,
/// PCD 0x10.
#[test]
fn mi_resolve_demand_zero_fault_sets_dirty_and_pcd() {
    const DIRTY: u64 = 0x40;
    const PCD: u64 = 0x10;
    for arch in ALL_ARCHS {
        let mm = machine(arch);
        let pid = mm.create_process("app").unwrap();
        let nocache = Protection::parse("readwrite+nocache").unwrap();
        let mut pages = Vec::new();
        for protection in [RW, RO, nocache] {
            let (b, _) = mm
                .allocate(pid, &req(0, 0x1000, "reserve,commit", protection))
                .unwrap();
            assert_eq!(mm.touch_pages(pid, b.0, 1, false).unwrap(), 1, "a read");
            pages.push(b.0);
        }
        let raw = |va: u64| mm.pte_detail(pid, va).unwrap().levels.last().unwrap().raw;
        let flags = |va: u64| mm.pte_detail(pid, va).unwrap().valid_flags.unwrap();
        let [rw, ro, nc] = [pages[0], pages[1], pages[2]];
        assert_ne!(raw(rw) & DIRTY, 0, "{arch:?}: {:#x}", raw(rw));
        assert!(flags(rw).dirty && !flags(rw).cache_disable, "{arch:?}");
        assert_eq!(raw(rw) & PCD, 0, "{arch:?}");
        assert_eq!(raw(ro) & DIRTY, 0, "{arch:?}: {:#x}", raw(ro));
        assert!(!flags(ro).dirty, "{arch:?}");
        assert_ne!(raw(nc) & PCD, 0, "{arch:?}: {:#x}", raw(nc));
        assert!(flags(nc).cache_disable && flags(nc).dirty, "{arch:?}");
        if arch == Arch::X86 {
            // Valid, write, owner, accessed, dirty: the classic 0x...067
            // (with the software write bit 0x800 of an MP kernel).
            assert_eq!(raw(rw) & 0x67, 0x67, "{:#x}", raw(rw));
        }
        let frames: Vec<Pfn> = pages.iter().map(|&va| frame(&mm, pid, va)).collect();
        for &f in &frames {
            assert!(mm.pfn_detail(f).unwrap().modified, "{arch:?} {f:?}");
        }
        mm.trim(pid).unwrap();
        for &f in &frames {
            assert!(on_list(&mm, PageLocation::Modified, f), "{arch:?} {f:?}");
        }
        assert_verified(&mm);
    }
}

// --- 10. Protection and locked pages ---

/// MiProtectVirtualMemory: a locked page made no-access (or guard) must leave
/// the working set, losing its lock; the call says so with the informational
/// STATUS_WAS_UNLOCKED. A locked page made read-only stays valid and locked,
/// and the call returns STATUS_SUCCESS.
#[test]
fn mi_protect_virtual_memory_unlocks_no_access_pages() {
    let mm = machine(Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let (b, _) = mm
        .allocate(pid, &req(0, 0x10000, "reserve,commit", RW))
        .unwrap();
    let va = |page: u64| b.0 + page * PAGE_SIZE;
    assert_eq!(mm.lock(pid, b.0, 3 * PAGE_SIZE).unwrap().value, 3);
    let locked = |mm: &Mm| mm.process_status(pid).unwrap().locked_pages;
    let r = mm.protect(pid, va(0), PAGE_SIZE, RO).unwrap();
    assert_eq!((r.value, r.status), (RW, NtStatus::SUCCESS));
    assert_eq!(locked(&mm), 3);
    assert_eq!(pte_state(&mm, pid, va(0)), "valid");
    assert!(ws_row(&mm, pid, va(0)).unwrap().locked);
    let r = mm
        .protect(pid, va(1), PAGE_SIZE, Protection::NOACCESS)
        .unwrap();
    assert_eq!((r.value, r.status), (RW, NtStatus::WAS_UNLOCKED));
    assert_eq!(locked(&mm), 2);
    assert_eq!(pte_state(&mm, pid, va(1)), "transition");
    assert!(ws_row(&mm, pid, va(1)).is_none());
    let r = mm
        .protect(pid, va(2), PAGE_SIZE, RW.with_guard(true))
        .unwrap();
    assert_eq!((r.value, r.status), (RW, NtStatus::WAS_UNLOCKED));
    assert_eq!(locked(&mm), 1);
    assert_verified(&mm);
    // No-access again on a page no longer locked: plain success.
    let r = mm
        .protect(pid, va(1), PAGE_SIZE, Protection::NOACCESS)
        .unwrap();
    assert_eq!(r.status, NtStatus::SUCCESS);
    // Made readable again and touched, the page is back unlocked.
    mm.protect(pid, va(1), PAGE_SIZE, RW).unwrap();
    assert_eq!(mm.touch_pages(pid, va(1), 1, false).unwrap(), 1);
    assert!(!ws_row(&mm, pid, va(1)).unwrap().locked);
    assert_eq!(
        status(mm.unlock(pid, va(1), PAGE_SIZE)),
        NtStatus::NOT_LOCKED
    );
    assert_eq!(mm.unlock(pid, va(0), PAGE_SIZE).unwrap(), 1);
    assert_verified(&mm);
}

// --- 11. A new process ---

/// MmCreateProcessAddressSpace and MiInitializeWorkingSetList: a new process
/// is charged MM_PROCESS_COMMIT_CHARGE (x86 4, PAE 8, x64 6) and starts with
/// exactly those pages in its working set, all locked system entries (its
/// top-level tables, hyperspace's page tables, the VAD bitmap and the
/// working-set list pages at the start of hyperspace). Terminating returns
/// the charge.
#[test]
fn mm_create_process_address_space_charges_mm_process_commit_charge() {
    for (arch, charge, hyperspace) in [
        (Arch::X86, 4, [0xC050_1000u64, 0xC050_2000]),
        (Arch::Pae, 8, [0xC090_1000, 0xC090_2000]),
        (Arch::X64, 6, [0xFFFF_F700_0008_0000, 0xFFFF_F700_0008_1000]),
    ] {
        let mm = machine(arch);
        let system = commit_charge(&mm);
        let pid = mm.create_process("app").unwrap();
        let s = mm.process_status(pid).unwrap();
        assert_eq!(s.commit_charge, charge, "{arch:?}");
        assert_eq!(commit_charge(&mm), system + charge, "{arch:?}");
        assert_eq!(s.working_set_size, charge, "{arch:?}");
        assert_eq!(s.locked_pages, 0, "{arch:?}: no VirtualLock yet");
        let rows = mm.workingset(pid).unwrap();
        assert_eq!(rows.len() as u64, charge, "{arch:?}");
        assert!(
            rows.iter()
                .all(|r| r.locked && matches!(r.kind, "pagetable" | "system")),
            "{arch:?}: {rows:?}"
        );
        let data: Vec<u64> = rows
            .iter()
            .filter(|r| r.kind == "system")
            .map(|r| r.va)
            .collect();
        assert_eq!(data, hyperspace, "{arch:?}");
        // The same four (six, eight) whichever the process.
        let other = mm.create_process("other").unwrap();
        assert_eq!(mm.process_status(other).unwrap().commit_charge, charge);
        assert_verified(&mm);
        mm.terminate_process(pid).unwrap();
        mm.terminate_process(other).unwrap();
        assert_eq!(commit_charge(&mm), system, "{arch:?}");
        assert_verified(&mm);
    }
}
