//! Core micro-benchmarks: the memory manager alone, no FUSE.
//!
//!     cargo run --release --example corebench
//!
//! Each benchmark runs several rounds on a fresh machine and reports the median
//! rate. Demand-zero: touch every page of a committed region once. Transition:
//! trim the region (pages go to the modified list) and touch it again (soft
//! faults). Copy: `write_memory` of 1 MiB blocks into fresh committed memory.

use std::time::Instant;

use mmfs::mm::Mm;
use mmfs::mm::base::config::MmConfig;
use mmfs::mm::base::protection::Protection;
use mmfs::mm::base::types::{Arch, PAGE_SIZE};
use mmfs::mm::vad::AllocRequest;

const ROUNDS: usize = 5;

fn machine(ram: u64, arch: Arch) -> Mm {
    let mut c = MmConfig::for_tests(ram, arch);
    c.pagefiles[0].minimum = ram * 2;
    c.pagefiles[0].maximum = ram * 2;
    Mm::new(c).expect("machine")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn committed(mm: &Mm, pages: u64) -> (mmfs::mm::base::types::Pid, u64) {
    let pid = mm.create_process("bench").unwrap();
    let mut r = AllocRequest::new(0, pages * PAGE_SIZE, Protection::READWRITE);
    r.reserve = true;
    r.commit = true;
    let (base, _) = mm.allocate(pid, &r).unwrap();
    (pid, base.0)
}

fn main() {
    // `corebench [faults] [writes] [reads] [paging] [render] [stream] [pool] [sections] [cold]`: the named parts only (all
    // by default), e.g. to profile one under `perf record`.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let pages: u64 = 200_000; // ~780 MB of simulated RAM touched per round
    let ram = 1u64 << 30;
    let block = vec![0x5au8; 1 << 20];
    if wanted("faults") {
        faults(pages, ram);
    }
    if wanted("writes") {
        writes(pages, ram, &block);
    }
    if wanted("reads") {
        reads(pages, ram);
    }
    if wanted("paging") {
        paging(&block);
    }
    if wanted("render") {
        render(ram);
    }
    if wanted("stream") {
        stream(ram);
    }
    if wanted("pool") {
        pool();
    }
    if wanted("sections") {
        sections();
    }
    if wanted("cold") {
        cold(ram);
    }
}

/// Cold cached reads without FUSE: a 128 MB file purged from the cache (its
/// frames freed and zeroed), then read in 1 MiB copy reads, each followed by
/// the read-ahead it queued, on one thread: the host's copies into the frames
/// (read-ahead) and out of them (the copy), and the faults between.
fn cold(ram: u64) {
    use mmfs::mm::base::wakeups::SystemThread;
    let mm = Mm::new(MmConfig::for_tests(ram, Arch::X86)).expect("machine");
    let path = mm.config().files_dir.join("cold");
    let size = 128usize << 20;
    std::fs::write(&path, vec![0x5au8; size]).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let f = mm.cache_open(file, "cold").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut rates = Vec::new();
    for round in 0..=ROUNDS {
        mm.cache_purge_path("cold").unwrap();
        mm.run_thread(SystemThread::ZeroPageThread);
        let t = Instant::now();
        for i in 0..size / buf.len() {
            mm.cache_read(&f, (i * buf.len()) as u64, &mut buf).unwrap();
            mm.run_thread(SystemThread::ReadAhead);
        }
        if round > 0 {
            rates.push(size as f64 / t.elapsed().as_secs_f64() / 1e6);
        }
    }
    assert!(buf.iter().all(|&b| b == 0x5a));
    assert!(mm.verify().ok());
    println!(
        "x86  cold: 128 MB purged, read in 1 MiB copies: {:>7.0} MB/s ({} read-ahead I/Os)",
        median(rates),
        mm.counter("cache_read_ahead_ios")
    );
}

/// Sections: a 256 MB pagefile-backed section mapped in two processes on a
/// 64 MB machine; each round touches every page of the view in one process,
/// then in the other (prototype faults: demand zero or from the paging file,
/// then from memory or the paging file again), so prototype PTEs are read and
/// written at every fault and the pages of paged pool holding them are
/// trimmed and faulted back as the section pages through.
fn sections() {
    let ram_small = 64u64 << 20;
    let mut c = MmConfig::for_tests(ram_small, Arch::X86);
    c.pagefiles[0].minimum = 512 << 20;
    c.pagefiles[0].maximum = 1 << 30;
    let mm = Mm::new(c).expect("machine");
    let size = 4 * ram_small;
    let pages = size / PAGE_SIZE;
    mm.create_section("s", size, None, Protection::READWRITE, false)
        .unwrap();
    let views: Vec<_> = (0..2)
        .map(|i| {
            let pid = mm.create_process(&format!("v{i}")).unwrap();
            let (va, _) = mm
                .map_view(pid, "s", 0, 0, 0, Protection::READWRITE)
                .unwrap();
            (pid, va.0)
        })
        .collect();
    let mut rates = Vec::new();
    for round in 0..=ROUNDS {
        let t = Instant::now();
        for &(pid, va) in &views {
            assert_eq!(mm.touch_pages(pid, va, pages, true).unwrap(), pages);
        }
        if round > 0 {
            rates.push((2 * pages) as f64 / t.elapsed().as_secs_f64());
        }
    }
    assert!(mm.verify().ok());
    println!(
        "x86  sections: 4x RAM view in 2 processes:    {:>7.3} M faults/s ({} hard faults)",
        median(rates) / 1e6,
        mm.counter("hard_faults")
    );
}

/// The streamed listings read as `dd bs=4096` reads them (issue 18): every
/// 4 KiB read through `Stream::read_with`, chunks made on the way, no FUSE. A
/// process with 512 MB committed and a page written every 4 MB gives `ptes`
/// its rows, as in `tools/bench.sh listing`.
fn stream(ram: u64) {
    use mmfs::fs::stream::{Source, Stream};
    // Shared, as the FUSE adapter holds it: the next chunk is made ahead on
    // a thread of its own.
    let mm = std::sync::Arc::new(machine(ram, Arch::X86));
    let (pid, base) = committed(&mm, 131_072);
    for i in 0..128u64 {
        mm.write_memory(pid, base + i * (4 << 20), b"x").unwrap();
    }
    for (name, source) in [("pfn/db", Source::PfnDb), ("ptes", Source::Ptes(pid))] {
        let mut rates = Vec::new();
        let mut bytes = 0u64;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let s = Stream::open(&mm, source).unwrap();
            let mut at = 0u64;
            loop {
                // As the FUSE read replies: a slice of the chunk.
                let n = s.read_with(&mm, at, 4096, |b| b.len()) as u64;
                if n == 0 {
                    break;
                }
                at += n;
            }
            rates.push(at as f64 / t.elapsed().as_secs_f64());
            bytes = at;
        }
        println!(
            "x86  stream {name} in 4 KiB reads ({:.1} MB): {:>7.0} MB/s",
            bytes as f64 / 1e6,
            median(rates) / 1e6
        );
    }
}

