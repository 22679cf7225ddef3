//! Drawing a chart: one or two time series over calendar buckets, with shaded bands behind them
//! (the DORA levels), to SVG or PNG bytes.
//!
//! This module is pure — a [`Chart`] in, bytes out, no store and no HTTP — so that the
//! `/charts` endpoints and the weekly report email draw the same pictures. It does not decide
//! what a chart shows (that is `charts`), only how. Text is set in the DejaVu Sans font bundled
//! in the binary: plotters is built without its font-kit backend, so no system font or
//! fontconfig is needed.

use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use pacer_engine::Millis;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

/// An image format a chart can be drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics, text kept as `<text>`.
    Svg,
    /// A PNG bitmap, 8-bit RGB.
    Png,
}

impl Format {
    /// Parses a file extension: `svg` or `png`.
    pub fn parse(extension: &str) -> Option<Self> {
        match extension {
            "svg" => Some(Self::Svg),
            "png" => Some(Self::Png),
            _ => None,
        }
    }

    /// The media type of the bytes.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Svg => "image/svg+xml",
            Self::Png => "image/png",
        }
    }
}

/// A shaded horizontal band: values in `[low, high)` belong to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// What the band means, printed inside it (`elite`).
    pub label: &'static str,
    /// Lower edge, in the chart's unit.
    pub low: f64,
    /// Upper edge; `f64::INFINITY` for an open band.
    pub high: f64,
    /// Fill colour (drawn translucent).
    pub color: RGBColor,
}

/// One line of the chart: a value per bucket, `None` where there is no sample (drawn as a gap).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// One value per bucket of the chart, in the chart's unit.
    pub values: Vec<Option<f64>>,
}

/// Everything a chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The heading (`Lead time for changes`).
    pub title: String,
    /// A second line under the title: what the data covers.
    pub subtitle: String,
    /// The x axis description.
    pub x_label: String,
    /// The y axis description, with its unit.
    pub y_label: String,
    /// The calendar buckets `[start, end)`, ascending; a series has one value per bucket.
    pub buckets: Vec<(Millis, Millis)>,
    /// The lines; the first is drawn solid, the others dashed.
    pub series: Vec<Series>,
    /// Shaded bands behind the lines.
    pub bands: Vec<Band>,
}

/// The chart could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotError(String);

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chart drawing failed: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

fn failed(error: impl fmt::Display) -> PlotError {
    PlotError(error.to_string())
}

/// Colours of the DORA levels: elite, high, medium, low.
pub const LEVEL_COLORS: [RGBColor; 4] = [RGBColor(46, 125, 50), RGBColor(2, 119, 189), RGBColor(239, 160, 0), RGBColor(198, 40, 40)];
/// Colours of the lines, in order (dark enough on white and on the bands).
const LINE_COLORS: [RGBColor; 3] = [RGBColor(20, 40, 110), RGBColor(120, 40, 140), RGBColor(60, 60, 60)];
const INK: RGBColor = RGBColor(33, 33, 33);
const FONT: &str = "sans-serif";

/// Registers the bundled font once per process.
fn fonts() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<Result<(), PlotError>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).map_err(|_| failed("the bundled regular font is invalid"))?;
            register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).map_err(|_| failed("the bundled bold font is invalid"))
        })
        .clone()
}

/// Draws `chart` at `width` × `height` pixels.
///
/// # Errors
/// The font could not be loaded, or plotters or the PNG encoder failed.
pub fn render(chart: &Chart, format: Format, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    fonts()?;
    match format {
        Format::Svg => {
            let mut svg = String::new();
            draw(SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area(), chart)?;
            Ok(svg.into_bytes())
        }
        Format::Png => {
            let mut pixels = vec![0u8; width as usize * height as usize * 3];
            draw(BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area(), chart)?;
            let mut out = Vec::new();
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(failed)?;
            writer.write_image_data(&pixels).map_err(failed)?;
            writer.finish().map_err(failed)?;
            Ok(out)
        }
    }
}

