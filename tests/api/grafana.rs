//! Grafana without Grafana: every dashboard's every query runs against a pacer serving the demo
//! history, on SQLite and on PostgreSQL — each Infinity target (panels, annotations, variables)
//! fetched as Grafana would fetch it, with the dashboard's variables substituted, its root
//! selector found and every declared column present in every row with its declared type; each
//! PromQL expression checked to name only metrics pacer exposes — and the compose file,
//! provisioning and dashboards agree.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

use crate::on_both;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The Infinity plugin's id, as dashboards, provisioning and compose name it.
const INFINITY: &str = "yesoreyeram-infinity-datasource";

/// The read token the test pacer requires, as the provisioned Infinity datasource would send it.
const READ_TOKEN: &str = "dashboards-read-token";

fn dashboards() -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(Path::new(ROOT).join("dashboards")).expect("dashboards/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("read");
            all.push((path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned(), serde_json::from_str(&text).expect("valid JSON")));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(all.len(), 6, "the six dashboards are there");
    all
}

/// Every query of a dashboard, with where it sits: panel targets, annotation targets, and
/// variables (an Infinity variable's query is its `infinityQuery`).
fn queries(dashboard: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            found.push((format!("panel {}", panel["title"]), target.clone()));
        }
    }
    for annotation in dashboard["annotations"]["list"].as_array().into_iter().flatten() {
        if annotation["target"].is_object() {
            found.push((format!("annotation {}", annotation["name"]), annotation["target"].clone()));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        let mut query = match &variable["query"]["infinityQuery"] {
            Value::Object(_) => variable["query"]["infinityQuery"].clone(),
            _ => variable["query"].clone(),
        };
        query["datasource"] = variable["datasource"].clone();
        found.push((format!("variable {}", variable["name"]), query));
    }
    found
}

/// Every datasource uid a dashboard refers to.
fn uids(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(uid) = map.get("datasource").and_then(|d| d["uid"].as_str()) {
                out.insert(uid.to_owned());
            }
            map.values().for_each(|v| uids(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| uids(v, out)),
        _ => {}
    }
}

/// The `pacer_…` metric names a PromQL expression uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("pacer_") {
        let name: String = rest[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[start + name.len()..];
        names.push(name);
    }
    names
}

/// The value at a selector: empty for the whole answer, or a dotted path of object keys (the
/// subset of Infinity's backend selectors — GJSON and JSONata — the dashboards use). `None` when
/// the path is absent; anything beyond the subset is an error that fails the test, so a
/// dashboard cannot rely on a selector this check does not understand.
fn select<'a>(value: &'a Value, selector: &str) -> Result<Option<&'a Value>, String> {
    if selector.is_empty() {
        return Ok(Some(value));
    }
    let plain = selector.split('.').all(|key| !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !plain {
        return Err(format!("selector {selector:?} is outside the dotted-path subset"));
    }
    Ok(selector.split('.').try_fold(value, |at, key| at.as_object()?.get(key)))
}

/// [`select`], failing the test on a selector outside the subset.
fn found<'a>(value: &'a Value, selector: &str, what: &str) -> Option<&'a Value> {
    select(value, selector).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Substitutes Grafana's variables (`$name`, `${name}`, `${name:format}`) as Grafana would for
