//! The cache manager (issue 16): CcCopyRead/CcCopyWrite through 256 KB views
//! in the system cache, coherency with mapped sections, the lazy writer, the
//! write throttle, truncation, deletion and O_DIRECT, each against NT's rule.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use super::{RW, assert_verified};
use crate::mm::api::{CachedFile, WriteMode};
use crate::mm::base::config::MmConfig;
use crate::mm::base::types::{Arch, Pid};
use crate::mm::base::wakeups::SystemThread;
use crate::mm::pfn::PageUse;
use crate::mm::testutil::XorShift;
use crate::mm::{Mm, NtStatus};

fn cache_machine(ram: u64, arch: Arch) -> (Mm, PathBuf) {
    let mm = Mm::new(MmConfig::for_tests(ram, arch)).unwrap();
    let dir = mm.config().files_dir.clone();
    (mm, dir)
}

fn open(mm: &Mm, dir: &std::path::Path, name: &str) -> CachedFile {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(name))
        .unwrap();
    mm.cache_open(f, name).unwrap()
}

/// The first `len` bytes of `f` in 128 KiB copy reads, each followed by the
/// read-ahead it queued (as the `read-ahead` thread would run it).
fn read_sequentially(mm: &Mm, f: &CachedFile, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, chunk) in out.chunks_mut(128 << 10).enumerate() {
        mm.cache_read(f, (i * (128 << 10)) as u64, chunk).unwrap();
        mm.run_thread(SystemThread::ReadAhead);
    }
    out
}

fn stat(mm: &Mm, key: &str) -> u64 {
    mm.cache_stats()
        .into_iter()
        .find(|(k, _)| *k == key)
        .unwrap()
        .1
}

fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut r = XorShift(seed.max(1));
    (0..n).map(|_| r.next() as u8).collect()
}

fn read_all(mm: &Mm, f: &CachedFile, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = mm
            .cache_read(f, done as u64, &mut out[done..(done + (1 << 20)).min(len)])
            .unwrap();
        assert!(n > 0, "short read at {done}");
        done += n;
    }
    out
}

#[test]
fn a_file_larger_than_ram_round_trips_through_the_cache_on_every_arch() {
    for arch in [Arch::X86, Arch::Pae, Arch::X64] {
        let (mm, dir) = cache_machine(4 << 20, arch);
        let data = random_bytes(7, 12 << 20);
        let f = open(&mm, &dir, "big");
        for (i, chunk) in data.chunks(1 << 20).enumerate() {
            let n = mm
                .cache_write(&f, (i << 20) as u64, chunk, WriteMode::Buffered)
                .unwrap();
            assert_eq!(n, chunk.len());
        }
        assert_eq!(mm.cache_file_size(&f).unwrap(), 12 << 20);
        assert_eq!(std::fs::metadata(dir.join("big")).unwrap().len(), 12 << 20);
        assert!(
            stat(&mm, "ThrottledWrites") > 0,
            "12 MB dirtied on a 4 MB machine passes the threshold"
        );
        assert!(stat(&mm, "DirtyPages") <= stat(&mm, "DirtyPageThreshold"));
        assert_eq!(read_all(&mm, &f, data.len()), data, "{arch:?}");
        assert_verified(&mm);
        mm.cache_flush(&f).unwrap();
        assert_eq!(stat(&mm, "DirtyPages"), 0);
        assert_eq!(std::fs::read(dir.join("big")).unwrap(), data, "{arch:?}");
        mm.cache_close(f).unwrap();
        assert_verified(&mm);
    }
}

#[test]
fn cached_pages_belong_to_the_system_process_at_system_cache_addresses() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    std::fs::write(dir.join("a"), random_bytes(1, 300 << 10)).unwrap();
    let f = open(&mm, &dir, "a");
    let mut buf = vec![0u8; 8192];
    let faults = mm.process_status(Pid::SYSTEM).unwrap().page_fault_count;
    mm.cache_read(&f, 256 << 10, &mut buf).unwrap();
    let after = mm.process_status(Pid::SYSTEM).unwrap().page_fault_count;
    assert!(after > faults, "the copy faulted in the System process");
    assert_eq!(stat(&mm, "CopyReadHits"), 0);
    // The same bytes again: resident, a hit.
    mm.cache_read(&f, 256 << 10, &mut buf).unwrap();
    assert_eq!(stat(&mm, "CopyReads"), 2);
    assert_eq!(stat(&mm, "CopyReadHits"), 1);
    let views = mm.cache_views();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].file_offset, 256 << 10);
    let start = mm.layout().system_cache_start();
    assert!(views[0].base >= start);
    assert!(stat(&mm, "SystemCacheWorkingSet") >= 2);
    let mut cached = Vec::new();
    mm.for_each_pfn_row(|r| {
        if r.pid == Some(Pid::SYSTEM) && r.use_ == PageUse::MappedFile {
            cached.push(r.va);
        }
    });
    assert!(
        !cached.is_empty(),
        "pfn/db shows the cache's pages as pid 4"
    );
    assert!(cached.iter().all(|va| va.is_some_and(|va| va >= start)));
    assert_verified(&mm);
}

