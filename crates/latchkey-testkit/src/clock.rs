//! A clock that only moves when the test says so.

/// A fixed clock in unix seconds. It never reads the system time: tests advance it explicitly,
/// which keeps every run deterministic.
///
/// ```
/// use latchkey_testkit::FixedClock;
/// let mut clock = FixedClock::new(1_000);
/// clock.advance(30);
/// assert_eq!(clock.now(), 1_030);
/// clock.set(5);
/// assert_eq!(clock.now(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FixedClock {
    now: u64,
}

impl FixedClock {
    /// A convenient default start time (2023-11-14T22:13:20Z).
    pub const DEFAULT_START: u64 = 1_700_000_000;

    /// A clock showing `now` (unix seconds).
    pub const fn new(now: u64) -> Self {
        Self { now }
    }

    /// The current time in unix seconds.
    pub const fn now(&self) -> u64 {
        self.now
    }

    /// Moves the clock forward by `secs` (saturating at `u64::MAX`); returns the new time.
    pub fn advance(&mut self, secs: u64) -> u64 {
        self.now = self.now.saturating_add(secs);
        self.now
    }

    /// Sets the clock to `t`, which may be earlier than now (to test a clock going backwards).
    pub fn set(&mut self, t: u64) {
        self.now = t;
    }
}

impl Default for FixedClock {
    /// A clock at [`FixedClock::DEFAULT_START`].
    fn default() -> Self {
        Self::new(Self::DEFAULT_START)
    }
}

#[cfg(test)]
mod tests {
    use super::FixedClock;

    #[test]
    fn advance_saturates_and_set_goes_backwards() {
        let mut clock = FixedClock::default();
        assert_eq!(clock.now(), FixedClock::DEFAULT_START);
        assert_eq!(clock.advance(10), FixedClock::DEFAULT_START + 10);
        clock.set(u64::MAX - 1);
        assert_eq!(clock.advance(5), u64::MAX);
        clock.set(3);
        assert_eq!(clock.now(), 3);
    }
}
