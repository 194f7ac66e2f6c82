//! The tracker's lifecycle hooks: the load-time constructors, the first use, `fork`'s handlers and
//! the exit report.
//!
//! The exit report is registered with `atexit`, so it runs at a normal return from `main` and at
//! `std::process::exit` alike, from the exiting thread, while other threads may still run.
//!
//! Registration happens at load time (an `.init_array` entry that `Tracked::new` refers to, so it
//! is always linked) and, as a fallback, on the first recorded allocation; the block map's fork
//! handlers are registered on that first allocation, after the inner allocator's own (see
//! [`first_use`]). The handler takes the guard, renders the report into the tracker's own memory,
//! writes it with `write(2)` (never std's stderr lock, which a still-running thread might hold),
//! then applies `leak_exit_code`.
//! It reads only atomics and the lock-free callsite list, never the block map's shards, so a thread
//! stopped inside a shard cannot block it.
//!
//! **Forked children stay quiet.** Only the process that loaded the program reports: a child of
//! `fork` that exits normally (its copy of the atexit handler runs) prints no report, runs no
//! reachability scan and never applies `leak_exit_code`. Every block it inherited is the
//! parent's, and the block map records no allocation time that would tell the child's own blocks
//! apart, so any report from the child would claim the parent's heap (and the parent reports it
//! anyway). A child is recognised by its pid differing from the one recorded when the tracker
//! registered (at load): unlike a flag set by a `pthread_atfork` child handler, this also holds for
//! children forked before the tracker's fork handlers are registered (at its first allocation, see
//! [`ensure_registered`]) and for children made by a raw `clone` that runs no handlers.
//! [`crate::write_report`] and [`crate::leak_check`] called in a child still work, and list the
//! inherited blocks.

use core::ffi::{c_char, c_int};
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};

use crate::config::{self, ReportTo};
use crate::guard::Guard;
use crate::output;
use crate::report;

/// The type of the load-time hook (glibc passes `argc, argv, envp` to `.init_array` entries).
pub(crate) type InitHook = extern "C" fn(c_int, *const *const c_char, *const *const c_char);

extern "C" fn on_load(_: c_int, _: *const *const c_char, _: *const *const c_char) {
    register();
}

/// Runs [`on_load`] when the program is loaded, before `main`.
#[used]
#[cfg_attr(target_os = "linux", unsafe(link_section = ".init_array"))]
pub(crate) static INIT_HOOK: InitHook = on_load;

static REGISTERED: AtomicBool = AtomicBool::new(false);
/// Set by the first allocation through a `Tracked` allocator: a program that links this crate
/// (for `measure`, say) without installing `Tracked` prints no report.
static USED: AtomicBool = AtomicBool::new(false);
static REPORTED: AtomicBool = AtomicBool::new(false);
/// The process that registered the exit handler: the only one that reports (see the module docs).
static OWNER_PID: AtomicI32 = AtomicI32::new(0);

/// Marks the tracker as in use and registers the exit and fork handlers (once). Called by the
/// first recorded allocation, after the inner allocator served it.
#[inline]
pub(crate) fn ensure_registered(guard: &Guard) {
    if !USED.load(Relaxed) {
        first_use(guard);
    }
}

/// The first allocation through a `Tracked` allocator. The inner allocator has just served it, so
/// it has initialised, and registered any fork handlers it has (jemalloc does so in its
/// initialisation): the tracker's, registered now, come after them whatever the link order, as
/// [`register_fork_handlers`] requires.
#[cold]
#[inline(never)]
fn first_use(guard: &Guard) {
    USED.store(true, Relaxed);
    register();
    let cfg = config::get(guard);
    // Exact tracking stamps blocks with the tracker's millisecond tick (short-lived blocks);
    // sampled mode and `off` count none, so their thread need not wake every millisecond.
    let exact = cfg.sample == 0 && !cfg.off;
    crate::lifetimes::start_thread(exact);
    register_fork_handlers();
    if let Some(every) = cfg.pprof_every {
        crate::profile::start_writer(every);
    }
}

/// Registers the exit handler (once) and notes the process it belongs to.
#[cold]
#[inline(never)]
fn register() {
    if REGISTERED.swap(true, Relaxed) {
        return;
    }
    crate::lifetimes::start(crate::clock::start());
    // SAFETY: `getpid` has no preconditions and cannot fail.
    OWNER_PID.store(unsafe { libc::getpid() }, Relaxed);
    // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds; atexit only stores it (glibc
    // may use its own malloc for that, never Rust's global allocator).
    unsafe {
        libc::atexit(at_exit);
    }
}

/// Whether this process is a child of `fork` (or `clone`) of the process that registered.
fn forked_child() -> bool {
    // SAFETY: `getpid` has no preconditions and cannot fail.
    OWNER_PID.load(Relaxed) != unsafe { libc::getpid() }
}

