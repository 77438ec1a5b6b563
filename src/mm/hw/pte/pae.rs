//! x86 with PAE: 8-byte PTEs; a 4-entry page directory pointer table above two levels
//! of 512 entries (WRK `_X86PAE_` definitions).
//!
//! PFNs use bits 12–35 (36-bit physical addresses, 64 GB), NoExecute is bit 63, and the
//! software forms keep PageFileHigh in bits 32–63. The self-map covers 8 MB from
//! 0xC0000000 (page directories from 0xC0600000); the PDPT itself is not in it.

use super::{Problem, Spec, note, protection_bits, protection_of};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PteAddress};

pub const PTE_BASE: u64 = 0xC000_0000;
pub const PDE_BASE: u64 = 0xC060_0000;

/// MI_PTE_LOOKUP_NEEDED for 8-byte PTEs: a prototype address of all ones.
const LOOKUP_NEEDED: u64 = 0xFFFF_FFFF;

pub(super) static SPEC: Spec = Spec {
    arch: Arch::Pae,
    pte_size: 8,
    pfn_bits: 24,
    has_no_execute: true,
    page_file_high_shift: 32,
    page_file_high_bits: 32,
    geometry: &[(12, 512), (21, 512), (30, 4)],
    self_map: &[Some(PTE_BASE), Some(PDE_BASE), None],
    va_bits: 32,
    encode_proto,
    decode_proto,
    encode_subsection,
    decode_subsection,
};

/// With 32 spare high bits there is no need for a base: the prototype PTE's full 32-bit
/// address is in bits 32–63, and the pointer's own Protection in bits 11–15, as in NT's
/// 8-byte MMPTE_PROTOTYPE.
fn encode_proto(proto: Option<PteAddress>, protection: Protection, problem: &mut Problem) -> u64 {
    let addr = match proto {
        None => LOOKUP_NEEDED,
        Some(PteAddress(a)) => {
            note(problem, a <= 0xFFFF_FFF8 && a % 8 == 0, || {
                format!("prototype PTE address {a:#x} is not an 8-byte-aligned 32-bit address")
            });
            a & 0xFFFF_FFFF
        }
    };
    ((protection.raw() as u64) << 11) | (addr << 32)
}

fn decode_proto(raw: u64) -> (Option<PteAddress>, Protection) {
    let addr = raw >> 32;
    let protection = Protection::from_raw((raw >> 11) as u8);
    (
        (addr != LOOKUP_NEEDED).then_some(PteAddress(addr)),
        protection,
    )
}

/// The subsection index takes the 32-bit SubsectionAddress field (bits 32–63).
fn encode_subsection(index: u32, protection: Protection, _: &mut Problem) -> u64 {
    protection_bits(protection) | ((index as u64) << 32)
}

fn decode_subsection(raw: u64) -> (u32, Protection) {
    ((raw >> 32) as u32, protection_of(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::types::{Mmpte, Pfn, PteAddress, Va};
    use crate::mm::hw::pte::{HardwarePte, Level, PteFormat, PteState};

    fn f() -> PteFormat {
        PteFormat::new(Arch::Pae)
    }

    #[test]
    fn known_values() {
        let rw = Protection::READWRITE;
        assert_eq!(
            f().encode(&PteState::DemandZero { protection: rw }),
            Mmpte(0x80)
        );
        assert_eq!(f().encode(&PteState::Decommitted), Mmpte(0x200));
        let hw = HardwarePte {
            write: true,
            owner: true,
            accessed: true,
            dirty: true,
            no_execute: true,
            ..HardwarePte::new(Pfn(0xF_FFFF))
        };
        assert_eq!(
            f().encode(&PteState::Valid(hw)),
            Mmpte(0x8000_0000_FFFF_F067)
        );
        assert_eq!(
            f().encode(&PteState::PageFile {
                file: 15,
                slot: u32::MAX,
                protection: rw
            }),
            Mmpte(0xFFFF_FFFF_0000_009E)
        );
        let too_big = HardwarePte::new(Pfn(1 << 24));
        assert!(f().try_encode(&PteState::Valid(too_big)).is_err());
        assert!(
            f().try_encode(&PteState::Valid(HardwarePte::new(Pfn((1 << 24) - 1))))
                .is_ok()
        );
    }

    #[test]
    fn prototype_pointers() {
        let p = |a, prot| PteState::Prototype {
            proto_pte: a,
            protection: prot,
        };
        let s = p(Some(PteAddress(0xE123_4568)), Protection::READONLY);
        assert_eq!(f().encode(&s), Mmpte(0xE123_4568_0000_0C00));
        assert_eq!(f().decode(Mmpte(0xE123_4568_0000_0C00)), s);
        let lookup = p(None, Protection::EXECUTE_READ);
        assert_eq!(f().encode(&lookup), Mmpte(0xFFFF_FFFF_0000_1C00));
        assert_eq!(f().decode(Mmpte(0xFFFF_FFFF_0000_1C00)), lookup);
        assert!(
            f().try_encode(&p(Some(PteAddress(0xE000_0004)), Protection::READONLY))
                .is_err()
        );
        assert!(
            f().try_encode(&p(Some(PteAddress(1 << 32)), Protection::READONLY))
                .is_err()
        );
    }

    #[test]
    fn self_map() {
        let e = |va, l| f().entry_va(Va(va), l).map(|v| v.0);
        assert_eq!(e(0x10000, Level::Pte), Some(0xC000_0080));
        assert_eq!(e(0x10000, Level::Pde), Some(0xC060_0000));
        assert_eq!(e(0xC000_0000, Level::Pde), Some(0xC060_3000));
        // The four page directories appear as the page tables for 0xC0000000–0xC07FFFFF.
        assert_eq!(e(0xC060_0000, Level::Pte), Some(0xC060_3000));
        assert_eq!(e(0x10000, Level::Ppe), None);
        assert_eq!(f().index(Va(0xC000_0000), Level::Ppe), Some(3));
        assert_eq!(f().index(Va(0xC060_0000), Level::Pde), Some(3));
        assert_eq!(f().entries_per_table(Level::Ppe), 4);
        assert_eq!(f().entries_per_table(Level::Pxe), 0);
        assert_eq!(
            f().va_of_pte(PteAddress(0xC07F_FFF8)),
            Some(Va(0xFFFF_F000))
        );
        assert_eq!(f().va_of_pte(PteAddress(0xC080_0000)), None);
    }
}
