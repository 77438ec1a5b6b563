//! Layer 7, paging: the writers that turn modified pages into standby pages by
//! writing them to their backing store, without the PFN lock during the I/O.
//! Locks the caller holds stay held: a write made inline for a fault runs under
//! the faulting process's address space, and `flush` under the caller's
//! (`docs/ARCHITECTURE.md`, "I/O and locks", lists every case).
//!
//! - `modified_writer.rs`: private and pagefile-backed pages to the paging files
//!   (MiModifiedPageWriter), in 16-page clusters.
//! - `mapped_writer.rs`: pages of file-backed sections to their files
//!   (MiMappedPageWriter), the five-minute rule, and `flush`'s writes.
//!
//! The writers run from the system threads, from `flush`, and inline from a
//! fault that finds no available page (`process::reclaim`): the allocator in
//! `machine` never calls them.

pub mod mapped_writer;
pub mod modified_writer;
