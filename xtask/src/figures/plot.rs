//! Charts drawn with plotters, each written as PNG and SVG, with the shipped font.

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

/// DejaVu Sans (Bitstream Vera licence; see `assets/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_err() {
            panic!("the shipped font is a valid TrueType file");
        }
    });
}

const PALETTE: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
];

pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const SIZE: (u32, u32) = (900, 600);

/// Draws `draw` into `stem.png` and `stem.svg`.
fn both(
    stem: &Path,
    draw: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
    draw_svg: impl Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    both_sized(stem, SIZE, draw, draw_svg)
}

/// [`both`] at `size` pixels.
fn both_sized(
    stem: &Path,
    size: (u32, u32),
    draw: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
    draw_svg: impl Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    // Both are written whole or not at all: the PNG to a temporary beside it
    // (the encoder picks its format by the extension) that is renamed over it,
    // the SVG into memory and then through the atomic write.
    let png_tmp = stem.with_extension("partial.png");
    let drawn = (|| {
        let root = BitMapBackend::new(&png_tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
        drop(root);
        std::fs::rename(&png_tmp, &png)?;
        anyhow::Ok(())
    })();
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&png_tmp);
        return Err(e).with_context(|| format!("writing {}", png.display()));
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        draw_svg(&root)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    ufh_search::write_atomically(&svg, text.as_bytes())
        .with_context(|| format!("writing {}", svg.display()))?;
    Ok(())
}

/// One line of a [`lines`] chart: points `(x, mean, sem)`; a band of ±2 SEM is
/// drawn when `band` is set.
pub(crate) struct Line {
    pub(crate) name: String,
    pub(crate) points: Vec<(f64, f64, f64)>,
}

pub(crate) struct Axes<'a> {
    pub(crate) title: &'a str,
    pub(crate) x: &'a str,
    pub(crate) y: &'a str,
}

fn finite_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = (lo.abs() * 0.01).max(1e-3);
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// A tick label: plain for ordinary numbers, scientific for large ones.
fn tick(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.1e}")
    } else {
        let text = format!("{v:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

macro_rules! draw_lines {
    ($root:expr, $axes:expr, $lines:expr, $band:expr) => {{
        let lines: &[Line] = $lines;
        let (x0, x1) = finite_range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
        let spread = if $band { 2.0 } else { 0.0 };
        let (y0, y1) = finite_range(lines.iter().flat_map(|l| {
            l.points
                .iter()
                .flat_map(move |p| [p.1 - spread * p.2, p.1 + spread * p.2])
        }));
        let mut chart = ChartBuilder::on($root)
            .caption($axes.title, (FAMILY, 22))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc($axes.x)
            .y_desc($axes.y)
            .x_label_formatter(&|v: &f64| tick(*v))
            .y_label_formatter(&|v: &f64| tick(*v))
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (i, line) in lines.iter().enumerate() {
            let c = color(i);
            let finite: Vec<&(f64, f64, f64)> =
                line.points.iter().filter(|p| p.1.is_finite()).collect();
            if $band && !finite.is_empty() {
                let mut outline: Vec<(f64, f64)> =
                    finite.iter().map(|p| (p.0, p.1 + 2.0 * p.2)).collect();
                outline.extend(finite.iter().rev().map(|p| (p.0, p.1 - 2.0 * p.2)));
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, c.mix(0.18).filled())))
                    .map_err(|e| anyhow!("{e}"))?;
            }
            chart
                .draw_series(LineSeries::new(
                    finite.iter().map(|p| (p.0, p.1)),
                    c.stroke_width(2),
                ))
                .map_err(|e| anyhow!("{e}"))?
                .label(line.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }};
}

/// Lines with optional ±2 SEM bands.
pub(crate) fn lines(
    stem: &Path,
    axes: &Axes<'_>,
    lines: &[Line],
    band: bool,
) -> anyhow::Result<()> {
    both(
        stem,
        |root| draw_lines!(root, axes, lines, band),
        |root| draw_lines!(root, axes, lines, band),
    )
}

macro_rules! draw_groups {
    ($root:expr, $axes:expr, $groups:expr) => {{
        let groups: &[(String, Vec<f64>)] = $groups;
        let (y0, y1) = finite_range(groups.iter().flat_map(|g| g.1.iter().copied()));
        let n = groups.len();
        let mut chart = ChartBuilder::on($root)
            .caption($axes.title, (FAMILY, 22))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, y0..y1)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_desc($axes.x)
            .y_desc($axes.y)
            .x_label_formatter(&|v: &f64| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    groups
                        .get(i as usize)
                        .map_or(String::new(), |g| g.0.clone())
                } else {
                    String::new()
                }
            })
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (i, (_, values)) in groups.iter().enumerate() {
            let c = color(i);
            // Every value as a dot, spread sideways (golden-ratio jitter), then the
            // group's mean ± 2 SEM as a black error bar.
            chart
                .draw_series(
                    values
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_finite())
                        .map(|(k, &v)| {
                            let jitter = ((k as f64 * 0.618_034) % 1.0 - 0.5) * 0.5;
                            Circle::new((i as f64 + jitter, v), 3, c.mix(0.45).filled())
                        }),
                )
                .map_err(|e| anyhow!("{e}"))?;
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            let (mean, sem) = super::stats::mean_sem(&finite);
            if mean.is_finite() {
                chart
                    .draw_series(std::iter::once(ErrorBar::new_vertical(
                        i as f64,
                        mean - 2.0 * sem,
                        mean,
                        mean + 2.0 * sem,
                        BLACK.stroke_width(2),
                        16,
                    )))
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }
        Ok(())
    }};
}

