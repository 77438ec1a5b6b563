//! The VAD half of write watch (WRK `wrtwatch.c`, Server 2003 SP1): the bitmap
//! a VadWriteWatch VAD carries (`Vad::write_watch`, one VPN per page whose
//! dirty bit was captured since the last reset), setting a bit when a dirty
//! page leaves its PTE (MiCaptureWriteWatchDirtyBit), and which VAD a
//! GetWriteWatch or ResetWriteWatch range names, with WRK's statuses.
//!
//! The PTE half (a valid PTE's dirty bit counts as a set bit; ResetWriteWatch
//! cleans the valid PTEs) is `vm/write_watch.rs`.

use super::{VadTree, VadType, vpn_range_text};
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Va, Vpn};

/// Which service checks a range: they answer a size of 0 differently.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WriteWatchCall {
    /// NtGetWriteWatch: a size of 0 is STATUS_INVALID_PARAMETER_4.
    Get,
    /// NtResetWriteWatch: a size of 0 is STATUS_INVALID_PARAMETER_3.
    Reset,
}

/// A validated GetWriteWatch/ResetWriteWatch range: the pages
/// `first..=last`, all inside the write-watch VAD starting at `vad_start`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WriteWatchRange {
    pub vad_start: Vpn,
    pub first: Vpn,
    pub last: Vpn,
}

impl VadTree {
    /// MiCaptureWriteWatchDirtyBit: the page at `vpn` had a dirty valid PTE
    /// whose dirty bit is about to go (the page leaves the working set, is
    /// decommitted or MEM_RESET, or ResetWriteWatch cleans it); if the page
    /// lies in a write-watch VAD its bit is set, so GetWriteWatch still
    /// reports it. Returns whether a bit was set. Any other VAD is left alone,
    /// so callers may call it for every dirty private page.
    pub fn capture_write_watch(&mut self, vpn: Vpn) -> bool {
        match self.find_mut(vpn) {
            Some(v) if v.vad_type == VadType::WriteWatch => {
                v.write_watch.insert(vpn.0);
                true
            }
            _ => false,
        }
    }

    /// Whether `vpn` lies in a write-watch VAD.
    pub fn is_write_watched(&self, vpn: Vpn) -> bool {
        self.find(vpn)
            .is_some_and(|v| v.vad_type == VadType::WriteWatch)
    }
}

/// Checks a GetWriteWatch or ResetWriteWatch range as WRK's NtGetWriteWatch
/// and NtResetWriteWatch do, in their order:
/// - a base above MM_HIGHEST_VAD_ADDRESS (`highest`): STATUS_INVALID_PARAMETER_2;
/// - a size reaching past it: STATUS_INVALID_PARAMETER_3;
/// - a size of 0 (the end before the base): _4 for Get, _3 for Reset;
/// - no write-watch VAD holding the base, or the range running past the VAD's
///   end: STATUS_INVALID_PARAMETER_1 (WRK looks the base up in the process's
///   physical-VAD table, which holds only its AWE, large-page and write-watch
///   VADs).
pub fn plan_write_watch(
    tree: &VadTree,
    address: u64,
    size: u64,
    highest: u64,
    call: WriteWatchCall,
) -> MmResult<WriteWatchRange> {
    if address > highest {
        return Err(mm_err!(
            INVALID_PARAMETER_2,
            "address {:#x} is above MM_HIGHEST_VAD_ADDRESS {:#x}",
            address,
            highest
        ));
    }
    // address <= highest, so this cannot underflow.
    if highest - address + 1 < size {
        return Err(mm_err!(
            INVALID_PARAMETER_3,
            "{:#x} bytes at {:#x} run past MM_HIGHEST_VAD_ADDRESS {:#x}",
            size,
            address,
            highest
        ));
    }
    // EndAddress = BaseAddress + RegionSize - 1: only a size of 0 puts it
    // below the base (for a base of 0 it wraps to the top, which no VAD holds).
    let end = address.wrapping_add(size).wrapping_sub(1);
    if address > end {
        return Err(match call {
            WriteWatchCall::Get => mm_err!(INVALID_PARAMETER_4, "the size must not be 0"),
            WriteWatchCall::Reset => mm_err!(INVALID_PARAMETER_3, "the size must not be 0"),
        });
    }
    let (first, last) = (Va(address).vpn(), Va(end).vpn());
    match tree.find(first) {
        Some(v) if v.vad_type == VadType::WriteWatch && last <= v.ending_vpn => {
            Ok(WriteWatchRange {
                vad_start: v.starting_vpn,
                first,
                last,
            })
        }
        Some(v) if v.vad_type == VadType::WriteWatch => Err(mm_err!(
            INVALID_PARAMETER_1,
            "{:#x}-{:#x} runs past the end of the write-watch region {}",
            address,
            end,
            v.range_text()
        )),
        Some(v) => Err(mm_err!(
            INVALID_PARAMETER_1,
            "{:#x} is in a {} region ({}), not a write-watch one (allocate with reserve,write-watch)",
            address,
            v.type_name(),
            v.range_text()
        )),
        None => Err(mm_err!(
            INVALID_PARAMETER_1,
            "nothing is reserved at {:#x} ({}): no write-watch region holds it",
            address,
            vpn_range_text(first, first)
        )),
    }
}
