//! The streamed listings against the snapshot rendering (`render::render`):
//! on a quiet machine, the chunks read one after another, in reads of any
//! size, are byte for byte the whole file; `pfn/db` read at any offset is
//! the same slice of it; the lists count their pages; a read before the
//! current chunk starts over; a list whose pages move while it is read goes
//! on; chunks made ahead on the FUSE path are the same bytes.

use super::{Source, Stream};
use crate::fs::node::{File, PFN_LISTS, ProcessFile, STANDBY_PRIORITIES};
use crate::fs::render;
use crate::mm::Mm;
use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pid};
use crate::mm::pfn::PageLocation;
use crate::mm::testutil::{XorShift, dirty_pages as dirty, reserve as alloc};
use crate::mm::vad::AllocRequest;

const RW: Protection = Protection::READWRITE;
const ARCHES: [Arch; 3] = [Arch::X86, Arch::Pae, Arch::X64];
/// A machine with pages on every list, a page table paged out, pages far
/// apart in a large reservation (tables missing at every level between),
/// and a view of a section.
fn busy_machine(arch: Arch) -> (Mm, Pid) {
    let mm = Mm::new(MmConfig::for_tests(4 << 20, arch)).unwrap();
    let pid = mm.create_process("app").unwrap();
    // A table of its own, paged out at the end.
    let out = alloc(&mm, pid, 0x1000_0000, 16 * PAGE_SIZE, true);
    dirty(&mm, pid, out, 16);
    let a = alloc(&mm, pid, 0, 96 * PAGE_SIZE, true);
    dirty(&mm, pid, a, 96);
    mm.trim(pid).unwrap();
    mm.flush_modified();
    mm.empty_standby();
    mm.empty_working_sets();
    let b = alloc(&mm, pid, 0, 40 * PAGE_SIZE, true);
    dirty(&mm, pid, b, 40);
    mm.flush_modified();
    let c = alloc(&mm, pid, 0, 24 * PAGE_SIZE, true);
    dirty(&mm, pid, c, 24);
    mm.trim(pid).unwrap();
    let d = alloc(&mm, pid, 0, 16 * PAGE_SIZE, true);
    dirty(&mm, pid, d, 16);
    // 1 GB reserved, committed and touched at both ends.
    let span = 1u64 << 30;
    let big = alloc(&mm, pid, 0x2000_0000, span, false);
    for (at, pages) in [(big, 3), (big + span - 2 * PAGE_SIZE, 2)] {
        let mut r = AllocRequest::new(at, pages * PAGE_SIZE, RW);
        r.commit = true;
        mm.allocate(pid, &r).unwrap();
        dirty(&mm, pid, at, pages);
    }
    mm.create_section("shm", 0x10000, None, RW, false).unwrap();
    let (v, _) = mm.map_view(pid, "shm", 0, 0, 0, RW).unwrap();
    dirty(&mm, pid, v.0, 4);
    assert!(
        mm.pte_detail(pid, out).unwrap().table_paged_out.is_some(),
        "{arch:?}: the machine has a paged-out table"
    );
    (mm, pid)
}

/// Every streamed file of the machine.
fn files(pid: Pid) -> Vec<File> {
    let mut v = vec![
        File::PfnDb,
        File::Process(pid, ProcessFile::Ptes),
        File::Process(pid, ProcessFile::Workingset),
    ];
    // The directory's own lists, as `pfn/lists/` shows them.
    v.extend(PFN_LISTS.iter().map(|&(_, l)| File::PfnList(l)));
    v.extend((0..STANDBY_PRIORITIES).map(File::StandbyList));
    v
}

/// The whole file, read from offset 0 in reads of `size` bytes.
fn read_all(mm: &Mm, s: &Stream, size: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let got = s.read(mm, out.len() as u64, size);
        if got.is_empty() {
            return out;
        }
        assert!(got.len() <= size as usize);
        out.extend_from_slice(&got);
    }
}

fn open(mm: &Mm, file: File, chunk: u32) -> Stream {
    Stream::with_chunk(mm, Source::of(file).unwrap(), chunk).unwrap()
}

#[test]
fn chunks_read_in_a_row_are_the_snapshot() {
    for arch in ARCHES {
        let (mm, pid) = busy_machine(arch);
        for file in files(pid) {
            let whole = render::render(&mm, file).unwrap();
            for (chunk, size) in [(1, 4096), (7, 1000), (64, 131_072), (2048, 4096), (3, 1)] {
                if size == 1 && whole.len() > 20_000 {
                    continue; // byte by byte only for the small ones
                }
                let got = read_all(&mm, &open(&mm, file, chunk), size);
                assert!(
                    got == whole,
                    "{arch:?} {file:?} chunk {chunk} reads of {size}: {} bytes, not the {} of the snapshot",
                    got.len(),
                    whole.len()
                );
            }
        }
    }
}

