//! Page table entries: NT's real bit layouts for x86 (non-PAE), PAE and x64, and the
//! self-map addresses at which a process sees its own page tables.
//!
//! Nothing outside this module touches raw PTE bits: callers [`PteFormat::decode`] an
//! entry ([`Mmpte`]) into a [`PteState`], change the state, and [`PteFormat::encode`] it
//! back.
//!
//! Layouts follow the Windows Research Kernel (Server 2003 SP1): `mi386.h` for x86, the
//! `_X86PAE_` definitions for PAE and `miamd.h` for x64. The x64 self-map uses the fixed
//! PML4 index 0x1ED, as every version did before Windows 10 1511 randomized it.
//!
//! Where NT packs a kernel pointer we have no equivalent for (the SUBSECTION behind a
//! subsection PTE), the same bits carry an opaque index chosen by the caller.
//!
//! The low 12 bits are the same on all three formats:
//!
//! | bit | valid PTE              | invalid PTE                       |
//! |-----|------------------------|-----------------------------------|
//! | 0   | Valid                  | Valid = 0                         |
//! | 1–4 | Write, Owner, WriteThrough, CacheDisable | PageFileLow (pagefile number) |
//! | 5–9 | Accessed, Dirty, LargePage, Global, CopyOnWrite (sw) | Protection (5 bits) |
//! | 10  | Prototype (sw)         | Prototype                         |
//! | 11  | Write (sw, MP kernels) | Transition                        |

pub mod pae;
pub mod x64;
pub mod x86;

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, Mmpte, Pfn, PteAddress, Va};

/// A page-table level. NT calls the entries PTE, PDE, PPE (PDPTE on PAE) and PXE.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum Level {
    Pte = 1,
    Pde = 2,
    Ppe = 3,
    Pxe = 4,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Pte, Level::Pde, Level::Ppe, Level::Pxe];

    /// 1 = PTE (lowest) ... 4 = PXE.
    pub fn from_number(n: u32) -> Option<Level> {
        Level::ALL.get((n as usize).wrapping_sub(1)).copied()
    }

    pub fn number(self) -> u32 {
        self as u32
    }
}

/// The fields of a valid (hardware) PTE.
///
/// There is deliberately no protection here: a valid PTE in NT holds only what the MMU
/// needs, and the 5-bit protection lives in the working-set list entry and the VAD. Callers
/// keep it there too.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub struct HardwarePte {
    pub pfn: Pfn,
    /// Bit 1, the hardware read/write bit.
    pub write: bool,
    /// Bit 2: user-mode accessible.
    pub owner: bool,
    pub write_through: bool,
    pub cache_disable: bool,
    pub accessed: bool,
    pub dirty: bool,
    pub large_page: bool,
    pub global: bool,
    /// Bit 9 (software): writing must copy the page first.
    pub copy_on_write: bool,
    /// Bit 11 (software): on multiprocessor kernels NT keeps the "may write" permission
    /// here and sets the hardware write bit only when the page is dirtied.
    pub software_write: bool,
    /// Bit 63; PAE and x64 only, ignored on x86.
    pub no_execute: bool,
}

impl HardwarePte {
    /// A valid PTE for `pfn` with every flag clear.
    pub fn new(pfn: Pfn) -> HardwarePte {
        HardwarePte {
            pfn,
            ..HardwarePte::default()
        }
    }
}

/// What a PTE (or a prototype PTE) says about its page.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum PteState {
    /// All zero: nothing known yet; the fault handler consults the VAD.
    Zero,
    /// Hardware-valid.
    Valid(HardwarePte),
    /// The page is still in memory on the standby or modified list (soft fault).
    Transition { pfn: Pfn, protection: Protection },
    /// The page is in pagefile `file` (0–15) at page offset `slot` (never 0).
    PageFile {
        file: u8,
        slot: u32,
        protection: Protection,
    },
    /// A pagefile PTE with no pagefile location: the first touch gets a zeroed page.
    DemandZero { protection: Protection },
    /// Points at a prototype PTE (only in process page tables). `proto_pte` is the
    /// prototype PTE's virtual address; `None` is NT's "look it up through the VAD" value.
    /// With an address, ZERO_ACCESS means "use the prototype PTE's protection"; x86 can
    /// store nothing else there (see `x86.rs`).
    Prototype {
        proto_pte: Option<PteAddress>,
        protection: Protection,
    },
    /// "Read this page from the mapped file" (only inside prototype PTEs). `subsection`
    /// is an opaque index of the subsection chosen by the caller.
    Subsection {
        subsection: u32,
        protection: Protection,
    },
    /// Committed once, now decommitted: protection MM_DECOMMIT and nothing else.
    Decommitted,
}

