//! The FUSE adapter: turns filesystem requests into calls on [`Mm`] and views
//! of it into files. It knows nothing of PTE bits; NT statuses become errnos in
//! [`errno`] only.
//!
//! Locks here (`inodes`, `handles`, `outcomes`) are leaves: each is held only for
//! a table update, never while calling into `Mm` and never while replying.

pub mod access;
pub mod control;
pub mod errno;
pub mod events;
mod fuse;
pub mod handles;
pub mod inode;
pub mod node;
mod read_buffer;
mod readme;
pub mod render;
pub mod stream;
pub mod volume;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use fuser::Errno;

use crate::cmd::{self, Caller, Outcome, Target};
use crate::mm::base::token::Token;
use crate::mm::{Mm, MmError};
use access::Who;
use control::ControlHandle;
use handles::{Handle, HandleTable, Listing};
use inode::InodeTable;
use node::{Dir, FileClass, MemSpace, Node};
use read_buffer::with_read_buffer;
use volume::Volume;

/// FUSE dispatch threads: mmfs and the nullfs baseline use the same number.
pub const FUSE_THREADS: usize = 4;

/// A mounted mmfs: the memory manager plus the filesystem's own tables.
pub struct MmFs {
    mm: Arc<Mm>,
    inodes: Mutex<InodeTable>,
    handles: Mutex<HandleTable>,
    /// The rendered outcome of the last command written to each control file,
    /// for readers that did not write one themselves.
    outcomes: Mutex<HashMap<Target, String>>,
    /// `files/`: the `--files` volume, with its own inodes and handles.
    volume: Volume,
    /// Pictures rendered for `stat` (`File::sized_at_stat`), by inode, kept
    /// for the `open` that usually follows. A leaf: never held while calling
    /// into `Mm`.
    stat_renderings: Mutex<HashMap<u64, StatRendering>>,
    uid: u32,
    gid: u32,
    mount_time: SystemTime,
}

/// A picture rendered for `stat`: when, and its bytes.
type StatRendering = (Instant, Arc<Vec<u8>>);

/// How long a picture rendered for `stat` may be served to an `open`: long
/// enough for a browser's stat-then-open, short enough that `cat` shows now.
const STAT_RENDERING_LIFETIME: Duration = Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The tables stay structurally valid even if a holder panicked mid-request.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `open` produced.
pub struct Opened {
    pub fh: u64,
    /// A stream (`system/events`): no offsets, reads may block.
    pub stream: bool,
    /// Whether a close must reach [`MmFs::flush`]: only a control file opened
    /// for writing, where a partial line runs when its writer closes (mmfs's
    /// rule, beyond SPEC §3's one-line commands; the top README says it).
    pub flush: bool,
}

/// What a read is served from.
pub enum ReadFrom {
    Bytes(Vec<u8>),
    /// A `mem` file: read through the simulated MMU into the FUSE thread's
    /// own buffer and replied from there (`MmFs::read_mem_with`).
    Mem(MemSpace),
    Events(Arc<crate::mm::base::events::Subscription>),
    /// A streamed listing: the reply is sent from its chunk
    /// (`Stream::read_with`), outside the handle table's lock.
    Stream(Arc<stream::Stream>),
}

impl MmFs {
    /// The filesystem over `mm`; fails if the `--files` directory cannot be opened.
    pub fn new(mm: Arc<Mm>) -> std::io::Result<MmFs> {
        let volume = Volume::new(&mm.config().files_dir)?;
        Ok(MmFs {
            mm,
            inodes: Mutex::new(InodeTable::new()),
            handles: Mutex::new(HandleTable::new()),
            outcomes: Mutex::new(HashMap::new()),
            volume,
            stat_renderings: Mutex::new(HashMap::new()),
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            mount_time: SystemTime::now(),
        })
    }