/// Pool: ExAllocatePoolWithTag + ExFreePoolWithTag pairs of 64-byte blocks of
/// paged pool, through `Mm::pool_alloc`/`pool_free` (locks, header reads and
/// writes through the MMU, split and merge, tag tracking). One block stays
/// allocated so the page is not given back on every free.
fn pool() {
    use mmfs::mm::kernel::pool::PoolType;
    for ty in [PoolType::Paged, PoolType::NonPaged] {
        let mm = machine(256 << 20, Arch::X86);
        let keep = mm.pool_alloc(ty, 64, "Keep").unwrap();
        let pairs = 1_000_000u64;
        let mut rates = Vec::new();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for _ in 0..pairs {
                let a = mm.pool_alloc(ty, 64, "Bnch").unwrap();
                mm.pool_free(a).unwrap();
            }
            rates.push(pairs as f64 / t.elapsed().as_secs_f64());
        }
        mm.pool_free(keep).unwrap();
        println!(
            "x86  pool alloc+free {:>8} (64 B): {:>7.2} M pairs/s",
            ty.name(),
            median(rates) / 1e6
        );
    }
}

fn faults(pages: u64, ram: u64) {
    for arch in [Arch::X86, Arch::X64] {
        let mut dz = Vec::new();
        let mut soft = Vec::new();
        for _ in 0..ROUNDS {
            let mm = machine(ram, arch);
            let (pid, base) = committed(&mm, pages);
            let t = Instant::now();
            assert_eq!(mm.touch_pages(pid, base, pages, true).unwrap(), pages);
            dz.push(pages as f64 / t.elapsed().as_secs_f64());
            mm.trim(pid).unwrap();
            let t = Instant::now();
            assert_eq!(mm.touch_pages(pid, base, pages, true).unwrap(), pages);
            soft.push(pages as f64 / t.elapsed().as_secs_f64());
            assert!(mm.verify().ok());
        }
        println!(
            "{:<4} demand-zero faults: {:>6.2} M/s   transition faults: {:>6.2} M/s",
            arch.name(),
            median(dz) / 1e6,
            median(soft) / 1e6
        );
    }
}

