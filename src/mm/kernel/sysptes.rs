//! The system PTE pool: the PTEs of the SYSTEM_PTES region of system space,
//! handed out in runs to whatever needs a range of system virtual addresses
//! of its own (kernel stacks, MDLs mapped with MmMapLockedPagesSpecifyCache).
//! MiReserveSystemPtes takes a run, MiReleaseSystemPtes gives it back; a
//! request no free run can hold is refused with STATUS_INSUFFICIENT_RESOURCES
//! and counted (`Failures`, WRK's MmPteFailures).
//!
//! WRK keeps the free PTEs as a list of runs, each run's first PTE holding its
//! size; mmfs keeps one bit per PTE and the runs handed out (with their owner,
//! for `kernel/sysptes`), and takes the first free run that fits, as WRK's
//! list walk does (first fit, lowest address first).
//!
//! Only the bookkeeping lives here; the PTEs themselves are written by the
//! callers into the System process's page tables. Protected by `Mm::kernel`.

use std::collections::BTreeMap;

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Arch, PAGE_SIZE, Va};
use crate::mm::hw::layout::{Layout, names};

/// WRK `mi.h`: the fewest system PTEs any machine gets (MM_MINIMUM_SYSTEM_PTES).
pub const MM_MINIMUM_SYSTEM_PTES: u64 = 7000;
/// WRK `mi.h`: a medium machine's 32-bit default (MM_DEFAULT_SYSTEM_PTES).
pub const MM_DEFAULT_SYSTEM_PTES: u64 = 11000;
/// WRK MmInitSystem: below this many pages (19 MB, MM_MEDIUM_SYSTEM's tuning
/// line) a 32-bit machine gets the minimum.
const MEDIUM_SYSTEM_PAGES: u64 = (19 << 20) / PAGE_SIZE;
/// WRK MmInitSystem: above this many pages (32 MB) the 32-bit default doubles.
const DOUBLE_SYSTEM_PTES_PAGES: u64 = 8192;

/// MmNumberOfSystemPtes for a machine of `physical_pages` on `arch`, following
/// WRK `base/ntos/mm/mminit.c` (MmInitSystem, non-Terminal-Server) and
/// `i386/init386.c` (MiInitMachineDependent):
/// - 32-bit: MM_MINIMUM_SYSTEM_PTES below 19 MB, else MM_DEFAULT_SYSTEM_PTES,
///   doubled above 8192 pages;
/// - 64-bit: 16 PTEs per physical page (8 below 0x8000 pages), at least
///   MM_MINIMUM_SYSTEM_PTES;
/// - then, as MiInitMachineDependent does when the pool would start below
///   MM_LOWEST_NONPAGED_SYSTEM_START, no more than the region holds, less one
///   (WRK's "+ 1" PTE past the pool).
pub fn number_of_system_ptes(arch: Arch, physical_pages: u64, region_pages: u64) -> u64 {
    let wanted = match arch {
        Arch::X64 => {
            let multiplier = if physical_pages < 0x8000 { 8 } else { 16 };
            (physical_pages * multiplier).max(MM_MINIMUM_SYSTEM_PTES)
        }
        Arch::X86 | Arch::Pae if physical_pages < MEDIUM_SYSTEM_PAGES => MM_MINIMUM_SYSTEM_PTES,
        Arch::X86 | Arch::Pae if physical_pages > DOUBLE_SYSTEM_PTES_PAGES => {
            2 * MM_DEFAULT_SYSTEM_PTES
        }
        Arch::X86 | Arch::Pae => MM_DEFAULT_SYSTEM_PTES,
    };
    wanted.min(region_pages.saturating_sub(1))
}

/// One run handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemPteRun {
    pub address: Va,
    pub pages: u64,
    pub owner: String,
}

