//! Sections: prototype PTEs in all six states, shared views, trimming shared
//! pages, the mapped page writer, write-copy views and fork.

use super::model::reference::{SectionModel, ViewModel};
use super::{RW, assert_verified, machine, meminfo, on_every_arch, req, small_machine};
use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::Pid;
use crate::mm::base::types::{Arch, PAGE_SIZE, Va};
use crate::mm::inspect::SectionInfo;
use crate::mm::pfn::PageLocation;
use crate::mm::process::working_set::DEFAULT_MINIMUM;
use crate::mm::testutil::XorShift;
use crate::mm::{Mm, MmResult, NtStatus};

const WC: Protection = Protection::WRITECOPY;
const RO: Protection = Protection::READONLY;

fn states(mm: &Mm, name: &str) -> Vec<&'static str> {
    mm.section_prototype_ptes(name)
        .unwrap()
        .iter()
        .map(|r| r.state)
        .collect()
}

fn proto(mm: &Mm, name: &str, index: usize) -> crate::mm::inspect::ProtoPteRow {
    mm.section_prototype_ptes(name).unwrap()[index].clone()
}

fn info(mm: &Mm, name: &str) -> SectionInfo {
    mm.section_info(name).unwrap()
}

fn read(mm: &Mm, pid: Pid, va: u64, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    assert_eq!(mm.read_memory(pid, va, &mut buf).unwrap(), n);
    buf
}

fn two_processes(mm: &Mm) -> (Pid, Pid) {
    (
        mm.create_process("a").unwrap(),
        mm.create_process("b").unwrap(),
    )
}

#[test]
fn two_processes_share_a_pagefile_backed_section() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let mm = machine(arch);
        let (a, b) = two_processes(&mm);
        let commit0 = mm.machine().commit_lock().total;
        mm.create_section("s", 64 << 10, None, RW, false).unwrap();
        // Its 16 pages, and the page of paged pool its prototype PTEs are in.
        assert_eq!(mm.machine().commit_lock().total, commit0 + 17, "{arch:?}");
        assert!(states(&mm, "s").iter().all(|&s| s == "demand-zero"));
        let (va, size) = mm.map_view(a, "s", 0, 0, 0, RW).unwrap();
        let (vb, _) = mm.map_view(b, "s", 0, 0, 0, RW).unwrap();
        assert_eq!(size, 64 << 10);
        assert_eq!(info(&mm, "s").mapped_views, 2);
        mm.write_memory(a, va.0 + 10, b"hello").unwrap();
        assert_eq!(proto(&mm, "s", 0).state, "valid");
        assert_eq!(proto(&mm, "s", 0).share, 1);
        assert_eq!(read(&mm, b, vb.0 + 10, 5), b"hello", "{arch:?}");
        assert_eq!(proto(&mm, "s", 0).share, 2);
        assert!(mm.counter("prototype_faults") >= 2);
        mm.write_memory(b, vb.0 + 20, b"world").unwrap();
        assert_eq!(read(&mm, a, va.0 + 20, 5), b"world");
        assert_verified(&mm);
        // Trim one: still valid for the other.
        mm.trim(a).unwrap();
        let p = proto(&mm, "s", 0);
        assert_eq!((p.state, p.share), ("valid", 1));
        assert_verified(&mm);
        // Trim the other: now the prototype PTE is in transition, the page on
        // the modified list (never written anywhere).
        mm.trim(b).unwrap();
        let p = proto(&mm, "s", 0);
        assert_eq!(p.state, "transition");
        assert_eq!(
            mm.machine().pfn_lock().db.location(p.pfn.unwrap()),
            Some(PageLocation::Modified)
        );
        assert_verified(&mm);
        // Written to the paging file, then repurposed: pagefile state; a hard
        // fault brings the bytes back.
        mm.flush_modified();
        assert_eq!(
            mm.machine().pfn_lock().db.location(p.pfn.unwrap()),
            Some(PageLocation::Standby)
        );
        mm.empty_standby();
        assert_eq!(proto(&mm, "s", 0).state, "pagefile");
        assert_verified(&mm);
        let hard = mm.counter("hard_faults");
        assert_eq!(read(&mm, b, vb.0 + 10, 5), b"hello");
        assert_eq!(read(&mm, a, va.0 + 20, 5), b"world");
        assert_eq!(mm.counter("hard_faults"), hard + 1, "one read, then shared");
        assert_verified(&mm);
        // Unmap both and delete: commit returns, the slots are freed.
        mm.unmap_view(a, va.0 + 4096).unwrap();
        let before = mm.machine().commit_lock().total;
        mm.delete_section("s").unwrap();
        assert_eq!(info_missing(&mm, "s"), NtStatus::OBJECT_NAME_NOT_FOUND);
        assert_eq!(
            mm.machine().commit_lock().total,
            before,
            "b's view holds it"
        );
        assert_verified(&mm);
        mm.unmap_view(b, vb.0).unwrap();
        assert_eq!(mm.machine().commit_lock().total, commit0);
        assert!(mm.machine().pfn_lock().segments.control_areas.is_empty());
        assert_verified(&mm);
    }
}

fn info_missing(mm: &Mm, name: &str) -> NtStatus {
    mm.section_info(name).unwrap_err().status
}

