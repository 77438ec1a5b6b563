//! Small allocations: blocks carved out of pool pages (ExAllocatePoolWithTag
//! and ExFreePoolWithTag for requests up to POOL_BUDDY_MAX).
//!
//! A pool page is a chain of blocks, each starting with a POOL_HEADER whose
//! BlockSize is its length and PreviousSize its predecessor's, so the chain
//! can be walked both ways. An allocation takes the first free block of at
//! least the size needed, looking from its own list head upwards, and splits
//! off the rest as a new free block; a new page is carved when none is free.
//! A free merges the block with a free neighbour on either side, found through
//! the headers; a page whose blocks are all free again goes back
//! (MiFreePoolPages). Simplification: no lookaside lists, so every free merges
//! at once (NT parks small blocks on per-processor lookaside lists first).
//!
//! Every header is read and written in the simulated page through one touch of
//! the System process (`Ctx::frame`), before anything changes, so a page that
//! cannot be brought in leaves the pool as it was.

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Pfn};
use crate::mm::fault::Access;
use crate::mm::machine::Machine;

use super::pages::Ctx;
use super::{Block, Pool, PoolHeader, PoolType, Tag};

/// Reads the header at page offset `off` of `pfn`. A header is one or two
/// aligned 8-byte words (blocks start on a unit, 8 or 16 bytes), read as
/// words rather than through a byte copy: every allocation and free reads
/// two or three of them.
pub(super) fn read_header(m: &Machine, g: super::Geometry, pfn: Pfn, off: u64) -> PoolHeader {
    let mut raw = [0u8; 16];
    for (i, word) in raw[..g.header as usize].chunks_exact_mut(8).enumerate() {
        let v = m.phys.load_entry(pfn, off as usize + i * 8, 8);
        word.copy_from_slice(&v.to_le_bytes());
    }
    g.decode(&raw)
}

fn write_header(m: &Machine, g: super::Geometry, pfn: Pfn, off: u64, h: &PoolHeader) {
    let raw = g.encode(h);
    for (i, word) in raw[..g.header as usize].chunks_exact(8).enumerate() {
        let v = u64::from_le_bytes(word.try_into().unwrap_or_default());
        m.phys.store_entry(pfn, off as usize + i * 8, 8, v);
    }
}

impl Pool {
    /// The first free block of at least `units` of `ty` pool, smallest list first.
    fn find_free(&self, ty: PoolType, units: u32) -> Option<(u64, u32)> {
        let d = &self.descriptors[ty.index()];
        let &u = d.nonempty.range(units..).next()?;
        d.free[u as usize].first().map(|&at| (at, u))
    }

    pub(super) fn allocate_block(
        &mut self,
        cx: &mut Ctx<'_>,
        ty: PoolType,
        size: u64,
        tag: Tag,
    ) -> MmResult<u64> {
        let g = self.geometry();
        let need = g.units_for(size);
        let (block, units, pfn) = match self.find_free(ty, need) {
            Some((at, units)) => {
                let pfn = cx.frame(at, Access::Write)?;
                self.descriptors[ty.index()].take(units, at);
                (at, units, pfn)
            }
            None => self.new_block_page(cx, ty)?,
        };
        let off = block % PAGE_SIZE;
        let previous_size = if off == 0 {
            0
        } else {
            read_header(cx.m, g, pfn, off).previous_size
        };
        let busy = PoolHeader {
            previous_size,
            pool_index: 0,
            block_size: need,
            pool_type: ty.header_value(),
            tag,
        };
        write_header(cx.m, g, pfn, off, &busy);
        if units > need {
            let rest = block + u64::from(need) * g.unit;
            self.write_free_block(cx.m, pfn, ty, rest, need, units - need, tag);
        }
        let addr = block + g.header;
        self.live.insert(
            addr,
            Block {
                ty,
                tag,
                units: need,
                size,
            },
        );
        let page = block - off;
        *self.descriptors[ty.index()]
            .block_pages
            .entry(page)
            .or_default() += 1;
        self.track_alloc(tag, ty, u64::from(need) * g.unit);
        Ok(addr)
    }

