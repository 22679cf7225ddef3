//! Slack's requests to the deploy bot: the request signature and the slash command.
//!
//! Signing per Slack's "Verifying requests from Slack"
//! (<https://docs.slack.dev/authentication/verifying-requests-from-slack/>, as Slack's own SDK
//! implements it): `X-Slack-Signature` is `v0=` and the lower-case hex HMAC-SHA256, under the
//! app's signing secret, of `v0:{X-Slack-Request-Timestamp}:{raw body}`; a timestamp more than
//! five minutes from now is refused, so a captured request cannot be replayed. The body is
//! checked exactly as received, before any parsing.
//!
//! A slash command is a form (`application/x-www-form-urlencoded`); unknown fields are ignored,
//! as Slack adds fields over time.

use serde::Deserialize;

use crate::signature::{constant_time_eq, hmac_hex};

/// How far a request's timestamp may be from now, in seconds.
pub const REPLAY_WINDOW_SECS: i64 = 5 * 60;

/// Why a request is not Slack's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// A header is missing or unreadable.
    #[error("expected the header {0}")]
    Missing(&'static str),
    /// The timestamp is more than five minutes from now.
    #[error("expected a request timestamp within five minutes of now but found one {0} s away")]
    Stale(i64),
    /// The signature does not match.
    #[error("the request signature does not match")]
    Mismatch,
}

/// Checks a request's signature at `now` (Unix seconds): `timestamp` and `signature` are the
/// headers as sent, `None` when absent.
///
/// # Errors
/// A missing header, a stale timestamp, or a signature that does not match.
pub fn verify(secret: &str, timestamp: Option<&str>, signature: Option<&str>, body: &[u8], now: i64) -> Result<(), SigningError> {
    let timestamp = timestamp.ok_or(SigningError::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SigningError::Missing("X-Slack-Signature"))?;
    let at: i64 = timestamp.trim().parse().map_err(|_| SigningError::Missing("X-Slack-Request-Timestamp"))?;
    let away = (now - at).abs();
    if away > REPLAY_WINDOW_SECS {
        return Err(SigningError::Stale(away));
    }
    let mut signed = format!("v0:{timestamp}:").into_bytes();
    signed.extend_from_slice(body);
    let expected = format!("v0={}", hmac_hex(secret.as_bytes(), &signed));
    if constant_time_eq(signature.trim().as_bytes(), expected.as_bytes()) { Ok(()) } else { Err(SigningError::Mismatch) }
}

/// A slash command as Slack sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SlashCommand {
    /// The workspace.
    #[serde(default)]
    pub team_id: String,
    /// The channel it was typed in.
    #[serde(default)]
    pub channel_id: String,
    /// Who typed it (a Slack user id, `U…`).
    #[serde(default)]
    pub user_id: String,
    /// Their name (deprecated by Slack, shown only).
    #[serde(default)]
    pub user_name: String,
    /// The command, `/pacer`.
    #[serde(default)]
    pub command: String,
    /// What follows the command.
    #[serde(default)]
    pub text: String,
    /// Where later answers go.
    #[serde(default)]
    pub response_url: String,
}

impl SlashCommand {
    /// Reads a command from its form body.
    ///
    /// # Errors
    /// The body is not a form.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        serde_urlencoded::from_bytes(body).map_err(|e| format!("expected a form-encoded slash command: {e}"))
    }

    /// The words of its text: the subcommand first.
    pub fn words(&self) -> Vec<&str> {
        self.text.split_whitespace().collect()
    }
}

/// A click on a button of the bot's message, as Slack posts it to the interactivity URL: a
/// form whose `payload` field is JSON (<https://api.slack.com/reference/interaction-payloads>).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Interaction {
    /// Who clicked.
    #[serde(default)]
    pub user: User,
    /// The buttons clicked (one for a button).
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// A Slack user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct User {
    /// Their id, `U…`.
    #[serde(default)]
    pub id: String,
}

/// A button clicked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Action {
    /// The button's `action_id`.
    #[serde(default)]
    pub action_id: String,
    /// The button's `value`.
    #[serde(default)]
    pub value: String,
}

impl Interaction {
    /// Reads an interaction from its form body.
    ///
    /// # Errors
    /// The body is not a form with a JSON `payload`.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Form {
            payload: String,
        }
        let form: Form = serde_urlencoded::from_bytes(body).map_err(|e| format!("expected a form with a payload field: {e}"))?;
        serde_json::from_str(&form.payload).map_err(|e| format!("expected the payload to be an interaction: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's published worked example (slackapi/python-slack-sdk's test, copied from Slack's
    /// docs page), as `../shared/fixtures/slack/signing.worked-example.json` records it.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_worked_example_verifies_at_its_time() {
        assert_eq!(verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), 1_531_420_618), Ok(()));
        assert_eq!(verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), 1_531_420_618 + 300), Ok(()));
    }

    #[test]
    fn wrong_missing_and_replayed_signatures_are_refused() {
        let at = 1_531_420_618;
        let cases = [
            ("another secret", verify("another", Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), at), SigningError::Mismatch),
            ("a changed body", verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), format!("{BODY}x").as_bytes(), at), SigningError::Mismatch),
            ("no signature", verify(SECRET, Some(TIMESTAMP), None, BODY.as_bytes(), at), SigningError::Missing("X-Slack-Signature")),
            ("no timestamp", verify(SECRET, None, Some(SIGNATURE), BODY.as_bytes(), at), SigningError::Missing("X-Slack-Request-Timestamp")),
            ("replayed six minutes later", verify(SECRET, Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), at + 360), SigningError::Stale(360)),
        ];
        for (what, got, expected) in cases {
            assert_eq!(got, Err(expected), "{what}");
        }
    }

    #[test]
    fn the_worked_example_body_reads_as_a_command() {
        let command = SlashCommand::parse(BODY.as_bytes()).expect("a form");
        assert_eq!((command.user_id.as_str(), command.command.as_str(), command.text.as_str()), ("U2CERLKJA", "/webhook-collect", ""));
        assert_eq!(command.response_url, "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN");
    }
}
