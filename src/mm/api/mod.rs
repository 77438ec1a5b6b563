//! Layer 15, the `Mm` façade: NT's executive services as methods of `Mm`, split
//! by concern as gVisor splits its `mm` package:
//!
//! - `lifecycle.rs`: creating, forking and terminating processes, outswap/inswap;
//! - `memory.rs`: a thread's reads and writes of process memory (the fault path
//!   as a caller sees it);
//! - `vm.rs`: the virtual memory services and working-set limits;
//! - `pool.rs`: executive pool (ExAllocatePoolWithTag, ExFreePoolWithTag,
//!   special pool);
//! - `kernel.rs`: MDLs, system PTEs and kernel stacks as the views see them;
//! - `kernel_mem.rs`: `kernel/mem`, system space read and written through
//!   the System process's page tables;
//! - `sections.rs`: section objects, views and their flushes;
//! - `system.rs`: machine-wide commands (empty lists, bad pages, paging files,
//!   fault injection, the system threads and `tick`);
//! - `dispatcher.rs`: the system threads on real time (`--clock auto`).
//!
//! Each method finds the process, takes its address-space lock, and calls the
//! layer that does the work; a service that may need pages runs under
//! `with_reclaim`, which asks other processes for pages when one cannot be found.

mod awe;
mod cache;
mod cache_control;
mod cache_maps;
pub mod dispatcher;
mod kernel;
mod kernel_mem;
mod lifecycle;
mod memory;
mod pool;
mod sections;
mod system;
mod vm;

pub use crate::mm::cache::read_ahead::Hint;
pub use cache::{CachedFile, FileId, WriteMode};
pub use system::BadPage;

use crate::mm::base::status::{MmResult, NtStatus};
use crate::mm::base::types::Pid;
use crate::mm::paging::modified_writer::flush_modified;
use crate::mm::process::ProcessState;
use crate::mm::process::reclaim::trim_other_processes;

use super::Mm;

/// Pages a faulting process asks the others for, per round, when none is left.
const RECLAIM_FROM_OTHERS: u64 = 64;

impl Mm {
    /// Runs a service that may need physical pages (for page tables, or to make
    /// pages resident). The services fail atomically, so when one finds no page
    /// even after reclaiming from its own process, other processes give up some
    /// and it runs again — as NT's allocator would wait for the working-set
    /// manager rather than fail while memory can be reclaimed.
    fn with_reclaim<T>(&self, pid: Pid, mut op: impl FnMut() -> MmResult<T>) -> MmResult<T> {
        loop {
            match op() {
                Err(e) if e.status == NtStatus::NO_MEMORY && self.reclaim_for(pid) > 0 => {}
                result => return result,
            }
        }
    }

    /// One round of reclaim from the other processes for `pid`; the pages
    /// trimmed (and written out).
    fn reclaim_for(&self, pid: Pid) -> u64 {
        let mut trimmed =
            trim_other_processes(&self.machine, &self.processes, pid, RECLAIM_FROM_OTHERS);
        // The caller's own page tables, if it holds no walk of them: only
        // between two tries of a service (`with_reclaim`), when its lock is
        // free; a fault that reclaims holds it, and `try_space` says so.
        if let Ok(p) = self.process(pid)
            && let Some(mut space) = p.try_space()
            && space.state != ProcessState::Terminated
        {
            let tables = space.trim_page_tables(&self.machine);
            if tables > 0 {
                flush_modified(&self.machine);
            }
            trimmed += tables;
        }
        trimmed
    }
}
