//! `kernel/mem`: the system address space read and written as a kernel-mode
//! thread would, through the System process's page tables (pid 4), which
//! every process shares for system space. Paged pool and system cache views
//! fault in; an address nothing maps is an access violation (EFAULT for the
//! shell); the self-mapped page tables can be read (the System process's own)
//! but not written: the simulation decodes every PTE from those bytes, and a
//! stray write there would be a corrupted page table, not an experiment.

use crate::mm::base::status::NtStatus;
use crate::mm::base::types::{Arch, Va};
use crate::mm::fault::{AccessFault, FaultKind, fault};
use crate::mm::hw::layout::names::PAGE_TABLES;
use crate::mm::kernel::pool::pages::resident_frame;
use crate::mm::process::AddressSpace;
use crate::mm::segment::ProtoPageState;
use crate::mm::{Mm, MmError};

use super::memory::SystemCopy;

/// x64 system addresses have their top 16 bits set (canonical form), which a
/// file offset (a signed 64-bit loff_t) cannot hold. So on x64 the offset of
/// an address in `kernel/mem` is the address's low 48 bits; 32-bit
/// architectures use the address itself.
const X64_ADDRESS_BITS: u32 = 48;

impl Mm {
    /// The size of `kernel/mem`: the whole 32-bit space, or 2^48 on x64.
    pub fn kernel_mem_size(&self) -> u64 {
        match self.machine.fmt.arch() {
            Arch::X64 => 1 << X64_ADDRESS_BITS,
            _ => 1 << 32,
        }
    }

    /// The address at offset `offset` of `kernel/mem` (see X64_ADDRESS_BITS),
    /// or none past its end.
    pub fn kernel_mem_address(&self, offset: u64) -> Option<u64> {
        if offset >= self.kernel_mem_size() {
            return None;
        }
        Some(match self.machine.fmt.arch() {
            // Sign-extend bit 47 into the top 16 bits.
            Arch::X64 => ((offset << 16) as i64 >> 16) as u64,
            _ => offset,
        })
    }

    /// Whether `va` is a system-space address: from MmSystemRangeStart to
    /// the top of the 32-bit space, or on x64 the canonical upper half.
    pub fn is_system_address(&self, va: u64) -> bool {
        match self.machine.fmt.arch() {
            Arch::X64 => va >= 0xFFFF_8000_0000_0000,
            _ => va >= self.machine.layout.system_range_start() && va <= u64::from(u32::MAX),
        }
    }

    /// The offset in `kernel/mem` of address `va` (the inverse of
    /// `kernel_mem_address`).
    pub fn kernel_mem_offset(&self, va: u64) -> u64 {
        match self.machine.fmt.arch() {
            Arch::X64 => va & ((1 << X64_ADDRESS_BITS) - 1),
            _ => va,
        }
    }

    /// Reads system memory at `va` as a kernel-mode thread: stops at the
    /// first page that cannot be touched (the bytes done, or the fault if
    /// none were).
    pub fn read_kernel_memory(&self, va: u64, buf: &mut [u8]) -> Result<usize, AccessFault> {
        // `Mm::kernel` (2¾) before the System process's space, held to the
        // end: an outswapped kernel stack in the range comes back first and
        // cannot go out again meanwhile (`api/kernel.rs`).
        let mut k = self.kernel_lock();
        self.inswap_stacks_in_locked(&mut k, va, buf.len() as u64)?;
        let system = self.system_process().map_err(no_system)?;
        let mut space = system.space();
        self.show_prototype_pages(&space, va, buf.len() as u64);
        self.system_copy(&mut space, va, SystemCopy::Read(buf), &[])
    }

    /// A resident page of prototype PTEs keeps them in the subsections'
    /// arrays; its frame gets their bytes before `kernel/mem` reads it (an
    /// absent one's frame already holds them). The System process's space
    /// is held, so the page stays resident; the PFN lock is taken here.
    fn show_prototype_pages(&self, space: &AddressSpace, va: u64, len: u64) {
        let m = &self.machine;
        let last = va.saturating_add(len.max(1) - 1);
        let mut st = m.pfn_lock();
        for (page, state) in st.segments.pages_in(va, last) {
            if state == ProtoPageState::Resident
                && let Some(pfn) = resident_frame(m, space, page)
            {
                m.show_proto_image_locked(&mut st, page, pfn);
            }
        }
    }

    /// The first page of prototype PTEs in `[va, va + len)`, if any.
    fn first_prototype_page(&self, va: u64, len: u64) -> Option<u64> {
        let last = va.saturating_add(len.max(1) - 1);
        let st = self.machine.pfn_lock();
        st.segments.pages_in(va, last).first().map(|&(p, _)| p)
    }

    /// Writes system memory at `va` (see `read_kernel_memory`); the
    /// self-mapped page tables are refused (ACCESS_VIOLATION, EACCES).
    pub fn write_kernel_memory(&self, va: u64, data: &[u8]) -> Result<usize, AccessFault> {
        let len = data.len() as u64;
        if let Some(r) = self.machine.layout.region_named(PAGE_TABLES)
            && len > 0
            && va <= r.end
            && va.saturating_add(len - 1) >= r.start
        {
            // Bytes before the page tables are still written.
            if va < r.start {
                let n = (r.start - va) as usize;
                return self.write_kernel_memory(va, &data[..n]);
            }
            return Err(fault(
                FaultKind::Protection,
                NtStatus::ACCESS_VIOLATION,
                format!(
                    "write of {:#x}: the self-mapped page tables are read-only through kernel/mem",
                    Va(va.max(r.start)).0
                ),
            ));
        }
        if let Some(page) = self.first_prototype_page(va, len)
            && len > 0
        {
            // Prototype PTEs are read-only here for the same reason: the
            // simulation decodes them (bytes before them are still written).
            if va < page {
                let n = (page - va) as usize;
                return self.write_kernel_memory(va, &data[..n]);
            }
            return Err(fault(
                FaultKind::Protection,
                NtStatus::ACCESS_VIOLATION,
                format!("write of {va:#x}: prototype PTEs are read-only through kernel/mem"),
            ));
        }
        let mut k = self.kernel_lock();
        self.inswap_stacks_in_locked(&mut k, va, len)?;
        let system = self.system_process().map_err(no_system)?;
        let mut space = system.space();
        self.system_copy(&mut space, va, SystemCopy::Write(data), &[])
    }
}

fn no_system(error: MmError) -> AccessFault {
    AccessFault {
        kind: FaultKind::NotCommitted,
        error,
    }
}
