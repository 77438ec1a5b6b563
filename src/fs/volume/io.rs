//! Open files and directories of the volume.
//!
//! A regular file's bytes move only through the cache manager: `open` and
//! `create` hand the host file to `Mm::cache_open`, reads and writes are
//! `cache_read`/`cache_write` (O_SYNC and O_DSYNC write through, O_DIRECT
//! goes to `cache_direct_*`, which wants 512-byte alignment), `fsync` is
//! `cache_flush` and `release` is `cache_close`. The host file is opened
//! read-only for a read-only open and read-write for any write (the cache reads
//! a page before it changes part of it), never with O_APPEND (the kernel
//! gives every write its offset) or O_TRUNC (truncation goes through the
//! cache: `cache_set_size`).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::{Arc, Mutex, RwLock};

use fuser::{Errno, FileAttr, FileType};

use super::inodes::FILES_INO;
use super::resolve::{Name, RelPath, check, last_errno};
use super::sys::{self, HostStat};
use super::{Caller, Handle, OpenDir, OpenFile, Volume, attr_with, errno, lock};
use crate::fs::read_buffer::with_read_buffer;
use crate::mm::Mm;
use crate::mm::api::WriteMode;

/// One directory entry as readdir returns it.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub ino: u64,
    pub kind: FileType,
    pub name: OsString,
}

/// The inode number of the mount's root, `..` of `files/`.
const MOUNT_ROOT_INO: u64 = 1;

/// The host open flags for an open asking `flags`.
fn host_flags(flags: i32) -> i32 {
    let access = if flags & libc::O_ACCMODE == libc::O_RDONLY {
        libc::O_RDONLY
    } else {
        libc::O_RDWR
    };
    // O_NONBLOCK: a FIFO put in place of the file must not hang the daemon.
    access | libc::O_NONBLOCK
}

fn writable(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY
}

impl Volume {
    /// Opens the regular file `id`. Returns the handle.
    /// With O_TRUNC (FUSE_ATOMIC_O_TRUNC: no setattr follows) the file is
    /// then truncated through the cache, as the setattr did; if that fails
    /// (a process maps it: EBUSY) the open fails and nothing is kept.
    pub fn open(&self, mm: &Mm, id: u64, flags: i32) -> Result<u64, Errno> {
        let (fd, st, path) = self.open_node(id, host_flags(flags))?;
        st.require_file()?;
        let (fh, open) = self.open_cached(mm, id, fd, &st, &path, flags)?;
        if flags & libc::O_TRUNC != 0 {
            let truncated = if writable(flags) {
                open.set_size(mm, 0)
            } else {
                // A read-only descriptor cannot truncate: by name, as the setattr did.
                self.truncate_by_name(mm, id, 0)
            };
            if let Err(e) = truncated {
                let _ = self.release(mm, fh);
                return Err(e);
            }
        }
        Ok(fh)
    }

    /// Hands the host file `fd` (stat `st`) to the cache and records the
    /// open. Returns the handle and the open file.
    fn open_cached(
        &self,
        mm: &Mm,
        id: u64,
        fd: OwnedFd,
        st: &HostStat,
        path: &RelPath,
        flags: i32,
    ) -> Result<(u64, Arc<OpenFile>), Errno> {
        let file = File::from(fd);
        let host = file.try_clone().map_err(Errno::from)?;
        let cached = mm.cache_open(file, &path.shown()).map_err(errno)?;
        let open = Arc::new(OpenFile {
            id,
            key: st.id(),
            cached: RwLock::new(Some(cached)),
            host,
            writable: writable(flags),
        });
        Ok((self.insert_handle(Handle::File(Arc::clone(&open))), open))
    }

    /// create(2): `name` in `parent`, made if missing (O_EXCL: must be), and
    /// opened. An existing file opened with O_TRUNC is truncated through the
    /// cache. Returns its attributes and the handle.
    pub fn create(
        &self,
        mm: &Mm,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        who: Caller,
    ) -> Result<(FileAttr, u64), Errno> {
        let name = Name::from_os(name)?;
        let (pfd, pst, ppath) = self.dir_fd(parent)?;
        let base = host_flags(flags);
        let mode = mode & 0o7777;
        let excl = self.beneath.open_in(
            pfd.as_raw_fd(),
            name,
            base | libc::O_CREAT | libc::O_EXCL,
            mode,
        );
        let (fd, made) = match excl {
            Ok(fd) => (fd, true),
            Err(e) if e == Errno::EEXIST && flags & libc::O_EXCL == 0 => {
                (self.beneath.open_in(pfd.as_raw_fd(), name, base, 0)?, false)
            }
            Err(e) => return Err(e),
        };
        let mut st = HostStat::of(fd.as_raw_fd())?;
        st.require_file()?;
        if made {
            st = self.settle_new(fd.as_raw_fd(), st, &pst, who, Some(mode))?;
        }
        let path = ppath.join(name);
        let id = lock(&self.inodes).lookup(st.id(), path.clone(), true);
        let (fh, open) = self.open_cached(mm, id, fd, &st, &path, flags)?;
        if !made && flags & libc::O_TRUNC != 0 && writable(flags) {
            let truncated = open.set_size(mm, 0);
            match truncated.and_then(|()| HostStat::of(open.host.as_raw_fd())) {
                Ok(now) => st = now,
                // The kernel gets no handle from a failed create: close it here.
                Err(e) => {
                    let _ = self.release(mm, fh);
                    return Err(e);
                }
            }
        }
        Ok((attr_with(mm, id, &st, Some(&open)), fh))
    }

