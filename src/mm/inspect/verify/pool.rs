//! The checks of the executive pool, against the System process's page
//! tables and the simulated bytes: every block page's headers chain (first
//! PreviousSize 0, each PreviousSize the BlockSize before it, BlockSizes
//! adding up to the page, PoolType a type + 1 or 0), free headers exactly the
//! free lists, busy headers exactly the live blocks; the tag table against
//! the allocations; the big pool table and special pool against their PTEs;
//! the pages counted against the pages held.
//!
//! Looking never faults a page in: a page's headers are read only when it is
//! in memory (valid, or in transition on a list, read from its frame). A
//! paged pool page that is out (its PTE names a paging-file slot) is skipped;
//! the space walk has already checked that slot.

use std::collections::{BTreeMap, BTreeSet};

use crate::mm::base::types::{PAGE_SIZE, Va};
use crate::mm::hw::pte::PteState;
use crate::mm::kernel::pool::header::Geometry;
use crate::mm::kernel::pool::pages::resident_frame;
use crate::mm::kernel::pool::{Pool, PoolType, TagUsage};
use crate::mm::process::AddressSpace;

use super::Tally;

pub(super) fn check(t: &mut Tally<'_>, pool: &Pool, system: &AddressSpace) {
    let Some(g) = pool.geometry else {
        return;
    };
    for ty in PoolType::ALL {
        let d = &pool.descriptors[ty as usize];
        for (&page, &busy) in &d.block_pages {
            block_page(t, pool, system, g, ty, page, busy);
        }
        for (units, list) in d.free.iter().enumerate() {
            for &at in list {
                if !d.block_pages.contains_key(&(at / PAGE_SIZE * PAGE_SIZE)) {
                    t.v.push(format!(
                        "pool: free block {at:#x} ({units} units) is on no block page"
                    ));
                }
            }
        }
    }
    big_and_special(t, pool, system);
    tag_totals(t, pool, g);
}

/// Walks one block page's headers (if it is in memory).
fn block_page(
    t: &mut Tally<'_>,
    pool: &Pool,
    system: &AddressSpace,
    g: Geometry,
    ty: PoolType,
    page: u64,
    busy: u32,
) {
    let Some(pfn) = resident_frame(t.m, system, page) else {
        if ty == PoolType::NonPaged || !paged_out(t, system, page) {
            t.v.push(format!(
                "pool: {} block page {page:#x} is neither in memory nor in a paging file",
                ty.name()
            ));
        }
        return;
    };
    let d = &pool.descriptors[ty as usize];
    let (mut off, mut previous, mut found_busy) = (0u64, 0u32, 0u32);
    while off < PAGE_SIZE {
        let mut raw = [0u8; 16];
        t.m.phys
            .read(pfn, off as usize, &mut raw[..g.header as usize]);
        let h = g.decode(&raw);
        let at = page + off;
        let bad =
            |why: String| format!("pool: block {at:#x} of {} page {page:#x}: {why}", ty.name());
        if h.block_size == 0 || off + u64::from(h.block_size) * g.unit > PAGE_SIZE {
            t.v.push(bad(format!("BlockSize {} runs off the page", h.block_size)));
            return;
        }
        if h.previous_size != previous {
            t.v.push(bad(format!(
                "PreviousSize {} but the block before has {previous}",
                h.previous_size
            )));
        }
        if h.pool_type == 0 {
            if !d.free[h.block_size as usize].contains(&at) {
                t.v.push(bad(format!(
                    "free header ({} units) not on its free list",
                    h.block_size
                )));
            }
        } else {
            found_busy += 1;
            match pool.live.get(&(at + g.header)) {
                Some(b)
                    if b.units == h.block_size
                        && b.tag == h.tag
                        && h.pool_type == ty.header_value() => {}
                other => {
                    t.v.push(bad(format!("busy header {h:?} but the pool has {other:?}")))
                }
            }
        }
        previous = h.block_size;
        off += u64::from(h.block_size) * g.unit;
    }
    if found_busy != busy {
        t.v.push(format!(
            "pool: page {page:#x} has {found_busy} busy headers, {busy} counted"
        ));
    }
}

