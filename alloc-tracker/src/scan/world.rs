//! Stopping every other thread for the scan, in process, as Boehm's collector does
//! (`GC_stop_world`): each thread gets a signal; its handler publishes the thread's stack pointer
//! and thread pointer, with every register saved on the stack below them, and waits until the
//! scan is over. Stacks, registers and block contents then hold still while they are read.
//!
//! A thread inside the tracker (its guard held: it may be between taking a block out of the map
//! and putting it back, or hold a shard lock) is not stopped there: its handler only sets a flag,
//! and the thread stops itself when it leaves the tracker (`guard.rs` calls [`park`] through a
//! hook). So a stopped thread never holds a tracker lock, and the block map it leaves behind is
//! consistent.
//!
//! Threads are listed from `/proc/self/task` with raw system calls. A thread that blocks the
//! signal (jemalloc's background threads block all signals) is not waited for; nor is one that
//! does not answer within [`TIMEOUT_NS`]. Both are counted, and the report says so.
//!
//! Nothing here allocates: a stopped thread may hold the inner allocator's lock.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering::SeqCst};

/// Threads a scan can stop; more are counted as not stopped.
const MAX_THREADS: usize = 4096;
/// How long a scan waits for the threads that got the signal.
const TIMEOUT_NS: u64 = 2_000_000_000;
/// How long a scan waits for a thread that blocks the signal to unblock it.
const BLOCKED_WAIT_NS: u64 = 200_000_000;

const PENDING: u32 = 1;
const STOPPED: u32 = 2;

/// One thread being stopped: written by the scanner (`tid`, `state = PENDING`) before the
/// signal, by the thread itself (`sp`, `tp`, `state = STOPPED`) in [`park`].
struct Slot {
    tid: AtomicI32,
    state: AtomicU32,
    sp: AtomicUsize,
    tp: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot = Slot {
    tid: AtomicI32::new(0),
    state: AtomicU32::new(0),
    sp: AtomicUsize::new(0),
    tp: AtomicUsize::new(0),
};
static SLOTS: [Slot; MAX_THREADS] = [EMPTY_SLOT; MAX_THREADS];
static USED: AtomicUsize = AtomicUsize::new(0);
/// A scan is stopping threads.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Bumped when the threads may go on; they wait for it to change (a futex word).
static GENERATION: AtomicU32 = AtomicU32::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The signal used (see [`crate::guard::stop_signal`]).
fn signal() -> libc::c_int {
    crate::guard::stop_signal()
}

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The thread pointer (`%fs` base): glibc keeps the thread's own address at `%fs:0`.
#[inline(always)]
pub(crate) fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: on x86-64 Linux `%fs:0` is the TCB's self pointer, always mapped for a live thread.
    unsafe {
        core::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    tp
}

/// Saves the callee-saved registers into `out` (the caller-saved ones are dead across the call
/// that got here, or saved in a signal frame above it) and returns the stack pointer, so that
/// everything the thread holds lies at or above it.
#[inline(always)]
pub(crate) fn spill(out: &mut [usize; 6]) -> usize {
    let sp: usize;
    // SAFETY: stores six registers into `out`, a valid writable array of six words, and reads
    // `rsp`; changes no register or flag.
    unsafe {
        core::arch::asm!(
            "mov [{o}], rbx",
            "mov [{o} + 8], rbp",
            "mov [{o} + 16], r12",
            "mov [{o} + 24], r13",
            "mov [{o} + 32], r14",
            "mov [{o} + 40], r15",
            "mov {sp}, rsp",
            o = in(reg) out.as_mut_ptr(),
            sp = out(reg) sp,
            options(nostack, preserves_flags)
        );
    }
    sp
}

/// Stops the calling thread if a scan asked it to: publishes its stack and thread pointers and
/// waits until the scan is over. Called from the signal handler, or by a thread leaving the
/// tracker after its handler deferred the stop. Async-signal-safe: atomics and system calls.
pub(crate) fn park() {
    let generation = GENERATION.load(SeqCst);
    if !ACTIVE.load(SeqCst) {
        return;
    }
    let tid = gettid();
    let used = USED.load(SeqCst).min(MAX_THREADS);
    let Some(slot) = SLOTS[..used].iter().find(|s| s.tid.load(SeqCst) == tid) else {
        return;
    };
    let mut regs = [0usize; 6];
    let sp = spill(&mut regs);
    slot.sp.store(sp, SeqCst);
    slot.tp.store(thread_pointer(), SeqCst);
    slot.state.store(STOPPED, SeqCst);
    while GENERATION.load(SeqCst) == generation {
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        // SAFETY: FUTEX_WAIT on a valid, aligned u32 that lives for the whole program, with a
        // valid timeout; it returns at once if the word already changed.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                GENERATION.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                generation,
                &timeout as *const libc::timespec,
            )
        };
    }
    core::hint::black_box(&regs);
}

