//! Page-level expansion and contraction of the pool (MiAllocatePoolPages,
//! MiFreePoolPages), and the simulated MMU the pool reads and writes its
//! headers through.
//!
//! A non-paged pool page gets a frame at once, charged against resident
//! available memory, valid in the System process's page tables, Active with
//! use NonPagedPool and in no working set (NT maps non-paged pool outside any
//! working set, so nothing trims it). A paged pool page is charged to the
//! commit charge and its PTE made demand zero (read/write): the first touch is
//! an ordinary demand-zero fault of the System process, after which the page
//! is in System's working set and pages like any private page.
//!
//! Caller holds `Mm::kernel` and the System process's address space; the
//! commit lock and the PFN lock are taken here, one at a time.

use std::collections::BTreeMap;

use crate::mm::base::protection::Protection;
use crate::mm::base::status::{MmError, MmResult};
use crate::mm::base::types::{Arch, Mmpte, PAGE_SIZE, Pfn, Va};
use crate::mm::fault::{self, Access};
use crate::mm::hw::pte::{HardwarePte, PteState};
use crate::mm::machine::{ActivePage, Machine, PageNeed, activate_locked};
use crate::mm::pfn::PageUse;
use crate::mm::process::AddressSpace;
use crate::mm::process::page_tables::pte_va;

use super::{Pool, PoolType};

/// The machine and the System process's (locked) address space.
pub(super) struct Ctx<'a> {
    pub m: &'a Machine,
    pub space: &'a mut AddressSpace,
}

/// Free runs of page addresses (start → pages), first fit from the bottom:
/// non-paged pool's address space.
#[derive(Default, Debug, Clone)]
pub struct PageRuns {
    pub free: BTreeMap<u64, u64>,
}

impl PageRuns {
    pub fn new(start: u64, pages: u64) -> PageRuns {
        let mut free = BTreeMap::new();
        if pages > 0 {
            free.insert(start, pages);
        }
        PageRuns { free }
    }

    pub fn claim(&mut self, pages: u64) -> Option<u64> {
        let (&at, &len) = self.free.iter().find(|&(_, &len)| len >= pages)?;
        self.free.remove(&at);
        if len > pages {
            self.free.insert(at + pages * PAGE_SIZE, len - pages);
        }
        Some(at)
    }

    /// Gives back a run from `claim`, merged with free neighbours.
    pub fn release(&mut self, at: u64, pages: u64) {
        let (mut start, mut len) = (at, pages);
        if let Some((&prev, &plen)) = self.free.range(..start).next_back()
            && prev + plen * PAGE_SIZE == start
        {
            self.free.remove(&prev);
            start = prev;
            len += plen;
        }
        if let Some(nlen) = self.free.remove(&(start + len * PAGE_SIZE)) {
            len += nlen;
        }
        self.free.insert(start, len);
    }
}

/// Why the pool could not grow: ExAllocatePoolWithTag returns NULL, which its
/// callers turn into STATUS_INSUFFICIENT_RESOURCES.
fn insufficient(ty: PoolType, why: &str) -> MmError {
    mm_err!(
        INSUFFICIENT_RESOURCES,
        "{} pool cannot grow: {why}",
        ty.name()
    )
}

impl Pool {
    /// Claims `pages` pages of `ty` pool's address space and backs the first
    /// `mapped` of them (the rest stay no-access: special pool's guard page).
    /// On failure nothing is left claimed or charged.
    pub(super) fn grow(
        &mut self,
        cx: &mut Ctx<'_>,
        ty: PoolType,
        pages: u64,
        mapped: u64,
    ) -> MmResult<u64> {
        let m = cx.m;
        match ty {
            PoolType::Paged => m
                .charge_commit(mapped)
                .map_err(|e| insufficient(ty, &e.message))?,
            PoolType::NonPaged => m
                .charge_resident(mapped, "non-paged pool")
                .map_err(|e| insufficient(ty, &e.message))?,
        }
        let Some(va) = self.claim_va(m, ty, pages) else {
            self.uncharge(m, ty, mapped);
            let max = match ty {
                PoolType::Paged => self.paged_max_pages,
                PoolType::NonPaged => self.nonpaged_max_pages,
            };
            return Err(insufficient(
                ty,
                &format!("its {max} pages of address space are in use"),
            ));
        };
        for i in 0..mapped {
            let page = va + i * PAGE_SIZE;
            let done = match ty {
                PoolType::Paged => map_paged(cx, page),
                PoolType::NonPaged => map_nonpaged(cx, page),
            };
            if let Err(e) = done {
                for j in 0..i {
                    unmap(cx, ty, va + j * PAGE_SIZE);
                }
                self.release_va(m, ty, va, pages);
                self.uncharge(m, ty, mapped);
                return Err(insufficient(ty, &e.message));
            }
        }
        self.descriptors[ty.index()].total_pages += mapped;
        Ok(va)
    }

