//! mmfs: command line, mount, signals — nothing else.
//!
//! Two ways to run: `mmfs MOUNTPOINT [OPTIONS]` serves until stopped, and
//! `mmfs run [OPTIONS] -- COMMAND [ARGS]` serves a fresh temporary directory for
//! the length of one command (`options::asks_for_run` tells them apart).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

use mmfs::fs::{FUSE_THREADS, MmFs};
use mmfs::mm::base::config::ClockMode;
use mmfs::mm::{Dispatcher, Mm};
use mmfs::options::{CommandLine, MachineOptions, Options, RunOptions, asks_for_run};
use mmfs::test_mount::unescape_mountinfo;

/// Exit code for a bad mount point or command line (clap uses 2 too).
const EXIT_USAGE: u8 = 2;
/// `mmfs run`'s exit code when mmfs itself fails (bad options, cannot mount), as
/// `timeout` and `env` use it; 126 and 127 say COMMAND could not be run or found.
const EXIT_RUN_FAILED: u8 = 125;
const EXIT_CANNOT_EXECUTE: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;
/// How long to wait for the FUSE threads after unmounting before exiting anyway
/// (exiting closes /dev/fuse, which ends a lazily detached mount's connection).
const JOIN_GRACE: Duration = Duration::from_secs(3);
/// `mmfs run`: how long COMMAND has to end after a signal was passed on to it
/// before it is killed, so that an interrupt always ends in an unmount.
const CHILD_GRACE: Duration = Duration::from_secs(10);

static MOUNTPOINT: OnceLock<PathBuf> = OnceLock::new();
/// `mmfs run`: the command's pid while it runs (0: none), and whether the mount
/// point is mmfs's own temporary directory, for the panic hook.
static RUN_CHILD: AtomicI32 = AtomicI32::new(0);
static RUN_TEMPORARY: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<OsString> = std::env::args_os().collect();
    match CommandLine::try_parse_from(args.clone()) {
        Ok(CommandLine::Mount(options)) => match serve(options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Usage(msg)) => {
                eprintln!("mmfs: {msg}");
                ExitCode::from(EXIT_USAGE)
            }
            Err(Failure::Runtime(msg)) => {
                eprintln!("mmfs: {msg}");
                ExitCode::FAILURE
            }
        },
        Ok(CommandLine::Run(options)) => match run_command(&options) {
            Ok(code) => ExitCode::from(code),
            Err(Failure::Usage(msg) | Failure::Runtime(msg)) => {
                eprintln!("mmfs run: {msg}");
                ExitCode::from(EXIT_RUN_FAILED)
            }
        },
        Err(e) => command_line_error(e, &args),
    }
}

enum Failure {
    Usage(String),
    Runtime(String),
}

/// clap explains a bad command line in several lines (the error, the usage, a hint);
/// mmfs says it in one, like every other reason it cannot start. Help and version
/// are printed as clap prints them.
fn command_line_error(e: clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let reason = lines.join(" ");
    let reason = reason.strip_prefix("error: ").unwrap_or(&reason);
    let rest = args.get(1..).unwrap_or(&[]);
    if asks_for_run(rest) {
        eprintln!("mmfs run: {reason} (mmfs run --help lists the options)");
        return ExitCode::from(EXIT_RUN_FAILED);
    }
    let hint = if rest.first().is_some_and(|a| a == "run") {
        "; to run a command in a temporary mount: mmfs run [OPTIONS] -- COMMAND"
    } else {
        ""
    };
    eprintln!("mmfs: {reason}{hint} (mmfs --help lists the options)");
    ExitCode::from(EXIT_USAGE)
}

/// A directory that exists for this run only; removed at exit (even on error paths,
/// by `Drop`).
enum Scratch {
    Temporary(tempfile::TempDir),
    Given(PathBuf),
}

impl Scratch {
    fn new(given: &Option<PathBuf>, prefix: &str) -> Result<Scratch, Failure> {
        match given {
            Some(p) => {
                std::fs::create_dir_all(p)
                    .map_err(|e| Failure::Usage(format!("{}: {e}", p.display())))?;
                Ok(Scratch::Given(p.clone()))
            }
            None => tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .map(Scratch::Temporary)
                .map_err(|e| Failure::Runtime(format!("cannot create a temporary directory: {e}"))),
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            Scratch::Temporary(t) => t.path().to_path_buf(),
            Scratch::Given(p) => p.clone(),
        }
    }
}

