//! Layer 2, the PFN database: one packed MMPFN entry (see `entry.rs`) per
//! physical page plus the page list heads (NT's `MmPfnDatabase`,
//! `MmZeroedPageListHead`, ...).
//!
//! `PfnDatabase` is a plain single-threaded structure: every mutator takes
//! `&mut self`, and the caller wraps the database in the PFN lock (a Mutex).
//!
//! # States
//!
//! Every page is either on exactly one list (zeroed, free, standby — eight
//! sublists by priority —, modified, modified-no-write, bad) or on no list, in the
//! Active or Transition state. Moving between states is explicit: `unlink` (or a
//! `remove_*`) takes a page off its list and leaves it in Transition; the caller
//! then calls `set_location(pfn, Active)` or `insert(pfn, list)`.
//!
//! # Bad arguments
//!
//! `contains`, `entry` and `location` accept any PFN (they return `false`/`None`
//! beyond the end), so outside input can be checked with them. Every other method
//! treats a PFN beyond the end, or a call in the wrong state (inserting a page that
//! is already on a list, setting the share count of a listed page, priority > 7),
//! as a caller bug: `debug_assert!` fires in debug builds; release builds change
//! nothing and return `false`/`None`/0. Nothing panics in release builds.

mod entry;
mod lists;
#[cfg(test)]
mod tests;
mod verify;

pub use entry::{DEFAULT_PRIORITY, PageLocation, PageUse, PfnEntryView};
pub use lists::ListIter;
pub use verify::PageCounts;

use crate::mm::base::types::{Mmpte, Pfn, PteAddress};
use entry::{MmPfn, NIL, PfnFields, bits};

/// Bytes of host memory each physical page's entry costs (at most 32).
pub const PFN_ENTRY_BYTES: usize = std::mem::size_of::<MmPfn>();
const _: () = assert!(PFN_ENTRY_BYTES <= 32, "an MMPFN must cost at most 32 bytes");

/// A list head: NT's MMPFNLIST (Total, Flink, Blink; ListName is the index).
#[derive(Clone, Copy, Debug)]
struct ListHead {
    total: u64,
    flink: u32,
    blink: u32,
}

impl ListHead {
    const EMPTY: ListHead = ListHead {
        total: 0,
        flink: NIL,
        blink: NIL,
    };
}

/// Number of list heads: five plain lists plus eight standby sublists.
const LIST_COUNT: usize = 13;
/// Index of standby sublist 0 in `PfnDatabase::lists`.
const STANDBY_BASE: usize = 5;

/// The head index for a page at `loc` with standby priority `priority`, or `None`
/// for Active and Transition, which are not lists.
fn list_index(loc: PageLocation, priority: u8) -> Option<usize> {
    match loc {
        PageLocation::Zeroed => Some(0),
        PageLocation::Free => Some(1),
        PageLocation::Modified => Some(2),
        PageLocation::ModifiedNoWrite => Some(3),
        PageLocation::Bad => Some(4),
        PageLocation::Standby => Some(STANDBY_BASE + (priority & 7) as usize),
        PageLocation::Active | PageLocation::Transition => None,
    }
}

/// The location (and standby priority) a list head index stands for.
fn list_location(index: usize) -> (PageLocation, Option<u8>) {
    match index {
        0 => (PageLocation::Zeroed, None),
        1 => (PageLocation::Free, None),
        2 => (PageLocation::Modified, None),
        3 => (PageLocation::ModifiedNoWrite, None),
        4 => (PageLocation::Bad, None),
        i => (PageLocation::Standby, Some((i - STANDBY_BASE) as u8)),
    }
}

/// The PFN database: per-page state and the page lists.
pub struct PfnDatabase {
    pfns: Vec<MmPfn>,
    lists: [ListHead; LIST_COUNT],
    /// Pages in the Active state (on no list).
    active: u64,
    /// Pages in the Transition state (on no list).
    transition: u64,
}

