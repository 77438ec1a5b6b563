//! Commands of `processes/<name>/control`: NT's virtual memory services.

use super::args::{parse_number, parse_size};
use super::{Outcome, Words, no_options, unknown_verb};
use crate::mm::process::Pid;
use crate::mm::protection::Protection;
use crate::mm::vad::AllocRequest;
use crate::mm::{Mm, MmError};
use crate::mm_err;

const KNOWN: &str = "alloc ADDR SIZE TYPE PROT, free ADDR SIZE decommit|release, \
protect ADDR SIZE PROT, lock ADDR SIZE, unlock ADDR SIZE, ws-limits MIN MAX [hard|soft], trim, \
outswap, inswap, help";

pub fn execute(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    no_options(w)?;
    match w.verb {
        "alloc" => alloc(mm, pid, w),
        "free" => free(mm, pid, w),
        "protect" => protect(mm, pid, w),
        "lock" => {
            let [a, s] = args::<2>(w, "lock ADDR SIZE")?;
            let n = mm.lock(pid, address(a)?, size(s)?)?;
            Ok(format!("{n}"))
        }
        "unlock" => {
            let [a, s] = args::<2>(w, "unlock ADDR SIZE")?;
            let n = mm.unlock(pid, address(a)?, size(s)?)?;
            Ok(format!("{n}"))
        }
        "ws-limits" => ws_limits(mm, pid, w),
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
                return Err(mm_err!(
                    INVALID_PARAMETER,
                    "unknown allocation type '{}'; use a comma list of reserve commit top-down reset write-watch large-pages physical",
                    other.escape_default()
                ));
            }
        }
    }
    let (base, size) = mm.allocate(pid, &req)?;
    Ok(format!("{:#x} {size:#x}", base.0))
}

/// `free ADDR SIZE decommit|release` — NtFreeVirtualMemory.
fn free(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let [a, s, kind] = args::<3>(w, "free ADDR SIZE decommit|release")?;
    let release = match kind.to_ascii_lowercase().as_str() {
        "release" | "mem_release" => true,
        "decommit" | "mem_decommit" => false,
        _ => {
            return Err(mm_err!(
                INVALID_PARAMETER,
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
    Ok(old.name())
}

/// `ws-limits MIN MAX [hard|soft]` (bytes) — SetProcessWorkingSetSize(Ex); `-1 -1`
/// empties the working set. `hard` makes the maximum hard
/// (QUOTA_LIMITS_HARDWS_MAX_ENABLE): the process replaces its own pages at the
/// maximum even when memory is plentiful. The result is the limits in force, in
/// bytes, followed by `hard` when the maximum is hard.
fn ws_limits(mm: &Mm, pid: Pid, w: &Words<'_>) -> Outcome {
    let usage = "ws-limits MIN MAX [hard|soft] (bytes, or -1 -1 to empty the working set)";
    let (a, b, hard) = match w.args.as_slice() {
        [a, b] => (*a, *b, None),
        [a, b, "hard"] => (*a, *b, Some(true)),
        [a, b, "soft"] => (*a, *b, Some(false)),
        _ => return Err(mm_err!(INVALID_PARAMETER, "usage: {usage}")),
    };
    let limit = |s: &str| -> Result<Option<u64>, MmError> {
        if s == "-1" {
            Ok(None)
        } else {
            size(s).map(Some)
        }
    };
    let (min, max, hard) = mm.set_ws_limits_ex(pid, limit(a)?, limit(b)?, hard)?;
    let page = crate::mm::types::PAGE_SIZE;
    // A soft maximum prints as before (two numbers); a hard one says so.
    let kind = if hard { " hard" } else { "" };
    Ok(format!("{} {}{kind}", min * page, max * page))
}
