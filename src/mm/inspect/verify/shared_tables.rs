//! Shared system page tables: every process's copy of a system entry at the
//! shared level is the System process's entry, or zero (not copied yet, as
//! WRK's MiCheckPdeForPagedPool would on the first fault); never a different
//! table (`process/system_tables.rs`).

use crate::mm::base::types::Pid;
use crate::mm::process::AddressSpace;
use crate::mm::process::system_tables::{shared_entries, shared_level};

use super::Tally;

pub(super) fn check(t: &mut Tally<'_>, spaces: &[(Pid, &AddressSpace)]) {
    let Some((_, system)) = spaces.iter().find(|(pid, _)| *pid == Pid::SYSTEM) else {
        return;
    };
    let m = t.m;
    let level = shared_level(m);
    let sys = system.tables(m);
    let wanted: Vec<_> = shared_entries(m)
        .into_iter()
        .map(|va| (va, sys.entry(va, level).map(|loc| sys.read(loc))))
        .collect();
    for (pid, space) in spaces.iter().filter(|(pid, _)| *pid != Pid::SYSTEM) {
        let tables = space.tables(m);
        for &(va, want) in &wanted {
            let Some(loc) = tables.entry(va, level) else {
                continue;
            };
            let raw = tables.read(loc);
            if raw.is_zero() || Some(raw) == want {
                continue;
            }
            t.v.push(format!(
                "pid {pid}: its system entry for {:#x} holds {raw:#x}, the System process's holds {}",
                va.0,
                want.map_or("nothing".to_string(), |w| format!("{w:#x}"))
            ));
        }
    }
}
