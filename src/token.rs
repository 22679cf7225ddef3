//! `pacer token create | list | revoke`: API tokens, managed against the database.
//!
//! `create` prints the new token once, on standard output and alone on its line, so a script can
//! capture it; pacer keeps only its digest and can never show it again. `list` shows names,
//! scopes, prefixes and dates, never tokens. `revoke` takes effect at the next request on every
//! replica: tokens are looked up in the database on each request, not cached.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use pacer_api::auth::{self, PREFIX_LEN, Scope};
use pacer_engine::calendar::rfc3339;
use pacer_store::{Created, NewToken, TokenRow};

use crate::app::open_store;
use crate::config::{CommonArgs, Overrides, settings};

/// Options of `pacer token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once.
    Create {
        /// A unique name, to recognize and revoke it (`ci-deploys`).
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: ingest, read, admin.
        #[arg(long)]
        scope: String,
        /// When it stops working: `90d`, `12h`, `2w` from now, or an RFC 3339 time. Default: never.
        #[arg(long)]
        expires: Option<String>,
        /// Configuration and database.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// Configuration and database.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Revoke a token by name or id.
    Revoke {
        /// The token's name, or its id.
        name_or_id: String,
        /// Configuration and database.
        #[command(flatten)]
        common: CommonArgs,
    },
}

impl TokenCommand {
    fn common(&self) -> &CommonArgs {
        match self {
            Self::Create { common, .. } | Self::List { common } | Self::Revoke { common, .. } => common,
        }
    }
}

/// Runs a token command.
///
/// # Errors
/// Bad arguments, a taken name, an unknown token, or a database that cannot be reached.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let common = args.command.common();
    let settings = settings(common.config.as_deref(), &Overrides { listen: None, database_url: common.database_url.clone() })?;
    let store = open_store(&settings.database_url).await?;
    let now = pacer_api::now();
    match args.command {
        TokenCommand::Create { name, scope, expires, .. } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 100 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("--name: expected 1 to 100 characters without spaces but found {name:?}");
            }
            let scopes = Scope::parse_list(&scope).map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
            let expires_at = expires.as_deref().map(|text| expiry(text, now)).transpose()?;
            let token = auth::mint().map_err(anyhow::Error::msg)?;
            let digest = auth::digest(&token);
            let scopes = Scope::join(&scopes);
            let new = NewToken { name, token_hash: &digest, prefix: &token[..PREFIX_LEN], scopes: &scopes, expires_at };
            match store.create_token(&new, now).await.context("cannot store the token")? {
                Created::NameTaken => bail!("--name: a token named {name:?} exists already (revoked tokens keep their names)"),
                Created::Stored(row) => {
                    eprintln!("created token {} (id {}) with scopes {}{}; it is shown once, keep it now:", row.name, row.id, row.scopes, until(&row));
                    println!("{token}");
                }
            }
        }
        TokenCommand::List { .. } => {
            let rows = store.tokens().await.context("cannot list the tokens")?;
            println!("{:<5} {:<24} {:<20} {:<14} {:<10} {:<20} {:<20} last used", "id", "name", "scopes", "prefix", "state", "created", "expires");
            for row in &rows {
                let state = if row.revoked_at.is_some() {
                    "revoked"
                } else if row.is_active(now) {
                    "active"
                } else {
                    "expired"
                };
                let date = |at: Option<i64>| at.map_or_else(|| "-".to_owned(), |at| rfc3339(at - at % 1_000));
                println!(
                    "{:<5} {:<24} {:<20} {:<14} {:<10} {:<20} {:<20} {}",
                    row.id,
                    row.name,
                    row.scopes,
                    format!("{}…", row.prefix),
                    state,
                    date(Some(row.created_at)),
                    date(row.expires_at),
                    date(row.last_used_at)
                );
            }
        }
        TokenCommand::Revoke { name_or_id, .. } => match store.revoke_token(&name_or_id, now).await.context("cannot revoke the token")? {
            Some(row) => println!("revoked token {} (id {})", row.name, row.id),
            None => bail!("no active token is named {name_or_id:?} or has that id"),
        },
    }
    store.close().await;
    Ok(())
}

/// When a token given `--expires text` at `now` stops working.
fn expiry(text: &str, now: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    // `90d` means from now; anything else is a point in time.
    let relative = text.len() > 1 && text[..text.len() - 1].bytes().all(|b| b.is_ascii_digit()) && text.ends_with(['s', 'm', 'h', 'd', 'w']);
    let at = if relative { pacer_api::query::parse_time(&format!("now+{text}"), now) } else { pacer_api::query::parse_time(text, now) };
    match at {
        Some(at) if at > now => Ok(at),
        Some(_) => bail!("--expires: expected a time in the future but found {text:?}"),
        None => bail!("--expires: expected 90d, 12h, 2w style or an RFC 3339 time but found {text:?}"),
    }
}

fn until(row: &TokenRow) -> String {
    row.expires_at.map(|at| format!(", until {}", rfc3339(at))).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_reads_durations_from_now_and_points_in_time() {
        let now = 1_800_000_000_000;
        assert_eq!(expiry("90d", now).ok(), Some(now + 90 * 86_400_000));
        assert_eq!(expiry("12h", now).ok(), Some(now + 12 * 3_600_000));
        assert_eq!(expiry("2028-01-01T00:00:00Z", now).ok(), Some(1_830_297_600_000));
        assert!(expiry("2020-01-01T00:00:00Z", now).is_err(), "the past");
        assert!(expiry("soon", now).is_err());
    }
}
