//! mmtop: a full-screen live view of an mmfs mount (SPEC §8a): processes by working
//! set with their faults per second, available memory, commit and the page lists,
//! and the system threads. `q` quits.
//!
//! A client of the mount like any script: it reads only the SPEC's files
//! (`system/meminfo`, `system/counters`, `system/threads`, `processes/*/status`)
//! and uses nothing of the mmfs library.

mod mount;
mod sample;
mod screen;
mod term;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use sample::Sample;
use screen::View;
use term::{Input, Terminal};

/// A live view of an mmfs mount: processes by working set with faults per second,
/// available memory, commit, the page lists and the system threads. Keys: q (or
/// Esc, Ctrl-C) quits. Sizes are in pages; rates are per second of real time.
#[derive(Parser, Debug)]
#[command(name = "mmtop", version)]
struct Args {
    /// The mmfs mount to watch (default: the only mmfs mount in /proc/self/mounts).
    #[arg(short = 'm', long = "mount", value_name = "DIR")]
    mount: Option<PathBuf>,
    /// Seconds between refreshes (0.1 to 3600; fractions allowed).
    #[arg(short = 'd', long = "delay", value_name = "SECS", default_value = "1", value_parser = parse_delay)]
    delay: Duration,
}

fn parse_delay(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s}"))?;
    if !secs.is_finite() || !(0.1..=3600.0).contains(&secs) {
        return Err(format!("{s}: give 0.1 to 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("mmtop: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mount = mount::choose(args.mount.clone(), &mounts)?;
    // The first reading before the screen is taken over: a wrong -m is a plain error.
    let first = Sample::read(&mount)?;
    let mut term = Terminal::enter().map_err(|e| format!("cannot use the terminal: {e}"))?;
    // The terminal guard drops before main prints an error, so the message lands on
    // the restored screen.
    watch(&mut term, &mount, args.delay, first)
}

/// Draws, waits for a key, a resize or the next refresh, and reads again, until `q`
/// or until the mount can no longer be read.
fn watch(term: &mut Terminal, mount: &Path, delay: Duration, first: Sample) -> Result<(), String> {
    let (mut now, mut before) = (first, None::<Sample>);
    loop {
        let (width, height) = term.size().map_err(|e| format!("terminal size: {e}"))?;
        let view = View {
            mount,
            interval: delay,
            now: &now,
            before: before.as_ref(),
        };
        term.draw(&screen::render(&view, width, height), width)
            .map_err(|e| format!("cannot draw: {e}"))?;
        let deadline: Instant = now.taken + delay;
        match term
            .wait(deadline)
            .map_err(|e| format!("terminal input: {e}"))?
        {
            Input::Quit => return Ok(()),
            Input::Resized => {}
            Input::Timeout => {
                let next =
                    Sample::read(mount).map_err(|e| format!("{e} (the mount has gone away?)"))?;
                before = Some(std::mem::replace(&mut now, next));
            }
        }
    }
}
