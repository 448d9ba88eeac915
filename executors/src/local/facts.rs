//! The local machine's facts, read in-process: `uname(2)`, `/proc/loadavg`, and the CPUs this
//! process may use (its affinity, as `nproc` counts them, and its cgroup's CPU quota: what jobs
//! started here can really have).

use crate::facts::{HostFacts, clean, parse_load};

pub(crate) fn local_facts() -> HostFacts {
    let uname = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uname.as_ref().and_then(|u| clean(&f(u).to_string_lossy()))
    };
    HostFacts {
        rtt: None,
        os: field(nix::sys::utsname::UtsName::sysname),
        kernel: field(nix::sys::utsname::UtsName::release),
        arch: field(nix::sys::utsname::UtsName::machine),
        cpus: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok()),
        // A small procfs file: reading it does not block the runtime.
        load: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| parse_load(&l)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_local_machine_knows_itself() {
        let f = super::local_facts();
        assert!(
            f.os.is_some() && f.kernel.is_some() && f.arch.is_some(),
            "{f:?}"
        );
        assert!(f.cpus.is_some_and(|n| n >= 1), "{f:?}");
        if std::path::Path::new("/proc/loadavg").exists() {
            assert!(f.load.is_some(), "{f:?}");
        }
    }
}
