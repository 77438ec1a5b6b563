//! MEM_RESET in the model (WRK MiResetVirtualMemory, `vm/reset.rs`). A reset
//! page stays committed, but its frame is made clean and its paging-file copy
//! dropped, so from then on it may turn into zeros whenever its frame is
//! reused, which the model cannot foresee (it depends on trims and on who
//! needs a page when). So a reset page has candidates: the bytes it held, and
//! zeros. Every later write applies to each candidate; a read must find one
//! of them, page by page, and what it finds prunes the others:
//!
//! - a page whose frame was lost reads zeros (plus what was written since),
//!   and never gets the old frame back: reading it fixes the page;
//! - a page that kept its frame reads the old bytes; that fixes it only if
//!   the page cannot lose the frame any more, because it was written since
//!   the reset (dirty), or a lock holds it resident. A clean page nothing
//!   holds may still lose it later.
//!
//! That last rule is `settle`: a page that is clean and not held always has
//! zeros among its candidates. A lock holds a page; so does a relative's lock
//! on the clone block they share (the frame is valid in the locker's working
//! set, which trims skip), and `settle_at` runs wherever such a hold ends
//! (unlock, protect, decommit, release, a write or protect that takes the
//! page out of its clone block, termination).
//!
//! Resetting a page again while it has two candidates gives it three (each
//! old one, and zeros). A page in a clone block is reset for every relative
//! sharing the block, and what a read finds is so for all of them: the model
//! keeps their copies of it equal (`PrivatePage::link`).
//!
//! What a reset does to a page depends on where its frame is, which the model
//! does not know and the runner asks the real system (as it asks for the page
//! tables in `ws_limits`): see `Effect`. So the model is exact where the
//! reset is: a page only in the paging file reads zeros at once, and a frame
//! on standby keeps its paging-file copy, so its page keeps its bytes. It is
//! looser in one case: a view page that another process has written keeps
//! its frame (that process's dirty PTE makes it modified again when trimmed),
//! but the model lets it read zeros. A fork, too, depends on where the
//! frames of clean reset pages are (`Run::frames_dropped`).
//!
//! A view of a pagefile-backed section resets the section's page, for every
//! view of it (WRK skips a page whose PTE in this process is zero). The pages
//! a write-copy view has copied are private pages, shared with fork relatives
//! that the model does not link; the generator keeps resets off them.

use std::collections::HashMap;
use std::ops::Range;

use crate::mm::NtStatus;
use crate::mm::base::types::PAGE_SIZE;

use super::reference::{
    Bytes, Expect, Kind, Model, PrivatePage, ProcessModel, Refusal, SectionModel, ViewModel,
    zero_page,
};

