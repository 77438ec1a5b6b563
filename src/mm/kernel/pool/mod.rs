//! Executive pool (WRK `ex/pool.c`, Windows Server 2003 SP1): non-paged pool,
//! resident and never trimmed, and paged pool, whose pages are the System
//! process's pageable pages (in its working set, trimmed, written to the
//! paging file and faulted back like any process's private pages).
//!
//! - `header.rs`: POOL_HEADER in the simulated bytes, the block unit;
//! - `blocks.rs`: requests up to POOL_BUDDY_MAX, carved out of pool pages with
//!   per-size free lists, split on allocation and merged with free
//!   neighbours on free through PreviousSize/BlockSize (ExAllocatePoolWithTag,
//!   ExFreePoolWithTag);
//! - `big.rs`: larger requests take whole pages, no header, recorded in the
//!   big pool table (PoolBigPageTable: Va, Key, NumberOfPages);
//! - `special.rs`: special pool (MmAllocateSpecialPool) for one tag;
//! - `pages.rs`: page-level expansion and contraction (MiAllocatePoolPages,
//!   MiFreePoolPages): addresses, PTEs, frames, charges, and the simulated
//!   MMU through which every header is read and written;
//! - `tags.rs`: the pool tag table (PoolTrackTable, `!poolused`).
//!
//! Lock: all of it is behind `Mm::kernel` (order 2¾). Every operation also
//! holds the System process's address space (order 4), because a header read
//! or write is a touch of system space and may fault a paged pool page in.
//! Under those it takes the commit lock (paged pool growth), the PFN lock
//! (frames, and the paged-pool address space shared with prototype PTEs,
//! which lives in `Segments` under the PFN lock) and resident available
//! memory (atomics).
//!
//! Where the addresses come from: non-paged pool owns its range outright
//! (NON_PAGED_POOL on x64, NON_PAGED_POOL_EXPANSION on x86/PAE) up to
//! MmMaximumNonPagedPoolInBytes. Paged pool shares its range with the
//! prototype PTEs (`segment::PrototypePool`), as in NT, where prototype PTEs
//! are paged pool allocations: both take from the one free map in `Segments`
//! under the PFN lock, prototype PTE arrays first-fit from the bottom and pool
//! pages page-aligned from the top (`claim_pages`), so the two can never
//! overlap and both together are bounded by MmSizeOfPagedPoolInBytes.

mod big;
mod blocks;
pub mod header;
pub mod pages;
mod special;
mod tags;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, PAGE_SIZE};
use crate::mm::hw::layout::names;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;

pub use big::BigPage;
pub use header::{Geometry, PoolHeader};
pub use pages::PageRuns;
pub use special::{SPECIAL_POOL_PATTERN, SpecialAllocation};
pub use tags::{Tag, TagUsage};

/// NT's POOL_TYPE, the two basic types (NonPagedPool = 0, PagedPool = 1).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum PoolType {
    NonPaged = 0,
    Paged = 1,
}

impl PoolType {
    pub const ALL: [PoolType; 2] = [PoolType::NonPaged, PoolType::Paged];

    pub fn name(self) -> &'static str {
        match self {
            PoolType::NonPaged => "nonpaged",
            PoolType::Paged => "paged",
        }
    }

    pub fn parse(s: &str) -> Option<PoolType> {
        match s {
            "nonpaged" => Some(PoolType::NonPaged),
            "paged" => Some(PoolType::Paged),
            _ => None,
        }
    }

    /// The PoolType field of a busy block's header (type + 1).
    pub fn header_value(self) -> u32 {
        self as u32 + 1
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// A live small allocation (the Rust side of its header).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Block {
    pub ty: PoolType,
    pub tag: Tag,
    /// BlockSize: block units, header included.
    pub units: u32,
    /// The bytes asked for.
    pub size: u64,
}

