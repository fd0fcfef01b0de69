//! Request rate limits: token buckets (governor's GCRA) per tenant, per admin client address,
//! and for SCIM tokens not yet verified, per client address and per key id from each address.
//!
//! Every bucket lives in memory, one per key. Keys come only from things that are bounded or
//! expensive to multiply: tenants and key ids that exist, and client addresses (an IPv6 client
//! counts by its /64, the block one subscriber usually holds). [`Throttle::prune`] drops every
//! bucket that has refilled, so memory follows the keys seen in the last minute or two, not
//! all time.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimits;
use crate::error::Throttled;
use crate::tenant::TenantId;

/// A client, as far as rate limits tell clients apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of an address: IPv4 as it is (also when IPv4-mapped), IPv6 by its /64 prefix.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6(Ipv6Addr::from_bits(
                    v6.to_bits() & !u128::from(u64::MAX),
                ))),
            },
            v4 => Self(v4),
        }
    }
}

/// One keyed token bucket and the words that name it in a 429.
struct Bucket<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    limit: String,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn check(&self, key: &K) -> Result<(), Throttled> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            Throttled {
                limit: self.limit.clone(),
                // Rounded up: a client that waits exactly this long finds a token.
                retry_after: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
            }
        })
    }

    fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

const TWO: NonZeroU32 = NonZeroU32::new(2).expect("2 is not zero");

/// `per_second` requests a second with bursts of twice that; `None` when switched off.
fn per_second<K: Hash + Eq + Clone>(per_second: u32, what: &str) -> Option<Bucket<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = rate.saturating_mul(TWO);
    Some(Bucket {
        limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        limit: format!("{what} of {rate} requests per second (bursts of {burst}) is used up"),
    })
}

/// `per_minute` attempts a minute, all of which may come at once; `None` when switched off.
fn per_minute<K: Hash + Eq + Clone>(per_minute: u32, what: &str) -> Option<Bucket<K>> {
    let rate = NonZeroU32::new(per_minute)?;
    Some(Bucket {
        limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate)),
        limit: format!("{what} (at most {rate} a minute)"),
    })
}

/// Every rate limit of one running service.
pub struct Throttle {
    tenant: Option<Bucket<TenantId>>,
    admin: Option<Bucket<ClientKey>>,
    /// Keyed by key id *and* client address: a key id is public (it begins the token), so a
    /// bucket per key id alone would let anyone who knows it lock the IdP out after a restart.
    auth_key: Option<Bucket<(String, ClientKey)>>,
    auth_address: Option<Bucket<ClientKey>>,
    trust_forwarded_for: bool,
}

impl Throttle {
    /// The buckets the settings ask for.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            tenant: per_second(limits.tenant_per_second, "this tenant's rate limit"),
            admin: per_second(
                limits.admin_per_second,
                "the admin API's rate limit per client address",
            ),
            auth_key: per_minute(
                limits.auth_per_key_per_minute,
                "too many tokens with this key id failed or await verification",
            ),
            auth_address: per_minute(
                limits.auth_per_address_per_minute,
                "too many authentication attempts with unverified tokens came from this address",
            ),
            trust_forwarded_for: limits.trust_forwarded_for,
        }
    }

    /// The client a request counts against: the peer address, or with `trust_forwarded_for`
    /// the last `X-Forwarded-For` entry (the one the trusted proxy appended; earlier ones are
    /// whatever the client sent).
    pub fn client(&self, req: &HttpRequest) -> ClientKey {
        let forwarded = self
            .trust_forwarded_for
            .then(|| req.headers().get_all("x-forwarded-for").last())
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| parse_address(v.trim()));
        let ip = forwarded
            .or_else(|| req.peer_addr().map(|a| a.ip()))
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        ClientKey::of(ip)
    }

    /// Counts one authenticated SCIM request of `tenant`.
    pub fn tenant(&self, tenant: &TenantId) -> Result<(), Throttled> {
        self.tenant.as_ref().map_or(Ok(()), |b| b.check(tenant))
    }

    /// Counts one more request of `tenant` (an operation of a bulk request), waiting up to
    /// `most` for its bucket to refill: a bulk request slows to the tenant's rate instead of
    /// failing half-way, and other tenants' buckets are not touched.
    pub async fn tenant_within(&self, tenant: &TenantId, most: Duration) -> Result<(), Throttled> {
        let Some(bucket) = &self.tenant else {
            return Ok(());
        };
        let Err(throttled) = bucket.check(tenant) else {
            return Ok(());
        };
        tokio::time::timeout(most, bucket.limiter.until_key_ready(tenant))
            .await
            .map(drop)
            .map_err(|_| throttled)
    }

    /// Counts one admin API request from `client`.
    pub fn admin(&self, client: &ClientKey) -> Result<(), Throttled> {
        self.admin.as_ref().map_or(Ok(()), |b| b.check(client))
    }

    /// Counts one authentication attempt from `client` that the token cache cannot vouch for.
    pub fn unverified_from(&self, client: &ClientKey) -> Result<(), Throttled> {
        self.auth_address
            .as_ref()
            .map_or(Ok(()), |b| b.check(client))
    }

    /// Counts one argon2id check of a token with this existing key id from `client`.
    pub fn unverified_key(&self, key_id: &str, client: &ClientKey) -> Result<(), Throttled> {
        self.auth_key
            .as_ref()
            .map_or(Ok(()), |b| b.check(&(key_id.to_owned(), *client)))
    }

    /// Drops the buckets that have refilled: they are indistinguishable from new ones.
    pub fn prune(&self) {
        self.tenant.iter().for_each(Bucket::prune);
        self.admin.iter().for_each(Bucket::prune);
        self.auth_key.iter().for_each(Bucket::prune);
        self.auth_address.iter().for_each(Bucket::prune);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.tenant.as_ref().map_or(0, |b| b.limiter.len())
            + self.admin.as_ref().map_or(0, |b| b.limiter.len())
            + self.auth_key.as_ref().map_or(0, |b| b.limiter.len())
            + self.auth_address.as_ref().map_or(0, |b| b.limiter.len())
    }
}

