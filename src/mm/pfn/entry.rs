//! One PFN database entry (NT's MMPFN), packed into 32 bytes, and its public names.
//!
//! # Layout (four `u64` words, 32 bytes per physical page)
//!
//! | word | bits  | field |
//! |------|-------|-------|
//! | 0    | 0–31  | `u1`: Flink while on a list / WsIndex while Active or Transition |
//! | 0    | 32–63 | `u2`: Blink while on a list / ShareCount while Active or Transition |
//! | 1    | 0–63  | PteAddress: virtual address of the PTE or prototype PTE mapping the frame |
//! | 2    | 0–63  | OriginalPte: PTE contents to restore when the frame is repurposed |
//! | 3    | 0–15  | ReferenceCount |
//! | 3    | 16–31 | Owner: process slot (e.g. pid / 4) that owns the page; 0 = none/system |
//! | 3    | 32–63 | flags, see [`bits`] |
//!
//! NT's PteFrame (the frame holding the PTE) does not fit in 32 bytes next to a
//! full 64-bit PteAddress and an owner; the caller derives it from PteAddress.
//! NT marks a deleted page by setting bit 0 of PteAddress; here that is a
//! separate flag (`DELETED`) so PteAddress always reads back as stored.
//!
//! # Why an all-zero entry means "free RAM"
//!
//! Links are stored relative to the neighbours in PFN order
//! (`Flink ^ (pfn + 1)`, `Blink ^ (pfn - 1)`), the priority as `priority ^ 3`, and
//! `PageUse::Unused` has code 0. So an all-zero entry is: on the zeroed list, linked
//! to pfn - 1 and pfn + 1, standby priority 3 (the WRK default), unused, no owner.
//! A database for 16 M pages is then one `calloc` that the host maps lazily: `new`
//! touches no entry except the last one, and pages the simulation never uses cost
//! no host memory.

use std::fmt;

use crate::mm::base::types::{Mmpte, Pfn, PteAddress};

/// One packed MMPFN. See the module docs for the layout.
pub(super) type MmPfn = [u64; 4];

/// The "no page" link value (NT's MM_EMPTY_LIST). No valid PFN is `u32::MAX`,
/// because a database holds at most `u32::MAX` pages (PFNs 0 ..= `u32::MAX - 1`).
pub(super) const NIL: u32 = u32::MAX;

/// Standby priority given to pages that were never assigned one (WRK default).
pub const DEFAULT_PRIORITY: u8 = 3;

/// Bit positions inside word 3.
pub(super) mod bits {
    pub const REFERENCE_COUNT: u32 = 0; // 16 bits
    pub const OWNER: u32 = 16; // 16 bits
    pub const LOCATION: u32 = 32; // 3 bits, PageLocation
    pub const MODIFIED: u32 = 35;
    pub const READ_IN_PROGRESS: u32 = 36;
    pub const WRITE_IN_PROGRESS: u32 = 37;
    pub const PROTOTYPE_PTE: u32 = 38;
    pub const PRIORITY: u32 = 39; // 3 bits, stored XOR DEFAULT_PRIORITY
    pub const USE: u32 = 42; // 4 bits, PageUse code
    pub const IN_PAGE_ERROR: u32 = 46;
    pub const DELETED: u32 = 47;
    // Bits 48–63 are spare.
}

/// Where a physical page is: NT's MMLISTS, in NT's order.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum PageLocation {
    Zeroed = 0,
    Free = 1,
    Standby = 2,
    Modified = 3,
    ModifiedNoWrite = 4,
    Bad = 5,
    Active = 6,
    Transition = 7,
}

