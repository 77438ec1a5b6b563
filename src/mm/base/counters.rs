//! System-wide event counters (`system/counters`), one atomic each so the fault
//! path never takes a lock to count.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident,)*) => {
        /// The counters of SPEC §5, by their file names, and the repurposes
        /// of standby pages by priority (`pfn/priorities`).
        #[derive(Default)]
        pub struct SystemCounters {
            $(pub $name: AtomicU64,)*
            /// Standby pages repurposed, by their standby priority (0–7): the
            /// split of `pages_repurposed` RAMMap's Priority Summary shows.
            pub repurposed_by_priority: [AtomicU64; 8],
        }

        impl SystemCounters {
            /// `(name, value)` in the file's order.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

counters! {
    page_faults,
    demand_zero_faults,
    transition_faults,
    hard_faults,
    prototype_faults,
    copy_on_write_faults,
    access_violations,
    guard_page_faults,
    in_page_errors,
    pages_read_from_pagefile,
    pages_written_to_pagefile,
    pagefile_write_ios,
    pages_written_to_mapped_files,
    pages_zeroed,
    working_set_trims,
    pages_trimmed,
    pages_repurposed,
    outswaps,
    inswaps,
    cache_copy_reads,
    cache_read_ahead_ios,
    lazy_writer_pages,
    pagefile_write_errors,
    page_tables_trimmed,
    page_table_faults,
}

/// Adds one to a counter.
#[inline]
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
#[inline]
pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
