//! The leader election's rule, pure so it can be tested with a fake clock.
//!
//! Exactly one VM runs the [`super::AlertEngine`]. The host keeps one shared-data entry per
//! alerting configuration holding [`claim`] (`<vm uid>:<heartbeat ms>`); on every tick each VM
//! reads it and, when [`may_claim`] says so, writes its own claim with compare-and-swap: the
//! write succeeds for one VM only, which is the leader until its next tick. The leader renews
//! its heartbeat every tick; a heartbeat older than [`LEADER_STALE_MS`] means the leader's VM
//! is gone (or stalled) and any other VM takes over.

/// A heartbeat older than this (ms) frees the leadership.
pub const LEADER_STALE_MS: u64 = 3_000;

/// The entry value claiming the leadership for `uid` at `now_ms`.
pub fn claim(uid: &str, now_ms: u64) -> String {
    format!("{uid}:{now_ms}")
}

/// Whether VM `uid` may write its claim over the entry's `current` value at `now_ms`: the entry
/// is free (empty or unreadable), already this VM's, or its heartbeat is stale.
pub fn may_claim(current: &[u8], uid: &str, now_ms: u64) -> bool {
    let Some((holder, beat)) = core::str::from_utf8(current)
        .ok()
        .and_then(|v| v.rsplit_once(':'))
    else {
        return true;
    };
    let Ok(beat) = beat.parse::<u64>() else {
        return true;
    };
    holder.is_empty() || holder == uid || now_ms.saturating_sub(beat) > LEADER_STALE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_own_or_stale_entries_may_be_claimed() {
        assert!(may_claim(b"", "a", 10_000));
        assert!(may_claim(b"garbage", "a", 10_000));
        assert!(may_claim(b"b:xyz", "a", 10_000));
        let b = claim("7-abc", 10_000);
        assert_eq!(b, "7-abc:10000");
        // Another VM's fresh heartbeat holds; its own holder renews.
        assert!(!may_claim(b.as_bytes(), "8-def", 10_000));
        assert!(!may_claim(b.as_bytes(), "8-def", 13_000));
        assert!(may_claim(b.as_bytes(), "7-abc", 10_500));
        // Stale after 3 s without renewal; a clock that went back does not free it.
        assert!(may_claim(b.as_bytes(), "8-def", 13_001));
        assert!(!may_claim(b.as_bytes(), "8-def", 9_000));
    }
}
