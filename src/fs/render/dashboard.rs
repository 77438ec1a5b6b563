//! `system/dashboard.html`: a page to open from the mount in a browser
//! (file:///MOUNT/system/dashboard.html). It shows the key numbers and the
//! three pictures the mount draws: `history.svg` (beside it), `../pfn/map.png`
//! and the address space of the user process with the largest working set
//! (System's if there is none), `../processes/<name>/map.svg`, with a table of
//! the processes linking to their own maps.
//!
//! The numbers are written into the page when it is opened, like every
//! generated file; a `<meta http-equiv="refresh">` reopens the page every
//! second, which on a file:// page is the simplest refresh there is (no
//! script, no server) and brings new numbers with it. Each picture's address
//! carries a query that changes at every opening, so the browser fetches it
//! again rather than showing the copy it has (a file:// URL's query does not
//! change the file read).
//!
//! The page is HTML5 that is also well-formed XML (every element closed,
//! attributes quoted), so the tests read it with an XML parser.

use std::fmt::Write;

use crate::mm::Mm;
use crate::mm::base::types::{PAGE_SIZE, Pid};
use crate::mm::inspect::{FAULT_KINDS, HistorySample, ProcessStatus};
use crate::mm::process::ProcessState;
// One escaping for every picture and page (`map_svg.rs`).
use super::map_svg::escape;

/// Rows of the process table (the largest working sets first).
const MAX_PROCESS_ROWS: usize = 20;

const STYLE: &str = "body{font-family:sans-serif;margin:16px;color:#222;background:#f6f6f6}\
h1{font-size:20px;margin:0 0 4px}p.sub{margin:0 0 12px;color:#555;font-size:13px}\
.numbers{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:8px;margin-bottom:12px}\
.tile{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 10px}\
.tile .label{display:block;font-size:12px;color:#666;text-transform:uppercase}\
.tile .value{display:block;font-size:22px;font-weight:bold;margin:2px 0}\
.tile .detail{display:block;font-size:12px;color:#555}\
.pictures{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:12px}\
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}\
figcaption{font-size:13px;font-weight:bold;margin-bottom:6px}\
figure img{display:block;max-width:100%;height:auto}\
img.pixels{width:100%;image-rendering:pixelated}\
table{border-collapse:collapse;background:#fff;margin-top:12px;font-size:13px}\
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#eee}\
td.name,th.name{text-align:left}";

/// What the page shows, gathered before anything is written.
struct Numbers {
    meminfo: Vec<(&'static str, u64)>,
    now_ms: u64,
    last: Option<HistorySample>,
    /// Live processes, the largest working set first.
    processes: Vec<ProcessStatus>,
}

impl Numbers {
    fn get(&self, key: &str) -> u64 {
        self.meminfo
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, v)| *v)
    }
}

/// `system/dashboard.html`.
pub fn dashboard_html(mm: &Mm) -> String {
    let mut processes: Vec<ProcessStatus> = mm
        .processes()
        .into_iter()
        // A process that ended since the listing is simply not shown.
        .filter_map(|p| mm.process_status(p.pid).ok())
        .filter(|s| s.state != ProcessState::Terminated)
        .collect();
    processes.sort_by(|a, b| (b.working_set_size, a.pid.0).cmp(&(a.working_set_size, b.pid.0)));
    let numbers = Numbers {
        meminfo: mm.meminfo(),
        now_ms: mm.clock().now_ms(),
        last: mm.history().last().copied(),
        processes,
    };
    let c = mm.config();
    let machine = format!(
        "{} · {} of RAM ({} pages of {} KB) · clock {}",
        c.arch.name(),
        size(c.ram_bytes),
        c.physical_pages(),
        PAGE_SIZE / 1024,
        c.clock.name()
    );
    page(&numbers, &machine, &nonce())
}

/// Changes at every opening (module docs): wall-clock nanoseconds, since the
/// simulated clock stands still between ticks while the pictures may not.
fn nonce() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

fn page(n: &Numbers, machine: &str, nonce: &str) -> String {
    let available = n.get("AvailablePages");
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
         <meta charset=\"utf-8\"/>\n<meta http-equiv=\"refresh\" content=\"1\"/>\n\
         <title>mmfs: {} available</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>mmfs dashboard</h1>\n<p class=\"sub\">Simulated time {} s · {} · made when \
         opened; the page reopens itself every second.</p>\n",
        size(available.saturating_mul(PAGE_SIZE)),
        n.now_ms / 1000,
        escape(machine)
    );
    tiles(&mut out, n);
    pictures(&mut out, n, nonce);
    process_table(&mut out, n);
    out.push_str("</body>\n</html>\n");
    out
}

