//! The virtual memory services on a process (NtAllocateVirtualMemory,
//! NtFreeVirtualMemory, NtProtectVirtualMemory, NtLockVirtualMemory,
//! NtUnlockVirtualMemory, SetProcessWorkingSetSize, NtGetWriteWatch,
//! NtResetWriteWatch), and emptying a working set.

use crate::mm::base::protection::Protection;
use crate::mm::base::status::{MmResult, WithStatus};
use crate::mm::base::types::{Pid, Va};
use crate::mm::vad::AllocRequest;
use crate::mm::vm::WsLimits;
use crate::mm::{Mm, vm};

impl Mm {
    /// NtAllocateVirtualMemory.
    pub fn allocate(&self, pid: Pid, req: &AllocRequest) -> MmResult<(Va, u64)> {
        let p = self.process(pid)?;
        if req.reset {
            // MiResetVirtualMemory makes a view's prototype PTEs valid
            // (MiMakeSystemAddressValidPfnWs) to discard their paging-file
            // copies: the paged-out pages of them come back first, with no
            // address space held. One trimmed again meanwhile is skipped.
            self.fault_prototype_pages(pid, req.address, req.size);
        }
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            vm::allocate(&self.machine, &mut space, req)
        })
    }

    /// NtFreeVirtualMemory.
    pub fn free(&self, pid: Pid, address: u64, size: u64, release: bool) -> MmResult<(Va, u64)> {
        let p = self.process(pid)?;
        // Decommitting may need page tables for its decommitted PTEs.
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            vm::free(&self.machine, &mut space, address, size, release)
        })
    }

    /// NtProtectVirtualMemory; returns the old protection (with
    /// STATUS_WAS_UNLOCKED when locked pages had to leave the working set).
    pub fn protect(
        &self,
        pid: Pid,
        address: u64,
        size: u64,
        new: Protection,
    ) -> MmResult<WithStatus<Protection>> {
        let p = self.process(pid)?;
        // Protecting a page shared with a fork relative copies it first.
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            vm::protect(&self.machine, &mut space, address, size, new)
        })
    }

    /// NtLockVirtualMemory; returns the pages newly locked (with
    /// STATUS_WAS_LOCKED when some were locked already).
    pub fn lock(&self, pid: Pid, address: u64, size: u64) -> MmResult<WithStatus<u64>> {
        let p = self.process(pid)?;
        self.with_reclaim(pid, || {
            self.with_prototype_pages(pid, (address, size), || {
                let mut space = p.live_space()?;
                vm::lock(&self.machine, &mut space, address, size)
            })
        })
    }

    /// NtUnlockVirtualMemory; returns the pages unlocked.
    pub fn unlock(&self, pid: Pid, address: u64, size: u64) -> MmResult<u64> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        vm::unlock(&self.machine, &mut space, address, size)
    }

    /// SetProcessWorkingSetSize: limits in bytes, `None` for (SIZE_T)-1 (both
    /// `None` empties the working set), 0 to keep a limit (see
    /// `vm::set_ws_limits`).
    pub fn set_ws_limits(
        &self,
        pid: Pid,
        min: Option<u64>,
        max: Option<u64>,
    ) -> MmResult<WithStatus<WsLimits>> {
        self.set_ws_limits_ex(pid, min, max, None)
    }

    /// SetProcessWorkingSetSizeEx: as `set_ws_limits`, and whether the
    /// maximum is hard (`None` leaves that as it was).
    pub fn set_ws_limits_ex(
        &self,
        pid: Pid,
        min: Option<u64>,
        max: Option<u64>,
        hard_maximum: Option<bool>,
    ) -> MmResult<WithStatus<WsLimits>> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        let bytes = |b: Option<u64>| b.unwrap_or(u64::MAX);
        vm::set_ws_limits(
            &self.machine,
            &mut space,
            bytes(min),
            bytes(max),
            hard_maximum,
        )
    }

    /// NtGetWriteWatch (without WRITE_WATCH_FLAG_RESET): the pages of the
    /// range, inside one write-watch region, written since its last reset.
    pub fn get_write_watch(&self, pid: Pid, address: u64, size: u64) -> MmResult<Vec<Va>> {
        let p = self.process(pid)?;
        let space = p.live_space()?;
        vm::get_write_watch(&self.machine, &space, address, size)
    }

    /// NtResetWriteWatch; returns how many pages of the range had been
    /// written since the last reset.
    pub fn reset_write_watch(&self, pid: Pid, address: u64, size: u64) -> MmResult<u64> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        vm::reset_write_watch(&self.machine, &mut space, address, size)
    }

    /// Empties a process's working set; returns the pages trimmed.
    pub fn trim(&self, pid: Pid) -> MmResult<u64> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        Ok(space.trim_all(&self.machine))
    }
}
