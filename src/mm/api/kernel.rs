//! Kernel memory services: kernel stacks (made with each process, outswapped
//! with it), the system PTE pool, and MDLs (`kernel/mdls/control`).
//!
//! Locks: `Mm::kernel` (2¾) first, then either the System process's address
//! space or one user address space, never both at once: a probe holds the
//! user's space while it faults and lets it go before a mapping takes the
//! System process's.

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Pid, Va};
use crate::mm::fault::{Access, AccessFault, FaultKind};
use crate::mm::kernel::KernelSpace;
use crate::mm::kernel::mdl::{
    self, MDL_MAPPED_TO_SYSTEM_VA, MDL_PAGES_ALLOCATED, MDL_PAGES_LOCKED, MDL_WRITE_OPERATION, Mdl,
};
use crate::mm::kernel::stacks::{self, KernelStack};
use crate::mm::kernel::sysptes::SystemPteInfo;

impl Mm {
    /// Lock order 2¾ (`Mm::kernel`), then the System process's address
    /// space, for `f`.
    fn with_system_space<T>(
        &self,
        k: &mut KernelSpace,
        f: impl FnOnce(&mut KernelSpace, &mut crate::mm::process::AddressSpace) -> T,
    ) -> MmResult<T> {
        let system = self.system_process()?;
        let mut space = system.space();
        Ok(f(k, &mut space))
    }

    /// MmCreateKernelStack for a process about to be made (`owner` names it
    /// in `kernel/sysptes`). The caller holds `Mm::kernel` (`k`) and no
    /// address space.
    pub(super) fn create_kernel_stack(
        &self,
        k: &mut KernelSpace,
        owner: &str,
    ) -> MmResult<KernelStack> {
        let m = &self.machine;
        self.with_system_space(k, |k, space| {
            stacks::create(m, &mut k.sysptes, space, owner)
        })?
    }

    /// MmDeleteKernelStack of `pid`'s stack, if it has one.
    pub(super) fn delete_kernel_stack(&self, k: &mut KernelSpace, pid: Pid) {
        if let Some(stack) = k.stacks.remove(&pid) {
            self.free_kernel_stack(k, stack);
        }
    }

    /// MmDeleteKernelStack of a stack no process holds (any more).
    pub(super) fn free_kernel_stack(&self, k: &mut KernelSpace, stack: KernelStack) {
        let m = &self.machine;
        if let Err(e) = self.with_system_space(k, |k, space| {
            stacks::delete(m, &mut k.sysptes, space, &stack)
        }) {
            log::error!("deleting the kernel stack at {:#x}: {e}", stack.guard.0);
        }
    }

    /// The swapper's MmOutPageKernelStack for `pid` (caller holds `k`).
    pub(in crate::mm) fn outswap_kernel_stack_locked(&self, k: &mut KernelSpace, pid: Pid) -> u64 {
        let m = &self.machine;
        let Some(mut stack) = k.stacks.get(&pid).copied() else {
            return 0;
        };
        let out = self
            .with_system_space(k, |_, space| stacks::outswap(m, space, &mut stack))
            .unwrap_or(0);
        k.stacks.insert(pid, stack);
        out
    }

    /// MmInPageKernelStack for `pid` (caller holds `k`).
    pub(in crate::mm) fn inswap_kernel_stack_locked(
        &self,
        k: &mut KernelSpace,
        pid: Pid,
    ) -> MmResult<()> {
        let m = &self.machine;
        let Some(mut stack) = k.stacks.get(&pid).copied() else {
            return Ok(());
        };
        let done = self.with_system_space(k, |_, space| stacks::inswap(m, space, &mut stack))?;
        k.stacks.insert(pid, stack);
        done.map(|_| ())
    }

    /// Brings back every outswapped kernel stack that `[va, va + len)`
    /// touches, before a kernel-mode access (`kernel/mem`) reaches it: its
    /// transition PTEs must not be resolved by the System process's fault
    /// path, which would put the pages in a working set. A failed read
    /// leaves the stack out and fails the access (STATUS_IN_PAGE_ERROR).
    pub(super) fn inswap_stacks_in_locked(
        &self,
        k: &mut KernelSpace,
        va: u64,
        len: u64,
    ) -> Result<(), AccessFault> {
        let end = va.saturating_add(len);
        let out: Vec<Pid> = k
            .stacks
            .iter()
            .filter(|(_, s)| s.outswapped && s.guard.0 < end && va < s.top().0)
            .map(|(&pid, _)| pid)
            .collect();
        for pid in out {
            self.inswap_kernel_stack_locked(k, pid)
                .map_err(|error| AccessFault {
                    kind: FaultKind::InPage,
                    error,
                })?;
        }
        Ok(())
    }

