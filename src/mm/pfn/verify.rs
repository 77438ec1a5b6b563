//! Consistency checks over the whole PFN database, and per-location totals.

use super::entry::{NIL, PfnFields};
use super::{LIST_COUNT, PageLocation, PageUse, PfnDatabase, list_location};

/// Number of pages in each location; the totals add up to the number of pages.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PageCounts {
    /// Indexed by `PageLocation as usize` (MMLISTS order).
    pub by_location: [u64; 8],
}

impl PageCounts {
    pub fn get(&self, loc: PageLocation) -> u64 {
        self.by_location[loc as usize]
    }

    /// Sum over all locations: the number of pages in the database.
    pub fn total(&self) -> u64 {
        self.by_location.iter().sum()
    }

    /// Zeroed + free + standby.
    pub fn available(&self) -> u64 {
        self.get(PageLocation::Zeroed)
            + self.get(PageLocation::Free)
            + self.get(PageLocation::Standby)
    }
}

/// At most this many violation lines are listed; the rest are only counted.
const MAX_LINES: usize = 100;

/// Collects violation lines, capped so a badly broken 16 M page database still
/// yields a readable report.
struct Violations {
    lines: Vec<String>,
    dropped: u64,
}

impl Violations {
    fn push(&mut self, line: impl FnOnce() -> String) {
        if self.lines.len() < MAX_LINES {
            self.lines.push(line());
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.lines
                .push(format!("... and {} more violations", self.dropped));
        }
        self.lines
    }
}

impl PfnDatabase {
    /// Pages per location.
    pub fn counts(&self) -> PageCounts {
        let mut counts = PageCounts::default();
        for loc in PageLocation::ALL {
            counts.by_location[loc as usize] = self.list_count(loc);
        }
        counts
    }

    /// Checks every invariant of the database and returns one human-readable line
    /// per violation (empty = consistent):
    /// - each list's forward links and backward links agree, and the head's Blink
    ///   is the last page reached;
    /// - each head's Total equals the number of pages linked on it;
    /// - each linked page records the location of the list it is on, standby pages
    ///   the priority of their sublist, and zeroed/free pages are `Unused`;
    /// - no page is reached twice (on two lists, or a cycle);
    /// - every page recording a list location is linked on one; the Active and
    ///   Transition counters match the pages in those states;
    /// - the per-location totals add up to the number of pages.
    ///
    /// Walks the whole database: O(pages) time plus one bit per page.
    pub fn verify(&self) -> Vec<String> {
        let pages = self.pfns.len();
        let mut out = Violations {
            lines: Vec::new(),
            dropped: 0,
        };
        let mut seen = vec![0u64; pages.div_ceil(64)];
        for index in 0..LIST_COUNT {
            self.verify_list(index, &mut seen, &mut out);
        }

        let (mut active, mut transition) = (0u64, 0u64);
        for (i, e) in self.pfns.iter().enumerate() {
            match e.location() {
                PageLocation::Active => active += 1,
                PageLocation::Transition => transition += 1,
                loc => {
                    if seen[i / 64] & (1 << (i % 64)) == 0 {
                        out.push(|| {
                            format!("page {i:#x} records location {loc} but is on no list")
                        });
                    }
                }
            }
        }
        if active != self.active {
            out.push(|| {
                format!(
                    "active count is {} but {active} pages are active",
                    self.active
                )
            });
        }
        if transition != self.transition {
            out.push(|| {
                format!(
                    "transition count is {} but {transition} pages are in transition",
                    self.transition
                )
            });
        }
        let total = self.counts().total();
        if total != pages as u64 {
            out.push(|| format!("location totals add up to {total}, not {pages} pages"));
        }
        out.finish()
    }

