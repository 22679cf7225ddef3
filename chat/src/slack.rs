//! A [`Message`] as a Slack incoming-webhook payload in Block Kit
//! (<https://api.slack.com/reference/block-kit/blocks>): a header, the summary, the facts as
//! section fields, the changes shipped, buttons for the links and a context line; `text` is the
//! notification's fallback. User-supplied text is escaped for mrkdwn (`&`, `<`, `>`) and every
//! text is cut to its block's limit, counted in characters.

use serde_json::{Value, json};

use crate::message::{Message, Tone};
use crate::text::{escape_mrkdwn, truncate, truncate_escaped};

/// Most blocks in a message.
pub const MAX_BLOCKS: usize = 50;
/// Longest text of a section.
pub const MAX_SECTION_TEXT: usize = 3_000;
/// Longest text of a header.
pub const MAX_HEADER_TEXT: usize = 150;
/// Longest text of a section field.
pub const MAX_FIELD_TEXT: usize = 2_000;
/// Most fields in a section.
pub const MAX_FIELDS: usize = 10;
/// Longest text of a button.
pub const MAX_BUTTON_TEXT: usize = 75;
/// Most elements in an actions block.
pub const MAX_ACTIONS: usize = 25;
/// Longest URL of a button.
pub const MAX_URL: usize = 3_000;

/// The payload for Slack.
pub fn render(m: &Message) -> Value {
    let emoji = match m.tone {
        Tone::Neutral => ":rocket:",
        Tone::Good => ":white_check_mark:",
        Tone::Warning => ":warning:",
        Tone::Bad => ":rotating_light:",
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&format!("{emoji} {}", m.title), MAX_HEADER_TEXT), "emoji": true}}),
        section(&escape_mrkdwn(&m.summary)),
    ];
    for facts in m.facts.chunks(MAX_FIELDS) {
        let fields: Vec<Value> = facts
            .iter()
            .map(|(label, value)| json!({"type": "mrkdwn", "text": truncate_escaped(&format!("*{label}*\n{}", escape_mrkdwn(value)), MAX_FIELD_TEXT)}))
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if !m.changes.is_empty() {
        let lines: Vec<String> = m
            .changes
            .iter()
            .map(|c| {
                let author = c.author.as_deref().map(|a| format!(" — {}", escape_mrkdwn(a))).unwrap_or_default();
                match c.reference.as_str() {
                    "" => format!("• {}{author}", escape_mrkdwn(&c.text)),
                    reference => format!("• `{}` {}{author}", escape_mrkdwn(reference), escape_mrkdwn(&c.text)),
                }
            })
            .collect();
        blocks.push(section(&listed(&format!("*{}*", m.heading), &lines, MAX_SECTION_TEXT)));
    }
    let buttons: Vec<Value> = m
        .links
        .iter()
        .filter(|l| l.url.chars().count() <= MAX_URL)
        .take(MAX_ACTIONS)
        .map(|l| json!({"type": "button", "text": {"type": "plain_text", "text": truncate(l.label, MAX_BUTTON_TEXT)}, "url": l.url, "action_id": l.id}))
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate_escaped(&escape_mrkdwn(&m.footer), MAX_SECTION_TEXT)}]}));
    blocks.truncate(MAX_BLOCKS);
    json!({"text": truncate_escaped(&escape_mrkdwn(&format!("{}: {}", m.title, m.summary)), MAX_SECTION_TEXT), "blocks": blocks})
}

fn section(mrkdwn: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_escaped(mrkdwn, MAX_SECTION_TEXT)}})
}

/// `heading` and as many whole `lines` as fit in `max` characters, with how many were left out.
fn listed(heading: &str, lines: &[String], max: usize) -> String {
    let mut text = heading.to_owned();
    for (shown, line) in lines.iter().enumerate() {
        let rest = lines.len() - shown;
        let more = format!("\n…and {rest} more");
        let line = truncate_escaped(line, max / 4);
        if text.chars().count() + 1 + line.chars().count() + more.chars().count() > max {
            text.push_str(&more);
            return text;
        }
        text.push('\n');
        text.push_str(&line);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;
    use crate::message::{ChangeLine, Link};

    fn message(title: &str, changes: usize) -> Message {
        Message {
            kind: Kind::RollbackDecided,
            tone: Tone::Bad,
            title: title.to_owned(),
            summary: "5xx <high> & rising".to_owned(),
            facts: (0..13).map(|i| ("Fact", format!("value {i}"))).collect(),
            heading: "Changes shipped",
            changes: (0..changes).map(|i| ChangeLine { reference: format!("c{i:06}"), text: "x".repeat(200), author: Some("<ann>".into()) }).collect(),
            links: vec![Link { id: "pacer", label: "Open in pacer", url: "https://pacer.example.com/?a=1&b=2".into() }],
            footer: "pacer · production".to_owned(),
        }
    }

    fn texts(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                let kind = map.get("type").and_then(Value::as_str).unwrap_or("").to_owned();
                for (key, value) in map {
                    match value {
                        Value::String(s) if key == "text" => out.push((kind.clone(), s.clone())),
                        other => texts(other, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| texts(i, out)),
            _ => {}
        }
    }

    #[test]
    fn every_text_keeps_within_block_kit_limits() {
        let rendered = render(&message(&"é".repeat(400), 500));
        let blocks = rendered["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= MAX_BLOCKS);
        assert_eq!(blocks[0]["text"]["text"].as_str().map(|t| t.chars().count()), Some(MAX_HEADER_TEXT));
        let mut all = Vec::new();
        texts(&rendered, &mut all);
        for (kind, text) in &all {
            assert!(text.chars().count() <= MAX_SECTION_TEXT, "{kind}: {} characters", text.chars().count());
        }
        let changes = blocks.iter().find_map(|b| b["text"]["text"].as_str().filter(|t| t.starts_with("*Changes shipped*"))).expect("changes");
        assert!(changes.ends_with("more"), "the lines left out are counted: {changes}");
        let fields: Vec<usize> = blocks.iter().filter_map(|b| b["fields"].as_array().map(Vec::len)).collect();
        assert_eq!(fields, [10, 3], "at most ten fields a section");
    }

    #[test]
    fn user_text_is_escaped_but_links_are_not() {
        let rendered = render(&message("t", 1));
        assert_eq!(rendered["blocks"][1]["text"]["text"], "5xx &lt;high&gt; &amp; rising");
        let button = rendered["blocks"].as_array().and_then(|b| b.iter().find(|b| b["type"] == "actions")).expect("actions");
        assert_eq!(button["elements"][0]["url"], "https://pacer.example.com/?a=1&b=2");
        assert!(rendered.to_string().contains("— &lt;ann&gt;"));
    }
}