    /// The kernel stack of `pid`.
    pub fn kernel_stack(&self, pid: Pid) -> Option<KernelStack> {
        self.kernel_lock().stacks.get(&pid).copied()
    }

    /// `kernel/sysptes`.
    pub fn system_ptes(&self) -> SystemPteInfo {
        self.kernel_lock().sysptes.info()
    }

    /// The MDLs, by id (`kernel/mdls/`).
    pub fn mdls(&self) -> Vec<Mdl> {
        self.kernel_lock().mdls.by_id.values().cloned().collect()
    }

    pub fn mdl(&self, id: u32) -> Option<Mdl> {
        self.kernel_lock().mdls.by_id.get(&id).cloned()
    }

    /// The refusal of a termination while MDLs lock the process's pages
    /// (the caller holds `k`). NT bugchecks (PROCESS_HAS_LOCKED_PAGES, 0x76);
    /// mmfs refuses with STATUS_CANNOT_DELETE (EBUSY) and changes nothing.
    pub(super) fn check_no_locked_mdls(&self, k: &KernelSpace, pid: Pid) -> MmResult<()> {
        if k.mdls.locks_pages_of(pid) {
            return Err(mm_err!(
                CANNOT_DELETE,
                "pid {pid} has pages locked by an MDL (NT would bugcheck PROCESS_HAS_LOCKED_PAGES); unlock them first"
            ));
        }
        Ok(())
    }

