//! Fuzzing inputs for pacer's parsers: structure-aware mutations of real payloads (the shared
//! fixtures) and raw byte mutations, as proptest strategies, plus a runner that keeps generating
//! cases for a set time instead of a set count.
//!
//! Mutations of a JSON document: drop a field or element, replace a value with an "interesting"
//! one (huge and negative numbers, long strings, NUL and control characters, odd timestamps,
//! the vocabulary senders use), duplicate a field or element, change a value's type, wrap a value
//! in deep nesting. Then, on the serialized bytes: truncate, flip bytes, insert invalid UTF-8 or
//! a nesting deeper than any parser allows, repeat a span (duplicate keys), splice random bytes.
//!
//! Shared by `collector/tests/fuzz.rs` (the parsers) and `tests/api/fuzz.rs` (the configuration
//! file and the HTTP endpoints); not a test target of its own.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseResult, TestError, TestRunner};
use pacer_collector::sources::{self, Context, Parsed, Source, SourceConfig};
use pacer_collector::{Normalizer, render};
use serde_json::{Map, Value, json};

/// The shared fixtures beside the workspace, read at test time (never copied into the
/// repository); this module is compiled into the root package's tests and the collector's.
pub fn fixtures_dir() -> String {
    let manifest = env!("CARGO_MANIFEST_DIR");
    ["/../shared/fixtures", "/../../shared/fixtures"]
        .iter()
        .map(|up| format!("{manifest}{up}"))
        .find(|dir| std::path::Path::new(dir).is_dir())
        .unwrap_or_else(|| panic!("no shared/fixtures beside the workspace of {manifest}"))
}

