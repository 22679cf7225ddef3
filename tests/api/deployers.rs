//! Argo CD, Flux and Jenkins webhooks, driven by the shared fixtures: the deployments, incidents
//! and CI runs each yields, read back through the API; each one's token or signature (a bad one
//! is a 401 and stores nothing); a redelivery counted once; unknown fields ignored and optional
//! ones missing; a body that is no JSON a 400 problem. The Argo CD body is pacer's template from
//! the README, rendered over the fixture Application, so the published template and what pacer
//! accepts cannot drift apart.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha512;
use yaml_rust2::{Yaml, YamlLoader};

use crate::fixtures::FIXTURES;
use crate::helpers::TestApp;
use crate::on_both;
use crate::webhooks::{fixture, sign};

/// A fixture's JSON.
pub(crate) fn fixture_json(file: &str) -> Value {
    serde_json::from_str(&fixture(file)).expect("json")
}

/// Posts a body as is; returns the status, the media type and the JSON answer.
pub(crate) async fn post(app: &TestApp, path: &str, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> (u16, String, Value) {
    let request = headers.iter().fold(app.client.post(app.url(path)).header("content-type", "application/json"), |r, (name, value)| r.header(*name, *value));
    let response = request.body(body).send().await.expect("request");
    let status = response.status().as_u16();
    let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, media, response.json().await.unwrap_or(Value::Null))
}

/// The items of a listing.
async fn items(app: &TestApp, path: &str) -> Vec<Value> {
    app.get(path).await["items"].as_array().cloned().unwrap_or_default()
}

/// Asserts `(status, answer)` is a stored delivery with `accepted` new facts.
fn stored(status: u16, answer: &Value, accepted: u64, what: &str) {
    assert_eq!((status, &answer["ignored"], &answer["accepted"]), (200, &json!(false), &json!(accepted)), "{what}: {answer:#}");
}

// ---------------------------------------------------------------------------------------------
// Argo CD

/// The README's YAML block that holds `needle`, parsed (every document of it).
fn readme_yaml(needle: &str) -> Vec<Yaml> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let block = readme.split("```yaml\n").skip(1).filter_map(|b| b.split("```").next()).find(|b| b.contains(needle));
    let block = block.unwrap_or_else(|| panic!("the README has a YAML block with {needle}"));
    YamlLoader::load_from_str(block).unwrap_or_else(|e| panic!("the README's {needle} block is not YAML: {e}"))
}

/// The README's `argocd-notifications-cm` data, read as Argo CD reads it.
fn readme_configmap() -> Yaml {
    readme_yaml("name: argocd-notifications-cm").remove(0)["data"].clone()
}

/// The body of the `pacer` template as the README publishes it: the ConfigMap's
/// `template.pacer`, itself YAML, at `webhook.pacer.body`.
fn readme_template() -> String {
    let template = readme_configmap()["template.pacer"].as_str().expect("the README publishes template.pacer").to_owned();
    let template = YamlLoader::load_from_str(&template).expect("template.pacer is YAML").remove(0);
    assert_eq!(template["webhook"]["pacer"]["method"].as_str(), Some("POST"), "Argo CD's webhook defaults to GET");
    template["webhook"]["pacer"]["body"].as_str().expect("the template has a webhook body").to_owned()
}

/// The value at a Go template path (`.app.status.health`), null when missing.
fn at_path<'a>(vars: &'a Value, path: &str) -> &'a Value {
    path.split('.').filter(|s| !s.is_empty()).fold(vars, |v, key| v.get(key).unwrap_or(&Value::Null))
}

