//! The volume's namespace: look-ups, attributes, and the calls that make,
//! remove, rename and change files. Each works on a directory of the volume
//! opened by [`Volume::dir_fd`] and one checked name; a regular file about to
//! be deleted or replaced is first cleared with the cache manager
//! (`cache_check_delete`), and a renamed one is told to it (`cache_renamed`).

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use fuser::{Errno, FileAttr, TimeOrNow};

use super::resolve::{Name, RelPath};
use super::sys::{self, HostStat};
use super::{Caller, OpenFile, Volume, attr_with, errno, lock};
use crate::mm::Mm;
use crate::mm::api::FileId;

/// What a setattr asks to change.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
}

impl Volume {
    /// Resolves `name` in the directory `parent` and counts the kernel's new
    /// reference to it.
    pub fn lookup(&self, mm: &Mm, parent: u64, name: &OsStr) -> Result<FileAttr, Errno> {
        let name = Name::from_os(name)?;
        let (pfd, _, ppath) = self.dir_fd(parent)?;
        self.enter(mm, &pfd, &ppath, name)
    }

    /// The entry for `name` in the open directory `pfd` (at `ppath`): a
    /// lookup counted in the inode table. `name` is one checked component,
    /// so fstatat without following a symlink stays in the directory.
    fn enter(
        &self,
        mm: &Mm,
        pfd: &OwnedFd,
        ppath: &RelPath,
        name: Name,
    ) -> Result<FileAttr, Errno> {
        let st = HostStat::at(pfd.as_raw_fd(), name)?;
        Ok(self.record(mm, ppath, name, &st))
    }

    /// Counts a kernel lookup of `name` in `ppath`, the host file `st`.
    fn record(&self, mm: &Mm, ppath: &RelPath, name: Name, st: &HostStat) -> FileAttr {
        let id = lock(&self.inodes).lookup(st.id(), ppath.join(name), st.is_file());
        self.attr_of(mm, id, st)
    }

    pub fn forget(&self, id: u64, n: u64) {
        lock(&self.inodes).forget(id, n);
    }

    /// The attributes of `id`: from the open handle `fh` if given (the file
    /// may have no name left), else by one of its names.
    pub fn getattr(&self, mm: &Mm, id: u64, fh: Option<u64>) -> Result<FileAttr, Errno> {
        if let Some(f) = fh.and_then(|fh| self.file_handle(fh).ok()) {
            return open_attr(mm, id, &f);
        }
        match self.open_node(id, libc::O_PATH) {
            Ok((_, st, _)) => Ok(self.attr_of(mm, id, &st)),
            // Unlinked but still open: the open file still has attributes.
            Err(e) => match self.any_open(id) {
                Some(f) => open_attr(mm, id, &f),
                None => Err(e),
            },
        }
    }

    pub fn mkdir(
        &self,
        mm: &Mm,
        parent: u64,
        name: &OsStr,
        mode: u32,
        who: Caller,
    ) -> Result<FileAttr, Errno> {
        self.make(mm, parent, name, who, Some(mode), |dir, name| {
            sys::mkdirat(dir, name, mode & 0o7777)
        })
    }

    /// mknod: regular files, FIFOs and sockets. Device nodes are refused
    /// (EPERM): the volume is not a way to reach the host's devices.
    pub fn mknod(
        &self,
        mm: &Mm,
        parent: u64,
        name: &OsStr,
        mode: u32,
        who: Caller,
    ) -> Result<FileAttr, Errno> {
        self.make(mm, parent, name, who, Some(mode), |dir, name| {
            match mode & libc::S_IFMT {
                libc::S_IFREG | 0 => {
                    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY;
                    self.beneath
                        .open_in(dir, name, flags, mode & 0o7777)
                        .map(drop)
                }
                libc::S_IFIFO | libc::S_IFSOCK => sys::mknodat(dir, name, mode),
                _ => Err(Errno::EPERM),
            }
        })
    }

    /// A symlink holding `target` as given: stored, never resolved here.
    pub fn symlink(
        &self,
        mm: &Mm,
        parent: u64,
        name: &OsStr,
        target: &[u8],
        who: Caller,
    ) -> Result<FileAttr, Errno> {
        self.make(mm, parent, name, who, None, |dir, name| {
            sys::symlinkat(target, dir, name)
        })
    }

