//! The VAD half of NtAllocateVirtualMemory (WRK `allocvm.c`, Server 2003 SP1).
//!
//! `plan_allocate` checks the flags and the address range against the VAD tree
//! and says what to do; the caller charges commit, builds PTEs and inserts the
//! planned VAD.

use super::{Vad, VadTree, VadType, vpn_range_text};
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{ALLOCATION_GRANULARITY, Arch, PAGE_SIZE, Va, Vpn};
use crate::mm::hw::layout::Layout;

/// MM_PROTECTION code of PAGE_READWRITE (facts §2): MEM_PHYSICAL accepts
/// nothing else, and NtProtectVirtualMemory nothing else for AWE and
/// large-page memory. (A MEM_LARGE_PAGES allocation takes any protection
/// private memory may have, as WRK's NtAllocateVirtualMemory checks none
/// more; MiAllocateLargePages maps it read/write all the same.)
pub(super) const MM_READWRITE: u8 = 4;

/// The part of user space NtAllocateVirtualMemory may hand out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AddressLimits {
    /// Lowest address the system chooses for a NULL base
    /// (MM_LOWEST_USER_ADDRESS, 0x10000: the first 64 KB stay free so
    /// NULL-pointer use faults). An explicit base has no lower bound in the
    /// WRK: 1..0xffff rounds down to 0 and maps the NULL page (Windows 8
    /// closed that; mmfs follows Server 2003 SP1).
    pub lowest: u64,
    /// MM_HIGHEST_VAD_ADDRESS, inclusive: the highest user address less
    /// 64 KB (0x7ffdffff on x86), the top of what a VAD may cover. The
    /// 64 KB above it hold the shared user data page.
    pub highest: u64,
    /// Minimum large page (MM_MINIMUM_VA_FOR_LARGE_PAGE): 4 MB on x86
    /// without PAE, 2 MB with PAE and on x64.
    pub large_page_size: u64,
}

impl AddressLimits {
    /// The user address space of a machine with this layout (`--3gb` moves
    /// the top), with the large-page size of its arch.
    pub fn for_layout(layout: &Layout) -> AddressLimits {
        AddressLimits {
            lowest: layout.lowest_user_address(),
            highest: layout.highest_vad_address(),
            large_page_size: AddressLimits::for_arch(layout.arch()).large_page_size,
        }
    }

    /// The WRK-era user address space of `arch` (facts §2, §4, §11): 2 GB on
    /// x86 (no /3GB), 8 TB on x64, VADs ending 128 KB below the boundary.
    pub const fn for_arch(arch: Arch) -> AddressLimits {
        match arch {
            Arch::X86 => AddressLimits {
                lowest: 0x1_0000,
                highest: 0x7ffd_ffff,
                large_page_size: 4 << 20,
            },
            Arch::Pae => AddressLimits {
                lowest: 0x1_0000,
                highest: 0x7ffd_ffff,
                large_page_size: 2 << 20,
            },
            Arch::X64 => AddressLimits {
                lowest: 0x1_0000,
                highest: 0x7ff_fffd_ffff,
                large_page_size: 2 << 20,
            },
        }
    }
}

/// One NtAllocateVirtualMemory call: `*BaseAddress`, `*RegionSize`, the
/// MEM_* flags and the protection (already parsed by the protection module).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AllocRequest {
    /// 0 = the system chooses.
    pub address: u64,
    pub size: u64,
    pub reserve: bool,
    pub commit: bool,
    pub top_down: bool,
    pub reset: bool,
    pub write_watch: bool,
    pub large_pages: bool,
    pub physical: bool,
    pub protection: Protection,
}

impl AllocRequest {
    /// A request with no MEM_* flag set yet.
    pub fn new(address: u64, size: u64, protection: Protection) -> AllocRequest {
        AllocRequest {
            address,
            size,
            reserve: false,
            commit: false,
            top_down: false,
            reset: false,
            write_watch: false,
            large_pages: false,
            physical: false,
            protection,
        }
    }
}

/// What NtAllocateVirtualMemory will do.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AllocPlan {
    /// Create `vad` for `base..base + size` (insert it with `VadTree::insert`);
    /// if `vad.mem_commit`, the whole range is also committed and
    /// `vad.commit_charge` pages must be charged.
    Reserve { base: Va, size: u64, vad: Vad },
    /// Commit `base..base + size` inside the VAD starting at `vad_start`
    /// (pages already committed are not charged twice). For a mapped view
    /// the caller must check the section is pagefile-backed.
    CommitExisting { base: Va, size: u64, vad_start: Vpn },
    /// MEM_RESET the whole pages of `base..base + size` in the VAD at `vad_start`.
    Reset { base: Va, size: u64, vad_start: Vpn },
}

/// A refused MEM_* flag combination: WRK's STATUS_INVALID_PARAMETER_5 (the
/// fifth parameter, AllocationType).
fn bad_type(msg: &str) -> crate::mm::base::status::MmError {
    mm_err!(INVALID_PARAMETER_5, "{}", msg)
}

