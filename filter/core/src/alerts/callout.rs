//! What Envoy's answer to a webhook callout says happened to the alert.
//!
//! `dispatch_http_call` always calls back with *some* response: the receiver's own, or one Envoy
//! made up (verified on Envoy 1.40): `504` `upstream request timeout` when the callout timed out,
//! `503` `upstream connect error or disconnect/reset before headers. reset reason: <why>` when no
//! answer came, and no headers at all when the stream was reset. Only the receiver's answers carry
//! the router's `x-envoy-upstream-service-time`, which tells the two apart. A webhook has no
//! idempotency key, so an alert that may have arrived is never sent again: a duplicate pages
//! someone twice. Only what provably never left is retried.

/// The fate of one callout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalloutResult {
    /// The receiver answered with this status.
    Answered(u16),
    /// It never reached the receiver (no connection, no healthy host, circuit breaker, no such
    /// cluster): safe to send again.
    NotSent,
    /// It may have reached the receiver (timed out; the connection closed or was reset once the
    /// request was on it): not sent again, counted as `unconfirmed`.
    Unconfirmed,
}

/// The header Envoy's router adds to responses that came from the cluster (never to its own).
pub const FROM_RECEIVER_HEADER: &str = "x-envoy-upstream-service-time";

/// Reset reasons (Envoy's words after `reset reason:`) meaning no request was written.
const NEVER_CONNECTED: [&str; 5] = [
    "connection failure",
    "remote connection failure",
    "local connection failure",
    "connection timeout",
    "overflow",
];

/// Classifies a callout's response: its `:status` (`None`: no headers), whether it came from the
/// receiver (it has [`FROM_RECEIVER_HEADER`]), and the body of a response Envoy made itself.
pub fn callout_result(status: Option<u16>, from_receiver: bool, body: &[u8]) -> CalloutResult {
    let Some(status) = status else {
        return CalloutResult::Unconfirmed;
    };
    if from_receiver {
        return CalloutResult::Answered(status);
    }
    let text = String::from_utf8_lossy(body);
    let reason = text.rsplit_once("reset reason: ").map(|(_, r)| r.trim());
    let never_connected = reason.is_some_and(|r| {
        NEVER_CONNECTED
            .iter()
            .any(|n| r == *n || r.starts_with(&format!("{n},")))
    });
    if never_connected || text.trim() == "no healthy upstream" {
        CalloutResult::NotSent
    } else {
        CalloutResult::Unconfirmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CalloutResult::*;

    #[test]
    fn envoys_own_replies_say_whether_the_alert_left() {
        // Bodies as Envoy 1.40 writes them.
        let refused = b"upstream connect error or disconnect/reset before headers. reset reason: remote connection failure";
        let retried = b"upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure";
        let tls = b"upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS_error";
        let closed = b"upstream connect error or disconnect/reset before headers. reset reason: connection termination";
        let reset = b"upstream connect error or disconnect/reset before headers. reset reason: remote reset";
        assert_eq!(callout_result(Some(503), false, refused), NotSent);
        assert_eq!(callout_result(Some(503), false, retried), NotSent);
        assert_eq!(callout_result(Some(503), false, tls), NotSent);
        assert_eq!(
            callout_result(Some(503), false, b"no healthy upstream"),
            NotSent
        );
        assert_eq!(callout_result(Some(503), false, closed), Unconfirmed);
        assert_eq!(callout_result(Some(503), false, reset), Unconfirmed);
        assert_eq!(
            callout_result(Some(504), false, b"upstream request timeout"),
            Unconfirmed
        );
        assert_eq!(callout_result(None, false, b""), Unconfirmed);
    }

    #[test]
    fn the_receivers_answers_are_taken_as_they_are() {
        assert_eq!(
            callout_result(Some(503), true, b"upstream request timeout"),
            Answered(503)
        );
        assert_eq!(callout_result(Some(200), true, b"ok"), Answered(200));
        assert_eq!(callout_result(Some(429), true, b""), Answered(429));
    }
}
