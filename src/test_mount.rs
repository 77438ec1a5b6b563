//! [`TestMount`]: an mmfs mounted in a fresh temporary directory for one test, and
//! always unmounted when it drops (even when the test panics).
//!
//! It runs the `mmfs` binary as a daemon of its own, as a user would: the test
//! talks to the mount through the filesystem only, can send the daemon signals,
//! and a crash of the daemon cannot take the test process with it. Which binary:
//! [`TestMountBuilder::binary`], else `$MMFS_BIN`, else `mmfs` on the `PATH`.
//!
//! ```no_run
//! use mmfs::TestMount;
//!
//! # fn main() -> std::io::Result<()> {
//! // The `mmfs` binary: $MMFS_BIN, else the one on the PATH (`cargo install mmfs`);
//! // mmfs's own tests give `.binary(env!("CARGO_BIN_EXE_mmfs"))`.
//! let mount = TestMount::builder()
//!     .ram("16M")
//!     .arg("--clock")
//!     .arg("manual")
//!     .start()?;
//! std::fs::create_dir(mount.join("processes/app"))?;
//! std::fs::write(mount.join("processes/app/control"), "alloc 0 64K reserve,commit readwrite\n")?;
//! let answer = std::fs::read_to_string(mount.join("processes/app/control"))?;
//! assert!(answer.starts_with("ok "));
//! // Dropping `mount` stops the daemon and unmounts.
//! # Ok(())
//! # }
//! ```

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long [`TestMountBuilder::start`] waits for the mount by default.
pub const DEFAULT_MOUNT_WAIT: Duration = Duration::from_secs(20);
/// How long a stop waits for the daemon to exit after SIGTERM before killing it.
pub const DEFAULT_STOP_WAIT: Duration = Duration::from_secs(15);

/// How to start a [`TestMount`]: the options of `mmfs MOUNTPOINT [OPTIONS]`.
#[derive(Debug, Clone, Default)]
pub struct TestMountBuilder {
    binary: Option<PathBuf>,
    args: Vec<OsString>,
    mount_point: Option<PathBuf>,
    log: Option<PathBuf>,
    mount_wait: Option<Duration>,
}

impl TestMountBuilder {
    /// The `mmfs` binary to run (default: `$MMFS_BIN`, else `mmfs` on the `PATH`).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// One more command-line option or value (`--arch`, `x64`, ...).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// More command-line options.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--ram SIZE`.
    pub fn ram(self, size: &str) -> Self {
        self.arg("--ram").arg(size)
    }

    /// Mount on this existing directory instead of a fresh one (it is not removed),
    /// and write the daemon's stderr to `log`.
    pub fn mount_point(mut self, dir: impl Into<PathBuf>, log: impl Into<PathBuf>) -> Self {
        self.mount_point = Some(dir.into());
        self.log = Some(log.into());
        self
    }

    /// How long to wait for the mount to appear (default [`DEFAULT_MOUNT_WAIT`]).
    pub fn mount_wait(mut self, limit: Duration) -> Self {
        self.mount_wait = Some(limit);
        self
    }

    /// Starts the daemon and waits until its mount is there. The error says why
    /// it is not (the daemon's own one line when it exited).
    pub fn start(self) -> io::Result<TestMount> {
        let (dir, scratch, mount_point, log) = match (&self.mount_point, &self.log) {
            (Some(mp), Some(log)) => {
                let scratch = log.parent().unwrap_or(Path::new(".")).to_path_buf();
                (None, scratch, mp.canonicalize()?, log.clone())
            }
            _ => {
                let dir = tempfile::Builder::new().prefix("mmfs-test-").tempdir()?;
                let mp = dir.path().join("mnt");
                std::fs::create_dir(&mp)?;
                let scratch = dir.path().to_path_buf();
                let log = scratch.join("mmfs.log");
                (Some(dir), scratch, mp.canonicalize()?, log)
            }
        };
        let binary = self
            .binary
            .or_else(|| std::env::var_os("MMFS_BIN").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("mmfs"));
        let daemon = Command::new(&binary)
            .arg(&mount_point)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", binary.display())))?;
        let mut mount = TestMount {
            dir,
            scratch,
            mount_point,
            log,
            daemon: Some(daemon),
        };
        mount.wait_mounted(self.mount_wait.unwrap_or(DEFAULT_MOUNT_WAIT))?;
        Ok(mount)
    }
}

