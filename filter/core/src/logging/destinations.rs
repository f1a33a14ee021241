//! Where logs go: an Envoy cluster and the headers of each POST, for the generic endpoint,
//! OpenTelemetry collectors (and Langfuse's OTel endpoint) and Datadog's logs intake.
//!
//! URLs become clusters exactly as webhook URLs do for alerts (`webhook_<host>_<port>`, or
//! `general_settings.webhook_clusters`), so one rule tells `render.py` which clusters to
//! generate. Header values are credentials (API keys, Basic auth): `Debug` never shows them,
//! and errors name the variable, never the value.

use core::fmt;

use hashbrown::HashMap;

use crate::alerts::route::{destination, parse_url, Destination};

/// A POST target: the callout destination and the headers beyond the pseudo-headers.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Cluster, `:authority`, `:path`, `:scheme` (its `Debug` hides the path).
    pub destination: Destination,
    /// Extra headers, lowercase names, `content-type` first (secret values).
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Endpoint")
            .field("destination", &self.destination)
            .field("header_names", &names)
            .finish()
    }
}

impl Endpoint {
    /// An endpoint for `url` (`id` names it in logs and metrics), its cluster found as for
    /// webhooks; `headers` are added after `content-type: application/json`, replacing it when
    /// they set their own.
    pub fn new(
        url: &str,
        id: &str,
        overrides: &HashMap<String, String>,
        headers: Vec<(String, String)>,
    ) -> Result<Endpoint, String> {
        let destination = destination(url, id, overrides).map_err(|e| e.to_string())?;
        let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
        for (k, v) in headers {
            let k = k.to_ascii_lowercase();
            match all.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = v,
                None => all.push((k, v)),
            }
        }
        Ok(Endpoint {
            destination,
            headers: all,
        })
    }

    /// The headers for `dispatch_http_call`: pseudo-headers then the rest.
    pub fn headers(&self) -> Vec<(&str, &str)> {
        let d = &self.destination;
        let mut h = Vec::with_capacity(4 + self.headers.len());
        h.push((":method", "POST"));
        h.push((":path", d.path.as_str()));
        h.push((":authority", d.authority.as_str()));
        h.push((":scheme", d.scheme.as_str()));
        h.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        h
    }
}

/// Whether `name` is an HTTP header name (an RFC 9110 token) that a user may set.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` may be a header value (visible ASCII, spaces and tabs).
fn valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// Checks one user-given header; the error never contains the value.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if !valid_header_name(name) {
        return Err(format!("\"{name}\" is not a valid header name"));
    }
    if !valid_header_value(value) {
        return Err(format!(
            "the value of header \"{name}\" has characters a header cannot carry"
        ));
    }
    Ok(())
}

/// `GENERIC_LOGGER_HEADERS` as LiteLLM reads it: `key1=value1,key2=value2`, each side trimmed,
/// an item without `=` skipped.
pub fn parse_generic_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        if let Some((k, v)) = item.split_once('=') {
            let (k, v) = (k.trim(), v.trim());
            check_header(k, v)?;
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    Ok(out)
}

