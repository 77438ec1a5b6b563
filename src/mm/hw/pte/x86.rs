//! x86 without PAE: 4-byte PTEs, two levels of 1024 entries (WRK `mi386.h`).
//!
//! Invalid forms keep PageFileHigh in bits 12–31 (20 bits), so a pagefile may be at most
//! 2^20 pages (4 GB). The self-map is page directory entry 0x300: PTE_BASE 0xC0000000,
//! PDE_BASE 0xC0300000.

use super::{Problem, Spec, note, protection_bits, protection_of};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PteAddress};

pub const PTE_BASE: u64 = 0xC000_0000;
pub const PDE_BASE: u64 = 0xC030_0000;

/// MmProtopte_Base: prototype-pointer PTEs hold an offset from the start of paged pool,
/// where NT allocates segments and their prototype PTEs (MM_DEFAULT_PAGED_POOL_START).
pub const MM_PROTOPTE_BASE: u64 = 0xE100_0000;

/// MI_PTE_LOOKUP_NEEDED: PageFileHigh all ones in a prototype-pointer PTE means "find the
/// prototype PTE through the VAD".
const LOOKUP_NEEDED: u64 = 0xF_FFFF;

/// Subsection indexes have 4 + 21 bits, the bits NT uses for the SUBSECTION address.
pub const MAX_SUBSECTION: u32 = (1 << 25) - 1;

pub(super) static SPEC: Spec = Spec {
    arch: Arch::X86,
    pte_size: 4,
    pfn_bits: 20,
    has_no_execute: false,
    page_file_high_shift: 12,
    page_file_high_bits: 20,
    geometry: &[(12, 1024), (22, 1024)],
    self_map: &[Some(PTE_BASE), Some(PDE_BASE)],
    va_bits: 32,
    encode_proto,
    decode_proto,
    encode_subsection,
    decode_subsection,
};

/// As MiProtoAddressForPte: the offset from MmProtopte_Base (a multiple of 4) has its
/// bits 2–8 in PTE bits 1–7 and bits 9–29 in PTE bits 11–31, reaching 1 GB. Bits 8–9
/// (ReadOnly, WhichPool) stay clear. That leaves no room for a protection, so an
/// address-carrying pointer only means "use the prototype PTE's protection"; a page with
/// its own protection takes the VAD-lookup form, whose Protection sits in bits 5–9.
fn encode_proto(proto: Option<PteAddress>, protection: Protection, problem: &mut Problem) -> u64 {
    let Some(PteAddress(addr)) = proto else {
        return (LOOKUP_NEEDED << 12) | protection_bits(protection);
    };
    note(problem, protection == Protection::ZERO_ACCESS, || {
        format!("an x86 prototype pointer with an address cannot also hold protection {protection}")
    });
    note(
        problem,
        (MM_PROTOPTE_BASE..=0xFFFF_FFFC).contains(&addr) && addr % 4 == 0,
        || format!("prototype PTE address {addr:#x} is not a 4-byte-aligned paged pool address"),
    );
    let offset = addr.wrapping_sub(MM_PROTOPTE_BASE) & 0x3FFF_FFFC;
    ((offset >> 1) & 0xFE) | ((offset << 2) & 0xFFFF_F800)
}

fn decode_proto(raw: u64) -> (Option<PteAddress>, Protection) {
    if (raw >> 12) & LOOKUP_NEEDED == LOOKUP_NEEDED {
        return (None, protection_of(raw));
    }
    let offset = ((raw & 0xFE) << 1) | ((raw & 0xFFFF_F800) >> 2);
    (
        Some(PteAddress(MM_PROTOPTE_BASE + offset)),
        Protection::ZERO_ACCESS,
    )
}

/// Index bits 0–3 in PTE bits 1–4, bits 4–24 in PTE bits 11–31; Protection in 5–9.
fn encode_subsection(index: u32, protection: Protection, problem: &mut Problem) -> u64 {
    note(problem, index <= MAX_SUBSECTION, || {
        format!("subsection index {index:#x} is wider than 25 bits")
    });
    let i = index as u64;
    ((i & 0xF) << 1) | protection_bits(protection) | (((i >> 4) & 0x1F_FFFF) << 11)
}

