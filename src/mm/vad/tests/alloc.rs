use super::*;
use crate::mm::base::types::Vpn;

fn req(address: u64, size: u64) -> AllocRequest {
    AllocRequest::new(address, size, RW)
}

fn reserve(address: u64, size: u64) -> AllocRequest {
    AllocRequest {
        reserve: true,
        ..req(address, size)
    }
}

fn commit(address: u64, size: u64) -> AllocRequest {
    AllocRequest {
        commit: true,
        ..req(address, size)
    }
}

fn plan(t: &VadTree, r: AllocRequest) -> MmResult<AllocPlan> {
    plan_allocate(t, &r, x86())
}

/// (base, size, vad) of a Reserve plan.
fn reserved(t: &VadTree, r: AllocRequest) -> (u64, u64, Vad) {
    match plan(t, r).unwrap() {
        AllocPlan::Reserve { base, size, vad } => (base.0, size, vad),
        other => panic!("expected Reserve, got {other:?}"),
    }
}

#[test]
fn flag_combinations_follow_wrk() {
    // NtAllocateVirtualMemory: the type is parameter 5, a MEM_PHYSICAL
    // protection other than PAGE_READWRITE parameter 6.
    let t = VadTree::new();
    let bad = |r: AllocRequest| status(plan(&t, r));
    assert_eq!(bad(req(0, 0x1000)), NtStatus::INVALID_PARAMETER_5);
    let top_only = AllocRequest {
        top_down: true,
        ..req(0, 0x1000)
    };
    assert_eq!(bad(top_only), NtStatus::INVALID_PARAMETER_5);
    let reset_commit = AllocRequest {
        reset: true,
        ..commit(0x10000, 0x1000)
    };
    assert_eq!(bad(reset_commit), NtStatus::INVALID_PARAMETER_5);
    let reset_top = AllocRequest {
        reset: true,
        top_down: true,
        ..req(0x10000, 0x1000)
    };
    assert_eq!(bad(reset_top), NtStatus::INVALID_PARAMETER_5);
    let large_reserve_only = AllocRequest {
        large_pages: true,
        ..reserve(0, 4 << 20)
    };
    assert_eq!(bad(large_reserve_only), NtStatus::INVALID_PARAMETER_5);
    let large_physical = AllocRequest {
        large_pages: true,
        physical: true,
        reserve: true,
        ..commit(0, 4 << 20)
    };
    assert_eq!(bad(large_physical), NtStatus::INVALID_PARAMETER_5);
    let large_ww = AllocRequest {
        large_pages: true,
        write_watch: true,
        reserve: true,
        ..commit(0, 4 << 20)
    };
    assert_eq!(bad(large_ww), NtStatus::INVALID_PARAMETER_5);
    let ww_commit_only = AllocRequest {
        write_watch: true,
        ..commit(0, 0x1000)
    };
    assert_eq!(bad(ww_commit_only), NtStatus::INVALID_PARAMETER_5);
    let physical_commit = AllocRequest {
        physical: true,
        ..commit(0, 0x1000)
    };
    assert_eq!(bad(physical_commit), NtStatus::INVALID_PARAMETER_5);
    let physical_reserve_commit = AllocRequest {
        physical: true,
        commit: true,
        ..reserve(0, 0x1000)
    };
    assert_eq!(bad(physical_reserve_commit), NtStatus::INVALID_PARAMETER_5);
    let physical_ro = AllocRequest {
        physical: true,
        protection: RO,
        ..reserve(0, 0x1000)
    };
    let e = plan(&t, physical_ro).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER_6);
    assert!(e.message.contains("PAGE_READWRITE"), "{}", e.message);
}

