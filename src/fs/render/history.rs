//! `system/history.svg`: the last ten minutes of simulated time, a sample a
//! second (`Mm::history`): the PFN lists stacked (RAMMap's list counts, over
//! time), the commit charge against its limit, and the faults per second of
//! each kind (Performance Monitor's Memory counters).
//!
//! Hand-written SVG rather than `plotters`, for size and speed: the picture
//! is three panels of polylines that a few `write!`s produce in about a
//! millisecond for 600 samples, at about 120 KB (a vertex is 12 bytes).
//! `plotters` would bring its dependency tree into the build (text layout
//! and font handling, even for SVG), write presentation attributes on every
//! element instead of one style sheet, and draw nothing a browser would show
//! differently. The output is plain SVG 1.1 (no script, no external
//! reference), so it also works inside an `<img>` of the dashboard.
//!
//! Every series is drawn with one vertex per sample plus one at the start of
//! the first sample's second (a sample describes the second that ends at its
//! time), so one sample is a one-second segment and none is an empty frame
//! with a note. The time axis is ten minutes wide: from boot to 600 s until
//! then, the last ten minutes after.

use std::fmt::Write;

use crate::mm::Mm;
use crate::mm::base::types::PAGE_SIZE;
use crate::mm::inspect::{FAULT_KINDS, HISTORY_SAMPLES, HistorySample, SAMPLE_MS};
use crate::mm::pfn::PageLocation;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 770.0;
/// The plots' left edge (room for the value labels) and width.
const LEFT: f64 = 70.0;
const PLOT_W: f64 = 700.0;
/// Where the legends start.
const LEGEND_X: f64 = LEFT + PLOT_W + 24.0;
/// The time axis's width: the ring's ten minutes.
const WINDOW_MS: u64 = HISTORY_SAMPLES as u64 * SAMPLE_MS;

/// The stacked layers, bottom first, with their colours: in use at the
/// bottom, then what is on its way out (modified, standby), then what is
/// free. `bad` is on top, usually empty.
const LAYERS: [(PageLocation, &str); 8] = [
    (PageLocation::Active, "#2e7d32"),
    (PageLocation::Transition, "#8e24aa"),
    (PageLocation::Modified, "#ef6c00"),
    (PageLocation::ModifiedNoWrite, "#ffb74d"),
    (PageLocation::Standby, "#1e88e5"),
    (PageLocation::Free, "#9e9e9e"),
    (PageLocation::Zeroed, "#d0d0d0"),
    (PageLocation::Bad, "#c62828"),
];

/// A colour per entry of `FAULT_KINDS`.
const FAULT_COLOURS: [&str; FAULT_KINDS.len()] = [
    "#43a047", "#1e88e5", "#e53935", "#8e24aa", "#fb8c00", "#6d4c41",
];

const STYLE: &str = "text{font-family:sans-serif;font-size:12px;fill:#333}\
.title{font-size:15px;font-weight:bold}.panel{font-size:13px;font-weight:bold}\
.grid{stroke:#e4e4e4;stroke-width:1}.axis{stroke:#666;stroke-width:1;fill:none}\
.note{fill:#888;font-style:italic}";

/// The time axis: which simulated milliseconds the plots' width spans.
struct TimeAxis {
    from_ms: u64,
    to_ms: u64,
}

impl TimeAxis {
    fn new(samples: &[HistorySample]) -> TimeAxis {
        let to_ms = samples.last().map_or(0, |s| s.time_ms).max(WINDOW_MS);
        let first = samples.first().map_or(to_ms, first_start_ms);
        TimeAxis {
            from_ms: first.min(to_ms - WINDOW_MS),
            to_ms,
        }
    }

    fn x(&self, t_ms: u64) -> f64 {
        let span = (self.to_ms - self.from_ms).max(1) as f64;
        LEFT + PLOT_W * t_ms.saturating_sub(self.from_ms) as f64 / span
    }
}

/// Where the first sample's interval starts (boot for the very first).
fn first_start_ms(s: &HistorySample) -> u64 {
    s.time_ms.saturating_sub(s.interval_ms)
}

/// One panel: a value axis from 0 to `y_max` over `height` pixels.
struct Panel {
    title: &'static str,
    unit: &'static str,
    top: f64,
    height: f64,
    y_max: f64,
    step: f64,
}

impl Panel {
    /// A panel whose axis ends at the first round value at or above `max`.
    fn new(title: &'static str, unit: &'static str, top: f64, height: f64, max: f64) -> Panel {
        let step = nice_step(max / 4.0);
        let y_max = ((max / step).ceil() * step).max(step);
        Panel::exact(title, unit, top, height, y_max)
    }

