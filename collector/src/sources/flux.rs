//! Flux notification-controller events (the `generic` and `generic-hmac` providers), turned into
//! deployments.
//!
//! Payload: the `eventv1.Event` the controller posts
//! (<https://fluxcd.io/flux/components/notification/providers/#generic-webhook>): `involvedObject`
//! (`kind`, `namespace`, `name`), `severity`, `timestamp`, `message`, `reason`, `metadata`. The
//! api checks `X-Signature` before this module sees the body.
//!
//! | object, reason | facts |
//! |---|---|
//! | Kustomization `ReconciliationSucceeded`; HelmRelease `InstallSucceeded`, `UpgradeSucceeded` | a `success` deployment of the revision, at the event's time |
//! | Kustomization `HealthCheckFailed`, `ReconciliationFailed`, `BuildFailed`, `ValidationFailed`, `PruneFailed`, `ArtifactFailed`; HelmRelease `InstallFailed`, `UpgradeFailed`, `TestFailed` | a `failure` deployment of the revision |
//!
//! Other objects and reasons (sources, `Progressing`, `DependencyNotReady`, Helm tests that
//! passed, rollbacks, uninstalls) are ignored with a reason, and so is an event without a
//! revision. The deployment id is `flux:<kind>/<namespace>/<name>@<revision>`: every event of one
//! revision is one deployment, whose status and time are those of the latest event received.
//!
//! The revision is the metadata key `revision`, as Flux 2.5+ forwards it, or
//! `<group>/revision` (`kustomize.toolkit.fluxcd.io/revision`), as earlier versions do. A Git
//! revision names the commit: `main@sha1:<sha>`, `sha1:<sha>`, legacy `main/<sha>`; an OCI
//! revision (`<tag>@sha256:<digest>`) names the commit through `originRevision` when the
//! artifact carries it; a Helm chart version (`6.6.1+0cc9a8446c95`) is kept as the version only.
//!
//! The service is the metadata key `service` (an Alert's `eventMetadata`), else the object's
//! name; the environment the key `env` or `environment`, else the object's namespace; both then
//! go through `[flux]`'s [`Mapping`](super::Mapping).

use serde_json::Value;

use pacer_engine::model::{Deployment, DeploymentStatus, Fact};

use super::{Context, Doc, Outcome, Parsed, ignored, is_sha};

/// Reasons that mean the revision is applied.
const SUCCEEDED: [(&str, &str); 3] = [("Kustomization", "ReconciliationSucceeded"), ("HelmRelease", "InstallSucceeded"), ("HelmRelease", "UpgradeSucceeded")];

/// Reasons that mean applying the revision failed.
const FAILED: [(&str, &str); 9] = [
    ("Kustomization", "HealthCheckFailed"),
    ("Kustomization", "ReconciliationFailed"),
    ("Kustomization", "BuildFailed"),
    ("Kustomization", "ValidationFailed"),
    ("Kustomization", "PruneFailed"),
    ("Kustomization", "ArtifactFailed"),
    ("HelmRelease", "InstallFailed"),
    ("HelmRelease", "UpgradeFailed"),
    ("HelmRelease", "TestFailed"),
];

/// Parses one event; `_event` is unused (the reason is in the body).
pub(crate) fn parse(_event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    let mut d = Doc::new(payload);
    let kind = d.req_str("/involvedObject/kind");
    let name = d.req_str("/involvedObject/name");
    let at = d.req_time("/timestamp");
    let (Some(kind), Some(name), Some(at)) = (kind, name, at) else { return Err(d.errors) };
    let reason = d.str("/reason").unwrap_or("");
    let status = if SUCCEEDED.contains(&(kind.as_str(), reason)) {
        DeploymentStatus::Success
    } else if FAILED.contains(&(kind.as_str(), reason)) {
        DeploymentStatus::Failure
    } else {
        return ignored(format!("a {kind} event of reason {reason:?}: pacer records Kustomizations and HelmReleases applied or failed"));
    };
    let metadata = |key: &str| metadata(&d, key);
    let Some(revision) = metadata("revision") else {
        return ignored(format!("a {kind} event without a revision names no deployment"));
    };
    let namespace = d.str("/involvedObject/namespace").unwrap_or("default");
    let mapping = &cx.config.flux;
    let service = metadata("service").unwrap_or_else(|| name.clone());
    let environment = metadata("env").or_else(|| metadata("environment")).unwrap_or_else(|| namespace.to_owned());
    let commit_sha = commit(&revision).or_else(|| metadata("originRevision").as_deref().and_then(commit));
    let deployment = Deployment {
        id: format!("flux:{kind}/{namespace}/{name}@{revision}"),
        service: mapping.service(&service),
        environment: mapping.environment(&environment, cx.normalizer),
        version: Some(revision),
        commit_sha,
        status,
        started_at: None,
        finished_at: Some(at),
        commits: Vec::new(),
        rollback_of: None,
        unplanned: false,
        team: None,
        url: None,
    };
    d.finish(Some(Parsed::Facts(vec![Fact::Deployment(deployment)])))
}