    /// A read at `offset`: through the cache, or around it for O_DIRECT
    /// (`flags` are the file's flags now, as fcntl may have changed them).
    pub fn read(
        &self,
        mm: &Mm,
        fh: u64,
        offset: u64,
        size: u32,
        flags: i32,
    ) -> Result<Vec<u8>, Errno> {
        let mut out = Err(Errno::EIO);
        self.read_with(mm, fh, (offset, size), flags, |r| {
            out = r.map(<[u8]>::to_vec)
        });
        out
    }

    /// `read`, handing the bytes to `reply` from this thread's read buffer
    /// (`fs/read_buffer.rs`) instead of a new one.
    pub fn read_with(
        &self,
        mm: &Mm,
        fh: u64,
        (offset, size): (u64, u32),
        flags: i32,
        reply: impl FnOnce(Result<&[u8], Errno>),
    ) {
        with_read_buffer(size as usize, |buf| {
            match self.read_into(mm, fh, offset, flags, buf) {
                Ok(n) => reply(Ok(&buf[..n])),
                Err(e) => reply(Err(e)),
            }
        });
    }

    /// Fills the start of `buf` from `offset`; returns how many bytes it
    /// filled (every one of them written by this read: the cache copies all
    /// it returns, a direct read what the host read).
    fn read_into(
        &self,
        mm: &Mm,
        fh: u64,
        offset: u64,
        flags: i32,
        buf: &mut [u8],
    ) -> Result<usize, Errno> {
        let f = self.file_handle(fh)?;
        let guard = f.cached();
        let cached = guard.as_ref().ok_or(Errno::EBADF)?;
        if flags & libc::O_DIRECT != 0 {
            mm.cache_direct_read(cached, offset, buf)
        } else {
            mm.cache_read(cached, offset, buf)
        }
        .map_err(errno)
    }

    pub fn write(
        &self,
        mm: &Mm,
        fh: u64,
        offset: u64,
        data: &[u8],
        flags: i32,
    ) -> Result<u32, Errno> {
        let f = self.file_handle(fh)?;
        if !f.writable {
            return Err(Errno::EBADF);
        }
        let guard = f.cached();
        let cached = guard.as_ref().ok_or(Errno::EBADF)?;
        let n = if flags & libc::O_DIRECT != 0 {
            mm.cache_direct_write(cached, offset, data)
        } else {
            let mode = if flags & libc::O_DSYNC != 0 {
                WriteMode::WriteThrough
            } else {
                WriteMode::Buffered
            };
            mm.cache_write(cached, offset, data, mode)
        }
        .map_err(errno)?;
        Ok(n as u32)
    }

    /// close(2) of one descriptor: nothing is written (SPEC: close does not
    /// flush), but a lost delayed write of the file is reported, once.
    pub fn flush(&self, mm: &Mm, fh: u64) -> Result<(), Errno> {
        let f = self.file_handle(fh)?;
        let lost = f.cached().as_ref().map(|c| mm.cache_check_lost(c));
        if let Some(Err(e)) = lost {
            log::warn!("close of a files/ file: {e}");
            return Err(Errno::EIO);
        }
        self.take_lost(&f)
    }

