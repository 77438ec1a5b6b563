//! Working-set policy: trimming a page out of the working set (to the modified
//! or standby list, or back to its prototype PTE), emptying and aging the
//! working set, and replacement at the maximum (WRK MiDoReplacement). The list
//! itself is `working_set.rs`. Callers hold the address-space lock.

use std::sync::MutexGuard;

use crate::mm::base::counters::bump;
use crate::mm::base::types::Pid;
use crate::mm::hw::pagetable::{EntryLoc, LeafCursor};
use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::machine::{Machine, PfnState};
use crate::mm::pfn::PageLocation;

use super::address_space::AddressSpace;
use super::working_set::{MAXIMUM_AGE, Wsle, WsleKind};

/// Entries the replacement clock hand looks at before it settles for the oldest
/// seen: bounded so a fault at the maximum costs the same whatever the working
/// set's size (with 64 the sequential paging bench spent a third of its time here).
const REPLACEMENT_SCAN: u32 = 16;

/// A valid page leaving the working set: its entry (already removed), its
/// PTE's place, and what the PTE held.
#[derive(Clone, Copy)]
struct Leaving {
    entry: Wsle,
    loc: EntryLoc,
    pte: HardwarePte,
}

impl AddressSpace {
    /// Takes a valid page out of the working set: a private page's PTE becomes a
    /// transition PTE and the page goes to the modified list if it was dirtied (or
    /// was never written to the paging file), else to standby; a shared page's
    /// PTE points back at its prototype PTE. Returns false (and does nothing) for
    /// a locked or page-table entry.
    pub fn trim_entry(&mut self, m: &Machine, index: u32) -> bool {
        let Some(e) = self.ws.get(index).copied() else {
            return false;
        };
        if e.kind == WsleKind::PageTable {
            return self.trim_page_table(m, index, e);
        }
        if !e.trimmable() {
            return false;
        }
        let tables = self.tables(m);
        let Some(loc) = tables.leaf(e.va) else {
            return false;
        };
        let mut st = m.pfn_lock();
        let PteState::Valid(mut h) = m.fmt.decode(tables.read(loc)) else {
            return false;
        };
        if self.pid == Pid::SYSTEM
            && e.kind != WsleKind::Shared
            && let Some(page) = m.proto_page_at_locked(&st, e.va.0)
        {
            // A page of prototype PTEs stays while any of them is valid or
            // in transition (their frames' PteFrame); leaving, its PTEs go
            // into the frame (`machine/proto_pages.rs`).
            if !m.proto_page_trimmable_locked(&st, page) {
                return false;
            }
            h.dirty |= m.proto_page_out_locked(&mut st, page, h.pfn);
        }
        self.ws.remove(index);
        let leaving = Leaving {
            entry: e,
            loc,
            pte: h,
        };
        if e.kind == WsleKind::Shared {
            self.trim_shared(m, st, &leaving);
        } else {
            self.trim_private(m, st, &leaving);
        }
        bump(&m.counters.pages_trimmed);
        true
    }

    /// A shared page leaves this working set: the PTE points back at the
    /// prototype PTE; the frame leaves memory only when no other process maps
    /// it either.
    fn trim_shared(&mut self, m: &Machine, mut st: MutexGuard<'_, PfnState>, t: &Leaving) {
        let Leaving {
            entry: e,
            loc,
            pte: h,
        } = *t;
        let pointer = self.proto_pointer_pte(m, &st, e.va, h.pfn, e.protection);
        self.tables(m).write(loc, pointer);
        st.db.decrement_share(loc.table);
        m.release_shared_locked(&mut st, h.pfn, h.dirty);
        let share = st.db.share_count(h.pfn);
        drop(st);
        crate::mm_event!(
            m,
            "ws.trim",
            "pid={} va={:#x} pfn={:#x} shared=1 share={share}",
            self.pid,
            e.va.0,
            h.pfn.0
        );
    }