    /// The size `stat` reports for a picture sized at stat: it is rendered
    /// now and kept for the next `open` of the same inode. 0 if it cannot be.
    /// A fresh one already kept (a `lookup` then a `getattr`, or `ls -l`
    /// twice) is reused rather than rendered again.
    pub fn rendered_for_stat(&self, ino: u64, file: node::File) -> u64 {
        {
            let mut kept = lock(&self.stat_renderings);
            // Old renderings nobody opened are dropped here.
            kept.retain(|_, (at, _)| at.elapsed() < STAT_RENDERING_LIFETIME);
            if let Some((_, bytes)) = kept.get(&ino) {
                return bytes.len() as u64;
            }
        }
        // Rendered with no lock of this file held (it takes core locks).
        let Ok(bytes) = render::render(&self.mm, file) else {
            return 0;
        };
        let len = bytes.len() as u64;
        lock(&self.stat_renderings).insert(ino, (Instant::now(), Arc::new(bytes)));
        len
    }

    /// The rendering a recent `stat` made of `ino`, if it is still fresh: a
    /// browser stats a file and opens it at once, and must read what it was
    /// told the size of.
    fn take_rendered_for_stat(&self, ino: u64) -> Option<Arc<Vec<u8>>> {
        let (at, bytes) = lock(&self.stat_renderings).remove(&ino)?;
        (at.elapsed() < STAT_RENDERING_LIFETIME).then_some(bytes)
    }

    pub fn mm(&self) -> &Arc<Mm> {
        &self.mm
    }

    /// The user mmfs runs as: the machine's owner (SPEC §9, `access.rs`).
    fn machine_owner(&self) -> Who {
        Who {
            uid: self.uid,
            gid: self.gid,
        }
    }

    /// EACCES unless `who` may have `want` (`access::READ`...) on `node`.
    fn check(&self, node: Node, who: Who, want: u16) -> Result<(), Errno> {
        access::check(&self.mm, node, self.machine_owner(), who, want)
    }

    /// The command language's view of `who`: its privileges.
    fn caller(&self, who: Who) -> Caller {
        Caller::user(who.uid, who.gid, self.uid)
    }

    /// The live node behind an inode number.
    fn node(&self, ino: u64) -> Result<Node, Errno> {
        let node = lock(&self.inodes).node(ino).ok_or(Errno::ENOENT)?;
        if node::exists(&self.mm, node) {
            Ok(node)
        } else {
            Err(Errno::ENOENT)
        }
    }

