//! The page lists: insertion, removal and allocation in NT's order.
//!
//! Rules (WRK): zeroed pages are inserted at the head, every other list at the
//! tail, so the oldest page is at the head. Standby is eight sublists by page
//! priority; repurposing takes priority 0 first, oldest first. All operations are
//! O(1) (except `remove_*`, which may skip up to 7 empty standby sublists).

use super::entry::{NIL, PfnFields};
use super::{LIST_COUNT, ListHead, PageLocation, PfnDatabase, STANDBY_BASE, list_index};
use crate::mm::base::types::Pfn;

/// Lists searched by `remove_any`, in NT's allocation order.
const NEED_ZEROED_ORDER: [PageLocation; 3] = [
    PageLocation::Zeroed,
    PageLocation::Free,
    PageLocation::Standby,
];
const ANY_PAGE_ORDER: [PageLocation; 3] = [
    PageLocation::Free,
    PageLocation::Zeroed,
    PageLocation::Standby,
];

impl PfnDatabase {
    /// Appends `pfn` at the tail of list `index` (its entry's u1/u2 are overwritten).
    fn link_tail(&mut self, index: usize, pfn: u32) {
        let old_tail = self.lists[index].blink;
        let e = &mut self.pfns[pfn as usize];
        e.set_flink(pfn, NIL);
        e.set_blink(pfn, old_tail);
        if old_tail == NIL {
            self.lists[index].flink = pfn;
        } else {
            self.pfns[old_tail as usize].set_flink(old_tail, pfn);
        }
        self.lists[index].blink = pfn;
        self.lists[index].total += 1;
    }

    /// Pushes `pfn` at the head of list `index`.
    fn link_head(&mut self, index: usize, pfn: u32) {
        let old_head = self.lists[index].flink;
        let e = &mut self.pfns[pfn as usize];
        e.set_flink(pfn, old_head);
        e.set_blink(pfn, NIL);
        if old_head == NIL {
            self.lists[index].blink = pfn;
        } else {
            self.pfns[old_head as usize].set_blink(old_head, pfn);
        }
        self.lists[index].flink = pfn;
        self.lists[index].total += 1;
    }

    /// Takes `pfn` off list `index`, where it must be; its u1/u2 keep stale links.
    fn unlink_from(&mut self, index: usize, pfn: u32) {
        let e = &self.pfns[pfn as usize];
        let (prev, next) = (e.blink(pfn), e.flink(pfn));
        if prev == NIL {
            self.lists[index].flink = next;
        } else {
            self.pfns[prev as usize].set_flink(prev, next);
        }
        if next == NIL {
            self.lists[index].blink = prev;
        } else {
            self.pfns[next as usize].set_blink(next, prev);
        }
        self.lists[index].total -= 1;
    }

    /// The counter of an off-list state.
    fn off_list_total(&mut self, loc: PageLocation) -> &mut u64 {
        if loc == PageLocation::Active {
            &mut self.active
        } else {
            &mut self.transition
        }
    }

    /// Checks that `pfn` exists and is on no list, and that `loc` is a list; the
    /// index of the list to insert into.
    fn insert_target(&self, pfn: Pfn, loc: PageLocation) -> Option<usize> {
        let e = self.get(pfn)?;
        let ok = !e.location().is_list() && loc.is_list();
        debug_assert!(ok, "cannot insert {pfn:?} ({}) into {loc}", e.location());
        if !ok {
            return None;
        }
        list_index(loc, e.priority())
    }

    /// Puts an Active/Transition page on list `loc`: zeroed at the head, any other
    /// list at the tail; standby pages go to the sublist of their priority.
    /// Zeroed, free and bad pages become `Unused` with no owner; standby and
    /// modified pages keep their use and owner (RAMMap shows them that way).
    pub fn insert(&mut self, pfn: Pfn, loc: PageLocation) -> bool {
        let Some(index) = self.insert_target(pfn, loc) else {
            return false;
        };
        self.leave_off_list(pfn, loc);
        if loc == PageLocation::Zeroed {
            self.link_head(index, pfn.0);
        } else {
            self.link_tail(index, pfn.0);
        }
        true
    }

    /// Puts an Active/Transition page at the *front* of its standby sublist, to
    /// be repurposed first: the cache manager saw only sequential access to it.
    pub fn insert_standby_front(&mut self, pfn: Pfn) -> bool {
        let Some(index) = self.insert_target(pfn, PageLocation::Standby) else {
            return false;
        };
        self.leave_off_list(pfn, PageLocation::Standby);
        self.link_head(index, pfn.0);
        true
    }