macro_rules! flag_accessors {
    ($($(#[$doc:meta])* $get:ident, $set:ident, $bit:expr;)*) => {$(
        $(#[$doc])*
        pub fn $get(&self, pfn: Pfn) -> bool {
            self.get(pfn).is_some_and(|e| e.flag($bit))
        }
        $(#[$doc])*
        pub fn $set(&mut self, pfn: Pfn, on: bool) {
            if let Some(e) = self.get_mut(pfn) {
                e.set_flag($bit, on);
            }
        }
    )*};
}

macro_rules! plain_accessors {
    ($($(#[$doc:meta])* $get:ident, $set:ident, $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $get(&self, pfn: Pfn) -> $ty {
            self.get(pfn).map_or(<$ty>::default(), |e| e.$get())
        }
        $(#[$doc])*
        pub fn $set(&mut self, pfn: Pfn, value: $ty) {
            if let Some(e) = self.get_mut(pfn) {
                e.$set(value);
            }
        }
    )*};
}

impl PfnDatabase {
    /// A database of `pages` pages, all on the zeroed list in PFN order (fresh RAM
    /// from the sparse mapping reads as zero). Takes O(1) time and host memory:
    /// the entry array comes zero-filled from the allocator, and an all-zero entry
    /// already means "zeroed, linked to its PFN neighbours" (see `entry`).
    pub fn new(pages: u32) -> Self {
        let mut db = PfnDatabase {
            pfns: vec![[0u64; 4]; pages as usize],
            lists: [ListHead::EMPTY; LIST_COUNT],
            active: 0,
            transition: 0,
        };
        if let Some(last) = pages.checked_sub(1) {
            db.pfns[last as usize].set_flink(last, NIL);
            db.lists[0] = ListHead {
                total: pages as u64,
                flink: 0,
                blink: last,
            };
        }
        db
    }

    /// Number of pages (PFNs are `0..pages()`).
    pub fn pages(&self) -> u32 {
        self.pfns.len() as u32
    }

    /// True if `pfn` is a page of this database.
    pub fn contains(&self, pfn: Pfn) -> bool {
        pfn.index() < self.pfns.len()
    }

    /// The entry of a caller-supplied PFN; a PFN beyond the end is a caller bug.
    fn get(&self, pfn: Pfn) -> Option<&MmPfn> {
        let e = self.pfns.get(pfn.index());
        debug_assert!(e.is_some(), "{pfn:?} is beyond the PFN database");
        e
    }

    fn get_mut(&mut self, pfn: Pfn) -> Option<&mut MmPfn> {
        let e = self.pfns.get_mut(pfn.index());
        debug_assert!(e.is_some(), "{pfn:?} is beyond the PFN database");
        e
    }

    /// The entry of a page that is on no list (Active or Transition), where u1 and
    /// u2 hold WsIndex and ShareCount. Asking for a listed page is a caller bug.
    fn off_list_mut(&mut self, pfn: Pfn) -> Option<&mut MmPfn> {
        let e = self.get_mut(pfn)?;
        let ok = !e.location().is_list();
        debug_assert!(ok, "{pfn:?} is on the {} list", e.location());
        ok.then_some(e)
    }

    /// Where `pfn` is, or `None` if it is beyond the end.
    pub fn location(&self, pfn: Pfn) -> Option<PageLocation> {
        self.pfns.get(pfn.index()).map(|e| e.location())
    }

    /// Location and use of every page in `range` (clamped to the database), in
    /// PFN order: one pass over the entries, for `pfn/map.png`, which reads all
    /// of them (16 M on a 64 GB machine) and cannot afford a lookup per page.
    pub fn states(
        &self,
        range: std::ops::Range<u32>,
    ) -> impl Iterator<Item = (PageLocation, PageUse)> + '_ {
        let end = (range.end as usize).min(self.pfns.len());
        let start = (range.start as usize).min(end);
        self.pfns[start..end]
            .iter()
            .map(|e| (e.location(), e.page_use()))
    }

    /// Everything about `pfn`, decoded; `None` if it is beyond the end.
    pub fn entry(&self, pfn: Pfn) -> Option<PfnEntryView> {
        let e = self.pfns.get(pfn.index())?;
        let location = e.location();
        let link = |v: u32| (v != NIL).then_some(Pfn(v));
        let (ws_index, share_count, flink, blink) = if location.is_list() {
            (0, 0, link(e.flink(pfn.0)), link(e.blink(pfn.0)))
        } else {
            (e.u1(), e.u2(), None, None)
        };
        Some(PfnEntryView {
            pfn,
            location,
            use_: e.page_use(),
            share_count,
            reference_count: e.reference_count(),
            pte_address: e.pte_address(),
            original_pte: e.original_pte(),
            modified: e.flag(bits::MODIFIED),
            read_in_progress: e.flag(bits::READ_IN_PROGRESS),
            write_in_progress: e.flag(bits::WRITE_IN_PROGRESS),
            prototype: e.flag(bits::PROTOTYPE_PTE),
            priority: e.priority(),
            owner: e.owner(),
            ws_index,
            flink,
            blink,
            in_page_error: e.flag(bits::IN_PAGE_ERROR),
            deleted: e.flag(bits::DELETED),
        })
    }

    flag_accessors! {
        /// The page differs from its backing store (pagefile or file).
        modified, set_modified, bits::MODIFIED;
        /// An in-page read into the frame is under way.
        read_in_progress, set_read_in_progress, bits::READ_IN_PROGRESS;
        /// The modified or mapped page writer is writing the frame out.
        write_in_progress, set_write_in_progress, bits::WRITE_IN_PROGRESS;
        /// PteAddress is a prototype PTE (the frame belongs to a section).
        prototype, set_prototype, bits::PROTOTYPE_PTE;
        /// The in-page read failed.
        in_page_error, set_in_page_error, bits::IN_PAGE_ERROR;
        /// Deleted (NT: PteAddress bit 0): free the page when the last reference goes.
        deleted, set_deleted, bits::DELETED;
    }

    plain_accessors! {
        /// Virtual address of the PTE or prototype PTE that maps the frame.
        pte_address, set_pte_address, PteAddress;
        /// PTE contents to restore when the frame is repurposed.
        original_pte, set_original_pte, Mmpte;
        /// Outstanding references (mappings plus I/O and locks).
        reference_count, set_reference_count, u16;
        /// Owning process slot; 0 = none/system.
        owner, set_owner, u16;
    }

    /// What the page is used for (RAMMap's Use Counts row).
    pub fn page_use(&self, pfn: Pfn) -> PageUse {
        self.get(pfn).map_or(PageUse::Unused, |e| e.page_use())
    }

    pub fn set_page_use(&mut self, pfn: Pfn, use_: PageUse) {
        if let Some(e) = self.get_mut(pfn) {
            e.set_page_use(use_);
        }
    }

    /// Standby priority 0–7 (default 3).
    pub fn priority(&self, pfn: Pfn) -> u8 {
        self.get(pfn).map_or(0, |e| e.priority())
    }

    /// Number of PTEs referencing the page; 0 while it is on a list.
    pub fn share_count(&self, pfn: Pfn) -> u32 {
        self.get(pfn)
            .filter(|e| !e.location().is_list())
            .map_or(0, |e| e.u2())
    }

    /// Sets the share count of an Active/Transition page.
    pub fn set_share_count(&mut self, pfn: Pfn, count: u32) {
        if let Some(e) = self.off_list_mut(pfn) {
            e.set_u2(count);
        }
    }

    /// Working-set list index of the page; 0 while it is on a list.
    pub fn ws_index(&self, pfn: Pfn) -> u32 {
        self.get(pfn)
            .filter(|e| !e.location().is_list())
            .map_or(0, |e| e.u1())
    }

    /// Sets the working-set index of an Active/Transition page.
    pub fn set_ws_index(&mut self, pfn: Pfn, index: u32) {
        if let Some(e) = self.off_list_mut(pfn) {
            e.set_u1(index);
        }
    }

    /// Adds one to the share count of an Active/Transition page; returns the new value.
    pub fn increment_share(&mut self, pfn: Pfn) -> u32 {
        let Some(e) = self.off_list_mut(pfn) else {
            return 0;
        };
        debug_assert!(e.u2() < u32::MAX, "{pfn:?} share count overflow");
        let n = e.u2().saturating_add(1);
        e.set_u2(n);
        n
    }

    /// Subtracts one from the share count; returns the new value. Dropping below
    /// zero is a caller bug (the count stays 0).
    pub fn decrement_share(&mut self, pfn: Pfn) -> u32 {
        let Some(e) = self.off_list_mut(pfn) else {
            return 0;
        };
        debug_assert!(e.u2() > 0, "{pfn:?} share count underflow");
        let n = e.u2().saturating_sub(1);
        e.set_u2(n);
        n
    }

    /// Adds one to the reference count; returns the new value.
    pub fn increment_reference(&mut self, pfn: Pfn) -> u16 {
        let Some(e) = self.get_mut(pfn) else { return 0 };
        debug_assert!(e.reference_count() < u16::MAX, "{pfn:?} reference overflow");
        let n = e.reference_count().saturating_add(1);
        e.set_reference_count(n);
        n
    }

    /// Subtracts one from the reference count; returns the new value (the caller
    /// acts on 0: free, standby or modified list).
    pub fn decrement_reference(&mut self, pfn: Pfn) -> u16 {
        let Some(e) = self.get_mut(pfn) else { return 0 };
        debug_assert!(e.reference_count() > 0, "{pfn:?} reference underflow");
        let n = e.reference_count().saturating_sub(1);
        e.set_reference_count(n);
        n
    }

    /// Test-only: overwrites the raw Flink of a listed page to corrupt the lists.
    #[cfg(test)]
    pub(crate) fn corrupt_flink(&mut self, pfn: Pfn, next: u32) {
        self.pfns[pfn.index()].set_flink(pfn.0, next);
    }

    /// Test-only: overwrites a page's recorded location without relinking it.
    #[cfg(test)]
    pub(crate) fn corrupt_location(&mut self, pfn: Pfn, loc: PageLocation) {
        self.pfns[pfn.index()].set_location(loc);
    }
}

impl std::fmt::Debug for PfnDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PfnDatabase")
            .field("pages", &self.pages())
            .field("counts", &self.counts())
            .finish()
    }
}