#[test]
fn a_mapped_view_and_the_cache_share_the_same_pages() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X64);
    std::fs::write(dir.join("shared"), vec![b'.'; 64 << 10]).unwrap();
    let f = open(&mm, &dir, "shared");
    mm.create_section("s", 0, Some("shared"), RW, false)
        .unwrap();
    let p = mm.create_process("p").unwrap();
    let (va, _) = mm.map_view(p, "s", 0, 0, 0, RW).unwrap();
    // The file system writes; the process sees it at once.
    mm.cache_write(&f, 100, b"from-cache", WriteMode::Buffered)
        .unwrap();
    let mut seen = vec![0u8; 10];
    mm.read_memory(p, va.0 + 100, &mut seen).unwrap();
    assert_eq!(&seen, b"from-cache");
    // The process writes; the file system reads it at once.
    mm.write_memory(p, va.0 + 5000, b"from-view").unwrap();
    let mut got = vec![0u8; 9];
    mm.cache_read(&f, 5000, &mut got).unwrap();
    assert_eq!(&got, b"from-view");
    // The disk has neither yet.
    let disk = std::fs::read(dir.join("shared")).unwrap();
    assert_eq!(&disk[100..110], b"..........");
    assert_eq!(&disk[5000..5009], b".........");
    // Trim both working sets: the pages stay in memory (standby or modified)
    // and both sides still agree.
    mm.trim(p).unwrap();
    mm.trim(Pid::SYSTEM).unwrap();
    mm.cache_read(&f, 5000, &mut got).unwrap();
    assert_eq!(&got, b"from-view");
    // fsync writes what both dirtied.
    mm.cache_flush(&f).unwrap();
    let disk = std::fs::read(dir.join("shared")).unwrap();
    assert_eq!(&disk[100..110], b"from-cache");
    assert_eq!(&disk[5000..5009], b"from-view");
    assert_verified(&mm);
}

#[test]
fn the_lazy_writer_writes_behind_in_64k_runs_on_the_clock() {
    let (mm, dir) = cache_machine(64 << 20, Arch::X86);
    let f = open(&mm, &dir, "lazy");
    let data = random_bytes(3, 1 << 20);
    mm.cache_write(&f, 0, &data, WriteMode::Buffered).unwrap();
    assert_eq!(stat(&mm, "DirtyPages"), 256);
    // The first scan also writes what was dirtied since the last: all of it.
    // Dirty more after it, and each later scan writes an eighth.
    mm.tick(1000).unwrap();
    assert_eq!(stat(&mm, "DirtyPages"), 0);
    assert_eq!(
        stat(&mm, "LazyWriteFlushes"),
        16,
        "256 pages in 16-page runs"
    );
    assert_eq!(std::fs::read(dir.join("lazy")).unwrap(), data);
    let more = random_bytes(4, 4 << 20);
    mm.cache_write(&f, 0, &more, WriteMode::Buffered).unwrap();
    assert_eq!(stat(&mm, "DirtyPages"), 1024);
    mm.tick(60_000).unwrap();
    assert_eq!(stat(&mm, "DirtyPages"), 0);
    assert_eq!(std::fs::read(dir.join("lazy")).unwrap(), more);
    assert_verified(&mm);
}

#[test]
fn truncation_purges_pages_and_refuses_below_a_mapped_view() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    let data = random_bytes(5, 200 << 10);
    std::fs::write(dir.join("t"), &data).unwrap();
    let f = open(&mm, &dir, "t");
    read_all(&mm, &f, data.len());
    mm.create_section("t", 128 << 10, Some("t"), RW, false)
        .unwrap();
    let p = mm.create_process("p").unwrap();
    mm.map_view(p, "t", 0, 0, 0, RW).unwrap();
    let e = mm.cache_set_size(&f, 100 << 10).unwrap_err();
    assert_eq!(e.status, NtStatus::USER_MAPPED_FILE);
    assert_eq!(mm.cache_file_size(&f).unwrap(), 200 << 10, "unchanged");
    assert_eq!(std::fs::metadata(dir.join("t")).unwrap().len(), 200 << 10);
    // Past the view: allowed, and the pages past the end are freed.
    let cached = mm.cache_files()[0].cached_pages;
    mm.cache_set_size(&f, (150 << 10) + 10).unwrap();
    assert!(mm.cache_files()[0].cached_pages < cached);
    assert_eq!(
        std::fs::metadata(dir.join("t")).unwrap().len(),
        (150 << 10) + 10
    );
    let mut buf = vec![0u8; 100];
    assert_eq!(mm.cache_read(&f, 150 << 10, &mut buf).unwrap(), 10);
    assert_eq!(mm.cache_read(&f, 160 << 10, &mut buf).unwrap(), 0);
    // Growing again shows zeros, not the old bytes.
    mm.cache_set_size(&f, 200 << 10).unwrap();
    let back = read_all(&mm, &f, 200 << 10);
    assert_eq!(&back[..(150 << 10) + 10], &data[..(150 << 10) + 10]);
    assert!(back[(150 << 10) + 10..].iter().all(|&b| b == 0));
    assert_verified(&mm);
    // Deleting a mapped file is refused; once unmapped it may go.
    assert_eq!(
        mm.cache_check_delete(f.id).unwrap_err().status,
        NtStatus::CANNOT_DELETE
    );
    mm.terminate_process(p).unwrap();
    mm.delete_section("t").unwrap();
    mm.cache_check_delete(f.id).unwrap();
    mm.cache_close(f).unwrap();
    assert_verified(&mm);
}

