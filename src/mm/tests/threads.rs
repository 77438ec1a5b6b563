//! The system threads on the manual clock: `tick N` against N × `tick 1`.

use std::fmt::Write as _;

use super::{RW, assert_verified, req};
use crate::mm::Mm;
use crate::mm::base::clock::MAX_TICK_MS;
use crate::mm::base::config::MmConfig;
use crate::mm::base::types::{Arch, PAGE_SIZE, Pfn, Pid};
use crate::mm::pfn::PageLocation;
use crate::mm::process::ProcessState;

/// What the scenario made: the pids, in creation order, and the mapped file.
struct Scene {
    pids: Vec<Pid>,
    file: std::path::PathBuf,
}

fn write(mm: &Mm, pid: Pid, va: u64, pages: u64, seed: u8) {
    for i in 0..pages {
        let bytes = [seed.wrapping_add(i as u8); 64];
        mm.write_memory(pid, va + i * PAGE_SIZE, &bytes).unwrap();
    }
}

fn committed(mm: &Mm, name: &str, pages: u64) -> (Pid, u64) {
    let pid = mm.create_process(name).unwrap();
    let (base, _) = mm
        .allocate(pid, &req(0, pages * PAGE_SIZE, "reserve,commit", RW))
        .unwrap();
    (pid, base.0)
}

/// A 4 MB machine with several processes in every state a tick cares about: a
/// plain working set; pages written to the paging file, on standby, some soft
/// faulted back; modified pagefile-bound pages; a mapped file's dirty page on
/// the modified list (the five-minute timer armed at 0 s); after five seconds, a
/// process touched late (it goes idle later than the others) and a hog that
/// takes memory below MmPlentyFreePages so the working-set manager trims.
fn scene() -> (Mm, Scene) {
    let mm = Mm::new(MmConfig::for_tests(4 << 20, Arch::X86)).unwrap();
    let (a, base_a) = committed(&mm, "a", 64);
    write(&mm, a, base_a, 64, 1);
    let (b, base_b) = committed(&mm, "b", 128);
    write(&mm, b, base_b, 128, 2);
    mm.trim(b).unwrap();
    mm.flush_modified();
    let mut page = vec![0u8; 16 * PAGE_SIZE as usize];
    mm.read_memory(b, base_b, &mut page).unwrap();
    let (c, base_c) = committed(&mm, "c", 32);
    write(&mm, c, base_c, 32, 3);
    mm.trim(c).unwrap();
    let file = mm.config().files_dir.join("data.bin");
    std::fs::write(&file, vec![b'.'; 4 * PAGE_SIZE as usize]).unwrap();
    mm.create_section("f", 0, Some("data.bin"), RW, false)
        .unwrap();
    let d = mm.create_process("d").unwrap();
    let (view, _) = mm.map_view(d, "f", 0, 0, 0, RW).unwrap();
    mm.write_memory(d, view.0 + PAGE_SIZE, b"dirty mapped page")
        .unwrap();
    mm.trim(d).unwrap();
    assert_ne!(
        mm.machine()
            .mapped_write_due_ms
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the five-minute timer is armed"
    );
    mm.tick(5000).unwrap();
    let (e, base_e) = committed(&mm, "late", 16);
    write(&mm, e, base_e, 16, 5);
    let (hog, base_hog) = committed(&mm, "hog", 800);
    write(&mm, hog, base_hog, 800, 6);
    let pids = vec![a, b, c, d, e, hog];
    (mm, Scene { pids, file })
}

/// Everything a user can read of the machine, as text.
fn observe(mm: &Mm, scene: &Scene) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "time {}", mm.clock().now_ms());
    for r in mm.thread_rows() {
        let _ = writeln!(s, "{r:?}");
    }
    let _ = writeln!(s, "{:?}", mm.counters());
    let _ = writeln!(s, "{:?}", mm.meminfo());
    // `system/history.svg`'s samples: a skipped quiet second leaves its own.
    for sample in mm.history() {
        let _ = writeln!(s, "{sample:?}");
    }
    let _ = writeln!(s, "{:?}", mm.processes());
    for &pid in &scene.pids {
        let _ = writeln!(s, "{:?}", mm.process_status(pid).unwrap());
        let _ = writeln!(s, "{:?}", mm.workingset(pid).unwrap());
        if mm.process_status(pid).unwrap().state != ProcessState::Terminated {
            let _ = writeln!(s, "{:?}", mm.ptes(pid).unwrap());
        }
    }
    for loc in PageLocation::ALL {
        let _ = writeln!(s, "{loc:?} {:?}", mm.pfn_list(loc));
    }
    for pfn in 0..mm.physical_pages() {
        let _ = writeln!(s, "{:?}", mm.pfn_detail(Pfn(pfn)));
    }
    let _ = writeln!(s, "{:?}", mm.section_info("f").unwrap());
    let _ = writeln!(s, "{:?}", mm.section_prototype_ptes("f").unwrap());
    for f in mm.pagefiles() {
        let _ = writeln!(
            s,
            "pagefile {} {} {} {} {}",
            f.current_pages, f.used_pages, f.peak_used_pages, f.pages_written, f.pages_read
        );
    }
    let file = std::fs::read(&scene.file).unwrap();
    let _ = writeln!(
        s,
        "file {}",
        String::from_utf8_lossy(&file).trim_matches('.')
    );
    // Each machine has its own scratch directory.
    s.replace(mm.config().files_dir.to_string_lossy().as_ref(), "<files>")
}

