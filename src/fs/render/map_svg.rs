//! `processes/<name>/map.svg`: the address space as VMMap draws it. A summary
//! by region type (size, committed, resident), the whole user space as one
//! bar with each region where it lies, and one row per region (VAD) with its
//! pages drawn reserved, committed or resident.
//!
//! Hand-written SVG, not `plotters`: the picture is rectangles and text in a
//! fixed layout, which plotters' SVG backend would draw through a chart API
//! built for axes and series (and a font stack for text), adding a dependency
//! tree for no gain; written by hand it is a few hundred bytes per region,
//! streamed straight into a `String`, and its element structure is ours to
//! keep stable for scripts and tests.

use std::fmt::Write;

use crate::mm::base::types::{PAGE_SIZE, Pid};
use crate::mm::inspect::{AddressMap, MapRegion, PageClass};
use crate::mm::{Mm, MmResult};

const WIDTH: u64 = 1000;
const LEFT: u64 = 20;
/// Where the per-region page bar starts, and its width in pixels.
const BAR_X: u64 = 640;
const BAR: u64 = 340;
const ROW: u64 = 18;
/// Where a region's details (its section) start, and how many characters fit.
const DETAIL_X: u64 = 552;
const DETAIL_CHARS: usize = 12;

/// Colours by region type (the `vads` type names), close to VMMap's: image
/// violet, mapped files blue, private data yellow.
fn type_colour(type_name: &str) -> &'static str {
    match type_name {
        "private" => "#f2c200",
        "mapped" => "#4f8fd6",
        "image" => "#a66ee0",
        "awe" => "#17becf",
        "writewatch" => "#f28e2b",
        "largepages" => "#2ca02c",
        _ => "#8c8c8c",
    }
}

/// Opacity of a page class over its region's colour: resident pages solid,
/// committed ones pale, reserved ones a tint.
fn class_opacity(class: PageClass) -> &'static str {
    match class {
        PageClass::Resident => "1",
        PageClass::Committed => "0.45",
        PageClass::Reserved => "0.12",
    }
}

fn class_name(class: PageClass) -> &'static str {
    match class {
        PageClass::Resident => "resident",
        PageClass::Committed => "committed",
        PageClass::Reserved => "reserved",
    }
}

/// Text made safe for XML and HTML, as character data or an attribute value
/// (section and process names are the user's); `&#39;` rather than `&apos;`,
/// which HTML before 5 does not know.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn kb(pages: u64) -> String {
    format!("{} K", pages * (PAGE_SIZE / 1024))
}

/// The columns of a region's bar: `BAR` columns (or one per page, if fewer),
/// each drawn in the class most of its pages have (ties to the more
/// resident), then neighbours of one class merged: `(first column, columns,
/// class)`, with the number of columns.
fn bar_columns(r: &MapRegion) -> (u64, Vec<(u64, u64, PageClass)>) {
    let pages: u64 = r.runs.iter().map(|x| x.pages).sum();
    let columns = pages.clamp(1, BAR);
    let mut out: Vec<(u64, u64, PageClass)> = Vec::new();
    let (mut run, mut used) = (0usize, 0u64);
    for col in 0..columns {
        let end = (col + 1) * pages / columns;
        let mut counts = [0u64; 3];
        let mut at = col * pages / columns;
        while at < end && run < r.runs.len() {
            let left = r.runs[run].pages - used;
            let take = left.min(end - at);
            counts[r.runs[run].class as usize] += take;
            (at, used) = (at + take, used + take);
            if used == r.runs[run].pages {
                (run, used) = (run + 1, 0);
            }
        }
        // max_by_key keeps the last of equals: list the most resident last.
        let class = [
            PageClass::Reserved,
            PageClass::Committed,
            PageClass::Resident,
        ]
        .into_iter()
        .max_by_key(|c| counts[*c as usize])
        .unwrap_or(PageClass::Reserved);
        match out.last_mut() {
            Some(last) if last.2 == class => last.1 += 1,
            _ => out.push((col, 1, class)),
        }
    }
    (columns, out)
}

fn header(out: &mut String, map: &AddressMap, w: usize) {
    let _ = writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"24\" class=\"title\">{} (pid {}): virtual address space</text>",
        escape(&map.name),
        map.pid
    );
    let _ = writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"44\">user space 0x{:0w$x}-0x{:0w$x} · working set {} · commit charge {} · page tables {}</text>",
        0,
        map.highest_user_address,
        kb(map.working_set),
        kb(map.commit_charge),
        kb(map.page_table_pages),
    );
}

