//! Sections and shared memory (NtCreateSection, NtExtendSection,
//! NtMapViewOfSection, NtUnmapViewOfSection, NtFlushVirtualMemory, and the
//! POSIX-style fork that clones an address space copy-on-write).
//!
//! The pieces, named as in NT (WRK, Server 2003 SP1):
//! - a *section object* (`SectionObject`): a name, a size, a protection, and
//!   the control area it refers to. `rmdir` removes the name; the control area
//!   lives on while views or other sections still refer to it.
//! - a *control area* with its *segment* and *subsections* (`segment.rs`): the
//!   prototype PTEs, one per page, in six states: valid, transition (standby or
//!   modified), modified-no-write (transition, on that list), demand zero, page
//!   file, and mapped file (a subsection PTE).
//! - *views* (`view.rs`): mapped VADs whose process PTEs start zero and resolve
//!   through the prototype PTE on first touch (`fault.rs`); trimming a shared page
//!   puts the process PTE back in prototype-pointer form, and only when the last
//!   mapping goes does the prototype PTE become a transition PTE.
//! - the *mapped page writer* (`writer.rs`): modified pages of file-backed
//!   sections go back to their file, not the paging file.
//! - *fork* (`fork.rs`): the parent's private pages move into clone prototype
//!   PTEs shared copy-on-write by parent and child.
//!
//! Lock order: `Mm::sections` comes after the process table and before any
//! address space. Control areas and prototype PTEs are under the PFN lock.

pub mod delete;
pub mod fault;
pub mod fork;
pub mod pages;
pub mod segment;
pub mod view;
pub mod writer;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::Mm;
use super::process::Pid;
use super::protection::Protection;
use super::pte::PteState;
use super::status::MmResult;
use super::types::{PAGE_SIZE, Pfn};

pub use segment::{Backing, ControlArea, ProtoLoc, Segments, Subsection};

/// A named section object.
#[derive(Clone, Debug)]
pub struct SectionObject {
    pub name: String,
    pub control_area: u32,
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
    pub(crate) by_name: BTreeMap<String, SectionObject>,
}

impl SectionTable {
    pub fn get(&self, name: &str) -> Option<&SectionObject> {
        self.by_name.get(name)
    }
}

/// One row of `sections/<name>/prototype-ptes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoPteRow {
    pub index: u64,
    /// Byte offset in the section.
    pub offset: u64,
    /// The prototype PTE, raw.
    pub pte: u64,
    /// valid, transition, modified-no-write, demand-zero, pagefile, mapped-file,
    /// or none.
    pub state: &'static str,
    pub pfn: Option<Pfn>,
    /// The prototype PTE's own address (in paged pool).
    pub address: u64,
    /// The frame's ShareCount: how many process PTEs map it valid.
    pub share: u32,
}

/// One row of `sections/<name>/views`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewRow {
    pub process: String,
    pub pid: Pid,
    pub base: u64,
    pub size: u64,
    pub offset: u64,
    pub protection: Protection,
}

/// The longest section name accepted (as for processes).
pub const MAX_SECTION_NAME: usize = super::process::MAX_PROCESS_NAME;

/// The name of a prototype PTE's state, as `prototype-ptes` shows it. A
/// transition page on the modified-no-write list is its own state (the seed's
/// sixth).
pub fn proto_state_name(state: &PteState, on_modified_no_write: bool) -> &'static str {
    match state {
        PteState::Valid(_) => "valid",
        PteState::Transition { .. } if on_modified_no_write => "modified-no-write",
        PteState::Transition { .. } => "transition",
        PteState::DemandZero { .. } => "demand-zero",
        PteState::PageFile { .. } => "pagefile",
        PteState::Subsection { .. } => "mapped-file",
        _ => "none",
    }
}

/// The protections a section may be created with (NtCreateSection refuses
/// PAGE_NOACCESS, guard and no-cache modifiers).
fn validate_section_protection(p: Protection) -> MmResult<()> {
    if p.is_noaccess() || p.is_guard() || p.is_nocache() || p.raw() == 0 {
        return Err(mm_err!(
            INVALID_PAGE_PROTECTION,
            "a section cannot be created {}: use readonly, readwrite, writecopy or an execute form",
            p.name()
        ));
    }
    Ok(())
}

