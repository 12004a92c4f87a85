//! The child sidecar's figures, read from its `/metrics` endpoint (Prometheus text format) —
//! the interface operators use, so the bench measures nothing they could not see:
//! batches and changes applied, the batch duration histogram (a batch's first change to its
//! commit), the longest batch and the longest merge statement since the process started.
//!
//! Two scrapes make a [`Window`]: counters and histogram buckets are cumulative, so their
//! differences are the window's own. Quantiles are interpolated linearly inside a bucket, as
//! Prometheus' `histogram_quantile` does: they are bounded by the bucket edges, no finer.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One scrape of the figures the bench uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    pub batches: u64,
    pub changes: u64,
    /// (upper bound in seconds, cumulative count), ascending, the last `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub batch_sum_s: f64,
    pub batch_count: u64,
    pub longest_batch_s: f64,
    pub longest_merge_s: f64,
}

/// GET `/metrics` from `address`.
pub async fn fetch(address: SocketAddr) -> anyhow::Result<Scrape> {
    let body = tokio::time::timeout(Duration::from_secs(10), get(address))
        .await
        .with_context(|| format!("GET http://{address}/metrics timed out"))??;
    Scrape::parse(&body).with_context(|| format!("http://{address}/metrics"))
}

async fn get(address: SocketAddr) -> anyhow::Result<String> {
    let mut socket = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to the sidecar's /metrics at {address}"))?;
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    socket.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("not an HTTP response")?;
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200 ") {
        bail!("the sidecar answered {status:?}: {}", body.trim());
    }
    Ok(body.to_string())
}

impl Scrape {
    /// Read the sample lines this bench needs; a missing one is an error naming it (a
    /// sidecar older or newer than this bench).
    pub fn parse(text: &str) -> anyhow::Result<Scrape> {
        let mut s = Scrape::default();
        let mut seen = [false; 6];
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = match value.parse() {
                Ok(v) => v,
                Err(_) => continue,
            };
            match series {
                "summa_batches_applied_total" => (s.batches, seen[0]) = (value as u64, true),
                "summa_changes_applied_total" => (s.changes, seen[1]) = (value as u64, true),
                "summa_batch_duration_seconds_sum" => (s.batch_sum_s, seen[2]) = (value, true),
                "summa_batch_duration_seconds_count" => {
                    (s.batch_count, seen[3]) = (value as u64, true)
                }
                "summa_longest_batch_seconds" => (s.longest_batch_s, seen[4]) = (value, true),
                "summa_longest_merge_seconds" => (s.longest_merge_s, seen[5]) = (value, true),
                _ => {
                    if let Some(le) = series
                        .strip_prefix("summa_batch_duration_seconds_bucket{le=\"")
                        .and_then(|r| r.strip_suffix("\"}"))
                    {
                        let le = if le == "+Inf" {
                            f64::INFINITY
                        } else {
                            le.parse().with_context(|| format!("bucket bound {le:?}"))?
                        };
                        s.buckets.push((le, value as u64));
                    }
                }
            }
        }
        let names = [
            "summa_batches_applied_total",
            "summa_changes_applied_total",
            "summa_batch_duration_seconds_sum",
            "summa_batch_duration_seconds_count",
            "summa_longest_batch_seconds",
            "summa_longest_merge_seconds",
        ];
        if let Some(i) = seen.iter().position(|s| !s) {
            bail!("no {} sample", names[i]);
        }
        if s.buckets.last().is_none_or(|b| !b.0.is_infinite()) {
            bail!("no summa_batch_duration_seconds_bucket{{le=\"+Inf\"}} sample");
        }
        s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(s)
    }

    /// The figures between `before` and this scrape (of the same process).
    pub fn since(&self, before: &Scrape) -> Window {
        let buckets = self
            .buckets
            .iter()
            .map(|&(le, n)| {
                let was = before.buckets.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
                (le, n.saturating_sub(was))
            })
            .collect();
        Window {
            batches: self.batches.saturating_sub(before.batches),
            changes: self.changes.saturating_sub(before.changes),
            buckets,
            sum_s: (self.batch_sum_s - before.batch_sum_s).max(0.0),
            count: self.batch_count.saturating_sub(before.batch_count),
        }
    }
}