    /// Bookkeeping for a page leaving Active/Transition for list `loc`.
    fn leave_off_list(&mut self, pfn: Pfn, loc: PageLocation) {
        let e = &mut self.pfns[pfn.index()];
        let old = e.location();
        e.set_location(loc);
        if matches!(
            loc,
            PageLocation::Zeroed | PageLocation::Free | PageLocation::Bad
        ) {
            e.set_page_use(super::PageUse::Unused);
            e.set_owner(0);
        }
        *self.off_list_total(old) -= 1;
    }

    /// Takes `pfn` off whatever list it is on and leaves it in Transition (share
    /// count and working-set index 0). Returns the list it was on, or `None` if it
    /// was on no list (Active/Transition: nothing changes).
    pub fn unlink(&mut self, pfn: Pfn) -> Option<PageLocation> {
        let e = self.get(pfn)?;
        let old = e.location();
        let index = list_index(old, e.priority())?;
        self.unlink_from(index, pfn.0);
        let e = &mut self.pfns[pfn.index()];
        e.set_location(PageLocation::Transition);
        e.set_u1(0);
        e.set_u2(0);
        self.transition += 1;
        Some(old)
    }

    /// Moves a page that is on no list between Active and Transition. `loc` must be
    /// Active or Transition (use `insert` for lists).
    pub fn set_location(&mut self, pfn: Pfn, loc: PageLocation) -> bool {
        let Some(e) = self.get(pfn) else { return false };
        let old = e.location();
        let ok = !old.is_list() && !loc.is_list();
        debug_assert!(
            ok,
            "set_location {pfn:?} from {old} to {loc}: use insert/unlink"
        );
        if !ok {
            return false;
        }
        *self.off_list_total(old) -= 1;
        *self.off_list_total(loc) += 1;
        self.pfns[pfn.index()].set_location(loc);
        true
    }

    /// Sets the standby priority (0–7). A page on standby moves to the tail of its
    /// new sublist, so sublist membership always matches the priority.
    pub fn set_priority(&mut self, pfn: Pfn, priority: u8) {
        debug_assert!(priority <= 7, "standby priority {priority} is not 0-7");
        let Some(e) = self.get(pfn) else { return };
        if priority > 7 || e.priority() == priority {
            return;
        }
        let loc = e.location();
        let old_index = list_index(loc, e.priority());
        if loc == PageLocation::Standby
            && let Some(index) = old_index
        {
            self.unlink_from(index, pfn.0);
            self.pfns[pfn.index()].set_priority(priority);
            self.link_tail(STANDBY_BASE + priority as usize, pfn.0);
        } else {
            self.pfns[pfn.index()].set_priority(priority);
        }
    }

    /// Moves `pfn` to the bad list from wherever it is. False if it already is bad.
    pub fn mark_bad(&mut self, pfn: Pfn) -> bool {
        match self.location(pfn) {
            None => {
                debug_assert!(false, "{pfn:?} is beyond the PFN database");
                false
            }
            Some(PageLocation::Bad) => false,
            Some(_) => {
                self.unlink(pfn);
                self.insert(pfn, PageLocation::Bad)
            }
        }
    }

    /// Takes the head page of list `index` off the list (into Transition).
    fn remove_head_of(&mut self, index: usize) -> Option<Pfn> {
        let head = self.lists[index].flink;
        if head == NIL {
            return None;
        }
        self.unlink(Pfn(head));
        Some(Pfn(head))
    }

    /// Takes the head (oldest; for zeroed, the newest) page of list `loc` off it,
    /// leaving it in Transition. Standby: lowest priority first. `None` if the list
    /// is empty or `loc` is not a list.
    pub fn remove_head(&mut self, loc: PageLocation) -> Option<Pfn> {
        let range = list_range(loc);
        range
            .into_iter()
            .find_map(|index| self.remove_head_of(index))
    }

    /// Allocates a page in NT's order, leaving it in Transition for the caller to
    /// make Active. `need_zeroed`: zeroed, free, standby; otherwise free, zeroed,
    /// standby. Returns the list it came from: from free (when zeroed was needed)
    /// the caller must zero the page; from standby the caller must first restore
    /// the old owner's PTE (at `pte_address`) from `original_pte`, both still in
    /// the entry.
    pub fn remove_any(&mut self, need_zeroed: bool) -> Option<(Pfn, PageLocation)> {
        let order = if need_zeroed {
            NEED_ZEROED_ORDER
        } else {
            ANY_PAGE_ORDER
        };
        order
            .into_iter()
            .find_map(|loc| self.remove_head(loc).map(|pfn| (pfn, loc)))
    }

