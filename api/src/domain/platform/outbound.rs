//! The one way out: every request the server makes on an owner's behalf (webhooks, and any URL
//! an owner gives it) goes through this guard.
//!
//! - Only `http`/`https`, to addresses on the public internet: every IANA special-purpose range
//!   for IPv4 and IPv6 is refused unless `TESSERA_WEBHOOK_ALLOW` names it. IPv6 must be global
//!   unicast (`2000::/3`), less its special ranges; IPv4-mapped addresses are judged as IPv4.
//! - The address checked is the address connected to (the client is pinned to it: no second
//!   DNS lookup), redirects are not followed, and proxy variables are ignored.
//! - Answers are read up to a cap and the rest dropped.
//! - Refusals of a name say only that it is not a public address, never what it resolved to, so
//!   the log cannot map an internal network.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Special-purpose IPv4 ranges (IANA's registry, RFC 6890 and successors), with why.
const V4_REFUSED: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\""),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "a private network"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space (CGNAT)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "a private network"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation (TEST-NET-1)",
    ),
    (Ipv4Addr::new(192, 31, 196, 0), 24, "AS112"),
    (Ipv4Addr::new(192, 52, 193, 0), 24, "AMT"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "a private network"),
    (
        Ipv4Addr::new(192, 175, 48, 0),
        24,
        "AS112 direct delegation",
    ),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (TEST-NET-2)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (TEST-NET-3)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved (including broadcast)",
    ),
];

/// Special-purpose ranges inside IPv6's global unicast space (`2000::/3`).
const V6_REFUSED: &[(Ipv6Addr, u8, &str)] = &[
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments (Teredo, benchmarking, ORCHID)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "6to4"),
    (
        Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0),
        48,
        "AS112 direct delegation",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
];

/// Why an address is not on the public internet, or `None` when it is.
pub fn refused_range(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => V4_REFUSED.iter().find_map(|(net, len, why)| {
            let net = Ipv4Net::new(*net, *len).ok()?;
            net.contains(&v4).then(|| format!("{net}, {why}"))
        }),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_range(IpAddr::V4(v4));
            }
            // Only global unicast is public: this refuses loopback, unspecified, IPv4-compatible
            // (::/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), discard (100::/64), unique-local,
            // link-local, site-local (fec0::/10) and multicast at once.
            let global = Ipv6Net::new(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)
                .is_ok_and(|n| n.contains(&v6));
            if !global {
                return Some(format!("{v6}, outside IPv6 global unicast (2000::/3)"));
            }
            V6_REFUSED.iter().find_map(|(net, len, why)| {
                let net = Ipv6Net::new(*net, *len).ok()?;
                net.contains(&v6).then(|| format!("{net}, {why}"))
            })
        }
    }
}

pub fn is_public(ip: IpAddr) -> bool {
    refused_range(ip).is_none()
}

/// The configuration's allow-list: names, addresses and ranges.
struct AllowList {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

impl AllowList {
    fn parse(raw: &str) -> Self {
        let mut list = AllowList {
            hosts: Vec::new(),
            nets: Vec::new(),
        };
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                list.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                list.nets.push(IpNet::from(ip));
            } else {
                list.hosts.push(item.to_ascii_lowercase());
            }
        }
        list
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// A URL's scheme and host, and the host as an address when it is a literal one.
fn parts(url: &reqwest::Url) -> Result<(String, Option<IpAddr>), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {} is not http(s)", url.scheme()));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => return Ok((ip.to_string(), Some(IpAddr::V4(ip)))),
        Some(url::Host::Ipv6(ip)) => return Ok((ip.to_string(), Some(IpAddr::V6(ip)))),
        None => return Err("the URL has no host".into()),
    };
    Ok((host, None))
}