/// What a reset page may hold besides the bytes its owner keeps for it
/// (`PrivatePage::data`, the section's page, a view's copy).
#[derive(Clone)]
pub(in crate::mm::tests) struct Reset {
    /// The other candidates, none equal to the owner's bytes or to another.
    others: Vec<Bytes>,
    /// Not written since the reset: the frame is clean, and may be dropped
    /// unless something holds it resident.
    clean: bool,
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Drops candidates equal to `base` or to each other, and the state itself
/// when nothing is uncertain any more: one candidate, and the page written
/// since the reset. (A clean page of zeros keeps its state: its contents are
/// sure, but its frame may be on standby or gone, which matters to a fork:
/// `ProcessModel::clean_reset_pages`.)
fn normalize(base: &[u8], state: &mut Option<Reset>) {
    let Some(s) = state else {
        return;
    };
    let mut kept: Vec<Bytes> = Vec::new();
    for o in s.others.drain(..) {
        if *o != *base && !kept.contains(&o) {
            kept.push(o);
        }
    }
    s.others = kept;
    if s.others.is_empty() && !s.clean {
        *state = None;
    }
}

impl Reset {
    /// Not written since the reset.
    pub(super) fn is_clean(&self) -> bool {
        self.clean
    }
}

/// The rule of a clean page nothing holds: it may have lost its frame, so
/// zeros is one of its candidates.
fn settle(base: &[u8], state: &mut Option<Reset>, held: bool) {
    if let Some(s) = state
        && s.clean
        && !held
        && !is_zero(base)
        && !s.others.iter().any(|o| is_zero(o))
    {
        s.others.push(zero_page());
    }
    normalize(base, state);
}

/// MEM_RESET of a page holding `base`.
fn reset_candidates(base: &[u8], state: &mut Option<Reset>, held: bool) {
    let s = state.get_or_insert_with(|| Reset {
        others: Vec::new(),
        clean: true,
    });
    s.clean = true;
    settle(base, state, held);
}

/// `bytes` were written at `span` of a page (into `base` already): into
/// every candidate too, and the page is dirty now.
pub(super) fn write_candidates(
    base: &[u8],
    state: &mut Option<Reset>,
    span: Range<usize>,
    bytes: &[u8],
) {
    if let Some(s) = state {
        for o in &mut s.others {
            o[span.clone()].copy_from_slice(bytes);
        }
        s.clean = false;
    }
    normalize(base, state);
}

/// A private page was given a new dirty copy of itself (`protect` taking it
/// out of its clone block): it keeps its candidates but can no longer lose
/// its contents.
pub(super) fn made_dirty(page: &mut PrivatePage) {
    if let (Some(s), Some(base)) = (&mut page.reset, &page.data) {
        s.clean = false;
        normalize(base, &mut page.reset);
    }
}

/// What a read of a reset page found.
pub(super) struct Seen {
    /// The contents the page could hold before the read.
    pub(super) choices: usize,
    /// The read found the bytes the page held gone (zeros instead).
    pub(super) lost: bool,
}

/// A read of bytes `span` of a page found `got`: None if no candidate holds
/// it; else the page keeps only the candidates that do (`base` becomes one
/// of them), and the answer says how many there were and whether `base` had
/// to change, that is whether the page's former contents were found gone.
fn observe(
    base: &mut [u8],
    state: &mut Option<Reset>,
    span: Range<usize>,
    got: &[u8],
    held: bool,
) -> Option<Seen> {
    let base_holds = base[span.clone()] == *got;
    let Some(s) = state else {
        return base_holds.then_some(Seen {
            choices: 1,
            lost: false,
        });
    };
    let choices = 1 + s.others.len();
    let mut holding: Vec<Bytes> = (s.others.iter())
        .filter(|o| o[span.clone()] == *got)
        .cloned()
        .collect();
    if !base_holds {
        if holding.is_empty() {
            return None;
        }
        base.copy_from_slice(&holding.remove(0));
    }
    s.others = holding;
    settle(base, state, held);
    Some(Seen {
        choices,
        lost: !base_holds,
    })
}

/// Runs `f` on page `page` of a section and its reset state.
fn with_section_page<R>(
    section: &mut SectionModel,
    page: u64,
    f: impl FnOnce(&mut [u8], &mut Option<Reset>) -> R,
) -> R {
    let mut state = section.resets.remove(&page);
    let r = f(section.page_mut(page), &mut state);
    if let Some(s) = state {
        section.resets.insert(page, s);
    }
    r
}

impl ViewModel {
    /// Whether page `index` of the view is a reset page (its copy, or the
    /// section's page).
    pub(super) fn uncertain(&self, section: &SectionModel, index: u64) -> bool {
        match self.copies.contains_key(&index) {
            true => self.copy_resets.contains_key(&index),
            false => section.resets.contains_key(&(self.first_page + index)),
        }
    }

    /// `bytes` were written at `span` of page `index` (its copy, or the
    /// section's page): into every candidate too.
    pub(super) fn note_write(
        &mut self,
        section: &mut SectionModel,
        index: u64,
        span: Range<usize>,
        bytes: &[u8],
    ) {
        if !self.uncertain(section, index) {
            return;
        }
        let write = |b: &mut [u8], st: &mut Option<Reset>| write_candidates(b, st, span, bytes);
        match self.copies.contains_key(&index) {
            true => self.with_copy(index, write),
            false => with_section_page(section, self.first_page + index, write),
        }
    }

