//! `verify`: every invariant of the PFN database, page tables, working sets and
//! commit charge, checked from scratch. Tests call it after every step; users read
//! it from `system/verify`. One checker per structure, as `pfn/verify.rs` does
//! for the lists: `space.rs` (each address space, its large pages in
//! `large_pages.rs`), `segments.rs` (control areas
//! and prototype PTEs), `pool.rs` (the executive pool's pages, headers, lists
//! and tags), `frames.rs` (every frame, and the totals).
//!
//! Invariants checked (on top of the PFN database's own list checks):
//! - every valid PTE points at an Active page whose PteAddress, owner and use agree
//!   and whose working-set entry points back (an AWE page has none: `awe.rs`);
//! - every transition PTE points at a page on the standby/modified lists (or in
//!   transition) whose PteAddress agrees;
//! - a page table's ShareCount is 1 + its valid entries (within user space); a
//!   private page's ShareCount is the number of valid PTEs mapping it (1);
//! - every working-set entry matches a valid PTE (or a page table of the process);
//! - every Active page is found exactly once by the walks;
//! - no PTE outside a VAD holds anything;
//! - each VAD's commit charge is its committed pages; the system commit charge is
//!   the sum of the processes' charges and paged pool's pages; private page counts match the PTEs;
//! - every paging-file slot in use is named exactly once — by a pagefile PTE, by
//!   the OriginalPte of a frame holding that page, or by a cluster write in
//!   flight — and every slot named is in use;
//! - a standby page is not Modified and has a copy in a paging file, or
//!   MEM_RESET discarded its contents (repurposing it loses nothing wanted);
//!   a modified page is marked Modified; a page in Transition has I/O in flight;
//! - shared pages: a valid PTE mapping a prototype frame agrees with its
//!   prototype PTE, and its shared working-set entry exists; each frame's
//!   ShareCount is the number of process PTEs mapping it; prototype pointers
//!   point at the prototype PTE their view maps there;
//! - control areas: NumberOfPfnReferences, NumberOfMappedViews,
//!   NumberOfUserReferences and NumberOfSectionReferences match what exists; a
//!   valid or transition prototype PTE's frame points back at it; a clone
//!   block's CloneRefCount is the number of process PTEs referring to it; a
//!   paging-file slot in a prototype PTE is named once like any other;
//! - write watch: bits only in write-watch VADs and inside them; a write-watch
//!   VAD is private and maps no shared frame (`write_watch.rs`).
//! - the history ring (`history.rs`): samples a whole second apart or more,
//!   none in the future, each accounting for every physical page.

mod awe;
mod cache;
mod frames;
mod history;
mod kernel;
mod large_pages;
mod pool;
mod proto_pages;
mod segments;
mod shared_tables;
mod space;
mod write_watch;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;

use crate::mm::Mm;
use crate::mm::base::types::{Pfn, Pid};
use crate::mm::machine::{Machine, PfnState};
use crate::mm::pagefile::PagingFiles;
use crate::mm::pfn::PfnEntryView;
use crate::mm::process::AddressSpace;
use crate::mm::segment::ControlAreaId;

/// A PFN entry in a violation message, shaped as its derived `Debug` (`None`,
/// or `Some(PfnEntryView { .. })`) but with PteAddress and OriginalPte as plain
/// hex numbers: the newtypes' own `Debug` would wrap them in their type names.
pub(super) struct EntryText(pub Option<PfnEntryView>);

impl fmt::Display for EntryText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(e) = self.0 else {
            return f.write_str("None");
        };
        // Every field named, no `..`: a field added to the entry must be added
        // here too, or this stops compiling.
        let PfnEntryView {
            pfn,
            location,
            use_,
            share_count,
            reference_count,
            pte_address,
            original_pte,
            modified,
            read_in_progress,
            write_in_progress,
            prototype,
            priority,
            owner,
            ws_index,
            flink,
            blink,
            in_page_error,
            deleted,
        } = e;
        f.write_str("Some(")?;
        f.debug_struct("PfnEntryView")
            .field("pfn", &pfn)
            .field("location", &location)
            .field("use_", &use_)
            .field("share_count", &share_count)
            .field("reference_count", &reference_count)
            .field("pte_address", &format_args!("{pte_address:#x}"))
            .field("original_pte", &format_args!("{original_pte:#x}"))
            .field("modified", &modified)
            .field("read_in_progress", &read_in_progress)
            .field("write_in_progress", &write_in_progress)
            .field("prototype", &prototype)
            .field("priority", &priority)
            .field("owner", &owner)
            .field("ws_index", &ws_index)
            .field("flink", &flink)
            .field("blink", &blink)
            .field("in_page_error", &in_page_error)
            .field("deleted", &deleted)
            .finish()?;
        f.write_str(")")
    }
}