/// Bit positions shared by all three formats.
mod bits {
    pub const VALID: u64 = 1 << 0;
    pub const WRITE: u64 = 1 << 1;
    pub const OWNER: u64 = 1 << 2;
    pub const WRITE_THROUGH: u64 = 1 << 3;
    pub const CACHE_DISABLE: u64 = 1 << 4;
    pub const ACCESSED: u64 = 1 << 5;
    pub const DIRTY: u64 = 1 << 6;
    pub const LARGE_PAGE: u64 = 1 << 7;
    pub const GLOBAL: u64 = 1 << 8;
    pub const COPY_ON_WRITE: u64 = 1 << 9;
    pub const PROTOTYPE: u64 = 1 << 10;
    /// Transition in an invalid PTE, the software Write bit in a valid one.
    pub const TRANSITION: u64 = 1 << 11;
    pub const SOFTWARE_WRITE: u64 = 1 << 11;
    pub const NO_EXECUTE: u64 = 1 << 63;
    pub const PAGE_FILE_LOW_SHIFT: u32 = 1;
    pub const PROTECTION_SHIFT: u32 = 5;
    pub const PFN_SHIFT: u32 = 12;
}

/// Reasons a state did not fit its format, collected while encoding.
type Problem = Option<String>;

fn note(problem: &mut Problem, fits: bool, why: impl FnOnce() -> String) {
    if !fits && problem.is_none() {
        *problem = Some(why());
    }
}

fn protection_bits(p: Protection) -> u64 {
    (p.raw() as u64) << bits::PROTECTION_SHIFT
}

fn protection_of(raw: u64) -> Protection {
    Protection::from_raw((raw >> bits::PROTECTION_SHIFT) as u8)
}

/// What differs between the three formats.
struct Spec {
    arch: Arch,
    pte_size: u64,
    /// Width of the PFN field, which starts at bit 12.
    pfn_bits: u32,
    has_no_execute: bool,
    page_file_high_shift: u32,
    page_file_high_bits: u32,
    /// Per level (index 0 = PTE): VA shift and entries per table.
    geometry: &'static [(u32, u64)],
    /// Per level: self-map base, if the level has one.
    self_map: &'static [Option<u64>],
    /// Bits of virtual address the format translates (32 or 48).
    va_bits: u32,
    encode_proto: fn(Option<PteAddress>, Protection, &mut Problem) -> u64,
    decode_proto: fn(u64) -> (Option<PteAddress>, Protection),
    encode_subsection: fn(u32, Protection, &mut Problem) -> u64,
    decode_subsection: fn(u64) -> (u32, Protection),
}

/// The PTE format of one architecture.
#[derive(Clone, Copy)]
pub struct PteFormat {
    spec: &'static Spec,
}

impl std::fmt::Debug for PteFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PteFormat({})", self.spec.arch.name())
    }
}

impl PteFormat {
    pub fn new(arch: Arch) -> PteFormat {
        let spec = match arch {
            Arch::X86 => &x86::SPEC,
            Arch::Pae => &pae::SPEC,
            Arch::X64 => &x64::SPEC,
        };
        PteFormat { spec }
    }

    pub fn arch(&self) -> Arch {
        self.spec.arch
    }

    /// Bytes per entry: 4 on x86, 8 on PAE and x64.
    pub fn pte_size(&self) -> u64 {
        self.spec.pte_size
    }

