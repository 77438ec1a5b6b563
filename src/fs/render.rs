//! Generated files: each is rendered whole when it is opened (a snapshot), from
//! plain-data views the core provides. Formats follow SPEC §2: key/value files,
//! counter files, `#`-headed tables with space-separated columns, lists.

mod cache;
mod clones;
mod dashboard;
mod history;
mod kernel;
pub mod map_png;
pub mod map_svg;
#[cfg(test)]
mod map_tests;
mod pool;
mod pte;
mod sections;
mod write_watch;

use std::fmt::Write;

use super::node::{CacheFile, File, KernelFile, PoolFile, ProcessFile, SectionFile, SystemFile};
use super::readme;
use crate::mm::base::types::Pid;
use crate::mm::base::types::{Arch, Pfn};
use crate::mm::hw::layout::Layout;
use crate::mm::inspect::{Exception, PfnRow, PteRow, VadRow, WsRow};
use crate::mm::{Mm, MmResult};

/// Renders a generated file. Control and mem files are not rendered here.
pub fn render(mm: &Mm, file: File) -> MmResult<Vec<u8>> {
    let text = match file {
        File::PfnMap => return map_png::map_png(mm),
        File::Readme(class) => readme::text(class).to_string(),
        File::System(f) => match f {
            SystemFile::Meminfo => key_values(&mm.meminfo()),
            SystemFile::Counters => counters(mm),
            SystemFile::Usecounts => usecounts(mm),
            SystemFile::Layout => layout(mm),
            SystemFile::Config => config(mm),
            SystemFile::Threads => threads(mm),
            SystemFile::Verify => verify(mm),
            SystemFile::HistorySvg => history::history_svg(mm),
            SystemFile::Dashboard => dashboard::dashboard_html(mm),
            SystemFile::Control | SystemFile::Events => String::new(),
        },
        File::PfnList(loc) => pfn_lines(mm, &mm.pfn_list(loc)),
        File::StandbyList(priority) => pfn_lines(mm, &mm.standby_list(priority)),
        File::PfnDb => pfn_db(mm),
        File::PfnPriorities => priorities(mm),
        File::PfnEntry(pfn) => pfn_entry(mm, Pfn(pfn))?,
        File::Process(pid, f) => match f {
            ProcessFile::Status => process_status(mm, pid)?,
            ProcessFile::Vads => vads(mm, pid)?,
            ProcessFile::Ptes => ptes(mm, pid)?,
            ProcessFile::Workingset => workingset(mm, pid)?,
            ProcessFile::Maps => maps(mm, pid)?,
            ProcessFile::Clones => clones::clones(mm, pid)?,
            ProcessFile::Awe => awe(mm, pid)?,
            ProcessFile::WriteWatch => write_watch::write_watch(mm, pid)?,
            ProcessFile::MapSvg => map_svg::map_svg(mm, pid)?,
            ProcessFile::Mem | ProcessFile::Control => String::new(),
        },
        File::PteEntry(pid, va) => pte::pte_entry(mm, pid, va)?,
        File::PagefileInfo(index) => pagefile_info(mm, index)?,
        File::Section(key, f) => match f {
            SectionFile::Info => sections::info(mm, key)?,
            SectionFile::PrototypePtes => sections::prototype_ptes(mm, key)?,
            SectionFile::Views => sections::views(mm, key)?,
            SectionFile::Control => String::new(),
        },
        File::Cache(f) => match f {
            CacheFile::Stats => key_values(&mm.cache_stats()),
            CacheFile::Views => cache::views(mm),
            CacheFile::Files => cache::files(mm),
            CacheFile::Control => String::new(),
        },
        File::Pool(f) => match f {
            PoolFile::Allocations => pool::allocations(mm),
            PoolFile::Used => pool::used(mm),
            PoolFile::Control => String::new(),
        },
        File::PoolPage(addr) => pool::page(mm, addr)?,
        File::Kernel(KernelFile::Sysptes) => kernel::sysptes(mm),
        File::Kernel(KernelFile::Mdl(id)) => kernel::mdl(mm, id)?,
        File::PagefilesControl | File::SectionsControl | File::Kernel(_) => String::new(),
    };
    let mut bytes = text.into_bytes();
    if let Some(size) = file.fixed_size() {
        pad(&mut bytes, size);
    }
    Ok(bytes)
}

