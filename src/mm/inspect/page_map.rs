//! The snapshot behind `pfn/map.png` (RAMMap's Physical Pages picture): one
//! byte per physical page, its location (NT's MMLISTS) and its use. A 64 GB
//! machine has 16 M pages, so the snapshot is 16 MB, not a row struct per page,
//! and it is filled in one pass over the PFN database.

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::pfn::{PageLocation, PageUse};

/// Pages read per hold of the PFN lock: long enough to make the pass cheap,
/// short enough that a fault waiting for the lock is not stalled for long
/// (about 64 K entries, 2 MB of the database, well under a millisecond).
const CHUNK: u32 = 1 << 16;

/// Every physical page's location and use, one byte each: bits 0–2 the
/// location (its MMLISTS number), bits 3–6 the use (its `PageUse` code).
///
/// Each chunk of `CHUNK` pages is one instant under the PFN lock; the whole
/// is not (like `pfn/db`): a page moving from one list to another between two
/// chunks can be counted on neither or both. On a quiet machine (manual clock,
/// nothing faulting) the counts equal the lists' totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageMap {
    bytes: Vec<u8>,
}

const USE_SHIFT: u32 = 3;

fn pack(location: PageLocation, use_: PageUse) -> u8 {
    location as u8 | (use_ as u8) << USE_SHIFT
}

impl PageMap {
    /// Physical pages in the map.
    pub fn pages(&self) -> usize {
        self.bytes.len()
    }

    /// The packed bytes, one per page in PFN order (see `location_of`,
    /// `use_of`).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The location a packed byte holds.
    pub fn location_of(byte: u8) -> PageLocation {
        PageLocation::ALL[(byte & 7) as usize]
    }

    /// The use a packed byte holds, as its `PageUse` code (0–13): a small
    /// number the picture can index a palette with.
    pub fn use_code_of(byte: u8) -> u8 {
        byte >> USE_SHIFT
    }

    /// Pages in each location, in MMLISTS order.
    pub fn location_counts(&self) -> [u64; 8] {
        let mut counts = [0u64; 8];
        for b in &self.bytes {
            counts[(b & 7) as usize] += 1;
        }
        counts
    }

    /// Pages of each use, by `PageUse` code (0 = Unused .. 13 = LargePage).
    pub fn use_counts(&self) -> [u64; 16] {
        let mut counts = [0u64; 16];
        for b in &self.bytes {
            counts[Self::use_code_of(*b) as usize & 15] += 1;
        }
        counts
    }
}

impl Mm {
    /// `pfn/map.png`'s data: every page's location and use, read under the
    /// PFN lock `CHUNK` pages at a time. STATUS_INSUFFICIENT_RESOURCES if the
    /// host cannot lend a byte per page (a machine of terabytes).
    pub fn page_map(&self) -> MmResult<PageMap> {
        let pages = self.machine.phys.pages();
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(pages as usize).map_err(|_| {
            crate::mm_err!(
                INSUFFICIENT_RESOURCES,
                "no host memory for a {pages}-page map of physical memory"
            )
        })?;
        let mut start = 0u32;
        while start < pages {
            let end = start.saturating_add(CHUNK).min(pages);
            let st = self.machine.pfn_lock();
            bytes.extend(st.db.states(start..end).map(|(l, u)| pack(l, u)));
            drop(st);
            start = end;
        }
        Ok(PageMap { bytes })
    }
}
