//! Tests of the pictures: `pfn/map.png` decoded with the `png` crate (its size,
//! and the pixels of each colour counted against the PFN lists and the use
//! counts), `processes/<name>/map.svg` parsed with `roxmltree` (one region per
//! VAD, with the VAD's committed and resident pages).

use std::collections::HashMap;
use std::io::Cursor;

use super::map_png::{Geometry, STATE_COLOURS, USE_COLOURS, row_pages};
use super::render;
use crate::fs::node::{File, ProcessFile};
use crate::mm::Mm;
use crate::mm::base::config::MmConfig;
use crate::mm::base::protection::Protection;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pid};
use crate::mm::inspect::PageClass;
use crate::mm::pfn::PageLocation;
use crate::mm::testutil::{dirty_pages as dirty, reserve};
use crate::mm::vad::AllocRequest;

const RW: Protection = Protection::READWRITE;

fn machine(ram: u64, arch: Arch) -> Mm {
    Mm::new(MmConfig::for_tests(ram, arch)).unwrap()
}

fn alloc(mm: &Mm, pid: Pid, size: u64, commit: bool) -> u64 {
    reserve(mm, pid, 0, size, commit)
}

/// A machine with pages on most lists: active, modified, standby, zeroed
/// and free, private pages, page tables and a section's pages.
fn busy_machine(ram: u64) -> (Mm, Pid) {
    let mm = machine(ram, Arch::X86);
    let pid = mm.create_process("app").unwrap();
    let a = alloc(&mm, pid, 96 * PAGE_SIZE, true);
    dirty(&mm, pid, a, 96);
    mm.trim(pid).unwrap();
    // Half the trimmed pages written out: standby; the rest stay modified.
    let b = alloc(&mm, pid, 40 * PAGE_SIZE, true);
    dirty(&mm, pid, b, 40);
    mm.flush_modified();
    let c = alloc(&mm, pid, 24 * PAGE_SIZE, true);
    dirty(&mm, pid, c, 24);
    mm.trim(pid).unwrap();
    let d = alloc(&mm, pid, 16 * PAGE_SIZE, true);
    dirty(&mm, pid, d, 16);
    mm.create_section("shm", 0x10000, None, RW, false).unwrap();
    let (v, _) = mm.map_view(pid, "shm", 0, 0, 0, RW).unwrap();
    dirty(&mm, pid, v.0, 4);
    (mm, pid)
}

/// Decodes a PNG to RGB pixels (the palette expanded).
fn decode(bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    let mut d = png::Decoder::new(Cursor::new(bytes));
    d.set_transformations(png::Transformations::EXPAND);
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = buf[..info.buffer_size()]
        .chunks(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width as usize, info.height as usize, px)
}

/// Pixels of each colour in a band (page order), and the colours of the
/// pixels past the last page.
fn band(px: &[[u8; 3]], width: usize, g: &Geometry, top: usize, pages: usize) -> Vec<[u8; 3]> {
    (0..g.rows * g.row_pages)
        .map(|i| px[(top + i / g.row_pages) * width + g.left + i % g.row_pages])
        .take(pages.div_ceil(g.row_pages) * g.row_pages)
        .collect()
}

fn count(pixels: &[[u8; 3]]) -> HashMap<[u8; 3], u64> {
    let mut m = HashMap::new();
    for p in pixels {
        *m.entry(*p).or_insert(0) += 1;
    }
    m
}

#[test]
fn rows_are_a_power_of_two_of_at_least_512_pages() {
    assert_eq!(row_pages(0), 512);
    assert_eq!(row_pages(4096), 512);
    assert_eq!(row_pages(65536), 512, "256 MB: 512 x 128");
    assert_eq!(row_pages(262_145), 1024);
    assert_eq!(row_pages(1 << 20), 1024, "4 GB: 1024 x 1024");
    assert_eq!(row_pages(1 << 24), 4096, "64 GB: 4096 x 4096");
    assert_eq!(super::map_png::size_text(256 << 20), "256 MB");
    assert_eq!(super::map_png::size_text(64 << 30), "64 GB");
    assert_eq!(super::map_png::size_text(1536 << 20), "1536 MB");
    let g = Geometry::new(1 << 24);
    assert_eq!((g.row_pages, g.rows), (4096, 4096));
    assert!(g.use_top >= g.state_top + g.rows && g.height >= g.use_top + g.rows);
}

