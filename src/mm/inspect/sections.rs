//! Snapshots of sections for `sections/<name>/`: `info`, `prototype-ptes` and
//! `views`.

use std::path::PathBuf;

use crate::mm::Mm;
use crate::mm::base::protection::Protection;
use crate::mm::base::status::MmResult;
use crate::mm::base::types::{Mmpte, PAGE_SIZE, Pfn, Pid};
use crate::mm::hw::pte::PteState;
use crate::mm::pfn::PageLocation;
use crate::mm::section::SectionObject;
use crate::mm::segment::{Backing, ControlAreaId};

/// `sections/<name>/info`: the section object, and its control area's
/// counters under NT's names.
#[derive(Clone, Debug)]
pub struct SectionInfo {
    pub section: SectionObject,
    /// `pagefile`, `file` or `clone`.
    pub backing: &'static str,
    /// The host file of a file-backed section.
    pub host_path: Option<PathBuf>,
    pub control_area: ControlAreaId,
    /// SizeOfSegment, bytes.
    pub size_of_segment: u64,
    pub total_ptes: u64,
    pub subsections: u64,
    pub committed_pages: u64,
    pub section_references: u64,
    pub pfn_references: u64,
    pub mapped_views: u64,
    pub user_references: u64,
    pub writable_user_references: u64,
    pub modified_write_count: u64,
    /// Prototype PTEs whose page is in memory.
    pub resident_pages: u64,
    /// Of those, the pages with Modified set.
    pub modified_pages: u64,
    /// The control area's flags, NT's names.
    pub flags: Vec<&'static str>,
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

/// The name of a prototype PTE's state, as `prototype-ptes` shows it. A
/// transition page on the modified-no-write list is its own state (the seed's
/// sixth).
/// The state shown for a prototype PTE whose page of paged pool is out of
/// the System working set (`sections/NAME/prototype-ptes`, `pte`).
pub const PAGED_OUT: &str = "paged-out";

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

impl Mm {
    /// `sections/NAME/info`: the section object and its control area's counters.
    pub fn section_info(&self, name: &str) -> MmResult<SectionInfo> {
        let section = self
            .section(name)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {name}"))?;
        let m = &self.machine;
        let st = m.pfn_lock();
        let ca = st
            .segments
            .control_area(section.control_area)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "section {name} has no control area"))?;
        let mut resident_pages = 0u64;
        let mut modified_pages = 0u64;
        for at in st.segments.locations(ca.id) {
            // A paged-out page of prototype PTEs names no page in memory.
            let raw = st.segments.try_read(at).unwrap_or(Mmpte::ZERO);
            if let Some(pfn) = m.fmt.pfn(raw) {
                resident_pages += 1;
                if st.db.modified(pfn) {
                    modified_pages += 1;
                }
            }
        }
        let (backing, host_path) = match &ca.backing {
            Backing::PagingFile => ("pagefile", None),
            Backing::File { path, .. } => ("file", Some(path.clone())),
            Backing::Clone => ("clone", None),
        };
        Ok(SectionInfo {
            backing,
            host_path,
            control_area: ca.id,
            size_of_segment: ca.size,
            total_ptes: ca.total_ptes,
            subsections: ca.subsections.len() as u64,
            committed_pages: ca.committed_pages,
            section_references: ca.section_references,
            pfn_references: ca.pfn_references,
            mapped_views: ca.mapped_views,
            user_references: ca.user_references,
            writable_user_references: ca.writable_user_references,
            modified_write_count: ca.modified_write_count,
            resident_pages,
            modified_pages,
            flags: ca.flag_names(),
            section,
        })
    }

    /// `sections/NAME/prototype-ptes`: every prototype PTE of the section.
    pub fn section_prototype_ptes(&self, name: &str) -> MmResult<Vec<ProtoPteRow>> {
        let section = self
            .section(name)
            .ok_or_else(|| mm_err!(OBJECT_NAME_NOT_FOUND, "no section is named {name}"))?;
        let m = &self.machine;
        let st = m.pfn_lock();
        let pages = section.size.div_ceil(PAGE_SIZE);
        Ok(st
            .segments
            .locations(section.control_area)
            .into_iter()
            .take(pages as usize)
            .map(|at| {
                // Looking never faults: a row whose page of prototype PTEs
                // is paged out says so (raw 0, no frame).
                let peek = st.segments.try_read(at);
                let raw = peek.unwrap_or(Mmpte::ZERO);
                let state = m.fmt.decode_prototype(raw);
                let pfn = m.fmt.pfn(raw);
                let mnw =
                    pfn.is_some_and(|p| st.db.location(p) == Some(PageLocation::ModifiedNoWrite));
                let index = st.segments.index(at);
                ProtoPteRow {
                    index,
                    offset: index * PAGE_SIZE,
                    pte: raw.0,
                    state: match peek {
                        Some(_) => proto_state_name(&state, mnw),
                        None => PAGED_OUT,
                    },
                    pfn,
                    address: st.segments.address(at).0,
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
}
