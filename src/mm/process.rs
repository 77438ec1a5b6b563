//! Processes (EPROCESS, as far as the memory manager cares) and the process table.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::status::MmResult;

/// A process id. NT hands out ids in multiples of 4; the System process is 4.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pid(pub u32);

impl Pid {
    pub const SYSTEM: Pid = Pid(4);
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The name NT gives the process that owns the system working set and system threads.
pub const SYSTEM_PROCESS_NAME: &str = "System";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProcessState {
    Running,
    Outswapped,
    Terminated,
}

impl ProcessState {
    pub fn name(self) -> &'static str {
        match self {
            ProcessState::Running => "running",
            ProcessState::Outswapped => "outswapped",
            ProcessState::Terminated => "terminated",
        }
    }
}

pub struct Process {
    pub pid: Pid,
    pub name: String,
    pub state: ProcessState,
    /// Simulated time of creation, in milliseconds.
    pub create_time_ms: u64,
}

/// All live processes, by pid and by name.
///
/// Invariant: `by_name` and `by_pid` hold the same processes; names are unique.
pub struct ProcessTable {
    by_pid: BTreeMap<Pid, Process>,
    by_name: HashMap<String, Pid>,
    /// The next pid to hand out. Pids are not reused while mmfs runs, so a stale
    /// path or handle can never reach a newer process that took its number.
    next_pid: u32,
}

/// The longest process name accepted.
pub const MAX_PROCESS_NAME: usize = 64;

/// Checks a name for a new process: it becomes a directory name and a word in
/// control commands, so it is restricted to a safe set of characters.
pub fn validate_process_name(name: &str) -> MmResult<()> {
    if name.is_empty() || name.len() > MAX_PROCESS_NAME {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "a process name has 1 to {MAX_PROCESS_NAME} characters"
        ));
    }
    if name.starts_with('.') {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "a process name may not start with '.'"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@')))
    {
        return Err(mm_err!(
            OBJECT_NAME_INVALID,
            "'{}' may not appear in a process name (use letters, digits and . _ - + @)",
            bad.escape_default()
        ));
    }
    Ok(())
}

impl ProcessTable {
    pub fn new() -> ProcessTable {
        ProcessTable {
            by_pid: BTreeMap::new(),
            by_name: HashMap::new(),
            next_pid: 8,
        }
    }

    /// Inserts a process with a fresh pid (or `pid` if given, for System).
    pub fn insert(&mut self, name: &str, pid: Option<Pid>, now_ms: u64) -> MmResult<Pid> {
        validate_process_name(name)?;
        if self.by_name.contains_key(name) {
            return Err(mm_err!(
                OBJECT_NAME_COLLISION,
                "a process named '{name}' already exists"
            ));
        }
        let pid = match pid {
            Some(p) => p,
            None => {
                let p = Pid(self.next_pid);
                self.next_pid = self
                    .next_pid
                    .checked_add(4)
                    .ok_or_else(|| mm_err!(INSUFFICIENT_RESOURCES, "no process ids are left"))?;
                p
            }
        };
        self.by_name.insert(name.to_string(), pid);
        self.by_pid.insert(
            pid,
            Process {
                pid,
                name: name.to_string(),
                state: ProcessState::Running,
                create_time_ms: now_ms,
            },
        );
        Ok(pid)
    }

    pub fn remove(&mut self, pid: Pid) -> Option<Process> {
        let p = self.by_pid.remove(&pid)?;
        self.by_name.remove(&p.name);
        Some(p)
    }

    pub fn get(&self, pid: Pid) -> Option<&Process> {
        self.by_pid.get(&pid)
    }

    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        self.by_pid.get_mut(&pid)
    }

    pub fn pid_of(&self, name: &str) -> Option<Pid> {
        self.by_name.get(name).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Process> {
        self.by_pid.values()
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

impl Default for ProcessTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::status::NtStatus;

    #[test]
    fn pids_are_multiples_of_four_and_not_reused() {
        let mut t = ProcessTable::new();
        t.insert("System", Some(Pid::SYSTEM), 0).unwrap();
        let a = t.insert("a", None, 0).unwrap();
        let b = t.insert("b", None, 0).unwrap();
        assert_eq!((a, b), (Pid(8), Pid(12)));
        t.remove(a);
        let c = t.insert("a", None, 0).unwrap();
        assert_eq!(c, Pid(16));
        assert_eq!(t.pid_of("a"), Some(Pid(16)));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn names_are_unique_and_checked() {
        let mut t = ProcessTable::new();
        t.insert("app", None, 0).unwrap();
        assert_eq!(
            t.insert("app", None, 0).unwrap_err().status,
            NtStatus::OBJECT_NAME_COLLISION
        );
        for bad in ["", ".hidden", "a b", "a/b", "x\n", &"n".repeat(65), "é"] {
            assert_eq!(
                t.insert(bad, None, 0).unwrap_err().status,
                NtStatus::OBJECT_NAME_INVALID,
                "{bad:?}"
            );
        }
        assert_eq!(t.len(), 1);
    }
}
