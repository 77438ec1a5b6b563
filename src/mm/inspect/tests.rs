//! Tests of the inspection snapshots: the `!pte` view's address split,
//! physical address, flags and explanations; `ptes` agreeing with it on
//! protection; `clones`; the standby lists by priority; the thresholds.

use crate::mm::Mm;
use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid};
use crate::mm::pfn::PageLocation;
use crate::mm::vad::AllocRequest;

use super::{EmptyReason, VadDecides};

const RW: Protection = Protection::READWRITE;
const ARCHES: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];

fn machine(ram: u64, arch: Arch) -> Mm {
    Mm::new(MmConfig::for_tests(ram, arch)).unwrap()
}

/// NtAllocateVirtualMemory of `size` bytes at `address` (0: anywhere),
/// `flags` a comma list of reserve and commit.
fn alloc(mm: &Mm, pid: Pid, address: u64, size: u64, flags: &str) -> u64 {
    let mut r = AllocRequest::new(address, size, RW);
    r.reserve = flags.contains("reserve");
    r.commit = flags.contains("commit");
    mm.allocate(pid, &r).unwrap().0.0
}

fn assert_verified(mm: &Mm) {
    let r = mm.verify();
    assert!(r.ok(), "verify:\n{}", r.violations.join("\n"));
}

/// The index of `va` at each level, as the arch splits it (top first).
fn expected_split(arch: Arch, va: u64) -> Vec<(&'static str, u64)> {
    match arch {
        Arch::X86 => vec![("PDE", va >> 22), ("PTE", (va >> 12) & 0x3ff)],
        Arch::Pae => vec![
            ("PPE", (va >> 30) & 3),
            ("PDE", (va >> 21) & 0x1ff),
            ("PTE", (va >> 12) & 0x1ff),
        ],
        Arch::X64 => vec![
            ("PXE", (va >> 39) & 0x1ff),
            ("PPE", (va >> 30) & 0x1ff),
            ("PDE", (va >> 21) & 0x1ff),
            ("PTE", (va >> 12) & 0x1ff),
        ],
    }
}

#[test]
fn pte_view_splits_the_address_and_finds_the_physical_bytes() {
    for arch in ARCHES {
        let mm = machine(16 << 20, arch);
        let pid = mm.create_process("app").unwrap();
        let base = alloc(&mm, pid, 0, 0x40_0000, "reserve,commit");
        let va = base + 0x23_5000 + 0x4f4;
        mm.write_memory(pid, va, b"physical").unwrap();
        let d = mm.pte_detail(pid, va).unwrap();
        assert_eq!(d.indexes, expected_split(arch, va), "{arch:?}");
        assert_eq!(d.byte_offset, 0x4f4);
        let pfn = d.pfn.unwrap();
        let pa = d.physical_address.unwrap();
        assert_eq!(pa, pfn.0 as u64 * PAGE_SIZE + 0x4f4);
        let mut back = [0u8; 8];
        mm.machine().phys.read(
            Pfn((pa / PAGE_SIZE) as u32),
            (pa % PAGE_SIZE) as usize,
            &mut back,
        );
        assert_eq!(
            &back, b"physical",
            "{arch:?}: PhysicalAddress holds the bytes"
        );
        let f = d.valid_flags.unwrap();
        assert!(f.owner && f.accessed && f.dirty && f.write && !f.copy_on_write);
        assert_eq!(
            f.no_execute,
            arch != Arch::X86,
            "{arch:?}: readwrite is not executable"
        );
        // Every level above the PTE is valid and has flags of its own.
        assert!(
            d.levels
                .iter()
                .all(|l| l.flags.is_some() && l.pfn.is_some())
        );
        assert_eq!(d.empty, None);
        // PAE's PDPT entry has no self-map address; every other level has one.
        for l in &d.levels {
            assert_eq!(l.address.is_none(), arch == Arch::Pae && l.name == "PPE");
        }
        // In transition the page still has its frame and physical address.
        mm.trim(pid).unwrap();
        let t = mm.pte_detail(pid, va).unwrap();
        assert_eq!(t.state, "transition");
        assert_eq!((t.pfn, t.physical_address), (Some(pfn), Some(pa)));
        assert_eq!(t.valid_flags, None);
        // In the paging file it has neither.
        mm.flush_modified();
        mm.empty_standby();
        let p = mm.pte_detail(pid, va).unwrap();
        assert_eq!(p.state, "pagefile");
        assert_eq!((p.pfn, p.physical_address), (None, None));
        assert_verified(&mm);
    }
}