#[test]
fn direct_io_bypasses_the_cache_and_checks_alignment() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X64);
    let f = open(&mm, &dir, "d");
    mm.cache_write(&f, 0, &[b'a'; 8192], WriteMode::Buffered)
        .unwrap();
    let e = mm.cache_direct_write(&f, 100, &[0; 512]).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER);
    let e = mm.cache_direct_read(&f, 0, &mut [0; 100]).unwrap_err();
    assert_eq!(e.status, NtStatus::INVALID_PARAMETER);
    // The buffered bytes are flushed before the direct read.
    let mut buf = vec![0u8; 4096];
    assert_eq!(mm.cache_direct_read(&f, 0, &mut buf).unwrap(), 4096);
    assert!(buf.iter().all(|&b| b == b'a'));
    // A direct write reaches the disk at once and the cache reads it back.
    mm.cache_direct_write(&f, 4096, &[b'b'; 512]).unwrap();
    assert_eq!(
        &std::fs::read(dir.join("d")).unwrap()[4096..4608],
        &[b'b'; 512]
    );
    let mut got = vec![0u8; 1024];
    mm.cache_read(&f, 4096, &mut got).unwrap();
    assert_eq!(&got[..512], &[b'b'; 512]);
    assert_eq!(&got[512..], &[b'a'; 512]);
    assert_verified(&mm);
}

#[test]
fn a_failed_write_behind_is_a_lost_delayed_write_reported_once() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    std::fs::write(dir.join("ro"), vec![b'x'; 8192]).unwrap();
    // The host file opened read-only: every write-behind fails.
    let f = mm
        .cache_open(File::open(dir.join("ro")).unwrap(), "ro")
        .unwrap();
    mm.cache_write(&f, 0, b"lost?", WriteMode::Buffered)
        .unwrap();
    mm.tick(1000).unwrap();
    assert_eq!(stat(&mm, "DirtyPages"), 1, "the page stays dirty");
    let e = mm.cache_flush(&f).unwrap_err();
    assert_eq!(e.status, NtStatus::LOST_WRITEBEHIND_DATA);
    let mut got = [0u8; 5];
    mm.cache_read(&f, 0, &mut got).unwrap();
    assert_eq!(&got, b"lost?", "nothing in memory is lost");
    assert_verified(&mm);
}

/// A flush whose own writes fail tells its caller, and that is all: the next
/// close does not report it again, while a lost write-behind is reported by
/// the next close (or fsync) once.
#[test]
fn a_failed_flush_is_reported_to_its_caller_not_to_the_next_close() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    std::fs::write(dir.join("ro"), vec![b'x'; 8192]).unwrap();
    let open_ro = || {
        mm.cache_open(File::open(dir.join("ro")).unwrap(), "ro")
            .unwrap()
    };
    let f = open_ro();
    mm.cache_write(&f, 0, b"lost?", WriteMode::Buffered)
        .unwrap();
    for _ in 0..3 {
        let e = mm.cache_flush(&f).unwrap_err();
        assert_eq!(e.status, NtStatus::LOST_WRITEBEHIND_DATA);
    }
    mm.cache_close(f)
        .expect("the failed flushes were reported already");
    // The lazy writer fails: the next close reports it, once.
    let f = open_ro();
    let g = open_ro();
    mm.tick(1000).unwrap();
    assert_eq!(stat(&mm, "DirtyPages"), 1, "the page stays dirty");
    let e = mm.cache_close(f).unwrap_err();
    assert_eq!(e.status, NtStatus::LOST_WRITEBEHIND_DATA);
    mm.cache_check_lost(&g).expect("reported once");
    // A write-through write that cannot be written fails, and arms nothing.
    let e = mm
        .cache_write(&g, 4096, b"through", WriteMode::WriteThrough)
        .unwrap_err();
    assert_eq!(e.status, NtStatus::LOST_WRITEBEHIND_DATA);
    mm.cache_close(g)
        .expect("the write-through write said it failed");
    let mut got = [0u8; 7];
    let h = open_ro();
    mm.cache_read(&h, 4096, &mut got).unwrap();
    assert_eq!(&got, b"through", "nothing in memory is lost");
    assert_verified(&mm);
}

