//! Generated files: each is rendered whole when it is opened (a snapshot), from
//! plain-data views the core provides.

use std::fmt::Write;

use super::node::File;
use super::readme;
use crate::mm::layout::Layout;
use crate::mm::process::Pid;
use crate::mm::{Mm, MmResult};

/// Renders a generated file. Control files are not rendered here.
pub fn render(mm: &Mm, file: File) -> MmResult<Vec<u8>> {
    let text = match file {
        File::Readme(class) => readme::text(class).to_string(),
        File::SystemConfig => config(mm),
        File::SystemLayout => layout(mm),
        File::ProcessStatus(pid) => process_status(mm, pid)?,
        File::SystemControl => String::new(),
    };
    Ok(text.into_bytes())
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

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn config(mm: &Mm) -> String {
    let c = mm.config();
    let mut kv = KeyValue::new();
    kv.put("Version", env!("CARGO_PKG_VERSION"))
        .put("Ram", c.ram_bytes)
        .put("PhysicalPages", c.physical_pages())
        .put("PageSize", crate::mm::types::PAGE_SIZE)
        .put(
            "AllocationGranularity",
            crate::mm::types::ALLOCATION_GRANULARITY,
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
    let width = if c.arch == crate::mm::types::Arch::X64 {
        16
    } else {
        8
    };
    let mut out = String::from("# start end region\n");
    for r in layout.regions() {
        let _ = writeln!(
            out,
            "0x{:0width$x} 0x{:0width$x} {}",
            r.start, r.end, r.name,
        );
    }
    out
}

fn process_status(mm: &Mm, pid: Pid) -> MmResult<String> {
    let s = mm.process_status(pid)?;
    let mut kv = KeyValue::new();
    kv.put("Name", &s.name)
        .put("Pid", s.pid)
        .put("State", s.state.name());
    Ok(kv.0)
}
