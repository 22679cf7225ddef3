//! `pacer report`: write one week's report to a file, or send it by hand.
//!
//! `--out report.html` writes the HTML with its charts inlined (what the preview endpoint
//! serves); `--out report.eml` writes the MIME message the mailer would send. `--send` goes
//! through the same sent-log as the scheduler, so a report sent by hand is never sent again by
//! `pacer serve`, and the other way round.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use pacer_api::AppState;
use pacer_api::report::{self, Embed};
use pacer_api::week::Week;
use pacer_mail::{EVERYONE, Mailbox, Mailer};

use crate::app::open_store;
use crate::config::{CommonArgs, Overrides, settings};

/// Options of `pacer report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Configuration and database.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The ISO week, such as 2026-W47; default: the last week that ended.
    #[arg(long)]
    pub week: Option<String>,
    /// The team whose report it is; default: the report on every team.
    #[arg(long)]
    pub team: Option<String>,
    /// Write the report here: a `.html` file (charts inlined) or a `.eml` message.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Send it to its recipients now, unless the sent-log says they already have it.
    #[arg(long)]
    pub send: bool,
}

/// Runs `pacer report`.
///
/// # Errors
/// Bad arguments or configuration, or the report could not be written or sent.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    if args.out.is_none() && !args.send {
        bail!("expected --out FILE (.html or .eml), --send, or both");
    }
    let settings = settings(args.common.config.as_deref(), &Overrides { listen: None, database_url: args.common.database_url.clone() })?;
    let store = open_store(&settings.database_url).await?;
    let state = AppState::new(store.clone(), settings.api.clone());
    let week = match &args.week {
        Some(text) => Week::parse(text).map_err(|e| anyhow!("--week: {e}"))?,
        None => Week::ended_by(pacer_api::now(), &state.config.report.zone),
    };
    let team = args.team.as_deref();
    if let Some(out) = &args.out {
        write(&state, settings.report.as_deref(), week, team, out).await?;
        println!("wrote the {week} report of {} to {}", team.unwrap_or("all teams"), out.display());
    }
    if args.send {
        let config = settings.report.clone().ok_or_else(|| anyhow!("--send needs [report] smtp_url (or PACER_REPORT_SMTP_URL), from and recipients"))?;
        if config.recipients(team).is_empty() {
            bail!("nobody receives this report: add {} to [report]", team.map_or_else(|| "recipients".to_owned(), |t| format!("teams.{t}")));
        }
        let mailer = Mailer::new(state.clone(), config).map_err(|e| anyhow!(e))?;
        mailer.enqueue(week, Some(team), pacer_api::now()).await.context("cannot queue the report")?;
        mailer.deliver_due().await.context("cannot send the report")?;
        let key = team.unwrap_or(EVERYONE);
        for row in store.sends(&week.to_string()).await?.into_iter().filter(|r| r.team == key) {
            let detail = row.last_error.map_or_else(String::new, |e| format!(": {e}"));
            println!("{} {} → {}: {} after {} attempt(s){detail}", row.week, team.unwrap_or("all teams"), row.recipient, row.state, row.attempts);
        }
    }
    store.close().await;
    Ok(())
}

async fn write(state: &AppState, mail: Option<&pacer_mail::MailConfig>, week: Week, team: Option<&str>, out: &Path) -> anyhow::Result<()> {
    let bytes = match out.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => report::write(state, week, team, Embed::DataUri).await.map_err(|p| anyhow!(p.detail))?.html.into_bytes(),
        Some("eml") => {
            let letter = report::write(state, week, team, Embed::ContentId).await.map_err(|p| anyhow!(p.detail))?;
            let fallback: Mailbox = "pacer <pacer@localhost>".parse().map_err(|e| anyhow!("{e}"))?;
            let from = mail.map_or(fallback, |m| m.from.clone());
            let to = mail.map(|m| m.recipients(team).to_vec()).filter(|r| !r.is_empty()).unwrap_or_else(|| vec![from.clone()]);
            let id = format!("<pacer.{week}.preview@{}>", from.email.domain());
            pacer_mail::message::build(&letter, &from, &to, &id).map_err(|e| anyhow!(e))?.formatted()
        }
        _ => bail!("--out: expected a file ending in .html or .eml but found {}", out.display()),
    };
    std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))
}
