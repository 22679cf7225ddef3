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
//! | Kustomization `HealthCheckFailed`; HelmRelease `TestFailed` | an incident, opened at the event's time, naming the revision's deployment (its workloads are unhealthy) |
//! | Kustomization `ReconciliationFailed`, `BuildFailed`, `ValidationFailed`, `PruneFailed`, `ArtifactFailed`; HelmRelease `InstallFailed`, `UpgradeFailed` | a `failure` deployment: the revision was not applied |
//!
//! Other objects and reasons (sources, `Progressing`, `DependencyNotReady`, Helm tests that
//! passed, rollbacks, uninstalls) are ignored with a reason, and so is an event without a
//! revision. The deployment id is `flux:<kind>/<namespace>/<name>@<revision>`: every success of
//! one revision is one deployment. A failure to apply is `…@<revision>/failed`, so that it never
//! overwrites the revision's success; an unhealthy revision's incident is `…@<revision>/unhealthy`
//! and names `…@<revision>`, so change failure rate counts the deployment that broke (a revision
//! whose first apply fails its health check counts once it succeeds), and the rollback policy
//! weighs it like an alert.
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

use pacer_engine::model::{Deployment, DeploymentStatus, Fact, Incident};

use super::{Context, Doc, Parsed, ignored, is_sha};

/// Reasons that mean the revision is applied.
const SUCCEEDED: [(&str, &str); 3] = [("Kustomization", "ReconciliationSucceeded"), ("HelmRelease", "InstallSucceeded"), ("HelmRelease", "UpgradeSucceeded")];

/// Reasons that mean the revision is applied but its workloads are unhealthy.
const UNHEALTHY: [(&str, &str); 2] = [("Kustomization", "HealthCheckFailed"), ("HelmRelease", "TestFailed")];

/// Reasons that mean applying the revision failed.
const FAILED: [(&str, &str); 7] = [
    ("Kustomization", "ReconciliationFailed"),
    ("Kustomization", "BuildFailed"),
    ("Kustomization", "ValidationFailed"),
    ("Kustomization", "PruneFailed"),
    ("Kustomization", "ArtifactFailed"),
    ("HelmRelease", "InstallFailed"),
    ("HelmRelease", "UpgradeFailed"),
];

/// Parses one event; `_event` is unused (the reason is in the body).
pub(crate) fn parse(_event: &str, payload: &Value, cx: &Context<'_>) -> super::Outcome {
    let mut d = Doc::new(payload);
    let kind = d.req_str("/involvedObject/kind");
    let name = d.req_str("/involvedObject/name");
    let at = d.req_time("/timestamp");
    let (Some(kind), Some(name), Some(at)) = (kind, name, at) else { return Err(d.errors) };
    let reason = d.str("/reason").unwrap_or("");
    let what = (kind.as_str(), reason);
    let outcome = if SUCCEEDED.contains(&what) {
        Outcome::Applied
    } else if UNHEALTHY.contains(&what) {
        Outcome::Unhealthy
    } else if FAILED.contains(&what) {
        Outcome::Failed
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
    let id = format!("flux:{kind}/{namespace}/{name}@{revision}");
    let (service, environment) = (mapping.service(&service), mapping.environment(&environment, cx.normalizer));
    let fact = match outcome {
        Outcome::Unhealthy => Fact::Incident(Incident {
            id: format!("{id}/unhealthy"),
            service,
            environment,
            opened_at: at,
            resolved_at: None,
            severity: None,
            title: Some(format!("{kind} {namespace}/{name}: {reason}")),
            url: None,
            deployment_id: Some(id),
            commit_sha: None,
        }),
        Outcome::Applied | Outcome::Failed => Fact::Deployment(Deployment {
            id: if outcome == Outcome::Failed { format!("{id}/failed") } else { id },
            service,
            environment,
            version: Some(revision),
            commit_sha,
            status: if outcome == Outcome::Failed { DeploymentStatus::Failure } else { DeploymentStatus::Success },
            started_at: None,
            finished_at: Some(at),
            commits: Vec::new(),
            rollback_of: None,
            unplanned: false,
            team: None,
            url: None,
        }),
    };
    d.finish(Some(Parsed::Facts(vec![fact])))
}

/// What an event says of its revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Applied, and healthy.
    Applied,
    /// Applied, but its workloads are unhealthy.
    Unhealthy,
    /// Not applied.
    Failed,
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

    fn parse_with(payload: &Value, config: &SourceConfig) -> crate::sources::Outcome {
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
        let stripped = deployment(&event("Kustomization", "ReconciliationFailed", json!({"revision": format!("main@sha1:{SHA}")})));
        assert_eq!(prefixed.id, format!("flux:Kustomization/apps/webapp@main@sha1:{SHA}"));
        assert_eq!((format!("{}/failed", prefixed.id), prefixed.status, stripped.status), (stripped.id, DeploymentStatus::Success, DeploymentStatus::Failure), "a failure never overwrites the success");
        assert_eq!((stripped.commit_sha.as_deref(), stripped.service.as_str(), stripped.environment.as_str()), (Some(SHA), "webapp", "apps"));
        let Ok(Parsed::Facts(facts)) = parse_with(&event("Kustomization", "HealthCheckFailed", json!({"revision": format!("main@sha1:{SHA}")})), &SourceConfig::default()) else { panic!("facts") };
        let [Fact::Incident(unhealthy)] = facts.as_slice() else { panic!("an incident: {facts:?}") };
        assert_eq!(unhealthy.deployment_id.as_deref(), Some(format!("flux:Kustomization/apps/webapp@main@sha1:{SHA}").as_str()), "it names the revision's deployment");
        assert_eq!((unhealthy.id.ends_with("/unhealthy"), unhealthy.opened_at, unhealthy.resolved_at), (true, 1_715_058_154_000, None));
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