    /// `trim_private` for a page table leaving (`table_paging.rs`): `loc` is
    /// its PDE, `pte` what the PDE held.
    pub(super) fn trim_private_pte(
        &mut self,
        m: &Machine,
        st: MutexGuard<'_, PfnState>,
        entry: Wsle,
        loc: EntryLoc,
        pte: HardwarePte,
    ) {
        self.trim_private(m, st, &Leaving { entry, loc, pte });
    }

    /// A private page leaves the working set: its PTE becomes a transition PTE
    /// and the frame goes to the modified list if Modified, else to standby.
    fn trim_private(&mut self, m: &Machine, mut st: MutexGuard<'_, PfnState>, t: &Leaving) {
        let Leaving {
            entry: e,
            loc,
            pte: h,
        } = *t;
        let tables = self.tables(m);
        if h.dirty {
            // Written since it came in: any copy in the paging file is stale.
            st.db.set_modified(h.pfn, true);
            m.release_backing_locked(&mut st, h.pfn);
            // The dirty bit leaves with the PTE: a write-watch VAD keeps it
            // in its bitmap (WRK MiEliminateWorkingSetEntry calls
            // MiCaptureWriteWatchDirtyBit). Trim, replacement, outswap and
            // empty-working-sets all come through here.
            self.vads.capture_write_watch(e.va.vpn());
        }
        // A clean page goes to standby even with no copy anywhere (only
        // MEM_RESET makes one: its OriginalPte is demand zero, so if the frame
        // is reused the page reads as zeros, as MiResetVirtualMemory intends).
        let transition = PteState::Transition {
            pfn: h.pfn,
            protection: e.protection,
        };
        tables.write(loc, m.fmt.encode(&transition));
        st.db.decrement_share(loc.table);
        st.db.set_share_count(h.pfn, 0);
        st.db.set_ws_index(h.pfn, 0);
        let to = if st.db.modified(h.pfn) {
            PageLocation::Modified
        } else {
            PageLocation::Standby
        };
        if st.db.decrement_reference(h.pfn) == 0 {
            st.db.insert(h.pfn, to);
        } else {
            // A cluster write of this frame is still in flight; its completion
            // puts the frame on the right list.
            st.db.set_location(h.pfn, PageLocation::Transition);
        }
        drop(st);
        crate::mm_event!(
            m,
            "ws.trim",
            "pid={} va={:#x} pfn={:#x} to={}",
            self.pid,
            e.va.0,
            h.pfn.0,
            to.name()
        );
    }

    /// Empties the working set of its data pages (all but locked and
    /// page-table entries); returns how many pages left it. Like
    /// MiEmptyWorkingSet, it ends by reorganizing the free entries
    /// (MiRemoveWorkingSetPages). The page tables go by `trim_page_tables`.
    pub fn trim_all(&mut self, m: &Machine) -> u64 {
        let indexes: Vec<u32> = self
            .ws
            .iter()
            .filter(|(_, e)| e.kind != WsleKind::PageTable)
            .map(|(i, _)| i)
            .collect();
        let trimmed = indexes
            .into_iter()
            .filter(|&i| self.trim_entry(m, i))
            .count() as u64;
        self.ws.reuse_lowest_first();
        bump(&m.counters.working_set_trims);
        trimmed
    }

    /// Trims pages of age `min_age` or more, at most `max_pages`, never taking the
    /// working set below `floor` pages. Returns the pages trimmed.
    pub fn trim_aged(&mut self, m: &Machine, min_age: u8, max_pages: u64, floor: u64) -> u64 {
        self.trim_where(m, max_pages, floor, |e| e.age >= min_age)
    }

