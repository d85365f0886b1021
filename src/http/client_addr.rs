//! Which address a request comes from. Behind a reverse proxy every
//! connection comes from the proxy, so the client is in `Forwarded` or
//! `X-Forwarded-For`; but anyone can send those headers, so they count only
//! when the connection comes from a proxy the operator listed in
//! `trusted_proxies`. Sign-in throttling and the audit log key on the
//! result: a spoofed header must not let a guesser pose as many addresses,
//! or hide behind a victim's.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.7`) and networks (`10.0.0.0/8`); the error
    /// names the entry that is neither.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is not an IP address or network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that arrived from `peer`: the peer itself,
    /// unless it is a trusted proxy; then the nearest forwarded address
    /// that is not one (`Forwarded` first, else `X-Forwarded-For`).
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<SocketAddr> {
        let peer = peer?;
        if !self.trusts(peer.ip()) {
            return Some(peer);
        }
        let chain = forwarded_chain(headers);
        // From the nearest hop outwards: the first address no trusted
        // proxy added is the client.
        let client = chain.iter().rev().find(|ip| !self.trusts(**ip));
        Some(client.map_or(peer, |ip| SocketAddr::new(*ip, 0)))
    }
}

/// The addresses the proxies recorded, the client's first.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<IpAddr> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.eq_ignore_ascii_case("for").then(|| node_ip(value))?
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| node_ip(hop.trim()))
        .collect()
}

/// The address of a `Forwarded` node (`192.0.2.1`, `"[2001:db8::1]:4711"`,
/// `192.0.2.1:80`); none for an obfuscated or unknown one.
fn node_ip(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let bracketed = value.strip_prefix('[')?.split(']').next()?;
    bracketed.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".to_owned(), "::1".to_owned()]).unwrap();
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let stranger: SocketAddr = "198.51.100.4:5000".parse().unwrap();
        assert_eq!(proxies.client(Some(stranger), &spoofed), Some(stranger));
        let proxy: SocketAddr = "10.1.2.3:443".parse().unwrap();
        let client = proxies.client(Some(proxy), &spoofed).unwrap();
        assert_eq!(client.ip().to_string(), "203.0.113.9");
        // The client may prepend anything; the nearest untrusted hop wins.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.9.9.9")]);
        let client = proxies.client(Some(proxy), &chain).unwrap();
        assert_eq!(client.ip().to_string(), "203.0.113.9");
        let forwarded = headers(&[
            ("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        let client = proxies.client(Some(proxy), &forwarded).unwrap();
        assert_eq!(client.ip().to_string(), "2001:db8::7");
        assert_eq!(proxies.client(Some(proxy), &HeaderMap::new()), Some(proxy));
        assert!(TrustedProxies::parse(&["a proxy".to_owned()]).is_err());
    }
}
