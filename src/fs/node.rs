//! The shape of the tree: which names exist in which directory, and what each
//! node is. Pure logic over [`Mm`] views, with no FUSE types, so path handling is
//! tested (and fuzzed) without a mount.

use crate::cmd::args::parse_number;
use crate::cmd::{SectionKey, Target};
use crate::mm::Mm;
use crate::mm::base::types::Pid;
use crate::mm::pfn::PageLocation;

/// A directory of the tree.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Dir {
    Root,
    System,
    Pfn,
    PfnLists,
    Processes,
    Pids,
    Process(Pid),
    /// `processes/<name>/pte/`: lookup-only entries, one per virtual address.
    PteDir(Pid),
    Pagefiles,
    /// `pagefiles/<name>/`, by the paging file's index (PageFileLow); paging files
    /// are never removed, so an index always means the same file.
    Pagefile(u8),
    Sections,
    /// `sections/<name>/`: named and told apart from a later section of the same
    /// name by its key.
    Section(SectionKey),
    /// `cache/`: the cache manager's views and control file.
    Cache,
    /// `kernel/`: system space (its memory, system PTEs, MDLs).
    Kernel,
    /// `pool/`: the executive pool.
    Pool,
    /// `kernel/mdls/`: the MDLs and their control file.
    Mdls,
}

/// Which README a directory has: every process directory shares one text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DirClass {
    Root,
    System,
    Pfn,
    PfnLists,
    Processes,
    Pids,
    Process,
    PteDir,
    Pagefiles,
    Pagefile,
    Sections,
    Section,
    Cache,
    Kernel,
    Pool,
    Mdls,
}

/// Files of `system/`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SystemFile {
    Meminfo,
    Counters,
    Usecounts,
    Layout,
    Config,
    Threads,
    Events,
    Verify,
    Control,
    /// `history.svg`: the last ten minutes, a sample a second.
    HistorySvg,
    /// `dashboard.html`: the key numbers and the pictures, for a browser.
    Dashboard,
}

/// Files of a process directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ProcessFile {
    Status,
    Mem,
    Vads,
    Ptes,
    Workingset,
    Maps,
    /// The fork clone blocks the process's PTEs refer to.
    Clones,
    /// Its AWE pages and where each is mapped.
    Awe,
    /// GetWriteWatch over the process's write-watch regions.
    WriteWatch,
    Control,
    /// Its address space as a picture (VMMap's).
    MapSvg,
}

/// Files of a section directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SectionFile {
    Info,
    PrototypePtes,
    Views,
    Control,
}

/// A regular file of the tree.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum File {
    Readme(DirClass),
    System(SystemFile),
    PfnList(PageLocation),
    /// `pfn/lists/standby-N`: one standby priority's list.
    StandbyList(u8),
    PfnDb,
    /// `pfn/priorities`: the standby lists by priority (RAMMap's Priority Summary).
    PfnPriorities,
    /// `pfn/<PFN>` (lookup-only).
    PfnEntry(u32),
    /// `pfn/map.png`: every physical page as a pixel (RAMMap's picture).
    PfnMap,
    Process(Pid, ProcessFile),
    /// `processes/<name>/pte/<VA>` (lookup-only).
    PteEntry(Pid, u64),
    PagefilesControl,
    PagefileInfo(u8),
    SectionsControl,
    Section(SectionKey, SectionFile),
    /// `cache/stats`, `cache/views`, `cache/files`, `cache/control`.
    Cache(CacheFile),
    /// The files of `kernel/`.
    Kernel(KernelFile),
    /// `pool/allocations`, `pool/used`, `pool/control`.
    Pool(PoolFile),
    /// `pool/<ADDRESS>` (lookup-only): the pool page holding that address.
    PoolPage(u64),
}

/// Files of `kernel/`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum KernelFile {
    /// The system address space, read and written through the MMU.
    Mem,
    /// The system PTE pool.
    Sysptes,
    /// `kernel/mdls/control`.
    MdlsControl,
    /// `kernel/mdls/<id>`: one MDL.
    Mdl(u32),
}