/// Whether the PTE of `va` names a paging-file slot (a paged-out pool page)
/// or is still demand zero (never touched).
fn paged_out(t: &Tally<'_>, system: &AddressSpace, va: u64) -> bool {
    let tables = system.tables(t.m);
    tables.leaf(Va(va)).is_some_and(|loc| {
        matches!(
            t.m.fmt.decode(tables.read(loc)),
            PteState::PageFile { .. } | PteState::DemandZero { .. }
        )
    })
}

/// Each big allocation's pages and each special allocation's page are
/// committed in the right pool (non-paged: valid), each guard page holds
/// nothing, and the pages each pool counts are the pages it holds.
fn big_and_special(t: &mut Tally<'_>, pool: &Pool, system: &AddressSpace) {
    let mut held = [0u64; 2];
    for ty in PoolType::ALL {
        held[ty as usize] += pool.descriptors[ty as usize].block_pages.len() as u64;
    }
    let mut pages: Vec<(u64, PoolType, &str)> = Vec::new();
    for (&va, b) in &pool.big {
        held[b.ty as usize] += b.pages;
        pages.extend((0..b.pages).map(|i| (va + i * PAGE_SIZE, b.ty, "big")));
    }
    for s in pool.special.values() {
        held[s.ty as usize] += 1;
        pages.push((s.page, s.ty, "special"));
        let guard = s.page + PAGE_SIZE;
        let tables = system.tables(t.m);
        if tables
            .leaf(Va(guard))
            .is_some_and(|l| !tables.read(l).is_zero())
        {
            t.v.push(format!(
                "pool: the guard page {guard:#x} of special pool is mapped"
            ));
        }
    }
    for (va, ty, what) in pages {
        let ok = match ty {
            PoolType::Paged => {
                resident_frame(t.m, system, va).is_some() || paged_out(t, system, va)
            }
            PoolType::NonPaged => valid(t, system, va),
        };
        if !ok || pool.type_of(va) != Some(ty) {
            t.v.push(format!(
                "pool: {what} {} pool page {va:#x} is not committed there",
                ty.name()
            ));
        }
    }
    for ty in PoolType::ALL {
        if held[ty as usize] != pool.pages(ty) {
            t.v.push(format!(
                "pool: {} pool holds {} pages but counts {}",
                ty.name(),
                held[ty as usize],
                pool.pages(ty)
            ));
        }
    }
}

fn valid(t: &Tally<'_>, system: &AddressSpace, va: u64) -> bool {
    let tables = system.tables(t.m);
    tables
        .leaf(Va(va))
        .is_some_and(|l| matches!(t.m.fmt.decode(tables.read(l)), PteState::Valid(_)))
}

/// The tag table's bytes in use and outstanding allocations are what the
/// live, big and special allocations add up to.
fn tag_totals(t: &mut Tally<'_>, pool: &Pool, g: Geometry) {
    let mut want: BTreeMap<_, (TagUsage, [u64; 2])> = BTreeMap::new();
    for b in pool.live.values() {
        let w = want.entry(b.tag).or_default();
        w.0.bytes[b.ty as usize] += u64::from(b.units) * g.unit;
        w.1[b.ty as usize] += 1;
    }
    for b in pool.big.values() {
        let w = want.entry(b.tag).or_default();
        w.0.bytes[b.ty as usize] += b.pages * PAGE_SIZE;
        w.1[b.ty as usize] += 1;
    }
    for s in pool.special.values() {
        let w = want.entry(s.tag).or_default();
        w.0.bytes[s.ty as usize] += PAGE_SIZE;
        w.1[s.ty as usize] += 1;
    }
    let tags: BTreeSet<_> = want.keys().chain(pool.tags.keys()).copied().collect();
    for tag in tags {
        let have = pool.tags.get(&tag).copied().unwrap_or_default();
        let (w, live) = want.get(&tag).copied().unwrap_or_default();
        for ty in PoolType::ALL {
            let i = ty as usize;
            let outstanding = have.allocs[i].saturating_sub(have.frees[i]);
            if have.bytes[i] != w.bytes[i] || outstanding != live[i] {
                t.v.push(format!(
                    "pool: tag {tag} {}: {} bytes and {outstanding} outstanding counted, {} bytes and {} allocations exist",
                    ty.name(),
                    have.bytes[i],
                    w.bytes[i],
                    live[i]
                ));
            }
        }
    }
}
