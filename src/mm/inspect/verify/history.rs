//! The history ring (`threads/history.rs`): at most `HISTORY_SAMPLES`
//! samples, each in a later whole simulated second than the one before and
//! none in the future; each sample's interval reaches back to the one before
//! it; and each sample's page counts, read under the PFN lock at one moment,
//! account for every physical page.

use crate::mm::threads::{HISTORY_SAMPLES, HistorySample, SAMPLE_MS};

/// The violations in `samples` (oldest first) of a machine of `physical`
/// pages whose clock reads `now_ms`.
pub(super) fn check(samples: &[HistorySample], physical: u64, now_ms: u64) -> Vec<String> {
    let mut v = Vec::new();
    if samples.len() > HISTORY_SAMPLES {
        v.push(format!(
            "the history holds {} samples, more than {HISTORY_SAMPLES}",
            samples.len()
        ));
    }
    for (i, s) in samples.iter().enumerate() {
        let pages: u64 = s.pages.iter().fold(0, |a, b| a.saturating_add(*b));
        if pages != physical {
            v.push(format!(
                "history sample {i} (at {} ms) counts {pages} pages in the lists, not {physical}",
                s.time_ms
            ));
        }
        if s.interval_ms == 0 || s.interval_ms > s.time_ms {
            v.push(format!(
                "history sample {i} (at {} ms) covers {} ms",
                s.time_ms, s.interval_ms
            ));
        }
    }
    for (i, w) in samples.windows(2).enumerate() {
        let (a, b) = (&w[0], &w[1]);
        if b.time_ms / SAMPLE_MS <= a.time_ms / SAMPLE_MS
            || b.time_ms.checked_sub(b.interval_ms) != Some(a.time_ms)
        {
            v.push(format!(
                "history sample {} (at {} ms, covering {} ms) does not follow the one at {} ms",
                i + 1,
                b.time_ms,
                b.interval_ms,
                a.time_ms
            ));
        }
    }
    if let Some(last) = samples.last().filter(|s| s.time_ms > now_ms) {
        v.push(format!(
            "history sample at {} ms is after the clock ({now_ms} ms)",
            last.time_ms
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(time_ms: u64, interval_ms: u64) -> HistorySample {
        HistorySample {
            time_ms,
            interval_ms,
            pages: [1, 1, 1, 1, 0, 0, 0, 0],
            ..Default::default()
        }
    }

    #[test]
    fn a_broken_ring_is_reported() {
        let good = [sample(1000, 1000), sample(2300, 1300), sample(3000, 700)];
        assert!(check(&good, 4, 3000).is_empty());
        assert_eq!(check(&good, 5, 3000).len(), 3, "pages");
        assert_eq!(check(&good, 4, 2999).len(), 1, "the future");
        let gap = [sample(1000, 1000), sample(3000, 1000)];
        assert_eq!(check(&gap, 4, 3000).len(), 1, "a gap");
        let same_second = [sample(1000, 1000), sample(1500, 500)];
        assert_eq!(check(&same_second, 4, 3000).len(), 1, "two in one second");
        let too_many: Vec<_> = (1..=HISTORY_SAMPLES as u64 + 1)
            .map(|s| sample(s * 1000, 1000))
            .collect();
        assert_eq!(check(&too_many, 4, u64::MAX).len(), 1);
    }
}
