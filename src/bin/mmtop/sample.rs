//! One reading of the mount, through the SPEC's files only (like any client):
//! `system/meminfo` (key/value), `system/counters` (counter file), `system/threads`
//! (table) and `processes/*/status` (key/value). Parsing is separate from reading,
//! so the unit tests feed it text.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A table file: the `#` header's column names, then the rows split on runs of spaces.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The `status` fields mmtop shows (pages and fault counts).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Process {
    pub name: String,
    pub pid: u64,
    pub state: String,
    pub working_set: u64,
    pub peak_working_set: u64,
    pub private: u64,
    pub commit: u64,
    pub locked: u64,
    /// `PageFaultCount`: every fault, soft or hard.
    pub faults: u64,
    pub hard_faults: u64,
}

/// Everything read in one refresh, and when.
#[derive(Debug, Clone)]
pub struct Sample {
    pub taken: Instant,
    pub meminfo: BTreeMap<String, u64>,
    pub counters: BTreeMap<String, u64>,
    pub threads: Table,
    /// Sorted by working set, largest first (then by pid).
    pub processes: Vec<Process>,
}

/// `Key: value` lines; lines without a colon are skipped.
pub fn parse_key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The numeric values of a key/value file (meminfo is all pages).
pub fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    parse_key_values(text)
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect()
}

/// `name value` lines.
pub fn parse_counters(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?;
            let value = words.next()?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

/// A table: the first line is `# col col ...`, the rest are rows.
pub fn parse_table(text: &str) -> Table {
    let mut lines = text.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix('#'))
        .map(|h| h.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    Table { header, rows }
}

/// A process's `status`; `None` without a name and pid (not a status file).
pub fn parse_status(text: &str) -> Option<Process> {
    let kv = parse_key_values(text);
    let num = |k: &str| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Some(Process {
        name: kv.get("Name")?.clone(),
        pid: kv.get("Pid")?.parse().ok()?,
        state: kv.get("State").cloned().unwrap_or_default(),
        working_set: num("WorkingSetSize"),
        peak_working_set: num("PeakWorkingSetSize"),
        private: num("PrivatePages"),
        commit: num("CommitCharge"),
        locked: num("LockedPages"),
        faults: num("PageFaultCount"),
        hard_faults: num("HardFaults"),
    })
}

/// Largest working set first, as top sorts by its key; ties by pid.
pub fn sort_by_working_set(processes: &mut [Process]) {
    processes.sort_by(|a, b| b.working_set.cmp(&a.working_set).then(a.pid.cmp(&b.pid)));
}

fn read(mount: &Path, rel: &str) -> Result<String, String> {
    let path = mount.join(rel);
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Every process's status. One that disappears between the listing and the read
/// (rmdir in between) is left out; so is one whose status cannot be read.
fn read_processes(mount: &Path) -> Result<Vec<Process>, String> {
    let dir: PathBuf = mount.join("processes");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut processes: Vec<Process> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| read_status(&e.path()).ok().flatten())
        .collect();
    sort_by_working_set(&mut processes);
    Ok(processes)
}

fn read_status(dir: &Path) -> io::Result<Option<Process>> {
    Ok(parse_status(&std::fs::read_to_string(dir.join("status"))?))
}

impl Sample {
    /// Reads the mount now. An error (the mount went away, the daemon died) is a
    /// sentence naming the file.
    pub fn read(mount: &Path) -> Result<Sample, String> {
        let meminfo = parse_meminfo(&read(mount, "system/meminfo")?);
        if !meminfo.contains_key("PhysicalPages") {
            return Err(format!(
                "{}/system/meminfo has no PhysicalPages: is this an mmfs mount?",
                mount.display()
            ));
        }
        Ok(Sample {
            taken: Instant::now(),
            meminfo,
            counters: parse_counters(&read(mount, "system/counters")?),
            threads: parse_table(&read(mount, "system/threads")?),
            processes: read_processes(mount)?,
        })
    }

    /// A meminfo value (0 if the file lacks it).
    pub fn mem(&self, key: &str) -> u64 {
        self.meminfo.get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_and_counters_parse() {
        let m = parse_meminfo("PageSize: 4096\nPhysicalPages: 4096\nOdd line\nX: y\n");
        assert_eq!(m.get("PhysicalPages"), Some(&4096));
        assert_eq!(m.get("X"), None);
        let c = parse_counters("page_faults 64\nhard_faults 0\nbroken\n");
        assert_eq!(c.get("page_faults"), Some(&64));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn tables_parse_header_and_rows() {
        let t = parse_table(
            "# name priority state\nswapper                 23 waiting\nzero-page-thread 0 running\n",
        );
        assert_eq!(t.header, ["name", "priority", "state"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1], ["zero-page-thread", "0", "running"]);
        assert_eq!(parse_table(""), Table::default());
    }

    #[test]
    fn status_parses_and_needs_name_and_pid() {
        let p = parse_status(
            "Name: app\nPid: 8\nState: running\nWorkingSetSize: 69\nPageFaultCount: 64\n\
             HardFaults: 3\nLastException: STATUS_ACCESS_VIOLATION write 0x00010000\n",
        )
        .unwrap();
        assert_eq!((p.name.as_str(), p.pid, p.working_set), ("app", 8, 69));
        assert_eq!((p.faults, p.hard_faults, p.commit), (64, 3, 0));
        assert_eq!(parse_status("Pid: 8\n"), None);
        assert_eq!(parse_status("Name: x\nPid: eight\n"), None);
    }

    #[test]
    fn processes_sort_by_working_set_then_pid() {
        let p = |pid, ws| Process {
            pid,
            working_set: ws,
            ..Process::default()
        };
        let mut v = vec![p(4, 5), p(12, 70), p(8, 70), p(16, 1)];
        sort_by_working_set(&mut v);
        let order: Vec<u64> = v.iter().map(|p| p.pid).collect();
        assert_eq!(order, [8, 12, 4, 16]);
    }
}