#[test]
fn the_default_chunks_are_the_snapshot() {
    let (mm, pid) = busy_machine(Arch::Pae);
    for file in files(pid) {
        let s = Stream::open(&mm, Source::of(file).unwrap()).unwrap();
        assert_eq!(read_all(&mm, &s, 4096), render::render(&mm, file).unwrap());
    }
}

#[test]
fn pfn_db_reads_at_any_offset() {
    for arch in ARCHES {
        let (mm, _) = busy_machine(arch);
        let whole = render::render(&mm, File::PfnDb).unwrap();
        let row = render::PfnDbWidths::of(&mm).row_len();
        let header = render::PFN_DB_HEADER.len();
        assert_eq!(
            whole.len(),
            header + row * mm.physical_pages() as usize,
            "fixed-width rows"
        );
        let s = open(&mm, File::PfnDb, 16);
        let mut rng = XorShift(18);
        for _ in 0..300 {
            let offset = rng.below(whole.len() as u64 + 500);
            let size = 1 + rng.below(20_000) as u32;
            let got = s.read(&mm, offset, size);
            let want = crate::fs::handles::slice_at(&whole, offset, size);
            assert!(got == want, "{arch:?} offset {offset} size {size}");
        }
        assert!(s.read(&mm, u64::MAX - 10, 100).is_empty());
    }
}

#[test]
fn a_read_before_the_chunk_starts_over_and_past_the_end_is_empty() {
    let (mm, pid) = busy_machine(Arch::X64);
    for file in [
        File::Process(pid, ProcessFile::Ptes),
        File::Process(pid, ProcessFile::Workingset),
        File::PfnList(PageLocation::Free),
    ] {
        let whole = render::render(&mm, file).unwrap();
        let s = open(&mm, file, 5);
        let tail = whole.len() as u64 - 10;
        assert_eq!(s.read(&mm, tail, 4096), &whole[tail as usize..]);
        assert_eq!(
            s.read(&mm, 3, 50),
            &whole[3..53],
            "{file:?}: back to the start"
        );
        assert_eq!(s.read(&mm, 200, 100), &whole[200..300]);
        assert!(s.read(&mm, whole.len() as u64, 10).is_empty());
        assert!(s.read(&mm, whole.len() as u64 + 7777, 10).is_empty());
    }
}

#[test]
fn each_list_counts_its_pages() {
    let (mm, _) = busy_machine(Arch::X86);
    let meminfo = mm.meminfo();
    let count = |key: &str| meminfo.iter().find(|(k, _)| *k == key).unwrap().1;
    for (loc, key) in [
        (PageLocation::Zeroed, "ZeroedPages"),
        (PageLocation::Free, "FreePages"),
        (PageLocation::Standby, "StandbyPages"),
        (PageLocation::Modified, "ModifiedPages"),
        (PageLocation::Active, "ActivePages"),
    ] {
        let text = read_all(&mm, &open(&mm, File::PfnList(loc), 3), 4096);
        let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(lines, count(key), "{loc:?}");
        assert!(
            count(key) > 0 || loc == PageLocation::Zeroed,
            "{loc:?} is empty"
        );
    }
    let by_priority: u64 = (0..8)
        .map(|p| {
            let t = read_all(&mm, &open(&mm, File::StandbyList(p), 2), 4096);
            t.iter().filter(|&&b| b == b'\n').count() as u64
        })
        .sum();
    assert_eq!(by_priority, count("StandbyPages"));
}

/// Pages taken off the zeroed list while it is read: the listing goes on
/// after the latest page it gave that is still there, and each line is a
/// page that was free when its chunk was made.
#[test]
fn a_list_that_changes_while_it_is_read_goes_on() {
    let mm = Mm::new(MmConfig::for_tests(4 << 20, Arch::X86)).unwrap();
    let pid = mm.create_process("app").unwrap();
    let before: Vec<u8> = render::render(&mm, File::PfnList(PageLocation::Zeroed)).unwrap();
    let zeroed_before = before.split(|&b| b == b'\n').count() - 1;
    let s = open(&mm, File::PfnList(PageLocation::Zeroed), 8);
    let first = s.read(&mm, 0, 8 * 8);
    assert!(!first.is_empty());
    // Take pages off the free list (from its head: the ones just read).
    let va = alloc(&mm, pid, 0, 64 * PAGE_SIZE, true);
    dirty(&mm, pid, va, 64);
    let mut all = first.clone();
    loop {
        let got = s.read(&mm, all.len() as u64, 4096);
        if got.is_empty() {
            break;
        }
        all.extend_from_slice(&got);
    }
    let lines = all.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert!(lines > 8, "the listing went on past its first chunk");
    assert!(
        lines <= zeroed_before,
        "{lines} lines, {zeroed_before} pages were zeroed"
    );
    assert!(all.ends_with(b"\n"));
}