    /// Runs `f` on the view's copy of page `index` and its reset state.
    fn with_copy<R>(
        &mut self,
        index: u64,
        f: impl FnOnce(&mut [u8], &mut Option<Reset>) -> R,
    ) -> R {
        let mut state = self.copy_resets.remove(&index);
        let r = f(self.copies.get_mut(&index).unwrap(), &mut state);
        if let Some(s) = state {
            self.copy_resets.insert(index, s);
        }
        r
    }
}

/// What MEM_RESET does to one page, by where its frame is just before
/// (MiResetVirtualMemory; for a view page or a clone-block page, the frame
/// of the prototype PTE).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Effect {
    /// Nothing that changes what it reads: no frame or copy to lose (a zero or
    /// demand-zero PTE; a view page whose PTE in this process is zero), a
    /// frame on standby (only modified pages are moved, and a standby frame
    /// keeps its paging-file copy), or a frame something else references.
    Keep,
    /// The frame is made clean and loses its paging-file copy: once it is
    /// reused the page reads zeros, until it is written again.
    MayDrop,
    /// Only a paging-file copy: released, and the PTE is demand zero at once.
    Zero,
    /// The same for a prototype PTE: every page it backs (a section's, a
    /// clone block's) reads zeros at once, and stays in the section or block.
    ZeroShared,
}

/// A MEM_RESET the model accepts: pages `fi..=li` of the region at `base`.
pub(super) struct ResetPlan {
    base: u64,
    fi: usize,
    li: usize,
    view: bool,
}

impl ResetPlan {
    /// The base and size the call returns.
    pub(super) fn range(&self) -> (u64, u64) {
        let first = self.base + self.fi as u64 * PAGE_SIZE;
        (first, (self.li - self.fi + 1) as u64 * PAGE_SIZE)
    }

    /// Whether it resets pages of a view (else private memory).
    pub(super) fn is_view(&self) -> bool {
        self.view
    }
}

impl Model {
    /// The whole pages `size` bytes at `address` cover, as a base and a size
    /// (MEM_RESET rounds inward, so nothing outside the range is lost).
    pub(super) fn reset_pages(address: u64, size: u64) -> Option<(u64, u64)> {
        let first = address.next_multiple_of(PAGE_SIZE);
        let end = (address + size) & !(PAGE_SIZE - 1);
        (end > first).then(|| (first, end - first))
    }

    /// MEM_RESET of `size` bytes at `address`: refused like a commit if the
    /// whole pages it covers (there must be one) are not in one region, and
    /// with STATUS_USER_MAPPED_FILE in a view of a mapped file.
    pub(super) fn reset(&self, pi: usize, address: u64, size: u64) -> Expect<ResetPlan> {
        let Some((first, bytes)) = Model::reset_pages(address, size) else {
            return Err(Refusal {
                what: "reset less than a page",
                status: NtStatus::CONFLICTING_ADDRESSES,
            });
        };
        let nothing = "reset outside any reservation";
        let region = self.range_region(pi, first, bytes, nothing, "reset across reservations")?;
        if let Kind::View(v) = &region.kind
            && self.sections[v.section].file.is_some()
        {
            return Err(Refusal {
                what: "reset a file view",
                status: NtStatus::USER_MAPPED_FILE,
            });
        }
        let (fi, li) = region.page_indices(first, bytes);
        Ok(ResetPlan {
            base: region.base,
            fi,
            li,
            view: region.is_view(),
        })
    }

