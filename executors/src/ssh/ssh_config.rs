//! Hosts from the user's OpenSSH client config (`~/.ssh/config`): `HostName`, `Port`, `User`,
//! `IdentityFile` and `ProxyJump` through one bastion.
//!
//! Parsed with the `ssh2-config` crate (OpenSSH's first-match-wins merging and `Host` patterns
//! with `*`, `?` and `!`, done once and tested there). The file is untrusted input, so before it
//! is parsed: it is read only up to [`MAX_SIZE`], and `Include` (which would read further files
//! the crate finds by glob, unbounded) and `Match` (which the crate does not know: its lines
//! would silently apply to the block before) are refused with the line that has them. A
//! `ProxyCommand` is never run: a host that has one is refused.

use std::io::Read;
use std::path::{Path, PathBuf};

use ssh2_config::{ParseRule, SshConfig};

/// Largest ssh config file read.
pub const MAX_SIZE: u64 = 256 * 1024;
/// Most `Host` patterns in a file: the parser's work grows faster than the pattern count (a
/// 200 KB file of 30,000 patterns took minutes of CPU at start-up).
pub const MAX_PATTERNS: usize = 1024;

/// Why an ssh config host could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("cannot read the ssh config {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("the ssh config {0} is larger than {MAX_SIZE} bytes")]
    TooLarge(PathBuf),
    #[error(
        "the ssh config {path}, line {line}: `{keyword}` is not supported here ({why}); \
give the host's address, user and identity_file in this server's config instead"
    )]
    Unsupported {
        path: PathBuf,
        line: usize,
        keyword: String,
        why: &'static str,
    },
    #[error("bad ssh config {0}: {1}")]
    Parse(PathBuf, String),
    #[error("the ssh config {0} names more than {MAX_PATTERNS} Host patterns")]
    TooManyPatterns(PathBuf),
    #[error("no `Host {alias}` in the ssh config {path}")]
    NoSuchHost { alias: String, path: PathBuf },
    #[error(
        "host {alias:?} in the ssh config {path} uses ProxyCommand, which this server never runs \
(it would execute a program from the file); use ProxyJump"
    )]
    ProxyCommand { alias: String, path: PathBuf },
    #[error("host {alias:?}: bad ProxyJump {value:?}: {why}")]
    Jump {
        alias: String,
        value: String,
        why: &'static str,
    },
}

/// One host as the ssh config describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `HostName`, or the alias itself.
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// The first `IdentityFile`, `~` expanded.
    pub identity_file: Option<PathBuf>,
}

/// A host and the bastion it is reached through, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub target: Endpoint,
    pub jump: Option<Endpoint>,
}

/// A parsed ssh config file.
pub struct SshConfigFile {
    path: PathBuf,
    config: SshConfig,
}

impl SshConfigFile {
    /// Reads and parses `path`; `home` expands `~` in it.
    pub fn load(path: &Path, home: &Path) -> Result<Self, SshConfigError> {
        let file = std::fs::File::open(path).map_err(|e| SshConfigError::Read(path.into(), e))?;
        let mut text = String::new();
        file.take(MAX_SIZE + 1)
            .read_to_string(&mut text)
            .map_err(|e| SshConfigError::Read(path.into(), e))?;
        if text.len() as u64 > MAX_SIZE {
            return Err(SshConfigError::TooLarge(path.into()));
        }
        Self::parse(path, &text, home)
    }

    /// Parses `text`, read from `path`.
    pub fn parse(path: &Path, text: &str, home: &Path) -> Result<Self, SshConfigError> {
        let mut patterns = 0usize;
        for (i, line) in text.lines().enumerate() {
            let mut words = line
                .trim_start()
                .split(|c: char| c.is_whitespace() || c == '=')
                .filter(|w| !w.is_empty());
            let keyword = words.next().unwrap_or("").to_ascii_lowercase();
            if keyword == "host" {
                patterns += words.count();
                if patterns > MAX_PATTERNS {
                    return Err(SshConfigError::TooManyPatterns(path.into()));
                }
                continue;
            }
            let why = match keyword.as_str() {
                "include" => "it would read more files",
                "match" => "Match blocks are not understood",
                _ => continue,
            };
            return Err(SshConfigError::Unsupported {
                path: path.into(),
                line: i + 1,
                keyword,
                why,
            });
        }
        let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
        let config = SshConfig::default()
            .home_dir(home)
            .parse(&mut text.as_bytes(), rules)
            .map_err(|e| SshConfigError::Parse(path.into(), e.to_string()))?;
        Ok(Self {
            path: path.into(),
            config,
        })
    }

    /// The aliases that `Host` lines name literally (no patterns, no negations), in order.
    pub fn aliases(&self) -> Vec<String> {
        let mut names = Vec::new();
        for host in self.config.get_hosts() {
            for clause in &host.pattern {
                let literal = !clause.pattern.contains(['*', '?']);
                if literal && !clause.negated && !names.contains(&clause.pattern) {
                    names.push(clause.pattern.clone());
                }
            }
        }
        names
    }