/// Checks the MEM_* flag combination in WRK's order (NtAllocateVirtualMemory):
/// STATUS_INVALID_PARAMETER_5 for the type, _6 for a MEM_PHYSICAL protection.
fn check_flags(req: &AllocRequest) -> MmResult<()> {
    if !(req.commit || req.reserve || req.reset) {
        return Err(bad_type(
            "give MEM_COMMIT, MEM_RESERVE or MEM_RESET (none was given)",
        ));
    }
    let others = req.commit
        || req.reserve
        || req.top_down
        || req.write_watch
        || req.large_pages
        || req.physical;
    if req.reset && others {
        return Err(bad_type("MEM_RESET cannot be combined with any other flag"));
    }
    if req.large_pages {
        if !req.commit {
            return Err(bad_type(
                "MEM_LARGE_PAGES memory must be committed (add MEM_COMMIT)",
            ));
        }
        if req.physical || req.write_watch {
            return Err(bad_type(
                "MEM_LARGE_PAGES cannot be combined with MEM_PHYSICAL or MEM_WRITE_WATCH",
            ));
        }
    }
    if req.write_watch && (req.physical || !req.reserve) {
        return Err(bad_type(
            "MEM_WRITE_WATCH needs MEM_RESERVE and cannot be combined with MEM_PHYSICAL",
        ));
    }
    if req.physical {
        if !req.reserve || req.commit {
            return Err(bad_type(
                "MEM_PHYSICAL needs MEM_RESERVE and allows only MEM_TOP_DOWN besides",
            ));
        }
        if req.protection.raw() != MM_READWRITE {
            return Err(mm_err!(
                INVALID_PARAMETER_6,
                "MEM_PHYSICAL memory must be PAGE_READWRITE"
            ));
        }
    }
    Ok(())
}

/// Checks `*BaseAddress` and `*RegionSize` against MM_HIGHEST_VAD_ADDRESS as
/// NtAllocateVirtualMemory does before it looks at any VAD: a base above it is
/// STATUS_INVALID_PARAMETER_2, a size of 0 or one running past it _4.
fn check_range(req: &AllocRequest, highest: u64) -> MmResult<()> {
    if req.address > highest {
        return Err(mm_err!(
            INVALID_PARAMETER_2,
            "address {:#x} is above MM_HIGHEST_VAD_ADDRESS {:#x} (the highest user address less the 64 KB of the shared user data page)",
            req.address,
            highest
        ));
    }
    if req.size == 0 {
        return Err(mm_err!(INVALID_PARAMETER_4, "the size must not be 0"));
    }
    if req.size - 1 > highest - req.address {
        return Err(mm_err!(
            INVALID_PARAMETER_4,
            "{:#x} bytes at {:#x} run past MM_HIGHEST_VAD_ADDRESS {:#x}",
            req.size,
            req.address,
            highest
        ));
    }
    Ok(())
}

/// Validates an NtAllocateVirtualMemory request against the VAD tree and
/// plans it. Rounding (WRK): a reservation's base rounds down to 64 KB (to the
/// large-page size for MEM_LARGE_PAGES) and its end up to a page; a commit's
/// base rounds down to a page and its end up, so every page touched is
/// included; MEM_RESET covers only whole pages inside the range.
pub fn plan_allocate(
    tree: &VadTree,
    req: &AllocRequest,
    limits: AddressLimits,
) -> MmResult<AllocPlan> {
    check_flags(req)?;
    check_range(req, limits.highest)?;
    // WRK: a NULL base always takes the reserve path, even with only
    // MEM_COMMIT (reserve and commit) or only MEM_RESET (reserve, no commit).
    if req.address == 0 || req.reserve {
        plan_reserve(tree, req, limits)
    } else {
        plan_existing(tree, req)
    }
}

