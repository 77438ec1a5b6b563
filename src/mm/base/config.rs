//! The memory manager's configuration, as the command line gave it.

use std::path::PathBuf;

use super::types::{Arch, PAGE_SIZE};

/// How simulated time moves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClockMode {
    /// System threads run on real time.
    Auto,
    /// Nothing runs in the background; time moves only by `tick`.
    Manual,
}

impl ClockMode {
    pub fn name(self) -> &'static str {
        match self {
            ClockMode::Auto => "auto",
            ClockMode::Manual => "manual",
        }
    }
}

/// One paging file's minimum and maximum size in bytes (NtCreatePagingFile).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PagefileSpec {
    pub minimum: u64,
    pub maximum: u64,
}

#[derive(Clone, Debug)]
pub struct MmConfig {
    pub ram_bytes: u64,
    pub arch: Arch,
    pub three_gb: bool,
    pub pagefiles: Vec<PagefileSpec>,
    pub state_dir: PathBuf,
    pub state_dir_temporary: bool,
    pub files_dir: PathBuf,
    pub files_dir_temporary: bool,
    pub clock: ClockMode,
    pub allow_other: bool,
    /// Keeps a test's private state directory alive as long as the configuration
    /// (and the memory manager holding it): removed when the last copy goes.
    pub scratch: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl MmConfig {
    /// A configuration for tests of the core: small RAM, manual clock, throwaway paths.
    pub fn for_tests(ram_bytes: u64, arch: Arch) -> MmConfig {
        // Each test machine gets its own state directory: paging files of
        // machines running in parallel must not share host files.
        let scratch = tempfile::Builder::new()
            .prefix("mmfs-test-")
            .tempdir()
            .ok()
            .map(std::sync::Arc::new);
        let state_dir = scratch
            .as_ref()
            .map_or_else(std::env::temp_dir, |d| d.path().to_path_buf());
        // The files volume lives in the same private directory.
        let files_dir = state_dir.join("files");
        let _ = std::fs::create_dir_all(&files_dir);
        MmConfig {
            ram_bytes,
            arch,
            three_gb: false,
            pagefiles: vec![PagefileSpec {
                minimum: 16 << 20,
                maximum: 64 << 20,
            }],
            state_dir,
            state_dir_temporary: false,
            files_dir,
            files_dir_temporary: false,
            clock: ClockMode::Manual,
            allow_other: false,
            scratch,
        }
    }

    pub fn physical_pages(&self) -> u64 {
        self.ram_bytes / PAGE_SIZE
    }
}
