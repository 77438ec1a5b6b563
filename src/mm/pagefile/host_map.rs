//! A paging file's host file mapped into the daemon (issue 18): a page out or a
//! page in is one `memcpy` into or out of the host's page cache, no system call.
//!
//! NT does paging I/O with IRPs (IoAsynchronousPageWrite, IoPageRead) and an I/O
//! error comes back as a status. A mapped file's I/O error comes back as SIGBUS
//! instead (a page the host cannot read, a hole it cannot allocate, the file cut
//! short under the mapping). So every copy is *guarded*: the thread marks the
//! range it copies; the SIGBUS handler, finding the fault inside a marked range,
//! puts an anonymous page over the faulting one (so the copy finishes instead of
//! killing the daemon) and notes the fault. The copy then reports failure, the
//! mapping is retired for good, and the caller redoes the transfer with
//! pread/pwrite, which return the host's real error (STATUS_IN_PAGE_ERROR for a
//! read, a page kept dirty for a write, as before). A SIGBUS outside a marked
//! range goes to the handler that was there before (Rust's stack-overflow
//! report) or kills the process as it always did.

use std::cell::Cell;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

thread_local! {
    /// The range this thread is copying through a mapping: [start, end), 0 if none.
    static GUARD_START: Cell<usize> = const { Cell::new(0) };
    static GUARD_END: Cell<usize> = const { Cell::new(0) };
    /// Set by the handler when a fault hit the guarded range.
    static FAULTED: Cell<bool> = const { Cell::new(false) };
}

/// The handler that was installed for SIGBUS before ours (a `libc::sigaction`
/// stored as its address; 0 until installed).
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS_IS_SIGINFO: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A shared mapping of the first `len` bytes of a paging file's host file.
pub(super) struct HostMap {
    base: *mut u8,
    len: usize,
    /// Set once a copy faulted: from then on every transfer uses pread/pwrite.
    retired: AtomicBool,
}

// SAFETY: the mapping is plain shared memory; which slots a thread may copy is
// decided by the slot bitmap under the `pagefiles` lock (one owner per slot),
// and a copy is a memcpy, like pread/pwrite on the same file from any thread.
unsafe impl Send for HostMap {}
unsafe impl Sync for HostMap {}

impl HostMap {
    /// Maps `len` bytes of `file` (its minimum size: the part that never
    /// shrinks). `None` when the host refuses (the caller keeps pread/pwrite).
    pub(super) fn new(file: &File, len: usize) -> Option<HostMap> {
        if len == 0 || !install_handler() {
            return None;
        }
        // SAFETY: a fresh mapping at an address the kernel chooses.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        // Slots are scattered: a fault on one says nothing of its neighbours, and
        // the kernel's read-around would zero pages of holes nobody asked for
        // (measured: a third of the daemon's time on a fresh paging file).
        // SAFETY: advice on the mapping just made.
        unsafe { libc::madvise(p, len, libc::MADV_RANDOM) };
        Some(HostMap {
            base: p.cast(),
            len,
            retired: AtomicBool::new(false),
        })
    }

    /// Copies `data` to `offset`. `false` when the mapping cannot do it (out of
    /// range, retired, or the copy faulted): the caller uses pwrite.
    pub(super) fn write(&self, offset: u64, data: &[u8]) -> bool {
        self.write_with(offset, data.len(), |dst| dst.copy_from_slice(data))
    }

    /// Copies from `offset` into `buf`; `false` as for `write` (then pread).
    pub(super) fn read(&self, offset: u64, buf: &mut [u8]) -> bool {
        self.read_with(offset, buf.len(), |src| buf.copy_from_slice(src))
    }

    /// Hands `f` the `len` bytes at `offset` to copy out of, guarded; `false` as
    /// for `read` (then pread). `f` only copies: it may be cut short by a fault.
    pub(super) fn read_with(&self, offset: u64, len: usize, f: impl FnOnce(&[u8])) -> bool {
        let Some(src) = self.range(offset, len) else {
            return false;
        };
        // SAFETY: `src..src + len` is inside the mapping and its slots are the
        // caller's (nobody writes them meanwhile); a SIGBUS during `f` finds an
        // anonymous page put there, so the slice stays mapped.
        self.guarded(src, len, || {
            f(unsafe { std::slice::from_raw_parts(src, len) })
        })
    }