/// JSON as TOML text: every object an inline table, `null`s left out (TOML has none), strings and
/// keys as basic strings (JSON's escapes are TOML's). A root that is not an object becomes `value`.
pub fn to_toml(value: &Value) -> Vec<u8> {
    fn inline(value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("\"\""),
            Value::Bool(b) => out.push_str(&b.to_string()),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    inline(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (key, item)) in map.iter().filter(|(_, v)| !v.is_null()).enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push_str(" = ");
                    inline(item, out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter().filter(|(_, v)| !v.is_null()) {
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(" = ");
                inline(item, &mut out);
                out.push('\n');
            }
        }
        other => {
            out.push_str("value = ");
            inline(other, &mut out);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// Every fixture under `dir` (relative to [`fixtures_dir`]) whose name passes `keep`, parsed,
/// with its file name.
pub fn fixtures(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<(String, Value)> {
    let path = format!("{}/{dir}", fixtures_dir());
    let mut found: Vec<(String, Value)> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && keep(name))
        .map(|name| {
            let text = std::fs::read(format!("{path}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
            let value = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!found.is_empty(), "no fixtures in {path}");
    found
}

/// The X-Gitlab-Event of a GitLab fixture, from its first name segment.
pub fn gitlab_event(name: &str) -> &'static str {
    match name.split('.').next().unwrap_or_default() {
        "pipeline" => "Pipeline Hook",
        "merge_request" => "Merge Request Hook",
        "deployment" => "Deployment Hook",
        "job" => "Job Hook",
        "push" => "Push Hook",
        "tag_push" => "Tag Push Hook",
        "issue" => "Issue Hook",
        "release" => "Release Hook",
        _ => "System Hook",
    }
}

/// Settings that switch on every branch the sources have: incidents from labels, releases as
/// deployments, a monorepo rule, a PagerDuty service map, Argo CD labels and Jenkins deploy jobs.
pub fn source_config() -> SourceConfig {
    let mut config = SourceConfig::default();
    config.github.deploy_source = sources::DeploySource::Both;
    config.gitlab.deploy_source = sources::DeploySource::Both;
    config.github.incident_label = "bug".into();
    config.repositories.push(sources::RepositoryRule { repository: "Codertocat/Hello-World".into(), path_prefix: Some("src/".into()), service: "hello".into() });
    config.pagerduty_services.insert("API Service".into(), "api".into());
    config.argocd.service_label = Some("project".into());
    config.argocd.environment_label = Some("stack".into());
    config.jenkins.deploy_jobs.push(sources::jenkins::DeployJob { job: "as*".into(), service: "asgard".into(), environment: "prod".into() });
    config
}

/// Native events rendered from what every webhook fixture produces, one per seed, plus batches.
pub fn native_seeds() -> Vec<Value> {
    let normalizer = Normalizer::default();
    let config = source_config();
    let cx = Context { normalizer: &normalizer, config: &config };
    let mut events = Vec::new();
    let mut facts_of = |source: Source, event: &str, payload: &Value| {
        if let Ok(Parsed::Facts(facts)) = sources::parse(source, event, payload, &cx) {
            events.extend(facts.iter().map(render::to_event));
        }
    };
    for (name, payload) in fixtures("github", |_| true) {
        facts_of(Source::Github, name.split('.').next().unwrap_or_default(), &payload);
    }
    for (name, payload) in fixtures("gitlab", |_| true) {
        facts_of(Source::Gitlab, gitlab_event(&name), &payload);
    }
    for (_, payload) in cdevents_seeds() {
        let event = payload.pointer("/context/type").and_then(Value::as_str).unwrap_or_default().to_owned();
        facts_of(Source::Cdevents, &event, &payload);
    }
    for (source, dir) in [(Source::Argocd, "argocd"), (Source::Flux, "flux")] {
        for (_, payload) in fixtures(dir, |_| true) {
            facts_of(source, "", &payload);
        }
    }
    events.push(json!({"type": "sli", "service": "api", "at": "2026-11-22T08:00:00Z", "good": 990, "total": 1000}));
    let batch = Value::Array(events.iter().take(12).cloned().collect());
    let mut seeds = events;
    seeds.push(batch);
    seeds
}

pub fn cdevents_seeds() -> Vec<(String, Value)> {
    ["conformance-v0.4.1", "conformance-v0.5.1", "conformance-main-0.6-draft"]
        .iter()
        .flat_map(|dir| fixtures(&format!("cdevents/{dir}"), |_| true))
        .collect()
}

/// One generated input: which seed it came from and its bytes.
#[derive(Clone)]
pub struct Input {
    /// Index of the seed document.
    pub seed: usize,
    /// The bytes to parse.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The whole input, so a failure can be replayed; lossy only for invalid UTF-8.
        write!(f, "seed #{} ({} bytes): {}", self.seed, self.bytes.len(), String::from_utf8_lossy(&self.bytes))
    }
}

/// A change to a JSON document; the numbers pick nodes and children modulo what exists.
#[derive(Debug, Clone)]
enum Edit {
    Drop(usize, usize),
    Replace(usize, usize),
    Duplicate(usize, usize),
    ChangeType(usize),
    Nest(usize, usize),
    Poison(usize, usize, usize),
}

/// A change to serialized bytes; positions are taken modulo the length.
#[derive(Debug, Clone)]
enum Splice {
    Truncate(usize),
    Flip(usize, u8),
    InvalidUtf8(usize, usize),
    DeepNesting(usize, usize),
    Repeat(usize, usize),
    Insert(usize, Vec<u8>),
}

/// Strings senders use as event types, actions, states and times, so that mutations reach the
/// branches behind them.
const VOCABULARY: &[&str] = &[
    "deployment", "commit", "pull_request", "incident", "ci_run", "sli", "success", "failure", "error", "in_progress",
    "queued", "pending", "cancelled", "canceled", "completed", "opened", "closed", "reopened", "labeled", "published",
    "created", "merged", "merge", "close", "open", "firing", "resolved", "triggered", "acknowledged",
    "incident.triggered", "incident.resolved", "incident.acknowledged", "incident.reopened", "incident.priority_updated",
    "dev.cdevents.service.deployed.0.1.1", "dev.cdevents.service.rolledback.0.1.1", "dev.cdevents.change.merged.0.1.2",
    "dev.cdevents.pipelinerun.finished.0.1.1", "dev.cdevents.incident.resolved.0.1.0", "dev.cdevents.", "dev.cdevents.x",
    "production", "prod", "staging", "refs/heads/main", "refs/tags/v1", "0000000000000000000000000000000000000000",
    "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "root cause: 9f1c2e0a\ndeployment: 12", "a/b/c/d", "/", "~0~1", "",
];

/// Characters that storage, logs and terminals treat specially, put inside otherwise valid text.
const POISON: &[&str] = &["\u{0}", "\u{1}", "\u{7f}", "\u{85}", "\u{2028}", "\u{202e}", "\u{feff}", "\u{fffd}", "\u{10ffff}", "'", "\"", "\\", "%s", "${x}", "\n\r"];

/// Timestamps at and past the edges of what parsers accept.
const TIMES: &[&str] = &[
    "2026-11-22T08:00:00Z", "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
    "+275760-09-13T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T08:00:60Z",
    "2026-11-22 08:00:00 UTC", "2026-11-22 08:00:00 +0100", "2026-11-22T08:00:00+23:59", "2026-11-22T08:00:00",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "2026-11-22T08:00:00.1234567891234Z", "tomorrow",
];

fn long(c: char, n: usize) -> Value {
    Value::String(std::iter::repeat_n(c, n).collect())
}

fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |inner, i| if i % 2 == 0 { json!([inner]) } else { json!({ "a": inner }) })
}

/// The replacement value number `pick` (modulo how many there are).
fn interesting(pick: usize) -> Value {
    let numbers = [
        json!(0), json!(-1), json!(1), json!(i64::MAX), json!(i64::MIN), json!(u64::MAX), json!(1e308), json!(-1e308),
        json!(0.5), json!(-0.0), json!(1_767_607_200), json!(253_402_300_800_i64), json!(9_223_372_036_854_776_i64),
        json!(-9_223_372_036_854_776_i64),
    ];
    let texts = [
        long('a', 70_000), long('é', 2_000), long('x', 1_025), Value::String("\u{0}".into()), Value::String("a\u{0}b".into()),
        Value::String("\u{202e}\u{feff}💥\u{10ffff}".into()), Value::String(" \t\n".into()), Value::String("1e400".into()),
        Value::String("NaN".into()), Value::String("-1".into()), Value::String("18446744073709551616".into()),
    ];
    let shapes = [Value::Null, json!(true), json!(false), json!([]), json!({}), json!([null]), json!({"": null}), nested(60, json!(1))];
    let all = numbers.len() + texts.len() + shapes.len() + VOCABULARY.len() + TIMES.len();
    let mut i = pick % all;
    if i < numbers.len() {
        return numbers[i].clone();
    }
    i -= numbers.len();
    if i < texts.len() {
        return texts[i].clone();
    }
    i -= texts.len();
    if i < shapes.len() {
        return shapes[i].clone();
    }
    i -= shapes.len();
    if i < VOCABULARY.len() {
        return Value::String(VOCABULARY[i].to_owned());
    }
    Value::String(TIMES[i - VOCABULARY.len()].to_owned())
}

/// The `n`-th node in pre-order (modulo the count), mutably.
fn node(root: &mut Value, n: usize) -> &mut Value {
    let count = count(root);
    let mut target = n % count;
    find(root, &mut target).expect("a node below the count exists")
}

fn count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

fn find<'v>(value: &'v mut Value, target: &mut usize) -> Option<&'v mut Value> {
    if *target == 0 {
        return Some(value);
    }
    *target -= 1;
    match value {
        Value::Array(items) => items.iter_mut().find_map(|item| find(item, target)),
        Value::Object(map) => map.values_mut().find_map(|item| find(item, target)),
        _ => None,
    }
}