    /// Applies a reset whose `effects` on each page the real system told
    /// (a page not listed has no page table: `Keep`).
    pub(super) fn apply_reset(
        &mut self,
        pi: usize,
        plan: &ResetPlan,
        effects: &HashMap<u64, Effect>,
    ) {
        for i in plan.fi..=plan.li {
            let va = plan.base + i as u64 * PAGE_SIZE;
            let effect = effects.get(&va).copied().unwrap_or(Effect::Keep);
            if !plan.view {
                match effect {
                    Effect::Keep => {}
                    Effect::MayDrop => self.reset_private_page(pi, va),
                    Effect::Zero => self.zero_private_page(pi, va),
                    Effect::ZeroShared => self.zero_clone_page(pi, va),
                }
                continue;
            }
            let Kind::View(v) = &self.procs[pi].regions[&plan.base].kind else {
                unreachable!()
            };
            assert!(
                effect == Effect::Keep || !v.copies.contains_key(&(i as u64)),
                "the generator keeps resets off a view's copies"
            );
            let page = v.first_page + i as u64;
            let section = &mut self.sections[v.section];
            match effect {
                Effect::Keep => {}
                Effect::MayDrop => {
                    with_section_page(section, page, |b, st| reset_candidates(b, st, false))
                }
                Effect::Zero | Effect::ZeroShared => {
                    section.page_mut(page).fill(0);
                    section.resets.remove(&page);
                }
            }
        }
    }

    /// Process `pi`'s private page at `va` had only a paging-file copy, which
    /// the reset released: it is demand zero, and in no clone block (a page
    /// in one has a PTE that points at the block).
    fn zero_private_page(&mut self, pi: usize, va: u64) {
        let page = self.procs[pi].private_page_mut(va).unwrap();
        page.data = None;
        page.reset = None;
        page.link = None;
    }

    /// Process `pi`'s page at `va` is in a clone block that had only a
    /// paging-file copy: the block's page reads zeros now, for every relative
    /// in it.
    fn zero_clone_page(&mut self, pi: usize, va: u64) {
        let page = self.procs[pi].private_page_mut(va).unwrap();
        assert!(
            page.link.is_some(),
            "{va:#x} is in a clone block the model does not know"
        );
        page.data = Some(zero_page());
        page.reset = None;
        let link = page.link;
        self.share(pi, va, link);
    }

    fn reset_private_page(&mut self, pi: usize, va: u64) {
        let held = self.held(pi, va);
        let page = self.procs[pi].private_page_mut(va).unwrap();
        // A page never touched is demand zero: WRK skips it.
        let Some(base) = page.data.as_deref().filter(|_| page.committed) else {
            return;
        };
        reset_candidates(base, &mut page.reset, held);
        let link = page.link;
        self.share(pi, va, link);
    }

    /// Gives every relative sharing the clone block `link` of process `pi`'s
    /// page at `va` that page's bytes and candidates.
    fn share(&mut self, pi: usize, va: u64, link: Option<u64>) {
        let Some(link) = link else {
            return;
        };
        let page = self.procs[pi].private_page(va).unwrap();
        let (data, reset) = (page.data.clone(), page.reset.clone());
        for p in &mut self.procs {
            if let Some(q) = p.private_page_mut(va).filter(|q| q.link == Some(link)) {
                q.data.clone_from(&data);
                q.reset.clone_from(&reset);
            }
        }
    }

    /// Whether process `pi`'s private page at `va` is held resident: locked,
    /// or in a clone block a relative has locked.
    fn held(&self, pi: usize, va: u64) -> bool {
        let Some(page) = self.procs[pi].private_page(va) else {
            return false;
        };
        page.locked
            || page.link.is_some_and(|l| {
                (self.procs.iter())
                    .filter_map(|p| p.private_page(va))
                    .any(|q| q.link == Some(l) && q.locked)
            })
    }

    /// Keeps the rule of `settle` for every process's page at `va`, after
    /// something may have stopped holding it.
    pub(super) fn settle_at(&mut self, va: u64) {
        let held_links: Vec<u64> = (self.procs.iter())
            .filter_map(|p| p.private_page(va))
            .filter(|q| q.locked)
            .filter_map(|q| q.link)
            .collect();
        for p in &mut self.procs {
            let Some(page) = p.private_page_mut(va) else {
                continue;
            };
            let held = page.locked || page.link.is_some_and(|l| held_links.contains(&l));
            if let Some(base) = &page.data {
                settle(base, &mut page.reset, held);
            }
        }
    }

