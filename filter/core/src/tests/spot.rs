use super::*;

const KEYS: &[&[u8]] = &[b"usage", b"model", b"error", b"service_tier"];

fn spot_pieces(pieces: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
    let mut s = KeySpotter::new(KEYS, 1024);
    for p in pieces {
        s.feed(p);
    }
    (0..KEYS.len())
        .map(|i| s.value(i).map(<[u8]>::to_vec))
        .collect()
}

/// Every way of cutting `text` in two gives the same captures as feeding it whole.
fn spot_every_split(text: &[u8]) -> Vec<Option<Vec<u8>>> {
    let whole = spot_pieces(&[text]);
    for cut in 0..=text.len() {
        let (a, b) = text.split_at(cut);
        assert_eq!(spot_pieces(&[a, b]), whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = text.chunks(1).collect();
    assert_eq!(spot_pieces(&bytes), whole, "byte by byte");
    whole
}

fn some(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

#[test]
fn chat_chunk_with_usage() {
    let got = spot_every_split(
        br#"{"id":"c1","model":"gpt-4o","choices":[],"service_tier":"default","usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0}}}"#,
    );
    assert_eq!(
        got[0],
        some(
            r#"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0}}"#
        )
    );
    assert_eq!(got[1], some(r#""gpt-4o""#));
    assert_eq!(got[2], None);
    assert_eq!(got[3], some(r#""default""#));
}

#[test]
fn null_values_are_skipped_for_a_later_occurrence() {
    let got = spot_every_split(
        br#"{"type":"response.completed","response":{"error":null,"model":"m","usage":null,"output":[{"usage":{"input_tokens":1}}]}}"#,
    );
    assert_eq!(got[0], some(r#"{"input_tokens":1}"#));
    assert_eq!(got[2], None);
}

#[test]
fn keys_inside_strings_and_string_values_are_not_keys() {
    let got = spot_every_split(
        br#"{"content":"say \"usage\":{\"x\":1} and \\","note":"usage","model" : "m\"1","q":"\u0022usage\u0022:{}"}"#,
    );
    assert_eq!(got[0], None, "escaped or value strings never match");
    assert_eq!(got[1], some(r#""m\"1""#));
}

#[test]
fn whitespace_around_the_colon_and_nested_strings_with_braces() {
    let got = spot_every_split(
        b"{ \"error\" :\n {\"message\": \"bad } ] {\", \"code\": null} , \"usage\": 5 }",
    );
    assert_eq!(got[2], some(r#"{"message": "bad } ] {", "code": null}"#));
    assert_eq!(got[0], some("5"));
}

#[test]
fn long_names_and_values_over_the_cap() {
    let mut s = KeySpotter::new(KEYS, 8);
    s.feed(
        br#"{"a_very_long_key_name_indeed":"usage","usage":{"prompt_tokens":100},"model":"gpt"}"#,
    );
    assert_eq!(s.value(0), None, "over the cap");
    assert_eq!(s.value(1), Some(&br#""gpt""#[..]));
    s.reset();
    s.feed(br#"{"usage":{"a":1}}"#);
    assert_eq!(s.value(0), Some(&br#"{"a":1}"#[..]));
}

#[test]
fn first_occurrence_wins_and_reset_clears() {
    let mut s = KeySpotter::new(KEYS, 64);
    s.feed(br#"{"model":"a","x":{"model":"b"}}"#);
    assert_eq!(s.value(1), Some(&br#""a""#[..]));
    s.reset();
    assert_eq!(s.value(1), None);
}

#[test]
fn the_fixture_streams_yield_their_usage() {
    for (name, text) in [
        (
            "chat",
            &include_bytes!("../../../../tests/fixtures/chat_stream_usage.sse")[..],
        ),
        (
            "responses",
            &include_bytes!("../../../../tests/fixtures/responses_stream.sse")[..],
        ),
    ] {
        let with_usage = text
            .split(|&b| b == b'\n')
            .filter_map(|l| l.strip_prefix(b"data: "))
            .filter(|data| {
                let mut s = KeySpotter::new(KEYS, 4096);
                s.feed(data);
                s.value(0).is_some()
            })
            .count();
        assert_eq!(with_usage, 1, "{name}");
    }
}

/// Hunting for `usage` alone (the state for every event after the first) finds the same value
/// wherever the fragments are cut, including inside the quoted name.
#[test]
fn hunting_a_single_key_at_every_split() {
    let text: &[u8] = br#"{"id":"c","choices":[{"delta":{"content":"usage is \"usage\": big"}}],"x":"usage","usage":{"prompt_tokens":1,"total_tokens":2}}"#;
    let hunt = |pieces: &[&[u8]]| {
        let mut s = KeySpotter::new(KEYS, 1024);
        s.reset_wanting(|k| k == 0);
        assert_eq!(s.state, State::Hunt(0));
        for p in pieces {
            s.feed(p);
        }
        s.value(0).map(<[u8]>::to_vec)
    };
    let want = some(r#"{"prompt_tokens":1,"total_tokens":2}"#);
    for cut in 0..=text.len() {
        let (a, b) = text.split_at(cut);
        assert_eq!(hunt(&[a, b]), want, "cut at {cut}");
        for cut2 in cut..=text.len() {
            assert_eq!(
                hunt(&[a, &b[..cut2 - cut], &b[cut2 - cut..]]),
                want,
                "cuts {cut} {cut2}"
            );
        }
    }
    assert_eq!(hunt(&text.chunks(1).collect::<Vec<_>>()), want);
    // Nothing wanted: nothing read.
    let mut s = KeySpotter::new(KEYS, 1024);
    s.reset_wanting(|_| false);
    s.feed(text);
    assert_eq!(s.value(0), None);
    // A key asked for before the text starts is read too.
    s.reset_wanting(|k| k == 0);
    s.also_want(2);
    s.feed(br#"{"error":{"message":"boom"},"usage":{"a":1}}"#);
    assert_eq!(s.value(2), Some(&br#"{"message":"boom"}"#[..]));
    assert_eq!(s.value(0), Some(&br#"{"a":1}"#[..]));
}

#[test]
fn rarest_letter_is_the_pivot() {
    assert_eq!(rarest(b"usage"), 3);
    assert_eq!(rarest(b"model"), 0);
}

/// The value of `KEYS[key]` hunted alone (the state for every event after the first).
fn hunt_one(key: usize, pieces: &[&[u8]]) -> Option<Vec<u8>> {
    let mut s = KeySpotter::new(KEYS, 1024);
    s.reset_wanting(|k| k == key);
    for p in pieces {
        s.feed(p);
    }
    s.value(key).map(<[u8]>::to_vec)
}

/// Found by fuzzing: hunting took the `"usage"` ending a key such as `"k\"usage"` for the key
/// `usage` (its first quote is escaped), wherever the fragments were cut.
#[test]
fn hunting_skips_a_name_after_an_escaped_quote() {
    let text: &[u8] = br#"{"k\"usage":{"prompt_tokens":9},"usage":{"total_tokens":2}}"#;
    let hunt = |pieces: &[&[u8]]| hunt_one(0, pieces);
    let want = some(r#"{"total_tokens":2}"#);
    assert_eq!(spot_every_split(text)[0], want, "scanning every key");
    for cut in 0..=text.len() {
        let (a, b) = text.split_at(cut);
        assert_eq!(hunt(&[a, b]), want, "cut at {cut}");
        for cut2 in cut..=text.len() {
            let (b1, b2) = b.split_at(cut2 - cut);
            assert_eq!(hunt(&[a, b1, b2]), want, "cuts {cut} {cut2}");
        }
    }
    assert_eq!(hunt(&text.chunks(1).collect::<Vec<_>>()), want);
}

/// Found by fuzzing: after a name found in a fragment that followed a kept tail, the stale tail
/// was joined to the next bytes, so `"` + `erro` + `r"` made up an `"error"` the text does not
/// hold (here `""error"error":2`, where no `"error"` is followed by a colon).
#[test]
fn hunting_never_joins_a_stale_tail() {
    let text: &[u8] = b"\xff]{\"\"error\"error\":2}]dii";
    let hunt = |pieces: &[&[u8]]| hunt_one(2, pieces);
    assert_eq!(hunt(&[text]), None);
    assert_eq!(hunt(&[&text[..4], &text[4..15], &text[15..]]), None);
    assert_eq!(hunt(&text.chunks(1).collect::<Vec<_>>()), None);
}
