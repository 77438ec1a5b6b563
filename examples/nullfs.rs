//! The benchmark baseline: a FUSE filesystem whose one large file `data` does
//! nothing but copy bytes. Same dispatch threads, direct I/O and mount options as
//! mmfs, so `tools/bench.sh` measures what mmfs adds on top of FUSE itself.
//! `data2` is a second name (and inode) for the same bytes: the kernel lets only
//! one direct-I/O write into an inode at a time, so two parallel writers need two
//! inodes, as two processes' `mem` files are on mmfs. `small` is the first
//! `SMALL_SIZE` bytes of the same bytes: a file short enough to `cat`, as the
//! bench's control row does with a control file's outcome.
//!
//!     cargo run --release --example nullfs -- MOUNTPOINT [SIZE]
//!
//! The file's bytes live in a `PhysicalMemory`, the very type mmfs keeps simulated
//! RAM in (one sparse mapping): a write copies into it and a read copies out of it,
//! page by page, nothing else. So both sides pay the same host
//! cost for memory touched the first time, and the ratio measures what the
//! simulation (page tables, PFN database, working sets) adds to FUSE itself.

use std::ffi::OsStr;
use std::time::{Duration, SystemTime};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry, ReplyOpen,
    ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use mmfs::mm::base::types::Pfn;
use mmfs::mm::hw::physmem::PhysicalMemory;
use nix::sys::signal::{SigSet, Signal};

const DATA_INO: u64 = 2;
const DATA2_INO: u64 = 3;
const SMALL_INO: u64 = 4;
/// `small`'s size: room for a control-file outcome line (`ok 0x10000 0x10000`).
const SMALL_SIZE: u64 = 64;
const TTL: Duration = Duration::from_secs(60);

struct NullFs {
    size: u64,
    /// The file's bytes, page by page: the same type mmfs keeps simulated RAM in.
    data: PhysicalMemory,
    start: SystemTime,
}

const PAGE: u64 = 4096;

/// The pieces of `[offset, offset + len)` page by page: (page, offset in page, length).
fn pages(offset: u64, len: usize) -> impl Iterator<Item = (Pfn, usize, usize)> {
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = offset + done as u64;
        let in_page = (at % PAGE) as usize;
        let n = (PAGE as usize - in_page).min(len - done);
        done += n;
        Some((Pfn((at / PAGE) as u32), in_page, n))
    })
}

impl NullFs {
    fn size_of(&self, ino: u64) -> u64 {
        if ino == SMALL_INO {
            SMALL_SIZE.min(self.size)
        } else {
            self.size
        }
    }

    fn attr(&self, ino: u64) -> FileAttr {
        let (kind, perm, size) = match ino {
            DATA_INO | DATA2_INO | SMALL_INO => (FileType::RegularFile, 0o666, self.size_of(ino)),
            _ => (FileType::Directory, 0o755, 0),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: 0,
            atime: self.start,
            mtime: self.start,
            ctime: self.start,
            crtime: self.start,
            kind,
            perm,
            nlink: 1,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

impl Filesystem for NullFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match (parent.0, name.to_str()) {
            (1, Some("data")) => reply.entry(&TTL, &self.attr(DATA_INO), Generation(0)),
            (1, Some("data2")) => reply.entry(&TTL, &self.attr(DATA2_INO), Generation(0)),
            (1, Some("small")) => reply.entry(&TTL, &self.attr(SMALL_INO), Generation(0)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match ino.0 {
            1 | DATA_INO | DATA2_INO | SMALL_INO => reply.attr(&TTL, &self.attr(ino.0)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    /// Accepted and ignored, as mmfs does for its control and mem files: `echo >`
    /// opens with O_TRUNC, which reaches a FUSE filesystem as a setattr.
    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
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
        match ino.0 {
            1 | DATA_INO | DATA2_INO | SMALL_INO => reply.attr(&TTL, &self.attr(ino.0)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let end = (offset.saturating_add(size as u64)).min(self.size_of(ino.0));
        let n = end.saturating_sub(offset) as usize;
        let mut out = vec![0u8; n];
        let mut done = 0;
        for (page, off, len) in pages(offset, n) {
            self.data.read(page, off, &mut out[done..done + len]);
            done += len;
        }
        reply.data(&out);
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _wf: WriteFlags,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let size = self.size_of(ino.0);
        if offset >= size {
            return reply.error(Errno::ENOSPC);
        }
        let n = data.len().min((size - offset) as usize);
        let mut done = 0;
        for (page, off, len) in pages(offset, n) {
            self.data.write(page, off, &data[done..done + len]);
            done += len;
        }
        reply.written(n as u32);
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
        let entries = [
            (1, FileType::Directory, "."),
            (1, FileType::Directory, ".."),
            (DATA_INO, FileType::RegularFile, "data"),
            (DATA2_INO, FileType::RegularFile, "data2"),
            (SMALL_INO, FileType::RegularFile, "small"),
        ];
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
    if args.len() < 2 {
        eprintln!("usage: nullfs MOUNTPOINT [SIZE]");
        std::process::exit(2);
    }
    let size = match args.get(2) {
        Some(s) => mmfs::cmd::args::parse_size(s).unwrap_or_else(|e| {
            eprintln!("nullfs: {e}");
            std::process::exit(2)
        }),
        None => 64 << 30,
    };
    let fs = NullFs {
        size,
        data: PhysicalMemory::new((size.div_ceil(PAGE)).min(u32::MAX as u64) as u32)
            .unwrap_or_else(|e| {
                eprintln!("nullfs: cannot map {size} bytes: {e}");
                std::process::exit(1)
            }),
        start: SystemTime::now(),
    };
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().expect("block signals");

    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName("nullfs".into()),
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoAtime,
    ];
    config.n_threads = Some(mmfs::fs::FUSE_THREADS);
    config.clone_fd = true;
    let session = fuser::Session::new(fs, &args[1], &config).unwrap_or_else(|e| {
        eprintln!("nullfs: cannot mount {}: {e}", args[1]);
        std::process::exit(1)
    });
    let bg = session.spawn().expect("spawn");
    let _ = signals.wait();
    if let Err(e) = bg.umount_and_join() {
        eprintln!("nullfs: unmount: {e}");
    }
}
