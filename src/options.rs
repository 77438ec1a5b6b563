//! The command line (SPEC §1). Every option is parsed here and recorded in the
//! running configuration, which `system/config` shows.

use std::path::PathBuf;

use std::ffi::OsString;

use clap::{Args, Parser};

use crate::cmd::args::parse_size;
use crate::mm::base::config::{ClockMode, MmConfig, PagefileSpec};
use crate::mm::base::types::{Arch, PAGE_SIZE};
use crate::mm::hw::pte::PteFormat;

/// Default simulated RAM (SPEC §1).
pub const DEFAULT_RAM: u64 = 256 << 20;
/// Default first paging file, minimum and maximum (SPEC §1).
pub const DEFAULT_PAGEFILE: PagefileSpec = PagefileSpec {
    minimum: 256 << 20,
    maximum: 1 << 30,
};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "mmfs",
    version,
    override_usage = "mmfs MOUNTPOINT [OPTIONS]\n       mmfs run [OPTIONS] -- COMMAND [ARGS]...",
    about = "Run a simulated Windows NT memory manager and mount it as a FUSE filesystem.",
    long_about = "Run a simulated Windows NT memory manager and mount it as a FUSE filesystem.\n\n\
        Processes, sections, paging files and PFN lists are files under MOUNTPOINT; every \
        directory has a README. mmfs runs in the foreground: Ctrl-C or SIGTERM unmounts \
        cleanly and exits 0.\n\n\
        `mmfs run [OPTIONS] -- COMMAND [ARGS]` mounts in a fresh temporary directory instead, \
        runs COMMAND with MMFS_MOUNT set to it, unmounts and exits with COMMAND's status \
        (`mmfs run --help` says more).\n\n\
        Sizes accept decimal, 0x hex and K/M/G suffixes (binary units)."
)]
pub struct Options {
    /// Directory to mount on (created if it does not exist; it must not already be a mount point).
    pub mountpoint: PathBuf,

    #[command(flatten)]
    pub machine: MachineOptions,
}

/// The simulated machine and its mount: every option but the mount point, shared by
/// `mmfs MOUNTPOINT` and `mmfs run`.
#[derive(Args, Debug, Clone)]
pub struct MachineOptions {
    /// Simulated physical memory; page contents are real bytes, untouched pages cost no host memory.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_ram)]
    pub ram: u64,

    /// Paging format and address-space layout: x86 (2-level, 4-byte PTEs), pae (3-level,
    /// 8-byte PTEs) or x64 (4-level). Default x86, or pae when --ram is above the 4 GB
    /// x86 paging addresses (x64 above pae's 64 GB).
    #[arg(long, value_name = "ARCH", value_parser = parse_arch)]
    pub arch: Option<Arch>,

    /// x86/pae: give user mode 3 GB of address space (the /3GB boot option).
    #[arg(long = "3gb")]
    pub three_gb: bool,

    /// A paging file MIN[:MAX] (default 256M:1G). Repeat for more paging files.
    #[arg(long, value_name = "MIN[:MAX]", value_parser = parse_pagefile)]
    pub pagefile: Vec<PagefileSpec>,

    /// Where the paging files live. Default: a fresh temporary directory, removed at exit.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The host directory shown under files/ (the cache-managed volume).
    /// Default: a fresh temporary directory, removed at exit.
    #[arg(long, value_name = "DIR")]
    pub files: Option<PathBuf>,

    /// auto: system threads run on real time. manual: nothing runs in the background;
    /// time moves only when `tick` is written to system/control.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_clock)]
    pub clock: ClockMode,

    /// Let other users into the mount (per-process permissions still apply).
    #[arg(long)]
    pub allow_other: bool,
}

/// `mmfs run [OPTIONS] -- COMMAND [ARGS]`: a mount for the length of one command.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "mmfs run",
    version,
    about = "Mount mmfs in a fresh temporary directory, run COMMAND with MMFS_MOUNT set to it, \
        unmount, and exit with COMMAND's status.",
    long_about = "Mount mmfs in a fresh temporary directory, run COMMAND with MMFS_MOUNT set to \
        it, unmount, and exit with COMMAND's status.\n\n\
        The temporary directory is removed afterwards, whether COMMAND succeeds, fails or \
        is interrupted: SIGINT, SIGTERM or SIGHUP sent to mmfs is passed on to COMMAND, \
        and mmfs unmounts once COMMAND has ended (it kills COMMAND if it is still running \
        10 seconds later).\n\n\
        Exit status: COMMAND's; 128+N if it died of signal N (as shells report it); \
        125 if mmfs could not mount, 126 if COMMAND cannot be run, 127 if it is not found \
        (as env and timeout do).\n\n\
        Example: mmfs run --ram 16M --clock manual -- sh -c 'cat \"$MMFS_MOUNT\"/system/meminfo'"
)]
pub struct RunOptions {
    #[command(flatten)]
    pub machine: MachineOptions,

