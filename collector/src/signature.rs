//! Verifying what senders sign: HMAC-SHA256 (Flux: SHA-224, -384 or -512 too) over the raw body,
//! compared in constant time.
//!
//! The collector verifies before it parses, so a forged request is refused before any of its
//! content is trusted. Sources differ only in where the signature travels and how it is spelled
//! (hex, `sha256=` prefixes); that is left to each source.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha224, Sha256, Sha384, Sha512};

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

/// Whether `presented` equals the hex HMAC-SHA256 of `body` under `key`, in constant time.
pub fn verify_hex(key: &[u8], body: &[u8], presented: &str) -> bool {
    verify_hex_with("sha256", key, body, presented) == Some(true)
}

/// Whether `presented` equals the hex HMAC of `body` under `key` with the hash `algorithm`
/// (`sha224`, `sha256`, `sha384`, `sha512`, as Flux's `X-Signature` names it), in constant time;
/// `None` for another algorithm.
pub fn verify_hex_with(algorithm: &str, key: &[u8], body: &[u8], presented: &str) -> Option<bool> {
    fn hex_mac<M: Mac + KeyInit>(key: &[u8], body: &[u8]) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <M as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(body);
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
    let expected = match algorithm.trim().to_ascii_lowercase().as_str() {
        "sha224" => hex_mac::<Hmac<Sha224>>(key, body),
        "sha256" => hex_mac::<Hmac<Sha256>>(key, body),
        "sha384" => hex_mac::<Hmac<Sha384>>(key, body),
        "sha512" => hex_mac::<Hmac<Sha512>>(key, body),
        _ => return None,
    };
    Some(constant_time_eq(presented.trim().to_ascii_lowercase().as_bytes(), expected.as_bytes()))
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

    #[test]
    fn every_sha2_width_matches_rfc_4231_test_case_2() {
        let (key, data) = (b"Jefe".as_slice(), b"what do ya want for nothing?".as_slice());
        let cases = [
            ("sha224", "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"),
            ("sha256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ("sha384", "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"),
            ("sha512", "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
        ];
        for (algorithm, mac) in cases {
            assert_eq!(verify_hex_with(algorithm, key, data, mac), Some(true), "{algorithm}");
            assert_eq!(verify_hex_with(algorithm, key, b"other", mac), Some(false), "{algorithm}");
        }
        assert_eq!(verify_hex_with("md5", key, data, "00"), None);
    }
}