/// The runs of consecutive known values, as `(bucket index, value)`: a missing value ends a run,
/// so lines never bridge a bucket without samples.
pub fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) if v.is_finite() => current.push((i, *v)),
            _ if current.is_empty() => {}
            _ => runs.push(std::mem::take(&mut current)),
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The top of the y axis: the largest value or, when higher, the band edge just above the first
/// line (so the reader sees how far the next level is), with some headroom. Bands describe the
/// first line; later ones (a p90) only need to fit.
pub fn y_top(chart: &Chart) -> f64 {
    let max = |values: &mut dyn Iterator<Item = f64>| values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    let all = max(&mut chart.series.iter().flat_map(|s| s.values.iter().flatten().copied()));
    let first = max(&mut chart.series.iter().take(1).flat_map(|s| s.values.iter().flatten().copied()));
    let next_edge = chart.bands.iter().flat_map(|b| [b.low, b.high]).filter(|e| e.is_finite() && *e > first).fold(f64::INFINITY, f64::min);
    let top = if next_edge.is_finite() { next_edge.max(all) } else { all };
    if top > 0.0 { top * 1.1 } else { 1.0 }
}

/// A y tick: at most three significant digits, no trailing zeros.
pub fn tick(value: f64) -> String {
    let magnitude = value.abs();
    let text = if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    };
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

