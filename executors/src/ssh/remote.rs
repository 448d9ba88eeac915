//! The command line sent to the remote side: the job in its own session (so that its whole
//! process group can be killed from another channel), reporting that group's id first.

use crate::JobSpec;

/// A line of stderr carries the job's process group id: `\x1eMCPJOBS-PGID:<nonce>:1234\n`,
/// before the job's own output. Login files (`.bashrc` and the like) may write to stderr before
/// it, so the reader looks for it among the first lines; the nonce (new for every job) keeps
/// anything else from passing for it.
pub(crate) const MARKER: &[u8] = b"\x1eMCPJOBS-PGID:";

/// A job's marker nonce: 64 bits from a randomly keyed hash (std's `RandomState` takes its
/// keys from the OS), unique per job.
pub(crate) fn nonce() -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:016x}",
        std::collections::hash_map::RandomState::new().hash_one(n)
    )
}

/// The start of the marker line for `nonce`.
pub(crate) fn marker_prefix(nonce: &str) -> Vec<u8> {
    let mut m = MARKER.to_vec();
    m.extend_from_slice(nonce.as_bytes());
    m.push(b':');
    m
}

fn quote(s: &str) -> String {
    // POSIX single quotes; a quote inside becomes '\''.
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// What the remote login shell runs for `spec`; its marker carries `nonce`.
pub(crate) fn command_line(spec: &JobSpec, nonce: &str) -> String {
    let mut line = String::new();
    if let Some(cwd) = &spec.cwd {
        line.push_str(&format!("cd {} && ", quote(&cwd.to_string_lossy())));
    }
    line.push_str("exec ");
    if !spec.env.is_empty() || spec.clear_env {
        line.push_str("env ");
        if spec.clear_env {
            line.push_str("-i ");
        }
        for (k, v) in &spec.env {
            line.push_str(&quote(&format!("{k}={v}")));
            line.push(' ');
        }
    }
    // setsid: a new session whose id is the inner shell's pid; -w: wait, and pass the exit code.
    // The marker goes to stderr before any merge, where the reader looks for it. The wrapper
    // that reports it is `sh` (dash on Debian-like hosts, which starts faster than bash; every
    // remote start pays it), which then execs the job's bash: the command runs exactly as
    // `bash -c` did. setsid's own stderr is /dev/null (its "child did not exit normally",
    // after every kill, is not the job's output): the wrapper gets the real one on fd 3.
    line.push_str(&format!(
        "setsid -w sh -c 'exec 2>&3 3>&-; printf \"\\036MCPJOBS-PGID:{nonce}:%s\\n\" \"$$\" >&2; exec bash -c \"$1\""
    ));
    if spec.merge_stderr && !spec.pty {
        line.push_str(" 2>&1");
    }
    line.push_str("' mcp-jobs ");
    line.push_str(&quote(&spec.command));
    line.push_str(" 3>&2 2>/dev/null");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive() {
        let spec = JobSpec {
            command: "echo 'it''s' \"$HOME\"".into(),
            cwd: Some("/tmp/a b".into()),
            env: vec![("A".into(), "x y".into())],
            ..JobSpec::default()
        };
        let line = command_line(&spec, "00ff");
        assert!(
            line.starts_with("cd '/tmp/a b' && exec env 'A=x y' setsid -w sh -c"),
            "{line}"
        );
        assert!(
            line.ends_with("mcp-jobs 'echo '\\''it'\\'''\\''s'\\'' \"$HOME\"' 3>&2 2>/dev/null"),
            "{line}"
        );
    }
}
