//! Special pool (MmAllocateSpecialPool, Driver Verifier's overrun check):
//! while a tag is chosen (`special TAG`), each of its allocations gets a page
//! of its own, with the data at the end of the page (aligned to the block
//! unit) and the next page left no-access (an invalid PTE), so a write past
//! the end faults at once. The page starts with a POOL_HEADER (BlockSize: the
//! data's block units, PoolType: type + 1, the tag); the bytes between the
//! header and the data, and after the data up to the page's end, are filled
//! with SPECIAL_POOL_PATTERN and checked on free.
//!
//! A free that finds the pattern changed is NT's bugcheck 0xC1
//! SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION. mmfs does not stop: it frees the
//! allocation (the pages go back as for any free), emits a
//! `pool.special-corruption` event, and fails the free with STATUS_DATA_ERROR
//! (EIO) and a sentence naming the bugcheck, the address and the first
//! changed byte.

use crate::mm::base::status::MmResult;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::fault::Access;

use super::blocks::read_header;
use super::pages::Ctx;
use super::{Pool, PoolHeader, PoolType, Tag};

/// The byte special pool fills slack with (WRK fills with a byte derived from
/// the address; one fixed byte is easier to see in a dump).
pub const SPECIAL_POOL_PATTERN: u8 = 0xAA;

/// One special pool allocation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SpecialAllocation {
    pub ty: PoolType,
    pub tag: Tag,
    /// The data page; the guard page follows it.
    pub page: u64,
    /// The bytes asked for.
    pub size: u64,
}

impl SpecialAllocation {
    /// Where the data starts in its page.
    pub fn data_offset(&self, unit: u64) -> u64 {
        PAGE_SIZE - self.size.div_ceil(unit) * unit
    }
}

impl Pool {
    pub(super) fn allocate_special(
        &mut self,
        cx: &mut Ctx<'_>,
        ty: PoolType,
        size: u64,
        tag: Tag,
    ) -> MmResult<u64> {
        let g = self.geometry();
        let page = self.grow(cx, ty, 2, 1)?;
        let pfn = match cx.frame(page, Access::Write) {
            Ok(pfn) => pfn,
            Err(e) => {
                self.shrink(cx, ty, page, 2, 1);
                return Err(mm_err!(
                    INSUFFICIENT_RESOURCES,
                    "special pool: {}",
                    e.message
                ));
            }
        };
        let s = SpecialAllocation {
            ty,
            tag,
            page,
            size,
        };
        let data = s.data_offset(g.unit);
        let header = PoolHeader {
            previous_size: 0,
            pool_index: 0,
            block_size: ((PAGE_SIZE - data) / g.unit) as u32,
            pool_type: ty.header_value(),
            tag,
        };
        cx.m.phys
            .write(pfn, 0, &g.encode(&header)[..g.header as usize]);
        let fill = vec![SPECIAL_POOL_PATTERN; PAGE_SIZE as usize];
        cx.m.phys
            .write(pfn, g.header as usize, &fill[..(data - g.header) as usize]);
        let tail = (data + size) as usize;
        cx.m.phys.write(pfn, tail, &fill[tail..]);
        self.special.insert(page + data, s);
        self.track_alloc(tag, ty, PAGE_SIZE);
        Ok(page + data)
    }

    pub(super) fn free_special(
        &mut self,
        cx: &mut Ctx<'_>,
        addr: u64,
        s: SpecialAllocation,
    ) -> MmResult<()> {
        let g = self.geometry();
        let pfn = cx.frame(s.page, Access::Read)?;
        let mut bytes = vec![0u8; PAGE_SIZE as usize];
        cx.m.phys.read(pfn, 0, &mut bytes);
        let data = s.data_offset(g.unit);
        let header = read_header(cx.m, g, pfn, 0);
        let slack = (g.header..data).chain(data + s.size..PAGE_SIZE);
        let changed = slack
            .clone()
            .find(|&o| bytes[o as usize] != SPECIAL_POOL_PATTERN);
        let header_ok = header.tag == s.tag && header.pool_type == s.ty.header_value();
        self.special.remove(&addr);
        self.shrink(cx, s.ty, s.page, 2, 1);
        self.track_free(s.tag, s.ty, PAGE_SIZE);
        if changed.is_none() && header_ok {
            return Ok(());
        }
        let at = changed.map_or(s.page, |o| s.page + o);
        let count = slack
            .filter(|&o| bytes[o as usize] != SPECIAL_POOL_PATTERN)
            .count();
        crate::mm_event!(
            cx.m,
            "pool.special-corruption",
            "bugcheck=0xc1 address={addr:#x} tag={} first={at:#x} bytes={count}",
            s.tag
        );
        Err(mm_err!(
            DATA_ERROR,
            "SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION (bugcheck 0xC1): the special pool allocation at {addr:#x} (tag {}, {} bytes) was freed with {count} byte(s) of its slack overwritten, the first at {at:#x}{}; the allocation is freed",
            s.tag,
            s.size,
            if header_ok {
                ""
            } else {
                " and its pool header changed"
            }
        ))
    }
}