/// Renders the template's actions by hand, as Argo CD would over `vars`: each is `toJson <path>`
/// or `toJson (dig "key" … "default" <path>)` (Sprig's `dig`: the default when a key is missing).
fn render(template: &str, vars: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("an action ends") + start;
        let action = rest[start + 2..end].trim();
        let argument = action.strip_prefix("toJson ").unwrap_or_else(|| panic!("every action of pacer's template is toJson, not {action:?}"));
        let value = match argument.strip_prefix("(dig ").and_then(|a| a.strip_suffix(')')) {
            Some(dig) => {
                let words: Vec<&str> = dig.split_whitespace().collect();
                let (root, default) = (words[words.len() - 1], words[words.len() - 2].trim_matches('"'));
                let mut keys = words[..words.len() - 2].iter().map(|k| k.trim_matches('"'));
                let found = keys.try_fold(at_path(vars, root), |v, key| v.get(key));
                found.cloned().unwrap_or_else(|| json!(default))
            }
            None => at_path(vars, argument).clone(),
        };
        out.push_str(&value.to_string());
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The fixture Application with `changes` at JSON pointers, rendered through the README's template.
pub(crate) fn argocd_body(changes: &[(&str, Value)]) -> String {
    let mut app = fixture_json("argocd/application.synced-healthy.json");
    for (pointer, value) in changes {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        app.pointer_mut(parent).and_then(Value::as_object_mut).unwrap_or_else(|| panic!("no {parent}")).insert(key.to_owned(), value.clone());
    }
    render(&readme_template(), &json!({"app": app, "context": {"argocdUrl": "https://argocd.example.com"}}))
}

const ARGOCD: &str = r#"
[argocd]
token = "argocd-token-0123"
environments = { "test-lla" = "production" }
"#;
pub(crate) const ARGOCD_AUTH: (&str, &str) = ("authorization", "Bearer argocd-token-0123");
const ARGO_SHA: &str = "ea8759964626a583667a2bfd08f334ec2070040a";
const ARGO_DEPLOYMENT: &str = "argocd:argo-cd/velero-test/ea8759964626a583667a2bfd08f334ec2070040a@2024-03-05T07:33:03Z";
const MARCH_5: &str = "from=2024-03-05T00:00:00Z&to=2024-03-06T00:00:00Z";

on_both!(argo_cd_syncs_rendered_by_the_readme_template_are_deployments_and_degraded_health_an_incident, config = ARGOCD, |app| {
    let deployed = argocd_body(&[]);
    for (description, headers) in [("no token", vec![]), ("another token", vec![("authorization", "Bearer nope")])] {
        let (status, _, answer) = post(&app, "/webhooks/argocd", &headers, deployed.clone()).await;
        assert_eq!((status, &answer["type"]), (401, &json!("/problems/unauthorized")), "{description}: {answer:#}");
    }
    assert!(items(&app, "/api/v1/deployments?limit=500").await.is_empty(), "nothing stored without the token");

    let (status, _, answer) = post(&app, "/webhooks/argocd", &[ARGOCD_AUTH], deployed.clone()).await;
    stored(status, &answer, 1, "on-pacer-deployed");
    let (_, _, again) = post(&app, "/webhooks/argocd", &[ARGOCD_AUTH], deployed).await;
    assert_eq!(again["replayed"], true, "Argo CD's retry of the same body: {again:#}");
    // on-pacer-sync-succeeded of the same sync, sent while the application still progressed.
    let (status, _, answer) = post(&app, "/webhooks/argocd", &[ARGOCD_AUTH], argocd_body(&[("/status/health/status", json!("Progressing"))])).await;
    assert_eq!((status, &answer["accepted"], &answer["duplicates"]), (200, &json!(0), &json!(1)), "the same sync: {answer:#}");
    // The whole Application as the body: its many other fields are ignored.
    let whole = json!({"app": fixture_json("argocd/application.synced-healthy.json"), "context": {"argocdUrl": "https://argocd.example.com"}});
    let (status, _, answer) = post(&app, "/webhooks/argocd", &[ARGOCD_AUTH], whole.to_string()).await;
    assert_eq!((status, &answer["accepted"], &answer["duplicates"]), (200, &json!(0), &json!(1)), "the whole Application: {answer:#}");

    let deployments = items(&app, "/api/v1/deployments?limit=500").await;
    assert_eq!(deployments.len(), 1, "one sync is one deployment: {deployments:#?}");
    let d = &deployments[0];
    assert_eq!(
        (&d["id"], &d["service"], &d["environment"], &d["status"], &d["commit_sha"], &d["started_at"], &d["finished_at"], &d["url"]),
        (&json!(ARGO_DEPLOYMENT), &json!("velero-test"), &json!("production"), &json!("success"), &json!(ARGO_SHA), &json!("2024-03-05T07:33:03Z"),
         &json!("2024-03-05T07:33:04Z"), &json!("https://argocd.example.com/applications/velero-test")),
        "{d:#}"
    );
    assert_eq!(app.dora(MARCH_5).await["deployment_frequency"]["deployments"], 1);

    // on-pacer-health-degraded, after the sync: an incident blamed on that deployment.
    let degraded = argocd_body(&[("/status/health/status", json!("Degraded")), ("/status/health/lastTransitionTime", json!("2024-03-05T07:40:00Z"))]);
    let (status, _, answer) = post(&app, "/webhooks/argocd", &[ARGOCD_AUTH], degraded).await;
    stored(status, &answer, 1, "degraded");
    let incidents = items(&app, "/api/v1/incidents?limit=500").await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let i = &incidents[0];
    assert_eq!(
        (&i["id"], &i["deployment_id"], &i["service"], &i["opened_at"], &i["resolved_at"]),
        (&json!(format!("{ARGO_DEPLOYMENT}/degraded")), &json!(ARGO_DEPLOYMENT), &json!("velero-test"), &json!("2024-03-05T07:40:00Z"), &Value::Null),
        "{i:#}"
    );
    let dora = app.dora(MARCH_5).await;
    assert_eq!((&dora["change_failure_rate"]["deployments"], &dora["change_failure_rate"]["failed_deployments"]), (&json!(1), &json!(1)), "{dora:#}");

    // on-pacer-sync-failed of a later sync, of another revision.
    let other = "0123456789abcdef0123456789abcdef01234567";
    let failed = argocd_body(&[
        ("/status/operationState/phase", json!("Failed")),
        ("/status/operationState/startedAt", json!("2024-03-05T09:00:00Z")),
        ("/status/operationState/finishedAt", json!("2024-03-05T09:01:00Z")),
        ("/status/operationState/syncResult/revision", json!(other)),
        ("/status/health/status", json!("Healthy")),
    ]);
    let (status, _, answer) = post(&app, "/webhooks/argocd", &[ARGOCD_AUTH], failed).await;
    stored(status, &answer, 1, "failed sync");
    let failures = items(&app, "/api/v1/deployments?status=failure").await;
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(
        (&failures[0]["id"], &failures[0]["commit_sha"], &failures[0]["finished_at"]),
        (&json!(format!("argocd:argo-cd/velero-test/{other}@2024-03-05T09:00:00Z")), &json!(other), &json!("2024-03-05T09:01:00Z")),
        "{failures:#?}"
    );

    // Optional fields missing: no labels, no context, no health; another application.
    let mut bare = fixture_json("argocd/application.synced-healthy.json");
    bare["metadata"] = json!({"name": "cart"});
    bare["status"].as_object_mut().map(|s| s.remove("health"));
    let (status, _, answer) = post(&app, "/webhooks/argocd", &[ARGOCD_AUTH], bare.to_string()).await;
    stored(status, &answer, 1, "a bare Application without labels, namespace or health");
    let cart = items(&app, "/api/v1/deployments?service=cart").await;
    assert_eq!((cart.len(), &cart[0]["url"]), (1, &Value::Null), "{cart:#?}");

    // A template that substitutes without toJson breaks on a quote: a 400 problem, nothing stored.
    let broken = r#"{"app": {"metadata": {"name": "velero-test"}, "status": {"operationState": {"phase": "Failed", "message": "one or more objects failed to apply: "Deployment" is invalid"}}}}"#;
    let (status, media, problem) = post(&app, "/webhooks/argocd", &[ARGOCD_AUTH], broken).await;
    assert_eq!((status, media.as_str()), (400, "application/problem+json"), "{problem:#}");
    assert_eq!(items(&app, "/api/v1/deployments?limit=500&environment=production").await.len(), 3);
});

#[test]
fn the_readme_argo_cd_and_flux_setups_are_valid_and_the_template_json_for_any_application_state() {
    // An application never synced by Argo CD (no operationState) still renders: `dig` defaults.
    let mut app = fixture_json("argocd/application.synced-healthy.json");
    app["status"].as_object_mut().map(|s| s.remove("operationState"));
    let body = render(&readme_template(), &json!({"app": app, "context": {}}));
    let parsed: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!((&parsed["app"]["status"]["operationState"]["phase"], &parsed["context"]["argocdUrl"]), (&json!(""), &Value::Null));
    let data = readme_configmap();
    let service = YamlLoader::load_from_str(data["service.webhook.pacer"].as_str().expect("the pacer service")).expect("YAML").remove(0);
    assert!(service["url"].as_str().is_some_and(|u| u.ends_with("/webhooks/argocd")), "the service posts to pacer's route");
    let headers: Vec<(&str, &str)> = service["headers"].as_vec().into_iter().flatten().filter_map(|h| Some((h["name"].as_str()?, h["value"].as_str()?))).collect();
    assert!(headers.contains(&("Content-Type", "application/json")) && headers.contains(&("Authorization", "Bearer $pacer-token")), "{headers:?}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    for trigger in ["on-pacer-sync-succeeded", "on-pacer-sync-failed", "on-pacer-deployed", "on-pacer-health-degraded"] {
        let conditions = data[format!("trigger.{trigger}").as_str()].as_str().unwrap_or_else(|| panic!("the README defines {trigger}"));
        let conditions = YamlLoader::load_from_str(conditions).expect("YAML").remove(0);
        let sends = conditions[0]["send"].as_vec().into_iter().flatten().filter_map(Yaml::as_str).collect::<Vec<_>>();
        assert_eq!(sends, ["pacer"], "{trigger} sends pacer's template");
        let subscribed = readme.contains(&format!("subscribe.{trigger}.pacer")) || readme.contains(&format!("`{trigger}`"));
        assert!(subscribed, "the README subscribes applications to {trigger}");
    }
    // Flux: the provider signs, posts to pacer's route, and the alert forwards Kustomizations and HelmReleases.
    let flux = readme_yaml("kind: Provider");
    let provider = flux.iter().find(|d| d["kind"].as_str() == Some("Provider")).expect("a Provider");
    assert_eq!(provider["spec"]["type"].as_str(), Some("generic-hmac"));
    assert!(provider["spec"]["address"].as_str().is_some_and(|a| a.ends_with("/webhooks/flux")));
    let alert = flux.iter().find(|d| d["kind"].as_str() == Some("Alert")).expect("an Alert");
    let kinds: Vec<&str> = alert["spec"]["eventSources"].as_vec().into_iter().flatten().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(kinds, ["Kustomization", "HelmRelease"]);
}

// ---------------------------------------------------------------------------------------------
// Flux

/// The worked example's key (notification-controller's forwarder test).
const FLUX_KEY: &str = "7152fed34dd6149a7c75a276c510da27cb6f82b0";
const FLUX: &str = r#"
[flux]
secret = "7152fed34dd6149a7c75a276c510da27cb6f82b0"
environments = { "flux-system" = "production" }
"#;
const FLUX_SHA: &str = "802723078affd3eb2a3898630261ab3ca5d6dd40";

/// The webhook body notification-controller posts for a Kubernetes event a Flux controller
/// recorded (NOTES.md: annotations become metadata, Warning becomes error, the source component
/// the reporting controller), with `changes` applied to the body.
pub(crate) fn flux_body(file: &str, changes: &[(&str, Value)]) -> String {
    let event = fixture_json(file);
    let mut body = json!({
        "involvedObject": event["involvedObject"],
        "severity": if event["type"] == "Warning" { "error" } else { "info" },
        "timestamp": event["lastTimestamp"],
        "message": event["message"],
        "reason": event["reason"],
        "metadata": event["metadata"].get("annotations").cloned().unwrap_or_else(|| json!({})),
        "reportingController": event["source"]["component"],
    });
    for (key, value) in changes {
        body[*key] = value.clone();
    }
    body.to_string()
}

fn sha512_signature(body: &str) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(FLUX_KEY.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    format!("sha512={}", mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Posts a body to the Flux webhook, signed as the `generic-hmac` provider signs it.
pub(crate) async fn flux(app: &TestApp, body: &str) -> (u16, Value) {
    let signature = format!("sha256={}", sign(FLUX_KEY, body));
    let (status, _, answer) = post(app, "/webhooks/flux", &[("x-signature", &signature), ("gotk-component", "kustomize-controller")], body.to_owned()).await;
    (status, answer)
}

on_both!(flux_events_are_verified_and_one_revision_of_one_object_is_one_deployment, config = FLUX, |app| {
    // The documented worked example: the exact bytes and the signature notification-controller sends.
    let example = std::fs::read(format!("{FIXTURES}/flux/generic-hmac.forwarder-test.body.json")).expect("fixture");
    let known = "sha256=65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7";
    let (status, _, answer) = post(&app, "/webhooks/flux", &[("x-signature", known)], example.clone()).await;
    assert_eq!((status, &answer["ignored"]), (200, &json!(true)), "a GitRepository event passes the check and is ignored: {answer:#}");

    let succeeded = flux_body("flux/k8s-event.kustomization.reconciliation-succeeded.json", &[]);
    let other_body = format!("sha256={}", sign(FLUX_KEY, "{}"));
    let other_key = format!("sha256={}", sign("another key", &succeeded));
    let md5 = format!("md5={}", sign(FLUX_KEY, &succeeded));
    for (description, signature) in [("no signature", None), ("another body's", Some(other_body.as_str())), ("another key's", Some(other_key.as_str())), ("an unknown hash", Some(md5.as_str()))] {
        let headers: Vec<(&str, &str)> = signature.iter().map(|s| ("x-signature", *s)).collect();
        let (status, _, answer) = post(&app, "/webhooks/flux", &headers, succeeded.clone()).await;
        assert_eq!(status, 401, "{description}: {answer:#}");
    }
    assert!(items(&app, "/api/v1/deployments?limit=500&environment=production").await.is_empty(), "nothing stored without a valid signature");

    let (status, _, answer) = post(&app, "/webhooks/flux", &[("x-signature", &sha512_signature(&succeeded))], succeeded.clone()).await;
    stored(status, &answer, 1, "a Kustomization applied, signed with sha512");
    let (_, again) = flux(&app, &succeeded).await;
    assert_eq!(again["replayed"], true, "the same event again: {again:#}");
    // Flux 2.5+ strips the group from the key; a later event of the same revision, with fields
    // pacer does not know and without the optional reportingInstance.
    let stripped = flux_body(
        "flux/k8s-event.kustomization.reconciliation-succeeded.json",
        &[("metadata", json!({"revision": format!("main@sha1:{FLUX_SHA}"), "summary": "cluster eu-1"})), ("timestamp", json!("2023-08-16T10:36:43Z")), ("unknown", json!({"x": 1}))],
    );
    let (status, answer) = flux(&app, &stripped).await;
    assert_eq!(status, 200, "{answer:#}");
    let deployments = items(&app, "/api/v1/deployments?limit=500").await;
    assert_eq!(deployments.len(), 1, "every event of one revision is one deployment: {deployments:#?}");
    let d = &deployments[0];
    assert_eq!(
        (&d["id"], &d["service"], &d["status"], &d["commit_sha"], &d["version"]),
        (&json!(format!("flux:Kustomization/flux-system/flux-system@main@sha1:{FLUX_SHA}")), &json!("flux-system"), &json!("success"), &json!(FLUX_SHA), &json!(format!("main@sha1:{FLUX_SHA}"))),
        "{d:#}"
    );
    // Its health check fails afterwards: an incident naming the deployment, which stays applied.
    let unhealthy = flux_body("flux/k8s-event.kustomization.reconciliation-succeeded.json", &[("reason", json!("HealthCheckFailed")), ("severity", json!("error")), ("timestamp", json!("2023-08-16T10:40:00Z"))]);
    let (status, answer) = flux(&app, &unhealthy).await;
    stored(status, &answer, 1, "a failed health check");
    let d = &items(&app, "/api/v1/deployments?limit=500").await[0];
    assert_eq!((&d["status"], &d["finished_at"]), (&json!("success"), &json!("2023-08-16T10:36:43Z")), "{d:#}");
    let incidents = items(&app, "/api/v1/incidents?limit=500").await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!((&incidents[0]["deployment_id"], &incidents[0]["opened_at"]), (&d["id"], &json!("2023-08-16T10:40:00Z")), "{incidents:#?}");

    // The documented generic body: prefixed metadata and a legacy `main/<sha>` revision.
    let (status, answer) = flux(&app, &fixture("flux/generic.kustomization.validation-failed.docs.json")).await;
    stored(status, &answer, 1, "a validation failure");
    let apps = items(&app, "/api/v1/deployments?environment=apps").await;
    assert_eq!(
        (apps.len(), &apps[0]["status"], &apps[0]["service"], &apps[0]["commit_sha"], &apps[0]["finished_at"]),
        (1, &json!("failure"), &json!("webapp"), &json!("731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"), &json!("2022-10-28T07:26:19Z")),
        "{apps:#?}"
    );

    // HelmRelease: a passing test is ignored; an upgrade is a deployment of a chart version, no commit.
    let (status, answer) = flux(&app, &flux_body("flux/k8s-event.helmrelease.test-succeeded.json", &[])).await;
    assert_eq!((status, &answer["ignored"]), (200, &json!(true)), "{answer:#}");
    let (status, answer) = flux(&app, &flux_body("flux/k8s-event.helmrelease.test-succeeded.json", &[("reason", json!("UpgradeSucceeded"))])).await;
    stored(status, &answer, 1, "a Helm upgrade");
    let helm = &items(&app, "/api/v1/deployments?environment=default").await[0];
    assert_eq!((&helm["id"], &helm["version"], &helm["commit_sha"]), (&json!("flux:HelmRelease/default/podinfo@6.6.1+0cc9a8446c95"), &json!("6.6.1+0cc9a8446c95"), &Value::Null), "{helm:#}");
    let (status, answer) = flux(&app, &flux_body("flux/k8s-event.gitrepository.git-operation-failed.json", &[])).await;
    assert_eq!((status, &answer["ignored"]), (200, &json!(true)), "a source's failure is no deployment: {answer:#}");

    let signed_garbage = "{\"involvedObject\": ";
    let signature = format!("sha256={}", sign(FLUX_KEY, signed_garbage));
    let (status, media, problem) = post(&app, "/webhooks/flux", &[("x-signature", &signature)], signed_garbage).await;
    assert_eq!((status, media.as_str()), (400, "application/problem+json"), "{problem:#}");
});

// ---------------------------------------------------------------------------------------------
// Jenkins

const JENKINS: &str = r#"
[jenkins]
token = "jenkins-token-0123"

[[jenkins.deploy_jobs]]
job = "asg*"
service = "asgard"
environment = "prod"
"#;
const ASGARD_SHA: &str = "c6d86dc654b12425e706bcf951adfe5a8627a517";

/// `Authorization: Basic` of `user:password`, as the plugin sends an endpoint URL's credentials.
fn basic(user_password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_password))
}

/// The wiki's build with the fields the plugin sends today: phase, build end, duration.
fn jenkins_build(phase: &str, timestamp: i64) -> String {
    let mut build = fixture_json("jenkins/notification-plugin.completed.wiki.json");
    build["build"]["phase"] = json!(phase);
    build["build"]["timestamp"] = json!(timestamp);
    build["build"]["duration"] = json!(60_000);
    build["build"]["queue_id"] = json!(41);
    build.to_string()
}

on_both!(jenkins_builds_are_ci_runs_and_deploy_jobs_deployments_once_per_build, config = JENKINS, |app| {
    let auth = basic("jenkins:jenkins-token-0123");
    let completed = jenkins_build("COMPLETED", 1_700_000_060_000);
    let wrong = basic("jenkins:nope");
    for (description, headers) in [("no credentials", vec![]), ("another password", vec![("authorization", wrong.as_str())]), ("another bearer token", vec![("authorization", "Bearer nope")])] {
        let (status, _, answer) = post(&app, "/webhooks/jenkins", &headers, completed.clone()).await;
        assert_eq!(status, 401, "{description}: {answer:#}");
    }
    assert!(items(&app, "/api/v1/ci-runs").await.is_empty(), "nothing stored without the token");

    let (status, _, answer) = post(&app, "/webhooks/jenkins", &[("authorization", &auth)], completed.clone()).await;
    stored(status, &answer, 2, "a completed deploy build");
    let (_, _, again) = post(&app, "/webhooks/jenkins", &[("authorization", &auth)], completed).await;
    assert_eq!(again["replayed"], true, "{again:#}");
    // The same build finalized two seconds later, sent with a bearer token.
    let (status, _, answer) = post(&app, "/webhooks/jenkins", &[("authorization", "Bearer jenkins-token-0123")], jenkins_build("FINALIZED", 1_700_000_062_000)).await;
    assert_eq!(status, 200, "{answer:#}");

    let runs = items(&app, "/api/v1/ci-runs").await;
    assert_eq!(runs.len(), 1, "both final phases are one run: {runs:#?}");
    let r = &runs[0];
    assert_eq!(
        (&r["id"], &r["pipeline"], &r["status"], &r["started_at"], &r["finished_at"], &r["branch"], &r["commit_sha"], &r["stage"]),
        (&json!("jenkins:job/asgard/18"), &json!("asgard"), &json!("success"), &json!("2023-11-14T22:13:22Z"), &json!("2023-11-14T22:14:22Z"),
         &json!("master"), &json!(ASGARD_SHA), &json!("deploy")),
        "{r:#}"
    );
    let deployments = items(&app, "/api/v1/deployments").await;
    assert_eq!(deployments.len(), 1, "one deployment per build: {deployments:#?}");
    let d = &deployments[0];
    assert_eq!(
        (&d["service"], &d["environment"], &d["status"], &d["commit_sha"], &d["url"]),
        (&json!("asgard"), &json!("production"), &json!("success"), &json!(ASGARD_SHA), &json!("http://localhost:8080/job/asgard/18/")),
        "{d:#}"
    );

    // Another job, failing, without scm: a CI run only.
    let mut unit = fixture_json("jenkins/notification-plugin.completed.wiki.json");
    unit["name"] = json!("unit-tests");
    unit["url"] = json!("job/unit-tests/");
    unit["build"] = json!({"number": 3, "phase": "FINALIZED", "status": "UNSTABLE", "timestamp": 1_700_000_100_000_i64, "duration": 1_000});
    let (status, _, answer) = post(&app, "/webhooks/jenkins", &[("authorization", &auth)], unit.to_string()).await;
    stored(status, &answer, 1, "an unstable test build");
    let unstable = items(&app, "/api/v1/ci-runs").await.into_iter().find(|r| r["pipeline"] == "unit-tests").expect("the unit-tests run");
    assert_eq!((&unstable["status"], &unstable["stage"], &unstable["commit_sha"]), (&json!("failure"), &Value::Null, &Value::Null), "{unstable:#}");
    assert_eq!(items(&app, "/api/v1/deployments").await.len(), 1);

    // A started build is recorded when it ends.
    let (status, _, answer) = post(&app, "/webhooks/jenkins", &[("authorization", &auth)], fixture("jenkins/notification-plugin.help-example.json")).await;
    assert_eq!((status, &answer["ignored"]), (200, &json!(true)), "{answer:#}");
    // The wiki's example has no build time: a 400 naming it.
    let (status, media, problem) = post(&app, "/webhooks/jenkins", &[("authorization", &auth)], fixture("jenkins/notification-plugin.completed.wiki.json")).await;
    assert_eq!((status, media.as_str()), (400, "application/problem+json"), "{problem:#}");
    assert!(problem["errors"].as_array().into_iter().flatten().any(|e| e["pointer"] == "/build/timestamp"), "{problem:#}");
    // The CDEvents plugin's HTTP sink posts CloudEvent's toString(), which is no JSON.
    let cdevents_plugin = "CloudEvent{id='5f3b9c5a', source=http://jenkins/, type='dev.cdevents.pipelinerun.finished.0.1.0', data=BytesCloudEventData{value=[123]}}";
    let (status, media, problem) = post(&app, "/webhooks/jenkins", &[("authorization", &auth)], cdevents_plugin).await;
    assert_eq!((status, media.as_str()), (400, "application/problem+json"), "{problem:#}");
    assert_eq!(items(&app, "/api/v1/ci-runs").await.len(), 2);
});
