//! The baseline for the `files/` benchmarks: a FUSE filesystem that passes
//! each read and write of a file straight to a host file with `pread` and
//! `pwrite`. Same dispatch threads, direct I/O and mount options as mmfs, so
//! `tools/bench.sh` measures what the cache manager adds to FUSE and the host
//! file system. One flat directory (files at its top level) is all the
//! benchmarks need.
//!
//!     cargo run --release --example passthrough -- MOUNTPOINT HOSTDIR

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use nix::sys::signal::{SigSet, Signal};

const TTL: Duration = Duration::from_secs(1);

struct Passthrough {
    dir: PathBuf,
    /// Inode number → name (1 is the directory).
    names: Mutex<HashMap<u64, String>>,
    handles: Mutex<HashMap<u64, Arc<File>>>,
    next_fh: Mutex<u64>,
}

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs.max(0) as u64, nsecs.max(0) as u32)
}

fn attr_of(m: &std::fs::Metadata) -> FileAttr {
    FileAttr {
        ino: INodeNo(if m.is_dir() { 1 } else { m.ino() }),
        size: m.len(),
        blocks: m.blocks(),
        atime: time(m.atime(), m.atime_nsec()),
        mtime: time(m.mtime(), m.mtime_nsec()),
        ctime: time(m.ctime(), m.ctime_nsec()),
        crtime: time(m.ctime(), m.ctime_nsec()),
        kind: if m.is_dir() {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: (m.mode() & 0o7777) as u16,
        nlink: m.nlink() as u32,
        uid: m.uid(),
        gid: m.gid(),
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl Passthrough {
    fn path(&self, ino: u64) -> Option<PathBuf> {
        if ino == 1 {
            return Some(self.dir.clone());
        }
        let names = self.names.lock().unwrap();
        names.get(&ino).map(|n| self.dir.join(n))
    }

    fn remember(&self, name: &str, m: &std::fs::Metadata) -> FileAttr {
        let a = attr_of(m);
        if a.ino.0 != 1 {
            self.names.lock().unwrap().insert(a.ino.0, name.to_string());
        }
        a
    }

    fn keep(&self, f: File) -> FileHandle {
        let mut next = self.next_fh.lock().unwrap();
        *next += 1;
        self.handles.lock().unwrap().insert(*next, Arc::new(f));
        FileHandle(*next)
    }

    fn handle(&self, fh: FileHandle) -> Option<Arc<File>> {
        self.handles.lock().unwrap().get(&fh.0).cloned()
    }
}

impl Filesystem for Passthrough {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some(name) = name.to_str().filter(|_| parent.0 == 1) else {
            return reply.error(Errno::ENOENT);
        };
        match std::fs::symlink_metadata(self.dir.join(name)) {
            Ok(m) => reply.entry(&TTL, &self.remember(name, &m), Generation(0)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let meta = match fh.and_then(|h| self.handle(h)) {
            Some(f) => f.metadata(),
            None => match self.path(ino.0) {
                Some(p) => std::fs::symlink_metadata(p),
                None => return reply.error(Errno::ENOENT),
            },
        };
        match meta {
            Ok(m) => reply.attr(&TTL, &attr_of(&m)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let Some(path) = self.path(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if let Some(size) = size
            && let Err(e) = OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(size))
        {
            return reply.error(errno(&e));
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) => reply.attr(&TTL, &attr_of(&m)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let Some(path) = self.path(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let acc = flags.0 & libc::O_ACCMODE;
        let f = OpenOptions::new()
            .read(acc != libc::O_WRONLY)
            .write(acc != libc::O_RDONLY)
            .custom_flags(flags.0 & (libc::O_SYNC | libc::O_DSYNC | libc::O_DIRECT))
            .open(path);
        match f {
            Ok(f) => reply.opened(self.keep(f), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let Some(name) = name.to_str().filter(|_| parent.0 == 1) else {
            return reply.error(Errno::EINVAL);
        };
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(flags & libc::O_TRUNC != 0)
            .mode(mode)
            .open(self.dir.join(name));
        match f.and_then(|f| f.metadata().map(|m| (f, m))) {
            Ok((f, m)) => {
                let a = self.remember(name, &m);
                let fh = self.keep(f);
                reply.created(&TTL, &a, Generation(0), fh, FopenFlags::FOPEN_DIRECT_IO);
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(f) = self.handle(fh) else {
            return reply.error(Errno::EBADF);
        };
        let mut buf = vec![0u8; size as usize];
        let mut done = 0;
        while done < buf.len() {
            match f.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) => return reply.error(errno(&e)),
            }
        }
        reply.data(&buf[..done]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _wf: WriteFlags,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let Some(f) = self.handle(fh) else {
            return reply.error(Errno::EBADF);
        };
        match f.write_all_at(data, offset) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.handle(fh).map(|f| f.sync_data()) {
            Some(Ok(())) => reply.ok(),
            Some(Err(e)) => reply.error(errno(&e)),
            None => reply.error(Errno::EBADF),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.handles.lock().unwrap().remove(&fh.0);
        reply.ok();
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let Some(name) = name.to_str().filter(|_| parent.0 == 1) else {
            return reply.error(Errno::ENOENT);
        };
        match std::fs::remove_file(self.dir.join(name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino.0 != 1 {
            return reply.error(Errno::ENOTDIR);
        }
        let mut entries = vec![
            (1, FileType::Directory, ".".to_string()),
            (1, FileType::Directory, "..".to_string()),
        ];
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let Ok(m) = e.metadata() else { continue };
                let name = e.file_name().to_string_lossy().into_owned();
                entries.push((m.ino(), attr_of(&m).kind, name));
            }
        }
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

fn main() {
    env_logger::init();
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: passthrough MOUNTPOINT HOSTDIR");
        std::process::exit(2);
    }
    let fs = Passthrough {
        dir: PathBuf::from(&args[2]),
        names: Mutex::new(HashMap::new()),
        handles: Mutex::new(HashMap::new()),
        next_fh: Mutex::new(0),
    };
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().expect("block signals");
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName("passthrough".into()),
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoAtime,
    ];
    config.n_threads = Some(mmfs::fs::FUSE_THREADS);
    config.clone_fd = true;
    let session = fuser::Session::new(fs, &args[1], &config).unwrap_or_else(|e| {
        eprintln!("passthrough: cannot mount {}: {e}", args[1]);
        std::process::exit(1)
    });
    let bg = session.spawn().expect("spawn");
    let _ = signals.wait();
    if let Err(e) = bg.umount_and_join() {
        eprintln!("passthrough: unmount: {e}");
    }
}
