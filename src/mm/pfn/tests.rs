//! Tests of the PFN database as a whole: NT's list rules and allocation order,
//! state changes, misuse handling, and a randomized run against a simple model.

use super::*;
use crate::mm::base::types::{Mmpte, PteAddress};
use std::collections::VecDeque;
use std::time::Instant;

use PageLocation::*;

fn pfns(v: &[u32]) -> Vec<Pfn> {
    v.iter().map(|&p| Pfn(p)).collect()
}

fn list(db: &PfnDatabase, loc: PageLocation) -> Vec<Pfn> {
    db.iter_list(loc).collect()
}

/// Takes pages 0..n off the zeroed list and makes them Active.
fn activate_all(db: &mut PfnDatabase, n: u32) {
    for p in 0..n {
        assert_eq!(db.unlink(Pfn(p)), Some(Zeroed));
        assert!(db.set_location(Pfn(p), Active));
    }
}

#[test]
fn new_database_is_all_zeroed_in_pfn_order() {
    let db = PfnDatabase::new(6);
    assert_eq!(list(&db, Zeroed), pfns(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(db.list_count(Zeroed), 6);
    assert_eq!(db.available(), 6);
    let first = db.entry(Pfn(0)).unwrap();
    assert_eq!((first.flink, first.blink), (Some(Pfn(1)), None));
    let last = db.entry(Pfn(5)).unwrap();
    assert_eq!((last.flink, last.blink), (None, Some(Pfn(4))));
    assert_eq!(
        (last.use_, last.priority, last.owner),
        (PageUse::Unused, 3, 0)
    );
    assert!(db.verify().is_empty());
    let empty = PfnDatabase::new(0);
    assert!(empty.verify().is_empty());
    assert_eq!(empty.iter_list(Zeroed).count(), 0);
}

fn db_entry_sample() -> entry::MmPfn {
    [0; 4]
}

#[test]
fn entry_costs_at_most_32_bytes() {
    const { assert!(PFN_ENTRY_BYTES <= 32) };
    assert_eq!(std::mem::size_of_val(&db_entry_sample()), PFN_ENTRY_BYTES);
    println!("PFN entry: {PFN_ENTRY_BYTES} bytes per page");
}

#[test]
fn zeroed_inserts_at_head_other_lists_at_tail() {
    let mut db = PfnDatabase::new(6);
    activate_all(&mut db, 6);
    for p in [0, 1, 2] {
        assert!(db.insert(Pfn(p), Zeroed));
    }
    for p in [3, 4, 5] {
        assert!(db.insert(Pfn(p), Free));
    }
    assert_eq!(list(&db, Zeroed), pfns(&[2, 1, 0]));
    assert_eq!(list(&db, Free), pfns(&[3, 4, 5]));
    assert!(db.verify().is_empty());
}

#[test]
fn allocation_order_follows_nt() {
    let mut db = PfnDatabase::new(6);
    activate_all(&mut db, 6);
    db.insert(Pfn(0), Zeroed);
    db.insert(Pfn(1), Free);
    db.set_priority(Pfn(2), 5);
    db.insert(Pfn(2), Standby);
    db.insert(Pfn(3), Zeroed);
    db.insert(Pfn(4), Free);
    // Need zeroed: zeroed list (newest first), then free, then standby.
    assert_eq!(db.remove_any(true), Some((Pfn(3), Zeroed)));
    assert_eq!(db.remove_any(true), Some((Pfn(0), Zeroed)));
    assert_eq!(db.remove_any(true), Some((Pfn(1), Free)));
    // Don't need zeroed: free first.
    db.insert(Pfn(0), Zeroed);
    assert_eq!(db.remove_any(false), Some((Pfn(4), Free)));
    assert_eq!(db.remove_any(false), Some((Pfn(0), Zeroed)));
    assert_eq!(db.remove_any(false), Some((Pfn(2), Standby)));
    assert_eq!(db.remove_any(false), None);
    assert_eq!(db.remove_any(true), None);
    assert_eq!(db.list_count(Transition), 5);
    assert!(db.verify().is_empty());
}

#[test]
fn standby_repurposes_priority_zero_first_oldest_first() {
    let mut db = PfnDatabase::new(8);
    activate_all(&mut db, 8);
    for (p, prio) in [(0, 3), (1, 0), (2, 7), (3, 0), (4, 3)] {
        db.set_priority(Pfn(p), prio);
        db.set_page_use(Pfn(p), PageUse::MappedFile);
        assert!(db.insert(Pfn(p), Standby));
    }
    db.set_priority(Pfn(5), 3);
    assert!(db.insert_standby_front(Pfn(5)));
    assert_eq!(list(&db, Standby), pfns(&[1, 3, 5, 0, 4, 2]));
    assert_eq!(db.iter_standby(3).collect::<Vec<_>>(), pfns(&[5, 0, 4]));
    assert_eq!(
        (
            db.standby_count(0),
            db.standby_count(3),
            db.standby_count(7)
        ),
        (2, 3, 1)
    );
    assert_eq!(db.list_count(Standby), 6);
    assert_eq!(db.standby_count(8), 0);
    // Standby pages keep their use, as RAMMap shows.
    assert_eq!(db.page_use(Pfn(0)), PageUse::MappedFile);
    let order: Vec<_> = std::iter::from_fn(|| db.remove_any(false))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(order, pfns(&[1, 3, 5, 0, 4, 2]));
}

#[test]
fn repurposed_standby_page_keeps_what_the_caller_needs() {
    let mut db = PfnDatabase::new(2);
    activate_all(&mut db, 2);
    db.set_pte_address(Pfn(1), PteAddress(0xC000_1234));
    db.set_original_pte(Pfn(1), Mmpte(0x80));
    db.set_owner(Pfn(1), 7);
    db.set_share_count(Pfn(1), 1);
    db.set_ws_index(Pfn(1), 9);
    assert_eq!(db.decrement_share(Pfn(1)), 0);
    db.insert(Pfn(1), Standby);
    let (pfn, from) = db.remove_any(true).unwrap();
    assert_eq!((pfn, from), (Pfn(1), Standby));
    let e = db.entry(pfn).unwrap();
    assert_eq!(
        (e.pte_address, e.original_pte, e.owner),
        (PteAddress(0xC000_1234), Mmpte(0x80), 7)
    );
    assert_eq!((e.location, e.share_count, e.ws_index), (Transition, 0, 0));
}

#[test]
fn unlink_from_head_middle_and_tail() {
    let mut db = PfnDatabase::new(5);
    activate_all(&mut db, 5);
    for p in 0..5 {
        db.insert(Pfn(p), Modified);
    }
    assert_eq!(db.unlink(Pfn(2)), Some(Modified));
    assert_eq!(list(&db, Modified), pfns(&[0, 1, 3, 4]));
    assert_eq!(db.unlink(Pfn(0)), Some(Modified));
    assert_eq!(db.unlink(Pfn(4)), Some(Modified));
    assert_eq!(list(&db, Modified), pfns(&[1, 3]));
    assert_eq!(db.unlink(Pfn(4)), None, "already off the list");
    assert_eq!(db.entry(Pfn(1)).unwrap().blink, None);
    assert_eq!(db.entry(Pfn(3)).unwrap().flink, None);
    assert_eq!(db.unlink(Pfn(1)), Some(Modified));
    assert_eq!(db.unlink(Pfn(3)), Some(Modified));
    assert_eq!(db.list_count(Modified), 0);
    assert_eq!(db.list_count(Transition), 5);
    assert!(db.verify().is_empty());
}

#[test]
fn active_page_counters() {
    let mut db = PfnDatabase::new(3);
    activate_all(&mut db, 1);
    let p = Pfn(0);
    assert_eq!(db.increment_share(p), 1);
    assert_eq!(db.increment_share(p), 2);
    assert_eq!(db.decrement_share(p), 1);
    assert_eq!(db.increment_reference(p), 1);
    assert_eq!(db.decrement_reference(p), 0);
    db.set_ws_index(p, 42);
    db.set_modified(p, true);
    db.set_prototype(p, true);
    db.set_read_in_progress(p, true);
    db.set_in_page_error(p, true);
    db.set_deleted(p, true);
    db.set_page_use(p, PageUse::Shareable);
    let e = db.entry(p).unwrap();
    assert_eq!((e.share_count, e.ws_index, e.location), (1, 42, Active));
    assert!(e.modified && e.prototype && e.read_in_progress && e.in_page_error && e.deleted);
    assert!(!e.write_in_progress);
    assert_eq!(e.use_, PageUse::Shareable);
    db.set_write_in_progress(p, true);
    assert!(db.write_in_progress(p) && db.modified(p));
    // Free: the page is no longer in use by anyone.
    db.set_share_count(p, 0);
    assert!(db.insert(p, Free));
    assert_eq!((db.page_use(p), db.owner(p)), (PageUse::Unused, 0));
    assert_eq!(
        (db.share_count(p), db.ws_index(p)),
        (0, 0),
        "u1/u2 are links now"
    );
    assert_eq!(db.counts().total(), 3);
}

#[test]
fn set_priority_moves_a_standby_page() {
    let mut db = PfnDatabase::new(3);
    activate_all(&mut db, 3);
    for p in 0..3 {
        db.insert(Pfn(p), Standby);
    }
    db.set_priority(Pfn(0), 1);
    assert_eq!(list(&db, Standby), pfns(&[0, 1, 2]));
    db.set_priority(Pfn(1), 0);
    assert_eq!(list(&db, Standby), pfns(&[1, 0, 2]));
    assert_eq!(db.priority(Pfn(1)), 0);
    assert!(db.verify().is_empty());
}

#[test]
fn mark_bad_from_any_state() {
    let mut db = PfnDatabase::new(4);
    assert!(db.mark_bad(Pfn(2)));
    assert!(!db.mark_bad(Pfn(2)), "already bad");
    activate_all(&mut db, 1);
    assert!(db.mark_bad(Pfn(0)));
    assert_eq!(list(&db, Bad), pfns(&[2, 0]));
    assert_eq!(list(&db, Zeroed), pfns(&[1, 3]));
    assert_eq!(db.available(), 2);
    assert!(db.verify().is_empty());
}

#[test]
fn outside_pfns_are_answered_not_panicked() {
    let db = PfnDatabase::new(4);
    assert!(!db.contains(Pfn(4)));
    assert_eq!(db.entry(Pfn(4)), None);
    assert_eq!(db.location(Pfn(u32::MAX)), None);
    assert_eq!(db.iter_list(Active).count(), 0);
    assert_eq!(db.iter_standby(200).count(), 0);
}

// Misuse is a caller bug: debug builds assert; release builds change nothing.
#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "cannot insert"))]
fn inserting_a_listed_page_is_a_bug() {
    let mut db = PfnDatabase::new(4);
    assert!(!db.insert(Pfn(1), Free));
    assert!(db.verify().is_empty());
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "is on the zeroed list"))]
fn share_count_of_a_listed_page_is_a_bug() {
    let mut db = PfnDatabase::new(4);
    db.set_share_count(Pfn(1), 5);
    assert!(db.verify().is_empty());
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "beyond the PFN database"))]
fn mutating_a_pfn_past_the_end_is_a_bug() {
    let mut db = PfnDatabase::new(4);
    db.set_pte_address(Pfn(9), PteAddress(1));
    assert!(!db.insert(Pfn(9), Free));
    assert_eq!(db.unlink(Pfn(9)), None);
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "use insert/unlink"))]
fn set_location_to_a_list_is_a_bug() {
    let mut db = PfnDatabase::new(4);
    activate_all(&mut db, 1);
    assert!(!db.set_location(Pfn(0), Free));
    assert!(db.verify().is_empty());
}