/// One column of dots per group, with the group's mean ± 2 SEM as an error bar.
pub(crate) fn groups(
    stem: &Path,
    axes: &Axes<'_>,
    groups: &[(String, Vec<f64>)],
) -> anyhow::Result<()> {
    both(
        stem,
        |root| draw_groups!(root, axes, groups),
        |root| draw_groups!(root, axes, groups),
    )
}

macro_rules! draw_heatmap {
    ($root:expr, $axes:expr, $xs:expr, $ys:expr, $values:expr) => {{
        let (xs, ys, values): (&[String], &[String], &[Vec<f64>]) = ($xs, $ys, $values);
        let (lo, hi) = finite_range(values.iter().flatten().copied());
        let label = |names: &[String], v: f64| {
            let i = (v - 0.5).round();
            if ((v - 0.5) - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let mut chart = ChartBuilder::on($root)
            .caption($axes.title, (FAMILY, 22))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..xs.len() as f64, 0.0..ys.len() as f64)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(2 * xs.len() + 1)
            .y_labels(2 * ys.len() + 1)
            .x_desc($axes.x)
            .y_desc($axes.y)
            .x_label_formatter(&|v: &f64| label(xs, *v))
            .y_label_formatter(&|v: &f64| label(ys, *v))
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        for (yi, row) in values.iter().enumerate() {
            for (xi, &v) in row.iter().enumerate() {
                let t = if hi > lo {
                    ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
                } else {
                    0.5
                };
                let fill = RGBColor((255.0 - 200.0 * t) as u8, (255.0 - 120.0 * t) as u8, 255);
                let (x, y) = (xi as f64, yi as f64);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        fill.filled(),
                    )))
                    .map_err(|e| anyhow!("{e}"))?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{v:.4}"),
                        (x + 0.42, y + 0.52),
                        (FAMILY, 16).into_font().color(&BLACK),
                    )))
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }
        Ok(())
    }};
}

/// A grid of values, each cell coloured by value and labelled with it.
pub(crate) fn heatmap(
    stem: &Path,
    axes: &Axes<'_>,
    xs: &[String],
    ys: &[String],
    values: &[Vec<f64>],
) -> anyhow::Result<()> {
    both(
        stem,
        |root| draw_heatmap!(root, axes, xs, ys, values),
        |root| draw_heatmap!(root, axes, xs, ys, values),
    )
}

/// One panel of a [`scatters`] chart: its title and its points `(x, y)`.
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) points: Vec<(f64, f64)>,
}

macro_rules! draw_scatters {
    ($root:expr, $title:expr, $x:expr, $y:expr, $panels:expr) => {{
        let panels: &[Panel] = $panels;
        let root = $root
            .titled($title, (FAMILY, 22))
            .map_err(|e| anyhow!("{e}"))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (i, (panel, area)) in panels.iter().zip(&areas).enumerate() {
            let (x0, x1) = finite_range(panel.points.iter().map(|p| p.0));
            let (y0, y1) = finite_range(panel.points.iter().map(|p| p.1));
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, (FAMILY, 17))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| anyhow!("{e}"))?;
            chart
                .configure_mesh()
                .x_labels(5)
                .x_desc($x)
                .y_desc($y)
                .x_label_formatter(&|v: &f64| tick(*v))
                .y_label_formatter(&|v: &f64| tick(*v))
                .label_style((FAMILY, 13))
                .axis_desc_style((FAMILY, 15))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            let c = color(i);
            chart
                .draw_series(
                    panel
                        .points
                        .iter()
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                        .map(|&p| Circle::new(p, 3, c.mix(0.5).filled())),
                )
                .map_err(|e| anyhow!("{e}"))?;
        }
        Ok(())
    }};
}

/// Side-by-side scatter panels, each with axes of its own, sharing the axis
/// names `x` and `y` under one `title`.
pub(crate) fn scatters(
    stem: &Path,
    title: &str,
    x: &str,
    y: &str,
    panels: &[Panel],
) -> anyhow::Result<()> {
    let size = (450 * panels.len().max(1) as u32, 500);
    both_sized(
        stem,
        size,
        |root| draw_scatters!(root, title, x, y, panels),
        |root| draw_scatters!(root, title, x, y, panels),
    )
}
