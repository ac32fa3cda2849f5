//! `--web.listen-address`: parsing the Prometheus-style `host:port` values and binding them
//! (a host name on each of its addresses, `:port` dual-stack), before anything is served.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

/// One `--web.listen-address` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    /// An IP address and port: `127.0.0.1:10071`, `[::1]:10071`, `0.0.0.0:10071` (every IPv4
    /// interface), `[::]:10071` (every IPv6 one; IPv4 too where the host's default says so).
    Ip(SocketAddr),
    /// `:10071`: every interface, IPv6 and IPv4 on one dual-stack socket as Go listens, or
    /// IPv4 only on a host without IPv6.
    AllInterfaces(u16),
    /// A host name and port, resolved when binding: `localhost:10071`.
    Host {
        /// The name as given.
        host: String,
        /// The port (0: any free one, the same for every address of the name where possible).
        port: u16,
    },
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddress::Ip(a) => write!(f, "{a}"),
            ListenAddress::AllInterfaces(port) => write!(f, ":{port}"),
            ListenAddress::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Longest host name DNS allows.
const MAX_HOST_NAME: usize = 253;

/// Parses a Prometheus-style listen address: `host:port` where host is an IPv4 address, an
/// IPv6 address in brackets, a host name, or empty (`:10071`, every interface).
pub fn parse_listen_address(s: &str) -> anyhow::Result<ListenAddress> {
    let bad = |why: &str| {
        anyhow::anyhow!(
            "--web.listen-address {s:?} {why} (e.g. :10071, localhost:10071, 127.0.0.1:10071 or [::1]:10071)"
        )
    };
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(bad("is not host:port"));
    };
    let port: u16 = match port.parse() {
        Ok(p) if !port.starts_with('+') => p,
        _ => return Err(bad("does not end in a port from 0 to 65535")),
    };
    if host.is_empty() {
        return Ok(ListenAddress::AllInterfaces(port));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(ip) = inner.strip_suffix(']') else {
            return Err(bad("is not host:port"));
        };
        return match ip.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => Ok(ListenAddress::Ip(SocketAddr::from((ip, port)))),
            Err(_) => Err(bad("has no IPv6 address between its brackets")),
        };
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(bad(
            "is an IPv6 address without brackets; write it as [addr]:port",
        ));
    }
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Ok(ListenAddress::Ip(SocketAddr::from((ip, port))));
    }
    let valid_name = host.len() <= MAX_HOST_NAME
        && host.split('.').enumerate().all(|(i, label)| {
            // A trailing dot (fully qualified) leaves one empty last label.
            let last = i == host.split('.').count() - 1;
            (label.is_empty() && last && i > 0)
                || (!label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        });
    if !valid_name {
        return Err(bad(
            "is not host:port: the host is neither an IP address nor a host name",
        ));
    }
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad(
            "is not host:port: the host is not a valid IPv4 address",
        ));
    }
    Ok(ListenAddress::Host {
        host: host.to_string(),
        port,
    })
}