const KERNEL_FILES: [(&str, KernelFile); 2] =
    [("mem", KernelFile::Mem), ("sysptes", KernelFile::Sysptes)];

/// Whose memory a `mem` file is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MemSpace {
    /// `processes/<name>/mem`: a process's user address space.
    Process(Pid),
    /// `kernel/mem`: system space, as the kernel sees it.
    Kernel,
}

/// Files of `pool/`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PoolFile {
    Allocations,
    Used,
    Control,
}

const POOL_FILES: [(&str, PoolFile); 3] = [
    ("allocations", PoolFile::Allocations),
    ("used", PoolFile::Used),
    ("control", PoolFile::Control),
];

/// Files of `cache/`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CacheFile {
    Stats,
    Views,
    Files,
    Control,
}

const CACHE_FILES: [(&str, CacheFile); 4] = [
    ("stats", CacheFile::Stats),
    ("views", CacheFile::Views),
    ("files", CacheFile::Files),
    ("control", CacheFile::Control),
];

/// Any node: the key the inode table maps to an inode number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Node {
    Dir(Dir),
    File(File),
    /// `pids/<pid>`, a symlink to `../processes/<name>`.
    PidLink(Pid),
    /// `files/`, the `--files` volume's root: it and everything below it are
    /// served by `fs/volume`, with inode numbers of their own.
    Volume,
}

/// How a file's contents are produced and served.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileClass {
    /// A snapshot rendered at open, read-only.
    Generated,
    /// Line commands in, the last outcome out.
    Control(Target),
    /// An address space: every access goes through the simulated MMU.
    Mem(MemSpace),
    /// `system/events`: a live stream, reads block until an event comes.
    Events,
}

const SYSTEM_FILES: [(&str, SystemFile); 11] = [
    ("meminfo", SystemFile::Meminfo),
    ("counters", SystemFile::Counters),
    ("usecounts", SystemFile::Usecounts),
    ("layout", SystemFile::Layout),
    ("config", SystemFile::Config),
    ("threads", SystemFile::Threads),
    ("events", SystemFile::Events),
    ("verify", SystemFile::Verify),
    ("control", SystemFile::Control),
    ("history.svg", SystemFile::HistorySvg),
    ("dashboard.html", SystemFile::Dashboard),
];

const PROCESS_FILES: [(&str, ProcessFile); 11] = [
    ("status", ProcessFile::Status),
    ("mem", ProcessFile::Mem),
    ("vads", ProcessFile::Vads),
    ("ptes", ProcessFile::Ptes),
    ("workingset", ProcessFile::Workingset),
    ("maps", ProcessFile::Maps),
    ("clones", ProcessFile::Clones),
    ("awe", ProcessFile::Awe),
    ("write-watch", ProcessFile::WriteWatch),
    ("control", ProcessFile::Control),
    ("map.svg", ProcessFile::MapSvg),
];

const SECTION_FILES: [(&str, SectionFile); 4] = [
    ("info", SectionFile::Info),
    ("prototype-ptes", SectionFile::PrototypePtes),
    ("views", SectionFile::Views),
    ("control", SectionFile::Control),
];

/// `pfn/lists/` in the SPEC's order.
pub const PFN_LISTS: [(&str, PageLocation); 7] = [
    ("zeroed", PageLocation::Zeroed),
    ("free", PageLocation::Free),
    ("standby", PageLocation::Standby),
    ("modified", PageLocation::Modified),
    ("modified-no-write", PageLocation::ModifiedNoWrite),
    ("bad", PageLocation::Bad),
    ("active", PageLocation::Active),
];

/// `pfn/lists/standby-0` ... `standby-7`: NT's eight standby lists, by page
/// priority (`standby` is all eight, priority 0 first).
pub const STANDBY_PRIORITIES: u8 = 8;

fn standby_list_name(priority: u8) -> String {
    format!("standby-{priority}")
}

/// The priority a `standby-N` name stands for (only the canonical spelling).
fn standby_list_priority(name: &str) -> Option<u8> {
    let n: u8 = name.strip_prefix("standby-")?.parse().ok()?;
    (n < STANDBY_PRIORITIES && standby_list_name(n) == name).then_some(n)
}

