//! Which `model_list` deployment served a request: exact names, then wildcards, then the
//! upstream host among several.

use super::Deployment;

pub(super) fn literal_len(pattern: &str) -> usize {
    pattern.chars().filter(|&c| c != '*').count()
}

pub(super) fn pick_by_host<'a>(
    mut candidates: impl Iterator<Item = &'a Deployment>,
    upstream_host: Option<&str>,
) -> Option<&'a Deployment> {
    let first = candidates.next()?;
    let second = candidates.next();
    // One deployment for the name (the common case): nothing to choose, no host to parse.
    let (Some(second), Some(host)) = (second, upstream_host) else {
        return Some(first);
    };
    let mut candidates = std::iter::once(second).chain(candidates);
    if first
        .api_base
        .as_deref()
        .is_some_and(|b| host_matches(b, host))
    {
        return Some(first);
    }
    Some(
        candidates
            .find(|d| d.api_base.as_deref().is_some_and(|b| host_matches(b, host)))
            .unwrap_or(first),
    )
}

/// `host[:port]` of a URL (userinfo dropped).
pub(super) fn url_authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    auth.rsplit_once('@').map_or(auth, |(_, h)| h)
}

/// Splits `host[:port]` (IPv6 in brackets) into host and optional port.
pub(super) fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(close) = authority.rfind(']') {
        let (h, p) = authority.split_at(close + 1);
        return (h, p.strip_prefix(':'));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (authority, None),
    }
}

/// Whether `api_base`'s host is `upstream` (`host` or `host:port`); ports are compared only
/// when both sides name one.
pub(super) fn host_matches(api_base: &str, upstream: &str) -> bool {
    let (bh, bp) = split_port(url_authority(api_base));
    let (uh, up) = split_port(upstream.trim());
    bh.eq_ignore_ascii_case(uh)
        && match (bp, up) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// Whole-string match of `pattern` where `*` matches any run of characters (LiteLLM turns `*`
/// into `.*` in an anchored regex).
pub(super) fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}
