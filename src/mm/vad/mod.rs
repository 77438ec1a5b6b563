//! Layer 5, virtual address descriptors (VADs): what a process has reserved,
//! and the address-space rules of NtAllocateVirtualMemory,
//! NtFreeVirtualMemory and NtProtectVirtualMemory that depend only on VADs.
//!
//! The rules follow the Windows Research Kernel (Server 2003 SP1, "WRK"):
//! `allocvm.c`, `freevm.c`, `protect.c`. Page tables, PTE states and commit
//! charging are the caller's; the functions here only validate and plan, and
//! return the NT status NT would return for a bad request.

mod alloc;
mod free;
mod protect;
mod tree;
mod write_watch;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use crate::mm::base::protection::Protection;
use crate::mm::base::types::{PAGE_SHIFT, Va, Vpn};
use crate::mm::segment::ControlAreaId;

pub use alloc::{AddressLimits, AllocPlan, AllocRequest, plan_allocate};
pub use free::{FreeKind, FreePlan, apply_release, plan_free};
pub use protect::{ProtectCheck, check_protect_change, plan_protect};
pub use tree::VadTree;
pub use write_watch::{WriteWatchCall, WriteWatchRange, plan_write_watch};

/// NT's `VadType:3` field (WRK `MI_VAD_TYPE`), values 0–7.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum VadType {
    /// `VadNone`: ordinary private memory or an ordinary mapped view.
    None,
    /// `VadDevicePhysicalMemory`: a view of \Device\PhysicalMemory.
    DevicePhysicalMemory,
    /// `VadImageMap`: a view of an image section.
    ImageMap,
    /// `VadAwe`: MEM_RESERVE | MEM_PHYSICAL, for AWE page mapping.
    Awe,
    /// `VadWriteWatch`: MEM_RESERVE | MEM_WRITE_WATCH.
    WriteWatch,
    /// `VadLargePages`: MEM_LARGE_PAGES private memory.
    LargePages,
    /// `VadRotatePhysical`: a video-memory view that can be rotated.
    RotatePhysical,
    /// `VadLargePageSection`: a view of a large-page section.
    LargePageSection,
}

impl VadType {
    /// The 3-bit value NT stores in `VadFlags.VadType`.
    pub const fn raw(self) -> u8 {
        match self {
            VadType::None => 0,
            VadType::DevicePhysicalMemory => 1,
            VadType::ImageMap => 2,
            VadType::Awe => 3,
            VadType::WriteWatch => 4,
            VadType::LargePages => 5,
            VadType::RotatePhysical => 6,
            VadType::LargePageSection => 7,
        }
    }

    /// The inverse of [`VadType::raw`]; `None` for values above 7.
    pub const fn from_raw(raw: u8) -> Option<VadType> {
        Some(match raw {
            0 => VadType::None,
            1 => VadType::DevicePhysicalMemory,
            2 => VadType::ImageMap,
            3 => VadType::Awe,
            4 => VadType::WriteWatch,
            5 => VadType::LargePages,
            6 => VadType::RotatePhysical,
            7 => VadType::LargePageSection,
            _ => return None,
        })
    }

    /// NT's enumerator name, e.g. `VadWriteWatch`.
    pub const fn nt_name(self) -> &'static str {
        match self {
            VadType::None => "VadNone",
            VadType::DevicePhysicalMemory => "VadDevicePhysicalMemory",
            VadType::ImageMap => "VadImageMap",
            VadType::Awe => "VadAwe",
            VadType::WriteWatch => "VadWriteWatch",
            VadType::LargePages => "VadLargePages",
            VadType::RotatePhysical => "VadRotatePhysical",
            VadType::LargePageSection => "VadLargePageSection",
        }
    }

    /// WRK `freevm.c`: these VADs may only be released whole (a partial release
    /// gets STATUS_FREE_VM_NOT_AT_BASE), because their physical views or
    /// write-watch bitmaps describe the VAD as one piece.
    pub const fn can_split(self) -> bool {
        !matches!(
            self,
            VadType::Awe | VadType::LargePages | VadType::RotatePhysical | VadType::WriteWatch
        )
    }
}

/// Opaque reference to the section a mapped view shows. The section code owns
/// the real objects; a VAD only needs to name them.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct SectionRef {
    /// The section (control area) number in the section module.
    pub id: ControlAreaId,
    /// Its name, for listings (may be empty for unnamed sections).
    pub name: String,
    /// Index of the prototype PTE mapping the view's first page
    /// (NT's `FirstPrototypePte`).
    pub first_prototype_index: u64,
    /// Byte offset of the view in the section (a multiple of 64 KB).
    pub offset: u64,
}