    fn dir(&self, ino: u64) -> Result<Dir, Errno> {
        match self.node(ino)? {
            Node::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// Resolves a name and counts the kernel's new reference to it. A lookup
    /// needs search permission on the directory (`pte/` is its owner's).
    pub fn lookup(&self, parent: u64, name: &str, who: Who) -> Result<(u64, Node), Errno> {
        let dir = self.dir(parent)?;
        self.check(Node::Dir(dir), who, access::SEARCH)?;
        let node = node::lookup(&self.mm, dir, name).ok_or(Errno::ENOENT)?;
        Ok((lock(&self.inodes).lookup(node), node))
    }

    pub fn forget(&self, ino: u64, n: u64) {
        lock(&self.inodes).forget(ino, n);
    }

    pub fn getattr(&self, ino: u64) -> Result<Node, Errno> {
        self.node(ino)
    }

    pub fn readlink(&self, ino: u64) -> Result<String, Errno> {
        let node = self.node(ino)?;
        node::readlink(&self.mm, node).ok_or(Errno::EINVAL)
    }

    /// `mkdir processes/NAME` creates a process. `mkdir sections/NAME` is refused
    /// (EPERM): a section needs a size, so `sections/control create` makes it.
    /// The process runs as `who` (its token): it and its files are theirs.
    pub fn mkdir(&self, parent: u64, name: &str, who: Who) -> Result<(u64, Node), Errno> {
        let dir = self.dir(parent)?;
        if dir != Dir::Processes {
            return Err(if node::lookup(&self.mm, dir, name).is_some() {
                Errno::EEXIST
            } else {
                Errno::EPERM
            });
        }
        self.check(Node::Dir(dir), who, access::WRITE | access::SEARCH)?;
        let token = Token {
            uid: who.uid,
            gid: who.gid,
        };
        let pid = self
            .mm
            .create_process_as(name, Some(token))
            .map_err(|e| errno::errno_for(e.status))?;
        let node = Node::Dir(Dir::Process(pid));
        Ok((lock(&self.inodes).lookup(node), node))
    }

    /// `rmdir processes/NAME` terminates a process; `rmdir sections/NAME`
    /// removes a section's name (the section lives on while views remain).
    /// Only the process's owner (or the machine's, or root) may: `processes/`
    /// is sticky; `sections/` is the machine's.
    pub fn rmdir(&self, parent: u64, name: &str, who: Who) -> Result<(), Errno> {
        let dir = self.dir(parent)?;
        let found = node::lookup(&self.mm, dir, name);
        if let Some(child @ Node::Dir(_)) = found {
            access::may_remove(&self.mm, dir, child, self.machine_owner(), who)?;
        }
        let result = match (dir, found) {
            (_, None) => return Err(Errno::ENOENT),
            (Dir::Processes, Some(Node::Dir(Dir::Process(pid)))) => self.mm.terminate_process(pid),
            (Dir::Sections, Some(Node::Dir(Dir::Section(key)))) => {
                self.mm.delete_section(key.name())
            }
            (d, Some(Node::File(_))) if d.is_writable() => return Err(Errno::ENOTDIR),
            _ => return Err(Errno::EPERM),
        };
        result.map_err(|e| errno::errno_for(e.status))
    }

    /// Truncation is how `echo cmd > control` starts, and what `dd of=mem` does
    /// before seeking; it is accepted (and changes nothing) on control and mem
    /// files, and refused on generated ones.
    pub fn truncate(&self, ino: u64, who: Who) -> Result<Node, Errno> {
        let node = self.node(ino)?;
        match node {
            Node::File(f) if matches!(f.class(), FileClass::Control(_) | FileClass::Mem(_)) => {
                self.check(node, who, access::WRITE)?;
                Ok(node)
            }
            Node::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EACCES),
        }
    }

    /// Opens a file for `want` (`access::READ` and/or `access::WRITE`), if
    /// `who` may (SPEC §9).
    pub fn open(&self, ino: u64, want: u16, who: Who) -> Result<Opened, Errno> {
        let node = self.node(ino)?;
        let write = want & access::WRITE != 0;
        let file = match node {
            Node::File(f) => f,
            Node::Dir(_) | Node::Volume => return Err(Errno::EISDIR),
            Node::PidLink(_) => return Err(Errno::ELOOP),
        };
        self.check(node, who, want)?;
        let handle = match file.class() {
            FileClass::Generated => {
                if write {
                    return Err(Errno::EACCES);
                }
                if let Some(source) = stream::Source::of(file) {
                    let opened = stream::Stream::open(&self.mm, source);
                    Handle::Stream(Arc::new(opened.map_err(|e| errno::errno_for(e.status))?))
                } else {
                    match self.take_rendered_for_stat(ino) {
                        Some(bytes) => Handle::Snapshot(bytes),
                        None => Handle::Snapshot(Arc::new(
                            render::render(&self.mm, file)
                                .map_err(|e| errno::errno_for(e.status))?,
                        )),
                    }
                }
            }
            FileClass::Control(target) => Handle::Control(ControlHandle::new(target)),
            FileClass::Mem(space) => Handle::Mem(space),
            FileClass::Events => {
                if write {
                    return Err(Errno::EACCES);
                }
                Handle::Events(self.mm.events().subscribe())
            }
        };
        let stream = matches!(handle, Handle::Events(_));
        let flush = write && matches!(handle, Handle::Control(_));
        Ok(Opened {
            fh: lock(&self.handles).insert(handle),
            stream,
            flush,
        })
    }

    /// Bytes for a read, or the event stream to serve it from (it may block, so
    /// the FUSE layer replies from a waiter). One look at the handle table; the
    /// lock is dropped before the caller replies.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<ReadFrom, Errno> {
        let (source, start): (Arc<Vec<u8>>, u64) = {
            let mut handles = lock(&self.handles);
            match handles.get_mut(fh).ok_or(Errno::EBADF)? {
                Handle::Mem(space) => {
                    let space = *space;
                    drop(handles);
                    return Ok(ReadFrom::Mem(space));
                }
                Handle::Events(sub) => return Ok(ReadFrom::Events(Arc::clone(sub))),
                Handle::Snapshot(data) => (Arc::clone(data), offset),
                // Read outside the handle table's lock (the stream's own lock
                // is held while it calls into `Mm`).
                Handle::Stream(s) => return Ok(ReadFrom::Stream(Arc::clone(s))),
                Handle::Control(c) => {
                    let text = match &c.own_outcome {
                        Some(t) => t.clone(),
                        None => lock(&self.outcomes)
                            .get(&c.target)
                            .cloned()
                            .unwrap_or_default(),
                    };
                    let start = control::read_start(c, offset, size, text.len() as u64);
                    (Arc::new(text.into_bytes()), start)
                }
                Handle::Dir(_) => return Err(Errno::EISDIR),
            }
        };
        Ok(ReadFrom::Bytes(
            handles::slice_at(&source, start, size).to_vec(),
        ))
    }

