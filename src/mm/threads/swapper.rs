//! The swapper (KeSwapProcessOrStack): outswaps processes that have been idle for
//! long, and the `outswap` / `inswap` commands.
//!
//! mmfs processes have no threads, so "every thread in a long user-mode wait" is
//! read as "nobody touched this process's memory for a while". Outswapping
//! empties the working set (locked pages stay) and marks the process outswapped;
//! its next touch inswaps it and its pages come back by faulting, as in NT.

use crate::mm::address_space::AddressSpace;
use crate::mm::counters::bump;
use crate::mm::memory::Machine;
use crate::mm::process::{Pid, ProcessState};
use crate::mm::{Mm, MmResult};

/// A process idle this long (simulated ms) is outswapped. WRK uses 3 s on small
/// systems and 15 s otherwise; mmfs uses 15 s.
pub const OUTSWAP_IDLE_MS: u64 = 15_000;

impl Mm {
    pub(super) fn swapper_pass(&self) -> u64 {
        let m = self.machine();
        let now = self.clock().now_ms();
        let mut pages = 0;
        for p in self.all_processes() {
            if p.pid == Pid::SYSTEM {
                continue;
            }
            let mut space = p.space();
            if space.state == ProcessState::Running
                && now.saturating_sub(space.last_access_ms) >= OUTSWAP_IDLE_MS
            {
                pages += outswap(m, &mut space);
            }
        }
        pages
    }

    /// `outswap`: empties the process's working set and marks it outswapped.
    /// Returns the pages that left the working set.
    pub fn outswap(&self, pid: Pid) -> MmResult<u64> {
        if pid == Pid::SYSTEM {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "the System process is never outswapped"
            ));
        }
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        if space.state == ProcessState::Outswapped {
            return Ok(0);
        }
        Ok(outswap(self.machine(), &mut space))
    }

    /// `inswap`: brings an outswapped process back (its pages return by faulting).
    /// Returns whether it was outswapped.
    pub fn inswap(&self, pid: Pid) -> MmResult<bool> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        Ok(inswap(self.machine(), &mut space))
    }
}

fn outswap(m: &Machine, space: &mut AddressSpace) -> u64 {
    let pages = space.trim_all(m);
    space.state = ProcessState::Outswapped;
    bump(&m.counters.outswaps);
    crate::mm_event!(m, "process.outswap", "pid={} pages={pages}", space.pid);
    pages
}

/// Inswaps `space` if it is outswapped; true if it was.
pub fn inswap(m: &Machine, space: &mut AddressSpace) -> bool {
    if space.state != ProcessState::Outswapped {
        return false;
    }
    space.state = ProcessState::Running;
    space.last_access_ms = m.clock.now_ms();
    bump(&m.counters.inswaps);
    crate::mm_event!(m, "process.inswap", "pid={}", space.pid);
    true
}
