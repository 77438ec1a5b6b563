//! Snapshots of the executive pool for `pool/`: every block (`allocations`,
//! the `!pool` view of all pages), the tag table (`used`, `!poolused`) and
//! one page's blocks as its headers say (`pool/<ADDRESS>`, `!pool ADDRESS`).
//! Reading never faults a page in: a paged-out page's headers are not read
//! (the view says so); the Rust-side records still list its blocks.

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::kernel::pool::pages::resident_frame;
use crate::mm::kernel::pool::{Pool, PoolType};

/// One block (`allocations`): `address` is where its data starts (what the
/// allocation returned), `size` the bytes asked for (a free block: the bytes
/// it could give). `state`: allocated, free, big (whole pages) or special.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolBlockRow {
    pub address: u64,
    pub size: u64,
    pub ty: PoolType,
    pub tag: String,
    pub state: &'static str,
}

/// One row of `used`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PoolTagRow {
    pub tag: String,
    pub paged_allocs: u64,
    pub paged_frees: u64,
    pub paged_bytes: u64,
    pub nonpaged_allocs: u64,
    pub nonpaged_frees: u64,
    pub nonpaged_bytes: u64,
}

/// One pool page (`pool/<ADDRESS>`): what it is, and for a page of blocks
/// each header as it lies in memory: (header address, PreviousSize,
/// BlockSize, PoolType field, tag). `resident` false: the page is in the
/// paging file and `headers` is empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPageView {
    pub page: u64,
    pub ty: PoolType,
    pub kind: &'static str,
    pub resident: bool,
    pub headers: Vec<(u64, u32, u32, u32, String)>,
    /// Big and special pages: the allocation (address, bytes, tag).
    pub allocation: Option<(u64, u64, String)>,
}

impl Mm {
    /// `pool/allocations`, by address.
    pub fn pool_allocations(&self) -> Vec<PoolBlockRow> {
        let k = self.kernel_lock();
        let pool = &k.pool;
        let Some(g) = pool.geometry else {
            return Vec::new();
        };
        let mut rows: Vec<PoolBlockRow> = pool
            .live
            .iter()
            .map(|(&address, b)| row(address, b.size, b.ty, b.tag, "allocated"))
            .collect();
        for ty in PoolType::ALL {
            for (units, list) in pool.descriptors[ty as usize].free.iter().enumerate() {
                let size = (units as u64 * g.unit).saturating_sub(g.header);
                rows.extend(
                    list.iter()
                        .map(|&at| row(at + g.header, size, ty, Default::default(), "free")),
                );
            }
        }
        rows.extend(
            pool.big
                .iter()
                .map(|(&a, b)| row(a, b.size, b.ty, b.tag, "big")),
        );
        rows.extend(
            pool.special
                .iter()
                .map(|(&a, s)| row(a, s.size, s.ty, s.tag, "special")),
        );
        rows.sort_by_key(|r| r.address);
        rows
    }

    /// `pool/used`, by tag.
    pub fn pool_used(&self) -> Vec<PoolTagRow> {
        let k = self.kernel_lock();
        k.pool
            .tags
            .iter()
            .map(|(tag, u)| PoolTagRow {
                tag: tag.to_string(),
                paged_allocs: u.allocs[1],
                paged_frees: u.frees[1],
                paged_bytes: u.bytes[1],
                nonpaged_allocs: u.allocs[0],
                nonpaged_frees: u.frees[0],
                nonpaged_bytes: u.bytes[0],
            })
            .collect()
    }

    /// `pool/<ADDRESS>`: the pool page holding `addr`. STATUS_INVALID_ADDRESS
    /// when no pool page is there.
    pub fn pool_page(&self, addr: u64) -> MmResult<PoolPageView> {
        let k = self.kernel_lock();
        let system = self.system_process()?;
        let space = system.space();
        let pool = &k.pool;
        let page = addr / PAGE_SIZE * PAGE_SIZE;
        let frame = resident_frame(&self.machine, &space, page);
        let mut view = page_kind(pool, page)
            .ok_or_else(|| mm_err!(INVALID_ADDRESS, "{addr:#x} is not in a page the pool holds"))?;
        view.resident = frame.is_some();
        if let (Some(pfn), "blocks", Some(g)) = (frame, view.kind, pool.geometry) {
            let mut off = 0u64;
            while off < PAGE_SIZE {
                let mut raw = [0u8; 16];
                self.machine
                    .phys
                    .read(pfn, off as usize, &mut raw[..g.header as usize]);
                let h = g.decode(&raw);
                let tag = h.tag.to_string();
                view.headers
                    .push((page + off, h.previous_size, h.block_size, h.pool_type, tag));
                if h.block_size == 0 {
                    break;
                }
                off += u64::from(h.block_size) * g.unit;
            }
        }
        Ok(view)
    }
}

fn row(
    address: u64,
    size: u64,
    ty: PoolType,
    tag: crate::mm::kernel::pool::Tag,
    state: &'static str,
) -> PoolBlockRow {
    PoolBlockRow {
        address,
        size,
        ty,
        tag: tag.to_string(),
        state,
    }
}

/// What the pool keeps at `page`, if anything.
fn page_kind(pool: &Pool, page: u64) -> Option<PoolPageView> {
    let view = |ty, kind, allocation| PoolPageView {
        page,
        ty,
        kind,
        resident: false,
        headers: Vec::new(),
        allocation,
    };
    for ty in PoolType::ALL {
        if pool.descriptors[ty as usize]
            .block_pages
            .contains_key(&page)
        {
            return Some(view(ty, "blocks", None));
        }
    }
    if let Some((&va, b)) = pool.big.range(..=page).next_back()
        && page < va + b.pages * PAGE_SIZE
    {
        return Some(view(b.ty, "big", Some((va, b.size, b.tag.to_string()))));
    }
    let special = pool
        .special
        .iter()
        .find(|(_, s)| s.page == page || s.page + PAGE_SIZE == page);
    special.map(|(&a, s)| {
        let kind = if s.page == page { "special" } else { "guard" };
        view(s.ty, kind, Some((a, s.size, s.tag.to_string())))
    })
}
