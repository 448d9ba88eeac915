//! Where a request may come from: the `Host` header and an absolute-form request target must
//! name this server (DNS rebinding), and a browser's `Origin` must be one of the allowed origins
//! (a web page must not drive the server). Checked before the token, so that a page in a
//! browser learns nothing more than `403`.

use axum::extract::Request;
use axum::http::{HeaderMap, Uri, header};

/// The allowed host names and origins.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Lower-case host names (IPv6 without brackets), any port.
    hosts: Vec<String>,
    origins: Vec<Origin>,
}

/// A web origin: scheme, host and port, compared exactly (RFC 6454).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn parse(s: &str) -> Option<Self> {
        let uri: Uri = s.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        })?;
        // An origin is scheme, host and port only: a path other than "/" means a typo.
        let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
        let host = host_name(uri.host()?);
        bare.then_some(Self { scheme, host, port })
    }
}

/// `[::1]` → `::1`, and lower case: the form hosts are compared in.
fn host_name(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl Guard {
    /// `hosts`: the names clients may use in `Host` (loopback names and any extra ones).
    /// Allowed origins: the loopback ones on `port`, and `extra_origins`.
    pub fn new(port: u16, hosts: &[String], extra_origins: &[String]) -> anyhow::Result<Self> {
        let mut origins: Vec<Origin> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(|h| Origin {
                scheme: "http".into(),
                host: h.into(),
                port,
            })
            .collect();
        for o in extra_origins {
            origins.push(Origin::parse(o).ok_or_else(|| {
                anyhow::anyhow!(
                    "--allowed-origin {o:?} is not an origin: write scheme://host[:port], e.g. http://localhost:3000"
                )
            })?);
        }
        Ok(Self {
            hosts: hosts.iter().map(|h| host_name(h)).collect(),
            origins,
        })
    }

    /// The loopback names every server accepts in `Host`.
    pub fn loopback_names() -> Vec<String> {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    }

    /// Why the request must be refused (403), if it must.
    pub fn refusal(&self, req: &Request) -> Option<&'static str> {
        let mut hosts = req.headers().get_all(header::HOST).iter();
        match (hosts.next(), hosts.next()) {
            (Some(h), None) => {
                if !h.to_str().is_ok_and(|h| self.host_allowed(h)) {
                    return Some("Forbidden: the Host header does not name this server\n");
                }
            }
            (None, _) => return Some("Forbidden: no Host header\n"),
            (Some(_), Some(_)) => return Some("Forbidden: more than one Host header\n"),
        }
        // `POST http://evil.example/mcp HTTP/1.1`: the target's authority is what a proxy
        // would act on, so it must pass the same check as `Host`.
        if let Some(authority) = req.uri().authority()
            && !self.host_allowed(authority.as_str())
        {
            return Some("Forbidden: the request target does not name this server\n");
        }
        self.origin_refusal(req.headers())
    }

    fn host_allowed(&self, authority: &str) -> bool {
        // `user@host` is not a Host; an authority with one is refused.
        let Ok(a) = authority.parse::<axum::http::uri::Authority>() else {
            return false;
        };
        !a.as_str().contains('@') && self.hosts.contains(&host_name(a.host()))
    }

    /// No `Origin` is allowed (clients that are not browsers send none).
    fn origin_refusal(&self, headers: &HeaderMap) -> Option<&'static str> {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return Some("Forbidden: more than one Origin header\n");
        }
        let allowed = value
            .to_str()
            .ok()
            .and_then(Origin::parse)
            .is_some_and(|o| self.origins.contains(&o));
        (!allowed).then_some("Forbidden: the Origin is not allowed (see --allowed-origin)\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(
            8765,
            &Guard::loopback_names(),
            &["https://app.example".into()],
        )
        .expect("guard")
    }

    fn req(target: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().method("POST").uri(target);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn hosts_and_targets() {
        let g = guard();
        for h in ["127.0.0.1:8765", "localhost", "LOCALHOST:1", "[::1]:8765"] {
            assert_eq!(g.refusal(&req("/mcp", &[("host", h)])), None, "{h}");
        }
        for h in ["evil.example", "127.0.0.2:8765", "a@localhost", ""] {
            assert!(g.refusal(&req("/mcp", &[("host", h)])).is_some(), "{h}");
        }
        assert!(g.refusal(&req("/mcp", &[])).is_some());
        let two = [("host", "localhost"), ("host", "localhost")];
        assert!(g.refusal(&req("/mcp", &two)).is_some());
        let ok = [("host", "127.0.0.1:8765")];
        assert!(g.refusal(&req("http://evil.example/mcp", &ok)).is_some());
        assert_eq!(g.refusal(&req("http://127.0.0.1:8765/mcp", &ok)), None);
    }

    #[test]
    fn origins() {
        let g = guard();
        let with = |o: &str| req("/mcp", &[("host", "localhost"), ("origin", o)]);
        for o in [
            "http://localhost:8765",
            "http://127.0.0.1:8765",
            "http://[::1]:8765",
            "HTTP://LocalHost:8765",
            "https://app.example",
            "https://app.example:443",
        ] {
            assert_eq!(g.refusal(&with(o)), None, "{o}");
        }
        for o in [
            "http://localhost:8766",
            "https://localhost:8765",
            "http://evil.example",
            "null",
            "http://app.example",
            "garbage",
        ] {
            assert!(g.refusal(&with(o)).is_some(), "{o}");
        }
        assert!(Guard::new(1, &[], &["localhost:3000".into()]).is_err());
    }
}
