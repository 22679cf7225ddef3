//! A [`Message`] as a Microsoft Teams Workflows webhook payload: the `message` envelope around an
//! Adaptive Card 1.4 (<https://adaptivecards.io/explorer/>), as Microsoft's "Send Adaptive Cards
//! using an incoming webhook" shows it: title and summary as `TextBlock`s, the facts as a
//! `FactSet`, the changes as a list, the links as `Action.OpenUrl`. User-supplied text is escaped
//! for the card's markdown ([`escape_teams`]) and texts are cut so that a card stays well under
//! Teams' 28 KB message limit.

use serde_json::{Value, json};

use crate::message::{Message, Tone};
use crate::text::{escape_teams, truncate_teams};

/// Longest text of a block.
pub const MAX_TEXT: usize = 2_000;
/// Most changes listed.
pub const MAX_CHANGES: usize = 20;
/// Most actions.
pub const MAX_ACTIONS: usize = 6;

/// The payload for Teams.
pub fn render(m: &Message) -> Value {
    let color = match m.tone {
        Tone::Neutral => "Default",
        Tone::Good => "Good",
        Tone::Warning => "Warning",
        Tone::Bad => "Attention",
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": text(&m.title, MAX_TEXT), "size": "Large", "weight": "Bolder", "color": color, "wrap": true}),
        json!({"type": "TextBlock", "text": text(&m.summary, MAX_TEXT), "wrap": true}),
    ];
    if !m.facts.is_empty() {
        let facts: Vec<Value> = m.facts.iter().map(|(title, value)| json!({"title": title, "value": text(value, MAX_TEXT)})).collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if !m.changes.is_empty() {
        let mut lines: Vec<String> = m
            .changes
            .iter()
            .take(MAX_CHANGES)
            .map(|c| {
                let author = c.author.as_deref().map(|a| format!(" — {}", escape_teams(a))).unwrap_or_default();
                let reference = if c.reference.is_empty() { String::new() } else { format!("{} ", escape_teams(&c.reference)) };
                truncate_teams(&format!("- {reference}{}{author}", escape_teams(&c.text)), MAX_TEXT / 10)
            })
            .collect();
        if m.changes.len() > MAX_CHANGES {
            lines.push(format!("- …and {} more", m.changes.len() - MAX_CHANGES));
        }
        body.push(json!({"type": "TextBlock", "text": m.heading, "weight": "Bolder", "wrap": true}));
        body.push(json!({"type": "TextBlock", "text": lines.join("\n"), "wrap": true}));
    }
    body.push(json!({"type": "TextBlock", "text": text(&m.footer, MAX_TEXT), "isSubtle": true, "size": "Small", "wrap": true}));
    let actions: Vec<Value> = m.links.iter().take(MAX_ACTIONS).map(|l| json!({"type": "Action.OpenUrl", "title": l.label, "url": l.url})).collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            },
        }],
    })
}

/// `plain` escaped for the card and cut to `max` characters.
fn text(plain: &str, max: usize) -> String {
    truncate_teams(&escape_teams(plain), max)
}
