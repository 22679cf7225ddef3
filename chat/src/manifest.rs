//! The Slack app manifest of the deploy bot (<https://api.slack.com/reference/manifests>): the
//! `/pacer` slash command pointing at pacer's `POST /webhooks/slack/commands`, interactivity (the
//! rollback's confirm button) at `POST /webhooks/slack/interactions`, an incoming webhook for
//! notifications, and the scopes they need. A user pastes it into "Create an app →
//! From a manifest" in one step. Pure: `pacer slack manifest` prints it.

use serde_json::{Value, json};

/// The manifest for a pacer reachable at `base_url` (`https://pacer.example.com`).
pub fn manifest(base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    json!({
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "pacer",
            "description": "Deployments, incidents and rollbacks, and a deploy bot",
            "background_color": "#1d1c1d",
        },
        "features": {
            "bot_user": {"display_name": "pacer", "always_online": true},
            "slash_commands": [{
                "command": "/pacer",
                "url": format!("{base}/webhooks/slack/commands"),
                "description": "Deploy status, history and rollback approvals",
                "usage_hint": "status <service> [environment] | history <service> [n] | dora [team] | rollback <service> [environment] | approve <rollback id>",
                "should_escape": false,
            }],
        },
        "oauth_config": {"scopes": {"bot": ["commands", "incoming-webhook"]}},
        "settings": {
            "interactivity": {"is_enabled": true, "request_url": format!("{base}/webhooks/slack/interactions")},
            "org_deploy_enabled": false,
            "socket_mode_enabled": false,
            "token_rotation_enabled": false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_points_at_pacer() {
        let m = manifest("https://pacer.example.com/");
        assert_eq!(m["features"]["slash_commands"][0]["url"], "https://pacer.example.com/webhooks/slack/commands");
        assert_eq!(m["settings"]["interactivity"]["request_url"], "https://pacer.example.com/webhooks/slack/interactions");
        assert_eq!(m["oauth_config"]["scopes"]["bot"], json!(["commands", "incoming-webhook"]));
    }
}
