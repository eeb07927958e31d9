//! Upstreams (the monolith and each service): their address, their pooled
//! pingora peer, and their health.
//!
//! Health has two inputs. Active checks send `GET <path>` every interval;
//! after `unhealthy_after` failed checks in a row the upstream is down until
//! `healthy_after` checks pass. Passive ejection counts failures of real
//! requests (refused connections, resets, 5xx); after `eject_after` in a row
//! the upstream is ejected for `ejection`, then readmitted. A service that
//! is down or ejected gets no canary or live traffic; the monolith answers.
//! The hot path reads two atomics.

use std::net::ToSocketAddrs as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::HeaderValue;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;

use crate::config::{HealthConfig, PeerTimeouts};
use crate::pipeline::Lanes;

/// One upstream: where it is and whether it is fit for traffic.
#[derive(Debug)]
pub struct Upstream {
    /// The URL as written in the plan.
    pub url: String,
    /// `host[:port]` of the URL, for the `Host` header when rewriting.
    pub authority: HeaderValue,
    /// The pingora peer, or why there is none (the address did not resolve).
    pub peer: Result<HttpPeer, String>,
    down: AtomicBool,
    ejected: AtomicBool,
    ejected_at_ms: AtomicU64,
    failures_in_row: AtomicU32,
    checks_failed_in_row: AtomicU32,
    checks_passed_in_row: AtomicU32,
    born: Instant,
    shadow_lanes: OnceLock<Option<Lanes>>,
}

impl Upstream {
    /// Parses `url` (`http://host:port` or `https://…`) and resolves it.
    /// A name that does not resolve leaves `peer` an error, so its routes
    /// fall back to the monolith until a reload resolves it.
    #[must_use]
    pub fn new(url: &str, timeouts: PeerTimeouts) -> Self {
        let (authority, peer) = match url::Url::parse(url) {
            Ok(parsed) => {
                let tls = parsed.scheme() == "https";
                let host = parsed.host_str().unwrap_or_default().to_owned();
                let port = parsed.port_or_known_default().unwrap_or(80);
                let authority = match parsed.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.clone(),
                };
                let bare = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                let peer = match (bare.as_str(), port).to_socket_addrs() {
                    Ok(mut addrs) => match addrs.next() {
                        Some(addr) => {
                            // SNI only matters for TLS; an empty name
                            // saves an allocation per request (pingora
                            // clones the peer for each).
                            let sni = if tls { bare.clone() } else { String::new() };
                            let mut peer = HttpPeer::new(addr, tls, sni);
                            peer.options.connection_timeout = Some(timeouts.connect);
                            peer.options.total_connection_timeout = Some(timeouts.connect);
                            peer.options.read_timeout = timeouts.read;
                            peer.options.write_timeout = timeouts.write;
                            peer.options.idle_timeout = Some(timeouts.idle);
                            Ok(peer)
                        }
                        None => Err(format!("{host} resolves to no address")),
                    },
                    Err(e) => Err(format!("cannot resolve {host}: {e}")),
                };
                (authority, peer)
            }
            Err(e) => (String::new(), Err(format!("invalid URL {url}: {e}"))),
        };
        Self {
            url: url.to_owned(),
            authority: HeaderValue::from_str(&authority)
                .unwrap_or_else(|_| HeaderValue::from_static("")),
            peer,
            down: AtomicBool::new(false),
            ejected: AtomicBool::new(false),
            ejected_at_ms: AtomicU64::new(0),
            failures_in_row: AtomicU32::new(0),
            checks_failed_in_row: AtomicU32::new(0),
            checks_passed_in_row: AtomicU32::new(0),
            born: Instant::now(),
            shadow_lanes: OnceLock::new(),
        }
    }

    /// The pipelined shadow lanes to this upstream, made by `start` on
    /// first use; `None` if they could not be.
    pub fn shadow_lanes(&self, start: impl FnOnce() -> Option<Lanes>) -> Option<&Lanes> {
        self.shadow_lanes.get_or_init(start).as_ref()
    }

    /// Whether the upstream may take traffic: it has an address, active
    /// checks pass and it is not ejected.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.peer.is_ok() && !self.down.load(Ordering::Relaxed) && !self.is_ejected()
    }

    /// Whether passive ejection currently keeps traffic away.
    #[must_use]
    pub fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }

    /// Whether active checks currently fail.
    #[must_use]
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Records a real request that succeeded (any status below 500).
    pub fn record_success(&self) {
        if self.failures_in_row.load(Ordering::Relaxed) != 0 {
            self.failures_in_row.store(0, Ordering::Relaxed);
        }
    }

    /// Records a real request that failed; returns true when this failure
    /// ejected the upstream.
    pub fn record_failure(&self, config: &HealthConfig) -> bool {
        let n = self.failures_in_row.fetch_add(1, Ordering::Relaxed) + 1;
        if config.eject_after > 0 && n >= config.eject_after && !self.is_ejected() {
            self.ejected_at_ms
                .store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
            self.ejected.store(true, Ordering::Relaxed);
            tracing::warn!(
                upstream = %self.url,
                failures = n,
                "ejected after {n} failed requests in a row; its routes fall back to the monolith"
            );
            return true;
        }
        false
    }

    /// Ends an ejection whose time is up; called by the health loop.
    pub fn maybe_readmit(&self, config: &HealthConfig) {
        if self.is_ejected() {
            let since = self.ejected_at_ms.load(Ordering::Relaxed);
            let now = self.born.elapsed().as_millis() as u64;
            if now.saturating_sub(since) >= config.ejection.as_millis() as u64 {
                self.failures_in_row.store(0, Ordering::Relaxed);
                self.ejected.store(false, Ordering::Relaxed);
                tracing::info!(upstream = %self.url, "ejection over; taking traffic again");
            }
        }
    }

    /// Records the result of one active check.
    pub fn record_check(&self, passed: bool, config: &HealthConfig) {
        if passed {
            self.checks_failed_in_row.store(0, Ordering::Relaxed);
            let n = self.checks_passed_in_row.fetch_add(1, Ordering::Relaxed) + 1;
            if self.is_down() && n >= config.healthy_after {
                self.down.store(false, Ordering::Relaxed);
                tracing::info!(upstream = %self.url, "health checks pass again");
            }
        } else {
            self.checks_passed_in_row.store(0, Ordering::Relaxed);
            let n = self.checks_failed_in_row.fetch_add(1, Ordering::Relaxed) + 1;
            if !self.is_down() && n >= config.unhealthy_after {
                self.down.store(true, Ordering::Relaxed);
                tracing::warn!(
                    upstream = %self.url,
                    path = %config.path,
                    "marked down after {n} failed health checks; its routes fall back to the monolith"
                );
            }
        }
    }

    /// Sends one active check and records its result.
    pub async fn check(&self, connector: &Connector, config: &HealthConfig) {
        let passed = match &self.peer {
            Ok(peer) => {
                match tokio::time::timeout(config.timeout, probe(connector, peer, self, config))
                    .await
                {
                    Ok(Ok(status)) => status < 500,
                    Ok(Err(e)) => {
                        tracing::debug!(upstream = %self.url, "health check failed: {e}");
                        false
                    }
                    Err(_) => false,
                }
            }
            Err(_) => false,
        };
        self.record_check(passed, config);
    }
}