#[test]
fn sixteen_million_pages_create_quickly() {
    let start = Instant::now();
    let mut db = PfnDatabase::new(16 << 20);
    println!("PfnDatabase::new(16M pages) took {:?}", start.elapsed());
    assert_eq!(db.list_count(Zeroed), 16 << 20);
    let (pfn, from) = db.remove_any(false).unwrap();
    assert_eq!((pfn, from), (Pfn(0), Zeroed));
    assert_eq!(db.unlink(Pfn((16 << 20) - 1)), Some(Zeroed));
    assert_eq!(db.iter_list(Zeroed).last(), Some(Pfn((16 << 20) - 2)));
    assert_eq!(db.counts().total(), 16 << 20);
}

/// xorshift64: a tiny deterministic PRNG for the randomized test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The model: one deque per list head (same indexes as the database).
struct Model {
    lists: Vec<VecDeque<u32>>,
}

impl Model {
    fn remove(&mut self, pfn: u32) -> bool {
        for l in &mut self.lists {
            if let Some(i) = l.iter().position(|&p| p == pfn) {
                l.remove(i);
                return true;
            }
        }
        false
    }
    fn pages(&self, loc: PageLocation) -> Vec<Pfn> {
        let range = match loc {
            Standby => STANDBY_BASE..LIST_COUNT,
            _ => list_index(loc, 0).map_or(0..0, |i| i..i + 1),
        };
        range
            .flat_map(|i| self.lists[i].iter().map(|&p| Pfn(p)))
            .collect()
    }
}

