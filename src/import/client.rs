//! The GitHub HTTP client of `pacer import github`: GitHub's REST API through octocrab, with the
//! next page read from `Link` headers (RFC 8288), rate limits waited out, and 5xx answers and
//! network errors retried with exponential backoff.
//!
//! It knows nothing of resources, cursors or the store: it answers one GET at a time with a
//! [`Page`] (or an [`ImportError`]), counting requests, waits and retries into the
//! [`Progress`] and telling waits and retries as [`Event::Notice`]s. The passes
//! ([`super::passes`]) decide what to ask.

use std::collections::BTreeMap;
use std::time::Duration;

use http::StatusCode;
use http::header::HeaderMap;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use pacer_engine::Millis;
use serde_json::Value;

use super::progress::{Event, Progress, duration};
use super::{ImportError, Options};

/// How long to wait on a rate limit GitHub gives no end for (its docs say at least a minute).
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// What one attempt at a request came to.
enum Attempt {
    /// The page.
    Page(Page),
    /// A rate limit: ask again once it ends.
    Wait,
    /// A failure worth retrying.
    Failed(String),
}

/// A successful answer: one page of what was asked.
pub(super) struct Page {
    /// The page's JSON.
    pub(super) body: Value,
    /// The next page, as a path on the API.
    pub(super) next: Option<String>,
    /// The number of the last page, from the `Link` header.
    last_page: Option<u64>,
}

impl Page {
    /// The objects of a listing page and an estimate of the listing's size. Runs come wrapped
    /// (`{"total_count", "workflow_runs"}`), other listings are arrays.
    pub(super) fn items(&mut self, wrapped: bool, path: &str) -> Result<(Vec<Value>, Option<u64>), ImportError> {
        let total = self.body["total_count"].as_u64().filter(|_| wrapped);
        let list = if wrapped { self.body["workflow_runs"].take() } else { self.body.take() };
        let Value::Array(items) = list else {
            return Err(ImportError::Unexpected { path: path.to_owned(), detail: "expected a list of objects".into() });
        };
        let estimate = total.or_else(|| self.last_page.map(|last| last * items.len() as u64));
        Ok((items, estimate))
    }
}

/// GitHub's REST API through octocrab, with pacer's own retries and rate-limit waits (octocrab's
/// retry has no backoff and says nothing while it waits).
pub(super) struct GithubClient {
    octocrab: Octocrab,
    /// `scheme://authority` of the API, which `Link` headers must keep.
    origin: String,
    /// The API's path prefix (`/api/v3` on GitHub Enterprise Server).
    prefix: String,
    retries: u32,
    backoff: Duration,
    /// Until when the rate limit is used up (epoch ms), from the last answer.
    exhausted_until: Option<Millis>,
}