async fn probe(
    connector: &Connector,
    peer: &HttpPeer,
    upstream: &Upstream,
    config: &HealthConfig,
) -> pingora::Result<u16> {
    let (mut session, _) = connector.get_http_session(peer).await?;
    let mut req = RequestHeader::build("GET", config.path.as_bytes(), Some(2))?;
    req.insert_header("host", upstream.authority.clone())?;
    req.insert_header("user-agent", "strangler-health")?;
    session.write_request_header(Box::new(req)).await?;
    session.finish_request_body().await?;
    session.read_response_header().await?;
    let status = session.response_header().map_or(0, |h| h.status.as_u16());
    while session.read_response_body().await?.is_some() {}
    connector
        .release_http_session(session, peer, Some(Duration::from_secs(30)))
        .await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_ejection_and_readmission() {
        let config = HealthConfig {
            eject_after: 3,
            ejection: Duration::ZERO,
            ..HealthConfig::default()
        };
        let up = Upstream::new("http://127.0.0.1:9", PeerTimeouts::default());
        assert!(up.is_available());
        assert!(!up.record_failure(&config));
        up.record_success();
        assert!(!up.record_failure(&config));
        assert!(!up.record_failure(&config));
        assert!(up.record_failure(&config));
        assert!(!up.is_available());
        up.maybe_readmit(&config);
        assert!(up.is_available());
    }

    #[test]
    fn active_checks_mark_down_and_up() {
        let config = HealthConfig::default();
        let up = Upstream::new("http://localhost:9", PeerTimeouts::default());
        up.record_check(false, &config);
        assert!(up.is_available());
        up.record_check(false, &config);
        assert!(!up.is_available());
        up.record_check(true, &config);
        assert!(up.is_available());
    }

    #[test]
    fn unresolvable_upstreams_are_unavailable() {
        let up = Upstream::new("http://no-such-host.invalid:80", PeerTimeouts::default());
        assert!(up.peer.is_err());
        assert!(!up.is_available());
        assert_eq!(up.authority, "no-such-host.invalid");
    }
}
