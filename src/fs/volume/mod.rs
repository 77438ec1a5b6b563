//! `files/`: the `--files` volume, a real read-write directory tree (SPEC §8).
//!
//! The names, directories, links and attributes are the host's, reached only
//! through the safe resolver in [`resolve`]; every byte of a regular file goes
//! through the memory manager's cache (`Mm::cache_*`), never straight to the
//! host file. `names.rs` has the namespace operations (lookup, mkdir, rename,
//! setattr, ...), `io.rs` the open files and directory listings, `fuse.rs` the
//! replies.
//!
//! Inode numbers and how a node is found again are in [`inodes`] (a path per
//! name, resolved from the volume's root each time). The volume has no README
//! of its own: a `README` there would hide a real file of that name, so the
//! root README describes `files/`.
//!
//! Locks: `inodes`, `handles` and `lost` are leaves, each held only to read or
//! update its table: never while calling into `Mm`, never during host I/O (the
//! one exception is a directory handle's own mutex, held while its listing is
//! read from the host, which only readers of that one handle wait for).

mod fuse;
mod inodes;
mod io;
mod names;
mod resolve;
mod sys;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use fuser::{Errno, FileAttr, INodeNo};

use crate::mm::api::{CachedFile, FileId};
use crate::mm::{Mm, MmError};
use inodes::VolumeInodes;
pub use inodes::{FILES_INO, owns};
use resolve::{Beneath, RelPath};
use sys::HostStat;

use super::lock;

/// Who asks: new files and directories are theirs (SPEC §9). The same user
/// the generated tree's access checks name (`fs/access.rs`).
pub type Caller = super::access::Who;

/// One open of a regular file.
#[derive(Debug)]
struct OpenFile {
    id: u64,
    key: FileId,
    /// The cache's open; taken out at release (reads and writes hold it shared).
    cached: RwLock<Option<CachedFile>>,
    /// The same host file, for its attributes only (never its data).
    host: File,
    writable: bool,
}

impl OpenFile {
    /// The cache's open, shared (`None` once released).
    fn cached(&self) -> RwLockReadGuard<'_, Option<CachedFile>> {
        self.cached.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Truncates or extends the file through the cache (CcSetFileSizes:
    /// pages past a new end purged); EBADF once released.
    fn set_size(&self, mm: &Mm, size: u64) -> Result<(), Errno> {
        let guard = self.cached();
        let cached = guard.as_ref().ok_or(Errno::EBADF)?;
        mm.cache_set_size(cached, size).map_err(errno)
    }
}

/// One open directory: its listing, read from the host as the kernel asks.
#[derive(Debug)]
struct OpenDir {
    id: u64,
    fd: OwnedFd,
    /// The directory's device, for the inode numbers of its entries.
    dev: u64,
    /// Entries read so far; readdir offset `i + 1` resumes after entry `i`.
    entries: Vec<io::DirEntry>,
    /// The host has no more entries.
    done: bool,
}

#[derive(Clone, Debug)]
enum Handle {
    File(Arc<OpenFile>),
    Dir(Arc<Mutex<OpenDir>>),
}

#[derive(Debug)]
pub struct Volume {
    beneath: Beneath,
    inodes: Mutex<VolumeInodes>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_fh: AtomicU64,
    /// Files whose close reported a lost delayed write: the next flush or
    /// fsync of that file returns EIO (NT's lost-delayed-write).
    lost: Mutex<HashSet<FileId>>,
    /// Running as root: new files are given to their creator.
    daemon_is_root: bool,
}

/// An NT status as the errno a file call returns (SPEC §3).
fn errno(e: MmError) -> Errno {
    super::errno::errno_for(e.status)
}

impl Volume {
    /// The volume at `dir`, which must be a directory.
    pub fn new(dir: &std::path::Path) -> std::io::Result<Volume> {
        let beneath = Beneath::open(dir)?;
        let st = HostStat::of(beneath.root_fd())
            .map_err(|e| std::io::Error::from_raw_os_error(e.code()))?;
        Ok(Volume {
            beneath,
            inodes: Mutex::new(VolumeInodes::new(st.id())),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            lost: Mutex::new(HashSet::new()),
            daemon_is_root: nix::unistd::geteuid().is_root(),
        })
    }

    /// How many nodes the inode table holds (the root included).
    #[cfg(test)]
    pub fn inode_count(&self) -> usize {
        lock(&self.inodes).len()
    }

