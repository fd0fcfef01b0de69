//! Where webhooks may be delivered: which URLs an admin may set and which addresses delivery may
//! connect to. A tenant admin chooses the URL, so without this the webhook page would let anyone
//! with a tenant token make Scimitar send requests into its own network (SSRF) and read the
//! answers back from the attempts list.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ureq::http::Uri;

/// What the operator allows beyond the public internet over https.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Egress {
    /// Plain http URLs are accepted and delivered to.
    pub allow_http: bool,
    /// Loopback, private (RFC 1918, ULA) and shared (CGNAT) addresses are delivered to, for
    /// on-premises installs and tests. The other refusals still hold.
    pub allow_private: bool,
}

/// Why an address is not delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unspecified,
    Loopback,
    Private,
    Shared,
    LinkLocal,
    Multicast,
    Broadcast,
    Documentation,
    Reserved,
}

impl Refusal {
    /// Whether `--webhook-allow-private` lifts this refusal. Link-local stays refused: it is
    /// where cloud metadata services answer (169.254.169.254), never a webhook receiver.
    fn lifted_by_allow_private(self) -> bool {
        matches!(self, Self::Loopback | Self::Private | Self::Shared)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified address",
            Self::Loopback => "loopback address",
            Self::Private => "private address",
            Self::Shared => "shared (CGNAT) address",
            Self::LinkLocal => "link-local address",
            Self::Multicast => "multicast address",
            Self::Broadcast => "broadcast address",
            Self::Documentation => "documentation address",
            Self::Reserved => "reserved address",
        })
    }
}

impl std::error::Error for Refusal {}

impl Egress {
    /// Whether delivery may connect to `ip`, and if not, why.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        match classify(ip) {
            Some(r) if !(self.allow_private && r.lifted_by_allow_private()) => Err(r),
            _ => Ok(()),
        }
    }

    /// Checks a webhook URL as an admin sets it: https (or http when allowed), a host, and a
    /// host that is an address must be one delivery may connect to. A host name is checked
    /// again after it is resolved, at each delivery.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let uri: Uri = url.parse().map_err(|_| {
            format!(
                "the webhook url {url:?} is not a valid URL with a scheme and a host, \
                 such as https://hooks.example.com/scim"
            )
        })?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.allow_http => {}
            Some("http") => {
                return Err(
                    "the webhook url must use https (this server does not deliver over plain http)"
                        .into(),
                );
            }
            _ => return Err("the webhook url must start with https://".into()),
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("the webhook url {url:?} has no host"))?;
        let authority = uri.authority().map_or("", |a| a.as_str());
        if authority.contains('@') {
            return Err("the webhook url must not carry a user name or password".into());
        }
        // The URI parser accepts any digits as a port and then reports none.
        if let Some(port) = authority
            .strip_prefix(host)
            .and_then(|p| p.strip_prefix(':'))
            && !port.parse::<u16>().is_ok_and(|p| p != 0)
        {
            return Err(format!(
                "the webhook url's port {port:?} is not a valid port"
            ));
        }
        let ip = match literal_address(host) {
            Literal::Address(ip) => ip,
            // RFC 6761 §6.3: these names are loopback wherever they are resolved.
            Literal::Name(name) if name == "localhost" || name.ends_with(".localhost") => {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
            Literal::Name(_) => return Ok(()),
            Literal::Invalid => {
                return Err(format!("the webhook url's host {host} is not a valid host"));
            }
        };
        self.check(ip)
            .map_err(|r| format!("the webhook url's host {host} is a {r}"))
    }
}

/// What a URL's host is, read as the system resolver would read it.
enum Literal {
    Address(IpAddr),
    /// A name to resolve, lowercased and without a trailing dot.
    Name(String),
    /// Numeric, but no address.
    Invalid,
}

