//! Typed read models the routes, the page, the report and `/metrics` share: the analysis a request
//! names, CI runs and budget samples, the pull-request flow, and SLO status. Each is loaded once
//! here and serialized by whoever shows it; nothing reads a JSON answer back.

pub mod ci;
pub mod dora;
pub mod prs;
pub mod slo;