#[test]
fn special_reservations_get_their_vad_type() {
    let t = VadTree::new();
    let physical = AllocRequest {
        physical: true,
        top_down: true,
        ..reserve(0, 0x1000)
    };
    let (base, size, v) = reserved(&t, physical);
    // Top-down starts at MM_HIGHEST_VAD_ADDRESS (0x7ffdffff), not at the
    // highest user address.
    assert_eq!((base, size), (0x7ffd_0000, 0x1000));
    assert_eq!(v.vad_type, VadType::Awe);
    assert!(!v.mem_commit && v.commit_charge == 0 && v.private_memory);
    let ww = AllocRequest {
        write_watch: true,
        ..reserve(0, 0x3000)
    };
    assert_eq!(reserved(&t, ww).2.vad_type, VadType::WriteWatch);
    let large = AllocRequest {
        large_pages: true,
        reserve: true,
        ..commit(0, 8 << 20)
    };
    let (base, size, v) = reserved(&t, large);
    assert_eq!((base, size), (4 << 20, 8 << 20));
    assert_eq!(v.vad_type, VadType::LargePages);
    assert!(v.mem_commit);
    assert_eq!(v.commit_charge, 2048);
    let odd_large = AllocRequest {
        large_pages: true,
        ..commit(0, (4 << 20) + 0x1000)
    };
    assert_eq!(status(plan(&t, odd_large)), NtStatus::INVALID_PARAMETER_4);
    // With an explicit base the start rounds down to the large page.
    let at = AllocRequest {
        large_pages: true,
        reserve: true,
        ..commit(0x0050_0000, 4 << 20)
    };
    let (base, size, _) = reserved(&t, at);
    // WRK: the range is the size from the aligned base, not to the end asked.
    assert_eq!((base, size), (0x0040_0000, 0x0040_0000));
    // PAE and x64 large pages are 2 MB.
    let pae = AddressLimits::for_arch(Arch::Pae);
    let two_mb = AllocRequest {
        large_pages: true,
        ..commit(0, 2 << 20)
    };
    assert!(plan_allocate(&t, &two_mb, pae).is_ok());
    assert_eq!(status(plan(&t, two_mb)), NtStatus::INVALID_PARAMETER_4);
}

#[test]
fn size_and_range_checks() {
    // NtAllocateVirtualMemory (allocvm.c): a base above MM_HIGHEST_VAD_ADDRESS
    // is parameter 2; a size of 0 or past it parameter 4.
    let t = VadTree::new();
    let s = |r: AllocRequest| status(plan(&t, r));
    assert_eq!(s(reserve(0x10000, 0)), NtStatus::INVALID_PARAMETER_4);
    assert_eq!(s(reserve(0, 0)), NtStatus::INVALID_PARAMETER_4);
    assert_eq!(
        s(reserve(0x8000_0000, 0x1000)),
        NtStatus::INVALID_PARAMETER_2
    );
    // The shared user data page's 64 KB are above MM_HIGHEST_VAD_ADDRESS.
    let e = plan(&t, reserve(0x7ffe_0000, 0x10000)).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER_2);
    assert!(
        e.message.contains("MM_HIGHEST_VAD_ADDRESS"),
        "{}",
        e.message
    );
    let e = plan(&t, reserve(0x7ffd_0000, 0x10001)).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER_4);
    assert_eq!(s(commit(u64::MAX, 2)), NtStatus::INVALID_PARAMETER_2);
    assert_eq!(s(reserve(0x10000, u64::MAX)), NtStatus::INVALID_PARAMETER_4);
    // The last 64 KB below the limit can be had exactly.
    let (base, size, _) = reserved(&t, reserve(0x7ffd_0000, 0x10000));
    assert_eq!((base, size), (0x7ffd_0000, 0x10000));
    // Below 64 KB (before Windows 8): an explicit base rounds down to 0 and
    // the NULL page can be reserved; base 0 still means "the system chooses".
    match plan(&t, reserve(0x1, 0x1000)).unwrap() {
        AllocPlan::Reserve { base, size, .. } => assert_eq!((base.0, size), (0, 0x2000)),
        other => panic!("{other:?}"),
    }
    let (base, size, v) = reserved(&t, reserve(0x1000, 0x1000));
    assert_eq!((base, size), (0, 0x2000));
    assert_eq!((v.starting_vpn, v.ending_vpn), (Vpn(0), Vpn(1)));
    assert_eq!(reserved(&t, reserve(0, 0x1000)).0, 0x10000);
}

#[test]
fn reservation_rounding() {
    let t = VadTree::new();
    // Base rounds down to 64 KB; the end rounds up to a page:
    // round_up(0x12345 + 0x1000, 4K) - 0x10000 = 0x14000 - 0x10000.
    let (base, size, v) = reserved(&t, reserve(0x12345, 0x1000));
    assert_eq!((base, size), (0x10000, 0x4000));
    assert_eq!((v.starting_vpn, v.ending_vpn), (Vpn(0x10), Vpn(0x13)));
    assert!(!v.mem_commit && v.commit_charge == 0);
    assert_eq!(reserved(&t, reserve(0x10000, 1)).1, 0x1000);
    assert_eq!(reserved(&t, reserve(0x10000, 0x1001)).1, 0x2000);
    assert_eq!(reserved(&t, reserve(0x2ffff, 2)).0, 0x20000);
    assert_eq!(reserved(&t, reserve(0x2ffff, 2)).1, 0x11000);
    // System-chosen: the size rounds up to pages, the base is 64 KB aligned.
    assert_eq!(
        (
            reserved(&t, reserve(0, 0x1234)).0,
            reserved(&t, reserve(0, 0x1234)).1
        ),
        (0x10000, 0x2000)
    );
}

