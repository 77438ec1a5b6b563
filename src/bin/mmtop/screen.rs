//! The screen as lines of text for a terminal of a given size: a pure function of
//! two samples, so the unit tests check the layout without a terminal.
//!
//! Top: the title, then memory, the page lists and the system's faults per second,
//! each a "flow" of `name value` items that wraps onto more lines when the window
//! is narrow. Then the processes by working set (columns are dropped, least useful
//! first, when they do not fit), then the system threads (left out when the window
//! is too short to keep three process rows beside them).

use std::path::Path;
use std::time::Duration;

use crate::sample::{Process, Sample, Table};

/// What one refresh shows: the newest sample and the one before it (rates are
/// their difference over the time between them; none on the first refresh).
pub struct View<'a> {
    pub mount: &'a Path,
    pub interval: Duration,
    pub now: &'a Sample,
    pub before: Option<&'a Sample>,
}

/// Width of the labels (`Memory`, `Lists`, `Faults/s`) in front of the flows.
const LABEL: usize = 10;
/// Process rows kept on screen before the threads table gives way.
const MIN_PROCESS_ROWS: usize = 3;

/// The screen, at most `height` lines of at most `width` characters.
pub fn render(view: &View, width: usize, height: usize) -> Vec<String> {
    let mut lines = vec![title(view)];
    lines.extend(flow("Memory", &memory_items(view.now), width));
    lines.extend(flow("Lists", &list_items(view.now), width));
    lines.extend(flow("Faults/s", &fault_items(view), width));
    lines.push(String::new());
    let threads = threads_table(&view.now.threads);
    let room = height.saturating_sub(lines.len());
    let shown = view.now.processes.len().min(MIN_PROCESS_ROWS);
    // The threads table, with the blank line above it, if the processes keep their
    // header and three rows (plus the "more" line) beside it.
    let more = usize::from(view.now.processes.len() > MIN_PROCESS_ROWS);
    let show_threads = room >= 1 + shown + more + 1 + threads.len();
    let process_room = if show_threads {
        room - 1 - threads.len()
    } else {
        room
    };
    lines.extend(process_table(view, width, process_room));
    if show_threads {
        lines.push(String::new());
        lines.extend(threads);
    }
    lines.truncate(height);
    lines.iter().map(|l| fit(l, width)).collect()
}

fn title(view: &View) -> String {
    let page_kb = view.now.mem("PageSize") / 1024;
    format!(
        "mmtop  {}  q quits  every {}s  {} processes  sizes in {} KB pages",
        view.mount.display(),
        view.interval.as_secs_f64(),
        view.now.processes.len(),
        page_kb
    )
}

/// `line` cut to `width` characters.
fn fit(line: &str, width: usize) -> String {
    line.chars().take(width).collect()
}

/// `label` then `name value` items two spaces apart, wrapped at `width` onto lines
/// indented under the first item.
pub fn flow(label: &str, items: &[(&str, String)], width: usize) -> Vec<String> {
    let mut lines = vec![format!("{label:<LABEL$}")];
    let mut first = true;
    for (name, value) in items {
        let item = format!("{name} {value}");
        let line = lines.last_mut().expect("flow starts with a line");
        let gap = if first { 0 } else { 2 };
        if !first && line.chars().count() + gap + item.chars().count() > width {
            lines.push(format!("{:LABEL$}{item}", ""));
        } else {
            line.push_str(&" ".repeat(gap));
            line.push_str(&item);
        }
        first = false;
    }
    lines
}

fn percent(part: u64, whole: u64) -> u64 {
    // In u128: a value read from a file cannot overflow the product.
    let p = (u128::from(part) * 100).checked_div(u128::from(whole));
    p.map_or(0, |p| u64::try_from(p).unwrap_or(u64::MAX))
}

