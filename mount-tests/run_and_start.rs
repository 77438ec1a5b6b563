//! `mmfs run [OPTIONS] -- COMMAND`, the public `TestMount`, and what mmfs says
//! when it starts: its one startup line, and one line for every reason it cannot.
//!
//! Every `mmfs run` here is in its own process group, killed when the test ends
//! (pass or fail); every wait is bounded.

use super::*;

/// How long an `mmfs run` may take: mount, a short command, unmount.
const RUN_WAIT: Duration = Duration::from_secs(30);

/// `mmfs run ARGS` in `dir`, its stdout and stderr in `dir/run.out` and
/// `dir/run.err`, its temporary directories (mount point, paging files, volume)
/// in `dir/tmp` (`$TMPDIR`), where `left_in_tmp` sees what it leaves.
fn spawn_run(dir: &Path, args: &[&str]) -> Guarded {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    Guarded::spawn(
        Command::new(MMFS)
            .arg("run")
            .args(args)
            .env("TMPDIR", &tmp)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("run.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("run.err")).unwrap()),
    )
}

/// What an `mmfs run` in `dir` left in its `$TMPDIR`: nothing, when it ended well.
fn left_in_tmp(dir: &Path) -> Vec<String> {
    names_ending_in(&dir.join("tmp"), "")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Runs `mmfs run ARGS` to the end; its exit code and stderr.
fn run_to_end(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut run = spawn_run(dir, args);
    let status = run.wait_for(RUN_WAIT).expect("mmfs run did not end");
    let err = read(&dir.join("run.err"));
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().unwrap_or_else(|| panic!("{status:?}: {err}"));
    assert!(status.signal().is_none());
    (code, err)
}

/// The mount point a command saw in `$MMFS_MOUNT`, written to `dir/mp` by the
/// command.
fn seen_mount(dir: &Path) -> PathBuf {
    let mp = read(&dir.join("mp"));
    assert!(
        mp.starts_with('/'),
        "the command wrote no mount point: {mp:?}"
    );
    PathBuf::from(mp.trim_end())
}

/// Writes `$MMFS_MOUNT` to `mp`, checks that it is a live mmfs mount (listed in
/// mountinfo as fuse.mmfs, its `system/config` readable), writes its own pid to
/// `pid` and `ready` last.
const CHECK_MOUNT: &str = r#"
echo "$MMFS_MOUNT" > mp
echo $$ > pid
grep -q " $MMFS_MOUNT .* - fuse.mmfs " /proc/self/mountinfo || exit 90
grep -q '^Arch: ' "$MMFS_MOUNT/system/config" || exit 91
touch ready
"#;

#[test]
fn mmfs_run_gives_the_command_its_mount_and_its_exit_status() {
    if skip() {
        return;
    }
    for want in [0, 3] {
        let dir = tempfile::tempdir().unwrap();
        let script = format!("{CHECK_MOUNT}\nexit {want}");
        let (code, err) = run_to_end(
            dir.path(),
            &[
                "--ram", "16M", "--clock", "manual", "--", "sh", "-c", &script,
            ],
        );
        assert_eq!(code, want, "mmfs run: {err}");
        assert!(dir.path().join("ready").exists(), "{err}");
        assert_eq!(err, "", "mmfs run prints nothing when all goes well");
        let mp = seen_mount(dir.path());
        assert!(!is_mounted(&mp), "{} still mounted", mp.display());
        assert!(!mp.exists(), "{} left behind", mp.display());
        assert!(mp.starts_with(dir.path().join("tmp")), "{}", mp.display());
        assert_eq!(left_in_tmp(dir.path()), Vec::<String>::new());
    }
}

/// A command killed by a signal gives 128+N, as shells report it; a missing
/// command 127, one that cannot be executed 126, a bad option 125 (as env and
/// timeout do), each with one line, and no mount is left.
#[test]
fn mmfs_run_reports_signals_and_its_own_failures_as_shells_do() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = format!("{CHECK_MOUNT}\nkill -KILL $$");
    let (code, err) = run_to_end(dir.path(), &["--", "sh", "-c", &script]);
    assert_eq!(code, 128 + libc::SIGKILL, "{err}");
    assert!(!seen_mount(dir.path()).exists());

    for (args, want, says) in [
        (
            &["--", "no-such-command-mmfs"][..],
            127,
            "no-such-command-mmfs",
        ),
        (&["--", "/etc/hostname"][..], 126, "/etc/hostname"),
        (&["--arch", "sparc", "--", "true"][..], 125, "sparc"),
    ] {
        let (code, err) = run_to_end(dir.path(), args);
        assert_eq!(code, want, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line expected: {err}");
        assert!(err.starts_with("mmfs run: ") && err.contains(says), "{err}");
        assert_eq!(left_in_tmp(dir.path()), Vec::<String>::new(), "{args:?}");
    }
}

/// Starts `mmfs run -- sh -c SCRIPT` (after `CHECK_MOUNT`) and waits until the
/// command is ready; returns the guard, the mount point and the command's pid.
fn run_until_ready(dir: &Path, script: &str) -> (Guarded, PathBuf, i32) {
    let script = format!("{CHECK_MOUNT}\n{script}");
    let mut run = spawn_run(dir, &["--clock", "manual", "--", "sh", "-c", &script]);
    let ready = wait_until(RUN_WAIT, || dir.join("ready").exists() || !run.running());
    assert!(
        ready && run.running(),
        "the command did not get going: {}",
        read(&dir.join("run.err"))
    );
    let pid = read(&dir.join("pid")).trim().parse().unwrap();
    (run, seen_mount(dir), pid)
}

/// Waits until the command has set its signal trap (it touches `armed`
/// after): `ready` comes before the trap, and a signal sent in between
/// ended the shell the default way (seen once in a full test run).
fn wait_armed(dir: &Path) {
    let armed = wait_until(RUN_WAIT, || dir.join("armed").exists());
    assert!(
        armed,
        "the command never set its trap: {}",
        read(&dir.join("run.err"))
    );
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// After a signal to mmfs: it ends with `want`, the command is gone, nothing
/// is mounted and the temporary directory is removed.
fn ends_cleanly(run: &mut Guarded, dir: &Path, mp: &Path, pid: i32, want: i32, limit: Duration) {
    let status = run
        .wait_for(limit)
        .unwrap_or_else(|| panic!("mmfs run did not end: {}", read(&dir.join("run.err"))));
    assert_eq!(status.code(), Some(want), "{}", read(&dir.join("run.err")));
    assert!(!alive(pid), "the command is still running");
    assert!(!is_mounted(mp), "{} still mounted", mp.display());
    assert!(!mp.exists(), "{} left behind", mp.display());
    assert_eq!(left_in_tmp(dir), Vec::<String>::new());
}

/// SIGTERM to mmfs while the command sleeps: passed on, the command dies of it
/// (143), mmfs unmounts and removes the directory. SIGINT to a command that
/// catches it: its own exit status comes back.
#[test]
fn mmfs_run_passes_signals_on_and_always_unmounts() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut run, mp, pid) = run_until_ready(dir.path(), "exec sleep 60");
    signal_pid(run.id(), libc::SIGTERM);
    ends_cleanly(
        &mut run,
        dir.path(),
        &mp,
        pid,
        128 + libc::SIGTERM,
        RUN_WAIT,
    );

    let dir = tempfile::tempdir().unwrap();
    let (mut run, mp, pid) = run_until_ready(
        dir.path(),
        "trap 'exit 5' INT; touch armed; sleep 60 & child=$!; wait $child; kill $child",
    );
    wait_armed(dir.path());
    signal_pid(run.id(), libc::SIGINT);
    ends_cleanly(&mut run, dir.path(), &mp, pid, 5, RUN_WAIT);
}

/// A command that ignores the signal is killed `CHILD_GRACE` (10 s) later; a
/// process it left with its cwd in the mount does not keep mmfs from
/// unmounting (lazily) and removing the directory.
#[test]
fn mmfs_run_kills_a_command_that_ignores_the_signal() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut run, mp, pid) = run_until_ready(
        dir.path(),
        "(cd \"$MMFS_MOUNT\" && exec sleep 40) & echo $! > busy; trap '' TERM; touch armed; while :; do sleep 1; done",
    );
    wait_armed(dir.path());
    signal_pid(run.id(), libc::SIGTERM);
    let start = Instant::now();
    ends_cleanly(
        &mut run,
        dir.path(),
        &mp,
        pid,
        128 + libc::SIGKILL,
        RUN_WAIT,
    );
    assert!(start.elapsed() >= Duration::from_secs(9), "killed too soon");
    if let Ok(busy) = read(&dir.path().join("busy")).trim().parse::<i32>() {
        // SAFETY: kill(2) on the sleep this test's command started.
        unsafe {
            libc::kill(busy, libc::SIGKILL);
        }
    }
}