    /// The command to run (after `--`) and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum CommandLine {
    /// `mmfs MOUNTPOINT [OPTIONS]`: mount and serve until stopped.
    Mount(Options),
    /// `mmfs run [OPTIONS] -- COMMAND [ARGS]`.
    Run(RunOptions),
}

/// Whether `args` (without the program name) ask for `mmfs run`: the first argument is
/// exactly `run` and either `--` with a command after it follows, or `--help`/`-h`
/// before any `--`.
///
/// Every command line that mounted before `mmfs run` existed keeps its meaning: such a
/// line has no argument after a `--` (the one positional is the mount point), so
/// `mmfs run --ram 16M` still mounts on the directory `./run`. `mmfs /tmp/run` is a
/// mount point as always; only the bare word `run` is looked at.
pub fn asks_for_run(args: &[OsString]) -> bool {
    if args.first().is_none_or(|a| a != "run") {
        return false;
    }
    let rest = &args[1..];
    match rest.iter().position(|a| a == "--") {
        Some(dash) => dash + 1 < rest.len(),
        None => rest.iter().any(|a| a == "--help" || a == "-h"),
    }
}

impl CommandLine {
    /// Parses `args` (the program name first, as `std::env::args_os` gives them).
    pub fn try_parse_from(args: Vec<OsString>) -> Result<CommandLine, clap::Error> {
        if asks_for_run(args.get(1..).unwrap_or(&[])) {
            let mut rest = args;
            rest.remove(0);
            // `run` stands in for the program name, so that clap names it `mmfs run`.
            return RunOptions::try_parse_from(rest).map(CommandLine::Run);
        }
        Options::try_parse_from(args).map(CommandLine::Mount)
    }
}

fn parse_ram(s: &str) -> Result<u64, String> {
    let bytes = parse_size(s)?;
    // At least 4 MB: the System process, page tables and the free-page thresholds need room.
    if bytes < 4 << 20 {
        return Err(format!("--ram {s} is too small: mmfs needs at least 4M"));
    }
    if bytes % PAGE_SIZE != 0 {
        return Err(format!("--ram {s} is not a multiple of the 4K page size"));
    }
    // PFNs are 32-bit: 16 TiB of simulated RAM.
    if bytes / PAGE_SIZE > u32::MAX as u64 {
        return Err(format!("--ram {s} is too large: at most 16T"));
    }
    Ok(bytes)
}

fn parse_arch(s: &str) -> Result<Arch, String> {
    Arch::parse(s).ok_or_else(|| format!("unknown arch '{s}': use x86, pae or x64"))
}

fn parse_clock(s: &str) -> Result<ClockMode, String> {
    match s {
        "auto" => Ok(ClockMode::Auto),
        "manual" => Ok(ClockMode::Manual),
        _ => Err(format!("unknown clock '{s}': use auto or manual")),
    }
}

fn parse_pagefile(s: &str) -> Result<PagefileSpec, String> {
    let (min_s, max_s) = match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let minimum = parse_size(min_s)?;
    let maximum = match max_s {
        Some(m) => parse_size(m)?,
        None => minimum,
    };
    if minimum % PAGE_SIZE != 0 || maximum % PAGE_SIZE != 0 {
        return Err(format!("paging file sizes '{s}' must be multiples of 4K"));
    }
    // Slot 0 of every paging file is never used, so a useful file has at least two pages.
    if minimum < 2 * PAGE_SIZE {
        return Err(format!(
            "paging file minimum in '{s}' is too small: at least 8K"
        ));
    }
    if maximum < minimum {
        return Err(format!("paging file '{s}': MAX is smaller than MIN"));
    }
    Ok(PagefileSpec { minimum, maximum })
}

/// Where FUSE's system-wide configuration lives (fusermount3 reads it).
pub const FUSE_CONF: &str = "/etc/fuse.conf";

/// Whether fuse.conf's text enables `user_allow_other` (a line of its own,
/// `#` comments aside).
pub fn fuse_conf_allows_other(text: &str) -> bool {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .any(|l| l == "user_allow_other")
}