/// What a sidecar did between two scrapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub batches: u64,
    pub changes: u64,
    buckets: Vec<(f64, u64)>,
    sum_s: f64,
    count: u64,
}

impl Window {
    /// Mean batch duration in ms (exact: the histogram's sum over its count); 0 without batches.
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_s / self.count as f64 * 1000.0
        }
    }

    /// The `q` quantile of the batch durations in ms, interpolated inside its bucket (the
    /// highest finite bound when it falls in `+Inf`); 0 without batches.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let total = self.buckets.last().map_or(0, |b| b.1);
        if total == 0 {
            return 0.0;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let (mut lower, mut below) = (0.0, 0u64);
        for &(le, n) in &self.buckets {
            if n as f64 >= rank && n > below {
                if le.is_infinite() {
                    return lower * 1000.0;
                }
                let within = (rank - below as f64) / (n - below) as f64;
                return (lower + (le - lower) * within) * 1000.0;
            }
            (lower, below) = (le, n);
        }
        lower * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP summa_up 1 when ...\n# TYPE summa_up gauge\nsumma_up 1\n\
        summa_changes_applied_total 500\nsumma_batches_applied_total 10\n\
        summa_batch_duration_seconds_bucket{le=\"0.1\"} 2\n\
        summa_batch_duration_seconds_bucket{le=\"0.25\"} 8\n\
        summa_batch_duration_seconds_bucket{le=\"+Inf\"} 10\n\
        summa_batch_duration_seconds_sum 2.5\nsumma_batch_duration_seconds_count 10\n\
        summa_longest_batch_seconds 0.9\n\
        summa_longest_merge_seconds 0.4\n\
        summa_version_lag_bytes{view=\"v\",version=\"1\"} 0\n";

    #[test]
    fn reads_counters_histogram_and_longest_batch() {
        let s = Scrape::parse(TEXT).unwrap();
        assert_eq!((s.batches, s.changes, s.batch_count), (10, 500, 10));
        assert_eq!(s.buckets, vec![(0.1, 2), (0.25, 8), (f64::INFINITY, 10)]);
        assert_eq!((s.batch_sum_s, s.longest_batch_s), (2.5, 0.9));
        assert_eq!(s.longest_merge_s, 0.4);
    }

    #[test]
    fn a_missing_series_is_named() {
        let text = TEXT.replace("summa_longest_batch_seconds 0.9\n", "");
        let err = Scrape::parse(&text).unwrap_err().to_string();
        assert!(err.contains("summa_longest_batch_seconds"), "{err}");
    }

    #[test]
    fn a_window_is_the_difference_and_its_quantiles_interpolate() {
        let before = Scrape {
            batches: 4,
            changes: 100,
            buckets: vec![(0.1, 2), (0.25, 2), (f64::INFINITY, 4)],
            batch_sum_s: 1.0,
            batch_count: 4,
            longest_batch_s: 0.9,
            longest_merge_s: 0.4,
        };
        let w = Scrape::parse(TEXT).unwrap().since(&before);
        assert_eq!((w.batches, w.changes), (6, 400));
        // Six batches in the window: all six in (0.1, 0.25], so the median is its middle.
        assert!(
            (w.quantile_ms(0.5) - 175.0).abs() < 1e-9,
            "{}",
            w.quantile_ms(0.5)
        );
        assert!((w.mean_ms() - 250.0).abs() < 1e-9);
        let empty = before.since(&before);
        assert_eq!((empty.quantile_ms(0.99), empty.mean_ms()), (0.0, 0.0));
    }
}