/// write_memory: 1 MiB blocks into fresh committed memory (a demand-zero fault
/// and a 4 KiB copy per page), as a 1 MiB `dd` to mem does minus FUSE.
fn writes(pages: u64, ram: u64, block: &[u8]) {
    let mut rates = Vec::new();
    for _ in 0..ROUNDS {
        let mm = machine(ram, Arch::X86);
        let (pid, base) = committed(&mm, pages);
        let n = pages * PAGE_SIZE / block.len() as u64;
        let t = Instant::now();
        for i in 0..n {
            mm.write_memory(pid, base + i * block.len() as u64, block)
                .unwrap();
        }
        rates.push((n * block.len() as u64) as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "x86  write_memory 1 MiB blocks, fresh memory: {:>7.0} MB/s",
        median(rates) / 1e6
    );
}

/// read_memory: 1 MiB blocks of resident memory (a valid PTE per page, the
/// accessed bit already set, a 4 KiB copy), as a 1 MiB `dd` from mem does
/// minus FUSE. Each round reads the region four times over.
fn reads(pages: u64, ram: u64) {
    let mut rates = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..ROUNDS {
        let mm = machine(ram, Arch::X86);
        let (pid, base) = committed(&mm, pages);
        assert_eq!(mm.touch_pages(pid, base, pages, true).unwrap(), pages);
        let n = pages * PAGE_SIZE / buf.len() as u64;
        let t = Instant::now();
        for _ in 0..4 {
            for i in 0..n {
                mm.read_memory(pid, base + i * buf.len() as u64, &mut buf)
                    .unwrap();
            }
        }
        rates.push((4 * n * buf.len() as u64) as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "x86  read_memory 1 MiB blocks, resident:      {:>7.0} MB/s",
        median(rates) / 1e6
    );
}

/// Paging: 4x RAM cycled sequentially with write_memory on a 64 MB machine;
/// after the first cycle every page is read back from the paging file (hard
/// faults in clusters of 4) and written out again (clusters of 16).
fn paging(block: &[u8]) {
    let ram_small = 64u64 << 20;
    let mut c = MmConfig::for_tests(ram_small, Arch::X86);
    c.pagefiles[0].minimum = 512 << 20;
    c.pagefiles[0].maximum = 1 << 30;
    let mm = Mm::new(c).expect("machine");
    let cycle = 4 * ram_small;
    let (pid, base) = committed(&mm, cycle / PAGE_SIZE);
    let n = cycle / block.len() as u64;
    let mut rates = Vec::new();
    for round in 0..=ROUNDS {
        let t = Instant::now();
        for i in 0..n {
            mm.write_memory(pid, base + i * block.len() as u64, block)
                .unwrap();
        }
        if round > 0 {
            rates.push(cycle as f64 / t.elapsed().as_secs_f64());
        }
    }
    assert!(mm.verify().ok());
    println!(
        "x86  paging: 4x RAM cycled by write_memory:   {:>7.0} MB/s ({} hard faults)",
        median(rates) / 1e6,
        mm.counter("hard_faults")
    );
}

/// Rendering pfn/db (a row per page of RAM): the cost of opening the listing.
fn render(ram: u64) {
    let mm = machine(ram, Arch::X86);
    let mut rates = Vec::new();
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let text = mmfs::fs::render::render(&mm, mmfs::fs::node::File::PfnDb).unwrap();
        rates.push(text.len() as f64 / t.elapsed().as_secs_f64());
        bytes = text.len();
    }
    println!(
        "x86  render pfn/db ({:.1} MB, {} pages): {:>7.0} MB/s",
        bytes as f64 / 1e6,
        ram / PAGE_SIZE,
        median(rates) / 1e6
    );
}
