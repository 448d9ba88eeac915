//! The bearer token: where it comes from, and how a request's `Authorization` header is checked.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

/// Shortest token accepted from a file.
const MIN_TOKEN_LEN: usize = 16;
/// Random bytes in a token the server makes (hex-encoded: 48 characters).
const TOKEN_BYTES: usize = 24;

/// The token clients must present, kept as its SHA-256 digest: comparing digests of equal length
/// tells nothing about the token's length or contents from timings.
pub struct Token {
    digest: [u8; 32],
}

impl Token {
    fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether an `Authorization` header value carries this token. The scheme is
    /// case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer` and `BEARER` all work.
    pub fn accepts(&self, authorization: &[u8]) -> bool {
        let Ok(value) = std::str::from_utf8(authorization) else {
            return false;
        };
        let Some((scheme, given)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return false;
        }
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        // No early return: every byte of the digests is looked at.
        given
            .iter()
            .zip(&self.digest)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// The token: read from `file` (made with a new random token, mode 0600, if it does not exist),
/// or, without a file, a new random one printed to stderr.
pub fn load(file: Option<&Path>) -> anyhow::Result<Token> {
    let Some(f) = file else {
        let t = random()?;
        eprintln!("mcp-jobs: bearer token for this server: {t}");
        return Ok(Token::new(&t));
    };
    if !f.exists() {
        create(f)?;
    }
    let meta = std::fs::metadata(f)
        .with_context(|| format!("cannot read the token file {}", f.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    // Anyone who can read the token can run commands as this user: refuse rather than warn.
    anyhow::ensure!(
        mode & 0o077 == 0,
        "the token file {f} can be read by others (mode {mode:o}): run `chmod 600 {f}`",
        f = f.display()
    );
    let t = std::fs::read_to_string(f)
        .with_context(|| format!("cannot read the token file {}", f.display()))?;
    let t = t.trim();
    anyhow::ensure!(
        t.len() >= MIN_TOKEN_LEN,
        "the token in {} is shorter than {MIN_TOKEN_LEN} characters",
        f.display()
    );
    Ok(Token::new(t))
}

/// Writes a new random token to `f` (mode 0600; missing parent directories 0700).
fn create(f: &Path) -> anyhow::Result<()> {
    if let Some(dir) = f.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let t = random()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(f)
        .with_context(|| format!("cannot create the token file {}", f.display()))?;
    writeln!(file, "{t}").with_context(|| format!("cannot write {}", f.display()))?;
    eprintln!(
        "mcp-jobs: created the token file {} (mode 0600): clients send its content as the bearer token",
        f.display()
    );
    Ok(())
}

fn random() -> anyhow::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").context("cannot open /dev/urandom")?,
        &mut bytes,
    )
    .context("cannot read /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_exact() {
        let t = Token::new("secret-token-0123456789");
        for ok in [
            "Bearer secret-token-0123456789",
            "bearer secret-token-0123456789",
            "BEARER  secret-token-0123456789 ",
        ] {
            assert!(t.accepts(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "Bearer secret-token-012345678",
            "Bearer secret-token-01234567890",
            "Basic secret-token-0123456789",
            "Bearersecret-token-0123456789",
            "secret-token-0123456789",
            "",
        ] {
            assert!(!t.accepts(bad.as_bytes()), "{bad}");
        }
        assert!(!t.accepts(b"Bearer \xff\xfe"));
    }

    #[test]
    fn a_missing_file_is_made_private_and_a_readable_one_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("sub").join("token");
        load(Some(&f)).expect("created");
        let mode = std::fs::metadata(&f).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(dir.path().join("sub"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        let token = std::fs::read_to_string(&f).expect("read");
        let t = load(Some(&f)).expect("read back");
        assert!(t.accepts(format!("Bearer {}", token.trim()).as_bytes()));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = load(Some(&f)).err().expect("refused").to_string();
        assert!(e.contains(&format!("chmod 600 {}", f.display())), "{e}");
    }
}