impl PageLocation {
    /// All locations, in MMLISTS order (the index equals the discriminant).
    pub const ALL: [PageLocation; 8] = [
        PageLocation::Zeroed,
        PageLocation::Free,
        PageLocation::Standby,
        PageLocation::Modified,
        PageLocation::ModifiedNoWrite,
        PageLocation::Bad,
        PageLocation::Active,
        PageLocation::Transition,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PageLocation::Zeroed => "zeroed",
            PageLocation::Free => "free",
            PageLocation::Standby => "standby",
            PageLocation::Modified => "modified",
            PageLocation::ModifiedNoWrite => "modified-no-write",
            PageLocation::Bad => "bad",
            PageLocation::Active => "active",
            PageLocation::Transition => "transition",
        }
    }

    /// True for the locations that are linked lists (all but Active and Transition).
    pub fn is_list(self) -> bool {
        !matches!(self, PageLocation::Active | PageLocation::Transition)
    }

    fn from_bits(v: u64) -> PageLocation {
        PageLocation::ALL[(v & 7) as usize]
    }
}

impl fmt::Display for PageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a page is used for: the rows of RAMMap's "Use Counts" tab.
///
/// Zeroed, free and bad pages are `Unused`; standby and modified pages keep the
/// use they had while active, as RAMMap shows them.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum PageUse {
    ProcessPrivate = 1,
    MappedFile = 2,
    Shareable = 3,
    PageTable = 4,
    PagedPool = 5,
    NonPagedPool = 6,
    SystemPte = 7,
    SessionPrivate = 8,
    Metafile = 9,
    Awe = 10,
    DriverLocked = 11,
    KernelStack = 12,
    LargePage = 13,
    /// Code 0, so that an all-zero entry is unused.
    Unused = 0,
}

impl PageUse {
    /// All uses, in RAMMap's row order.
    pub const ALL: [PageUse; 14] = [
        PageUse::ProcessPrivate,
        PageUse::MappedFile,
        PageUse::Shareable,
        PageUse::PageTable,
        PageUse::PagedPool,
        PageUse::NonPagedPool,
        PageUse::SystemPte,
        PageUse::SessionPrivate,
        PageUse::Metafile,
        PageUse::Awe,
        PageUse::DriverLocked,
        PageUse::KernelStack,
        PageUse::LargePage,
        PageUse::Unused,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PageUse::ProcessPrivate => "ProcessPrivate",
            PageUse::MappedFile => "MappedFile",
            PageUse::Shareable => "Shareable",
            PageUse::PageTable => "PageTable",
            PageUse::PagedPool => "PagedPool",
            PageUse::NonPagedPool => "NonPagedPool",
            PageUse::SystemPte => "SystemPTE",
            PageUse::SessionPrivate => "SessionPrivate",
            PageUse::Metafile => "Metafile",
            PageUse::Awe => "AWE",
            PageUse::DriverLocked => "DriverLocked",
            PageUse::KernelStack => "KernelStack",
            PageUse::LargePage => "LargePage",
            PageUse::Unused => "Unused",
        }
    }

    /// Codes 14 and 15 are never stored; they would decode as `Unused`.
    fn from_code(code: u64) -> PageUse {
        PageUse::ALL
            .into_iter()
            .find(|u| *u as u64 == code)
            .unwrap_or(PageUse::Unused)
    }
}

impl fmt::Display for PageUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything the PFN database knows about one page, decoded (no unions).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PfnEntryView {
    pub pfn: Pfn,
    pub location: PageLocation,
    pub use_: PageUse,
    /// PTEs referencing the frame; 0 while the page is on a list.
    pub share_count: u32,
    pub reference_count: u16,
    pub pte_address: PteAddress,
    pub original_pte: Mmpte,
    pub modified: bool,
    pub read_in_progress: bool,
    pub write_in_progress: bool,
    /// The frame is mapped through a prototype PTE (PteAddress points at it).
    pub prototype: bool,
    /// Standby priority 0–7.
    pub priority: u8,
    /// Owning process slot; 0 = none/system.
    pub owner: u16,
    /// Working-set list index; 0 while the page is on a list.
    pub ws_index: u32,
    /// Next page on the same list (None at the tail or when on no list).
    pub flink: Option<Pfn>,
    /// Previous page on the same list (None at the head or when on no list).
    pub blink: Option<Pfn>,
    pub in_page_error: bool,
    /// NT's "PteAddress low bit": the page was deleted and goes to the free list
    /// when its reference count drops to zero.
    pub deleted: bool,
}