    /// A panel whose axis ends at `max` itself (RAM: the stack's total).
    fn exact(title: &'static str, unit: &'static str, top: f64, height: f64, max: f64) -> Panel {
        let y_max = if max > 0.0 && max.is_finite() {
            max
        } else {
            1.0
        };
        let step = nice_step(y_max / 4.0);
        Panel {
            title,
            unit,
            top,
            height,
            y_max,
            step,
        }
    }

    fn y(&self, v: f64) -> f64 {
        self.top + self.height * (1.0 - (v / self.y_max).clamp(0.0, 1.0))
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// The title, grid, value labels, time labels and frame.
    fn axes(&self, out: &mut String, time: &TimeAxis) {
        let _ = write!(
            out,
            "<text class=\"panel\" x=\"{LEFT}\" y=\"{:.1}\">{}</text>",
            self.top - 10.0,
            self.title
        );
        let mid = self.top + self.height / 2.0;
        let _ = write!(
            out,
            "<text x=\"16\" y=\"{mid:.1}\" text-anchor=\"middle\" \
             transform=\"rotate(-90 16 {mid:.1})\">{}</text>",
            self.unit
        );
        // Round values, then the top (unless a round value is close below it).
        let rounds = (0..)
            .map(|i| i as f64 * self.step)
            .take_while(|v| *v < self.y_max - self.step / 4.0);
        for v in rounds.chain([self.y_max]) {
            let y = self.y(v);
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT + PLOT_W,
                LEFT - 6.0,
                y + 4.0,
                number(v)
            );
        }
        let first_tick = time.from_ms.div_ceil(60_000) * 60_000;
        for t in (first_tick..=time.to_ms).step_by(60_000) {
            let x = time.x(t);
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} s</text>",
                self.top,
                self.bottom(),
                self.bottom() + 15.0,
                t / 1000
            );
        }
        let _ = write!(
            out,
            "<rect class=\"axis\" x=\"{LEFT}\" y=\"{:.1}\" width=\"{PLOT_W}\" height=\"{:.1}\"/>",
            self.top, self.height
        );
    }

    /// The note drawn instead of data when there is none.
    fn no_samples(&self, out: &mut String) {
        let _ = write!(
            out,
            "<text class=\"note\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no sample yet: \
             one is taken each simulated second (with --clock manual, at each tick)</text>",
            LEFT + PLOT_W / 2.0,
            self.top + self.height / 2.0
        );
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw` (and at least 1).
fn nice_step(raw: f64) -> f64 {
    let raw = if raw.is_finite() { raw.max(1.0) } else { 1.0 };
    let mut p = 1.0;
    while p * 10.0 <= raw {
        p *= 10.0;
    }
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

/// A value for a label: whole numbers without decimals, small ones with one
/// or two (a few pages are 0.01 MB, not 0).
fn number(v: f64) -> String {
    let text = if v >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    match text.strip_suffix(".0") {
        Some(whole) => whole.to_string(),
        None => text,
    }
}

/// Pages as MB (in floating point: no count can overflow it).
fn mb(pages: u64) -> f64 {
    pages as f64 * (PAGE_SIZE as f64 / (1 << 20) as f64)
}

/// Pages as a size for a legend (KB, MB or GB).
fn bytes(pages: u64) -> String {
    super::dashboard::size(pages.saturating_mul(PAGE_SIZE))
}

/// The pages of the first `layers` of `LAYERS` in `s`, as MB.
fn stacked_mb(s: &HistorySample, layers: usize) -> f64 {
    LAYERS[..layers]
        .iter()
        .map(|(l, _)| mb(s.pages_in(*l)))
        .sum()
}

/// The x of every vertex: the start of the first sample's second, then each
/// sample's time.
fn vertex_xs(samples: &[HistorySample], time: &TimeAxis) -> Vec<f64> {
    let mut xs = Vec::with_capacity(samples.len() + 1);
    if let Some(first) = samples.first() {
        xs.push(time.x(first_start_ms(first)));
    }
    xs.extend(samples.iter().map(|s| time.x(s.time_ms)));
    xs
}

/// Appends `x,y` for each vertex: the first sample's value twice (at the
/// start of its second and at its end), then one per sample.
fn push_points(
    out: &mut String,
    xs: &[f64],
    samples: &[HistorySample],
    y: impl Fn(&HistorySample) -> f64,
) {
    let values = samples.first().into_iter().chain(samples);
    for (x, s) in xs.iter().zip(values) {
        let _ = write!(out, "{x:.1},{:.1} ", y(s));
    }
}

/// The lists, stacked: painted from the top layer's cumulative total down,
/// each polygon from the axis to the sum of its layer and those below, so the
/// layers drawn later cover all but their own band.
fn memory_panel(out: &mut String, p: &Panel, time: &TimeAxis, samples: &[HistorySample]) {
    p.axes(out, time);
    if samples.is_empty() {
        p.no_samples(out);
    } else {
        let xs = vertex_xs(samples, time);
        let (left, right) = (xs[0], xs[xs.len() - 1]);
        for k in (0..LAYERS.len()).rev() {
            let (loc, colour) = LAYERS[k];
            let _ = write!(
                out,
                "<polygon class=\"layer-{}\" fill=\"{colour}\" points=\"{left:.1},{:.1} ",
                loc.name(),
                p.bottom()
            );
            push_points(out, &xs, samples, |s| p.y(stacked_mb(s, k + 1)));
            let _ = write!(out, "{right:.1},{:.1}\"/>", p.bottom());
        }
    }
    let last = samples.last();
    let rows: Vec<(String, &str, String)> = LAYERS
        .iter()
        .rev()
        .map(|(loc, colour)| {
            let value = last.map_or("-".into(), |s| bytes(s.pages_in(*loc)));
            (loc.name().to_string(), *colour, value)
        })
        .collect();
    legend(out, p.top, &rows, true);
}

/// A line series: its class, colour, extra stroke attributes and value.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&HistorySample) -> u64,
);

/// The commit charge (solid) and the commit limit (dashed).
fn commit_panel(out: &mut String, p: &Panel, time: &TimeAxis, samples: &[HistorySample]) {
    p.axes(out, time);
    let series: [Series; 2] = [
        ("commit-charge", "#6a1b9a", "", |s| s.commit_charge),
        (
            "commit-limit",
            "#c62828",
            " stroke-dasharray=\"6 4\"",
            |s| s.commit_limit,
        ),
    ];
    if samples.is_empty() {
        p.no_samples(out);
    }
    let xs = vertex_xs(samples, time);
    let mut rows = Vec::new();
    for (name, colour, dash, value) in series {
        if !samples.is_empty() {
            line(out, name, colour, dash, &xs, samples, |s| p.y(mb(value(s))));
        }
        let now = samples.last().map_or("-".into(), |s| bytes(value(s)));
        rows.push((name.replace('-', " "), colour, now));
    }
    legend(out, p.top, &rows, false);
}

/// Faults per second of each kind, one line each.
fn fault_panel(out: &mut String, p: &Panel, time: &TimeAxis, samples: &[HistorySample]) {
    p.axes(out, time);
    if samples.is_empty() {
        p.no_samples(out);
    }
    let xs = vertex_xs(samples, time);
    let mut rows = Vec::new();
    for (kind, name) in FAULT_KINDS.iter().enumerate() {
        let colour = FAULT_COLOURS[kind];
        if !samples.is_empty() {
            let class = format!("faults-{name}");
            line(out, &class, colour, "", &xs, samples, |s| {
                p.y(s.fault_rate(kind))
            });
        }
        let now = samples
            .last()
            .map_or("-".into(), |s| format!("{}/s", number(s.fault_rate(kind))));
        rows.push((name.to_string(), colour, now));
    }
    legend(out, p.top, &rows, false);
}

/// One series as a polyline, with a dot at its latest value.
fn line(
    out: &mut String,
    class: &str,
    colour: &str,
    dash: &str,
    xs: &[f64],
    samples: &[HistorySample],
    y: impl Fn(&HistorySample) -> f64,
) {
    let _ = write!(
        out,
        "<polyline class=\"{class}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash} points=\""
    );
    push_points(out, xs, samples, &y);
    out.push_str("\"/>");
    if let (Some(x), Some(s)) = (xs.last(), samples.last()) {
        let _ = write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{colour}\"/>",
            y(s)
        );
    }
}

/// A legend beside a panel: a swatch (a box for areas, a line for lines), the
/// series' name and its latest value.
fn legend(out: &mut String, top: f64, rows: &[(String, &str, String)], boxes: bool) {
    for (i, (name, colour, value)) in rows.iter().enumerate() {
        let y = top + 12.0 + 18.0 * i as f64;
        if boxes {
            let _ = write!(
                out,
                "<rect x=\"{LEGEND_X}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>",
                y - 10.0
            );
        } else {
            let _ = write!(
                out,
                "<line x1=\"{LEGEND_X}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/>",
                y - 4.0,
                LEGEND_X + 12.0,
                y - 4.0
            );
        }
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{y:.1}\">{name}</text><text x=\"{}\" y=\"{y:.1}\" text-anchor=\"end\">{value}</text>",
            LEGEND_X + 18.0,
            WIDTH - 10.0
        );
    }
}

/// `system/history.svg`.
pub fn history_svg(mm: &Mm) -> String {
    render(&mm.history(), u64::from(mm.physical_pages()))
}

/// The picture of `samples` on a machine of `physical` pages.
fn render(samples: &[HistorySample], physical: u64) -> String {
    let time = TimeAxis::new(samples);
    let ram = samples
        .iter()
        .map(|s| stacked_mb(s, LAYERS.len()))
        .reduce(f64::max)
        .unwrap_or(mb(physical));
    let commit = samples
        .iter()
        .map(|s| s.commit_limit.max(s.commit_charge))
        .max()
        .unwrap_or(0);
    let faults = samples
        .iter()
        .flat_map(|s| (0..FAULT_KINDS.len()).map(|k| s.fault_rate(k)))
        .fold(0.0, f64::max);
    let memory = Panel::exact("Physical pages by list (stacked)", "MB", 60.0, 250.0, ram);
    let commit = Panel::new("Commit charge and limit", "MB", 370.0, 140.0, mb(commit));
    let faults = Panel::new(
        "Page faults per second, by kind",
        "faults per second",
        570.0,
        150.0,
        faults.max(10.0),
    );
    let mut out = String::with_capacity(16 * 1024 + samples.len() * 160);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{WIDTH}\" \
         height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" data-samples=\"{}\">\n\
         <title>mmfs: the last ten minutes of simulated time</title><style>{STYLE}</style>\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <text class=\"title\" x=\"{LEFT}\" y=\"24\">Memory over the last 10 minutes of simulated time, a sample a second</text>\
         <text x=\"{}\" y=\"24\" text-anchor=\"end\">{}</text>\n",
        samples.len(),
        WIDTH - 10.0,
        match samples.last() {
            Some(last) => format!(
                "{} samples, latest at {} s",
                samples.len(),
                last.time_ms / 1000
            ),
            None => "no samples yet".to_string(),
        }
    );
    memory_panel(&mut out, &memory, &time, samples);
    out.push('\n');
    commit_panel(&mut out, &commit, &time, samples);
    out.push('\n');
    fault_panel(&mut out, &faults, &time, samples);
    let _ = write!(
        out,
        "\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">simulated time (seconds since boot)</text>\n</svg>\n",
        LEFT + PLOT_W / 2.0,
        HEIGHT - 12.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::protection::Protection;
    use crate::mm::base::types::Arch;
    use crate::mm::vad::AllocRequest;

    fn machine() -> Mm {
        Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap()
    }

    /// The vertices of a `points` attribute.
    fn points(node: roxmltree::Node) -> Vec<(f64, f64)> {
        node.attribute("points")
            .unwrap()
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    fn by_class<'a>(doc: &'a roxmltree::Document, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .collect()
    }

    /// Parses the picture and checks what every picture must have: the
    /// sample count, and per series a vertex per sample plus the start of
    /// the first, all inside the plots.
    fn check(svg: &str, samples: usize) -> roxmltree::Document<'_> {
        let doc = roxmltree::Document::parse(svg).expect("history.svg is XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.attribute("data-samples"),
            Some(samples.to_string().as_str())
        );
        let vertices = if samples == 0 { 0 } else { samples + 1 };
        let mut series = vec!["commit-charge".to_string(), "commit-limit".to_string()];
        series.extend(FAULT_KINDS.iter().map(|k| format!("faults-{k}")));
        for class in &series {
            let lines = by_class(&doc, class);
            assert_eq!(lines.len(), usize::from(samples > 0), "{class}");
            for l in lines {
                assert_eq!(points(l).len(), vertices, "{class}");
            }
        }
        for (loc, _) in LAYERS {
            let polys = by_class(&doc, &format!("layer-{}", loc.name()));
            assert_eq!(polys.len(), usize::from(samples > 0));
            for p in polys {
                let pts = points(p);
                assert_eq!(pts.len(), vertices + 2, "{loc:?}: and two on the axis");
                for (x, y) in pts {
                    assert!((LEFT..=LEFT + PLOT_W).contains(&x), "x {x}");
                    assert!((60.0..=310.0).contains(&y), "y {y}");
                }
            }
        }
        let text: String = doc
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        for label in [
            "MB",
            "faults per second",
            "simulated time",
            "60 s",
            "active",
            "hard",
        ] {
            assert!(text.contains(label), "no {label:?} in {text}");
        }
        doc
    }

    #[test]
    fn no_sample_is_an_empty_frame_with_a_note() {
        let mm = machine();
        let svg = history_svg(&mm);
        check(&svg, 0);
        assert!(svg.contains("no sample yet"));
    }

    #[test]
    fn one_sample_is_a_one_second_segment() {
        let mm = machine();
        mm.tick(1000).unwrap();
        let svg = history_svg(&mm);
        let doc = check(&svg, 1);
        let pts = points(by_class(&doc, "commit-charge")[0]);
        assert!(pts[1].0 > pts[0].0, "{pts:?}");
        assert_eq!(pts[0].1, pts[1].1);
    }

    /// `tick N` with the manual clock: N samples, the legend's values are
    /// `meminfo`'s, and the fault lines rise where the faults were.
    #[test]
    fn ticks_make_samples_and_the_legend_is_meminfo() {
        let mm = machine();
        let pid = mm.create_process("app").unwrap();
        let mut req = AllocRequest::new(0, 1 << 20, Protection::READWRITE);
        (req.reserve, req.commit) = (true, true);
        let (base, _) = mm.allocate(pid, &req).unwrap();
        mm.tick(10_000).unwrap();
        mm.touch_pages(pid, base.0, 200, true).unwrap();
        mm.tick(20_000).unwrap();
        let svg = history_svg(&mm);
        let doc = check(&svg, 30);
        let text: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        let meminfo = mm.meminfo();
        let get = |k: &str| meminfo.iter().find(|(n, _)| *n == k).unwrap().1;
        let commit = bytes(get("CommitCharge"));
        let active = bytes(get("ActivePages"));
        assert!(text.contains(&commit.as_str()), "{commit} in {text:?}");
        assert!(text.contains(&active.as_str()), "{active} in {text:?}");
        // 200 demand-zero faults in the eleventh second: that vertex is the
        // line's highest point (the smallest y), the others on the axis.
        let dz = points(by_class(&doc, "faults-demand-zero")[0]);
        let top = dz.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        let peaks: Vec<usize> = (0..dz.len()).filter(|&i| dz[i].1 == top).collect();
        assert_eq!(peaks, vec![11], "{dz:?}");
    }

    #[test]
    fn ten_minutes_and_more_fill_the_width() {
        let mm = machine();
        mm.tick(700_000).unwrap();
        let svg = history_svg(&mm);
        let doc = check(&svg, HISTORY_SAMPLES);
        let pts = points(by_class(&doc, "commit-limit")[0]);
        assert_eq!(pts[0].0, LEFT);
        assert_eq!(pts[pts.len() - 1].0, LEFT + PLOT_W);
        assert!(svg.contains(">120 s<") && svg.contains(">660 s<") && !svg.contains(">60 s<"));
        assert!(svg.len() < 200_000, "{} bytes", svg.len());
    }

    /// The largest picture there can be (600 samples, every number at its
    /// widest) fits the size `stat` reports, and the padded file parses.
    #[test]
    fn the_largest_picture_fits_its_fixed_size() {
        use crate::fs::node::{File, HISTORY_SVG_SIZE, SystemFile};
        let samples: Vec<HistorySample> = (0..HISTORY_SAMPLES as u64)
            .map(|i| HistorySample {
                time_ms: u64::MAX / 2 + i * 1000,
                interval_ms: 1 + i % 2,
                pages: [u64::MAX / 64 - i; 8],
                commit_charge: u64::MAX / 8192 - i,
                commit_limit: u64::MAX / 4096,
                faults: [u64::MAX / 8 - i; FAULT_KINDS.len()],
            })
            .collect();
        let svg = render(&samples, u64::MAX / 8);
        assert!(
            svg.len() < HISTORY_SVG_SIZE as usize * 3 / 4,
            "{}",
            svg.len()
        );
        roxmltree::Document::parse(&svg).expect("XML");
        let mm = machine();
        mm.tick(5000).unwrap();
        let bytes = crate::fs::render::render(&mm, File::System(SystemFile::HistorySvg)).unwrap();
        assert_eq!(bytes.len() as u64, HISTORY_SVG_SIZE);
        check(std::str::from_utf8(&bytes).unwrap(), 5);
    }

    #[test]
    fn steps_are_one_two_five() {
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(3.2), 5.0);
        assert_eq!(nice_step(16.0), 20.0);
        assert_eq!(nice_step(2500.0), 5000.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }
}
