//! Simulated time.
//!
//! With `--clock auto` time is real time since start; with `--clock manual` it moves
//! only when `tick` advances it, so tests see a deterministic system.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::config::ClockMode;
use super::status::MmResult;

pub struct Clock {
    mode: ClockMode,
    start: Instant,
    /// Manual mode: milliseconds since start. Only `advance` writes it.
    manual_ms: AtomicU64,
}

/// The longest single `tick`: a year of simulated time.
pub const MAX_TICK_MS: u64 = 365 * 24 * 3600 * 1000;

impl Clock {
    pub fn new(mode: ClockMode) -> Clock {
        Clock {
            mode,
            start: Instant::now(),
            manual_ms: AtomicU64::new(0),
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// Milliseconds of simulated time since the memory manager started.
    pub fn now_ms(&self) -> u64 {
        match self.mode {
            ClockMode::Auto => self.start.elapsed().as_millis() as u64,
            ClockMode::Manual => self.manual_ms.load(Ordering::Acquire),
        }
    }

    /// Moves a manual clock forward; returns the new time.
    pub fn advance(&self, ms: u64) -> MmResult<u64> {
        self.check_advance(ms)?;
        Ok(self.manual_ms.fetch_add(ms, Ordering::AcqRel) + ms)
    }

    /// Whether `advance(ms)` would be accepted (so `tick` can refuse before any
    /// step runs).
    pub fn check_advance(&self, ms: u64) -> MmResult<()> {
        if self.mode != ClockMode::Manual {
            return Err(crate::mm_err!(
                INVALID_DEVICE_REQUEST,
                "the clock is auto (real time); tick works only with --clock manual"
            ));
        }
        if ms > MAX_TICK_MS {
            return Err(crate::mm_err!(
                INVALID_PARAMETER,
                "a tick of {} s is too long; at most {} s at once",
                ms / 1000,
                MAX_TICK_MS / 1000
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::base::status::NtStatus;

    #[test]
    fn manual_clock_moves_only_by_tick() {
        let c = Clock::new(ClockMode::Manual);
        assert_eq!(c.now_ms(), 0);
        assert_eq!(c.advance(1500).unwrap(), 1500);
        assert_eq!(c.now_ms(), 1500);
        assert_eq!(
            c.advance(MAX_TICK_MS + 1).unwrap_err().status,
            NtStatus::INVALID_PARAMETER
        );
        assert_eq!(c.now_ms(), 1500);
    }

    #[test]
    fn auto_clock_refuses_tick() {
        let c = Clock::new(ClockMode::Auto);
        assert_eq!(
            c.advance(1000).unwrap_err().status,
            NtStatus::INVALID_DEVICE_REQUEST
        );
    }
}
