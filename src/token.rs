//! SCIM bearer tokens: `scim_<keyid>_<secret>`.
//!
//! The key id is public and selects one credential row, so verifying a token costs one indexed
//! read and one argon2id check, never a scan. The prefix lets secret scanners spot a leaked
//! token. Only the argon2id hash of the secret is stored.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "scim_";
const KEY_ID_LEN: usize = 12;
const SECRET_LEN: usize = 40;

/// A SCIM bearer token. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct ScimToken {
    key_id: String,
    secret: String,
}

impl ScimToken {
    /// A fresh token: a 12-character key id and a 40-character secret (about 238 bits).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut pick = |n: usize| -> String {
            (&mut rng)
                .sample_iter(Alphanumeric)
                .take(n)
                .map(|b| char::from(b).to_ascii_lowercase())
                .collect()
        };
        let key_id = pick(KEY_ID_LEN);
        let secret = pick(SECRET_LEN);
        Self { key_id, secret }
    }

    /// Parses a presented token; `None` when it does not have the token shape.
    pub fn parse(s: &str) -> Option<Self> {
        let (key_id, secret) = s.strip_prefix(PREFIX)?.split_once('_')?;
        let ok = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        (ok(key_id, KEY_ID_LEN) && ok(secret, SECRET_LEN)).then(|| Self {
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The public key id, which names the credential row.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The full token, to be shown once to the tenant admin.
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}_{}", self.key_id, self.secret)
    }

    /// The argon2id PHC string of the secret, for storage.
    pub fn hash_secret(&self) -> anyhow::Result<String> {
        hash_password(&self.secret)
    }

    /// Checks the secret against a stored argon2id PHC string.
    pub fn verify(&self, stored_hash: &str) -> bool {
        verify_password(&self.secret, stored_hash)
    }

    /// A fast digest of the whole token, the key of the verification cache.
    fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.reveal().as_bytes()).into()
    }
}

impl fmt::Debug for ScimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}_***", self.key_id)
    }
}

/// Hashes a secret or password with argon2id and a random salt.
pub fn hash_password(secret: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("argon2 salt encoding failed: {e}"))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

fn verify_password(secret: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// Runs argon2id work (token checks, password hashes) on the blocking pool, a few at a time.
///
/// argon2id is slow and memory-hard by design (19 MiB and tens of milliseconds per run): without
/// a bound, a burst of requests with wrong secrets or new passwords would take every core and as
/// much memory as there are blocking threads.
pub struct Argon2Slots(tokio::sync::Semaphore);

impl Argon2Slots {
    /// Allows as many concurrent runs as the machine has cores.
    pub fn per_core() -> Self {
        Self(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ))
    }

    /// Runs `f` once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _slot = self.0.acquire().await?;
        Ok(tokio::task::spawn_blocking(f).await?)
    }
}

/// A bounded cache of tokens already verified with argon2id.
///
/// It skips only the argon2 computation: callers still read the credential row on every
/// request, and an entry counts only while that row still holds the same hash, so a rotated or
/// revoked secret stops working at once, on every instance.
pub struct TokenCache {
    capacity: usize,
    verified: Mutex<HashMap<[u8; 32], String>>,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `token` was verified against exactly `stored_hash` before.
    pub fn contains(&self, token: &ScimToken, stored_hash: &str) -> bool {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified
            .get(&token.digest())
            .is_some_and(|h| bool::from(h.as_bytes().ct_eq(stored_hash.as_bytes())))
    }

    /// Remembers that `token` matches `stored_hash`.
    pub fn insert(&self, token: &ScimToken, stored_hash: &str) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= self.capacity {
            // Bounded without bookkeeping: dropping an arbitrary entry costs at most one argon2.
            if let Some(k) = verified.keys().next().copied() {
                verified.remove(&k);
            }
        }
        verified.insert(token.digest(), stored_hash.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_hide_their_secret() {
        let t = ScimToken::generate();
        let shown = t.reveal();
        assert!(shown.starts_with("scim_"));
        let parsed = ScimToken::parse(&shown).expect("parses");
        assert_eq!(parsed.key_id(), t.key_id());
        assert_eq!(parsed.reveal(), shown);
        let dbg = format!("{t:?}");
        assert!(!dbg.contains(&t.secret), "{dbg}");
        assert!(dbg.ends_with("_***"));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = ScimToken::generate().reveal();
        for bad in [
            "",
            "scim_",
            "Bearer x",
            "scim_abc_def",
            &good[1..],
            &format!("{good}x"),
            &good.replace('_', "-"),
        ] {
            assert!(ScimToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn secrets_verify_only_against_their_own_hash() {
        let t = ScimToken::generate();
        let h = t.hash_secret().expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(t.verify(&h));
        assert!(!ScimToken::generate().verify(&h));
        assert!(!t.verify("not a hash"));
    }

    #[test]
    fn cache_is_bounded_and_bound_to_the_stored_hash() {
        let cache = TokenCache::new(2);
        let tokens: Vec<ScimToken> = (0..3).map(|_| ScimToken::generate()).collect();
        for t in &tokens {
            cache.insert(t, "h");
        }
        assert_eq!(tokens.iter().filter(|t| cache.contains(t, "h")).count(), 2);
        assert!(!cache.contains(&tokens[2], "other hash"));
    }
}