/// Resolves `file=PATH` inside the `--files` volume: relative, no `..`.
fn volume_path(root: &Path, path: &str) -> MmResult<PathBuf> {
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
    Ok(root.join(rel))
}

impl Mm {
    pub(crate) fn sections_lock(&self) -> std::sync::MutexGuard<'_, SectionTable> {
        self.sections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// NtCreateSection (`sections/control create NAME SIZE [file=PATH]
    /// [prot=PROT] [image]`). SIZE 0 with a file means the file's size. Returns
    /// the section's size in bytes.
    pub fn create_section(
        &self,
        name: &str,
        size: u64,
        file: Option<&str>,
        protection: Protection,
        image: bool,
    ) -> MmResult<u64> {
        super::process::validate_object_name(name, "section")?;
        validate_section_protection(protection)?;
        if image {
            return Err(mm_err!(
                INVALID_IMAGE_FORMAT,
                "image sections (SEC_IMAGE) need a PE file and loader, which mmfs does not simulate; create a data section"
            ));
        }
        let mut table = self.sections_lock();
        if table.by_name.contains_key(name) {
            return Err(mm_err!(
                OBJECT_NAME_COLLISION,
                "a section named {name} already exists"
            ));
        }
        let m = self.machine();
        let (control_area, size) = match file {
            None => self.create_pagefile_segment(size, protection)?,
            Some(path) => {
                let full = volume_path(&self.config().files_dir, path)?;
                self.open_file_segment(&full, path, size, protection)?
            }
        };
        table.by_name.insert(
            name.to_string(),
            SectionObject {
                name: name.to_string(),
                control_area,
                size,
                protection,
                file: file.map(str::to_string),
            },
        );
        crate::mm_event!(
            m,
            "section.create",
            "name={name} size={size:#x} ca={control_area} backing={}",
            if file.is_some() { "file" } else { "pagefile" }
        );
        Ok(size)
    }

    /// `rmdir sections/NAME`: the name goes; the control area goes when no view
    /// or other section refers to it any more (its modified pages are written to
    /// its file first).
    pub fn delete_section(&self, name: &str) -> MmResult<()> {
        let section = self
            .sections_lock()
            .by_name
            .remove(name)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {name}"))?;
        let m = self.machine();
        {
            let mut st = m.pfn_lock();
            if let Some(ca) = st.segments.control_area_mut(section.control_area) {
                ca.section_references -= 1;
            }
        }
        delete::delete_if_unreferenced(m, section.control_area);
        crate::mm_event!(m, "section.delete", "name={name}");
        Ok(())
    }

    /// NtExtendSection (`sections/NAME/control extend SIZE`). Only file-backed
    /// data sections created with write access grow (else
    /// STATUS_SECTION_NOT_EXTENDED); a size at or below the current one changes
    /// nothing. Returns the section's size.
    pub fn extend_section(&self, name: &str, size: u64) -> MmResult<u64> {
        let mut table = self.sections_lock();
        let section = table
            .by_name
            .get_mut(name)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {name}"))?;
        let new_size = self.extend_segment(section, size)?;
        section.size = new_size;
        Ok(new_size)
    }

