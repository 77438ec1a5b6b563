//! The cache manager against the memory manager: every VACB that maps a view
//! has that view in the System process's address space (a VAD of its file at
//! its offset) and every view there has its VACB; each shared cache map's
//! views and dirty pages name real pages of its control area, which the cache
//! holds a reference on; every valid page in the system cache belongs to the
//! control area of the view it is mapped in, at the right index; and every
//! page the cache's views hold dirty is counted in its file's dirty pages.

use crate::mm::base::types::{PAGE_SIZE, Va};
use crate::mm::cache::{CacheManager, VACB_PAGES, VACB_SIZE};
use crate::mm::hw::pte::PteState;
use crate::mm::process::AddressSpace;

use super::Tally;

pub(super) fn check(t: &mut Tally<'_>, cc: &CacheManager, system: &AddressSpace) {
    vacbs_against_views(t, cc, system);
    maps(t, cc);
    pages_in_views(t, cc, system);
}

fn vacbs_against_views(t: &mut Tally<'_>, cc: &CacheManager, system: &AddressSpace) {
    for (i, v) in cc.vacbs.vacbs.iter().enumerate() {
        let vad = system.vads.get(v.base.vpn());
        match (
            v.mapping,
            vad.and_then(|d| d.section.as_ref().map(|s| (d, s))),
        ) {
            (None, None) => {}
            (Some((ca, chunk)), Some((d, s))) => {
                if s.id != ca || s.offset != chunk * VACB_SIZE || d.size_bytes() != VACB_SIZE {
                    t.v.push(format!(
                        "VACB {i} maps control area {ca} at {:#x} but its view is of {} at {:#x}",
                        chunk * VACB_SIZE,
                        s.id,
                        s.offset
                    ));
                }
                if cc.maps.get(&ca).and_then(|m| m.vacbs.get(&chunk)) != Some(&i) {
                    t.v.push(format!("VACB {i} is not in its shared cache map's views"));
                }
            }
            (Some((ca, _)), None) => t.v.push(format!(
                "VACB {i} maps control area {ca} but the System process has no view at {:#x}",
                v.base.0
            )),
            (None, Some(_)) => t.v.push(format!(
                "the System process has a view at {:#x}, VACB {i}'s address, which maps nothing",
                v.base.0
            )),
        }
    }
}

fn maps(t: &mut Tally<'_>, cc: &CacheManager) {
    for map in cc.maps.values() {
        let Some(area) = t.st.segments.control_area(map.ca) else {
            t.v.push(format!("cached file {} has no control area", map.shown));
            continue;
        };
        if area.cache_references != 1 {
            t.v.push(format!(
                "control area {} is cached but its cache reference count is {}",
                map.ca, area.cache_references
            ));
        }
        if let Some(&p) = map.dirty.iter().next_back()
            && p >= area.total_ptes
        {
            t.v.push(format!(
                "cached file {}: dirty page {p} is past its segment ({} pages)",
                map.shown, area.total_ptes
            ));
        }
        for (&chunk, &i) in &map.vacbs {
            if cc.vacbs.vacbs.get(i).and_then(|v| v.mapping) != Some((map.ca, chunk)) {
                t.v.push(format!(
                    "cached file {}: view of chunk {chunk} names VACB {i}, which maps something else",
                    map.shown
                ));
            }
        }
    }
}

fn pages_in_views(t: &mut Tally<'_>, cc: &CacheManager, system: &AddressSpace) {
    let tables = system.tables(t.m);
    for v in &cc.vacbs.vacbs {
        let Some((ca, chunk)) = v.mapping else {
            continue;
        };
        let last = Va(v.base.0 + VACB_SIZE - PAGE_SIZE).vpn();
        for (va, loc) in tables.nonzero_ptes(v.base.vpn(), last) {
            let PteState::Valid(h) = t.m.fmt.decode(tables.read(loc)) else {
                continue;
            };
            let index = chunk * VACB_PAGES + (va.0 - v.base.0) / PAGE_SIZE;
            let want = t.st.segments.locate(ca, index);
            let at = t.st.segments.locate_address(t.st.db.pte_address(h.pfn));
            if want.is_none() || at != want {
                t.v.push(format!(
                    "system cache page {:#x} (pfn {:#x}) is not page {index} of control area {ca}",
                    va.0, h.pfn.0
                ));
            }
            // Only copies write through the cache's views, and each marks the
            // page in the dirty set until the lazy writer has harvested the
            // bit and written it: a dirty view PTE is a page the cache counts.
            let counted = cc.maps.get(&ca).is_some_and(|s| s.dirty.contains(&index));
            if h.dirty && !counted {
                t.v.push(format!(
                    "system cache page {:#x} is dirty but not among its file's dirty pages",
                    va.0
                ));
            }
        }
    }
}
