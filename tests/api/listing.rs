//! Paged listings of deployments and incidents.

use serde_json::json;

use crate::{deploy, on_both, t};

on_both!(deployments_page_newest_first_without_repeats, |app| {
    let events: Vec<_> = (0..5).map(|i| deploy(&format!("d{i}"), "shop", &format!("c{i}"), f64::from(i))).collect();
    app.ingest(json!(events)).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/deployments?limit=2".to_owned();
    loop {
        let page = app.get(&path).await;
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/deployments?limit=2&cursor={}", cursor.replace(':', "%3A")),
            None => break,
        }
    }
    assert_eq!(seen, ["d4", "d3", "d2", "d1", "d0"]);
});

on_both!(listings_filter_by_service_status_and_window, |app| {
    app.ingest(json!([
        deploy("a1", "api", "x", 1.0),
        deploy("w1", "web", "y", 2.0),
        {"type": "deployment", "id": "w2", "service": "web", "status": "failure", "started_at": t(3.0), "finished_at": t(3.1)},
        {"type": "incident", "id": "i1", "service": "web", "opened_at": t(4.0)},
        {"type": "incident", "id": "i2", "service": "api", "opened_at": t(5.0)},
    ]))
    .await;
    let web = app.get("/api/v1/deployments?service=web").await;
    assert_eq!(web["items"].as_array().map(Vec::len), Some(2));
    let failed = app.get("/api/v1/deployments?status=failure").await;
    assert_eq!(failed["items"][0]["id"], "w2");
    assert_eq!(failed["items"][0]["changeset"], serde_json::Value::Null, "only successful deployments have changesets");
    let early = app.get(&format!("/api/v1/deployments?from={}&to={}", t(0.0).replace(':', "%3A"), t(1.5).replace(':', "%3A"))).await;
    assert_eq!(early["items"].as_array().map(Vec::len), Some(1));
    let api_incidents = app.get("/api/v1/incidents?service=api").await;
    assert_eq!(api_incidents["items"][0]["id"], "i2");
    assert_eq!(api_incidents["items"].as_array().map(Vec::len), Some(1));
});
