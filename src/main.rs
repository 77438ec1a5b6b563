//! mmfs: command line, mount, signals — nothing else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::Parser;
use nix::sys::signal::{SigSet, Signal};

use mmfs::fs::{FUSE_THREADS, MmFs};
use mmfs::mm::Mm;
use mmfs::options::Options;

/// Exit code for a bad mount point or command line (clap uses 2 too).
const EXIT_USAGE: u8 = 2;
/// How long to wait for the FUSE threads after unmounting before exiting anyway
/// (exiting closes /dev/fuse, which ends a lazily detached mount's connection).
const JOIN_GRACE: Duration = Duration::from_secs(3);

static MOUNTPOINT: OnceLock<PathBuf> = OnceLock::new();

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let options = Options::parse();
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("mmfs: {msg}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("mmfs: {msg}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Runtime(String),
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

fn run(options: Options) -> Result<(), Failure> {
    // Before anything is made: a refused --allow-other leaves no trace.
    let fuse_conf = std::fs::read_to_string(mmfs::options::FUSE_CONF).ok();
    options
        .check_allow_other(nix::unistd::getuid().as_raw(), fuse_conf.as_deref())
        .map_err(Failure::Usage)?;
    let (mountpoint, created) = prepare_mountpoint(&options.mountpoint)?;
    let result = run_mounted(&options, &mountpoint);
    if created {
        let _ = std::fs::remove_dir(&mountpoint);
    }
    result
}

fn run_mounted(options: &Options, mountpoint: &Path) -> Result<(), Failure> {
    let state = Scratch::new(&options.state_dir, "mmfs-state-")?;
    let files = Scratch::new(&options.files, "mmfs-files-")?;
    let config = options
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
    let signals = termination_signals();
    signals
        .thread_block()
        .map_err(|e| Failure::Runtime(format!("cannot block signals: {e}")))?;
    // With --clock auto the system threads run from now on (they inherit the
    // blocked signal mask).
    let mut system_threads = mmfs::mm::Dispatcher::start(Arc::clone(&mm))
        .map_err(|e| Failure::Runtime(format!("cannot start the system threads: {e}")))?;

    let session = fuser::Session::new(fs, mountpoint, &fuse_config(options.allow_other))
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

    wait_for_the_end(signals, &background, mount_id)?;

    // Parked `system/events` readers get EOF first, so nothing holds the mount
    // busy waiting for an event that will never come.
    mm.events().shutdown();
    system_threads.stop();
    if mount_id.is_none_or(mount_present) {
        unmount(mountpoint);
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
    Ok(())
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

/// Waits for a termination signal, or for the mount to go away under us
/// (`umount` by hand, or `umount -l`).
fn wait_for_the_end(
    signals: SigSet,
    background: &fuser::BackgroundSession,
    mount_id: Option<u64>,
) -> Result<(), Failure> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(sig) = signals.wait() {
                let _ = tx.send(sig);
            }
        })
        .map_err(|e| Failure::Runtime(format!("cannot start the signal thread: {e}")))?;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(sig) => {
                log::info!("{sig}: unmounting");
                return Ok(());
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
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
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
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

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
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

/// A panic anywhere is a bug; make sure it does not leave a dead mount behind.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        if let Some(mp) = MOUNTPOINT.get() {
            let _ = nix::mount::umount2(mp.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
        std::process::exit(101);
    }));
}