    /// `no-write` / `allow-write` on `sections/NAME/control`
    /// (MmDisableModifiedWriteOfSection and its reverse): while writing is
    /// disabled, modified pages of the section wait on the modified-no-write
    /// list. Allowing it moves them to the modified list. Returns the pages moved.
    pub fn set_section_modified_write(&self, name: &str, allowed: bool) -> MmResult<u64> {
        let table = self.sections_lock();
        let section = table
            .get(name)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {name}"))?;
        let m = self.machine();
        let mut st = m.pfn_lock();
        let ca = st
            .segments
            .control_area_mut(section.control_area)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "section {name} has no control area"))?;
        ca.no_modified_writing = !allowed;
        if !allowed {
            return Ok(0);
        }
        let moved = writer::release_modified_no_write_locked(m, &mut st, section.control_area);
        Ok(moved)
    }

    /// Section names, sorted.
    pub fn section_names(&self) -> Vec<String> {
        self.sections_lock().by_name.keys().cloned().collect()
    }

    pub fn section(&self, name: &str) -> Option<SectionObject> {
        self.sections_lock().get(name).cloned()
    }

    /// `sections/NAME/info`: key/value pairs.
    pub fn section_info(&self, name: &str) -> MmResult<Vec<(&'static str, String)>> {
        let section = self
            .section(name)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {name}"))?;
        let m = self.machine();
        let st = m.pfn_lock();
        let ca = st
            .segments
            .control_area(section.control_area)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "section {name} has no control area"))?;
        let mut resident = 0u64;
        let mut modified = 0u64;
        for at in st.segments.locations(ca.id) {
            let raw = st.segments.read(at);
            if let Some(pfn) = m.fmt.pfn(raw) {
                resident += 1;
                if st.db.modified(pfn) {
                    modified += 1;
                }
            }
        }
        let (backing, path) = match &ca.backing {
            Backing::PagingFile => ("pagefile", "none".to_string()),
            Backing::File { path, .. } => ("file", path.display().to_string()),
            Backing::Clone => ("clone", "none".to_string()),
        };
        Ok(vec![
            ("Name", section.name.clone()),
            ("Size", format!("{:#x}", section.size)),
            ("Pages", section.size.div_ceil(PAGE_SIZE).to_string()),
            ("Protection", section.protection.name()),
            ("Backing", backing.to_string()),
            (
                "File",
                section.file.clone().unwrap_or_else(|| "none".to_string()),
            ),
            ("HostPath", path),
            ("ControlArea", ca.id.to_string()),
            ("SizeOfSegment", format!("{:#x}", ca.size)),
            ("TotalNumberOfPtes", ca.total_ptes.to_string()),
            ("NumberOfSubsections", ca.subsections.len().to_string()),
            ("NumberOfCommittedPages", ca.committed_pages.to_string()),
            (
                "NumberOfSectionReferences",
                ca.section_references.to_string(),
            ),
            ("NumberOfPfnReferences", ca.pfn_references.to_string()),
            ("NumberOfMappedViews", ca.mapped_views.to_string()),
            ("NumberOfUserReferences", ca.user_references.to_string()),
            (
                "WritableUserReferences",
                ca.writable_user_references.to_string(),
            ),
            ("ModifiedWriteCount", ca.modified_write_count.to_string()),
            ("ResidentPages", resident.to_string()),
            ("ModifiedPages", modified.to_string()),
            ("Flags", ca.flag_names().join(" ")),
        ])
    }

    /// `sections/NAME/prototype-ptes`: every prototype PTE of the section.
    pub fn section_prototype_ptes(&self, name: &str) -> MmResult<Vec<ProtoPteRow>> {
        let section = self
            .section(name)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {name}"))?;
        let m = self.machine();
        let st = m.pfn_lock();
        let pages = section.size.div_ceil(PAGE_SIZE);
        Ok(st
            .segments
            .locations(section.control_area)
            .into_iter()
            .take(pages as usize)
            .map(|at| {
                let raw = st.segments.read(at);
                let state = m.fmt.decode_prototype(raw);
                let pfn = m.fmt.pfn(raw);
                let mnw = pfn.is_some_and(|p| {
                    st.db.location(p) == Some(super::pfn::PageLocation::ModifiedNoWrite)
                });
                let index = st.segments.index(at);
                ProtoPteRow {
                    index,
                    offset: index * PAGE_SIZE,
                    pte: raw,
                    state: proto_state_name(&state, mnw),
                    pfn,
                    address: st.segments.address(at),
                    share: pfn.map_or(0, |p| st.db.share_count(p)),
                }
            })
            .collect())
    }

    /// `sections/NAME/views`: every view of the section's control area, in pid
    /// order.
    pub fn section_views(&self, name: &str) -> MmResult<Vec<ViewRow>> {
        let section = self
            .section(name)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {name}"))?;
        let mut rows = Vec::new();
        for p in self.all_processes() {
            let space = p.space();
            for vad in space.vads.iter() {
                if let Some(s) = &vad.section
                    && s.id == section.control_area
                {
                    rows.push(ViewRow {
                        process: p.name.clone(),
                        pid: p.pid,
                        base: vad.start_va().0,
                        size: vad.size_bytes(),
                        offset: s.offset,
                        protection: vad.protection,
                    });
                }
            }
        }
        Ok(rows)
    }

    /// NtMapViewOfSection (`map SECTION ADDR SIZE OFFSET PROT`). Returns the
    /// view's base and size.
    pub fn map_view(
        &self,
        pid: Pid,
        section: &str,
        address: u64,
        size: u64,
        offset: u64,
        protection: Protection,
    ) -> MmResult<(super::types::Va, u64)> {
        let table = self.sections_lock();
        let s = table
            .get(section)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {section}"))?
            .clone();
        let p = self.process(pid)?;
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            view::map(
                self.machine(),
                &mut space,
                &s,
                address,
                size,
                offset,
                protection,
            )
        })
    }

    /// NtUnmapViewOfSection (`unmap ADDR`, any address inside the view).
    /// Returns the view's base and size.
    pub fn unmap_view(&self, pid: Pid, address: u64) -> MmResult<(super::types::Va, u64)> {
        let p = self.process(pid)?;
        let (base, size, ca) = {
            let mut space = p.live_space()?;
            view::unmap(self.machine(), &mut space, address)?
        };
        delete::delete_if_unreferenced(self.machine(), ca);
        Ok((base, size))
    }

    /// NtFlushVirtualMemory (`flush ADDR SIZE`; SIZE 0 means the rest of the
    /// view): the view's dirty pages are written to their file now. Returns the
    /// range flushed and the pages written.
    pub fn flush_view(
        &self,
        pid: Pid,
        address: u64,
        size: u64,
    ) -> MmResult<(super::types::Va, u64, u64)> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        view::flush(self.machine(), &mut space, address, size)
    }

    /// `fork CHILD`: a new process whose address space is a copy-on-write clone
    /// of this one's. Returns the child's pid.
    pub fn fork_process(&self, pid: Pid, child: &str) -> MmResult<Pid> {
        let parent = self.process(pid)?;
        if pid == Pid::SYSTEM {
            return Err(mm_err!(
                ACCESS_DENIED,
                "the System process has no user address space to fork"
            ));
        }
        // The pages a fork needs are the child's (page tables, clone blocks),
        // so the parent's own working set is as fair a source as any other's.
        self.with_reclaim(Pid(0), || fork::fork(self, &parent, child))
    }

    /// Writes every dirty page of every file-backed section to its file, the
    /// Dirty bits of process PTEs included, as NT does before a volume goes away.
    /// The daemon calls this after unmounting, so a file-backed section's data
    /// is in its file byte for byte once mmfs exits. Returns the pages written.
    pub fn flush_all_mapped_files(&self) -> u64 {
        let m = self.machine();
        let file_areas: Vec<u32> = {
            let st = m.pfn_lock();
            st.segments
                .control_areas
                .values()
                .filter(|a| a.is_file())
                .map(|a| a.id)
                .collect()
        };
        for p in self.all_processes() {
            let space = p.space();
            for vad in space.vads.iter() {
                if vad
                    .section
                    .as_ref()
                    .is_some_and(|s| file_areas.contains(&s.id))
                {
                    view::harvest_dirty(m, &space, vad.starting_vpn, vad.ending_vpn);
                }
            }
        }
        file_areas
            .into_iter()
            .map(|ca| writer::flush_range(m, ca, 0, u64::MAX, true).written)
            .sum()
    }

    /// `run mapped-page-writer` and the five-minute timer: writes every
    /// modified page of a file-backed section to its file. Returns pages written.
    pub fn mapped_page_writer_pass(&self) -> u64 {
        writer::write_all_mapped(self.machine())
    }

    /// Creates a pagefile-backed segment: every page committed (charged now) and
    /// demand zero. Returns its control area and the size in bytes.
    fn create_pagefile_segment(&self, size: u64, protection: Protection) -> MmResult<(u32, u64)> {
        if size == 0 {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "a section backed by the paging file needs a size above 0"
            ));
        }
        let m = self.machine();
        let pages = size.div_ceil(PAGE_SIZE);
        let physical_limit = m.commit_lock().limit.max(1) * 16;
        if pages > physical_limit || pages > u32::MAX as u64 {
            return Err(mm_err!(
                SECTION_TOO_BIG,
                "{size:#x} bytes is more than this machine could ever commit"
            ));
        }
        m.charge_commit(pages)?;
        let template = m.fmt.encode(&PteState::DemandZero { protection });
        let mut st = m.pfn_lock();
        let ca = st
            .segments
            .add_control_area(Backing::PagingFile, protection);
        let max = m.fmt.max_subsection();
        if st
            .segments
            .add_subsection(ca, pages, template, 0, max)
            .is_none()
        {
            st.segments.remove_control_area(ca);
            drop(st);
            m.uncharge_commit(pages);
            return Err(mm_err!(
                INSUFFICIENT_RESOURCES,
                "paged pool has no room for {pages} prototype PTEs"
            ));
        }
        let area = st.segments.control_area_mut(ca).expect("just added");
        area.size = size;
        area.committed_pages = pages;
        area.section_references = 1;
        Ok((ca, size))
    }

    /// Opens (or finds) the control area of a file: one per file, shared by every
    /// section on it (NT keeps it in the file's SectionObjectPointers).
    fn open_file_segment(
        &self,
        full: &Path,
        shown: &str,
        size: u64,
        protection: Protection,
    ) -> MmResult<(u32, u64)> {
        let m = self.machine();
        let meta = std::fs::metadata(full).map_err(|e| {
            mm_err!(
                OBJECT_NAME_NOT_FOUND,
                "file={shown}: {e} (files live in the --files volume, {})",
                self.config().files_dir.display()
            )
        })?;
        if !meta.is_file() {
            return Err(mm_err!(
                INVALID_PARAMETER,
                "file={shown} is not a regular file"
            ));
        }
        let canonical = full.canonicalize().unwrap_or_else(|_| full.to_path_buf());
        let writable = protection.allows_write() && !protection.is_copy_on_write();
        let file_len = meta.len();
        let size = if size == 0 { file_len } else { size };
        if size == 0 {
            return Err(mm_err!(
                MAPPED_FILE_SIZE_ZERO,
                "file={shown} is empty and no size was given"
            ));
        }
        if size > file_len && !writable {
            return Err(mm_err!(
                SECTION_TOO_BIG,
                "file={shown} has {file_len} bytes; a {} section cannot be larger than its file",
                protection.name()
            ));
        }
        let pages = size.div_ceil(PAGE_SIZE);
        if pages > u32::MAX as u64 {
            return Err(mm_err!(SECTION_TOO_BIG, "{size:#x} bytes is too large"));
        }
        let existing = {
            let st = m.pfn_lock();
            st.segments
                .control_areas
                .values()
                .find(|ca| matches!(&ca.backing, Backing::File { path, .. } if *path == canonical))
                .map(|ca| ca.id)
        };
        let ca = match existing {
            Some(ca) => ca,
            None => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(full)
                    .or_else(|e| {
                        if writable {
                            Err(e)
                        } else {
                            std::fs::File::open(full)
                        }
                    })
                    .map_err(|e| mm_err!(ACCESS_DENIED, "file={shown}: {e}"))?;
                let mut st = m.pfn_lock();
                st.segments.add_control_area(
                    Backing::File {
                        path: canonical,
                        file: Arc::new(file),
                    },
                    Protection::READWRITE,
                )
            }
        };
        if size > file_len {
            // A writable section larger than its file grows the file (NT sets
            // the end of file when the section is created).
            let grown = self.file_of(ca).map(|f| f.set_len(size));
            if let Some(Err(e)) = grown {
                delete::delete_if_unreferenced(m, ca);
                return Err(mm_err!(
                    INSUFFICIENT_RESOURCES,
                    "file={shown} could not grow to {size} bytes: {e}"
                ));
            }
        }
        let mut st = m.pfn_lock();
        if let Err(e) = grow_file_segment_locked(m, &mut st, ca, size) {
            drop(st);
            if size > file_len {
                // A failed create leaves the file as it found it.
                let _ = self.file_of(ca).map(|f| f.set_len(file_len));
            }
            delete::delete_if_unreferenced(m, ca);
            return Err(e);
        }
        if let Some(area) = st.segments.control_area_mut(ca) {
            area.section_references += 1;
        }
        Ok((ca, size))
    }

    fn file_of(&self, ca: u32) -> Option<Arc<std::fs::File>> {
        let st = self.machine().pfn_lock();
        match &st.segments.control_area(ca)?.backing {
            Backing::File { file, .. } => Some(file.clone()),
            _ => None,
        }
    }

    fn extend_segment(&self, section: &SectionObject, size: u64) -> MmResult<u64> {
        let m = self.machine();
        let file = self.file_of(section.control_area).ok_or_else(|| {
            mm_err!(
                SECTION_NOT_EXTENDED,
                "section {} is backed by the paging file; only file-backed sections can be extended",
                section.name
            )
        })?;
        if size <= section.size {
            return Ok(section.size);
        }
        let writable = section.protection.allows_write() && !section.protection.is_copy_on_write();
        let file_len = file
            .metadata()
            .map_err(|e| mm_err!(INSUFFICIENT_RESOURCES, "cannot read the file's size: {e}"))?
            .len();
        if size > file_len {
            if !writable {
                return Err(mm_err!(
                    SECTION_NOT_EXTENDED,
                    "section {} was created {}; only a section created with write access can grow its file",
                    section.name,
                    section.protection.name()
                ));
            }
            file.set_len(size).map_err(|e| {
                mm_err!(
                    INSUFFICIENT_RESOURCES,
                    "the file could not grow to {size} bytes: {e}"
                )
            })?;
        }
        let mut st = m.pfn_lock();
        if let Err(e) = grow_file_segment_locked(m, &mut st, section.control_area, size) {
            drop(st);
            if size > file_len {
                // A failed extend leaves the file as it found it.
                let _ = file.set_len(file_len);
            }
            return Err(e);
        }
        Ok(size)
    }
}