    /// `name` in `parent`, made on the host by `host_make` (given the
    /// directory's descriptor), settled ([`Self::settle_new`], `mode` if given)
    /// and counted as a lookup.
    fn make(
        &self,
        mm: &Mm,
        parent: u64,
        name: &OsStr,
        who: Caller,
        mode: Option<u32>,
        host_make: impl FnOnce(RawFd, Name) -> Result<(), Errno>,
    ) -> Result<FileAttr, Errno> {
        let name = Name::from_os(name)?;
        let (pfd, pst, ppath) = self.dir_fd(parent)?;
        host_make(pfd.as_raw_fd(), name)?;
        let fd = self
            .beneath
            .open_in(pfd.as_raw_fd(), name, libc::O_PATH, 0)?;
        let st = HostStat::of(fd.as_raw_fd())?;
        let st = self.settle_new(fd.as_raw_fd(), st, &pst, who, mode)?;
        Ok(self.record(mm, &ppath, name, &st))
    }

    /// A new file (`fd`, stat `st`, in the directory `parent`) is its
    /// creator's (when mmfs runs as root, which may give it away), with the
    /// group of a set-group-ID directory, and has the mode asked for, whatever
    /// mmfs's own umask. Returns its stat after.
    pub(super) fn settle_new(
        &self,
        fd: RawFd,
        mut st: HostStat,
        parent: &HostStat,
        who: Caller,
        mode: Option<u32>,
    ) -> Result<HostStat, Errno> {
        let mut changed = false;
        if self.daemon_is_root {
            let gid = if parent.0.st_mode & libc::S_ISGID != 0 {
                parent.0.st_gid
            } else {
                who.gid
            };
            if st.0.st_uid != who.uid || st.0.st_gid != gid {
                sys::chown_fd(fd, Some(who.uid), Some(gid))?;
                // chown may clear the set-ID bits: the mode is checked after.
                st = HostStat::of(fd)?;
            }
        }
        if let Some(mode) = mode {
            let inherited = if st.is_dir() {
                st.0.st_mode & libc::S_ISGID
            } else {
                0
            };
            let want = (mode & 0o7777) | inherited;
            if st.0.st_mode & 0o7777 != want {
                sys::chmod_fd(fd, &st, want)?;
                changed = true;
            }
        }
        if changed {
            st = HostStat::of(fd)?;
        }
        Ok(st)
    }

    /// A hard link `newname` in `newparent` to the node `id`.
    pub fn link(
        &self,
        mm: &Mm,
        id: u64,
        newparent: u64,
        newname: &OsStr,
    ) -> Result<FileAttr, Errno> {
        let name = Name::from_os(newname)?;
        let (node, _, _) = self.open_node(id, libc::O_PATH)?;
        let (pfd, _, ppath) = self.dir_fd(newparent)?;
        sys::link_fd(node.as_raw_fd(), pfd.as_raw_fd(), name)?;
        self.enter(mm, &pfd, &ppath, name)
    }

    pub fn readlink(&self, id: u64) -> Result<Vec<u8>, Errno> {
        let (fd, st, _) = self.open_node(id, libc::O_PATH)?;
        if !st.is_symlink() {
            return Err(Errno::EINVAL);
        }
        sys::readlink_fd(fd.as_raw_fd())
    }

    /// Removes a file's name; not while a process maps it (EBUSY,
    /// STATUS_CANNOT_DELETE).
    pub fn unlink(&self, mm: &Mm, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let name = Name::from_os(name)?;
        let (pfd, _, ppath) = self.dir_fd(parent)?;
        let st = HostStat::at(pfd.as_raw_fd(), name)?;
        if st.is_file() {
            mm.cache_check_delete(st.id()).map_err(errno)?;
        }
        sys::unlinkat(pfd.as_raw_fd(), name, false)?;
        lock(&self.inodes).unlinked(&ppath.join(name));
        Ok(())
    }

    pub fn rmdir(&self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let name = Name::from_os(name)?;
        let (pfd, _, ppath) = self.dir_fd(parent)?;
        sys::unlinkat(pfd.as_raw_fd(), name, true)?;
        lock(&self.inodes).unlinked(&ppath.join(name));
        Ok(())
    }