fn field(word: u64, shift: u32, width: u32) -> u64 {
    (word >> shift) & ((1 << width) - 1)
}

fn with_field(word: u64, shift: u32, width: u32, value: u64) -> u64 {
    let mask = ((1u64 << width) - 1) << shift;
    (word & !mask) | ((value << shift) & mask)
}

/// Typed access to the packed words of one entry.
pub(super) trait PfnFields {
    fn u1(&self) -> u32;
    fn set_u1(&mut self, v: u32);
    fn u2(&self) -> u32;
    fn set_u2(&mut self, v: u32);
    fn pte_address(&self) -> PteAddress;
    fn set_pte_address(&mut self, v: PteAddress);
    fn original_pte(&self) -> Mmpte;
    fn set_original_pte(&mut self, v: Mmpte);
    fn reference_count(&self) -> u16;
    fn set_reference_count(&mut self, v: u16);
    fn owner(&self) -> u16;
    fn set_owner(&mut self, v: u16);
    fn location(&self) -> PageLocation;
    fn set_location(&mut self, loc: PageLocation);
    fn flag(&self, bit: u32) -> bool;
    fn set_flag(&mut self, bit: u32, on: bool);
    fn priority(&self) -> u8;
    fn set_priority(&mut self, p: u8);
    fn page_use(&self) -> PageUse;
    fn set_page_use(&mut self, u: PageUse);

    /// Decoded Flink of the entry for `pfn` (only meaningful while on a list).
    fn flink(&self, pfn: u32) -> u32 {
        self.u1() ^ pfn.wrapping_add(1)
    }
    fn set_flink(&mut self, pfn: u32, next: u32) {
        self.set_u1(next ^ pfn.wrapping_add(1));
    }
    /// Decoded Blink of the entry for `pfn` (only meaningful while on a list).
    fn blink(&self, pfn: u32) -> u32 {
        self.u2() ^ pfn.wrapping_sub(1)
    }
    fn set_blink(&mut self, pfn: u32, prev: u32) {
        self.set_u2(prev ^ pfn.wrapping_sub(1));
    }
}

