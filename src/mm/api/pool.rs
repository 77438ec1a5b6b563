//! Executive pool services (ExAllocatePoolWithTag, ExFreePoolWithTag, the
//! special pool tag): find the System process, take `Mm::kernel` (order 2¾)
//! then its address space (order 4), and let `kernel/pool` do the work.

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::kernel::pool::{Pool, PoolType, Tag};
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;

impl Mm {
    /// Runs `f` on the pool with `Mm::kernel` and the System process's
    /// address space held, in that order.
    fn with_pool<T>(
        &self,
        f: impl FnOnce(&mut Pool, &Machine, &mut AddressSpace) -> MmResult<T>,
    ) -> MmResult<T> {
        let mut kernel = self.kernel_lock();
        let system = self.system_process()?;
        let mut space = system.space();
        f(&mut kernel.pool, &self.machine, &mut space)
    }

    /// ExAllocatePoolWithTag: `size` bytes of `ty` pool tagged `tag` (1 to 4
    /// printable characters); returns the address. Fails with
    /// STATUS_INSUFFICIENT_RESOURCES, changing nothing, when the pool cannot
    /// grow (address space, commit or resident available memory exhausted).
    pub fn pool_alloc(&self, ty: PoolType, size: u64, tag: &str) -> MmResult<u64> {
        let tag = Tag::parse(tag)?;
        self.with_pool(|pool, m, space| pool.allocate(m, space, ty, size, tag))
    }

    /// ExFreePoolWithTag on the address `pool_alloc` returned.
    pub fn pool_free(&self, addr: u64) -> MmResult<()> {
        self.with_pool(|pool, m, space| pool.free(m, space, addr))
    }

    /// `special TAG|none`: the tag special pool serves from now on.
    pub fn pool_special(&self, tag: Option<&str>) -> MmResult<()> {
        let tag = tag.map(Tag::parse).transpose()?;
        self.with_pool(|pool, m, _| {
            pool.set_special(m, tag);
            Ok(())
        })
    }
}