    /// How many pages a paging file may hold: PageFileHigh's range (x86: 20 bits,
    /// 4 GB; PAE and x64: 32 bits). The all-ones offset is left out: x86 reserves
    /// it (MI_PTE_LOOKUP_NEEDED) in prototype pointers.
    /// How many physical pages the PFN field can name: 4 GB of RAM on x86 (20 bits),
    /// 64 GB on PAE (24), 1 TB on x64 (28, as modelled here).
    pub fn max_physical_pages(&self) -> u64 {
        1u64 << self.spec.pfn_bits
    }

    pub fn max_pagefile_slots(&self) -> u64 {
        (1u64 << self.spec.page_file_high_bits) - 1
    }

    /// The largest subsection number a subsection PTE can carry (x86: 25 bits;
    /// PAE and x64: 32).
    pub fn max_subsection(&self) -> u32 {
        match self.spec.arch {
            Arch::X86 => x86::MAX_SUBSECTION,
            _ => u32::MAX,
        }
    }

    /// Paging levels: 2, 3 or 4.
    pub fn levels(&self) -> u32 {
        self.spec.geometry.len() as u32
    }

    pub fn has_level(&self, level: Level) -> bool {
        level.number() <= self.levels()
    }

    /// Entries in one table at `level` (PAE's top level has 4); 0 if there is no such level.
    pub fn entries_per_table(&self, level: Level) -> u64 {
        self.geometry(level).map_or(0, |(_, n)| n)
    }

    /// Index of `va`'s entry within its table at `level`.
    /// log2 of the bytes one page table maps (x86 4 MB, PAE and x64 2 MB).
    pub fn table_span_shift(&self) -> u32 {
        self.geometry(Level::Pde).map_or(22, |(shift, _)| shift)
    }

    pub fn index(&self, va: Va, level: Level) -> Option<u64> {
        let (shift, entries) = self.geometry(level)?;
        self.translatable(va)?;
        Some((va.0 >> shift) & (entries - 1))
    }

    /// The virtual address at which the self-map shows the `level` entry for `va`, or
    /// `None` if `va` is not translatable or the level has no self-map (PAE's PDPT lives
    /// in the process object, not in the self-map).
    pub fn entry_va(&self, va: Va, level: Level) -> Option<PteAddress> {
        let (shift, _) = self.geometry(level)?;
        let base = (*self.spec.self_map.get(level.number() as usize - 1)?)?;
        let offset = self.translatable(va)?;
        Some(PteAddress(base + (offset >> shift) * self.spec.pte_size))
    }

    /// The inverse of `entry_va(_, Level::Pte)`: the page whose PTE is at `pte_va` (an
    /// address inside a PTE is taken as that PTE).
    pub fn va_of_pte(&self, pte_va: PteAddress) -> Option<Va> {
        let base = self.spec.self_map[0]?;
        let span = (1u64 << (self.spec.va_bits - 12)) * self.spec.pte_size;
        let offset = pte_va.0.checked_sub(base).filter(|&o| o < span)?;
        let va = (offset / self.spec.pte_size) << 12;
        Some(Va(self.sign_extend(va)))
    }

    /// Bits 1–11 of a valid PTE come out as they went in; fields too wide for the format
    /// are truncated (as a C bitfield store would). Use [`try_encode`](Self::try_encode) to
    /// be told instead.
    pub fn encode(&self, state: &PteState) -> Mmpte {
        Mmpte(self.encode_noting(state).0)
    }

    /// Like [`encode`](Self::encode) but fails with STATUS_INVALID_PARAMETER when the state
    /// cannot be represented exactly (PFN too large, slot 0, misaligned prototype address...).
    pub fn try_encode(&self, state: &PteState) -> MmResult<Mmpte> {
        match self.encode_noting(state) {
            (raw, None) => Ok(Mmpte(raw)),
            (_, Some(why)) => Err(mm_err!(
                INVALID_PARAMETER,
                "{:?} cannot be stored in an {} PTE: {why}",
                state,
                self.spec.arch.name()
            )),
        }
    }

