//! What a host says about itself, for an agent choosing where to run: its connection state
//! ([`Connections`]) and, on a probe, its machine ([`HostFacts`]).
//!
//! A remote host answers a fixed script ([`PROBE_SCRIPT`]) whose output is untrusted: it is read
//! up to [`MAX_PROBE_OUTPUT`] bytes, every value is cut to [`MAX_VALUE`] characters of printable
//! text, and what does not parse is left out rather than failing the probe.

use std::time::{Duration, SystemTime};

/// The connections of an executor that has any (an SSH host's), as they are now.
#[derive(Debug, Clone, PartialEq)]
pub enum Connections {
    /// At least one connection is open.
    Connected { open: usize },
    /// None is open and none failed since the last success (never connected yet, or closed
    /// when idle).
    Idle,
    /// None is open, and the last attempt to connect failed or the last connection dropped.
    Failed { error: String, at: SystemTime },
}

/// A machine's facts, from a probe. Every field is what could be read; `None` if not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFacts {
    /// Time to open an SSH channel on an open connection: one round trip to the host's sshd.
    /// `None` for the local machine.
    pub rtt: Option<Duration>,
    /// `uname -s`, e.g. `Linux`.
    pub os: Option<String>,
    /// `uname -r`.
    pub kernel: Option<String>,
    /// `uname -m`, e.g. `x86_64`.
    pub arch: Option<String>,
    /// CPUs: `nproc` on a remote host; locally, those this process may use.
    pub cpus: Option<u32>,
    /// Load averages over 1, 5 and 15 minutes.
    pub load: Option<[f64; 3]>,
}

/// Why a probe gave no facts.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The host cannot be reached (the connection's error).
    #[error("{0}")]
    Unreachable(String),
    /// The host did not answer within the probe's bound.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The probe ran but its answer held nothing readable.
    #[error("the host's answer could not be read")]
    Unreadable,
    /// This executor cannot be probed.
    #[error("this executor cannot be probed")]
    Unsupported,
}

/// The server's own read-only command that a probe runs on a host: one `key=value` line per
/// fact, so that a missing tool leaves its line empty instead of shifting the others. Run by
/// `sh` whatever the login shell; each tool has a fallback for systems without it.
pub const PROBE_SCRIPT: &str = "exec sh -c 'printf \"os=%s\\nkernel=%s\\narch=%s\\ncpus=%s\\nload=%s\\n\" \
\"$(uname -s 2>/dev/null)\" \"$(uname -r 2>/dev/null)\" \"$(uname -m 2>/dev/null)\" \
\"$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null)\" \
\"$(cat /proc/loadavg 2>/dev/null || uptime 2>/dev/null)\"'";

/// Bytes of a probe's output read at most: the answer is five short lines.
pub const MAX_PROBE_OUTPUT: usize = 4096;
/// Characters kept of one value.
pub const MAX_VALUE: usize = 64;
/// The largest CPU count believed.
const MAX_CPUS: u32 = 1 << 20;

/// Reads a probe's output. Never fails: what cannot be read is `None`.
pub fn parse_probe(output: &[u8]) -> HostFacts {
    let output = &output[..output.len().min(MAX_PROBE_OUTPUT)];
    let text = String::from_utf8_lossy(output);
    let mut facts = HostFacts::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "os" if facts.os.is_none() => facts.os = clean(value),
            "kernel" if facts.kernel.is_none() => facts.kernel = clean(value),
            "arch" if facts.arch.is_none() => facts.arch = clean(value),
            "cpus" if facts.cpus.is_none() => {
                facts.cpus = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_CPUS).contains(n));
            }
            "load" if facts.load.is_none() => facts.load = parse_load(value),
            _ => {}
        }
    }
    facts
}