/// one choice of theirs; a variable the choice does not define is an error.
fn substitute(text: &str, choice: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let length = match after.strip_prefix('{') {
            Some(braced) => braced.find('}').map_or(after.len(), |end| end + 2),
            None => after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len()),
        };
        let variable = &rest[start..start + 1 + length];
        let value = choice.iter().find(|(name, _)| *name == variable).ok_or_else(|| format!("{text:?} uses {variable:?}, which the dashboards do not define"))?;
        out.push_str(&value.1);
        rest = &rest[start + 1 + length..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How a declared column type admits a JSON value (null is an empty cell in any column).
fn typed(kind: &str, value: &Value) -> bool {
    match (kind, value) {
        (_, Value::Null) | ("number", Value::Number(_)) | ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => true,
        ("timestamp" | "timestamp_epoch", Value::Number(_)) => true,
        ("timestamp", Value::String(text)) => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        _ => false,
    }
}

/// Fetches one Infinity target as Grafana would under `choice`, and checks its shape; returns the
/// rows it found.
async fn run_infinity(app: &crate::helpers::TestApp, target: &Value, choice: &[(&str, String)], what: &str) -> Vec<Value> {
    for (field, expected) in [("type", "json"), ("source", "url"), ("parser", "backend")] {
        assert_eq!(target[field].as_str(), Some(expected), "{what}: {field}");
    }
    let path = target["url"].as_str().expect("url");
    assert!(path.starts_with("/api/v1/"), "{what}: {path:?} is not a path of pacer's JSON API under the datasource URL");
    assert_eq!(target["url_options"]["method"].as_str(), Some("GET"), "{what}: method");
    let params: Vec<(String, String)> = target["url_options"]["params"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["key"].as_str().expect("param key").to_owned(), substitute(p["value"].as_str().expect("param value"), choice).unwrap_or_else(|e| panic!("{what}: {e}"))))
        .collect();
    let path = substitute(path, choice).unwrap_or_else(|e| panic!("{what}: {e}"));
    let response = app.client.get(app.url(&path)).query(&params).bearer_auth(READ_TOKEN).send().await.expect("request");
    let status = response.status();
    let answer: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{what}: GET {path} {params:?}: {answer}");
    let root = target["root_selector"].as_str().unwrap_or("");
    let rows = match found(&answer, root, what) {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        Some(other) => panic!("{what}: root selector {root:?} finds {other}, neither rows nor a row"),
        None => panic!("{what}: root selector {root:?} not found in {answer}"),
    };
    let columns = target["columns"].as_array().filter(|c| !c.is_empty()).unwrap_or_else(|| panic!("{what}: no declared columns"));
    for (index, row) in rows.iter().enumerate() {
        for column in columns {
            let selector = column["selector"].as_str().expect("selector");
            let kind = column["type"].as_str().expect("type");
            let value = found(row, selector, what).unwrap_or_else(|| panic!("{what}: row {index} has no {selector:?}: {row}"));
            assert!(typed(kind, value), "{what}: row {index}: {selector:?} should be {kind} but is {value}");
        }
    }
    rows
}

