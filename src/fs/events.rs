//! Reads of `system/events`: a read blocks until an event comes, without blocking
//! a FUSE dispatch thread.
//!
//! A read that must wait is handed, with its reply, to a waiter thread. fuser
//! answers the kernel's INTERRUPT requests with ENOSYS, so the kernel never tells
//! us that the reader got Ctrl-C; the waiter looks for itself, between waits of
//! [`SLICE`], at the reader's pending signals in `/proc/<pid>/status`. Each waiter
//! ends on data, a signal, log shutdown, or when its subscription has no other
//! holder (the file was released).

use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use fuser::{Errno, ReplyData};

use crate::mm::base::events::{Subscription, WaitResult};

/// How long a waiter sleeps between looks at the reader's signals: the latency of Ctrl-C.
pub const SLICE: Duration = Duration::from_millis(50);

/// Serves one read of `system/events` on `sub` for the process `pid` that issued it
/// (the FUSE request's pid, a thread id).
///
/// Buffered lines are returned at once, up to `size` bytes of whole lines. With
/// nothing buffered: `nonblock` gets EAGAIN, a shut-down log gets EOF, and otherwise
/// a waiter thread replies later: data, EINTR when the reader has a signal it does
/// not block (or has exited), or EOF at shutdown or when the waiter holds the last
/// reference to `sub` — so the caller keeps its own for as long as the file is open.
pub fn serve_read(sub: Arc<Subscription>, size: u32, pid: u32, nonblock: bool, reply: ReplyData) {
    serve(sub, size, nonblock, ProcWatch::new(pid), reply);
}

/// Parses a `/proc/<pid>/status` text: true if a signal is pending (for the thread
/// or its process) and the thread does not block it.
pub fn signal_pending_in(status_text: &str) -> bool {
    let mask = |name: &str| {
        status_text
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    (mask("SigPnd:") | mask("ShdPnd:")) & !mask("SigBlk:") != 0
}

/// Where a reply goes: fuser's [`ReplyData`], or a channel in tests.
trait ReadReply: Send + 'static {
    fn data(self, bytes: &[u8]);
    fn error(self, e: Errno);
}

impl ReadReply for ReplyData {
    fn data(self, bytes: &[u8]) {
        ReplyData::data(self, bytes);
    }
    fn error(self, e: Errno) {
        ReplyData::error(self, e);
    }
}

/// Whether a waiting reader has been interrupted.
trait Interrupted: Send + 'static {
    fn interrupted(&self) -> bool;
}

/// The reader's `/proc/<pid>/status`.
struct ProcWatch {
    /// `None` when the reader cannot be watched: pid 0 (a process outside the
    /// mount's pid namespace) or a status unreadable from the start (hidepid).
    /// Such a read still ends at shutdown and when the file is released.
    path: Option<String>,
}

impl ProcWatch {
    fn new(pid: u32) -> ProcWatch {
        let path = format!("/proc/{pid}/status");
        let readable = pid != 0 && std::fs::metadata(&path).is_ok();
        ProcWatch {
            path: readable.then_some(path),
        }
    }
}

impl Interrupted for ProcWatch {
    fn interrupted(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        match std::fs::read_to_string(path) {
            Ok(text) => signal_pending_in(&text),
            // The reader is gone: nobody waits for this reply any more.
            Err(_) => true,
        }
    }
}

fn serve(
    sub: Arc<Subscription>,
    size: u32,
    nonblock: bool,
    watch: impl Interrupted,
    reply: impl ReadReply,
) {
    if size == 0 {
        return reply.data(&[]);
    }
    let bytes = sub.take(size as usize);
    if !bytes.is_empty() {
        return reply.data(&bytes);
    }
    if sub.is_closed() {
        return reply.data(&[]);
    }
    if nonblock {
        return reply.error(Errno::EAGAIN);
    }
    // The reply follows the thread only once it exists, so a failed spawn can still answer.
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = thread::Builder::new()
        .name("events-wait".into())
        .spawn(move || {
            if let Ok(reply) = rx.recv() {
                wait_and_reply(sub, size, watch, reply);
            }
        });
    match spawned {
        Ok(_) => {
            if let Err(mpsc::SendError(reply)) = tx.send(reply) {
                reply.error(Errno::EIO);
            }
        }
        Err(e) => {
            log::warn!("system/events: cannot start a waiter thread: {e}");
            reply.error(Errno::EAGAIN);
        }
    }
}