/// The `n`-th non-empty container (array or object) in pre-order (modulo the count), if any.
fn container(root: &mut Value, n: usize) -> Option<&mut Value> {
    fn walk(value: &Value, index: &mut usize, out: &mut Vec<usize>) {
        let here = *index;
        *index += 1;
        match value {
            Value::Array(items) if !items.is_empty() => {
                out.push(here);
                items.iter().for_each(|v| walk(v, index, out));
            }
            Value::Object(map) if !map.is_empty() => {
                out.push(here);
                map.values().for_each(|v| walk(v, index, out));
            }
            _ => {}
        }
    }
    let mut containers = Vec::new();
    walk(root, &mut 0, &mut containers);
    if containers.is_empty() {
        return None;
    }
    let at = containers[n % containers.len()];
    Some(node(root, at))
}

/// Calls `f` on every string value and every object key, in pre-order.
fn visit_strings(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(text) => f(text),
        Value::Array(items) => items.iter_mut().for_each(|item| visit_strings(item, f)),
        Value::Object(map) => {
            let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (mut key, mut item) in entries {
                f(&mut key);
                visit_strings(&mut item, f);
                map.insert(key, item);
            }
        }
        _ => {}
    }
}

fn apply(doc: &mut Value, edit: &Edit) {
    match *edit {
        Edit::Drop(at, child) => match container(doc, at) {
            Some(Value::Array(items)) => {
                let i = child % items.len();
                items.remove(i);
            }
            Some(Value::Object(map)) => {
                let key = map.keys().nth(child % map.len()).cloned().unwrap_or_default();
                map.remove(&key);
            }
            _ => {}
        },
        Edit::Replace(at, pick) => *node(doc, at) = interesting(pick),
        Edit::Duplicate(at, child) => match container(doc, at) {
            Some(Value::Array(items)) => {
                let i = child % items.len();
                let copy = items[i].clone();
                items.insert(i, copy);
            }
            Some(Value::Object(map)) => {
                // The value of one field copied over a sibling: the same data twice.
                let keys: Vec<String> = map.keys().cloned().collect();
                let (from, to) = (&keys[child % keys.len()], &keys[(child / 7 + 1) % keys.len()]);
                if let Some(copy) = map.get(from).cloned() {
                    map.insert(to.clone(), copy);
                }
            }
            _ => {}
        },
        Edit::ChangeType(at) => {
            let target = node(doc, at);
            *target = match std::mem::take(target) {
                Value::String(s) => s.parse::<f64>().map_or_else(|_| json!([s]), |n| json!(n)),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                Value::Null => json!(0),
                Value::Array(items) => Value::Object(items.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect::<Map<_, _>>()),
                Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
            };
        }
        Edit::Poison(at, pick, position) => {
            // The n-th string (or key) of the document gets a special character inside it.
            let poison = POISON[pick % POISON.len()];
            let mut strings = 0;
            visit_strings(doc, &mut |_| strings += 1);
            if strings > 0 {
                let target = at % strings;
                let mut index = 0;
                visit_strings(doc, &mut |text| {
                    if index == target {
                        let mut cut = position % (text.len() + 1);
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        text.insert_str(cut, poison);
                    }
                    index += 1;
                });
            }
        }
        Edit::Nest(at, depth) => {
            let target = node(doc, at);
            let inner = std::mem::take(target);
            *target = nested(1 + depth % 100, inner);
        }
    }
}

