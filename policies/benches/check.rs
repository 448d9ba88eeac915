//! How fast the policy decides. `cargo bench -p policies --bench check` (add `-- --smoke` for
//! one quick pass). Prints checks per second and the time per check.

use std::time::{Duration, Instant};

use policies::{CheckRequest, Policy};

const POLICY: &str = r#"
default = "deny"
allow = ["cargo", "git status", "git diff", "ls", "echo", "grep", "npm test", "python3 -m pytest", "make"]
deny = ["rm", "curl", "git push"]
"#;

const TYPICAL: &[&str] = &[
    "cargo test --workspace",
    "cargo build --release 2>&1 | tail -n 20",
    "git status && git diff --stat",
    "ls -la src/ && grep -rn 'TODO' src | head",
    "npm test -- --watch=false",
    "python3 -m pytest -q tests/test_api.py",
    "make -j2 all > build.log 2>&1",
    "echo \"$(git status)\"",
];

fn measure(policy: &Policy, command: &str, budget: Duration) -> (f64, Duration) {
    let req = CheckRequest::new(command);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget || n == 0 {
        let v = policy.check(&req);
        std::hint::black_box(&v);
        n += 1;
    }
    let per = start.elapsed() / u32::try_from(n).unwrap_or(u32::MAX);
    (n as f64 / start.elapsed().as_secs_f64(), per)
}

/// The floor: brush-parser's parse of the same text, without the engine's walk and rules.
fn measure_parse(command: &str, budget: Duration) -> Duration {
    let opts = brush_parser::ParserOptions::default();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget || n == 0 {
        let p = brush_parser::Parser::new(std::io::Cursor::new(command.as_bytes()), &opts)
            .parse_program();
        std::hint::black_box(&p);
        n += 1;
    }
    start.elapsed() / u32::try_from(n).unwrap_or(u32::MAX)
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let budget = if smoke {
        Duration::from_millis(20)
    } else {
        Duration::from_secs(1)
    };
    let policy = match Policy::from_toml(POLICY, "bench.toml") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!(
        "policy check ({}):",
        if smoke { "smoke" } else { "1 s per command" }
    );
    let mut worst = Duration::ZERO;
    println!("  (baseline: brush-parser's parse of the same text, measured in the same run)");
    for c in TYPICAL {
        let (rate, per) = measure(&policy, c, budget);
        let parse = measure_parse(c, budget);
        worst = worst.max(per);
        println!(
            "  {rate:>10.0} checks/s  {:>8.1} µs  ({:.1}x parse {:.1} µs)  {c}",
            per.as_secs_f64() * 1e6,
            per.as_secs_f64() / parse.as_secs_f64(),
            parse.as_secs_f64() * 1e6
        );
    }
    let long = vec!["cargo build --release --features 'a b c'"; 240].join(" && ");
    let (rate, per) = measure(&policy, &long, budget);
    let parse = measure_parse(&long, budget);
    println!(
        "  {rate:>10.0} checks/s  {:>8.1} µs  ({:.1}x parse {:.1} µs)  a {} byte command ({} commands)",
        per.as_secs_f64() * 1e6,
        per.as_secs_f64() / parse.as_secs_f64(),
        parse.as_secs_f64() * 1e6,
        long.len(),
        240
    );
    println!(
        "  slowest typical check: {:.1} µs",
        worst.as_secs_f64() * 1e6
    );
}
