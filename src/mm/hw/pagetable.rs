//! Walking a process's page tables, which live in simulated physical memory.
//!
//! The tables are real: each is a frame of simulated RAM holding entries in the
//! bit layout of the running arch ([`PteFormat`]). Reading and writing entries
//! goes through [`PhysicalMemory::load_entry`]/[`store_entry`](PhysicalMemory::store_entry),
//! which are atomic, because the PFN lock holder may rewrite another process's
//! transition PTE while that process reads it.
//!
//! Creating and freeing tables needs page allocation and accounting, so it lives in
//! `process/page_tables.rs`; this module only finds, reads and writes entries.

use crate::mm::base::types::{Arch, Mmpte, PAGE_SIZE, Pfn, Va, Vpn};

use super::physmem::PhysicalMemory;
use super::pte::{Level, PteFormat};

/// Where one entry lives: the frame of its table and its index there.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EntryLoc {
    pub table: Pfn,
    pub index: u64,
}

/// The page table found by the last `PageTables::leaf_near`, and the range
/// of addresses it maps (`va >> span shift`).
#[derive(Default)]
pub struct LeafCursor {
    region: u64,
    table: Option<Pfn>,
}

/// What a table walk visits in `[start, end]`.
#[derive(Clone, Copy)]
struct WalkRange {
    start: u64,
    end: u64,
    mode: WalkMode,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WalkMode {
    /// Every valid table entry and every leaf PTE (large PDEs left out).
    All,
    /// Only the non-valid, non-zero PDEs of paged-out page tables.
    PagedOut,
    /// Only the large-page PDEs.
    Large,
}

/// One process's page tables, rooted at its directory table base.
#[derive(Clone, Copy)]
pub struct PageTables<'a> {
    pub fmt: &'a PteFormat,
    pub phys: &'a PhysicalMemory,
    /// DirectoryTableBase: the page directory (x86), PDPT (PAE) or PML4 (x64).
    pub dtb: Pfn,
}

/// The highest paging level of an arch (the one the DTB points at).
pub fn top_level(fmt: &PteFormat) -> Level {
    Level::from_number(fmt.levels()).unwrap_or(Level::Pde)
}

impl<'a> PageTables<'a> {
    pub fn new(fmt: &'a PteFormat, phys: &'a PhysicalMemory, dtb: Pfn) -> Self {
        PageTables { fmt, phys, dtb }
    }

    pub fn read(&self, loc: EntryLoc) -> Mmpte {
        let size = self.fmt.pte_size() as usize;
        Mmpte(
            self.phys
                .load_entry(loc.table, loc.index as usize * size, size),
        )
    }

    pub fn write(&self, loc: EntryLoc, pte: Mmpte) {
        let size = self.fmt.pte_size() as usize;
        self.phys
            .store_entry(loc.table, loc.index as usize * size, size, pte.0)
    }

    pub fn top(&self) -> Level {
        top_level(self.fmt)
    }

    /// The frame a *valid* entry points at (a transition PTE also names a frame,
    /// but a walk must not follow it).
    pub fn valid_pfn(&self, raw: Mmpte) -> Option<Pfn> {
        self.fmt.valid_pfn(raw)
    }

    /// The table a valid entry at `level` points at: none for a large-page
    /// PDE, whose frame is the first of the page's data, never a table (a
    /// walk must not read or write "PTEs" in it).
    pub fn table_below(&self, level: Level, raw: Mmpte) -> Option<Pfn> {
        if level == Level::Pde && self.fmt.is_large_page(raw) {
            return None;
        }
        self.valid_pfn(raw)
    }

    /// The large-page PDE mapping `va`, if there is one: its location and
    /// value.
    pub fn large_pde(&self, va: Va) -> Option<(EntryLoc, Mmpte)> {
        let loc = self.entry(va, Level::Pde)?;
        let raw = self.read(loc);
        self.fmt.is_large_page(raw).then_some((loc, raw))
    }

    /// The entry mapping `va` at `level`, if every table above it exists.
    pub fn entry(&self, va: Va, level: Level) -> Option<EntryLoc> {
        let mut table = self.dtb;
        let mut l = self.top();
        loop {
            let loc = EntryLoc {
                table,
                index: self.fmt.index(va, l)?,
            };
            if l == level {
                return Some(loc);
            }
            table = self.table_below(l, self.read(loc))?;
            l = Level::from_number(l.number() - 1)?;
        }
    }

    /// The PTE of `va`, if its page table exists.
    pub fn leaf(&self, va: Va) -> Option<EntryLoc> {
        self.entry(va, Level::Pte)
    }

    /// The PTE of `va`, like `leaf`, remembering in `cursor` the page table it
    /// was found in: a run of lookups in the range one table maps (a
    /// working-set scan) walks the upper levels once. The caller must not free
    /// or replace page tables while it uses the cursor.
    pub fn leaf_near(&self, cursor: &mut LeafCursor, va: Va) -> Option<EntryLoc> {
        let index = self.fmt.index(va, Level::Pte)?;
        let region = va.0 >> self.fmt.table_span_shift();
        if cursor.table.is_none() || cursor.region != region {
            cursor.table = self.leaf(va).map(|loc| loc.table);
            cursor.region = region;
        }
        cursor.table.map(|table| EntryLoc { table, index })
    }

