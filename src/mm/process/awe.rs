//! AWE (Address Windowing Extensions) in one address space: the frames
//! AllocateUserPhysicalPages gave the process (NT's AWEINFO and its
//! VadPhysicalPagesBitMap, WRK `physical.c`), the page tables of its
//! MEM_PHYSICAL VADs (MiCreatePageTablesForPhysicalRange and
//! MiDeletePageTablesForPhysicalRange, WRK `allocvm.c`), and a PTE of such a
//! VAD pointed at an AWE frame or cleared. The services' rules are
//! `vm/awe.rs`'s. Callers hold the address-space lock; the PFN lock where a
//! function says `_locked`.
//!
//! An AWE frame is Active, use AWE, owned by the process (its owner slot),
//! with one reference and ShareCount 1 whether mapped or not; a PTE maps it
//! exactly when its PteAddress names that PTE (WRK Server 2003 SP1 swaps
//! PteAddress in and out; the older physical.c counted ShareCount 1 to 3
//! instead). It has no
//! working-set entry, so trimming, aging, replacement and outswap never see
//! it, and it is never on a list: it cannot be paged or repurposed.
//!
//! The page tables of an AWE VAD are made when the VAD is, charged against
//! resident available memory, and held by one extra ShareCount each (WRK
//! "so the page table page will not get trimmed even if it has no currently
//! valid entries"): a table with ShareCount above 1 + its valid entries is
//! never paged out (`table_paging.rs`) nor freed as empty
//! (`free_empty_tables`). So mapping a page never needs a frame.

use std::collections::BTreeSet;

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, PteAddress, Va, Vpn};
use crate::mm::hw::pagetable::EntryLoc;
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Machine, PfnState};

use super::address_space::AddressSpace;
use super::mapping::data_pte;
use super::page_tables::pte_va;
use super::table_charges::levels;

/// NT's AWEINFO, as far as mmfs keeps it.
#[derive(Default, Debug)]
pub struct AwePages {
    /// AllocateUserPhysicalPages has made the bitmap (VadPhysicalPagesBitMap):
    /// before, MapUserPhysicalPages and FreeUserPhysicalPages answer
    /// STATUS_INVALID_PARAMETER_1. It stays once made, as NT's does.
    pub bitmap: bool,
    /// The frames the process owns (the bitmap's set bits).
    frames: BTreeSet<Pfn>,
    /// Resident available pages charged for the page tables of its AWE VADs.
    pub table_charge: u64,
}