    /// Gives back what `grow` made: frames or paging-file slots, addresses
    /// and charges.
    pub(super) fn shrink(
        &mut self,
        cx: &mut Ctx<'_>,
        ty: PoolType,
        va: u64,
        pages: u64,
        mapped: u64,
    ) {
        for i in 0..mapped {
            unmap(cx, ty, va + i * PAGE_SIZE);
        }
        self.release_va(cx.m, ty, va, pages);
        self.uncharge(cx.m, ty, mapped);
        self.descriptors[ty.index()].total_pages -= mapped;
    }

    fn claim_va(&mut self, m: &Machine, ty: PoolType, pages: u64) -> Option<u64> {
        match ty {
            PoolType::NonPaged => self.nonpaged_va.claim(pages),
            PoolType::Paged => m.pfn_lock().segments.pool.claim_pages(pages),
        }
    }

    fn release_va(&mut self, m: &Machine, ty: PoolType, va: u64, pages: u64) {
        match ty {
            PoolType::NonPaged => self.nonpaged_va.release(va, pages),
            PoolType::Paged => m.pfn_lock().segments.pool.release_pages(va, pages),
        }
    }

    fn uncharge(&self, m: &Machine, ty: PoolType, pages: u64) {
        match ty {
            PoolType::Paged => m.uncharge_commit(pages),
            PoolType::NonPaged => m.uncharge_resident(pages),
        }
    }
}

/// A paged pool page: a demand-zero PTE, read/write.
fn map_paged(cx: &mut Ctx<'_>, va: u64) -> MmResult<()> {
    let m = cx.m;
    let loc = cx.space.ensure_leaf(m, Va(va))?;
    let pte = m.fmt.encode(&PteState::DemandZero {
        protection: Protection::READWRITE,
    });
    cx.space.tables(m).write(loc, pte);
    Ok(())
}

/// A non-paged pool page: a zeroed frame, valid, in no working set.
fn map_nonpaged(cx: &mut Ctx<'_>, va: u64) -> MmResult<()> {
    let m = cx.m;
    let loc = cx.space.ensure_leaf(m, Va(va))?;
    let (mut st, page) = cx.space.obtain_page(m, PageNeed::Zeroed)?;
    let active = ActivePage {
        use_: PageUse::NonPagedPool,
        owner: cx.space.slot,
        pte_address: pte_va(m, Va(va)),
        original_pte: Mmpte::ZERO,
        share: 1,
        ws_index: 0,
    };
    activate_locked(&mut st, page.pfn, active);
    st.db.increment_share(loc.table);
    let pte = m.fmt.encode(&PteState::Valid(HardwarePte {
        pfn: page.pfn,
        write: true,
        owner: false,
        accessed: true,
        dirty: true,
        no_execute: m.fmt.arch() != Arch::X86,
        ..HardwarePte::default()
    }));
    // Under the PFN lock, as every frame becoming valid is.
    cx.space.tables(m).write(loc, pte);
    Ok(())
}

/// Takes a pool page's PTE away, freeing its frame or paging-file slot.
fn unmap(cx: &mut Ctx<'_>, ty: PoolType, va: u64) {
    let m = cx.m;
    let Some(loc) = cx.space.tables(m).leaf(Va(va)) else {
        return;
    };
    match ty {
        PoolType::Paged => {
            cx.space.delete_pte(m, loc, Va(va), Mmpte::ZERO);
        }
        PoolType::NonPaged => {
            let mut st = m.pfn_lock();
            let tables = cx.space.tables(m);
            if let PteState::Valid(h) = m.fmt.decode(tables.read(loc)) {
                st.db.decrement_share(loc.table);
                m.release_frame_locked(&mut st, h.pfn);
            }
            tables.write(loc, Mmpte::ZERO);
        }
    }
}

impl Ctx<'_> {
    /// The frame of the pool page at `va`, made resident by a touch of the
    /// System process (a paged pool page may fault in: demand zero, from
    /// transition or from the paging file). The page stays resident while the
    /// caller holds the address space and touches nothing else.
    pub fn frame(&mut self, va: u64, access: Access) -> MmResult<Pfn> {
        fault::touch(self.m, self.space, Va(va), access).map_err(|f| f.error)
    }
}

/// The frame holding the pool page at `va` if it is in memory (valid, or in
/// transition on a list), without touching it: what `verify` and the views
/// read, so looking never faults a page in.
pub fn resident_frame(m: &Machine, space: &AddressSpace, va: u64) -> Option<Pfn> {
    let tables = space.tables(m);
    let loc = tables.leaf(Va(va))?;
    match m.fmt.decode(tables.read(loc)) {
        PteState::Valid(h) => Some(h.pfn),
        PteState::Transition { pfn, .. } => Some(pfn),
        _ => None,
    }
}