/// Before anything is made: a refused --allow-other leaves no trace.
fn check_allow_other(machine: &MachineOptions) -> Result<(), Failure> {
    let fuse_conf = std::fs::read_to_string(mmfs::options::FUSE_CONF).ok();
    machine
        .check_allow_other(nix::unistd::getuid().as_raw(), fuse_conf.as_deref())
        .map_err(Failure::Usage)
}

/// `mmfs MOUNTPOINT`: mounts, says so in one line on stderr, serves until a signal
/// or an outside unmount.
fn serve(options: Options) -> Result<(), Failure> {
    check_allow_other(&options.machine)?;
    let (mountpoint, created) = prepare_mountpoint(&options.mountpoint)?;
    let result = Daemon::start(&options.machine, &mountpoint).and_then(|daemon| {
        // stderr, not stdout: it is a message for the person who started mmfs, like
        // every other line mmfs prints; stdout stays empty for scripts.
        eprintln!("{}", daemon.startup_line());
        let ended = signal_channel()
            .and_then(|rx| wait_for_the_end(&rx, &daemon.background, daemon.mount_id));
        daemon.stop();
        ended
    });
    if created {
        let _ = std::fs::remove_dir(&mountpoint);
    }
    result
}

/// `mmfs run`: mounts on a fresh temporary directory, runs the command there and
/// returns the exit status to give (the command's).
fn run_command(options: &RunOptions) -> Result<u8, Failure> {
    check_allow_other(&options.machine)?;
    // From the first thing made: a signal while the machine starts waits in the
    // queue (and reaches the command as soon as it runs) instead of killing mmfs
    // with its temporary directories left behind.
    termination_signals()
        .thread_block()
        .map_err(|e| Failure::Runtime(format!("cannot block signals: {e}")))?;
    let dir = tempfile::Builder::new()
        .prefix("mmfs-run-")
        .tempdir()
        .map_err(|e| Failure::Runtime(format!("cannot create a temporary directory: {e}")))?;
    // Kept as a plain path and removed with rmdir(2), never recursively: if the
    // mount could not be taken off, a recursive removal would walk into it (and
    // into the `--files` volume it shows).
    let mountpoint = dir.keep();
    let result = mountpoint
        .canonicalize()
        .map_err(|e| Failure::Runtime(format!("{}: {e}", mountpoint.display())))
        .and_then(|canonical| {
            RUN_TEMPORARY.store(true, Ordering::Relaxed);
            let daemon = Daemon::start(&options.machine, &canonical)?;
            let status = run_child(&options.command, &daemon.mountpoint);
            daemon.stop();
            status
        });
    if let Err(e) = std::fs::remove_dir(&mountpoint) {
        log::warn!("cannot remove {}: {e}", mountpoint.display());
    }
    result
}

/// Runs the command with `MMFS_MOUNT` set, passes SIGINT, SIGTERM and SIGHUP sent
/// to mmfs on to it, and waits for it (killing it `CHILD_GRACE` after the first
/// such signal). The command runs in mmfs's process group, so an interactive shell
/// keeps the terminal, and Ctrl-C at the terminal reaches it directly (that one is
/// not passed on again).
fn run_child(command: &[OsString], mountpoint: &Path) -> Result<u8, Failure> {
    let signals = signal_channel()?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Failure::Usage("no command given after --".into()))?;
    // std resets the signal mask in the child: it does not inherit mmfs's blocked
    // termination signals.
    let spawned = std::process::Command::new(program)
        .args(args)
        .env("MMFS_MOUNT", mountpoint)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("mmfs run: {}: {e}", program.to_string_lossy());
            let not_found = e.kind() == std::io::ErrorKind::NotFound;
            return Ok(if not_found {
                EXIT_NOT_FOUND
            } else {
                EXIT_CANNOT_EXECUTE
            });
        }
    };
    RUN_CHILD.store(child.id() as i32, Ordering::Relaxed);
    let mut kill_at: Option<Instant> = None;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                RUN_CHILD.store(0, Ordering::Relaxed);
                return Ok(exit_code_of(status));
            }
            Ok(None) => {}
            Err(e) => {
                RUN_CHILD.store(0, Ordering::Relaxed);
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::Runtime(format!("waiting for the command: {e}")));
            }
        }
        match signals.recv_timeout(Duration::from_millis(50)) {
            Ok(arrival) => {
                // Ctrl-C at the terminal reached the command already: passing it
                // on again would interrupt its clean-up (a second KeyboardInterrupt).
                if !arrival.to_the_group {
                    log::info!("{}: passed on to the command", arrival.signal);
                    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                    let _ = nix::sys::signal::kill(pid, arrival.signal);
                }
                kill_at.get_or_insert(Instant::now() + CHILD_GRACE);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(50)),
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            log::warn!("the command did not end {CHILD_GRACE:?} after the signal: killing it");
            let _ = child.kill();
        }
    }
}

