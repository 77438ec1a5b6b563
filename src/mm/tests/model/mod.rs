//! The model-based random test: random sequences of every service a process can
//! call — allocate, commit, decommit, release, MEM_RESET, protect, lock, unlock,
//! working-set limits, reads and writes through the MMU, map, unmap, fork,
//! outswap, section create and delete — mixed with the system threads and the
//! clock, over many processes on 1 MB of RAM that is several times overcommitted;
//! and the cache manager as the file system calls it (cache reads and writes,
//! truncates, fsyncs, O_DIRECT, opens and closes, purges, deletes) on files whose
//! sections the processes map (`files`).
//!
//! A reference model says, before each call, what it must do: which status a
//! refused call returns (and then nothing may change), how many bytes a transfer
//! moves and which fault stops it, and what every readable byte is (a reset
//! page may read as its old bytes or as zeros, until a read or a write settles
//! it: `reset`). `verify` runs after every batch, with a full read-back of one
//! process, a comparison of locked pages against the working set, and every
//! process's commit charge (its own pages, its regions', its page tables') and
//! the system's against the model's.
//!
//! `reference` is the model, `reset` its part for MEM_RESET, `write_watch` its
//! part for write-watch regions, `files` its part
//! for the cached files (a byte vector per file: the rules it checks, and what
//! it leaves out, are in its doc), `generators` chooses the operations and their
//! arguments (every random draw; the file operations' in `files`), `runner`
//! applies each to `Mm` and to the model and compares them, with the checks
//! between batches and at the end.
//!
//! `MMFS_SEED=N` replays a seed; `MMFS_MODEL_OPS=N` sets the operations per arch
//! (the long run documented in docs/TESTING.md uses 1,000,000 in a release build);
//! `MMFS_MODEL_ARCH=x86|pae|x64` runs one arch; `MMFS_MODEL_BATCH=N` checks
//! after every N operations; `MMFS_MODEL_TRACE=1` names each operation. A
//! failure names the seed and the step, and one that may be about memory prints
//! where every page is.

mod files;
mod generators;
mod in_place;
pub(super) mod reference;
mod reset;
mod runner;
mod write_watch;

use super::env_u64;
use crate::mm::base::types::Arch;

/// Pages the model lets processes and sections commit in all: twelve times the
/// 256 pages of RAM, well under the commit limit (RAM + a 64 MB paging file,
/// 16,640 pages). Page tables and each process's own pages are charged
/// besides, and not counted here: `REGION_LIMIT` keeps them to about 100
/// pages a process (a page table per region at most, and on PAE and x64 a
/// page directory per GB of `ADDRESS_WINDOW`), some 800 for 8 processes,
/// far inside the margin.
const COMMIT_BUDGET: u64 = 3072;
/// Highest address the test picks on its own (auto allocations start low):
/// a gigabyte, so regions scatter over up to 256 page tables (512 on PAE and
/// x64), more than the 256 pages of RAM could hold at once. The model relies
/// on page tables paging out (`process/table_paging.rs`): a table that maps
/// nothing valid or in transition leaves memory as NT's does.
const ADDRESS_WINDOW: u64 = 0x4000_0000;
/// Regions (reservations and views) per process: beyond it, an allocation or
/// a map becomes a release or an unmap, so that reservations, which cost no
/// commit but for their page tables, do not pile up without bound.
const REGION_LIMIT: usize = 96;
/// Operations between checks (`MMFS_MODEL_BATCH=1` checks after every one,
/// to find the operation that broke an invariant).
const BATCH: u64 = 50;

/// The cache manager's counters the test prints (what the file model made
/// the cache do).
const CACHE_COUNTERS: [&str; 6] = [
    "CopyReads",
    "CopyWrites",
    "DataMaps",
    "ReadAheadPages",
    "LazyWritePages",
    "ThrottledWrites",
];

#[test]
fn model_random_sequences_match_the_reference_model() {
    let seed = env_u64("MMFS_SEED").unwrap_or(0x6D6F_6465_6C21);
    let ops = env_u64("MMFS_MODEL_OPS").unwrap_or(25_000);
    let batch = env_u64("MMFS_MODEL_BATCH").unwrap_or(BATCH).max(1);
    let trace = std::env::var_os("MMFS_MODEL_TRACE").is_some();
    let only = std::env::var("MMFS_MODEL_ARCH").ok();
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        if only
            .as_ref()
            .is_some_and(|a| !format!("{arch:?}").eq_ignore_ascii_case(a))
        {
            continue;
        }
        let s = runner::Run::new(seed, arch).run(ops, batch, trace);
        eprintln!(
            "model: seed {seed:#x} {arch:?}: {} operations, {} refused as the model said, {} hard faults, {} pages written to the paging file, {} resets ({} pages zeroed at once, {} reads of a reset page that could hold more than one content, {} of them found it zeroed), {} forks, 0 bytes lost",
            s.steps,
            s.refusals,
            s.hard_faults,
            s.pages_written,
            s.resets,
            s.reset_zeroed,
            s.reset_reads,
            s.reset_lost,
            s.forks
        );
        let f = s.files;
        eprintln!(
            "model: seed {seed:#x} {arch:?}: {} file operations, {} host files compared whole with the model, {} truncates refused for a mapped view, {} unaligned O_DIRECT transfers refused, {} purges and {} deletes refused for a mapped view, {} times a process's view writes were found in a file, the largest file {} KB",
            f.ops,
            f.host_checks,
            f.user_mapped,
            f.unaligned,
            f.purge_refused,
            f.delete_refused,
            f.view_writes_seen,
            f.largest >> 10
        );
        let cache: Vec<String> = (s.cache.iter())
            .filter(|(k, _)| CACHE_COUNTERS.contains(k))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        eprintln!("model: seed {seed:#x} {arch:?}: cache {}", cache.join(", "));
        eprintln!(
            "model: seed {seed:#x} {arch:?}: {} page tables paged out, {} brought back by a fault",
            s.tables_trimmed, s.table_faults
        );
        eprintln!(
            "model: seed {seed:#x} {arch:?}: {} write-watch resets, after {} pages reported written",
            s.watch_resets, s.watch_pages
        );
        assert!(s.watch_pages > 0, "write watch was not exercised");
        assert!(
            s.hard_faults > 0 && s.pages_written > 0,
            "RAM was not overcommitted"
        );
    }
}