#[test]
fn state_none_says_why_and_what_the_vad_decides() {
    for arch in ARCHES {
        let mm = machine(16 << 20, arch);
        let pid = mm.create_process("app").unwrap();
        // Nothing allocated: no page table, no VAD.
        let d = mm.pte_detail(pid, 0x10_0000).unwrap();
        assert_eq!(d.state, "none");
        let e = d.empty.unwrap();
        assert!(
            matches!(e.reason, EmptyReason::NoPageTable { .. }),
            "{arch:?}: {e:?}"
        );
        assert_eq!(e.vad_decides, VadDecides::NotAllocated);
        // A committed region with one page touched: its neighbours' PTEs are zero.
        let base = alloc(&mm, pid, 0x10_0000, 0x10000, "reserve,commit");
        assert_eq!(
            mm.pte_detail(pid, base).unwrap().empty.map(|e| e.reason),
            Some(EmptyReason::NoPageTable {
                invalid_entry: match arch {
                    Arch::X86 | Arch::Pae => "PDE",
                    Arch::X64 => "PXE",
                }
            }),
            "{arch:?}: a fresh process has no tables below the top level"
        );
        mm.write_memory(pid, base, b"x").unwrap();
        let e = mm.pte_detail(pid, base + 0x1000).unwrap().empty.unwrap();
        assert_eq!(
            (e.reason, e.vad_decides),
            (EmptyReason::ZeroPte, VadDecides::DemandZero)
        );
        let e = mm.pte_detail(pid, base + 0x10000).unwrap().empty.unwrap();
        assert_eq!(
            (e.reason, e.vad_decides),
            (EmptyReason::ZeroPte, VadDecides::NotAllocated)
        );
        // Reserved, with one page committed (a demand-zero PTE): the next is zero.
        let r = alloc(&mm, pid, 0x20_0000, 0x10000, "reserve");
        alloc(&mm, pid, r, 0x1000, "commit");
        assert_eq!(mm.pte_detail(pid, r).unwrap().state, "demand-zero");
        let e = mm.pte_detail(pid, r + 0x1000).unwrap().empty.unwrap();
        assert_eq!(
            (e.reason, e.vad_decides),
            (EmptyReason::ZeroPte, VadDecides::Reserved)
        );
        // A view nobody touched yet: the prototype PTE decides.
        mm.create_section("s", 0x10000, None, RW, false).unwrap();
        let (view, _) = mm.map_view(pid, "s", 0x30_0000, 0, 0, RW).unwrap();
        let d = mm.pte_detail(pid, view.0).unwrap();
        assert_eq!(d.empty.unwrap().vad_decides, VadDecides::View);
        assert!(d.prototype.is_some());
        // Anything but state none has no explanation.
        assert_eq!(mm.pte_detail(pid, base).unwrap().empty, None);
    }
}

/// Every row of `ptes` of every process shows the protection `pte/<VA>` shows.
fn assert_ptes_agree(mm: &Mm) {
    for p in mm.processes() {
        for r in mm.ptes(p.pid).unwrap() {
            let d = mm.pte_detail(p.pid, r.va).unwrap();
            assert_eq!(
                r.protection, d.protection,
                "{} {:#x}: ptes says {:?} ({}), pte/<VA> says {:?} ({})",
                p.name, r.va, r.protection, r.state, d.protection, d.state
            );
        }
    }
}

