//! Bearer tokens on write and read endpoints.

use serde_json::json;

use crate::deploy;
use crate::helpers::{Backend, TestApp};

const WRITE: &str = "write-token-0123456789";
const READ: &str = "read-token-0123456789";

#[tokio::test]
async fn writes_need_the_api_token_when_one_is_configured() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, &[("PACER_API_TOKEN", WRITE)]).await else { return };
    let body = json!(deploy("d1", "shop", "a", 1.0));
    for (header, expected) in [(None, 401), (Some("Bearer wrong-token-0123456789"), 401), (Some("Basic abc"), 401), (Some(&*format!("Bearer {WRITE}")), 200)] {
        let mut request = app.client.post(app.url("/api/v1/events")).json(&body);
        if let Some(value) = header {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status().as_u16(), expected, "{header:?}");
        if expected == 401 {
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            assert_eq!(response.headers()["content-type"], "application/problem+json");
        }
    }
    assert_eq!(app.dora("from=now-3650d").await["deployment_frequency"]["deployments"], 1, "reads stay public without a read token");
}

#[tokio::test]
async fn reads_need_a_token_when_a_read_token_is_configured_but_health_does_not() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, &[("PACER_API_TOKEN", WRITE), ("PACER_READ_TOKEN", READ)]).await else { return };
    let get = |token: Option<&'static str>| {
        let mut request = app.client.get(app.url("/api/v1/dora"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(get(None).await.expect("request").status(), 401);
    assert_eq!(get(Some(READ)).await.expect("request").status(), 200);
    assert_eq!(get(Some(WRITE)).await.expect("request").status(), 200);
    let response = app.client.post(app.url("/api/v1/events")).bearer_auth(READ).json(&json!(deploy("d", "s", "a", 1.0))).send().await.expect("request");
    assert_eq!(response.status(), 403, "the read token is known but cannot write");
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.client.get(app.url(path)).send().await.expect("request").status(), 200, "{path}");
    }
}