#[test]
fn null_base_commit_reserves_and_commits() {
    let t = VadTree::new();
    let (base, size, v) = reserved(&t, commit(0, 0x5000));
    assert_eq!((base, size), (0x10000, 0x5000));
    assert!(v.mem_commit);
    assert_eq!(v.commit_charge, 5);
    assert_eq!(v.protection, RW);
    let both = AllocRequest {
        reserve: true,
        ..commit(0x12345, 0x1000)
    };
    let (_, _, v) = reserved(&t, both);
    assert_eq!(v.commit_charge, 4);
    // WRK: MEM_RESET with a NULL base also takes the reserve path.
    let reset_null = AllocRequest {
        reset: true,
        ..req(0, 0x1000)
    };
    let (_, _, v) = reserved(&t, reset_null);
    assert!(!v.mem_commit);
}

#[test]
fn reserving_over_an_existing_vad_conflicts() {
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    let e = plan(&t, reserve(0x12000, 0x3000)).unwrap_err();
    assert_eq!(e.status, NtStatus::CONFLICTING_ADDRESSES);
    assert_eq!(
        e.message,
        "0x10000-0x14fff overlaps the reservation at 0x10000-0x1ffff"
    );
    // 0x2f000 rounds down to 0x20000, which is free; 0x1ffff rounds into the VAD.
    assert!(plan(&t, reserve(0x2f000, 0x1000)).is_ok());
    assert_eq!(
        status(plan(&t, reserve(0x1ffff, 0x1000))),
        NtStatus::CONFLICTING_ADDRESSES
    );
    // A system-chosen base skips it.
    assert_eq!(reserved(&t, reserve(0, 0x1000)).0, 0x20000);
}

#[test]
fn copy_on_write_is_refused_for_private_memory() {
    let t = VadTree::new();
    for p in [WC, EWC] {
        let r = AllocRequest {
            protection: p,
            ..reserve(0, 0x1000)
        };
        assert_eq!(status(plan(&t, r)), NtStatus::INVALID_PAGE_PROTECTION);
    }
    let t = tree_with(vec![vad(0x10000, 0x10000), view(0x20000, 0x10000, false)]);
    let private_commit = AllocRequest {
        protection: WC,
        ..commit(0x10000, 0x1000)
    };
    assert_eq!(
        status(plan(&t, private_commit)),
        NtStatus::INVALID_PAGE_PROTECTION
    );
    let view_commit = AllocRequest {
        protection: WC,
        ..commit(0x20000, 0x1000)
    };
    assert!(matches!(
        plan(&t, view_commit).unwrap(),
        AllocPlan::CommitExisting { .. }
    ));
}

#[test]
fn top_down_and_bottom_up_choices() {
    let t = tree_with(vec![vad(0x10000, 0x10000), vad(0x7ffe_0000, 0x10000)]);
    let down = AllocRequest {
        top_down: true,
        ..reserve(0, 0x18000)
    };
    // Highest 64 KB-aligned base with base + 0x18000 <= 0x7ffe0000.
    assert_eq!(reserved(&t, down).0, 0x7ffc_0000);
    assert_eq!(reserved(&t, reserve(0, 0x18000)).0, 0x20000);
}

#[test]
fn no_room_is_no_memory() {
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    let small = AddressLimits {
        lowest: 0x10000,
        highest: 0x3ffff,
        large_page_size: 4 << 20,
    };
    for top_down in [false, true] {
        let r = AllocRequest {
            top_down,
            ..reserve(0, 0x30000)
        };
        let e = plan_allocate(&t, &r, small).unwrap_err();
        assert_eq!(e.status, NtStatus::NO_MEMORY, "{}", e.message);
        let fits = AllocRequest {
            top_down,
            ..reserve(0, 0x20000)
        };
        assert!(plan_allocate(&t, &fits, small).is_ok());
    }
}