/// The case: in a forked child, a written page's PTE is a prototype
/// pointer with ZERO_ACCESS ("use the prototype PTE's protection"). `ptes`
/// showed `zero-access` for it while `pte/<VA>` resolved it to writecopy.
#[test]
fn ptes_agrees_with_pte_view_in_a_forked_child() {
    for arch in ARCHES {
        let mm = machine(16 << 20, arch);
        let parent = mm.create_process("parent").unwrap();
        let base = alloc(&mm, parent, 0, 0x10000, "reserve,commit");
        mm.write_memory(parent, base, b"written before fork")
            .unwrap();
        let child = mm.fork_process(parent, "child").unwrap();
        let row = mm
            .ptes(child)
            .unwrap()
            .into_iter()
            .find(|r| r.va == base)
            .unwrap();
        assert_eq!(row.state, "prototype", "{arch:?}");
        assert_eq!(row.protection, Some(Protection::WRITECOPY), "{arch:?}");
        let d = mm.pte_detail(child, base).unwrap();
        assert_eq!(d.protection, Some(Protection::WRITECOPY));
        // The parent's page stays valid, copy-on-write, shared with the block.
        let prow = mm.ptes(parent).unwrap();
        let prow = prow.iter().find(|r| r.va == base).unwrap();
        assert_eq!(
            (prow.state, prow.protection),
            ("valid", Some(Protection::WRITECOPY))
        );
        assert_ptes_agree(&mm);
        // And through every change: a read, a copy-on-write, a trim.
        let mut buf = [0u8; 4];
        mm.read_memory(child, base, &mut buf).unwrap();
        assert_ptes_agree(&mm);
        mm.write_memory(child, base, b"mine").unwrap();
        assert_ptes_agree(&mm);
        mm.trim(parent).unwrap();
        mm.trim(child).unwrap();
        assert_ptes_agree(&mm);
        assert_verified(&mm);
    }
}

/// Shared pages of a view in two processes, trimmed from one: valid rows take
/// their protection from this process's own working-set entry.
#[test]
fn ptes_agrees_with_pte_view_on_shared_pages() {
    for arch in ARCHES {
        let mm = machine(16 << 20, arch);
        let a = mm.create_process("a").unwrap();
        let b = mm.create_process("b").unwrap();
        alloc(&mm, a, 0x10000, 0x30000, "reserve,commit");
        mm.write_memory(a, 0x10000, &[1u8; 0x3000]).unwrap();
        mm.create_section("s", 0x10000, None, RW, false).unwrap();
        let (va, _) = mm.map_view(a, "s", 0, 0, 0, RW).unwrap();
        let (vb, _) = mm.map_view(b, "s", 0, 0, 0, Protection::READONLY).unwrap();
        mm.write_memory(a, va.0, &[2u8; 0x4000]).unwrap();
        let mut buf = [0u8; 0x4000];
        mm.read_memory(b, vb.0, &mut buf).unwrap();
        mm.protect(a, va.0 + 0x1000, 0x1000, Protection::READONLY)
            .unwrap();
        assert_ptes_agree(&mm);
        mm.trim(b).unwrap();
        assert_ptes_agree(&mm);
        let rows = mm.ptes(b).unwrap();
        let r = rows.iter().find(|r| r.va == vb.0).unwrap();
        assert_eq!(r.protection, Some(Protection::READONLY), "{arch:?}: {r:?}");
        assert_verified(&mm);
    }
}

#[test]
fn clones_list_the_blocks_and_their_references() {
    for arch in ARCHES {
        let mm = machine(16 << 20, arch);
        let parent = mm.create_process("parent").unwrap();
        let base = alloc(&mm, parent, 0, 0x10000, "reserve,commit");
        mm.write_memory(parent, base, &[7u8; 0x3000]).unwrap();
        assert!(mm.clones(parent).unwrap().is_empty(), "no fork yet");
        let child = mm.fork_process(parent, "child").unwrap();
        let (p, c) = (mm.clones(parent).unwrap(), mm.clones(child).unwrap());
        assert_eq!(p.len(), 3, "{arch:?}: {p:?}");
        assert_eq!(c.len(), 3, "{arch:?}: {c:?}");
        for (i, (pr, cr)) in p.iter().zip(&c).enumerate() {
            assert_eq!(pr.va, base + i as u64 * PAGE_SIZE);
            assert_eq!(
                (pr.block_address, pr.clone_area, pr.index),
                (cr.block_address, cr.clone_area, cr.index)
            );
            assert_eq!((pr.refs, pr.state, pr.pte_state), (2, "valid", "valid"));
            assert_eq!(cr.pte_state, "prototype");
            assert!(pr.pfn.is_some());
        }
        // The child's write copies page 0: it no longer refers to that block.
        mm.write_memory(child, base, b"mine").unwrap();
        let c = mm.clones(child).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|r| r.va != base));
        let p = mm.clones(parent).unwrap();
        assert_eq!(p[0].refs, 1, "only the parent refers to block 0");
        assert_eq!(p[1].refs, 2);
        // Paged out: the block's state follows, the references stay.
        mm.trim(parent).unwrap();
        mm.flush_modified();
        mm.empty_standby();
        let p = mm.clones(parent).unwrap();
        assert_eq!(p[1].state, "pagefile", "{arch:?}: {p:?}");
        assert_eq!(
            (p[1].pfn, p[1].pte_state, p[1].refs),
            (None, "prototype", 2)
        );
        mm.terminate_process(child).unwrap();
        assert!(mm.clones(parent).unwrap().iter().all(|r| r.refs == 1));
        assert_verified(&mm);
    }
}