/// The key numbers, one tile each.
fn tiles(out: &mut String, n: &Numbers) {
    let pages = |k| n.get(k);
    let available = pages("AvailablePages");
    let (charge, limit) = (pages("CommitCharge"), pages("CommitLimit"));
    out.push_str("<div class=\"numbers\">\n");
    tile(
        out,
        "available",
        "Available",
        &size(available.saturating_mul(PAGE_SIZE)),
        &format!(
            "<span id=\"available-pages\">{available}</span> pages: zeroed {}, free {}, standby {}",
            pages("ZeroedPages"),
            pages("FreePages"),
            pages("StandbyPages")
        ),
    );
    tile(
        out,
        "commit",
        "Commit",
        &format!(
            "{} / {}",
            size(charge.saturating_mul(PAGE_SIZE)),
            size(limit.saturating_mul(PAGE_SIZE))
        ),
        &format!(
            "<span id=\"commit-charge\">{charge}</span> of <span id=\"commit-limit\">{limit}</span> pages ({}%), peak {}",
            charge.saturating_mul(100) / limit.max(1),
            pages("CommitPeak")
        ),
    );
    faults_tile(out, n);
    tile(
        out,
        "modified",
        "Modified",
        &size(pages("ModifiedPages").saturating_mul(PAGE_SIZE)),
        &format!(
            "<span id=\"modified-pages\">{}</span> pages, {} no-write",
            pages("ModifiedPages"),
            pages("ModifiedNoWritePages")
        ),
    );
    tile(
        out,
        "active",
        "Active",
        &size(pages("ActivePages").saturating_mul(PAGE_SIZE)),
        &format!(
            "<span id=\"active-pages\">{}</span> pages in use, {} in transition",
            pages("ActivePages"),
            pages("TransitionPages")
        ),
    );
    tile(
        out,
        "processes",
        "Processes",
        &n.processes.len().to_string(),
        &format!(
            "{} pages in working sets",
            n.processes
                .iter()
                .fold(0u64, |sum, p| sum.saturating_add(p.working_set_size))
        ),
    );
    out.push_str("</div>\n");
}

/// Faults per second over the last sampled second, by kind.
fn faults_tile(out: &mut String, n: &Numbers) {
    let Some(s) = n.last else {
        tile(
            out,
            "faults",
            "Faults per second",
            "-",
            "no second sampled yet",
        );
        return;
    };
    let total: f64 = (0..FAULT_KINDS.len()).map(|k| s.fault_rate(k)).sum();
    let kinds: Vec<String> = FAULT_KINDS
        .iter()
        .enumerate()
        .filter(|(k, _)| s.faults[*k] > 0)
        .map(|(k, name)| format!("{name} {}", rate(s.fault_rate(k))))
        .collect();
    let detail = format!(
        "in the second to {} s: {}",
        s.time_ms / 1000,
        if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(", ")
        }
    );
    tile(
        out,
        "faults",
        "Faults per second",
        &format!("<span id=\"faults-per-second\">{}</span>", rate(total)),
        &detail,
    );
}

fn tile(out: &mut String, id: &str, label: &str, value: &str, detail: &str) {
    let _ = writeln!(
        out,
        "<div class=\"tile\" id=\"{id}\"><span class=\"label\">{label}</span>\
         <span class=\"value\">{value}</span><span class=\"detail\">{detail}</span></div>"
    );
}

