//! Commands of `processes/<name>/control`: NT's virtual memory services.

use super::args::{parse_number, parse_size};
use super::caller::{Caller, check_process_command};
use super::{Outcome, Words, no_options, unknown_verb, with_status};
use crate::mm::base::protection::Protection;
use crate::mm::base::types::Pid;
use crate::mm::vad::AllocRequest;
use crate::mm::{Mm, MmError};
use crate::mm_err;

const KNOWN: &str = "alloc ADDR SIZE TYPE PROT, free ADDR SIZE decommit|release, \
protect ADDR SIZE PROT, lock ADDR SIZE, unlock ADDR SIZE, ws-limits MIN MAX [hard|soft], trim, \
map SECTION ADDR SIZE OFFSET PROT, unmap ADDR, flush ADDR SIZE, reset-write-watch ADDR SIZE, \
fork CHILD, outswap, inswap, awe-alloc PAGES, awe-map ADDR PFN...|none COUNT, awe-free PFN..., help";

pub fn execute(mm: &Mm, pid: Pid, w: &Words<'_>, caller: &Caller) -> Outcome {
    no_options(w)?;
    // The privilege check first, before the verb's own parsing: NT's
    // services make it at their entry (and it covers `awe-alloc` by name).
    check_process_command(w, caller)?;
    match w.verb {
        "alloc" => alloc(mm, pid, w),
        "free" => free(mm, pid, w),
        "protect" => protect(mm, pid, w),
        "lock" => {
            let [a, s] = args::<2>(w, "lock ADDR SIZE")?;
            Ok(with_status(&mm.lock(pid, address(a)?, size(s)?)?))
        }
        "unlock" => {
            let [a, s] = args::<2>(w, "unlock ADDR SIZE")?;
            let n = mm.unlock(pid, address(a)?, size(s)?)?;
            Ok(format!("{n}"))
        }
        "ws-limits" => ws_limits(mm, pid, w),
        "map" => map(mm, pid, w),
        // NtUnmapViewOfSection: any address inside the view.
        "unmap" => {
            let [a] = args::<1>(w, "unmap ADDR")?;
            let (base, size) = mm.unmap_view(pid, address(a)?)?;
            Ok(format!("{:#x} {size:#x}", base.0))
        }
        // NtFlushVirtualMemory: the result adds the pages written to the file.
        "flush" => {
            let [a, s] = args::<2>(w, "flush ADDR SIZE (SIZE 0: the rest of the view)")?;
            let (base, size, written) = mm.flush_view(pid, address(a)?, size(s)?)?;
            Ok(format!("{:#x} {size:#x} {written}", base.0))
        }
        // NtResetWriteWatch: like NT, it answers only with its status.
        "reset-write-watch" => {
            let [a, s] = args::<2>(w, "reset-write-watch ADDR SIZE")?;
            mm.reset_write_watch(pid, address(a)?, size(s)?)?;
            Ok(String::new())
        }
        "fork" => {
            let [child] = args::<1>(w, "fork CHILD")?;
            Ok(mm.fork_process(pid, child)?.to_string())
        }
        "trim" => {
            args::<0>(w, "trim")?;
            Ok(format!("{}", mm.trim(pid)?))
        }
        "outswap" => {
            args::<0>(w, "outswap")?;
            Ok(format!("{}", mm.outswap(pid)?))
        }
        "inswap" => {
            args::<0>(w, "inswap")?;
            let was = mm.inswap(pid)?;
            Ok(if was { "inswapped" } else { "already in" }.to_string())
        }
        "awe-alloc" => super::awe::alloc(mm, pid, w),
        "awe-map" => super::awe::map(mm, pid, w),
        "awe-free" => super::awe::free(mm, pid, w),
        "help" => Ok(KNOWN.to_string()),
        _ => Err(unknown_verb(w, "processes/<name>/control", KNOWN)),
    }
}

/// Exactly `N` positional arguments, or a usage error.
fn args<'a, const N: usize>(w: &Words<'a>, usage: &str) -> Result<[&'a str; N], MmError> {
    <[&str; N]>::try_from(w.args.as_slice())
        .map_err(|_| mm_err!(INVALID_PARAMETER, "usage: {usage}"))
}

fn address(s: &str) -> Result<u64, MmError> {
    parse_number(s).map_err(|e| mm_err!(INVALID_PARAMETER, "address: {e}"))
}

fn size(s: &str) -> Result<u64, MmError> {
    parse_size(s).map_err(|e| mm_err!(INVALID_PARAMETER, "size: {e}"))
}