    /// rename(2) and renameat2(2)'s RENAME_NOREPLACE and RENAME_EXCHANGE. A
    /// regular file a rename would replace is cleared with the cache manager
    /// first (EBUSY while a process maps it).
    pub fn rename(
        &self,
        mm: &Mm,
        from: (u64, &OsStr),
        to: (u64, &OsStr),
        flags: u32,
    ) -> Result<(), Errno> {
        let known = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE;
        if flags & !known != 0 {
            return Err(Errno::EINVAL);
        }
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        let (a, b) = (Name::from_os(from.1)?, Name::from_os(to.1)?);
        let (afd, _, apath) = self.dir_fd(from.0)?;
        let (bfd, _, bpath) = self.dir_fd(to.0)?;
        let src = HostStat::at(afd.as_raw_fd(), a)?;
        let dst = match HostStat::at(bfd.as_raw_fd(), b) {
            Ok(s) => Some(s),
            Err(e) if e == Errno::ENOENT => None,
            Err(e) => return Err(e),
        };
        if let Some(d) = &dst {
            if d.id() == src.id() && !exchange {
                // Two names of one file: rename does nothing (POSIX).
                return sys::renameat2(afd.as_raw_fd(), a, bfd.as_raw_fd(), b, flags);
            }
            if d.is_file() && !exchange && flags & libc::RENAME_NOREPLACE == 0 {
                mm.cache_check_delete(d.id()).map_err(errno)?;
            }
        }
        sys::renameat2(afd.as_raw_fd(), a, bfd.as_raw_fd(), b, flags)?;
        let (old, new) = (apath.join(a), bpath.join(b));
        let mut moved = {
            let mut t = lock(&self.inodes);
            if exchange {
                t.exchanged(&old, &new)
            } else {
                if dst.is_some() {
                    t.unlinked(&new);
                }
                t.renamed(&old, &new)
            }
        };
        if src.is_file() {
            moved.push((src.id(), new.clone()));
        }
        if let Some(d) = dst.filter(|d| exchange && d.is_file()) {
            moved.push((d.id(), old));
        }
        tell_renamed(mm, moved);
        Ok(())
    }

    /// chown, chmod, truncate and utimens, in that order, on the open handle
    /// `fh` if given (the file may have no name left), else by name.
    pub fn setattr(
        &self,
        mm: &Mm,
        id: u64,
        s: &SetAttr,
        fh: Option<u64>,
    ) -> Result<FileAttr, Errno> {
        let open = fh.and_then(|fh| self.file_handle(fh).ok());
        let by_name;
        let (fd, named) = match &open {
            Some(f) => (f.host.as_raw_fd(), None),
            None => {
                by_name = self.open_node(id, libc::O_PATH)?;
                (by_name.0.as_raw_fd(), Some(by_name.1))
            }
        };
        if s.uid.is_some() || s.gid.is_some() {
            sys::chown_fd(fd, s.uid, s.gid)?;
        }
        if let Some(mode) = s.mode {
            let st = match named {
                Some(st) => st,
                None => HostStat::of(fd)?,
            };
            sys::chmod_fd(fd, &st, mode)?;
        }
        if let Some(size) = s.size {
            match open.as_ref().filter(|f| f.writable) {
                Some(f) => f.set_size(mm, size)?,
                None => self.truncate_by_name(mm, id, size)?,
            }
        }
        if s.atime.is_some() || s.mtime.is_some() {
            sys::utimens_fd(fd, s.atime, s.mtime)?;
        }
        // The descriptor changed is the file: its attributes now.
        let st = HostStat::of(fd)?;
        Ok(match &open {
            Some(f) => attr_with(mm, id, &st, Some(f)),
            None => self.attr_of(mm, id, &st),
        })
    }

    /// truncate(2) without an open file: opened for it, through the cache.
    pub(super) fn truncate_by_name(&self, mm: &Mm, id: u64, size: u64) -> Result<(), Errno> {
        let flags = libc::O_RDWR | libc::O_NONBLOCK;
        let (fd, st, path) = self.open_node(id, flags)?;
        st.require_file()?;
        let cached = mm
            .cache_open(File::from(fd), &path.shown())
            .map_err(errno)?;
        let result = mm.cache_set_size(&cached, size).map_err(errno);
        if let Err(e) = mm.cache_close(cached) {
            log::warn!("files/{}: {e}", path.shown());
            lock(&self.lost).insert(st.id());
        }
        result
    }

    /// The host volume's statvfs: `(blocks, bfree, bavail, files, ffree,
    /// bsize, namelen, frsize)`.
    pub fn statfs(&self) -> Result<libc::statvfs, Errno> {
        sys::statvfs(self.beneath.root_fd())
    }
}

/// The attributes of the node `id` through its open file `f` (which may
/// have no name left).
fn open_attr(mm: &Mm, id: u64, f: &OpenFile) -> Result<FileAttr, Errno> {
    Ok(attr_with(
        mm,
        id,
        &HostStat::of(f.host.as_raw_fd())?,
        Some(f),
    ))
}

/// Tells the cache manager each regular file's new name (once per file).
fn tell_renamed(mm: &Mm, mut moved: Vec<(FileId, RelPath)>) {
    moved.reverse();
    let mut seen = std::collections::HashSet::new();
    for (id, path) in moved {
        if seen.insert(id) {
            mm.cache_renamed(id, &path.shown());
        }
    }
}