    /// Opens the node `id` by one of its names with `flags`, checking that the
    /// host file found there is still that node (ESTALE if another file took
    /// the name behind mmfs's back). A rename racing with the look-up is tried
    /// again with the new name.
    fn open_node(&self, id: u64, flags: i32) -> Result<(OwnedFd, HostStat, RelPath), Errno> {
        let mut err = Errno::ENOENT;
        let mut tried: Option<Vec<RelPath>> = None;
        for _ in 0..3 {
            let (key, paths) = lock(&self.inodes).get(id).ok_or(Errno::ESTALE)?;
            if tried.as_ref() == Some(&paths) {
                break;
            }
            for path in &paths {
                match self.beneath.open_path(path, flags, 0) {
                    Ok(fd) => {
                        let st = HostStat::of(fd.as_raw_fd())?;
                        if st.id() == key {
                            return Ok((fd, st, path.clone()));
                        }
                        err = Errno::ESTALE;
                    }
                    Err(e) => err = e,
                }
            }
            tried = Some(paths);
        }
        Err(err)
    }

    /// The directory `id`, opened O_PATH for `*at()` calls, with its path.
    fn dir_fd(&self, id: u64) -> Result<(OwnedFd, HostStat, RelPath), Errno> {
        let (fd, st, path) = self.open_node(id, libc::O_PATH | libc::O_DIRECTORY)?;
        if !st.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok((fd, st, path))
    }

    fn insert_handle(&self, h: Handle) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(fh, h);
        fh
    }

    fn file_handle(&self, fh: u64) -> Result<Arc<OpenFile>, Errno> {
        match lock(&self.handles).get(&fh) {
            Some(Handle::File(f)) => Ok(Arc::clone(f)),
            Some(Handle::Dir(_)) => Err(Errno::EISDIR),
            None => Err(Errno::EBADF),
        }
    }

    fn dir_handle(&self, fh: u64) -> Result<Arc<Mutex<OpenDir>>, Errno> {
        match lock(&self.handles).get(&fh) {
            Some(Handle::Dir(d)) => Ok(Arc::clone(d)),
            Some(Handle::File(_)) => Err(Errno::ENOTDIR),
            None => Err(Errno::EBADF),
        }
    }

    /// Some open of the node `id`, if any (for the cache's idea of its size).
    fn any_open(&self, id: u64) -> Option<Arc<OpenFile>> {
        lock(&self.handles).values().find_map(|h| match h {
            Handle::File(f) if f.id == id => Some(Arc::clone(f)),
            _ => None,
        })
    }

    /// The attributes of the host file `st` as node `id`; an open file's size
    /// is the cache's (it may hold bytes the host file does not have yet).
    fn attr_of(&self, mm: &Mm, id: u64, st: &HostStat) -> FileAttr {
        let open = if st.is_file() {
            self.any_open(id)
        } else {
            None
        };
        attr_with(mm, id, st, open.as_deref())
    }
}

/// [`Volume::attr_of`] with the open file `open` already in hand (no search
/// of the handle table).
fn attr_with(mm: &Mm, id: u64, st: &HostStat, open: Option<&OpenFile>) -> FileAttr {
    let mut a = host_attr(id, st);
    if st.is_file()
        && let Some(open) = open
        && let Some(size) = open
            .cached()
            .as_ref()
            .and_then(|c| mm.cache_file_size(c).ok())
    {
        a.size = size;
    }
    a
}

/// A host stat as FUSE attributes, with the node id as the inode number.
fn host_attr(id: u64, st: &HostStat) -> FileAttr {
    let s = &st.0;
    let time = sys::system_time;
    FileAttr {
        ino: INodeNo(id),
        size: s.st_size as u64,
        blocks: s.st_blocks as u64,
        atime: time(s.st_atime, s.st_atime_nsec),
        mtime: time(s.st_mtime, s.st_mtime_nsec),
        ctime: time(s.st_ctime, s.st_ctime_nsec),
        crtime: time(s.st_ctime, s.st_ctime_nsec),
        kind: st.kind(),
        perm: (s.st_mode & 0o7777) as u16,
        nlink: s.st_nlink as u32,
        uid: s.st_uid,
        gid: s.st_gid,
        rdev: s.st_rdev as u32,
        blksize: s.st_blksize as u32,
        flags: 0,
    }
}