/// `alloc ADDR SIZE TYPE PROT` — NtAllocateVirtualMemory.
fn alloc(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let [a, s, t, p] = args::<4>(
        w,
        "alloc ADDR SIZE TYPE PROT (TYPE: reserve,commit,top-down,reset,...)",
    )?;
    let protection = Protection::parse(p)?;
    let mut req = AllocRequest::new(address(a)?, size(s)?, protection);
    for flag in t.split(',') {
        match flag.to_ascii_lowercase().as_str() {
            "reserve" | "mem_reserve" => req.reserve = true,
            "commit" | "mem_commit" => req.commit = true,
            "top-down" | "mem_top_down" => req.top_down = true,
            "reset" | "mem_reset" => req.reset = true,
            "write-watch" | "mem_write_watch" => req.write_watch = true,
            "large-pages" | "mem_large_pages" => req.large_pages = true,
            "physical" | "mem_physical" => req.physical = true,
            other => {
                // NtAllocateVirtualMemory's fifth parameter, AllocationType.
                return Err(mm_err!(
                    INVALID_PARAMETER_5,
                    "unknown allocation type '{}'; use a comma list of reserve commit top-down reset write-watch large-pages physical",
                    other.escape_default()
                ));
            }
        }
    }
    let (base, size) = mm.allocate(pid, &req)?;
    Ok(format!("{:#x} {size:#x}", base.0))
}

/// `map SECTION ADDR SIZE OFFSET PROT` — NtMapViewOfSection. ADDR 0 lets the
/// system choose, SIZE 0 maps the section from OFFSET to its end.
fn map(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let [section, a, s, o, p] = args::<5>(
        w,
        "map SECTION ADDR SIZE OFFSET PROT (ADDR 0: the system chooses; SIZE 0: the whole section)",
    )?;
    let (addr, size) = (address(a)?, size(s)?);
    let offset = parse_size(o).map_err(|e| mm_err!(INVALID_PARAMETER, "offset: {e}"))?;
    let protection = Protection::parse(p)?;
    let (base, size) = mm.map_view(pid, section, addr, size, offset, protection)?;
    Ok(format!("{:#x} {size:#x}", base.0))
}

/// `free ADDR SIZE decommit|release` — NtFreeVirtualMemory.
fn free(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let [a, s, kind] = args::<3>(w, "free ADDR SIZE decommit|release")?;
    let release = match kind.to_ascii_lowercase().as_str() {
        "release" | "mem_release" => true,
        "decommit" | "mem_decommit" => false,
        _ => {
            // NtFreeVirtualMemory's fourth parameter, FreeType.
            return Err(mm_err!(
                INVALID_PARAMETER_4,
                "'{}' is neither decommit nor release",
                kind.escape_default()
            ));
        }
    };
    let (base, size) = mm.free(pid, address(a)?, size(s)?, release)?;
    Ok(format!("{:#x} {size:#x}", base.0))
}

/// `protect ADDR SIZE PROT` — NtProtectVirtualMemory; the result is the old protection.
fn protect(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let [a, s, p] = args::<3>(w, "protect ADDR SIZE PROT")?;
    let new = Protection::parse(p)?;
    let old = mm.protect(pid, address(a)?, size(s)?, new)?;
    Ok(with_status(&old.map(Protection::name)))
}

/// `ws-limits MIN MAX [hard|soft]` (bytes) — SetProcessWorkingSetSize(Ex);
/// `-1 -1` empties the working set, 0 keeps a limit as it is. `hard` makes the
/// maximum hard (QUOTA_LIMITS_HARDWS_MAX_ENABLE): the process replaces its own
/// pages at the maximum even when memory is plentiful. The result is the
/// limits in force, in bytes as `alloc` prints sizes, then `hard` or `soft`,
/// then STATUS_WORKING_SET_LIMIT_RANGE if a limit had to be moved into range.
fn ws_limits(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let usage =
        "ws-limits MIN MAX [hard|soft] (bytes; 0 keeps a limit; -1 -1 empties the working set)";
    let (a, b, hard) = match w.args.as_slice() {
        [a, b] => (*a, *b, None),
        [a, b, "hard"] => (*a, *b, Some(true)),
        [a, b, "soft"] => (*a, *b, Some(false)),
        _ => return Err(mm_err!(INVALID_PARAMETER, "usage: {usage}")),
    };
    // (SIZE_T)-1 is None: both empty the working set, one alone is just large.
    let limit = |s: &str| -> Result<Option<u64>, MmError> {
        if s == "-1" {
            Ok(None)
        } else {
            size(s).map(Some)
        }
    };
    let r = mm.set_ws_limits_ex(pid, limit(a)?, limit(b)?, hard)?;
    let page = crate::mm::base::types::PAGE_SIZE;
    Ok(with_status(&r.map(|l| {
        let kind = if l.hard_maximum { "hard" } else { "soft" };
        format!("{:#x} {:#x} {kind}", l.minimum * page, l.maximum * page)
    })))
}

#[cfg(test)]
mod tests {
    use crate::cmd::{Target, execute as run};
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;
    use crate::mm::{Mm, MmError};