fn decode_subsection(raw: u64) -> (u32, Protection) {
    let index = ((raw >> 1) & 0xF) | (((raw >> 11) & 0x1F_FFFF) << 4);
    (index as u32, protection_of(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::types::{Mmpte, Pfn, PteAddress, Va};
    use crate::mm::hw::pte::{HardwarePte, Level, PteFormat, PteState};

    fn f() -> PteFormat {
        PteFormat::new(Arch::X86)
    }

    #[test]
    fn known_values() {
        let rw = Protection::READWRITE;
        assert_eq!(
            f().encode(&PteState::DemandZero { protection: rw }),
            Mmpte(0x80)
        );
        assert_eq!(f().encode(&PteState::Decommitted), Mmpte(0x200));
        assert_eq!(f().decode(Mmpte(0x200)), PteState::Decommitted);
        let hw = HardwarePte {
            write: true,
            owner: true,
            accessed: true,
            dirty: true,
            ..HardwarePte::new(Pfn(0x1a3))
        };
        assert_eq!(f().encode(&PteState::Valid(hw)), Mmpte(0x001a_3067));
        let pf = PteState::PageFile {
            file: 1,
            slot: 0x123,
            protection: rw,
        };
        assert_eq!(f().encode(&pf), Mmpte(0x0012_3082));
        let tr = PteState::Transition {
            pfn: Pfn(0x1a3),
            protection: rw,
        };
        assert_eq!(f().encode(&tr), Mmpte(0x001a_3880));
    }

    #[test]
    fn prototype_pointers_follow_mi_proto_address_for_pte() {
        let at = |a| PteState::Prototype {
            proto_pte: Some(PteAddress(a)),
            protection: Protection::ZERO_ACCESS,
        };
        assert_eq!(f().encode(&at(0xE100_0000)), Mmpte(0x400));
        assert_eq!(f().encode(&at(0xE100_0004)), Mmpte(0x402));
        assert_eq!(f().encode(&at(0xE100_0200)), Mmpte(0xC00));
        let lookup = PteState::Prototype {
            proto_pte: None,
            protection: Protection::READWRITE,
        };
        assert_eq!(f().encode(&lookup), Mmpte(0xFFFF_F480));
        for a in (0xE100_0000u64..=0xFFFF_FFFC).step_by(0x1_0004 * 4 + 4) {
            let raw = f().try_encode(&at(a)).unwrap();
            assert_eq!(raw.0 & 0x300, 0, "ReadOnly/WhichPool stay clear");
            assert_eq!(f().decode(raw), at(a));
        }
        assert_eq!(f().decode(f().encode(&at(0xFFFF_FFFC))), at(0xFFFF_FFFC));
    }

    #[test]
    fn unrepresentable_prototype_pointers_are_refused() {
        let bad = [
            (0xE100_0000, Protection::READWRITE),
            (0xE0FF_FFFC, Protection::ZERO_ACCESS),
            (0xE100_0002, Protection::ZERO_ACCESS),
            (0x1_0000_0000, Protection::ZERO_ACCESS),
        ];
        for (a, protection) in bad {
            let s = PteState::Prototype {
                proto_pte: Some(PteAddress(a)),
                protection,
            };
            assert!(f().try_encode(&s).is_err(), "{a:#x}");
        }
    }

    #[test]
    fn subsection_index_uses_25_bits() {
        let s = |i| PteState::Subsection {
            subsection: i,
            protection: Protection::EXECUTE_WRITECOPY,
        };
        for i in [0, 1, 0xF, 0x10, 0x12345, MAX_SUBSECTION] {
            let raw = f().try_encode(&s(i)).unwrap();
            assert!(raw.0 <= 0xFFFF_FFFF);
            assert_eq!(f().decode_prototype(raw), s(i));
        }
        assert!(f().try_encode(&s(MAX_SUBSECTION + 1)).is_err());
    }

    #[test]
    fn self_map() {
        let e = |va, l| f().entry_va(Va(va), l).map(|v| v.0);
        assert_eq!(e(0x10000, Level::Pte), Some(0xC000_0040));
        assert_eq!(e(0x10000, Level::Pde), Some(0xC030_0000));
        assert_eq!(e(0xE432_1000, Level::Pte), Some(0xC039_0C84));
        // Directory entry 0x300 maps the directory itself.
        assert_eq!(e(PTE_BASE, Level::Pde), Some(0xC030_0C00));
        assert_eq!(e(PDE_BASE, Level::Pte), Some(0xC030_0C00));
        assert_eq!(f().index(Va(PTE_BASE), Level::Pde), Some(0x300));
        assert_eq!(e(0x10000, Level::Ppe), None);
        assert_eq!(e(0x1_0000_0000, Level::Pte), None);
        assert_eq!(f().va_of_pte(PteAddress(0xC000_0040)), Some(Va(0x10000)));
        assert_eq!(
            f().va_of_pte(PteAddress(0xC03F_FFFC)),
            Some(Va(0xFFFF_F000))
        );
        assert_eq!(f().va_of_pte(PteAddress(0xC040_0000)), None);
        assert_eq!(f().va_of_pte(PteAddress(0xBFFF_FFFC)), None);
    }

    #[test]
    fn no_execute_is_ignored() {
        let hw = HardwarePte {
            no_execute: true,
            ..HardwarePte::new(Pfn(1))
        };
        assert_eq!(f().encode(&PteState::Valid(hw)), Mmpte(0x1001));
        assert_eq!(
            f().decode(Mmpte(0x8000_0000_0000_1001)),
            PteState::Valid(HardwarePte::new(Pfn(1)))
        );
    }
}