/// Pads a page or picture with blank lines to the size `stat` reports for it
/// (`File::fixed_size`): whitespace after the root element, which XML and
/// HTML ignore. One larger than that is served whole (a browser would cut
/// it; the tests check the largest fits).
fn pad(bytes: &mut Vec<u8>, size: u64) {
    let Ok(size) = usize::try_from(size) else {
        return;
    };
    if bytes.len() > size {
        log::warn!(
            "a generated file of {} bytes exceeds its size {size}",
            bytes.len()
        );
        return;
    }
    const NOTE: &[u8] = b"<!-- padded to the size stat reports: browsers read no further -->\n";
    if bytes.len() + NOTE.len() < size {
        bytes.extend_from_slice(NOTE);
    }
    bytes.resize(size, b' ');
    if let Some(last) = bytes.last_mut() {
        *last = b'\n';
    }
}

/// A key/value file (SPEC §2): one `Key: value` per line.
struct KeyValue(String);

impl KeyValue {
    fn new() -> KeyValue {
        KeyValue(String::new())
    }
    fn put(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        let _ = writeln!(self.0, "{key}: {value}");
        self
    }
}

fn key_values(pairs: &[(&str, u64)]) -> String {
    let mut kv = KeyValue::new();
    for (k, v) in pairs {
        kv.put(k, v);
    }
    kv.0
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Hex digits an address or PTE needs on this arch (fixed width keeps tables aligned).
pub(super) fn va_width(mm: &Mm) -> usize {
    if mm.config().arch == Arch::X64 { 16 } else { 8 }
}

pub(super) fn pte_width(mm: &Mm) -> usize {
    if mm.config().arch == Arch::X86 { 8 } else { 16 }
}

pub(super) fn pfn_width(mm: &Mm) -> usize {
    let max = mm.physical_pages().saturating_sub(1).max(1);
    (32 - max.leading_zeros()).div_ceil(4).max(5) as usize
}

/// Appends `0x` and `v` in `width` hex digits, without the formatting machinery
/// (pfn/db has a row per page of RAM).
fn push_hex(out: &mut String, v: u64, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push_str("0x");
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1) as usize;
    push_repeated(out, b'0', width.saturating_sub(digits));
    // Built in a buffer and appended once: a streamed pfn/db makes a row per
    // page, and a char at a time cost a fifth of a 4 KiB read's time.
    let mut buf = [0u8; 16];
    for (i, b) in buf[..digits].iter_mut().enumerate() {
        *b = DIGITS[((v >> ((digits - 1 - i) * 4)) & 0xf) as usize];
    }
    // The buffer holds ASCII hex digits only.
    out.push_str(std::str::from_utf8(&buf[..digits]).unwrap_or("?"));
}

/// Appends `n` copies of the ASCII byte `c` (a space or a zero).
fn push_repeated(out: &mut String, c: u8, n: usize) {
    const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
    const SPACES: &str = "                                                                ";
    let run = if c == b'0' { ZEROS } else { SPACES };
    let mut left = n;
    while left > 0 {
        let k = left.min(run.len());
        out.push_str(&run[..k]);
        left -= k;
    }
}

fn hex(v: u64, width: usize) -> String {
    let mut s = String::with_capacity(width + 2);
    push_hex(&mut s, v, width);
    s
}

fn config(mm: &Mm) -> String {
    let c = mm.config();
    let mut kv = KeyValue::new();
    kv.put("Version", env!("CARGO_PKG_VERSION"))
        .put("Ram", c.ram_bytes)
        .put("PhysicalPages", c.physical_pages())
        .put("PageSize", crate::mm::base::types::PAGE_SIZE)
        .put(
            "AllocationGranularity",
            crate::mm::base::types::ALLOCATION_GRANULARITY,
        )
        .put("Arch", c.arch.name())
        .put("ThreeGb", on_off(c.three_gb))
        .put("PagingFiles", c.pagefiles.len());
    for (i, p) in c.pagefiles.iter().enumerate() {
        kv.put(
            &format!("PagingFile{i}"),
            format_args!("{}:{}", p.minimum, p.maximum),
        );
    }
    kv.put("StateDir", c.state_dir.display())
        .put("StateDirTemporary", on_off(c.state_dir_temporary))
        .put("Files", c.files_dir.display())
        .put("FilesTemporary", on_off(c.files_dir_temporary))
        .put("Clock", c.clock.name())
        .put("AllowOther", on_off(c.allow_other));
    kv.0
}