    fn err(m: &Mm, target: Target, line: &str) -> MmError {
        run(m, target, line.as_bytes()).unwrap().expect_err(line)
    }

    /// Bad arguments to the section verbs are refused before the core is asked,
    /// with a sentence that says what was wrong, and change nothing.
    #[test]
    fn section_verbs_check_their_arguments() {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let pid = m.create_process("app").unwrap();
        let t = Target::Process(pid);
        run(&m, Target::Sections, b"create shm 64K")
            .unwrap()
            .unwrap();
        for (line, status, says) in [
            (
                "map",
                "STATUS_INVALID_PARAMETER",
                "usage: map SECTION ADDR SIZE OFFSET PROT",
            ),
            ("map shm 0 0 0", "STATUS_INVALID_PARAMETER", "usage: map"),
            (
                "map shm 0 0 0 readwrite x",
                "STATUS_INVALID_PARAMETER",
                "usage: map",
            ),
            (
                "map shm zz 0 0 readwrite",
                "STATUS_INVALID_PARAMETER",
                "address: 'zz'",
            ),
            (
                "map shm 0 4Q 0 readwrite",
                "STATUS_INVALID_PARAMETER",
                "size: '4Q'",
            ),
            (
                "map shm 0 0 -1 readwrite",
                "STATUS_INVALID_PARAMETER",
                "offset: '-1'",
            ),
            (
                "map shm 0 0 0 sparkly",
                "STATUS_INVALID_PAGE_PROTECTION",
                "sparkly",
            ),
            (
                "map shm 0 0 0 readwrite view=x",
                "STATUS_INVALID_PARAMETER",
                "option 'view='",
            ),
            (
                "map nosuch 0 0 0 readwrite",
                "STATUS_OBJECT_NAME_NOT_FOUND",
                "nosuch",
            ),
            ("unmap", "STATUS_INVALID_PARAMETER", "usage: unmap ADDR"),
            (
                "unmap 0x10000 4K",
                "STATUS_INVALID_PARAMETER",
                "usage: unmap ADDR",
            ),
            ("unmap here", "STATUS_INVALID_PARAMETER", "address: 'here'"),
            (
                "flush 0x10000",
                "STATUS_INVALID_PARAMETER",
                "usage: flush ADDR SIZE",
            ),
            (
                "flush 0x10000 lots",
                "STATUS_INVALID_PARAMETER",
                "size: 'lots'",
            ),
            ("fork", "STATUS_INVALID_PARAMETER", "usage: fork CHILD"),
            ("fork a b", "STATUS_INVALID_PARAMETER", "usage: fork CHILD"),
            (
                "spawn x",
                "STATUS_INVALID_PARAMETER",
                "unknown command 'spawn'",
            ),
        ] {
            let e = err(&m, t, line);
            assert_eq!(e.status.name(), status, "{line}: {}", e.message);
            assert!(e.message.contains(says), "{line}: {}", e.message);
        }
        assert!(m.vads(pid).unwrap().is_empty());
        assert!(m.section_views("shm").unwrap().is_empty());
        assert_eq!(m.processes().len(), 2);
        let help = run(&m, t, b"help").unwrap().unwrap();
        for verb in ["map SECTION", "unmap ADDR", "flush ADDR SIZE", "fork CHILD"] {
            assert!(help.contains(verb), "{help}");
        }
    }

    /// NtAllocateVirtualMemory, NtProtectVirtualMemory and NtFreeVirtualMemory
    /// name the parameter they refuse (STATUS_INVALID_PARAMETER_N, N counting
    /// the process handle as 1); the control file shows that status, and the
    /// errno stays EINVAL, as for the plain STATUS_INVALID_PARAMETER.
    #[test]
    fn refused_parameters_keep_their_number_and_einval() {
        use crate::cmd::render;
        use crate::fs::errno::errno_for;
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let pid = m.create_process("app").unwrap();
        let t = Target::Process(pid);
        run(&m, t, b"alloc 0x100000 64K reserve,commit readwrite")
            .unwrap()
            .unwrap();
        let commit = m.process_status(pid).unwrap().commit_charge;
        for (line, status) in [
            ("alloc 0 0 reserve readwrite", "STATUS_INVALID_PARAMETER_4"),
            (
                "alloc 0 4K sideways readwrite",
                "STATUS_INVALID_PARAMETER_5",
            ),
            (
                "alloc 0 4K reserve,sideways readwrite",
                "STATUS_INVALID_PARAMETER_5",
            ),
            (
                "alloc 0 4K reset,commit readwrite",
                "STATUS_INVALID_PARAMETER_5",
            ),
            (
                "alloc 0x7ffe0000 64K reserve readwrite",
                "STATUS_INVALID_PARAMETER_2",
            ),
            (
                "alloc 0x7ffd0000 128K reserve readwrite",
                "STATUS_INVALID_PARAMETER_4",
            ),
            ("free 0x100000 0 sideways", "STATUS_INVALID_PARAMETER_4"),
            ("free 0x80000000 0 release", "STATUS_INVALID_PARAMETER_2"),
            ("free 0x7ffe0000 64K release", "STATUS_INVALID_PARAMETER_3"),
            (
                "protect 0x80000000 4K readonly",
                "STATUS_INVALID_PARAMETER_2",
            ),
            ("protect 0x100000 0 readonly", "STATUS_INVALID_PARAMETER_3"),
        ] {
            let e = err(&m, t, line);
            assert_eq!(e.status.name(), status, "{line}: {}", e.message);
            assert_eq!(errno_for(e.status), fuser::Errno::EINVAL, "{line}");
            let text = render(&Err(e));
            assert!(text.starts_with(&format!("error {status}: ")), "{text}");
        }
        // None of them touched the reservation.
        assert_eq!(m.vads(pid).unwrap().len(), 1);
        assert_eq!(m.process_status(pid).unwrap().commit_charge, commit);
        assert!(m.verify().ok());
    }

