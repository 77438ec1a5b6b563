//! x64: 8-byte PTEs, four levels of 512 entries (WRK `miamd.h`).
//!
//! PFNs use bits 12–39 (40-bit physical addresses, as WRK's MMPTE_HARDWARE; bits 40–51
//! are reserved and 52–62 hold NT's working-set index hint, both ignored here),
//! NoExecute is bit 63, PageFileHigh is bits 32–63. The self-map is PML4 entry 0x1ED,
//! fixed until Windows 10 1511.

use super::{Problem, Spec, note, protection_bits, protection_of};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PteAddress};

pub const PTE_BASE: u64 = 0xFFFF_F680_0000_0000;
pub const PDE_BASE: u64 = 0xFFFF_F6FB_4000_0000;
pub const PPE_BASE: u64 = 0xFFFF_F6FB_7DA0_0000;
pub const PXE_BASE: u64 = 0xFFFF_F6FB_7DBE_D000;
pub const SELF_MAP_INDEX: u64 = 0x1ED;

const VA_MASK: u64 = 0xFFFF_FFFF_FFFF;

pub(super) static SPEC: Spec = Spec {
    arch: Arch::X64,
    pte_size: 8,
    pfn_bits: 28,
    has_no_execute: true,
    page_file_high_shift: 32,
    page_file_high_bits: 32,
    geometry: &[(12, 512), (21, 512), (30, 512), (39, 512)],
    self_map: &[
        Some(PTE_BASE),
        Some(PDE_BASE),
        Some(PPE_BASE),
        Some(PXE_BASE),
    ],
    va_bits: 48,
    encode_proto,
    decode_proto,
    encode_subsection,
    decode_subsection,
};

/// As WRK's MiProtoAddressForPte: the prototype PTE's address shifted left 16, so
/// ProtoAddress holds its low 48 bits (sign-extended back on decode); Protection is in
/// bits 11–15. All ones in ProtoAddress is the "look it up through the VAD" value.
fn encode_proto(proto: Option<PteAddress>, protection: Protection, problem: &mut Problem) -> u64 {
    let addr = match proto {
        None => VA_MASK,
        Some(PteAddress(a)) => {
            let canonical = matches!(a >> 47, 0 | 0x1_FFFF);
            note(problem, canonical && a % 8 == 0, || {
                format!("prototype PTE address {a:#x} is not canonical and 8-byte aligned")
            });
            a & VA_MASK
        }
    };
    ((protection.raw() as u64) << 11) | (addr << 16)
}

fn decode_proto(raw: u64) -> (Option<PteAddress>, Protection) {
    let addr = raw >> 16;
    let protection = Protection::from_raw((raw >> 11) as u8);
    if addr == VA_MASK {
        return (None, protection);
    }
    let va = if addr & (1 << 47) != 0 {
        addr | !VA_MASK
    } else {
        addr
    };
    (Some(PteAddress(va)), protection)
}

/// The subsection index takes the low 32 bits of the 48-bit SubsectionAddress field
/// (PTE bits 16–47).
fn encode_subsection(index: u32, protection: Protection, _: &mut Problem) -> u64 {
    protection_bits(protection) | ((index as u64) << 16)
}