    /// Trims unlocked data pages that `pick` chooses, at most `max_pages`, never
    /// taking the working set below `floor` pages. Returns the pages trimmed.
    pub(super) fn trim_where(
        &mut self,
        m: &Machine,
        max_pages: u64,
        floor: u64,
        pick: impl Fn(&Wsle) -> bool,
    ) -> u64 {
        let candidates: Vec<u32> = self
            .ws
            .iter()
            .filter(|(_, e)| e.kind != WsleKind::PageTable && !e.locked && pick(e))
            .map(|(i, _)| i)
            .collect();
        let mut trimmed = 0;
        for i in candidates {
            if trimmed >= max_pages || self.ws.len() <= floor {
                break;
            }
            if self.trim_entry(m, i) {
                trimmed += 1;
            }
        }
        if trimmed > 0 {
            bump(&m.counters.working_set_trims);
        }
        trimmed
    }

    /// One aging pass (the working-set manager's): an entry whose PTE was accessed
    /// since the last pass gets age 0 and its accessed bit cleared; any other entry
    /// ages by one, up to 3 (WRK: two bits of age in the WSLE). Returns how many
    /// entries it changed (0: every entry is at the oldest age, none accessed).
    pub fn age_working_set(&mut self, m: &Machine) -> u64 {
        let tables = self.tables(m);
        let mut changed = 0;
        for (_, e) in self.ws.iter_mut() {
            if e.kind == WsleKind::PageTable {
                continue;
            }
            let Some(loc) = tables.leaf(e.va) else {
                continue;
            };
            let raw = tables.read(loc);
            if let PteState::Valid(mut h) = m.fmt.decode(raw) {
                if h.accessed {
                    h.accessed = false;
                    tables.write(loc, m.fmt.encode(&PteState::Valid(h)));
                    e.age = 0;
                    changed += 1;
                } else if e.age < MAXIMUM_AGE {
                    e.age += 1;
                    changed += 1;
                }
            }
        }
        changed
    }

    /// Working-set replacement at fault time: a process at its maximum while
    /// memory is not plentiful gives up one of its own pages before it takes a new
    /// one (WRK MiDoReplacement). The victim is found by a clock hand: an entry
    /// whose page was accessed since it was last looked at gets a second chance
    /// (accessed bit cleared, age 0); the first entry of age 2 or more goes, else
    /// the oldest of the first `REPLACEMENT_SCAN` looked at.
    pub fn replace_if_at_maximum(&mut self, m: &Machine) {
        if self.ws.len() < self.ws.maximum {
            return;
        }
        let available = m.available_hint.load(std::sync::atomic::Ordering::Relaxed);
        if available > m.thresholds.plenty_free && !self.ws.hard_maximum {
            return;
        }
        let tables = self.tables(m);
        // Nothing below frees a page table until the scan is over.
        let mut cursor = LeafCursor::default();
        let mut best: Option<(u32, u8)> = None;
        let mut looked = 0;
        let slots = self.ws.slots();
        for step in 0..slots {
            let i = ((self.ws.hand as u64 + step) % slots.max(1)) as u32;
            let Some(e) = self.ws.get_mut(i) else {
                continue;
            };
            if e.locked || e.kind == WsleKind::PageTable {
                continue;
            }
            looked += 1;
            if let Some(loc) = tables.leaf_near(&mut cursor, e.va) {
                let raw = tables.read(loc);
                if m.fmt.accessed(raw) {
                    tables.write(loc, m.fmt.set_accessed(raw, false));
                    e.age = 0;
                }
            }
            if e.age >= 2 {
                best = Some((i, e.age));
                break;
            }
            if best.is_none_or(|(_, age)| e.age > age) {
                best = Some((i, e.age));
            }
            if looked >= REPLACEMENT_SCAN {
                break;
            }
        }
        if let Some((victim, _)) = best {
            self.ws.hand = victim.wrapping_add(1);
            let entry = self.ws.get(victim).copied();
            if self.trim_entry(m, victim)
                && let Some(e) = entry
            {
                crate::mm_event!(
                    m,
                    "ws.replace",
                    "pid={} index={victim} va={:#x} pfn={:#x}",
                    self.pid,
                    e.va.0,
                    e.pfn.0
                );
            }
        }
    }
}
