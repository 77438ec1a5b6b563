//! The pages of paged pool that hold prototype PTEs, as `Segments` keeps
//! them (NT: prototype PTEs are paged pool allocations, so a page of them is
//! in the System working set or out of it): which subsections use each page,
//! whether the arrays or the page's frame holds its PTEs, the PTE runs of
//! deleted sections waiting for the page to come back, the pages with work
//! for the System process's side (`kernel/proto_pages.rs`), and the byte
//! image of a page in the arch's PTE encoding.
//!
//! Lock: the PFN lock, as for the rest of `Segments`.

use std::collections::BTreeMap;

use crate::mm::base::types::{Mmpte, PAGE_SIZE};

use super::{ProtoLoc, Segments};

/// Where the prototype PTEs of one page of paged pool are (NT: prototype
/// PTEs are paged pool, so a page of them is in the System working set, or
/// out of it and faulted back by MiMakeSystemAddressValidPfn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoPageState {
    /// No System PTE maps the page yet (its subsection was made where the
    /// System process's address space could not be taken, e.g. fork's clone
    /// blocks): the arrays hold the PTEs and the page is never trimmed.
    Unbacked,
    /// Valid in the System working set: the arrays hold the PTEs; the frame
    /// gets their bytes when the page leaves (and when `kernel/mem` reads it).
    Resident,
    /// Out of the System working set (transition or in a paging file): the
    /// frame or slot holds the PTEs; the arrays are stale and must not be read.
    Absent,
}

/// One page of paged pool holding prototype PTEs.
#[derive(Clone, Debug)]
pub struct ProtoPage {
    /// Subsections with prototype PTEs in this page.
    pub users: u32,
    pub state: ProtoPageState,
    /// PTE runs (byte offset in the page, count) of deleted pagefile-backed
    /// subsections that were in the page while it was absent: the paging-file
    /// slots they name are freed when the page comes back (NT faults the
    /// prototype PTEs in for MiSegmentDelete).
    pub orphans: Vec<(u64, u64)>,
    /// While absent: how many of its PTEs name a paging-file slot (what
    /// `verify` counts as named without reading the page in).
    pub slots: u64,
}

impl Segments {
    /// A subsection stops using `page`; `run` is its PTEs' byte range, kept
    /// as an orphan if the page is absent.
    pub(super) fn leave_page(&mut self, page: u64, run: Option<(u64, u64)>) {
        let Some(p) = self.pages.get_mut(&page) else {
            return;
        };
        p.users = p.users.saturating_sub(1);
        if let Some((from, to)) = run
            && p.state == ProtoPageState::Absent
        {
            let (a, b) = (from.max(page), to.min(page + PAGE_SIZE));
            if b > a {
                p.orphans.push((a - page, (b - a) / self.pte_size));
                self.pending.insert(page);
            }
        }
        if p.users > 0 {
            return;
        }
        if p.state == ProtoPageState::Unbacked {
            self.pages.remove(&page);
            self.pending.remove(&page);
        } else {
            self.pending.insert(page);
            // The whole page is free in the map now (no subsection and no
            // pool page shares it): hold it until the System PTE is gone.
            let carved = self.pool.carve(page, PAGE_SIZE);
            debug_assert!(carved, "a prototype page no one uses is free");
        }
    }

    /// The prototype pages, by address.
    pub fn proto_pages(&self) -> &BTreeMap<u64, ProtoPage> {
        &self.pages
    }

    /// The prototype page at page address `page`, if there is one.
    pub fn proto_page(&self, page: u64) -> Option<&ProtoPage> {
        self.pages.get(&page)
    }

    /// The pages with work for the System process's side (new pages to
    /// back, pages no subsection uses, absent pages with orphans), emptied.
    pub fn take_pending(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }

    /// `page` still has work (its System page could not be made now).
    pub fn mark_pending(&mut self, page: u64) {
        if self.pages.contains_key(&page) {
            self.pending.insert(page);
        }
    }

    /// Pages backed by a System page (resident or absent), each charged one
    /// page of commit.
    pub fn backed_pages(&self) -> u64 {
        self.pages
            .values()
            .filter(|p| p.state != ProtoPageState::Unbacked)
            .count() as u64
    }

    /// Page `page` changes state (backed, trimmed, faulted back).
    pub fn set_page_state(&mut self, page: u64, state: ProtoPageState) {
        if let Some(p) = self.pages.get_mut(&page) {
            if p.state == ProtoPageState::Absent {
                self.absent -= 1;
            }
            if state == ProtoPageState::Absent {
                self.absent += 1;
            }
            p.state = state;
        }
    }

    /// Forgets a dying page once its System PTE is deleted, giving its
    /// address back to the pool.
    pub fn forget_page(&mut self, page: u64) {
        if self.pages.get(&page).is_some_and(|p| p.users == 0) {
            self.set_page_state(page, ProtoPageState::Unbacked);
            self.pages.remove(&page);
            self.pool.release_pages(page, 1);
        }
    }

