use super::*;

/// MM_HIGHEST_USER_ADDRESS on x86.
const TOP: u64 = 0x7ffe_ffff;
use crate::mm::base::types::Vpn;

fn kind(t: &VadTree, a: u64, s: u64, release: bool) -> (FreeKind, u64, u64) {
    let p = plan_free(t, a, s, release, TOP).unwrap();
    (p.kind, p.first_vpn.0, p.last_vpn.0)
}

#[test]
fn nothing_reserved_is_memory_not_allocated() {
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    let e = plan_free(&t, 0x30000, 0, true, TOP).unwrap_err();
    assert_eq!(e.status, NtStatus::MEMORY_NOT_ALLOCATED);
    assert_eq!(e.message, "nothing is reserved at 0x30000");
    assert_eq!(
        status(plan_free(&t, 0xf000, 0x2000, false, TOP)),
        NtStatus::MEMORY_NOT_ALLOCATED
    );
    assert_eq!(
        status(plan_free(&VadTree::new(), 0, 0, true, TOP)),
        NtStatus::MEMORY_NOT_ALLOCATED
    );
}

#[test]
fn spanning_vads_is_unable_to_free_vm() {
    let t = tree_with(vec![vad(0x10000, 0x10000), vad(0x20000, 0x10000)]);
    for release in [false, true] {
        let e = plan_free(&t, 0x1f000, 0x2000, release, TOP).unwrap_err();
        assert_eq!(e.status, NtStatus::UNABLE_TO_FREE_VM);
        assert!(e.message.contains("0x1f000-0x20fff"), "{}", e.message);
        assert_eq!(
            status(plan_free(&t, 0x20000, 0x10001, release, TOP)),
            NtStatus::UNABLE_TO_FREE_VM
        );
    }
}

#[test]
fn views_are_unable_to_delete_section() {
    let mut physical = vad(0x50000, 0x10000);
    physical.vad_type = VadType::DevicePhysicalMemory;
    let mut rotate = view(0x60000, 0x10000, false);
    rotate.vad_type = VadType::RotatePhysical;
    let t = tree_with(vec![
        view(0x10000, 0x10000, false),
        view(0x30000, 0x10000, true),
        physical,
        rotate,
    ]);
    for (a, release) in [
        (0x10000, true),
        (0x10000, false),
        (0x30000, true),
        (0x50000, true),
    ] {
        let e = plan_free(&t, a, 0, release, TOP).unwrap_err();
        assert_eq!(e.status, NtStatus::UNABLE_TO_DELETE_SECTION);
        assert!(e.message.contains("unmap"), "{}", e.message);
    }
    // Rotate-physical views are released through NtFreeVirtualMemory.
    assert_eq!(kind(&t, 0x60000, 0, true).0, FreeKind::RemoveWhole);
}

#[test]
fn release_with_size_zero_needs_the_base() {
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    let e = plan_free(&t, 0x11000, 0, true, TOP).unwrap_err();
    assert_eq!(e.status, NtStatus::FREE_VM_NOT_AT_BASE);
    assert!(e.message.contains("0x10000"), "{}", e.message);
    assert_eq!(
        kind(&t, 0x10000, 0, true),
        (FreeKind::RemoveWhole, 0x10, 0x1f)
    );
    // WRK compares page numbers, so an offset inside the first page is accepted.
    assert_eq!(
        kind(&t, 0x10abc, 0, true),
        (FreeKind::RemoveWhole, 0x10, 0x1f)
    );
    let p = plan_free(&t, 0x10000, 0, true, TOP).unwrap();
    assert_eq!((p.base(), p.size()), (Va(0x10000), 0x10000));
    assert!(p.is_release());
}

