//! Access tokens: short-lived JWTs (HS256) naming the account and the
//! session. The signature proves the server issued the token; the session
//! row, checked on every request, decides whether it still counts, which is
//! what makes sign-out and revocation immediate.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::DataKey;
use crate::time::Timestamp;

const ISSUER: &str = "carebase";

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The account.
    pub sub: Uuid,
    /// The session.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// Signs and checks access tokens under a key derived from the installation
/// data key: every server holds the same one, including while the master
/// key is rotated (some servers on the old one, some on the new).
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessTokens(ttl={}s)", self.ttl_secs)
    }
}

impl AccessTokens {
    pub fn new(installation: &DataKey, ttl_secs: u64) -> Self {
        let key = installation.derive("carebase/access-token/v2");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(key.as_ref()),
            decoding: DecodingKey::from_secret(key.as_ref()),
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX),
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A token for `account` in `session`, valid for the configured time.
    pub fn issue(&self, account: Uuid, session: Uuid) -> anyhow::Result<String> {
        let now = Timestamp::now().as_micros() / 1_000_000;
        let claims = Claims {
            sub: account,
            sid: session,
            iat: now,
            exp: now + self.ttl_secs,
            iss: ISSUER.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("cannot sign an access token: {e}"))
    }

    /// The claims of a token this server signed and that has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installation_key(byte: u8) -> DataKey {
        DataKey::new(Uuid::now_v7(), &[byte; 32])
    }

    #[test]
    fn tokens_verify_under_their_key_only() {
        let tokens = AccessTokens::new(&installation_key(1), 600);
        let (account, session) = (Uuid::now_v7(), Uuid::now_v7());
        let token = tokens.issue(account, session).unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (account, session));

        let other = AccessTokens::new(&installation_key(2), 600);
        assert!(other.verify(&token).is_none());
        let mut forged = token.clone();
        forged.pop();
        assert!(tokens.verify(&forged).is_none());
        assert!(tokens.verify("not.a.token").is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let tokens = AccessTokens {
            ttl_secs: -1,
            ..AccessTokens::new(&installation_key(1), 600)
        };
        let token = tokens.issue(Uuid::now_v7(), Uuid::now_v7()).unwrap();
        assert!(tokens.verify(&token).is_none());
    }
}