#[test]
fn a_process_gone_fails_the_open_and_ends_an_open_listing() {
    let (mm, pid) = busy_machine(Arch::X86);
    let s = open(&mm, File::Process(pid, ProcessFile::Ptes), 4);
    let first = s.read(&mm, 0, 100);
    assert!(!first.is_empty());
    mm.terminate_process(pid).unwrap();
    let mut all = first;
    for _ in 0..10_000 {
        let got = s.read(&mm, all.len() as u64, 4096);
        if got.is_empty() {
            break;
        }
        all.extend_from_slice(&got);
    }
    assert!(s.read(&mm, all.len() as u64, 4096).is_empty(), "it ends");
    assert!(Stream::open(&mm, Source::Ptes(pid)).is_err());
    assert!(Stream::open(&mm, Source::Workingset(pid)).is_err());
}

/// `v` in exactly `width` columns, right-aligned, or `#`s.
fn dec_fixed(v: u64, width: usize) -> String {
    let s = v.to_string();
    if s.len() > width {
        "#".repeat(width)
    } else {
        format!("{s:>width$}")
    }
}

/// A `pfn/db` row by the formatting machinery: what `push_pfn_db_row` must make.
fn reference_row(r: &crate::mm::inspect::PfnRow, pw: usize, vw: usize, tw: usize) -> String {
    let f = |on: bool, c: char| if on { c } else { '-' };
    format!(
        "0x{:0pw$x} {:<17} {:<14} {} {} 0x{:0vw$x} {} {} {} {}{}{}{}{} 0x{:0tw$x}\n",
        r.pfn.0,
        r.location.name(),
        r.use_.name(),
        r.pid
            .map_or("     -".to_string(), |p| dec_fixed(p.0 as u64, 6)),
        r.va.map_or(format!("{:<w$}", "-", w = vw + 2), |v| format!(
            "0x{v:0vw$x}"
        )),
        r.pte_address,
        dec_fixed(r.share_count as u64, 5),
        dec_fixed(r.reference_count as u64, 5),
        dec_fixed(r.priority as u64, 1),
        f(r.modified, 'M'),
        f(r.read_in_progress, 'R'),
        f(r.write_in_progress, 'W'),
        f(r.prototype, 'P'),
        f(r.in_page_error, 'E'),
        r.original_pte,
    )
}

#[test]
fn pfn_db_rows_are_the_formatted_ones() {
    let mut rng = XorShift(18);
    for arch in ARCHES {
        let (mm, _) = busy_machine(arch);
        let w = render::PfnDbWidths::of(&mm);
        let (pw, vw, tw) = (
            render::pfn_width(&mm),
            render::va_width(&mm),
            render::pte_width(&mm),
        );
        let bits = |v: u64, n: u32| v.checked_shr(64 - n.min(64)).unwrap_or(0);
        for mut r in mm.pfn_rows(0, mm.physical_pages()) {
            // Every width of every field, the too-wide ones included.
            let x = rng.next();
            let wide = vw as u32 * 4; // what the arch's addresses hold
            r.pid = (x & 1 == 0).then(|| Pid(bits(rng.next(), (x >> 1) as u32 % 24) as u32));
            r.va = (x & 2 == 0).then(|| bits(rng.next(), (x >> 6) as u32 % wide + 1));
            r.share_count = bits(rng.next(), (x >> 12) as u32 % 32) as u32;
            r.reference_count = bits(rng.next(), (x >> 18) as u32 % 16) as u16;
            r.priority = bits(rng.next(), (x >> 24) as u32 % 8) as u8;
            r.modified = x & 4 == 0;
            r.in_page_error = x & 8 == 0;
            r.original_pte = bits(rng.next(), (x >> 30) as u32 % (tw as u32 * 4) + 1);
            let mut got = Vec::new();
            render::push_pfn_db_row(&mut got, &r, w);
            let got = String::from_utf8(got).unwrap();
            assert_eq!(got, reference_row(&r, pw, vw, tw), "{arch:?}");
            assert_eq!(got.len(), w.row_len(), "{arch:?}: fixed width");
        }
    }
}

/// A `ptes` row by the formatting machinery: what `push_pte_row` must make
/// (the row as it was made before it was made at fixed columns).
fn reference_pte_row(r: &crate::mm::inspect::PteRow, vw: usize, tw: usize) -> String {
    format!(
        "0x{:0vw$x} 0x{:0tw$x} {:<11} {} {}\n",
        r.va,
        r.raw,
        r.state,
        r.pfn_or_offset
            .map_or("-         ".to_string(), |v| format!("0x{v:08x}")),
        r.protection.map_or("-".to_string(), |p| p.name()),
    )
}