fn splice(bytes: &mut Vec<u8>, change: &Splice) {
    let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
    match change {
        Splice::Truncate(p) => {
            let cut = at(*p, bytes.len());
            bytes.truncate(cut);
        }
        Splice::Flip(p, mask) => {
            if !bytes.is_empty() {
                let i = p % bytes.len();
                bytes[i] ^= mask.max(&1);
            }
        }
        Splice::InvalidUtf8(p, kind) => {
            let sequences: [&[u8]; 6] = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\\ud800"];
            let i = at(*p, bytes.len());
            let sequence = sequences[kind % sequences.len()];
            bytes.splice(i..i, sequence.iter().copied());
        }
        Splice::DeepNesting(p, depth) => {
            // Deeper than serde_json's recursion limit (128) half the time.
            let depth = 64 + depth % 20_000;
            let i = at(*p, bytes.len());
            let open = if depth % 2 == 0 { b"[" } else { b"{\"a\":" as &[u8] };
            let nest: Vec<u8> = open.iter().copied().cycle().take(open.len() * depth).collect();
            bytes.splice(i..i, nest);
        }
        Splice::Repeat(p, len) => {
            if !bytes.is_empty() {
                let start = p % bytes.len();
                let end = (start + 1 + len % 256).min(bytes.len());
                let span = bytes[start..end].to_vec();
                bytes.splice(end..end, span);
            }
        }
        Splice::Insert(p, inserted) => {
            let i = at(*p, bytes.len());
            bytes.splice(i..i, inserted.iter().copied());
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let n = || any::<usize>();
    prop_oneof![
        3 => (n(), n()).prop_map(|(a, b)| Edit::Drop(a, b)),
        6 => (n(), n()).prop_map(|(a, b)| Edit::Replace(a, b)),
        2 => (n(), n()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
        3 => n().prop_map(Edit::ChangeType),
        1 => (n(), n()).prop_map(|(a, b)| Edit::Nest(a, b)),
        3 => (n(), n(), n()).prop_map(|(a, b, c)| Edit::Poison(a, b, c)),
    ]
}

fn raw_change() -> impl Strategy<Value = Splice> {
    let n = || any::<usize>();
    prop_oneof![
        3 => n().prop_map(Splice::Truncate),
        3 => (n(), any::<u8>()).prop_map(|(p, m)| Splice::Flip(p, m)),
        2 => (n(), n()).prop_map(|(p, k)| Splice::InvalidUtf8(p, k)),
        1 => (n(), n()).prop_map(|(p, d)| Splice::DeepNesting(p, d)),
        2 => (n(), n()).prop_map(|(p, l)| Splice::Repeat(p, l)),
        2 => (n(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(p, b)| Splice::Insert(p, b)),
    ]
}

/// Mutations of `seeds`: mostly structure-aware edits (sometimes followed by byte changes), some
/// byte changes alone, some raw random bytes. `serialize` turns a mutated document into bytes.
pub fn mutations(seeds: Arc<Vec<Value>>, serialize: fn(&Value) -> Vec<u8>) -> impl Strategy<Value = Input> {
    assert!(!seeds.is_empty(), "fuzzing needs at least one seed");
    let count = seeds.len();
    let structured = (0..count, proptest::collection::vec(edit(), 1..5), proptest::collection::vec(raw_change(), 0..2));
    let bytes_only = (0..count, proptest::collection::vec(raw_change(), 1..4));
    let from_seeds = Arc::clone(&seeds);
    let edited = structured.prop_map(move |(seed, edits, changes)| {
        let mut doc = from_seeds[seed].clone();
        for e in &edits {
            apply(&mut doc, e);
        }
        let mut bytes = serialize(&doc);
        for c in &changes {
            splice(&mut bytes, c);
        }
        Input { seed, bytes }
    });
    let spliced = bytes_only.prop_map(move |(seed, changes)| {
        let mut bytes = serialize(&seeds[seed]);
        for c in &changes {
            splice(&mut bytes, c);
        }
        Input { seed, bytes }
    });
    let random = proptest::collection::vec(any::<u8>(), 0..512).prop_map(|bytes| Input { seed: usize::MAX, bytes });
    prop_oneof![12 => edited, 4 => spliced, 1 => random]
}

/// JSON bytes of a document.
pub fn to_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// How long each target runs: `PACER_FUZZ_SECONDS`, else `default_secs`.
pub fn budget(default_secs: f64) -> Duration {
    let secs = std::env::var("PACER_FUZZ_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(default_secs);
    Duration::from_secs_f64(secs.max(0.1))
}

/// The first seed of the random generator: `PACER_FUZZ_SEED`, else the clock (printed, so a
/// failing run can be replayed).
pub fn first_seed() -> u64 {
    std::env::var("PACER_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64)
    })
}

/// What a time-bounded run did.
#[derive(Debug, Clone, Copy)]
pub struct Ran {
    /// Cases run.
    pub cases: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// Runs `test` on inputs from `strategy` in batches until `budget` has passed; panics with the
/// smallest failing input when a case fails or panics. Prints one line with what was run.
pub fn run_for<S>(target: &str, budget: Duration, strategy: &S, test: impl Fn(S::Value) -> TestCaseResult) -> Ran
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    const BATCH: u32 = 64;
    let seed = first_seed();
    let started = Instant::now();
    let mut cases = 0u64;
    let mut batch = 0u64;
    while started.elapsed() < budget {
        let config = Config {
            cases: BATCH,
            rng_seed: RngSeed::Fixed(seed.wrapping_add(batch)),
            failure_persistence: None,
            max_shrink_iters: 2_000,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        match runner.run(strategy, &test) {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => {
                panic!("fuzz {target}: failed after {cases} cases (PACER_FUZZ_SEED={seed}, batch {batch}): {reason}\nminimal input: {input:?}")
            }
            Err(TestError::Abort(reason)) => panic!("fuzz {target}: aborted: {reason}"),
        }
        cases += u64::from(BATCH);
        batch += 1;
    }
    let ran = Ran { cases, elapsed: started.elapsed() };
    println!("fuzz {target}: {} cases in {:.1} s, 0 failures (PACER_FUZZ_SEED={seed})", ran.cases, ran.elapsed.as_secs_f64());
    ran
}
