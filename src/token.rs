//! SCIM bearer tokens: `scim_<keyid>_<secret>`.
//!
//! The key id is public and selects one credential row, so verifying a token costs one indexed
//! read and one argon2id check, never a scan. The prefix lets secret scanners spot a leaked
//! token. Only the argon2id hash of the secret is stored.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use blake2::{Blake2s256, Digest};
use rand::Rng;
use rand::distr::Alphanumeric;
use subtle::ConstantTimeEq;
use tokio::sync::{OnceCell, Semaphore, TryAcquireError};

use crate::error::{ScimError, Throttled};
use crate::tenant::TenantId;

const PREFIX: &str = "scim_";
const KEY_ID_LEN: usize = 12;
const SECRET_LEN: usize = 40;

/// A SCIM bearer token. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct ScimToken {
    key_id: String,
    secret: String,
    /// A fast digest of the whole token, the key of the verification cache: computed once, as
    /// a request looks the token up in the cache more than once.
    digest: [u8; 32],
}

impl ScimToken {
    /// A fresh token: a 12-character key id and a 40-character secret of lower-case letters and
    /// digits (about 206 bits).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut pick = |n: usize| -> String {
            (&mut rng)
                .sample_iter(Alphanumeric)
                .take(n)
                .map(|b| char::from(b).to_ascii_lowercase())
                .collect()
        };
        Self::new(pick(KEY_ID_LEN), pick(SECRET_LEN))
    }

    fn new(key_id: String, secret: String) -> Self {
        // BLAKE2s: one compression for a whole token, where SHA-256 without CPU support takes
        // two, each slower; the cache key needs collision resistance, nothing more.
        let digest = Blake2s256::new()
            .chain_update(PREFIX)
            .chain_update(&key_id)
            .chain_update("_")
            .chain_update(&secret)
            .finalize()
            .into();
        Self {
            key_id,
            secret,
            digest,
        }
    }

    /// Parses a presented token; `None` when it does not have the token shape.
    pub fn parse(s: &str) -> Option<Self> {
        let (key_id, secret) = s.strip_prefix(PREFIX)?.split_once('_')?;
        let ok = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        (ok(key_id, KEY_ID_LEN) && ok(secret, SECRET_LEN))
            .then(|| Self::new(key_id.to_owned(), secret.to_owned()))
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

    fn digest(&self) -> [u8; 32] {
        self.digest
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

/// Runs argon2id work (token checks, password hashes) on the blocking pool, a few at a time,
/// with a bounded queue.
///
/// argon2id is slow and memory-hard by design (19 MiB and tens of milliseconds per run): without
/// a bound, a burst of requests with wrong secrets or new passwords would take every core and as
/// much memory as there are blocking threads, and an unbounded queue would make every request
/// behind it wait. What finds neither a slot nor a waiting place is refused at once.
pub struct Argon2Slots {
    /// Runs and waiting places together.
    admitted: Semaphore,
    running: Semaphore,
    slots: usize,
    queue: usize,
    /// Runs and waiting places each tenant holds now: no tenant may hold more than half, so
    /// one tenant's password writes or wrong secrets cannot refuse everyone else's.
    held: Mutex<HashMap<TenantId, usize>>,
}

impl Argon2Slots {
    /// `slots` concurrent runs (0: one per core) and `queue` more waiting for one.
    pub fn new(slots: usize, queue: usize) -> Self {
        let slots = match slots {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Self {
            admitted: Semaphore::new(slots + queue),
            running: Semaphore::new(slots),
            slots,
            queue,
            held: Mutex::default(),
        }
    }

    /// Runs `f` for `tenant` once a slot is free, within the tenant's share (half of the runs
    /// and waiting places, at least one); 429 at once when the share or the queue is full.
    pub async fn run_for<T: Send + 'static>(
        &self,
        tenant: &TenantId,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ScimError> {
        let share = ((self.slots + self.queue) / 2).max(1);
        let _held = Held::take(self, tenant, share)?;
        self.run(f).await
    }

    /// Runs `f` once a slot is free; 429 at once when every slot and waiting place is taken.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ScimError> {
        let _admitted = self.admitted.try_acquire().map_err(|e| match e {
            TryAcquireError::NoPermits => ScimError::TooManyRequests(Throttled {
                limit: format!(
                    "the server's argon2id work queue is full ({} running, {} waiting)",
                    self.slots, self.queue
                ),
                retry_after: 1,
            }),
            TryAcquireError::Closed => ScimError::internal(e),
        })?;
        let _slot = self.running.acquire().await.map_err(ScimError::internal)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(ScimError::internal)
    }
}

/// One tenant's claim on its share of the argon2id queue, given back on drop.
struct Held<'a> {
    slots: &'a Argon2Slots,
    tenant: TenantId,
}

impl<'a> Held<'a> {
    fn take(slots: &'a Argon2Slots, tenant: &TenantId, share: usize) -> Result<Self, ScimError> {
        let mut held = slots.held.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(tenant.clone()).or_default();
        if *n >= share {
            return Err(ScimError::TooManyRequests(Throttled {
                limit: format!(
                    "this tenant already holds its share of the server's argon2id work queue ({share} of {} places)",
                    slots.slots + slots.queue
                ),
                retry_after: 1,
            }));
        }
        *n += 1;
        Ok(Self {
            slots,
            tenant: tenant.clone(),
        })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut held = self
            .slots
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.tenant);
            }
        }
    }
}

