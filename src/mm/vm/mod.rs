//! Layer 10, NT's virtual memory services on one address space:
//! NtAllocateVirtualMemory (`allocate.rs`), NtFreeVirtualMemory (`free.rs`),
//! its MEM_LARGE_PAGES path (`large_pages.rs`), AWE (`awe.rs`),
//! NtProtectVirtualMemory (`protect.rs`), NtLockVirtualMemory and
//! NtUnlockVirtualMemory (`lock.rs`), SetProcessWorkingSetSize
//! (`ws_limits.rs`) and NtGetWriteWatch/NtResetWriteWatch (`write_watch.rs`).
//! The VAD rules (what may be reserved, split, released) are in `vad/`; this
//! layer does the page-table and commit side. Rules follow the WRK
//! (Server 2003 SP1). Callers hold the process's address-space lock.
//!
//! Cost: a reservation can span all of user space (8 TB on x64) at no charge, so no
//! loop here runs over every page of a range unless those pages are committed
//! (bounded by the commit limit) or in the working set; sparse ranges are walked
//! through the page tables that exist (`PageTables::for_each_entry`).
//! Every service checks what can fail before it changes anything.

mod allocate;
pub mod awe;
mod free;
pub mod large_pages;
pub mod lock;
mod protect;
mod reset;
mod write_watch;
mod ws_limits;

pub use allocate::allocate;
pub use free::free;
pub use lock::{lock, unlock};
pub use protect::protect;
pub use write_watch::{get_write_watch, reset_write_watch};
pub use ws_limits::{WsLimits, maximum_working_set_size, resident_available, set_ws_limits};

use crate::mm::base::types::{Mmpte, Vpn};
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::process::page_tables::committed_pte;

/// Whether the page at `vpn` is committed, judged from its PTE.
fn page_committed(m: &Machine, space: &AddressSpace, vpn: Vpn, mem_commit: bool) -> bool {
    let tables = space.tables(m);
    let raw = tables
        .leaf(vpn.va())
        .map_or(Mmpte::ZERO, |l| tables.read(l));
    committed_pte(m, raw, mem_commit)
}