/// Per type: regions, size, committed, resident pages (VMMap's summary).
fn summary_rows(map: &AddressMap) -> Vec<(&'static str, [u64; 4])> {
    let mut rows: Vec<(&'static str, [u64; 4])> = Vec::new();
    for r in &map.regions {
        let i = match rows.iter().position(|(t, _)| *t == r.vad.type_name) {
            Some(i) => i,
            None => {
                rows.push((r.vad.type_name, [0; 4]));
                rows.len() - 1
            }
        };
        let size = (r.vad.end + 1 - r.vad.start) / PAGE_SIZE;
        let c = &mut rows[i].1;
        c[0] += 1;
        c[1] += size;
        c[2] += size - r.pages(PageClass::Reserved);
        c[3] += r.pages(PageClass::Resident);
    }
    rows.sort_by_key(|(t, _)| *t);
    rows
}

/// VMMap's summary table; returns the y below it.
fn summary(out: &mut String, map: &AddressMap, top: u64) -> u64 {
    let cols = [LEFT + 16, 150, 230, 330, 430];
    let _ = writeln!(
        out,
        "<g class=\"summary\"><text x=\"{}\" y=\"{top}\" class=\"head\">Type</text><text x=\"{}\" y=\"{top}\" class=\"head\">Regions</text><text x=\"{}\" y=\"{top}\" class=\"head\">Size</text><text x=\"{}\" y=\"{top}\" class=\"head\">Committed</text><text x=\"{}\" y=\"{top}\" class=\"head\">Resident</text>",
        cols[0], cols[1], cols[2], cols[3], cols[4]
    );
    let mut rows = summary_rows(map);
    let mut total = [0u64; 4];
    for (_, c) in &rows {
        total.iter_mut().zip(c).for_each(|(t, v)| *t += v);
    }
    rows.push(("Total", total));
    let mut y = top;
    for (name, c) in rows {
        y += ROW;
        if name != "Total" {
            let _ = write!(
                out,
                "<rect x=\"{LEFT}\" y=\"{}\" width=\"11\" height=\"11\" fill=\"{}\"/>",
                y - 10,
                type_colour(name)
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{y}\" data-type=\"{name}\">{name}</text><text x=\"{}\" y=\"{y}\">{}</text><text x=\"{}\" y=\"{y}\">{}</text><text x=\"{}\" y=\"{y}\">{}</text><text x=\"{}\" y=\"{y}\">{}</text>",
            cols[0],
            cols[1],
            c[0],
            cols[2],
            kb(c[1]),
            cols[3],
            kb(c[2]),
            cols[4],
            kb(c[3])
        );
    }
    out.push_str("</g>\n");
    y + ROW
}

/// The whole user space as one bar, each region where it lies (at least two
/// pixels wide), on a scale of the power of two above the top of user space
/// (2 GB on x86, 8 TB on x64) so the quarters fall on round addresses;
/// returns the y below it.
fn overview(out: &mut String, map: &AddressMap, top: u64, w: usize) -> u64 {
    let span = (WIDTH - 2 * LEFT) as f64;
    let scale = map
        .highest_user_address
        .saturating_add(1)
        .next_power_of_two();
    let end = map.highest_user_address as f64 / scale as f64 * span;
    let _ = writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"{top}\" class=\"head\">Address space (free space in grey)</text>\n<g class=\"overview\"><rect x=\"{LEFT}\" y=\"{}\" width=\"{end:.2}\" height=\"22\" fill=\"#e8e8e8\"/>",
        top + 8
    );
    for r in &map.regions {
        let x = LEFT as f64 + r.vad.start as f64 / scale as f64 * span;
        let size = (r.vad.end + 1 - r.vad.start) / PAGE_SIZE;
        let width = (size as f64 * PAGE_SIZE as f64 / scale as f64 * span).max(2.0);
        // Solid as far as it is committed: a reservation shows as a tint.
        let committed = (size - r.pages(PageClass::Reserved)) as f64 / size.max(1) as f64;
        let _ = writeln!(
            out,
            "<rect x=\"{x:.2}\" y=\"{}\" width=\"{width:.2}\" height=\"22\" fill=\"{}\" fill-opacity=\"{:.2}\"><title>0x{:0w$x} {}</title></rect>",
            top + 8,
            type_colour(r.vad.type_name),
            0.4 + 0.6 * committed,
            r.vad.start,
            r.vad.type_name
        );
    }
    for q in 0..=4u64 {
        let va = if q == 4 {
            map.highest_user_address
        } else {
            scale / 4 * q
        };
        let x = LEFT as f64 + q as f64 / 4.0 * span;
        let anchor = ["start", "middle", "middle", "middle", "end"][q as usize];
        let _ = writeln!(
            out,
            "<line x1=\"{x:.0}\" y1=\"{}\" x2=\"{x:.0}\" y2=\"{}\" stroke=\"#555\"/><text x=\"{x:.0}\" y=\"{}\" text-anchor=\"{anchor}\" class=\"axis\">0x{va:0w$x}</text>",
            top + 30,
            top + 34,
            top + 44
        );
    }
    out.push_str("</g>\n");
    top + 64
}

/// What the opacities mean; returns the y below.
fn legend(out: &mut String, top: u64) -> u64 {
    let mut x = LEFT;
    for class in [
        PageClass::Resident,
        PageClass::Committed,
        PageClass::Reserved,
    ] {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"22\" height=\"11\" fill=\"#4f8fd6\" fill-opacity=\"{}\" stroke=\"#4f8fd6\"/><text x=\"{}\" y=\"{top}\">{} pages</text>",
            top - 10,
            class_opacity(class),
            x + 28,
            class_name(class)
        );
        x += 170;
    }
    out.push('\n');
    top + ROW + 8
}