/// What a dashboard shows with every variable at "All" over 90 days, and with a chosen team and
/// services (filled in from the variables' own answers).
fn choices(now_ms: i64, team: &str, services: &str) -> [Vec<(&'static str, String)>; 2] {
    let base = |team: &str, service: &str| {
        vec![
            ("${__from}", (now_ms - 90 * 86_400_000).to_string()),
            ("${__to}", now_ms.to_string()),
            ("$environment", "production".to_owned()),
            ("$team", team.to_owned()),
            ("${service:csv}", service.to_owned()),
        ]
    };
    [base("*", "*"), base(team, services)]
}

on_both!(
    every_dashboard_query_reads_a_demo_pacer_as_grafana_would,
    config = "read_token = \"dashboards-read-token\"\n\
              [[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\nseries = \"availability\"\n\
              [[rollback]]\npolicy = \"dry_run\"\n",
    |app| {
        let store = pacer::app::open_store(&app.database_url).await.expect("store");
        let spec = pacer_generator::Spec::demo(pacer_api::now());
        pacer::demo::load(&store, &spec, &pacer_collector::Normalizer::default()).await.expect("demo history");
        // Events through HTTP too, so ingestion counters exist: a commit, and a checkout deployment
        // that finished a minute ago followed by an alert, so a (dry-run) rollback decision exists.
        // The deployment is the test's own: the demo's latest one may be a rollback, which pacer
        // never rolls back.
        let now = pacer_api::now();
        let at = |ago_secs: i64| pacer_engine::calendar::rfc3339(now - ago_secs * 1000);
        for event in [
            json!({"type": "commit", "id": "http-commit", "committed_at": at(0)}),
            json!({"type": "deployment", "id": "http-deploy", "service": "checkout", "commit_sha": "http-commit",
                   "status": "success", "started_at": at(120), "finished_at": at(60)}),
        ] {
            app.ingest(event).await;
        }
        let alert = json!({"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "High5xxRate", "service": "checkout"}, "startsAt": at(30)}]});
        let decided: Value = app.client.post(app.url("/webhooks/alertmanager")).json(&alert).send().await.expect("alert").json().await.expect("json");
        assert_eq!(decided["rollbacks"].as_array().map(Vec::len), Some(1), "{decided}");
        let unauthenticated = app.client.get(app.url("/api/v1/filters")).send().await.expect("request").status();
        assert_eq!(unauthenticated, 401, "the datasource needs the read token");

        let exposed = app.client.get(app.url("/metrics")).bearer_auth(READ_TOKEN).send().await.expect("metrics").text().await.expect("text");
        let families: BTreeSet<String> = exposed
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(|n| n.trim_end_matches("_total").to_owned())
            .collect();

        // The variables' own answers choose the team and services of the second pass.
        let filters: Value = app.client.get(app.url("/api/v1/filters")).bearer_auth(READ_TOKEN).send().await.expect("filters").json().await.expect("json");
        let first = |list: &str, n: usize| -> String {
            let names: Vec<&str> = filters[list].as_array().into_iter().flatten().filter_map(|v| v["name"].as_str()).take(n).collect();
            assert_eq!(names.len(), n, "the demo has {n} {list}: {filters}");
            names.join(",")
        };
        // Grafana's range ends when the panel loads: after everything above was written.
        let [all, chosen] = choices(pacer_api::now(), &first("teams", 1), &first("services", 2));

        let (mut infinity, mut promql) = (0, 0);
        for (file, dashboard) in dashboards() {
            assert!(dashboard["schemaVersion"].as_i64().is_some_and(|v| v >= 39), "{file}: schemaVersion");
            assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()), "{file}: uid");
            for (place, query) in queries(&dashboard) {
                let what = format!("{file} {place}");
                match query["datasource"]["type"].as_str().unwrap_or("") {
                    INFINITY => {
                        let rows = run_infinity(&app, &query, &all, &what).await;
                        let values = rows.iter().flat_map(|row| {
                            query["columns"].as_array().into_iter().flatten().filter(|c| !c["type"].as_str().is_some_and(|t| t.starts_with("timestamp")))
                                .filter_map(|c| found(row, c["selector"].as_str().unwrap_or(""), &what)).filter(|v| !v.is_null()).collect::<Vec<_>>()
                        });
                        assert!(values.count() > 0, "{what}: no data over 90 days of the demo with every variable at All");
                        run_infinity(&app, &query, &chosen, &format!("{what} (team and services chosen)")).await;
                        infinity += 1;
                    }
                    "prometheus" => {
                        let expr = query["expr"].as_str().or(query["query"].as_str()).expect("PromQL");
                        let names = metric_names(expr);
                        assert!(!names.is_empty(), "{what}: names no pacer metric");
                        for name in names {
                            let family = ["_bucket", "_count", "_sum", "_total"].iter().fold(name.clone(), |n, s| n.trim_end_matches(s).to_owned());
                            assert!(families.contains(&family), "{what}: {name} is not exposed by /metrics");
                        }
                        promql += 1;
                    }
                    other => panic!("{what}: the dashboards read pacer through Infinity or Prometheus, not {other:?}"),
                }
            }
        }
        println!("checked {infinity} Infinity targets and {promql} PromQL expressions");
        assert!(infinity >= 60 && promql >= 10, "checked {infinity} Infinity targets and {promql} PromQL expressions");
        // The JSON datasource protocol stays for its users.
        let legacy: Value = app
            .client
            .post(app.url("/grafana/annotations"))
            .bearer_auth(READ_TOKEN)
            .json(&json!({"range": {"from": "now-30d", "to": "now"}, "annotation": {"name": "Deployments", "query": "deployments"}}))
            .send()
            .await
            .expect("annotations")
            .json()
            .await
            .expect("json");
        assert!(legacy[0]["time"].is_i64() && legacy[0]["title"].is_string(), "{legacy}");
    }
);

fn load_yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}")).remove(0)
}

/// The datasource types Grafana 12 ships; any other one needs its plugin installed.
const BUILT_IN: [&str; 3] = ["grafana", "prometheus", "grafana-postgresql-datasource"];

