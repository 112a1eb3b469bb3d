//! 3-D Secure decision (SPEC F11): per sales channel, always, never, or only when an event of
//! the basket starts within N days ("close to the event date", when resale fraud peaks). The
//! decision and its reason are recorded on the payment.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::ThreeDsPolicy;

/// Reason recorded when the channel's policy is `always`.
pub const REASON_POLICY_ALWAYS: &str = "policy_always";
/// Reason recorded when the channel's policy is `never`.
pub const REASON_POLICY_NEVER: &str = "policy_never";
/// Reason recorded when an event of the basket starts within the policy's days.
pub const REASON_EVENT_WITHIN_DAYS: &str = "event_within_days";
/// Reason recorded under `close_to_event` when no event is that close (or the basket has none).
pub const REASON_NO_EVENT_CLOSE: &str = "no_event_close";

/// Whether a card payment goes through 3-D Secure, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ThreeDsDecision {
    pub required: bool,
    pub reason: &'static str,
}

/// The 3-D Secure decision for a payment.
///
/// - `Always` → required, `"policy_always"`; `Never` → not required, `"policy_never"`.
/// - `CloseToEvent` → required, `"event_within_days"`, when `first_event_start` (the earliest
///   start of the basket's events) is at most `days` × 24 h after `now`, bounds included; an
///   event that has already started counts as close. Otherwise, and for a basket without
///   events, not required, `"no_event_close"`.
pub fn requires_3ds(
    policy: ThreeDsPolicy,
    days: u32,
    first_event_start: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> ThreeDsDecision {
    match policy {
        ThreeDsPolicy::Always => ThreeDsDecision {
            required: true,
            reason: REASON_POLICY_ALWAYS,
        },
        ThreeDsPolicy::Never => ThreeDsDecision {
            required: false,
            reason: REASON_POLICY_NEVER,
        },
        ThreeDsPolicy::CloseToEvent => {
            let close = first_event_start
                .is_some_and(|start| start - now <= Duration::days(i64::from(days)));
            if close {
                ThreeDsDecision {
                    required: true,
                    reason: REASON_EVENT_WITHIN_DAYS,
                }
            } else {
                ThreeDsDecision {
                    required: false,
                    reason: REASON_NO_EVENT_CLOSE,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-15 10:00 UTC);

    #[test]
    fn decisions() {
        use ThreeDsPolicy::*;
        let day = Duration::days(1);
        let second = Duration::seconds(1);
        let cases: &[(ThreeDsPolicy, u32, Option<OffsetDateTime>, bool, &str)] = &[
            (Always, 3, None, true, "policy_always"),
            (Always, 3, Some(NOW + 60 * day), true, "policy_always"),
            (Never, 3, None, false, "policy_never"),
            (Never, 3, Some(NOW + 2 * day), false, "policy_never"),
            (
                CloseToEvent,
                3,
                Some(NOW + 2 * day),
                true,
                "event_within_days",
            ),
            (
                CloseToEvent,
                3,
                Some(NOW + 60 * day),
                false,
                "no_event_close",
            ),
            (
                CloseToEvent,
                3,
                Some(NOW + 3 * day),
                true,
                "event_within_days",
            ),
            (
                CloseToEvent,
                3,
                Some(NOW + 3 * day + second),
                false,
                "no_event_close",
            ),
            (
                CloseToEvent,
                3,
                Some(NOW - 2 * day),
                true,
                "event_within_days",
            ),
            (CloseToEvent, 3, Some(NOW), true, "event_within_days"),
            (CloseToEvent, 0, Some(NOW), true, "event_within_days"),
            (CloseToEvent, 0, Some(NOW + second), false, "no_event_close"),
            (CloseToEvent, 3, None, false, "no_event_close"),
            (
                CloseToEvent,
                u32::MAX,
                Some(NOW + 3650 * day),
                true,
                "event_within_days",
            ),
        ];
        for &(policy, days, start, required, reason) in cases {
            assert_eq!(
                requires_3ds(policy, days, start, NOW),
                ThreeDsDecision { required, reason },
                "{policy} {days} {start:?}"
            );
        }
    }

    #[test]
    fn offsets_do_not_matter() {
        let start = datetime!(2026-03-18 12:00 +02:00); // 10:00 UTC, exactly 3 days
        let decision = requires_3ds(ThreeDsPolicy::CloseToEvent, 3, Some(start), NOW);
        assert!(decision.required);
        let json = serde_json::to_string(&decision).unwrap();
        assert_eq!(json, r#"{"required":true,"reason":"event_within_days"}"#);
    }
}