    /// Process `pi`'s page at `va`, clean since a reset, was found to have
    /// lost its frame (its PTE is demand zero): it holds zeros, and is no
    /// longer in a clone block. Panics if the model says it could not have.
    pub(super) fn frame_lost(&mut self, pi: usize, va: u64) {
        let held = self.held(pi, va);
        let page = self.procs[pi].private_page_mut(va).unwrap();
        let zeros = zero_page();
        let could = !held
            && matches!((&page.data, &page.reset), (Some(d), Some(s))
                if **d == *zeros || s.others.contains(&zeros));
        assert!(
            could,
            "{va:#x} lost its frame, but the model says it is held or has contents to keep"
        );
        page.data = None;
        page.reset = None;
        page.link = None;
    }

    /// `settle_at` for `pages` pages from `first_va`.
    pub(super) fn settle_span(&mut self, first_va: u64, pages: u64) {
        for i in 0..pages {
            self.settle_at(first_va + i * PAGE_SIZE);
        }
    }

    /// `settle_at` for pages `fi..=li` of the region at `base`.
    pub(super) fn settle_pages(&mut self, base: u64, fi: usize, li: usize) {
        self.settle_span(base + fi as u64 * PAGE_SIZE, (li - fi + 1) as u64);
    }

    /// Takes process `vi` out of the model (terminated): the clone blocks it
    /// held locked are free to lose their frames.
    pub(super) fn remove_process(&mut self, vi: usize) -> ProcessModel {
        let p = self.procs.remove(vi);
        for va in p.locked_pages() {
            if p.private_page(va).is_some_and(|q| q.link.is_some()) {
                self.settle_at(va);
            }
        }
        p
    }

    /// What a read by process `pi` of bytes `span` of the page at `page_va`
    /// found (`got`), for a page the read listed as reset (`ReadOut`): None
    /// if the page could not hold it. The page keeps only the candidates the
    /// read allows.
    pub(super) fn observe(
        &mut self,
        pi: usize,
        page_va: u64,
        span: Range<usize>,
        got: &[u8],
    ) -> Option<Seen> {
        let held = self.held(pi, page_va);
        let base = self.procs[pi].region_base_at(page_va)?;
        let index = (page_va - base) / PAGE_SIZE;
        let (procs, sections) = (&mut self.procs, &mut self.sections);
        let found = match &mut procs[pi].regions.get_mut(&base).unwrap().kind {
            Kind::Private(pages) => {
                let page = &mut pages[index as usize];
                let data = page.data.as_deref_mut()?;
                observe(data, &mut page.reset, span, got, held)?
            }
            Kind::View(v) => {
                let see = |b: &mut [u8], st: &mut Option<Reset>| observe(b, st, span, got, false);
                match v.copies.contains_key(&index) {
                    true => v.with_copy(index, see)?,
                    false => {
                        with_section_page(&mut sections[v.section], v.first_page + index, see)?
                    }
                }
            }
        };
        let link = self.procs[pi].private_page(page_va).and_then(|p| p.link);
        self.share(pi, page_va, link);
        Some(found)
    }

    /// How many contents the page at `page_va` of process `pi` may hold (for
    /// a failure's message).
    pub(super) fn candidates(&self, pi: usize, page_va: u64) -> usize {
        let p = &self.procs[pi];
        let Some(r) = p.region_at(page_va) else {
            return 0;
        };
        let index = (page_va - r.base) / PAGE_SIZE;
        let state = match &r.kind {
            Kind::Private(pages) => pages[index as usize].reset.as_ref(),
            Kind::View(v) if v.copies.contains_key(&index) => v.copy_resets.get(&index),
            Kind::View(v) => self.sections[v.section].resets.get(&(v.first_page + index)),
        };
        1 + state.map_or(0, |s| s.others.len())
    }
}

/// Whether a reset of `first..first + bytes` in the view at `view_base`
/// would reach a page the view has copied (the generator keeps resets off
/// them).
pub(super) fn touches_copies(v: &ViewModel, view_base: u64, first: u64, bytes: u64) -> bool {
    let fi = (first - view_base) / PAGE_SIZE;
    let n = bytes / PAGE_SIZE;
    (fi..fi + n).any(|i| v.copies.contains_key(&i))
}