fn memory_items(s: &Sample) -> Vec<(&'static str, String)> {
    let (physical, available) = (s.mem("PhysicalPages"), s.mem("AvailablePages"));
    let (commit, limit) = (s.mem("CommitCharge"), s.mem("CommitLimit"));
    vec![
        ("physical", physical.to_string()),
        (
            "available",
            format!("{available} ({}%)", percent(available, physical)),
        ),
        (
            "commit",
            format!("{commit}/{limit} ({}%)", percent(commit, limit)),
        ),
        ("peak", s.mem("CommitPeak").to_string()),
        ("paged-pool", s.mem("PagedPoolPages").to_string()),
        ("nonpaged-pool", s.mem("NonPagedPoolPages").to_string()),
        ("cache", s.mem("SystemCachePages").to_string()),
    ]
}

fn list_items(s: &Sample) -> Vec<(&'static str, String)> {
    [
        ("zeroed", "ZeroedPages"),
        ("free", "FreePages"),
        ("standby", "StandbyPages"),
        ("modified", "ModifiedPages"),
        ("modified-no-write", "ModifiedNoWritePages"),
        ("active", "ActivePages"),
        ("transition", "TransitionPages"),
        ("bad", "BadPages"),
    ]
    .into_iter()
    .map(|(name, key)| (name, s.mem(key).to_string()))
    .collect()
}

/// Seconds between the two samples, if there are two.
fn elapsed(view: &View) -> Option<f64> {
    let before = view.before?;
    let secs = view.now.taken.duration_since(before.taken).as_secs_f64();
    (secs > 0.0).then_some(secs)
}

/// A counter's rate: `-` without a previous sample, or if the counter went back
/// (another process that reused the pid).
fn rate(now: u64, before: Option<u64>, secs: Option<f64>) -> String {
    match (before, secs) {
        (Some(b), Some(secs)) if now >= b => format_rate((now - b) as f64 / secs),
        _ => "-".into(),
    }
}

/// Whole numbers, with one decimal below 10 so that a slow trickle does not read 0.
pub fn format_rate(r: f64) -> String {
    if r == 0.0 {
        "0".into()
    } else if r < 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

fn fault_items(view: &View) -> Vec<(&'static str, String)> {
    let secs = elapsed(view);
    let counter = |s: &Sample, k: &str| s.counters.get(k).copied().unwrap_or(0);
    [
        ("all", "page_faults"),
        ("demand-zero", "demand_zero_faults"),
        ("transition", "transition_faults"),
        ("prototype", "prototype_faults"),
        ("copy-on-write", "copy_on_write_faults"),
        ("hard", "hard_faults"),
        ("pagefile-reads", "pages_read_from_pagefile"),
        ("pagefile-writes", "pages_written_to_pagefile"),
    ]
    .into_iter()
    .map(|(name, key)| {
        let before = view.before.map(|b| counter(b, key));
        (name, rate(counter(view.now, key), before, secs))
    })
    .collect()
}

/// One process row's cells that are not plain fields: its rates.
struct Row<'a> {
    p: &'a Process,
    faults_per_s: String,
    hard_per_s: String,
}

/// A process-table column: its title, width, whether it is left-aligned, and when it
/// is given up in a narrow window (0: never; higher: sooner).
struct Column {
    title: &'static str,
    width: usize,
    left: bool,
    drop_order: u8,
    cell: fn(&Row) -> String,
}

/// The NAME column's narrowest width; it widens to the longest name if there is room.
const NAME_MIN: usize = 12;
const NAME_MAX: usize = 32;

const COLUMNS: &[Column] = &[
    column("PID", 6, false, 0, |r| r.p.pid.to_string()),
    column("NAME", NAME_MIN, true, 0, |r| r.p.name.clone()),
    column("STATE", 11, true, 5, |r| r.p.state.clone()),
    column("WS", 8, false, 0, |r| r.p.working_set.to_string()),
    column("PEAK_WS", 8, false, 6, |r| r.p.peak_working_set.to_string()),
    column("PRIVATE", 8, false, 3, |r| r.p.private.to_string()),
    column("COMMIT", 8, false, 2, |r| r.p.commit.to_string()),
    column("LOCKED", 7, false, 7, |r| r.p.locked.to_string()),
    column("FAULTS", 9, false, 4, |r| r.p.faults.to_string()),
    column("FAULTS/S", 9, false, 0, |r| r.faults_per_s.clone()),
    column("HARD/S", 7, false, 1, |r| r.hard_per_s.clone()),
];

