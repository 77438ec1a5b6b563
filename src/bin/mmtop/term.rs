//! The terminal, through crossterm: raw mode and the alternate screen while mmtop
//! runs, restored when the guard drops (a normal quit, an error such as the mount
//! going away) and by the panic hook before a panic message is printed.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::Print;
use crossterm::terminal::{self, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{execute, queue};

/// What ended a wait for input.
#[derive(Debug, PartialEq)]
pub enum Input {
    /// `q`, Esc or Ctrl-C (raw mode turns Ctrl-C into a key).
    Quit,
    /// The window changed size: draw again now.
    Resized,
    /// The deadline passed: time to refresh.
    Timeout,
}

/// Raw mode and the alternate screen, for as long as it lives.
pub struct Terminal {
    out: io::Stdout,
}

/// Leaves the alternate screen and raw mode; harmless when already done.
fn restore() {
    let _ = execute!(io::stdout(), Show, LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
}

impl Terminal {
    pub fn enter() -> io::Result<Terminal> {
        terminal::enable_raw_mode()?;
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, Hide) {
            restore();
            return Err(e);
        }
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            default_hook(info);
        }));
        Ok(Terminal { out })
    }

    /// The window's size as (columns, rows).
    pub fn size(&self) -> io::Result<(usize, usize)> {
        let (w, h) = terminal::size()?;
        Ok((usize::from(w), usize::from(h)))
    }

    /// Draws `lines` from the top left, clearing what is left of each line and
    /// everything below the last.
    pub fn draw(&mut self, lines: &[String], width: usize) -> io::Result<()> {
        for (row, line) in lines.iter().enumerate() {
            let row = u16::try_from(row).unwrap_or(u16::MAX);
            queue!(self.out, MoveTo(0, row), Print(line))?;
            // A full-width line leaves the cursor in the last column: clearing
            // from there would erase its last character.
            if line.chars().count() < width {
                queue!(self.out, Clear(ClearType::UntilNewLine))?;
            }
        }
        let below = u16::try_from(lines.len()).unwrap_or(u16::MAX);
        queue!(self.out, MoveTo(0, below), Clear(ClearType::FromCursorDown))?;
        self.out.flush()
    }

    /// Waits for a key or a resize until `deadline`.
    pub fn wait(&self, deadline: Instant) -> io::Result<Input> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left == Duration::ZERO || !event::poll(left)? {
                return Ok(Input::Timeout);
            }
            match event::read()? {
                Event::Key(key) if quits(&key) => return Ok(Input::Quit),
                Event::Resize(..) => return Ok(Input::Resized),
                _ => {}
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        restore();
    }
}

fn quits(key: &KeyEvent) -> bool {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    key.kind == KeyEventKind::Press
        && (matches!(key.code, KeyCode::Char('q' | 'Q') | KeyCode::Esc) || ctrl_c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_esc_and_ctrl_c_quit() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(quits(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(quits(&key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(quits(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!quits(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!quits(&key(KeyCode::Char('x'), KeyModifiers::NONE)));
    }
}
