//! The command language of the `control` files (SPEC §3).
//!
//! A command is one line, `verb arg arg key=value`. This module turns a line into a
//! call on an [`Mm`] service and its result into the text a reader of the control
//! file sees. It knows nothing of FUSE, so it is tested (and fuzzed) on its own.

pub mod args;
mod awe;
mod cache;
pub mod caller;
mod kernel;
mod pagefiles;
mod pool;
mod process;
pub mod sections;
mod system;

pub use caller::{Caller, Privileges};
pub use sections::SectionKey;

use crate::mm::{Mm, MmError};
use crate::mm_err;

/// Which control file a command was written to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Target {
    /// `system/control`
    System,
    /// `processes/<name>/control`
    Process(crate::mm::base::types::Pid),
    /// `pagefiles/control`
    Pagefiles,
    /// `sections/control`
    Sections,
    /// `sections/<name>/control`
    Section(SectionKey),
    /// `cache/control`
    Cache,
    /// `pool/control`.
    Pool,
    /// `kernel/mdls/control`
    Mdls,
}

/// The result of one command: the text after `ok`, or the error.
pub type Outcome = Result<String, MmError>;

/// One command line split into words; `key=value` words are kept apart from the
/// positional arguments.
pub struct Words<'a> {
    pub verb: &'a str,
    pub args: Vec<&'a str>,
    pub options: Vec<(&'a str, &'a str)>,
}

/// Splits a line into words. Returns `None` for a blank line or a `#` comment,
/// which are not commands and leave the last outcome alone.
pub fn split(line: &str) -> Option<Words<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut it = line.split_ascii_whitespace();
    let verb = it.next()?;
    let mut args = Vec::new();
    let mut options = Vec::new();
    for w in it {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => options.push((k, v)),
            _ => args.push(w),
        }
    }
    Some(Words {
        verb,
        args,
        options,
    })
}

/// Runs one line against `target` in kernel mode (every privilege held).
/// Blank lines and comments give `None`.
pub fn execute(mm: &Mm, target: Target, line: &[u8]) -> Option<Outcome> {
    execute_as(mm, target, line, &Caller::KERNEL)
}

/// Runs one line against `target` for `caller`: a command that needs a
/// privilege the caller lacks fails with STATUS_PRIVILEGE_NOT_HELD and
/// changes nothing. Who may write to which control file at all is the file
/// system's check (at open), not this one's.
pub fn execute_as(mm: &Mm, target: Target, line: &[u8], caller: &Caller) -> Option<Outcome> {
    let line = match std::str::from_utf8(line) {
        Ok(s) => s,
        Err(_) => {
            return Some(Err(mm_err!(
                INVALID_PARAMETER,
                "the command is not valid UTF-8 text"
            )));
        }
    };
    let words = split(line)?;
    Some(match target {
        Target::System => system::execute(mm, &words),
        Target::Process(pid) => process::execute(mm, pid, &words, caller),
        Target::Pagefiles => pagefiles::execute(mm, &words),
        Target::Sections => sections::execute(mm, &words),
        Target::Section(key) => sections::execute_section(mm, key, &words),
        Target::Cache => cache::execute(mm, &words),
        Target::Pool => pool::execute(mm, &words),
        Target::Mdls => kernel::execute(mm, &words),
    })
}

/// The text a reader of the control file sees for an outcome: one line. A result
/// or message that echoes the command's bytes shows its control characters
/// escaped (`\u{0}`), so no NUL, escape sequence or carriage return a user wrote
/// reaches the reader's terminal raw or breaks the line.
pub fn render(outcome: &Outcome) -> String {
    match outcome {
        Ok(s) if s.is_empty() => "ok\n".to_string(),
        Ok(s) => format!("ok {}\n", printable(s)),
        Err(e) => format!("error {}: {}\n", e.status.name(), printable(&e.message)),
    }
}

/// `s` with its control characters escaped.
fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A result that NT returned with an informational status (STATUS_WAS_UNLOCKED
/// and the like) ends with that status's name, so scripts that read the first
/// words still find them, and a reader sees the call did something more.
pub(crate) fn with_status<T: std::fmt::Display>(r: &crate::mm::WithStatus<T>) -> String {
    if r.status == crate::mm::NtStatus::SUCCESS {
        r.value.to_string()
    } else {
        format!("{} {}", r.value, r.status.name())
    }
}

/// Refuses `key=value` options on a command that takes none.
pub(crate) fn no_options(w: &Words<'_>) -> Result<(), MmError> {
    match w.options.first() {
        None => Ok(()),
        Some((k, _)) => Err(mm_err!(
            INVALID_PARAMETER,
            "{} takes no option '{k}='",
            w.verb
        )),
    }
}

/// The error for a verb the target does not know.
pub(crate) fn unknown_verb(w: &Words<'_>, file: &str, known: &str) -> MmError {
    let verb: String = w.verb.chars().take(40).collect();
    mm_err!(
        INVALID_PARAMETER,
        "unknown command '{}'; {file} takes: {known}",
        verb.escape_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_options_apart() {
        let w = split("  alloc 0 64K commit,reserve readwrite name=x  ").unwrap();
        assert_eq!(w.verb, "alloc");
        assert_eq!(w.args, vec!["0", "64K", "commit,reserve", "readwrite"]);
        assert_eq!(w.options, vec![("name", "x")]);
        assert!(split("   ").is_none());
        assert!(split("# a comment").is_none());
        let w = split("x =y").unwrap();
        assert_eq!(w.args, vec!["=y"]);
    }

    #[test]
    fn render_follows_the_spec() {
        assert_eq!(render(&Ok(String::new())), "ok\n");
        assert_eq!(render(&Ok("0x10000 0x1000".into())), "ok 0x10000 0x1000\n");
        let e = mm_err!(INVALID_PARAMETER, "bad");
        assert_eq!(render(&Err(e)), "error STATUS_INVALID_PARAMETER: bad\n");
    }

    /// Found by the control_commands fuzz target: a message echoing the verb or
    /// an option name carried its NUL and ESC bytes to the reader raw.
    #[test]
    fn echoed_control_characters_are_escaped() {
        let mm = crate::mm::Mm::new(crate::mm::base::config::MmConfig::for_tests(
            1 << 20,
            crate::mm::base::types::Arch::X86,
        ))
        .unwrap();
        for line in [
            &b"\0\r \0%="[..],
            b"empty-working-se\x1bts k1=v",
            b"tick\x07 x=\t",
        ] {
            let text = render(&execute(&mm, Target::System, line).unwrap());
            assert!(
                text.starts_with("error STATUS_INVALID_PARAMETER: "),
                "{text:?}"
            );
            let body = text.strip_suffix('\n').unwrap();
            assert!(!body.chars().any(char::is_control), "{text:?}");
        }
        let e = mm_err!(INVALID_PARAMETER, "bad \u{1b}[2J\r\nname");
        assert_eq!(
            render(&Err(e)),
            "error STATUS_INVALID_PARAMETER: bad \\u{1b}[2J\\r\\nname\n"
        );
        assert_eq!(render(&Ok("é\0".into())), "ok é\\u{0}\n");
    }
}