const fn column(
    title: &'static str,
    width: usize,
    left: bool,
    drop_order: u8,
    cell: fn(&Row) -> String,
) -> Column {
    Column {
        title,
        width,
        left,
        drop_order,
        cell,
    }
}

/// The columns that fit in `width` (kept in screen order) and the NAME width.
fn choose_columns(width: usize, longest_name: usize) -> (Vec<&'static Column>, usize) {
    let used = |cols: &[&Column]| cols.iter().map(|c| c.width + 1).sum::<usize>();
    let mut chosen: Vec<&Column> = COLUMNS.iter().filter(|c| c.drop_order == 0).collect();
    let mut optional: Vec<&Column> = COLUMNS.iter().filter(|c| c.drop_order > 0).collect();
    optional.sort_by_key(|c| c.drop_order);
    for c in optional {
        if used(&chosen) + c.width < width {
            chosen.push(c);
        }
    }
    chosen.sort_by_key(|c| COLUMNS.iter().position(|k| k.title == c.title));
    let spare = width.saturating_sub(used(&chosen));
    let name = NAME_MIN
        + spare
            .min(longest_name.saturating_sub(NAME_MIN))
            .min(NAME_MAX - NAME_MIN);
    (chosen, name)
}

fn cell(text: &str, width: usize, left: bool) -> String {
    let text = if text.chars().count() > width {
        // Names are ASCII (SPEC §7); `~` marks one cut short.
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('~');
        cut
    } else {
        text.to_string()
    };
    if left {
        format!("{text:<width$}")
    } else {
        format!("{text:>width$}")
    }
}

fn table_line(cols: &[&Column], name_width: usize, texts: &[String]) -> String {
    let cells: Vec<String> = cols
        .iter()
        .zip(texts)
        .map(|(c, text)| {
            let w = if c.title == "NAME" {
                name_width
            } else {
                c.width
            };
            cell(text, w, c.left)
        })
        .collect();
    cells.join(" ").trim_end().to_string()
}

/// The header and as many process rows as `room` lines hold (the last saying how
/// many more there are when not all fit).
fn process_table(view: &View, width: usize, room: usize) -> Vec<String> {
    let secs = elapsed(view);
    let before = |p: &Process| {
        view.before?
            .processes
            .iter()
            .find(|b| b.pid == p.pid && b.name == p.name)
    };
    let rows: Vec<Row> = view
        .now
        .processes
        .iter()
        .map(|p| Row {
            p,
            faults_per_s: rate(p.faults, before(p).map(|b| b.faults), secs),
            hard_per_s: rate(p.hard_faults, before(p).map(|b| b.hard_faults), secs),
        })
        .collect();
    let longest = rows.iter().map(|r| r.p.name.len()).max().unwrap_or(0);
    let (cols, name_width) = choose_columns(width, longest);
    let titles: Vec<String> = cols.iter().map(|c| c.title.to_string()).collect();
    let mut lines = vec![table_line(&cols, name_width, &titles)];
    let fits = room.saturating_sub(1);
    let shown = if rows.len() > fits {
        fits.saturating_sub(1)
    } else {
        rows.len()
    };
    for r in &rows[..shown] {
        let cells: Vec<String> = cols.iter().map(|c| (c.cell)(r)).collect();
        lines.push(table_line(&cols, name_width, &cells));
    }
    if shown < rows.len() {
        lines.push(format!("  ... {} more processes", rows.len() - shown));
    }
    lines.truncate(room);
    lines
}

