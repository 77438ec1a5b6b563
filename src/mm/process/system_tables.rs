//! System space is one address space shared by every process: the tables
//! that map it are the System process's, and every other process's
//! top-level tables point at them. x86 (WRK `MmCreateProcessAddressSpace`
//! copying the system PDEs) shares at the page-directory level: each
//! process's PDEs for system space are copies of the System process's, so
//! the page tables themselves are one set. PAE does the same in its four
//! page directories per process, and x64 at the PML4 (the system PXEs).
//!
//! Two ranges are each process's own and never shared: the self-mapped page
//! tables and hyperspace (with x64's working-set list beside it).
//!
//! A process gets the copies at creation. An entry the System process adds
//! later (paged pool growing into a new 4 MB on x86) reaches the others
//! lazily, as WRK's `MiCheckPdeForPagedPool` copies a missing system PDE on
//! the first fault: until then their copy is zero. What may never happen is
//! a copy that differs from the System process's entry, so the System
//! process never frees a table one of these entries points at
//! (`is_shared_entry`, checked by `free_empty_tables`), and `verify` checks
//! every copy against it.

use crate::mm::base::types::{Mmpte, Va};
use crate::mm::hw::pagetable::{EntryLoc, PageTables};
use crate::mm::hw::pte::Level;
use crate::mm::machine::Machine;

use super::AddressSpace;
use super::hyperspace::hyperspace_range;

/// The level whose entries are copied: the top-level table's on x86 and x64,
/// the page directories' on PAE (whose PDPT entries each process keeps).
pub fn shared_level(m: &Machine) -> Level {
    match m.fmt.levels() {
        4 => Level::Pxe,
        _ => Level::Pde,
    }
}

/// The first address of every shared entry at `shared_level`, lowest first.
pub fn shared_entries(m: &Machine) -> Vec<Va> {
    let level = shared_level(m);
    let span = span(m, level);
    let start = first_system_address(m) / span * span;
    // The top of the address space: 4 GB on the 32-bit architectures.
    let top = if m.fmt.levels() == 4 {
        u64::MAX
    } else {
        u32::MAX as u64
    };
    let own = own_ranges(m);
    let mut out = Vec::new();
    let mut va = start;
    loop {
        if is_shared(&own, va, span) {
            out.push(Va(va));
        }
        match va.checked_add(span) {
            Some(next) if next <= top => va = next,
            _ => return out,
        }
    }
}

/// Whether the entry at `level` that maps `va` is one every process shares:
/// a system-space entry at the shared level outside the per-process ranges.
pub fn is_shared_entry(m: &Machine, va: u64, level: Level) -> bool {
    if level != shared_level(m) {
        return false;
    }
    let span = span(m, level);
    let base = va / span * span;
    base >= first_system_address(m) / span * span && is_shared(&own_ranges(m), base, span)
}

fn span(m: &Machine, level: Level) -> u64 {
    match (m.fmt.levels(), level) {
        (4, Level::Pxe) => 1 << 39,
        (2, Level::Pde) => 1 << 22,
        _ => 1 << 21,
    }
}

/// The lowest system address: MmSystemRangeStart, or on x64 the first
/// canonical address of the upper half (MmSystemRangeStart lies in the hole).
fn first_system_address(m: &Machine) -> u64 {
    let start = m.layout.system_range_start();
    if m.fmt.levels() == 4 {
        return start.max(0xFFFF_8000_0000_0000);
    }
    start
}

/// The ranges each process has of its own: the self-map and hyperspace.
fn own_ranges(m: &Machine) -> Vec<(u64, u64)> {
    let page_tables = m
        .layout
        .region_named(crate::mm::hw::layout::names::PAGE_TABLES)
        .map(|r| (r.start, r.end));
    page_tables
        .into_iter()
        .chain([hyperspace_range(&m.layout)])
        .collect()
}

/// An entry spanning `[base, base + span)` in system space is shared unless
/// it maps part of one of the `own` ranges.
fn is_shared(own: &[(u64, u64)], base: u64, span: u64) -> bool {
    let end = base + (span - 1);
    own.iter().all(|&(s, e)| end < s || base > e)
}

/// The System process's shared entries, to copy into a new process:
/// `(first address, entry)` for each that is not zero.
pub fn system_entries(m: &Machine, system: &PageTables) -> Vec<(Va, Mmpte)> {
    let level = shared_level(m);
    shared_entries(m)
        .into_iter()
        .filter_map(|va| {
            let raw = system.read(system.entry(va, level)?);
            (!raw.is_zero()).then_some((va, raw))
        })
        .collect()
}

impl AddressSpace {
    /// Copies the System process's shared entries (`system_entries`) into
    /// this new address space's tables (MmCreateProcessAddressSpace).
    /// They point at the System process's tables and are not counted in
    /// this process's share counts: its tables do not own them.
    pub fn copy_system_entries(&self, m: &Machine, entries: &[(Va, Mmpte)]) {
        let tables = self.tables(m);
        let level = shared_level(m);
        for &(va, raw) in entries {
            if let Some(loc) = tables.entry(va, level) {
                tables.write(loc, raw);
            }
        }
    }

    /// The shared entry for `va` in this process, if its tables reach it.
    pub fn shared_entry(&self, m: &Machine, va: Va) -> Option<EntryLoc> {
        self.tables(m).entry(va, shared_level(m))
    }
}