impl Dir {
    pub fn class(self) -> DirClass {
        match self {
            Dir::Root => DirClass::Root,
            Dir::System => DirClass::System,
            Dir::Pfn => DirClass::Pfn,
            Dir::PfnLists => DirClass::PfnLists,
            Dir::Processes => DirClass::Processes,
            Dir::Pids => DirClass::Pids,
            Dir::Process(_) => DirClass::Process,
            Dir::PteDir(_) => DirClass::PteDir,
            Dir::Pagefiles => DirClass::Pagefiles,
            Dir::Pagefile(_) => DirClass::Pagefile,
            Dir::Sections => DirClass::Sections,
            Dir::Section(_) => DirClass::Section,
            Dir::Cache => DirClass::Cache,
            Dir::Kernel => DirClass::Kernel,
            Dir::Pool => DirClass::Pool,
            Dir::Mdls => DirClass::Mdls,
        }
    }

    /// Whether users may add and remove entries: `mkdir`/`rmdir` make and end
    /// processes; `rmdir` removes a section's name (sections are made by `create`).
    pub fn is_writable(self) -> bool {
        matches!(self, Dir::Processes | Dir::Sections)
    }
}

impl File {
    pub fn class(self) -> FileClass {
        match self {
            File::System(SystemFile::Control) => FileClass::Control(Target::System),
            File::System(SystemFile::Events) => FileClass::Events,
            File::PagefilesControl => FileClass::Control(Target::Pagefiles),
            File::Cache(CacheFile::Control) => FileClass::Control(Target::Cache),
            File::Pool(PoolFile::Control) => FileClass::Control(Target::Pool),
            File::SectionsControl => FileClass::Control(Target::Sections),
            File::Section(key, SectionFile::Control) => FileClass::Control(Target::Section(key)),
            File::Process(pid, ProcessFile::Control) => FileClass::Control(Target::Process(pid)),
            File::Process(pid, ProcessFile::Mem) => FileClass::Mem(MemSpace::Process(pid)),
            File::Kernel(KernelFile::Mem) => FileClass::Mem(MemSpace::Kernel),
            File::Kernel(KernelFile::MdlsControl) => FileClass::Control(Target::Mdls),
            _ => FileClass::Generated,
        }
    }
}

/// What `stat` reports as the size of `system/history.svg` and
/// `system/dashboard.html`; every rendering is padded to it (`File::fixed_size`).
pub const HISTORY_SVG_SIZE: u64 = 256 * 1024;
pub const DASHBOARD_SIZE: u64 = 64 * 1024;

impl File {
    /// Pictures whose size has no useful bound (it grows with RAM or with the
    /// number of regions): `stat` renders them and reports the exact length,
    /// and an `open` soon after serves that same rendering
    /// (`MmFs::rendered_for_stat`), so a browser that reads up to the size it
    /// was told gets the whole picture.
    pub fn sized_at_stat(self) -> bool {
        matches!(self, File::PfnMap | File::Process(_, ProcessFile::MapSvg))
    }

    /// The size a file shows to `stat`, if not 0 (every other generated file,
    /// like /proc's): the pages and pictures a browser opens. Chromium reads
    /// a file:// URL only up to the size `stat` gave, so a size-0 file shows
    /// as an empty page; each rendering of these is padded with blank lines
    /// to this size (`render::render`), which holds the largest there can be.
    pub fn fixed_size(self) -> Option<u64> {
        match self {
            File::System(SystemFile::HistorySvg) => Some(HISTORY_SVG_SIZE),
            File::System(SystemFile::Dashboard) => Some(DASHBOARD_SIZE),
            _ => None,
        }
    }
}

/// The process a node belongs to, if any: such nodes vanish with the process.
pub fn owning_process(node: Node) -> Option<Pid> {
    match node {
        Node::Dir(Dir::Process(p) | Dir::PteDir(p))
        | Node::File(File::Process(p, _) | File::PteEntry(p, _))
        | Node::PidLink(p) => Some(p),
        _ => None,
    }
}