impl AwePages {
    /// The frames the process owns (VadPhysicalPages).
    pub fn len(&self) -> u64 {
        self.frames.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn owns(&self, pfn: Pfn) -> bool {
        self.frames.contains(&pfn)
    }

    /// The owned frames, in PFN order.
    pub fn iter(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.frames.iter().copied()
    }

    pub fn insert(&mut self, pfn: Pfn) {
        self.frames.insert(pfn);
    }

    pub fn remove(&mut self, pfn: Pfn) -> bool {
        self.frames.remove(&pfn)
    }

    /// What the process holds against resident available memory for AWE:
    /// its frames and the page tables of its AWE VADs.
    pub fn resident_charge(&self) -> u64 {
        self.len() + self.table_charge
    }
}

/// The page-table pages an AWE range `[first, last]` is charged for: the
/// tables of each pageable level it spans (x86 and PAE: the leaf tables;
/// x64: the page directories and PDPT pages too). WRK counts the same pages
/// with MI_COMPUTE_PAGES_SPANNED over PTE addresses; mmfs counts the tables.
pub fn awe_table_pages(m: &Machine, first: Vpn, last: Vpn) -> u64 {
    levels(m.fmt.arch())
        .iter()
        .map(|&shift| {
            let a = first.va().0 >> shift;
            let b = (last.va().0 + PAGE_SIZE - 1) >> shift;
            b - a + 1
        })
        .sum()
}

/// An address in each leaf table that maps part of `[first, last]`.
pub fn leaf_tables(m: &Machine, first: Vpn, last: Vpn) -> impl Iterator<Item = Va> {
    let shift = m.fmt.table_span_shift();
    let (a, b) = (first.va().0 >> shift, last.va().0 >> shift);
    let start = first.va().0;
    (a..=b).map(move |i| Va((i << shift).max(start)))
}

impl AddressSpace {
    /// MiCreatePageTablesForPhysicalRange: makes every page table of the AWE
    /// range `[first, last]` (its VAD just inserted), each held by one more
    /// ShareCount, and charges them against resident available memory. On
    /// failure (STATUS_INSUFFICIENT_RESOURCES, STATUS_NO_MEMORY) nothing is
    /// held; the caller takes the VAD out again.
    pub fn create_awe_tables(&mut self, m: &Machine, first: Vpn, last: Vpn) -> MmResult<()> {
        let pages = awe_table_pages(m, first, last);
        m.charge_resident(pages, "the page tables of an AWE reservation")?;
        let mut pinned = Vec::new();
        for va in leaf_tables(m, first, last) {
            match self.ensure_leaf(m, va) {
                Ok(loc) => {
                    m.pfn_lock().db.increment_share(loc.table);
                    pinned.push(loc.table);
                }
                Err(e) => {
                    let mut st = m.pfn_lock();
                    for &t in &pinned {
                        st.db.decrement_share(t);
                    }
                    drop(st);
                    self.free_empty_tables(m, first.va().0, last.va().0 + PAGE_SIZE - 1);
                    m.uncharge_resident(pages);
                    return Err(e);
                }
            }
        }
        self.awe.table_charge += pages;
        Ok(())
    }

    /// MiDeletePageTablesForPhysicalRange: lets go of the tables of the AWE
    /// range `[first, last]` (its VAD gone, its PTEs all zero) and gives
    /// their resident charge back. The caller frees the tables now empty.
    pub fn delete_awe_tables(&mut self, m: &Machine, first: Vpn, last: Vpn) {
        let pages = awe_table_pages(m, first, last);
        let tables = self.tables(m);
        let mut st = m.pfn_lock();
        for va in leaf_tables(m, first, last) {
            if let Some(loc) = tables.leaf(va) {
                st.db.decrement_share(loc.table);
            }
        }
        drop(st);
        m.uncharge_resident(pages);
        self.awe.table_charge = self.awe.table_charge.saturating_sub(pages);
    }

    /// Points the PTE at `loc` (of `va`, in an AWE VAD) at AWE frame `pfn`,
    /// or clears it (`None`); a frame it mapped before is unmapped (it stays
    /// the process's). NtMapUserPhysicalPages's second pass: the PTE is
    /// valid, read/write and dirty (MI_SET_PTE_DIRTY), as WRK writes it.
    pub fn awe_set_pte_locked(
        &mut self,
        m: &Machine,
        st: &mut PfnState,
        (loc, va): (EntryLoc, Va),
        pfn: Option<Pfn>,
    ) {
        let tables = self.tables(m);
        let was_valid = match m.fmt.decode(tables.read(loc)) {
            PteState::Valid(h) => {
                awe_unmapped_locked(st, h.pfn);
                true
            }
            _ => false,
        };
        match pfn {
            Some(p) => {
                tables.write(loc, data_pte(m, p, Protection::READWRITE, true));
                st.db.set_pte_address(p, pte_va(m, va));
                if !was_valid {
                    st.db.increment_share(loc.table);
                }
            }
            None => {
                tables.write(loc, Mmpte::ZERO);
                if was_valid {
                    st.db.decrement_share(loc.table);
                }
            }
        }
    }
}

/// An AWE frame no PTE maps any more: no PteAddress (WRK's
/// InterlockedZeroPointer (Pfn1->PteAddress)). The caller clears the PTE
/// and lowers its table's ShareCount.
pub fn awe_unmapped_locked(st: &mut PfnState, pfn: Pfn) {
    st.db.set_pte_address(pfn, PteAddress(0));
}
