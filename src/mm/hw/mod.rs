//! Layer 1, the hardware: simulated RAM, the PTE formats of the three paging
//! modes (x86, PAE, x64), page-table walks over tables that live in that RAM,
//! and the address-space layout of each arch. Nothing here knows which frame is
//! in use or why; that is the PFN database's and the machine's business.

pub mod layout;
pub mod pagetable;
pub mod physmem;
pub mod pte;
