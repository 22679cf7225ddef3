//! `pacer slack manifest --url https://pacer.example.com`: prints the Slack app manifest of the
//! deploy bot (the `/pacer` command at pacer's address, the scopes), to paste into Slack's
//! "Create an app → From a manifest".

use anyhow::bail;
use clap::{Args, Subcommand};

/// Options of `pacer slack`.
#[derive(Debug, Args)]
pub struct SlackArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SlackCommand,
}

/// The Slack commands.
#[derive(Debug, Subcommand)]
pub enum SlackCommand {
    /// Print the Slack app manifest (JSON) for a pacer reachable at `--url`.
    Manifest {
        /// pacer's public address, `https://pacer.example.com`.
        #[arg(long)]
        url: String,
    },
}

/// Runs `pacer slack …`.
///
/// # Errors
/// The URL is not http(s).
pub fn run(args: SlackArgs) -> anyhow::Result<()> {
    match args.command {
        SlackCommand::Manifest { url } => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("--url: expected pacer's public address such as https://pacer.example.com but found {url:?}");
            }
            println!("{}", serde_json::to_string_pretty(&pacer_chat::manifest::manifest(&url))?);
            Ok(())
        }
    }
}
