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

/// One step of the plan, in order.
enum Op {
    /// Every mount read-only (recursively): nothing outside the writable roots can be written,
    /// nor have its mode, owner, times or attributes changed (`EROFS`), which Landlock does not
    /// cover.
    AllReadOnly(CString),
    /// The place bound onto itself and made writable again (its own mount only: mounts below
    /// it stay read-only).
    Writable(CString),
    /// The place bound onto itself, as it is: a mount point cannot be renamed or replaced, so
    /// a job cannot move `.git` aside and put its own in its place.
    Pinned(CString),
    /// `source` bound over `target`, read-only.
    ReadOnly { source: CString, target: CString },
}

/// The mounts of one job, ready for the child.
pub(crate) struct MountPlan {
    ops: Vec<Op>,
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

/// What the plan is made of.
pub(crate) struct Layout<'a> {
    /// `Some`: every mount read-only but these.
    pub writable: Option<&'a [&'a Path]>,
    /// Bound onto themselves (not renameable).
    pub pinned: &'a [&'a Path],
    /// Existing places made read-only where they are.
    pub read_only: &'a [&'a Path],
    /// (place, stand-in) pairs, the stand-in an empty directory or file of the same kind.
    pub hidden: &'a [(&'a Path, &'a Path)],
}

impl MountPlan {
    pub(crate) fn new(layout: &Layout<'_>) -> io::Result<Self> {
        let mut ops = Vec::new();
        if let Some(writable) = layout.writable {
            ops.push(Op::AllReadOnly(cstring(Path::new("/"))?));
            for w in writable {
                ops.push(Op::Writable(cstring(w)?));
            }
        }
        for p in layout.pinned {
            ops.push(Op::Pinned(cstring(p)?));
        }
        for p in layout.read_only {
            ops.push(Op::ReadOnly {
                source: cstring(p)?,
                target: cstring(p)?,
            });
        }
        for (place, stand_in) in layout.hidden {
            ops.push(Op::ReadOnly {
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
        Ok(Self { ops, userns })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Enters new mount and IPC namespaces (and a user namespace, when not root) and makes the
    /// mounts. Returns 0, or -1 with `errno` set.
    ///
    /// # Safety
    /// Only system calls on `self`: meant for the vfork child, before `exec`.
    pub(crate) unsafe fn apply(&self) -> libc::c_int {
        // SAFETY: system calls on C strings and buffers prepared in the parent.
        unsafe {
            // A private IPC namespace too: SysV shared memory, semaphores and message queues
            // of processes outside are out of reach.
            let flags = libc::CLONE_NEWNS | libc::CLONE_NEWIPC;
            if let Some(maps) = &self.userns {
                if libc::unshare(libc::CLONE_NEWUSER | flags) < 0 {
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
            } else if libc::unshare(flags) < 0 {
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
            for op in &self.ops {
                let r = match op {
                    Op::AllReadOnly(root) => set_attr(root, AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0),
                    Op::Writable(p) => {
                        if bind(p, p) < 0 {
                            -1
                        } else {
                            set_attr(p, 0, 0, MOUNT_ATTR_RDONLY)
                        }
                    }
                    Op::Pinned(p) => bind(p, p),
                    Op::ReadOnly { source, target } => {
                        if bind(source, target) < 0 {
                            -1
                        } else {
                            set_attr(target, AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0)
                        }
                    }
                };
                // Gone since it was found: nothing left there to protect, pin or hide.
                if r < 0 && *libc::__errno_location() != libc::ENOENT {
                    return -1;
                }
            }
            0
        }
    }
}

/// Binds `source` onto `target`, submounts included. Returns 0, or -1 with `errno` set.
///
/// # Safety
/// Only a system call.
unsafe fn bind(source: &CString, target: &CString) -> libc::c_int {
    // SAFETY: valid C strings.
    unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    }
}

/// Sets and clears mount attributes. `mount_setattr` changes only the flags named; a remount
/// would have to repeat every locked flag of the original mount.
///
/// # Safety
/// Only a system call.
unsafe fn set_attr(path: &CString, flags: libc::c_uint, set: u64, clear: u64) -> libc::c_int {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid C string and attribute struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &raw const attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 { -1 } else { 0 }
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