/// Printable text of at most [`MAX_VALUE`] characters; `None` if nothing is left.
pub fn clean(value: &str) -> Option<String> {
    let v: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_VALUE)
        .collect();
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Three load averages from `/proc/loadavg` (`0.52 0.58 0.59 1/234 5678`) or from `uptime`
/// (`... load average: 0.52, 0.58, 0.59`; BSDs say `load averages:` without commas).
pub fn parse_load(value: &str) -> Option<[f64; 3]> {
    let numbers = match value.rfind("load average") {
        Some(i) => value[i..].split_once(':')?.1,
        None => value,
    };
    let mut found = [0.0; 3];
    let mut words = numbers
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty());
    for slot in &mut found {
        let n: f64 = words.next()?.parse().ok()?;
        if !(n.is_finite() && (0.0..1e6).contains(&n)) {
            return None;
        }
        *slot = n;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linux_answer_is_read_whole() {
        let f = parse_probe(
            b"os=Linux\nkernel=6.8.0-45-generic\narch=x86_64\ncpus=8\nload=0.52 0.58 0.59 1/234 5678\n",
        );
        assert_eq!(f.os.as_deref(), Some("Linux"));
        assert_eq!(f.kernel.as_deref(), Some("6.8.0-45-generic"));
        assert_eq!(f.arch.as_deref(), Some("x86_64"));
        assert_eq!(f.cpus, Some(8));
        assert_eq!(f.load, Some([0.52, 0.58, 0.59]));
        assert_eq!(f.rtt, None);
    }

    #[test]
    fn uptime_lines_give_the_load() {
        assert_eq!(
            parse_load(" 10:01:02 up 3 days,  2:03,  1 user,  load average: 1.00, 2.50, 0.05"),
            Some([1.0, 2.5, 0.05])
        );
        assert_eq!(
            parse_load("10:01  up 3 days, 2 users, load averages: 1.93 2.04 2.10"),
            Some([1.93, 2.04, 2.1])
        );
        assert_eq!(parse_load("load average: 1.0, 2.0"), None);
        assert_eq!(parse_load("NaN inf 3"), None);
        assert_eq!(parse_load("-1 0 0"), None);
        assert_eq!(parse_load(""), None);
    }

    #[test]
    fn missing_and_garbage_values_are_left_out() {
        let f =
            parse_probe(b"os=\nkernel=\x1b[31mred\x07\ncpus=lots\nload=high\nrandom noise\n=\n");
        assert_eq!(f.os, None);
        assert_eq!(
            f.kernel.as_deref(),
            Some("[31mred"),
            "control characters dropped"
        );
        assert_eq!(f.cpus, None);
        assert_eq!(f.load, None);
        assert_eq!(parse_probe(b"cpus=0\n").cpus, None);
        assert_eq!(parse_probe(b"cpus=99999999999\n").cpus, None);
        assert_eq!(parse_probe(&[0xff, 0xfe, b'\n', 0]), HostFacts::default());
        // The first answer counts: a later line cannot override it.
        assert_eq!(
            parse_probe(b"os=Linux\nos=Evil\n").os.as_deref(),
            Some("Linux")
        );
    }

    /// The script as a login shell would run it, here: its answer reads back as `uname` says.
    #[test]
    fn the_probe_script_answers_what_uname_says() {
        let run = |cmd: &str| {
            use std::io::Read;
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("sh runs");
            let mut out = Vec::new();
            child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
            // Not `output()`: the local executor's reaper, started by other tests of this
            // crate, may reap the child first (ECHILD).
            let _ = child.wait();
            out
        };
        let f = parse_probe(&run(PROBE_SCRIPT));
        let uname = |flag: &str| clean(&String::from_utf8_lossy(&run(&format!("uname {flag}"))));
        assert_eq!(f.os, uname("-s"));
        assert_eq!(f.kernel, uname("-r"));
        assert_eq!(f.arch, uname("-m"));
        assert!(f.cpus.is_some_and(|n| n >= 1), "{f:?}");
        assert!(f.load.is_some(), "{f:?}");
    }

    #[test]
    fn oversize_answers_are_cut() {
        let long = format!("os={}\narch=x86_64\n", "A".repeat(100_000));
        let f = parse_probe(long.as_bytes());
        assert_eq!(f.os.map(|s| s.len()), Some(MAX_VALUE));
        assert_eq!(f.arch, None, "lines past the read limit are not read");
        let mut many = b"cpus=4\n".to_vec();
        many.extend(std::iter::repeat_n(b'x', 10 * MAX_PROBE_OUTPUT));
        assert_eq!(parse_probe(&many).cpus, Some(4));
    }
}