    fn take_lost(&self, f: &OpenFile) -> Result<(), Errno> {
        if lock(&self.lost).remove(&f.key) {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }

    /// fsync/fdatasync: FlushFileBuffers. Any failure is EIO.
    pub fn fsync(&self, mm: &Mm, fh: u64) -> Result<(), Errno> {
        let f = self.file_handle(fh)?;
        let flushed = match f.cached().as_ref() {
            Some(c) => mm.cache_flush(c),
            None => return Err(Errno::EBADF),
        };
        if let Err(e) = flushed {
            log::warn!("fsync of a files/ file: {e}");
            return Err(Errno::EIO);
        }
        self.take_lost(&f)
    }

    /// The last close: the cache's open ends. Its error (a lost delayed write)
    /// cannot reach that close any more, so the next flush or fsync of the
    /// file reports it.
    pub fn release(&self, mm: &Mm, fh: u64) -> Result<(), Errno> {
        let Some(Handle::File(f)) = lock(&self.handles).remove(&fh) else {
            return Err(Errno::EBADF);
        };
        let cached = f.cached.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(c) = cached
            && let Err(e) = mm.cache_close(c)
        {
            log::warn!("close of a files/ file: {e}");
            lock(&self.lost).insert(f.key);
            return Err(Errno::EIO);
        }
        Ok(())
    }

    pub fn opendir(&self, id: u64) -> Result<u64, Errno> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        let (fd, st, _) = self.open_node(id, flags)?;
        if !st.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let dir = OpenDir {
            id,
            fd,
            dev: st.0.st_dev,
            entries: Vec::new(),
            done: false,
        };
        Ok(self.insert_handle(Handle::Dir(Arc::new(Mutex::new(dir)))))
    }

    /// Lists from `offset` (0, or the cookie of the entry to resume after),
    /// calling `add(ino, cookie, kind, name)` until it says the reply is full.
    /// Entries are read from the host as far as asked, so a huge directory
    /// costs memory only as far as it is read; offset 0 starts over
    /// (rewinddir sees the directory as it is now).
    pub fn readdir(
        &self,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(u64, u64, FileType, &OsStr) -> bool,
    ) -> Result<(), Errno> {
        let d = self.dir_handle(fh)?;
        let mut d = d.lock().unwrap_or_else(|e| e.into_inner());
        if offset == 0 && (!d.entries.is_empty() || d.done) {
            // SAFETY: lseek on the directory's own descriptor.
            check(unsafe { libc::lseek(d.fd.as_raw_fd(), 0, libc::SEEK_SET) } as libc::c_int)?;
            d.entries.clear();
            d.done = false;
        }
        let mut i = offset as usize;
        loop {
            while i >= d.entries.len() && !d.done {
                self.read_more(&mut d)?;
            }
            let Some(e) = d.entries.get(i) else {
                return Ok(());
            };
            if add(e.ino, (i + 1) as u64, e.kind, &e.name) {
                return Ok(());
            }
            i += 1;
        }
    }

    /// One getdents64 of the host directory into `d.entries`.
    fn read_more(&self, d: &mut OpenDir) -> Result<(), Errno> {
        let mut buf = vec![0u8; 32 * 1024];
        // SAFETY: getdents64 into a buffer of the length given.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                d.fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(last_errno());
        }
        if n == 0 {
            d.done = true;
            return Ok(());
        }
        let mut at = 0usize;
        while at < n as usize {
            let rec = &buf[at..];
            let ino = u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes"));
            let reclen = u16::from_ne_bytes(rec[16..18].try_into().expect("2 bytes")) as usize;
            let dtype = rec[18];
            let name_bytes = &rec[19..reclen];
            let len = name_bytes
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(name_bytes.len());
            let name = name_bytes[..len].to_vec();
            at += reclen;
            let entry = self.dir_entry(d, ino, dtype, name)?;
            d.entries.push(entry);
        }
        Ok(())
    }

    fn dir_entry(
        &self,
        d: &OpenDir,
        ino: u64,
        dtype: u8,
        name: Vec<u8>,
    ) -> Result<DirEntry, Errno> {
        let ino = match name.as_slice() {
            b"." => d.id,
            b".." if d.id == FILES_INO => MOUNT_ROOT_INO,
            _ => lock(&self.inodes).listed_ino(d.dev, ino),
        };
        let kind = match dtype {
            libc::DT_DIR => FileType::Directory,
            libc::DT_REG => FileType::RegularFile,
            libc::DT_LNK => FileType::Symlink,
            libc::DT_FIFO => FileType::NamedPipe,
            libc::DT_SOCK => FileType::Socket,
            libc::DT_CHR => FileType::CharDevice,
            libc::DT_BLK => FileType::BlockDevice,
            _ => match Name::new(&name) {
                Ok(n) => HostStat::at(d.fd.as_raw_fd(), n)
                    .map(|s| s.kind())
                    .unwrap_or(FileType::RegularFile),
                Err(_) => FileType::Directory,
            },
        };
        Ok(DirEntry {
            ino,
            kind,
            name: OsString::from_vec(name),
        })
    }

    pub fn releasedir(&self, fh: u64) {
        lock(&self.handles).remove(&fh);
    }

    /// fsync of a directory: its entries, on the host.
    pub fn fsyncdir(&self, fh: u64, datasync: bool) -> Result<(), Errno> {
        let d = self.dir_handle(fh)?;
        let d = d.lock().unwrap_or_else(|e| e.into_inner());
        sys::fsync(&d.fd, datasync)
    }
}