    /// What the file says about `alias`, and about its bastion.
    pub fn resolve(&self, alias: &str) -> Result<Resolved, SshConfigError> {
        let named = self
            .config
            .get_hosts()
            .iter()
            .any(|h| h.pattern.iter().any(|c| c.pattern != "*") && h.intersects(alias));
        if !named {
            return Err(SshConfigError::NoSuchHost {
                alias: alias.into(),
                path: self.path.clone(),
            });
        }
        let (target, jump) = self.endpoint(alias)?;
        let Some(value) = jump else {
            return Ok(Resolved { target, jump: None });
        };
        let bad = |why| SshConfigError::Jump {
            alias: alias.into(),
            value: value.clone(),
            why,
        };
        if value.contains(',') {
            return Err(bad("only one bastion is supported"));
        }
        let spec = value.strip_prefix("ssh://").unwrap_or(&value);
        let (user, rest) = match spec.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, spec),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad("bad port"))?)),
            None => (rest, None),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        // The bastion's name may itself be an alias in the file, as for OpenSSH.
        let (mut bastion, further) = self.endpoint(host)?;
        if further.is_some() {
            return Err(bad(
                "its bastion has a ProxyJump too; only one bastion is supported",
            ));
        }
        bastion.user = user.or(bastion.user);
        bastion.port = port.or(bastion.port);
        Ok(Resolved {
            target,
            jump: Some(bastion),
        })
    }

    /// One name's endpoint, and its `ProxyJump` value unless `none`.
    fn endpoint(&self, alias: &str) -> Result<(Endpoint, Option<String>), SshConfigError> {
        let p = self.config.query(alias);
        let proxy_command = p
            .unsupported_fields
            .keys()
            .chain(p.ignored_fields.keys())
            .any(|k| k.eq_ignore_ascii_case("proxycommand"));
        if proxy_command {
            return Err(SshConfigError::ProxyCommand {
                alias: alias.into(),
                path: self.path.clone(),
            });
        }
        let jump = p
            .proxy_jump
            .map(|hops| hops.join(","))
            .filter(|v| !v.eq_ignore_ascii_case("none") && !v.is_empty());
        Ok((
            Endpoint {
                address: p.host_name.unwrap_or_else(|| alias.to_string()),
                port: p.port,
                user: p.user,
                identity_file: p.identity_file.and_then(|f| f.into_iter().next()),
            },
            jump,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<SshConfigFile, SshConfigError> {
        SshConfigFile::parse(Path::new("/t/config"), text, Path::new("/home/u"))
    }

    #[test]
    fn aliases_and_their_bastion() {
        let f = parse(
            "Host build\n  HostName 10.0.0.5\n  Port 2222\n  User ci\n  IdentityFile ~/.ssh/k\n  ProxyJump admin@gate:2200\n\
Host gate\n  HostName gate.example\n  IdentityFile ~/.ssh/g\nHost *.corp web?\n  User x\nHost *\n  User fallback\n",
        )
        .unwrap();
        assert_eq!(f.aliases(), ["build", "gate"]);
        let r = f.resolve("build").unwrap();
        assert_eq!(r.target.address, "10.0.0.5");
        assert_eq!(r.target.port, Some(2222));
        assert_eq!(r.target.user.as_deref(), Some("ci"));
        assert_eq!(
            r.target.identity_file,
            Some(PathBuf::from("/home/u/.ssh/k"))
        );
        let j = r.jump.unwrap();
        assert_eq!(j.address, "gate.example");
        assert_eq!(j.port, Some(2200));
        assert_eq!(j.user.as_deref(), Some("admin"));
        assert_eq!(j.identity_file, Some(PathBuf::from("/home/u/.ssh/g")));
        let g = f.resolve("gate").unwrap();
        assert_eq!(
            g.target.user.as_deref(),
            Some("fallback"),
            "Host * applies last"
        );
        assert!(matches!(
            f.resolve("nowhere"),
            Err(SshConfigError::NoSuchHost { .. })
        ));
        assert_eq!(
            f.resolve("a.corp").unwrap().target.user.as_deref(),
            Some("x")
        );
    }

    #[test]
    fn a_file_of_too_many_host_patterns_is_refused_at_once() {
        let names: Vec<String> = (0..30_000).map(|i| format!("a{i}")).collect();
        let e = parse(&format!("Host {}\n  User x\n", names.join(" ")))
            .err()
            .unwrap();
        assert!(e.to_string().contains("Host patterns"), "{e}");
        let many = (0..1024)
            .map(|i| format!("Host h{i}\n  User x\n"))
            .collect::<String>();
        assert!(parse(&many).is_ok());
    }

    #[test]
    fn untrusted_constructs_are_refused() {
        let e = parse("Host a\n  HostName b\nInclude /etc/passwd\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse("Match host x\n  User y\n").err().unwrap();
        assert!(
            e.to_string().contains("Match") || e.to_string().contains("match"),
            "{e}"
        );
        let f = parse("Host p\n  ProxyCommand nc %h %p\nHost q\n  HostName q.example\n").unwrap();
        assert!(matches!(
            f.resolve("p"),
            Err(SshConfigError::ProxyCommand { .. })
        ));
        assert!(
            f.resolve("q").is_ok(),
            "a ProxyCommand elsewhere does not matter"
        );
        let f = parse("Host a\n  ProxyJump b,c\nHost b\nHost c\nHost d\n  ProxyJump a\n").unwrap();
        assert!(matches!(f.resolve("a"), Err(SshConfigError::Jump { .. })));
        assert!(matches!(f.resolve("d"), Err(SshConfigError::Jump { .. })));
    }
}
