//! The mount harness: mounts the cargo-built `mmfs` in a fresh temporary directory
//! and runs the shell scenarios in `mount-tests/scenarios/` against it, plus the
//! lifecycle tests (signals, bad mount points) that need a real mount.
//!
//! Every mount is unmounted whatever happens: the `Mount` guard is the public
//! `mmfs::TestMount`, which stops the daemon and detaches the mount point in
//! `Drop`, so a failing or hanging scenario (each runs under a timeout) leaves
//! nothing behind.
//!
//! If FUSE cannot be mounted the tests fail with a clear message. They skip only
//! when `MMFS_SKIP_MOUNT_TESTS=1` is set.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mmfs::test_mount::{TestMount, TestMountBuilder, detach, is_mounted};

const MMFS: &str = env!("CARGO_BIN_EXE_mmfs");
const SCENARIO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/mount-tests/scenarios");
const LIB_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/mount-tests/lib.sh");
const MOUNT_WAIT: Duration = Duration::from_secs(20);
const STOP_WAIT: Duration = Duration::from_secs(15);
const DEFAULT_SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

fn skip() -> bool {
    if std::env::var("MMFS_SKIP_MOUNT_TESTS").as_deref() == Ok("1") {
        eprintln!("MMFS_SKIP_MOUNT_TESTS=1: mount test skipped");
        return true;
    }
    false
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A new temporary directory (its name starting with `prefix`) holding an empty
/// directory `name`.
fn temp_dir_with(prefix: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let sub = dir.path().join(name);
    std::fs::create_dir(&sub).unwrap();
    (dir, sub)
}

/// The names in `dir` that end in `suffix`, without it, sorted.
fn names_ending_in(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(suffix).map(String::from))
        .collect();
    names.sort();
    names
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let mut status = None;
    wait_until(limit, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// A process (and its process group) that is killed when the guard drops.
struct Guarded(Option<Child>);

impl Guarded {
    fn spawn(cmd: &mut Command) -> Guarded {
        Guarded(Some(cmd.process_group(0).spawn().unwrap()))
    }

    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits for the process to exit; `None` if it is still running after `limit`.
    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = wait_timeout(self.0.as_mut().unwrap(), limit)?;
        self.0 = None;
        Some(status)
    }

    fn running(&mut self) -> bool {
        matches!(self.0.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // SAFETY: killpg on the group this guard's child leads.
            unsafe {
                libc::killpg(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}

/// A running, mounted mmfs: the public `mmfs::TestMount` (which always unmounts
/// when it drops) with the harness's failure messages.
struct Mount {
    tm: TestMount,
    /// The test's own directory (mount point, log, scratch files).
    dir: PathBuf,
    mp: PathBuf,
}

impl Mount {
    /// Mounts on `mnt` in a fresh temporary directory.
    fn start(extra: &[&str]) -> Mount {
        Mount::launch(TestMount::builder(), extra)
    }

    /// `start`, unless the mount tests are skipped.
    fn start_unless_skipped(extra: &[&str]) -> Option<Mount> {
        (!skip()).then(|| Mount::start(extra))
    }

    /// Mounts on an existing directory `mp`, logging to `log`.
    fn start_on(mp: &Path, log: &Path, extra: &[&str]) -> Mount {
        Mount::launch(TestMount::builder().mount_point(mp, log), extra)
    }

    fn launch(builder: TestMountBuilder, extra: &[&str]) -> Mount {
        // Manual clock unless the scenario asks for another.
        let clock: &[&str] = if extra.contains(&"--clock") {
            &[]
        } else {
            &["--clock", "manual"]
        };
        let tm = builder
            .binary(MMFS)
            .args(clock)
            .args(extra)
            .mount_wait(MOUNT_WAIT)
            .start()
            .unwrap_or_else(|e| {
                panic!(
                    "{e}\nThe mount tests need /dev/fuse and root (or fusermount3). \
                     Set MMFS_SKIP_MOUNT_TESTS=1 to skip them explicitly."
                )
            });
        Mount {
            dir: tm.dir().to_path_buf(),
            mp: tm.path().to_path_buf(),
            tm,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tm.join(rel)
    }

    fn log_text(&self) -> String {
        self.tm.log()
    }

    fn pid(&self) -> u32 {
        self.tm.pid().expect("mmfs is running")
    }

    /// Sends `sig` and waits for the daemon to exit; returns its exit status.
    fn stop_with(&mut self, sig: i32) -> ExitStatus {
        self.tm.signal(sig).expect("mmfs already stopped");
        self.wait_exit(&format!("signal {sig}"))
    }

    /// Sends `sig`: the daemon must exit 0 and leave no mount.
    fn stop_cleanly(&mut self, sig: i32) {
        self.tm.signal(sig).expect("mmfs already stopped");
        self.exits_cleanly(&format!("signal {sig}"));
    }

    /// After `cause` (a signal, an unmount) the daemon must exit 0 and leave no mount.
    fn exits_cleanly(&mut self, cause: &str) {
        let status = self.wait_exit(cause);
        assert!(
            status.success(),
            "exit status {status} after {cause}: {}",
            self.log_text()
        );
        assert!(
            !is_mounted(&self.mp),
            "the mount is still there after {cause}"
        );
    }

    /// After a scenario that was to kill the daemon: how it ended within
    /// `limit` (`None`: it was still running, and is killed now), with its dead
    /// mount detached.
    fn killed(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = self.tm.wait_timeout(limit);
        self.tm.kill();
        status
    }

    /// Waits for the daemon to exit after `cause`; if it does not exit in time it
    /// is killed and the test fails.
    fn wait_exit(&mut self, cause: &str) -> ExitStatus {
        self.tm.wait_timeout(STOP_WAIT).unwrap_or_else(|| {
            self.tm.kill();
            panic!(
                "mmfs did not exit within {STOP_WAIT:?} of {cause}: {}",
                self.log_text()
            );
        })
    }
}

/// A tmpfs of a fixed size, so that a test can fill a volume (the paging files'
/// `--state-dir`). Detached on drop, so files mmfs still holds open cannot keep it.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let (dir, path) = temp_dir_with("mmfs-volume-", "vol");
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount a {size} tmpfs (root needed)");
        Tmpfs { _dir: dir, path }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        detach(&self.path);
    }
}

/// What the `#` lines at the top of a scenario ask for.
struct Header {
    /// `# mmfs-args: ...`
    args: Vec<String>,
    /// `# timeout: SECONDS`
    timeout: Duration,
    /// `# state-tmpfs: SIZE`: `--state-dir` on a tmpfs of that size, `$STATE` in
    /// the script.
    state_tmpfs: Option<String>,
    /// `# files-tmpfs: SIZE`: `--files` (the volume of `files/`) on a tmpfs of
    /// that size, `$FILES` in the script.
    files_tmpfs: Option<String>,
    /// `# kills-mmfs`: the scenario kills the daemon with SIGKILL (`$MMFS_PID`);
    /// the harness then wants it dead by SIGKILL, not exited, and clears the
    /// dead mount (`umount -l`) instead of stopping it.
    kills_mmfs: bool,
}

fn scenario_header(script: &str) -> Header {
    let mut h = Header {
        args: Vec::new(),
        timeout: DEFAULT_SCENARIO_TIMEOUT,
        state_tmpfs: None,
        files_tmpfs: None,
        kills_mmfs: false,
    };
    for line in script.lines().take_while(|l| l.starts_with('#')) {
        if let Some(a) = line.strip_prefix("# mmfs-args:") {
            h.args.extend(a.split_whitespace().map(String::from));
        } else if let Some(t) = line.strip_prefix("# timeout:") {
            h.timeout = Duration::from_secs(t.trim().parse().expect("bad timeout header"));
        } else if let Some(size) = line.strip_prefix("# state-tmpfs:") {
            h.state_tmpfs = Some(size.trim().to_string());
        } else if let Some(size) = line.strip_prefix("# files-tmpfs:") {
            h.files_tmpfs = Some(size.trim().to_string());
        } else if line.trim_end() == "# kills-mmfs" {
            h.kills_mmfs = true;
        }
    }
    h
}

/// Mounts mmfs, runs one scenario script with `$MMFS` set to the mount point,
/// checks `system/verify` (once it exists), then stops mmfs with SIGTERM and
/// checks that it exited 0 and left no mount behind. A scenario that kills
/// mmfs (`# kills-mmfs`) must leave it dead by SIGKILL; its dead mount is
/// cleared.
fn run_scenario(name: &str) {
    if skip() {
        return;
    }
    let path = Path::new(SCENARIO_DIR).join(format!("{name}.sh"));
    let script = std::fs::read_to_string(&path).expect("scenario script missing");
    let header = scenario_header(&script);
    // Declared before the mount, so they are detached after mmfs has stopped.
    let state = header.state_tmpfs.as_deref().map(Tmpfs::mount);
    let files = header.files_tmpfs.as_deref().map(Tmpfs::mount);
    let mut args: Vec<&str> = header.args.iter().map(String::as_str).collect();
    // A daemon killed with SIGKILL cannot remove its temporary state directory:
    // such a scenario gets one the harness removes.
    let killed_state = (header.kills_mmfs && state.is_none()).then(|| {
        tempfile::Builder::new()
            .prefix("mmfs-state-")
            .tempdir()
            .unwrap()
    });
    if let Some(vol) = &state {
        args.extend(["--state-dir", vol.path.to_str().unwrap()]);
    }
    if let Some(dir) = &killed_state {
        args.extend(["--state-dir", dir.path().to_str().unwrap()]);
    }
    if let Some(vol) = &files {
        args.extend(["--files", vol.path.to_str().unwrap()]);
    }
    let mut mount = Mount::start(&args);
    let tmpfs_path = |t: &Option<Tmpfs>| t.as_ref().map_or(PathBuf::new(), |v| v.path.clone());
    let env = [("STATE", tmpfs_path(&state)), ("FILES", tmpfs_path(&files))];
    let (status, output) = run_script(&mount, &path, &env, header.timeout);
    let failed = |what: &str, log: &str| -> String {
        format!("scenario {name} {what}\n--- output ---\n{output}\n--- mmfs log ---\n{log}")
    };
    // The script itself must have ended, and with status 0.
    let passed = |log: &str| match status {
        None => panic!(
            "{}",
            failed(&format!("timed out after {:?}", header.timeout), log)
        ),
        Some(s) if !s.success() => panic!("{}", failed(&format!("failed ({s})"), log)),
        Some(_) => {}
    };
    if header.kills_mmfs {
        let ok = status.is_some_and(|s| s.success());
        let exit = mount.killed(if ok { STOP_WAIT } else { Duration::ZERO });
        let log = mount.log_text();
        passed(&log);
        assert!(!log.contains("panicked"), "mmfs panicked:\n{log}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            exit.and_then(|e| e.signal()),
            Some(libc::SIGKILL),
            "{}",
            failed(
                &format!("was to kill mmfs with SIGKILL; it ended with {exit:?}"),
                &log
            )
        );
        assert!(!is_mounted(&mount.mp), "the dead mount was not cleared");
        return;
    }
    let verify = mount.path("system/verify");
    let verify_text = if verify.exists() {
        std::fs::read_to_string(&verify).ok()
    } else {
        None
    };
    let exit = mount.stop_with(libc::SIGTERM);
    let log = mount.log_text();
    let still_mounted = is_mounted(&mount.mp);
    passed(&log);
    if let Some(v) = verify_text {
        assert!(v.starts_with("ok"), "system/verify after {name}:\n{v}");
    }
    assert!(
        exit.success(),
        "mmfs exited with {exit} after SIGTERM\n{log}"
    );
    assert!(!still_mounted, "mmfs left its mount behind");
    assert!(!log.contains("panicked"), "mmfs panicked:\n{log}");
}

/// Runs scenario `path` against `mount` under `timeout` (then kills whatever
/// is left of its process group), with `$MMFS`, `$MMFS_PID` (the daemon), `$MMFS_BIN`,
/// `$MMFS_LIB` and `env` set. Returns its status (`None`: timed out) and its
/// output (stdout and stderr).
fn run_script(
    mount: &Mount,
    path: &Path,
    env: &[(&str, PathBuf)],
    timeout: Duration,
) -> (Option<ExitStatus>, String) {
    let out_path = mount.dir.join("scenario.out");
    let pid = mount.pid();
    let mut child = Command::new("bash")
        .arg(path)
        .env("MMFS", &mount.mp)
        .env("MMFS_PID", pid.to_string())
        .env("MMFS_BIN", MMFS)
        .env("MMFS_LIB", LIB_SH)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&mount.dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&out_path)
                .unwrap(),
        ))
        .process_group(0)
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, timeout);
    // Whatever the script left running (it timed out, or failed before it
    // stopped its background processes) goes with it.
    // SAFETY: killpg on the scenario's own process group.
    unsafe {
        libc::killpg(child.id() as i32, libc::SIGKILL);
    }
    if status.is_none() {
        let _ = child.wait();
    }
    // Lossy: a failing scenario may print the bytes it found.
    let output =
        String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into_owned();
    (status, output)
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_scenario(stringify!($name));
            }
        )*
        const REGISTERED: &[&str] = &[$(stringify!($name)),*];
    };
}

