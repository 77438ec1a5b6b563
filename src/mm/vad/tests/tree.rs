use super::*;
use crate::mm::base::types::Vpn;

#[test]
fn insert_find_and_iterate_in_address_order() {
    let mut t = VadTree::new();
    assert!(t.is_empty());
    t.insert(vad(0x30000, 0x10000)).unwrap();
    t.insert(vad(0x10000, 0x10000)).unwrap();
    t.insert(vad(0x20000, 0x1000)).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(
        ranges(&t),
        vec![(0x10000, 0x1ffff), (0x20000, 0x20fff), (0x30000, 0x3ffff)]
    );
    assert_eq!(t.find(Vpn(0x10)).unwrap().starting_vpn, Vpn(0x10));
    assert_eq!(t.find(Vpn(0x1f)).unwrap().starting_vpn, Vpn(0x10));
    assert_eq!(t.find(Vpn(0x20)).unwrap().starting_vpn, Vpn(0x20));
    assert!(t.find(Vpn(0x21)).is_none());
    assert!(t.find(Vpn(0xf)).is_none());
    assert!(t.find(Vpn(0x40)).is_none());
    t.find_mut(Vpn(0x35)).unwrap().commit_charge = 3;
    assert_eq!(t.get(Vpn(0x30)).unwrap().commit_charge, 3);
    let back: Vec<u64> = t.iter().rev().map(|v| v.starting_vpn.0).collect();
    assert_eq!(back, vec![0x30, 0x20, 0x10]);
}

#[test]
fn insert_refuses_overlap_with_a_readable_sentence() {
    let mut t = tree_with(vec![vad(0x10000, 0x10000)]);
    let e = t.insert(vad(0x18000, 0x10000)).unwrap_err();
    assert_eq!(e.status, NtStatus::CONFLICTING_ADDRESSES);
    assert_eq!(
        e.message,
        "0x18000-0x27fff overlaps the reservation at 0x10000-0x1ffff"
    );
    // Overlap from below, exact duplicate, and containment.
    assert!(t.insert(vad(0x0, 0x11000)).is_err());
    assert!(t.insert(vad(0x10000, 0x10000)).is_err());
    assert!(t.insert(vad(0x12000, 0x1000)).is_err());
    // Touching is fine.
    t.insert(vad(0x20000, 0x1000)).unwrap();
    t.insert(vad(0xf000, 0x1000)).unwrap();
    assert_eq!(t.len(), 3);
}

#[test]
fn insert_refuses_malformed_vads() {
    let mut t = VadTree::new();
    let mut v = vad(0x10000, 0x1000);
    v.ending_vpn = Vpn(0xf);
    assert_eq!(status(t.insert(v)), NtStatus::INVALID_PARAMETER);
    let huge = Vad::private(Vpn(0), Vpn(u64::MAX), RW);
    assert_eq!(status(t.insert(huge)), NtStatus::INVALID_PARAMETER);
    assert!(t.is_empty());
}

#[test]
fn find_overlapping_includes_a_vad_starting_below() {
    let t = tree_with(vec![
        vad(0x10000, 0x10000),
        vad(0x20000, 0x10000),
        vad(0x40000, 0x10000),
    ]);
    let starts = |a: u64, b: u64| -> Vec<u64> {
        t.find_overlapping(Vpn(a), Vpn(b))
            .map(|v| v.starting_vpn.0)
            .collect()
    };
    assert_eq!(starts(0x18, 0x22), vec![0x10, 0x20]);
    assert_eq!(starts(0x1f, 0x1f), vec![0x10]);
    assert_eq!(starts(0x30, 0x3f), Vec::<u64>::new());
    assert_eq!(starts(0x0, 0x100), vec![0x10, 0x20, 0x40]);
    assert_eq!(starts(0x4f, u64::MAX), vec![0x40]);
    // A reversed range is empty rather than a panic.
    assert_eq!(starts(0x20, 0x10), Vec::<u64>::new());
}

