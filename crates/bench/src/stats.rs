//! Medians, ranges and percentiles of repeated measurements.

use serde::Serialize;

/// Repeated measurements of one figure: the median is reported, min and max beside it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: Vec<f64>,
}

impl Stat {
    pub fn of(mut samples: Vec<f64>) -> Stat {
        samples.retain(|s| s.is_finite());
        if samples.is_empty() {
            return Stat::default();
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Stat {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            samples,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// `297 ms (293–368)`, or `—` without samples; `unit` follows the median.
    pub fn show(&self, unit: &str) -> String {
        if self.is_empty() {
            return "—".into();
        }
        if self.samples.len() == 1 {
            return format!("{}{unit}", num(self.median));
        }
        format!(
            "{}{unit} ({}–{})",
            num(self.median),
            num(self.min),
            num(self.max)
        )
    }
}

/// A number with sensible precision: 3 significant digits below 100, whole numbers above.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// The q-quantile (0..=1) of `values` (nearest rank); 0 when empty.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `a / b`, or NaN when b is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_and_percentiles() {
        let s = Stat::of(vec![5.0, 1.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(Stat::of(vec![1.0, 2.0, 3.0, 4.0]).median, 2.5);
        assert_eq!(s.show(" ms"), "3.00 ms (1.00–5.00)");
        assert_eq!(Stat::of(vec![]).show(" ms"), "—");
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(num(1234.4), "1234");
        assert!(ratio(1.0, 0.0).is_nan());
    }
}