    /// Hands `f` the `len` bytes at `offset` to copy into, guarded; `false` as
    /// for `write` (then pwrite).
    pub(super) fn write_with(&self, offset: u64, len: usize, f: impl FnOnce(&mut [u8])) -> bool {
        let Some(dst) = self.range(offset, len) else {
            return false;
        };
        // SAFETY: as for `read_with`; the slots are the caller's alone.
        self.guarded(dst, len, || {
            f(unsafe { std::slice::from_raw_parts_mut(dst, len) })
        })
    }

    fn range(&self, offset: u64, len: usize) -> Option<*mut u8> {
        if self.retired.load(Ordering::Relaxed) {
            return None;
        }
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len)?;
        // SAFETY: in bounds, checked just now.
        (end <= self.len).then(|| unsafe { self.base.add(start) })
    }

    /// Runs `copy` with `[at, at + len)` marked for the SIGBUS handler.
    fn guarded(&self, at: *mut u8, len: usize, copy: impl FnOnce()) -> bool {
        let start = at as usize;
        GUARD_START.set(start);
        GUARD_END.set(start + len);
        FAULTED.set(false);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        copy();
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        GUARD_START.set(0);
        GUARD_END.set(0);
        if FAULTED.replace(false) {
            // The faulting pages now hold anonymous memory: nothing may read the
            // mapping again. The host file itself is untouched; pread/pwrite see it.
            self.retired.store(true, Ordering::Relaxed);
            log::warn!("paging file mapping retired after a host I/O error; using pread/pwrite");
            return false;
        }
        true
    }

    #[cfg(test)]
    pub(super) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }
}

impl Drop for HostMap {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; no copy runs (we are its only owner).
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Installs the SIGBUS handler once for the process; `false` if it could not be.
fn install_handler() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sigaction with a zeroed struct filled in here; the old action is
        // kept so faults that are not ours go where they went before.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            let old = Box::into_raw(Box::new(std::mem::zeroed::<libc::sigaction>()));
            if libc::sigaction(libc::SIGBUS, &new, old) == 0 {
                PREVIOUS_IS_SIGINFO
                    .store((*old).sa_flags & libc::SA_SIGINFO != 0, Ordering::SeqCst);
                PREVIOUS.store(old as usize, Ordering::SeqCst);
                INSTALLED.store(true, Ordering::SeqCst);
            } else {
                drop(Box::from_raw(old));
            }
        }
    });
    INSTALLED.load(Ordering::SeqCst)
}

/// The SIGBUS handler. Async-signal-safe: thread-local cells (const-initialized,
/// no allocation), `mmap` and `sigaction`.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo for SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (start, end) = (GUARD_START.get(), GUARD_END.get());
    if start != 0 && addr >= start && addr < end {
        let page = addr & !(crate::mm::base::types::PAGE_SIZE as usize - 1);
        // SAFETY: the page lies in our own mapping (the guarded range); an
        // anonymous page replaces it so the interrupted copy can finish.
        let p = unsafe {
            libc::mmap(
                page as *mut libc::c_void,
                crate::mm::base::types::PAGE_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            FAULTED.set(true);
            return;
        }
    }
    pass_on(sig, info, ctx);
}

/// A SIGBUS that is not ours: the previous handler, or the default action (the
/// faulting instruction runs again and the signal kills the process).
fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let old = PREVIOUS.load(Ordering::SeqCst) as *const libc::sigaction;
    // SAFETY: `old` was stored by `install_handler` and never freed.
    let handler = unsafe { (*old).sa_sigaction };
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: resetting to the previous disposition.
        unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
    } else if PREVIOUS_IS_SIGINFO.load(Ordering::SeqCst) {
        // SAFETY: the previous handler, called as it asked to be.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: as above, a plain handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}