#[test]
fn sequential_reads_of_a_cold_file_are_mostly_read_ahead() {
    let (mm, dir) = cache_machine(64 << 20, Arch::X86);
    let data = random_bytes(9, 4 << 20);
    std::fs::write(dir.join("seq"), &data).unwrap();
    let f = open(&mm, &dir, "seq");
    let hard_before = mm.counter("hard_faults");
    let out = read_sequentially(&mm, &f, data.len());
    assert_eq!(out, data);
    let hard = mm.counter("hard_faults") - hard_before;
    let ahead = mm.counter("cache_read_ahead_ios");
    assert!(
        ahead * 2 > hard,
        "read-ahead I/Os {ahead} of {hard} hard faults"
    );
    assert!(stat(&mm, "ReadAheadPages") > 0);
    assert!(stat(&mm, "CopyReadHits") >= 30);
    assert_verified(&mm);
}

/// A read-ahead run's frames are handed to its pages lowest first (NT's
/// consecutive page colors), although the zeroed list gives them out highest
/// first: neighbouring pages of a view sit mostly in rising frames.
#[test]
fn a_read_ahead_run_takes_its_frames_in_ascending_order() {
    let (mm, dir) = cache_machine(64 << 20, Arch::X86);
    let data = random_bytes(11, 2 << 20);
    std::fs::write(dir.join("asc"), &data).unwrap();
    let f = open(&mm, &dir, "asc");
    // The second pass reads into the frames the first freed, zeroed and
    // pushed on the zeroed list's head one by one.
    for pass in 0..2 {
        let out = read_sequentially(&mm, &f, data.len());
        assert!(out == data, "pass {pass} read other bytes");
        if pass == 0 {
            mm.cache_purge_path("asc").unwrap();
            mm.run_thread(SystemThread::ZeroPageThread);
        }
    }
    let mut pages: Vec<(u64, u32)> = Vec::new();
    mm.for_each_pfn_row(|r| {
        if let (PageUse::MappedFile, Some(va)) = (r.use_, r.va) {
            pages.push((va, r.pfn.0));
        }
    });
    pages.sort_unstable();
    let (mut rising, mut falling) = (0, 0);
    for w in pages.windows(2) {
        if w[1].0 == w[0].0 + 4096 {
            if w[1].1 > w[0].1 {
                rising += 1
            } else {
                falling += 1
            }
        }
    }
    assert!(
        rising > 4 * falling,
        "{rising} neighbouring pages in rising frames, {falling} in falling ones"
    );
    assert_verified(&mm);
}

/// Every pass over a cold file is read ahead, not only the first: through
/// the same open, and through a new one (the read-ahead once stopped for
/// good at the end of the first pass).
#[test]
fn every_sequential_pass_over_a_purged_file_is_mostly_read_ahead() {
    let (mm, dir) = cache_machine(64 << 20, Arch::X86);
    let data = random_bytes(10, 4 << 20);
    std::fs::write(dir.join("again"), &data).unwrap();
    let mut f = open(&mm, &dir, "again");
    for pass in 0..4 {
        mm.cache_purge_path("again").unwrap();
        let (hard_before, ahead_before) = (mm.counter("hard_faults"), stat(&mm, "ReadAheadPages"));
        let out = read_sequentially(&mm, &f, data.len());
        assert!(out == data, "pass {pass} read other bytes");
        // Read-ahead reads its pages (no hard fault: a soft one each, as
        // it makes them valid); the copies' own hard faults read the rest,
        // each the rest of its copy in the view, up to 16 pages.
        let hard = mm.counter("hard_faults") - hard_before;
        let ahead = stat(&mm, "ReadAheadPages") - ahead_before;
        assert!(
            ahead * 4 > 1024 * 3 && hard * 4 < 1024,
            "pass {pass}: {ahead} of 1024 pages read ahead, {hard} demand hard faults"
        );
        if pass == 1 {
            mm.cache_close(f).unwrap();
            f = open(&mm, &dir, "again");
        }
    }
    assert_verified(&mm);
}

#[test]
fn a_long_sequential_read_unmaps_views_behind_it() {
    let (mm, dir) = cache_machine(64 << 20, Arch::X64);
    std::fs::write(dir.join("long"), random_bytes(2, 8 << 20)).unwrap();
    let f = open(&mm, &dir, "long");
    // A normal file keeps its views (they are reused least recently used
    // first); a sequential-only one unmaps them behind the reader.
    let mut buf = vec![0u8; 128 << 10];
    for i in 0..64u64 {
        mm.cache_read(&f, i * (128 << 10), &mut buf).unwrap();
    }
    assert_eq!(mm.cache_views().len(), 32);
    mm.cache_hint_path("long", crate::mm::api::Hint::Sequential)
        .unwrap();
    for i in 0..64u64 {
        mm.cache_read(&f, i * (128 << 10), &mut buf).unwrap();
    }
    // 8 MB read: only the views within about 1 MB behind the reader remain.
    let views = mm.cache_views();
    assert!(views.len() <= 6, "{} views still mapped", views.len());
    assert!(
        views
            .iter()
            .all(|v| v.file_offset >= (7 << 20) - (256 << 10))
    );
    assert_verified(&mm);
}