    /// Decodes an entry of a page table (directory, ...): the Prototype bit means "pointer
    /// to a prototype PTE". Never fails: bits NT would never produce still decode to the
    /// state NT's fault handler would act on.
    pub fn decode(&self, pte: Mmpte) -> PteState {
        self.decode_in(pte.0, false)
    }

    /// Decodes the contents of a prototype PTE, where the Prototype bit means "subsection".
    pub fn decode_prototype(&self, pte: Mmpte) -> PteState {
        self.decode_in(pte.0, true)
    }

    pub fn is_valid(&self, pte: Mmpte) -> bool {
        pte.0 & bits::VALID != 0
    }

    /// The frame of a valid PTE, without decoding the rest (page-table walks
    /// read one of these per level).
    pub fn valid_pfn(&self, pte: Mmpte) -> Option<Pfn> {
        self.is_valid(pte)
            .then(|| Pfn(((pte.0 >> bits::PFN_SHIFT) & self.pfn_mask()) as u32))
    }

    /// Whether `pte` is a valid entry with the LargePage bit (bit 7): at the
    /// PDE level, a large page (4 MB on x86, 2 MB on PAE and x64) mapped with
    /// no page table below it. mmfs sets the bit nowhere else (bit 7 of a
    /// leaf PTE is PAT, of a PPE a 1 GB page: neither is simulated).
    pub fn is_large_page(&self, pte: Mmpte) -> bool {
        self.is_valid(pte) && pte.0 & bits::LARGE_PAGE != 0
    }

    /// Bytes one large page maps: what one PDE maps (MM_MINIMUM_VA_FOR_LARGE_PAGE).
    pub fn large_page_size(&self) -> u64 {
        1u64 << self.table_span_shift()
    }

    /// The inverse of `entry_va(_, Level::Pde)`: the first address the PDE at
    /// `pde_va` maps (a large page's base).
    pub fn va_of_pde(&self, pde_va: PteAddress) -> Option<Va> {
        let base = (*self.spec.self_map.get(1)?)?;
        let (shift, _) = self.geometry(Level::Pde)?;
        let span = (1u64 << (self.spec.va_bits - shift)) * self.spec.pte_size;
        let offset = pde_va.0.checked_sub(base).filter(|&o| o < span)?;
        Some(Va(self.sign_extend((offset / self.spec.pte_size) << shift)))
    }

    /// The frame of a valid PTE through which `write` (or a read) needs
    /// nothing more from the MMU: Accessed set, and for a write Write and
    /// Dirty set too, so the translation changes no bit. `None` for any other
    /// entry, which the fault path decodes in full. Reads the bits in place:
    /// a copy of resident pages asks this for every page, and decoding into
    /// a `HardwarePte` to read three fields back stalled on store forwarding.
    pub fn resident_hit(&self, pte: Mmpte, write: bool) -> Option<Pfn> {
        let mut need = bits::VALID | bits::ACCESSED;
        if write {
            need |= bits::WRITE | bits::DIRTY;
        }
        (pte.0 & need == need).then(|| Pfn(((pte.0 >> bits::PFN_SHIFT) & self.pfn_mask()) as u32))
    }

    /// Whether `decode` would find a paging-file slot in `pte`
    /// (`PteState::PageFile`), without decoding the rest.
    pub fn is_page_file(&self, pte: Mmpte) -> bool {
        pte.0 & (bits::VALID | bits::PROTOTYPE | bits::TRANSITION) == 0
            && self.page_file_high(pte.0) != 0
    }

    /// Whether a valid PTE's Accessed bit is set (false for any other PTE).
    pub fn accessed(&self, pte: Mmpte) -> bool {
        self.is_valid(pte) && pte.0 & bits::ACCESSED != 0
    }

    /// The frame of a valid or transition PTE.
    pub fn pfn(&self, pte: Mmpte) -> Option<Pfn> {
        match self.decode(pte) {
            PteState::Valid(h) => Some(h.pfn),
            PteState::Transition { pfn, .. } => Some(pfn),
            _ => None,
        }
    }

