//! The widget visitor's network address: the connection's peer, or — only when the peer is
//! a configured trusted proxy — the address that proxy recorded in `X-Forwarded-For`.
//! The agent limits failed verification attempts per address.

use std::net::{IpAddr, SocketAddr};

/// An address or a network in CIDR form (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{raw}` is not an IP address or network like 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{raw}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The visitor's address: the peer's, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further
/// left were written by the client and prove nothing).
pub fn client_address(
    peer: Option<SocketAddr>,
    forwarded_for: Option<&str>,
    trusted: &[Network],
) -> Option<IpAddr> {
    let peer = unmap(peer?.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for entry in forwarded_for.unwrap_or("").rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = unmap(ip);
                if !is_trusted(client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net = Network::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.200.3.4")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.1.1.1")));
        assert!(
            Network::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.1"))
        );
        assert!(
            !Network::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.2"))
        );
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(
            Network::parse("10.0.0.0/33")
                .unwrap_err()
                .contains("0 to 32")
        );
        assert!(
            Network::parse("proxy.local")
                .unwrap_err()
                .contains("not an IP")
        );
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let peer = |s: &str| Some(SocketAddr::new(ip(s), 40000));
        let trusted = [Network::parse("10.0.0.0/8").unwrap()];
        // A visitor connecting directly cannot claim another address.
        assert_eq!(
            client_address(peer("198.51.100.9"), Some("203.0.113.7"), &trusted),
            Some(ip("198.51.100.9"))
        );
        // Behind the proxy: the right-most untrusted entry, not what the client wrote.
        assert_eq!(
            client_address(
                peer("10.0.0.2"),
                Some("1.2.3.4, 203.0.113.7, 10.0.0.5"),
                &trusted
            ),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client_address(peer("10.0.0.2"), None, &trusted),
            Some(ip("10.0.0.2"))
        );
        // No trusted proxies configured: the header is ignored.
        assert_eq!(
            client_address(peer("10.0.0.2"), Some("203.0.113.7"), &[]),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(client_address(None, Some("203.0.113.7"), &trusted), None);
    }
}