/// A running mmfs daemon mounted on a temporary directory. Dropping it stops the
/// daemon (SIGTERM, then SIGKILL if it does not exit in time), takes the mount off
/// (lazily if it is busy or dead) and removes the temporary directory.
#[derive(Debug)]
pub struct TestMount {
    /// The temporary directory holding `mnt/` and `mmfs.log`; `None` when the
    /// caller gave the mount point.
    dir: Option<tempfile::TempDir>,
    scratch: PathBuf,
    mount_point: PathBuf,
    log: PathBuf,
    /// `None` once the daemon has been waited for.
    daemon: Option<Child>,
}

impl TestMount {
    /// A mount with the default options (see [`TestMountBuilder`] for others).
    pub fn start() -> io::Result<TestMount> {
        TestMount::builder().start()
    }

    /// Options for a mount: `TestMount::builder().ram("16M").start()`.
    pub fn builder() -> TestMountBuilder {
        TestMountBuilder::default()
    }

    /// The mount point (canonical).
    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// A path inside the mount: `mount.join("system/meminfo")`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.mount_point.join(rel)
    }

    /// A scratch directory outside the mount (it holds the mount point and the
    /// log), removed with the mount.
    pub fn dir(&self) -> &Path {
        &self.scratch
    }

    /// What the daemon wrote to stderr so far (its startup line, warnings).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where the daemon's stderr goes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The daemon's pid, while it has not been waited for.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Whether the mount point is mounted (from `/proc/self/mountinfo`).
    pub fn is_mounted(&self) -> bool {
        is_mounted(&self.mount_point)
    }

    /// Sends `signal` (`libc::SIGTERM`, ...) to the daemon.
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| io::Error::other("the mmfs daemon has already exited"))?;
        let sig = nix::sys::signal::Signal::try_from(signal).map_err(io::Error::from)?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).map_err(io::Error::from)
    }

    /// Waits up to `limit` for the daemon to exit; its status, or `None` if it is
    /// still running (or was waited for already).
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.daemon.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.daemon = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the daemon as Ctrl-C would (SIGTERM) and returns its exit status; an
    /// error if it does not exit within [`DEFAULT_STOP_WAIT`] (it is then killed)
    /// or leaves its mount behind.
    pub fn stop(&mut self) -> io::Result<ExitStatus> {
        self.signal(libc::SIGTERM)?;
        let Some(status) = self.wait_timeout(DEFAULT_STOP_WAIT) else {
            self.kill();
            return Err(io::Error::other(format!(
                "mmfs did not exit within {DEFAULT_STOP_WAIT:?} of SIGTERM: {}",
                self.log()
            )));
        };
        if self.is_mounted() {
            detach(&self.mount_point);
            return Err(io::Error::other("mmfs exited and left its mount behind"));
        }
        Ok(status)
    }

    /// Kills the daemon (SIGKILL) and detaches its dead mount.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.is_mounted() {
            detach(&self.mount_point);
        }
    }

    fn wait_mounted(&mut self, limit: Duration) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        while !self.is_mounted() {
            if let Some(status) = self.wait_timeout(Duration::ZERO) {
                return Err(io::Error::other(format!(
                    "mmfs could not mount ({status}): {}",
                    self.log().trim_end()
                )));
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("mmfs did not mount within {limit:?}: {}", self.log()),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            let _ = self.signal(libc::SIGTERM);
            if self.wait_timeout(DEFAULT_STOP_WAIT).is_none() {
                self.kill();
            }
        }
        if self.is_mounted() {
            detach(&self.mount_point);
        }
        // A mount that could not be taken off keeps its directory: removing it
        // recursively would walk into the mount (and the volume it shows).
        if self.is_mounted()
            && let Some(dir) = self.dir.take()
        {
            let _ = dir.keep();
        }
    }
}

/// Whether `path` (canonical) is a mount point, from `/proc/self/mountinfo`.
pub fn is_mounted(path: &Path) -> bool {
    let want = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape_mountinfo(m) == want)
}

/// Takes the mount at `path` off lazily (`umount -l`): at once, even if it is busy
/// or its daemon is dead.
pub fn detach(path: &Path) {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