scenarios! {
    readme_files,
    control_files,
    processes_and_pids,
    scale_processes,
    config_and_layout,
    mem_roundtrip,
    error_paths,
    large_listing,
    arch_x64,
    arch_pae,
    paging_overcommit,
    paging_lists,
    page_tables_paged,
    paging_limits,
    events_trace,
    threads_auto,
    sections_listing,
    sections_errors,
    sections_shared,
    sections_file,
    sections_cow,
    paging_disk_full,
    stress_concurrent,
    hostile_input,
    inspect_views,
    fidelity,
    files_volume,
    files_clients,
    files_coherency,
    files_durability,
    files_disk_full,
    files_read_ahead,
    kernel_mem,
    proto_paging,
    pool,
    kernel_mdls,
    access_processes,
    access_files,
    large_pages,
    awe,
    write_watch,
    tool_mmtop,
    tool_mmstat,
    tool_rammap,
    tool_vmmap,
    tool_pte,
    tool_pte_x86,
    history_dashboard,
    history_auto,
    pictures_map,
    listing_stream,
    control_round_trips,
}

/// Every script in the scenario directory runs as a test.
#[test]
fn every_scenario_is_registered() {
    let found = names_ending_in(Path::new(SCENARIO_DIR), ".sh");
    let mut registered: Vec<String> = REGISTERED.iter().map(|s| s.to_string()).collect();
    registered.sort();
    assert_eq!(
        found, registered,
        "add new scenario scripts to the scenarios! list"
    );
}

