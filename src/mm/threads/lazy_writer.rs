//! The lazy writer (NT's CcLazyWriteScan, run once a second by its timer and
//! on `run lazy-writer`): writes an eighth of the pages the cache dirtied, or
//! what was dirtied since the last scan if more (`cache/write_behind.rs`).
//! Each scan also samples the system cache working set for its peak.

use crate::mm::base::types::Pid;
use crate::mm::cache::system_cache_ws;
use crate::mm::cache::write_behind::{scan_budget, write_behind};

use super::System;

/// One scan. Returns the pages written.
pub(super) fn pass(sys: System<'_>) -> u64 {
    let mut cc = sys.cache_lock();
    let Ok(system) = sys.processes.get(Pid::SYSTEM) else {
        return 0;
    };
    let mut space = system.space();
    let ws = system_cache_ws(&sys.m.layout, &space);
    cc.stats.peak_system_cache_ws = cc.stats.peak_system_cache_ws.max(ws);
    let dirty = cc.dirty_pages();
    let since = std::mem::take(&mut cc.dirtied_since_scan);
    let last_share = std::mem::replace(&mut cc.last_scan_share, dirty / 8);
    if dirty == 0 {
        return 0;
    }
    write_behind(
        sys.m,
        &mut space,
        &mut cc,
        scan_budget(dirty, since, last_share),
    )
}