#[test]
fn verify_finds_a_vacb_that_disagrees_with_the_system_process() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    std::fs::write(dir.join("v"), random_bytes(3, 64 << 10)).unwrap();
    let f = open(&mm, &dir, "v");
    mm.cache_read(&f, 0, &mut [0u8; 4096]).unwrap();
    assert_verified(&mm);
    let i = mm.cache_views()[0].index;
    let saved = mm.cache_lock().vacbs.vacbs[i].mapping.take();
    let report = mm.verify();
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.contains("which maps nothing")),
        "{:?}",
        report.violations
    );
    mm.cache_lock().vacbs.vacbs[i].mapping = saved;
    assert_verified(&mm);
}

#[test]
fn a_file_first_opened_read_only_is_written_back_once_a_writer_opens_it() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    std::fs::write(dir.join("ro-then-rw"), vec![b'.'; 4096]).unwrap();
    let reader = mm
        .cache_open(File::open(dir.join("ro-then-rw")).unwrap(), "ro-then-rw")
        .unwrap();
    let writer = open(&mm, &dir, "ro-then-rw");
    mm.cache_write(&writer, 0, b"written", WriteMode::Buffered)
        .unwrap();
    mm.cache_flush(&writer).unwrap();
    assert_eq!(
        &std::fs::read(dir.join("ro-then-rw")).unwrap()[..7],
        b"written"
    );
    mm.cache_close(reader).unwrap();
    mm.cache_close(writer).unwrap();
    assert_verified(&mm);
}

#[test]
fn writing_a_new_file_reads_nothing_from_the_disk() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    let f = open(&mm, &dir, "new");
    let hard = mm.counter("hard_faults");
    // Whole pages, and a partial page past the old end: MmCopyToCachedPage
    // gives them zeroed frames instead of reading them.
    mm.cache_write(&f, 0, &random_bytes(8, 1 << 20), WriteMode::Buffered)
        .unwrap();
    mm.cache_write(&f, (1 << 20) + 100, b"tail", WriteMode::Buffered)
        .unwrap();
    assert_eq!(mm.counter("hard_faults"), hard, "no page was read");
    let mut got = vec![0xffu8; 104];
    mm.cache_read(&f, 1 << 20, &mut got).unwrap();
    assert!(got[..100].iter().all(|&b| b == 0));
    assert_eq!(&got[100..], b"tail");
    // A partial write inside the old end must read the page first.
    mm.cache_flush(&f).unwrap();
    mm.cache_close(f).unwrap();
    let f = open(&mm, &dir, "new");
    mm.cache_purge_path("new").unwrap();
    mm.cache_write(&f, 10, b"x", WriteMode::Buffered).unwrap();
    assert_eq!(mm.counter("hard_faults"), hard + 1);
    assert_verified(&mm);
}

#[test]
fn a_section_that_grows_the_file_is_seen_by_the_cache() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    std::fs::write(dir.join("g"), b"0123456789").unwrap();
    let f = open(&mm, &dir, "g");
    assert_eq!(mm.cache_file_size(&f).unwrap(), 10);
    mm.create_section("g", 8192, Some("g"), RW, false).unwrap();
    let p = mm.create_process("p").unwrap();
    let (va, _) = mm.map_view(p, "g", 0, 0, 0, RW).unwrap();
    mm.write_memory(p, va.0 + 5000, b"far").unwrap();
    assert_eq!(mm.cache_file_size(&f).unwrap(), 8192);
    let mut got = [0u8; 3];
    assert_eq!(mm.cache_read(&f, 5000, &mut got).unwrap(), 3);
    assert_eq!(&got, b"far");
    assert_verified(&mm);
}

#[test]
fn each_open_has_its_own_read_history() {
    let (mm, dir) = cache_machine(64 << 20, Arch::X86);
    std::fs::write(dir.join("two"), random_bytes(6, 4 << 20)).unwrap();
    let a = open(&mm, &dir, "two");
    let b = open(&mm, &dir, "two");
    // Two readers, interleaved, each sequential in its own half: each open's
    // PRIVATE_CACHE_MAP sees a sequential reader and reads ahead for it.
    let mut buf = vec![0u8; 64 << 10];
    for i in 0..16u64 {
        mm.cache_read(&a, i * (64 << 10), &mut buf).unwrap();
        mm.cache_read(&b, (2 << 20) + i * (64 << 10), &mut buf)
            .unwrap();
        mm.run_thread(SystemThread::ReadAhead);
    }
    let hard = mm.counter("hard_faults");
    let ahead = stat(&mm, "ReadAheadPages");
    assert!(
        ahead > 3 * hard,
        "{ahead} pages read ahead, {hard} demand faults"
    );
    mm.cache_close(a).unwrap();
    mm.cache_close(b).unwrap();
    assert_verified(&mm);
}

