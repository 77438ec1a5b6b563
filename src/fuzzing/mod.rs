//! Bodies of the fuzz targets in `fuzz/`, shared with the stable-Rust tests that
//! run them over seeded random inputs in plain `cargo test` (CI has no cargo-fuzz).
//!
//! Each body takes raw bytes and must survive any of them. It panics — the
//! fuzzer's "crash" — only when mmfs breaks a promise: an invariant that `verify`
//! finds broken, a control-file outcome that is not one clear line (`ok ...` or
//! `error STATUS_...: ...`), an error that maps to no sensible errno, or memory
//! that does not read back what was written.
//!
//! - [`control::control_commands`]: the input as lines, written to every control file.
//! - [`paths::fs_paths`]: the input as a path, walked and rendered as `open` would.
//! - [`mem::mem_access`]: the input as reads and writes of `mem`, against a model.

pub mod control;
pub mod mem;
pub mod paths;
#[cfg(test)]
mod tests;

use crate::cmd::{self, Outcome, SectionKey, Target};
use crate::mm::base::config::MmConfig;
use crate::mm::base::types::Arch;
use crate::mm::base::types::Pid;
use crate::mm::{Mm, NtStatus};

/// The private read/write region every fixture process has (committed).
pub const PRIVATE_BASE: u64 = 0x10000;
pub const PRIVATE_SIZE: u64 = 0x20000;
/// Reserved, never committed: a transfer running into it stops there.
pub const RESERVED_BASE: u64 = 0x30000;
/// Committed read-only (zeros): reads work, writes fail with EACCES.
pub const READONLY_BASE: u64 = 0x40000;
pub const READONLY_SIZE: u64 = 0x10000;
/// Committed read/write with guard pages: the first touch fails once.
pub const GUARD_BASE: u64 = 0x60000;
/// The view of the pagefile-backed section `shm` (shared by forked children).
pub const SHM_BASE: u64 = 0x100000;
pub const SHM_SIZE: u64 = 0x10000;
/// The view of the file-backed section `file` over `data.bin` (read-only).
pub const FILE_VIEW_BASE: u64 = 0x200000;
pub const FILE_SIZE: u64 = 0x2000;

/// A small machine set up the same way for every input: 1 MB of RAM (so pages go
/// to the paging file and back), a process `app` with the regions above, a
/// pagefile-backed and a file-backed section mapped into it. Its state directory
/// is private and removed when the fixture is dropped.
pub struct Fixture {
    pub mm: Mm,
    pub app: Pid,
    pub shm: SectionKey,
    pub file: SectionKey,
}

impl Fixture {
    pub fn new(arch: Arch) -> Fixture {
        let config = MmConfig::for_tests(1 << 20, arch);
        let data: Vec<u8> = (0..FILE_SIZE).map(|i| (i % 251) as u8).collect();
        std::fs::write(config.files_dir.join("data.bin"), data)
            .expect("cannot write the fixture's data file");
        let mm = Mm::new(config).expect("cannot boot the fixture machine");
        let app = mm.create_process("app").expect("cannot create app");
        let run = |target: Target, line: &str| {
            if let Some(Err(e)) = cmd::execute(&mm, target, line.as_bytes()) {
                panic!("fixture command '{line}' failed: {}", e.message);
            }
        };
        let p = Target::Process(app);
        run(
            p,
            &format!("alloc {PRIVATE_BASE:#x} {PRIVATE_SIZE:#x} reserve,commit readwrite"),
        );
        run(
            p,
            &format!("alloc {RESERVED_BASE:#x} 64K reserve readwrite"),
        );
        run(
            p,
            &format!("alloc {READONLY_BASE:#x} {READONLY_SIZE:#x} reserve,commit readonly"),
        );
        run(
            p,
            &format!("alloc {GUARD_BASE:#x} 64K reserve,commit readwrite+guard"),
        );
        run(Target::Sections, &format!("create shm {SHM_SIZE:#x}"));
        run(Target::Sections, "create file 0 file=data.bin");
        run(p, &format!("map shm {SHM_BASE:#x} 0 0 readwrite"));
        run(p, &format!("map file {FILE_VIEW_BASE:#x} 0 0 readonly"));
        let shm = SectionKey::of(&mm, "shm").expect("shm exists");
        let file = SectionKey::of(&mm, "file").expect("file exists");
        Fixture { mm, app, shm, file }
    }

    /// Every control file of the fixture's tree.
    pub fn targets(&self) -> [Target; 8] {
        [
            Target::System,
            Target::Process(self.app),
            Target::Sections,
            Target::Section(self.shm),
            Target::Section(self.file),
            Target::Pagefiles,
            Target::Mdls,
            Target::Pool,
        ]
    }

    /// Panics with every violation if an invariant is broken.
    pub fn assert_verified(&self, after: &str) {
        let report = self.mm.verify();
        assert!(
            report.ok(),
            "verify after {after}:\n{}",
            report.violations.join("\n")
        );
    }
}

/// What a reader of the control file would see must be one clear line: `ok`
/// with its result, or `error STATUS_NAME: a sentence`, with no control
/// characters (the input's bytes are echoed escaped, never raw). A failure
/// must carry a real error status, one the filesystem turns into an errno.
pub fn check_outcome(line: &[u8], outcome: &Outcome) {
    let text = cmd::render(outcome);
    let shown = || String::from_utf8_lossy(line).escape_default().to_string();
    let body = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("outcome of '{}' does not end its line", shown()));
    assert!(
        !body.chars().any(char::is_control),
        "outcome of '{}' holds control characters: {body:?}",
        shown()
    );
    match outcome {
        Ok(_) => assert!(body == "ok" || body.starts_with("ok ")),
        Err(e) => {
            assert_ne!(
                e.status,
                NtStatus::SUCCESS,
                "'{}' failed with STATUS_SUCCESS",
                shown()
            );
            assert!(
                body.starts_with("error STATUS_") && !e.message.trim().is_empty(),
                "outcome of '{}' is not a sentence: {body:?}",
                shown()
            );
            let _ = crate::fs::errno::errno_for(e.status);
        }
    }
}
