//! Client-controlled text made inert for the format it is written into.
//!
//! Model names, users, metadata, aliases, upstream error messages and request messages all come
//! from clients (or from upstreams that echo them). Written raw into a Slack text, `<!channel>`
//! pages a whole channel, `<https://evil|Okta>` is a link that reads "Okta", a newline starts a
//! fake `Level:` line and a backtick ends the code span the value sits in. Every such value goes
//! through [`value`] where it enters an alert text, and nowhere else: the alert rules keep working
//! on the raw values.

use std::borrow::Cow;

/// Where the text goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Slack mrkdwn (the `text` of Slack, Discord `/slack` and Teams bodies): `&`, `<`, `>` as
    /// Slack's entities (Slack decodes them back for display, so nothing is lost), backticks as
    /// `'`, broadcast mentions broken.
    SlackMrkdwn,
    /// A string value of the generic webhook's JSON: serde escapes what JSON needs; receivers
    /// often forward these into chat tools, so mentions are broken here too.
    Json,
}

/// Longest value written into an alert, in characters (an upstream error message is the longest
/// thing quoted: LiteLLM shows it whole; the queue carries at most 1,000 characters of it).
pub const MAX_VALUE_CHARS: usize = 1_000;

/// Written where a value was cut at [`MAX_VALUE_CHARS`].
const CUT: char = '…';

/// Words that page everyone when they follow an `@` (Discord reads `@everyone` and `@here` in
/// the text it receives; Slack reads `@channel`/`@here` when `link_names` is on).
const BROADCASTS: [&str; 3] = ["channel", "here", "everyone"];

/// `raw` ready to be written into a text of `format`: on one line, at most [`MAX_VALUE_CHARS`]
/// characters, and unable to form a mention, a link or formatting. Borrowed when nothing had to
/// change (the usual model name or alias).
pub fn value(raw: &str, format: Format) -> Cow<'_, str> {
    let clean = raw.chars().count() <= MAX_VALUE_CHARS
        && !raw.chars().any(|c| needs_care(c, format))
        && !has_broadcast(raw);
    if clean {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 16);
    let mut rest = raw;
    let mut written = 0usize;
    while let Some(c) = rest.chars().next() {
        if written == MAX_VALUE_CHARS {
            out.push(CUT);
            break;
        }
        written += 1;
        rest = &rest[c.len_utf8()..];
        match c {
            '&' if format == Format::SlackMrkdwn => out.push_str("&amp;"),
            '<' if format == Format::SlackMrkdwn => out.push_str("&lt;"),
            '>' if format == Format::SlackMrkdwn => out.push_str("&gt;"),
            // The value sits in a `code span`: a backtick would end it.
            '`' if format == Format::SlackMrkdwn => out.push('\''),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '@' => {
                out.push('@');
                if starts_with_broadcast(rest) {
                    // WORD JOINER: invisible, and `@\u{2060}channel` is no mention anywhere.
                    out.push('\u{2060}');
                }
            }
            c if is_invisible_control(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The Slack mrkdwn form of a client value: [`value`] for [`Format::SlackMrkdwn`].
pub fn mrkdwn(raw: &str) -> Cow<'_, str> {
    value(raw, Format::SlackMrkdwn)
}

fn needs_care(c: char, format: Format) -> bool {
    matches!(c, '\n' | '\r' | '\t')
        || is_invisible_control(c)
        || (format == Format::SlackMrkdwn && matches!(c, '&' | '<' | '>' | '`'))
}

/// Control characters (C0, DEL, C1), line and paragraph separators and bidirectional overrides:
/// they break lines or reorder what is displayed, so they are shown as `\u{…}` instead.
fn is_invisible_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn starts_with_broadcast(s: &str) -> bool {
    BROADCASTS.iter().any(|w| {
        s.get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w))
    })
}

