//! Webhook URL → Envoy callout destination.
//!
//! `dispatch_http_call` targets an Envoy *cluster*, not a URL, so every webhook URL is turned into
//! a cluster name plus the `:authority`, `:path` and `:scheme` headers once, at configuration time.
//! Convention: cluster `webhook_<host>_<port>` (port 443 for https, 80 for http when the URL has
//! none) with the host's dots written `_`, e.g. `webhook_hooks_slack_com_443`: Envoy's
//! `envoy.cluster_name` extractor (`cluster.$.**`) takes the cluster name up to the first dot, so
//! `webhook_127.0.0.1_18081` would show as `envoy_cluster_name="webhook_127"` and spill the rest
//! into the metric names of every Envoy cluster stat. An IPv6 host is written without brackets and
//! with `:` replaced by `-` (`[::1]:8080` → `webhook_--1_8080`). `envoy/render.py` names the
//! clusters it generates the same way. `general_settings.webhook_clusters` overrides the name per
//! `host:port` or `host` (e.g. Istio's `outbound|443||hooks.slack.com`).
//!
//! Webhook URLs are secrets (a Slack webhook path is the credential), so nothing here ever puts
//! the URL or its path in an error, and [`Destination`]'s `Debug` hides the path.

use core::fmt;
use hashbrown::HashMap;

/// Where an alert body is POSTed: an Envoy cluster and the request's pseudo-headers.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    /// Envoy cluster name for `dispatch_http_call`.
    pub cluster: String,
    /// `:authority` header: the URL's host, with the port when the URL names one.
    pub authority: String,
    /// `:path` header: path and query of the URL (SECRET for Slack-style webhooks).
    pub path: String,
    /// `http` or `https` (the TLS itself is the cluster's business).
    pub scheme: String,
    /// Stable, non-secret name for logs and metrics (`slack`, `webhook`, `llm_exceptions#2`).
    pub id: String,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The path is the credential of a Slack/Teams/Discord webhook: never print it.
        f.debug_struct("Destination")
            .field("id", &self.id)
            .field("cluster", &self.cluster)
            .field("authority", &self.authority)
            .field("scheme", &self.scheme)
            .field("path", &"<redacted>")
            .finish()
    }
}

impl Destination {
    /// Headers for the POST, in the order the host passes them to `dispatch_http_call`.
    ///
    /// Envoy's router retries the callout once by itself when it provably never reached the
    /// receiver (`connect-failure`, `reset-before-request`: a pooled connection found closed
    /// before the request was written). Nothing that may have been delivered is retried there:
    /// a webhook has no idempotency key, and a resent alert is a duplicate page.
    pub fn headers(&self) -> [(&str, &str); 7] {
        [
            (":method", "POST"),
            (":path", self.path.as_str()),
            (":authority", self.authority.as_str()),
            (":scheme", self.scheme.as_str()),
            ("content-type", "application/json"),
            ("x-envoy-retry-on", "connect-failure,reset-before-request"),
            ("x-envoy-max-retries", "1"),
        ]
    }
}

/// Why a URL was refused; the text never contains any part of the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// No `scheme://`.
    MissingScheme,
    /// A scheme other than http/https.
    UnsupportedScheme,
    /// `user:password@` in the authority.
    Credentials,
    /// Nothing between `//` and the path.
    EmptyHost,
    /// Characters a host name cannot have.
    InvalidHost,
    /// Port not a number in 1..=65535.
    InvalidPort,
    /// Whitespace or control characters anywhere.
    InvalidCharacters,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            UrlError::MissingScheme => "missing http:// or https://",
            UrlError::UnsupportedScheme => "scheme must be http or https",
            UrlError::Credentials => "credentials in the URL are not supported",
            UrlError::EmptyHost => "missing host",
            UrlError::InvalidHost => "invalid host",
            UrlError::InvalidPort => "invalid port",
            UrlError::InvalidCharacters => "whitespace or control characters",
        };
        write!(f, "not a valid webhook URL ({why})")
    }
}