    /// Walks list `index` from its head, checking links and entries.
    fn verify_list(&self, index: usize, seen: &mut [u64], out: &mut Violations) {
        let (loc, priority) = list_location(index);
        let name = match priority {
            Some(p) => format!("standby[{p}]"),
            None => loc.name().to_string(),
        };
        let head = self.head(index);
        let (mut prev, mut cur, mut linked) = (NIL, head.flink, 0u64);
        while cur != NIL {
            let i = cur as usize;
            let Some(e) = self.pfns.get(i) else {
                out.push(|| {
                    format!("{name} list: link after {prev:#x} is {cur:#x}, beyond the database")
                });
                break;
            };
            if seen[i / 64] & (1 << (i % 64)) != 0 {
                out.push(|| {
                    format!("{name} list: page {cur:#x} reached twice (two lists or a cycle)")
                });
                break;
            }
            seen[i / 64] |= 1 << (i % 64);
            linked += 1;
            if e.blink(cur) != prev {
                out.push(|| {
                    format!(
                        "{name} list: page {cur:#x} has Blink {:#x} but follows {prev:#x}",
                        e.blink(cur)
                    )
                });
            }
            if e.location() != loc {
                out.push(|| {
                    format!(
                        "{name} list: page {cur:#x} records location {}",
                        e.location()
                    )
                });
            }
            if let Some(p) = priority
                && e.priority() != p
            {
                out.push(|| format!("{name} list: page {cur:#x} has priority {}", e.priority()));
            }
            if matches!(loc, PageLocation::Zeroed | PageLocation::Free)
                && e.page_use() != PageUse::Unused
            {
                out.push(|| format!("{name} list: page {cur:#x} is in use as {}", e.page_use()));
            }
            prev = cur;
            cur = e.flink(cur);
        }
        if head.blink != prev {
            out.push(|| {
                format!(
                    "{name} list: head Blink is {:#x} but the last page is {prev:#x}",
                    head.blink
                )
            });
        }
        if head.total != linked {
            out.push(|| {
                format!(
                    "{name} list: head Total is {} but {linked} pages are linked",
                    head.total
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::types::Pfn;

    #[test]
    fn fresh_database_verifies_and_counts_add_up() {
        let db = PfnDatabase::new(1000);
        assert!(db.verify().is_empty());
        let c = db.counts();
        assert_eq!(
            (c.get(PageLocation::Zeroed), c.total(), c.available()),
            (1000, 1000, 1000)
        );
    }

    #[test]
    fn catches_a_corrupted_forward_link() {
        let mut db = PfnDatabase::new(10);
        db.corrupt_flink(Pfn(3), 5); // skips page 4
        let v = db.verify();
        assert!(
            v.iter()
                .any(|l| l.contains("page 0x5 has Blink 0x4 but follows 0x3")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|l| l.contains("page 0x4 records location zeroed but is on no list")),
            "{v:?}"
        );
        assert!(v.iter().any(|l| l.contains("Total is 10 but 9")), "{v:?}");
    }

    #[test]
    fn catches_links_out_of_range_and_cycles() {
        let mut db = PfnDatabase::new(10);
        db.corrupt_flink(Pfn(9), 77);
        assert!(
            db.verify()
                .iter()
                .any(|l| l.contains("beyond the database"))
        );
        let mut db = PfnDatabase::new(10);
        db.corrupt_flink(Pfn(6), 2);
        assert!(db.verify().iter().any(|l| l.contains("reached twice")));
        // Iteration still terminates on the corrupted list.
        assert!(db.iter_list(PageLocation::Zeroed).count() <= 10);
    }

    #[test]
    fn catches_a_wrong_recorded_location() {
        let mut db = PfnDatabase::new(4);
        db.corrupt_location(Pfn(2), PageLocation::Modified);
        let v = db.verify();
        assert!(
            v.iter()
                .any(|l| l.contains("zeroed list: page 0x2 records location modified")),
            "{v:?}"
        );
        let mut db = PfnDatabase::new(4);
        db.corrupt_location(Pfn(2), PageLocation::Active);
        assert!(
            db.verify()
                .iter()
                .any(|l| l.contains("active count is 0 but 1"))
        );
    }

    #[test]
    fn report_is_capped() {
        let mut db = PfnDatabase::new(1000);
        for p in 0..1000 {
            db.corrupt_location(Pfn(p), PageLocation::Bad);
        }
        let v = db.verify();
        assert_eq!(v.len(), MAX_LINES + 1);
        assert!(v.last().unwrap().starts_with("... and"));
    }
}
