//! The policy engine's tests: adversarial and honest commands, policy files, presets, and a
//! property test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attacks;
mod corpus;
mod differential;
mod files;
mod honest;
mod observe;
mod presets;
mod properties;
mod regressions;

use policies::{CheckRequest, Policy, Verdict};

/// The smallest policy form from the contract.
pub const ALLOWLIST: &str = r#"
default = "deny"
allow = ["cargo", "git status", "ls", "echo"]
deny  = ["rm", "curl"]
"#;

/// A blocklist: everything runs but what it names.
pub const BLOCKLIST: &str = r#"
default = "allow"
deny = ["rm", "curl", "git push", "shutdown"]
"#;

pub fn policy(text: &str) -> Policy {
    Policy::from_toml(text, "test.toml").unwrap_or_else(|e| panic!("bad test policy: {e}"))
}

pub fn check(p: &Policy, command: &str) -> Verdict {
    p.check(&CheckRequest::new(command))
}
