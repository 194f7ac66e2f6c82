//! Heap profiles for fleet profilers: [`heap_profile`] (a gzipped pprof of the heap now, for a
//! service's `/debug/pprof/heap`) and the periodic writer of `pprof_every=<seconds>`.
//!
//! The writer is a thread of the tracker's own (`alloc-tracker-pprof`), started by the first
//! tracked allocation when `pprof_every` is set, like the lifetime clock (`clock.rs`): a raw
//! pthread, whose creation takes no memory from Rust's global allocator. Each period it takes the
//! guard (everything it allocates is the tracker's overhead, and a reachability scan waits for it
//! to finish rather than stop it holding a lock), writes one profile to `pprof=<path>` (`%p` the
//! pid, `%n` the sequence number from 0; the profile at exit takes the next number), and drops
//! the guard before it sleeps. It never waits for a lock while holding one of the hot path's.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::config;
use crate::guard::with_guard;
use crate::output::{self, Mode};
use crate::report::exports;
use crate::snapshot::snapshot;

/// The sequence number the next periodic profile's `%n` takes.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Takes the next sequence number (see the module docs).
pub(crate) fn next_seq() -> u64 {
    SEQ.fetch_add(1, Relaxed)
}

/// The heap now as a gzipped pprof profile (`profile.proto`), as [`crate::Snapshot::write_pprof`]
/// writes it: serve it at `/debug/pprof/heap` for Pyroscope, Parca or `go tool pprof
/// http://host/debug/pprof/heap`. In sampled mode (`ALLOC_TRACKER=sample=<bytes>`) the figures
/// are estimates, and the profile says so (its `period_type` is `space/bytes`, its `period` the
/// mean bytes between samples, as Go's sampled heap profiles).
///
/// What this allocates (the snapshot, symbols, the encoding) is the caller's, except the symbol
/// cache, which is the tracker's.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let kept = std::hint::black_box(vec![0u8; 4096]);
/// let profile = alloc_tracker::heap_profile();
/// assert_eq!(&profile[..2], &[0x1f, 0x8b]); // gzip
/// # drop(kept);
/// ```
pub fn heap_profile() -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a `Vec` cannot fail; an encoding error leaves what was written.
    let _ = snapshot().write_pprof(&mut out);
    out
}

/// Starts the periodic writer (once), every `every` seconds.
#[cold]
pub(crate) fn start_writer(every: u64) {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    if STARTED.swap(every, Relaxed) != 0 {
        return;
    }
    // SAFETY: `attr` is initialised before use and destroyed after; `writer` has the signature
    // pthread_create expects and never returns; the thread is detached, so nothing joins it. Its
    // argument is the period, passed by value in the pointer.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_attr_init(&mut attr) != 0 {
            return;
        }
        // Symbolizing reads DWARF with deep call chains: a main thread's stack size.
        libc::pthread_attr_setstacksize(&mut attr, 8 << 20);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut thread: libc::pthread_t = 0;
        let arg = every as usize as *mut libc::c_void;
        let started = libc::pthread_create(&mut thread, &attr, writer, arg) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if started {
            libc::pthread_setname_np(thread, c"alloc-tracker-pprof".as_ptr());
        }
    }
}

extern "C" fn writer(arg: *mut libc::c_void) -> *mut libc::c_void {
    let every = arg as usize as u64;
    // SAFETY: a signal set on the stack, filled and edited by libc, then installed as this
    // thread's mask; the scan's stop signal stays deliverable.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigdelset(&mut set, crate::guard::stop_signal());
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, core::ptr::null_mut());
    }
    loop {
        let mut ts = libc::timespec {
            tv_sec: every as libc::time_t,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec, also the remainder's: a sleep cut short by the
        // scan's signal goes on for what is left.
        while unsafe { libc::nanosleep(&ts, &mut ts) } != 0 {}
        let _ = with_guard(|guard| {
            let cfg = config::get(guard);
            let Some(path) = &cfg.pprof else { return };
            let snap = exports::filled_snapshot();
            let mut bytes = Vec::new();
            if snap.write_pprof(&mut bytes).is_ok() {
                let path = output::expand_seq(path, next_seq());
                output::write_file(&path, Mode::Replace, "periodic pprof profile", &bytes);
            }
        });
    }
}