#[test]
fn sigterm_unmounts_cleanly() {
    let Some(mut m) = Mount::start_unless_skipped(&[]) else {
        return;
    };
    assert!(m.path("system/config").exists());
    m.stop_cleanly(libc::SIGTERM);
}

#[test]
fn sigint_unmounts_cleanly() {
    let Some(mut m) = Mount::start_unless_skipped(&[]) else {
        return;
    };
    m.stop_cleanly(libc::SIGINT);
}

/// A shell sitting inside the mount must not stop mmfs from unmounting and exiting.
#[test]
fn sigterm_with_a_busy_mount_still_unmounts() {
    let Some(mut m) = Mount::start_unless_skipped(&[]) else {
        return;
    };
    let _busy = Guarded::spawn(
        Command::new("sleep")
            .arg("60")
            .current_dir(m.path("processes")),
    );
    m.stop_cleanly(libc::SIGTERM);
}

/// Unmounting from outside (`umount`) ends the daemon with status 0.
#[test]
fn external_umount_ends_the_daemon() {
    let Some(mut m) = Mount::start_unless_skipped(&[]) else {
        return;
    };
    let st = Command::new("umount").arg(&m.mp).status().unwrap();
    assert!(st.success());
    m.exits_cleanly("umount");
}

fn run_mmfs_expecting_failure(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(MMFS)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, STOP_WAIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("mmfs {args:?} did not exit");
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn mount_point_that_is_a_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let (code, err) = run_mmfs_expecting_failure(&[file.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "one-line error expected: {err}");
    assert!(err.contains("not a directory"), "{err}");
}

/// SPEC §1, §9: a user other than root giving --allow-other without
/// `user_allow_other` in /etc/fuse.conf gets one line and exit status 2,
/// before the mount point is even made. Run as `nobody` (uid 65534); where
/// fuse.conf enables the option the refusal cannot happen (the parsing is
/// unit-tested in `src/options.rs`).
#[test]
fn allow_other_without_user_allow_other_exits_2() {
    let conf = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
    if conf
        .lines()
        .any(|l| l.split('#').next().unwrap().trim() == "user_allow_other")
    {
        eprintln!("/etc/fuse.conf has user_allow_other: nothing to refuse");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mp = dir.path().join("mnt");
    let mut child = Command::new(MMFS)
        .arg(&mp)
        .arg("--allow-other")
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, STOP_WAIT).expect("mmfs did not exit");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one-line error expected: {err}");
    assert!(
        err.contains("--allow-other") && err.contains("user_allow_other"),
        "{err}"
    );
    assert!(!mp.exists(), "the refused mount made its mount point");
    assert!(!is_mounted(&mp));
}

#[test]
fn busy_mount_point_exits_2() {
    let Some(m) = Mount::start_unless_skipped(&[]) else {
        return;
    };
    let (code, err) = run_mmfs_expecting_failure(&[m.mp.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "one-line error expected: {err}");
    assert!(err.contains("busy"), "{err}");
    // The first mount is untouched.
    assert!(m.path("system/config").exists());
}

#[test]
fn bad_options_exit_2() {
    let (code, err) = run_mmfs_expecting_failure(&["/tmp/x", "--arch", "sparc"]);
    assert_eq!(code, 2);
    assert!(err.contains("sparc"), "{err}");
}

/// NT allocates a paging file's minimum size when it creates it: on a volume
/// without that much free space mmfs cannot start (exit 1, STATUS_DISK_FULL, one
/// line) and leaves no paging file and no mount; a minimum that fits starts.
#[test]
fn a_paging_file_minimum_the_volume_cannot_hold_exits_1() {
    if skip() {
        return;
    }
    let vol = Tmpfs::mount("1M");
    let (_dir, mp) = temp_dir_with("mmfs-test-", "mnt");
    let state = vol.path.to_str().unwrap();
    let (code, err) = run_mmfs_expecting_failure(&[
        mp.to_str().unwrap(),
        "--state-dir",
        state,
        "--pagefile",
        "2M:4M",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "one-line error expected: {err}");
    assert!(
        err.contains("STATUS_DISK_FULL") && err.contains("minimum size of 2097152 bytes"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&vol.path).unwrap().count(), 0);
    assert!(!is_mounted(&mp));

    let mut m = Mount::start(&["--state-dir", state, "--pagefile", "512K:4M"]);
    let info = std::fs::read_to_string(m.path("pagefiles/pagefile.sys/info")).unwrap();
    assert!(info.contains("CurrentSize: 524288"), "{info}");
    m.stop_cleanly(libc::SIGTERM);
}

/// With no options: temporary state and files directories, removed at exit.
#[test]
fn default_run_removes_its_temporary_directories() {
    let Some(mut m) = Mount::start_unless_skipped(&[]) else {
        return;
    };
    let config = std::fs::read_to_string(m.path("system/config")).unwrap();
    let dir_of = |key: &str| {
        config
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{key} missing from config:\n{config}"))
    };
    let (state, files) = (dir_of("StateDir"), dir_of("Files"));
    assert!(state.is_dir() && files.is_dir());
    m.stop_cleanly(libc::SIGTERM);
    assert!(!state.exists(), "{} left behind", state.display());
    assert!(!files.exists(), "{} left behind", files.display());
}

/// Writes through a file-backed view that were never flushed reach the host
/// file when mmfs stops: the daemon writes every dirty mapped page after it
/// unmounts (the Dirty bits of process PTEs included).
#[test]
fn unmount_writes_mapped_files_back() {
    if skip() {
        return;
    }
    let files = tempfile::tempdir().unwrap();
    let original: Vec<u8> = (0..3 * 4096u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(files.path().join("f.bin"), &original).unwrap();
    let mut m = Mount::start(&["--files", files.path().to_str().unwrap()]);
    let control = |rel: &str, line: &str| {
        std::fs::write(m.path(rel), format!("{line}\n")).unwrap_or_else(|e| panic!("{line}: {e}"));
        std::fs::read_to_string(m.path(rel)).unwrap()
    };
    control("sections/control", "create f 0 file=f.bin");
    std::fs::create_dir(m.path("processes/app")).unwrap();
    let out = control("processes/app/control", "map f 0 0 0 readwrite");
    let base = u64::from_str_radix(
        out.split_whitespace()
            .nth(1)
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    use std::os::unix::fs::FileExt;
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open(m.path("processes/app/mem"))
        .unwrap();
    // One page still valid and dirty, one trimmed to the modified list.
    mem.write_all_at(b"trimmed", base + 4096).unwrap();
    control("processes/app/control", "trim");
    mem.write_all_at(b"still valid", base + 8192).unwrap();
    drop(mem);
    assert_eq!(
        std::fs::read(files.path().join("f.bin")).unwrap(),
        original,
        "nothing written before the stop"
    );
    m.stop_cleanly(libc::SIGTERM);
    let after = std::fs::read(files.path().join("f.bin")).unwrap();
    let mut want = original.clone();
    want[4096..4096 + 7].copy_from_slice(b"trimmed");
    want[8192..8192 + 11].copy_from_slice(b"still valid");
    assert!(
        after == want,
        "the host file does not hold the bytes written"
    );
}

mod lifecycle;
mod run_and_start;
