//! The model's part for write watch: which pages of each write-watch region
//! were written since its last reset (`Region::write_watch`, filled by
//! `Model::touch` on every write that reached a page), what GetWriteWatch and
//! ResetWriteWatch must answer for a range, and the operations that choose
//! them.
//!
//! Every page a write reached is reported until a reset, whatever happened
//! to it since (trimmed, paged out and read back, decommitted, MEM_RESET:
//! mmfs captures its dirty bit each time); a page only read never is. A
//! write-watch region is released whole or not at all, and a process that
//! has one cannot fork (`runner.rs`).

use super::generators::{Chooser, Op};
use super::reference::{Expect, Model, Refusal};
use crate::mm::NtStatus;
use crate::mm::base::types::PAGE_SIZE;

/// A GetWriteWatch/ResetWriteWatch range the model accepts: region `base`'s
/// pages `first_i..=last_i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WatchRange {
    pub(super) base: u64,
    pub(super) first_i: u64,
    pub(super) last_i: u64,
}

impl Model {
    /// NtGetWriteWatch (`get`) or NtResetWriteWatch of `size` bytes at
    /// `address`. Generated addresses lie far below MM_HIGHEST_VAD_ADDRESS,
    /// so of WRK's checks only these arise: a size of 0 (_4 for Get, _3 for
    /// Reset; at address 0 the end wraps to the top, which no region holds:
    /// _1), and a range not inside one write-watch region (_1).
    pub(super) fn watch_range(
        &self,
        pi: usize,
        address: u64,
        size: u64,
        get: bool,
    ) -> Expect<WatchRange> {
        let refuse = |what, status| Err(Refusal { what, status });
        if size == 0 && address != 0 {
            let status = if get {
                NtStatus::INVALID_PARAMETER_4
            } else {
                NtStatus::INVALID_PARAMETER_3
            };
            return refuse("write watch of 0 bytes", status);
        }
        let last = address.wrapping_add(size).wrapping_sub(1);
        match self.procs[pi].region_at(address) {
            Some(r) if r.write_watch.is_some() && last < r.end() => Ok(WatchRange {
                base: r.base,
                first_i: (address - r.base) / PAGE_SIZE,
                last_i: (last - r.base) / PAGE_SIZE,
            }),
            _ => refuse(
                "write watch outside one write-watch region",
                NtStatus::INVALID_PARAMETER_1,
            ),
        }
    }

    /// The pages of `at` written since the last reset, as addresses.
    pub(super) fn written_in(&self, pi: usize, at: WatchRange) -> Vec<u64> {
        let Some(written) = self.procs[pi]
            .regions
            .get(&at.base)
            .and_then(|r| r.write_watch.as_ref())
        else {
            return Vec::new();
        };
        written
            .range(at.first_i..=at.last_i)
            .map(|i| at.base + i * PAGE_SIZE)
            .collect()
    }

    /// ResetWriteWatch of `at`: its pages are forgotten.
    pub(super) fn apply_reset_write_watch(&mut self, pi: usize, at: WatchRange) {
        if let Some(written) = self.procs[pi]
            .regions
            .get_mut(&at.base)
            .and_then(|r| r.write_watch.as_mut())
        {
            written.retain(|i| !(at.first_i..=at.last_i).contains(i));
        }
    }

    /// `processes/<name>/write-watch`: (region, page) for every page written
    /// since its region's last reset, in address order.
    pub(super) fn write_watch_rows(&self, pi: usize) -> Vec<(u64, u64)> {
        let mut rows = Vec::new();
        for r in self.procs[pi].regions.values() {
            for i in r.write_watch.iter().flatten() {
                rows.push((r.base, r.base + i * PAGE_SIZE));
            }
        }
        rows
    }

    /// Whether process `pi` has a write-watch region (then fork is refused).
    pub(super) fn has_write_watch(&self, pi: usize) -> bool {
        self.procs[pi]
            .regions
            .values()
            .any(|r| r.write_watch.is_some())
    }
}

impl Chooser<'_> {
    /// ResetWriteWatch (GetWriteWatch is asked the same range first): mostly
    /// all or part of a write-watch region, sometimes a range of 0 bytes or
    /// one of `random_range` (often in no write-watch region).
    pub(super) fn reset_write_watch(&mut self, pi: usize) -> Option<Op> {
        let region = self.random_region(pi, |r| r.write_watch.is_some());
        let (address, size) = match region {
            Some(r) if !self.chance(5) => {
                if self.chance(3) {
                    (r.base, r.pages * PAGE_SIZE)
                } else {
                    let fi = self.rng.below(r.pages);
                    let n = 1 + self.rng.below(r.pages - fi);
                    let slack = self.rng.below(PAGE_SIZE);
                    (r.base + fi * PAGE_SIZE + slack, n * PAGE_SIZE - slack)
                }
            }
            Some(r) if self.chance(3) => (r.base + self.rng.below(r.pages) * PAGE_SIZE, 0),
            _ => self.random_range(pi, true),
        };
        Some(Op::ResetWriteWatch { address, size })
    }
}
