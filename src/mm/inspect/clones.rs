//! `processes/<name>/clones`: the fork clone blocks a process refers to.
//!
//! `fork` moves every private page of the parent into a clone block (a
//! prototype PTE of a clone control area, NT's MMCLONE_BLOCK), and points the
//! parent's and the child's PTEs at it; each block counts the process PTEs
//! still referring to it (CloneRefCount). This lists, for one process, every
//! PTE of its own that refers to a clone block: a prototype pointer to it, or
//! a valid PTE mapping the block's page (copy-on-write).

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{PAGE_SIZE, Pfn, Pid, Va};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Machine, PfnState};
use crate::mm::pfn::PageLocation;

use super::process::state_name;
use super::sections::proto_state_name;

/// One row of `processes/<name>/clones`: a PTE of the process that refers to
/// a clone block, and the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloneRow {
    /// The page of this process.
    pub va: u64,
    /// The clone block's prototype PTE address (in paged pool).
    pub block_address: u64,
    /// The clone control area's number (one per fork that moved pages).
    pub clone_area: u32,
    /// The block's index in its clone control area.
    pub index: u64,
    /// CloneRefCount: process PTEs, in every process, still referring to the block.
    pub refs: u32,
    /// What the block's prototype PTE says: valid, transition,
    /// modified-no-write, pagefile, demand-zero.
    pub state: &'static str,
    /// The block's page, when it is in memory (valid or transition).
    pub pfn: Option<Pfn>,
    /// This process's own PTE: `valid` (it maps the block's page, copy-on-
    /// write) or `prototype` (a pointer to the block).
    pub pte_state: &'static str,
}

impl Mm {
    /// `processes/<name>/clones`, in address order.
    pub fn clones(&self, pid: Pid) -> MmResult<Vec<CloneRow>> {
        let p = self.process(pid)?;
        let space = p.live_space()?;
        let m = &self.machine;
        let tables = space.tables(m);
        // The PTEs that may refer to a clone block, found without the PFN lock.
        let mut candidates = Vec::new();
        for v in space.vads.iter() {
            for (va, loc) in tables.nonzero_ptes(v.starting_vpn, v.ending_vpn) {
                let state = m.fmt.decode(tables.read(loc));
                if matches!(
                    state,
                    PteState::Valid(_)
                        | PteState::Prototype {
                            proto_pte: Some(_),
                            ..
                        }
                ) {
                    candidates.push((va, state));
                }
            }
        }
        // Paged-out page tables: the pointers they hold, read without
        // bringing them back.
        for (base, ptes) in space.paged_tables.iter() {
            for &(index, raw) in ptes {
                let va = Va(base + index * PAGE_SIZE);
                let state = m.fmt.decode(raw);
                if matches!(
                    state,
                    PteState::Prototype {
                        proto_pte: Some(_),
                        ..
                    }
                ) && space.vads.find(va.vpn()).is_some()
                {
                    candidates.push((va, state));
                }
            }
        }
        candidates.sort_by_key(|(va, _)| va.0);
        let st = m.pfn_lock();
        Ok(candidates
            .into_iter()
            .filter_map(|(va, state)| clone_row(m, &st, va, &state))
            .collect())
    }
}

/// The row for the PTE of `va` (`state`), if it refers to a clone block.
fn clone_row(m: &Machine, st: &PfnState, va: Va, state: &PteState) -> Option<CloneRow> {
    let at = match *state {
        PteState::Prototype {
            proto_pte: Some(a), ..
        } => st.segments.locate_address(a)?,
        PteState::Valid(h) if st.db.prototype(h.pfn) => m.proto_of_locked(st, h.pfn)?,
        _ => return None,
    };
    let ca = st.segments.owner(at)?;
    let area = st.segments.control_area(ca).filter(|a| a.is_clone())?;
    let index = st.segments.index(at);
    // Clone blocks' pages never leave the working set.
    let raw = st.segments.try_read(at)?;
    let pfn = m.fmt.pfn(raw);
    let mnw = pfn.is_some_and(|p| st.db.location(p) == Some(PageLocation::ModifiedNoWrite));
    Some(CloneRow {
        va: va.0,
        block_address: st.segments.address(at).0,
        clone_area: ca.0,
        index,
        refs: area.clone_refs.get(index as usize).copied().unwrap_or(0),
        state: proto_state_name(&m.fmt.decode_prototype(raw), mnw),
        pfn,
        pte_state: state_name(state),
    })
}