fn committed(t: &VadTree, r: AllocRequest) -> (u64, u64, Vpn) {
    match plan(t, r).unwrap() {
        AllocPlan::CommitExisting {
            base,
            size,
            vad_start,
        } => (base.0, size, vad_start),
        other => panic!("expected CommitExisting, got {other:?}"),
    }
}

#[test]
fn commit_inside_a_reservation_rounds_to_pages() {
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    assert_eq!(
        committed(&t, commit(0x12345, 0x10)),
        (0x12000, 0x1000, Vpn(0x10))
    );
    assert_eq!(
        committed(&t, commit(0x12fff, 2)),
        (0x12000, 0x2000, Vpn(0x10))
    );
    assert_eq!(
        committed(&t, commit(0x10000, 0x10000)),
        (0x10000, 0x10000, Vpn(0x10))
    );
    // A mapped view can be committed too (pagefile-backed: the caller checks).
    let t = tree_with(vec![view(0x10000, 0x10000, false)]);
    assert_eq!(committed(&t, commit(0x11000, 0x1000)).0, 0x11000);
}

#[test]
fn commit_outside_one_reservation_conflicts() {
    let t = tree_with(vec![
        vad(0x10000, 0x10000),
        vad(0x20000, 0x10000),
        vad_of(0x40000, 0x10000, VadType::Awe),
        vad_of(0x0040_0000, 0x0040_0000, VadType::LargePages),
    ]);
    let c = |a, s| status(plan(&t, commit(a, s)));
    // Unreserved: WRK says STATUS_CONFLICTING_ADDRESSES, not MEMORY_NOT_ALLOCATED.
    let e = plan(&t, commit(0x30000, 0x1000)).unwrap_err();
    assert_eq!(e.status, NtStatus::CONFLICTING_ADDRESSES);
    assert!(e.message.contains("nothing is reserved"), "{}", e.message);
    // Partly covered (runs off the end of the second VAD into free space).
    assert_eq!(c(0x2f000, 0x2000), NtStatus::CONFLICTING_ADDRESSES);
    // Starts in free space and runs into a VAD.
    assert_eq!(c(0xf000, 0x2000), NtStatus::CONFLICTING_ADDRESSES);
    // Spans two adjacent VADs.
    assert_eq!(c(0x1f000, 0x2000), NtStatus::CONFLICTING_ADDRESSES);
    // AWE and large-page reservations take no commits.
    assert_eq!(c(0x40000, 0x1000), NtStatus::CONFLICTING_ADDRESSES);
    assert_eq!(c(0x0040_0000, 0x1000), NtStatus::CONFLICTING_ADDRESSES);
    // Large pages on the commit path: the flag is ignored, the VAD decides.
    let large = AllocRequest {
        large_pages: true,
        ..commit(0x10000, 0x1000)
    };
    assert!(plan(&t, large).is_ok());
}

#[test]
fn reset_rounds_inward_and_needs_a_reservation() {
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    let reset = |a, s| AllocRequest {
        reset: true,
        ..req(a, s)
    };
    match plan(&t, reset(0x10800, 0x2000)).unwrap() {
        AllocPlan::Reset {
            base,
            size,
            vad_start,
        } => assert_eq!((base.0, size, vad_start), (0x11000, 0x1000, Vpn(0x10))),
        other => panic!("{other:?}"),
    }
    match plan(&t, reset(0x10000, 0x10000)).unwrap() {
        AllocPlan::Reset { base, size, .. } => assert_eq!((base.0, size), (0x10000, 0x10000)),
        other => panic!("{other:?}"),
    }
    // Less than a whole page: nothing to reset.
    assert_eq!(
        status(plan(&t, reset(0x10800, 0x1000))),
        NtStatus::CONFLICTING_ADDRESSES
    );
    assert_eq!(
        status(plan(&t, reset(0x30000, 0x1000))),
        NtStatus::CONFLICTING_ADDRESSES
    );
    // MEM_RESET of an unaligned range inside the last page of user space.
    assert!(plan(&t, reset(0x7ffd_fff0, 0x10)).is_err());
}

#[test]
fn x64_limits() {
    let l = AddressLimits::for_arch(Arch::X64);
    let t = VadTree::new();
    let r = AllocRequest {
        top_down: true,
        ..reserve(0, 0x1000)
    };
    match plan_allocate(&t, &r, l).unwrap() {
        AllocPlan::Reserve { base, .. } => assert_eq!(base.0, 0x7ff_fffd_0000),
        other => panic!("{other:?}"),
    }
}