fn decode_subsection(raw: u64) -> (u32, Protection) {
    ((raw >> 16) as u32, protection_of(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::types::{Mmpte, Pfn, PteAddress, Va};
    use crate::mm::hw::pte::{HardwarePte, Level, PteFormat, PteState};

    fn f() -> PteFormat {
        PteFormat::new(Arch::X64)
    }

    #[test]
    fn known_values() {
        let hw = HardwarePte {
            write: true,
            owner: true,
            accessed: true,
            dirty: true,
            ..HardwarePte::new(Pfn(0x0FFF_FFFF))
        };
        assert_eq!(
            f().encode(&PteState::Valid(hw)),
            Mmpte(0x0000_00FF_FFFF_F067)
        );
        assert!(
            f().try_encode(&PteState::Valid(HardwarePte::new(Pfn(1 << 28))))
                .is_err()
        );
        // Reserved bits 40–51 and the working-set index bits do not leak into the PFN.
        let raw = Mmpte(0x7FFF_FF00_0000_1001);
        assert_eq!(f().pfn(raw), Some(Pfn(1)));
        assert_eq!(
            f().encode(&PteState::DemandZero {
                protection: Protection::READWRITE
            }),
            Mmpte(0x80)
        );
    }

    #[test]
    fn prototype_pointers() {
        let p = |a: Option<u64>, prot| PteState::Prototype {
            proto_pte: a.map(PteAddress),
            protection: prot,
        };
        let s = p(Some(0xFFFF_FA80_0123_4568), Protection::ZERO_ACCESS);
        assert_eq!(f().encode(&s), Mmpte(0xFA80_0123_4568_0400));
        assert_eq!(f().decode(Mmpte(0xFA80_0123_4568_0400)), s);
        let lookup = p(None, Protection::READWRITE);
        assert_eq!(f().encode(&lookup), Mmpte(0xFFFF_FFFF_FFFF_2400));
        assert_eq!(f().decode(Mmpte(0xFFFF_FFFF_FFFF_2400)), lookup);
        let low = p(Some(0x7FF_FFFF_FFF8), Protection::WRITECOPY);
        assert_eq!(f().decode(f().try_encode(&low).unwrap()), low);
        assert!(
            f().try_encode(&p(Some(0x8000_0000_0000), Protection::READONLY))
                .is_err()
        );
        assert!(
            f().try_encode(&p(Some(0xFFFF_FA80_0000_0004), Protection::READONLY))
                .is_err()
        );
    }

    #[test]
    fn self_map() {
        let e = |va, l| f().entry_va(Va(va), l).map(|v| v.0);
        assert_eq!(e(0, Level::Pte), Some(PTE_BASE));
        assert_eq!(e(0, Level::Pde), Some(PDE_BASE));
        assert_eq!(e(0, Level::Ppe), Some(PPE_BASE));
        assert_eq!(e(0, Level::Pxe), Some(PXE_BASE));
        assert_eq!(f().index(Va(PXE_BASE), Level::Pxe), Some(SELF_MAP_INDEX));
        assert_eq!(f().index(Va(PTE_BASE), Level::Pxe), Some(SELF_MAP_INDEX));
        // The self-map entry maps the PML4 itself.
        assert_eq!(e(PXE_BASE, Level::Pte), Some(PXE_BASE + SELF_MAP_INDEX * 8));
        assert_eq!(e(PTE_BASE, Level::Pte), Some(PDE_BASE));
        assert_eq!(e(PDE_BASE, Level::Pte), Some(PPE_BASE));
        assert_eq!(e(PPE_BASE, Level::Pte), Some(PXE_BASE));
        assert_eq!(
            e(0xFFFF_FFFF_FFFF_F000, Level::Pte),
            Some(0xFFFF_F6FF_FFFF_FFF8)
        );
        assert_eq!(e(0x8000_0000_0000, Level::Pte), None);
        assert_eq!(f().va_of_pte(PteAddress(PTE_BASE + 8)), Some(Va(0x1000)));
        assert_eq!(
            f().va_of_pte(PteAddress(0xFFFF_F6FF_FFFF_FFF8)),
            Some(Va(0xFFFF_FFFF_FFFF_F000))
        );
        assert_eq!(f().va_of_pte(PteAddress(0xFFFF_F700_0000_0000)), None);
    }

    #[test]
    fn subsection_index_takes_all_32_bits() {
        let s = PteState::Subsection {
            subsection: u32::MAX,
            protection: Protection::EXECUTE_WRITECOPY,
        };
        assert_eq!(f().decode_prototype(f().try_encode(&s).unwrap()), s);
    }
}
