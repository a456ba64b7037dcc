//! W3C Trace Context (`traceparent`, Level 1 §3.2) and the request's correlation id.
//!
//! A valid incoming `traceparent` (version `00`, lower-case hex, non-zero trace-id and parent-id)
//! keeps its trace-id and flags; the gateway takes a new parent-id of its own (§3.2.2.3: a
//! participating intermediary mutates `parent-id`) and keeps `tracestate`. An invalid or missing
//! one is replaced by a new trace with random ids from the platform and flags `01` (sampled), and
//! `tracestate` is dropped (§3.3.1.1). Not implemented: versions other than `00` (treated as
//! invalid, a new trace starts), `tracestate` validation beyond dropping it with a bad parent.
//!
//! The correlation id is the incoming `x-request-id` when it is 1–[`MAX_REQUEST_ID_BYTES`] of
//! `[A-Za-z0-9._:-]`, else the trace-id. It is forwarded as `x-request-id` and appears in every log
//! line the core writes for the request.

use crate::http::Headers;
use crate::platform::Platform;

/// Longest accepted incoming `x-request-id`. Common generators emit UUIDs (36) or 32-hex ids; 128
/// leaves room while keeping log lines bounded.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// What every stage of one request shares: the time, read from the platform once when the request
/// arrives (a stage never reads the clock: webpki's `verify_for_usage(time)` and quinn-proto work
/// the same way), and the request's trace context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Unix seconds when the request arrived.
    pub now: u64,
    /// The request's trace context (`traceparent`, request id).
    pub trace: TraceContext,
}

/// The trace context for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// The gateway's span id: 16 lower-case hex digits.
    pub parent_id: String,
    /// 2 lower-case hex digits.
    pub flags: String,
    /// True when the incoming `traceparent` was valid (then `tracestate` is kept).
    pub continued: bool,
    /// The correlation id for logs and `x-request-id`.
    pub request_id: String,
}

impl TraceContext {
    /// The context for a request with these header fields.
    pub fn for_request<P: Platform>(headers: &Headers, platform: &P) -> TraceContext {
        // Both ids' randomness in one platform call (a JS crossing on Workers).
        let mut random = [0u8; 24];
        platform.random(&mut random);
        let (parent, trace) = random.split_at_mut(8);
        let parent_id = nonzero_hex(parent);
        let incoming = match headers.get_single("traceparent") {
            Ok(Some(value)) => parse(value),
            _ => None,
        };
        let (trace_id, flags, continued) = match incoming {
            Some((trace_id, flags)) => (trace_id.to_owned(), flags.to_owned(), true),
            None => (nonzero_hex(trace), "01".to_owned(), false),
        };
        let request_id = match headers.get_single("x-request-id") {
            Ok(Some(id)) if is_request_id(id) => id.to_owned(),
            _ => trace_id.clone(),
        };
        TraceContext {
            trace_id,
            parent_id,
            flags,
            continued,
            request_id,
        }
    }

    /// The `traceparent` value to forward.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

/// Parses a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`, returning trace-id and flags.
pub fn parse(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.split('-');
    let (Some("00"), Some(trace_id), Some(parent_id), Some(flags), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    (hex(trace_id, 32)
        && hex(parent_id, 16)
        && hex(flags, 2)
        && !zero(trace_id)
        && !zero(parent_id))
    .then_some((trace_id, flags))
}

fn is_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_BYTES).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// `bytes` as lower-case hex, the last byte set to 1 when all are zero (an all-zero id is invalid).
fn nonzero_hex(bytes: &mut [u8]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        if let Some(last) = bytes.last_mut() {
            *last = 1;
        }
    }
    base16ct::lower::encode_string(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_valid_version_00() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(parse(ok), Some(("4bf92f3577b34da6a3ce929d0e0e4736", "01")));
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert!(is_request_id("a1b2-c3"));
        assert!(!is_request_id("a b"));
        assert!(!is_request_id(&"a".repeat(129)));
    }
}