#[test]
fn map_checks_alignment_size_and_protection() {
    let mm = machine(Arch::X86);
    let a = mm.create_process("a").unwrap();
    mm.create_section("s", 128 << 10, None, RO, false).unwrap();
    let e = |r: Result<_, crate::mm::MmError>| r.unwrap_err().status;
    assert_eq!(
        e(mm.map_view(a, "s", 0, 0, 4096, RO)),
        NtStatus::MAPPED_ALIGNMENT
    );
    assert_eq!(
        e(mm.map_view(a, "s", 0x10001000, 0, 0, RO)),
        NtStatus::MAPPED_ALIGNMENT
    );
    assert_eq!(
        e(mm.map_view(a, "s", 0, 0, 128 << 10, RO)),
        NtStatus::INVALID_VIEW_SIZE
    );
    assert_eq!(
        e(mm.map_view(a, "s", 0, 129 << 10, 0, RO)),
        NtStatus::INVALID_VIEW_SIZE
    );
    assert_eq!(
        e(mm.map_view(a, "s", 0, 0, 0, RW)),
        NtStatus::SECTION_PROTECTION
    );
    assert_eq!(
        e(mm.map_view(a, "nope", 0, 0, 0, RO)),
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    assert!(mm.vads(a).unwrap().is_empty(), "nothing mapped");
    // A write-copy view of a read-only section is fine; so is the second half.
    let (v, size) = mm.map_view(a, "s", 0, 0, 64 << 10, WC).unwrap();
    assert_eq!(size, 64 << 10);
    assert_eq!(
        e(mm.map_view(a, "s", v.0, 0, 0, RO)),
        NtStatus::CONFLICTING_ADDRESSES
    );
    assert_eq!(e(mm.unmap_view(a, 0x7000_0000)), NtStatus::NOT_MAPPED_VIEW);
    assert_eq!(
        mm.extend_section("s", 1 << 20).unwrap_err().status,
        NtStatus::SECTION_NOT_EXTENDED
    );
    assert_eq!(
        e(mm.free(a, v.0, 0, true)),
        NtStatus::UNABLE_TO_DELETE_SECTION
    );
    // Reading a read-only view works; writing it is an access violation.
    let (r, _) = mm.map_view(a, "s", 0, 0, 0, RO).unwrap();
    assert_eq!(read(&mm, a, r.0, 4), vec![0; 4]);
    assert!(mm.write_memory(a, r.0, b"x").is_err());
    assert_verified(&mm);
}

#[test]
fn write_copy_views_keep_the_section_unchanged() {
    let mm = machine(Arch::Pae);
    let (a, b) = two_processes(&mm);
    mm.create_section("s", 64 << 10, None, RW, false).unwrap();
    let (va, _) = mm.map_view(a, "s", 0, 0, 0, RW).unwrap();
    mm.write_memory(a, va.0, b"original").unwrap();
    let commit = mm.machine().commit_lock().total;
    let (vb, _) = mm.map_view(b, "s", 0, 0, 0, WC).unwrap();
    assert_eq!(
        mm.machine().commit_lock().total,
        commit + 16 + 1,
        "charged per page, and the view's page table (MiInsertVadCharges)"
    );
    assert_eq!(read(&mm, b, vb.0, 8), b"original");
    mm.write_memory(b, vb.0, b"private!").unwrap();
    assert_eq!(read(&mm, b, vb.0, 8), b"private!");
    assert_eq!(read(&mm, a, va.0, 8), b"original");
    assert_eq!(mm.counter("copy_on_write_faults"), 1);
    assert_eq!(mm.process_status(b).unwrap().copy_on_write_faults, 1);
    // A write straight away (no read first) copies too.
    mm.write_memory(b, vb.0 + 4096, b"x").unwrap();
    assert_eq!(read(&mm, a, va.0 + 4096, 1), [0]);
    assert_eq!(mm.counter("copy_on_write_faults"), 2);
    assert_verified(&mm);
    // The private copies page like private memory.
    mm.trim(b).unwrap();
    mm.flush_modified();
    mm.empty_standby();
    assert_eq!(read(&mm, b, vb.0, 8), b"private!");
    assert_verified(&mm);
    mm.unmap_view(b, vb.0).unwrap();
    assert_eq!(mm.machine().commit_lock().total, commit);
    assert_verified(&mm);
}

fn file_machine() -> (Mm, std::path::PathBuf) {
    let mm = Mm::new(MmConfig::for_tests(16 << 20, Arch::X64)).unwrap();
    let dir = mm.config().files_dir.clone();
    (mm, dir)
}

#[test]
fn file_backed_views_read_the_file_and_flush_writes_it_back() {
    let (mm, dir) = file_machine();
    let data: Vec<u8> = (0..20000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("data.bin"), &data).unwrap();
    let size = mm
        .create_section("f", 0, Some("data.bin"), RW, false)
        .unwrap();
    assert_eq!(size, 20000);
    assert!(states(&mm, "f").iter().all(|&s| s == "mapped-file"));
    assert_eq!(states(&mm, "f").len(), 5);
    let a = mm.create_process("a").unwrap();
    let (va, _) = mm.map_view(a, "f", 0, 0, 0, RW).unwrap();
    assert_eq!(read(&mm, a, va.0, 20000), data);
    assert_eq!(read(&mm, a, va.0 + 20000, 100), vec![0; 100], "past EOF");
    // MiResolveMappedFileFault reads a cluster (MmDataClusterSize, 4 pages):
    // pages 0-3 with the first fault (1-3 to standby, then soft faults), 4 alone.
    assert_eq!(mm.counter("hard_faults"), 2);
    assert_eq!(mm.counter("prototype_faults"), 5);
    mm.write_memory(a, va.0 + 4096, b"CHANGED").unwrap();
    let (_, _, written) = mm.flush_view(a, va.0, 0).unwrap();
    assert_eq!(written, 1);
    let on_disk = std::fs::read(dir.join("data.bin")).unwrap();
    assert_eq!(on_disk.len(), 20000, "the file keeps its length");
    assert_eq!(&on_disk[4096..4103], b"CHANGED");
    assert_eq!(&on_disk[..4096], &data[..4096]);
    assert_eq!(mm.counter("pages_written_to_mapped_files"), 1);
    // Flushed again with nothing new: nothing written.
    assert_eq!(mm.flush_view(a, va.0, 0).unwrap().2, 0);
    // A second write after the flush is seen again.
    mm.write_memory(a, va.0 + 4096, b"again").unwrap();
    assert_eq!(mm.flush_view(a, va.0 + 4096, 4096).unwrap().2, 1);
    assert_eq!(
        &std::fs::read(dir.join("data.bin")).unwrap()[4096..4101],
        b"again"
    );
    assert_verified(&mm);
    // Dirty pages trimmed to the modified list go to the file (not the paging
    // file) by the mapped page writer; the five-minute rule on `tick`.
    mm.write_memory(a, va.0 + 8192, b"timer").unwrap();
    mm.trim(a).unwrap();
    assert_eq!(mm.counter("pages_written_to_pagefile"), 0);
    mm.flush_modified();
    assert_eq!(
        mm.counter("pages_written_to_pagefile"),
        0,
        "not for the paging file"
    );
    mm.tick(299_000).unwrap();
    assert_ne!(
        &std::fs::read(dir.join("data.bin")).unwrap()[8192..8197],
        b"timer"
    );
    mm.tick(2_000).unwrap();
    assert_eq!(
        &std::fs::read(dir.join("data.bin")).unwrap()[8192..8197],
        b"timer"
    );
    assert_verified(&mm);
    // The last reference going writes what is dirty.
    mm.write_memory(a, va.0 + 12288, b"at exit").unwrap();
    mm.delete_section("f").unwrap();
    mm.terminate_process(a).unwrap();
    assert_eq!(
        &std::fs::read(dir.join("data.bin")).unwrap()[12288..12295],
        b"at exit"
    );
    assert!(mm.machine().pfn_lock().segments.control_areas.is_empty());
    assert_verified(&mm);
}

#[test]
fn modified_no_write_pages_wait_until_allowed() {
    let (mm, dir) = file_machine();
    std::fs::write(dir.join("log"), vec![b'.'; 8192]).unwrap();
    mm.create_section("log", 0, Some("log"), RW, false).unwrap();
    mm.set_section_modified_write("log", false).unwrap();
    let a = mm.create_process("a").unwrap();
    let (va, _) = mm.map_view(a, "log", 0, 0, 0, RW).unwrap();
    mm.write_memory(a, va.0, b"entry").unwrap();
    mm.trim(a).unwrap();
    assert_eq!(proto(&mm, "log", 0).state, "modified-no-write");
    assert_eq!(mm.mapped_page_writer_pass(), 0);
    mm.tick(400_000).unwrap();
    assert_eq!(&std::fs::read(dir.join("log")).unwrap()[..5], b".....");
    assert_verified(&mm);
    assert_eq!(mm.set_section_modified_write("log", true).unwrap(), 1);
    assert_eq!(proto(&mm, "log", 0).state, "transition");
    assert_eq!(mm.mapped_page_writer_pass(), 1);
    assert_eq!(&std::fs::read(dir.join("log")).unwrap()[..5], b"entry");
    assert_verified(&mm);
}

#[test]
fn extend_grows_a_file_backed_section() {
    let (mm, dir) = file_machine();
    std::fs::write(dir.join("grow"), b"abc").unwrap();
    mm.create_section("g", 0, Some("grow"), RW, false).unwrap();
    assert_eq!(mm.extend_section("g", 2).unwrap(), 3, "never shrinks");
    assert_eq!(
        mm.extend_section("g", 3 * PAGE_SIZE).unwrap(),
        3 * PAGE_SIZE
    );
    assert_eq!(
        std::fs::metadata(dir.join("grow")).unwrap().len(),
        3 * PAGE_SIZE
    );
    assert_eq!(states(&mm, "g").len(), 3);
    assert_eq!(info(&mm, "g").subsections, 2);
    let a = mm.create_process("a").unwrap();
    let (va, _) = mm.map_view(a, "g", 0, 0, 0, RW).unwrap();
    mm.write_memory(a, va.0 + 2 * PAGE_SIZE, b"end").unwrap();
    mm.flush_view(a, va.0, 0).unwrap();
    let f = std::fs::read(dir.join("grow")).unwrap();
    assert_eq!(&f[..3], b"abc");
    assert_eq!(&f[2 * PAGE_SIZE as usize..][..3], b"end");
    // A read-only section cannot grow its file.
    mm.create_section("r", 0, Some("grow"), RO, false).unwrap();
    assert_eq!(
        mm.extend_section("r", 8 * PAGE_SIZE).unwrap_err().status,
        NtStatus::SECTION_NOT_EXTENDED
    );
    assert_eq!(
        mm.create_section("x", 0, Some("../etc/passwd"), RO, false)
            .unwrap_err()
            .status,
        NtStatus::OBJECT_NAME_INVALID
    );
    assert_eq!(
        mm.create_section("x", 0, Some("missing"), RO, false)
            .unwrap_err()
            .status,
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    assert_verified(&mm);
}

#[test]
fn two_sections_on_one_file_share_its_pages() {
    let (mm, dir) = file_machine();
    std::fs::write(dir.join("shared"), vec![1u8; 4096]).unwrap();
    mm.create_section("one", 0, Some("shared"), RW, false)
        .unwrap();
    mm.create_section("two", 0, Some("shared"), RW, false)
        .unwrap();
    assert_eq!(info(&mm, "one").control_area, info(&mm, "two").control_area);
    let (a, b) = two_processes(&mm);
    let (va, _) = mm.map_view(a, "one", 0, 0, 0, RW).unwrap();
    let (vb, _) = mm.map_view(b, "two", 0, 0, 0, RW).unwrap();
    mm.write_memory(a, va.0, b"Z").unwrap();
    assert_eq!(read(&mm, b, vb.0, 1), b"Z");
    assert_verified(&mm);
}

#[test]
fn fork_clones_copy_on_write() {
    for arch in [Arch::X86, Arch::X64] {
        let mm = machine(arch);
        let at_boot = mm.machine().commit_lock().total;
        let parent = mm.create_process("parent").unwrap();
        let (base, _) = mm
            .allocate(parent, &req(0, 64 << 10, "reserve,commit", RW))
            .unwrap();
        mm.write_memory(parent, base.0, b"before fork").unwrap();
        mm.write_memory(parent, base.0 + 3 * 4096, b"page three")
            .unwrap();
        // One page trimmed and written out, one paged out entirely.
        mm.create_section("s", 64 << 10, None, RW, false).unwrap();
        let (view, _) = mm.map_view(parent, "s", 0, 0, 0, RW).unwrap();
        mm.write_memory(parent, view.0, b"shared").unwrap();
        let commit = mm.machine().commit_lock().total;
        let child = mm.fork_process(parent, "child").unwrap();
        assert!(
            mm.machine().commit_lock().total > commit,
            "the child is charged"
        );
        assert_verified(&mm);
        assert_eq!(read(&mm, child, base.0, 11), b"before fork");
        mm.write_memory(child, base.0, b"child wrote").unwrap();
        assert_eq!(read(&mm, parent, base.0, 11), b"before fork", "{arch:?}");
        assert_eq!(read(&mm, child, base.0, 11), b"child wrote");
        mm.write_memory(parent, base.0 + 3 * 4096, b"parent 3!!")
            .unwrap();
        assert_eq!(read(&mm, child, base.0 + 3 * 4096, 10), b"page three");
        assert!(mm.counter("copy_on_write_faults") >= 2);
        // The view is shared, not copied.
        mm.write_memory(child, view.0, b"SHARED").unwrap();
        assert_eq!(read(&mm, parent, view.0, 6), b"SHARED");
        assert_verified(&mm);
        // Paging the clone blocks out and back keeps the bytes.
        mm.empty_working_sets();
        mm.flush_modified();
        mm.empty_standby();
        assert_eq!(read(&mm, child, base.0 + 3 * 4096, 10), b"page three");
        assert_eq!(read(&mm, parent, base.0 + 3 * 4096, 10), b"parent 3!!");
        assert_eq!(read(&mm, parent, base.0, 11), b"before fork");
        assert_verified(&mm);
        mm.terminate_process(child).unwrap();
        assert_eq!(read(&mm, parent, base.0, 11), b"before fork");
        assert_verified(&mm);
        mm.terminate_process(parent).unwrap();
        mm.delete_section("s").unwrap();
        assert!(mm.machine().pfn_lock().segments.control_areas.is_empty());
        assert_eq!(mm.machine().commit_lock().total, at_boot);
        assert_verified(&mm);
    }
}

/// Random sequences of section operations on a machine small enough to page
/// all the time: every byte read through any view matches the model (shared
/// writes seen by every view, write-copy and fork copies private), verify holds
/// throughout, and at the end the files hold exactly the bytes written.
#[test]
fn random_section_sequences_lose_no_byte() {
    on_every_arch(0x5EC7_10A5, |seed, arch| {
        SectionTwin::new(seed, arch).run(1200)
    });
}

/// A view in the section twin: the process that maps it, where, and the
/// model test's view model (its section, copies and protections).
#[derive(Clone)]
struct MappedView {
    pid: Pid,
    base: u64,
    view: ViewModel,
}

/// One arch's run of `random_section_sequences_lose_no_byte`.
struct SectionTwin {
    mm: Mm,
    dir: std::path::PathBuf,
    rng: XorShift,
    seed: u64,
    arch: Arch,
    /// Names the seed, the arch and the step in a failure.
    ctx: String,
    pids: Vec<Pid>,
    sections: Vec<SectionModel>,
    views: Vec<MappedView>,
    forks: u32,
}

impl SectionTwin {
    fn new(seed: u64, arch: Arch) -> SectionTwin {
        let (mm, pids) = small_machine(arch);
        SectionTwin {
            dir: mm.config().files_dir.clone(),
            mm,
            rng: XorShift(seed ^ (arch as u64 + 1)),
            seed,
            arch,
            ctx: String::new(),
            pids,
            sections: Vec::new(),
            views: Vec::new(),
            forks: 0,
        }
    }

    fn run(mut self, steps: u64) {
        for step in 0..steps {
            self.ctx = format!("seed {:#x} {:?} step {step}", self.seed, self.arch);
            let pid = self.pids[self.rng.below(self.pids.len() as u64) as usize];
            // A step that comes to nothing (no view, a read-only view, ...)
            // skips the check, as it always has.
            if self.step(pid) && step % 50 == 49 {
                let r = self.mm.verify();
                assert!(r.ok(), "{}:\n{}", self.ctx, r.violations.join("\n"));
            }
        }
        self.finish();
    }

    /// One random operation by `pid`; false when it ended early.
    fn step(&mut self, pid: Pid) -> bool {
        match self.rng.below(10) {
            0 if SectionModel::live(&self.sections).len() < 4 => self.create_section(),
            1 => return self.map(pid),
            2 => return self.unmap(pid),
            3 | 4 => return self.write(pid),
            5 => self.read_back(pid),
            6 if self.forks < 4 => self.fork(pid),
            7 => self.system(pid),
            8 => return self.delete_section(),
            9 if self.pids.len() > 3 && self.rng.below(3) == 0 => self.terminate(),
            _ => {}
        }
        true
    }

    fn create_section(&mut self) {
        let pages = 1 + self.rng.below(24);
        let name = format!("s{}", self.sections.len());
        if self.rng.below(2) == 0 {
            let size = pages * PAGE_SIZE;
            self.mm
                .create_section(&name, size, None, RW, false)
                .unwrap();
            let data = vec![0; size as usize];
            self.sections.push(SectionModel::new(name, data, None));
        } else {
            let len = pages * PAGE_SIZE - self.rng.below(PAGE_SIZE);
            let data: Vec<u8> = (0..len).map(|_| self.rng.next() as u8).collect();
            let file = format!("{name}.dat");
            std::fs::write(self.dir.join(&file), &data).unwrap();
            self.mm
                .create_section(&name, 0, Some(&file), RW, false)
                .unwrap();
            self.sections
                .push(SectionModel::new(name, data, Some(file)));
        }
    }

    fn map(&mut self, pid: Pid) -> bool {
        let live = SectionModel::live(&self.sections);
        if live.is_empty() {
            return false;
        }
        let si = live[self.rng.below(live.len() as u64) as usize];
        let size = self.sections[si].data.len() as u64;
        let offset = if size > 64 << 10 && self.rng.below(2) == 0 {
            64 << 10
        } else {
            0
        };
        let protection = [RW, RW, WC, RO][self.rng.below(4) as usize];
        let (base, bytes) = self
            .mm
            .map_view(pid, &self.sections[si].name, 0, 0, offset, protection)
            .unwrap_or_else(|e| panic!("{}: map: {e}", self.ctx));
        let view = ViewModel::new(si, offset / PAGE_SIZE, bytes / PAGE_SIZE, protection);
        self.views.push(MappedView {
            pid,
            base: base.0,
            view,
        });
        true
    }

    /// The indices of the views `pid` maps.
    fn views_of(&self, pid: Pid) -> Vec<usize> {
        (0..self.views.len())
            .filter(|&i| self.views[i].pid == pid)
            .collect()
    }

    fn unmap(&mut self, pid: Pid) -> bool {
        let mine = self.views_of(pid);
        if mine.is_empty() {
            return false;
        }
        let v = self
            .views
            .remove(mine[self.rng.below(mine.len() as u64) as usize]);
        let va = v.base + self.rng.below(v.view.pages()) * PAGE_SIZE;
        self.mm
            .unmap_view(pid, va)
            .unwrap_or_else(|e| panic!("{}: unmap: {e}", self.ctx));
        true
    }

    /// Writes one byte value over a random range of one of `pid`'s views.
    fn write(&mut self, pid: Pid) -> bool {
        let mine = self.views_of(pid);
        if mine.is_empty() {
            return false;
        }
        let vi = mine[self.rng.below(mine.len() as u64) as usize];
        let pages = self.views[vi].view.pages();
        let page = self.rng.below(pages);
        let off = self.rng.below(PAGE_SIZE);
        let len = (1 + self.rng.below(2 * PAGE_SIZE)).min((pages - page) * PAGE_SIZE - off);
        let byte = self.rng.next() as u8;
        let v = &mut self.views[vi];
        let va = v.base + page * PAGE_SIZE + off;
        let r = self.mm.write_memory(pid, va, &vec![byte; len as usize]);
        if v.view.protection == RO {
            assert!(r.is_err(), "{}: wrote a read-only view", self.ctx);
            return false;
        }
        assert_eq!(r.unwrap_or(0), len as usize, "{}: write", self.ctx);
        // Page by page into the section, or into the view's own copy (made on
        // the first write to a write-copy page); bytes written past the end
        // of a file are not kept.
        let section = &mut self.sections[v.view.section];
        let (mut at, end) = (page * PAGE_SIZE + off, page * PAGE_SIZE + off + len);
        while at < end {
            let (p, o) = (at / PAGE_SIZE, (at % PAGE_SIZE) as usize);
            let n = (PAGE_SIZE as usize - o).min((end - at) as usize);
            let bytes = v.view.bytes_mut(section, p as usize, true);
            let stop = bytes.len().min(o + n);
            if o < stop {
                bytes[o..stop].fill(byte);
            }
            at += n as u64;
        }
        true
    }

    /// Reads every view of `pid` back whole and compares it with the model.
    fn read_back(&self, pid: Pid) {
        for vi in self.views_of(pid) {
            let v = &self.views[vi];
            let got = read(&self.mm, pid, v.base, (v.view.pages() * PAGE_SIZE) as usize);
            let section = &self.sections[v.view.section];
            for p in 0..v.view.pages() {
                let start = ((v.view.first_page + p) * PAGE_SIZE) as usize;
                let want = v.view.read_page(section, p);
                let have = &got[(p * PAGE_SIZE) as usize..][..PAGE_SIZE as usize];
                // Past the end of a file the tail of its last page reads
                // as zeros when read in, but holds what was written
                // while it stays in memory (as on NT): not compared.
                let valid = section
                    .data
                    .len()
                    .saturating_sub(start)
                    .min(PAGE_SIZE as usize);
                let (have, want) = (&have[..valid], &want[..valid]);
                if have != want {
                    let i = (0..have.len()).find(|&i| have[i] != want[i]).unwrap_or(0);
                    panic!(
                        "{}: pid {pid} view {:#x} ({}, first page {}) page {p} of {} (file {:?}) differs at byte {i}: have {:#x} want {:#x}; copied {}",
                        self.ctx,
                        v.base,
                        v.view.protection.name(),
                        v.view.first_page,
                        section.name,
                        section.file,
                        have[i],
                        want[i],
                        v.view.copies.contains_key(&p)
                    );
                }
            }
        }
    }

    fn fork(&mut self, pid: Pid) {
        self.forks += 1;
        // A child's working-set minimum must fit in resident available
        // memory (MmCreateProcessAddressSpace), after its kernel stack.
        let resident = meminfo(&self.mm, "ResidentAvailablePages");
        let forked = self.mm.fork_process(pid, &format!("f{}", self.forks));
        let stack = crate::mm::kernel::stacks::kernel_stack_pages(self.mm.layout().arch());
        if resident < DEFAULT_MINIMUM + stack {
            let e = forked.expect_err("a child whose minimum does not fit");
            assert_eq!(e.status, NtStatus::INSUFFICIENT_RESOURCES, "{}", self.ctx);
            return;
        }
        let child = forked.unwrap_or_else(|e| panic!("{}: fork: {e}", self.ctx));
        let cloned: Vec<MappedView> = self
            .views
            .iter()
            .filter(|v| v.pid == pid)
            .map(|v| MappedView {
                pid: child,
                ..v.clone()
            })
            .collect();
        self.views.extend(cloned);
        self.pids.push(child);
    }

    fn system(&mut self, pid: Pid) {
        use crate::mm::base::wakeups::SystemThread;
        let mm = &self.mm;
        match self.rng.below(8) {
            0 => drop(mm.trim(pid).unwrap()),
            1 => drop(mm.flush_modified()),
            2 => drop(mm.empty_standby()),
            3 => drop(mm.mapped_page_writer_pass()),
            4 => drop(mm.tick(1000 * (1 + self.rng.below(400))).unwrap()),
            5 => drop(mm.run_thread(SystemThread::WorkingSetManager)),
            6 => {
                if let Some(v) = self.views.iter().find(|v| v.pid == pid) {
                    mm.flush_view(pid, v.base, 0).unwrap();
                }
            }
            _ => drop(mm.empty_working_sets()),
        }
    }

    fn delete_section(&mut self) -> bool {
        let live = SectionModel::live(&self.sections);
        if live.is_empty() || self.rng.below(3) != 0 {
            return false;
        }
        let si = live[self.rng.below(live.len() as u64) as usize];
        self.mm.delete_section(&self.sections[si].name).unwrap();
        self.sections[si].deleted = true;
        true
    }

    fn terminate(&mut self) {
        let i = 3 + self.rng.below(self.pids.len() as u64 - 3) as usize;
        let victim = self.pids.remove(i);
        self.mm.terminate_process(victim).unwrap();
        self.views.retain(|v| v.pid != victim);
    }

    /// Every process and section goes; the files hold exactly the bytes
    /// written, and nothing is left.
    fn finish(self) {
        let mm = &self.mm;
        for &pid in &self.pids {
            mm.terminate_process(pid).unwrap();
        }
        for s in self.sections.iter().filter(|s| !s.deleted) {
            mm.delete_section(&s.name).unwrap();
        }
        assert_verified(mm);
        assert!(mm.machine().pfn_lock().segments.control_areas.is_empty());
        for s in &self.sections {
            if let Some(f) = &s.file {
                let on_disk = std::fs::read(self.dir.join(f)).unwrap();
                assert!(
                    on_disk == s.data,
                    "seed {:#x} {:?}: file {f} differs from what was written",
                    self.seed,
                    self.arch
                );
            }
        }
        assert_eq!(mm.machine().pagefiles_lock().used_pages(), 0);
        assert!(mm.counter("prototype_faults") > 0 && mm.counter("copy_on_write_faults") > 0);
    }
}

/// Every transition of a prototype PTE, one by one, with verify after each:
/// demand-zero → valid → transition (modified) → transition (standby, written
/// to the paging file) → pagefile (repurposed) → valid (hard fault); and for a
/// file: mapped-file → valid → modified-no-write → transition (modified) →
/// standby (written to the file) → mapped-file (repurposed) → valid.
#[test]
fn every_prototype_pte_transition() {
    let (mm, dir) = file_machine();
    let a = mm.create_process("a").unwrap();
    let at = |name: &str| {
        let r = proto(&mm, name, 0);
        let loc = r.pfn.and_then(|p| mm.machine().pfn_lock().db.location(p));
        (r.state, loc)
    };
    mm.create_section("pf", 4096, None, RW, false).unwrap();
    assert_eq!(at("pf"), ("demand-zero", None));
    let (v, _) = mm.map_view(a, "pf", 0, 0, 0, RW).unwrap();
    mm.write_memory(a, v.0, b"x").unwrap();
    assert_eq!(at("pf"), ("valid", Some(PageLocation::Active)));
    mm.trim(a).unwrap();
    assert_eq!(at("pf"), ("transition", Some(PageLocation::Modified)));
    assert_verified(&mm);
    mm.flush_modified();
    assert_eq!(at("pf"), ("transition", Some(PageLocation::Standby)));
    read(&mm, a, v.0, 1);
    assert_eq!(
        at("pf"),
        ("valid", Some(PageLocation::Active)),
        "soft fault from standby"
    );
    mm.trim(a).unwrap();
    assert_eq!(
        at("pf"),
        ("transition", Some(PageLocation::Standby)),
        "clean: straight to standby"
    );
    mm.empty_standby();
    assert_eq!(at("pf"), ("pagefile", None));
    assert_verified(&mm);
    assert_eq!(read(&mm, a, v.0, 1), b"x");
    assert_eq!(at("pf"), ("valid", Some(PageLocation::Active)));
    assert_verified(&mm);

    std::fs::write(dir.join("t"), b"file page").unwrap();
    mm.create_section("f", 0, Some("t"), RW, false).unwrap();
    mm.set_section_modified_write("f", false).unwrap();
    assert_eq!(at("f"), ("mapped-file", None));
    let (w, _) = mm.map_view(a, "f", 0, 0, 0, RW).unwrap();
    mm.write_memory(a, w.0, b"F").unwrap();
    assert_eq!(at("f"), ("valid", Some(PageLocation::Active)));
    mm.trim(a).unwrap();
    assert_eq!(
        at("f"),
        ("modified-no-write", Some(PageLocation::ModifiedNoWrite))
    );
    assert_verified(&mm);
    mm.set_section_modified_write("f", true).unwrap();
    assert_eq!(at("f"), ("transition", Some(PageLocation::Modified)));
    mm.mapped_page_writer_pass();
    assert_eq!(at("f"), ("transition", Some(PageLocation::Standby)));
    assert_eq!(std::fs::read(dir.join("t")).unwrap(), b"File page");
    mm.empty_standby();
    assert_eq!(at("f"), ("mapped-file", None));
    assert_verified(&mm);
    assert_eq!(read(&mm, a, w.0, 9), b"File page");
    assert_eq!(at("f"), ("valid", Some(PageLocation::Active)));
    assert_verified(&mm);
}

/// Injected I/O errors on a mapped file: a failed write leaves the page
/// modified and nothing lost (the next write succeeds); a failed read is
/// STATUS_IN_PAGE_ERROR and leaves the prototype PTE as it was.
#[test]
fn mapped_file_io_errors_lose_nothing() {
    let (mm, dir) = file_machine();
    std::fs::write(dir.join("e"), vec![7u8; 8192]).unwrap();
    mm.create_section("e", 0, Some("e"), RW, false).unwrap();
    let a = mm.create_process("a").unwrap();
    let (v, _) = mm.map_view(a, "e", 0, 0, 0, RW).unwrap();
    mm.write_memory(a, v.0, b"keep").unwrap();
    mm.inject("mapped-write", 1).unwrap();
    assert_eq!(
        mm.flush_view(a, v.0, 0).unwrap_err().status,
        NtStatus::IN_PAGE_ERROR
    );
    assert_eq!(std::fs::read(dir.join("e")).unwrap()[0], 7);
    assert_verified(&mm);
    assert_eq!(
        mm.flush_view(a, v.0, 0).unwrap().2,
        1,
        "written on the retry"
    );
    assert_eq!(&std::fs::read(dir.join("e")).unwrap()[..4], b"keep");
    // Page 1 came in with page 0's cluster: send it back to the file first.
    mm.empty_standby();
    mm.inject("mapped-read", 1).unwrap();
    let mut buf = [0u8; 1];
    let f = mm.read_memory(a, v.0 + 4096, &mut buf).unwrap_err();
    assert_eq!(f.error.status, NtStatus::IN_PAGE_ERROR);
    assert_eq!(proto(&mm, "e", 1).state, "mapped-file", "unchanged");
    assert_verified(&mm);
    assert_eq!(read(&mm, a, v.0 + 4096, 1), [7]);
    assert_verified(&mm);
}

/// Two processes fault the same section pages at the same time from two
/// threads while a third trims and empties standby: collided faults wait for
/// the read in flight, and every byte stays right.
#[test]
fn concurrent_faults_on_one_section() {
    let (mm, dir) = file_machine();
    let mm = std::sync::Arc::new(mm);
    let data: Vec<u8> = (0..64 * 4096u32)
        .map(|i| (i / 4096) as u8 ^ (i as u8))
        .collect();
    std::fs::write(dir.join("c"), &data).unwrap();
    mm.create_section("c", 0, Some("c"), RW, false).unwrap();
    let pids: Vec<Pid> = (0..2)
        .map(|i| mm.create_process(&format!("t{i}")).unwrap())
        .collect();
    let bases: Vec<u64> = pids
        .iter()
        .map(|&p| mm.map_view(p, "c", 0, 0, 0, RO).unwrap().0.0)
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pager = {
        let (mm, stop) = (mm.clone(), stop.clone());
        let pids = pids.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for &p in &pids {
                    let _ = mm.trim(p);
                }
                mm.empty_standby();
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let (mm, data) = (mm.clone(), data.clone());
            let (pid, base) = (pids[i], bases[i]);
            std::thread::spawn(move || {
                for round in 0..30 {
                    let mut buf = vec![0u8; data.len()];
                    assert_eq!(mm.read_memory(pid, base, &mut buf).unwrap(), data.len());
                    assert!(buf == data, "reader {i} round {round}");
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    pager.join().unwrap();
    assert_verified(&mm);
    // Every page was read from the file at least once (collided reads count
    // once), in clusters of up to 4 pages.
    assert!(mm.counter("hard_faults") >= 64 / 4);
}

/// NtProtectVirtualMemory on a view: only protections compatible with the
/// view's are allowed (STATUS_SECTION_PROTECTION otherwise); untouched pages keep
/// resolving through the prototype PTE, and a view page made write-copy copies.
#[test]
fn protect_on_views() {
    let mm = machine(Arch::X86);
    let (a, b) = two_processes(&mm);
    mm.create_section("s", 64 << 10, None, RW, false).unwrap();
    let (va, _) = mm.map_view(a, "s", 0, 0, 0, RW).unwrap();
    let (vb, _) = mm.map_view(b, "s", 0, 0, 0, RO).unwrap();
    mm.write_memory(a, va.0, b"one").unwrap();
    assert_eq!(
        mm.protect(b, vb.0, 4096, RW).unwrap_err().status,
        NtStatus::SECTION_PROTECTION
    );
    // Untouched page 2 and valid page 0 both become read-only in a.
    assert_eq!(mm.protect(a, va.0, 3 * 4096, RO).unwrap().value, RW);
    assert!(mm.write_memory(a, va.0, b"x").is_err());
    assert!(mm.write_memory(a, va.0 + 2 * 4096, b"x").is_err());
    assert_eq!(read(&mm, a, va.0 + 2 * 4096, 1), [0]);
    assert_verified(&mm);
    // Write-copy: a's next write copies; b still sees the section.
    mm.protect(a, va.0, 4096, WC).unwrap();
    mm.write_memory(a, va.0, b"two").unwrap();
    assert_eq!(read(&mm, b, vb.0, 3), b"one");
    assert_eq!(read(&mm, a, va.0, 3), b"two");
    assert_verified(&mm);
    mm.trim(a).unwrap();
    assert_eq!(read(&mm, a, va.0, 3), b"two");
    assert_verified(&mm);
}

/// NtAllocateVirtualMemory's MEM_COMMIT inside a view: a mapped file's view
/// is STATUS_ALREADY_COMMITTED; a pagefile-backed section's is committed
/// already and takes the protection (MiSetProtectionOnSection), charging
/// nothing; PAGE_NOCACHE is refused for any view (and MEM_RESET of a mapped
/// file's view is STATUS_USER_MAPPED_FILE, MiResetVirtualMemory).
#[test]
fn commit_in_a_view_follows_nt_allocate_virtual_memory() {
    let (mm, dir) = file_machine();
    std::fs::write(dir.join("data.bin"), vec![7u8; 8192]).unwrap();
    mm.create_section("f", 0, Some("data.bin"), RW, false)
        .unwrap();
    mm.create_section("s", 64 << 10, None, RW, false).unwrap();
    let a = mm.create_process("a").unwrap();
    let (fv, _) = mm.map_view(a, "f", 0, 0, 0, RW).unwrap();
    let (sv, _) = mm.map_view(a, "s", 0, 0, 0, RW).unwrap();
    let e = |r: MmResult<(Va, u64)>| r.unwrap_err().status;
    assert_eq!(
        e(mm.allocate(a, &req(fv.0, 4096, "commit", RW))),
        NtStatus::ALREADY_COMMITTED
    );
    assert_eq!(
        e(mm.allocate(a, &req(fv.0, 4096, "reset", RW))),
        NtStatus::USER_MAPPED_FILE
    );
    let nocache = Protection::from_raw(RW.raw() | Protection::NOCACHE_BIT);
    assert_eq!(
        e(mm.allocate(a, &req(sv.0, 4096, "commit", nocache))),
        NtStatus::INVALID_PAGE_PROTECTION
    );
    let charge = mm.machine().commit_lock().total;
    let (got, size) = mm
        .allocate(a, &req(sv.0 + 0x1800, 4096, "commit", RO))
        .unwrap();
    assert_eq!((got, size), (Va(sv.0 + 0x1000), 0x2000));
    assert_eq!(mm.machine().commit_lock().total, charge, "nothing charged");
    assert!(mm.write_memory(a, sv.0 + 0x1000, b"x").is_err());
    mm.write_memory(a, sv.0, b"x").unwrap();
    assert_verified(&mm);
}

#[test]
fn a_file_section_never_follows_a_symlink_out_of_the_volume() {
    let (mm, dir) = file_machine();
    std::os::unix::fs::symlink("/etc", dir.join("esc")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("host")).unwrap();
    for path in [
        "esc/hostname",
        "host",
        "esc/../esc/hostname",
        "/etc/hostname",
    ] {
        let e = mm
            .create_section("y", 0, Some(path), RW, false)
            .unwrap_err();
        assert_ne!(e.status, NtStatus::SUCCESS, "{path}");
    }
    assert!(mm.machine().pfn_lock().segments.control_areas.is_empty());
    // A plain file of the volume still works.
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/ok"), b"fine").unwrap();
    assert_eq!(
        mm.create_section("ok", 0, Some("./sub/ok"), RW, false)
            .unwrap(),
        4
    );
}
