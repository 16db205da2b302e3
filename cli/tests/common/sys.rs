//! The tests' system calls, each behind a safe function: signals, watching a process that is not
//! ours to wait for, and a pseudo-terminal to press Ctrl-C on.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// Sends `signal` to process `pid`.
pub fn kill(pid: u32, signal: i32) {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: kill(2) has no memory arguments.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal}): {}", io::Error::last_os_error());
}

/// Makes `command` start with the default disposition of every signal the tests send, none
/// blocked, and no core dumps (SIGQUIT's), whatever the test runner's own settings.
pub fn plain_signals(command: &mut Command) {
    // SAFETY: runs in the forked child before exec; sigaction, sigemptyset, pthread_sigmask and
    // setrlimit on local values are async-signal-safe and allocate nothing.
    unsafe {
        command.pre_exec(|| {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2] {
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
}

/// Makes `command` start with `signal` ignored (as `nohup` leaves SIGHUP); after
/// [`plain_signals`], if both are wanted.
pub fn ignoring(command: &mut Command, signal: i32) {
    // SAFETY: runs in the forked child before exec; sigaction on local values is
    // async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let mut ignore: libc::sigaction = std::mem::zeroed();
            ignore.sa_sigaction = libc::SIG_IGN;
            libc::sigaction(signal, &ignore, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Makes `command` the leader of a session of its own whose controlling terminal is its stdin
/// (a pseudo-terminal's far end), as a login shell's foreground job.
pub fn terminal_session(command: &mut Command) {
    // SAFETY: runs in the forked child before exec; setsid and ioctl are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A pseudo-terminal: the near end (the tests type on it) and the far end (the command's).
pub fn pseudo_terminal() -> (OwnedFd, OwnedFd) {
    // SAFETY: posix_openpt returns a new descriptor or -1; grantpt, unlockpt and ptsname_r take
    // it and a buffer of the length given; open gets a NUL-terminated path from ptsname_r.
    unsafe {
        let near = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(near >= 0, "posix_openpt: {}", io::Error::last_os_error());
        let near = OwnedFd::from_raw_fd(near);
        assert_eq!(libc::grantpt(near.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(near.as_raw_fd()), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(near.as_raw_fd(), name.as_mut_ptr(), name.len()), 0);
        let far = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(far >= 0, "open {:?}: {}", CStr::from_ptr(name.as_ptr()), io::Error::last_os_error());
        (near, OwnedFd::from_raw_fd(far))
    }
}

/// A handle on a process (any, not only a child) that becomes readable when it ends.
pub struct ProcessHandle(OwnedFd);

impl ProcessHandle {
    /// `None` when the process is gone already.
    pub fn open(pid: u32) -> Option<Self> {
        let pid = libc::pid_t::try_from(pid).expect("a pid");
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new descriptor that nothing else owns.
        Some(Self(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
    }

    /// Waits until the process ends (a zombie counts), at most `bound`; whether it did.
    pub fn wait_gone(&self, bound: Duration) -> bool {
        let mut poll = libc::pollfd { fd: self.0.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = libc::c_int::try_from(bound.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one initialised pollfd.
        unsafe { libc::poll(&mut poll, 1, millis) == 1 }
    }
}