/// A metadata value by its key, stripped (`revision`, Flux 2.5+) or prefixed with an API group
/// (`kustomize.toolkit.fluxcd.io/revision`, earlier versions).
fn metadata(d: &Doc<'_>, key: &str) -> Option<String> {
    let map = d.value("/metadata")?.as_object()?;
    let text = |v: &Value| v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    map.get(key).and_then(text).or_else(|| {
        map.iter().find(|(k, _)| k.rsplit_once('/').is_some_and(|(group, name)| name == key && group.ends_with(".fluxcd.io"))).and_then(|(_, v)| text(v))
    })
}

/// The commit a Git revision names, as Flux writes revisions: `<branch>@sha1:<sha>`,
/// `sha1:<sha>`, and before Flux 2.0 `<branch>/<sha>` (branches may hold slashes). OCI digests
/// (`@sha256:`), Helm chart versions and bare branch names name no commit.
pub fn commit(revision: &str) -> Option<String> {
    let revision = revision.trim();
    let sha = match revision.rsplit_once("sha1:") {
        Some((before, sha)) if before.is_empty() || before.ends_with('@') => sha,
        Some(_) => return None,
        None => revision.rsplit_once('/').map(|(_, sha)| sha)?,
    };
    (sha.len() == 40 && is_sha(sha)).then(|| sha.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::Normalizer;
    use crate::sources::{Mapping, Source, SourceConfig};

    const SHA: &str = "802723078affd3eb2a3898630261ab3ca5d6dd40";

    #[test]
    fn git_revisions_name_their_commit_and_other_revisions_none() {
        for revision in [format!("main@sha1:{SHA}"), format!("environment/dev@sha1:{SHA}"), format!("sha1:{SHA}"), format!("main/{SHA}"), format!("environment/dev/{SHA}")] {
            assert_eq!(commit(&revision).as_deref(), Some(SHA), "{revision}");
        }
        for revision in ["master", "6.6.1+0cc9a8446c95", "latest@sha256:f94b6833a5c2b5d2e1d5d3f9f0a6e5e3b8b7f0c4d3e2a1b0c9d8e7f6a5b4c3d2", "main@sha1:abc", "sha1:"] {
            assert_eq!(commit(revision), None, "{revision}");
        }
    }

    fn event(kind: &str, reason: &str, metadata: Value) -> Value {
        json!({"involvedObject": {"kind": kind, "namespace": "apps", "name": "webapp"}, "severity": "info",
               "timestamp": "2024-05-07T05:02:34Z", "message": "m", "reason": reason, "metadata": metadata})
    }

    fn parse_with(payload: &Value, config: &SourceConfig) -> Outcome {
        let normalizer = Normalizer::default();
        crate::sources::parse(Source::Flux, "", payload, &Context { normalizer: &normalizer, config })
    }

    fn deployment(payload: &Value) -> Deployment {
        match parse_with(payload, &SourceConfig::default()) {
            Ok(Parsed::Facts(facts)) => match facts.as_slice() {
                [Fact::Deployment(d)] => d.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reasons_map_to_statuses_and_every_event_of_a_revision_is_one_deployment() {
        let prefixed = deployment(&event("Kustomization", "ReconciliationSucceeded", json!({"kustomize.toolkit.fluxcd.io/revision": format!("main@sha1:{SHA}")})));
        let stripped = deployment(&event("Kustomization", "HealthCheckFailed", json!({"revision": format!("main@sha1:{SHA}")})));
        assert_eq!(prefixed.id, format!("flux:Kustomization/apps/webapp@main@sha1:{SHA}"));
        assert_eq!((prefixed.id, prefixed.status, stripped.status), (stripped.id, DeploymentStatus::Success, DeploymentStatus::Failure));
        assert_eq!((stripped.commit_sha.as_deref(), stripped.service.as_str(), stripped.environment.as_str()), (Some(SHA), "webapp", "apps"));
        let helm = deployment(&event("HelmRelease", "UpgradeSucceeded", json!({"helm.toolkit.fluxcd.io/revision": "6.6.1+0cc9a8446c95"})));
        assert_eq!((helm.commit_sha, helm.version.as_deref()), (None, Some("6.6.1+0cc9a8446c95")));
        for (kind, reason) in [("HelmRelease", "TestSucceeded"), ("GitRepository", "GitOperationFailed"), ("Kustomization", "Progressing")] {
            let outcome = parse_with(&event(kind, reason, json!({"revision": "main@sha1:x"})), &SourceConfig::default());
            assert!(matches!(outcome, Ok(Parsed::Ignored(_))), "{kind} {reason}: {outcome:?}");
        }
        let outcome = parse_with(&event("Kustomization", "ReconciliationSucceeded", json!({})), &SourceConfig::default());
        assert!(matches!(outcome, Ok(Parsed::Ignored(_))), "no revision: {outcome:?}");
    }

    #[test]
    fn alert_metadata_and_mappings_choose_the_service_and_environment() {
        let flux = Mapping { services: [("web".to_owned(), "storefront".to_owned())].into(), environments: Default::default() };
        let config = SourceConfig { flux, ..SourceConfig::default() };
        let payload = event("Kustomization", "ReconciliationSucceeded", json!({"revision": "sha1:0", "service": "web", "env": "prod"}));
        let Ok(Parsed::Facts(facts)) = parse_with(&payload, &config) else { panic!("facts") };
        let Fact::Deployment(d) = &facts[0] else { panic!("a deployment") };
        assert_eq!((d.service.as_str(), d.environment.as_str()), ("storefront", "production"));
    }
}