    /// `probe-and-lock PROCESS ADDR SIZE read|write` (MmProbeAndLockPages).
    /// Returns the new MDL's id. Nothing changes on failure.
    pub fn mdl_probe_and_lock(
        &self,
        pid: Pid,
        address: u64,
        size: u64,
        write: bool,
    ) -> MmResult<u32> {
        let m = &self.machine;
        let (first, pages) = mdl::user_range(m, address, size)?;
        if pid == Pid::SYSTEM {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "the System process has no user pages to lock"
            ));
        }
        let mut k = self.kernel_lock();
        let process = self.process(pid)?;
        m.charge_resident(pages, &format!("locking {pages} pages"))?;
        let access = if write { Access::Write } else { Access::Read };
        // Under `Mm::kernel`: a paged-out prototype page behind the range is
        // faulted in with the System process's space alone (kernel, then
        // System's space: the order `kernel/mem` takes too).
        let locked = self.with_reclaim(pid, || {
            self.with_prototype_pages(pid, (address, size), || {
                let mut space = process.live_space()?;
                mdl::probe_and_lock(m, &mut space, first, pages, access)
            })
        });
        let pfns = match locked {
            Ok(p) => p,
            Err(e) => {
                m.uncharge_resident(pages);
                return Err(e);
            }
        };
        let flags = MDL_PAGES_LOCKED | if write { MDL_WRITE_OPERATION } else { 0 };
        let id = k.mdls.insert(Mdl {
            id: 0,
            flags,
            process: Some(pid),
            start_va: first,
            byte_offset: address - first.0,
            byte_count: size,
            pfns,
            mapped: None,
        });
        crate::mm_event!(
            m,
            "mdl.lock",
            "mdl={id} pid={pid} va={address:#x} pages={pages}"
        );
        Ok(id)
    }

    /// `allocate-pages PAGES` (MmAllocatePagesForMdl). Returns the MDL's id.
    pub fn mdl_allocate_pages(&self, pages: u64) -> MmResult<u32> {
        let m = &self.machine;
        if pages == 0 || pages > u64::from(m.phys.pages()) {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "{pages} pages: an MDL's pages must be between 1 and the {} pages of RAM",
                m.phys.pages()
            ));
        }
        let mut k = self.kernel_lock();
        m.charge_resident(pages, &format!("allocating {pages} pages for an MDL"))?;
        let pfns = match mdl::allocate_pages(m, pages) {
            Ok(p) => p,
            Err(e) => {
                m.uncharge_resident(pages);
                return Err(e);
            }
        };
        let id = k.mdls.insert(Mdl {
            id: 0,
            flags: MDL_PAGES_LOCKED | MDL_PAGES_ALLOCATED,
            process: None,
            start_va: Va(0),
            byte_offset: 0,
            byte_count: pages * PAGE_SIZE,
            pfns,
            mapped: None,
        });
        crate::mm_event!(m, "mdl.allocate", "mdl={id} pages={pages}");
        Ok(id)
    }

    /// `map MDL` (MmMapLockedPagesSpecifyCache, KernelMode): returns the
    /// MappedSystemVa.
    pub fn mdl_map(&self, id: u32) -> MmResult<Va> {
        let m = &self.machine;
        let mut k = self.kernel_lock();
        let d = k.mdls.get(id)?.clone();
        if !d.locked() {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "MDL {id}'s pages are not locked; only locked pages can be mapped"
            ));
        }
        if d.mapped.is_some() {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "MDL {id} is already mapped at {:#x}",
                d.mapped_system_va().map_or(0, |v| v.0)
            ));
        }
        let base =
            self.with_system_space(&mut k, |k, space| mdl::map(m, &mut k.sysptes, space, &d))??;
        let d = k.mdls.get_mut(id)?;
        d.mapped = Some(base);
        d.flags |= MDL_MAPPED_TO_SYSTEM_VA;
        let va = d.mapped_system_va().unwrap_or(base);
        crate::mm_event!(m, "mdl.map", "mdl={id} va={:#x}", va.0);
        Ok(va)
    }

    /// `unmap MDL` (MmUnmapLockedPages).
    pub fn mdl_unmap(&self, id: u32) -> MmResult<()> {
        let mut k = self.kernel_lock();
        let d = k.mdls.get(id)?.clone();
        if d.mapped.is_none() {
            return Err(mm_err!(INVALID_PARAMETER, "MDL {id} is not mapped"));
        }
        self.unmap_mdl_locked(&mut k, &d)
    }

    fn unmap_mdl_locked(&self, k: &mut KernelSpace, d: &Mdl) -> MmResult<()> {
        let m = &self.machine;
        self.with_system_space(k, |k, space| mdl::unmap(m, &mut k.sysptes, space, d))?;
        let d = k.mdls.get_mut(d.id)?;
        d.mapped = None;
        d.flags &= !MDL_MAPPED_TO_SYSTEM_VA;
        Ok(())
    }

    /// `unlock MDL` (MmUnlockPages): unmaps it first if mapped, as NT does;
    /// the MDL stays (with its PFN array) until `free`.
    pub fn mdl_unlock(&self, id: u32) -> MmResult<()> {
        let m = &self.machine;
        let mut k = self.kernel_lock();
        let d = k.mdls.get(id)?.clone();
        if d.allocated() {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "MDL {id} holds allocated pages: free it (MmFreePagesFromMdl) instead"
            ));
        }
        if !d.locked() {
            return Err(mm_err!(NOT_LOCKED, "MDL {id}'s pages are not locked"));
        }
        if d.mapped.is_some() {
            self.unmap_mdl_locked(&mut k, &d)?;
        }
        mdl::unlock_pages(m, &d.pfns);
        m.uncharge_resident(d.pfns.len() as u64);
        k.mdls.get_mut(id)?.flags &= !MDL_PAGES_LOCKED;
        crate::mm_event!(m, "mdl.unlock", "mdl={id}");
        Ok(())
    }

    /// `free MDL` (IoFreeMdl; MmFreePagesFromMdl for allocated pages). A
    /// probed MDL must be unlocked first (STATUS_INVALID_PARAMETER).
    pub fn mdl_free(&self, id: u32) -> MmResult<()> {
        let m = &self.machine;
        let mut k = self.kernel_lock();
        let d = k.mdls.get(id)?.clone();
        if d.locked() && !d.allocated() {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "MDL {id}'s pages are still locked: unlock it first"
            ));
        }
        if d.mapped.is_some() {
            self.unmap_mdl_locked(&mut k, &d)?;
        }
        if d.allocated() {
            mdl::free_pages(m, &d.pfns);
            m.uncharge_resident(d.pfns.len() as u64);
        }
        k.mdls.by_id.remove(&id);
        crate::mm_event!(m, "mdl.free", "mdl={id}");
        Ok(())
    }
}