    /// `reset-write-watch ADDR SIZE` answers `ok` alone, as NtResetWriteWatch
    /// returns only its status; bad words are refused before the core is
    /// asked; `write-watch` is an allocation type.
    #[test]
    fn reset_write_watch_verb() {
        use crate::cmd::render;
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let pid = m.create_process("app").unwrap();
        let t = Target::Process(pid);
        let ok = |line: &str| run(&m, t, line.as_bytes()).unwrap().expect(line);
        assert_eq!(
            ok("alloc 0x100000 64K reserve,commit,write-watch readwrite"),
            "0x100000 0x10000"
        );
        m.write_memory(pid, 0x100000, b"w").unwrap();
        let outcome = run(&m, t, b"reset-write-watch 0x100000 4K").unwrap();
        assert_eq!(render(&outcome), "ok\n");
        assert!(m.write_watch(pid).unwrap().is_empty());
        for (line, status, says) in [
            (
                "reset-write-watch 0x100000",
                "STATUS_INVALID_PARAMETER",
                "usage: reset-write-watch ADDR SIZE",
            ),
            (
                "reset-write-watch 0x100000 lots",
                "STATUS_INVALID_PARAMETER",
                "size: 'lots'",
            ),
            (
                "reset-write-watch 0x200000 4K",
                "STATUS_INVALID_PARAMETER_1",
                "no write-watch region",
            ),
        ] {
            let e = err(&m, t, line);
            assert_eq!(e.status.name(), status, "{line}: {}", e.message);
            assert!(e.message.contains(says), "{line}: {}", e.message);
        }
        assert!(ok("help").contains("reset-write-watch ADDR SIZE"));
    }

    /// An informational status (NT_SUCCESS, but not STATUS_SUCCESS) is the last
    /// word of the result: STATUS_WAS_LOCKED from NtLockVirtualMemory,
    /// STATUS_WAS_UNLOCKED from NtProtectVirtualMemory, and
    /// STATUS_WORKING_SET_LIMIT_RANGE from MmAdjustWorkingSetSizeEx.
    #[test]
    fn informational_statuses_end_the_result() {
        let m = Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap();
        let pid = m.create_process("app").unwrap();
        let t = Target::Process(pid);
        let ok = |line: &str| run(&m, t, line.as_bytes()).unwrap().expect(line);
        assert_eq!(
            ok("alloc 0x100000 64K reserve,commit readwrite"),
            "0x100000 0x10000"
        );
        assert_eq!(ok("lock 0x100000 8K"), "2");
        assert_eq!(ok("lock 0x100000 4K"), "0 STATUS_WAS_LOCKED");
        assert_eq!(ok("lock 0x100000 12K"), "1 STATUS_WAS_LOCKED");
        assert_eq!(ok("protect 0x101000 4K readonly"), "readwrite");
        assert_eq!(
            ok("protect 0x100000 4K noaccess"),
            "readwrite STATUS_WAS_UNLOCKED"
        );
        assert_eq!(m.process_status(pid).unwrap().locked_pages, 2);
        // 16 MB: MmMaximumWorkingSetSize is 4096 - 512 pages (0xe00000 bytes);
        // the minimum stays 50 pages (0x32000).
        assert_eq!(
            ok("ws-limits 0 1G"),
            "0x32000 0xe00000 soft STATUS_WORKING_SET_LIMIT_RANGE"
        );
        assert_eq!(
            ok("ws-limits 4K 4M hard"),
            "0x14000 0x400000 hard STATUS_WORKING_SET_LIMIT_RANGE"
        );
        assert_eq!(ok("ws-limits 1M 4M soft"), "0x100000 0x400000 soft");
        assert!(m.verify().ok());
    }
}
