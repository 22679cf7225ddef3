//! `GET /charts/{name}.{svg|png}`: images that decode, have the asked size, show the title, the
//! axes and the data (with a gap where a bucket has no sample), and 400/404 problem+json for bad
//! parameters.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::{commit, deploy, on_both, t, window};

/// The colour of a chart's first line (`plot::LINE_COLORS[0]`).
const LINE: [u8; 3] = [20, 40, 110];
const LINE_SVG: &str = "#14286E";

/// Lead time of 4 h on days 1–3 and 5–7 after the base Monday; nothing ships on day 4.
async fn days_with_a_gap(app: &TestApp) {
    let mut events = vec![commit("c0", 0.0, &[]), deploy("d0", "checkout", "c0", 1.0)];
    let mut parent = "c0".to_owned();
    for day in [1.0, 2.0, 3.0, 5.0, 6.0, 7.0] {
        let sha = format!("c{day}");
        events.push(commit(&sha, day * 24.0 + 1.0, &[&parent]));
        events.push(deploy(&format!("d{day}"), "checkout", &sha, day * 24.0 + 5.0));
        parent = sha;
    }
    app.ingest(Value::Array(events)).await;
}

async fn fetch(app: &TestApp, path: &str) -> (u16, String, Vec<u8>) {
    let response = app.client.get(app.url(path)).send().await.expect("request");
    let status = response.status().as_u16();
    let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, media, response.bytes().await.expect("body").to_vec())
}

on_both!(an_svg_chart_has_its_title_axes_bands_and_a_gap_where_nothing_shipped, |app| {
    days_with_a_gap(&app).await;
    let path = format!("/charts/lead-time.svg?{}&interval=day&width=900&height=500", window(24.0, 8.0 * 24.0));
    let (status, media, body) = fetch(&app, &path).await;
    assert_eq!((status, media.as_str()), (200, "image/svg+xml"), "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8(body).expect("utf-8");
    let svg = roxmltree::Document::parse(&text).expect("well-formed XML");
    let root = svg.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!((root.attribute("width"), root.attribute("height")), (Some("900"), Some("500")));
    let texts: Vec<&str> = svg.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    for expected in ["Lead time for changes", "hours from commit to production", "date (UTC)", "elite", "2026-01-07"] {
        assert!(texts.iter().any(|t| t.contains(expected)), "no text {expected:?} in {texts:?}");
    }
    // Three points a run; the legend's sample line has two.
    let runs = svg
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(LINE_SVG))
        .filter(|n| n.attribute("points").is_some_and(|p| p.split_whitespace().count() >= 3))
        .count();
    assert_eq!(runs, 2, "the median line must break on the day without deployments");
});

/// Decodes a PNG into (width, height, RGB pixels).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let frame = reader.next_frame(&mut pixels).expect("a frame");
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    pixels.truncate(frame.buffer_size());
    (frame.width, frame.height, pixels)
}

