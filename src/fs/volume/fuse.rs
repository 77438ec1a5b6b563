//! The volume's side of the fuser `Filesystem`: `fs/fuse.rs` hands every
//! request on a volume inode ([`owns`](super::owns)) to one of these, which
//! decode it, call the [`Volume`](super::Volume) and reply.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

use super::names::SetAttr;
use super::{Caller, FILES_INO, owns};
use crate::fs::MmFs;

/// How long the kernel may keep names and attributes. Every change to the
/// volume goes through mmfs, which the kernel sees; a change made behind
/// mmfs's back on the host shows within this time.
const TTL: Duration = Duration::from_secs(1);

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

fn entry(reply: ReplyEntry, r: Result<FileAttr, Errno>) {
    match r {
        Ok(a) => reply.entry(&TTL, &a, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn empty(reply: ReplyEmpty, r: Result<(), Errno>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

/// Regular files are direct I/O: every read and write reaches the cache
/// manager, and a host mmap goes through FUSE's page cache (the mount asks
/// for FUSE_DIRECT_IO_ALLOW_MMAP).
const FILE_OPEN: FopenFlags = FopenFlags::FOPEN_DIRECT_IO;

impl MmFs {
    /// `files/` as the mount's root lists and looks it up.
    pub(in crate::fs) fn vol_root_attr(&self) -> FileAttr {
        match self.volume.getattr(&self.mm, FILES_INO, None) {
            Ok(a) => a,
            Err(e) => {
                log::warn!("files/: cannot stat the volume's directory: {e:?}");
                self.vol_root_placeholder()
            }
        }
    }

    fn vol_root_placeholder(&self) -> FileAttr {
        FileAttr {
            ino: INodeNo(FILES_INO),
            size: 0,
            blocks: 0,
            atime: SystemTime::UNIX_EPOCH,
            mtime: SystemTime::UNIX_EPOCH,
            ctime: SystemTime::UNIX_EPOCH,
            crtime: SystemTime::UNIX_EPOCH,
            kind: FileType::Directory,
            perm: 0o700,
            nlink: 2,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    pub(in crate::fs) fn vol_lookup(&self, parent: u64, name: &OsStr, reply: ReplyEntry) {
        entry(reply, self.volume.lookup(&self.mm, parent, name));
    }

    pub(in crate::fs) fn vol_forget(&self, ino: u64, n: u64) {
        self.volume.forget(ino, n);
    }

    pub(in crate::fs) fn vol_getattr(&self, ino: u64, fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.volume.getattr(&self.mm, ino, fh.map(|f| f.0)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(in crate::fs) fn vol_setattr(
        &self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        fh: Option<FileHandle>,
        reply: ReplyAttr,
    ) {
        let s = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        match self.volume.setattr(&self.mm, ino, &s, fh.map(|f| f.0)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    pub(in crate::fs) fn vol_readlink(&self, ino: u64, reply: ReplyData) {
        match self.volume.readlink(ino) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(e),
        }
    }

    pub(in crate::fs) fn vol_mkdir(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        reply: ReplyEntry,
    ) {
        entry(
            reply,
            self.volume.mkdir(&self.mm, parent, name, mode, caller(req)),
        );
    }

    pub(in crate::fs) fn vol_mknod(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        reply: ReplyEntry,
    ) {
        entry(
            reply,
            self.volume.mknod(&self.mm, parent, name, mode, caller(req)),
        );
    }

    pub(in crate::fs) fn vol_symlink(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let target = target.as_os_str().as_bytes();
        entry(
            reply,
            self.volume
                .symlink(&self.mm, parent, name, target, caller(req)),
        );
    }

    pub(in crate::fs) fn vol_link(
        &self,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        if !owns(ino) || !owns(newparent) {
            return reply.error(Errno::EXDEV);
        }
        entry(reply, self.volume.link(&self.mm, ino, newparent, newname));
    }

    pub(in crate::fs) fn vol_unlink(&self, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.volume.unlink(&self.mm, parent, name));
    }

    pub(in crate::fs) fn vol_rmdir(&self, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.volume.rmdir(parent, name));
    }

    pub(in crate::fs) fn vol_rename(
        &self,
        from: (u64, &OsStr),
        to: (u64, &OsStr),
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !owns(from.0) || !owns(to.0) {
            return reply.error(Errno::EXDEV);
        }
        empty(reply, self.volume.rename(&self.mm, from, to, flags.bits()));
    }

    pub(in crate::fs) fn vol_create(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self
            .volume
            .create(&self.mm, parent, name, mode, flags, caller(req))
        {
            Ok((attr, fh)) => reply.created(&TTL, &attr, Generation(0), FileHandle(fh), FILE_OPEN),
            Err(e) => reply.error(e),
        }
    }

    pub(in crate::fs) fn vol_open(&self, ino: u64, flags: OpenFlags, reply: ReplyOpen) {
        match self.volume.open(&self.mm, ino, flags.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FILE_OPEN),
            Err(e) => reply.error(e),
        }
    }

    pub(in crate::fs) fn vol_read(
        &self,
        fh: FileHandle,
        offset: u64,
        size: u32,
        flags: OpenFlags,
        reply: ReplyData,
    ) {
        self.volume
            .read_with(&self.mm, fh.0, (offset, size), flags.0, |r| match r {
                Ok(bytes) => reply.data(bytes),
                Err(e) => reply.error(e),
            });
        // Read-ahead the copy asked for is the `read-ahead` system thread's
        // (NT's worker thread), never this one's: see threads/read_ahead.rs.
    }

    pub(in crate::fs) fn vol_write(
        &self,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        flags: OpenFlags,
        reply: ReplyWrite,
    ) {
        match self.volume.write(&self.mm, fh.0, offset, data, flags.0) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    pub(in crate::fs) fn vol_flush(&self, fh: FileHandle, reply: ReplyEmpty) {
        empty(reply, self.volume.flush(&self.mm, fh.0));
    }

    pub(in crate::fs) fn vol_release(&self, fh: FileHandle, reply: ReplyEmpty) {
        empty(reply, self.volume.release(&self.mm, fh.0));
    }

    pub(in crate::fs) fn vol_fsync(&self, fh: FileHandle, reply: ReplyEmpty) {
        empty(reply, self.volume.fsync(&self.mm, fh.0));
    }

    pub(in crate::fs) fn vol_opendir(&self, ino: u64, reply: ReplyOpen) {
        match self.volume.opendir(ino) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    pub(in crate::fs) fn vol_readdir(
        &self,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self
            .volume
            .readdir(fh.0, offset, |ino, cookie, kind, name| {
                reply.add(INodeNo(ino), cookie, kind, name)
            });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(in crate::fs) fn vol_releasedir(&self, fh: FileHandle, reply: ReplyEmpty) {
        self.volume.releasedir(fh.0);
        reply.ok();
    }

    pub(in crate::fs) fn vol_fsyncdir(&self, fh: FileHandle, datasync: bool, reply: ReplyEmpty) {
        empty(reply, self.volume.fsyncdir(fh.0, datasync));
    }

    pub(in crate::fs) fn vol_statfs(&self, reply: ReplyStatfs) {
        match self.volume.statfs() {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(e),
        }
    }
}