/// A URL split into the parts a callout needs.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// Lowercased scheme.
    pub scheme: String,
    /// Lowercased host; IPv6 without brackets.
    pub host: String,
    /// Whether the host is an IPv6 literal.
    pub ipv6: bool,
    /// Explicit port, if the URL has one.
    pub port: Option<u16>,
    /// Path and query (fragment dropped), `/` when empty.
    pub path: String,
}

impl fmt::Debug for ParsedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &"<redacted>")
            .finish()
    }
}

impl ParsedUrl {
    /// The port the connection uses: explicit, else the scheme's default.
    pub fn effective_port(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    /// `host[:port]` as the `:authority` header (IPv6 in brackets).
    pub fn authority(&self) -> String {
        let host = if self.ipv6 {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// The conventional cluster name `webhook_<host>_<port>`, without dots (see the module docs).
    pub fn default_cluster(&self) -> String {
        let host = self.host.replace('.', "_").replace(':', "-");
        format!("webhook_{host}_{}", self.effective_port())
    }
}

/// Splits an absolute http(s) URL by hand (no URL crate: the rules needed are few and a
/// dependency would grow the Wasm module).
pub fn parse_url(url: &str) -> Result<ParsedUrl, UrlError> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::InvalidCharacters);
    }
    let (scheme, rest) = url.split_once("://").ok_or(UrlError::MissingScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::UnsupportedScheme);
    }
    // The authority ends at the first '/', '?' or '#'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(UrlError::Credentials);
    }
    if authority.is_empty() {
        return Err(UrlError::EmptyHost);
    }
    let (host, ipv6, port_text) = if let Some(after) = authority.strip_prefix('[') {
        let (inside, after) = after.split_once(']').ok_or(UrlError::InvalidHost)?;
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(UrlError::InvalidHost);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::InvalidPort)?),
        };
        (inside, true, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, false, Some(p)),
            None => (authority, false, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::EmptyHost);
    }
    if !ipv6
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(UrlError::InvalidHost);
    }
    let port = match port_text {
        None => None,
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UrlError::InvalidPort);
            }
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(UrlError::InvalidPort),
                Ok(n) => Some(n),
            }
        }
    };
    // The fragment is never sent to a server.
    let path_and_query = tail.split('#').next().unwrap_or("");
    let path = if path_and_query.is_empty() {
        "/".to_string()
    } else if path_and_query.starts_with('?') {
        format!("/{path_and_query}")
    } else {
        path_and_query.to_string()
    };
    Ok(ParsedUrl {
        scheme,
        host: host.to_ascii_lowercase(),
        ipv6,
        port,
        path,
    })
}