/// The status a shell would report: the exit code, or 128+N for death by signal N.
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

/// A mounted, serving mmfs: the memory manager, its system threads and the FUSE
/// session on `mountpoint`.
struct Daemon {
    mm: Arc<Mm>,
    mountpoint: PathBuf,
    // Dropped after the unmount in `stop`: a temporary volume or state directory
    // goes only when nothing can reach it any more.
    state: Scratch,
    files: Scratch,
    system_threads: Dispatcher,
    background: fuser::BackgroundSession,
    mount_id: Option<u64>,
}

impl Daemon {
    /// Builds the machine and mounts it on `mountpoint` (an existing directory,
    /// canonical). The termination signals are blocked from here on, in every
    /// thread; `signal_channel` takes them.
    fn start(machine: &MachineOptions, mountpoint: &Path) -> Result<Daemon, Failure> {
        let state = Scratch::new(&machine.state_dir, "mmfs-state-")?;
        let files = Scratch::new(&machine.files, "mmfs-files-")?;
        let config = machine
            .to_config(state.path(), files.path())
            .map_err(Failure::Usage)?;
        let mm = Arc::new(Mm::new(config).map_err(|e| Failure::Runtime(e.to_string()))?);
        let fs = MmFs::new(Arc::clone(&mm)).map_err(|e| {
            Failure::Runtime(format!(
                "cannot open the --files volume {}: {e}",
                files.path().display()
            ))
        })?;

        // Signals are taken by one waiting thread; block them before any other thread
        // starts so that every thread inherits the mask.
        termination_signals()
            .thread_block()
            .map_err(|e| Failure::Runtime(format!("cannot block signals: {e}")))?;
        // With --clock auto the system threads run from now on (they inherit the
        // blocked signal mask).
        let system_threads = Dispatcher::start(Arc::clone(&mm))
            .map_err(|e| Failure::Runtime(format!("cannot start the system threads: {e}")))?;

        let session = fuser::Session::new(fs, mountpoint, &fuse_config(machine.allow_other))
            .map_err(|e| {
                Failure::Runtime(format!(
                    "cannot mount on {}: {e} (is /dev/fuse there, and are you root or is fusermount3 installed?)",
                    mountpoint.display()
                ))
            })?;
        let _ = MOUNTPOINT.set(mountpoint.to_path_buf());
        // Which mount is ours, so that a lazy `umount -l` from outside shows (the
        // session itself goes on while a file stays open in the detached mount).
        let mount_id = fuse_mount_id(mountpoint);
        install_panic_hook();
        let background = session
            .spawn()
            .map_err(|e| Failure::Runtime(format!("cannot start the FUSE threads: {e}")))?;
        log::info!("mounted on {}", mountpoint.display());
        Ok(Daemon {
            mm,
            mountpoint: mountpoint.to_path_buf(),
            state,
            files,
            system_threads,
            background,
            mount_id,
        })
    }

    /// What a newcomer needs once mounted, in one line: where, which machine, where
    /// its paging files and volume live, and how to stop it.
    fn startup_line(&self) -> String {
        let c = self.mm.config();
        let mp = self.mountpoint.display();
        let temporary = |t: bool| if t { " (temporary)" } else { "" };
        format!(
            "mmfs: mounted on {mp}: {} of RAM, {}{}, clock {}; paging files in {}{}; \
             files/ shows {}{}; stop with Ctrl-C, `kill {}` or `umount {mp}`",
            size_text(c.ram_bytes),
            c.arch.name(),
            if c.three_gb { " /3GB" } else { "" },
            match c.clock {
                ClockMode::Auto => "auto",
                ClockMode::Manual => "manual",
            },
            c.state_dir.display(),
            temporary(c.state_dir_temporary),
            c.files_dir.display(),
            temporary(c.files_dir_temporary),
            std::process::id(),
        )
    }

    /// Ends readers, stops the system threads, unmounts, writes dirty pages back.
    fn stop(self) {
        let Daemon {
            mm,
            mountpoint,
            state,
            files,
            mut system_threads,
            background,
            mount_id,
        } = self;
        // Parked `system/events` readers get EOF first, so nothing holds the mount
        // busy waiting for an event that will never come.
        mm.events().shutdown();
        system_threads.stop();
        if mount_id.is_none_or(mount_present) {
            unmount(&mountpoint);
        }
        // Nothing reaches the files any more: what the cache and sections dirtied
        // goes to them.
        if let Err(e) = mm.cache_flush_all() {
            log::warn!("writing the cache's dirty pages back: {e}");
        }
        let written = mm.flush_all_mapped_files();
        if written > 0 {
            log::info!("wrote {written} dirty pages of mapped files back to their files");
        }
        join_with_grace(background);
        drop(files);
        drop(state);
    }
}