    /// Sets or clears the Accessed bit of a valid PTE (the working-set manager's aging);
    /// an invalid PTE is returned unchanged, since bit 5 belongs to its protection there.
    pub fn set_accessed(&self, pte: Mmpte, accessed: bool) -> Mmpte {
        self.set_valid_bit(pte, bits::ACCESSED, accessed)
    }

    /// Sets or clears the Dirty bit of a valid PTE; invalid PTEs are returned unchanged.
    pub fn set_dirty(&self, pte: Mmpte, dirty: bool) -> Mmpte {
        self.set_valid_bit(pte, bits::DIRTY, dirty)
    }

    /// A frame's OriginalPte given protection `new`: a paging-file copy stays
    /// named (its slot is the page's backing), anything else becomes
    /// demand-zero.
    pub fn reprotect_original(&self, original: Mmpte, new: Protection) -> Mmpte {
        match self.decode(original) {
            PteState::PageFile { file, slot, .. } => self.encode(&PteState::PageFile {
                file,
                slot,
                protection: new,
            }),
            _ => self.encode(&PteState::DemandZero { protection: new }),
        }
    }

    /// The protection a frame's OriginalPte gives its prototype PTE (a valid
    /// prototype PTE has no protection bits of its own); READWRITE if it names
    /// none.
    pub fn protection_of_original(&self, original: Mmpte) -> Protection {
        match self.decode_prototype(original) {
            PteState::DemandZero { protection }
            | PteState::PageFile { protection, .. }
            | PteState::Subsection { protection, .. }
            | PteState::Transition { protection, .. } => protection,
            _ => Protection::READWRITE,
        }
    }

    fn set_valid_bit(&self, pte: Mmpte, bit: u64, on: bool) -> Mmpte {
        match (self.is_valid(pte), on) {
            (false, _) => pte,
            (true, true) => Mmpte(pte.0 | bit),
            (true, false) => Mmpte(pte.0 & !bit),
        }
    }

    fn geometry(&self, level: Level) -> Option<(u32, u64)> {
        self.spec.geometry.get(level.number() as usize - 1).copied()
    }

    /// The translated part of `va`, or `None` if `va` is outside the format's address
    /// space (above 4 GB on 32-bit formats, non-canonical on x64).
    fn translatable(&self, va: Va) -> Option<u64> {
        let mask = (1u64 << self.spec.va_bits) - 1;
        (self.sign_extend(va.0 & mask) == va.0).then_some(va.0 & mask)
    }

    fn sign_extend(&self, va: u64) -> u64 {
        if self.spec.va_bits == 48 && va & (1 << 47) != 0 {
            va | 0xFFFF_0000_0000_0000
        } else {
            va
        }
    }

    fn pfn_mask(&self) -> u64 {
        (1u64 << self.spec.pfn_bits) - 1
    }

    fn page_file_high(&self, raw: u64) -> u64 {
        (raw >> self.spec.page_file_high_shift) & ((1u64 << self.spec.page_file_high_bits) - 1)
    }