/// The result of a verify pass.
pub struct VerifyReport {
    pub violations: Vec<String>,
    pub pages: u64,
    pub processes: u64,
    pub commit: u64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Stop collecting after this many lines: one broken invariant can cascade.
const MAX_LINES: usize = 200;

/// What the checkers find and share while they walk the machine with every
/// lock held: the violations, and the tallies that one checker fills and a
/// later one compares (who names each paging-file slot, who uses each frame,
/// how many process PTEs map each shared frame or refer to each clone block,
/// how many views each control area has, and the commit they all charge).
struct Tally<'a> {
    m: &'a Machine,
    st: &'a PfnState,
    pagefiles: &'a PagingFiles,
    v: Vec<String>,
    /// (file, slot) -> who names it.
    slots: HashMap<(u8, u32), String>,
    /// Frame -> who uses it.
    seen: HashMap<Pfn, String>,
    /// Valid process PTEs per shared (prototype) frame.
    shares: HashMap<Pfn, u32>,
    /// Process PTEs per clone block (control area, index).
    clone_refs: HashMap<(ControlAreaId, u64), u32>,
    /// Views per control area.
    views: HashMap<ControlAreaId, u64>,
    /// System cache views (the cache manager's VACBs) per control area.
    cache_views: HashMap<ControlAreaId, u64>,
    /// Starts with paged pool's commit, then adds each process's charges.
    commit_sum: u64,
    /// Non-paged and paged pool's ranges `[start, end)`, walked in the System
    /// process's tables (no VADs there: the pool is their authority).
    pool_ranges: [(u64, u64); 2],
    /// Frames MDLs lock, and how many times (`kernel.rs`): such a frame may
    /// sit in Transition with no I/O in flight.
    mdl_locked: HashMap<Pfn, u32>,
    /// Frames of the processes' large pages (`large_pages.rs`): resident for
    /// good, charged against resident available memory.
    large_page_frames: u64,
    /// Paging-file slots named by the PTEs of paged-out prototype pages
    /// (`proto_pages.rs`), which are not read.
    hidden_slots: u64,
}

impl Tally<'_> {
    /// `who` names paging-file slot `(file, slot)`: it must be allocated and
    /// named by no one else.
    fn name_slot(&mut self, file: u8, slot: u32, who: String) {
        if !self.pagefiles.is_allocated(file, slot) {
            self.v.push(format!(
                "{who} names paging file {file} slot {slot:#x}, which is free"
            ));
        }
        if let Some(prev) = self.slots.insert((file, slot), who.clone()) {
            self.v.push(format!(
                "paging file {file} slot {slot:#x} is named twice: by {prev} and by {who}"
            ));
        }
    }

    /// `what` uses frame `pfn`: no one else may.
    fn note(&mut self, pfn: Pfn, what: String) {
        if let Some(prev) = self.seen.insert(pfn, what.clone()) {
            self.v
                .push(format!("pfn {:#x} is used twice: {prev} and {what}", pfn.0));
        }
    }

    fn full(&self) -> bool {
        self.v.len() > MAX_LINES
    }
}