#[test]
fn partial_release_trims_or_splits() {
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    assert_eq!(
        kind(&t, 0x10000, 0x10000, true),
        (FreeKind::RemoveWhole, 0x10, 0x1f)
    );
    assert_eq!(
        kind(&t, 0x10000, 0x3000, true),
        (FreeKind::TrimStart, 0x10, 0x12)
    );
    assert_eq!(
        kind(&t, 0x1e000, 0x2000, true),
        (FreeKind::TrimEnd, 0x1e, 0x1f)
    );
    assert_eq!(
        kind(&t, 0x14000, 0x2000, true),
        (FreeKind::SplitMiddle, 0x14, 0x15)
    );
    // Rounding covers every page touched: 0x14fff..0x15000 is two pages.
    assert_eq!(
        kind(&t, 0x14fff, 2, true),
        (FreeKind::SplitMiddle, 0x14, 0x15)
    );
    let p = plan_free(&t, 0x14fff, 2, true, TOP).unwrap();
    assert_eq!((p.base(), p.size()), (Va(0x14000), 0x2000));
}

#[test]
fn unsplittable_vads_release_only_whole() {
    for ty in [VadType::Awe, VadType::LargePages, VadType::WriteWatch] {
        let t = tree_with(vec![vad_of(0x10000, 0x10000, ty)]);
        for (a, s) in [(0x10000, 0x1000), (0x1f000, 0x1000), (0x12000, 0x1000)] {
            let e = plan_free(&t, a, s, true, TOP).unwrap_err();
            assert_eq!(e.status, NtStatus::FREE_VM_NOT_AT_BASE, "{ty:?}");
            assert!(e.message.contains("released whole"), "{}", e.message);
        }
        assert_eq!(kind(&t, 0x10000, 0, true).0, FreeKind::RemoveWhole);
        assert_eq!(kind(&t, 0x10000, 0x10000, true).0, FreeKind::RemoveWhole);
    }
}

#[test]
fn decommit_rules() {
    let t = tree_with(vec![
        vad(0x10000, 0x10000),
        vad_of(0x20000, 0x10000, VadType::Awe),
        vad_of(0x0040_0000, 0x0040_0000, VadType::LargePages),
        vad_of(0x30000, 0x10000, VadType::WriteWatch),
    ]);
    // Size 0 decommits the whole VAD, and only from its base.
    assert_eq!(
        kind(&t, 0x10000, 0, false),
        (FreeKind::Decommit, 0x10, 0x1f)
    );
    assert_eq!(
        status(plan_free(&t, 0x12000, 0, false, TOP)),
        NtStatus::FREE_VM_NOT_AT_BASE
    );
    assert_eq!(
        kind(&t, 0x12345, 0x1000, false),
        (FreeKind::Decommit, 0x12, 0x13)
    );
    let p = plan_free(&t, 0x12345, 0x1000, false, TOP).unwrap();
    assert!(!p.is_release());
    assert_eq!(p.vad_start, Vpn(0x10));
    // AWE and large pages cannot be decommitted.
    for a in [0x20000, 0x0040_0000] {
        assert_eq!(
            status(plan_free(&t, a, 0x1000, false, TOP)),
            NtStatus::MEMORY_NOT_ALLOCATED
        );
        assert_eq!(
            status(plan_free(&t, a, 0, false, TOP)),
            NtStatus::MEMORY_NOT_ALLOCATED
        );
    }
    // Write-watch pages can be decommitted piecemeal.
    assert_eq!(kind(&t, 0x31000, 0x1000, false).0, FreeKind::Decommit);
}

#[test]
fn free_range_beyond_user_space_is_invalid_parameter_2_or_3() {
    // NtFreeVirtualMemory (freevm.c): the base is parameter 2, the size 3.
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    assert_eq!(
        status(plan_free(&t, u64::MAX - 5, 10, true, TOP)),
        NtStatus::INVALID_PARAMETER_2
    );
    assert_eq!(
        status(plan_free(&t, 0x8000_0000, 0, true, TOP)),
        NtStatus::INVALID_PARAMETER_2
    );
    assert_eq!(
        status(plan_free(&t, 0x10000, u64::MAX, true, TOP)),
        NtStatus::INVALID_PARAMETER_3
    );
    assert_eq!(
        status(plan_free(&t, 0x7ffe_0000, 0x10000, true, TOP)),
        NtStatus::INVALID_PARAMETER_3
    );
}

/// Every page of 0x10000-0x1ffff counts as committed except 0x18 and 0x19.
fn committed_pages(first: Vpn, last: Vpn) -> u64 {
    (first.0..=last.0)
        .filter(|p| *p != 0x18 && *p != 0x19)
        .count() as u64
}