    fn encode_noting(&self, state: &PteState) -> (u64, Problem) {
        let mut problem = None;
        let spec = self.spec;
        let pfn_field = |pfn: Pfn, problem: &mut Problem| {
            let n = pfn.0 as u64;
            note(problem, n <= self.pfn_mask(), || {
                format!("PFN {n:#x} is wider than {} bits", spec.pfn_bits)
            });
            (n & self.pfn_mask()) << bits::PFN_SHIFT
        };
        let raw = match *state {
            PteState::Zero => 0,
            PteState::Valid(h) => {
                let flags = [
                    (h.write, bits::WRITE),
                    (h.owner, bits::OWNER),
                    (h.write_through, bits::WRITE_THROUGH),
                    (h.cache_disable, bits::CACHE_DISABLE),
                    (h.accessed, bits::ACCESSED),
                    (h.dirty, bits::DIRTY),
                    (h.large_page, bits::LARGE_PAGE),
                    (h.global, bits::GLOBAL),
                    (h.copy_on_write, bits::COPY_ON_WRITE),
                    (h.software_write, bits::SOFTWARE_WRITE),
                    (h.no_execute && spec.has_no_execute, bits::NO_EXECUTE),
                ];
                let set = flags
                    .iter()
                    .filter(|(on, _)| *on)
                    .fold(0, |a, (_, b)| a | b);
                bits::VALID | set | pfn_field(h.pfn, &mut problem)
            }
            PteState::Transition { pfn, protection } => {
                bits::TRANSITION | protection_bits(protection) | pfn_field(pfn, &mut problem)
            }
            PteState::PageFile {
                file,
                slot,
                protection,
            } => {
                let high_max = (1u64 << spec.page_file_high_bits) - 1;
                note(&mut problem, file < 16, || format!("pagefile {file} > 15"));
                note(&mut problem, slot != 0, || {
                    "pagefile slot 0 is never used".into()
                });
                note(&mut problem, slot as u64 <= high_max, || {
                    format!(
                        "slot {slot:#x} is wider than {} bits",
                        spec.page_file_high_bits
                    )
                });
                (((file & 0xF) as u64) << bits::PAGE_FILE_LOW_SHIFT)
                    | protection_bits(protection)
                    | ((slot as u64 & high_max) << spec.page_file_high_shift)
            }
            PteState::DemandZero { protection } => {
                note(&mut problem, protection.raw() != 0, || {
                    "demand zero needs a protection (0 is the zero PTE)".into()
                });
                note(&mut problem, !protection.is_decommit(), || {
                    "demand zero with MM_DECOMMIT is the decommitted PTE".into()
                });
                protection_bits(protection)
            }
            PteState::Prototype {
                proto_pte,
                protection,
            } => bits::PROTOTYPE | (spec.encode_proto)(proto_pte, protection, &mut problem),
            PteState::Subsection {
                subsection,
                protection,
            } => bits::PROTOTYPE | (spec.encode_subsection)(subsection, protection, &mut problem),
            PteState::Decommitted => protection_bits(Protection::DECOMMIT),
        };
        (raw, problem)
    }

    fn decode_in(&self, raw: u64, in_prototype: bool) -> PteState {
        let pfn = || Pfn(((raw >> bits::PFN_SHIFT) & self.pfn_mask()) as u32);
        if raw & bits::VALID != 0 {
            let on = |bit: u64| raw & bit != 0;
            return PteState::Valid(HardwarePte {
                pfn: pfn(),
                write: on(bits::WRITE),
                owner: on(bits::OWNER),
                write_through: on(bits::WRITE_THROUGH),
                cache_disable: on(bits::CACHE_DISABLE),
                accessed: on(bits::ACCESSED),
                dirty: on(bits::DIRTY),
                large_page: on(bits::LARGE_PAGE),
                global: on(bits::GLOBAL),
                copy_on_write: on(bits::COPY_ON_WRITE),
                software_write: on(bits::SOFTWARE_WRITE),
                no_execute: self.spec.has_no_execute && on(bits::NO_EXECUTE),
            });
        }
        if raw & bits::PROTOTYPE != 0 {
            return if in_prototype {
                let (subsection, protection) = (self.spec.decode_subsection)(raw);
                PteState::Subsection {
                    subsection,
                    protection,
                }
            } else {
                let (proto_pte, protection) = (self.spec.decode_proto)(raw);
                PteState::Prototype {
                    proto_pte,
                    protection,
                }
            };
        }
        let protection = protection_of(raw);
        if raw & bits::TRANSITION != 0 {
            return PteState::Transition {
                pfn: pfn(),
                protection,
            };
        }
        let slot = self.page_file_high(raw);
        if slot != 0 {
            return PteState::PageFile {
                file: ((raw >> bits::PAGE_FILE_LOW_SHIFT) & 0xF) as u8,
                slot: slot as u32,
                protection,
            };
        }
        // No pagefile offset: NT's fault handler looks only at the protection from here on.
        if protection.is_decommit() {
            PteState::Decommitted
        } else if protection.raw() == 0 {
            PteState::Zero
        } else {
            PteState::DemandZero { protection }
        }
    }
}

#[cfg(test)]
mod tests;
