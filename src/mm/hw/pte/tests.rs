//! Properties every format must have: each representable state survives encode → decode,
//! and decode accepts any bits.

use super::*;

const ARCHES: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];

/// Small deterministic generator (xorshift64*), so tests need no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn all_protections() -> impl Iterator<Item = Protection> {
    (0..32u8).map(Protection::from_raw)
}

fn round_trip(f: PteFormat, s: PteState, in_prototype: bool) {
    let raw = f
        .try_encode(&s)
        .unwrap_or_else(|e| panic!("{:?}: {e}", f.arch()));
    assert_eq!(raw, f.encode(&s));
    if f.arch() == Arch::X86 {
        assert!(raw.0 <= u32::MAX as u64, "{s:?} -> {raw:#x}");
    }
    let back = if in_prototype {
        f.decode_prototype(raw)
    } else {
        f.decode(raw)
    };
    assert_eq!(back, s, "{:?} raw {raw:#x}", f.arch());
}

fn max_pfn(f: PteFormat) -> u32 {
    match f.arch() {
        Arch::X86 => (1 << 20) - 1,
        Arch::Pae => (1 << 24) - 1,
        Arch::X64 => (1 << 28) - 1,
    }
}

fn pfns(f: PteFormat) -> Vec<Pfn> {
    let max = max_pfn(f);
    let mut v: Vec<u32> = vec![0, 1, 0x1a3, 0xFFFF, max];
    v.extend((0..max).step_by(max as usize / 97 + 1));
    v.into_iter().map(Pfn).collect()
}

#[test]
fn simple_states_round_trip() {
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        round_trip(f, PteState::Zero, false);
        round_trip(f, PteState::Decommitted, false);
        round_trip(f, PteState::Decommitted, true);
        for protection in all_protections() {
            if protection.raw() != 0 && !protection.is_decommit() {
                round_trip(f, PteState::DemandZero { protection }, false);
                round_trip(f, PteState::DemandZero { protection }, true);
            }
            for pfn in pfns(f) {
                round_trip(f, PteState::Transition { pfn, protection }, false);
            }
        }
    }
}

#[test]
fn valid_ptes_round_trip_with_every_flag_combination() {
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        for pfn in pfns(f) {
            for flags in 0..(1u32 << 11) {
                let on = |i: u32| flags & (1 << i) != 0;
                let hw = HardwarePte {
                    pfn,
                    write: on(0),
                    owner: on(1),
                    write_through: on(2),
                    cache_disable: on(3),
                    accessed: on(4),
                    dirty: on(5),
                    large_page: on(6),
                    global: on(7),
                    copy_on_write: on(8),
                    software_write: on(9),
                    no_execute: on(10) && arch != Arch::X86,
                };
                round_trip(f, PteState::Valid(hw), false);
                assert!(f.is_valid(f.encode(&PteState::Valid(hw))));
            }
        }
    }
}

#[test]
fn pagefile_ptes_round_trip() {
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        let max_slot = if arch == Arch::X86 {
            0xF_FFFF
        } else {
            u32::MAX
        };
        for file in 0..16u8 {
            for slot in [1, 2, 0x1234, max_slot / 3, max_slot - 1, max_slot] {
                for protection in all_protections() {
                    let s = PteState::PageFile {
                        file,
                        slot,
                        protection,
                    };
                    round_trip(f, s, false);
                    round_trip(f, s, true);
                }
            }
        }
        let bad = [(16, 1), (0, 0)];
        for (file, slot) in bad {
            let s = PteState::PageFile {
                file,
                slot,
                protection: Protection::READWRITE,
            };
            assert!(f.try_encode(&s).is_err());
        }
    }
    let x86 = PteFormat::new(Arch::X86);
    let wide = PteState::PageFile {
        file: 0,
        slot: 0x10_0000,
        protection: Protection::READWRITE,
    };
    assert!(x86.try_encode(&wide).is_err());
}

#[test]
fn prototype_and_subsection_ptes_round_trip() {
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        let addrs: &[u64] = match arch {
            Arch::X86 => &[0xE100_0000, 0xE100_0004, 0xE7FF_FFFC, 0xFFFF_FFFC],
            Arch::Pae => &[0, 8, 0xE100_0000, 0xFFFF_FFF8],
            Arch::X64 => &[
                0,
                8,
                0x7FF_FFFF_FFF8,
                0xFFFF_8000_0000_0000,
                0xFFFF_FFFF_FFFF_FFF8,
            ],
        };
        for protection in all_protections() {
            round_trip(
                f,
                PteState::Prototype {
                    proto_pte: None,
                    protection,
                },
                false,
            );
            let with_address = if arch == Arch::X86 {
                Protection::ZERO_ACCESS
            } else {
                protection
            };
            for &a in addrs {
                let s = PteState::Prototype {
                    proto_pte: Some(PteAddress(a)),
                    protection: with_address,
                };
                round_trip(f, s, false);
            }
            for subsection in [0, 1, 0xF, 0x10, 0x1FF_FFFF] {
                let s = PteState::Subsection {
                    subsection,
                    protection,
                };
                round_trip(f, s, true);
            }
        }
    }
}