/// One virtual address descriptor (NT's `MMVAD`), as plain data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Vad {
    /// First page of the range (`StartingVpn`).
    pub starting_vpn: Vpn,
    /// Last page of the range, inclusive as in NT (`EndingVpn`).
    pub ending_vpn: Vpn,
    /// `VadFlags.VadType`.
    pub vad_type: VadType,
    /// `VadFlags.PrivateMemory`: set for NtAllocateVirtualMemory ranges,
    /// clear for mapped views.
    pub private_memory: bool,
    /// `VadFlags.Protection`: the protection given at reserve (or map) time.
    pub protection: Protection,
    /// `VadFlags.CommitCharge`: pages of commit charged to this VAD.
    pub commit_charge: u64,
    /// `VadFlags.MemCommit`: MEM_COMMIT was given with MEM_RESERVE, so a
    /// zero PTE in this range means "committed, demand zero".
    pub mem_commit: bool,
    /// `VadFlags.NoChange`: SEC_NO_CHANGE view or secured range.
    pub no_change: bool,
    /// The section a mapped view shows (`ControlArea`, `FirstPrototypePte`,
    /// `FileOffset`); `None` for private memory.
    pub section: Option<SectionRef>,
    /// `VadFlags2.CopyOnWrite`: a PAGE_WRITECOPY view.
    pub copy_on_write: bool,
    /// Write-watch bits (VadWriteWatch only): the VPNs written since the last
    /// reset. NT keeps one bit per page in a bitmap hung off the process's
    /// physical-VAD list; a sparse set keeps huge reservations cheap.
    pub write_watch: BTreeSet<u64>,
}

impl Vad {
    /// A private VAD covering `starting_vpn..=ending_vpn`, reserved only.
    pub fn private(starting_vpn: Vpn, ending_vpn: Vpn, protection: Protection) -> Vad {
        Vad {
            starting_vpn,
            ending_vpn,
            vad_type: VadType::None,
            private_memory: true,
            protection,
            commit_charge: 0,
            mem_commit: false,
            no_change: false,
            section: None,
            copy_on_write: false,
            write_watch: BTreeSet::new(),
        }
    }

    /// A mapped view of `section` covering `starting_vpn..=ending_vpn`.
    pub fn mapped(
        starting_vpn: Vpn,
        ending_vpn: Vpn,
        protection: Protection,
        section: SectionRef,
        image: bool,
    ) -> Vad {
        Vad {
            vad_type: if image {
                VadType::ImageMap
            } else {
                VadType::None
            },
            private_memory: false,
            copy_on_write: protection.is_copy_on_write(),
            section: Some(section),
            ..Vad::private(starting_vpn, ending_vpn, protection)
        }
    }

    /// The word the SPEC's `vads` table shows for this VAD.
    pub fn type_name(&self) -> &'static str {
        match self.vad_type {
            VadType::None if self.section.is_some() || !self.private_memory => "mapped",
            VadType::None => "private",
            VadType::ImageMap => "image",
            VadType::Awe => "awe",
            VadType::WriteWatch => "writewatch",
            VadType::LargePages => "largepages",
            VadType::DevicePhysicalMemory => "physicalmemory",
            VadType::RotatePhysical => "rotatephysical",
            VadType::LargePageSection => "largepagesection",
        }
    }

    /// Number of pages the VAD spans (0 only for a malformed VAD).
    pub fn page_count(&self) -> u64 {
        if self.ending_vpn.0 < self.starting_vpn.0 {
            return 0;
        }
        self.ending_vpn.0 - self.starting_vpn.0 + 1
    }

    /// First byte of the range.
    pub fn start_va(&self) -> Va {
        Va(vpn_start(self.starting_vpn.0))
    }

    /// Last byte of the range (inclusive, like NT's `MI_VPN_TO_VA_ENDING`).
    pub fn end_va(&self) -> Va {
        Va(vpn_last_byte(self.ending_vpn.0))
    }

    /// Size of the range in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.page_count()
            .saturating_mul(crate::mm::base::types::PAGE_SIZE)
    }

    /// Whether `vpn` lies inside the VAD.
    pub fn contains(&self, vpn: Vpn) -> bool {
        self.starting_vpn <= vpn && vpn <= self.ending_vpn
    }

    /// "0x10000-0x1ffff": the byte range, for messages.
    pub fn range_text(&self) -> String {
        vpn_range_text(self.starting_vpn, self.ending_vpn)
    }
}

/// First byte of page `vpn` (saturating: VPNs come from checked arithmetic).
fn vpn_start(vpn: u64) -> u64 {
    if vpn > u64::MAX >> PAGE_SHIFT {
        return !(crate::mm::base::types::PAGE_SIZE - 1);
    }
    vpn << PAGE_SHIFT
}

/// Last byte of page `vpn`.
fn vpn_last_byte(vpn: u64) -> u64 {
    vpn_start(vpn) | (crate::mm::base::types::PAGE_SIZE - 1)
}

/// "0x12000-0x14fff" for the pages `start..=end`.
fn vpn_range_text(start: Vpn, end: Vpn) -> String {
    format!("{:#x}-{:#x}", vpn_start(start.0), vpn_last_byte(end.0))
}