extern "C" fn on_signal(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut c_void) {
    // SAFETY: errno is this thread's; saved and restored around the handler.
    let errno = unsafe { *libc::__errno_location() };
    if !crate::guard::defer_stop() {
        park();
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Installs the handler (once; it stays: a late signal must never meet the default action,
/// which ends the process) and the guard's hook for deferred stops.
fn install() -> bool {
    if INSTALLED.load(SeqCst) {
        return true;
    }
    crate::guard::set_park_hook(park);
    // SAFETY: a zeroed sigaction is a valid starting value; the handler is an `extern "C"`
    // function of the SA_SIGINFO type that never unwinds; sigfillset blocks other signals while
    // a thread is parked in it.
    let ok = unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigfillset(&mut action.sa_mask);
        libc::sigaction(signal(), &action, core::ptr::null_mut()) == 0
    };
    INSTALLED.store(ok, SeqCst);
    ok
}

/// The other threads, stopped until this is dropped.
pub(crate) struct Stopped {
    /// Threads that blocked the signal, did not answer in time, or were past [`MAX_THREADS`].
    pub not_stopped: usize,
}

impl Stopped {
    /// `(stack pointer, thread pointer)` of every stopped thread.
    pub(crate) fn each(&self, mut f: impl FnMut(usize, usize)) {
        for slot in &SLOTS[..USED.load(SeqCst).min(MAX_THREADS)] {
            if slot.state.load(SeqCst) == STOPPED {
                f(slot.sp.load(SeqCst), slot.tp.load(SeqCst));
            }
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        ACTIVE.store(false, SeqCst);
        for slot in &SLOTS[..USED.load(SeqCst).min(MAX_THREADS)] {
            slot.tid.store(0, SeqCst);
            slot.state.store(0, SeqCst);
        }
        USED.store(0, SeqCst);
        GENERATION.fetch_add(1, SeqCst);
        // SAFETY: FUTEX_WAKE on the same valid u32 the parked threads wait on.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                GENERATION.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                i32::MAX,
            )
        };
    }
}

/// Stops every other thread of the process (see the module docs). Call under the guard.
pub(crate) fn stop_others() -> Stopped {
    let mut stopped = Stopped { not_stopped: 0 };
    if !install() {
        stopped.not_stopped = usize::MAX;
        return stopped;
    }
    let me = gettid();
    ACTIVE.store(true, SeqCst);
    // jemalloc's background threads block every signal; they hold only jemalloc's own memory,
    // no pointer to a program's block: noted once, never waited for.
    let mut allocator_threads = [0i32; 64];
    let mut n_allocator = 0usize;
    // Other threads blocking the signal are usually starting (glibc blocks every signal while it
    // creates a thread, and the new thread's start argument, a block, is held only by it): they
    // are listed again until they unblock it or [`BLOCKED_WAIT_NS`] passes.
    let start = crate::clock::now_ns();
    let mut blocked_now;
    // New threads may appear while the first ones stop (a thread that was being created): list
    // again until a round finds none.
    loop {
        let mut new = 0;
        blocked_now = 0;
        for_each_tid(|tid| {
            let used = USED.load(SeqCst);
            if tid == me
                || SLOTS[..used.min(MAX_THREADS)]
                    .iter()
                    .any(|s| s.tid.load(SeqCst) == tid)
                || allocator_threads[..n_allocator].contains(&tid)
            {
                return;
            }
            let (blocks, allocator_thread) = signal_status(tid);
            if blocks {
                if allocator_thread && n_allocator < allocator_threads.len() {
                    allocator_threads[n_allocator] = tid;
                    n_allocator += 1;
                } else if !allocator_thread {
                    blocked_now += 1;
                }
                return;
            }
            if used >= MAX_THREADS {
                stopped.not_stopped += 1;
                return;
            }
            let slot = &SLOTS[used];
            slot.state.store(PENDING, SeqCst);
            slot.tid.store(tid, SeqCst);
            USED.store(used + 1, SeqCst);
            // SAFETY: tgkill with this process's id, a thread id just listed, and a signal whose
            // handler is installed; a thread that has exited meanwhile gives ESRCH.
            let rc = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, signal()) };
            if rc != 0 {
                slot.state.store(0, SeqCst);
            }
            new += 1;
        });
        if new > 0 {
            wait_for_stops(&mut stopped);
            continue;
        }
        if blocked_now == 0 || crate::clock::now_ns() - start > BLOCKED_WAIT_NS {
            break;
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 200_000,
        };
        // SAFETY: a valid timespec; the remainder is not wanted.
        unsafe { libc::nanosleep(&pause, core::ptr::null_mut()) };
    }
    stopped.not_stopped += blocked_now;
    stopped
}