/// Reads a host as an address where the system resolver would: besides `a.b.c.d` and `[v6]`,
/// inet_aton's shorthand (`127.1`, `2130706433`, `0x7f.0.0.1`, octal `0177.0.0.1`), which
/// getaddrinfo turns into an address without asking DNS. Like the WHATWG URL parser, a host
/// whose last label is numeric is an IPv4 address or nothing.
fn literal_address(host: &str) -> Literal {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse().map_or(Literal::Invalid, Literal::Address);
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    let parts: Vec<&str> = name.split('.').collect();
    let last = parts.last().copied().unwrap_or_default();
    let numeric = |p: &str| {
        p.strip_prefix("0x").map_or(
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()),
            |h| h.bytes().all(|b| b.is_ascii_hexdigit()),
        )
    };
    if !numeric(last) {
        return Literal::Name(name);
    }
    let number = |p: &str| match p.strip_prefix("0x") {
        Some("") => Some(0),
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None if p.len() > 1 && p.starts_with('0') => u32::from_str_radix(&p[1..], 8).ok(),
        None => p.parse().ok(),
    };
    let Some(values) = parts
        .iter()
        .map(|p| number(p))
        .collect::<Option<Vec<u32>>>()
    else {
        return Literal::Invalid;
    };
    // Each leading part is one byte; the last fills the bytes that remain.
    let (leading, last) = values.split_at(values.len() - 1);
    let room = 8 * (4 - leading.len().min(4)) as u32;
    if leading.len() > 3 || leading.iter().any(|&v| v > 255) || u64::from(last[0]) >= 1 << room {
        return Literal::Invalid;
    }
    let high = leading
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &v)| acc | (v << (24 - 8 * i)));
    Literal::Address(IpAddr::V4(Ipv4Addr::from(high | last[0])))
}