fn wait_and_reply(
    sub: Arc<Subscription>,
    size: u32,
    watch: impl Interrupted,
    reply: impl ReadReply,
) {
    loop {
        match sub.wait(SLICE) {
            WaitResult::Ready => {
                let bytes = sub.take(size as usize);
                if !bytes.is_empty() {
                    return reply.data(&bytes);
                }
                // Another read of the same file took them first: wait on.
            }
            WaitResult::Closed => return reply.data(&[]),
            WaitResult::TimedOut => {}
        }
        if watch.interrupted() {
            return reply.error(Errno::EINTR);
        }
        // Nobody else holds the subscription: the file was released.
        if Arc::strong_count(&sub) == 1 {
            return reply.data(&[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit_event;
    use crate::mm::base::events::EventLog;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    type Answer = Result<Vec<u8>, Errno>;

    impl ReadReply for mpsc::Sender<Answer> {
        fn data(self, bytes: &[u8]) {
            self.send(Ok(bytes.to_vec())).unwrap();
        }
        fn error(self, e: Errno) {
            self.send(Err(e)).unwrap();
        }
    }

    struct Never;
    impl Interrupted for Never {
        fn interrupted(&self) -> bool {
            false
        }
    }

    impl Interrupted for Arc<AtomicBool> {
        fn interrupted(&self) -> bool {
            self.load(Ordering::Relaxed)
        }
    }

    /// Starts a read; the receiver gets its answer.
    fn read(
        sub: &Arc<Subscription>,
        size: u32,
        nonblock: bool,
        watch: impl Interrupted,
    ) -> mpsc::Receiver<Answer> {
        let (tx, rx) = mpsc::channel();
        serve(Arc::clone(sub), size, nonblock, watch, tx);
        rx
    }

    const LONG: Duration = Duration::from_secs(10);
    const SHORT: Duration = Duration::from_millis(150);

    #[test]
    fn buffered_lines_come_at_once_within_size() {
        let log = EventLog::new();
        let sub = log.subscribe();
        emit_event!(log, 1, "a", "x=1");
        emit_event!(log, 2, "b", "x=2");
        let rx = read(&sub, 10, false, Never);
        assert_eq!(rx.try_recv().unwrap(), Ok(b"1 1 a x=1\n".to_vec()));
        let rx = read(&sub, 4096, true, Never);
        assert_eq!(rx.try_recv().unwrap(), Ok(b"2 2 b x=2\n".to_vec()));
    }

    #[test]
    fn nonblocking_read_of_nothing_is_eagain() {
        let log = EventLog::new();
        let sub = log.subscribe();
        let rx = read(&sub, 4096, true, Never);
        assert_eq!(rx.try_recv().unwrap(), Err(Errno::EAGAIN));
    }

    #[test]
    fn a_blocked_read_gets_the_next_event() {
        let log = EventLog::new();
        let sub = log.subscribe();
        let rx = read(&sub, 4096, false, Never);
        assert!(rx.recv_timeout(SHORT).is_err(), "replied before any event");
        emit_event!(log, 7, "late", "pid=8");
        assert_eq!(
            rx.recv_timeout(LONG).unwrap(),
            Ok(b"1 7 late pid=8\n".to_vec())
        );
    }

    #[test]
    fn a_signal_ends_a_blocked_read_with_eintr() {
        let log = EventLog::new();
        let sub = log.subscribe();
        let flag = Arc::new(AtomicBool::new(false));
        let rx = read(&sub, 4096, false, Arc::clone(&flag));
        assert!(rx.recv_timeout(SHORT).is_err());
        let start = Instant::now();
        flag.store(true, Ordering::Relaxed);
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Err(Errno::EINTR));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn shutdown_ends_reads_with_eof() {
        let log = EventLog::new();
        let sub = log.subscribe();
        let rx = read(&sub, 4096, false, Never);
        assert!(rx.recv_timeout(SHORT).is_err());
        log.shutdown();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Ok(vec![]));
        // Later reads, blocking or not, see EOF at once.
        assert_eq!(
            read(&sub, 4096, false, Never).try_recv().unwrap(),
            Ok(vec![])
        );
        assert_eq!(
            read(&sub, 4096, true, Never).try_recv().unwrap(),
            Ok(vec![])
        );
    }

    #[test]
    fn a_released_file_ends_its_waiter() {
        let log = EventLog::new();
        let sub = log.subscribe();
        let rx = read(&sub, 4096, false, Never);
        assert!(rx.recv_timeout(SHORT).is_err());
        drop(sub);
        assert_eq!(rx.recv_timeout(LONG).unwrap(), Ok(vec![]));
        // The waiter's reference goes with its thread.
        let start = Instant::now();
        while log.subscribers() != 0 {
            assert!(start.elapsed() < LONG, "waiter kept the subscription");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Fields of a real /proc/<pid>/status, with the signal masks given.
    fn status(sig_pnd: &str, shd_pnd: &str, sig_blk: &str) -> String {
        format!(
            "Name:\tcat\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t12687\nNgid:\t0\n\
             Pid:\t12687\nPPid:\t12685\nTracerPid:\t0\nUid:\t1000\t1000\t1000\t1000\n\
             Gid:\t1000\t1000\t1000\t1000\nFDSize:\t256\nGroups:\t4 24 27\n\
             VmPeak:\t    3060 kB\nVmRSS:\t    1764 kB\nThreads:\t1\nSigQ:\t0/96365\n\
             SigPnd:\t{sig_pnd}\nShdPnd:\t{shd_pnd}\nSigBlk:\t{sig_blk}\n\
             SigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n\
             CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
             voluntary_ctxt_switches:\t2\nnonvoluntary_ctxt_switches:\t0\n"
        )
    }

    const NONE: &str = "0000000000000000";
    /// SIGINT is signal 2: bit 1.
    const SIGINT: &str = "0000000000000002";

    #[test]
    fn pending_signals_are_read_from_proc_status() {
        assert!(!signal_pending_in(&status(NONE, NONE, NONE)));
        assert!(signal_pending_in(&status(SIGINT, NONE, NONE)));
        // Pending but blocked: the read goes on.
        assert!(!signal_pending_in(&status(SIGINT, NONE, SIGINT)));
        assert!(!signal_pending_in(&status(NONE, SIGINT, SIGINT)));
        // Pending for the whole process (kill(1) sends there).
        assert!(signal_pending_in(&status(NONE, SIGINT, NONE)));
        // SIGKILL (bit 8) cannot be blocked in reality, and is pending here with SIGINT blocked.
        assert!(signal_pending_in(&status(NONE, "0000000000000100", SIGINT)));
        // A blocked mask elsewhere does not hide another signal.
        assert!(signal_pending_in(&status(SIGINT, NONE, "fffffffffffbfefd")));
        assert!(!signal_pending_in(""));
    }

    #[test]
    fn a_real_process_is_watched_through_proc() {
        use nix::sys::signal::{Signal, kill};
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        use nix::unistd::Pid;

        assert!(!ProcWatch::new(std::process::id()).interrupted());
        // pid 0 is a reader outside our pid namespace: never watched.
        assert!(ProcWatch::new(0).path.is_none());

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let watch = ProcWatch::new(child.id());
        assert!(!watch.interrupted());
        // Stopped, it keeps SIGINT pending instead of dying of it.
        kill(pid, Signal::SIGSTOP).unwrap();
        assert!(matches!(
            waitpid(pid, Some(WaitPidFlag::WUNTRACED)).unwrap(),
            WaitStatus::Stopped(..)
        ));
        kill(pid, Signal::SIGINT).unwrap();
        assert!(watch.interrupted());
        child.kill().unwrap();
        child.wait().unwrap();
        // Reaped: its /proc entry is gone, which counts as interrupted.
        assert!(watch.interrupted());
    }
}