on_both!(a_png_chart_decodes_at_the_asked_size_and_draws_the_data, |app| {
    days_with_a_gap(&app).await;
    let path = format!("/charts/deployment-frequency.png?{}&interval=day&width=640&height=360", window(24.0, 8.0 * 24.0));
    let (status, media, body) = fetch(&app, &path).await;
    assert_eq!((status, media.as_str()), (200, "image/png"), "{}", String::from_utf8_lossy(&body));
    let (width, height, pixels) = decode(&body);
    assert_eq!((width, height), (640, 360));
    let colours: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
    assert!(colours.len() > 20, "a blank image has {} colours", colours.len());
    let line = pixels.chunks(3).filter(|p| *p == LINE).count();
    assert!(line > 200, "the data line covers {line} pixels");

    // The same request for a window without deployments draws the frame but no line.
    let empty = format!("/charts/lead-time.png?{}&interval=day&width=640&height=360", window(24.0 * 30.0, 24.0 * 35.0));
    let (status, _, body) = fetch(&app, &empty).await;
    assert_eq!(status, 200);
    let (_, _, pixels) = decode(&body);
    assert_eq!(pixels.chunks(3).filter(|p| *p == LINE).count(), 0, "no data, no line");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_slo_burn_chart_plots_the_burn_rate_of_each_bucket() {
    let toml = "[[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.0\n";
    let Some(app) = TestApp::spawn_with_config(Backend::Sqlite, toml, &[]).await else { return };
    // Day 1: 1 % errors (burn 1); day 2: no traffic (a gap); day 3: 5 % errors (burn 5).
    let sli = |hours: f64, good: u64| json!({"type": "sli", "service": "checkout", "at": t(hours), "good": good, "total": 1000});
    app.ingest(json!([sli(24.0 + 3.0, 990), sli(72.0 + 3.0, 950)])).await;
    let path = format!("/charts/slo-burn.svg?slo=checkout-availability&{}&interval=day", window(24.0, 4.0 * 24.0));
    let (status, media, body) = fetch(&app, &path).await;
    let text = String::from_utf8(body).expect("utf-8");
    assert_eq!((status, media.as_str()), (200, "image/svg+xml"), "{text}");
    let svg = roxmltree::Document::parse(&text).expect("well-formed XML");
    let texts: Vec<&str> = svg.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    for expected in ["SLO burn rate: checkout-availability", "burn rate (× the error budget)", "within budget"] {
        assert!(texts.iter().any(|t| t.contains(expected)), "no text {expected:?} in {texts:?}");
    }
    // Two single points, no line between them across the day without traffic.
    let points = svg.descendants().filter(|n| n.has_tag_name("circle") && n.attribute("stroke") == Some(LINE_SVG)).count();
    let lines = svg.descendants().filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(LINE_SVG)).count();
    assert_eq!(points, 2, "{text}");
    assert_eq!(lines, 2, "each single point is its own run");
}

on_both!(bad_chart_parameters_are_problems_that_name_the_parameter, |app| {
    let cases = [
        ("/charts/lead-time.svg?width=199", 400, "?width", "width below 200"),
        ("/charts/lead-time.svg?width=2001", 400, "?width", "width above 2000"),
        ("/charts/lead-time.png?height=149", 400, "?height", "height below 150"),
        ("/charts/lead-time.png?height=1501", 400, "?height", "height above 1500"),
        ("/charts/lead-time.svg?width=wide", 400, "?width", "width not a number"),
        ("/charts/lead-time.svg?interval=year", 400, "?interval", "unknown interval"),
        ("/charts/lead-time.svg?from=yesterday", 400, "?from", "unreadable from"),
        ("/charts/lead-time.svg?from=now-1d&to=now-2d", 400, "?from", "from after to"),
        ("/charts/lead-time.svg?colour=red", 400, "?colour", "unknown parameter"),
        ("/charts/lead-time.svg?benchmarks=2020", 400, "?benchmarks", "unknown benchmark year"),
        ("/charts/lead-time.svg?interval=day&from=now-3000d", 400, "?interval", "too many buckets"),
        ("/charts/slo-burn.svg", 400, "?slo", "slo-burn without an slo"),
        ("/charts/slo-burn.svg?slo=nope", 400, "?slo", "an slo that is not configured"),
        ("/charts/slo-burn.svg?slo=x&service=checkout", 400, "?service", "slo-burn takes its service from the SLO"),
        ("/charts/lead-time.gif", 404, "", "unknown format"),
        ("/charts/lead_time.svg", 404, "", "unknown chart"),
    ];
    for (path, expected, pointer, why) in cases {
        let (status, media, body) = fetch(&app, path).await;
        assert_eq!(status, expected, "{why}: {path}");
        assert_eq!(media, "application/problem+json", "{why}: {path}");
        let problem: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(problem["status"], expected, "{why}: {problem}");
        if !pointer.is_empty() {
            assert_eq!(problem["errors"][0]["pointer"], pointer, "{why}: {problem}");
        }
    }
});