/// The three pictures: the history on the left, the physical map and the
/// largest working set's address space on the right.
fn pictures(out: &mut String, n: &Numbers, nonce: &str) {
    let _ = write!(
        out,
        "<div class=\"pictures\">\n<figure><figcaption>The last ten minutes \
         (<a href=\"history.svg\">history.svg</a>)</figcaption>\
         <a href=\"history.svg\"><img src=\"history.svg?n={nonce}\" width=\"1000\" height=\"770\" \
         alt=\"list sizes, commit charge and faults per second over time\"/></a></figure>\n\
         <div>\n<figure><figcaption>Physical memory, a pixel per page \
         (<a href=\"../pfn/map.png\">pfn/map.png</a>)</figcaption>\
         <img class=\"pixels\" src=\"../pfn/map.png?n={nonce}\" \
         alt=\"every physical page coloured by its list\"/></figure>\n"
    );
    // The user process with the largest working set (the list's order), or
    // System when there is none: what a user watches is their own.
    let featured = n
        .processes
        .iter()
        .find(|p| p.pid != Pid::SYSTEM)
        .or(n.processes.first());
    match featured {
        Some(p) => {
            let (name, path) = (escape(&p.name), url_segment(&p.name));
            let why = if p.pid == Pid::SYSTEM {
                "no user process runs".to_string()
            } else {
                format!(
                    "the user process with the largest working set, {} pages",
                    p.working_set_size
                )
            };
            let _ = writeln!(
                out,
                "<figure style=\"margin-top:12px\"><figcaption>Address space of {name} \
                 ({why}; <a href=\"../processes/{path}/map.svg\">processes/{name}/map.svg</a>)\
                 </figcaption><img src=\"../processes/{path}/map.svg?n={nonce}\" \
                 alt=\"the address space of {name}\"/></figure>"
            );
        }
        None => out.push_str("<p>No process.</p>\n"),
    }
    out.push_str("</div>\n</div>\n");
}

/// The processes, the largest working set first, each linking to its map.
fn process_table(out: &mut String, n: &Numbers) {
    out.push_str(
        "<table id=\"process-table\">\n<tr><th class=\"name\">process</th><th>pid</th>\
         <th class=\"name\">state</th><th>working set</th><th>private</th>\
         <th>commit</th><th>page faults</th></tr>\n",
    );
    for p in n.processes.iter().take(MAX_PROCESS_ROWS) {
        let _ = writeln!(
            out,
            "<tr><td class=\"name\"><a href=\"../processes/{}/map.svg\">{}</a></td>\
             <td>{}</td><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            url_segment(&p.name),
            escape(&p.name),
            p.pid.0,
            p.state.name(),
            pages_and_size(p.working_set_size),
            pages_and_size(p.private_pages),
            pages_and_size(p.commit_charge),
            p.page_fault_count
        );
    }
    if n.processes.len() > MAX_PROCESS_ROWS {
        let _ = writeln!(
            out,
            "<tr><td class=\"name\" colspan=\"7\">and {} more (see processes/)</td></tr>",
            n.processes.len() - MAX_PROCESS_ROWS
        );
    }
    out.push_str("</table>\n");
}

fn pages_and_size(pages: u64) -> String {
    format!("{pages} ({})", size(pages.saturating_mul(PAGE_SIZE)))
}

/// Bytes in KB, MB or GB, with one decimal below ten (also `history.svg`'s
/// legend).
pub(super) fn size(bytes: u64) -> String {
    let (value, unit) = match bytes {
        b if b >= 1 << 30 => (b as f64 / (1u64 << 30) as f64, "GB"),
        b if b >= 1 << 20 => (b as f64 / (1u64 << 20) as f64, "MB"),
        b => (b as f64 / 1024.0, "KB"),
    };
    let text = if value < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    format!("{} {unit}", text.strip_suffix(".0").unwrap_or(&text))
}

fn rate(r: f64) -> String {
    let text = if r < 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    };
    text.strip_suffix(".0").unwrap_or(&text).to_string()
}

