//! Control area deletion.
use crate::mm::memory::Machine;

pub fn delete_if_unreferenced(_m: &Machine, _ca: u32) {}