/// Binds every address: an IP address as given; a host name on each address it resolves to
/// (`localhost`: 127.0.0.1 and ::1 where both exist), so clients reach it whichever address
/// they pick. Of a name's addresses, one that cannot be bound here (e.g. ::1 in a container
/// without IPv6) is skipped with a warning as long as another is bound; an address in use or
/// not permitted fails, as does an IP address given literally. An address reached twice (two
/// flags naming the same place) is bound once.
pub async fn bind_listen_addresses(addrs: &[ListenAddress]) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners: Vec<TcpListener> = Vec::new();
    let mut bound: Vec<SocketAddr> = Vec::new();
    for addr in addrs {
        match addr {
            ListenAddress::AllInterfaces(port) => {
                let v6 = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, *port));
                let v4 = SocketAddr::from(([0, 0, 0, 0], *port));
                if *port != 0 && (bound.contains(&v6) || bound.contains(&v4)) {
                    continue;
                }
                let listener = match bind_dual_stack(v6) {
                    Ok(l) => l,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied
                        ) =>
                    {
                        return Err(anyhow::Error::new(e)
                            .context(format!("cannot listen on {addr} (every interface)")));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "no dual-stack IPv6 socket; listening on IPv4 only");
                        TcpListener::bind(v4)
                            .await
                            .with_context(|| format!("cannot listen on {v4}"))?
                    }
                };
                bound.push(listener.local_addr().unwrap_or(v6));
                listeners.push(listener);
            }
            ListenAddress::Ip(ip) => {
                if ip.port() != 0 && bound.contains(ip) {
                    continue;
                }
                let listener = TcpListener::bind(ip)
                    .await
                    .with_context(|| format!("cannot listen on {ip}"))?;
                bound.push(listener.local_addr().unwrap_or(*ip));
                listeners.push(listener);
            }
            ListenAddress::Host { host, port } => {
                let mut resolved: Vec<SocketAddr> = Vec::new();
                for a in tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .with_context(|| {
                        format!(
                            "--web.listen-address {:?}: cannot resolve {host:?}",
                            addr.to_string()
                        )
                    })?
                {
                    if !resolved.contains(&a) {
                        resolved.push(a);
                    }
                }
                let mut port = *port;
                let mut skipped: Vec<String> = Vec::new();
                let mut any = false;
                for mut a in resolved {
                    // Port 0: every address of the name on the port the first one got.
                    if a.port() == 0 {
                        a.set_port(port);
                    }
                    if a.port() != 0 && bound.contains(&a) {
                        any = true;
                        continue;
                    }
                    match TcpListener::bind(a).await {
                        Ok(listener) => {
                            let local = listener.local_addr().unwrap_or(a);
                            port = local.port();
                            bound.push(local);
                            listeners.push(listener);
                            any = true;
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::AddrInUse
                                    | std::io::ErrorKind::PermissionDenied
                            ) =>
                        {
                            return Err(anyhow::Error::new(e).context(format!(
                                "cannot listen on {a} (--web.listen-address {:?})",
                                addr.to_string()
                            )));
                        }
                        Err(e) => skipped.push(format!("{a}: {e}")),
                    }
                }
                if !any {
                    anyhow::bail!(
                        "--web.listen-address {:?}: cannot listen on any address of {host:?}: {}",
                        addr.to_string(),
                        if skipped.is_empty() {
                            "it resolves to none".to_string()
                        } else {
                            skipped.join("; ")
                        }
                    );
                }
                for why in skipped {
                    tracing::warn!(listen_address = %addr, skipped = %why, "not listening on this address of the host name");
                }
            }
        }
    }
    if listeners.is_empty() {
        anyhow::bail!("no --web.listen-address to listen on");
    }
    Ok(listeners)
}

