//! The swapper (KeSwapProcessOrStack): outswaps processes that have been idle for
//! long, and the `outswap` / `inswap` commands.
//!
//! mmfs processes have no threads, so "every thread in a long user-mode wait" is
//! read as "nobody touched this process's memory for a while". Outswapping
//! empties the working set (locked pages stay) and marks the process outswapped;
//! its next touch inswaps it and its pages come back by faulting, as in NT.
//! Its kernel stack goes out with it (MmOutPageKernelStack, `kernel/stacks.rs`)
//! once its own address space is let go: under `Mm::kernel`, the process's
//! space, then the System process's alone.

use crate::mm::base::types::Pid;
use crate::mm::kernel::stacks;
use crate::mm::process::ProcessState;

use super::System;

/// A process idle this long (simulated ms) is outswapped. WRK uses 3 s on small
/// systems and 15 s otherwise; mmfs uses 15 s.
pub const OUTSWAP_IDLE_MS: u64 = 15_000;

/// One pass: every running process idle for `OUTSWAP_IDLE_MS` is outswapped.
/// Returns the pages that left working sets.
pub(super) fn pass(sys: System<'_>) -> u64 {
    let now = sys.m.clock.now_ms();
    let mut pages = 0;
    for p in sys.processes.all() {
        if p.pid == Pid::SYSTEM {
            continue;
        }
        let mut k = sys.kernel_lock();
        let mut space = p.space();
        if space.state == ProcessState::Running
            && now.saturating_sub(space.last_access_ms) >= OUTSWAP_IDLE_MS
        {
            pages += space.outswap(sys.m);
            drop(space);
            if let (Some(stack), Ok(system)) =
                (k.stacks.get_mut(&p.pid), sys.processes.get(Pid::SYSTEM))
            {
                pages += stacks::outswap(sys.m, &mut system.space(), stack);
            }
        }
    }
    pages
}
