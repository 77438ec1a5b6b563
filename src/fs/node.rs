//! The shape of the tree: which names exist in which directory, and what each
//! node is. Pure logic over [`Mm`] views, with no FUSE types, so path handling is
//! tested (and fuzzed) without a mount.

use crate::cmd::Target;
use crate::mm::Mm;
use crate::mm::process::Pid;

/// A directory of the tree.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Dir {
    Root,
    System,
    Processes,
    Pids,
    Process(Pid),
}

/// Which README a directory has: every process directory shares one text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DirClass {
    Root,
    System,
    Processes,
    Pids,
    Process,
}

/// A regular file of the tree.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum File {
    Readme(DirClass),
    SystemConfig,
    SystemLayout,
    SystemControl,
    ProcessStatus(Pid),
}

/// Any node: the key the inode table maps to an inode number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Node {
    Dir(Dir),
    File(File),
    /// `pids/<pid>`, a symlink to `../processes/<name>`.
    PidLink(Pid),
}

/// How a file's contents are produced and served.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileClass {
    /// A snapshot rendered at open, read-only.
    Generated,
    /// Line commands in, the last outcome out.
    Control(Target),
}

impl Dir {
    pub fn class(self) -> DirClass {
        match self {
            Dir::Root => DirClass::Root,
            Dir::System => DirClass::System,
            Dir::Processes => DirClass::Processes,
            Dir::Pids => DirClass::Pids,
            Dir::Process(_) => DirClass::Process,
        }
    }

    /// Whether `mkdir`/`rmdir` work in this directory.
    pub fn makes_processes(self) -> bool {
        self == Dir::Processes
    }
}

impl File {
    pub fn class(self) -> FileClass {
        match self {
            File::SystemControl => FileClass::Control(Target::System),
            _ => FileClass::Generated,
        }
    }
}

/// The process a node belongs to, if any: such nodes vanish with the process.
pub fn owning_process(node: Node) -> Option<Pid> {
    match node {
        Node::Dir(Dir::Process(p)) | Node::File(File::ProcessStatus(p)) | Node::PidLink(p) => {
            Some(p)
        }
        _ => None,
    }
}

/// Whether a node still exists (its process may have been terminated).
pub fn exists(mm: &Mm, node: Node) -> bool {
    match owning_process(node) {
        Some(pid) => mm.process_name(pid).is_some(),
        None => true,
    }
}

const README: &str = "README";

/// Resolves `name` in `dir`. Lookup-only names (which `list` does not show) resolve too.
pub fn lookup(mm: &Mm, dir: Dir, name: &str) -> Option<Node> {
    if name == README {
        return Some(Node::File(File::Readme(dir.class())));
    }
    match dir {
        Dir::Root => match name {
            "system" => Some(Node::Dir(Dir::System)),
            "processes" => Some(Node::Dir(Dir::Processes)),
            "pids" => Some(Node::Dir(Dir::Pids)),
            _ => None,
        },
        Dir::System => match name {
            "config" => Some(Node::File(File::SystemConfig)),
            "layout" => Some(Node::File(File::SystemLayout)),
            "control" => Some(Node::File(File::SystemControl)),
            _ => None,
        },
        Dir::Processes => mm.pid_of(name).map(|p| Node::Dir(Dir::Process(p))),
        Dir::Pids => {
            // Only the canonical decimal spelling, so each pid has one name.
            let pid: u32 = name.parse().ok()?;
            if pid.to_string() != name {
                return None;
            }
            mm.process_name(Pid(pid)).map(|_| Node::PidLink(Pid(pid)))
        }
        Dir::Process(pid) => {
            mm.process_name(pid)?;
            match name {
                "status" => Some(Node::File(File::ProcessStatus(pid))),
                _ => None,
            }
        }
    }
}

