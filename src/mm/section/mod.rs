//! Layer 11, sections and shared memory: NtCreateSection and NtExtendSection
//! (`create.rs`), NtMapViewOfSection, NtUnmapViewOfSection and
//! NtFlushVirtualMemory (`view.rs`), the POSIX-style fork that clones an address
//! space copy-on-write (`fork.rs`), and deleting a control area once nothing
//! refers to it (`delete.rs`).
//!
//! The pieces, named as in NT (WRK, Server 2003 SP1):
//! - a *section object* (`SectionObject`): a name, a size, a protection, and
//!   the control area it refers to. `rmdir` removes the name; the control area
//!   lives on while views or other sections still refer to it.
//! - a *control area* with its *segment* and *subsections* (`segment/`, below
//!   the fault handler and the writers, which need them): the prototype PTEs,
//!   one per page, in six states: valid, transition (standby or modified),
//!   modified-no-write (transition, on that list), demand zero, page file, and
//!   mapped file (a subsection PTE).
//! - *views*: mapped VADs whose process PTEs start zero and resolve through the
//!   prototype PTE on first touch (`fault/prototype.rs`); trimming a shared page
//!   puts the process PTE back in prototype-pointer form, and only when the last
//!   mapping goes does the prototype PTE become a transition PTE.
//! - the *mapped page writer* (`paging/mapped_writer.rs`): modified pages of
//!   file-backed sections go back to their file, not the paging file.
//! - *fork*: the parent's private pages move into clone prototype PTEs shared
//!   copy-on-write by parent and child.
//!
//! Lock order: the section table (`Mm::sections`) comes before the process table
//! and any address space. Control areas and prototype PTEs are under the PFN
//! lock.

pub mod create;
pub mod delete;
pub mod fork;
pub mod view;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::segment::ControlAreaId;

/// A named section object.
#[derive(Clone, Debug)]
pub struct SectionObject {
    pub name: String,
    pub control_area: ControlAreaId,
    /// SizeOfSection in bytes.
    pub size: u64,
    /// InitialPageProtection.
    pub protection: Protection,
    /// The file, relative to the `--files` volume, for file-backed sections.
    pub file: Option<String>,
}

/// The section namespace (`sections/`).
#[derive(Default)]
pub struct SectionTable {
    pub by_name: BTreeMap<String, SectionObject>,
}

impl SectionTable {
    pub fn get(&self, name: &str) -> Option<&SectionObject> {
        self.by_name.get(name)
    }
}

/// The longest section name accepted (as for processes).
pub const MAX_SECTION_NAME: usize = crate::mm::process::MAX_PROCESS_NAME;

/// The protections a section may be created with (NtCreateSection refuses
/// PAGE_NOACCESS, guard and no-cache modifiers).
pub fn validate_section_protection(p: Protection) -> MmResult<()> {
    if p.is_noaccess() || p.is_guard() || p.is_nocache() || p.raw() == 0 {
        return Err(mm_err!(
            INVALID_PAGE_PROTECTION,
            "a section cannot be created {}: use readonly, readwrite, writecopy or an execute form",
            p.name()
        ));
    }
    Ok(())
}

/// Checks `file=PATH` as a path inside the `--files` volume (relative, no
/// `..`) and returns it relative to the volume's root; it is opened beneath
/// the root without following symlinks (`create.rs`).
pub fn volume_path(path: &str) -> MmResult<PathBuf> {
    let rel = Path::new(path);
    let plain = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if path.is_empty() || !plain {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "file={} must be a path inside the files volume (relative, without '..')",
            path.escape_default()
        ));
    }
    Ok(rel
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect())
}