fn charged(commit_charge: u64) -> VadTree {
    let mut v = vad(0x10000, 0x10000);
    v.commit_charge = commit_charge;
    v.mem_commit = true;
    tree_with(vec![v])
}

#[test]
fn apply_release_changes_the_tree_and_returns_the_charge() {
    let mut t = charged(14);
    let p = plan_free(&t, 0x10000, 0x2000, true, TOP).unwrap();
    assert_eq!(apply_release(&mut t, &p, committed_pages).unwrap(), 2);
    assert_eq!(ranges(&t), vec![(0x12000, 0x1ffff)]);
    assert_eq!(t.get(Vpn(0x12)).unwrap().commit_charge, 12);

    let p = plan_free(&t, 0x1e000, 0x2000, true, TOP).unwrap();
    assert_eq!(p.kind, FreeKind::TrimEnd);
    assert_eq!(apply_release(&mut t, &p, committed_pages).unwrap(), 2);
    assert_eq!(ranges(&t), vec![(0x12000, 0x1dfff)]);
    assert_eq!(t.get(Vpn(0x12)).unwrap().commit_charge, 10);

    // Split 0x14-0x15 out: the lower half keeps its own count (2), the
    // upper half gets the rest (10 - 2 - 2 = 6: 0x16-0x1d minus 0x18, 0x19).
    let p = plan_free(&t, 0x14000, 0x2000, true, TOP).unwrap();
    assert_eq!(apply_release(&mut t, &p, committed_pages).unwrap(), 2);
    assert_eq!(ranges(&t), vec![(0x12000, 0x13fff), (0x16000, 0x1dfff)]);
    assert_eq!(t.get(Vpn(0x12)).unwrap().commit_charge, 2);
    assert_eq!(t.get(Vpn(0x16)).unwrap().commit_charge, 6);
    assert!(t.get(Vpn(0x16)).unwrap().mem_commit);

    let p = plan_free(&t, 0x16000, 0, true, TOP).unwrap();
    assert_eq!(apply_release(&mut t, &p, |_, _| 99).unwrap(), 6);
    assert_eq!(ranges(&t), vec![(0x12000, 0x13fff)]);
}

#[test]
fn apply_release_refuses_decommit_and_stale_plans() {
    let mut t = charged(16);
    let p = plan_free(&t, 0x10000, 0x1000, false, TOP).unwrap();
    assert_eq!(
        status(apply_release(&mut t, &p, committed_pages)),
        NtStatus::INVALID_PARAMETER
    );
    let p = plan_free(&t, 0x14000, 0x1000, true, TOP).unwrap();
    let whole = plan_free(&t, 0x10000, 0, true, TOP).unwrap();
    apply_release(&mut t, &p, committed_pages).unwrap();
    // The VAD changed: the old plans no longer apply.
    assert_eq!(
        status(apply_release(&mut t, &p, committed_pages)),
        NtStatus::MEMORY_NOT_ALLOCATED
    );
    assert_eq!(
        status(apply_release(&mut t, &whole, committed_pages)),
        NtStatus::MEMORY_NOT_ALLOCATED
    );
    // A hand-made plan whose kind does not match its range.
    let now = plan_free(&t, 0x10000, 0x1000, true, TOP).unwrap();
    let lie = FreePlan {
        kind: FreeKind::TrimEnd,
        ..now
    };
    assert_eq!(
        status(apply_release(&mut t, &lie, committed_pages)),
        NtStatus::INVALID_PARAMETER
    );
    let outside = FreePlan {
        first_vpn: Vpn(0),
        ..now
    };
    assert_eq!(
        status(apply_release(&mut t, &outside, committed_pages)),
        NtStatus::INVALID_PARAMETER
    );
    // A committed() that over-counts cannot drive the charge negative.
    let p = plan_free(&t, 0x10000, 0x1000, true, TOP).unwrap();
    assert!(apply_release(&mut t, &p, |_, _| u64::MAX).is_ok());
    assert_eq!(t.get(Vpn(0x11)).unwrap().commit_charge, 0);
}