/// A size as the command line writes it: 256M, 1G, 4100K.
fn size_text(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    UNITS
        .iter()
        .find(|(unit, _)| bytes >= *unit && bytes.is_multiple_of(*unit))
        .map_or_else(
            || bytes.to_string(),
            |(unit, s)| format!("{}{s}", bytes / unit),
        )
}

/// The FUSE session's options: named mmfs, the kernel checks permissions
/// (`default_permissions`: against the owners and modes `fs/access.rs` gives
/// the generated tree, and the host's own in `files/`, which is the only check
/// there: it knows the caller's supplementary groups, mmfs does not),
/// `--allow-other` lets other users in (SPEC §9), `FUSE_THREADS` dispatch
/// threads each with its own /dev/fuse descriptor.
fn fuse_config(allow_other: bool) -> fuser::Config {
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName("mmfs".into()),
        fuser::MountOption::Subtype("mmfs".into()),
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoAtime,
        // `files/` shows a host directory: its set-user-ID programs and device
        // nodes are not a way in.
        fuser::MountOption::NoSuid,
        fuser::MountOption::NoDev,
    ];
    config.acl = if allow_other {
        fuser::SessionACL::All
    } else {
        fuser::SessionACL::Owner
    };
    config.n_threads = Some(FUSE_THREADS);
    config.clone_fd = true;
    config
}

/// A termination signal taken from the queue.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    signal: Signal,
    /// Sent by the kernel to the whole foreground process group (Ctrl-C at the
    /// terminal: `si_code` SI_KERNEL), so `mmfs run`'s command had it already.
    to_the_group: bool,
}

/// The termination signals, as they arrive, taken by one thread with
/// `sigwaitinfo` (they are blocked in every thread: `Daemon::start`).
fn signal_channel() -> Result<Receiver<Arrival>, Failure> {
    let (tx, rx) = std::sync::mpsc::channel();
    let signals = termination_signals();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            loop {
                // SAFETY: zeroes are a valid siginfo_t, which sigwaitinfo fills.
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                // SAFETY: a valid signal set and a siginfo_t to fill.
                let n = unsafe { libc::sigwaitinfo(signals.as_ref(), &mut info) };
                if n < 0 {
                    if nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                        continue;
                    }
                    break;
                }
                let Ok(signal) = Signal::try_from(n) else {
                    continue;
                };
                let to_the_group = info.si_code == libc::SI_KERNEL;
                if tx
                    .send(Arrival {
                        signal,
                        to_the_group,
                    })
                    .is_err()
                {
                    break;
                }
            }
        })
        .map_err(|e| Failure::Runtime(format!("cannot start the signal thread: {e}")))?;
    Ok(rx)
}

