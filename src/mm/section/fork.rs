//! fork.
use std::sync::Arc;

use crate::mm::Mm;
use crate::mm::process::{Pid, Process};
use crate::mm::status::MmResult;

pub fn fork(_mm: &Mm, _parent: &Arc<Process>, _child: &str) -> MmResult<Pid> {
    Err(mm_err!(NOT_SUPPORTED, "fork is being built"))
}