fn layout(mm: &Mm) -> String {
    let c = mm.config();
    let layout = Layout::new(c.arch, c.three_gb);
    let w = va_width(mm);
    let mut out = String::from("# start end region\n");
    for r in layout.regions() {
        let _ = writeln!(out, "{} {} {}", hex(r.start, w), hex(r.end, w), r.name);
    }
    out
}

fn counters(mm: &Mm) -> String {
    let mut out = String::new();
    for (name, v) in mm.counters() {
        let _ = writeln!(out, "{name} {v}");
    }
    out
}

fn usecounts(mm: &Mm) -> String {
    let mut out = String::from(
        "# use total active standby modified modified_no_write transition zeroed free bad\n",
    );
    for r in mm.usecounts() {
        let _ = write!(out, "{:<15}", r.name);
        for c in r.counts {
            let _ = write!(out, " {c:>8}");
        }
        out.push('\n');
    }
    out
}

fn verify(mm: &Mm) -> String {
    let r = mm.verify();
    if r.ok() {
        format!(
            "ok: {} pages, {} processes, commit charge {} pages: every invariant holds\n",
            r.pages, r.processes, r.commit
        )
    } else {
        let mut out = String::new();
        for v in r.violations {
            out.push_str(&v);
            out.push('\n');
        }
        out
    }
}

/// A list file (`pfn/lists/`): one PFN per line, head first, no header.
pub(super) fn pfn_lines(mm: &Mm, list: &[Pfn]) -> String {
    let mut out = Vec::new();
    push_pfn_lines(&mut out, pfn_width(mm), list);
    // Only ASCII digits, `0x` and newlines were written.
    String::from_utf8(out).unwrap_or_default()
}

/// `pfn_lines`' lines appended to `out` as bytes (a streamed list's chunk);
/// `w` is `pfn_width`.
pub(super) fn push_pfn_lines(out: &mut Vec<u8>, w: usize, list: &[Pfn]) {
    out.reserve(list.len() * (w + 3));
    // One line is `0x`, the digits and a newline: no column needs spaces,
    // so no row of ROW_MAX spaces is laid down first (`put_row`).
    let mut buf = [0u8; ROW_MAX];
    for p in list {
        let end = put_hex(&mut buf, 0, p.0 as u64, w);
        buf[end] = b'\n';
        out.extend_from_slice(&buf[..=end]);
    }
}

/// `pfn/priorities`: RAMMap's Priority Summary, in pages.
fn priorities(mm: &Mm) -> String {
    let mut out = String::from("# priority standby repurposed\n");
    for r in mm.standby_priorities() {
        let _ = writeln!(out, "{} {:>10} {:>10}", r.priority, r.standby, r.repurposed);
    }
    out
}

fn flag_chars(r: &PfnRow) -> [u8; 5] {
    let f = |on: bool, c: u8| if on { c } else { b'-' };
    [
        f(r.modified, b'M'),
        f(r.read_in_progress, b'R'),
        f(r.write_in_progress, b'W'),
        f(r.prototype, b'P'),
        f(r.in_page_error, b'E'),
    ]
}

/// Appends `s` left-aligned in `width` columns.
fn push_left(out: &mut String, s: &str, width: usize) {
    out.push_str(s);
    push_repeated(out, b' ', width.saturating_sub(s.len()));
}

/// Appends `v` in decimal, right-aligned in `width` columns.
fn push_dec(out: &mut String, v: u64, width: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = buf.len() - i;
    push_repeated(out, b' ', width.saturating_sub(digits));
    // The buffer holds ASCII digits only.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("?"));
}

/// `pfn/db`'s header line.
pub(super) const PFN_DB_HEADER: &str =
    "# pfn state use pid va pte_address share ref priority flags original_pte\n";