/// `system/threads` re-aligned under upper-case titles: the thread's name and state
/// left-aligned, the numbers right-aligned.
fn threads_table(t: &Table) -> Vec<String> {
    if t.header.is_empty() {
        return Vec::new();
    }
    let mut titles: Vec<String> = t.header.iter().map(|h| h.to_uppercase()).collect();
    titles[0] = "SYSTEM THREAD".into();
    let widths: Vec<usize> = (0..titles.len())
        .map(|i| {
            let cells = t.rows.iter().filter_map(|r| r.get(i)).map(|c| c.len());
            cells.chain([titles[i].len()]).max().unwrap_or(0)
        })
        .collect();
    let left = |i: usize| i == 0 || t.header[i] == "state";
    let line = |cells: &[String]| {
        let out: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| cell(c, w, left(i)))
            .collect();
        out.join("  ").trim_end().to_string()
    };
    std::iter::once(line(&titles))
        .chain(t.rows.iter().map(|r| line(r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{parse_counters, parse_meminfo, parse_table};
    use std::time::Instant;

    const THREADS: &str = "# name priority state wakeups last_run_ms pages_processed\n\
        balance-set-manager     16 waiting         3         1000          0\n\
        zero-page-thread         0 waiting         1            -         12\n";

    fn process(name: &str, pid: u64, ws: u64, faults: u64, hard: u64) -> Process {
        Process {
            name: name.into(),
            pid,
            state: "running".into(),
            working_set: ws,
            faults,
            hard_faults: hard,
            ..Process::default()
        }
    }

    fn sample(taken: Instant, faults: u64, processes: Vec<Process>) -> Sample {
        Sample {
            taken,
            meminfo: parse_meminfo(
                "PageSize: 4096\nPhysicalPages: 4096\nAvailablePages: 1024\n\
                 CommitCharge: 500\nCommitLimit: 1000\nZeroedPages: 1000\n",
            ),
            counters: parse_counters(&format!("page_faults {faults}\nhard_faults 0\n")),
            threads: parse_table(THREADS),
            processes,
        }
    }

    /// Two samples two seconds apart: `app` faulted 100 times (10 hard), `new`
    /// appeared, `gone` disappeared, and pid 16 is another process than before.
    fn two_samples() -> (Sample, Sample) {
        let t0 = Instant::now();
        let before = sample(
            t0,
            1000,
            vec![
                process("app", 8, 50, 400, 0),
                process("gone", 12, 9, 9, 0),
                process("old", 16, 3, 500, 0),
            ],
        );
        let now = sample(
            t0 + Duration::from_secs(2),
            1300,
            vec![
                process("app", 8, 150, 500, 10),
                process("new", 20, 40, 40, 0),
                process("reused", 16, 3, 7, 0),
            ],
        );
        (before, now)
    }

    fn screen(now: &Sample, before: Option<&Sample>, width: usize, height: usize) -> Vec<String> {
        let view = View {
            mount: Path::new("/tmp/mm"),
            interval: Duration::from_secs(1),
            now,
            before,
        };
        render(&view, width, height)
    }

    /// The row of the process named `name`, split into words.
    fn row<'a>(lines: &'a [String], name: &str) -> Vec<&'a str> {
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(name));
        line.map(|l| l.split_whitespace().collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_wide_screen_shows_everything_with_rates() {
        let (before, now) = two_samples();
        let lines = screen(&now, Some(&before), 120, 40);
        assert!(lines.iter().all(|l| l.chars().count() <= 120));
        let all = lines.join("\n");
        assert!(all.contains("available 1024 (25%)"), "{all}");
        assert!(all.contains("commit 500/1000 (50%)"), "{all}");
        assert!(all.contains("Faults/s  all 150  demand-zero 0"), "{all}");
        let at = lines.iter().position(|l| l.starts_with("   PID")).unwrap();
        let header: Vec<&str> = lines[at].split_whitespace().collect();
        assert_eq!(
            header,
            ["PID", "NAME", "STATE", "WS", "PEAK_WS", "PRIVATE", "COMMIT"]
                .iter()
                .chain(&["LOCKED", "FAULTS", "FAULTS/S", "HARD/S"])
                .copied()
                .collect::<Vec<_>>()
        );
        // 100 faults and 10 hard ones in 2 s; a new process and a reused pid have no rate yet.
        assert_eq!(row(&lines, "app")[8..], ["500", "50", "5.0"]);
        assert_eq!(row(&lines, "new")[8..], ["40", "-", "-"]);
        assert_eq!(row(&lines, "reused")[8..], ["7", "-", "-"]);
        assert!(row(&lines, "gone").is_empty());
        // By working set: app, new, reused.
        let names: Vec<&str> = lines[at + 1..at + 4]
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(names, ["app", "new", "reused"]);
        assert!(all.contains("SYSTEM THREAD"), "{all}");
        let zero = lines
            .iter()
            .find(|l| l.starts_with("zero-page-thread"))
            .unwrap();
        let zero: Vec<&str> = zero.split_whitespace().collect();
        assert_eq!(zero, ["zero-page-thread", "0", "waiting", "1", "-", "12"]);
    }

    #[test]
    fn the_first_screen_has_no_rates() {
        let (_, now) = two_samples();
        let lines = screen(&now, None, 120, 40);
        assert!(
            lines[3].starts_with("Faults/s  all -  demand-zero -"),
            "{}",
            lines[3]
        );
        assert_eq!(row(&lines, "app")[9..], ["-", "-"]);
    }

    #[test]
    fn a_narrow_screen_wraps_the_top_and_drops_columns() {
        let (before, now) = two_samples();
        let lines = screen(&now, Some(&before), 40, 40);
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:#?}");
        let header = lines.iter().find(|l| l.contains("PID")).unwrap();
        let header: Vec<&str> = header.split_whitespace().collect();
        assert_eq!(header, ["PID", "NAME", "WS", "FAULTS/S"]);
        assert_eq!(row(&lines, "app"), ["8", "app", "150", "50"]);
        // The memory flow took more than one line, each continuation indented.
        let memory = lines.iter().position(|l| l.starts_with("Memory")).unwrap();
        assert!(
            lines[memory + 1].starts_with("          ") && !lines[memory + 1].trim().is_empty()
        );
        let at_60 = screen(&now, Some(&before), 60, 40);
        let header = at_60.iter().find(|l| l.contains("PID")).unwrap();
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            ["PID", "NAME", "WS", "COMMIT", "FAULTS/S", "HARD/S"]
        );
    }

    #[test]
    fn a_short_screen_gives_up_the_threads_then_rows() {
        let (before, mut now) = two_samples();
        now.processes = (0..10)
            .map(|i| process(&format!("p{i}"), 100 + 4 * i, 90 - i, 0, 0))
            .collect();
        let tall = screen(&now, Some(&before), 120, 40);
        assert!(tall.iter().any(|l| l.starts_with("SYSTEM THREAD")));
        assert!(!tall.iter().any(|l| l.contains("more processes")));
        let short = screen(&now, Some(&before), 120, 12);
        assert_eq!(short.len(), 12);
        assert!(
            !short.iter().any(|l| l.starts_with("SYSTEM THREAD")),
            "{short:#?}"
        );
        // Every line is used: the rows shown and the "more" line account for all ten.
        let shown = (0..10)
            .filter(|i| !row(&short, &format!("p{i}")).is_empty())
            .count();
        assert!(shown >= MIN_PROCESS_ROWS, "{short:#?}");
        assert_eq!(short[11], format!("  ... {} more processes", 10 - shown));
        assert_eq!(row(&short, "p0").len(), 11);
    }

    #[test]
    fn tiny_windows_do_not_panic() {
        let (before, now) = two_samples();
        for (w, h) in [(0, 0), (1, 1), (5, 3), (12, 7), (200, 2), (3, 200)] {
            let lines = screen(&now, Some(&before), w, h);
            assert!(lines.len() <= h && lines.iter().all(|l| l.chars().count() <= w));
        }
    }

    #[test]
    fn long_names_are_cut_with_a_mark() {
        assert_eq!(cell("a-very-long-process-name", 6, true), "a-ver~");
        assert_eq!(cell("12", 4, false), "  12");
        assert_eq!(format_rate(0.04), "0.0");
        assert_eq!(format_rate(63.7), "64");
        assert_eq!(percent(u64::MAX, 0), 0);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
        assert_eq!(
            flow("L", &[("a", "1".into()), ("b", "2".into())], 14),
            ["L         a 1", "          b 2"]
        );
    }
}
