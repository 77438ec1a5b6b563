use super::*;
use crate::mm::base::types::Vpn;

#[test]
fn protect_range_must_be_inside_one_vad() {
    let plan_protect = |t: &VadTree, a: u64, s: u64| plan_protect(t, a, s, 0x7ffe_ffff);
    let t = tree_with(vec![vad(0x10000, 0x10000), vad(0x20000, 0x10000)]);
    assert_eq!(
        plan_protect(&t, 0x12345, 0x1000).unwrap(),
        (Vpn(0x12), Vpn(0x13))
    );
    assert_eq!(
        plan_protect(&t, 0x10000, 0x10000).unwrap(),
        (Vpn(0x10), Vpn(0x1f))
    );
    let e = plan_protect(&t, 0x30000, 0x1000).unwrap_err();
    assert_eq!(e.status, NtStatus::CONFLICTING_ADDRESSES);
    assert!(e.message.contains("nothing is reserved"), "{}", e.message);
    let e = plan_protect(&t, 0x1f000, 0x2000).unwrap_err();
    assert_eq!(e.status, NtStatus::CONFLICTING_ADDRESSES);
    assert!(
        e.message.contains("not inside one reservation"),
        "{}",
        e.message
    );
    assert_eq!(
        status(plan_protect(&t, 0xf000, 0x2000)),
        NtStatus::CONFLICTING_ADDRESSES
    );
    // NtProtectVirtualMemory: the base is parameter 2, the size 3.
    assert_eq!(
        status(plan_protect(&t, 0x10000, 0)),
        NtStatus::INVALID_PARAMETER_3
    );
    assert_eq!(
        status(plan_protect(&t, u64::MAX, 2)),
        NtStatus::INVALID_PARAMETER_2
    );
    assert_eq!(
        status(plan_protect(&t, 0x8000_0000, 0x1000)),
        NtStatus::INVALID_PARAMETER_2
    );
    assert_eq!(
        status(plan_protect(&t, 0x7ffe_0000, 0x10000)),
        NtStatus::INVALID_PARAMETER_3
    );
    assert_eq!(
        status(plan_protect(&t, 0x7ffe_0000, 0xffff)),
        NtStatus::CONFLICTING_ADDRESSES
    );
}

#[test]
fn protect_rules_by_vad_kind() {
    let awe = vad_of(0x10000, 0x10000, VadType::Awe);
    let large = vad_of(0x0040_0000, 0x0040_0000, VadType::LargePages);
    for v in [&awe, &large] {
        assert_eq!(
            check_protect_change(v, RW).unwrap(),
            ProtectCheck::AlreadyReadWrite
        );
        assert_eq!(
            status(check_protect_change(v, RO)),
            NtStatus::CONFLICTING_ADDRESSES
        );
    }
    let private = vad(0x10000, 0x1000);
    assert_eq!(
        check_protect_change(&private, RO).unwrap(),
        ProtectCheck::Apply
    );
    for p in [WC, EWC] {
        assert_eq!(
            status(check_protect_change(&private, p)),
            NtStatus::INVALID_PARAMETER_4
        );
    }
    // MiProtectVirtualMemory: PAGE_NOCACHE is refused on a view, allowed on
    // private memory.
    let nocache = Protection::from_raw(RW.raw() | Protection::NOCACHE_BIT);
    assert_eq!(
        status(check_protect_change(&view(0x10000, 0x1000, false), nocache)),
        NtStatus::INVALID_PARAMETER_4
    );
    assert_eq!(
        check_protect_change(&private, nocache).unwrap(),
        ProtectCheck::Apply
    );
    assert_eq!(
        check_protect_change(&view(0x10000, 0x1000, false), WC).unwrap(),
        ProtectCheck::Apply
    );
    let mut phys = view(0x10000, 0x1000, false);
    phys.vad_type = VadType::DevicePhysicalMemory;
    assert_eq!(
        status(check_protect_change(&phys, RO)),
        NtStatus::CONFLICTING_ADDRESSES
    );
}