/// The hex widths of `pfn/db`'s columns on this machine: PFN, address, PTE.
#[derive(Clone, Copy, Debug)]
pub(super) struct PfnDbWidths {
    pub(super) pfn: usize,
    pub(super) va: usize,
    pub(super) pte: usize,
}

impl PfnDbWidths {
    pub(super) fn of(mm: &Mm) -> PfnDbWidths {
        PfnDbWidths {
            pfn: pfn_width(mm),
            va: va_width(mm),
            pte: pte_width(mm),
        }
    }

    /// Bytes in every row (newline included): the rows are fixed-width, so
    /// an offset into the file names a PFN (the streamed `pfn/db` seeks so).
    pub(super) fn row_len(self) -> usize {
        // pfn state use pid va pte_address share ref priority flags original_pte
        (self.pfn + 2) + 17 + 14 + 6 + 2 * (self.va + 2) + 5 + 5 + 1 + 5 + (self.pte + 2) + 11
    }
}

fn pfn_db(mm: &Mm) -> String {
    let pages = mm.physical_pages() as usize;
    let w = PfnDbWidths::of(mm);
    let mut out = Vec::with_capacity(PFN_DB_HEADER.len() + pages * w.row_len());
    out.extend_from_slice(PFN_DB_HEADER.as_bytes());
    mm.for_each_pfn_row(|r| push_pfn_db_row(&mut out, r, w));
    ascii_text(out)
}

/// Text made as bytes (ASCII only, so the check never fails).
pub(super) fn ascii_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The longest row `put_row` makes room for (`pfn/db`'s widest: 8 + 2 PFN
/// digits, 16 + 2 for each address and the PTE; `ptes`'s is shorter).
pub(super) const ROW_MAX: usize = 160;

/// Appends a row made by `make` in place: `ROW_MAX` spaces, each field
/// written at its column, then cut to where `make` says the row ends (its
/// newline included). No copy of the row: appending one made in a buffer
/// was most of the streamed listings' `memmove`.
fn put_row(out: &mut Vec<u8>, make: impl FnOnce(&mut [u8; ROW_MAX]) -> usize) {
    let start = out.len();
    out.resize(start + ROW_MAX, b' ');
    let end = match <&mut [u8; ROW_MAX]>::try_from(&mut out[start..]) {
        Ok(buf) => make(buf),
        Err(_) => 0, // never: the slice is ROW_MAX long
    };
    out.truncate(start + end);
}

/// One `pfn/db` row, `PfnDbWidths::row_len` bytes: made at fixed columns
/// (`put_row`; the streamed `pfn/db` makes a row per page on the read path;
/// field by field appends cost about 4 µs of a 4 KiB read's 9).
pub(super) fn push_pfn_db_row(out: &mut Vec<u8>, r: &PfnRow, w: PfnDbWidths) {
    put_row(out, |buf| pfn_db_row_in(buf, r, w));
}

/// `push_pfn_db_row`'s row in `buf` (spaces); where it ends.
fn pfn_db_row_in(buf: &mut [u8; ROW_MAX], r: &PfnRow, w: PfnDbWidths) -> usize {
    let mut at = put_hex(buf, 0, r.pfn.0 as u64, w.pfn) + 1;
    at = put_left(buf, at, r.location.name(), 17) + 1;
    at = put_left(buf, at, r.use_.name(), 14) + 1;
    at = match r.pid {
        Some(p) => put_dec_fixed(buf, at, p.0 as u64, 6),
        None => put_left(buf, at + 5, "-", 1),
    } + 1;
    at = match r.va {
        Some(va) => put_hex(buf, at, va, w.va),
        None => put_left(buf, at, "-", w.va + 2),
    } + 1;
    at = put_hex(buf, at, r.pte_address, w.va) + 1;
    at = put_dec_fixed(buf, at, r.share_count as u64, 5) + 1;
    at = put_dec_fixed(buf, at, r.reference_count as u64, 5) + 1;
    at = put_dec_fixed(buf, at, r.priority as u64, 1) + 1;
    buf[at..at + 5].copy_from_slice(&flag_chars(r));
    at = put_hex(buf, at + 6, r.original_pte, w.pte);
    // Bytes, not a `String`: checking each row's UTF-8 was a tenth of a
    // streamed read's time (the row is ASCII only).
    buf[at] = b'\n';
    at + 1
}

/// Every byte as two hex digits, for `put_hex`.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
        i += 1;
    }
    table
};

