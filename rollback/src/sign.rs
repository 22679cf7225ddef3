//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>, spec
//! <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>):
//! `webhook-signature: v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">`. A secret
//! written `whsec_<base64>` is decoded to its key bytes, as the reference libraries do; any other
//! secret is used as it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pacer_collector::signature::{constant_time_eq, hmac_sha256};

/// The key bytes of a secret.
pub fn key(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_").map(|b64| STANDARD.decode(b64)) {
        Some(Ok(bytes)) => bytes,
        _ => secret.as_bytes().to_vec(),
    }
}

/// The `webhook-signature` header value for a message.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(&key(secret), &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(mac))
}

/// Checks a `webhook-signature` header (which may hold several space-separated signatures).
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let expected = signature(secret, id, timestamp, body);
    header.split(' ').any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The test vector published with the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let sig = signature(secret, id, 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(secret, id, 1614265330, body, &format!("v1,bogus {sig}")));
        assert!(!verify(secret, id, 1614265331, body, &sig));
    }
}