impl PfnFields for MmPfn {
    fn u1(&self) -> u32 {
        self[0] as u32
    }
    fn set_u1(&mut self, v: u32) {
        self[0] = (self[0] & !0xFFFF_FFFF) | v as u64;
    }
    fn u2(&self) -> u32 {
        (self[0] >> 32) as u32
    }
    fn set_u2(&mut self, v: u32) {
        self[0] = (self[0] & 0xFFFF_FFFF) | ((v as u64) << 32);
    }
    fn pte_address(&self) -> PteAddress {
        PteAddress(self[1])
    }
    fn set_pte_address(&mut self, v: PteAddress) {
        self[1] = v.0;
    }
    fn original_pte(&self) -> Mmpte {
        Mmpte(self[2])
    }
    fn set_original_pte(&mut self, v: Mmpte) {
        self[2] = v.0;
    }
    fn reference_count(&self) -> u16 {
        field(self[3], bits::REFERENCE_COUNT, 16) as u16
    }
    fn set_reference_count(&mut self, v: u16) {
        self[3] = with_field(self[3], bits::REFERENCE_COUNT, 16, v as u64);
    }
    fn owner(&self) -> u16 {
        field(self[3], bits::OWNER, 16) as u16
    }
    fn set_owner(&mut self, v: u16) {
        self[3] = with_field(self[3], bits::OWNER, 16, v as u64);
    }
    fn location(&self) -> PageLocation {
        PageLocation::from_bits(field(self[3], bits::LOCATION, 3))
    }
    fn set_location(&mut self, loc: PageLocation) {
        self[3] = with_field(self[3], bits::LOCATION, 3, loc as u64);
    }
    fn flag(&self, bit: u32) -> bool {
        field(self[3], bit, 1) != 0
    }
    fn set_flag(&mut self, bit: u32, on: bool) {
        self[3] = with_field(self[3], bit, 1, on as u64);
    }
    fn priority(&self) -> u8 {
        field(self[3], bits::PRIORITY, 3) as u8 ^ DEFAULT_PRIORITY
    }
    fn set_priority(&mut self, p: u8) {
        self[3] = with_field(self[3], bits::PRIORITY, 3, (p ^ DEFAULT_PRIORITY) as u64);
    }
    fn page_use(&self) -> PageUse {
        PageUse::from_code(field(self[3], bits::USE, 4))
    }
    fn set_page_use(&mut self, u: PageUse) {
        self[3] = with_field(self[3], bits::USE, 4, u as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_costs_at_most_32_bytes() {
        assert!(std::mem::size_of::<MmPfn>() <= 32);
        assert_eq!(std::mem::size_of::<MmPfn>(), 32);
    }

    #[test]
    fn zero_entry_is_an_unused_zeroed_page_linked_in_pfn_order() {
        let e: MmPfn = [0; 4];
        assert_eq!(e.location(), PageLocation::Zeroed);
        assert_eq!(e.page_use(), PageUse::Unused);
        assert_eq!(e.priority(), DEFAULT_PRIORITY);
        assert_eq!((e.reference_count(), e.owner()), (0, 0));
        assert_eq!((e.flink(41), e.blink(41)), (42, 40));
        assert_eq!(e.blink(0), NIL, "page 0 has no predecessor");
    }

    #[test]
    fn fields_do_not_overlap() {
        let mut e: MmPfn = [0; 4];
        e.set_flink(7, NIL);
        e.set_blink(7, 3);
        e.set_pte_address(PteAddress(u64::MAX));
        e.set_original_pte(Mmpte(0x8000_0000_0000_0080));
        e.set_reference_count(0xFFFF);
        e.set_owner(0xABCD);
        e.set_location(PageLocation::Transition);
        e.set_priority(7);
        e.set_page_use(PageUse::LargePage);
        e.set_flag(bits::WRITE_IN_PROGRESS, true);
        assert_eq!((e.flink(7), e.blink(7)), (NIL, 3));
        assert_eq!(e.pte_address(), PteAddress(u64::MAX));
        assert_eq!(e.original_pte(), Mmpte(0x8000_0000_0000_0080));
        assert_eq!((e.reference_count(), e.owner()), (0xFFFF, 0xABCD));
        assert_eq!(e.location(), PageLocation::Transition);
        assert_eq!(e.priority(), 7);
        assert_eq!(e.page_use(), PageUse::LargePage);
        for bit in [
            bits::MODIFIED,
            bits::READ_IN_PROGRESS,
            bits::PROTOTYPE_PTE,
            bits::IN_PAGE_ERROR,
            bits::DELETED,
        ] {
            assert!(!e.flag(bit));
        }
        assert!(e.flag(bits::WRITE_IN_PROGRESS));
        e.set_priority(0);
        e.set_page_use(PageUse::Unused);
        e.set_location(PageLocation::Zeroed);
        assert_eq!(e.priority(), 0);
        assert_eq!(e.owner(), 0xABCD);
        assert_eq!(e.reference_count(), 0xFFFF);
    }

    #[test]
    fn every_use_and_location_round_trips() {
        let mut e: MmPfn = [0; 4];
        for u in PageUse::ALL {
            e.set_page_use(u);
            assert_eq!(e.page_use(), u);
        }
        for (i, loc) in PageLocation::ALL.into_iter().enumerate() {
            assert_eq!(loc as usize, i);
            e.set_location(loc);
            assert_eq!(e.location(), loc);
        }
    }

    #[test]
    fn names() {
        let names: Vec<_> = PageLocation::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(
            names.join(" "),
            "zeroed free standby modified modified-no-write bad active transition"
        );
        let uses: Vec<_> = PageUse::ALL.iter().map(|u| u.to_string()).collect();
        assert_eq!(
            uses.join(" "),
            "ProcessPrivate MappedFile Shareable PageTable PagedPool NonPagedPool SystemPTE \
             SessionPrivate Metafile AWE DriverLocked KernelStack LargePage Unused"
        );
    }
}
