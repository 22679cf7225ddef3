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

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    cut(text, max, false)
}

/// Escaped mrkdwn `text` cut to at most `max` characters, ending in `…` when cut, never inside an
/// escape such as `&amp;`.
pub fn truncate_escaped(text: &str, max: usize) -> String {
    cut(text, max, true)
}

fn cut(text: &str, max: usize, escaped: bool) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let Some(keep) = max.checked_sub(1) else { return String::new() };
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut head = &text[..end];
    if escaped {
        // An `&` with no `;` after it in the head starts an escape the cut went through.
        if let Some(amp) = head.rfind('&').filter(|&amp| !head[amp..].contains(';')) {
            head = &head[..amp];
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
