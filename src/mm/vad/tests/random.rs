//! Randomized reserve/release sequences against a page-bitmap model.

use super::*;
use crate::mm::base::status::MmError;
use crate::mm::base::types::{ALLOCATION_GRANULARITY, Arch, PAGE_SIZE};
use crate::mm::testutil::XorShift;

/// 16 MB of address space: 4096 pages, 256 allocation slots.
const LIMITS: AddressLimits = AddressLimits {
    lowest: 0x10000,
    highest: 0x00ff_ffff,
    large_page_size: 4 << 20,
};
const PAGES: usize = ((LIMITS.highest + 1) / PAGE_SIZE) as usize;

fn page_used(model: &[bool], first: u64, last: u64) -> bool {
    (first..=last).any(|p| model[p as usize])
}

/// The answer find_free must give, by brute force over aligned bases.
fn brute_force(model: &[bool], size: u64, top_down: bool) -> Option<u64> {
    let pages = size / PAGE_SIZE;
    let slots = (LIMITS.lowest..=LIMITS.highest).step_by(ALLOCATION_GRANULARITY as usize);
    let fits = |base: &u64| {
        let first = base / PAGE_SIZE;
        let last = first + pages - 1;
        last < PAGES as u64 && !page_used(model, first, last)
    };
    let mut all = slots.filter(fits);
    if top_down { all.last() } else { all.next() }
}

fn check_tree(t: &VadTree, model: &[bool]) {
    let mut prev_end: Option<u64> = None;
    let mut seen = vec![false; PAGES];
    for v in t.iter() {
        assert!(v.starting_vpn <= v.ending_vpn);
        if let Some(e) = prev_end {
            assert!(v.starting_vpn.0 > e, "VADs overlap or are out of order");
        }
        prev_end = Some(v.ending_vpn.0);
        for p in v.starting_vpn.0..=v.ending_vpn.0 {
            seen[p as usize] = true;
        }
    }
    assert_eq!(seen, model, "the tree and the model disagree");
}

/// `e` is one of the statuses `allowed`.
fn assert_status_in(e: &MmError, allowed: &[NtStatus]) {
    assert!(allowed.contains(&e.status), "{e}");
}

/// Reserve, system-chosen or at a random address: the plan must be the
/// model's answer, or a refusal the model explains.
fn reserve(t: &mut VadTree, model: &mut [bool], rng: &mut XorShift) {
    let size = (1 + rng.below(48)) * PAGE_SIZE - rng.below(PAGE_SIZE);
    let address = if rng.below(2) == 0 {
        0
    } else {
        rng.below(LIMITS.highest + 0x20000)
    };
    let mut r = AllocRequest::new(address, size, RW);
    r.reserve = true;
    r.commit = rng.below(2) == 0;
    r.top_down = rng.below(2) == 0;
    match plan_allocate(t, &r, LIMITS) {
        Ok(AllocPlan::Reserve { base, size, vad }) => {
            assert_eq!(base.0 % ALLOCATION_GRANULARITY, 0);
            // An explicit base has no lower bound (WRK); the system's choice does.
            assert!(address != 0 || base.0 >= LIMITS.lowest);
            assert!(base.0 + size - 1 <= LIMITS.highest);
            let (f, l) = (vad.starting_vpn.0, vad.ending_vpn.0);
            assert!(!page_used(model, f, l));
            if address == 0 {
                let want = brute_force(model, size, r.top_down);
                assert_eq!(Some(base.0), want);
            } else {
                assert_eq!(base.0, address - address % ALLOCATION_GRANULARITY);
            }
            t.insert(vad).unwrap();
            (f..=l).for_each(|p| model[p as usize] = true);
        }
        Ok(other) => panic!("a reserve planned {other:?}"),
        Err(e) => {
            use NtStatus as S;
            assert_status_in(
                &e,
                &[
                    S::CONFLICTING_ADDRESSES,
                    S::NO_MEMORY,
                    S::INVALID_PARAMETER_2,
                    S::INVALID_PARAMETER_4,
                ],
            );
            if e.status == NtStatus::NO_MEMORY {
                let pages = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
                assert_eq!(brute_force(model, pages, false), None);
            }
        }
    }
}

