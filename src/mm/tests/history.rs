//! `system/history.svg`'s samples: one per simulated second, what the
//! machine was at the end of it and the faults during it.

use super::{RW, assert_verified, machine, meminfo, req};
use crate::mm::base::types::{Arch, PAGE_SIZE};
use crate::mm::inspect::{FAULT_KINDS, HISTORY_SAMPLES};
use crate::mm::pfn::PageLocation;

fn kind(name: &str) -> usize {
    FAULT_KINDS.iter().position(|k| *k == name).unwrap()
}

#[test]
fn a_sample_per_ticked_second_with_that_seconds_faults() {
    let mm = machine(Arch::X86);
    assert!(mm.history().is_empty(), "no second has passed at boot");
    let pid = mm.create_process("app").unwrap();
    let (base, _) = mm
        .allocate(pid, &req(0, 64 * PAGE_SIZE, "reserve,commit", RW))
        .unwrap();
    mm.tick(1000).unwrap();
    let dz_before = mm.counter("demand_zero_faults");
    mm.touch_pages(pid, base.0, 40, true).unwrap();
    let dz = mm.counter("demand_zero_faults") - dz_before;
    assert_eq!(dz, 40);
    mm.tick(30_000).unwrap();
    let h = mm.history();
    assert_eq!(h.len(), 31);
    for (i, s) in h.iter().enumerate() {
        assert_eq!(s.time_ms, (i as u64 + 1) * 1000);
        assert_eq!(s.interval_ms, 1000);
        assert_eq!(
            s.pages.iter().sum::<u64>(),
            u64::from(mm.physical_pages()),
            "every page is somewhere"
        );
    }
    // The 40 faults fell in the second between the first and second sample.
    assert_eq!(h[1].faults[kind("demand-zero")], 40);
    assert_eq!(h[1].fault_rate(kind("demand-zero")), 40.0);
    assert!(h[2..].iter().all(|s| s.faults[kind("demand-zero")] == 0));
    // The last sample is the machine now.
    let last = h.last().unwrap();
    assert_eq!(last.commit_charge, meminfo(&mm, "CommitCharge"));
    assert_eq!(last.commit_limit, meminfo(&mm, "CommitLimit"));
    assert_eq!(
        last.pages_in(PageLocation::Active),
        meminfo(&mm, "ActivePages")
    );
    assert_eq!(
        last.pages_in(PageLocation::Zeroed),
        meminfo(&mm, "ZeroedPages")
    );
    assert_verified(&mm);
}

#[test]
fn half_seconds_make_one_sample_and_ten_minutes_are_kept() {
    let mm = machine(Arch::X86);
    mm.tick(500).unwrap();
    assert!(mm.history().is_empty());
    mm.tick(500).unwrap();
    assert_eq!(mm.history().len(), 1);
    mm.tick(300).unwrap();
    assert_eq!(mm.history().len(), 1);
    // From 1.3 s a one-second step ends in the next second: sampled, the
    // rates over the 1.3 s since the last sample.
    mm.tick(1000).unwrap();
    let h = mm.history();
    assert_eq!(h.len(), 2);
    assert_eq!((h[1].time_ms, h[1].interval_ms), (2300, 1300));
    // An hour, mostly skipped as quiet: the last ten minutes, a second apart.
    mm.tick(3_600_000).unwrap();
    let h = mm.history();
    assert_eq!(h.len(), HISTORY_SAMPLES);
    let now = mm.clock().now_ms();
    assert_eq!(h.last().unwrap().time_ms, now);
    assert!(h.windows(2).all(|w| w[1].time_ms == w[0].time_ms + 1000));
    assert!(h.iter().all(|s| s.interval_ms == 1000));
    assert_verified(&mm);
}