extern "C" fn at_exit() {
    // Before anything else, and so before the scan and the configuration: a forked child reports
    // nothing and keeps its exit code (see the module docs).
    if forked_child() {
        return;
    }
    let Some(guard) = Guard::enter() else {
        return;
    };
    if !USED.load(Relaxed) || REPORTED.swap(true, Relaxed) {
        return;
    }
    let cfg = config::get(&guard);
    let exports = cfg.pprof.is_some() || cfg.dhat.is_some() || cfg.flamegraph.is_some();
    if cfg.report == ReportTo::Off && cfg.leak_exit_code.is_none() && !exports {
        return;
    }
    let report = report::render(&guard, cfg, "at exit", crate::scan::Start::Exit);
    match &cfg.report {
        ReportTo::Off => {}
        ReportTo::Stderr => output::write_stderr(report.text.as_bytes()),
        ReportTo::Path(path) => {
            if !output::write_file(path, output::Mode::Append, "report", report.text.as_bytes()) {
                output::write_stderr(report.text.as_bytes());
            }
        }
    }
    if exports {
        report::exports::write_at_exit(&guard, cfg);
    }
    if let Some(code) = cfg.leak_exit_code
        && report.failing_blocks > 0
    {
        // SAFETY: flushing C stdio then ending the process; `exit` must not be called again from
        // inside an atexit handler, `_exit` may. Rust's stdout was flushed before `exit` began.
        unsafe {
            libc::fflush(core::ptr::null_mut());
            libc::_exit(code);
        }
    }
    drop(report);
    drop(guard);
}

/// Reads the symbol table before `main` (an ELF constructor) when this process will walk stacks
/// by DWARF (`ALLOC_TRACKER` asks for `unwind=dwarf`, or the build has no frame pointers), so that
/// no allocation has to: the hot path does no I/O. The exit report would read it anyway.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static PRELOAD: extern "C" fn() = preload;

extern "C" fn preload() {
    // Under the guard: the memory taken (the configuration, the tables) is the tracker's own. The
    // configuration is the one every allocation reads (its warnings, if any, print now).
    let _ = crate::guard::with_guard(|guard| {
        let cfg = crate::config::get(guard);
        let dwarf = match cfg.unwind {
            crate::config::Unwind::Dwarf => true,
            crate::config::Unwind::Auto | crate::config::Unwind::Fp => {
                !crate::capture::FRAME_POINTERS
            }
        };
        if dwarf && !cfg.off {
            crate::entry::boundaries();
        }
    });
}

/// Whether [`before_fork`] marked the forking thread as inside the tracker (written and read only
/// while every shard's lock is held, so by the one forking thread).
static FORK_HELD_GUARD: AtomicBool = AtomicBool::new(false);

/// `fork`'s prepare handler: takes the block map's locks ([`crate::blockmap::lock_for_fork`]) and
/// sampled mode's registry lock (`slots.rs`; never held across an allocation).
///
/// The thread is marked as inside the tracker first (`guard::hold_for_fork`): a reachability
/// scan's signal must not stop it while it holds shard locks (see `scan/world.rs`).
extern "C" fn before_fork() {
    let took = crate::guard::hold_for_fork();
    crate::blockmap::lock_for_fork();
    crate::slots::lock_for_fork();
    FORK_HELD_GUARD.store(took, Relaxed);
}

/// Releases what [`before_fork`] took, in the parent and in the child.
fn after_fork(child: bool) {
    let took = FORK_HELD_GUARD.load(Relaxed);
    crate::slots::unlock_after_fork();
    crate::blockmap::unlock_after_fork();
    crate::guard::release_after_fork(took, child);
}

extern "C" fn after_fork_parent() {
    after_fork(false);
}

extern "C" fn after_fork_child() {
    after_fork(true);
}

/// Registers [`before_fork`] and [`after_fork`] with `pthread_atfork`, once. Called on the first
/// allocation through a `Tracked` allocator, after the inner allocator served it ([`first_use`]).
///
/// Order matters. `pthread_atfork` runs prepare handlers in *reverse* order of registration and
/// the parent and child handlers in order of registration (POSIX; glibc's `__run_fork_handlers`).
/// A thread that holds a shard lock may be inside the inner allocator (tables grow and shrink
/// under the lock), waiting for one of the inner allocator's locks; an allocator such as jemalloc
/// takes all of those in a prepare handler of its own (`jemalloc_prefork`). If that ran first, our
/// [`before_fork`] would wait for the shard forever: a deadlock. So ours must be registered
/// *after* the inner allocator's, to take the tracker's locks before it takes its own, and release
/// them after it released its own. jemalloc registers its handlers when it initialises, from a
/// constructor or its first allocation, and whether its constructor ran before the tracker's
/// load-time hook depended on link order; the first allocation the inner allocator has served
/// comes after its initialisation whatever the link order. (glibc's own malloc needs no handler:
/// `fork` takes its locks after every prepare handler has run.)
fn register_fork_handlers() {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    if REGISTERED.swap(true, Relaxed) {
        return;
    }
    // SAFETY: the handlers are `extern "C"` functions that never unwind (locking recovers from
    // poisoning) and allocate nothing.
    unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_parent),
            Some(after_fork_child),
        )
    };
}