#[test]
fn standby_lists_by_priority_and_repurposes_by_priority() {
    // 1 MB of RAM: writing 2 MB repurposes standby pages.
    let mm = machine(1 << 20, Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let base = alloc(&mm, pid, 0, 0x4_0000, "reserve,commit");
    mm.write_memory(pid, base, &[1u8; 0x4_0000]).unwrap();
    mm.trim(pid).unwrap();
    mm.flush_modified();
    let standby = mm.pfn_list(PageLocation::Standby);
    assert!(standby.len() >= 32, "{}", standby.len());
    // Every page is at NT's default priority, 3.
    assert_eq!(mm.standby_list(3), standby);
    assert!(
        (0..8)
            .filter(|&p| p != 3)
            .all(|p| mm.standby_list(p).is_empty())
    );
    let rows = mm.standby_priorities();
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[3].standby, standby.len() as u64);
    assert!(rows.iter().all(|r| r.repurposed == 0));
    // Eight pages moved to priority 0 are repurposed first.
    {
        let mut st = mm.machine().pfn_lock();
        for &pfn in &standby[..8] {
            st.db.set_priority(pfn, 0);
        }
    }
    assert_eq!(mm.standby_list(0), standby[..8].to_vec());
    assert_eq!(mm.standby_priorities()[0].standby, 8);
    // The whole list is still priority 0 first.
    assert_eq!(mm.pfn_list(PageLocation::Standby)[..8], standby[..8]);
    let other = mm.create_process("other").unwrap();
    let b = alloc(&mm, other, 0, 0x20_0000, "reserve,commit");
    mm.write_memory(other, b, &[2u8; 0x20_0000]).unwrap();
    let rows = mm.standby_priorities();
    assert_eq!(rows[0].repurposed, 8);
    assert!(rows[3].repurposed > 0);
    let total: u64 = rows.iter().map(|r| r.repurposed).sum();
    assert_eq!(total, mm.counter("pages_repurposed"));
    for r in &rows {
        assert_eq!(r.standby, mm.standby_list(r.priority).len() as u64);
    }
    assert_verified(&mm);
}

#[test]
fn meminfo_ends_with_the_thresholds() {
    let mm = machine(16 << 20, Arch::X86);
    let info = mm.meminfo();
    let keys: Vec<&str> = info.iter().map(|(k, _)| *k).collect();
    // The SPEC's keys come first, in their order; the thresholds after them.
    assert_eq!(keys[0], "PageSize");
    assert_eq!(keys[17], "ResidentAvailablePages");
    assert_eq!(
        keys[18..],
        [
            "MinimumFreePages",
            "PlentyFreePages",
            "WorkingSetManagerGoal",
            "ModifiedPageMaximum",
            "ZeroPageThreadWake",
            "RepurposedSinceLastPass",
            "RepurposedTrimThreshold",
        ]
    );
    let get = |k: &str| info.iter().find(|(n, _)| *n == k).unwrap().1;
    let t = mm.machine().thresholds;
    assert_eq!(get("MinimumFreePages"), t.minimum_free);
    assert_eq!(get("PlentyFreePages"), t.plenty_free);
    assert_eq!(get("WorkingSetManagerGoal"), t.plenty_free * 3 / 2);
    assert_eq!(get("ModifiedPageMaximum"), t.modified_maximum);
    assert_eq!(get("ZeroPageThreadWake"), 8);
    assert_eq!(get("RepurposedSinceLastPass"), 0);
    assert_eq!(get("RepurposedTrimThreshold"), get("AvailablePages") / 4);
    // 16 MB: WRK's small-machine values (plenty capped at RAM/8).
    assert_eq!(
        (
            get("MinimumFreePages"),
            get("PlentyFreePages"),
            get("ModifiedPageMaximum")
        ),
        (26, 400, 100)
    );
}