/// The refusal an address falls under regardless of operator settings, `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => Refusal::Unspecified,
        _ if ip.is_broadcast() => Refusal::Broadcast,
        // 0.0.0.0/8 "this network" (RFC 791); Linux connects 0.x.y.z to the local host.
        (0, ..) => Refusal::Unspecified,
        (127, ..) => Refusal::Loopback,
        (10, ..) => Refusal::Private,
        (172, 16..=31, _) => Refusal::Private,
        (192, 168, _) => Refusal::Private,
        (100, 64..=127, _) => Refusal::Shared,
        (169, 254, _) => Refusal::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Refusal::Documentation,
        // 192.0.0.0/24 IETF protocol assignments, 192.88.99.0/24 the old 6to4 relays,
        // 198.18.0.0/15 benchmarking (RFC 6890), 240.0.0.0/4 reserved.
        (192, 0, 0) | (192, 88, 99) | (198, 18..=19, _) | (240..=255, ..) => Refusal::Reserved,
        (224..=239, ..) => Refusal::Multicast,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match s {
        _ if ip.is_unspecified() => Refusal::Unspecified,
        _ if ip.is_loopback() => Refusal::Loopback,
        // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d) forms
        // reach the IPv4 address they carry.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => {
            return classify_v4(embedded(hi, lo));
        }
        // NAT64 (64:ff9b::/96, RFC 6052) is translated to the IPv4 address it carries; 6to4
        // (2002::/16, RFC 3056) tunnels to the one in its next 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x2002, hi, lo, ..] => {
            return classify_v4(embedded(hi, lo));
        }
        // Local-use NAT64 (64:ff9b:1::/48, RFC 8215) translates into a private network.
        [0x64, 0xff9b, 1, ..] => Refusal::Private,
        [0x2001, 0xdb8, ..] => Refusal::Documentation,
        [0x3fff, y, ..] if y < 0x1000 => Refusal::Documentation,
        [x, ..] if x & 0xfe00 == 0xfc00 => Refusal::Private,
        [x, ..] if x & 0xffc0 == 0xfe80 => Refusal::LinkLocal,
        // fec0::/10 site-local, deprecated (RFC 3879) but still routed inside some networks.
        [x, ..] if x & 0xffc0 == 0xfec0 => Refusal::Private,
        [x, ..] if x & 0xff00 == 0xff00 => Refusal::Multicast,
        // 100::/64 discard-only (RFC 6666), 2001::/32 Teredo (whose far end is obfuscated),
        // 2001:2::/48 benchmarking, and ::/8 outside the forms above.
        [0x100, 0, 0, 0, ..] | [0x2001, 0, ..] | [0x2001, 2, 0, ..] => Refusal::Reserved,
        [x, ..] if x & 0xff00 == 0 => Refusal::Reserved,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn addresses_are_classified() {
        use Refusal::*;
        // One row per range, with the RFC that defines it.
        let rows: &[(&str, Option<Refusal>)] = &[
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)), // RFC 791 this network
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)), // RFC 1918
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("192.168.0.1", Some(Private)),
            ("100.64.0.1", Some(Shared)), // RFC 6598
            ("100.127.255.255", Some(Shared)),
            ("100.128.0.1", None),
            ("169.254.169.254", Some(LinkLocal)), // RFC 3927, cloud metadata
            ("192.0.2.1", Some(Documentation)),   // RFC 5737
            ("198.51.100.1", Some(Documentation)),
            ("203.0.113.1", Some(Documentation)),
            ("192.0.0.8", Some(Reserved)), // RFC 6890
            ("198.18.0.1", Some(Reserved)),
            ("224.0.0.1", Some(Multicast)), // RFC 5771
            ("239.255.255.250", Some(Multicast)),
            ("240.0.0.1", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::ffff:127.0.0.1", Some(Loopback)), // RFC 4291 IPv4-mapped
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(Loopback)), // RFC 4291 IPv4-compatible
            ("64:ff9b::7f00:1", Some(Loopback)), // RFC 6052 NAT64
            ("64:ff9b::808:808", None),
            ("64:ff9b:1::1", Some(Private)),   // RFC 8215
            ("2002:7f00:1::", Some(Loopback)), // RFC 3056 6to4
            ("2002:c0a8:101::1", Some(Private)),
            ("2002:808:808::1", None),
            ("fc00::1", Some(Private)), // RFC 4193
            ("fd12:3456::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)), // RFC 4291
            ("febf::1", Some(LinkLocal)),
            ("fec0::1", Some(Private)), // RFC 3879
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Documentation)), // RFC 3849
            ("3fff::1", Some(Documentation)),     // RFC 9637
            ("100::1", Some(Reserved)),           // RFC 6666
            ("2001::1", Some(Reserved)),          // RFC 4380 Teredo
            ("2001:2::1", Some(Reserved)),        // RFC 5180
            ("::2:3:4:5", Some(Reserved)),
            ("2606:4700::1111", None),
            ("2a00:1450:4001::200e", None),
        ];
        for (addr, want) in rows {
            assert_eq!(classify(ip(addr)), *want, "{addr}");
        }
    }

    #[test]
    fn allow_private_lifts_only_the_internal_network() {
        let open = Egress {
            allow_http: false,
            allow_private: true,
        };
        for a in ["127.0.0.1", "::1", "10.0.0.1", "fd00::1", "100.64.0.1"] {
            assert_eq!(open.check(ip(a)), Ok(()), "{a}");
            assert!(Egress::default().check(ip(a)).is_err(), "{a}");
        }
        for a in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "192.0.2.1",
            "fe80::1",
        ] {
            assert!(open.check(ip(a)).is_err(), "{a}");
        }
    }

    #[test]
    fn urls_are_checked_when_set() {
        let strict = Egress::default();
        let ok = [
            "https://hooks.example.com/scim",
            "https://hooks.example.com:8443/a?b=c",
            "https://93.184.216.34/hook",
            "https://[2606:4700::1111]/hook",
            "https://[2606:4700::1111]:8443/hook",
            "https://0x7f.example.com/hook",
            "https://8.8.2056/hook",
            "https://hooks.localhost.example.com/",
        ];
        for u in ok {
            assert_eq!(strict.check_url(u), Ok(()), "{u}");
        }
        let refused = [
            ("http://hooks.example.com/", "https"),
            ("ftp://hooks.example.com/", "https://"),
            ("hooks.example.com/x", "https://"),
            ("https:///x", "host"),
            ("https://user:pw@hooks.example.com/", "user name"),
            ("https://127.0.0.1/", "loopback address"),
            ("https://[::ffff:7f00:1]/", "loopback address"),
            ("https://[fe80::1]/", "link-local address"),
            ("https://10.0.0.1:443/", "private address"),
            ("https://not a url/", "not a valid URL"),
            ("https://hooks.example.com:99999/", "port"),
            ("https://localhost:8443/", "loopback address"),
            ("https://api.LOCALHOST./", "loopback address"),
            ("https://127.1/", "loopback address"),
            ("https://2130706433/", "loopback address"),
            ("https://0x7f.0.0.1/", "loopback address"),
            ("https://0177.0.0.1/", "loopback address"),
            ("https://10.1/", "private address"),
            ("https://0/", "unspecified address"),
            ("https://1.2.3.4.5/", "not a valid host"),
            ("https://256.1.1.1/", "not a valid host"),
            ("https://1.2.65536/", "not a valid host"),
            ("https://[fe80::1%25eth0]/", "not a valid"),
            ("https://hooks.example.com:0/", "port"),
        ];
        for (u, reason) in refused {
            let e = strict.check_url(u).expect_err(u);
            assert!(e.contains(reason), "{u}: {e}");
        }
        let lenient = Egress {
            allow_http: true,
            allow_private: true,
        };
        assert_eq!(lenient.check_url("http://127.0.0.1:8080/hook"), Ok(()));
        assert!(lenient.check_url("http://169.254.169.254/").is_err());
    }
}