    /// A new page for blocks: one free block of the whole page, which the
    /// caller splits at once (a whole page is one unit more than BlockSize
    /// can say, so it is never written as one block).
    fn new_block_page(&mut self, cx: &mut Ctx<'_>, ty: PoolType) -> MmResult<(u64, u32, Pfn)> {
        let page = self.grow(cx, ty, 1, 1)?;
        match cx.frame(page, Access::Write) {
            Ok(pfn) => Ok((page, self.geometry().units_per_page(), pfn)),
            Err(e) => {
                self.shrink(cx, ty, page, 1, 1);
                Err(mm_err!(
                    INSUFFICIENT_RESOURCES,
                    "{} pool cannot grow: {}",
                    ty.name(),
                    e.message
                ))
            }
        }
    }

    /// Writes a free block of `units` at `at` (its predecessor `previous`
    /// units long), puts it on its list and fixes its successor's
    /// PreviousSize. The block keeps the tag of the last allocation there, as
    /// NT's free blocks do.
    #[allow(clippy::too_many_arguments)]
    fn write_free_block(
        &mut self,
        m: &Machine,
        pfn: Pfn,
        ty: PoolType,
        at: u64,
        previous: u32,
        units: u32,
        tag: Tag,
    ) {
        let g = self.geometry();
        let off = at % PAGE_SIZE;
        let free = PoolHeader {
            previous_size: previous,
            pool_index: 0,
            block_size: units,
            pool_type: 0,
            tag,
        };
        write_header(m, g, pfn, off, &free);
        let next = off + u64::from(units) * g.unit;
        if next < PAGE_SIZE {
            let mut h = read_header(m, g, pfn, next);
            h.previous_size = units;
            write_header(m, g, pfn, next, &h);
        }
        self.descriptors[ty.index()].put(units, at);
    }

    pub(super) fn free_block(&mut self, cx: &mut Ctx<'_>, addr: u64, b: Block) -> MmResult<()> {
        let g = self.geometry();
        let block = addr - g.header;
        let page = block / PAGE_SIZE * PAGE_SIZE;
        let pfn = cx.frame(block, Access::Write)?;
        let off = block - page;
        let me = read_header(cx.m, g, pfn, off);
        let (mut start, mut units) = (off, b.units);
        let mut previous = if off == 0 { 0 } else { me.previous_size };
        let d = b.ty.index();
        let next = off + u64::from(b.units) * g.unit;
        if next < PAGE_SIZE
            && let Some(h) = self.free_on_page(cx.m, pfn, b.ty, page, next)
        {
            self.descriptors[d].take(h.block_size, page + next);
            units += h.block_size;
        }
        let back = u64::from(previous) * g.unit;
        if previous > 0
            && back <= off
            && let Some(h) = self.free_on_page(cx.m, pfn, b.ty, page, off - back)
            && h.block_size == previous
        {
            self.descriptors[d].take(previous, page + off - back);
            start = off - back;
            units += previous;
            previous = h.previous_size;
        }
        self.live.remove(&addr);
        self.track_free(b.tag, b.ty, u64::from(b.units) * g.unit);
        let busy = self.descriptors[d].block_pages.entry(page).or_default();
        *busy = busy.saturating_sub(1);
        if units >= g.units_per_page() {
            self.descriptors[d].block_pages.remove(&page);
            self.shrink(cx, b.ty, page, 1, 1);
        } else {
            self.write_free_block(cx.m, pfn, b.ty, page + start, previous, units, b.tag);
        }
        Ok(())
    }

    /// A free neighbour of a block at page offset `off`, found through its
    /// header and confirmed by the free list (a header overwritten in RAM is
    /// never trusted alone).
    fn free_on_page(
        &self,
        m: &Machine,
        pfn: Pfn,
        ty: PoolType,
        page: u64,
        off: u64,
    ) -> Option<PoolHeader> {
        let h = read_header(m, self.geometry(), pfn, off);
        let listed = self.descriptors[ty.index()]
            .free
            .get(h.block_size as usize)
            .is_some_and(|l| l.contains(&(page + off)));
        (h.pool_type == 0 && h.block_size > 0 && listed).then_some(h)
    }
}