/// Prunes `throttle` once a minute, for as long as the service runs. `Application` runs it; a
/// host app that mounts Scimitar with its own [`crate::AppState`] spawns it beside its server.
pub async fn prune_every_minute(throttle: Arc<Throttle>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        throttle.prune();
    }
}

/// An address as a proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
fn parse_address(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RateLimits {
        RateLimits {
            tenant_per_second: 2,
            auth_per_key_per_minute: 3,
            ..RateLimits::default()
        }
    }

    #[test]
    fn ipv6_clients_count_by_their_slash_64_and_mapped_ipv4_as_ipv4() {
        let a = ClientKey::of("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = ClientKey::of("2001:db8:1:2:bbbb::2".parse().expect("ip"));
        let c = ClientKey::of("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            ClientKey::of("::ffff:192.0.2.7".parse().expect("ip")),
            ClientKey::of("192.0.2.7".parse().expect("ip"))
        );
    }

    #[test]
    fn a_tenant_gets_twice_its_rate_as_a_burst_and_then_a_retry_time() {
        let t = Throttle::new(&limits());
        let (a, b) = (TenantId::generate(), TenantId::generate());
        for _ in 0..4 {
            t.tenant(&a).expect("within the burst");
        }
        let refused = t.tenant(&a).expect_err("over the burst");
        assert_eq!(refused.retry_after, 1);
        assert!(refused.limit.contains("2 requests per second"), "{refused}");
        t.tenant(&b).expect("another tenant has its own bucket");
    }

    #[test]
    fn zero_switches_a_limit_off() {
        let t = Throttle::new(&RateLimits {
            tenant_per_second: 0,
            ..limits()
        });
        let a = TenantId::generate();
        for _ in 0..10_000 {
            t.tenant(&a).expect("no limit");
        }
    }

    #[test]
    fn wrong_secrets_from_elsewhere_do_not_lock_out_the_idp() {
        let t = Throttle::new(&RateLimits {
            auth_per_key_per_minute: 2,
            ..limits()
        });
        let (attacker, idp) = (
            ClientKey::of(IpAddr::from([198, 51, 100, 7])),
            ClientKey::of(IpAddr::from([203, 0, 113, 9])),
        );
        for _ in 0..2 {
            t.unverified_key("aaaaaaaaaaaa", &attacker).expect("within");
        }
        assert!(t.unverified_key("aaaaaaaaaaaa", &attacker).is_err());
        t.unverified_key("aaaaaaaaaaaa", &idp)
            .expect("the key id's own IdP still gets its check");
    }

    #[test]
    fn refilled_buckets_are_pruned() {
        let t = Throttle::new(&limits());
        t.unverified_key("aaaaaaaaaaaa", &ClientKey::of(IpAddr::from([192, 0, 2, 1])))
            .expect("first");
        assert_eq!(t.tracked(), 1);
        t.prune();
        assert_eq!(t.tracked(), 1, "a bucket that has not refilled is kept");
        let t = Throttle::new(&RateLimits {
            auth_per_key_per_minute: 60_000,
            ..limits()
        });
        t.unverified_key("aaaaaaaaaaaa", &ClientKey::of(IpAddr::from([192, 0, 2, 1])))
            .expect("first");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while t.tracked() > 0 && std::time::Instant::now() < deadline {
            t.prune();
        }
        assert_eq!(t.tracked(), 0, "a refilled bucket is dropped");
    }

    #[test]
    fn forwarded_addresses_count_only_when_trusted() {
        let req = actix_web::test::TestRequest::default()
            .peer_addr("192.0.2.1:4000".parse().expect("addr"))
            .insert_header(("x-forwarded-for", "203.0.113.9, 198.51.100.4"))
            .to_http_request();
        let peer = ClientKey::of("192.0.2.1".parse().expect("ip"));
        assert_eq!(Throttle::new(&limits()).client(&req), peer);
        let trusting = Throttle::new(&RateLimits {
            trust_forwarded_for: true,
            ..limits()
        });
        assert_eq!(
            trusting.client(&req),
            ClientKey::of("198.51.100.4".parse().expect("ip"))
        );
    }
}