impl GithubClient {
    pub(super) fn new(options: &Options) -> Result<Self, ImportError> {
        let url = options.api_url.trim_end_matches('/');
        let bad = |detail: String| ImportError::Client { url: options.api_url.clone(), detail };
        let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(bad("expected an absolute http(s) URL".into()));
        };
        let origin = format!("{scheme}://{authority}");
        let mut builder = Octocrab::builder()
            .base_uri(url)
            .map_err(|e| bad(e.to_string()))?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)));
        if let Some(token) = &options.token {
            builder = builder.personal_token(token.clone());
        }
        let octocrab = builder.build().map_err(|e| bad(e.to_string()))?;
        Ok(Self { octocrab, origin, prefix: uri.path().trim_end_matches('/').to_owned(), retries: options.retries, backoff: options.backoff, exhausted_until: None })
    }

    /// GETs `path` (a path on the API, with its query), waiting out rate limits and retrying
    /// failures.
    pub(super) async fn get(&mut self, path: &str, progress: &mut Progress, report: &mut (dyn FnMut(Event<'_>) + Send)) -> Result<Page, ImportError> {
        let mut failures = 0u32;
        loop {
            if let Some(until) = self.exhausted_until.take() {
                progress.rate_limit_waits += 1;
                wait_until(until, report).await;
            }
            progress.requests += 1;
            // Paths only: octocrab sends the token to api.github.com or to a path on base_uri.
            let failure = match self.octocrab._get(path).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = self.octocrab.body_to_string(http::Response::from_parts(parts.clone(), body)).await;
                    match body {
                        Ok(body) => match self.answer(path, parts.status, &parts.headers, &body)? {
                            Attempt::Page(page) => return Ok(page),
                            Attempt::Wait => continue,
                            Attempt::Failed(failure) => failure,
                        },
                        Err(e) => e.to_string(),
                    }
                }
                Err(e) => format!("cannot reach {}: {e}", self.origin),
            };
            failures += 1;
            if failures > self.retries {
                return Err(ImportError::GaveUp { attempts: failures, path: path.to_owned(), last: failure });
            }
            let delay = self.backoff * 2u32.saturating_pow(failures - 1);
            progress.retries += 1;
            report(Event::Notice(format!("{failure} for {path}; retrying in {} (retry {failures} of {})", duration(delay), self.retries)));
            tokio::time::sleep(delay).await;
        }
    }

    /// What an answer means: the page, a rate limit to wait out, a failure worth retrying, or an
    /// error that ends the import.
    fn answer(&mut self, path: &str, status: StatusCode, headers: &HeaderMap, body: &str) -> Result<Attempt, ImportError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let reset = header("x-ratelimit-reset").and_then(|s| s.parse::<i64>().ok()).map(|s| s * 1_000);
        let exhausted = header("x-ratelimit-remaining") == Some("0");
        if status.is_success() {
            if exhausted {
                self.exhausted_until = reset;
            }
            let body = serde_json::from_str(body).map_err(|e| ImportError::Unexpected { path: path.to_owned(), detail: format!("invalid JSON: {e}") })?;
            let links = header("link").map(links).unwrap_or_default();
            let next = links.get("next").map(|url| self.path_of(url)).transpose()?;
            let last_page = links.get("last").and_then(|url| page_number(url));
            return Ok(Attempt::Page(Page { body, next, last_page }));
        }
        let message = serde_json::from_str::<Value>(body).ok().and_then(|b| b["message"].as_str().map(str::to_owned)).unwrap_or_default();
        if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = header("retry-after").and_then(|s| s.parse::<i64>().ok()).map(|s| pacer_api::now() + s * 1_000);
            let secondary = status == StatusCode::TOO_MANY_REQUESTS || message.to_ascii_lowercase().contains("rate limit");
            let until = retry_after
                .or(if exhausted { reset } else { None })
                .or_else(|| secondary.then(|| pacer_api::now() + SECONDARY_LIMIT_WAIT.as_millis() as i64));
            if let Some(until) = until {
                self.exhausted_until = Some(until);
                return Ok(Attempt::Wait);
            }
        }
        match status {
            StatusCode::UNAUTHORIZED => Err(ImportError::Unauthorized),
            StatusCode::NOT_FOUND => Err(ImportError::NotFound(path.to_owned())),
            s if s.is_server_error() => Ok(Attempt::Failed(format!("GitHub answered {s}"))),
            s => Err(ImportError::Status { status: s, path: path.to_owned(), message }),
        }
    }

    /// The path on the API of a `Link` URL; a link to another host is refused, since the token
    /// must not go there.
    fn path_of(&self, url: &str) -> Result<String, ImportError> {
        let path = url.strip_prefix(&self.origin).filter(|p| p.starts_with('/'));
        let path = path.ok_or_else(|| ImportError::Unexpected { path: url.to_owned(), detail: format!("a page link outside {}", self.origin) })?;
        Ok(path.strip_prefix(&self.prefix).filter(|p| p.starts_with('/')).unwrap_or(path).to_owned())
    }
}

/// Sleeps until `until` (epoch ms), saying until when; at least a second, so that a clock
/// behind GitHub's cannot make it ask again and again.
async fn wait_until(until: Millis, report: &mut (dyn FnMut(Event<'_>) + Send)) {
    let until = until.max(pacer_api::now() + 1_000);
    let wait = Duration::from_millis(u64::try_from(until - pacer_api::now()).unwrap_or(0));
    let at = chrono::DateTime::from_timestamp_millis(until).map(|t| t.format("%H:%M:%S UTC").to_string()).unwrap_or_default();
    report(Event::Notice(format!("GitHub's rate limit is used up: waiting until {at} ({})", duration(wait))));
    tokio::time::sleep(wait).await;
}

/// The parts of a `Link` header (RFC 8288) by relation: `<url>; rel="next", <url>; rel="last"`.
fn links(header: &str) -> BTreeMap<String, String> {
    header
        .split(',')
        .filter_map(|part| {
            let (url, params) = part.split_once(';')?;
            let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
            let rel = params.split(';').find_map(|p| p.trim().strip_prefix("rel="))?.trim_matches('"');
            Some((rel.to_owned(), url.to_owned()))
        })
        .collect()
}

/// The `page` query parameter of a URL.
fn page_number(url: &str) -> Option<u64> {
    url.split_once('?')?.1.split('&').find_map(|kv| kv.strip_prefix("page=")).and_then(|n| n.parse().ok())
}

/// Percent-encodes a query value.
pub(super) fn encode(value: &str) -> String {
    value.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_and_last_pages() {
        let header = r#"<https://api.github.com/repositories/1/pulls?page=2>; rel="next", <https://api.github.com/repositories/1/pulls?page=5>; rel="last""#;
        let links = links(header);
        assert_eq!(links.get("next").map(String::as_str), Some("https://api.github.com/repositories/1/pulls?page=2"));
        assert_eq!(links.get("last").and_then(|u| page_number(u)), Some(5));
    }
}