#[test]
fn compose_provisioning_and_dashboards_agree() {
    let compose = load_yaml("docker-compose.yml");
    let services = compose["services"].as_hash().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(Yaml::as_str).collect();
    for expected in ["postgres", "pacer", "prometheus", "alertmanager", "grafana", "maildev"] {
        assert!(names.contains(expected), "compose runs {expected}");
    }
    for (name, service) in services {
        let name = name.as_str().unwrap_or("");
        let depends: Vec<&str> = match &service["depends_on"] {
            Yaml::Array(list) => list.iter().filter_map(Yaml::as_str).collect(),
            Yaml::Hash(map) => map.keys().filter_map(Yaml::as_str).collect(),
            _ => Vec::new(),
        };
        for dependency in depends {
            assert!(names.contains(dependency), "{name} depends on an undefined service {dependency}");
        }
        for volume in service["volumes"].as_vec().into_iter().flatten().filter_map(Yaml::as_str) {
            if let Some(host) = volume.strip_prefix("./") {
                let host = host.split(':').next().unwrap_or("");
                assert!(Path::new(ROOT).join(host).exists(), "{name} mounts ./{host}, which is not in the repository");
            }
        }
    }
    let pacer_env = &services[&Yaml::from_str("pacer")]["environment"];
    assert!(pacer_env["PACER_DATABASE_URL"].as_str().is_some_and(|u| u.contains("@postgres:")), "pacer uses the compose PostgreSQL");

    // Grafana: a Grafana 12 image, the provisioning and dashboards folders mounted where the
    // provider reads them, and every plugin the datasources need installed before provisioning.
    let grafana = &services[&Yaml::from_str("grafana")];
    let image = grafana["image"].as_str().expect("grafana image");
    assert!(image.starts_with("grafana/grafana:12."), "compose runs Grafana 12, not {image}");
    let mounts: Vec<(&str, &str)> =
        grafana["volumes"].as_vec().into_iter().flatten().filter_map(Yaml::as_str).filter_map(|v| v.split_once(':')).collect();
    let mounted_at = |host: &str| mounts.iter().find(|(h, _)| *h == host).map(|(_, inside)| inside.trim_end_matches(":ro"));
    assert_eq!(mounted_at("./dashboards/provisioning"), Some("/etc/grafana/provisioning"), "compose mounts the provisioning folder");
    let provider = load_yaml("dashboards/provisioning/dashboards/pacer.yml");
    let provider_path = provider["providers"][0]["options"]["path"].as_str().expect("provider path");
    assert_eq!(mounted_at("./dashboards"), Some(provider_path), "the dashboards folder is mounted where the provider reads");
    let installed: BTreeSet<&str> = ["GF_PLUGINS_PREINSTALL_SYNC", "GF_PLUGINS_PREINSTALL"]
        .iter()
        .filter_map(|k| grafana["environment"][*k].as_str())
        .flat_map(|list| list.split(','))
        .map(|p| p.trim().split('@').next().unwrap_or(""))
        .collect();

    let provisioned = load_yaml("dashboards/provisioning/datasources/pacer.yml");
    let datasources = provisioned["datasources"].as_vec().expect("datasources");
    let provisioned_uids: BTreeSet<&str> = datasources.iter().filter_map(|d| d["uid"].as_str()).collect();
    for datasource in datasources {
        let kind = datasource["type"].as_str().expect("type");
        assert!(BUILT_IN.contains(&kind) || installed.contains(kind), "datasource type {kind} needs its plugin installed by compose");
    }
    let infinity = datasources.iter().find(|d| d["type"].as_str() == Some(INFINITY)).expect("an Infinity datasource is provisioned");
    let base = infinity["url"].as_str().expect("the Infinity datasource's URL, which the dashboards' paths follow");
    let allowed: Vec<&str> = infinity["jsonData"]["allowedHosts"].as_vec().into_iter().flatten().filter_map(Yaml::as_str).collect();
    assert!(allowed.contains(&base), "the Infinity datasource allows its own host {base} (allowed: {allowed:?})");
    let host = base.trim_start_matches("http://").split(':').next().unwrap_or("");
    assert!(names.contains(host), "the Infinity datasource reaches the compose service {host}");

    let mut checked = 0;
    for (file, dashboard) in dashboards() {
        let mut used = BTreeSet::new();
        uids(&dashboard, &mut used);
        used.remove("-- Grafana --");
        for uid in &used {
            assert!(provisioned_uids.contains(uid.as_str()), "{file} uses datasource {uid:?}, which is not provisioned");
        }
        // An annotation maps the columns its query declares onto Grafana's event fields.
        for annotation in dashboard["annotations"]["list"].as_array().into_iter().flatten().filter(|a| a["target"].is_object()) {
            let columns: BTreeSet<&str> = annotation["target"]["columns"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect();
            assert!(columns.contains("time"), "{file} annotation {}: a time column", annotation["name"]);
            for (field, mapping) in annotation["mappings"].as_object().into_iter().flatten() {
                let column = mapping["value"].as_str().unwrap_or("");
                assert!(mapping["source"] == "field" && columns.contains(column), "{file} annotation {}: {field} maps to {column:?}, not a declared column", annotation["name"]);
            }
        }
        for (place, query) in queries(&dashboard) {
            let uid = query["datasource"]["uid"].as_str().unwrap_or("");
            let kind = datasources.iter().find(|d| d["uid"].as_str() == Some(uid)).and_then(|d| d["type"].as_str());
            assert_eq!(query["datasource"]["type"].as_str(), kind, "{file} {place}: datasource type matches the provisioned {uid:?}");
            checked += 1;
        }
    }
    assert!(checked > 70, "checked {checked} queries");
    let datasource_hosts: Vec<&str> = datasources.iter().filter_map(|d| d["url"].as_str()).collect();
    for host in ["pacer", "prometheus", "postgres"] {
        assert!(datasource_hosts.iter().any(|u| u.contains(host)) && names.contains(host), "a datasource reaches the compose service {host}");
    }
    let prometheus = std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus.yml")).expect("prometheus.yml");
    assert!(prometheus.contains("pacer:3000") && prometheus.contains("alertmanager:9093"), "Prometheus scrapes pacer and alerts Alertmanager");
    let alertmanager = std::fs::read_to_string(Path::new(ROOT).join("deploy/alertmanager.yml")).expect("alertmanager.yml");
    assert!(alertmanager.contains("http://pacer:3000/webhooks/alertmanager"), "Alertmanager posts to pacer");
}

#[test]
fn the_selector_subset_finds_dotted_paths_and_refuses_the_rest() {
    let answer = json!({"buckets": [{"lead_time": {"median_seconds": 60.0}}], "level": null});
    assert_eq!(select(&answer, ""), Ok(Some(&answer)), "the whole answer");
    assert_eq!(select(&answer["buckets"][0], "lead_time.median_seconds"), Ok(Some(&json!(60.0))), "nested");
    assert_eq!(select(&answer, "level"), Ok(Some(&Value::Null)), "null is present");
    assert_eq!(select(&answer, "lead_time.p90_seconds"), Ok(None), "absent");
    assert!(select(&answer, "$.buckets[0]").is_err(), "JSONata is beyond the subset");
    assert!(select(&answer, "buckets..lead_time").is_err(), "GJSON's empty keys are beyond the subset");
    assert!(typed("timestamp", &json!("2026-11-22T09:00:00Z")) && typed("timestamp", &json!(1_795_334_400_000_i64)));
    let choice = [("$team", "*".to_owned()), ("${service:csv}", "a,b".to_owned())];
    assert_eq!(substitute("t=$team&s=${service:csv}", &choice), Ok("t=*&s=a,b".to_owned()));
    assert!(substitute("$teams", &choice).is_err(), "a longer name is another variable");
    assert!(substitute("${service}", &choice).is_err(), "another format is another substitution");
    assert!(!typed("timestamp", &json!("yesterday")) && !typed("number", &json!("1")) && !typed("string", &json!(1)));
}

on_both!(
    the_api_additions_the_dashboards_use_narrow_and_refuse_as_documented,
    config = "[[rollback]]\npolicy = \"dry_run\"\n[teams]\npayments = [\"checkout\"]\n",
    |app| {
        let at = |ago_secs: i64| pacer_engine::calendar::rfc3339(pacer_api::now() - ago_secs * 1000);
        app.ingest(json!([
            {"type": "deployment", "id": "c1", "service": "checkout", "status": "success", "finished_at": at(600)},
            {"type": "deployment", "id": "c2", "service": "checkout", "status": "success", "finished_at": at(60)},
            {"type": "deployment", "id": "s0", "service": "search", "status": "success", "finished_at": at(900)},
            {"type": "deployment", "id": "s1", "service": "search", "status": "success", "finished_at": at(300)},
        ]))
        .await;
        // Checkout's decision first, then search's: the newest decision is search's.
        for service in ["checkout", "search"] {
            let alert = json!({"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "High5xxRate", "service": service}, "startsAt": at(30)}]});
            let response = app.client.post(app.url("/webhooks/alertmanager")).json(&alert).send().await.expect("alert");
            assert_eq!(response.status(), 200);
        }
        let reader = &app;
        let listed = |query: &str| {
            let path = format!("/api/v1/rollbacks?{query}");
            async move { reader.get(&path).await["items"].as_array().cloned().unwrap_or_default().iter().map(|r| r["deployment_id"].clone()).collect::<Vec<_>>() }
        };
        assert_eq!(listed("").await, vec![json!("s1"), json!("c2")], "every decision without a filter, newest first");
        assert_eq!(listed("service=checkout,search&from=now-1h").await, vec![json!("s1"), json!("c2")], "a csv list of services and a window");
        assert_eq!(listed("team=payments&service=*").await, vec![json!("c2")], "a team, every service");
        assert_eq!(listed("service=search").await, vec![json!("s1")], "another service");
        assert_eq!(listed("service=checkout&limit=1").await, vec![json!("c2")], "the filters apply before the limit");
        assert_eq!(listed("limit=1").await, vec![json!("s1")], "the limit alone keeps the newest");
        assert!(listed("environment=staging").await.is_empty(), "another environment");
        assert!(listed("from=now-5m&to=now-2m").await.is_empty(), "a window before the decision");

        let by_service = app.get("/api/v1/dora?by=service&from=now-1d&service=*").await;
        let rows: Vec<(&str, u64)> = by_service["by_service"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["service"].as_str()?, r["deployment_frequency"]["deployments"].as_u64()?)))
            .collect();
        assert_eq!(rows, vec![("checkout", 2), ("search", 2)], "{by_service}");
        assert_eq!(by_service["deployment_frequency"]["deployments"], 4, "the whole scope's summary stays");
        assert!(app.get("/api/v1/dora").await.get("by_service").is_none(), "by_service only when asked");
        let filters = app.get("/api/v1/filters").await;
        assert_eq!(filters["teams"], json!([{"name": "payments"}]), "{filters}");
        assert_eq!(filters["services"], json!([{"name": "checkout"}, {"name": "search"}]), "{filters}");
        assert_eq!(filters["environments"], json!([{"name": "production"}]), "{filters}");
        let daily = app.get("/api/v1/dora/series?metric=deployment_frequency&interval=auto&from=now-3d").await;
        assert_eq!(daily["interval"], "day", "auto picks days for a short window");
        for path in ["/charts/lead-time.svg?interval=auto&from=now-3d", "/?interval=auto"] {
            let response = app.client.get(app.url(path)).send().await.expect("request");
            assert_eq!(response.status(), 200, "{path}: the charts and the page take auto as the series do");
        }

        for (path, parameter) in [
            ("/api/v1/dora?by=team", "?by"),
            ("/api/v1/dora/series?interval=1h", "?interval"),
            ("/charts/lead-time.svg?interval=1h", "?interval"),
            ("/?interval=1h", "?interval"),
            ("/api/v1/rollbacks?team=nobody", "?team"),
            ("/api/v1/rollbacks?benchmarks=2024", "?benchmarks"),
            ("/api/v1/filters?service=checkout", "?service"),
        ] {
            let response = app.client.get(app.url(path)).send().await.expect("request");
            assert_eq!(response.status(), 400, "{path}");
            assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
            let problem: Value = response.json().await.expect("problem");
            assert_eq!(problem["errors"][0]["pointer"], parameter, "{path}: {problem}");
        }
    }
);
