//! Link settings for the `mcp-jobs` binary: both make it start with less memory resident.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/startup-order.txt");
    println!("cargo:rerun-if-env-changed=MCP_JOBS_NO_RELR");
    println!("cargo:rerun-if-env-changed=MCP_JOBS_NO_ORDER");
    let var = |key: &str| std::env::var(key).unwrap_or_default();
    let gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if gnu_linux && std::env::var_os("MCP_JOBS_NO_RELR").is_none() {
        // Packed relative relocations (DT_RELR): the binary's 23,000 relocations take 7 KiB
        // instead of 560 KiB, which the dynamic loader reads (and keeps resident) at every
        // start. Needs binutils >= 2.38 to link and glibc >= 2.36 to run (Debian 12, Ubuntu
        // 22.04); set MCP_JOBS_NO_RELR=1 to build for older systems.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    if links_with_rust_lld(&var) && std::env::var_os("MCP_JOBS_NO_ORDER").is_none() {
        // The functions that run at start-up and in a typical session, side by side (see
        // link/record-order.sh, which records them): the kernel maps code 64 KiB around each
        // page touched, so scattered start-up code kept 4.2 MiB of text resident, packed 1.6.
        // Names the binary no longer has are skipped, so a stale list only helps less.
        let order = format!("{}/link/startup-order.txt", var("CARGO_MANIFEST_DIR"));
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc links with its own LLD, which takes a symbol ordering file: the default on
/// x86_64 Linux since Rust 1.90, unless the build names its own linker.
fn links_with_rust_lld(var: &impl Fn(&str) -> String) -> bool {
    let chosen_elsewhere = var("CARGO_ENCODED_RUSTFLAGS").contains("link")
        || std::env::vars().any(|(k, _)| k.starts_with("CARGO_TARGET_") && k.ends_with("_LINKER"));
    var("TARGET") == "x86_64-unknown-linux-gnu"
        && !chosen_elsewhere
        && rustc_minor(&var("RUSTC")) >= Some(90)
}

/// The minor version of the compiler: `rustc 1.95.0 (…)` → 95.
fn rustc_minor(rustc: &str) -> Option<u32> {
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