/// One POOL_DESCRIPTOR: the free lists of one pool type and its counters.
#[derive(Default, Debug)]
pub struct Descriptor {
    /// ListHeads: free blocks (their header's address) by BlockSize. The
    /// headers in simulated RAM say the same; `verify` compares them.
    pub free: Vec<BTreeSet<u64>>,
    /// The BlockSizes whose list is not empty, so an allocation finds the
    /// first list from its size up without looking at every empty one.
    pub nonempty: BTreeSet<u32>,
    /// Pages carved into blocks, with the number of busy blocks on each.
    pub block_pages: BTreeMap<u64, u32>,
    /// RunningAllocs, RunningDeAllocs.
    pub running_allocs: u64,
    pub running_frees: u64,
    /// TotalPages (block, big and special pages, guard pages not counted).
    pub total_pages: u64,
}

impl Descriptor {
    /// Takes the free block at `at` off list `units`.
    pub(super) fn take(&mut self, units: u32, at: u64) {
        if let Some(list) = self.free.get_mut(units as usize) {
            list.remove(&at);
            if list.is_empty() {
                self.nonempty.remove(&units);
            }
        }
    }

    /// Puts the free block at `at` on list `units`.
    pub(super) fn put(&mut self, units: u32, at: u64) {
        if let Some(list) = self.free.get_mut(units as usize) {
            list.insert(at);
            self.nonempty.insert(units);
        }
    }
}

/// Hashes a pool address for `Pool::live`: addresses are the daemon's own
/// (no one can choose them to collide), so a multiply by a large odd constant
/// (Fibonacci hashing) does instead of SipHash, which was a tenth of an
/// allocate-and-free pair.
#[derive(Default, Clone, Copy, Debug)]
pub struct AddressHash;

impl std::hash::BuildHasher for AddressHash {
    type Hasher = AddressHasher;
    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

/// The hasher `AddressHash` builds: for one `u64` only.
#[derive(Default, Clone, Copy, Debug)]
pub struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; folded in so any key still hashes.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The executive pool of one machine (see the module docs).
#[derive(Default, Debug)]
pub struct Pool {
    ready: bool,
    pub geometry: Option<Geometry>,
    /// Index: PoolType as usize.
    pub descriptors: [Descriptor; 2],
    /// Busy small blocks by the address the caller got (header + 1 unit).
    pub live: HashMap<u64, Block, AddressHash>,
    /// PoolBigPageTable: big allocations by address.
    pub big: BTreeMap<u64, BigPage>,
    /// Special pool allocations by the address the caller got.
    pub special: BTreeMap<u64, SpecialAllocation>,
    /// MmSpecialPoolTag: the tag special pool serves, if any.
    pub special_tag: Option<Tag>,
    /// PoolTrackTable.
    pub tags: BTreeMap<Tag, TagUsage>,
    /// Non-paged pool's addresses (paged pool's are in `Segments`).
    pub nonpaged_va: PageRuns,
    /// MmMaximumNonPagedPoolInBytes and MmSizeOfPagedPoolInBytes, in pages.
    pub nonpaged_max_pages: u64,
    pub paged_max_pages: u64,
    /// The ranges each pool type's pages come from, `[start, end)`.
    pub ranges: [(u64, u64); 2],
}

impl Pool {
    /// Sets the ranges and sizes from the machine on first use.
    fn ready(&mut self, m: &Machine) {
        if self.ready {
            return;
        }
        self.ready = true;
        let geometry = Geometry::new(m.fmt.arch());
        self.geometry = Some(geometry);
        let pages = u64::from(m.phys.pages());
        let l = &m.layout;
        let nonpaged_name = if m.fmt.arch() == Arch::X64 {
            names::NON_PAGED_POOL
        } else {
            names::NON_PAGED_POOL_EXPANSION
        };
        let (np_start, np_size) = l
            .region_named(nonpaged_name)
            .map_or((0, 0), |r| (r.start, r.size()));
        // MmMaximumNonPagedPoolInBytes: 1 MB + 400 KB per MB above 4 MB.
        let np_max = ((1u64 << 20) + pages.saturating_sub(1024) / 256 * (400 << 10)).min(np_size);
        self.nonpaged_max_pages = np_max / PAGE_SIZE;
        self.nonpaged_va = PageRuns::new(np_start, self.nonpaged_max_pages);
        let (pp_start, pp_end) = (l.paged_pool_start(), l.paged_pool_end(pages));
        self.paged_max_pages = (pp_end - pp_start) / PAGE_SIZE;
        self.ranges = [(np_start, np_start + np_max), (pp_start, pp_end)];
        for d in &mut self.descriptors {
            d.free = vec![BTreeSet::new(); geometry.units_per_page() as usize];
        }
    }