    /// The prototype pages whose addresses are in `[from, to]`.
    pub fn pages_in(&self, from: u64, to: u64) -> Vec<(u64, ProtoPageState)> {
        if from > to {
            return Vec::new();
        }
        let first = from / PAGE_SIZE * PAGE_SIZE;
        self.pages
            .range(first..=to)
            .map(|(&a, p)| (a, p.state))
            .collect()
    }

    /// Records how many paging-file slots the absent page's PTEs name.
    pub fn set_page_slots(&mut self, page: u64, slots: u64) {
        if let Some(p) = self.pages.get_mut(&page) {
            p.slots = slots;
        }
    }

    /// Every prototype PTE in `page` with its byte offset in the page.
    pub fn page_offsets(&self, page: u64) -> Vec<(ProtoLoc, u64)> {
        let size = self.pte_size;
        self.page_runs(page)
            .into_iter()
            .flat_map(|(n, first, count, offset)| {
                (0..count).map(move |k| {
                    let at = ProtoLoc {
                        subsection: n,
                        slot: first + k,
                    };
                    (at, offset + k as u64 * size)
                })
            })
            .collect()
    }

    /// Takes the orphan runs of `page` (see `ProtoPage::orphans`).
    pub fn take_orphans(&mut self, page: u64) -> Vec<(u64, u64)> {
        self.pages
            .get_mut(&page)
            .map(|p| std::mem::take(&mut p.orphans))
            .unwrap_or_default()
    }

    /// Whether the page holding `at` is out of the working set, so `read`
    /// and `write` may not touch it.
    pub fn is_absent(&self, at: ProtoLoc) -> bool {
        self.absent > 0
            && self
                .pages
                .get(&(self.address(at).0 / PAGE_SIZE * PAGE_SIZE))
                .is_some_and(|p| p.state == ProtoPageState::Absent)
    }

    /// The page address of prototype PTE `at`.
    pub fn page_of(&self, at: ProtoLoc) -> u64 {
        self.address(at).0 / PAGE_SIZE * PAGE_SIZE
    }

    /// `read`, or `None` when the page is absent (nothing in it is valid or
    /// in transition, so a caller looking for pages in memory may skip it).
    pub fn try_read(&self, at: ProtoLoc) -> Option<Mmpte> {
        (!self.is_absent(at)).then(|| self.read_unchecked(at))
    }

    /// The byte image of the prototype PTEs in `page` as runs (offset in the
    /// page, little-endian PTEs of `pte_size` bytes): what the frame holds.
    pub fn page_image(&self, page: u64) -> Vec<(u64, Vec<u8>)> {
        let size = self.pte_size as usize;
        self.page_runs(page)
            .into_iter()
            .filter_map(|(n, first, count, offset)| {
                let s = self.subsection(n)?;
                let ptes = s.ptes.get(first..first + count)?;
                let bytes = ptes
                    .iter()
                    .flat_map(|p| p.0.to_le_bytes().into_iter().take(size))
                    .collect();
                Some((offset, bytes))
            })
            .collect()
    }

    /// Loads the arrays' PTEs in `page` from its frame's bytes (`frame`, a
    /// whole page): the page came back into the working set.
    pub fn load_page(&mut self, page: u64, frame: &[u8]) {
        let size = self.pte_size as usize;
        for (n, first, count, offset) in self.page_runs(page) {
            let Some(s) = self
                .subsections
                .get_mut(n as usize)
                .and_then(Option::as_mut)
            else {
                continue;
            };
            for k in 0..count {
                let at = offset as usize + k * size;
                let mut raw = [0u8; 8];
                if let (Some(src), Some(p)) = (frame.get(at..at + size), s.ptes.get_mut(first + k))
                {
                    raw[..size].copy_from_slice(src);
                    *p = Mmpte(u64::from_le_bytes(raw));
                }
            }
        }
    }

    /// Every prototype PTE in `page`.
    pub fn page_locations(&self, page: u64) -> Vec<ProtoLoc> {
        self.page_runs(page)
            .into_iter()
            .flat_map(|(n, first, count, _)| {
                (first..first + count).map(move |slot| ProtoLoc {
                    subsection: n,
                    slot,
                })
            })
            .collect()
    }

    /// The subsection runs inside `page`: (subsection, first slot, count,
    /// byte offset in the page).
    fn page_runs(&self, page: u64) -> Vec<(u32, usize, usize, u64)> {
        let end = page + PAGE_SIZE;
        let mut runs = Vec::new();
        for (&base, &n) in self.by_base.range(..end).rev() {
            let Some(s) = self.subsection(n) else {
                continue;
            };
            let s_end = base + s.ptes.len() as u64 * self.pte_size;
            if s_end <= page {
                break;
            }
            let from = base.max(page);
            let to = s_end.min(end);
            let first = ((from - base) / self.pte_size) as usize;
            let count = ((to - from) / self.pte_size) as usize;
            runs.push((n, first, count, from - page));
        }
        runs
    }
}

/// The pages `[base, base + bytes)` touches.
pub(super) fn page_span(base: u64, bytes: u64) -> impl Iterator<Item = u64> {
    let first = base / PAGE_SIZE * PAGE_SIZE;
    let end = base + bytes.max(1);
    (first..end).step_by(PAGE_SIZE as usize)
}
