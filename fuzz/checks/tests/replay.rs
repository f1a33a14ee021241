//! Stable replay of every fuzz target: the committed corpus (`fuzz/seeds/<target>/`: fixtures,
//! hand-made edge cases, and each input fuzzing ever failed on) and a fixed-seed set of random
//! structured inputs, through the very checks the fuzz targets run. `make unit` runs it;
//! `FUZZ_REPLAY_INPUTS=N` replays N random inputs per target instead of the default.

use std::path::{Path, PathBuf};

use fuzz_checks::split::Rng;
use fuzz_checks::{exchange, gen, TARGETS};

/// Random inputs per target by default: a second or so in a debug build.
const RANDOM_INPUTS: usize = 400;

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../seeds")
        .join(target)
}

/// Runs `check` on `input`, naming the input if it fails.
fn run(check: fuzz_checks::Check, input: &[u8], name: &str) {
    if std::panic::catch_unwind(|| check(input)).is_err() {
        panic!(
            "{name} fails ({} bytes): {:?}",
            input.len(),
            String::from_utf8_lossy(input)
        );
    }
}

fn replay(target: &str) {
    let Some(&(_, check)) = TARGETS.iter().find(|(t, _)| *t == target) else {
        panic!("no target {target}");
    };
    let dir = seeds_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{target}: a seed corpus is committed");
    for f in &files {
        run(check, &std::fs::read(f).unwrap(), &f.display().to_string());
    }
    let n = std::env::var("FUZZ_REPLAY_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RANDOM_INPUTS);
    let mut rng = Rng::from_bytes(target.as_bytes());
    for i in 0..n {
        let input = gen::input(target, &mut rng);
        run(check, &input, &format!("{target} random input #{i}"));
    }
}

#[test]
fn sse_corpus_and_random_streams() {
    replay("sse");
}

#[test]
fn json_scan_corpus_and_random_documents() {
    replay("json_scan");
}

#[test]
fn spot_corpus_and_random_documents() {
    replay("spot");
}

#[test]
fn decode_corpus_and_random_bodies() {
    replay("decode");
}

#[test]
fn config_corpus_and_random_configurations() {
    replay("config");
}

#[test]
fn exchange_corpus_and_random_exchanges() {
    replay("exchange");
}

#[test]
fn event_stream_corpus_and_random_streams() {
    replay("event_stream");
}

#[test]
fn json_array_corpus_and_random_arrays() {
    replay("json_array");
}

#[test]
fn json_object_corpus_and_random_values() {
    replay("json_object");
}

#[test]
fn providers_corpus_and_random_bodies() {
    replay("providers");
}

/// Writes the hand-made part of the seed corpus (fixtures and edge cases). Run once after
/// changing it: `cargo test -p llm-telemetry-fuzz-checks --test replay -- --ignored write_seeds`.
/// Inputs fuzzing found (`regression-*`) are added by hand and left alone.
#[test]
#[ignore]
fn write_seeds() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let fixture = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = seeds_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let json_fixtures = [
        "chat_completion.json",
        "completion.json",
        "embeddings.json",
        "error_429.json",
        "error_500.json",
        "malformed.json",
        "responses.json",
    ];
    let sse_fixtures = [
        "chat_stream_usage.sse",
        "chat_stream_no_usage.sse",
        "responses_stream.sse",
    ];

    for f in sse_fixtures {
        write("sse", f, &fixture(f));
    }
    write(
        "sse",
        "line-endings.sse",
        b"data: a\r\rdata: b\n\ndata: c\r\n\r\ndata: d\r\n\n",
    );
    write("sse", "fields.sse", b"\xEF\xBB\xBF: comment\nevent: e\ndata:x\ndata:  y\ndata\nid: 1\nretry: 9\ndataaaaaaaaaaaaaaaaaaa: z\n\nevent: only-type\n\ndata: [DONE]x\n\ndata: tail");

    for f in json_fixtures {
        write("json_scan", f, &fixture(f));
    }
    write("json_scan", "paths.json", br#"{"a":{"b":{"c":[1,{"c":2}]},"b":0},"usage":{"prompt_tokens":1e3},"usage":null,"response":{"usage":{"input_tokens":-0.5E+2}},"mod\u0065l":"x","model":"\u00e9\"\\","b":true}"#);
    write(
        "json_scan",
        "deep.json",
        format!("{}{}", "[".repeat(513), "]".repeat(513)).as_bytes(),
    );
    write("json_scan", "scalars.json", b" -0.0e-0 ");

    for f in sse_fixtures {
        let text = fixture(f);
        let data: Vec<&[u8]> = text
            .split(|&b| b == b'\n')
            .filter_map(|l| l.strip_prefix(b"data: "))
            .collect();
        let stem = f.trim_end_matches(".sse");
        write("spot", &format!("{stem}-first.json"), data[0]);
        write("spot", &format!("{stem}-last.json"), data[data.len() - 2]);
    }
    write("spot", "strings.json", br#"{"content":"say \"usage\":{\"x\":1} and \\","note":"usage","model" : "m\"1","usage":{"a":"}]{"},"error":[1,{"error":2}],"abcdefghijklmnop":null,"a":5}"#);

    let chat = fixture("chat_completion.json");
    let stream = fixture("chat_stream_usage.sse");
    let mut two_members = fuzz_checks::decode::gzip_member(&chat, 6, 0x1E);
    two_members.extend_from_slice(&fuzz_checks::decode::gzip_member(b"{}", 0, 0));
    write(
        "decode",
        "gzip-two-members",
        &[&[0u8][..], &two_members, b"\n"].concat(),
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &stream).unwrap();
    write(
        "decode",
        "zlib-stream",
        &[&[1u8][..], &z.finish().unwrap()].concat(),
    );
    let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut d, &chat).unwrap();
    write(
        "decode",
        "raw-deflate",
        &[&[1u8][..], &d.finish().unwrap()].concat(),
    );
    write(
        "decode",
        "build-gzip",
        &[&[2u8, 0x7E][..], &stream].concat(),
    );
    write("decode", "build-zlib", &[&[3u8, 0x0D][..], &chat].concat());

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config.json");
    write("config", "example.json", &std::fs::read(example).unwrap());
    write("config", "keys.json", br#"{"telemetry_settings":{"keys":[{"api_key":"sk-team-a-1234567","key_alias":"a","team_id":"t"},{"hashed_api_key":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}],"identity_headers":{"team":"x-team"},"max_capture_bytes":1024},"general_settings":{"master_key":"os.environ/EMASTER"},"environment_variables":{"EX":"1","B":true}}"#);
    write("config", "errors.json", br#"{"model_list":[{"model_name":"m","litellm_params":{"model":""}}],"litellm_settings":{"custom_prometheus_tags":["prod","prod"]}}"#);

    let chat_req: &[u8] = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"user":"u-1","metadata":{"app":"a"}}"#;
    let stream_req: &[u8] =
        br#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let responses_req: &[u8] = br#"{"model":"gpt-4o","stream":true,"input":"hi"}"#;
    let ex = |name: &str, flags: u8, req: &[u8], resp: &[u8]| {
        write("exchange", name, &exchange::input(flags, req, resp));
    };
    ex("chat-json", 0x00, chat_req, &chat);
    ex("chat-json-gzip-alerting", 0x18, chat_req, &chat);
    ex("chat-sse", 0x04, stream_req, &stream);
    ex(
        "chat-sse-deflate",
        0x8C,
        stream_req,
        &fixture("chat_stream_no_usage.sse"),
    );
    ex(
        "responses-sse",
        0x06,
        responses_req,
        &fixture("responses_stream.sse"),
    );
    ex("error-429", 0x40, chat_req, &fixture("error_429.json"));
    ex(
        "malformed",
        0x60,
        b"{\"model\":",
        &fixture("malformed.json"),
    );

    let event_streams = [
        "bedrock_converse_stream.eventstream",
        "bedrock_converse_stream_throttled.eventstream",
        "bedrock_invoke_stream.eventstream",
        "bedrock_invoke_stream_llama.eventstream",
    ];
    for f in event_streams {
        write("event_stream", f, &fixture(f));
    }
    {
        use llm_telemetry_core::event_stream::encode::{header, message, HeaderValue};
        let mut h = header(":date", &HeaderValue::Timestamp(1_700_000_000_000));
        h.extend(header(":event-type", &HeaderValue::Str("metadata")));
        h.extend(header("b", &HeaderValue::Bytes(b"\x07\x00:x")));
        h.extend(header("u", &HeaderValue::Uuid([7; 16])));
        h.extend(header(":message-type", &HeaderValue::Str("event")));
        let mut bad_crc = message(&h, b"{}");
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        let edges = [
            message(&[], &[]),
            message(&h, b"{}"),
            bad_crc,
            message(&[1, b'z', 42], b"x"),
        ]
        .concat();
        write("event_stream", "edges.eventstream", &edges);
    }
    write(
        "json_array",
        "gemini_stream.json",
        &fixture("gemini_stream.json"),
    );
    write(
        "json_array",
        "kinds.json",
        br#" [ {"a":[1,{"b":"]}\"["}]} , [[]],"s\"t]",-1.5e3,true,null ,false]  "#,
    );
    write("json_array", "empty.json", b"\xEF\xBB\xBF[]\r\n");
    write("json_object", "anthropic-usage.json", br#"{"input_tokens":12,"cache_creation_input_tokens":1024,"cache_read_input_tokens":2048,"cache_creation":{"ephemeral_5m_input_tokens":1024,"ephemeral_1h_input_tokens":0},"output_tokens":15,"service_tier":"standard","iterations":[{"input_tokens":1,"output_tokens_details":{"thinking_tokens":2}}]}"#);
    write("json_object", "gemini-usage.json", br#"{"promptTokenCount":1043,"candidatesTokenCount":12,"totalTokenCount":1083,"cachedContentTokenCount":1024,"promptTokensDetails":[{"modality":"TEXT","tokenCount":1003},{"modality":"AUDIO","tokenCount":40}],"thoughtsTokenCount":28}"#);
    write("json_object", "counts.json", br#"{"a":-0,"b":-0.0e5,"c":3.9,"d":1e400,"e":99999999999999999999999,"f":"7","g\u0041":null,"a":[1,{"x":[]}]}"#);
    let provider_seeds = [
        (0u8, "anthropic_message.json"),
        (0, "anthropic_error_529.json"),
        (1, "anthropic_stream.sse"),
        (1, "anthropic_stream_error.sse"),
        (2, "gemini_generate.json"),
        (2, "gemini_grounding.json"),
        (2, "gemini_stream.json"),
        (2, "gemini_error_429.json"),
        (3, "gemini_stream.sse"),
        (4, "bedrock_error_throttling.json"),
        (4, "bedrock_converse.json"),
        (5, "bedrock_converse_stream.eventstream"),
        (5, "bedrock_converse_stream_throttled.eventstream"),
        (6, "bedrock_invoke_anthropic.json"),
        (7, "bedrock_invoke_stream.eventstream"),
        (7, "bedrock_invoke_stream_llama.eventstream"),
    ];
    for (setup, f) in provider_seeds {
        write(
            "providers",
            &format!("{setup}-{f}"),
            &[&[setup][..], &fixture(f)].concat(),
        );
    }
}