/// Lines of `a` and `b` that differ (the first few), for a readable failure.
fn first_differences(a: &str, b: &str) -> String {
    a.lines()
        .zip(b.lines())
        .filter(|(x, y)| x != y)
        .take(4)
        .map(|(x, y)| {
            let at = x.bytes().zip(y.bytes()).take_while(|(p, q)| p == q).count();
            let from = at.saturating_sub(200);
            let (x, y) = (
                x.get(from..(at + 200).min(x.len())).unwrap_or(x),
                y.get(from..(at + 200).min(y.len())).unwrap_or(y),
            );
            format!("  tick N:     …{x}\n  N × tick 1: …{y}\n")
        })
        .collect()
}

/// KeBalanceSetManager's one-second timer, MmWorkingSetManager at every tick
/// and the swapper at every fourth (WRK StackScanPeriod): a `tick` of N seconds
/// leaves the machine exactly as N ticks of one second do — the same outswaps
/// at the same times, trims, writes, the mapped page writer's five-minute timer,
/// counters, thread statistics, lists and pages — however much of it the long
/// tick skips as quiet.
#[test]
fn ke_balance_set_manager_tick_n_is_n_ticks_of_one_second() {
    for ms in [3_000, 20_000, 20_500, 301_000, 3_600_000] {
        let (long, scene_long) = scene();
        let (short, scene_short) = scene();
        let (a, b) = (observe(&long, &scene_long), observe(&short, &scene_short));
        assert!(a == b, "two scenes differ:\n{}", first_differences(&a, &b));
        long.tick(ms).unwrap();
        for _ in 0..ms / 1000 {
            short.tick(1000).unwrap();
        }
        if ms % 1000 != 0 {
            short.tick(ms % 1000).unwrap();
        }
        let (a, b) = (observe(&long, &scene_long), observe(&short, &scene_short));
        assert!(
            a == b,
            "tick {ms} ms differs from {ms} ms of single ticks:\n{}",
            first_differences(&a, &b)
        );
        assert_verified(&long);
    }
}

/// The same long tick, checked for what it did: the working-set manager
/// trimmed; the swapper outswapped the processes last touched at 0 s at 16 s
/// (its first tick 15 s after) and those touched at 5 s (the late one and the
/// hog) at 20 s; the mapped page writer wrote the file at 300 s; and the
/// statistics count every second of a year.
#[test]
fn ke_balance_set_manager_long_ticks_do_the_work_of_every_second() {
    let (mm, scene) = scene();
    let start = mm.clock().now_ms();
    let state = |pid: Pid| mm.process_status(pid).unwrap().state;
    mm.tick(19_000 - start).unwrap();
    for (i, &pid) in scene.pids.iter().enumerate() {
        let touched_late = i >= 4;
        let expect = if touched_late {
            ProcessState::Running
        } else {
            ProcessState::Outswapped
        };
        assert_eq!(state(pid), expect, "{pid:?}");
    }
    mm.tick(3_600_000 - (19_000 - start)).unwrap();
    assert_eq!(mm.clock().now_ms(), start + 3_600_000);
    let rows = mm.thread_rows();
    let wsm = rows.iter().find(|r| r.name == "working-set-manager");
    assert!(
        wsm.unwrap().pages_processed > 0,
        "the working-set manager trimmed"
    );
    for &pid in &scene.pids {
        assert_eq!(
            mm.process_status(pid).unwrap().state,
            ProcessState::Outswapped
        );
    }
    assert_eq!(
        &std::fs::read(&scene.file).unwrap()[4096..4113],
        b"dirty mapped page"
    );
    let rows = mm.thread_rows();
    let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
    let seconds = mm.clock().now_ms() / 1000;
    assert_eq!(row("balance-set-manager").wakeups, seconds);
    assert_eq!(row("balance-set-manager").last_run_ms, Some(seconds * 1000));
    assert!(row("working-set-manager").wakeups >= seconds);
    assert_eq!(row("swapper").wakeups, seconds / 4);
    assert_eq!(row("swapper").last_run_ms, Some(seconds / 4 * 4000));
    assert_eq!(row("mapped-page-writer").last_run_ms, Some(300_000));
    // A year, the longest tick, passes at once.
    mm.tick(MAX_TICK_MS).unwrap();
    assert_eq!(mm.clock().now_ms(), start + 3_600_000 + MAX_TICK_MS);
    let rows = mm.thread_rows();
    let bsm = rows
        .iter()
        .find(|r| r.name == "balance-set-manager")
        .unwrap();
    assert_eq!(bsm.wakeups, mm.clock().now_ms() / 1000);
    assert_verified(&mm);
}

/// Skipped seconds would each have emitted `thread.run` events: with a reader
/// on `system/events`, a long tick steps every second and the trace is the one
/// single ticks give.
#[test]
fn ke_balance_set_manager_with_a_reader_every_second_is_traced() {
    let (long, _) = scene();
    let (short, _) = scene();
    let (long_reader, short_reader) = (long.events().subscribe(), short.events().subscribe());
    long.tick(40_000).unwrap();
    for _ in 0..40 {
        short.tick(1000).unwrap();
    }
    let (a, b) = (
        String::from_utf8(long_reader.take(usize::MAX)).unwrap(),
        String::from_utf8(short_reader.take(usize::MAX)).unwrap(),
    );
    assert_eq!(a, b);
    let runs = a
        .lines()
        .filter(|l| l.contains("thread.run name=balance-set-manager"))
        .count();
    assert_eq!(runs, 40);
    assert!(a.contains("process.outswap"), "{a}");
}
