//! The job's seccomp filter: the kernel keyrings are out of reach (a job could read the
//! user's keys, or leave its own), and without network `socket(2)` succeeds only for Unix
//! sockets and io_uring (which can open and connect sockets without `socket(2)`) is
//! unavailable.
//!
//! Why a hand-written classic BPF program and not `seccompiler`: it is twenty instructions,
//! built once in the parent; the child only hands it to the kernel.

use std::io;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// The low half of `args[0]` (little-endian): `socket`'s domain is an `int`.
const OFF_ARG0_LO: u32 = 16;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// x86_64's x32 ABI numbers its system calls from here; they would bypass the checks below.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn nr(n: libc::c_long) -> io::Result<u32> {
    u32::try_from(n).map_err(io::Error::other)
}

/// The filter program, kept alive while a child may use it.
pub(crate) struct Filter {
    prog: Vec<libc::sock_filter>,
    fprog: libc::sock_fprog,
}

// SAFETY: `fprog` points into `prog`, which is owned by the same struct and never mutated.
unsafe impl Send for Filter {}
// SAFETY: as above; the program is read only.
unsafe impl Sync for Filter {}

impl Filter {
    pub(crate) fn new(block_network: bool) -> io::Result<Box<Self>> {
        let errno = |e: i32| RET_ERRNO | (e as u32 & 0xffff);
        let deny = stmt(BPF_RET_K, errno(libc::EPERM));
        let mut prog = vec![
            stmt(BPF_LD_W_ABS, OFF_ARCH),
            // A foreign architecture (i386 through `int 0x80`) would number calls differently.
            jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
            deny,
            stmt(BPF_LD_W_ABS, OFF_NR),
        ];
        if cfg!(target_arch = "x86_64") {
            prog.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1));
            prog.push(deny);
        }
        let mut denied = vec![
            nr(libc::SYS_add_key)?,
            nr(libc::SYS_request_key)?,
            nr(libc::SYS_keyctl)?,
        ];
        if block_network {
            denied.extend([
                nr(libc::SYS_io_uring_setup)?,
                nr(libc::SYS_io_uring_enter)?,
                nr(libc::SYS_io_uring_register)?,
            ]);
        }
        for n in denied {
            prog.push(jump(BPF_JEQ_K, n, 0, 1));
            prog.push(deny);
        }
        if block_network {
            // socket: only AF_UNIX.
            prog.extend([
                jump(BPF_JEQ_K, nr(libc::SYS_socket)?, 0, 3),
                stmt(BPF_LD_W_ABS, OFF_ARG0_LO),
                jump(BPF_JEQ_K, libc::AF_UNIX as u32, 1, 0),
                deny,
            ]);
        }
        prog.push(stmt(BPF_RET_K, RET_ALLOW));
        let len = u16::try_from(prog.len()).map_err(io::Error::other)?;
        let mut me = Box::new(Self {
            prog,
            fprog: libc::sock_fprog {
                len,
                filter: std::ptr::null_mut(),
            },
        });
        me.fprog.filter = me.prog.as_mut_ptr();
        Ok(me)
    }

    /// Installs the filter on the calling thread. Only a system call: safe in the vfork child.
    ///
    /// # Safety
    /// `no_new_privs` must be set (or the caller hold `CAP_SYS_ADMIN`).
    pub(crate) unsafe fn install(&self) -> libc::c_long {
        // SAFETY: `fprog` points to `prog`, alive as long as `self`.
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0u32,
                &raw const self.fprog,
            )
        }
    }
}
