//! The VACB array (WRK `cc/vacbsup.c`): a fixed number of 256 KB windows of
//! the system cache, each mapping one chunk of one file or nothing. A chunk
//! that is not mapped takes a free VACB, or else the least recently used one
//! (whose view is unmapped first: its pages leave the system cache working
//! set for standby, or the modified list if dirty). Callers hold `Mm::cache`
//! and the System process's address space.

use crate::mm::base::status::MmResult;
use crate::mm::base::types::Va;
use crate::mm::machine::Machine;
use crate::mm::process::AddressSpace;
use crate::mm::section::create::grow_segment;
use crate::mm::section::view::{map_in_system_cache, remove_view};
use crate::mm::segment::ControlAreaId;

use super::{CacheManager, VACB_SIZE};

/// One view of the system cache (NT's VACB).
#[derive(Clone, Copy, Debug)]
pub struct Vacb {
    /// BaseAddress: fixed for the VACB's life.
    pub base: Va,
    /// The file and 256 KB chunk mapped (SharedCacheMap, FileOffset / 256 KB).
    pub mapping: Option<(ControlAreaId, u64)>,
    /// Copies using the view now (ActiveCount); a view in use is never
    /// unmapped.
    pub active: u32,
    /// When it was last used, for least-recently-used reuse.
    pub last_use: u64,
}

#[derive(Debug)]
pub struct VacbArray {
    pub vacbs: Vec<Vacb>,
    clock: u64,
}

impl VacbArray {
    /// `count` VACBs over the system cache range from `start`.
    pub fn new(start: u64, count: usize) -> VacbArray {
        let vacbs = (0..count)
            .map(|i| Vacb {
                base: Va(start + i as u64 * VACB_SIZE),
                mapping: None,
                active: 0,
                last_use: 0,
            })
            .collect();
        VacbArray { vacbs, clock: 0 }
    }

    /// VACBs mapping something.
    pub fn in_use(&self) -> usize {
        self.vacbs.iter().filter(|v| v.mapping.is_some()).count()
    }

    fn touch(&mut self, i: usize) {
        self.clock += 1;
        self.vacbs[i].last_use = self.clock;
    }

    /// The VACB to map next: a free one, else the least recently used one
    /// that no copy is using.
    fn victim(&self) -> Option<usize> {
        let free = self.vacbs.iter().position(|v| v.mapping.is_none());
        free.or_else(|| {
            (0..self.vacbs.len())
                .filter(|&i| self.vacbs[i].active == 0)
                .min_by_key(|&i| self.vacbs[i].last_use)
        })
    }
}

/// The address of byte 0 of chunk `chunk` of file `ca` in the system cache,
/// mapping a view for it if none is mapped (CcGetVirtualAddress).
pub fn view_of(
    m: &Machine,
    space: &mut AddressSpace,
    cc: &mut CacheManager,
    ca: ControlAreaId,
    chunk: u64,
) -> MmResult<Va> {
    if let Some(&i) = cc.maps.get(&ca).and_then(|s| s.vacbs.get(&chunk)) {
        cc.vacbs.touch(i);
        return Ok(cc.vacbs.vacbs[i].base);
    }
    let i = cc.vacbs.victim().ok_or_else(|| {
        mm_err!(
            INSUFFICIENT_RESOURCES,
            "every view of the system cache is in use"
        )
    })?;
    unmap_vacb(m, space, cc, i);
    let base = cc.vacbs.vacbs[i].base;
    let offset = chunk * VACB_SIZE;
    // The segment covers whole views (NT rounds a cached file's section to
    // the VACB granularity), so a view never runs past its prototype PTEs.
    grow_segment(m, ca, offset + VACB_SIZE)?;
    // New prototype PTEs' pages of paged pool become System pages now, with
    // the System process's space this map holds (one PFN lock if none).
    crate::mm::kernel::proto_pages::settle(m, space);
    let shown = cc.maps.get(&ca).map_or("", |s| s.shown.as_str());
    map_in_system_cache(m, space, ca, shown, base, offset, VACB_SIZE)?;
    cc.vacbs.vacbs[i].mapping = Some((ca, chunk));
    cc.vacbs.touch(i);
    if let Some(s) = cc.maps.get_mut(&ca) {
        s.vacbs.insert(chunk, i);
    }
    cc.stats.data_maps += 1;
    crate::mm_event!(
        m,
        "cache.map",
        "pid=4 base={:#x} ca={ca} offset={offset:#x}",
        base.0
    );
    Ok(base)
}

/// Unmaps VACB `i` if it maps anything (CcUnmapVacb): its view leaves the
/// System process's address space.
pub fn unmap_vacb(m: &Machine, space: &mut AddressSpace, cc: &mut CacheManager, i: usize) {
    let Some((ca, chunk)) = cc.vacbs.vacbs[i].mapping.take() else {
        return;
    };
    let base = cc.vacbs.vacbs[i].base;
    if let Some(s) = cc.maps.get_mut(&ca) {
        s.vacbs.remove(&chunk);
    }
    if let Some(vad) = space.vads.find(base.vpn()).cloned() {
        remove_view(m, space, &vad);
        crate::mm_event!(m, "cache.unmap", "pid=4 base={:#x} ca={ca}", base.0);
    }
}

/// Unmaps every view of file `ca` from chunk `from` on.
pub fn unmap_file_views(
    m: &Machine,
    space: &mut AddressSpace,
    cc: &mut CacheManager,
    ca: ControlAreaId,
    from: u64,
) {
    let views: Vec<usize> = cc
        .maps
        .get(&ca)
        .map(|s| s.vacbs.range(from..).map(|(_, &i)| i).collect())
        .unwrap_or_default();
    for i in views {
        unmap_vacb(m, space, cc, i);
    }
}