/// The check made when an owner sets a URL: a well-formed http(s) URL whose host, when it is a
/// literal address, is public (or allowed). Names are checked at every use instead.
pub fn check_url_literal(raw: &str, allow: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
    let (host, literal) = parts(&url)?;
    let allow = AllowList::parse(allow);
    if let Some(ip) = literal
        && !allow.allows_ip(ip)
        && !allow.hosts.contains(&host)
        && let Some(why) = refused_range(ip)
    {
        return Err(format!(
            "{ip} is not a public address ({why}); TESSERA_WEBHOOK_ALLOW can allow it"
        ));
    }
    Ok(())
}

/// Where a checked request goes.
pub struct Target {
    pub url: reqwest::Url,
    /// The address connected to, or `None` for a host the allow-list names (then the client
    /// resolves it).
    pinned: Option<SocketAddr>,
}

/// Checks a URL for a request about to be made: its address (resolved once, here) must be
/// public or allowed.
pub async fn check(raw: &str, allow: &str) -> Result<Target, String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| format!("invalid URL: {e}"))?;
    let (host, literal) = parts(&url).map_err(|e| format!("refused: {e}"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let allow = AllowList::parse(allow);
    if allow.hosts.contains(&host) {
        return Ok(Target { url, pinned: None });
    }
    if let Some(ip) = literal {
        if let Some(why) = refused_range(ip).filter(|_| !allow.allows_ip(ip)) {
            return Err(format!("refused: {ip} is not a public address ({why})"));
        }
        return Ok(Target {
            pinned: Some(SocketAddr::new(ip, port)),
            url,
        });
    }
    // A name that does not resolve and one that resolves inside a private network read the
    // same: the log must not tell an owner which internal names exist.
    let hidden = || format!("refused: {host} does not resolve to a public address");
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| hidden())?
        .collect();
    if addrs.is_empty()
        || addrs
            .iter()
            .any(|a| !is_public(a.ip()) && !allow.allows_ip(a.ip()))
    {
        return Err(hidden());
    }
    Ok(Target {
        pinned: addrs.first().copied(),
        url,
    })
}

/// An HTTP client for one checked target: pinned to its address, no redirects, no proxies.
pub fn client(target: &Target, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Tessera/", env!("CARGO_PKG_VERSION")));
    if let (Some(addr), Some(host)) = (target.pinned, target.url.host_str()) {
        builder = builder.resolve(host, addr);
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Reads an answer's body up to `cap` bytes and drops the rest; says whether it was cut.
pub async fn read_capped(mut resp: reqwest::Response, cap: usize) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return (body, true);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) | Err(_) => return (body, false),
        }
    }
}

/// A failed request, told without the addresses it reached.
pub fn describe_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "Connection Error: timed out".into()
    } else if e.is_connect() {
        "Connection Error: could not connect".into()
    } else if e.is_redirect() {
        "Connection Error: redirects are not followed".into()
    } else {
        "Connection Error: the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().expect("address"))
    }

    #[test]
    fn special_purpose_ranges_are_refused() {
        for ip in [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "3fff::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!public(ip), "{ip} passed as public");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "2606:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip), "{ip} refused");
        }
    }

    #[test]
    fn literals_are_checked_when_set() {
        assert!(check_url_literal("http://127.0.0.1:9/x", "").is_err());
        assert!(check_url_literal("http://[::ffff:10.0.0.1]/x", "").is_err());
        assert!(check_url_literal("http://[64:ff9b::a00:1]/", "").is_err());
        assert!(check_url_literal("ftp://example.org/", "").is_err());
        assert!(check_url_literal("not a url", "").is_err());
        assert!(check_url_literal("https://hooks.example.org/x", "").is_ok());
        assert!(check_url_literal("http://127.0.0.1:9/x", "127.0.0.1").is_ok());
        assert!(check_url_literal("http://10.1.2.3/", "10.0.0.0/8").is_ok());
        let why = check_url_literal("http://169.254.169.254/", "").expect_err("refused");
        assert!(why.contains("link-local"), "{why}");
    }
}