#[test]
fn remove_returns_the_vad() {
    let mut t = tree_with(vec![vad(0x10000, 0x10000)]);
    assert!(t.remove(Vpn(0x11)).is_none());
    assert_eq!(t.remove(Vpn(0x10)).unwrap().page_count(), 16);
    assert!(t.is_empty());
}

#[test]
fn trim_and_split_keep_the_tree_keyed_by_start() {
    let mut w = vad_of(0x10000, 0x10000, VadType::None);
    w.write_watch = [0x10, 0x13, 0x18, 0x1f].into_iter().collect();
    let mut t = tree_with(vec![w]);
    assert!(!t.trim_start(Vpn(0x10), Vpn(0x10)));
    assert!(!t.trim_start(Vpn(0x10), Vpn(0x20)));
    assert!(t.trim_start(Vpn(0x10), Vpn(0x12)));
    assert!(t.get(Vpn(0x10)).is_none());
    assert!(!t.trim_end(Vpn(0x12), Vpn(0x1f)));
    assert!(t.trim_end(Vpn(0x12), Vpn(0x1d)));
    assert_eq!(ranges(&t), vec![(0x12000, 0x1dfff)]);
    assert!(!t.split(Vpn(0x12), Vpn(0x12), Vpn(0x14)));
    assert!(!t.split(Vpn(0x12), Vpn(0x15), Vpn(0x1d)));
    assert!(!t.split(Vpn(0x12), Vpn(0x16), Vpn(0x15)));
    assert!(t.split(Vpn(0x12), Vpn(0x14), Vpn(0x17)));
    assert_eq!(ranges(&t), vec![(0x12000, 0x13fff), (0x18000, 0x1dfff)]);
    let lo: Vec<u64> = t
        .get(Vpn(0x12))
        .unwrap()
        .write_watch
        .iter()
        .copied()
        .collect();
    let hi: Vec<u64> = t
        .get(Vpn(0x18))
        .unwrap()
        .write_watch
        .iter()
        .copied()
        .collect();
    assert_eq!(lo, vec![0x13]);
    assert_eq!(hi, vec![0x18]);
}

#[test]
fn bottom_up_is_first_fit_from_lowest() {
    let (lo, hi) = (Va(0x10000), Va(0x7ffe_ffff));
    let mut t = VadTree::new();
    assert_eq!(
        t.find_free(0x1000, 0x10000, lo, hi, false),
        Some(Va(0x10000))
    );
    t.insert(vad(0x10000, 0x12000)).unwrap(); // ends at 0x21fff
    assert_eq!(
        t.find_free(0x1000, 0x10000, lo, hi, false),
        Some(Va(0x30000))
    );
    t.insert(vad(0x50000, 0x10000)).unwrap();
    // 0x30000-0x4ffff is a 128 KB hole: 0x20000 fits, 0x21000 does not.
    assert_eq!(
        t.find_free(0x20000, 0x10000, lo, hi, false),
        Some(Va(0x30000))
    );
    assert_eq!(
        t.find_free(0x21000, 0x10000, lo, hi, false),
        Some(Va(0x60000))
    );
    // Unaligned sizes are rounded to pages; page alignment packs tightly.
    assert_eq!(t.find_free(0x1, 0, lo, hi, false), Some(Va(0x22000)));
    // A lowest address that is not aligned rounds up.
    assert_eq!(
        VadTree::new().find_free(0x1000, 0x10000, Va(0x10001), hi, false),
        Some(Va(0x20000))
    );
}

