//! `pacer slo rules`: prints Prometheus rules for the configured `[[slo]]` with Prometheus
//! queries — recording rules and burn-rate alerts, as a rule file or as a Prometheus Operator
//! `PrometheusRule` — to standard output. The rules themselves are made by
//! [`pacer_api::slo_rules`]; this command only picks the SLOs and the format.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use pacer_api::config::{BurnAlerts, Slo, SloSource};
use pacer_api::slo::rules::{self as slo_rules, Format, LabelNames, Resource};

use crate::config::Overrides;

/// Options of `pacer slo`.
#[derive(Debug, Args)]
pub struct SloArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SloCommand,
}

/// The SLO commands.
#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Print Prometheus recording and alerting rules for the SLOs with Prometheus queries.
    Rules(RulesArgs),
}

/// Options of `pacer slo rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// TOML configuration file.
    #[arg(long, env = "PACER_CONFIG")]
    pub config: Option<PathBuf>,
    /// `rules`: a rule file for `rule_files`; `operator`: a Prometheus Operator PrometheusRule.
    #[arg(long, value_enum, default_value = "rules")]
    pub format: FormatArg,
    /// Only this SLO (repeatable); every SLO with an [slo.prometheus] source when left out.
    #[arg(long = "slo")]
    pub slos: Vec<String>,
    /// The PrometheusRule's name (`--format operator`).
    #[arg(long, default_value = "pacer-slos")]
    pub name: String,
    /// The PrometheusRule's namespace (`--format operator`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// A label of the PrometheusRule, `key=value` (repeatable), such as the one the Prometheus
    /// resource's `ruleSelector` selects (`--format operator`).
    #[arg(long = "label", value_parser = key_value)]
    pub labels: Vec<(String, String)>,
}

/// How the rules are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// A Prometheus rule file.
    Rules,
    /// A Prometheus Operator `PrometheusRule` resource.
    Operator,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected key=value but found {text:?}")),
    }
}

/// Runs `pacer slo …`.
///
/// # Errors
/// The configuration has problems, an `--slo` is not configured or counts `sli` events, or no
/// SLO has Prometheus queries.
pub fn run(args: SloArgs) -> anyhow::Result<()> {
    let SloCommand::Rules(args) = args.command;
    let settings = crate::config::settings(args.config.as_deref(), &Overrides::default())?;
    let slos = &settings.api.slos;
    let chosen: Vec<&Slo> = if args.slos.is_empty() {
        let (prometheus, events): (Vec<&Slo>, Vec<&Slo>) = slos.iter().partition(|slo| matches!(slo.source, SloSource::Prometheus { .. }));
        for slo in events {
            eprintln!("note: slo {:?} counts sli events, which Prometheus does not see: no rules for it", slo.name);
        }
        prometheus
    } else {
        let mut chosen = Vec::new();
        for name in &args.slos {
            match slos.iter().find(|slo| &slo.name == name) {
                Some(slo) => chosen.push(slo),
                None => bail!("--slo: no [[slo]] is named {name:?}"),
            }
        }
        chosen
    };
    let labels = &settings.api.rollback.labels;
    let service = labels.service.first().map_or("service", String::as_str);
    let environment = labels.environment.first().map_or("environment", String::as_str);
    for slo in chosen.iter().filter(|slo| slo.burn_alerts == BurnAlerts::Pacer) {
        eprintln!("note: slo {:?} is also alerted by pacer's own evaluator; set burn_alerts = \"prometheus\" on it once Prometheus runs these rules, so one burn opens one incident", slo.name);
    }
    let groups = slo_rules::groups(&chosen, LabelNames { service, environment })?;
    let format = match args.format {
        FormatArg::Rules => Format::Rules,
        FormatArg::Operator => Format::Operator(Resource { name: args.name, namespace: args.namespace, labels: args.labels.into_iter().collect() }),
    };
    print!("{}", slo_rules::render(&groups, &format));
    Ok(())
}