impl MachineOptions {
    /// `--allow-other` as a user other than root (`uid`) needs
    /// `user_allow_other` in /etc/fuse.conf (`fuse_conf`: its text, `None`
    /// if it cannot be read): fusermount3 would refuse the mount, so mmfs
    /// refuses first, with one line that says how to fix it, before anything
    /// is mounted or created.
    pub fn check_allow_other(&self, uid: u32, fuse_conf: Option<&str>) -> Result<(), String> {
        if !self.allow_other || uid == 0 || fuse_conf.is_some_and(fuse_conf_allows_other) {
            return Ok(());
        }
        Err(format!(
            "--allow-other: {FUSE_CONF} does not enable user_allow_other, which FUSE needs \
             before a user other than root may let other users into a mount; add that line \
             to {FUSE_CONF} (as root) or mount as root"
        ))
    }

    /// The arch asked for, or the default for the RAM: x86 while its PTEs can name
    /// every frame (4 GB); above that the PAE kernel, as Server 2003 SP1's loader boots
    /// ntkrnlpa.exe on a machine with memory above 4 GB; x64 above PAE's 64 GB.
    pub fn arch(&self) -> Arch {
        let names_all = |arch| self.ram / PAGE_SIZE <= PteFormat::new(arch).max_physical_pages();
        match self.arch {
            Some(a) => a,
            None if names_all(Arch::X86) => Arch::X86,
            None if names_all(Arch::Pae) => Arch::Pae,
            None => Arch::X64,
        }
    }

