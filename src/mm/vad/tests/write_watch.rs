//! The VAD half of write watch: capturing a dirty bit only into a
//! write-watch VAD, and WRK's range checks of NtGetWriteWatch and
//! NtResetWriteWatch (`plan_write_watch`).

use super::*;

/// MM_HIGHEST_VAD_ADDRESS on x86.
const HIGHEST: u64 = 0x7ffd_ffff;

fn tree() -> VadTree {
    let mut t = VadTree::new();
    t.insert(vad_of(0x10000, 0x10000, VadType::WriteWatch))
        .unwrap();
    t.insert(vad(0x20000, 0x10000)).unwrap();
    t
}

fn plan(t: &VadTree, address: u64, size: u64, call: WriteWatchCall) -> MmResult<WriteWatchRange> {
    plan_write_watch(t, address, size, HIGHEST, call)
}

#[test]
fn a_dirty_bit_is_captured_only_in_a_write_watch_vad() {
    let mut t = tree();
    assert!(t.capture_write_watch(Va(0x13000).vpn()));
    assert!(!t.capture_write_watch(Va(0x23000).vpn()));
    assert!(!t.capture_write_watch(Va(0x90000).vpn()));
    let bits = |t: &VadTree, at: u64| t.find(Va(at).vpn()).unwrap().write_watch.clone();
    assert_eq!(bits(&t, 0x10000).into_iter().collect::<Vec<_>>(), [0x13]);
    assert!(bits(&t, 0x20000).is_empty());
    assert!(t.is_write_watched(Va(0x1f000).vpn()));
    assert!(!t.is_write_watched(Va(0x20000).vpn()));
}

#[test]
fn ranges_get_wrk_statuses_in_wrk_order() {
    use WriteWatchCall::{Get, Reset};
    let t = tree();
    let ok = plan(&t, 0x10800, 0x2000, Reset).unwrap();
    assert_eq!(
        (ok.vad_start, ok.first, ok.last),
        (Va(0x10000).vpn(), Va(0x10000).vpn(), Va(0x12000).vpn())
    );
    let status = |a, s, c| plan(&t, a, s, c).unwrap_err().status;
    for c in [Get, Reset] {
        assert_eq!(status(HIGHEST + 1, 1, c), NtStatus::INVALID_PARAMETER_2);
        assert_eq!(status(0x10000, HIGHEST, c), NtStatus::INVALID_PARAMETER_3);
        // Size 0 at address 0: the end wraps to the top, in no VAD.
        assert_eq!(status(0, 0, c), NtStatus::INVALID_PARAMETER_1);
        assert_eq!(status(0x20000, 0x1000, c), NtStatus::INVALID_PARAMETER_1);
        assert_eq!(status(0x1f000, 0x2000, c), NtStatus::INVALID_PARAMETER_1);
        assert_eq!(status(0x90000, 0x1000, c), NtStatus::INVALID_PARAMETER_1);
    }
    assert_eq!(status(0x10000, 0, Get), NtStatus::INVALID_PARAMETER_4);
    assert_eq!(status(0x10000, 0, Reset), NtStatus::INVALID_PARAMETER_3);
    // The whole VAD, to its last byte, is fine.
    assert!(plan(&t, 0x10000, 0x10000, Get).is_ok());
    assert!(plan(&t, HIGHEST, 1, Get).is_err());
}
