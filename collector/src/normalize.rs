//! Normalization shared by every source: environment names.

use std::collections::HashMap;

/// The environment every metric defaults to.
pub const PRODUCTION: &str = "production";

/// Maps the names senders use onto pacer's environments.
#[derive(Debug, Clone)]
pub struct Normalizer {
    aliases: HashMap<String, String>,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new(HashMap::new())
    }
}

impl Normalizer {
    /// `prod`, `production` and `live` mean `production`; `aliases` (lower-case name →
    /// environment) add to or override that.
    pub fn new(aliases: HashMap<String, String>) -> Self {
        let mut all: HashMap<String, String> =
            ["prod", "production", "live"].into_iter().map(|n| (n.to_owned(), PRODUCTION.to_owned())).collect();
        all.extend(aliases.into_iter().map(|(k, v)| (k.to_lowercase(), v)));
        Self { aliases: all }
    }

    /// The environment a sender's name means: an alias match is case-insensitive; other names
    /// are kept as sent, trimmed.
    pub fn environment(&self, name: &str) -> String {
        let name = name.trim();
        self.aliases.get(&name.to_lowercase()).cloned().unwrap_or_else(|| name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prod_and_live_mean_production() {
        let n = Normalizer::default();
        assert_eq!(n.environment("prod"), "production");
        assert_eq!(n.environment("LIVE"), "production");
        assert_eq!(n.environment("staging"), "staging");
    }

    #[test]
    fn configured_aliases_are_added() {
        let n = Normalizer::new([("prd-eu".to_string(), "production".to_string())].into());
        assert_eq!(n.environment("PRD-EU"), "production");
    }
}