fn has_broadcast(s: &str) -> bool {
    s.match_indices('@')
        .any(|(at, _)| starts_with_broadcast(&s[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_values_are_borrowed_unchanged() {
        for v in [
            "gpt-4o",
            "openai/gpt-4o-mini",
            "Team A",
            "alice@example.com",
            "é🚀",
            "",
        ] {
            assert!(matches!(mrkdwn(v), Cow::Borrowed(_)), "{v}");
            assert!(matches!(value(v, Format::Json), Cow::Borrowed(_)), "{v}");
        }
    }

    #[test]
    fn no_mention_or_link_can_form_in_slack() {
        assert_eq!(mrkdwn("x-<!channel>"), "x-&lt;!channel&gt;");
        assert_eq!(mrkdwn("<https://evil|Okta>"), "&lt;https://evil|Okta&gt;");
        assert_eq!(mrkdwn("<@U024BE7LH>"), "&lt;@U024BE7LH&gt;");
        assert_eq!(mrkdwn("a&b"), "a&amp;b");
        // An entity the client wrote is itself escaped: it displays as typed.
        assert_eq!(mrkdwn("&lt;!here&gt;"), "&amp;lt;!here&amp;gt;");
        assert_eq!(mrkdwn("hi @channel"), "hi @\u{2060}channel");
        assert_eq!(mrkdwn("@Everyone @HERE"), "@\u{2060}Everyone @\u{2060}HERE");
        assert_eq!(value("@here", Format::Json), "@\u{2060}here");
    }

    #[test]
    fn one_line_and_no_code_span_escape() {
        assert_eq!(mrkdwn("m`\nLevel: `Low`\r\t"), "m'\\nLevel: 'Low'\\r\\t");
        assert_eq!(
            mrkdwn("a\u{2028}b\u{202e}c\u{7}"),
            "a\\u{2028}b\\u{202e}c\\u{0007}"
        );
        // JSON keeps backticks and angle brackets (serde escapes what JSON needs).
        assert_eq!(value("a`<b>\nc", Format::Json), "a`<b>\\nc");
    }

    #[test]
    fn length_is_capped_in_characters() {
        let long = "é".repeat(MAX_VALUE_CHARS + 50);
        let out = mrkdwn(&long);
        assert_eq!(out.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(out.ends_with(CUT));
        let exact = "a".repeat(MAX_VALUE_CHARS);
        assert_eq!(mrkdwn(&exact), exact);
    }

    /// Where client values enter the engine's texts, they come out inert: a model named
    /// `x-<!channel>`, an error with a link and a newline, metadata with backticks.
    #[test]
    fn an_exceptions_alert_carries_no_mention_link_or_fake_line() {
        use crate::alerts::event::tests::facts;
        use crate::alerts::{parse_alerting, AlertEngine, AlertEvent};
        let settings =
            serde_json::json!({"alerting": ["slack"], "alert_types": ["llm_exceptions"]});
        let env = |k: &str| (k == "SLACK_WEBHOOK_URL").then(|| "http://127.0.0.1:1/x".to_string());
        let cfg = parse_alerting(settings.as_object().unwrap(), &env).unwrap();
        let mut e = AlertEngine::new(cfg, 0);
        let mut f = facts(500);
        f.litellm_model = "x-<!channel>".into();
        f.model_group = "x-<!channel>".into();
        f.error_message = Some("see <https://evil|Okta>\nLevel: `Low`".into());
        f.alerting_metadata = vec![("run`book".into(), "a`\n@here".into())];
        e.on_event(&AlertEvent::RequestFinished(f.clone()), f.time_ms);
        let out = e.on_tick(f.time_ms + 10_000);
        let body: serde_json::Value = serde_json::from_str(&out[0].body).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(!text.contains('<') && !text.contains("@here"), "{text}");
        assert_eq!(text.matches("\nLevel: ").count(), 1, "{text}");
        assert!(
            text.contains("OpenAIException - see &lt;https://evil|Okta&gt;\\nLevel: 'Low'\n\nLiteLLM: model group")
        );
        assert!(text.contains("\nModel: x-&lt;!channel&gt;"), "{text}");
        assert!(text.contains("model_group: `x-&lt;!channel&gt;`"), "{text}");
        assert!(text.contains("run'book: `a'\\n@\u{2060}here`"), "{text}");
    }
}
