//! The segments behind section objects: NtCreateSection for pagefile-backed
//! sections (every page committed and demand zero) and for files of the
//! `--files` volume (one control area per file, shared by every section on it),
//! and NtExtendSection (a new subsection for the pages beyond the last).
//! Called with the section table's lock held and no other.

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE};
use crate::mm::hw::pte::PteState;
use crate::mm::machine::{Machine, PfnState};
use crate::mm::segment::{Backing, ControlAreaId, FileId};

use super::SectionObject;
use super::delete::delete_if_unreferenced;

/// Creates a pagefile-backed segment: every page committed (charged now) and
/// demand zero. Returns its control area and the size in bytes.
pub fn create_pagefile_segment(
    m: &Machine,
    size: u64,
    protection: Protection,
) -> MmResult<(ControlAreaId, u64)> {
    if size == 0 {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "a section backed by the paging file needs a size above 0"
        ));
    }
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

/// What a file-backed section is to be created on: the file's path inside
/// the volume (`full`, relative), as the user named it (`shown`, for
/// messages), and the volume's root (`files_dir`).
pub struct FileRequest<'a> {
    pub full: &'a Path,
    pub shown: &'a str,
    pub files_dir: &'a Path,
}

/// Opens (or finds) the control area of a file: one per file, shared by every
/// section on it (NT keeps it in the file's SectionObjectPointers). A writable
/// section larger than its file grows the file; a failure leaves the file and
/// the control areas as they were. Returns the control area and the size.
pub fn open_file_segment(
    m: &Machine,
    file: &FileRequest<'_>,
    size: u64,
    protection: Protection,
) -> MmResult<(ControlAreaId, u64)> {
    let shown = file.shown;
    let writable = protection.allows_write() && !protection.is_copy_on_write();
    let (opened, meta) = open_in_volume(file, writable)?;
    let file_len = meta.len();
    let size = file_section_size(shown, file_len, size, protection)?;
    let path = file.files_dir.join(file.full);
    let ca = control_area_for_file(m, opened, path)
        .map_err(|e| mm_err!(ACCESS_DENIED, "file={shown}: {e}"))?;
    if size > file_len {
        // A writable section larger than its file grows the file (NT sets
        // the end of file when the section is created).
        let grown = file_of(m, ca).map(|f| f.set_len(size));
        if let Some(Err(e)) = grown {
            delete_if_unreferenced(m, ca);
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
            let _ = file_of(m, ca).map(|f| f.set_len(file_len));
        }
        delete_if_unreferenced(m, ca);
        return Err(e);
    }
    if let Some(area) = st.segments.control_area_mut(ca) {
        area.section_references += 1;
    }
    Ok((ca, size))
}

/// Opens the file inside the volume (never leaving it: no `..`, no symlink
/// followed, see `crate::beneath`), read-write, or read-only for a section
/// that cannot write; it must be a regular file. Returns it and its metadata.
fn open_in_volume(file: &FileRequest<'_>, writable: bool) -> MmResult<(File, Metadata)> {
    let shown = file.shown;
    let not_found = |e: std::io::Error| {
        mm_err!(
            OBJECT_NAME_NOT_FOUND,
            "file={shown}: {e} (files live in the --files volume, {})",
            file.files_dir.display()
        )
    };
    let root = File::open(file.files_dir).map_err(not_found)?;
    let open = |flags| {
        use std::os::fd::AsRawFd;
        crate::beneath::open(
            root.as_raw_fd(),
            file.full.as_os_str().as_encoded_bytes(),
            flags,
            0,
        )
    };
    let fd = open(libc::O_RDWR)
        .or_else(|e| {
            if writable {
                Err(e)
            } else {
                open(libc::O_RDONLY)
            }
        })
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => not_found(e),
            _ => mm_err!(ACCESS_DENIED, "file={shown}: {e}"),
        })?;
    let opened = File::from(fd);
    let meta = opened.metadata().map_err(not_found)?;
    if !meta.is_file() {
        return Err(mm_err!(
            INVALID_PARAMETER,
            "file={shown} is not a regular file"
        ));
    }
    Ok((opened, meta))
}

/// The size of a section on a file of `file_len` bytes: `size`, or the file's
/// size for 0. Only a section with shared write access may be larger than its
/// file.
fn file_section_size(
    shown: &str,
    file_len: u64,
    size: u64,
    protection: Protection,
) -> MmResult<u64> {
    let writable = protection.allows_write() && !protection.is_copy_on_write();
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
    if size.div_ceil(PAGE_SIZE) > u32::MAX as u64 {
        return Err(mm_err!(SECTION_TOO_BIG, "{size:#x} bytes is too large"));
    }
    Ok(size)
}

/// The control area of an open host file: the one that file already has (by
/// device and inode), or a new one that keeps `opened`. `path` names it in
/// the views.
pub fn control_area_for_file(
    m: &Machine,
    opened: File,
    path: PathBuf,
) -> std::io::Result<ControlAreaId> {
    let id = FileId::of(&opened)?;
    let mut st = m.pfn_lock();
    let existing = st.segments.file_control_area(id);
    if let Some(area) = existing.and_then(|ca| st.segments.control_area_mut(ca)) {
        // A control area made from a read-only open takes a writable handle
        // when one comes, so the writers can write its pages back.
        if let Backing::File { file, .. } = &mut area.backing
            && !writable(file)
            && writable(&opened)
        {
            *file = Arc::new(opened);
        }
        return Ok(area.id);
    }
    let backing = Backing::File {
        path,
        file: Arc::new(opened),
        id,
    };
    Ok(st.segments.add_control_area(backing, Protection::READWRITE))
}

/// Whether a host file was opened for writing.
fn writable(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFL only reads the open file description's flags.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_ACCMODE != libc::O_RDONLY
}

/// The host file behind a file-backed control area.
pub fn file_of(m: &Machine, ca: ControlAreaId) -> Option<Arc<File>> {
    let st = m.pfn_lock();
    match &st.segments.control_area(ca)?.backing {
        Backing::File { file, .. } => Some(file.clone()),
        _ => None,
    }
}

/// NtExtendSection on `section` to `size` bytes: only file-backed data
/// sections grow (else STATUS_SECTION_NOT_EXTENDED), and only one created with
/// write access may grow its file; a size at or below the current one changes
/// nothing. Returns the section's size.
pub fn extend_segment(m: &Machine, section: &SectionObject, size: u64) -> MmResult<u64> {
    let file = file_of(m, section.control_area).ok_or_else(|| {
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

/// Makes file control area `ca`'s segment cover `size` bytes (the cache
/// manager's views, a file grown by a write).
pub fn grow_segment(m: &Machine, ca: ControlAreaId, size: u64) -> MmResult<()> {
    let mut st = m.pfn_lock();
    grow_file_segment_locked(m, &mut st, ca, size)
}

/// Makes a file's segment cover `size` bytes: a new subsection for the pages
/// beyond its last prototype PTE (NT's MmExtendSection appends subsections).
fn grow_file_segment_locked(
    m: &Machine,
    st: &mut PfnState,
    ca: ControlAreaId,
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
            .add_subsection(ca, count, Mmpte::ZERO, have, max)
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
