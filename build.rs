//! Link settings for the `mcp-jobs` binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MCP_JOBS_NO_RELR");
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    let gnu_linux =
        target("CARGO_CFG_TARGET_OS") == "linux" && target("CARGO_CFG_TARGET_ENV") == "gnu";
    if gnu_linux && std::env::var_os("MCP_JOBS_NO_RELR").is_none() {
        // Packed relative relocations (DT_RELR): the binary's 23,000 relocations take 7 KiB
        // instead of 560 KiB, which the dynamic loader reads (and keeps resident) at every
        // start. Needs binutils >= 2.38 to link and glibc >= 2.36 to run (Debian 12, Ubuntu
        // 22.04); set MCP_JOBS_NO_RELR=1 to build for older systems.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
