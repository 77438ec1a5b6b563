//! The fuser `Filesystem` implementation: argument decoding and replies only;
//! every decision is made by the `MmFs` methods it calls.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, IoctlFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyIoctl,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use super::access::{self, Who};
use super::node::{FileClass, MemSpace, Node};
use super::volume::owns as in_volume;
use super::{MmFs, ReadFrom};

/// How long the kernel may cache names and attributes. Short, because processes
/// come and go; every content access still reaches mmfs (direct I/O).
const TTL: Duration = Duration::from_secs(1);

impl MmFs {
    fn attr(&self, ino: u64, node: Node) -> FileAttr {
        // Owner and mode from the access rules (`access.rs`): what the
        // kernel's default_permissions checks, and what `ls -l` shows.
        let owner = access::access_of(self.mm(), node, self.machine_owner());
        let (kind, nlink, size) = match node {
            Node::Volume => return self.vol_root_attr(),
            Node::Dir(_) => (FileType::Directory, 2, 0),
            Node::PidLink(_) => {
                let len = self.readlink(ino).map(|t| t.len() as u64).unwrap_or(0);
                (FileType::Symlink, 1, len)
            }
            Node::File(f) => match f.class() {
                FileClass::Generated if f.sized_at_stat() => {
                    (FileType::RegularFile, 1, self.rendered_for_stat(ino, f))
                }
                FileClass::Generated | FileClass::Events | FileClass::Control(_) => {
                    (FileType::RegularFile, 1, f.fixed_size().unwrap_or(0))
                }
                // Sized as the address space, like a view of it.
                FileClass::Mem(space) => (
                    FileType::RegularFile,
                    1,
                    match space {
                        MemSpace::Process(_) => self.mm().highest_user_address() + 1,
                        MemSpace::Kernel => self.mm().kernel_mem_size(),
                    },
                ),
            },
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: 0,
            atime: self.mount_time,
            mtime: self.mount_time,
            ctime: self.mount_time,
            crtime: self.mount_time,
            kind,
            perm: owner.mode,
            nlink,
            uid: owner.uid,
            gid: owner.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

fn name_str(name: &OsStr) -> Option<&str> {
    name.to_str()
}

/// The user a request comes from.
fn who(req: &Request) -> Who {
    Who {
        uid: req.uid(),
        gid: req.gid(),
    }
}

// Every request on an inode of `files/` goes to the volume's handler
// (`volume/fuse.rs`); the rest is the generated tree's.
impl Filesystem for MmFs {
    /// A host mmap of a `files/` file (direct I/O) goes through FUSE's page cache.
    /// O_TRUNC comes with the open (FUSE_ATOMIC_O_TRUNC) instead of as a
    /// setattr after it: one round trip less per `echo > control`; `open` and
    /// `Volume::open` truncate. Without it the kernel sends the setattr, as before.
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(missing) = config.add_capabilities(InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP) {
            log::info!("the kernel lacks {missing:?}: no shared mmap of files/ files");
        }
        if let Err(missing) = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC) {
            log::info!("the kernel lacks {missing:?}: O_TRUNC comes as a setattr");
        }
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if in_volume(parent.0) {
            return self.vol_lookup(parent.0, name, reply);
        }
        let Some(name) = name_str(name) else {
            return reply.error(Errno::ENOENT);
        };
        match self.lookup(parent.0, name, who(req)) {
            Ok((ino, node)) => reply.entry(&TTL, &self.attr(ino, node), Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        if in_volume(ino.0) {
            return self.vol_forget(ino.0, nlookup);
        }
        MmFs::forget(self, ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        if in_volume(ino.0) {
            return self.vol_getattr(ino.0, fh, reply);
        }
        match self.getattr(ino.0) {
            Ok(node) => reply.attr(&TTL, &self.attr(ino.0, node)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if in_volume(ino.0) {
            return self.vol_setattr(ino.0, mode, uid, gid, size, atime, mtime, fh, reply);
        }
        if mode.is_some() || uid.is_some() || gid.is_some() {
            return reply.error(Errno::EPERM);
        }
        let result = match size {
            Some(_) => self.truncate(ino.0, who(req)),
            // Time updates (touch) are accepted and ignored: times are the mount's.
            None => self.getattr(ino.0),
        };
        match result {
            Ok(node) => reply.attr(&TTL, &self.attr(ino.0, node)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        if in_volume(ino.0) {
            return self.vol_readlink(ino.0, reply);
        }
        match MmFs::readlink(self, ino.0) {
            Ok(t) => reply.data(t.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        if in_volume(parent.0) {
            return self.vol_mkdir(req, parent.0, name, mode & !(umask & 0o7777), reply);
        }
        let Some(name) = name_str(name) else {
            return reply.error(Errno::EINVAL);
        };
        match MmFs::mkdir(self, parent.0, name, who(req)) {
            Ok((ino, node)) => reply.entry(&TTL, &self.attr(ino, node), Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if in_volume(parent.0) {
            return self.vol_mknod(req, parent.0, name, mode & !(umask & 0o7777), reply);
        }
        reply.error(Errno::EPERM);
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if in_volume(parent.0) {
            return self.vol_rmdir(parent.0, name, reply);
        }
        let Some(name) = name_str(name) else {
            return reply.error(Errno::ENOENT);
        };
        match MmFs::rmdir(self, parent.0, name, who(req)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if in_volume(parent.0) {
            return self.vol_unlink(parent.0, name, reply);
        }
        reply.error(Errno::EPERM);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if in_volume(parent.0) || in_volume(newparent.0) {
            return self.vol_rename((parent.0, name), (newparent.0, newname), flags, reply);
        }
        reply.error(Errno::EPERM);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        if in_volume(parent.0) {
            return self.vol_symlink(req, parent.0, link_name, target, reply);
        }
        reply.error(Errno::EPERM);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        if in_volume(ino.0) || in_volume(newparent.0) {
            return self.vol_link(ino.0, newparent.0, newname, reply);
        }
        reply.error(Errno::EPERM);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        if in_volume(parent.0) {
            return self.vol_create(req, parent.0, name, mode & !(umask & 0o7777), flags, reply);
        }
        reply.error(Errno::EACCES);
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if in_volume(ino.0) {
            return self.vol_open(ino.0, flags, reply);
        }
        let mut want = match flags.acc_mode() {
            OpenAccMode::O_RDONLY => access::READ,
            OpenAccMode::O_WRONLY => access::WRITE,
            _ => access::READ | access::WRITE,
        };
        // The truncation of an O_TRUNC open (FUSE_ATOMIC_O_TRUNC): what `truncate`
        // allows, a control or mem file its writer may write, and nothing else
        // (EACCES for generated files and events, as for the setattr).
        if flags.0 & libc::O_TRUNC != 0 {
            want |= access::WRITE;
        }
        match MmFs::open(self, ino.0, want, who(req)) {
            // Direct I/O: every read reaches mmfs, and a size-0 file still shows its
            // bytes. A stream (events) has no offsets either.
            // A descriptor whose close has nothing to do (`Opened::flush`) is not
            // sent a FLUSH at each close: one round trip less per `cat control`.
            Ok(o) => {
                let mut flags = FopenFlags::FOPEN_DIRECT_IO;
                if o.stream {
                    flags |= FopenFlags::FOPEN_NONSEEKABLE;
                }
                if !o.flush {
                    flags |= FopenFlags::FOPEN_NOFLUSH;
                }
                reply.opened(FileHandle(o.fh), flags)
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if in_volume(ino.0) {
            return self.vol_read(fh, offset, size, flags, reply);
        }
        match MmFs::read(self, fh.0, offset, size) {
            Ok(ReadFrom::Bytes(bytes)) => reply.data(&bytes),
            Ok(ReadFrom::Mem(space)) => self.read_mem_with(space, offset, size, |r| match r {
                Ok(bytes) => reply.data(bytes),
                Err(e) => reply.error(e),
            }),
            Ok(ReadFrom::Stream(s)) => s.read_with(&self.mm, offset, size, |b| reply.data(b)),
            Ok(ReadFrom::Events(sub)) => {
                // May block: the reply is finished by a waiter thread, never here.
                let nonblock = flags.0 & libc::O_NONBLOCK != 0;
                super::events::serve_read(sub, size, req.pid(), nonblock, reply);
            }
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if in_volume(ino.0) {
            return self.vol_write(fh, offset, data, flags, reply);
        }
        match MmFs::write(self, fh.0, offset, data, req.pid(), who(req)) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        if in_volume(ino.0) {
            return self.vol_flush(fh, reply);
        }
        match MmFs::flush(self, fh.0, Some(req.pid())) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if in_volume(ino.0) {
            return self.vol_release(fh, reply);
        }
        match MmFs::release(self, fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, fh: FileHandle, _ds: bool, reply: ReplyEmpty) {
        if in_volume(ino.0) {
            return self.vol_fsync(fh, reply);
        }
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, fh: FileHandle, ds: bool, reply: ReplyEmpty) {
        if in_volume(ino.0) {
            return self.vol_fsyncdir(fh, ds, reply);
        }
        reply.ok();
    }

    /// `df` of `files/` shows the host volume; the generated tree has no blocks.
    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        if in_volume(ino.0) {
            return self.vol_statfs(reply);
        }
        reply.statfs(0, 0, 0, 0, 0, 512, 255, 0);
    }

    /// No extended attributes, and ENOSYS says so once for the whole mount: the
    /// kernel then answers every later `getxattr` itself (EOPNOTSUPP, as for
    /// `setxattr`). Answering ENODATA instead cost a round trip on every
    /// `echo > control`: the truncation asks for `security.capability` first
    /// (docs/PERFORMANCE.md, Control-file commands).
    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENOSYS);
    }

    /// Extended attributes cannot be set (cp -a and rsync -X take EOPNOTSUPP
    /// as "this filesystem has none").
    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EOPNOTSUPP);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EOPNOTSUPP);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    /// No ioctls (shells probe for a terminal with TCGETS on every redirect).
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::ENOTTY);
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if in_volume(ino.0) {
            return self.vol_opendir(ino.0, reply);
        }
        match MmFs::opendir(self, ino.0, who(req)) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if in_volume(ino.0) {
            return self.vol_readdir(fh, offset, reply);
        }
        let listing = match self.listing(fh.0) {
            Ok(l) => l,
            Err(e) => return reply.error(e),
        };
        // Offsets are cookies: entry i carries i + 1, the offset to resume after it.
        for (i, (name, node, ino)) in listing.iter().enumerate().skip(offset as usize) {
            let kind = match node {
                Node::Dir(_) | Node::Volume => FileType::Directory,
                Node::File(_) => FileType::RegularFile,
                Node::PidLink(_) => FileType::Symlink,
            };
            if reply.add(INodeNo(*ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        if in_volume(ino.0) {
            return self.vol_releasedir(fh, reply);
        }
        MmFs::releasedir(self, fh.0);
        reply.ok();
    }
}
