//! Landlock, through its three system calls: a ruleset that handles every kind of write and
//! grants them beneath the writable roots only.
//!
//! Why raw system calls and not the `landlock` crate: the ruleset is built in the parent and
//! only `landlock_restrict_self` runs in the vfork child, which must not allocate; the crate
//! restricts the calling thread and hides the ruleset descriptor. The ABI is three calls and
//! two structs.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

// Access rights (include/uapi/linux/landlock.h).
const WRITE_FILE: u64 = 1 << 1;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
/// ABI 2: linking or renaming into another directory.
const REFER: u64 = 1 << 13;
/// ABI 3: truncating a file.
const TRUNCATE: u64 = 1 << 14;

/// ABI 6 scopes: no connecting to abstract Unix sockets, and no signals, outside the domain.
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// The oldest ABI that can confine every write: before 3, `truncate(2)` is not a handled
/// right, so a confined job could still empty any file it may write by the permission bits.
pub(crate) const MIN_ABI_FOR_WRITES: u32 = 3;
/// The ABI that adds the scopes.
pub(crate) const ABI_SCOPES: u32 = 6;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI this kernel speaks: `Err` with the reason when it has none.
pub(crate) fn abi() -> Result<u32, io::Error> {
    // SAFETY: a NULL attribute with size 0 and the VERSION flag only queries the ABI.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(v).map_err(io::Error::other)
}

/// Every write right this ABI knows.
fn write_rights(abi: u32) -> u64 {
    let mut r = WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    if abi >= 2 {
        r |= REFER;
    }
    if abi >= 3 {
        r |= TRUNCATE;
    }
    r
}

/// The rights that apply to a file (not a directory) in a rule.
const FILE_RIGHTS: u64 = WRITE_FILE | TRUNCATE;

/// A ruleset ready to be applied by a child.
pub(crate) struct Ruleset {
    fd: OwnedFd,
}

impl Ruleset {
    /// A ruleset that confines writes (when `confine_writes`) to beneath `writable` and to the
    /// `writable_files`, and scopes signals and abstract sockets where the ABI can.
    pub(crate) fn new(
        abi: u32,
        confine_writes: bool,
        writable: &[&Path],
        writable_files: &[&Path],
    ) -> io::Result<Self> {
        // Not confining writes, the ruleset still handles one right nobody needs: a Landlock
        // domain is what stops a job from changing its mounts (undoing `hide`) and from
        // ptrace-ing or reading /proc/PID/root of processes outside its domain.
        let handled = if confine_writes {
            write_rights(abi)
        } else {
            MAKE_BLOCK
        };
        let scoped = if abi >= ABI_SCOPES {
            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        } else {
            0
        };
        let attr = RulesetAttr {
            handled_access_fs: handled,
            handled_access_net: 0,
            scoped,
        };
        // Before ABI 4 the struct was smaller, before 6 too: pass the size this ABI knows.
        let size = if abi >= ABI_SCOPES {
            std::mem::size_of::<RulesetAttr>()
        } else if abi >= 4 {
            16
        } else {
            8
        };
        // SAFETY: `attr` is valid for `size` bytes (a prefix of the struct).
        let fd = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &raw const attr,
                size,
                0u32,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = RawFd::try_from(fd).map_err(io::Error::other)?;
        // SAFETY: the kernel just returned this descriptor (close-on-exec), owned by nobody else.
        let ruleset = Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        if confine_writes {
            for dir in writable {
                ruleset.grant(dir, handled)?;
            }
            for file in writable_files {
                ruleset.grant(file, handled & FILE_RIGHTS)?;
            }
        }
        Ok(ruleset)
    }

    fn grant(&self, path: &Path, rights: u64) -> io::Result<()> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))?;
        // SAFETY: a valid C string; O_PATH opens nothing but a reference.
        let raw = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("cannot open {}: {e}", path.display()),
            ));
        }
        // SAFETY: open just returned it.
        let dir = unsafe { OwnedFd::from_raw_fd(raw) };
        let attr = PathBeneathAttr {
            allowed_access: rights,
            parent_fd: dir.as_raw_fd(),
        };
        // SAFETY: `attr` is a valid path-beneath attribute for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.fd.as_raw_fd(),
                RULE_PATH_BENEATH,
                &raw const attr,
                0u32,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("landlock cannot grant {}: {e}", path.display()),
            ));
        }
        Ok(())
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Applies the ruleset to the calling process. Only system calls: safe in the vfork child.
///
/// # Safety
/// `fd` must be a Landlock ruleset descriptor; `no_new_privs` must be set.
pub(crate) unsafe fn restrict_self(fd: RawFd) -> libc::c_long {
    // SAFETY: a plain system call.
    unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) }
}
