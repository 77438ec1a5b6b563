//! Section objects and their views: NtCreateSection, NtExtendSection,
//! NtMapViewOfSection, NtUnmapViewOfSection, NtFlushVirtualMemory, the
//! modified-write switch, and writing every mapped file back at shutdown.
//! The work is in `section/`; these methods take the locks in order (the
//! section table, the cache manager's where a section grows a file, then the
//! process).

use crate::mm::Mm;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Pid, Va};
use crate::mm::paging::mapped_writer::{flush_range, release_modified_no_write_locked};
use crate::mm::process::validate_object_name;
use crate::mm::section::create::{
    FileRequest, create_pagefile_segment, extend_segment, open_file_segment,
};
use crate::mm::section::delete::{delete_if_unreferenced, mapped_page_writer_pass};
use crate::mm::section::view::{self, ViewRequest};
use crate::mm::section::{SectionObject, validate_section_protection, volume_path};
use crate::mm::segment::ControlAreaId;

use super::cache::file_size_at_least;

impl Mm {
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
        validate_object_name(name, "section")?;
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
        let m = &self.machine;
        let (control_area, size) = match file {
            None => create_pagefile_segment(m, size, protection)?,
            Some(path) => {
                let files_dir = &self.config.files_dir;
                let full = volume_path(path)?;
                let request = FileRequest {
                    full: &full,
                    shown: path,
                    files_dir,
                };
                // A section larger than its file grows the file: under the
                // cache's lock, so that no copy sees the file grown and the
                // cache's size not.
                let mut cc = self.cache_lock();
                let (ca, size) = open_file_segment(m, &request, size, protection)?;
                file_size_at_least(&mut cc, ca, size);
                (ca, size)
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
        // The new prototype PTEs' pages of paged pool become System pages.
        self.settle_prototype_pages();
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
        let m = &self.machine;
        {
            let mut st = m.pfn_lock();
            if let Some(ca) = st.segments.control_area_mut(section.control_area) {
                ca.section_references -= 1;
            }
        }
        delete_if_unreferenced(m, section.control_area);
        self.settle_prototype_pages();
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
        let mut cc = self.cache_lock();
        let new_size = extend_segment(&self.machine, section, size)?;
        file_size_at_least(&mut cc, section.control_area, new_size);
        section.size = new_size;
        self.settle_prototype_pages();
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
        let m = &self.machine;
        let mut st = m.pfn_lock();
        let ca = st
            .segments
            .control_area_mut(section.control_area)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "section {name} has no control area"))?;
        ca.no_modified_writing = !allowed;
        if !allowed {
            return Ok(0);
        }
        let moved = release_modified_no_write_locked(m, &mut st, section.control_area);
        Ok(moved)
    }

    /// Section names, sorted.
    pub fn section_names(&self) -> Vec<String> {
        self.sections_lock().by_name.keys().cloned().collect()
    }

    pub fn section(&self, name: &str) -> Option<SectionObject> {
        self.sections_lock().get(name).cloned()
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
    ) -> MmResult<(Va, u64)> {
        let table = self.sections_lock();
        let s = table
            .get(section)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {section}"))?
            .clone();
        let p = self.process(pid)?;
        self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            let req = ViewRequest {
                address,
                size,
                offset,
                protection,
            };
            view::map(&self.machine, &mut space, &s, req)
        })
    }

    /// NtUnmapViewOfSection (`unmap ADDR`, any address inside the view).
    /// Returns the view's base and size.
    pub fn unmap_view(&self, pid: Pid, address: u64) -> MmResult<(Va, u64)> {
        let p = self.process(pid)?;
        // Bringing back its paged-out page tables may need pages.
        let (base, size, ca) = self.with_reclaim(pid, || {
            let mut space = p.live_space()?;
            view::unmap(&self.machine, &mut space, address)
        })?;
        delete_if_unreferenced(&self.machine, ca);
        self.settle_prototype_pages();
        Ok((base, size))
    }

    /// NtFlushVirtualMemory (`flush ADDR SIZE`; SIZE 0 means the rest of the
    /// view): the view's dirty pages are written to their file now. Returns the
    /// range flushed and the pages written.
    pub fn flush_view(&self, pid: Pid, address: u64, size: u64) -> MmResult<(Va, u64, u64)> {
        let p = self.process(pid)?;
        let mut space = p.live_space()?;
        view::flush(&self.machine, &mut space, address, size)
    }

    /// Writes every dirty page of every file-backed section to its file, the
    /// Dirty bits of process PTEs included, as NT does before a volume goes away.
    /// The daemon calls this after unmounting, so a file-backed section's data
    /// is in its file byte for byte once mmfs exits. Returns the pages written.
    pub fn flush_all_mapped_files(&self) -> u64 {
        let m = &self.machine;
        let file_areas: Vec<ControlAreaId> = {
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
            .map(|ca| flush_range(m, ca, 0, u64::MAX, true).written)
            .sum()
    }

    /// `run mapped-page-writer` and the five-minute timer: writes every
    /// modified page of a file-backed section to its file, then deletes the
    /// control areas a failed write kept alive. Returns pages written.
    pub fn mapped_page_writer_pass(&self) -> u64 {
        let written = mapped_page_writer_pass(&self.machine);
        self.settle_prototype_pages();
        written
    }
}
