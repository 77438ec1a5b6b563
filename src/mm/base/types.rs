//! Address and frame newtypes shared by every part of the core.
//!
//! Each kind of number the memory manager handles gets its own type so that a
//! virtual address can never be passed where a page frame number is expected.

use std::fmt;

/// Size of a small page on every supported architecture.
pub const PAGE_SIZE: u64 = 4096;
/// log2(PAGE_SIZE).
pub const PAGE_SHIFT: u32 = 12;
/// NtAllocateVirtualMemory reserves address space in units of this many bytes.
pub const ALLOCATION_GRANULARITY: u64 = 64 * 1024;

/// A virtual address (user or system space).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Va(pub u64);

/// A virtual page number: `Va >> 12`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Vpn(pub u64);

/// An encoded page-table entry (NT's MMPTE): the bits of a hardware or software
/// PTE, or of a prototype PTE, in the running arch's format. Only `hw::pte`
/// gives the bits a meaning (`PteFormat::decode`); everywhere else an entry is
/// stored, copied and compared whole.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mmpte(pub u64);

impl Mmpte {
    /// The zero PTE: nothing there (the VAD says what that means).
    pub const ZERO: Mmpte = Mmpte(0);

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// The virtual address of a PTE: where the process sees a page-table entry
/// through the self-map (MiGetPteAddress), or where a prototype PTE lives in
/// paged pool. A frame's PteAddress and a prototype pointer hold one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PteAddress(pub u64);

/// A physical page frame number: an index into the PFN database.
///
/// 32 bits cover 16 TiB of simulated RAM, and keep PFN list links small.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pfn(pub u32);

impl Va {
    pub const fn vpn(self) -> Vpn {
        Vpn(self.0 >> PAGE_SHIFT)
    }
    pub const fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
    pub const fn page_base(self) -> Va {
        Va(self.0 & !(PAGE_SIZE - 1))
    }
}

impl PteAddress {
    /// The address as a plain virtual address (the page holding a self-map
    /// entry is where its page table appears).
    pub const fn va(self) -> Va {
        Va(self.0)
    }
}

impl Vpn {
    pub const fn va(self) -> Va {
        Va(self.0 << PAGE_SHIFT)
    }
}

impl Pfn {
    pub const fn index(self) -> usize {
        self.0 as usize
    }
    /// Physical address of the first byte of this frame.
    pub const fn phys(self) -> u64 {
        (self.0 as u64) << PAGE_SHIFT
    }
}

impl fmt::Debug for Va {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Va({:#x})", self.0)
    }
}
impl fmt::Debug for Vpn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vpn({:#x})", self.0)
    }
}
impl fmt::Debug for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pfn({:#x})", self.0)
    }
}
impl fmt::Debug for Mmpte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mmpte({:#x})", self.0)
    }
}
impl fmt::Debug for PteAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PteAddress({:#x})", self.0)
    }
}
impl fmt::LowerHex for Mmpte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}
impl fmt::LowerHex for PteAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}
impl fmt::LowerHex for Va {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}
impl fmt::LowerHex for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// A process id. NT hands out ids in multiples of 4; the System process is 4.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pid(pub u32);

impl Pid {
    pub const SYSTEM: Pid = Pid(4);
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The paging format and address-space layout being simulated (`--arch`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Arch {
    /// 32-bit x86, 2-level paging with 4-byte PTEs (non-PAE).
    X86,
    /// 32-bit x86 with PAE: 3-level paging with 8-byte PTEs.
    Pae,
    /// AMD64: 4-level paging with 8-byte PTEs.
    X64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::Pae => "pae",
            Arch::X64 => "x64",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "x86" => Some(Arch::X86),
            "pae" => Some(Arch::Pae),
            "x64" => Some(Arch::X64),
            _ => None,
        }
    }
}