#[test]
fn randomized_operations_match_a_model() {
    const PAGES: u32 = 300;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut db = PfnDatabase::new(PAGES);
    let mut model = Model {
        lists: vec![VecDeque::new(); LIST_COUNT],
    };
    model.lists[0].extend(0..PAGES);
    let targets = [Zeroed, Free, Standby, Modified, ModifiedNoWrite];
    for batch in 0..60 {
        for _ in 0..100 {
            let pfn = Pfn(rng.below(PAGES as u64) as u32);
            match rng.below(100) {
                0..30 => {
                    let need_zeroed = rng.below(2) == 0;
                    let order = if need_zeroed { [0, 1] } else { [1, 0] };
                    let expected =
                        order
                            .into_iter()
                            .chain(STANDBY_BASE..LIST_COUNT)
                            .find_map(|i| {
                                model.lists[i]
                                    .pop_front()
                                    .map(|p| (Pfn(p), list_location(i).0))
                            });
                    let got = db.remove_any(need_zeroed);
                    assert_eq!(got, expected);
                    if let Some((p, _)) = got {
                        assert!(db.set_location(p, Active));
                        db.set_share_count(p, 1);
                        db.set_page_use(p, PageUse::ProcessPrivate);
                        db.set_owner(p, rng.below(50) as u16 + 1);
                    }
                }
                30..60 if !db.location(pfn).unwrap().is_list() => {
                    let loc = targets[rng.below(5) as usize];
                    db.set_share_count(pfn, 0);
                    if loc == Standby {
                        db.set_priority(pfn, rng.below(8) as u8);
                    }
                    let index = list_index(loc, db.priority(pfn)).unwrap();
                    if loc == Standby && rng.below(4) == 0 {
                        assert!(db.insert_standby_front(pfn));
                        model.lists[index].push_front(pfn.0);
                    } else {
                        assert!(db.insert(pfn, loc));
                        if loc == Zeroed {
                            model.lists[index].push_front(pfn.0);
                        } else {
                            model.lists[index].push_back(pfn.0);
                        }
                    }
                }
                60..75 => {
                    let was_listed = model.remove(pfn.0);
                    assert_eq!(db.unlink(pfn).is_some(), was_listed);
                    if rng.below(2) == 0 {
                        assert!(db.set_location(pfn, Active));
                    }
                }
                75..85 => {
                    let prio = rng.below(8) as u8;
                    if db.location(pfn) == Some(Standby) && db.priority(pfn) != prio {
                        model.remove(pfn.0);
                        model.lists[STANDBY_BASE + prio as usize].push_back(pfn.0);
                    }
                    db.set_priority(pfn, prio);
                }
                85..97 => {
                    let loc = targets[rng.below(5) as usize];
                    let expected = model.pages(loc).first().copied();
                    if let Some(p) = expected {
                        model.remove(p.0);
                    }
                    assert_eq!(db.remove_head(loc), expected);
                }
                97 if rng.below(10) == 0 && db.location(pfn) != Some(Bad) => {
                    model.remove(pfn.0);
                    model.lists[4].push_back(pfn.0);
                    assert!(db.mark_bad(pfn));
                }
                _ => {}
            }
        }
        let violations = db.verify();
        assert!(violations.is_empty(), "batch {batch}: {violations:#?}");
        for loc in PageLocation::ALL.into_iter().filter(|l| l.is_list()) {
            assert_eq!(
                list(&db, loc),
                model.pages(loc),
                "batch {batch}: {loc} list"
            );
            assert_eq!(db.list_count(loc), model.pages(loc).len() as u64);
        }
        assert_eq!(db.counts().total(), PAGES as u64);
        assert_eq!(db.counts().available(), db.available());
    }
}