/// Release all or part of a random VAD, or a random address.
fn release(t: &mut VadTree, model: &mut [bool], rng: &mut XorShift) {
    let starts: Vec<u64> = t.iter().map(|v| v.start_va().0).collect();
    let (address, size) = if starts.is_empty() || rng.below(8) == 0 {
        (rng.below(LIMITS.highest), rng.below(0x20000))
    } else {
        let v = t.find(Va(starts[rng.below(starts.len() as u64) as usize]).vpn());
        let v = v.unwrap();
        let pages = v.page_count();
        if rng.below(3) == 0 {
            (v.start_va().0, 0)
        } else {
            let first = rng.below(pages);
            let n = 1 + rng.below(pages - first);
            (v.start_va().0 + first * PAGE_SIZE, n * PAGE_SIZE)
        }
    };
    match plan_free(t, address, size, true, LIMITS.highest) {
        Ok(p) => {
            let before = t.len();
            apply_release(t, &p, |_, _| 0).unwrap();
            let delta = match p.kind {
                FreeKind::RemoveWhole => -1,
                FreeKind::SplitMiddle => 1,
                _ => 0,
            };
            assert_eq!(t.len() as i64, before as i64 + delta);
            (p.first_vpn.0..=p.last_vpn.0).for_each(|q| model[q as usize] = false);
        }
        Err(e) => {
            use NtStatus as S;
            assert_status_in(
                &e,
                &[
                    S::MEMORY_NOT_ALLOCATED,
                    S::UNABLE_TO_FREE_VM,
                    S::FREE_VM_NOT_AT_BASE,
                    S::INVALID_PARAMETER_3,
                ],
            );
            if e.status == S::INVALID_PARAMETER_3 {
                assert!(size > LIMITS.highest - address);
            }
        }
    }
}

/// Probe find_free directly against the model.
fn probe(t: &VadTree, model: &[bool], rng: &mut XorShift) {
    let size = (1 + rng.below(64)) * PAGE_SIZE;
    for top_down in [false, true] {
        let got = t.find_free(
            size,
            ALLOCATION_GRANULARITY,
            Va(LIMITS.lowest),
            Va(LIMITS.highest),
            top_down,
        );
        assert_eq!(got.map(|v| v.0), brute_force(model, size, top_down));
        if let Some(b) = got {
            let (f, l) = (b.vpn().0, Va(b.0 + size - 1).vpn().0);
            assert_eq!(
                t.find_overlapping(Va(b.0).vpn(), Va(b.0 + size - 1).vpn())
                    .count(),
                0
            );
            assert!(!page_used(model, f, l));
        }
    }
}

#[test]
fn random_reserve_release_sequences() {
    for seed in [0x9e37_79b9_7f4a_7c15u64, 1, 0xdead_beef, 42] {
        let mut rng = XorShift(seed);
        let mut t = VadTree::new();
        let mut model = vec![false; PAGES];
        for _ in 0..1500 {
            match rng.below(10) {
                0..=4 => reserve(&mut t, &mut model, &mut rng),
                5..=8 => release(&mut t, &mut model, &mut rng),
                _ => probe(&t, &model, &mut rng),
            }
            check_tree(&t, &model);
        }
    }
}

/// Random flags, edge-value addresses and sizes, and odd limits: every call
/// returns (no panic), and every planned reservation can be inserted.
#[test]
fn random_requests_never_panic() {
    let edges = [
        0,
        1,
        0xfff,
        0x1000,
        0xffff,
        0x10000,
        0x7ffe_ffff,
        0x7fff_0000,
        u64::MAX - 0x1000,
        u64::MAX - 1,
        u64::MAX,
    ];
    let limit_set = [
        AddressLimits::for_arch(Arch::X86),
        AddressLimits::for_arch(Arch::X64),
        AddressLimits {
            lowest: 0,
            highest: u64::MAX,
            large_page_size: 0,
        },
        AddressLimits {
            lowest: 0x20000,
            highest: 0x10000,
            large_page_size: u64::MAX,
        },
    ];
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    for limits in limit_set {
        let mut t = tree_with(vec![vad(0x10000, 0x10000), vad(0x7ffd_0000, 0x20000)]);
        for _ in 0..3000 {
            let pick = |rng: &mut XorShift| match rng.below(3) {
                0 => edges[rng.below(edges.len() as u64) as usize],
                1 => rng.below(0x1_0000_0000),
                _ => rng.next(),
            };
            let address = pick(&mut rng);
            let size = pick(&mut rng);
            let bits = rng.next();
            let r = AllocRequest {
                address,
                size,
                reserve: bits & 1 != 0,
                commit: bits & 2 != 0,
                top_down: bits & 4 != 0,
                reset: bits & 8 != 0 && bits & 0x100 != 0,
                write_watch: bits & 16 != 0 && bits & 0x200 != 0,
                large_pages: bits & 32 != 0 && bits & 0x400 != 0,
                physical: bits & 64 != 0 && bits & 0x800 != 0,
                protection: Protection::from_raw((bits >> 12) as u8 & 0x1f),
            };
            if let Ok(AllocPlan::Reserve { vad, .. }) = plan_allocate(&t, &r, limits) {
                t.insert(vad).unwrap();
            }
            let _ = plan_free(&t, address, size, bits & 0x1000 != 0, limits.highest);
            if let Ok(p) = plan_free(&t, address, size, true, limits.highest) {
                apply_release(&mut t, &p, |a, b| b.0.saturating_sub(a.0)).unwrap();
            }
            let _ = plan_protect(&t, address, size, limits.highest);
            let _ = t.find_free(
                size,
                pick(&mut rng),
                Va(address),
                Va(pick(&mut rng)),
                bits & 4 != 0,
            );
        }
    }
}
