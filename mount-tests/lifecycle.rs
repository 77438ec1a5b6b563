//! Lifecycle under load: SIGTERM and SIGINT while many processes page through
//! `mem` and read listings, a daemon killed with SIGKILL and the `umount -l`
//! recovery the README gives, and parked `system/events` readers at unmount.
//!
//! Every process a test starts is killed when the test ends, pass or fail, and
//! the `Mount` guard unmounts; every wait is bounded.

use super::*;

/// How long the I/O processes may take to end once the daemon has gone.
const IO_END_WAIT: Duration = Duration::from_secs(20);
/// How long the workload may take to get every loop going (a debug build on a
/// loaded machine).
const WORKLOAD_START_WAIT: Duration = Duration::from_secs(60);
/// How long a reader may take to park, or to end after unmount.
const READER_WAIT: Duration = Duration::from_secs(10);

/// The kernel function a process sleeps in (`request_wait_answer`: waiting for
/// a FUSE reply).
fn wchan(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

/// A fresh mount, and `cat system/events` parked in the kernel waiting for mmfs
/// to answer its read (with the manual clock and nothing else running no event
/// comes); `None` when the mount tests are skipped.
fn mount_with_parked_events_reader() -> Option<(Mount, Guarded)> {
    let m = Mount::start_unless_skipped(&[])?;
    let mut cat = Guarded::spawn(
        Command::new("cat")
            .arg(m.path("system/events"))
            .stdout(std::fs::File::create(m.dir.join("events.out")).unwrap())
            .stderr(std::fs::File::create(m.dir.join("events.err")).unwrap()),
    );
    let pid = cat.id();
    assert!(
        wait_until(READER_WAIT, || wchan(pid) == "request_wait_answer"),
        "cat system/events did not park (wchan {:?}, running {})",
        wchan(pid),
        cat.running()
    );
    Some((m, cat))
}

/// How the parked reader ended: it must end within `READER_WAIT`.
fn reader_ended(cat: &mut Guarded) -> ExitStatus {
    cat.wait_for(READER_WAIT).expect("cat is still waiting")
}

/// Many writers, readers, listing readers and control commands at once; each
/// loop runs until its command fails (the mount is gone), counting its rounds
/// in `$WORK/NAME.rounds` and leaving `$WORK/NAME.end` when it stops.
const HEAVY_IO: &str = r#"
set -u
M=$MMFS W=$WORK
base=$((0x1000000))
head -c 16M /dev/urandom > "$W/data"
for p in a b; do
    mkdir "$M/processes/$p"
    printf 'alloc %s 16M reserve,commit readwrite\n' "$base" > "$M/processes/$p/control"
done
loop() {
    local name=$1 n=0
    shift
    while "$@" > /dev/null 2>> "$W/$name.err"; do
        n=$((n + 1))
        echo "$n" > "$W/$name.rounds"
    done
    echo "$n" > "$W/$name.end"
}
for p in a b; do
    loop "write-$p" dd if="$W/data" of="$M/processes/$p/mem" bs=1M seek=$base oflag=seek_bytes conv=notrunc status=none &
    loop "read-$p" dd if="$M/processes/$p/mem" of=/dev/null bs=1M count=16 skip=$base iflag=skip_bytes status=none &
    loop "trim-$p" sh -c "echo trim > '$M/processes/$p/control'" &
done
loop pfn-db cat "$M/pfn/db" &
loop status cat "$M/processes/a/status" "$M/processes/b/status" "$M/system/meminfo" "$M/system/counters" &
loop system sh -c "printf 'run modified-page-writer\nempty-standby\n' > '$M/system/control'" &
loop listing ls -R "$M/processes" "$M/pfn/lists" &
loop events cat "$M/system/events" &
wait
"#;

/// The loops of `HEAVY_IO` that must have run a few rounds before the signal
/// (`events` streams and ends only at unmount).
const HEAVY_IO_LOOPS: &[&str] = &[
    "write-a", "write-b", "read-a", "read-b", "trim-a", "trim-b", "pfn-db", "status", "system",
    "listing",
];

fn rounds(work: &Path, name: &str) -> u64 {
    std::fs::read_to_string(work.join(format!("{name}.rounds")))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn ended_loops(work: &Path) -> Vec<String> {
    names_ending_in(work, ".end")
}

fn loop_errors(work: &Path, name: &str) -> String {
    std::fs::read_to_string(work.join(format!("{name}.err"))).unwrap_or_default()
}

/// Starts `HEAVY_IO` on a machine with little RAM (two 16 MB processes on 8 MB,
/// so the writers page through the paging file), waits until every loop has run,
/// sends `sig` and checks that mmfs exits 0 in time, leaves no mount, and that
/// every I/O process ends.
fn signal_during_heavy_io(sig: i32, extra: &[&str]) {
    let mut args = vec!["--ram", "8M"];
    args.extend_from_slice(extra);
    let Some(mut m) = Mount::start_unless_skipped(&args) else {
        return;
    };
    let work = m.dir.join("work");
    std::fs::create_dir(&work).unwrap();
    let out = m.dir.join("workload.out");
    let mut io = Guarded::spawn(
        Command::new("bash")
            .arg("-c")
            .arg(HEAVY_IO)
            .env("MMFS", &m.mp)
            .env("WORK", &work)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(m.dir.join("workload.err")).unwrap()),
    );
    let all_running = wait_until(WORKLOAD_START_WAIT, || {
        HEAVY_IO_LOOPS.iter().all(|n| rounds(&work, n) >= 2) || !ended_loops(&work).is_empty()
    });
    let ended = ended_loops(&work);
    assert!(
        all_running && ended.is_empty(),
        "the workload did not get going: rounds {:?}, ended {ended:?}, errors {:?}\n{}",
        HEAVY_IO_LOOPS
            .iter()
            .map(|n| (*n, rounds(&work, n)))
            .collect::<Vec<_>>(),
        ended
            .iter()
            .map(|n| (n.clone(), loop_errors(&work, n)))
            .collect::<Vec<_>>(),
        m.log_text()
    );
    // Paging both ways before the signal: pages written out and read back.
    let counter = |name: &str| -> u64 {
        let counters = std::fs::read_to_string(m.path("system/counters")).unwrap();
        counters
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    assert!(
        wait_until(WORKLOAD_START_WAIT, || counter("pages_written_to_pagefile")
            > 0
            && counter("pages_read_from_pagefile") > 0),
        "no paging before the signal"
    );

    let start = Instant::now();
    m.stop_cleanly(sig);
    let took = start.elapsed();
    let io_status = io.wait_for(IO_END_WAIT);
    assert!(
        io_status.is_some(),
        "I/O processes still running {IO_END_WAIT:?} after mmfs exited; ended: {:?}",
        ended_loops(&work)
    );
    let mut all: Vec<String> = HEAVY_IO_LOOPS.iter().map(|s| s.to_string()).collect();
    all.push("events".into());
    all.sort();
    assert_eq!(ended_loops(&work), all, "every loop ends");
    let log = m.log_text();
    assert!(!log.contains("panicked"), "mmfs panicked:\n{log}");
    eprintln!(
        "signal {sig}: mmfs exited in {took:?} with {} write rounds done",
        rounds(&work, "write-a") + rounds(&work, "write-b")
    );
}

#[test]
fn sigterm_during_heavy_paging_io_exits_0_and_unmounts() {
    signal_during_heavy_io(libc::SIGTERM, &["--clock", "auto"]);
}

#[test]
fn sigint_during_heavy_paging_io_exits_0_and_unmounts() {
    signal_during_heavy_io(libc::SIGINT, &[]);
}

/// SIGTERM answers a reader parked in `system/events` (EOF, so `cat` exits 0)
/// before unmounting.
#[test]
fn sigterm_ends_a_parked_events_reader() {
    let Some((mut m, mut cat)) = mount_with_parked_events_reader() else {
        return;
    };
    m.stop_cleanly(libc::SIGTERM);
    let cat_status = reader_ended(&mut cat);
    assert!(cat_status.success(), "cat ended with {cat_status}");
}

/// A plain `umount` is refused while a file is open in the mount (the kernel's
/// rule for every filesystem: "target is busy"), and mmfs goes on serving;
/// `umount -l` detaches it, and mmfs sees that, answers the parked reader with
/// EOF and exits 0.
#[test]
fn external_umount_with_a_parked_events_reader() {
    let Some((mut m, mut cat)) = mount_with_parked_events_reader() else {
        return;
    };

    let plain = Command::new("umount").arg(&m.mp).output().unwrap();
    assert!(!plain.status.success(), "umount of a busy mount succeeded");
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(err.contains("busy"), "umount said: {err}");
    assert!(is_mounted(&m.mp));
    assert!(std::fs::read_to_string(m.path("system/config")).is_ok());
    // Still parked: one sample of wchan can read "0" on a loaded machine
    // (seen once in a full run), so it is looked at until it says so.
    let pid = cat.id();
    assert!(
        cat.running() && wait_until(READER_WAIT, || wchan(pid) == "request_wait_answer"),
        "cat stopped waiting (wchan {:?}, running {})",
        wchan(pid),
        cat.running()
    );

    let lazy = Command::new("umount")
        .arg("-l")
        .arg(&m.mp)
        .status()
        .unwrap();
    assert!(lazy.success());
    let cat_status = reader_ended(&mut cat);
    assert!(cat_status.success(), "cat ended with {cat_status}");
    m.exits_cleanly("umount -l");
}

/// SIGKILL leaves a dead mount: its directory answers ENOTCONN, a parked reader
/// gets an error, and mmfs refuses to mount there (exit 2, naming the fix).
/// `umount -l MOUNTPOINT`, as the README says, makes it a plain directory again
/// and a new mmfs mounts on it.
#[test]
fn sigkill_leaves_a_dead_mount_that_umount_l_clears() {
    let Some((mut m, mut cat)) = mount_with_parked_events_reader() else {
        return;
    };
    m.stop_with(libc::SIGKILL);

    let cat_status = reader_ended(&mut cat);
    assert!(!cat_status.success(), "cat of a dead mount succeeded");
    let err = std::fs::metadata(&m.mp).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN), "{err}");
    assert!(is_mounted(&m.mp), "the dead mount is gone already");
    let (code, err) = run_mmfs_expecting_failure(&[m.mp.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("umount -l"), "{err}");

    let st = Command::new("umount")
        .arg("-l")
        .arg(&m.mp)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(!is_mounted(&m.mp));
    assert!(std::fs::metadata(&m.mp).unwrap().is_dir());
    assert_eq!(std::fs::read_dir(&m.mp).unwrap().count(), 0);

    let mut again = Mount::start_on(&m.mp, &m.dir.join("mmfs-again.log"), &[]);
    let config = std::fs::read_to_string(again.path("system/config")).unwrap();
    assert!(config.contains("StateDir: "), "{config}");
    again.stop_cleanly(libc::SIGTERM);
}

/// Files written through `files/` and never synced, on 16 MB of RAM with the
/// clock manual (no lazy writer ran; the write throttle wrote some, a trim of
/// the System process put some cached dirty pages on the modified list, and a
/// process's mapped view dirtied one): after `stop`, every byte is in the host
/// files.
fn stopping_writes_every_dirty_cached_page(stop: impl FnOnce(&mut Mount)) {
    if skip() {
        return;
    }
    let files = tempfile::tempdir().unwrap();
    let mut m = Mount::start(&["--ram", "16M", "--files", files.path().to_str().unwrap()]);
    // The big file first: the write throttle writes most of it; a flush the
    // rest, and then 100 pages of it are written again. With the small ones
    // that is under the dirty page threshold (512 pages): nothing else writes.
    let mut want: Vec<(String, Vec<u8>)> = vec![(
        "big".into(),
        (0..8u32 << 20).map(|k| (k / 4099) as u8).collect(),
    )];
    want.extend((0..30u32).map(|i| {
        let len = [1, 4095, 4096, 4097, 65536, 200_000][i as usize % 6] + i as usize;
        let data = (0..len).map(|k| (k as u32 * 31 + i) as u8).collect();
        (format!("small-{i}"), data)
    }));
    let control = |rel: &str, line: &str| {
        std::fs::write(m.path(rel), format!("{line}\n")).unwrap_or_else(|e| panic!("{line}: {e}"));
        std::fs::read_to_string(m.path(rel)).unwrap()
    };
    for (i, (name, data)) in want.iter_mut().enumerate() {
        std::fs::write(m.path(&format!("files/{name}")), &data).unwrap();
        if i == 0 {
            control("cache/control", "flush big");
            let again = vec![0x5a; 100 << 12];
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(m.path("files/big"));
            f.unwrap().write_all_at(&again, 1 << 20).unwrap();
            data[1 << 20..(1 << 20) + again.len()].copy_from_slice(&again);
        }
    }
    control("processes/System/control", "trim");
    // A process writes into one of the files through a view of it.
    control("sections/control", "create s 0 file=small-5");
    std::fs::create_dir(m.path("processes/app")).unwrap();
    let out = control("processes/app/control", "map s 0 0 0 readwrite");
    let base = out
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_start_matches("0x");
    let base = u64::from_str_radix(base, 16).unwrap();
    use std::os::unix::fs::FileExt;
    let mem = std::fs::OpenOptions::new()
        .write(true)
        .open(m.path("processes/app/mem"))
        .unwrap();
    mem.write_all_at(b"through a view", base + 10).unwrap();
    want[6].1[10..24].copy_from_slice(b"through a view");
    drop(mem);
    let stats = std::fs::read_to_string(m.path("cache/stats")).unwrap();
    let dirty = stats
        .lines()
        .find_map(|l| l.strip_prefix("DirtyPages: "))
        .unwrap();
    assert!(dirty != "0", "nothing is dirty before the stop:\n{stats}");
    let on_host = |name: &str| std::fs::read(files.path().join(name)).unwrap();
    let unwritten = want.iter().filter(|(n, d)| on_host(n) != *d).count();
    assert!(unwritten >= 25, "only {unwritten} files wait for the stop");
    stop(&mut m);
    for (name, data) in &want {
        assert!(
            on_host(name) == *data,
            "{name}: the host file differs after the stop"
        );
    }
}

#[test]
fn sigterm_writes_every_dirty_cached_page() {
    stopping_writes_every_dirty_cached_page(|m| m.stop_cleanly(libc::SIGTERM));
}

#[test]
fn external_umount_writes_every_dirty_cached_page() {
    stopping_writes_every_dirty_cached_page(|m| {
        let st = Command::new("umount").arg(&m.mp).status().unwrap();
        assert!(st.success(), "umount failed");
        m.exits_cleanly("umount");
    });
}