#[test]
fn the_png_decodes_and_its_colours_are_the_lists() {
    let (mm, pid) = busy_machine(16 << 20);
    let bytes = render(&mm, File::PfnMap).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let pages = mm.physical_pages() as usize;
    let g = Geometry::new(pages);
    let (width, height, px) = decode(&bytes);
    assert_eq!((width, height), (g.width, g.height));
    assert_eq!((g.row_pages, g.rows), (512, pages.div_ceil(512)));

    let meminfo: HashMap<&str, u64> = mm.meminfo().into_iter().collect();
    let states = count(&band(&px, width, &g, g.state_top, pages));
    let keys = [
        "ZeroedPages",
        "FreePages",
        "StandbyPages",
        "ModifiedPages",
        "ModifiedNoWritePages",
        "BadPages",
        "ActivePages",
        "TransitionPages",
    ];
    for (l, key) in PageLocation::ALL.iter().zip(keys) {
        let pixels = states.get(&STATE_COLOURS[*l as usize]).copied();
        assert_eq!(pixels.unwrap_or(0), meminfo[key], "{key}");
    }
    for key in [
        "ActivePages",
        "ModifiedPages",
        "StandbyPages",
        "ZeroedPages",
    ] {
        assert!(meminfo[key] > 0, "the machine has {key}");
    }
    // One particular page: the first on the modified list.
    let first = mm.pfn_list(PageLocation::Modified)[0].0 as usize;
    let at = (g.state_top + first / g.row_pages) * width + g.left + first % g.row_pages;
    assert_eq!(px[at], STATE_COLOURS[PageLocation::Modified as usize]);

    let uses = count(&band(&px, width, &g, g.use_top, pages));
    let rows = mm.usecounts();
    assert_eq!(rows.len(), USE_COLOURS.len() + 1, "the uses, then Total");
    for (row, colour) in rows.iter().zip(USE_COLOURS) {
        let pixels = uses.get(&colour).copied().unwrap_or(0);
        assert_eq!(pixels, row.counts[0], "{}", row.name);
    }
    assert!(
        rows[0].counts[0] > 0 && rows[3].counts[0] > 0,
        "private pages and page tables"
    );
    assert!(mm.process_status(pid).unwrap().private_pages > 0);
}

#[test]
fn pixels_past_the_last_page_are_background() {
    // 4100 pages: 8 full rows of 512 and 4 pages in the ninth.
    let mm = machine(4100 * PAGE_SIZE, Arch::Pae);
    let pages = mm.physical_pages() as usize;
    let g = Geometry::new(pages);
    let (width, _, px) = decode(&render(&mm, File::PfnMap).unwrap());
    let cells = band(&px, width, &g, g.state_top, pages);
    assert_eq!(cells.len(), g.rows * g.row_pages);
    let counts = count(&cells[pages..]);
    assert_eq!(counts.len(), 1);
    assert_eq!(
        counts.get(&[0xff, 0xff, 0xff]),
        Some(&((g.rows * 512 - pages) as u64))
    );
}

#[test]
fn every_colour_is_told_apart() {
    let mut all: Vec<[u8; 3]> = STATE_COLOURS.to_vec();
    all.extend(USE_COLOURS);
    all.push([0xff, 0xff, 0xff]);
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n);
}

fn attr(n: &roxmltree::Node, name: &str) -> u64 {
    let v = n.attribute(name).unwrap();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => v.parse().unwrap(),
    }
}