/// Waits for a termination signal, or for the mount to go away under us
/// (`umount` by hand, or `umount -l`).
fn wait_for_the_end(
    signals: &Receiver<Arrival>,
    background: &fuser::BackgroundSession,
    mount_id: Option<u64>,
) -> Result<(), Failure> {
    loop {
        match signals.recv_timeout(Duration::from_millis(200)) {
            Ok(arrival) => {
                log::info!("{}: unmounting", arrival.signal);
                return Ok(());
            }
            Err(RecvTimeoutError::Timeout) => {
                if background.guard.is_finished() {
                    log::info!("unmounted from outside");
                    return Ok(());
                }
                if mount_id.is_some_and(|id| !mount_present(id)) {
                    // Detached (`umount -l`): no new opens can reach us, but a parked
                    // `system/events` reader would hold the session open forever.
                    log::info!("detached from outside");
                    return Ok(());
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

fn termination_signals() -> SigSet {
    let mut s = SigSet::empty();
    s.add(Signal::SIGINT);
    s.add(Signal::SIGTERM);
    s.add(Signal::SIGHUP);
    s
}

/// Unmounts; if something still uses the mount (a shell's cwd), detaches it lazily
/// so the mount point is free at once either way.
fn unmount(mountpoint: &Path) {
    use nix::mount::{MntFlags, umount2};
    if !is_mount_point(mountpoint) {
        return;
    }
    if let Err(e) = umount2(mountpoint, MntFlags::empty()) {
        log::info!("umount: {e}; detaching lazily");
        if let Err(e) = umount2(mountpoint, MntFlags::MNT_DETACH) {
            log::warn!("cannot unmount {}: {e}", mountpoint.display());
        }
    }
}

fn join_with_grace(background: fuser::BackgroundSession) {
    let deadline = std::time::Instant::now() + JOIN_GRACE;
    while !background.guard.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if background.guard.is_finished() {
        // Already unmounted above; this only joins the thread.
        if let Err(e) = background.umount_and_join() {
            log::debug!("session ended: {e}");
        }
    } else {
        // A detached mount still in use keeps the connection open; exiting closes
        // /dev/fuse, which aborts it, so no request waits on us forever.
        log::info!("FUSE threads still busy after unmount; exiting anyway");
        std::mem::forget(background);
    }
}

/// Checks the mount point: it must be a directory and not already a mount point.
/// A missing directory is created (and removed again at exit).
fn prepare_mountpoint(path: &Path) -> Result<(PathBuf, bool), Failure> {
    let shown = path.display();
    let created = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => false,
        Ok(_) => return Err(Failure::Usage(format!("{shown}: not a directory"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(path)
                .map_err(|e| Failure::Usage(format!("{shown}: cannot create mount point: {e}")))?;
            true
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(Failure::Usage(format!(
                "{shown}: a dead FUSE mount is still attached here; run `umount -l {shown}` first"
            )));
        }
        Err(e) => return Err(Failure::Usage(format!("{shown}: {e}"))),
    };
    let canonical = path
        .canonicalize()
        .map_err(|e| Failure::Usage(format!("{shown}: {e}")))?;
    if is_mount_point(&canonical) {
        return Err(Failure::Usage(format!(
            "{shown}: busy: something is already mounted there"
        )));
    }
    Ok((canonical, created))
}

/// Whether `path` (canonical) is a mount point, from /proc/self/mountinfo.
fn is_mount_point(path: &Path) -> bool {
    let want = path.to_string_lossy();
    mounts().iter().any(|m| m.point == want)
}

/// The mount ID of the FUSE mount of this daemon at `path` (canonical), if mountinfo
/// shows it.
fn fuse_mount_id(path: &Path) -> Option<u64> {
    let want = path.to_string_lossy();
    mounts()
        .iter()
        .rev()
        .find(|m| m.point == want && (m.fs_type == "fuse" || m.fs_type.starts_with("fuse.")))
        .map(|m| m.id)
}

/// Whether the mount with this ID is still attached.
fn mount_present(id: u64) -> bool {
    mounts().iter().any(|m| m.id == id)
}

struct MountEntry {
    id: u64,
    point: String,
    fs_type: String,
}

/// /proc/self/mountinfo: `ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE ...`.
fn mounts() -> Vec<MountEntry> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let dash = fields.iter().position(|&f| f == "-")?;
            Some(MountEntry {
                id: fields.first()?.parse().ok()?,
                point: unescape_mountinfo(fields.get(4)?),
                fs_type: fields.get(dash + 1)?.to_string(),
            })
        })
        .collect()
}

/// A panic anywhere is a bug; make sure it does not leave a dead mount behind.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        // `mmfs run`: the command would go on against a dead mount.
        let child = RUN_CHILD.load(Ordering::Relaxed);
        if child > 0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), Signal::SIGTERM);
        }
        if let Some(mp) = MOUNTPOINT.get() {
            let _ = nix::mount::umount2(mp.as_path(), nix::mount::MntFlags::MNT_DETACH);
            if RUN_TEMPORARY.load(Ordering::Relaxed) {
                let _ = std::fs::remove_dir(mp);
            }
        }
        std::process::exit(101);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn sizes_read_as_the_command_line_writes_them() {
        assert_eq!(size_text(256 << 20), "256M");
        assert_eq!(size_text(1 << 30), "1G");
        assert_eq!(size_text(16 << 40), "16T");
        assert_eq!(size_text(4100 << 10), "4100K");
        assert_eq!(size_text(5000), "5000");
    }

    /// What a shell's `$?` would say: the code, or 128+N after signal N.
    #[test]
    fn exit_codes_are_a_shells() {
        let status = std::process::ExitStatus::from_raw;
        assert_eq!(exit_code_of(status(0)), 0);
        assert_eq!(exit_code_of(status(3 << 8)), 3);
        assert_eq!(exit_code_of(status(255 << 8)), 255);
        assert_eq!(exit_code_of(status(libc::SIGKILL)), 137);
        assert_eq!(exit_code_of(status(libc::SIGTERM)), 143);
    }
}
