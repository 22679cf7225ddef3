//! Text for chat: Slack's mrkdwn escaping, truncation to a limit counted in characters (never
//! inside a character, nor inside an escape), short durations, and links into pacer.

use pacer_engine::Millis;

/// Escapes the three characters Slack's mrkdwn gives meaning to (`&`, `<`, `>`), as Slack's
/// "Formatting text for app surfaces" asks of user-supplied text.
pub fn escape_mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The characters an Adaptive Card `TextBlock` (and a `FactSet` value) in Microsoft Teams gives
/// meaning to: its CommonMark subset (`**bold**`, `_italic_`, `[links](…)`, lists), raw HTML and
/// entities (`<`, `>`, `&`), and the `{{DATE(…)}}` functions.
const TEAMS_SPECIAL: [char; 10] = ['\\', '*', '_', '[', ']', '<', '>', '&', '{', '}'];

/// Escapes user-supplied `text` for an Adaptive Card `TextBlock` in Teams: each character its
/// markdown, HTML or date functions would interpret gets a CommonMark backslash escape, so it
/// shows as sent.
pub fn escape_teams(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if TEAMS_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How a text to cut is escaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escaped {
    /// Plain text.
    No,
    /// Slack mrkdwn: `&amp;`, `&lt;`, `&gt;`.
    Entities,
    /// Teams: a backslash before the character.
    Backslashes,
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    cut(text, max, Escaped::No)
}

/// Escaped mrkdwn `text` cut to at most `max` characters, ending in `…` when cut, never inside an
/// escape such as `&amp;`.
pub fn truncate_escaped(text: &str, max: usize) -> String {
    cut(text, max, Escaped::Entities)
}

/// Text escaped by [`escape_teams`] cut to at most `max` characters, ending in `…` when cut,
/// never between a backslash and what it escapes.
pub fn truncate_teams(text: &str, max: usize) -> String {
    cut(text, max, Escaped::Backslashes)
}

fn cut(text: &str, max: usize, escaped: Escaped) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let Some(keep) = max.checked_sub(1) else { return String::new() };
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut head = &text[..end];
    match escaped {
        Escaped::No => {}
        // An `&` with no `;` after it in the head starts an escape the cut went through.
        Escaped::Entities => {
            if let Some(amp) = head.rfind('&').filter(|&amp| !head[amp..].contains(';')) {
                head = &head[..amp];
            }
        }
        // An odd run of backslashes at the end: the last one escaped what the cut left out.
        Escaped::Backslashes => {
            let run = head.len() - head.trim_end_matches('\\').len();
            if run % 2 == 1 {
                head = &head[..head.len() - 1];
            }
        }
    }
    format!("{head}…")
}

/// A duration in the largest unit that keeps it readable: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`.
pub fn duration(ms: Millis) -> String {
    let s = ms.max(0) / 1_000;
    match s {
        0..120 => format!("{s} s"),
        120..7_200 => format!("{} min", s / 60),
        7_200..172_800 => format!("{} h {:02} min", s / 3_600, s % 3_600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// The first seven characters of a commit sha.
pub fn short_sha(sha: &str) -> &str {
    sha.char_indices().nth(7).map_or(sha, |(i, _)| &sha[..i])
}

/// Percent-encodes `value` for a URL path segment or query value: everything but RFC 3986's
/// unreserved characters.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_control_characters_are_escaped_and_nothing_else() {
        assert_eq!(escape_mrkdwn("a <b> & *c* <!here>"), "a &lt;b&gt; &amp; *c* &lt;!here&gt;");
    }

    #[test]
    fn truncation_counts_characters_and_never_splits_one() {
        assert_eq!(truncate("héllo wörld", 11), "héllo wörld");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("🚀🚀🚀", 2), "🚀…");
        assert_eq!(truncate("abc", 0), "");
        for max in 1..20 {
            assert!(truncate("ääääääääääääääääääääääää", max).chars().count() <= max);
        }
    }

    #[test]
    fn truncation_never_leaves_half_an_escape() {
        let escaped = escape_mrkdwn("ab&cd");
        assert_eq!(escaped, "ab&amp;cd");
        assert_eq!(truncate_escaped(&escaped, 5), "ab…");
        assert_eq!(truncate_escaped(&escaped, 8), "ab&amp;…");
        assert_eq!(truncate_escaped(&escaped, 9), "ab&amp;cd");
    }

    #[test]
    fn teams_text_shows_as_sent() {
        assert_eq!(escape_teams("v1 <b> & **x** [l](u) {{DATE(x)}} a\\b"), "v1 \\<b\\> \\& \\*\\*x\\*\\* \\[l\\](u) \\{\\{DATE(x)\\}\\} a\\\\b");
        let escaped = escape_teams("ab<cd");
        assert_eq!(truncate_teams(&escaped, 4), "ab…", "never between a backslash and its character");
        assert_eq!(truncate_teams(&escaped, 5), "ab\\<…");
    }

    #[test]
    fn durations_read_in_their_largest_unit() {
        assert_eq!(duration(45_000), "45 s");
        assert_eq!(duration(12 * 60_000), "12 min");
        assert_eq!(duration(3 * 3_600_000 + 5 * 60_000), "3 h 05 min");
        assert_eq!(duration(52 * 3_600_000), "2 d 4 h");
    }

    #[test]
    fn values_are_encoded_for_urls() {
        assert_eq!(encode("shop/api v2"), "shop%2Fapi%20v2");
    }
}