impl Mm {
    pub fn verify(&self) -> VerifyReport {
        let m = &self.machine;
        // No process is being created or torn down while the picture is taken:
        // a process gone from the table may still own pages, and one leaving it
        // after the snapshot below frees its page tables under our feet.
        let _lifecycle = self.lifecycle_exclusive();
        // The history ring's leaf lock, alone, before the others: a sample
        // taken after this is not checked this time.
        let history = self.history();
        let now_ms = m.clock.now_ms();
        // Lock order: the section table before any address space.
        let sections = self.sections_lock();
        let cc = self.cache_lock();
        let kernel = self.kernel_lock();
        let processes = self.all_processes();
        // Hold every address space (in pid order, as the table lists them) so the
        // picture is consistent, then the PFN lock.
        let spaces: Vec<_> = processes.iter().map(|p| (p.pid, p.space())).collect();
        let mut early = check_minimums(m, spaces.iter().map(|(_, s)| &**s));
        early.extend(history::check(&history, u64::from(m.phys.pages()), now_ms));
        let commit = *m.commit_lock();
        let st = m.pfn_lock();
        early.extend(st.db.verify());
        let pagefiles = m.pagefiles_lock();
        early.extend(pagefiles.verify());
        let mut t = Tally {
            m,
            st: &st,
            pagefiles: &pagefiles,
            v: early,
            slots: HashMap::new(),
            seen: HashMap::new(),
            shares: HashMap::new(),
            clone_refs: HashMap::new(),
            views: HashMap::new(),
            cache_views: HashMap::new(),
            commit_sum: kernel.pool.paged_commit(),
            // Paged pool's range from the layout: prototype pages are in it
            // even before the pool's first use sets its ranges.
            pool_ranges: [
                kernel.pool.ranges[0],
                (
                    m.layout.paged_pool_start(),
                    m.layout.paged_pool_end(u64::from(m.phys.pages())),
                ),
            ],
            mdl_locked: HashMap::new(),
            large_page_frames: 0,
            hidden_slots: 0,
        };
        for (pid, space) in &spaces {
            space::check(&mut t, *pid, space);
            write_watch::check(&mut t, *pid, space);
            if t.full() {
                break;
            }
        }
        if let Some((_, system)) = spaces.iter().find(|(pid, _)| *pid == Pid::SYSTEM) {
            cache::check(&mut t, &cc, system);
            pool::check(&mut t, &kernel.pool, system);
            proto_pages::check(&mut t, system);
            // NtLockVirtualMemory's pages, AWE's frames and page tables, and
            // large pages: resident for good, like locked pages.
            let locked_in_ws = spaces
                .iter()
                .map(|(_, s)| s.ws.locked_count() + s.awe.resident_charge())
                .sum::<u64>()
                + t.large_page_frames;
            kernel::check(&mut t, &kernel, system, locked_in_ws);
        }
        // After `kernel.rs`, which counts the MDL locks on AWE frames too.
        for (pid, space) in &spaces {
            awe::check(&mut t, *pid, space);
        }
        let held: Vec<_> = spaces.iter().map(|(pid, s)| (*pid, &**s)).collect();
        shared_tables::check(&mut t, &held);
        segments::check(&mut t, &sections);
        frames::check(&mut t);
        frames::check_totals(&mut t, commit.total);
        let mut violations = t.v;
        violations.truncate(MAX_LINES);
        VerifyReport {
            violations,
            pages: st.db.pages() as u64,
            processes: spaces.len() as u64,
            commit: commit.total,
        }
    }
}

/// The working-set minimums of the live processes add up to what is charged
/// against resident available memory.
fn check_minimums<'s>(m: &Machine, spaces: impl Iterator<Item = &'s AddressSpace>) -> Vec<String> {
    let minimums: u64 = spaces.map(|s| s.ws.minimum).sum();
    let charged = m.resident.ws_minimums.load(Ordering::Relaxed);
    if minimums == charged {
        return Vec::new();
    }
    vec![format!(
        "the working-set minimums add up to {minimums} pages, {charged} are charged against resident available memory"
    )]
}

#[cfg(test)]
mod tests {
    use super::EntryText;
    use crate::mm::base::types::{Mmpte, Pfn, PteAddress};
    use crate::mm::pfn::PfnDatabase;

    /// Violation messages show PteAddress and OriginalPte as plain numbers,
    /// not wrapped in their newtypes' names.
    #[test]
    fn entry_text_prints_plain_numbers() {
        assert_eq!(EntryText(None).to_string(), "None");
        let mut e = PfnDatabase::new(4).entry(Pfn(1)).expect("pfn 1 exists");
        e.pte_address = PteAddress(0xc000_1000);
        e.original_pte = Mmpte(0x80);
        let text = EntryText(Some(e)).to_string();
        assert!(
            text.starts_with("Some(PfnEntryView { pfn: Pfn(0x1), "),
            "{text}"
        );
        assert!(
            text.contains("pte_address: 0xc0001000, original_pte: 0x80,"),
            "{text}"
        );
        assert!(
            !text.contains("PteAddress(") && !text.contains("Mmpte("),
            "{text}"
        );
    }
}
