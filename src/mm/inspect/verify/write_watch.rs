//! Write watch (`vad/write_watch.rs`, `vm/write_watch.rs`): bits only in
//! write-watch VADs and inside their range; a write-watch VAD is private
//! memory with no section; its valid pages are private frames (fork refuses
//! a process with a write-watch VAD, so none is ever a clone page).

use crate::mm::base::types::{Pid, Vpn};
use crate::mm::hw::pte::PteState;
use crate::mm::process::AddressSpace;
use crate::mm::vad::VadType;

use super::Tally;

/// Checks one address space's write-watch state (see the module docs).
pub(super) fn check(t: &mut Tally<'_>, pid: Pid, space: &AddressSpace) {
    let tables = space.tables(t.m);
    for v in space.vads.iter() {
        if v.vad_type != VadType::WriteWatch {
            if let Some(&p) = v.write_watch.iter().next() {
                t.v.push(format!(
                    "pid {pid}: the {} VAD {} holds write-watch bits (first {:#x}) but is not a write-watch VAD",
                    v.type_name(),
                    v.range_text(),
                    Vpn(p).va().0
                ));
            }
            continue;
        }
        if !v.private_memory || v.section.is_some() {
            t.v.push(format!(
                "pid {pid}: write-watch VAD {} is not private memory",
                v.range_text()
            ));
        }
        let outside = v
            .write_watch
            .iter()
            .find(|&&p| p < v.starting_vpn.0 || p > v.ending_vpn.0);
        if let Some(&p) = outside {
            t.v.push(format!(
                "pid {pid}: write-watch VAD {} has a bit for page {:#x}, outside it",
                v.range_text(),
                Vpn(p).va().0
            ));
        }
        for (va, loc) in tables.nonzero_ptes(v.starting_vpn, v.ending_vpn) {
            if let PteState::Valid(h) = t.m.fmt.decode(tables.read(loc))
                && t.st.db.prototype(h.pfn)
            {
                t.v.push(format!(
                    "pid {pid}: write-watch page {:#x} maps shared pfn {:#x}",
                    va.0, h.pfn.0
                ));
            }
        }
    }
}