/// Writes `0x` and `v` in at least `width` hex digits (zero-padded) at
/// `at` in `buf`, as `push_hex` appends them; where they end. Two digits a
/// step, from a table (a digit a step was a quarter of a `pfn/db` row).
fn put_hex(buf: &mut [u8; ROW_MAX], at: usize, v: u64, width: usize) -> usize {
    let digits = ((64 - v.leading_zeros()).div_ceil(4) as usize).max(width.min(16));
    buf[at] = b'0';
    buf[at + 1] = b'x';
    let start = at + 2;
    let end = start + digits;
    let (mut i, mut n) = (end, v);
    while i >= start + 2 {
        let [hi, lo] = HEX_PAIRS[(n & 0xff) as usize];
        buf[i - 2] = hi;
        buf[i - 1] = lo;
        n >>= 8;
        i -= 2;
    }
    if i > start {
        buf[i - 1] = HEX_PAIRS[(n & 0xf) as usize][1];
    }
    end
}

/// Writes `s` at `at` in `buf` (spaces already fill the rest of `width`
/// columns); where the columns end.
fn put_left(buf: &mut [u8; ROW_MAX], at: usize, s: &str, width: usize) -> usize {
    let n = s.len().min(buf.len() - at);
    buf[at..at + n].copy_from_slice(&s.as_bytes()[..n]);
    at + n.max(width)
}

/// Writes `v` in decimal right-aligned in exactly `width` columns at `at`,
/// or `#`s if it is too wide (as a spreadsheet does, so that every row keeps
/// its width); where the columns end.
fn put_dec_fixed(buf: &mut [u8; ROW_MAX], at: usize, v: u64, width: usize) -> usize {
    let end = at + width;
    let mut n = v;
    for b in buf[at..end].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if n != 0 {
        buf[at..end].fill(b'#');
    }
    end
}

fn pfn_entry(mm: &Mm, pfn: Pfn) -> MmResult<String> {
    let r = mm
        .pfn_detail(pfn)
        .ok_or_else(|| crate::mm_err!(INVALID_PARAMETER, "no physical page {:#x}", pfn.0))?;
    let (pw, vw, tw) = (pfn_width(mm), va_width(mm), pte_width(mm));
    let link = |l: Option<Pfn>| l.map_or("none".to_string(), |p| hex(p.0 as u64, pw));
    let yes = |b: bool| if b { 1 } else { 0 };
    let mut kv = KeyValue::new();
    kv.put("Pfn", hex(r.pfn.0 as u64, pw))
        .put("State", r.location.name())
        .put("Use", r.use_.name())
        .put("ReferenceCount", r.reference_count)
        .put("ShareCount", r.share_count)
        .put("PteAddress", hex(r.pte_address, vw))
        .put("OriginalPte", hex(r.original_pte, tw))
        .put("Flink", link(r.flink))
        .put("Blink", link(r.blink))
        .put("Modified", yes(r.modified))
        .put("ReadInProgress", yes(r.read_in_progress))
        .put("WriteInProgress", yes(r.write_in_progress))
        .put("Priority", r.priority)
        .put(
            "Owner",
            r.pid.map_or("none".to_string(), |p| p.0.to_string()),
        )
        .put(
            "VirtualAddress",
            r.va.map_or("none".to_string(), |v| hex(v, vw)),
        )
        .put("PrototypePte", yes(r.prototype))
        .put("InPageError", yes(r.in_page_error))
        .put("WsIndex", r.ws_index);
    Ok(kv.0)
}

fn threads(mm: &Mm) -> String {
    let mut out = String::from("# name priority state wakeups last_run_ms pages_processed\n");
    for r in mm.thread_rows() {
        let last = r.last_run_ms.map_or("-".to_string(), |t| t.to_string());
        let _ = writeln!(
            out,
            "{:<22} {:>3} {:<8} {:>8} {:>12} {:>10}",
            r.name, r.priority, r.state, r.wakeups, last, r.pages_processed
        );
    }
    out
}

