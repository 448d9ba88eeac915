//! What runs in the child between `fork` and `exec`: only async-signal-safe calls.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Puts the child in its own process group (or, for a pty, its own session with the pty as its
/// controlling terminal), and makes it die with the server.
pub(crate) fn prepare(cmd: &mut Command, pty: bool) {
    // SAFETY: `getpid` is async-signal-safe; it is called before the fork, in the parent.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure only makes async-signal-safe system calls and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if pty {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // stdin is already the pty slave here.
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::setpgid(0, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The server may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}
