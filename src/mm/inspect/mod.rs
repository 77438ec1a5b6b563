//! Layer 14, inspection: read-only snapshots of the memory manager as plain
//! data, for the filesystem to render (`process.rs`: a process's files;
//! `memory.rs`: `system/` and `pfn/`; `sections.rs`: `sections/`), and
//! `verify` (`verify/`). Nothing here changes state; each snapshot takes the
//! locks it needs briefly and in order.

pub mod memory;
pub mod process;
pub mod sections;
pub mod verify;

pub use crate::mm::process::address_space::Exception;
pub use memory::{PfnRow, UseRow};
pub use process::{
    ProcessEntry, ProcessStatus, PteDetail, PteFlags, PteLevelView, PteRow, VadRow, WsRow,
};
pub use sections::{ProtoPteRow, SectionInfo, ViewRow};
pub use verify::VerifyReport;
