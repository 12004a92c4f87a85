//! Plots of a run (plotters): growth (time to fresh vs N, log–log), time to fresh vs K (bars,
//! log scale) and sustained lag over time; each as SVG and PNG.
//!
//! Text needs a font. plotters' `ttf` feature finds system fonts through fontconfig and
//! freetype (C libraries, -dev packages to build); the `ab_glyph` feature used here is pure
//! Rust and only needs a TrueType file, looked up at run time among the usual font
//! directories. Without one, no plot is drawn and the report says why.

use std::path::Path;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::results::Results;

const SIZE: (u32, u32) = (960, 560);
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draw every plot the results have data for; returns the file names written and a note
/// when none could be drawn.
pub fn draw_all(r: &Results, out: &Path) -> anyhow::Result<(Vec<String>, Option<String>)> {
    if let Err(note) = register_font() {
        return Ok((Vec::new(), Some(note)));
    }
    let mut files = Vec::new();
    macro_rules! plot {
        ($name:literal, $draw:ident) => {{
            let svg_path = out.join(concat!($name, ".svg"));
            let drew = $draw(r, SVGBackend::new(&svg_path, SIZE).into_drawing_area())?;
            if drew {
                files.push(concat!($name, ".svg").to_string());
                let png_path = out.join(concat!($name, ".png"));
                $draw(r, BitMapBackend::new(&png_path, SIZE).into_drawing_area())?;
                files.push(concat!($name, ".png").to_string());
            } else {
                let _ = std::fs::remove_file(&svg_path);
            }
        }};
    }
    plot!("growth", growth);
    plot!("fresh-vs-k", fresh_vs_k);
    plot!("sustained-lag", sustained_lag);
    Ok((files, None))
}

fn register_font() -> Result<(), String> {
    const CANDIDATES: &[&str] = &[
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
    ];
    let path = std::env::var("SUMMA_BENCH_FONT")
        .ok()
        .into_iter()
        .chain(CANDIDATES.iter().map(|s| s.to_string()))
        .find(|p| Path::new(p).is_file())
        .ok_or_else(|| {
            "no plots: no TrueType font found (install fonts-dejavu-core, or set SUMMA_BENCH_FONT \
             to a .ttf file); plotters draws text with a font file, not fontconfig"
                .to_string()
        })?;
    let bytes = std::fs::read(&path).map_err(|e| format!("no plots: cannot read {path}: {e}"))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("no plots: {path} is not a usable TrueType font"))
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plot: {e}")
}

/// Log axis bounds around `values` (positive).
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (1.0, 10.0);
    }
    (lo / 2.0, hi * 2.0)
}

fn growth<DB: DrawingBackend>(r: &Results, root: DrawingArea<DB, Shift>) -> anyhow::Result<bool>
where
    DB::ErrorType: 'static,
{
    let series: Vec<(String, Vec<(f64, f64)>)> = ["V1", "V2"]
        .into_iter()
        .filter(|v| r.growth(v).len() >= 2)
        .flat_map(|v| {
            let g = r.growth(v);
            [
                (
                    format!("{v} summa"),
                    g.iter()
                        .map(|f| (f.rows as f64, f.summa_ms.median))
                        .collect(),
                ),
                (
                    format!("{v} REFRESH"),
                    g.iter()
                        .map(|f| (f.rows as f64, f.refresh_ms.median))
                        .collect(),
                ),
                (
                    format!("{v} REFRESH CONCURRENTLY"),
                    g.iter()
                        .map(|f| (f.rows as f64, f.concurrently_ms.median))
                        .collect::<Vec<_>>(),
                ),
            ]
        })
        .collect();
    if series.is_empty() {
        return Ok(false);
    }
    root.fill(&WHITE).map_err(err)?;
    let (x0, x1) = log_bounds(series.iter().flat_map(|s| s.1.iter().map(|p| p.0)));
    let (y0, y1) = log_bounds(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Time to fresh after a {}-row change transaction vs table size",
                r.options.growth_k
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("source rows (N)")
        .y_desc("ms (log scale)")
        .x_label_formatter(&|v| human(*v))
        .y_label_formatter(&|v| super::stats::num(*v))
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let style = if name.ends_with("summa") {
            color.stroke_width(3)
        } else {
            color.stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(true)
}

/// `10M`, `1.5M`, `200k`, `950`.
fn human(v: f64) -> String {
    let short = |x: f64| {
        if (x - x.round()).abs() < 1e-9 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    };
    if v >= 1e6 {
        format!("{}M", short(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", short(v / 1e3))
    } else {
        short(v)
    }
}

fn fresh_vs_k<DB: DrawingBackend>(r: &Results, root: DrawingArea<DB, Shift>) -> anyhow::Result<bool>
where
    DB::ErrorType: 'static,
{
    let Some(n) = r.fresh.iter().map(|f| f.rows).max() else {
        return Ok(false);
    };
    let rows: Vec<_> = r.fresh.iter().filter(|f| f.rows == n).collect();
    let kinds = ["summa", "floor", "REFRESH", "REFRESH CONCURRENTLY"];
    let value = |f: &super::results::FreshRow, i: usize| match i {
        0 => f.summa_ms.median,
        1 => f.floor_ms.median,
        2 => f.refresh_ms.median,
        _ => f.concurrently_ms.median,
    };
    root.fill(&WHITE).map_err(err)?;
    let (y0, y1) = log_bounds(rows.iter().flat_map(|f| (0..4).map(move |i| value(f, i))));
    let labels: Vec<String> = rows
        .iter()
        .map(|f| format!("{} K={}", f.view, human(f.k as f64)))
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Time to fresh vs REFRESH at N = {}", human(n as f64)),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(rows.len() as f64 - 0.5), (y0..y1).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(rows.len().max(1))
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("ms (log scale)")
        .y_label_formatter(&|v| super::stats::num(*v))
        .draw()
        .map_err(err)?;
    let width = 0.8 / kinds.len() as f64;
    for (k, kind) in kinds.iter().enumerate() {
        let color = COLORS[k];
        chart
            .draw_series(rows.iter().enumerate().map(|(i, f)| {
                let left = i as f64 - 0.4 + k as f64 * width;
                Rectangle::new(
                    [(left, y0), (left + width * 0.9, value(f, k))],
                    color.filled(),
                )
            }))
            .map_err(err)?
            .label(*kind)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(true)
}

fn sustained_lag<DB: DrawingBackend>(
    r: &Results,
    root: DrawingArea<DB, Shift>,
) -> anyhow::Result<bool>
where
    DB::ErrorType: 'static,
{
    if r.sustained.is_empty() {
        return Ok(false);
    }
    root.fill(&WHITE).map_err(err)?;
    let x1 = r
        .sustained
        .iter()
        .flat_map(|s| s.lag_series.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let y1 = r
        .sustained
        .iter()
        .flat_map(|s| s.lag_series.iter().map(|p| p.1))
        .fold(10.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Lag under sustained writes (V1 and V2 live)",
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x1, 0f64..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds of writing")
        .y_desc("lag, ms")
        .draw()
        .map_err(err)?;
    for (i, s) in r.sustained.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                s.lag_series.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!(
                "target {}/s: written {}/s, p99 {} ms",
                human(s.target_rate as f64),
                human(s.written_rate),
                super::stats::num(s.lag_p99_ms)
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(true)
}