/// A name as one segment of a relative URL: process names are letters,
/// digits and `. _ - + @` (all safe), but anything else is percent-encoded
/// all the same.
fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"._-+@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::node::{DASHBOARD_SIZE, File, SystemFile};
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::protection::Protection;
    use crate::mm::base::types::Arch;
    use crate::mm::vad::AllocRequest;

    /// Parses the page as XML (its `<!DOCTYPE html>` is a DTD to the parser).
    fn parse(html: &str) -> roxmltree::Document<'_> {
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        roxmltree::Document::parse_with_options(html, options).expect("well-formed")
    }

    fn by_id<'a>(doc: &'a roxmltree::Document, id: &str) -> roxmltree::Node<'a, 'a> {
        doc.descendants()
            .find(|n| n.attribute("id") == Some(id))
            .unwrap_or_else(|| panic!("no #{id}"))
    }

    fn text(n: roxmltree::Node) -> String {
        n.descendants()
            .filter(|d| d.is_text())
            .filter_map(|d| d.text())
            .collect()
    }

    fn machine_with_load() -> Mm {
        let mm = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        for (name, pages) in [("small", 10u64), ("big", 300)] {
            let pid = mm.create_process(name).unwrap();
            let mut req = AllocRequest::new(0, pages * PAGE_SIZE, Protection::READWRITE);
            (req.reserve, req.commit) = (true, true);
            let (base, _) = mm.allocate(pid, &req).unwrap();
            mm.touch_pages(pid, base.0, pages, true).unwrap();
        }
        mm
    }

    /// The page parses as XML, shows `meminfo`'s numbers and the last
    /// second's faults, refreshes every second and shows the three pictures
    /// (the process map of the largest working set).
    #[test]
    fn the_page_shows_meminfo_and_the_pictures() {
        let mm = machine_with_load();
        mm.tick(1000).unwrap();
        let bytes = crate::fs::render::render(&mm, File::System(SystemFile::Dashboard)).unwrap();
        assert_eq!(
            bytes.len() as u64,
            DASHBOARD_SIZE,
            "padded to what stat says"
        );
        let html = String::from_utf8(bytes).unwrap();
        let doc = parse(&html);
        let meminfo = mm.meminfo();
        let get = |k: &str| meminfo.iter().find(|(n, _)| *n == k).unwrap().1.to_string();
        for (id, key) in [
            ("available-pages", "AvailablePages"),
            ("commit-charge", "CommitCharge"),
            ("commit-limit", "CommitLimit"),
            ("modified-pages", "ModifiedPages"),
            ("active-pages", "ActivePages"),
        ] {
            assert_eq!(text(by_id(&doc, id)), get(key), "{id}");
        }
        // 310 demand-zero faults (and their page tables') in the first second.
        let last = mm.history().last().copied().unwrap();
        let total: u64 = last.faults.iter().sum();
        assert!(total >= 310, "{last:?}");
        assert_eq!(text(by_id(&doc, "faults-per-second")), total.to_string());
        let refresh = doc
            .descendants()
            .find(|n| n.attribute("http-equiv") == Some("refresh"))
            .unwrap();
        assert_eq!(refresh.attribute("content"), Some("1"));
        let images: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("img"))
            .filter_map(|n| n.attribute("src"))
            .map(|s| s.split('?').next().unwrap())
            .collect();
        assert_eq!(
            images,
            ["history.svg", "../pfn/map.png", "../processes/big/map.svg"]
        );
        let rows = by_id(&doc, "process-table")
            .children()
            .filter(|n| n.has_tag_name("tr"))
            .count();
        assert_eq!(rows, 1 + 3, "a header and big, small, System");
    }

    #[test]
    fn before_the_first_second_there_is_no_rate() {
        let mm = machine_with_load();
        let html = dashboard_html(&mm);
        let doc = parse(&html);
        assert!(text(by_id(&doc, "faults")).contains("no second sampled yet"));
    }

    #[test]
    fn names_are_escaped_and_sizes_readable() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(url_segment("a+b@c.d_e-f"), "a+b@c.d_e-f");
        assert_eq!(url_segment("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(size(4096), "4 KB");
        assert_eq!(size(3 << 19), "1.5 MB");
        assert_eq!(size(64 << 20), "64 MB");
        assert_eq!(size(3 << 30), "3 GB");
        assert_eq!(rate(2.5), "2.5");
        assert_eq!(rate(1234.4), "1234");
    }

    /// The largest page there can be fits the size `stat` reports: 20 rows of
    /// 64-character names, every number at its widest.
    #[test]
    fn the_largest_page_fits_its_fixed_size() {
        let mut processes = Vec::new();
        let mm = machine_with_load();
        let template = mm.process_status(crate::mm::base::types::Pid(4)).unwrap();
        for i in 0..30u64 {
            let mut p = template.clone();
            p.name = format!("{:@<64}", i);
            (p.working_set_size, p.private_pages) = (u64::MAX, u64::MAX);
            (p.commit_charge, p.page_fault_count) = (u64::MAX, u64::MAX);
            processes.push(p);
        }
        let mut last = HistorySample {
            time_ms: u64::MAX,
            interval_ms: 1,
            ..Default::default()
        };
        last.faults = [u64::MAX / 8; FAULT_KINDS.len()];
        let n = Numbers {
            meminfo: mm
                .meminfo()
                .into_iter()
                .map(|(k, _)| (k, u64::MAX))
                .collect(),
            now_ms: u64::MAX,
            last: Some(last),
            processes,
        };
        let html = page(&n, &"x".repeat(200), &u128::MAX.to_string());
        assert!(html.len() < DASHBOARD_SIZE as usize / 2, "{}", html.len());
        parse(&html);
    }
}
