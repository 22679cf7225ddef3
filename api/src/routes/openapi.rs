//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of every endpoint pacer serves.
//!
//! The document is one hand-written file, `openapi.json` beside this module, compiled into the
//! binary. It is the contract: request and response schemas are exact (`additionalProperties:
//! false` on what pacer writes), so a field added to a response without its description fails
//! the conformance test (`tests/api/conformance.rs`, schemathesis against a running pacer). The
//! unit test below keeps the document and the routers in step: every `.route(…)` of this crate
//! is documented with its method, and nothing is documented that no router serves.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// The document's route; public like the health probes, so tools can fetch it without a token.
pub fn router() -> Router {
    Router::new().route("/api/v1/openapi.json", get(document))
}

async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::DOCUMENT;

    /// Every `(METHOD, path)` the route modules declare, read from their source: each
    /// route is written `.route("<path>", <method>(<handler>))`.
    fn routed() -> BTreeSet<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("routes");
        let mut routes = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).expect("api/src/routes is readable") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("source is readable");
            for call in source.split(".route(\"").skip(1) {
                let (route, rest) = call.split_once('"').expect("a route path ends with a quote");
                let rest = rest.trim_start_matches([',', ' ']);
                let method = rest.split_once('(').map(|(m, _)| m.trim()).expect("a method router follows the path");
                if !route.starts_with('/') {
                    continue; // the pattern in this module's own comments
                }
                routes.insert((method.to_ascii_uppercase(), route.to_owned()));
            }
        }
        routes
    }

    fn documented() -> BTreeSet<(String, String)> {
        let document: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let paths = document["paths"].as_object().expect("the document has paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = item.as_object().expect("a path item is an object");
                methods.keys().map(move |m| (m.to_ascii_uppercase(), path.clone()))
            })
            .collect()
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_is_served() {
        let routed = routed();
        let documented = documented();
        assert!(routed.len() > 30, "expected the routers' routes but found only {routed:?}");
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&routed).collect();
        assert!(undocumented.is_empty(), "routes missing from openapi.json: {undocumented:?}");
        assert!(unserved.is_empty(), "openapi.json documents routes no router serves: {unserved:?}");
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let document: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let mut pending = vec![&document];
        let mut checked = 0;
        while let Some(value) = pending.pop() {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.strip_prefix('#').expect("references are local");
                        assert!(document.pointer(pointer).is_some(), "{target} resolves to nothing");
                        checked += 1;
                    }
                    pending.extend(map.values());
                }
                Value::Array(items) => pending.extend(items),
                _ => {}
            }
        }
        assert!(checked > 50, "expected many references but found {checked}");
    }

    #[test]
    fn every_operation_documents_its_problem_responses() {
        let document: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = operation["responses"].as_object().expect("responses");
                assert!(responses.keys().any(|c| c.starts_with('2')), "{method} {path} documents no success");
                let guarded = operation["security"].as_array().is_some_and(|s| !s.is_empty());
                if guarded {
                    assert!(responses.contains_key("401"), "{method} {path} takes a token but documents no 401");
                }
            }
        }
    }
}
