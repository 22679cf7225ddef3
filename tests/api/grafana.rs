//! Grafana without Grafana: every dashboard's every query runs against a pacer serving the demo
//! history on PostgreSQL — JSON-datasource targets through `/grafana/query`, PromQL targets
//! checked to name only metrics pacer exposes, SQL targets executed on the database — and the
//! compose file and provisioning agree with the dashboards.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use sqlx::Connection;
use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::{Backend, CleanupGuard, TestApp, fresh_database};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

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
    assert!(all.len() >= 5, "the dashboards are there");
    all
}

/// Every query of a dashboard: panel targets, annotation targets, and variables.
fn queries(dashboard: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            found.push((format!("panel {:?}", panel["title"]), target.clone()));
        }
    }
    for annotation in dashboard["annotations"]["list"].as_array().into_iter().flatten() {
        if annotation["target"].is_object() {
            found.push((format!("annotation {:?}", annotation["name"]), annotation["target"].clone()));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        let mut query = variable["query"].clone();
        query["datasource"] = variable["datasource"].clone();
        found.push((format!("variable {:?}", variable["name"]), query));
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

fn substitute(text: &str) -> String {
    text.replace("$environment", "production").replace("$team", "all").replace("$service", "all").replace("$slo", ".*")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_demo_pacer() {
    let Some((url, _guard)) = fresh_database(Backend::Postgres).await else { return };
    let toml = "[[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\nseries = \"availability\"\n\
                [[rollback]]\npolicy = \"dry_run\"\n";
    let app = TestApp::start(url.clone(), CleanupGuard::none(), Some(toml), &[]).await;
    let store = pacer::app::open_store(&url).await.expect("store");
    let spec = pacer_generator::Spec::demo(pacer_api::now());
    pacer::demo::load(&store, &spec, &pacer_collector::Normalizer::default()).await.expect("demo history");
    // Events through HTTP too, so ingestion counters exist: a commit, and a checkout deployment
    // that finished a minute ago followed by an alert, so a (dry-run) rollback decision exists.
    // The deployment is the test's own: the demo's latest one may be a rollback, which pacer
    // never rolls back.
    let now = pacer_api::now();
    let at = |ago_secs: i64| pacer_engine::calendar::rfc3339(now - ago_secs * 1000);
    app.ingest(json!({"type": "commit", "id": "http-commit", "committed_at": at(0)})).await;
    app.ingest(json!({"type": "deployment", "id": "http-deploy", "service": "checkout", "commit_sha": "http-commit",
                      "status": "success", "started_at": at(120), "finished_at": at(60)}))
        .await;
    let starts = at(30);
    let alert = json!({"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "High5xxRate", "service": "checkout"}, "startsAt": starts}]});
    let decided: Value = app.client.post(app.url("/webhooks/alertmanager")).json(&alert).send().await.expect("alert").json().await.expect("json");
    assert_eq!(decided["rollbacks"].as_array().map(Vec::len), Some(1), "{decided}");

    let exposed = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    let families: BTreeSet<String> = exposed
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n.trim_end_matches("_total").to_owned())
        .collect();
    let mut db = sqlx::PgConnection::connect(&url).await.expect("connect");
    let mut checked = 0;
    for (file, dashboard) in dashboards() {
        assert!(dashboard["schemaVersion"].as_i64().is_some_and(|v| v >= 39), "{file}: schemaVersion");
        assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()), "{file}: uid");
        for (place, query) in queries(&dashboard) {
            let uid = query["datasource"]["uid"].as_str().unwrap_or("").to_owned();
            let what = format!("{file} {place}");
            match uid.as_str() {
                "pacer" if query["target"].is_string() && query.get("refId").is_some() => {
                    let mut target = query.clone();
                    target["payload"] = serde_json::from_str(&substitute(&query["payload"].to_string())).expect("payload");
                    let request = json!({"range": {"from": "now-90d", "to": "now"}, "targets": [target]});
                    let answer: Value = app.client.post(app.url("/grafana/query")).json(&request).send().await.expect("query").json().await.expect("json");
                    let result = &answer[0];
                    let has_data = result["datapoints"].as_array().is_some_and(|p| p.iter().any(|p| !p[0].is_null()))
                        || result["rows"].as_array().is_some_and(|r| !r.is_empty());
                    assert!(has_data, "{what}: no data in {answer}");
                }
                "pacer" => {
                    let request = json!({"payload": {"target": query["target"]}});
                    let answer: Value = app.client.post(app.url("/grafana/variable")).json(&request).send().await.expect("variable").json().await.expect("json");
                    assert!(answer.as_array().is_some_and(|v| !v.is_empty()), "{what}: no values");
                }
                "prometheus" => {
                    let expr = query["expr"].as_str().or(query["query"].as_str()).expect("PromQL");
                    let names = metric_names(expr);
                    assert!(!names.is_empty(), "{what}: names no pacer metric");
                    for name in names {
                        let family = ["_bucket", "_count", "_sum", "_total"].iter().fold(name.clone(), |n, s| n.trim_end_matches(s).to_owned());
                        assert!(families.contains(&family), "{what}: {name} is not exposed by /metrics");
                    }
                }
                "pacer-postgres" => {
                    let sql = substitute(query["rawSql"].as_str().expect("rawSql"))
                        .replace("$__timeFilter(time)", "time BETWEEN now() - interval '90 days' AND now()");
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).fetch_all(&mut db).await.unwrap_or_else(|e| panic!("{what}: {e}\n{sql}"));
                    assert!(!rows.is_empty(), "{what}: no rows");
                }
                other => panic!("{what}: unknown datasource {other:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "checked {checked} queries");
    let legacy: Value = app
        .client
        .post(app.url("/grafana/annotations"))
        .json(&json!({"range": {"from": "now-30d", "to": "now"}, "annotation": {"name": "Deployments", "query": "deployments"}}))
        .send()
        .await
        .expect("annotations")
        .json()
        .await
        .expect("json");
    assert!(legacy[0]["time"].is_i64() && legacy[0]["title"].is_string(), "{legacy}");
    assert_eq!(app.client.get(app.url("/grafana/")).send().await.expect("health").status(), 200);
}

fn load_yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}")).remove(0)
}

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

    let provisioned = load_yaml("dashboards/provisioning/datasources/pacer.yml");
    let provisioned_uids: BTreeSet<String> = provisioned["datasources"].as_vec().expect("datasources").iter().filter_map(|d| d["uid"].as_str().map(str::to_owned)).collect();
    for (file, dashboard) in dashboards() {
        let mut used = BTreeSet::new();
        uids(&dashboard, &mut used);
        used.remove("-- Grafana --");
        for uid in used {
            assert!(provisioned_uids.contains(&uid), "{file} uses datasource {uid:?}, which is not provisioned");
        }
    }
    let datasource_hosts: Vec<String> = provisioned["datasources"].as_vec().into_iter().flatten().filter_map(|d| d["url"].as_str().map(str::to_owned)).collect();
    for host in ["pacer", "prometheus", "postgres"] {
        assert!(datasource_hosts.iter().any(|u| u.contains(host)) && names.contains(host), "a datasource reaches the compose service {host}");
    }
    let prometheus = std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus.yml")).expect("prometheus.yml");
    assert!(prometheus.contains("pacer:3000") && prometheus.contains("alertmanager:9093"), "Prometheus scrapes pacer and alerts Alertmanager");
    let alertmanager = std::fs::read_to_string(Path::new(ROOT).join("deploy/alertmanager.yml")).expect("alertmanager.yml");
    assert!(alertmanager.contains("http://pacer:3000/webhooks/alertmanager"), "Alertmanager posts to pacer");
}

