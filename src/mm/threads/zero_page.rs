//! The zero page thread (MmZeroPageThread, priority 0): moves pages from the free
//! list to the zeroed list, zeroing them, so demand-zero faults find zeroed pages.
//! Like ReactOS's zeropage.c it works in batches: take pages under the PFN lock,
//! zero them, put them on the zeroed list. mmfs zeroes while holding the lock
//! (a batch is 256 KB of memset), so no page is ever seen half-moved.

use crate::mm::base::counters::add;
use crate::mm::machine::Machine;
use crate::mm::pfn::PageLocation;

/// Pages zeroed per hold of the PFN lock.
const BATCH: usize = 64;

/// One pass: zero free pages in batches until the free list is empty.
pub(super) fn pass(m: &Machine) -> u64 {
    let mut total = 0;
    loop {
        let mut st = m.pfn_lock();
        let mut n = 0;
        while n < BATCH {
            let Some(pfn) = st.db.remove_head(PageLocation::Free) else {
                break;
            };
            m.phys.zero(pfn);
            st.db.insert(pfn, PageLocation::Zeroed);
            n += 1;
        }
        drop(st);
        add(&m.counters.pages_zeroed, n as u64);
        total += n as u64;
        if n < BATCH {
            return total;
        }
    }
}
