//! Where an import stands and how it is shown: the counts per resource, the progress line on
//! stderr with its estimate of what is left, the notices, and the closing summary.
//!
//! It reads and stores nothing: the passes ([`super::passes`]) and the client
//! ([`super::client`]) count into a [`Progress`] and tell what happens as [`Event`]s; the command
//! ([`super::run`]) shows them through a [`ProgressLine`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::Resource;

/// The counts of one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Objects read from the listing.
    pub read: u64,
    /// Objects stored as new deliveries.
    pub stored: u64,
    /// Facts created or changed.
    pub facts_changed: u64,
    /// Facts already stored as they are (from webhooks or an earlier import).
    pub facts_unchanged: u64,
    /// Objects left out: runs not finished yet, objects pacer does not use or cannot read.
    pub skipped: u64,
    /// GitHub's estimate of how many objects the listing holds, when it gives one.
    pub estimate: Option<u64>,
}

/// Where an import stands.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The repository, as GitHub spells it.
    pub repo: String,
    /// The counts of every resource started so far.
    pub resources: BTreeMap<Resource, Counts>,
    /// The resource being read.
    pub current: Option<Resource>,
    /// Requests made.
    pub requests: u64,
    /// Times the import waited for a rate limit.
    pub rate_limit_waits: u64,
    /// Requests retried after a 5xx answer or a network error.
    pub retries: u64,
    /// When the current resource started.
    started: Option<Instant>,
}

impl Progress {
    /// Starts counting `resource`: it becomes the current one, timed from now.
    pub(super) fn begin(&mut self, resource: Resource) {
        self.current = Some(resource);
        self.started = Some(Instant::now());
        self.resources.entry(resource).or_default();
    }

    /// How long the current resource still needs, from its rate so far and GitHub's estimate.
    pub fn eta(&self) -> Option<Duration> {
        let counts = self.resources.get(&self.current?)?;
        let (estimate, read) = (counts.estimate?, counts.read);
        let elapsed = self.started?.elapsed().as_secs_f64();
        if read == 0 || estimate <= read {
            return None;
        }
        Some(Duration::from_secs_f64(elapsed / read as f64 * (estimate - read) as f64))
    }

    /// One line: counts per resource, the estimate and ETA of the current one.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .resources
            .iter()
            .map(|(resource, c)| match c.estimate {
                Some(estimate) if Some(*resource) == self.current && estimate > c.read => format!("{} {}/~{estimate}", resource.label(), c.read),
                _ => format!("{} {}", resource.label(), c.read),
            })
            .collect();
        let eta = self.eta().map(|eta| format!(", eta {}", duration(eta))).unwrap_or_default();
        format!("importing {}: {}{eta}", self.repo, parts.join(", "))
    }
}

/// What an import tells as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A page was stored.
    Progress(&'a Progress),
    /// Something the user should know: a rate-limit wait, a retry, a resumed pass.
    Notice(String),
}

/// The progress display on stderr: one line redrawn in place on a terminal, one line per page
/// otherwise (a log file, CI).
pub(super) struct ProgressLine {
    tty: bool,
    drawn: bool,
}

impl ProgressLine {
    /// A display redrawn in place when `tty`, else a line per page.
    pub(super) fn new(tty: bool) -> Self {
        Self { tty, drawn: false }
    }

    pub(super) fn show(&mut self, event: &Event<'_>) {
        match event {
            Event::Progress(progress) if self.tty => {
                eprint!("\r\x1b[2K{}", progress.line());
                self.drawn = true;
            }
            Event::Progress(progress) => eprintln!("{}", progress.line()),
            Event::Notice(text) => {
                self.clear();
                eprintln!("{text}");
            }
        }
    }

    pub(super) fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}

/// The closing summary: a line per resource and what the import did.
pub fn summary(progress: &Progress, took: Duration, done: bool) -> String {
    let head = if done { "imported" } else { "stopped importing" };
    let mut out = format!(
        "{head} {} in {}: {} requests, {} rate-limit waits, {} retries\n",
        if progress.repo.is_empty() { "nothing" } else { &progress.repo },
        duration(took),
        progress.requests,
        progress.rate_limit_waits,
        progress.retries
    );
    for (resource, c) in &progress.resources {
        out.push_str(&format!(
            "  {:<14} {:>6} read, {:>6} fact updates, {:>6} already stored, {:>4} skipped\n",
            resource.label(),
            c.read,
            c.facts_changed,
            c.facts_unchanged,
            c.skipped
        ));
    }
    out.trim_end().to_owned()
}

/// A duration as people read it: `45 s`, `3 min 20 s`, `1 h 5 min`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64().ceil() as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
    }
}
