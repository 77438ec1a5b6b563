//! Unit tests for the VAD tree and the NtAllocate/Free/ProtectVirtualMemory
//! address-space rules.

mod alloc;
mod free;
mod protect;
mod random;
mod tree;
mod write_watch;

use super::*;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::{MmResult, NtStatus};
use crate::mm::base::types::{Arch, Va};
use crate::mm::segment::ControlAreaId;

/// MM_PROTECTION codes (facts §2).
const RO: Protection = Protection::from_raw(1);
const RW: Protection = Protection::from_raw(4);
const WC: Protection = Protection::from_raw(5);
const EWC: Protection = Protection::from_raw(7);

fn x86() -> AddressLimits {
    AddressLimits::for_arch(Arch::X86)
}

/// A private RW VAD covering `start..start + size` (bytes, page-aligned).
fn vad(start: u64, size: u64) -> Vad {
    Vad::private(Va(start).vpn(), Va(start + size - 1).vpn(), RW)
}

fn vad_of(start: u64, size: u64, vad_type: VadType) -> Vad {
    let mut v = vad(start, size);
    v.vad_type = vad_type;
    v
}

fn view(start: u64, size: u64, image: bool) -> Vad {
    let section = SectionRef {
        id: ControlAreaId(7),
        name: "map".into(),
        first_prototype_index: 0,
        offset: 0,
    };
    Vad::mapped(
        Va(start).vpn(),
        Va(start + size - 1).vpn(),
        RW,
        section,
        image,
    )
}

fn tree_with(vads: Vec<Vad>) -> VadTree {
    let mut t = VadTree::new();
    for v in vads {
        t.insert(v).expect("test VADs must not overlap");
    }
    t
}

fn status<T: std::fmt::Debug>(r: MmResult<T>) -> NtStatus {
    r.expect_err("expected a failure").status
}

fn ranges(t: &VadTree) -> Vec<(u64, u64)> {
    t.iter().map(|v| (v.start_va().0, v.end_va().0)).collect()
}
