//! The machine and server a run measured on, for the report.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub cpu: String,
    pub kernel: String,
    pub postgres: String,
    /// Private cluster started by the bench, or a given database.
    pub private_cluster: bool,
    /// Server settings that matter for the figures.
    pub settings: Vec<(String, String)>,
    /// 1/5/15-minute load averages at the start and the end: other work on the machine.
    pub load_start: String,
    pub load_end: String,
}

const SETTINGS: &[&str] = &[
    "shared_buffers",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "max_wal_size",
    "work_mem",
    "maintenance_work_mem",
    "max_parallel_workers_per_gather",
    "logical_decoding_work_mem",
    "TimeZone",
];

impl Machine {
    pub async fn read(client: &tokio_postgres::Client, private: bool) -> anyhow::Result<Machine> {
        let postgres: String = client.query_one("SELECT version()", &[]).await?.get(0);
        let mut settings = Vec::new();
        for name in SETTINGS {
            let v: String = client
                .query_one("SELECT current_setting($1)", &[name])
                .await?
                .get(0);
            settings.push((name.to_string(), v));
        }
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            memory_gib: mem_kib / 1024.0 / 1024.0,
            cpu,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            postgres: postgres
                .split(" on ")
                .next()
                .unwrap_or(&postgres)
                .to_string(),
            private_cluster: private,
            settings,
            load_start: loadavg(),
            load_end: String::new(),
        })
    }
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// (`2026-11-24 21:05 UTC`, `20261124-210512`) for now.
pub fn utc_now() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let (hh, mm, ss) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    (
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC"),
        format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}"),
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_515), (2026, 3, 3));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