fn time(at: Millis) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default()
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(failed)?;
    let (width, _) = root.dim_in_pixel();
    let titled = root.titled(&chart.title, (FONT, 20).into_font().style(FontStyle::Bold).color(&INK)).map_err(failed)?;
    let area = titled.titled(&chart.subtitle, (FONT, 13).into_font().color(&INK)).map_err(failed)?;

    let (Some(first), Some(last)) = (chart.buckets.first(), chart.buckets.last()) else {
        return Err(failed("a chart needs at least one bucket"));
    };
    let (start, end) = (time(first.0), time(last.1));
    let top = y_top(chart);
    let mut plot = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(start..end, 0.0..top)
        .map_err(failed)?;

    for band in &chart.bands {
        let (low, high) = (band.low.max(0.0), band.high.min(top));
        if low >= high {
            continue;
        }
        plot.draw_series([Rectangle::new([(start, low), (end, high)], band.color.mix(0.16).filled())]).map_err(failed)?;
        // Name the band when it is tall enough to hold its label.
        if (high - low) / top > 0.07 {
            let style = (FONT, 12).into_font().color(&INK).pos(Pos::new(HPos::Right, VPos::Top));
            let label = Text::new(band.label.to_owned(), (end, high), style);
            plot.plotting_area().draw(&label).map_err(failed)?;
        }
    }

    let x_ticks = usize::try_from(width / 120).unwrap_or(4).clamp(2, 12);
    plot.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_labels(x_ticks)
        .y_labels(6)
        .x_label_formatter(&|d: &DateTime<Utc>| d.format("%Y-%m-%d").to_string())
        .y_label_formatter(&|v: &f64| tick(*v))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBAColor(0, 0, 0, 0.12))
        .axis_desc_style((FONT, 14).into_font().color(&INK))
        .label_style((FONT, 12).into_font().color(&INK))
        .draw()
        .map_err(failed)?;

    // Each point sits in the middle of its bucket.
    let middle = |i: usize| chart.buckets.get(i).map_or(start, |(s, e)| time(s + (e - s) / 2));
    let mut drawn = false;
    for (index, series) in chart.series.iter().enumerate() {
        let color = LINE_COLORS[index % LINE_COLORS.len()];
        let style = ShapeStyle::from(&color).stroke_width(if index == 0 { 3 } else { 2 });
        for (k, run) in runs(&series.values).into_iter().enumerate() {
            drawn = true;
            let points: Vec<(DateTime<Utc>, f64)> = run.iter().map(|&(i, v)| (middle(i), v.min(top))).collect();
            let drawing = if index == 0 {
                plot.draw_series(LineSeries::new(points, style).point_size(3))
            } else {
                plot.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(failed)?;
                plot.draw_series(DashedLineSeries::new(points, 8, 5, style))
            }
            .map_err(failed)?;
            // One legend entry per series, however many runs it has.
            if k == 0 && chart.series.len() > 1 {
                drawing.label(series.name.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
        }
    }
    if chart.series.len() > 1 && drawn {
        plot.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(INK)
            .label_font((FONT, 12).into_font().color(&INK))
            .draw()
            .map_err(failed)?;
    }
    if !drawn {
        let style = (FONT, 16).into_font().color(&INK).pos(Pos::new(HPos::Center, VPos::Center));
        let middle = time(first.0 + (last.1 - first.0) / 2);
        plot.plotting_area().draw(&Text::new("no data in this range", (middle, top / 2.0), style)).map_err(failed)?;
    }
    root.present().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 86_400_000;

    fn chart(values: Vec<Option<f64>>) -> Chart {
        Chart {
            title: "Lead time for changes".into(),
            subtitle: "production · all services".into(),
            x_label: "date (UTC)".into(),
            y_label: "hours".into(),
            buckets: (0..values.len() as i64).map(|i| (1_767_571_200_000 + i * DAY, 1_767_571_200_000 + (i + 1) * DAY)).collect(),
            series: vec![Series { name: "median".into(), values }],
            bands: vec![Band { label: "elite", low: 0.0, high: 24.0, color: LEVEL_COLORS[0] }],
        }
    }

    #[test]
    fn a_missing_value_splits_the_line() {
        let r = runs(&[Some(1.0), Some(2.0), None, Some(3.0), None, None]);
        assert_eq!(r, vec![vec![(0, 1.0), (1, 2.0)], vec![(3, 3.0)]]);
        assert!(runs(&[None, None]).is_empty());
        assert_eq!(runs(&[Some(f64::NAN), Some(1.0)]), vec![vec![(1, 1.0)]], "NaN is a gap, not a point");
    }

    #[test]
    fn the_y_axis_reaches_the_next_band_edge_above_the_data() {
        assert!((y_top(&chart(vec![Some(10.0)])) - 24.0 * 1.1).abs() < 1e-9);
        assert!((y_top(&chart(vec![Some(30.0)])) - 33.0).abs() < 1e-9);
        assert!((y_top(&chart(vec![None])) - 24.0 * 1.1).abs() < 1e-9);
        let mut with_p90 = chart(vec![Some(10.0)]);
        with_p90.series.push(Series { name: "p90".into(), values: vec![Some(50.0)] });
        with_p90.bands.push(Band { label: "high", low: 24.0, high: 168.0, color: LEVEL_COLORS[1] });
        assert!((y_top(&with_p90) - 55.0).abs() < 1e-9, "the p90 fits, the next edge above it does not stretch the axis");
    }

    #[test]
    fn ticks_keep_three_significant_digits() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(0.0333), "0.033");
        assert_eq!(tick(1.5), "1.5");
        assert_eq!(tick(12.25), "12.2");
        assert_eq!(tick(240.0), "240");
    }

    #[test]
    fn a_gap_draws_two_polylines_in_svg() {
        let svg = render(&chart(vec![Some(1.0), Some(2.0), None, Some(3.0), Some(4.0)]), Format::Svg, 640, 360).expect("drawn");
        let svg = String::from_utf8(svg).expect("utf-8");
        let line = svg.lines().filter(|l| l.contains("<polyline") && l.contains(r##"stroke="#14286E""##)).count();
        assert_eq!(line, 2, "{svg}");
        assert!(svg.contains("Lead time for changes"));
    }

    #[test]
    fn png_has_the_asked_size() {
        let png = render(&chart(vec![Some(1.0), None]), Format::Png, 300, 200).expect("drawn");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().expect("a PNG");
        assert_eq!((reader.info().width, reader.info().height), (300, 200));
    }
}
