//! The failed-login slowdown: after a number of consecutive failures, attempts are refused
//! for 1 s, 2 s, 4 s, … up to a maximum.

use std::time::Duration;

/// Slowdown settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slowdown {
    /// Failures allowed before the first delay.
    pub after: u32,
    /// Longest delay.
    pub max: Duration,
}

impl Slowdown {
    /// The delay imposed once `failures` consecutive failures are counted: none before
    /// `after`, then 1 s doubling each time, capped at `max`.
    pub fn delay_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.after)?;
        let seconds = 1u64.checked_shl(over.min(40)).unwrap_or(u64::MAX);
        Some(Duration::from_secs(seconds).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_fifth_failure_up_to_fifteen_minutes() {
        let slowdown = Slowdown {
            after: 5,
            max: Duration::from_secs(900),
        };
        let delays: Vec<Option<u64>> = (1..=16)
            .map(|n| slowdown.delay_after(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(&delays[..4], &[None, None, None, None]);
        assert_eq!(
            &delays[4..10],
            &[Some(1), Some(2), Some(4), Some(8), Some(16), Some(32)]
        );
        assert_eq!(delays[14], Some(900));
        assert_eq!(
            slowdown.delay_after(u32::MAX).map(|d| d.as_secs()),
            Some(900)
        );
    }
}
