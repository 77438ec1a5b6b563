//! Layer 12, kernel memory: what lives in system space besides the system
//! cache. Non-paged and paged pool (`pool/`), the system PTE pool
//! (`sysptes.rs`), memory descriptor lists (`mdl.rs`) and kernel stacks
//! (`stacks.rs`), all in the System process's address space (pid 4), whose
//! system-space page tables every process shares.
//!
//! Lock: `Mm::kernel` (order 2¾: after `Mm::cache`, before the process
//! table) guards `KernelSpace`. Under it a service takes the System
//! process's address space (pool pages, system PTEs, mapped MDLs) or one user
//! address space (an MDL's probe and lock), never two at once.

pub mod mdl;
pub mod pool;
pub mod proto_pages;
pub mod stacks;
pub mod sysptes;

use std::collections::BTreeMap;

use crate::mm::base::types::Pid;

/// The kernel's own bookkeeping of system space, behind `Mm::kernel`.
#[derive(Default)]
pub struct KernelSpace {
    /// Non-paged and paged pool.
    pub pool: pool::Pool,
    /// The system PTE pool (MmNumberOfSystemPtes of the SYSTEM_PTES region).
    pub sysptes: sysptes::SystemPtes,
    /// Each process's kernel stack, by pid.
    pub stacks: BTreeMap<Pid, stacks::KernelStack>,
    /// The MDLs made through `kernel/mdls/control`.
    pub mdls: mdl::Mdls,
}