/// `OTEL_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,...` split on the first `=`
/// (LiteLLM fails on an item without one; so does this). Values are percent-decoded, as the
/// OpenTelemetry specification defines these variables (LiteLLM's own docs write
/// `Authorization=Bearer%20<key>`).
pub fn parse_otel_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        if item.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once('=') else {
            return Err("every item must be key=value".to_owned());
        };
        let (k, v) = (k.trim(), percent_decode(v.trim()));
        check_header(k, &v)?;
        out.push((k.to_owned(), v));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; anything else (a `%` not followed by two hex digits) stays.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: &u8| char::from(*c).to_digit(16);
            if let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) {
                // Two hex digits: at most 0xff.
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// LiteLLM's `_normalize_otel_endpoint` for traces: the OTLP/HTTP path `/v1/traces` appended
/// unless the URL ends in it (or in Splunk's `/v2/trace/otlp`); `/v1/logs` or `/v1/metrics`
/// replaced by it; trailing `/` dropped.
pub fn normalize_otel_traces_endpoint(endpoint: &str) -> String {
    let e = endpoint.trim_end_matches('/');
    if e.contains("/v2/trace/otlp") || e.ends_with("/v1/traces") {
        return e.to_owned();
    }
    for other in ["/v1/logs", "/v1/metrics"] {
        if let Some(base) = e.strip_suffix(other) {
            return format!("{base}/v1/traces");
        }
    }
    if e.ends_with("/v1") {
        format!("{e}/traces")
    } else {
        format!("{e}/v1/traces")
    }
}

/// Langfuse's OTel endpoint for `host` (LiteLLM's `_build_langfuse_otel_config`): `https://`
/// added to a bare host, `/api/public/otel` appended; US cloud without a host.
pub fn langfuse_otel_endpoint(host: Option<&str>) -> String {
    match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) if h.starts_with("http") => format!("{}/api/public/otel", h.trim_end_matches('/')),
        Some(h) => format!("https://{}/api/public/otel", h.trim_end_matches('/')),
        None => "https://us.cloud.langfuse.com/api/public/otel".to_owned(),
    }
}

/// Standard base64 (with padding), for Basic authorization.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The headers Langfuse's OTel endpoint expects: Basic auth of `public:secret`, and
/// `x-langfuse-ingestion-version: 4` (LiteLLM sends it to select Langfuse's v4 ingestion).
pub fn langfuse_headers(public_key: &str, secret_key: &str) -> Vec<(String, String)> {
    vec![
        (
            "authorization".to_owned(),
            format!(
                "Basic {}",
                base64(format!("{public_key}:{secret_key}").as_bytes())
            ),
        ),
        ("x-langfuse-ingestion-version".to_owned(), "4".to_owned()),
    ]
}

/// Datadog's logs intake URL (LiteLLM's `DataDogLogger`): `DD_BASE_URL` wins, then the agent
/// (`LITELLM_DD_AGENT_HOST`, port `LITELLM_DD_AGENT_PORT` or 10518), then `DD_SITE`.
pub fn datadog_intake_url(
    base_url: Option<&str>,
    agent_host: Option<&str>,
    agent_port: Option<&str>,
    site: Option<&str>,
) -> Option<String> {
    if let Some(b) = base_url.filter(|s| !s.is_empty()) {
        return Some(format!("{}/api/v2/logs", b.trim_end_matches('/')));
    }
    if let Some(h) = agent_host.filter(|s| !s.is_empty()) {
        let port = agent_port.filter(|s| !s.is_empty()).unwrap_or("10518");
        return Some(format!("http://{h}:{port}/api/v2/logs"));
    }
    site.filter(|s| !s.is_empty())
        .map(|s| format!("https://http-intake.logs.{s}/api/v2/logs"))
}