/// Builds the destination for `url`, applying a `webhook_clusters` override looked up by
/// `host:port` first, then `host`.
pub fn destination(
    url: &str,
    id: &str,
    overrides: &HashMap<String, String>,
) -> Result<Destination, UrlError> {
    let parsed = parse_url(url)?;
    let with_port = format!("{}:{}", parsed.host, parsed.effective_port());
    let bracketed = format!("[{}]", parsed.host);
    let cluster = overrides
        .get(&with_port)
        .or_else(|| overrides.get(&parsed.host))
        .or_else(|| {
            if parsed.ipv6 {
                overrides.get(&bracketed)
            } else {
                None
            }
        })
        .cloned()
        .unwrap_or_else(|| parsed.default_cluster());
    Ok(Destination {
        cluster,
        authority: parsed.authority(),
        path: parsed.path.clone(),
        scheme: parsed.scheme.clone(),
        id: id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(url: &str) -> Destination {
        destination(url, "t", &HashMap::new()).unwrap()
    }

    #[test]
    fn slack_url_maps_to_conventional_cluster() {
        let d = dest("https://hooks.slack.com/services/T000/B000/XXXX");
        assert_eq!(d.cluster, "webhook_hooks_slack_com_443");
        assert_eq!(d.authority, "hooks.slack.com");
        assert_eq!(d.path, "/services/T000/B000/XXXX");
        assert_eq!(d.scheme, "https");
    }

    #[test]
    fn explicit_port_query_and_fragment() {
        let d = dest("http://127.0.0.1:18081/hook?a=1&b=2#frag");
        assert_eq!(d.cluster, "webhook_127_0_0_1_18081");
        assert_eq!(d.authority, "127.0.0.1:18081");
        assert_eq!(d.path, "/hook?a=1&b=2");
        assert_eq!(d.scheme, "http");
        let d = dest("HTTP://Example.COM?x=1");
        assert_eq!(
            (d.cluster.as_str(), d.path.as_str()),
            ("webhook_example_com_80", "/?x=1")
        );
        assert_eq!(dest("https://example.com").path, "/");
    }

    #[test]
    fn ipv6_hosts() {
        let d = dest("http://[::1]:8080/x");
        assert_eq!(d.cluster, "webhook_--1_8080");
        assert_eq!(d.authority, "[::1]:8080");
        let d = dest("https://[2001:db8::2]/x");
        assert_eq!(d.cluster, "webhook_2001-db8--2_443");
        assert_eq!(d.authority, "[2001:db8::2]");
        let d = dest("https://[::ffff:10.0.0.1]/x");
        assert_eq!(d.cluster, "webhook_--ffff-10_0_0_1_443");
    }

    #[test]
    fn overrides_by_host_port_then_host() {
        let mut o = HashMap::new();
        o.insert(
            "hooks.slack.com".to_string(),
            "outbound|443||hooks.slack.com".to_string(),
        );
        o.insert("127.0.0.1:9000".to_string(), "sink".to_string());
        let d = destination("https://hooks.slack.com/services/x", "slack", &o).unwrap();
        assert_eq!(d.cluster, "outbound|443||hooks.slack.com");
        assert_eq!(
            destination("http://127.0.0.1:9000/", "a", &o)
                .unwrap()
                .cluster,
            "sink"
        );
        assert_eq!(
            destination("http://127.0.0.1:9001/", "a", &o)
                .unwrap()
                .cluster,
            "webhook_127_0_0_1_9001"
        );
    }

    #[test]
    fn rejections_never_echo_the_url() {
        let cases = [
            ("hooks.slack.com/services/SECRET", UrlError::MissingScheme),
            ("ftp://h/SECRET", UrlError::UnsupportedScheme),
            ("https://user:SECRET@h/x", UrlError::Credentials),
            ("https:///SECRET", UrlError::EmptyHost),
            ("https://:443/SECRET", UrlError::EmptyHost),
            ("https://h*st/SECRET", UrlError::InvalidHost),
            ("https://[zz]/SECRET", UrlError::InvalidHost),
            ("https://h:0/SECRET", UrlError::InvalidPort),
            ("https://h:70000/SECRET", UrlError::InvalidPort),
            ("https://h:/SECRET", UrlError::InvalidPort),
            ("https://[::1]x/SECRET", UrlError::InvalidPort),
            ("https://h/SE CRET", UrlError::InvalidCharacters),
        ];
        for (url, want) in cases {
            let err = parse_url(url).unwrap_err();
            assert_eq!(err, want, "{url}");
            assert!(!err.to_string().contains("SECRET"));
        }
        assert_eq!(
            UrlError::InvalidPort.to_string(),
            "not a valid webhook URL (invalid port)"
        );
    }

    #[test]
    fn debug_hides_the_path() {
        let d = dest("https://hooks.slack.com/services/T0/B0/SECRET");
        let s = format!("{d:?}");
        assert!(!s.contains("SECRET"), "{s}");
        assert!(s.contains("webhook_hooks_slack_com_443"));
        let p = parse_url("https://hooks.slack.com/services/T0/B0/SECRET").unwrap();
        assert!(!format!("{p:?}").contains("SECRET"));
    }

    #[test]
    fn headers_for_the_callout() {
        let d = dest("https://hooks.slack.com/services/a");
        assert_eq!(
            d.headers(),
            [
                (":method", "POST"),
                (":path", "/services/a"),
                (":authority", "hooks.slack.com"),
                (":scheme", "https"),
                ("content-type", "application/json"),
                ("x-envoy-retry-on", "connect-failure,reset-before-request"),
                ("x-envoy-max-retries", "1"),
            ]
        );
    }
}