    /// A read of `mem`: through the simulated MMU, stopping at the first page that
    /// cannot be touched (SPEC §7); the bytes go to `reply` from this thread's
    /// read buffer (`read_buffer.rs`).
    fn read_mem_with(
        &self,
        space: MemSpace,
        offset: u64,
        size: u32,
        reply: impl FnOnce(Result<&[u8], Errno>),
    ) {
        with_read_buffer(size as usize, |buf| {
            let read = match space {
                MemSpace::Process(pid) => self.mm.read_memory(pid, offset, buf),
                MemSpace::Kernel => match self.mm.kernel_mem_address(offset) {
                    Some(va) => {
                        // Not past the end of the file (the top of the address space).
                        let left = self.mm.kernel_mem_size() - offset;
                        let len = left.min(buf.len() as u64) as usize;
                        self.mm.read_kernel_memory(va, &mut buf[..len])
                    }
                    None => Ok(0),
                },
            };
            match read {
                Ok(n) => reply(Ok(&buf[..n])),
                Err(f) => reply(Err(errno::errno_for_fault(&f))),
            }
        })
    }

    /// A write to `mem` or to a control file, by the process `writer` of the
    /// user `who` (a control file's commands run with `who`'s privileges).
    pub fn write(
        &self,
        fh: u64,
        offset: u64,
        data: &[u8],
        writer: u32,
        who: Who,
    ) -> Result<u32, Errno> {
        let space = match lock(&self.handles).get(fh).ok_or(Errno::EBADF)? {
            Handle::Mem(space) => Some(*space),
            _ => None,
        };
        let written = match space {
            Some(MemSpace::Process(pid)) => self.mm.write_memory(pid, offset, data),
            Some(MemSpace::Kernel) => {
                let va = self.mm.kernel_mem_address(offset).ok_or(Errno::EFBIG)?;
                let left = self.mm.kernel_mem_size() - offset;
                let data = &data[..left.min(data.len() as u64) as usize];
                self.mm.write_kernel_memory(va, data)
            }
            None => return self.write_control(fh, data, writer, self.caller(who)),
        };
        match written {
            Ok(n) => Ok(n as u32),
            Err(f) => Err(errno::errno_for_fault(&f)),
        }
    }