/// Waits until every signalled thread has stopped or exited, or the timeout passes.
fn wait_for_stops(stopped: &mut Stopped) {
    let start = crate::clock::now_ns();
    loop {
        let mut waiting = 0;
        for slot in &SLOTS[..USED.load(SeqCst).min(MAX_THREADS)] {
            if slot.state.load(SeqCst) != PENDING {
                continue;
            }
            // SAFETY: signal 0 only checks that the thread still exists.
            let alive = unsafe {
                libc::syscall(libc::SYS_tgkill, libc::getpid(), slot.tid.load(SeqCst), 0)
            } == 0;
            if alive {
                waiting += 1;
            } else {
                slot.state.store(0, SeqCst);
            }
        }
        if waiting == 0 {
            return;
        }
        if crate::clock::now_ns() - start > TIMEOUT_NS {
            for slot in &SLOTS[..USED.load(SeqCst).min(MAX_THREADS)] {
                if slot.state.swap(0, SeqCst) == PENDING {
                    stopped.not_stopped += 1;
                }
            }
            return;
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000,
        };
        // SAFETY: a valid timespec; the remainder is not wanted.
        unsafe { libc::nanosleep(&pause, core::ptr::null_mut()) };
    }
}

/// Calls `f` with every thread id of this process, read from `/proc/self/task` by raw system
/// calls into a stack buffer.
fn for_each_tid(mut f: impl FnMut(i32)) {
    // SAFETY: a NUL-terminated path literal; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return;
    }
    let mut buf = [0u64; 512];
    loop {
        // SAFETY: getdents64 writes at most the buffer's size into it.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd,
                buf.as_mut_ptr(),
                core::mem::size_of_val(&buf),
            )
        };
        if n <= 0 {
            break;
        }
        // SAFETY: the kernel wrote `n` bytes of dirent64 records into `buf`.
        let bytes = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        let mut at = 0;
        while at + 19 < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &bytes[at + 19..(at + reclen).min(bytes.len())];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(tid) = parse_decimal(name) {
                f(tid);
            }
            at += reclen;
        }
    }
    // SAFETY: `fd` was opened above.
    unsafe { libc::close(fd) };
}

fn parse_decimal(name: &[u8]) -> Option<i32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    name.iter().try_fold(0i32, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as i32)
    })
}

/// Whether thread `tid` blocks the scan's signal (its `SigBlk` in `/proc/self/task/<tid>/status`),
/// and whether it is one of jemalloc's background threads (its `Name`).
fn signal_status(tid: i32) -> (bool, bool) {
    let mut path = [0u8; 48];
    let prefix = b"/proc/self/task/";
    path[..prefix.len()].copy_from_slice(prefix);
    let mut at = prefix.len();
    let mut digits = [0u8; 12];
    let mut n = 0;
    let mut t = tid;
    loop {
        digits[n] = b'0' + (t % 10) as u8;
        n += 1;
        t /= 10;
        if t == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        path[at] = digits[i];
        at += 1;
    }
    path[at..at + 7].copy_from_slice(b"/status");
    // SAFETY: `path` is NUL-terminated (zero-filled past what was written).
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return (false, false);
    }
    let mut buf = [0u8; 2048];
    // SAFETY: reads at most the buffer's size into it.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: opened above.
    unsafe { libc::close(fd) };
    if n <= 0 {
        return (false, false);
    }
    let text = &buf[..n as usize];
    let allocator_thread = text
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(b"Name:\tjemalloc_bg_thd"));
    let Some(line) = text
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"SigBlk:"))
    else {
        return (false, allocator_thread);
    };
    let mask = line[7..]
        .iter()
        .filter(|b| b.is_ascii_hexdigit())
        .fold(0u64, |m, &b| {
            m << 4 | (b as char).to_digit(16).unwrap_or(0) as u64
        });
    (mask >> (signal() - 1) & 1 == 1, allocator_thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_this_thread_and_parses_ids() {
        let me = gettid();
        let mut seen = false;
        for_each_tid(|t| seen |= t == me);
        assert!(seen);
        assert_eq!(parse_decimal(b"1234"), Some(1234));
        assert_eq!(parse_decimal(b"."), None);
        assert_eq!(signal_status(me), (false, false));
    }
}
