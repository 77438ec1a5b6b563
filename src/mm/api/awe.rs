//! AWE's services on a process: NtAllocateUserPhysicalPages,
//! NtMapUserPhysicalPages and NtFreeUserPhysicalPages (`vm/awe.rs` has their
//! rules). Each takes the process's address-space lock, then the commit and
//! PFN locks as it goes; none does I/O or reclaims (AllocateUserPhysicalPages
//! takes only pages already available, as MmAllocatePagesForMdl does).

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Pfn, Pid};
use crate::mm::vm::awe::{self, AweMapping};

impl Mm {
    /// NtAllocateUserPhysicalPages: up to `pages` AWE frames (fewer when RAM
    /// runs short). The lock-memory privilege is the caller's to check.
    pub fn allocate_user_physical_pages(&self, pid: Pid, pages: u64) -> MmResult<Vec<Pfn>> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        awe::allocate_user_physical_pages(&self.machine, &mut space, pages)
    }

    /// NtMapUserPhysicalPages: `frames` mapped from `address` on, one per
    /// page, or (`None`) `count` pages unmapped. Returns the pages changed.
    pub fn map_user_physical_pages(
        &self,
        pid: Pid,
        address: u64,
        frames: Option<&[Pfn]>,
        count: u64,
    ) -> MmResult<u64> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        let what = match frames {
            Some(f) => AweMapping::Frames(f),
            None => AweMapping::Unmap(count),
        };
        awe::map_user_physical_pages(&self.machine, &mut space, address, what)
    }

    /// NtFreeUserPhysicalPages. Returns the pages freed.
    pub fn free_user_physical_pages(&self, pid: Pid, frames: &[Pfn]) -> MmResult<u64> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        awe::free_user_physical_pages(&self.machine, &mut space, frames)
    }
}