/// The section a node belongs to, if any: such nodes vanish with the section's name.
pub fn owning_section(node: Node) -> Option<SectionKey> {
    match node {
        Node::Dir(Dir::Section(k)) | Node::File(File::Section(k, _)) => Some(k),
        _ => None,
    }
}

/// Whether a node still exists (its process may have been terminated, its
/// section deleted).
pub fn exists(mm: &Mm, node: Node) -> bool {
    if let Some(pid) = owning_process(node) {
        return mm.process_name(pid).is_some();
    }
    if let Some(key) = owning_section(node) {
        return key.is_live(mm);
    }
    if let Node::File(File::Kernel(KernelFile::Mdl(id))) = node {
        return mm.mdl(id).is_some();
    }
    true
}

const README: &str = "README";

fn find<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Resolves `name` in `dir`. Lookup-only names (which `list` does not show) resolve too.
pub fn lookup(mm: &Mm, dir: Dir, name: &str) -> Option<Node> {
    if !exists(mm, Node::Dir(dir)) {
        return None;
    }
    if name == README {
        return Some(Node::File(File::Readme(dir.class())));
    }
    match dir {
        Dir::Root => match name {
            "system" => Some(Node::Dir(Dir::System)),
            "pfn" => Some(Node::Dir(Dir::Pfn)),
            "processes" => Some(Node::Dir(Dir::Processes)),
            "pids" => Some(Node::Dir(Dir::Pids)),
            "sections" => Some(Node::Dir(Dir::Sections)),
            "pagefiles" => Some(Node::Dir(Dir::Pagefiles)),
            "files" => Some(Node::Volume),
            "cache" => Some(Node::Dir(Dir::Cache)),
            "kernel" => Some(Node::Dir(Dir::Kernel)),
            "pool" => Some(Node::Dir(Dir::Pool)),
            _ => None,
        },
        Dir::Pool => find(&POOL_FILES, name)
            .map(|f| Node::File(File::Pool(f)))
            .or_else(|| {
                let addr = parse_number(name).ok()?;
                mm.pool_page(addr)
                    .is_ok()
                    .then_some(Node::File(File::PoolPage(addr / 4096 * 4096)))
            }),
        Dir::Cache => find(&CACHE_FILES, name).map(|f| Node::File(File::Cache(f))),
        Dir::Kernel if name == "mdls" => Some(Node::Dir(Dir::Mdls)),
        Dir::Kernel => find(&KERNEL_FILES, name).map(|f| Node::File(File::Kernel(f))),
        Dir::Mdls => match name {
            "control" => Some(Node::File(File::Kernel(KernelFile::MdlsControl))),
            _ => {
                let id = name.parse::<u32>().ok()?;
                mm.mdl(id)
                    .map(|_| Node::File(File::Kernel(KernelFile::Mdl(id))))
            }
        },
        Dir::System => find(&SYSTEM_FILES, name).map(|f| Node::File(File::System(f))),
        Dir::Pfn => match name {
            "lists" => Some(Node::Dir(Dir::PfnLists)),
            "db" => Some(Node::File(File::PfnDb)),
            "priorities" => Some(Node::File(File::PfnPriorities)),
            "map.png" => Some(Node::File(File::PfnMap)),
            _ => {
                let pfn = u32::try_from(parse_number(name).ok()?).ok()?;
                (pfn < mm.physical_pages()).then_some(Node::File(File::PfnEntry(pfn)))
            }
        },
        Dir::PfnLists => find(&PFN_LISTS, name)
            .map(|l| Node::File(File::PfnList(l)))
            .or_else(|| standby_list_priority(name).map(|p| Node::File(File::StandbyList(p)))),
        Dir::Processes => mm.pid_of(name).map(|p| Node::Dir(Dir::Process(p))),
        Dir::Pids => {
            // Only the canonical decimal spelling, so each pid has one name.
            let pid: u32 = name.parse().ok()?;
            if pid.to_string() != name {
                return None;
            }
            mm.process_name(Pid(pid)).map(|_| Node::PidLink(Pid(pid)))
        }
        Dir::Process(pid) => match name {
            "pte" => Some(Node::Dir(Dir::PteDir(pid))),
            _ => find(&PROCESS_FILES, name).map(|f| Node::File(File::Process(pid, f))),
        },
        Dir::PteDir(pid) => {
            let va = parse_number(name).ok()?;
            (va <= mm.highest_user_address() || mm.is_system_address(va))
                .then_some(Node::File(File::PteEntry(pid, va)))
        }
        Dir::Pagefiles => match name {
            "control" => Some(Node::File(File::PagefilesControl)),
            _ => mm
                .pagefiles()
                .into_iter()
                .find(|f| f.name == name)
                .map(|f| Node::Dir(Dir::Pagefile(f.index))),
        },
        Dir::Pagefile(i) => (name == "info").then_some(Node::File(File::PagefileInfo(i))),
        Dir::Sections => match name {
            "control" => Some(Node::File(File::SectionsControl)),
            _ => SectionKey::of(mm, name).map(|k| Node::Dir(Dir::Section(k))),
        },
        Dir::Section(k) => find(&SECTION_FILES, name).map(|f| Node::File(File::Section(k, f))),
    }
}