    fn geometry(&self) -> Geometry {
        self.geometry.unwrap_or(Geometry::new(Arch::X86))
    }

    /// The pool type whose range holds `va`, if any.
    pub fn type_of(&self, va: u64) -> Option<PoolType> {
        PoolType::ALL
            .into_iter()
            .find(|t| (self.ranges[t.index()].0..self.ranges[t.index()].1).contains(&va))
    }

    /// ExAllocatePoolWithTag: `size` bytes of `ty` pool tagged `tag`. The
    /// caller holds `Mm::kernel` and the System process's address space.
    pub fn allocate(
        &mut self,
        m: &Machine,
        space: &mut AddressSpace,
        ty: PoolType,
        size: u64,
        tag: Tag,
    ) -> MmResult<u64> {
        self.ready(m);
        if size == 0 {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "a pool allocation of 0 bytes is not allowed"
            ));
        }
        let g = self.geometry();
        let mut cx = pages::Ctx { m, space };
        let addr = if self.special_tag == Some(tag) && size <= PAGE_SIZE - g.header {
            self.allocate_special(&mut cx, ty, size, tag)?
        } else if size > g.buddy_max() {
            self.allocate_big(&mut cx, ty, size, tag)?
        } else {
            self.allocate_block(&mut cx, ty, size, tag)?
        };
        self.descriptors[ty.index()].running_allocs += 1;
        Ok(addr)
    }

    /// ExFreePoolWithTag. A free that finds special pool's slack overwritten
    /// still frees the allocation, then reports the corruption (see
    /// `special.rs`).
    pub fn free(&mut self, m: &Machine, space: &mut AddressSpace, addr: u64) -> MmResult<()> {
        self.ready(m);
        let mut cx = pages::Ctx { m, space };
        let ty = if let Some(b) = self.live.get(&addr).copied() {
            self.free_block(&mut cx, addr, b)?;
            b.ty
        } else if let Some(b) = self.big.get(&addr).copied() {
            self.free_big(&mut cx, addr, b);
            b.ty
        } else if let Some(s) = self.special.get(&addr).copied() {
            self.descriptors[s.ty.index()].running_frees += 1;
            return self.free_special(&mut cx, addr, s);
        } else {
            return Err(not_allocated(addr));
        };
        self.descriptors[ty.index()].running_frees += 1;
        Ok(())
    }

    /// `special TAG|none`: MmSpecialPoolTag. Existing allocations stay where
    /// they are.
    pub fn set_special(&mut self, m: &Machine, tag: Option<Tag>) {
        self.ready(m);
        self.special_tag = tag;
    }

    /// The commit paged pool charges: every paged pool page in use.
    pub fn paged_commit(&self) -> u64 {
        self.descriptors[PoolType::Paged.index()].total_pages
    }

    /// Pages of `ty` pool in use (meminfo's PagedPoolPages, NonPagedPoolPages).
    pub fn pages(&self, ty: PoolType) -> u64 {
        self.descriptors[ty.index()].total_pages
    }

    /// Whether `addr` is any pool address at all.
    pub fn owns(&self, addr: u64) -> bool {
        self.type_of(addr).is_some()
    }
}

/// A free of an address the pool never handed out (NT bugchecks with
/// BAD_POOL_CALLER 0xC2; mmfs refuses and changes nothing).
fn not_allocated(addr: u64) -> crate::mm::base::status::MmError {
    mm_err!(
        MEMORY_NOT_ALLOCATED,
        "{addr:#x} is not the address of a pool allocation (already freed, or never allocated; NT would bugcheck BAD_POOL_CALLER 0xC2)"
    )
}
