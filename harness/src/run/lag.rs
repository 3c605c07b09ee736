//! A histogram of delivery lag: how long after its deadline a message reached the node's stdin pipe. Written by
//! the event loop as it writes each node's stdin, read once at the end of the run.

/// 10 µs buckets up to 2 ms, then 1 ms buckets up to 100 ms, then one overflow bucket.
const FINE: u64 = 200;
const COARSE: u64 = 98;

/// Counts of lags by bucket.
#[derive(Debug)]
pub struct LagHistogram {
    buckets: Vec<u64>,
}

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram { buckets: vec![0; (FINE + COARSE + 1) as usize] }
    }
}

impl LagHistogram {
    fn bucket(lag_us: u64) -> usize {
        if lag_us < FINE * 10 {
            (lag_us / 10) as usize
        } else {
            (FINE + ((lag_us - FINE * 10) / 1000).min(COARSE)) as usize
        }
    }

    /// The upper bound (µs) of a bucket; the overflow bucket reports 100 ms.
    fn upper(bucket: usize) -> u64 {
        let b = bucket as u64;
        if b < FINE { (b + 1) * 10 } else { (FINE * 10 + (b - FINE + 1) * 1000).min(100_000) }
    }

    /// Records one lag, in nanoseconds.
    pub fn record(&mut self, lag_ns: u64) {
        self.buckets[Self::bucket(lag_ns / 1000)] += 1;
    }

    /// How many lags were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The lag (µs, a bucket's upper bound, so never an underestimate below 100 ms) at quantile `p`, using the
    /// same rule as Maelstrom's quantiles: the value of rank `min(n-1, floor(n·p))`.
    pub fn quantile(&self, p: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((n as f64 * p) as u64).min(n - 1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b;
            if seen > rank {
                return Some(Self::upper(i));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_report_bucket_upper_bounds() {
        let mut h = LagHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in [5, 15, 25, 35, 2_500, 150_000] {
            h.record(us * 1000);
        }
        assert_eq!(h.count(), 6);
        assert_eq!(h.quantile(0.0), Some(10));
        assert_eq!(h.quantile(0.5), Some(40));
        assert_eq!(h.quantile(0.7), Some(3_000));
        assert_eq!(h.quantile(1.0), Some(100_000));
    }
}