/// Whether `url` is an http(s) URL a callout can reach (checked before a cluster is named).
pub fn is_valid_url(url: &str) -> bool {
    parse_url(url).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_map_to_webhook_clusters_with_headers() {
        let e = Endpoint::new(
            "https://logs.example.com/ingest?k=1",
            "generic_api",
            &HashMap::new(),
            vec![("Authorization".into(), "Bearer x".into())],
        )
        .unwrap();
        assert_eq!(e.destination.cluster, "webhook_logs_example_com_443");
        assert_eq!(
            e.headers(),
            [
                (":method", "POST"),
                (":path", "/ingest?k=1"),
                (":authority", "logs.example.com"),
                (":scheme", "https"),
                ("content-type", "application/json"),
                ("authorization", "Bearer x"),
            ]
        );
        let dbg = format!("{e:?}");
        assert!(!dbg.contains("Bearer") && !dbg.contains("ingest"), "{dbg}");
        // A user content-type replaces the default; overrides pick the cluster.
        let mut o = HashMap::new();
        o.insert(
            "collector".to_string(),
            "outbound|4318||collector".to_string(),
        );
        let e = Endpoint::new(
            "http://collector:4318/v1/traces",
            "otel",
            &o,
            vec![("Content-Type".into(), "application/x-ndjson".into())],
        )
        .unwrap();
        assert_eq!(e.destination.cluster, "outbound|4318||collector");
        assert_eq!(
            e.headers[..],
            [("content-type".into(), "application/x-ndjson".into())]
        );
        assert!(Endpoint::new("ftp://x", "g", &HashMap::new(), vec![]).is_err());
    }

    #[test]
    fn generic_headers_as_litellm_splits_them() {
        assert_eq!(
            parse_generic_headers(" Authorization = Bearer a=b , X-Team=t1,junk").unwrap(),
            [
                ("Authorization".to_owned(), "Bearer a=b".to_owned()),
                ("X-Team".to_owned(), "t1".to_owned())
            ]
        );
        assert!(parse_generic_headers("").unwrap().is_empty());
        let e = parse_generic_headers("bad name=v").unwrap_err();
        assert_eq!(e, "\"bad name\" is not a valid header name");
        let e = parse_generic_headers("x=secret\u{7}value").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn otel_headers_are_percent_decoded() {
        assert_eq!(
            parse_otel_headers("Authorization=Bearer%20abc,x-honeycomb-team=k%2").unwrap(),
            [
                ("Authorization".to_owned(), "Bearer abc".to_owned()),
                ("x-honeycomb-team".to_owned(), "k%2".to_owned())
            ]
        );
        assert_eq!(
            parse_otel_headers("nokey").unwrap_err(),
            "every item must be key=value"
        );
        assert!(
            parse_otel_headers("a=%0a").is_err(),
            "decoded newline refused"
        );
    }

    #[test]
    fn otel_endpoints_get_the_traces_path() {
        for (given, want) in [
            ("http://c:4318", "http://c:4318/v1/traces"),
            ("http://c:4318/", "http://c:4318/v1/traces"),
            ("http://c:4318/v1", "http://c:4318/v1/traces"),
            ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
            ("http://c:4318/v1/logs", "http://c:4318/v1/traces"),
            (
                "https://api.honeycomb.io/v1/traces",
                "https://api.honeycomb.io/v1/traces",
            ),
            (
                "https://ingest.splunk/v2/trace/otlp",
                "https://ingest.splunk/v2/trace/otlp",
            ),
            (
                "https://cloud.langfuse.com/api/public/otel",
                "https://cloud.langfuse.com/api/public/otel/v1/traces",
            ),
        ] {
            assert_eq!(normalize_otel_traces_endpoint(given), want, "{given}");
        }
    }

    #[test]
    fn langfuse_and_datadog_urls() {
        assert_eq!(
            langfuse_otel_endpoint(None),
            "https://us.cloud.langfuse.com/api/public/otel"
        );
        assert_eq!(
            langfuse_otel_endpoint(Some("cloud.langfuse.com")),
            "https://cloud.langfuse.com/api/public/otel"
        );
        assert_eq!(
            langfuse_otel_endpoint(Some("http://lf:3000/")),
            "http://lf:3000/api/public/otel"
        );
        assert_eq!(
            langfuse_headers("pk-lf-1", "sk-lf-2"),
            [
                (
                    "authorization".to_owned(),
                    "Basic cGstbGYtMTpzay1sZi0y".to_owned()
                ),
                ("x-langfuse-ingestion-version".to_owned(), "4".to_owned())
            ]
        );
        assert_eq!(
            datadog_intake_url(None, None, None, Some("us5.datadoghq.com")).as_deref(),
            Some("https://http-intake.logs.us5.datadoghq.com/api/v2/logs")
        );
        assert_eq!(
            datadog_intake_url(None, Some("dd-agent"), None, Some("x")).as_deref(),
            Some("http://dd-agent:10518/api/v2/logs")
        );
        assert_eq!(
            datadog_intake_url(Some("http://127.0.0.1:9/"), Some("a"), None, None).as_deref(),
            Some("http://127.0.0.1:9/api/v2/logs")
        );
        assert_eq!(datadog_intake_url(None, None, None, None), None);
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
