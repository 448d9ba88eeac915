//! A private mount namespace for one job: read-only binds over the protected places inside its
//! writable roots, and empty, unreadable stand-ins over hidden ones.
//!
//! Landlock only grants: it cannot take back `.git/hooks` beneath a writable workspace, nor hide
//! `~/.ssh` inside a readable home. A bind mount can. Everything is prepared here as C strings;
//! [`MountPlan::apply`] runs in the vfork child and only makes system calls.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `struct mount_attr` (linux/mount.h).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: libc::c_uint = 0x8000;

struct Bind {
    source: CString,
    target: CString,
}

/// The mounts of one job, ready for the child.
pub(crate) struct MountPlan {
    binds: Vec<Bind>,
    /// Not root: the namespace needs a user namespace, and these maps for it.
    userns: Option<UserMaps>,
}

struct UserMaps {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))
}

impl MountPlan {
    /// `read_only`: existing places made read-only where they are; `hidden`: (place, stand-in)
    /// pairs, the stand-in an empty directory or file of the same kind.
    pub(crate) fn new(read_only: &[&Path], hidden: &[(&Path, &Path)]) -> io::Result<Self> {
        let mut binds = Vec::with_capacity(read_only.len() + hidden.len());
        for p in read_only {
            binds.push(Bind {
                source: cstring(p)?,
                target: cstring(p)?,
            });
        }
        for (place, stand_in) in hidden {
            binds.push(Bind {
                source: cstring(stand_in)?,
                target: cstring(place)?,
            });
        }
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let userns = (uid != 0).then(|| UserMaps {
            uid_map: format!("{uid} {uid} 1").into_bytes(),
            gid_map: format!("{gid} {gid} 1").into_bytes(),
        });
        Ok(Self { binds, userns })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.binds.is_empty()
    }

    /// Enters a new mount namespace (and user namespace, when not root) and makes the mounts.
    /// Returns 0, or -1 with `errno` set.
    ///
    /// # Safety
    /// Only system calls on `self`: meant for the vfork child, before `exec`.
    pub(crate) unsafe fn apply(&self) -> libc::c_int {
        // SAFETY: system calls on C strings and buffers prepared in the parent.
        unsafe {
            if let Some(maps) = &self.userns {
                if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) < 0 {
                    return -1;
                }
                // Unprivileged, a process may map only its own ids, and its gid only once
                // setgroups is denied.
                if write_file(c"/proc/self/setgroups", b"deny") < 0
                    || write_file(c"/proc/self/uid_map", &maps.uid_map) < 0
                    || write_file(c"/proc/self/gid_map", &maps.gid_map) < 0
                {
                    return -1;
                }
            } else if libc::unshare(libc::CLONE_NEWNS) < 0 {
                return -1;
            }
            // Nothing made here may propagate back to the server's namespace.
            if libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) < 0
            {
                return -1;
            }
            let attr = MountAttr {
                attr_set: MOUNT_ATTR_RDONLY,
                attr_clr: 0,
                propagation: 0,
                userns_fd: 0,
            };
            for b in &self.binds {
                if libc::mount(
                    b.source.as_ptr(),
                    b.target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ) < 0
                {
                    // Gone since it was found: nothing left there to protect or hide.
                    if *libc::__errno_location() == libc::ENOENT {
                        continue;
                    }
                    return -1;
                }
                // mount_setattr changes only the read-only flag; a remount would have to repeat
                // every locked flag of the original mount.
                if libc::syscall(
                    libc::SYS_mount_setattr,
                    libc::AT_FDCWD,
                    b.target.as_ptr(),
                    AT_RECURSIVE,
                    &raw const attr,
                    std::mem::size_of::<MountAttr>(),
                ) < 0
                {
                    return -1;
                }
            }
            0
        }
    }
}

/// Writes `data` to `path`. Returns 0, or -1 with `errno` set.
///
/// # Safety
/// Only system calls.
unsafe fn write_file(path: &std::ffi::CStr, data: &[u8]) -> libc::c_int {
    // SAFETY: a valid C string and buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return -1;
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        if n < 0 || n as usize != data.len() {
            return -1;
        }
        0
    }
}
