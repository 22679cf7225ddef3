//! SLOs beyond reading their state: their calendar-aligned windows, the evaluator that turns a burn into an alert, the
//! Prometheus rules that let Prometheus raise the same alerts (`pacer slo rules`), and the
//! OpenSLO files `[[openslo]]` reads into SLOs.
//!
//! Not here: what an SLO's state is (its counts, budget and burn rates), which routes, the page,
//! the report and the evaluator all read from [`crate::read::slo`]; and the burn arithmetic, which
//! is the engine's ([`pacer_engine::burn`]).

pub mod calendar;
pub mod evaluator;
pub mod openslo;
pub mod rules;