    /// A write to a control file: complete lines run now, a partial line waits.
    fn write_control(
        &self,
        fh: u64,
        data: &[u8],
        writer: u32,
        caller: Caller,
    ) -> Result<u32, Errno> {
        let (target, lines) = {
            let mut handles = lock(&self.handles);
            match handles.get_mut(fh).ok_or(Errno::EBADF)? {
                Handle::Control(c) => match c.take_lines_as(data, writer, caller) {
                    Ok(lines) => (c.target, Ok(lines)),
                    Err(e) => (c.target, Err(e)),
                },
                _ => return Err(Errno::EACCES),
            }
        };
        let outcome = match lines {
            Ok(lines) => control::run_lines_as(&self.mm, target, &lines, &caller),
            Err(e) => Some(Err(e)),
        };
        if matches!(outcome, Some(Err(_))) {
            // Stop at the first failure: a partial line after it must not run at close.
            if let Some(Handle::Control(c)) = lock(&self.handles).get_mut(fh) {
                c.take_pending(None);
            }
        }
        self.finish_commands(fh, target, outcome)?;
        Ok(data.len() as u32)
    }

    /// Records an outcome for the descriptor and the file, and turns a failure into its errno.
    fn finish_commands(
        &self,
        fh: u64,
        target: Target,
        outcome: Option<Outcome>,
    ) -> Result<(), Errno> {
        let Some(outcome) = outcome else {
            return Ok(());
        };
        let text = cmd::render(&outcome);
        if let Some(Handle::Control(c)) = lock(&self.handles).get_mut(fh) {
            c.own_outcome = Some(text.clone());
        }
        lock(&self.outcomes).insert(target, text);
        outcome
            .map(|_| ())
            .map_err(|e: MmError| errno::errno_for(e.status))
    }

    /// At close, a partial line without its newline still runs (mmfs's rule, told
    /// in the top README; SPEC §3 speaks of whole lines only): when the
    /// process that wrote it closes a descriptor (`closer`), or at the last close
    /// (`None`), whose failure nobody can see except by reading the outcome.
    pub fn flush(&self, fh: u64, closer: Option<u32>) -> Result<(), Errno> {
        let pending = {
            let mut handles = lock(&self.handles);
            match handles.get_mut(fh) {
                Some(Handle::Control(c)) => c
                    .take_pending(closer)
                    .map(|p| (c.target, p, c.writer_caller)),
                _ => None,
            }
        };
        match pending {
            // The line runs as the user who wrote it, whoever closes.
            Some((target, line, caller)) => {
                let outcome = control::run_lines_as(&self.mm, target, &[line], &caller);
                self.finish_commands(fh, target, outcome)
            }
            None => Ok(()),
        }
    }

    pub fn release(&self, fh: u64) -> Result<(), Errno> {
        let result = self.flush(fh, None);
        lock(&self.handles).remove(fh);
        result
    }

    pub fn opendir(&self, ino: u64, who: Who) -> Result<u64, Errno> {
        let dir = self.dir(ino)?;
        self.check(Node::Dir(dir), who, access::READ)?;
        let entries = node::list(&self.mm, dir);
        let listing: Listing = {
            let mut inodes = lock(&self.inodes);
            let parent_ino = inodes.ino_of(Node::Dir(node::parent(dir)));
            let mut v = Vec::with_capacity(entries.len() + 2);
            v.push((".".to_string(), Node::Dir(dir), ino));
            v.push(("..".to_string(), Node::Dir(node::parent(dir)), parent_ino));
            for (name, n) in entries {
                let i = inodes.ino_of(n);
                v.push((name, n, i));
            }
            Arc::new(v)
        };
        Ok(lock(&self.handles).insert(Handle::Dir(listing)))
    }

    pub fn listing(&self, fh: u64) -> Result<Listing, Errno> {
        match lock(&self.handles).get(fh) {
            Some(Handle::Dir(l)) => Ok(Arc::clone(l)),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::EBADF),
        }
    }

    pub fn releasedir(&self, fh: u64) {
        lock(&self.handles).remove(fh);
    }
}