/// A section larger than its file grows the file (NtCreateSection, and
/// NtExtendSection, set the end of file), and the cache's size follows, as
/// the file system's CcSetFileSizes makes it in NT. Found by the model test:
/// the cache kept the old size, so a cache read missed what a process wrote
/// there, and a cache write past the old size set the host file's length
/// back below the section, losing the process's bytes.
#[test]
fn a_section_larger_than_a_cached_file_grows_the_cache_size_too() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    std::fs::write(dir.join("g"), vec![b'x'; 4096]).unwrap();
    let f = open(&mm, &dir, "g");
    mm.create_section("g", 4 * 4096, Some("g"), RW, false)
        .unwrap();
    assert_eq!(std::fs::metadata(dir.join("g")).unwrap().len(), 4 * 4096);
    assert_eq!(mm.cache_file_size(&f).unwrap(), 4 * 4096);
    let p = mm.create_process("p").unwrap();
    let (va, _) = mm.map_view(p, "g", 0, 0, 0, RW).unwrap();
    mm.write_memory(p, va.0 + 3 * 4096, b"mapped").unwrap();
    let mut got = [0u8; 6];
    assert_eq!(mm.cache_read(&f, 3 * 4096, &mut got).unwrap(), 6);
    assert_eq!(&got, b"mapped");
    // A write inside the file leaves its size alone.
    mm.cache_write(&f, 4096, b"abc", WriteMode::Buffered)
        .unwrap();
    assert_eq!(mm.cache_file_size(&f).unwrap(), 4 * 4096);
    mm.cache_flush(&f).unwrap();
    let host = std::fs::read(dir.join("g")).unwrap();
    assert_eq!(host.len(), 4 * 4096);
    assert_eq!(&host[3 * 4096..3 * 4096 + 6], b"mapped");
    // NtExtendSection grows both too.
    mm.extend_section("g", 6 * 4096).unwrap();
    assert_eq!(std::fs::metadata(dir.join("g")).unwrap().len(), 6 * 4096);
    assert_eq!(mm.cache_file_size(&f).unwrap(), 6 * 4096);
    assert_verified(&mm);
}

/// A sequential scan that starts again below where the last one's read-ahead
/// reached is read ahead too. Found with the model test's counters: the
/// file's read-ahead end was never lowered, so once a file had been scanned
/// (and its pages purged, trimmed or truncated away) a second scan from the
/// start got no read-ahead at all, every read a hard fault.
#[test]
fn a_second_sequential_scan_from_the_start_is_read_ahead_again() {
    let (mm, dir) = cache_machine(64 << 20, Arch::X86);
    let data = random_bytes(9, 1 << 20);
    std::fs::write(dir.join("seq"), &data).unwrap();
    let f = open(&mm, &dir, "seq");
    let mut out = vec![0u8; 64 << 10];
    for round in 0..2 {
        let before = stat(&mm, "ReadAheadPages");
        for i in 0..8u64 {
            mm.cache_read(&f, i * (64 << 10), &mut out).unwrap();
            mm.run_thread(SystemThread::ReadAhead);
        }
        let ahead = stat(&mm, "ReadAheadPages") - before;
        assert!(ahead >= 64, "round {round}: {ahead} pages read ahead");
        // Drop every cached page: the next scan reads the file again.
        mm.cache_purge_path("seq").unwrap();
    }
    assert_verified(&mm);
}

/// The System process's page faults, prototype faults and hard faults.
fn system_faults(mm: &Mm) -> (u64, u64, u64) {
    let s = mm.process_status(Pid::SYSTEM).unwrap();
    (s.page_fault_count, s.prototype_faults, s.hard_faults)
}

/// The `fault.prototype` events of pid 4 in `trace`, as (va, from).
fn system_proto_faults(trace: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(trace);
    text.lines()
        .filter(|l| l.contains("fault.prototype pid=4 "))
        .map(|l| {
            let field = |k: &str| {
                l.split(' ')
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap_or_default()
                    .to_string()
            };
            (field("va="), field("from="))
        })
        .collect()
}

