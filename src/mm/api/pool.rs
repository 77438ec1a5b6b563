//! Executive pool services (ExAllocatePoolWithTag, ExFreePoolWithTag, the
//! special pool tag): find the System process, take `Mm::kernel` (order 2¾)
//! then its address space (order 4), and let `kernel/pool` do the work.

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::fault::{AccessFault, FaultKind};
use crate::mm::kernel::pool::{Pool, PoolType, Tag};
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;

use super::memory::SystemCopy;

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

    /// A driver's read of pool memory at `addr`: through the System process's
    /// page tables, faulting paged pool in. Only pool addresses.
    pub fn pool_read(&self, addr: u64, buf: &mut [u8]) -> Result<usize, AccessFault> {
        self.pool_copy(addr, buf.len(), SystemCopy::Read(buf))
    }

    /// A driver's write of pool memory at `addr` (see `pool_read`): a write
    /// past a special pool allocation hits its guard page.
    pub fn pool_write(&self, addr: u64, data: &[u8]) -> Result<usize, AccessFault> {
        self.pool_copy(addr, data.len(), SystemCopy::Write(data))
    }

    fn pool_copy(&self, addr: u64, len: usize, copy: SystemCopy<'_>) -> Result<usize, AccessFault> {
        let kernel = self.kernel_lock();
        let end = addr.saturating_add(len.max(1) as u64 - 1);
        let pool = &kernel.pool;
        let inside = pool.type_of(addr).is_some() && pool.type_of(addr) == pool.type_of(end);
        if !inside {
            return Err(crate::mm::fault::fault(
                FaultKind::NotCommitted,
                crate::mm::NtStatus::ACCESS_VIOLATION,
                format!("{addr:#x}..{end:#x} is not within one pool's range"),
            ));
        }
        let system = self.system_process().map_err(|error| AccessFault {
            kind: FaultKind::Resources,
            error,
        })?;
        let mut space = system.space();
        self.system_copy(&mut space, addr, copy)
    }
}