#[test]
fn the_svg_parses_and_has_a_region_per_vad() {
    for arch in [Arch::X86, Arch::X64] {
        let mm = machine(16 << 20, arch);
        let pid = mm.create_process("app").unwrap();
        // Reserved 1 MB with 5 pages committed, 3 of them touched.
        let r = alloc(&mm, pid, 0x10_0000, false);
        let mut c = AllocRequest::new(r + 0x8000, 5 * PAGE_SIZE, RW);
        c.commit = true;
        mm.allocate(pid, &c).unwrap();
        dirty(&mm, pid, r + 0x8000, 3);
        let p = alloc(&mm, pid, 20 * PAGE_SIZE, true);
        dirty(&mm, pid, p, 20);
        mm.create_section("shm", 0x20000, None, RW, false).unwrap();
        let (v, _) = mm.map_view(pid, "shm", 0, 0, 0, RW).unwrap();
        dirty(&mm, pid, v.0 + PAGE_SIZE, 2);

        let text = String::from_utf8(render(&mm, File::Process(pid, ProcessFile::MapSvg)).unwrap())
            .unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let regions: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("region"))
            .collect();
        let vads = mm.vads(pid).unwrap();
        assert_eq!(regions.len(), vads.len(), "{arch:?}");
        for (g, v) in regions.iter().zip(&vads) {
            assert_eq!(
                (attr(g, "data-start"), attr(g, "data-end")),
                (v.start, v.end)
            );
            assert_eq!(g.attribute("data-type"), Some(v.type_name));
            if v.private {
                assert_eq!(attr(g, "data-committed"), v.commit_pages, "{arch:?} {v:?}");
            }
            // The page bar spans the whole width.
            let width: f64 = g
                .children()
                .filter(|n| n.has_tag_name("rect") && n.attribute("fill-opacity").is_some())
                .map(|n| n.attribute("width").unwrap().parse::<f64>().unwrap())
                .sum();
            assert!((width - 340.0).abs() < 0.1, "{arch:?} bar width {width}");
        }
        let by_start = |va: u64| {
            regions
                .iter()
                .find(|g| attr(g, "data-start") == va)
                .unwrap()
        };
        assert_eq!(attr(by_start(r), "data-committed"), 5);
        assert_eq!(attr(by_start(r), "data-resident"), 3);
        assert_eq!(attr(by_start(p), "data-resident"), 20);
        assert_eq!(attr(by_start(v.0), "data-committed"), 0x20);
        assert_eq!(attr(by_start(v.0), "data-resident"), 2);
        let wsdata = mm
            .workingset(pid)
            .unwrap()
            .iter()
            .filter(|w| w.is_data())
            .count() as u64;
        let resident: u64 = regions.iter().map(|g| attr(g, "data-resident")).sum();
        assert_eq!(
            resident, wsdata,
            "{arch:?}: resident = the working set's data pages"
        );
    }
}

#[test]
fn the_address_map_runs_cover_each_vad() {
    let mm = machine(16 << 20, Arch::Pae);
    let pid = mm.create_process("app").unwrap();
    let r = alloc(&mm, pid, 0x40_0000, false);
    for i in [0u64, 7, 8, 300, 1023] {
        let mut c = AllocRequest::new(r + i * PAGE_SIZE, PAGE_SIZE, RW);
        c.commit = true;
        mm.allocate(pid, &c).unwrap();
    }
    dirty(&mm, pid, r + 7 * PAGE_SIZE, 2);
    mm.trim(pid).unwrap();
    dirty(&mm, pid, r + 300 * PAGE_SIZE, 1);
    let map = mm.address_map(pid).unwrap();
    let region = map.regions.iter().find(|g| g.vad.start == r).unwrap();
    let classes: Vec<(u64, PageClass)> = region.runs.iter().map(|x| (x.pages, x.class)).collect();
    use PageClass::*;
    assert_eq!(
        classes,
        [
            (1, Committed),
            (6, Reserved),
            (2, Committed),
            (291, Reserved),
            (1, Resident),
            (722, Reserved),
            (1, Committed),
        ]
    );
    assert!(mm.address_map(Pid(4000)).is_err());
}

#[test]
fn names_are_escaped() {
    assert_eq!(
        super::map_svg::escape("a<b>&\"c'\u{1}"),
        "a&lt;b&gt;&amp;&quot;c&#39;?"
    );
}
