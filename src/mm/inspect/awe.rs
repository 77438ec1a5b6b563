//! The snapshot for `processes/<name>/awe`: the process's AWE pages and where
//! each is mapped.

use crate::mm::Mm;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Pfn, Pid, PteAddress, Va};

/// One row of `processes/<name>/awe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AweRow {
    pub pfn: Pfn,
    /// The page it is mapped at, if any.
    pub va: Option<Va>,
}

impl Mm {
    /// The process's AWE pages in PFN order, each with the address its PTE
    /// maps (from the frame's PteAddress; an AWE frame is mapped at most
    /// once). Takes the address-space lock, then the PFN lock.
    pub fn awe_pages(&self, pid: Pid) -> MmResult<Vec<AweRow>> {
        let p = self.process(pid)?;
        let space = p.space();
        let m = &self.machine;
        let st = m.pfn_lock();
        Ok(space
            .awe
            .iter()
            .map(|pfn| {
                let at = st.db.pte_address(pfn);
                let va = (at != PteAddress(0)).then(|| m.fmt.va_of_pte(at)).flatten();
                AweRow { pfn, va }
            })
            .collect())
    }
}
