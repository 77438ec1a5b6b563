//! Big allocations: a request larger than POOL_BUDDY_MAX takes whole pages
//! with no header, and is recorded in the big pool table (PoolBigPageTable:
//! Va, Key, NumberOfPages), which is how a free finds its size and tag.

use crate::mm::base::status::MmResult;
use crate::mm::base::types::PAGE_SIZE;

use super::pages::Ctx;
use super::{Pool, PoolType, Tag};

/// One entry of the big pool table (POOL_TRACKER_BIG_PAGES).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BigPage {
    pub ty: PoolType,
    /// Key.
    pub tag: Tag,
    /// NumberOfPages.
    pub pages: u64,
    /// The bytes asked for.
    pub size: u64,
}

impl Pool {
    pub(super) fn allocate_big(
        &mut self,
        cx: &mut Ctx<'_>,
        ty: PoolType,
        size: u64,
        tag: Tag,
    ) -> MmResult<u64> {
        let pages = size.div_ceil(PAGE_SIZE);
        let limit = match ty {
            PoolType::Paged => self.paged_max_pages,
            PoolType::NonPaged => self.nonpaged_max_pages,
        };
        if pages > limit {
            return Err(mm_err!(
                INSUFFICIENT_RESOURCES,
                "{size} bytes is more than all of {} pool ({limit} pages)",
                ty.name()
            ));
        }
        let va = self.grow(cx, ty, pages, pages)?;
        self.big.insert(
            va,
            BigPage {
                ty,
                tag,
                pages,
                size,
            },
        );
        self.track_alloc(tag, ty, pages * PAGE_SIZE);
        Ok(va)
    }

    pub(super) fn free_big(&mut self, cx: &mut Ctx<'_>, va: u64, b: BigPage) {
        self.big.remove(&va);
        self.shrink(cx, b.ty, va, b.pages, b.pages);
        self.track_free(b.tag, b.ty, b.pages * PAGE_SIZE);
    }
}