/// Makes a file's segment cover `size` bytes: a new subsection for the pages
/// beyond its last prototype PTE (NT's MmExtendSection appends subsections).
fn grow_file_segment_locked(
    m: &super::memory::Machine,
    st: &mut super::memory::PfnState,
    ca: u32,
    size: u64,
) -> MmResult<()> {
    let pages = size.div_ceil(PAGE_SIZE);
    let Some(area) = st.segments.control_area(ca) else {
        return Err(mm_err!(OBJECT_NAME_NOT_FOUND, "the control area went away"));
    };
    let have = area.total_ptes;
    if pages > have {
        let max = m.fmt.max_subsection();
        let count = pages - have;
        // The subsection number is only known once added: add, then fill in.
        let n = st
            .segments
            .add_subsection(ca, count, 0, have, max)
            .ok_or_else(|| {
                mm_err!(
                    INSUFFICIENT_RESOURCES,
                    "paged pool has no room for {count} more prototype PTEs"
                )
            })?;
        let template = m.fmt.encode(&PteState::Subsection {
            subsection: n,
            protection: Protection::READWRITE,
        });
        if let Some(s) = st.segments.subsections[n as usize].as_mut() {
            s.ptes.iter_mut().for_each(|p| *p = template);
        }
    }
    if let Some(area) = st.segments.control_area_mut(ca) {
        area.size = area.size.max(size);
    }
    Ok(())
}