#[test]
fn the_prototype_bit_means_different_things_by_context() {
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        let raw = f.encode(&PteState::Subsection {
            subsection: 5,
            protection: Protection::READONLY,
        });
        assert!(matches!(f.decode(raw), PteState::Prototype { .. }));
        assert!(matches!(
            f.decode_prototype(raw),
            PteState::Subsection { .. }
        ));
    }
}

#[test]
fn decode_accepts_any_bits() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        for _ in 0..200_000 {
            let raw = rng.next();
            // Also try sparse values, which hit the special forms more often.
            for raw in [raw, raw & rng.next() & rng.next(), raw & 0xFFF, !0] {
                let pte = Mmpte(raw);
                let a = f.decode(pte);
                let b = f.decode_prototype(pte);
                // Re-encoding a decoded state must not panic either.
                let _ = (f.encode(&a), f.encode(&b), f.try_encode(&a).is_ok());
                let _ = (
                    f.set_accessed(pte, true),
                    f.set_dirty(pte, false),
                    f.pfn(pte),
                );
                let _ = f.va_of_pte(PteAddress(raw));
                for level in Level::ALL {
                    let _ = (f.entry_va(Va(raw), level), f.index(Va(raw), level));
                }
            }
        }
    }
}

/// `resident_hit` and `is_page_file` read the bits in place; they must say
/// what a full decode says, for any bits on every format.
#[test]
fn the_quick_looks_agree_with_decode() {
    let mut rng = Rng(0x51_7CC1_B727_220A);
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        for _ in 0..100_000 {
            let raw = rng.next();
            for raw in [raw, raw & rng.next() & rng.next(), raw & 0xFFF, raw | 0x63] {
                let pte = Mmpte(raw);
                let state = f.decode(pte);
                for write in [false, true] {
                    let expected = match state {
                        PteState::Valid(h) if h.accessed && (!write || (h.write && h.dirty)) => {
                            Some(h.pfn)
                        }
                        _ => None,
                    };
                    assert_eq!(f.resident_hit(pte, write), expected, "{arch:?} {raw:#x}");
                }
                let page_file = matches!(state, PteState::PageFile { .. });
                assert_eq!(f.is_page_file(pte), page_file, "{arch:?} {raw:#x}");
            }
        }
    }
}

#[test]
fn accessed_and_dirty_touch_only_valid_ptes() {
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        let hw = f.encode(&PteState::Valid(HardwarePte::new(Pfn(7))));
        let aged = f.set_accessed(f.set_dirty(hw, true), true);
        match f.decode(aged) {
            PteState::Valid(h) => assert!(h.accessed && h.dirty && h.pfn == Pfn(7)),
            s => panic!("{s:?}"),
        }
        assert_eq!(f.set_dirty(f.set_accessed(aged, false), false), hw);
        let dz = f.encode(&PteState::DemandZero {
            protection: Protection::READWRITE,
        });
        assert_eq!(f.set_accessed(dz, true), dz);
        assert_eq!(f.set_dirty(dz, true), dz);
    }
}

#[test]
fn geometry() {
    let x86 = PteFormat::new(Arch::X86);
    let pae = PteFormat::new(Arch::Pae);
    let x64 = PteFormat::new(Arch::X64);
    assert_eq!((x86.pte_size(), x86.levels()), (4, 2));
    assert_eq!((pae.pte_size(), pae.levels()), (8, 3));
    assert_eq!((x64.pte_size(), x64.levels()), (8, 4));
    assert_eq!(x86.entries_per_table(Level::Pte), 1024);
    assert_eq!(x86.entries_per_table(Level::Pde), 1024);
    assert_eq!(x86.entries_per_table(Level::Ppe), 0);
    assert_eq!(pae.entries_per_table(Level::Pde), 512);
    for level in Level::ALL {
        assert_eq!(x64.entries_per_table(level), 512);
        assert_eq!(Level::from_number(level.number()), Some(level));
    }
    assert_eq!(Level::from_number(0), None);
    assert_eq!(Level::from_number(5), None);
    let va = Va(0x0000_7F12_3456_7000);
    assert_eq!(x64.index(va, Level::Pxe), Some(0xFE));
    assert_eq!(x64.index(va, Level::Ppe), Some(0x48));
    assert_eq!(x64.index(va, Level::Pde), Some(0x1A2));
    assert_eq!(x64.index(va, Level::Pte), Some(0x167));
    assert_eq!(x86.index(Va(0x7FFE_0000), Level::Pde), Some(0x1FF));
    assert_eq!(x86.index(Va(0x7FFE_0000), Level::Pte), Some(0x3E0));
}

#[test]
fn every_pte_va_maps_back() {
    let mut rng = Rng(42);
    for arch in ARCHES {
        let f = PteFormat::new(arch);
        for _ in 0..10_000 {
            let mut va = rng.next() & !0xFFF;
            va = match arch {
                Arch::X64 if va & (1 << 47) != 0 => va | 0xFFFF_0000_0000_0000,
                Arch::X64 => va & 0x0000_FFFF_FFFF_FFFF,
                _ => va & 0xFFFF_FFFF,
            };
            let pte = f.entry_va(Va(va), Level::Pte).unwrap();
            assert_eq!(f.va_of_pte(pte), Some(Va(va)), "{arch:?}");
        }
    }
}