/// A copy write of whole new pages (zeroed onto standby, MmCopyToCachedPage)
/// resolves its view's run of transition pages in one PFN-lock hold
/// (`fault/transition_run.rs`), and each page is still the fault it was
/// page by page: one page fault and one prototype fault each, one
/// `fault.prototype ... from=standby` event each at its own address, in
/// order, and a working-set entry each; the bytes are the file's.
#[test]
fn a_copy_write_of_new_pages_is_one_counted_fault_per_page() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    let f = open(&mm, &dir, "run");
    let reader = mm.events().subscribe();
    let ws = stat(&mm, "SystemCacheWorkingSet");
    let (faults, proto, hard) = system_faults(&mm);
    let machine = (mm.counter("page_faults"), mm.counter("prototype_faults"));
    let data = random_bytes(31, 2 * (256 << 10));
    mm.cache_write(&f, 0, &data, WriteMode::Buffered).unwrap();
    let (faults2, proto2, hard2) = system_faults(&mm);
    // 128 prototype faults, and one demand-zero fault of the paged-pool page
    // that holds the new file's prototype PTEs (`kernel/proto_pages.rs`).
    assert_eq!(
        (faults2 - faults, proto2 - proto, hard2 - hard),
        (129, 128, 0)
    );
    let machine2 = (mm.counter("page_faults"), mm.counter("prototype_faults"));
    assert_eq!(
        (machine2.0 - machine.0, machine2.1 - machine.1),
        (129, 128),
        "the machine's counters too"
    );
    assert_eq!(
        stat(&mm, "SystemCacheWorkingSet") - ws,
        128,
        "each page in the system cache working set"
    );
    let events = system_proto_faults(&reader.take(1 << 20));
    assert_eq!(events.len(), 128, "one fault.prototype event per page");
    assert!(
        events.iter().all(|(_, from)| from == "standby"),
        "{events:?}"
    );
    let vas: Vec<u64> = events
        .iter()
        .map(|(va, _)| u64::from_str_radix(va.trim_start_matches("0x"), 16).unwrap())
        .collect();
    assert!(vas.windows(2).all(|w| w[1] > w[0]), "in address order");
    assert_eq!(read_all(&mm, &f, data.len()), data);
    assert_eq!(
        system_faults(&mm).0,
        faults2,
        "reading them back is all hits"
    );
    mm.cache_close(f).unwrap();
    assert_verified(&mm);
}

/// Read-ahead leaves its pages valid in the system cache, as WRK's
/// CcPerformReadAhead does (MmCheckCachedPageState through the view): the
/// pass itself takes a soft prototype fault from standby for each page it
/// read, as pid 4, and the copy read after it faults only for the pages the
/// read-ahead did not reach; the bytes are the file's.
#[test]
fn read_ahead_leaves_its_pages_valid_so_the_copy_faults_only_for_the_rest() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    let data = random_bytes(32, 256 << 10);
    std::fs::write(dir.join("cold"), &data).unwrap();
    let f = open(&mm, &dir, "cold");
    // A first small read: a miss, its cluster, and read-ahead turned on.
    let mut head = vec![0u8; 8192];
    mm.cache_read(&f, 0, &mut head).unwrap();
    let valid_before = 2; // the two pages just read
    let (faults, _, _) = system_faults(&mm);
    let reader = mm.events().subscribe();
    let read_ahead = mm.run_thread(SystemThread::ReadAhead);
    assert!(read_ahead > 0, "the first read asked for read-ahead");
    // What it read, and the neighbours the first read's cluster left on
    // standby in the range it was asked for.
    let made_valid = system_proto_faults(&reader.take(1 << 20));
    let valid = made_valid.len() as u64;
    assert!(valid >= read_ahead, "{made_valid:?}");
    assert!(made_valid.iter().all(|(_, from)| from == "standby"));
    let (faults1, proto1, hard1) = system_faults(&mm);
    assert_eq!(faults1 - faults, valid, "one soft fault per page");
    let mut all = vec![0u8; data.len()];
    mm.cache_read(&f, 0, &mut all).unwrap();
    assert_eq!(all, data);
    let (faults2, proto2, hard2) = system_faults(&mm);
    let expected = 64 - valid_before - valid;
    assert_eq!(faults2 - faults1, expected);
    assert_eq!(proto2 - proto1, expected);
    let events = system_proto_faults(&reader.take(1 << 20));
    assert_eq!(events.len() as u64, expected);
    let soft = events.iter().filter(|(_, from)| from == "standby").count() as u64;
    assert_eq!(soft + (hard2 - hard1), expected, "{events:?}");
    let pages_read_ahead: HashSet<&String> = made_valid.iter().map(|(va, _)| va).collect();
    assert!(
        events.iter().all(|(va, _)| !pages_read_ahead.contains(va)),
        "no page read ahead faults again"
    );
    mm.cache_close(f).unwrap();
    assert_verified(&mm);
}