/// The entries `ls` shows in `dir`, in a stable order (README first).
pub fn list(mm: &Mm, dir: Dir) -> Vec<(String, Node)> {
    let mut out = vec![(README.to_string(), Node::File(File::Readme(dir.class())))];
    let mut add = |name: &str, node| out.push((name.to_string(), node));
    match dir {
        Dir::Root => {
            add("system", Node::Dir(Dir::System));
            add("processes", Node::Dir(Dir::Processes));
            add("pids", Node::Dir(Dir::Pids));
        }
        Dir::System => {
            add("config", Node::File(File::SystemConfig));
            add("layout", Node::File(File::SystemLayout));
            add("control", Node::File(File::SystemControl));
        }
        Dir::Processes => {
            for p in mm.processes() {
                add(&p.name, Node::Dir(Dir::Process(p.pid)));
            }
        }
        Dir::Pids => {
            for p in mm.processes() {
                add(&p.pid.to_string(), Node::PidLink(p.pid));
            }
        }
        Dir::Process(pid) => {
            if mm.process_name(pid).is_some() {
                add("status", Node::File(File::ProcessStatus(pid)));
            }
        }
    }
    out
}

/// The parent of a directory (for `..`).
pub fn parent(dir: Dir) -> Dir {
    match dir {
        Dir::Root | Dir::System | Dir::Processes | Dir::Pids => Dir::Root,
        Dir::Process(_) => Dir::Processes,
    }
}

/// The target of a symlink.
pub fn readlink(mm: &Mm, node: Node) -> Option<String> {
    match node {
        Node::PidLink(pid) => mm.process_name(pid).map(|n| format!("../processes/{n}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::config::MmConfig;
    use crate::mm::types::Arch;

    fn mm() -> Mm {
        Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap()
    }

    /// Every listed name resolves to the same node by lookup, in every directory.
    #[test]
    fn listed_names_resolve() {
        let m = mm();
        m.create_process("app").unwrap();
        let mut dirs = vec![Dir::Root];
        while let Some(d) = dirs.pop() {
            for (name, node) in list(&m, d) {
                assert_eq!(lookup(&m, d, &name), Some(node), "{d:?}/{name}");
                if let Node::Dir(sub) = node {
                    assert_eq!(parent(sub), d);
                    dirs.push(sub);
                }
            }
        }
    }

    #[test]
    fn pids_and_processes() {
        let m = mm();
        let pid = m.create_process("app").unwrap();
        let link = lookup(&m, Dir::Pids, &pid.to_string()).unwrap();
        assert_eq!(readlink(&m, link).unwrap(), "../processes/app");
        assert_eq!(lookup(&m, Dir::Pids, "08"), None);
        assert_eq!(lookup(&m, Dir::Pids, "+8"), None);
        assert_eq!(lookup(&m, Dir::Pids, "99999999999"), None);
        assert_eq!(
            readlink(&m, lookup(&m, Dir::Pids, "4").unwrap()).unwrap(),
            "../processes/System"
        );
        m.terminate_process(pid).unwrap();
        assert!(!exists(&m, link));
        assert_eq!(lookup(&m, Dir::Process(pid), "status"), None);
        assert!(list(&m, Dir::Process(pid)).len() == 1);
    }

    #[test]
    fn every_directory_has_a_readme() {
        let m = mm();
        for d in [
            Dir::Root,
            Dir::System,
            Dir::Processes,
            Dir::Pids,
            Dir::Process(Pid(4)),
        ] {
            assert!(list(&m, d).iter().any(|(n, _)| n == "README"));
        }
    }

    #[test]
    fn odd_names_resolve_to_nothing() {
        let m = mm();
        for d in [
            Dir::Root,
            Dir::System,
            Dir::Processes,
            Dir::Pids,
            Dir::Process(Pid(4)),
        ] {
            for name in ["", ".", "..", "nope", "\u{0}", "README/x", &"x".repeat(300)] {
                assert_eq!(lookup(&m, d, name), None, "{d:?} {name:?}");
            }
        }
    }
}