/// A listener on `[::]:port` that takes IPv4 too (`IPV6_V6ONLY` off, whatever the host's
/// default), with the options tokio's `TcpListener::bind` sets.
fn bind_dual_stack(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str, port: u16) -> ListenAddress {
        ListenAddress::Host {
            host: h.into(),
            port,
        }
    }

    #[test]
    fn listen_addresses_take_ips_names_and_bare_ports() {
        let ip = |s: &str| ListenAddress::Ip(s.parse().unwrap());
        for (input, want) in [
            (":10071", ListenAddress::AllInterfaces(10071)),
            (":0", ListenAddress::AllInterfaces(0)),
            ("0.0.0.0:10071", ip("0.0.0.0:10071")),
            ("127.0.0.1:10071", ip("127.0.0.1:10071")),
            ("[::1]:10071", ip("[::1]:10071")),
            ("[::]:10071", ip("[::]:10071")),
            ("localhost:10071", host("localhost", 10071)),
            ("localhost:0", host("localhost", 0)),
            (
                "exporter-1.example.com.:80",
                host("exporter-1.example.com.", 80),
            ),
            ("my_host:1", host("my_host", 1)),
        ] {
            assert_eq!(parse_listen_address(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn bad_listen_addresses_say_what_is_wrong() {
        let tail = " (e.g. :10071, localhost:10071, 127.0.0.1:10071 or [::1]:10071)";
        for (input, why) in [
            ("", "is not host:port"),
            ("garbage", "is not host:port"),
            ("10071", "is not host:port"),
            ("localhost:", "does not end in a port from 0 to 65535"),
            ("localhost:65536", "does not end in a port from 0 to 65535"),
            ("localhost:+80", "does not end in a port from 0 to 65535"),
            (":http", "does not end in a port from 0 to 65535"),
            (
                "::1:80",
                "is an IPv6 address without brackets; write it as [addr]:port",
            ),
            ("[::1:80", "is not host:port"),
            ("[nope]:80", "has no IPv6 address between its brackets"),
            (
                "1.2.3:80",
                "is not host:port: the host is not a valid IPv4 address",
            ),
            (
                "256.1.1.1:80",
                "is not host:port: the host is not a valid IPv4 address",
            ),
            (
                "foo bar:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
            (
                "http://localhost:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
            (
                "-x:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
            (
                "a..b:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
            (
                ".:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
        ] {
            let err = parse_listen_address(input).unwrap_err().to_string();
            assert_eq!(err, format!("--web.listen-address {input:?} {why}{tail}"));
        }
        let long = format!("{}:80", "a.".repeat(127));
        assert!(parse_listen_address(&long).is_err());
    }

    #[tokio::test]
    async fn a_name_listens_on_each_of_its_addresses_on_one_port() {
        let want: Vec<std::net::IpAddr> = tokio::net::lookup_host(("localhost", 0))
            .await
            .unwrap()
            .map(|a| a.ip())
            .collect();
        let listeners = bind_listen_addresses(&[host("localhost", 0)])
            .await
            .unwrap();
        let got: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let mut ips: Vec<_> = got.iter().map(SocketAddr::ip).collect();
        ips.dedup();
        let mut want_unique = want.clone();
        want_unique.dedup();
        assert_eq!(ips, want_unique);
        assert!(got
            .iter()
            .all(|a| a.port() == got[0].port() && a.port() != 0));
    }

    #[tokio::test]
    async fn a_bare_port_takes_ipv4_and_where_the_host_has_it_ipv6() {
        let listeners = bind_listen_addresses(&[ListenAddress::AllInterfaces(0)])
            .await
            .unwrap();
        assert_eq!(listeners.len(), 1);
        let port = listeners[0].local_addr().unwrap().port();
        let (accepted, connected) = tokio::join!(
            listeners[0].accept(),
            tokio::net::TcpStream::connect(("127.0.0.1", port))
        );
        assert!(accepted.is_ok() && connected.is_ok());
        let has_ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
        if has_ipv6 {
            let (accepted, connected) = tokio::join!(
                listeners[0].accept(),
                tokio::net::TcpStream::connect(("::1", port))
            );
            assert!(accepted.is_ok() && connected.is_ok());
        } else {
            println!("no IPv6 on this host: checked IPv4 only");
        }
    }

    #[tokio::test]
    async fn the_same_address_twice_is_bound_once() {
        let first = bind_listen_addresses(&[ListenAddress::Ip("127.0.0.1:0".parse().unwrap())])
            .await
            .unwrap();
        let port = first[0].local_addr().unwrap().port();
        drop(first);
        let both = bind_listen_addresses(&[
            ListenAddress::Ip(SocketAddr::from(([127, 0, 0, 1], port))),
            ListenAddress::Ip(SocketAddr::from(([127, 0, 0, 1], port))),
        ])
        .await
        .unwrap();
        assert_eq!(both.len(), 1);
    }
}