/// A read-ahead asked for before the file was cut short neither reads nor
/// maps anything past its new end: the pass reads and validates only the
/// pages still in the file, and `verify` finds every view within it.
#[test]
fn read_ahead_after_a_truncation_maps_nothing_past_the_new_end() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    let data = random_bytes(33, 2 << 20);
    std::fs::write(dir.join("cut"), &data).unwrap();
    let f = open(&mm, &dir, "cut");
    // Three sequential reads: read-ahead asked for 128-192K, 192-256K and
    // 256-320K (the second view).
    let mut buf = vec![0u8; 64 << 10];
    for k in 0..3u64 {
        mm.cache_read(&f, k * (64 << 10), &mut buf).unwrap();
    }
    let queued = mm.cache_read_ahead_queue();
    assert!(
        queued
            .iter()
            .any(|&(first, pages)| first * 4096 >= 256 << 10 && pages > 0),
        "{queued:?}"
    );
    mm.cache_set_size(&f, 200 << 10).unwrap();
    let reader = mm.events().subscribe();
    mm.run_thread(SystemThread::ReadAhead);
    let views = mm.cache_views();
    assert!(
        views.iter().all(|v| v.file_offset < 200 << 10),
        "{:?}",
        views.iter().map(|v| v.file_offset).collect::<Vec<_>>()
    );
    let cached = mm
        .cache_files()
        .into_iter()
        .find(|r| r.file == "cut")
        .unwrap();
    assert!(
        cached.cached_pages <= 50,
        "{} pages cached",
        cached.cached_pages
    );
    let base = mm
        .cache_views()
        .iter()
        .find(|v| v.file_offset == 0)
        .unwrap()
        .base;
    let trace = reader.take(1 << 20);
    let read_past_end: Vec<&str> = std::str::from_utf8(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("cache.read-ahead "))
        .filter(|l| {
            let offset = l.split(' ').find_map(|w| w.strip_prefix("offset=0x"));
            u64::from_str_radix(offset.unwrap(), 16).unwrap() >= 200 << 10
        })
        .collect();
    assert!(read_past_end.is_empty(), "{read_past_end:?}");
    let past_end = system_proto_faults(&trace)
        .into_iter()
        .filter(|(va, _)| {
            u64::from_str_radix(va.trim_start_matches("0x"), 16).unwrap() >= base + (200 << 10)
        })
        .count();
    assert_eq!(past_end, 0, "a page past the end made valid");
    let mut tail = vec![0u8; 8192];
    let n = mm.cache_read(&f, (200 << 10) - 4096, &mut tail).unwrap();
    assert_eq!(n, 4096);
    assert_eq!(tail[..n], data[(200 << 10) - 4096..200 << 10]);
    // Extended again: zeros past the old end, not the bytes that were there.
    mm.cache_set_size(&f, 256 << 10).unwrap();
    let mut grown = vec![1u8; 8192];
    mm.cache_read(&f, 200 << 10, &mut grown).unwrap();
    assert!(grown.iter().all(|&b| b == 0), "old bytes came back");
    mm.cache_close(f).unwrap();
    assert_verified(&mm);
}

/// CcCopyRead tells Mm how many more pages it wants before each page it
/// copies (MmSetPageFaultReadAhead): a miss reads the rest of the copy's
/// bytes in the view with the faulting page, up to 16 pages (64 KB) in one
/// read, so a 256 KB copy of a cold file takes 4 hard faults, not one per
/// 4-page data cluster; a read within one page reads that page alone. The
/// random-access hint keeps read-ahead out of the count.
#[test]
fn a_copy_read_miss_reads_the_rest_of_the_copy_up_to_64_kb_at_once() {
    let (mm, dir) = cache_machine(16 << 20, Arch::X86);
    let data = random_bytes(34, 1 << 20);
    std::fs::write(dir.join("clusters"), &data).unwrap();
    let f = open(&mm, &dir, "clusters");
    mm.cache_hint_path("clusters", crate::mm::api::Hint::Random)
        .unwrap();
    let cached = |mm: &Mm| {
        let row = mm.cache_files().into_iter().find(|r| r.file == "clusters");
        row.unwrap().cached_pages
    };
    let (_, _, hard) = system_faults(&mm);
    let mut small = vec![0u8; 100];
    mm.cache_read(&f, 512 << 10, &mut small).unwrap();
    assert_eq!(small, data[512 << 10..(512 << 10) + 100]);
    let (_, _, hard1) = system_faults(&mm);
    assert_eq!(hard1 - hard, 1);
    assert_eq!(cached(&mm), 1, "a read within a page reads that page alone");
    let mut view = vec![0u8; 256 << 10];
    mm.cache_read(&f, 0, &mut view).unwrap();
    assert_eq!(view, data[..256 << 10]);
    let (_, _, hard2) = system_faults(&mm);
    assert_eq!(hard2 - hard1, 4, "64 pages in reads of 16");
    assert_eq!(cached(&mm), 65);
    // Ten pages from the middle of a 64 KB stretch: one read of ten pages.
    let mut part = vec![0u8; 10 << 12];
    mm.cache_read(&f, 300 << 10, &mut part).unwrap();
    assert_eq!(part, data[300 << 10..(300 << 10) + (10 << 12)]);
    let (_, _, hard3) = system_faults(&mm);
    assert_eq!(hard3 - hard2, 1);
    assert_eq!(cached(&mm), 75);
    assert_eq!(stat(&mm, "ReadAheads"), 0);
    mm.cache_close(f).unwrap();
    assert_verified(&mm);
}