fn pagefile_info(mm: &Mm, index: u8) -> MmResult<String> {
    let f = mm
        .pagefiles()
        .into_iter()
        .find(|f| f.index == index)
        .ok_or_else(|| crate::mm_err!(OBJECT_NAME_NOT_FOUND, "no paging file {index}"))?;
    let page = crate::mm::base::types::PAGE_SIZE;
    let mut kv = KeyValue::new();
    kv.put("Name", &f.name)
        .put("Path", f.path.display())
        .put("MinimumSize", f.minimum_pages * page)
        .put("MaximumSize", f.maximum_pages * page)
        .put("CurrentSize", f.current_pages * page)
        .put("UsedPages", f.used_pages)
        .put("FreePages", f.free_pages)
        .put("PeakUsedPages", f.peak_used_pages)
        .put("PagesWritten", f.pages_written)
        .put("PagesRead", f.pages_read)
        .put("Index", f.index);
    Ok(kv.0)
}

/// `STATUS_ACCESS_VIOLATION write 0x00020000`, or `none`.
fn last_exception(e: Option<&Exception>) -> String {
    match e {
        Some(e) => format!(
            "{} {} 0x{:08x}",
            e.status.name(),
            if e.write { "write" } else { "read" },
            e.va.0
        ),
        None => "none".to_string(),
    }
}

fn process_status(mm: &Mm, pid: Pid) -> MmResult<String> {
    let s = mm.process_status(pid)?;
    let mut kv = KeyValue::new();
    kv.put("Name", &s.name)
        .put("Pid", s.pid)
        .put("State", s.state.name())
        .put("DirectoryTableBase", hex(s.directory_table_base, 8))
        .put("WorkingSetSize", s.working_set_size)
        .put("WorkingSetMinimum", s.working_set_minimum)
        .put("WorkingSetMaximum", s.working_set_maximum)
        .put("PeakWorkingSetSize", s.peak_working_set_size)
        .put("PrivatePages", s.private_pages)
        .put("CommitCharge", s.commit_charge)
        .put("LockedPages", s.locked_pages)
        .put("PageFaultCount", s.page_fault_count)
        .put("DemandZeroFaults", s.demand_zero_faults)
        .put("TransitionFaults", s.transition_faults)
        .put("HardFaults", s.hard_faults)
        .put("CopyOnWriteFaults", s.copy_on_write_faults)
        .put("LastException", last_exception(s.last_exception.as_ref()))
        .put("PeakCommitCharge", s.peak_commit_charge)
        .put("PageTablePages", s.page_table_pages)
        .put("VirtualSize", s.virtual_size)
        .put("PrototypeFaults", s.prototype_faults)
        .put("AwePages", s.awe_pages);
    Ok(kv.0)
}

fn vad_flags(v: &VadRow) -> String {
    let mut f = Vec::new();
    if v.private {
        f.push("private");
    }
    if v.mem_commit {
        f.push("mem_commit");
    }
    if f.is_empty() {
        "-".into()
    } else {
        f.join(",")
    }
}

fn vads(mm: &Mm, pid: Pid) -> MmResult<String> {
    let w = va_width(mm);
    let mut out = String::from("# start end commit_pages type protection flags name\n");
    for v in mm.vads(pid)? {
        let _ = writeln!(
            out,
            "{} {} {:>8} {:<8} {:<18} {:<18} {}",
            hex(v.start, w),
            hex(v.end, w),
            v.commit_pages,
            v.type_name,
            v.protection.name(),
            vad_flags(&v),
            v.name.as_deref().unwrap_or("-")
        );
    }
    Ok(out)
}

/// `ptes`'s header line.
pub(super) const PTES_HEADER: &str = "# va pte state pfn_or_offset protection\n";

fn ptes(mm: &Mm, pid: Pid) -> MmResult<String> {
    let (vw, tw) = (va_width(mm), pte_width(mm));
    let rows = mm.ptes(pid)?;
    let mut out = Vec::with_capacity(PTES_HEADER.len() + rows.len() * (vw + tw + 50));
    out.extend_from_slice(PTES_HEADER.as_bytes());
    for r in &rows {
        push_pte_row(&mut out, r, vw, tw);
    }
    Ok(ascii_text(out))
}

