//! Commands of `system/control`.

use super::args::parse_number;
use super::{Outcome, Words, no_options, unknown_verb};
use crate::mm::Mm;
use crate::mm::api::BadPage;
use crate::mm::base::types::Pfn;
use crate::mm::base::wakeups::SystemThread;
use crate::mm_err;

const KNOWN: &str = "tick [SECONDS], run THREAD, empty-working-sets, empty-standby, \
flush-modified, bad-page PFN, inject pagefile-write|pagefile-read|mapped-write|mapped-read eio N, help";

pub fn execute(mm: &Mm, w: &Words<'_>) -> Outcome {
    no_options(w)?;
    match w.verb {
        "tick" => tick(mm, w),
        "bad-page" => match w.args.as_slice() {
            [p] => {
                let pfn = parse_number(p)
                    .ok()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        mm_err!(INVALID_PARAMETER, "'{}' is not a PFN", p.escape_default())
                    })?;
                mm.mark_page_bad(Pfn(pfn)).map(|outcome| match outcome {
                    BadPage::AlreadyBad => "already bad".to_string(),
                    BadPage::Retired => "bad".to_string(),
                    BadPage::InUse(location) => {
                        format!("bad ({} until freed)", location.map_or("?", |l| l.name()))
                    }
                })
            }
            _ => Err(mm_err!(INVALID_PARAMETER, "usage: bad-page PFN")),
        },
        "run" => match w.args.as_slice() {
            [name] => {
                let t = SystemThread::from_name(name).ok_or_else(|| {
                    let names: Vec<&str> = SystemThread::ALL.iter().map(|t| t.name()).collect();
                    mm_err!(
                        INVALID_PARAMETER,
                        "no system thread '{}'; threads are: {}",
                        name.escape_default(),
                        names.join(", ")
                    )
                })?;
                Ok(format!("pages={}", mm.run_thread(t)))
            }
            _ => Err(mm_err!(INVALID_PARAMETER, "usage: run THREAD")),
        },
        "empty-working-sets" => no_args(w).map(|_| format!("pages={}", mm.empty_working_sets())),
        "empty-standby" => no_args(w).map(|_| format!("pages={}", mm.empty_standby())),
        "flush-modified" => no_args(w).map(|_| format!("pages={}", mm.flush_modified())),
        "inject" => match w.args.as_slice() {
            [what, "eio", n] => {
                let n = parse_number(n).map_err(|e| mm_err!(INVALID_PARAMETER, "count: {e}"))?;
                mm.inject(what, n)?;
                Ok(format!("{what} eio {n}"))
            }
            _ => Err(mm_err!(
                INVALID_PARAMETER,
                "usage: inject pagefile-write|pagefile-read|mapped-write|mapped-read eio N"
            )),
        },
        "help" => Ok(KNOWN.to_string()),
        _ => Err(unknown_verb(w, "system/control", KNOWN)),
    }
}

fn no_args(w: &Words<'_>) -> Result<(), crate::mm::MmError> {
    if w.args.is_empty() {
        Ok(())
    } else {
        Err(mm_err!(
            INVALID_PARAMETER,
            "usage: {} (no arguments)",
            w.verb
        ))
    }
}

/// `tick [SECONDS]`: SECONDS may have a fraction (`0.25`); the default is one second.
fn tick(mm: &Mm, w: &Words<'_>) -> Outcome {
    let ms = match w.args.as_slice() {
        [] => 1000,
        [s] => parse_seconds_ms(s)?,
        _ => return Err(mm_err!(INVALID_PARAMETER, "usage: tick [SECONDS]")),
    };
    let now = mm.tick(ms)?;
    Ok(format!("time_ms={now}"))
}

fn parse_seconds_ms(s: &str) -> Result<u64, crate::mm::MmError> {
    let bad = || {
        mm_err!(
            INVALID_PARAMETER,
            "'{}' is not a number of seconds (for example 1, 5 or 0.25)",
            s.escape_default()
        )
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    let whole_ms = if whole.is_empty() {
        0
    } else {
        parse_number(whole)
            .map_err(|_| bad())?
            .checked_mul(1000)
            .ok_or_else(bad)?
    };
    if !frac.chars().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
        return Err(bad());
    }
    let frac_ms = if frac.is_empty() {
        0
    } else {
        let digits: u64 = frac.parse().map_err(|_| bad())?;
        digits * 1000 / 10u64.pow(frac.len() as u32)
    };
    whole_ms.checked_add(frac_ms).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Target, execute as run};
    use crate::mm::NtStatus;
    use crate::mm::base::config::MmConfig;
    use crate::mm::base::types::Arch;

    fn mm() -> Mm {
        Mm::new(MmConfig::for_tests(16 << 20, Arch::X86)).unwrap()
    }

    #[test]
    fn tick_advances_the_manual_clock() {
        let m = mm();
        assert_eq!(
            run(&m, Target::System, b"tick").unwrap().unwrap(),
            "time_ms=1000"
        );
        assert_eq!(
            run(&m, Target::System, b"tick 2.5").unwrap().unwrap(),
            "time_ms=3500"
        );
        assert_eq!(
            run(&m, Target::System, b"tick .25").unwrap().unwrap(),
            "time_ms=3750"
        );
        assert_eq!(m.clock().now_ms(), 3750);
    }

    #[test]
    fn bad_commands_change_nothing() {
        let m = mm();
        for bad in [
            &b"tick -1"[..],
            b"tick 1 2",
            b"tick x",
            b"tick .",
            b"tick 1.2.3",
            b"tick 99999999999999999999",
            b"tick 1e3",
            b"tick 1 x=y",
            b"frob",
            b"\xff\xfe",
        ] {
            let e = run(&m, Target::System, bad).unwrap().unwrap_err();
            assert_eq!(e.status, NtStatus::INVALID_PARAMETER, "{bad:?}");
        }
        let e = run(&m, Target::System, b"frob").unwrap().unwrap_err();
        assert!(
            e.message.contains("unknown command 'frob'"),
            "{}",
            e.message
        );
        assert_eq!(m.clock().now_ms(), 0);
    }
}