    /// The memory manager's configuration. Temporary directories are supplied by the caller,
    /// which owns their lifetime.
    pub fn to_config(&self, state_dir: PathBuf, files_dir: PathBuf) -> Result<MmConfig, String> {
        if self.three_gb && self.arch() == Arch::X64 {
            return Err("--3gb applies to x86 and pae only".to_string());
        }
        let pagefiles = if self.pagefile.is_empty() {
            vec![DEFAULT_PAGEFILE]
        } else {
            self.pagefile.clone()
        };
        if pagefiles.len() > 16 {
            return Err("at most 16 paging files (the PTE's PageFileLow field has 4 bits)".into());
        }
        Ok(MmConfig {
            ram_bytes: self.ram,
            arch: self.arch(),
            three_gb: self.three_gb,
            pagefiles,
            state_dir,
            state_dir_temporary: self.state_dir.is_none(),
            files_dir,
            files_dir_temporary: self.files.is_none(),
            clock: self.clock,
            allow_other: self.allow_other,
            scratch: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<MachineOptions, clap::Error> {
        Options::try_parse_from(std::iter::once("mmfs").chain(args.iter().copied()))
            .map(|o| o.machine)
    }

    fn command_line(args: &[&str]) -> Result<CommandLine, clap::Error> {
        let all = std::iter::once("mmfs").chain(args.iter().copied());
        CommandLine::try_parse_from(all.map(OsString::from).collect())
    }

    /// `run` is the subcommand only with `-- COMMAND` (or asking for help): every
    /// line that mounted before still mounts, on the same directory.
    #[test]
    fn run_is_a_subcommand_only_before_a_command() {
        let mount_point = |args: &[&str]| match command_line(args) {
            Ok(CommandLine::Mount(o)) => o.mountpoint,
            other => panic!("{args:?} gave {other:?}"),
        };
        assert_eq!(mount_point(&["run"]), PathBuf::from("run"));
        assert_eq!(mount_point(&["run", "--ram", "16M"]), PathBuf::from("run"));
        assert_eq!(mount_point(&["run", "--"]), PathBuf::from("run"));
        assert_eq!(mount_point(&["/tmp/run"]), PathBuf::from("/tmp/run"));
        assert_eq!(
            mount_point(&["./run", "--clock", "manual"]),
            PathBuf::from("./run")
        );
        assert_eq!(mount_point(&["--", "run"]), PathBuf::from("run"));

        let Ok(CommandLine::Run(r)) = command_line(&[
            "run", "--ram", "16M", "--clock", "manual", "--", "sh", "-c", "exit 3", "--ram",
        ]) else {
            panic!("not a run");
        };
        assert_eq!(r.machine.ram, 16 << 20);
        assert_eq!(r.machine.clock, ClockMode::Manual);
        assert_eq!(r.command, ["sh", "-c", "exit 3", "--ram"]);
        let Ok(CommandLine::Run(r)) = command_line(&["run", "--", "true"]) else {
            panic!("not a run");
        };
        assert_eq!(r.machine.ram, DEFAULT_RAM);
        assert_eq!(r.command, ["true"]);

        // Help for `run` is `run`'s; `--help` after `--` belongs to the command.
        let help = command_line(&["run", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(help.to_string().contains("MMFS_MOUNT"), "{help}");
        let Ok(CommandLine::Run(r)) = command_line(&["run", "--", "ls", "--help"]) else {
            panic!("not a run");
        };
        assert_eq!(r.command, ["ls", "--help"]);
        // The machine's options are checked the same way.
        assert!(command_line(&["run", "--arch", "sparc", "--", "true"]).is_err());
        // Before `mmfs run`, a command after the mount point was refused: still refused.
        assert!(command_line(&["run", "ls"]).is_err());
    }

    #[test]
    fn ram_above_what_x86_paging_addresses_defaults_to_pae_then_x64() {
        assert_eq!(parse(&["/m", "--ram", "4G"]).unwrap().arch(), Arch::X86);
        assert_eq!(parse(&["/m", "--ram", "64G"]).unwrap().arch(), Arch::Pae);
        assert_eq!(parse(&["/m", "--ram", "128G"]).unwrap().arch(), Arch::X64);
        let o = parse(&["/m", "--ram", "64G", "--arch", "x86"]).unwrap();
        assert_eq!(
            o.arch(),
            Arch::X86,
            "an explicit --arch is kept (the core refuses it)"
        );
    }

    #[test]
    fn defaults_follow_the_spec() {
        let o = parse(&["/tmp/mm"]).unwrap();
        assert_eq!(o.ram, 256 << 20);
        assert_eq!(o.arch(), Arch::X86);
        assert!(!o.three_gb);
        assert_eq!(o.clock, ClockMode::Auto);
        assert!(o.pagefile.is_empty());
        let c = o.to_config("/s".into(), "/f".into()).unwrap();
        assert_eq!(c.pagefiles, vec![DEFAULT_PAGEFILE]);
        assert!(c.state_dir_temporary && c.files_dir_temporary);
    }

    #[test]
    fn every_option_parses() {
        let o = parse(&[
            "/mnt",
            "--ram",
            "64M",
            "--arch",
            "pae",
            "--3gb",
            "--pagefile",
            "16M:32M",
            "--pagefile",
            "8M",
            "--state-dir",
            "/s",
            "--files",
            "/f",
            "--clock",
            "manual",
            "--allow-other",
        ])
        .unwrap();
        assert_eq!(o.ram, 64 << 20);
        assert_eq!(o.arch(), Arch::Pae);
        assert!(o.three_gb && o.allow_other);
        assert_eq!(o.clock, ClockMode::Manual);
        assert_eq!(
            o.pagefile,
            vec![
                PagefileSpec {
                    minimum: 16 << 20,
                    maximum: 32 << 20
                },
                PagefileSpec {
                    minimum: 8 << 20,
                    maximum: 8 << 20
                }
            ]
        );
        let c = o.to_config("/s".into(), "/f".into()).unwrap();
        assert!(!c.state_dir_temporary);
    }

    /// A non-root user's --allow-other without user_allow_other in fuse.conf
    /// is refused with one line; root, or the line present, pass.
    #[test]
    fn allow_other_needs_user_allow_other_for_users() {
        let o = parse(&["/m", "--allow-other"]).unwrap();
        let e = o.check_allow_other(1000, None).unwrap_err();
        assert!(
            e.contains("user_allow_other") && e.contains(FUSE_CONF),
            "{e}"
        );
        assert!(!e.contains('\n'));
        assert!(
            o.check_allow_other(1000, Some("# user_allow_other\n"))
                .is_err()
        );
        assert!(o.check_allow_other(1000, Some("mount_max = 9\n")).is_err());
        assert!(
            o.check_allow_other(1000, Some("user_allow_other_x\n"))
                .is_err()
        );
        assert!(
            o.check_allow_other(1000, Some("mount_max = 9\n  user_allow_other  # yes\n"))
                .is_ok()
        );
        assert!(o.check_allow_other(0, None).is_ok());
        // Without the option nothing is asked.
        let o = parse(&["/m"]).unwrap();
        assert!(o.check_allow_other(1000, None).is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["/m", "--ram", "1K"]).is_err());
        assert!(parse(&["/m", "--ram", "5000"]).is_err());
        assert!(parse(&["/m", "--arch", "arm"]).is_err());
        assert!(parse(&["/m", "--clock", "sometimes"]).is_err());
        assert!(parse(&["/m", "--pagefile", "32M:16M"]).is_err());
        assert!(parse(&["/m", "--pagefile", "4K"]).is_err());
        let o = parse(&["/m", "--arch", "x64", "--3gb"]).unwrap();
        assert!(o.to_config("/s".into(), "/f".into()).is_err());
    }
}
