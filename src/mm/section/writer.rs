//! The mapped page writer.
use crate::mm::memory::{Machine, PfnState};

pub fn write_all_mapped(_m: &Machine) -> u64 {
    0
}

pub fn release_modified_no_write_locked(_m: &Machine, _st: &mut PfnState, _ca: u32) -> u64 {
    0
}
