//! Resident available memory (MmResidentAvailablePages): the pages that can
//! still be made resident and kept so. NT takes from it every page that must
//! stay in memory whatever the working-set manager does: each process's
//! working-set minimum (MmAdjustWorkingSetSize, and at creation), kernel
//! stacks, non-paged pool, pages locked by NtLockVirtualMemory and by MDLs
//! (MmProbeAndLockPages, MmAllocatePagesForMdl). A charge that would leave
//! less than a reserve is refused with STATUS_INSUFFICIENT_RESOURCES and
//! changes nothing.
//!
//! Two atomics, no lock: `ws_minimums` (the sum of the live processes'
//! minimums, which `verify` compares with the processes) and `charged`
//! (everything else). A charge is one compare-and-swap on `charged`, so two
//! charges can never both take the last pages.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::mm::base::status::MmResult;

use super::Machine;

/// Pages a charge must leave (WRK MmAdjustWorkingSetSizeEx: "leave 100 extra
/// pages around so the user can later bring up tlist and kill processes";
/// MiChargeResidentAvailable keeps a similar floor for locked pages).
pub const RESIDENT_AVAILABLE_RESERVE: u64 = 100;

/// The charges against resident available memory.
#[derive(Default, Debug)]
pub struct ResidentCharges {
    /// The working-set minimums of every live process, in pages.
    pub ws_minimums: AtomicU64,
    /// Everything else: kernel stacks, non-paged pool, locked pages, MDLs.
    pub charged: AtomicU64,
}

impl Machine {
    /// MmResidentAvailablePages: RAM less bad pages less every charge.
    /// Negative when the default minimums of many processes exceed a small RAM.
    pub fn resident_available(&self, bad_pages: u64) -> i64 {
        let minimums = self.resident.ws_minimums.load(Relaxed);
        let charged = self.resident.charged.load(Relaxed);
        self.phys.pages() as i64 - bad_pages as i64 - minimums as i64 - charged as i64
    }

    /// Charges `pages` for `what` (a phrase for the error: "a kernel stack").
    /// Refused with STATUS_INSUFFICIENT_RESOURCES, nothing charged, when it
    /// would leave less than RESIDENT_AVAILABLE_RESERVE pages.
    pub fn charge_resident(&self, pages: u64, what: &str) -> MmResult<()> {
        self.charge_resident_to(
            &self.resident.charged,
            pages,
            RESIDENT_AVAILABLE_RESERVE,
            what,
        )
    }

    /// `charge_resident` with no reserve kept, for a kernel stack
    /// (WRK MmCreateKernelStack refuses only when the pages themselves are
    /// not available).
    pub fn charge_resident_unreserved(&self, pages: u64, what: &str) -> MmResult<()> {
        self.charge_resident_to(&self.resident.charged, pages, 0, what)
    }

    pub fn uncharge_resident(&self, pages: u64) {
        take_back(&self.resident.charged, pages);
    }

    /// `charge_resident`, for the raise of a working-set minimum
    /// (MmAdjustWorkingSetSizeEx keeps the reserve).
    pub fn charge_ws_minimum(&self, pages: u64, what: &str) -> MmResult<()> {
        self.charge_resident_to(
            &self.resident.ws_minimums,
            pages,
            RESIDENT_AVAILABLE_RESERVE,
            what,
        )
    }

    /// The minimum of a new address space (MmCreateProcessAddressSpace): it
    /// must fit in resident available memory, with no reserve kept.
    pub fn charge_new_ws_minimum(&self, pages: u64, what: &str) -> MmResult<()> {
        self.charge_resident_to(&self.resident.ws_minimums, pages, 0, what)
    }

    pub fn uncharge_ws_minimum(&self, pages: u64) {
        take_back(&self.resident.ws_minimums, pages);
    }

    fn charge_resident_to(
        &self,
        counter: &AtomicU64,
        pages: u64,
        reserve: u64,
        what: &str,
    ) -> MmResult<()> {
        if pages == 0 {
            return Ok(());
        }
        let bad = self
            .pfn_lock()
            .db
            .list_count(crate::mm::pfn::PageLocation::Bad);
        let limit = (self.phys.pages() as u64).saturating_sub(bad);
        // The other counter may move meanwhile; this one's update is atomic,
        // which is what keeps two charges of one kind from sharing a page.
        let other = if std::ptr::eq(counter, &self.resident.charged) {
            self.resident.ws_minimums.load(Relaxed)
        } else {
            self.resident.charged.load(Relaxed)
        };
        counter
            .fetch_update(Relaxed, Relaxed, |total| {
                (total + other + pages + reserve <= limit)
                    .then_some(total + pages)
            })
            .map(|_| ())
            .map_err(|total| {
                mm_err!(
                    INSUFFICIENT_RESOURCES,
                    "{what} needs {pages} pages of resident available memory and {reserve} must be left; there are {}",
                    limit.saturating_sub(total + other)
                )
            })
    }
}

/// Returns `pages` of a charge (never below zero).
fn take_back(counter: &AtomicU64, pages: u64) {
    let _ = counter.fetch_update(Relaxed, Relaxed, |c| Some(c.saturating_sub(pages)));
}
