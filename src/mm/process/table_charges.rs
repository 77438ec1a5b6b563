//! Commit charged for page tables, as WRK charges it: when a VAD is inserted
//! (MiInsertVadCharges), one page for every page table its range needs that
//! no VAD has charged yet, reserve-only VADs included; on x64 also one page
//! for every page directory and page-directory-pointer page. The charge is
//! returned when no VAD covers that table any more
//! (MiReturnPageTablePageCommitment). The tables themselves are made when a
//! fault first needs them, at no further charge. PAE's four page directories
//! and x86's one are part of the process's own charge
//! (MM_PROCESS_COMMIT_CHARGE, `hyperspace.rs`).
//!
//! WRK keeps a bitmap per level (CommittedPageTables and friends); a set of
//! charged tables does the same without a bit for all 8 TB of x64 user space.
//! Callers hold the address-space lock.

use std::collections::BTreeSet;

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, PAGE_SIZE, Va, Vpn};
use crate::mm::machine::Machine;
use crate::mm::vad::{Vad, VadTree};

use super::address_space::AddressSpace;

/// One charged table: the log2 of the bytes it maps (22 for an x86 page table,
/// 21 for a PAE or x64 one, 30 for an x64 page directory, 39 for an x64
/// page-directory-pointer page) and its index (address >> that).
type Table = (u32, u64);

/// The page-table pages a process has been charged for.
#[derive(Default, Debug)]
pub struct TableCharges {
    charged: BTreeSet<Table>,
}

impl TableCharges {
    /// Tables charged: pages of commit.
    pub fn len(&self) -> u64 {
        self.charged.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.charged.is_empty()
    }

    /// The charged tables, for `verify`.
    pub fn iter(&self) -> impl Iterator<Item = Table> + '_ {
        self.charged.iter().copied()
    }

    /// Tables among those `[first, last]` needs that are not charged yet.
    /// Counted without listing them: a reservation of all of x64 user space
    /// needs four million page tables, and is refused by the commit limit
    /// before anything is listed.
    fn uncharged(&self, arch: Arch, first: Vpn, last: Vpn) -> u64 {
        levels(arch)
            .iter()
            .map(|&shift| {
                let (a, b) = span(shift, first, last);
                let charged = self.charged.range((shift, a)..=(shift, b)).count() as u64;
                (b - a + 1) - charged
            })
            .sum()
    }

    fn charge(&mut self, arch: Arch, first: Vpn, last: Vpn) {
        for &shift in levels(arch) {
            let (a, b) = span(shift, first, last);
            self.charged.extend((a..=b).map(|i| (shift, i)));
        }
    }
}

/// The table sizes charged on `arch` (see `Table`).
pub fn levels(arch: Arch) -> &'static [u32] {
    match arch {
        Arch::X86 => &[22],
        Arch::Pae => &[21],
        Arch::X64 => &[21, 30, 39],
    }
}

/// The indexes of the tables of size `shift` that map `[first, last]`.
fn span(shift: u32, first: Vpn, last: Vpn) -> (u64, u64) {
    (
        first.va().0 >> shift,
        (last.va().0 + PAGE_SIZE - 1) >> shift,
    )
}

/// Every table the VADs of `tree` need on `arch`: what `TableCharges` must
/// hold (verify compares the two).
pub fn needed_by(tree: &VadTree, arch: Arch) -> BTreeSet<Table> {
    let mut needed = BTreeSet::new();
    for v in tree.iter() {
        for &shift in levels(arch) {
            let (a, b) = span(shift, v.starting_vpn, v.ending_vpn);
            needed.extend((a..=b).map(|i| (shift, i)));
        }
    }
    needed
}

impl AddressSpace {
    /// Inserts `vad`, charging its own commit (`vad.commit_charge`) and the
    /// tables its range newly needs (MiInsertVadCharges). On failure
    /// (STATUS_COMMITMENT_LIMIT, or a conflicting VAD) nothing is charged.
    pub fn insert_vad(&mut self, m: &Machine, vad: Vad) -> MmResult<()> {
        let arch = m.fmt.arch();
        let (first, last) = (vad.starting_vpn, vad.ending_vpn);
        let charge = vad.commit_charge + self.table_charges.uncharged(arch, first, last);
        m.charge_commit(charge)?;
        if let Err(e) = self.vads.insert(vad) {
            m.uncharge_commit(charge);
            return Err(e);
        }
        self.table_charges.charge(arch, first, last);
        self.note_commit_peak();
        Ok(())
    }

    /// After VADs left `[first, last]`: the tables there that no VAD covers
    /// any more give their charge back (MiReturnPageTablePageCommitment).
    /// Returns the pages returned.
    pub fn return_table_charges(&mut self, m: &Machine, first: Vpn, last: Vpn) -> u64 {
        let mut unused = Vec::new();
        for &shift in levels(m.fmt.arch()) {
            let (a, b) = span(shift, first, last);
            for &(s, i) in self.table_charges.charged.range((shift, a)..=(shift, b)) {
                let start = Va(i << shift).vpn();
                let end = Va(((i + 1) << shift) - 1).vpn();
                if self.vads.find_overlapping(start, end).next().is_none() {
                    unused.push((s, i));
                }
            }
        }
        for t in &unused {
            self.table_charges.charged.remove(t);
        }
        m.uncharge_commit(unused.len() as u64);
        unused.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_count_each_table_once() {
        let t = TableCharges::default();
        // 256 MB on x86: 64 page tables of 4 MB.
        let first = Va(0x1000_0000).vpn();
        let last = Va(0x1fff_ffff).vpn();
        assert_eq!(t.uncharged(Arch::X86, first, last), 64);
        // One page still needs its table; on x64 its directory and PDP page too.
        let one = Va(0x7ff_fffd_0000).vpn();
        assert_eq!(t.uncharged(Arch::X86, first, first), 1);
        assert_eq!(t.uncharged(Arch::X64, one, one), 3);
        // 8 TB on x64: 4 M page tables, 8 K directories, 16 PDP pages.
        let top = Va(0x7ff_fffd_ffff).vpn();
        assert_eq!(
            t.uncharged(Arch::X64, Vpn(0), top),
            (1 << 22) + (1 << 13) + 16
        );
    }

    #[test]
    fn charged_tables_are_not_charged_twice() {
        let mut t = TableCharges::default();
        let a = (Va(0x10000).vpn(), Va(0x2f_ffff).vpn());
        t.charge(Arch::Pae, a.0, a.1);
        assert_eq!(t.len(), 2);
        // 0x300000-0x5fffff: the table for 0x200000 is charged, 0x400000's is not.
        let b = (Va(0x30_0000).vpn(), Va(0x5f_ffff).vpn());
        assert_eq!(t.uncharged(Arch::Pae, b.0, b.1), 1);
    }
}
