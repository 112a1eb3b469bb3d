//! CSRF tokens of the pages' forms.
//!
//! Every form that posts to Guichet carries `csrf = <issued unix time>.<nonce>.<mac>`, where the
//! nonce is 128 random bits drawn for that page and the mac is HMAC-SHA-256 over the purpose,
//! the time and the nonce, keyed with the **credential the page was opened with**: the order's
//! checkout token for the payment page, the buyer's account token for the account pages.
//! Neither credential is stored by Guichet (only its SHA-256) nor ever sent to another site, so
//! a page of another origin cannot compute a valid token, and a forged request is refused with
//! 403 before anything is read or changed. Nothing is kept on the server: any instance checks
//! any token. Tokens are good for [`TOKEN_HOURS`].

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// How long a page's forms stay usable.
pub const TOKEN_HOURS: i64 = 12;

fn mac(credential: &str, purpose: &str, issued: i64, nonce: &str) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(credential.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(purpose.as_bytes());
    mac.update(b"\n");
    mac.update(issued.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(nonce.as_bytes());
    mac
}

/// A new token for a page opened with `credential`, for forms of `purpose` (`pay`, `account`).
pub fn issue(credential: &str, purpose: &str, now: OffsetDateTime) -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness the token is still bound to the credential and the time.
        bytes = now.unix_timestamp_nanos().to_le_bytes();
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let nonce = b64.encode(bytes);
    let issued = now.unix_timestamp();
    let tag = mac(credential, purpose, issued, &nonce)
        .finalize()
        .into_bytes();
    format!("{issued}.{nonce}.{}", b64.encode(tag))
}

/// Whether `token` was issued for this credential and purpose, less than [`TOKEN_HOURS`] ago.
pub fn verify(credential: &str, purpose: &str, token: &str, now: OffsetDateTime) -> bool {
    let mut parts = token.splitn(3, '.');
    let (Some(issued), Some(nonce), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(issued) = issued.parse::<i64>() else {
        return false;
    };
    let age = now.unix_timestamp() - issued;
    if !(-300..=TOKEN_HOURS * 3600).contains(&age) || nonce.len() > 64 {
        return false;
    }
    let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    mac(credential, purpose, issued, nonce)
        .verify_slice(&tag)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_bound_to_its_credential_purpose_and_time() {
        let now = OffsetDateTime::now_utc();
        let t = issue("tok-1", "pay", now);
        assert!(verify("tok-1", "pay", &t, now));
        assert!(verify(
            "tok-1",
            "pay",
            &t,
            now + time::Duration::hours(TOKEN_HOURS - 1)
        ));
        assert!(!verify("tok-2", "pay", &t, now), "another credential");
        assert!(!verify("tok-1", "account", &t, now), "another purpose");
        assert!(
            !verify(
                "tok-1",
                "pay",
                &t,
                now + time::Duration::hours(TOKEN_HOURS + 1)
            ),
            "too old"
        );
        assert!(!verify("tok-1", "pay", "", now));
        assert!(!verify("tok-1", "pay", "1.2", now));
        let mut forged = t.clone();
        forged.pop();
        forged.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(!verify("tok-1", "pay", &forged, now));
        assert_ne!(issue("tok-1", "pay", now), t, "a fresh nonce each page");
    }
}
