//! Layer 16, inspection: read-only snapshots of the memory manager as plain
//! data, for the filesystem to render (`process.rs`: a process's files,
//! `pte.rs` its `pte/<VA>`, `clones.rs` its `clones`, `awe.rs` its `awe`,
//! `write_watch.rs` its `write-watch`; `memory.rs`: `system/` and `pfn/`;
//! `history.rs`: `system/history.svg`'s samples; `sections.rs`: `sections/`;
//! `pool.rs`: `pool/`; `page_map.rs`: `pfn/map.png`; `address_map.rs`:
//! `processes/<name>/map.svg`), and
//! `verify` (`verify/`). Nothing here changes state; each snapshot takes the
//! locks it needs briefly and in order.

pub mod address_map;
pub mod awe;
pub mod cache;
pub mod clones;
pub mod history;
pub mod memory;
pub mod page_map;
pub mod pool;
pub mod process;
pub mod pte;
pub mod sections;
pub mod verify;
pub mod write_watch;

#[cfg(test)]
mod tests;

pub use crate::mm::process::address_space::Exception;
pub use crate::mm::threads::{FAULT_KINDS, HISTORY_SAMPLES, HistorySample, SAMPLE_MS};
pub use address_map::{AddressMap, MapRegion, PageClass, PageRun};
pub use awe::AweRow;
pub use cache::{CacheFileRow, CacheViewRow};
pub use clones::CloneRow;
pub use memory::{ListCursor, PfnRow, PriorityRow, UseRow};
pub use page_map::PageMap;
pub use pool::{PoolBlockRow, PoolPageView, PoolTagRow};
pub use process::{ProcessEntry, ProcessStatus, PteRow, VadRow, WsRow};
pub use pte::{
    EmptyPte, EmptyReason, PagedOutTable, PteDetail, PteFlags, PteLevelView, SharedEntry,
    VadDecides,
};
pub use sections::{ProtoPteRow, SectionInfo, ViewRow};
pub use verify::VerifyReport;
pub use write_watch::WriteWatchRow;