/// One region's row: its numbers, then its pages as a bar.
fn region_row(out: &mut String, r: &MapRegion, y: u64, w: usize) {
    let v = &r.vad;
    let colour = type_colour(v.type_name);
    let size = (v.end + 1 - v.start) / PAGE_SIZE;
    let _ = write!(
        out,
        "<g class=\"region\" data-start=\"0x{:x}\" data-end=\"0x{:x}\" data-type=\"{}\" data-committed=\"{}\" data-resident=\"{}\"><rect x=\"{LEFT}\" y=\"{}\" width=\"11\" height=\"11\" fill=\"{colour}\"/>",
        v.start,
        v.end,
        v.type_name,
        size - r.pages(PageClass::Reserved),
        r.pages(PageClass::Resident),
        y - 10
    );
    let cells = [
        (LEFT + 16, format!("0x{:0w$x}", v.start)),
        (LEFT + 16 + 9 * w as u64, v.type_name.to_string()),
        (LEFT + 100 + 9 * w as u64, kb(size)),
        (
            LEFT + 170 + 9 * w as u64,
            kb(size - r.pages(PageClass::Reserved)),
        ),
        (LEFT + 240 + 9 * w as u64, kb(r.pages(PageClass::Resident))),
        (LEFT + 310 + 9 * w as u64, v.protection.name()),
    ];
    for (x, text) in cells {
        let _ = write!(out, "<text x=\"{x}\" y=\"{y}\">{}</text>", escape(&text));
    }
    // The section's name, cut to fit before the bar (whole in its tooltip).
    let name = v.name.as_deref().unwrap_or("");
    let mut short: String = name.chars().take(DETAIL_CHARS).collect();
    if name.chars().count() > DETAIL_CHARS {
        short.pop();
        short.push('~');
    }
    let _ = write!(
        out,
        "<text x=\"{DETAIL_X}\" y=\"{y}\" class=\"detail\">{}<title>{}</title></text>",
        escape(&short),
        escape(name)
    );
    let (columns, bars) = bar_columns(r);
    for (first, n, class) in bars {
        let _ = write!(
            out,
            "<rect x=\"{:.2}\" y=\"{}\" width=\"{:.2}\" height=\"12\" fill=\"{colour}\" fill-opacity=\"{}\" class=\"{}\"/>",
            BAR_X as f64 + (first * BAR) as f64 / columns as f64,
            y - 10,
            (n * BAR) as f64 / columns as f64,
            class_opacity(class),
            class_name(class)
        );
    }
    let _ = writeln!(
        out,
        "<rect x=\"{BAR_X}\" y=\"{}\" width=\"{BAR}\" height=\"12\" fill=\"none\" stroke=\"{colour}\"/></g>",
        y - 10
    );
}

/// The details table's header; returns the y of the first row.
fn detail_header(out: &mut String, top: u64, w: usize) -> u64 {
    let heads = [
        (LEFT + 16, "Address"),
        (LEFT + 16 + 9 * w as u64, "Type"),
        (LEFT + 100 + 9 * w as u64, "Size"),
        (LEFT + 170 + 9 * w as u64, "Committed"),
        (LEFT + 240 + 9 * w as u64, "Resident"),
        (LEFT + 310 + 9 * w as u64, "Protection"),
        (DETAIL_X, "Details"),
        (BAR_X, "Pages"),
    ];
    for (x, h) in heads {
        let _ = write!(out, "<text x=\"{x}\" y=\"{top}\" class=\"head\">{h}</text>");
    }
    out.push('\n');
    top + ROW
}

const STYLE: &str = "<style>text{font-family:monospace;font-size:11px;fill:#1a1a1a}\
.title{font-size:15px;font-weight:bold}.head{font-weight:bold}.axis{font-size:10px;fill:#555}\
.detail{fill:#555}</style>";

/// `processes/<name>/map.svg`.
pub fn map_svg(mm: &Mm, pid: Pid) -> MmResult<String> {
    let map = mm.address_map(pid)?;
    let w = if map.highest_user_address > u32::MAX as u64 {
        12
    } else {
        8
    };
    let mut body = String::new();
    header(&mut body, &map, w);
    let mut y = summary(&mut body, &map, 72);
    y = overview(&mut body, &map, y + 8, w);
    y = legend(&mut body, y);
    y = detail_header(&mut body, y, w);
    for r in &map.regions {
        region_row(&mut body, r, y, w);
        y += ROW;
    }
    let height = y + ROW;
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">\n{STYLE}\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n{body}</svg>\n"
    ))
}