fn signal_pid(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// The public type: mounted and usable while it lives; dropped (also by a
/// panic's unwinding) it stops the daemon, unmounts and removes its directory.
#[test]
fn test_mount_unmounts_on_drop_and_on_panic() {
    if skip() {
        return;
    }
    let m = TestMount::builder()
        .binary(MMFS)
        .ram("16M")
        .args(["--clock", "manual"])
        .start()
        .unwrap();
    std::fs::create_dir(m.join("processes/app")).unwrap();
    std::fs::write(
        m.join("processes/app/control"),
        "alloc 0 64K reserve,commit readwrite\n",
    )
    .unwrap();
    let answer = std::fs::read_to_string(m.join("processes/app/control")).unwrap();
    assert!(answer.starts_with("ok "), "{answer}");
    assert!(m.is_mounted());
    let (mp, dir, pid) = (
        m.path().to_path_buf(),
        m.dir().to_path_buf(),
        m.pid().unwrap(),
    );
    drop(m);
    assert!(!is_mounted(&mp) && !dir.exists() && !alive(pid as i32));

    let (tx, rx) = std::sync::mpsc::channel();
    let panicked = std::panic::catch_unwind(move || {
        let m = TestMount::builder().binary(MMFS).start().unwrap();
        tx.send((m.path().to_path_buf(), m.dir().to_path_buf()))
            .unwrap();
        panic!("a failing test");
    });
    assert!(panicked.is_err());
    let (mp, dir) = rx.recv().unwrap();
    assert!(!is_mounted(&mp) && !dir.exists());

    let e = TestMount::builder()
        .binary(MMFS)
        .args(["--arch", "sparc"])
        .start()
        .unwrap_err();
    assert!(e.to_string().contains("sparc"), "{e}");
}

/// Once mounted, mmfs says so in one line on stderr (stdout stays empty): the
/// mount point, RAM, arch, clock, the paging files' and the volume's
/// directories (temporary or not), and how to stop it.
#[test]
fn startup_line_says_where_and_how_to_stop() {
    let Some(mut m) = Mount::start_unless_skipped(&["--ram", "16M", "--arch", "pae"]) else {
        return;
    };
    let config = std::fs::read_to_string(m.path("system/config")).unwrap();
    let dir_of = |key: &str| {
        config
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap()
            .to_string()
    };
    let mp = m.mp.display().to_string();
    let want = format!(
        "mmfs: mounted on {mp}: 16M of RAM, pae, clock manual; paging files in {} (temporary); \
         files/ shows {} (temporary); stop with Ctrl-C, `kill {}` or `umount {mp}`\n",
        dir_of("StateDir"),
        dir_of("Files"),
        m.pid()
    );
    assert_eq!(m.log_text(), want);
    m.stop_cleanly(libc::SIGTERM);

    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let mut m = Mount::start(&["--state-dir", state_dir]);
    let log = m.log_text();
    assert!(
        log.contains(&format!("paging files in {state_dir}; files/")),
        "{log}"
    );
    m.stop_cleanly(libc::SIGTERM);
}

/// Every failure to start is one line on stderr and a non-zero status, and
/// leaves nothing mounted.
#[test]
fn every_failure_to_start_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let mp = dir.path().join("mnt");
    let mp_s = mp.to_str().unwrap();
    for (args, code, says) in [
        (vec![], 2, "MOUNTPOINT"),
        (vec![mp_s, "--ram", "1K"], 2, "--ram"),
        (vec![mp_s, "--bogus"], 2, "--bogus"),
        (vec!["run", "ls"], 2, "mmfs run [OPTIONS] -- COMMAND"),
        (vec![mp_s, "--state-dir", file.to_str().unwrap()], 2, "f"),
        (vec![mp_s, "--arch", "x64", "--3gb"], 2, "--3gb"),
    ] {
        let (got, err) = run_mmfs_expecting_failure(&args);
        assert_eq!(got, code, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line expected: {err}");
        assert!(
            err.starts_with("mmfs: ") && err.contains(says),
            "{args:?}: {err}"
        );
        assert!(!is_mounted(&mp));
    }
}

/// Without a working /dev/fuse (a plain file bound over it in a mount
/// namespace of its own) mmfs says in one line that it cannot mount, and why
/// to look at /dev/fuse; `mmfs run` says the same, exits 125 without running
/// the command and leaves nothing in its `$TMPDIR`.
#[test]
fn no_fuse_device_is_one_line() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fuse");
    std::fs::write(&fake, "").unwrap();
    let mp = dir.path().join("mnt");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let without_fuse = |command: &str| {
        let script = format!(
            "mount --make-rprivate / && mount --bind '{}' /dev/fuse && exec {command}",
            fake.display()
        );
        let out = Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "one line expected: {err}");
        assert!(
            err.contains("cannot mount on ") && err.contains("/dev/fuse"),
            "{err}"
        );
        (out.status.code(), err)
    };
    let (code, err) = without_fuse(&format!("'{MMFS}' '{}'", mp.display()));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.starts_with("mmfs: "), "{err}");
    assert!(!mp.exists(), "the mount point mmfs made is still there");

    let (code, err) = without_fuse(&format!("'{MMFS}' run -- touch '{}'", mp.display()));
    assert_eq!(code, Some(125), "{err}");
    assert!(err.starts_with("mmfs run: "), "{err}");
    assert!(!mp.exists(), "the command ran without a mount");
    assert_eq!(names_ending_in(&tmp, ""), Vec::<String>::new());
}