#[test]
fn ptes_rows_are_the_formatted_ones() {
    let mut rng = XorShift(19);
    for arch in ARCHES {
        let (mm, pid) = busy_machine(arch);
        let (vw, tw) = (render::va_width(&mm), render::pte_width(&mm));
        let rows = mm.ptes(pid).unwrap();
        assert!(rows.len() > 100, "{arch:?}: a listing to compare");
        for mut r in rows {
            // Every protection (guard and no-cache included) and none, every
            // width of the frame or offset.
            let x = rng.next();
            r.protection = (x & 1 == 0).then(|| Protection::from_raw((x >> 1) as u8));
            r.pfn_or_offset = (x & 2 == 0).then(|| rng.next() >> ((x >> 12) % 64));
            let mut got = Vec::new();
            render::push_pte_row(&mut got, &r, vw, tw);
            let got = String::from_utf8(got).unwrap();
            assert_eq!(got, reference_pte_row(&r, vw, tw), "{arch:?}");
        }
    }
}

/// The whole file through `read_with` (the FUSE path, which has the next
/// chunk made ahead) in reads of `size` bytes from offset 0, and how many
/// reads left a chunk being made ahead.
fn read_all_with(mm: &std::sync::Arc<Mm>, s: &Stream, size: u32) -> (Vec<u8>, usize) {
    let (mut out, mut ahead) = (Vec::new(), 0);
    loop {
        let got = s.read_with(mm, out.len() as u64, size, |b| b.to_vec());
        if got.is_empty() {
            return (out, ahead);
        }
        ahead += usize::from(s.ahead.lock().unwrap().is_some());
        out.extend_from_slice(&got);
    }
}

/// Reads from the FUSE path make the next chunk ahead on a thread of their
/// own: the bytes are still the snapshot's, in reads of any size, whether a
/// read takes the chunk made ahead, crosses it or seeks back past it.
#[test]
fn chunks_made_ahead_are_the_snapshot() {
    for arch in ARCHES {
        let (mm, pid) = busy_machine(arch);
        let mm = std::sync::Arc::new(mm);
        let mut made_ahead = 0;
        for file in files(pid) {
            let whole = render::render(&mm, file).unwrap();
            for (chunk, size) in [(5, 20), (16, 64), (64, 100), (2048, 4096), (64, 131_072)] {
                let s = open(&mm, file, chunk);
                let (got, ahead) = read_all_with(&mm, &s, size);
                made_ahead += ahead;
                assert!(
                    got == whole,
                    "{arch:?} {file:?} chunk {chunk} reads of {size}: {} bytes, not the {} of the snapshot",
                    got.len(),
                    whole.len()
                );
                // Back to the start with a chunk made ahead (or being made)
                // for a place no read goes to now.
                let again = s.read_with(&mm, 0, 64, |b| b.to_vec());
                assert_eq!(again, crate::fs::handles::slice_at(&whole, 0, 64));
            }
        }
        assert!(
            made_ahead > 0,
            "{arch:?}: small reads had chunks made ahead"
        );
    }
}

/// A chunk made ahead is taken only by the read that reaches it: a read
/// past the middle of the first chunk has the second made ahead, and that
/// read's next reads see exactly the second chunk's bytes; a stream dropped
/// while its chunk is being made ahead leaves nothing behind to wait for.
#[test]
fn a_chunk_made_ahead_is_the_next_one_and_may_be_dropped() {
    let (mm, pid) = busy_machine(Arch::X86);
    let mm = std::sync::Arc::new(mm);
    // `pfn/db`, which computes a chunk for any offset, too: the one right
    // after the current chunk is the one made ahead, not made again.
    for file in [File::Process(pid, ProcessFile::Ptes), File::PfnDb] {
        let whole = render::render(&mm, file).unwrap();
        let s = open(&mm, file, 4);
        let first = s.state.lock().unwrap().bytes.len();
        assert!(whole.len() > 3 * first, "{file:?}: several chunks");
        let got = s.read_with(&mm, first as u64 - 10, 10, |b| b.to_vec());
        assert_eq!(got, &whole[first - 10..first]);
        assert!(
            s.ahead.lock().unwrap().as_ref().map(|a| a.start) == Some(first as u64),
            "{file:?}: the second chunk is being made"
        );
        let got = s.read_with(&mm, first as u64, 50, |b| b.to_vec());
        assert_eq!(got, &whole[first..first + 50]);
        assert!(
            s.ahead.lock().unwrap().is_none(),
            "{file:?}: taken by the read that reached it"
        );
        let s = open(&mm, file, 4);
        s.read_with(&mm, first as u64 - 1, 1, |b| b.len());
        drop(s);
        assert_eq!(read_all_with(&mm, &open(&mm, file, 4), 16).0, whole);
    }
}
