//! Every system call the command makes through `libc`, each behind a safe function: signal masks
//! and the signalfd, waiting on descriptors, signalling and watching the command, preparing it
//! between `fork` and `exec`, and ending this process by a signal.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::ptr;
use std::time::Duration;

/// A set of signals.
#[derive(Clone, Copy)]
pub struct SignalSet(libc::sigset_t);

impl SignalSet {
    pub fn of(signals: &[i32]) -> Self {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises `set`; sigaddset only writes members of it (an invalid
        // number is refused with EINVAL and leaves it unchanged).
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            for &signal in signals {
                libc::sigaddset(set.as_mut_ptr(), signal);
            }
            Self(set.assume_init())
        }
    }
}

/// Blocks `set` in the calling thread (threads it starts later inherit the mask).
pub fn block(set: &SignalSet) -> io::Result<()> {
    // SAFETY: `set` is an initialised sigset; a null old set is allowed.
    match unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set.0, ptr::null_mut()) } {
        0 => Ok(()),
        error => Err(io::Error::from_raw_os_error(error)),
    }
}

/// Whether `signal` is ignored (`SIG_IGN`), as `nohup` or a shell's background job leave some.
pub fn is_ignored(signal: i32) -> bool {
    let mut current = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null new action only reads the disposition into `current`, which it fully
    // initialises on success.
    unsafe { libc::sigaction(signal, ptr::null(), current.as_mut_ptr()) == 0 && current.assume_init().sa_sigaction == libc::SIG_IGN }
}

/// Gives `signal` its default disposition.
pub fn set_default(signal: i32) -> io::Result<()> {
    // SAFETY: a zeroed sigaction with SIG_DFL is a valid default disposition.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        if libc::sigaction(signal, &default, ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A non-blocking signalfd: the blocked signals of `set`, read one at a time.
pub struct SignalFd(OwnedFd);

/// One signal read from a [`SignalFd`].
#[derive(Clone, Copy, Debug)]
pub struct SignalInfo {
    pub signal: i32,
    /// `si_code`: `SI_KERNEL` for one a terminal generated, `SI_USER` for kill(2), and so on.
    pub code: i32,
}

impl SignalFd {
    pub fn new(set: &SignalSet) -> io::Result<Self> {
        // SAFETY: -1 asks for a new descriptor; `set` is an initialised sigset.
        let fd = unsafe { libc::signalfd(-1, &set.0, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }

    /// The next pending signal, or `None` when there is none.
    pub fn read(&self) -> io::Result<Option<SignalInfo>> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        loop {
            // SAFETY: `info` has room for one record of `size` bytes; the kernel writes whole
            // records only, so a read of `size` bytes initialised all of it.
            let read = unsafe { libc::read(self.0.as_raw_fd(), info.as_mut_ptr().cast(), size) };
            if read == size as isize {
                // SAFETY: fully written, see above.
                let info = unsafe { info.assume_init() };
                return Ok(Some(SignalInfo { signal: info.ssi_signo as i32, code: info.ssi_code }));
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::WouldBlock => return Ok(None),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(error),
            }
        }
    }
}

/// Waits until one of `fds` is readable (or hung up) or `timeout` passes (`None`: no limit);
/// which of them are.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> =
        fds.iter().map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    // Rounded up, so a wait for a moment does not spin at 0 ms.
    let millis = timeout.map_or(-1, |t| libc::c_int::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX));
    loop {
        // SAFETY: `polled` holds `len` initialised pollfd records for the kernel to update.
        let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
        if ready >= 0 {
            return Ok(polled.iter().map(|p| p.revents != 0).collect());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Sends `signal` to process `pid`.
pub fn kill(pid: u32, signal: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: kill(2) has no memory arguments.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether child `pid` has ended, leaving it unreaped (so its pid cannot be reused while this
/// process may still signal it).
pub fn has_exited(pid: u32) -> io::Result<bool> {
    let id = libc::id_t::from(pid);
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    loop {
        // SAFETY: `info` is zeroed, so si_pid reads 0 when no child has changed state (WNOHANG).
        let result = unsafe { libc::waitid(libc::P_PID, id, info.as_mut_ptr(), libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
        if result == 0 {
            // SAFETY: initialised (zeroed, then possibly filled in by the kernel).
            return Ok(unsafe { info.assume_init_ref().si_pid() } != 0);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// A second descriptor for the open file description behind `fd` (close-on-exec).
///
/// `fd` must stay open for the duration of the call (the caller's handle owns it).
pub fn duplicate(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: the caller's handle keeps `fd` open while it is borrowed here.
    unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
}

/// What the command's process does between `fork` and `exec`.
pub struct ChildSetup {
    /// A descriptor to leave open across `exec` (its close-on-exec flag cleared).
    pub keep_open: Option<RawFd>,
    /// Ask for `SIGKILL` when this process (pid given) dies, and die at once if it already has.
    pub die_with: Option<u32>,
}

/// Makes `command` run `setup` in its process before `exec`, then clear the signal mask (the
/// caller blocks signals; the command starts with none blocked, whatever the runtime does).
pub fn prepare(command: &mut Command, setup: ChildSetup) {
    let ChildSetup { keep_open, die_with } = setup;
    let parent = die_with.and_then(|pid| libc::pid_t::try_from(pid).ok());
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe
    // functions (fcntl, prctl, getppid, getpid, kill, sigemptyset, pthread_sigmask on a local
    // set); it allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(move || {
            if let Some(fd) = keep_open {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(parent) = parent {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before the request took effect: then nobody will
                // send the signal, so take it now.
                if libc::getppid() != parent {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
            }
            let mut none = MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(none.as_mut_ptr());
            match libc::pthread_sigmask(libc::SIG_SETMASK, none.as_ptr(), ptr::null_mut()) {
                0 => Ok(()),
                error => Err(io::Error::from_raw_os_error(error)),
            }
        });
    }
}

/// Ends this process by `signal` with its default action, as if it had not been caught; exits
/// with 128 + `signal` if that action does not end it. No core dump: the command's was the one.
pub fn die_by(signal: i32) -> ! {
    let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let set = SignalSet::of(&[signal]);
    let _ = set_default(signal);
    // SAFETY: `none` and `set` are initialised; kill and pthread_sigmask have no other
    // preconditions. The signal is made pending while blocked, then unblocked: it is delivered
    // before pthread_sigmask returns.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        libc::kill(libc::getpid(), signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set.0, ptr::null_mut());
    }
    std::process::exit(128 + signal)
}
