//! NtGetWriteWatch and NtResetWriteWatch (WRK `wrtwatch.c`, Server 2003 SP1)
//! on one locked address space.
//!
//! A write-watch VAD (MEM_RESERVE | MEM_WRITE_WATCH) remembers which of its
//! pages were written since the last reset in two places, as NT does: the
//! VAD's bitmap (`Vad::write_watch`), which holds the pages whose dirty bit
//! was captured when they left their PTE (`VadTree::capture_write_watch`,
//! called wherever a dirty valid PTE loses its page or its dirty bit), and the
//! dirty bit of each page still valid. GetWriteWatch reports a page if either
//! says so; ResetWriteWatch clears the bits and makes the valid PTEs clean.
//!
//! The simulated MMU sets Dirty on the first write through a clean valid PTE
//! without a fault (`fault::valid`), like WRK's uniprocessor x86, where
//! ResetWriteWatch "just clears the dirty bit"; the other platforms also take
//! away the write bit so the next write faults. The outcome is the same here:
//! the next write makes the PTE dirty again.
//!
//! Only the page tables that exist are walked: a table that is not resident
//! holds no valid PTE (`process/table_paging.rs`), so its pages' dirty bits are
//! in the bitmap already. Callers hold the address-space lock.

use std::collections::BTreeSet;

use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Va, Vpn};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::vad::{self, AddressLimits, WriteWatchCall, WriteWatchRange};

/// NtGetWriteWatch without WRITE_WATCH_FLAG_RESET: the pages of
/// `[address, address + size)` written since the last reset, in address
/// order. The range must lie in one write-watch VAD (statuses in
/// `vad::plan_write_watch`). Changes nothing.
pub fn get_write_watch(
    m: &Machine,
    space: &AddressSpace,
    address: u64,
    size: u64,
) -> MmResult<Vec<Va>> {
    let range = plan(m, space, address, size, WriteWatchCall::Get)?;
    Ok(written_pages(m, space, range)
        .into_iter()
        .map(|vpn| Vpn(vpn).va())
        .collect())
}

/// NtResetWriteWatch: forgets the writes to `[address, address + size)`. The
/// bits of the range are cleared and every dirty valid PTE is made clean,
/// after its dirty bit is captured into its frame's Modified flag (WRK's
/// MI_CAPTURE_DIRTY_BIT_TO_PFN: the paging-file copy, if any, is stale and
/// released), so the data is still written out before the frame is reused.
/// Returns the pages that had been reported written.
pub fn reset_write_watch(
    m: &Machine,
    space: &mut AddressSpace,
    address: u64,
    size: u64,
) -> MmResult<u64> {
    let range = plan(m, space, address, size, WriteWatchCall::Reset)?;
    let written = written_pages(m, space, range).len() as u64;
    if let Some(v) = space.vads.find_mut(range.vad_start) {
        let cleared: Vec<u64> = v
            .write_watch
            .range(range.first.0..=range.last.0)
            .copied()
            .collect();
        for vpn in cleared {
            v.write_watch.remove(&vpn);
        }
    }
    // The dirty valid PTEs, found before the PFN lock is taken: a valid PTE
    // changes only under the address-space lock, which the caller holds.
    let tables = space.tables(m);
    let dirty: Vec<_> = tables
        .nonzero_ptes(range.first, range.last)
        .into_iter()
        .filter_map(|(_, loc)| match m.fmt.decode(tables.read(loc)) {
            PteState::Valid(h) if h.dirty => Some((loc, h)),
            _ => None,
        })
        .collect();
    let mut st = m.pfn_lock();
    for (loc, mut h) in dirty {
        // A write-watch VAD is private and never cloned (fork refuses it),
        // so no shared frame is found here (WRK asserts the same).
        if st.db.prototype(h.pfn) {
            continue;
        }
        st.db.set_modified(h.pfn, true);
        m.release_backing_locked(&mut st, h.pfn);
        h.dirty = false;
        tables.write(loc, m.fmt.encode(&PteState::Valid(h)));
    }
    drop(st);
    crate::mm_event!(
        m,
        "writewatch.reset",
        "pid={} va={:#x} pages={} written={written}",
        space.pid,
        range.first.va().0,
        range.last.0 - range.first.0 + 1
    );
    Ok(written)
}

/// The range checks both services share, against MM_HIGHEST_VAD_ADDRESS.
fn plan(
    m: &Machine,
    space: &AddressSpace,
    address: u64,
    size: u64,
    call: WriteWatchCall,
) -> MmResult<WriteWatchRange> {
    let highest = AddressLimits::for_layout(&m.layout).highest;
    vad::plan_write_watch(&space.vads, address, size, highest, call)
}

/// The pages of `range` whose bit is set or whose valid PTE is dirty.
fn written_pages(m: &Machine, space: &AddressSpace, range: WriteWatchRange) -> BTreeSet<u64> {
    let mut pages: BTreeSet<u64> = space
        .vads
        .get(range.vad_start)
        .map(|v| {
            v.write_watch
                .range(range.first.0..=range.last.0)
                .copied()
                .collect()
        })
        .unwrap_or_default();
    let tables = space.tables(m);
    for (va, loc) in tables.nonzero_ptes(range.first, range.last) {
        if let PteState::Valid(h) = m.fmt.decode(tables.read(loc))
            && h.dirty
        {
            pages.insert(va.vpn().0);
        }
    }
    pages
}