/// The root's entries, in the order `ls` shows them.
const ROOT_ENTRIES: [(&str, Node); 10] = [
    ("system", Node::Dir(Dir::System)),
    ("pfn", Node::Dir(Dir::Pfn)),
    ("processes", Node::Dir(Dir::Processes)),
    ("pids", Node::Dir(Dir::Pids)),
    ("sections", Node::Dir(Dir::Sections)),
    ("pagefiles", Node::Dir(Dir::Pagefiles)),
    ("files", Node::Volume),
    ("cache", Node::Dir(Dir::Cache)),
    ("kernel", Node::Dir(Dir::Kernel)),
    ("pool", Node::Dir(Dir::Pool)),
];

/// The entries `ls` shows in `dir`, in a stable order (README first).
pub fn list(mm: &Mm, dir: Dir) -> Vec<(String, Node)> {
    let mut out = vec![(README.to_string(), Node::File(File::Readme(dir.class())))];
    let mut add = |name: &str, node| out.push((name.to_string(), node));
    match dir {
        Dir::Root => {
            for (n, node) in ROOT_ENTRIES {
                add(n, node);
            }
        }
        Dir::Kernel => {
            for (n, f) in KERNEL_FILES {
                add(n, Node::File(File::Kernel(f)));
            }
            add("mdls", Node::Dir(Dir::Mdls));
        }
        Dir::Mdls => {
            add("control", Node::File(File::Kernel(KernelFile::MdlsControl)));
            for d in mm.mdls() {
                add(
                    &d.id.to_string(),
                    Node::File(File::Kernel(KernelFile::Mdl(d.id))),
                );
            }
        }
        Dir::Pool => {
            for (n, f) in POOL_FILES {
                add(n, Node::File(File::Pool(f)));
            }
        }
        Dir::Cache => {
            for (n, f) in CACHE_FILES {
                add(n, Node::File(File::Cache(f)));
            }
        }
        Dir::System => {
            for (n, f) in SYSTEM_FILES {
                add(n, Node::File(File::System(f)));
            }
        }
        Dir::Pfn => {
            add("lists", Node::Dir(Dir::PfnLists));
            add("db", Node::File(File::PfnDb));
            add("priorities", Node::File(File::PfnPriorities));
            add("map.png", Node::File(File::PfnMap));
        }
        Dir::PfnLists => {
            for (n, l) in PFN_LISTS {
                add(n, Node::File(File::PfnList(l)));
            }
            for p in 0..STANDBY_PRIORITIES {
                add(&standby_list_name(p), Node::File(File::StandbyList(p)));
            }
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
                for (n, f) in PROCESS_FILES {
                    add(n, Node::File(File::Process(pid, f)));
                }
                add("pte", Node::Dir(Dir::PteDir(pid)));
            }
        }
        Dir::PteDir(_) => {}
        Dir::Pagefiles => {
            add("control", Node::File(File::PagefilesControl));
            for f in mm.pagefiles() {
                add(&f.name, Node::Dir(Dir::Pagefile(f.index)));
            }
        }
        Dir::Pagefile(i) => add("info", Node::File(File::PagefileInfo(i))),
        Dir::Sections => {
            add("control", Node::File(File::SectionsControl));
            // A name deleted between the two looks is left out.
            for name in mm.section_names() {
                if let Some(k) = SectionKey::of(mm, &name) {
                    add(&name, Node::Dir(Dir::Section(k)));
                }
            }
        }
        Dir::Section(k) => {
            if k.is_live(mm) {
                for (n, f) in SECTION_FILES {
                    add(n, Node::File(File::Section(k, f)));
                }
            }
        }
    }
    out
}

