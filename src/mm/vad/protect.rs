//! The VAD half of NtProtectVirtualMemory (WRK `protect.c`, Server 2003 SP1).

use super::alloc::MM_READWRITE;
use super::{Vad, VadTree, VadType, vpn_range_text};
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Va, Vpn};

/// Validates the range of an NtProtectVirtualMemory call and returns its
/// pages `(first, last)`, inclusive; the range covers every page touched and
/// must lie inside one VAD. WRK answers STATUS_CONFLICTING_ADDRESSES both
/// when nothing is reserved there and when the range leaves its VAD. Whether
/// the pages are committed (STATUS_NOT_COMMITTED) is the caller's check.
pub fn plan_protect(tree: &VadTree, address: u64, size: u64) -> MmResult<(Vpn, Vpn)> {
    if size == 0 {
        return Err(mm_err!(INVALID_PARAMETER, "the size must not be 0"));
    }
    let Some(last) = address.checked_add(size - 1) else {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "{:#x} bytes at {:#x} run past the end of the address space",
            size,
            address
        ));
    };
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

/// The VAD-kind rules of NtProtectVirtualMemory for `new` in `vad`:
/// AWE and large-page memory stays read/write (anything else is
/// STATUS_CONFLICTING_ADDRESSES), physical-memory views cannot change, and
/// private memory refuses copy-on-write (WRK: STATUS_INVALID_PARAMETER_4).
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
            INVALID_PARAMETER,
            "copy-on-write protection ({:?}) is not allowed for private memory at {}",
            new,
            vad.range_text()
        )),
        _ => Ok(ProtectCheck::Apply),
    }
}