/// Ctrl-C at a terminal reaches `mmfs run` and its command together (they share
/// the terminal's foreground process group): a command that handles SIGINT
/// finishes its clean-up and its own status comes back, and the mount is gone.
/// (mmfs does not pass that SIGINT on again; a second one sent within
/// microseconds of the first mostly merges with it in the kernel, so this test
/// cannot tell, but a command that handles SIGINT sees it once here.) Driven in
/// tmux, on its own server socket.
#[test]
fn ctrl_c_at_a_terminal_ends_the_run_with_the_commands_status() {
    if skip() {
        return;
    }
    need_tmux();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("tmp")).unwrap();
    let command = format!(
        "{CHECK_MOUNT}\ntrap 'echo INT >> ints' INT\n\
         while [ ! -s ints ]; do sleep 0.1; done\nsleep 1\nexit 7"
    );
    // bash waits for mmfs and goes on when it exits normally, whatever the
    // terminal's SIGINT did (wait-and-cooperative-exit).
    let outer = format!(
        "cd '{}' && TMPDIR='{}' '{MMFS}' run --clock manual -- sh -c \"$0\" 2> run.err; echo $? > status",
        d.display(),
        d.join("tmp").display()
    );
    let socket = format!("mmfs-run-test-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    struct Server<F: Fn(&[&str]) -> std::process::Output>(F);
    impl<F: Fn(&[&str]) -> std::process::Output> Drop for Server<F> {
        fn drop(&mut self) {
            (self.0)(&["kill-server"]);
        }
    }
    let tmux = Server(tmux);
    let started = (tmux.0)(&[
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "24",
        "--",
        "bash",
        "-c",
        &outer,
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    assert!(
        wait_until(RUN_WAIT, || d.join("ready").exists()),
        "the command did not get going: {}",
        read(&d.join("run.err"))
    );
    let mp = seen_mount(d);
    (tmux.0)(&["send-keys", "-t", "0", "C-c"]);
    assert!(
        wait_until(RUN_WAIT, || read(&d.join("status")).ends_with('\n')),
        "mmfs run did not end: {}",
        read(&d.join("run.err"))
    );
    assert_eq!(
        read(&d.join("status")),
        "7\n",
        "{}",
        read(&d.join("run.err"))
    );
    assert_eq!(
        read(&d.join("ints")),
        "INT\n",
        "the command saw SIGINT other than once"
    );
    assert!(!is_mounted(&mp) && !mp.exists());
    assert_eq!(left_in_tmp(d), Vec::<String>::new());
}

/// tmux drives the terminal test; installed with apt-get when the tests run as
/// root, as `need` does for the scenarios.
fn need_tmux() {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return;
    }
    let st = Command::new("bash")
        .args(["-c", &format!(". '{LIB_SH}' && need tmux tmux")])
        .status()
        .unwrap();
    assert!(st.success(), "tmux is needed (Debian package tmux)");
}
