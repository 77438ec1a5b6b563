//! The VAD half of NtProtectVirtualMemory (WRK `protect.c`, Server 2003 SP1).

use super::alloc::MM_READWRITE;
use super::{Vad, VadTree, VadType, vpn_range_text};
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Va, Vpn};

/// Validates the range of an NtProtectVirtualMemory call and returns its
/// pages `(first, last)`, inclusive; the range covers every page touched and
/// must lie inside one VAD. As NtProtectVirtualMemory checks it against
/// MM_HIGHEST_USER_ADDRESS (`highest`): a base above it is
/// STATUS_INVALID_PARAMETER_2; a size of 0, or one larger than
/// `highest - base` (WRK's test, which stops one byte short of the end), _3.
/// WRK answers STATUS_CONFLICTING_ADDRESSES both when nothing is reserved
/// there and when the range leaves its VAD. Whether the pages are committed
/// (STATUS_NOT_COMMITTED) is the caller's check.
pub fn plan_protect(tree: &VadTree, address: u64, size: u64, highest: u64) -> MmResult<(Vpn, Vpn)> {
    if address > highest {
        return Err(mm_err!(
            INVALID_PARAMETER_2,
            "address {address:#x} is above the highest user address {highest:#x}"
        ));
    }
    if size == 0 {
        return Err(mm_err!(INVALID_PARAMETER_3, "the size must not be 0"));
    }
    if highest - address < size {
        return Err(mm_err!(
            INVALID_PARAMETER_3,
            "{size:#x} bytes at {address:#x} run past the highest user address {highest:#x}"
        ));
    }
    let last = address + (size - 1);
    let (first, last) = (Va(address).vpn(), Va(last | (PAGE_SIZE - 1)).vpn());
    let Some(vad) = tree.find_overlapping(first, last).next() else {
        return Err(mm_err!(
            CONFLICTING_ADDRESSES,
            "nothing is reserved at {}",
            vpn_range_text(first, last)
        ));
    };
    if first < vad.starting_vpn || last > vad.ending_vpn {
        return Err(mm_err!(
            CONFLICTING_ADDRESSES,
            "{} is not inside one reservation (the one at {} does not cover it all)",
            vpn_range_text(first, last),
            vad.range_text()
        ));
    }
    Ok((first, last))
}

/// What NtProtectVirtualMemory should do after [`check_protect_change`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ProtectCheck {
    /// Change the PTEs.
    Apply,
    /// AWE or large-page memory asked for PAGE_READWRITE, which it always
    /// is: succeed without touching anything (old protection READWRITE).
    AlreadyReadWrite,
}

/// The VAD-kind rules of NtProtectVirtualMemory (MiProtectVirtualMemory) for
/// `new` in `vad`: AWE and large-page memory stays read/write (anything else
/// is STATUS_CONFLICTING_ADDRESSES), physical-memory views cannot change,
/// views refuse PAGE_NOCACHE (and PAGE_WRITECOMBINE, not simulated) and
/// private memory refuses copy-on-write, both with STATUS_INVALID_PARAMETER_4.
/// Section-protection compatibility of views is the section code's check.
pub fn check_protect_change(vad: &Vad, new: Protection) -> MmResult<ProtectCheck> {
    match vad.vad_type {
        VadType::Awe | VadType::LargePages => {
            if new.raw() == MM_READWRITE {
                return Ok(ProtectCheck::AlreadyReadWrite);
            }
            Err(mm_err!(
                CONFLICTING_ADDRESSES,
                "the {} reservation at {} is always read/write",
                vad.type_name(),
                vad.range_text()
            ))
        }
        VadType::DevicePhysicalMemory => Err(mm_err!(
            CONFLICTING_ADDRESSES,
            "the protection of the physical-memory view at {} cannot change",
            vad.range_text()
        )),
        _ if vad.private_memory && new.is_copy_on_write() => Err(mm_err!(
            INVALID_PARAMETER_4,
            "copy-on-write protection ({}) is not allowed for private memory at {}",
            new.name(),
            vad.range_text()
        )),
        _ if !vad.private_memory && new.is_nocache() => Err(mm_err!(
            INVALID_PARAMETER_4,
            "a mapped view cannot be made {}: PAGE_NOCACHE is only for private memory (the view at {})",
            new.name(),
            vad.range_text()
        )),
        _ => Ok(ProtectCheck::Apply),
    }
}