#[test]
fn top_down_is_highest_fit_below_highest() {
    let (lo, hi) = (Va(0x10000), Va(0x7ffe_ffff));
    let mut t = VadTree::new();
    assert_eq!(
        t.find_free(0x1000, 0x10000, lo, hi, true),
        Some(Va(0x7ffe_0000))
    );
    assert_eq!(
        t.find_free(0x20000, 0x10000, lo, hi, true),
        Some(Va(0x7ffd_0000))
    );
    assert_eq!(
        t.find_free(0x11000, 0x10000, lo, hi, true),
        Some(Va(0x7ffd_0000))
    );
    t.insert(vad(0x7ffd_0000, 0x20000)).unwrap();
    assert_eq!(
        t.find_free(0x1000, 0x10000, lo, hi, true),
        Some(Va(0x7ffc_0000))
    );
    // A VAD that sticks out above `highest` still blocks what it covers.
    let t2 = tree_with(vec![vad(0x7ff0_0000, 0x0020_0000)]);
    assert_eq!(
        t2.find_free(0x1000, 0x10000, lo, Va(0x7fff_ffff), true),
        Some(Va(0x7fef_0000))
    );
    // The hole between two VADs is found when the top is full.
    let t3 = tree_with(vec![vad(0x10000, 0x10000), vad(0x40000, 0x7ffb_0000)]);
    assert_eq!(
        t3.find_free(0x20000, 0x10000, lo, hi, true),
        Some(Va(0x20000))
    );
    assert_eq!(t3.find_free(0x30000, 0x10000, lo, hi, true), None);
}

#[test]
fn find_free_never_panics_and_says_none() {
    let t = tree_with(vec![vad(0x10000, 0x10000)]);
    for top_down in [false, true] {
        let f = |size, align, lo, hi| t.find_free(size, align, Va(lo), Va(hi), top_down);
        assert_eq!(f(0, 0x10000, 0x10000, 0x7ffe_ffff), None);
        assert_eq!(f(u64::MAX, 0x10000, 0x10000, 0x7ffe_ffff), None);
        assert_eq!(f(0x1000, 0x10000, 0x20000, 0x10000), None);
        assert_eq!(f(0x1000, 0x10000, 0x10000, 0x1ffff), None);
        // A huge alignment must not overflow: only base 0 could satisfy it.
        assert_eq!(f(0x1000, u64::MAX, 0x10000, u64::MAX), None);
        assert_eq!(f(0x1000, 0x10000, u64::MAX - 5, u64::MAX), None);
        assert!(f(0x1000, 0x10000, 0, u64::MAX).is_some());
        assert!(f(0x1000, 3, 0, 0x40000).is_some());
    }
    let full = tree_with(vec![Vad::private(Vpn(0), Vpn(u64::MAX >> 12), RW)]);
    assert_eq!(full.find_free(0x1000, 0, Va(0), Va(u64::MAX), false), None);
    assert_eq!(full.find_free(0x1000, 0, Va(0), Va(u64::MAX), true), None);
}

#[test]
fn vad_types_names_and_split_rules() {
    for raw in 0..8 {
        assert_eq!(VadType::from_raw(raw).unwrap().raw(), raw);
    }
    assert_eq!(VadType::from_raw(8), None);
    assert_eq!(VadType::WriteWatch.nt_name(), "VadWriteWatch");
    assert_eq!(vad(0x10000, 0x1000).type_name(), "private");
    assert_eq!(view(0x10000, 0x1000, false).type_name(), "mapped");
    assert_eq!(view(0x10000, 0x1000, true).type_name(), "image");
    assert_eq!(vad_of(0x10000, 0x1000, VadType::Awe).type_name(), "awe");
    assert_eq!(
        vad_of(0, 0x1000, VadType::WriteWatch).type_name(),
        "writewatch"
    );
    assert_eq!(
        vad_of(0, 0x1000, VadType::LargePages).type_name(),
        "largepages"
    );
    assert!(VadType::None.can_split());
    assert!(VadType::ImageMap.can_split());
    for t in [
        VadType::Awe,
        VadType::LargePages,
        VadType::WriteWatch,
        VadType::RotatePhysical,
    ] {
        assert!(!t.can_split());
    }
    let v = vad(0x10000, 0x3000);
    assert_eq!(v.page_count(), 3);
    assert_eq!(v.size_bytes(), 0x3000);
    assert_eq!(v.end_va(), Va(0x12fff));
    assert!(v.contains(Vpn(0x12)) && !v.contains(Vpn(0x13)));
    assert_eq!(v.range_text(), "0x10000-0x12fff");
    let copy = Vad::mapped(
        Vpn(1),
        Vpn(2),
        WC,
        view(0, 0x1000, false).section.unwrap(),
        false,
    );
    assert!(copy.copy_on_write && !copy.private_memory);
}
