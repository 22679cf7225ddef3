//! Verifying what senders sign: HMAC-SHA256 over the raw body, compared in constant time.
//!
//! The collector verifies before it parses, so a forged request is refused before any of its
//! content is trusted. Sources differ only in where the signature travels and how it is spelled
//! (hex, `sha256=` prefixes); that is left to each source.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// HMAC-SHA256 of `body` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-SHA256 of `body` as lower-case hex.
pub fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    hmac_sha256(key, &[body]).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `presented` equals the hex HMAC of `body` under `key`, in constant time.
pub fn verify_hex(key: &[u8], body: &[u8], presented: &str) -> bool {
    constant_time_eq(presented.trim().to_ascii_lowercase().as_bytes(), hmac_hex(key, body).as_bytes())
}

/// Equality whose time depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4231_test_case_2() {
        let mac = hmac_hex(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(verify_hex(b"Jefe", b"what do ya want for nothing?", &mac.to_uppercase()));
        assert!(!verify_hex(b"Jefe", b"what do ya want for nothing!", &mac));
    }
}
