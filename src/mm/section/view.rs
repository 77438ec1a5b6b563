//! Views: mapping, unmapping and flushing.
use crate::mm::address_space::AddressSpace;
use crate::mm::memory::Machine;
use crate::mm::protection::Protection;
use crate::mm::status::MmResult;
use crate::mm::types::Va;

use super::SectionObject;

pub fn map(
    _m: &Machine,
    _space: &mut AddressSpace,
    _s: &SectionObject,
    _address: u64,
    _size: u64,
    _offset: u64,
    _protection: Protection,
) -> MmResult<(Va, u64)> {
    Err(mm_err!(NOT_SUPPORTED, "map is being built"))
}

pub fn unmap(_m: &Machine, _space: &mut AddressSpace, _address: u64) -> MmResult<(Va, u64, u32)> {
    Err(mm_err!(NOT_SUPPORTED, "unmap is being built"))
}

pub fn flush(
    _m: &Machine,
    _space: &mut AddressSpace,
    _address: u64,
    _size: u64,
) -> MmResult<(Va, u64, u64)> {
    Err(mm_err!(NOT_SUPPORTED, "flush is being built"))
}