/// The parent of a directory (for `..`).
pub fn parent(dir: Dir) -> Dir {
    match dir {
        Dir::Root
        | Dir::System
        | Dir::Pfn
        | Dir::Processes
        | Dir::Pids
        | Dir::Sections
        | Dir::Pagefiles
        | Dir::Cache
        | Dir::Kernel
        | Dir::Pool => Dir::Root,
        Dir::Pagefile(_) => Dir::Pagefiles,
        Dir::Mdls => Dir::Kernel,
        Dir::Section(_) => Dir::Sections,
        Dir::PfnLists => Dir::Pfn,
        Dir::Process(_) => Dir::Processes,
        Dir::PteDir(p) => Dir::Process(p),
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
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::protection::Protection;
    use crate::mm::base::types::Arch;

    fn mm() -> Mm {
        Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap()
    }

    /// Every listed name resolves to the same node by lookup, in every directory.
    #[test]
    fn listed_names_resolve() {
        let m = mm();
        m.create_process("app").unwrap();
        m.create_section("shm", 0x10000, None, Protection::READWRITE, false)
            .unwrap();
        let mut dirs = vec![Dir::Root];
        let mut seen = 0;
        while let Some(d) = dirs.pop() {
            for (name, node) in list(&m, d) {
                assert_eq!(lookup(&m, d, &name), Some(node), "{d:?}/{name}");
                if let Node::Dir(sub) = node {
                    assert_eq!(parent(sub), d);
                    dirs.push(sub);
                }
                seen += 1;
            }
        }
        assert!(seen > 30);
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
        assert_eq!(lookup(&m, Dir::PteDir(pid), "0x10000"), None);
        assert!(list(&m, Dir::Process(pid)).len() == 1);
    }

    #[test]
    fn lookup_only_entries() {
        let m = mm();
        let pages = m.physical_pages();
        assert_eq!(
            lookup(&m, Dir::Pfn, "0x1a3"),
            Some(Node::File(File::PfnEntry(0x1a3)))
        );
        assert_eq!(
            lookup(&m, Dir::Pfn, "419"),
            Some(Node::File(File::PfnEntry(419)))
        );
        assert_eq!(lookup(&m, Dir::Pfn, &format!("{pages}")), None);
        assert_eq!(lookup(&m, Dir::Pfn, "0x"), None);
        assert!(!list(&m, Dir::Pfn).iter().any(|(n, _)| n.starts_with("0x")));
        let pte = Dir::PteDir(Pid::SYSTEM);
        assert_eq!(
            lookup(&m, pte, "0x10000"),
            Some(Node::File(File::PteEntry(Pid::SYSTEM, 0x10000)))
        );
        assert_eq!(
            lookup(&m, pte, "0x80000000"),
            Some(Node::File(File::PteEntry(Pid::SYSTEM, 0x8000_0000))),
            "system space"
        );
        assert_eq!(
            lookup(&m, pte, "0x7fff0000"),
            None,
            "the gap above user space"
        );
        assert_eq!(lookup(&m, pte, "0x100000000"), None, "past 4 GB on x86");
        assert_eq!(lookup(&m, pte, "junk"), None);
        assert_eq!(list(&m, pte).len(), 1, "only the README is listed");
    }

    #[test]
    fn standby_lists_by_priority_and_the_new_files() {
        let m = mm();
        let names = |d| -> Vec<String> { list(&m, d).into_iter().map(|(n, _)| n).collect() };
        let lists = names(Dir::PfnLists);
        assert_eq!(lists[3], "standby", "the SPEC's lists keep their place");
        assert_eq!(
            lists[8..],
            (0..8).map(|p| format!("standby-{p}")).collect::<Vec<_>>()
        );
        assert_eq!(
            lookup(&m, Dir::PfnLists, "standby-7"),
            Some(Node::File(File::StandbyList(7)))
        );
        for bad in [
            "standby-8",
            "standby-03",
            "standby-",
            "standby--1",
            "standby-+1",
        ] {
            assert_eq!(lookup(&m, Dir::PfnLists, bad), None, "{bad}");
        }
        assert_eq!(
            lookup(&m, Dir::Pfn, "priorities"),
            Some(Node::File(File::PfnPriorities))
        );
        assert!(names(Dir::Pfn).contains(&"priorities".to_string()));
        let pid = m.create_process("app").unwrap();
        assert_eq!(
            lookup(&m, Dir::Process(pid), "clones"),
            Some(Node::File(File::Process(pid, ProcessFile::Clones)))
        );
        assert_eq!(
            lookup(&m, Dir::Process(pid), "write-watch"),
            Some(Node::File(File::Process(pid, ProcessFile::WriteWatch)))
        );
    }

    #[test]
    fn every_directory_has_a_readme() {
        let m = mm();
        for d in [
            Dir::Root,
            Dir::System,
            Dir::Pfn,
            Dir::PfnLists,
            Dir::Processes,
            Dir::Pids,
            Dir::Process(Pid(4)),
            Dir::PteDir(Pid(4)),
            Dir::Pagefiles,
            Dir::Pagefile(0),
            Dir::Sections,
            Dir::Section(SectionKey::new("gone", crate::mm::segment::ControlAreaId(99)).unwrap()),
            Dir::Cache,
            Dir::Kernel,
            Dir::Pool,
            Dir::Mdls,
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
            Dir::Pfn,
            Dir::PfnLists,
            Dir::Processes,
            Dir::Pids,
            Dir::Process(Pid(4)),
            Dir::PteDir(Pid(4)),
            Dir::Sections,
        ] {
            for name in [
                "",
                ".",
                "..",
                "nope",
                "\u{0}",
                "README/x",
                &"x".repeat(300),
                "-1",
                "0x-1",
            ] {
                assert_eq!(lookup(&m, d, name), None, "{d:?} {name:?}");
            }
        }
    }
}

#[cfg(test)]
mod section_tests {
    use super::*;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::protection::Protection;
    use crate::mm::base::types::Arch;

    /// Sections come and go in listings and lookups; a deleted section's nodes
    /// stop existing, and a new section of the same name is a different node.
    #[test]
    fn sections_appear_and_vanish() {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let names = |m: &Mm| -> Vec<String> {
            list(m, Dir::Sections).into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(names(&m), ["README", "control"]);
        assert_eq!(lookup(&m, Dir::Sections, "shm"), None);
        m.create_section("shm", 0x10000, None, Protection::READWRITE, false)
            .unwrap();
        assert_eq!(names(&m), ["README", "control", "shm"]);
        let Some(Node::Dir(dir @ Dir::Section(key))) = lookup(&m, Dir::Sections, "shm") else {
            panic!("shm does not resolve to a section directory");
        };
        assert_eq!(key.name(), "shm");
        let files: Vec<String> = list(&m, dir).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            files,
            ["README", "info", "prototype-ptes", "views", "control"]
        );
        let control = lookup(&m, dir, "control").unwrap();
        let Node::File(f) = control else {
            panic!("control is not a file")
        };
        assert_eq!(f.class(), FileClass::Control(Target::Section(key)));
        assert!(exists(&m, control));

        m.delete_section("shm").unwrap();
        assert!(!exists(&m, Node::Dir(dir)));
        assert!(!exists(&m, control));
        assert_eq!(lookup(&m, dir, "info"), None);
        assert_eq!(
            list(&m, dir).len(),
            1,
            "only the README of a deleted section"
        );
        m.create_section("shm", 0x2000, None, Protection::READWRITE, false)
            .unwrap();
        assert!(!exists(&m, control), "the old control file stays gone");
        assert_ne!(lookup(&m, Dir::Sections, "shm"), Some(Node::Dir(dir)));
    }
}
