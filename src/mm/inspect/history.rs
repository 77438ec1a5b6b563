//! `system/history.svg`'s data: the last ten minutes of the machine, a sample
//! per simulated second (`threads/history.rs` takes them).

use crate::mm::Mm;
use crate::mm::threads::HistorySample;

impl Mm {
    /// The history samples, oldest first: at most `HISTORY_SAMPLES`, one per
    /// simulated second that has passed (none before the first second).
    pub fn history(&self) -> Vec<HistorySample> {
        self.threads.history()
    }
}
