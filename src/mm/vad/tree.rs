//! The per-process VAD tree (NT's `EPROCESS.VadRoot`).
//!
//! NT keeps VADs in an AVL tree keyed by StartingVpn, with a lookup hint. A
//! `BTreeMap` keyed by StartingVpn gives the same guarantees NT relies on:
//! in-order walks in address order, and O(log n) lookup of the VAD containing
//! an address (the last VAD starting at or below it). VADs never overlap, so
//! ordering by StartingVpn also orders by EndingVpn.

use std::collections::BTreeMap;

use super::{Vad, vpn_range_text};
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SHIFT, PAGE_SIZE, Va, Vpn};

/// All VADs of one process, in address order.
#[derive(Clone, Default, Debug)]
pub struct VadTree {
    vads: BTreeMap<u64, Vad>,
}

impl VadTree {
    pub fn new() -> VadTree {
        VadTree::default()
    }

    /// Inserts `vad` (NT's `MiInsertVad`). Refuses a malformed range with
    /// STATUS_INVALID_PARAMETER and any overlap with STATUS_CONFLICTING_ADDRESSES.
    pub fn insert(&mut self, vad: Vad) -> MmResult<()> {
        if vad.ending_vpn < vad.starting_vpn || vad.ending_vpn.0 > u64::MAX >> PAGE_SHIFT {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "a VAD must end at or after its start and below 2^64 (got pages {:#x}-{:#x})",
                vad.starting_vpn.0,
                vad.ending_vpn.0
            ));
        }
        if let Some(other) = self
            .find_overlapping(vad.starting_vpn, vad.ending_vpn)
            .next()
        {
            return Err(mm_err!(
                CONFLICTING_ADDRESSES,
                "{} overlaps the reservation at {}",
                vad.range_text(),
                other.range_text()
            ));
        }
        self.vads.insert(vad.starting_vpn.0, vad);
        Ok(())
    }

    /// The VAD containing page `vpn` (NT's `MiLocateAddress`).
    pub fn find(&self, vpn: Vpn) -> Option<&Vad> {
        self.vads
            .range(..=vpn.0)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.ending_vpn >= vpn)
    }

    /// Mutable access to the VAD containing page `vpn`. Callers must not
    /// change StartingVpn or EndingVpn through it (use the tree's methods).
    pub fn find_mut(&mut self, vpn: Vpn) -> Option<&mut Vad> {
        self.vads
            .range_mut(..=vpn.0)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.ending_vpn >= vpn)
    }

    /// The VAD at exactly this StartingVpn.
    pub fn get(&self, starting_vpn: Vpn) -> Option<&Vad> {
        self.vads.get(&starting_vpn.0)
    }

    /// Every VAD sharing at least one page with `start..=end`, in address
    /// order (NT's `MiCheckForConflictingVad` returns the first of these).
    /// Empty when `end < start`.
    pub fn find_overlapping(&self, start: Vpn, end: Vpn) -> impl Iterator<Item = &Vad> + '_ {
        let (lo, hi) = if start <= end {
            (start.0, end.0)
        } else {
            (0, 0)
        };
        let valid = start <= end;
        // A VAD starting below `start` can still reach into the range.
        let before = self
            .vads
            .range(..lo)
            .next_back()
            .map(|(_, v)| v)
            .filter(move |v| valid && v.ending_vpn.0 >= lo);
        let inside = self
            .vads
            .range(lo..=hi)
            .map(|(_, v)| v)
            .filter(move |_| valid);
        before.into_iter().chain(inside)
    }

    /// Removes and returns the VAD starting at `starting_vpn` (`MiRemoveVad`).
    pub fn remove(&mut self, starting_vpn: Vpn) -> Option<Vad> {
        self.vads.remove(&starting_vpn.0)
    }

    /// All VADs in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Vad> + '_ {
        self.vads.values()
    }

    pub fn len(&self) -> usize {
        self.vads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vads.is_empty()
    }

    /// Moves the start of the VAD at `starting_vpn` up to `new_start` (the
    /// pages below are being released). Returns false if there is no such
    /// VAD or `new_start` is not inside it past its first page.
    pub fn trim_start(&mut self, starting_vpn: Vpn, new_start: Vpn) -> bool {
        match self.vads.get(&starting_vpn.0) {
            Some(v) if new_start > v.starting_vpn && new_start <= v.ending_vpn => {}
            _ => return false,
        }
        let Some(mut vad) = self.vads.remove(&starting_vpn.0) else {
            return false;
        };
        vad.starting_vpn = new_start;
        vad.write_watch.retain(|&p| p >= new_start.0);
        self.vads.insert(new_start.0, vad);
        true
    }

    /// Moves the end of the VAD at `starting_vpn` down to `new_end`.
    pub fn trim_end(&mut self, starting_vpn: Vpn, new_end: Vpn) -> bool {
        match self.vads.get_mut(&starting_vpn.0) {
            Some(v) if new_end >= v.starting_vpn && new_end < v.ending_vpn => {
                v.ending_vpn = new_end;
                v.write_watch.retain(|&p| p <= new_end.0);
                true
            }
            _ => false,
        }
    }

    /// Cuts the pages `hole_start..=hole_end` out of the middle of the VAD
    /// at `starting_vpn`, leaving two VADs. The upper one is a copy of the
    /// original (NT copies the MMVAD_SHORT) with CommitCharge 0; the caller
    /// shares the charge out. Returns false unless the hole is strictly inside.
    pub fn split(&mut self, starting_vpn: Vpn, hole_start: Vpn, hole_end: Vpn) -> bool {
        let Some(lower) = self.vads.get_mut(&starting_vpn.0) else {
            return false;
        };
        if !(lower.starting_vpn < hole_start
            && hole_start <= hole_end
            && hole_end < lower.ending_vpn)
        {
            return false;
        }
        let mut upper = lower.clone();
        upper.starting_vpn = Vpn(hole_end.0 + 1);
        upper.commit_charge = 0;
        upper.write_watch.retain(|&p| p > hole_end.0);
        lower.ending_vpn = Vpn(hole_start.0 - 1);
        lower.write_watch.retain(|&p| p < hole_start.0);
        self.vads.insert(upper.starting_vpn.0, upper);
        true
    }

    /// Finds a free range of `size_bytes` (rounded up to pages) whose base is
    /// a multiple of `alignment` (64 KB for NtAllocateVirtualMemory; 0 means
    /// a page) and which lies within `lowest..=highest`.
    ///
    /// Bottom-up is first fit from `lowest` (WRK `MiFindEmptyAddressRange`);
    /// top-down (MEM_TOP_DOWN) is the highest fit below `highest`
    /// (`MiFindEmptyAddressRangeDown`). Never panics; `None` means no room.
    pub fn find_free(
        &self,
        size_bytes: u64,
        alignment: u64,
        lowest: Va,
        highest: Va,
        top_down: bool,
    ) -> Option<Va> {
        let size = size_bytes.checked_next_multiple_of(PAGE_SIZE)?;
        let align = alignment.max(PAGE_SIZE);
        if size == 0 || highest < lowest {
            return None;
        }
        if top_down {
            self.find_free_down(size, align, lowest.0, highest.0)
        } else {
            self.find_free_up(size, align, lowest.0, highest.0)
        }
        .map(Va)
    }

    fn find_free_up(&self, size: u64, align: u64, lowest: u64, highest: u64) -> Option<u64> {
        let mut candidate = lowest.checked_next_multiple_of(align)?;
        for vad in self.vads.values() {
            let (vs, ve) = (vad.start_va().0, vad.end_va().0);
            if ve < candidate {
                continue;
            }
            if vs > candidate && vs - candidate >= size {
                break;
            }
            candidate = ve.checked_add(1)?.checked_next_multiple_of(align)?;
        }
        let last = candidate.checked_add(size - 1)?;
        (last <= highest).then_some(candidate)
    }

    fn find_free_down(&self, size: u64, align: u64, lowest: u64, highest: u64) -> Option<u64> {
        // Highest aligned base in lo..=top with base + size - 1 <= top.
        let fit = |lo: u64, top: u64| -> Option<u64> {
            let base = top.checked_sub(size - 1)?;
            let base = base - base % align;
            (top >= lo && base >= lo).then_some(base)
        };
        let mut top = highest;
        for vad in self.vads.values().rev() {
            let (vs, ve) = (vad.start_va().0, vad.end_va().0);
            if ve < top
                && let Some(base) = fit(ve.saturating_add(1).max(lowest), top)
            {
                return Some(base);
            }
            if vs == 0 {
                return None;
            }
            top = top.min(vs - 1);
            if top < lowest {
                return None;
            }
        }
        fit(lowest, top)
    }

    /// Text for the VAD occupying part of `start..=end`, for messages.
    pub(super) fn conflict_text(&self, start: Vpn, end: Vpn) -> Option<String> {
        self.find_overlapping(start, end).next().map(|v| {
            format!(
                "{} overlaps the reservation at {}",
                vpn_range_text(start, end),
                v.range_text()
            )
        })
    }
}