fn plan_reserve(tree: &VadTree, req: &AllocRequest, limits: AddressLimits) -> MmResult<AllocPlan> {
    if req.protection.is_copy_on_write() {
        return Err(mm_err!(
            INVALID_PAGE_PROTECTION,
            "copy-on-write protection ({:?}) is not allowed for private memory",
            req.protection
        ));
    }
    let mut alignment = ALLOCATION_GRANULARITY;
    if req.large_pages {
        let lp = limits.large_page_size.max(PAGE_SIZE);
        if !req.size.is_multiple_of(lp) {
            return Err(mm_err!(
                INVALID_PARAMETER_4,
                "a MEM_LARGE_PAGES size must be a multiple of the large page size {:#x} (got {:#x})",
                lp,
                req.size
            ));
        }
        alignment = lp;
    }
    let (base, last) = if req.address == 0 {
        // size <= highest + 1 was checked, so rounding up cannot overflow
        // unless highest is the top of the 64-bit space.
        let size = req
            .size
            .checked_next_multiple_of(PAGE_SIZE)
            .ok_or_else(|| mm_err!(INVALID_PARAMETER_4, "the size is too large"))?;
        let base = tree
            .find_free(
                size,
                alignment,
                Va(limits.lowest),
                Va(limits.highest),
                req.top_down,
            )
            .ok_or_else(|| {
                mm_err!(
                    NO_MEMORY,
                    "no free range of {:#x} bytes is left in {:#x}-{:#x}",
                    size,
                    limits.lowest,
                    limits.highest
                )
            })?;
        (base.0, base.0 + (size - 1))
    } else {
        // address + size - 1 <= highest was checked, and highest ends a page,
        // so the range stays below it. No lower bound (see AddressLimits).
        let base = req.address - req.address % alignment;
        let last = if req.large_pages {
            // WRK: a large-page range is exactly the size from the aligned base.
            base + (req.size - 1)
        } else {
            (req.address + (req.size - 1)) | (PAGE_SIZE - 1)
        };
        (base, last)
    };
    let (start_vpn, end_vpn) = (Va(base).vpn(), Va(last).vpn());
    if let Some(text) = tree.conflict_text(start_vpn, end_vpn) {
        return Err(mm_err!(CONFLICTING_ADDRESSES, "{}", text));
    }
    let mut vad = Vad::private(start_vpn, end_vpn, req.protection);
    vad.vad_type = if req.physical {
        VadType::Awe
    } else if req.large_pages {
        VadType::LargePages
    } else if req.write_watch {
        VadType::WriteWatch
    } else {
        VadType::None
    };
    if req.commit {
        vad.mem_commit = true;
        vad.commit_charge = vad.page_count();
    }
    Ok(AllocPlan::Reserve {
        base: Va(base),
        size: last - base + 1,
        vad,
    })
}

/// MEM_COMMIT or MEM_RESET at a given address, without MEM_RESERVE.
fn plan_existing(tree: &VadTree, req: &AllocRequest) -> MmResult<AllocPlan> {
    // address + size - 1 <= highest was checked.
    let last_byte = req.address + (req.size - 1);
    let (base, last) = if req.reset {
        // Round inward so data outside the range is never discarded.
        let base = req.address.checked_next_multiple_of(PAGE_SIZE);
        let last = if last_byte % PAGE_SIZE == PAGE_SIZE - 1 {
            Some(last_byte)
        } else {
            (last_byte - last_byte % PAGE_SIZE).checked_sub(1)
        };
        match (base, last) {
            (Some(base), Some(last)) if last >= base => (base, last),
            _ => {
                return Err(mm_err!(
                    CONFLICTING_ADDRESSES,
                    "MEM_RESET of {:#x} bytes at {:#x} covers no whole page",
                    req.size,
                    req.address
                ));
            }
        }
    } else {
        (
            req.address - req.address % PAGE_SIZE,
            last_byte | (PAGE_SIZE - 1),
        )
    };
    let (start_vpn, end_vpn) = (Va(base).vpn(), Va(last).vpn());
    let what = if req.reset { "reset" } else { "commit" };
    // WRK uses the first VAD overlapping the range (MiCheckForConflictingVad)
    // and answers STATUS_CONFLICTING_ADDRESSES both for "nothing reserved
    // here" and for "not inside one reservation".
    let Some(vad) = tree.find_overlapping(start_vpn, end_vpn).next() else {
        return Err(mm_err!(
            CONFLICTING_ADDRESSES,
            "cannot {} {}: nothing is reserved there (reserve it first with MEM_RESERVE)",
            what,
            vpn_range_text(start_vpn, end_vpn)
        ));
    };
    if matches!(vad.vad_type, VadType::Awe | VadType::LargePages) {
        return Err(mm_err!(
            CONFLICTING_ADDRESSES,
            "cannot {} {}: the {} reservation at {} is not made of ordinary pages",
            what,
            vpn_range_text(start_vpn, end_vpn),
            vad.type_name(),
            vad.range_text()
        ));
    }
    if start_vpn < vad.starting_vpn || end_vpn > vad.ending_vpn {
        return Err(mm_err!(
            CONFLICTING_ADDRESSES,
            "cannot {} {}: it is not inside one reservation (the one at {} does not cover it all)",
            what,
            vpn_range_text(start_vpn, end_vpn),
            vad.range_text()
        ));
    }
    let vad_start = vad.starting_vpn;
    let size = last - base + 1;
    if req.reset {
        return Ok(AllocPlan::Reset {
            base: Va(base),
            size,
            vad_start,
        });
    }
    if vad.private_memory && req.protection.is_copy_on_write() {
        return Err(mm_err!(
            INVALID_PAGE_PROTECTION,
            "copy-on-write protection ({:?}) is not allowed for private memory",
            req.protection
        ));
    }
    Ok(AllocPlan::CommitExisting {
        base: Va(base),
        size,
        vad_start,
    })
}
