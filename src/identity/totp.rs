//! The optional second factor: TOTP (RFC 6238), 6 digits, 30-second steps,
//! one step of clock skew, as every authenticator app expects. A code is
//! accepted once: the step it matched is remembered and never accepted again.

use rand::Rng;
use totp_rs::{Algorithm, Builder, Totp};

const ISSUER: &str = "carebase";

/// A new 160-bit secret, the length RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], account_name: &str) -> anyhow::Result<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some(ISSUER))
        .with_account_name(account_name.replace(':', ""))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build a TOTP: {e}"))
}

/// The `otpauth://` URL an authenticator app scans.
pub fn provisioning_url(secret: &[u8], account_name: &str) -> anyhow::Result<String> {
    totp(secret, account_name)?
        .to_url()
        .map_err(|e| anyhow::anyhow!("cannot make an otpauth URL: {e}"))
}

/// The step a code matches now, if it matches one later than `last_step`.
pub fn accept(secret: &[u8], code: &str, last_step: Option<i64>) -> Option<i64> {
    let step = totp(secret, "account").ok()?.check_current(code.trim())?;
    let step = i64::try_from(step).ok()?;
    match last_step {
        Some(last) if step <= last => None,
        _ => Some(step),
    }
}

/// A secret in base32, as people type it into an authenticator.
pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

/// The code for the current step (used by tests and nothing else).
pub fn current_code(secret: &[u8]) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    Ok(totp(secret, "account")?.generate(now).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_accepted_once() {
        let secret = new_secret();
        let code = current_code(&secret).unwrap();
        let step = accept(&secret, &code, None).unwrap();
        assert_eq!(accept(&secret, &code, Some(step)), None, "replayed");
        assert_eq!(accept(&secret, "000000x", None), None);
        let url = provisioning_url(&secret, "jane@clinic.example").unwrap();
        assert!(url.starts_with("otpauth://totp/"), "{url}");
    }
}