    /// Pages at `loc`: list length (standby: all sublists), or the number of pages
    /// in the Active or Transition state.
    pub fn list_count(&self, loc: PageLocation) -> u64 {
        match loc {
            PageLocation::Active => self.active,
            PageLocation::Transition => self.transition,
            _ => list_range(loc).map(|i| self.lists[i].total).sum(),
        }
    }

    /// Length of standby sublist `priority` (0 for priorities above 7).
    pub fn standby_count(&self, priority: u8) -> u64 {
        list_index(PageLocation::Standby, priority)
            .filter(|_| priority <= 7)
            .map_or(0, |i| self.lists[i].total)
    }

    /// Available pages: zeroed + free + standby.
    pub fn available(&self) -> u64 {
        [
            PageLocation::Zeroed,
            PageLocation::Free,
            PageLocation::Standby,
        ]
        .into_iter()
        .map(|loc| self.list_count(loc))
        .sum()
    }

    /// The pages on list `loc`, head first. Standby yields sublist 0 head to tail,
    /// then sublist 1, ... 7: the order in which pages are repurposed. Active and
    /// Transition are not lists and yield nothing.
    pub fn iter_list(&self, loc: PageLocation) -> ListIter<'_> {
        ListIter::new(self, list_range(loc))
    }

    /// The pages on standby sublist `priority`, head (oldest) first.
    pub fn iter_standby(&self, priority: u8) -> ListIter<'_> {
        let start = STANDBY_BASE + priority.min(8) as usize;
        ListIter::new(self, start..(start + 1).min(LIST_COUNT))
    }

    /// The pages of list `loc` after `pfn`, head-to-tail order, for a
    /// listing read in chunks (`pfn/lists/NAME`): `None` if `pfn` is no longer
    /// on that list (the reader then resumes by position).
    pub fn iter_list_after(&self, loc: PageLocation, pfn: Pfn) -> Option<ListIter<'_>> {
        self.iter_after(list_range(loc), pfn)
    }

    /// The pages of standby sublist `priority` after `pfn`, as `iter_list_after`.
    pub fn iter_standby_after(&self, priority: u8, pfn: Pfn) -> Option<ListIter<'_>> {
        let start = STANDBY_BASE + priority.min(8) as usize;
        self.iter_after(start..(start + 1).min(LIST_COUNT), pfn)
    }

    /// Continues a walk of the lists `lists` after `pfn`, if it is on one of them.
    fn iter_after(&self, lists: std::ops::Range<usize>, pfn: Pfn) -> Option<ListIter<'_>> {
        let e = self.pfns.get(pfn.0 as usize)?;
        let index = list_index(e.location(), e.priority())?;
        if !lists.contains(&index) {
            return None;
        }
        Some(ListIter {
            db: self,
            lists: index + 1..lists.end,
            next: e.flink(pfn.0),
            // A bound on the links followed (as `new`'s), not an exact count.
            left: self.lists[index].total,
        })
    }

    /// A copy of list head `index` (for iteration and verification).
    pub(super) fn head(&self, index: usize) -> ListHead {
        self.lists[index]
    }
}

/// Head indexes that make up location `loc` (empty for Active/Transition).
fn list_range(loc: PageLocation) -> std::ops::Range<usize> {
    match (loc, list_index(loc, 0)) {
        (PageLocation::Standby, _) => STANDBY_BASE..LIST_COUNT,
        (_, Some(i)) => i..i + 1,
        (_, None) => 0..0,
    }
}

/// Iterator over the pages of one location's list(s), head first.
///
/// Follows at most `Total` links per list, so it ends even on a corrupted database.
pub struct ListIter<'a> {
    db: &'a PfnDatabase,
    lists: std::ops::Range<usize>,
    next: u32,
    left: u64,
}

impl<'a> ListIter<'a> {
    fn new(db: &'a PfnDatabase, lists: std::ops::Range<usize>) -> Self {
        ListIter {
            db,
            lists,
            next: NIL,
            left: 0,
        }
    }
}

impl Iterator for ListIter<'_> {
    type Item = Pfn;

    fn next(&mut self) -> Option<Pfn> {
        loop {
            if self.next == NIL || self.left == 0 {
                let head = self.db.head(self.lists.next()?);
                self.next = head.flink;
                self.left = head.total;
                continue;
            }
            let pfn = self.next;
            let Some(e) = self.db.pfns.get(pfn as usize) else {
                // A corrupted link: give up on this list, go on with the next.
                self.next = NIL;
                continue;
            };
            self.left -= 1;
            self.next = e.flink(pfn);
            return Some(Pfn(pfn));
        }
    }
}