    /// Every level's entry for `va`, top first: `(level, location, value)`; the walk
    /// stops below the first entry that is not valid.
    pub fn walk(&self, va: Va) -> Vec<(Level, EntryLoc, Mmpte)> {
        let mut out = Vec::new();
        let mut table = self.dtb;
        let mut l = self.top();
        loop {
            let Some(index) = self.fmt.index(va, l) else {
                return out;
            };
            let loc = EntryLoc { table, index };
            let raw = self.read(loc);
            out.push((l, loc, raw));
            if l == Level::Pte {
                return out;
            }
            match (self.table_below(l, raw), Level::from_number(l.number() - 1)) {
                (Some(next), Some(lower)) => {
                    table = next;
                    l = lower;
                }
                _ => return out,
            }
        }
    }

    /// Bytes of address space one entry at `level` maps.
    pub fn span(&self, level: Level) -> u64 {
        match (self.fmt.arch(), level) {
            (_, Level::Pte) => 1 << 12,
            (Arch::X86, Level::Pde) => 1 << 22,
            (_, Level::Pde) => 1 << 21,
            (_, Level::Ppe) => 1 << 30,
            (_, Level::Pxe) => 1 << 39,
        }
    }

    /// Visits every valid table entry (not the leaf PTEs) that maps part of
    /// `[start, end]`, depth first, top level first:
    /// `visit(level, first va mapped, location, value)`. The leaf level is visited
    /// too, for every entry (valid or not) of existing page tables in the range.
    pub fn for_each_entry(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(Level, u64, EntryLoc, Mmpte),
    ) {
        let range = WalkRange {
            start,
            end,
            mode: WalkMode::All,
        };
        self.visit_table(self.dtb, self.top(), 0, range, visit);
    }

    /// Visits every page-directory entry (the entry pointing at a leaf page
    /// table) in `[start, end]` that holds something but is not valid: a page
    /// table paged out, its PDE a transition or paging-file PTE. Upper levels
    /// above the PDE are only followed while valid (they are never paged out).
    pub fn for_each_paged_out_table(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, EntryLoc, Mmpte),
    ) {
        let mut pdes = |level: Level, va: u64, loc: EntryLoc, raw: Mmpte| {
            if level == Level::Pde && self.valid_pfn(raw).is_none() {
                visit(va, loc, raw);
            }
        };
        let range = WalkRange {
            start,
            end,
            mode: WalkMode::PagedOut,
        };
        self.visit_table(self.dtb, self.top(), 0, range, &mut pdes);
    }

    fn visit_table(
        &self,
        table: Pfn,
        level: Level,
        base: u64,
        range: WalkRange,
        visit: &mut dyn FnMut(Level, u64, EntryLoc, Mmpte),
    ) {
        let WalkRange { start, end, mode } = range;
        let span = self.span(level);
        let count = self.fmt.entries_per_table(level);
        for index in 0..count {
            let va = canonical(base + index * span);
            let last = va + (span - 1);
            if last < start || va > end {
                continue;
            }
            let loc = EntryLoc { table, index };
            let raw = self.read(loc);
            if level == Level::Pte {
                if mode == WalkMode::All {
                    visit(level, va, loc, raw);
                }
                continue;
            }
            if level == Level::Pde && self.fmt.is_large_page(raw) {
                // A large page: no table below it, and not a table entry to
                // the other walks' visitors.
                if mode == WalkMode::Large {
                    visit(level, va, loc, raw);
                }
                continue;
            }
            let Some(child) = self.valid_pfn(raw) else {
                // `PagedOut` walks want the non-valid PDEs that name a table.
                if mode == WalkMode::PagedOut && level == Level::Pde && !raw.is_zero() {
                    visit(level, va, loc, raw);
                }
                continue;
            };
            if mode == WalkMode::All {
                visit(level, va, loc, raw);
            }
            if level == Level::Pde && mode != WalkMode::All {
                continue;
            }
            if let Some(lower) = Level::from_number(level.number() - 1) {
                self.visit_table(child, lower, va, range, visit);
            }
        }
    }

    /// The large-page PDEs mapping part of `[start, end]`, which the other
    /// walks leave out: `(first va mapped, location, value)`. Only valid
    /// upper entries are followed, and no leaf table is read.
    pub fn large_pdes(&self, start: u64, end: u64) -> Vec<(u64, EntryLoc, Mmpte)> {
        let mut out = Vec::new();
        let range = WalkRange {
            start,
            end,
            mode: WalkMode::Large,
        };
        self.visit_table(self.dtb, self.top(), 0, range, &mut |_, va, loc, raw| {
            out.push((va, loc, raw))
        });
        out
    }

    /// The leaf PTEs of existing page tables in `[first, last]` that hold
    /// anything, with the pages they map.
    pub fn nonzero_ptes(&self, first: Vpn, last: Vpn) -> Vec<(Va, EntryLoc)> {
        let mut out = Vec::new();
        self.for_each_entry(
            first.va().0,
            last.va().0 + (PAGE_SIZE - 1),
            &mut |level, va, loc, raw| {
                if level == Level::Pte && !raw.is_zero() {
                    out.push((Va(va), loc));
                }
            },
        );
        out
    }
}

/// A virtual address in canonical form: x64 system space (PML4 index 256 and
/// up) has bits 63..48 set, as bit 47 is. 32-bit addresses never have bit 47.
fn canonical(va: u64) -> u64 {
    if va & (1 << 47) != 0 {
        va | 0xFFFF_0000_0000_0000
    } else {
        va
    }
}