/// One `ptes` row; `vw` and `tw` are `va_width` and `pte_width`. Made at
/// fixed columns in a buffer and appended once, as `pfn/db`'s rows, with the
/// protection's name from static pieces (a `String` per row was a tenth of
/// a streamed read's time).
pub(super) fn push_pte_row(out: &mut Vec<u8>, r: &PteRow, vw: usize, tw: usize) {
    put_row(out, |buf| pte_row_in(buf, r, vw, tw));
}

/// `push_pte_row`'s row in `buf` (spaces); where it ends.
fn pte_row_in(buf: &mut [u8; ROW_MAX], r: &PteRow, vw: usize, tw: usize) -> usize {
    let mut at = put_hex(buf, 0, r.va, vw) + 1;
    at = put_hex(buf, at, r.raw, tw) + 1;
    at = put_left(buf, at, r.state, 11) + 1;
    at = match r.pfn_or_offset {
        Some(v) => put_hex(buf, at, v, 8),
        None => put_left(buf, at, "-", 10),
    } + 1;
    match r.protection {
        Some(p) => {
            for part in p.name_parts() {
                at = put_left(buf, at, part, 0);
            }
        }
        None => at = put_left(buf, at, "-", 1),
    }
    let end = at.min(buf.len() - 1);
    buf[end] = b'\n';
    end + 1
}

/// `workingset`'s header line.
pub(super) const WORKINGSET_HEADER: &str = "# index va pfn age locked kind\n";

fn workingset(mm: &Mm, pid: Pid) -> MmResult<String> {
    let (vw, pw) = (va_width(mm), pfn_width(mm));
    let mut out = Vec::from(WORKINGSET_HEADER);
    for r in mm.workingset(pid)? {
        push_ws_row(&mut out, &r, vw, pw);
    }
    // Only ASCII was written (the kind is one of WsleKind's names).
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// One `workingset` row, appended to `out` as bytes (a streamed chunk
/// grows in place); `vw` and `pw` are `va_width` and `pfn_width`.
pub(super) fn push_ws_row(out: &mut Vec<u8>, r: &WsRow, vw: usize, pw: usize) {
    use std::io::Write as _;
    let _ = writeln!(
        out,
        "{:>6} {} {} {} {} {}",
        r.index,
        hex(r.va, vw),
        hex(r.pfn.0 as u64, pw),
        r.age,
        if r.locked { 1 } else { 0 },
        r.kind
    );
}

/// `# pfn va`: the process's AWE pages, `-` for one not mapped.
fn awe(mm: &Mm, pid: Pid) -> MmResult<String> {
    let (vw, pw) = (va_width(mm), pfn_width(mm));
    let mut out = String::from("# pfn va\n");
    for r in mm.awe_pages(pid)? {
        let va = r.va.map_or("-".to_string(), |v| hex(v.0, vw));
        let _ = writeln!(out, "{} {va}", hex(r.pfn.0 as u64, pw));
    }
    Ok(out)
}

/// Linux `/proc/PID/maps` lines, one per VAD.
fn maps(mm: &Mm, pid: Pid) -> MmResult<String> {
    let w = va_width(mm);
    let mut out = String::new();
    for v in mm.vads(pid)? {
        let p = v.protection;
        let perms = format!(
            "{}{}{}{}",
            if p.allows_read() && !p.is_noaccess() {
                'r'
            } else {
                '-'
            },
            if p.allows_write() { 'w' } else { '-' },
            if p.allows_execute() { 'x' } else { '-' },
            if v.private { 'p' } else { 's' }
        );
        let _ = writeln!(
            out,
            "{:0w$x}-{:0w$x} {perms} 00000000 00:00 0 {}",
            v.start,
            v.end + 1,
            v.name.as_deref().unwrap_or("")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_fixed_width() {
        let mut s = String::new();
        push_hex(&mut s, 0x1a3, 8);
        assert_eq!(s, "0x000001a3");
        assert_eq!(hex(0, 4), "0x0000");
        assert_eq!(hex(u64::MAX, 8), "0xffffffffffffffff");
    }
}