/// The pool (see the module docs).
#[derive(Default, Debug)]
pub struct SystemPtes {
    /// The first PTE's address (the region's start).
    base: u64,
    total: u64,
    /// One bit per PTE, set while the PTE belongs to a run.
    in_use: Vec<u64>,
    free: u64,
    /// Runs handed out, by index of their first PTE.
    runs: BTreeMap<u64, (u64, String)>,
    /// Requests refused for want of a free run (MmPteFailures).
    pub failures: u64,
}

/// `kernel/sysptes`: the counters and the runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemPteInfo {
    pub total: u64,
    pub free: u64,
    pub largest_free_run: u64,
    pub failures: u64,
    pub runs: Vec<SystemPteRun>,
}

impl SystemPtes {
    /// The pool of a machine with this layout and RAM.
    pub fn new(layout: &Layout, physical_pages: u64) -> SystemPtes {
        let Some(region) = layout.region_named(names::SYSTEM_PTES) else {
            return SystemPtes::default();
        };
        let total = number_of_system_ptes(layout.arch(), physical_pages, region.size() / PAGE_SIZE);
        SystemPtes {
            base: region.start,
            total,
            in_use: vec![0; total.div_ceil(64) as usize],
            free: total,
            runs: BTreeMap::new(),
            failures: 0,
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn free(&self) -> u64 {
        self.free
    }

    fn is_used(&self, i: u64) -> bool {
        self.in_use[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, first: u64, pages: u64, used: bool) {
        for i in first..first + pages {
            let (w, b) = ((i / 64) as usize, i % 64);
            if used {
                self.in_use[w] |= 1 << b;
            } else {
                self.in_use[w] &= !(1 << b);
            }
        }
    }

    /// The free runs, lowest first: (first index, length).
    fn free_runs(&self) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < self.total {
            if self.in_use[(i / 64) as usize] == u64::MAX {
                i = (i / 64 + 1) * 64;
                continue;
            }
            if self.is_used(i) {
                i += 1;
                continue;
            }
            let start = i;
            while i < self.total && !self.is_used(i) {
                i += 1;
            }
            runs.push((start, i - start));
        }
        runs
    }

    /// MiReserveSystemPtes: `pages` contiguous PTEs for `owner`, the first
    /// free run that holds them. Refused (and counted) when none does.
    pub fn reserve(&mut self, pages: u64, owner: &str) -> MmResult<Va> {
        if pages == 0 || pages > self.total {
            self.failures += 1;
            return Err(mm_err!(
                INSUFFICIENT_RESOURCES,
                "{owner} wants {pages} system PTEs; the pool has {} in all",
                self.total
            ));
        }
        let Some((first, _)) = self.free_runs().into_iter().find(|&(_, n)| n >= pages) else {
            self.failures += 1;
            return Err(mm_err!(
                INSUFFICIENT_RESOURCES,
                "{owner} wants {pages} contiguous system PTEs; {} are free, the largest free run is {}",
                self.free,
                self.largest_free_run()
            ));
        };
        self.set(first, pages, true);
        self.free -= pages;
        self.runs.insert(first, (pages, owner.to_string()));
        Ok(Va(self.base + first * PAGE_SIZE))
    }

    /// MiReleaseSystemPtes: gives back the run that starts at `address`.
    /// Returns its length, or None (nothing changed) if no run starts there.
    pub fn release(&mut self, address: Va) -> Option<u64> {
        let first = address.0.checked_sub(self.base)? / PAGE_SIZE;
        let (pages, _) = self.runs.remove(&first)?;
        self.set(first, pages, false);
        self.free += pages;
        Some(pages)
    }

    pub fn largest_free_run(&self) -> u64 {
        self.free_runs()
            .into_iter()
            .map(|(_, n)| n)
            .max()
            .unwrap_or(0)
    }

    /// True when `va` lies in the pool's range.
    pub fn contains(&self, va: Va) -> bool {
        va.0 >= self.base && va.0 < self.base + self.total * PAGE_SIZE
    }

    /// The first and last address of the pool's range (empty pool: None).
    pub fn range(&self) -> Option<(u64, u64)> {
        (self.total > 0).then(|| (self.base, self.base + self.total * PAGE_SIZE - 1))
    }

    pub fn runs(&self) -> Vec<SystemPteRun> {
        self.runs
            .iter()
            .map(|(&first, (pages, owner))| SystemPteRun {
                address: Va(self.base + first * PAGE_SIZE),
                pages: *pages,
                owner: owner.clone(),
            })
            .collect()
    }

    pub fn info(&self) -> SystemPteInfo {
        SystemPteInfo {
            total: self.total,
            free: self.free,
            largest_free_run: self.largest_free_run(),
            failures: self.failures,
            runs: self.runs(),
        }
    }

    /// The bitmap agrees with the runs and the free count.
    pub fn verify(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut covered = vec![false; self.total as usize];
        for (&first, (pages, owner)) in &self.runs {
            for i in first..first + pages {
                if i >= self.total || covered[i as usize] {
                    v.push(format!(
                        "system PTE {i} of {owner}'s run is beyond the pool or in two runs"
                    ));
                    break;
                }
                covered[i as usize] = true;
            }
        }
        for (i, &c) in covered.iter().enumerate() {
            if c != self.is_used(i as u64) {
                v.push(format!(
                    "system PTE {i} ({:#x}): the bitmap says {} but the runs say {}",
                    self.base + i as u64 * PAGE_SIZE,
                    if c { "free" } else { "in use" },
                    if c { "in use" } else { "free" }
                ));
                break;
            }
        }
        let used = covered.iter().filter(|&&c| c).count() as u64;
        if used + self.free != self.total {
            v.push(format!(
                "system PTEs: {used} in runs and {} free, but {} in all",
                self.free, self.total
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(total: u64) -> SystemPtes {
        SystemPtes {
            base: 0xE800_0000,
            total,
            in_use: vec![0; total.div_ceil(64) as usize],
            free: total,
            runs: BTreeMap::new(),
            failures: 0,
        }
    }

    #[test]
    fn sizes_follow_wrk_for_each_arch() {
        assert_eq!(number_of_system_ptes(Arch::X86, 256, 12288), 7000);
        assert_eq!(number_of_system_ptes(Arch::X86, 6000, 12288), 11000);
        // 256 MB wants 22000 but the x86 region holds 12288.
        assert_eq!(number_of_system_ptes(Arch::X86, 65536, 12288), 12287);
        assert_eq!(number_of_system_ptes(Arch::X64, 256, 1 << 25), 7000);
        assert_eq!(number_of_system_ptes(Arch::X64, 65536, 1 << 25), 65536 * 16);
        let l = Layout::new(Arch::X86, false);
        assert_eq!(SystemPtes::new(&l, 256).total(), 7000);
    }

    #[test]
    fn first_fit_reuses_the_lowest_hole_and_refuses_what_does_not_fit() {
        let mut p = pool(10);
        let a = p.reserve(3, "a").unwrap();
        let b = p.reserve(4, "b").unwrap();
        assert_eq!(b.0, a.0 + 3 * PAGE_SIZE);
        assert_eq!(p.release(a), Some(3));
        assert_eq!(p.largest_free_run(), 3);
        let c = p.reserve(2, "c").unwrap();
        assert_eq!(c, a);
        let e = p.reserve(4, "d").unwrap_err();
        assert_eq!(e.status, crate::mm::NtStatus::INSUFFICIENT_RESOURCES);
        assert_eq!(p.failures, 1);
        assert_eq!(p.free(), 4);
        assert!(p.verify().is_empty());
        assert_eq!(p.release(Va(a.0 + PAGE_SIZE)), None);
        assert_eq!(p.runs().len(), 2);
        assert!(p.reserve(0, "z").is_err());
        assert_eq!(p.failures, 2);
    }
}
