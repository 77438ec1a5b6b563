//! The README of every directory: what its files are and how to use them.

use super::node::DirClass;

pub fn text(class: DirClass) -> &'static str {
    match class {
        DirClass::Root => ROOT,
        DirClass::System => SYSTEM,
        DirClass::Processes => PROCESSES,
        DirClass::Pids => PIDS,
        DirClass::Process => PROCESS,
    }
}

const ROOT: &str = "\
mmfs: a simulated Windows NT memory manager, mounted as a filesystem.

  system/      the whole machine: configuration, address-space layout, control
  processes/   one directory per process; mkdir creates one, rmdir terminates it
  pids/        <pid> -> ../processes/<name>

Conventions (the full contract is SPEC.md in the project):
  - every generated file is a snapshot taken when it is opened;
  - addresses, PTE values and PFNs are 0x hex, counts are decimal;
  - key/value files have one `Key: value` per line; tables start with a `#` header;
  - objects change by writing one-line commands to a `control` file. A failing
    command makes the write fail with an errno; reading the control file gives
    `ok ...` or `error STATUS_NAME: what was wrong`.

Every directory has a README like this one.
";

const SYSTEM: &str = "\
system/: the whole simulated machine.

  config    the running configuration (key/value): --ram, --arch, --3gb, paging
            files, state and files directories, clock, allow-other
  layout    the address-space layout of the running arch: `# start end region`
  control   commands for the whole machine (write one per line):
              tick [SECONDS]   with --clock manual: advance simulated time by
                               SECONDS (default 1; fractions like 0.25 work)
              help             list the commands
            Reading it gives the outcome of the last command, for example
            `ok time_ms=5000` or `error STATUS_INVALID_PARAMETER: ...`.

Example:
  echo 'tick 5' > system/control && cat system/control
";

const PROCESSES: &str = "\
processes/: one directory per process.

  mkdir processes/NAME    create a process (pids are multiples of 4)
  rmdir processes/NAME    terminate it and free everything it held

NAME is 1 to 64 letters, digits and . _ - + @ (not starting with '.').
`System` (pid 4) exists from the start and cannot be terminated.
";

const PIDS: &str = "\
pids/: every process by its id.

  <pid> -> ../processes/<name>     for example: cat pids/4/status
";

const PROCESS: &str = "\
processes/<name>/: one process.

  status    key/value: Name, Pid, State (running, outswapped, terminated)
";