/// A bounded cache of tokens already verified with argon2id, and the tenant each belongs to.
///
/// It skips only the argon2 computation: callers still read the credential row on every
/// request, and an entry counts only while that row still holds the same hash, so a rotated or
/// revoked secret stops working at once, on every instance.
pub struct TokenCache {
    capacity: usize,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    /// Verifications running now, by token and stored hash: requests that arrive with the same
    /// token meanwhile wait for that one result instead of each running argon2id.
    pending: Mutex<HashMap<Attempt, Arc<OnceCell<bool>>>>,
}

/// A token's digest and the stored hash it is being checked against.
type Attempt = ([u8; 32], String);

struct Verified {
    hash: String,
    tenant: TenantId,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            verified: Mutex::new(HashMap::new()),
            pending: Mutex::default(),
        }
    }

    /// The tenant of `token` if it was verified before, against whatever hash was stored then.
    pub fn tenant_of(&self, token: &ScimToken) -> Option<TenantId> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.get(&token.digest()).map(|v| v.tenant.clone())
    }

    /// Whether `token` was verified against exactly `stored_hash` before. An entry for an older
    /// hash is dropped, so a token whose secret was regenerated counts as never verified.
    pub fn contains(&self, token: &ScimToken, stored_hash: &str) -> bool {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let digest = token.digest();
        match verified.get(&digest) {
            Some(v) if bool::from(v.hash.as_bytes().ct_eq(stored_hash.as_bytes())) => true,
            Some(_) => {
                verified.remove(&digest);
                false
            }
            None => false,
        }
    }

    /// Whether `token` matches `stored_hash`, found by `verify` (argon2id) once for all the
    /// requests that bring this token while it runs: an IdP opening many connections with a
    /// new token costs one run, and none of them is refused for the others' attempts. When
    /// `verify` fails (429), the next waiting request tries in its place.
    pub async fn verify_once<F, Fut>(
        &self,
        token: &ScimToken,
        stored_hash: &str,
        verify: F,
    ) -> Result<bool, ScimError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<bool, ScimError>>,
    {
        let key = (token.digest(), stored_hash.to_owned());
        let cell = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        let out = cell.get_or_try_init(verify).await.copied();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        // The first to finish forgets the attempt (those still waiting keep their share of it);
        // a later request finds the token in the cache, or, if it was wrong, is verified (and
        // counted) anew.
        if pending.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            pending.remove(&key);
        }
        out
    }

    /// Remembers that `token` matches `stored_hash` and belongs to `tenant`.
    pub fn insert(&self, token: &ScimToken, stored_hash: &str, tenant: &TenantId) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= self.capacity {
            // Bounded without bookkeeping: dropping an arbitrary entry costs at most one argon2.
            if let Some(k) = verified.keys().next().copied() {
                verified.remove(&k);
            }
        }
        let entry = Verified {
            hash: stored_hash.to_owned(),
            tenant: tenant.clone(),
        };
        verified.insert(token.digest(), entry);
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
    fn argon2_work_is_bounded_in_all_and_per_tenant() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // One slot and three waiting places: each tenant may hold two of the four.
            let slots = std::sync::Arc::new(Argon2Slots::new(1, 3));
            let (a, b, c) = (
                TenantId::from_stored("a".into()),
                TenantId::from_stored("b".into()),
                TenantId::from_stored("c".into()),
            );
            let (release, wait) = std::sync::mpsc::channel::<()>();
            let wait = std::sync::Arc::new(Mutex::new(wait));
            let mut running = Vec::new();
            for t in [&a, &a, &b, &b] {
                let (slots, t, wait) = (slots.clone(), t.clone(), wait.clone());
                running.push(tokio::spawn(async move {
                    slots
                        .run_for(&t, move || {
                            let _ = wait.lock().map(|w| w.recv());
                        })
                        .await
                }));
                tokio::task::yield_now().await;
            }
            while slots.admitted.available_permits() > 0 {
                tokio::task::yield_now().await;
            }
            let refused = |r: Result<(), ScimError>| match r {
                Err(ScimError::TooManyRequests(t)) => t.limit,
                other => panic!("not refused: {other:?}"),
            };
            assert!(refused(slots.run_for(&a, || ()).await).contains("its share"));
            assert!(refused(slots.run_for(&c, || ()).await).contains("queue is full"));
            for _ in 0..4 {
                release.send(()).expect("release");
            }
            for r in running {
                r.await.expect("task").expect("ran");
            }
            slots.run_for(&c, || ()).await.expect("room again");
            assert!(slots.held.lock().expect("held").is_empty());
        });
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
        let tenant = TenantId::generate();
        let tokens: Vec<ScimToken> = (0..3).map(|_| ScimToken::generate()).collect();
        for t in &tokens {
            cache.insert(t, "h", &tenant);
        }
        assert_eq!(tokens.iter().filter(|t| cache.contains(t, "h")).count(), 2);
        let kept = tokens
            .iter()
            .find(|t| cache.tenant_of(t).as_ref() == Some(&tenant))
            .expect("a kept token");
        assert!(!cache.contains(kept, "other hash"));
        assert!(cache.tenant_of(kept).is_none(), "a stale entry is dropped");
    }

    #[tokio::test]
    async fn argon2_work_beyond_the_queue_is_refused_at_once() {
        let slots = std::sync::Arc::new(Argon2Slots::new(1, 1));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let running = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.run(move || wait.recv().is_ok()).await })
        };
        let waiting = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.run(|| true).await })
        };
        // The first holds the slot and the second the waiting place once both were admitted.
        while slots.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = slots.run(|| true).await;
        assert!(
            matches!(&refused, Err(ScimError::TooManyRequests(t)) if t.retry_after == 1),
            "{refused:?}"
        );
        release.send(()).expect("release");
        assert!(running.await.expect("join").expect("ran"));
        assert!(waiting.await.expect("join").expect("ran"));
    }
}
