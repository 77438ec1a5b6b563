//! The segment dereference thread (MiDereferenceSegmentThread): here, paging-file
//! growth and shrink (cache reduction comes with sections and the cache manager).
//!
//! Facts §7: above 90% of the commit limit the paging files are extended so that
//! use falls toward 85%; below 80% they shrink toward 85% (only free slots at a
//! file's end go, never below its minimum).

use crate::mm::machine::Machine;

/// One pass: grow or shrink the paging files toward 85% use.
pub(super) fn pass(m: &Machine) -> u64 {
    let mut c = m.commit_lock();
    let mut pf = m.pagefiles_lock();
    let target_limit = c.total.saturating_mul(100) / 85;
    let changed = if c.total * 10 > c.limit * 9 {
        let added = pf.extend(target_limit.saturating_sub(c.limit));
        if added > 0 {
            crate::mm_event!(m, "pagefile.extend", "pages={added}");
        }
        added
    } else if c.total * 10 < c.limit * 8 {
        let removed = pf.shrink(c.limit.saturating_sub(target_limit));
        if removed > 0 {
            crate::mm_event!(m, "pagefile.shrink", "pages={removed}");
        }
        removed
    } else {
        0
    };
    c.follow(&pf);
    changed
}
