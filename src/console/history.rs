//! A bounded ring buffer for time series sampled on the console's tick: memory stays flat however long a run is.
use std::collections::VecDeque;

/// The last `capacity` values pushed, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Ring<T> {
    /// A ring keeping at most `capacity` values (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Add a value, dropping the oldest once full.
    pub fn push(&mut self, value: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(value);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    /// The newest `n` values, oldest first (fewer when the ring holds fewer).
    pub fn tail(&self, n: usize) -> impl Iterator<Item = &T> {
        self.items.iter().skip(self.items.len().saturating_sub(n))
    }
}

impl Ring<f64> {
    /// The largest value held, or 0 when empty.
    pub fn max(&self) -> f64 {
        self.items.iter().copied().fold(0.0, f64::max)
    }

    /// Mean of the newest `n` values, or 0 when empty.
    pub fn mean_tail(&self, n: usize) -> f64 {
        let (sum, count) = self.tail(n).fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
        if count == 0 { 0.0 } else { sum / count as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_values() {
        let mut r = Ring::new(3);
        assert!(r.is_empty());
        for v in 1..=5 {
            r.push(v);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(r.last(), Some(&5));
        assert_eq!(r.capacity(), 3);
    }

    #[test]
    fn tail_takes_the_newest_oldest_first() {
        let mut r = Ring::new(10);
        for v in 0..6 {
            r.push(v);
        }
        assert_eq!(r.tail(2).copied().collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(r.tail(100).count(), 6);
        assert_eq!(r.tail(0).count(), 0);
    }

    #[test]
    fn zero_capacity_still_holds_one() {
        let mut r = Ring::new(0);
        r.push('a');
        r.push('b');
        assert_eq!(r.iter().copied().collect::<String>(), "b");
    }

    #[test]
    fn float_helpers() {
        let mut r: Ring<f64> = Ring::new(4);
        assert_eq!(r.max(), 0.0);
        assert_eq!(r.mean_tail(3), 0.0);
        for v in [1.0, 5.0, 3.0, 2.0, 4.0] {
            r.push(v);
        }
        assert_eq!(r.max(), 5.0);
        assert!((r.mean_tail(2) - 3.0).abs() < 1e-9);
        r.clear();
        assert!(r.is_empty());
    }
}
