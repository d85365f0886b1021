//! Passwords: argon2id at OWASP's recommended parameters.
//!
//! Hashing takes tens of milliseconds of CPU by design, so it runs on the
//! blocking pool, never on the async workers that serve other requests.
//! Checking a password for an email that has no account still costs one
//! verification against a fixed hash, so the response time does not tell
//! whether the account exists.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;

use crate::error::{ApiError, FieldError};

/// Shortest password accepted (NIST SP 800-63B asks for at least 8; we ask 12).
pub const MIN_LENGTH: usize = 12;
/// Longest accepted: argon2 takes any length, but an unbounded input is a
/// denial-of-service lever.
pub const MAX_LENGTH: usize = 256;

/// OWASP's first recommended argon2id configuration: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password against the policy, naming the field on failure.
pub fn check_policy(field: &str, password: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    let reason = if length < MIN_LENGTH {
        format!("must be at least {MIN_LENGTH} characters")
    } else if length > MAX_LENGTH {
        format!("must be at most {MAX_LENGTH} characters")
    } else {
        return Ok(());
    };
    Err(ApiError::Validation(vec![FieldError::new(field, reason)]))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        argon2()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("cannot hash a password: {e}"))
    })
    .await?
}

/// Verifies `password` against `stored`, or against a fixed hash when there
/// is no stored hash, so both cases take the same time. Returns whether the
/// password matches a stored hash.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match stored {
            Some(hash) => (hash, true),
            None => (decoy_hash().to_owned(), false),
        };
        let matches = argon2()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok();
        Ok(real && matches)
    })
    .await?
}

/// A hash of a random password, made once, to verify against when there is
/// no account.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut password = [0u8; 24];
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut password);
        rand::rng().fill_bytes(&mut salt);
        argon2()
            .hash_password_with_salt(&password, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery".to_owned()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".to_owned(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse battery".to_owned(), Some(stored))
                .await
                .unwrap()
        );
        assert!(!verify("anything at all".to_owned(), None).await.unwrap());
    }

    #[test]
    fn the_policy_names_the_field() {
        assert!(check_policy("password", "long enough pass").is_ok());
        let ApiError::Validation(errors) = check_policy("new_password", "short").unwrap_err()
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].field, "new_password");
    }
}
