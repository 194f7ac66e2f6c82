//! Sampled mode's per-thread counters: each thread counts its blocks in its own `ThreadState`
//! (the counters behind [`crate::measure`], which it keeps anyway) and batches its change of live
//! bytes there, with plain loads and stores; `stats()` sums the threads of a registry.
//!
//! A locked `add` costs about 20 cycles on this machine's cores, more when two cores share the
//! line. On `churn`, the exact global live bytes (`counters::LIVE`: one `lock xadd` per
//! allocation, one `lock sub` per free) and the per-thread block counters kept beside the
//! `measure` ones made sampled mode 1.9× untracked, against 1.06× for a wrapper with no counter at
//! all (`benches/src/floor.rs`). So in sampled mode:
//!
//! - **Totals and block counts** are the threads' own `measure` counters (bytes and blocks
//!   allocated, blocks freed) and reallocs, summed by [`sums`] over the registry plus what exited
//!   threads left: exact whenever no allocation is in flight, like the global atomics.
//! - **Live bytes** are batched: a thread's live bytes not yet in the global figure are
//!   `net - flushed`; it moves them there ([`crate::counters::add_live`], which raises the peak)
//!   when they pass ±[`BATCH`], at each of its sampled events and when it exits.
//!   `stats().live_bytes` is the global figure plus every registered thread's batch: exact at
//!   rest. The peak is raised from the global figure, so it may be off by up to [`BATCH`] per
//!   running thread (either way; `stats()` raises it to the exact sum it reads), and so may the
//!   budget of `set_limit`: a thread flushes its own batch before it is held to a budget, but
//!   the batches of threads that have not allocated since are not seen.
//!
//! Invariants (with no operation in flight):
//! 1. A thread's counters are in the sums exactly while it is in the registry (`entry` names
//!    its place, `ready` is set); it registers before its first operation in sampled mode, and
//!    leaves when it exits (its exit hook adds its counters to the exited threads' sums and
//!    flushes its batch). A thread that found the registry full, or whose exit hook has run,
//!    counts in the global atomics instead (`entry == NONE`).
//! 2. `counters::LIVE` + Σ (`net - flushed`) over the registry = the exact live bytes. An
//!    operation counted straight into `LIVE` (the slow path: `counters::reserve`/`freed`) adds
//!    the same to `flushed` ([`counted_in_live`]), so it is not counted twice.

use core::ptr;
use core::sync::atomic::Ordering::Release;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::Acquire, Ordering::Relaxed};

use crate::counters;
use crate::guard::{self, Guard, ThreadState};

/// How far a thread's live bytes may drift from the global figure before it flushes them.
/// 64 KiB: on `churn` (alloc and free of 8..4096 bytes in turn) a thread flushes about once per
/// 3 000 operations; the peak's error is at most this per running thread.
pub(crate) const BATCH: i64 = 64 << 10;

/// Threads that can be registered at once; later ones count in the global atomics.
const ENTRIES: usize = 1024;
/// `ThreadState::entry` besides `index + 1`: not registered yet, and never (registry full, or
/// the thread's exit hook has run).
const UNREGISTERED: u32 = 0;
const NONE: u32 = u32::MAX;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicPtr<ThreadState> = AtomicPtr::new(ptr::null_mut());
/// The registered threads' states (null: free).
static REGISTRY: [AtomicPtr<ThreadState>; ENTRIES] = [EMPTY; ENTRIES];
/// Held by [`sums`] while it reads the registered states and by an exiting thread while it
/// leaves, so that no state is read after its thread's storage is gone.
static LOCK: AtomicBool = AtomicBool::new(false);
/// The counters exited threads left (written under [`LOCK`]).
static EXITED_BYTES: AtomicU64 = AtomicU64::new(0);
static EXITED_BLOCKS: AtomicU64 = AtomicU64::new(0);
static EXITED_FREED_BLOCKS: AtomicU64 = AtomicU64::new(0);
static EXITED_REALLOCS: AtomicU64 = AtomicU64::new(0);

/// Whether a thread's batch `net - flushed` is still within ±[`BATCH`].
#[inline(always)]
pub(crate) fn within_batch(net: i64, flushed: i64) -> bool {
    (net.wrapping_sub(flushed).wrapping_add(BATCH) as u64) < 2 * BATCH as u64
}

/// Moves the thread's batch into the global live bytes (nothing for a thread outside the
/// registry: it has no batch).
#[inline]
pub(crate) fn flush(t: &ThreadState) {
    if !t.ready() {
        return;
    }
    let net = t.net.get();
    let pending = net.wrapping_sub(t.flushed());
    if pending != 0 {
        t.set_flushed(net);
        counters::add_live(pending);
    }
}

/// The slow path counted `delta` live bytes straight into the global figure (see invariant 2).
#[inline]
pub(crate) fn counted_in_live(t: &ThreadState, delta: i64) {
    t.set_flushed(t.flushed().wrapping_add(delta));
}

/// Registers the thread if it has never been: true if its counters are in the sums (its
/// operations then count there), false if they must go to the global atomics.
#[inline]
pub(crate) fn registered(t: &ThreadState) -> bool {
    match t.entry.get() {
        UNREGISTERED => register(t),
        NONE => false,
        _ => true,
    }
}

#[cold]
#[inline(never)]
fn register(t: &ThreadState) -> bool {
    // The exit hook's registration may allocate (std's fallback list of thread-local
    // destructors): that allocation is the tracker's own, so the guard is held (or already is).
    let _guard = Guard::enter();
    let me = t as *const ThreadState as *mut ThreadState;
    let found = (0..ENTRIES).find(|&i| {
        REGISTRY[i].load(Relaxed).is_null()
            && REGISTRY[i]
                .compare_exchange(ptr::null_mut(), me, Release, Relaxed)
                .is_ok()
    });
    let Some(i) = found else {
        t.entry.set(NONE);
        return false;
    };
    // Counters start from the thread's history: it made no operation in sampled mode before
    // this one, so what they hold is only what `measure` saw before (none in a program whose
    // first allocation read the configuration). Their batch starts empty.
    t.set_flushed(t.net.get());
    t.entry.set(i as u32 + 1);
    t.set_ready(true);
    // A thread whose thread-locals are already being destroyed cannot register a hook, and its
    // storage would be gone without leaving: it leaves at once and counts in the globals.
    if EXIT_HOOK.try_with(|_| ()).is_err() {
        leave(t);
        return false;
    }
    true
}

/// Takes the thread out of the registry (it is exiting): its counters go to the exited
/// threads' sums, its batch to the global live bytes; later operations count in the globals.
fn leave(t: &ThreadState) {
    let i = t.entry.get().wrapping_sub(1) as usize;
    if i >= ENTRIES {
        return;
    }
    lock();
    EXITED_BYTES.fetch_add(t.allocated_bytes.get(), Relaxed);
    EXITED_BLOCKS.fetch_add(t.allocations.get(), Relaxed);
    EXITED_FREED_BLOCKS.fetch_add(t.frees.get(), Relaxed);
    EXITED_REALLOCS.fetch_add(t.reallocs.get(), Relaxed);
    flush(t);
    REGISTRY[i].store(ptr::null_mut(), Relaxed);
    unlock();
    t.set_ready(false);
    t.entry.set(NONE);
}

fn lock() {
    while LOCK
        .compare_exchange_weak(false, true, Acquire, Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
}

fn unlock() {
    LOCK.store(false, Release);
}

/// `fork`'s prepare handler takes the registry's lock (no other thread holds it then, so a
/// child's `stats()` cannot wait for a thread that is not there).
pub(crate) fn lock_for_fork() {
    lock();
}

/// Releases [`lock_for_fork`]'s lock, in the parent and in the child.
pub(crate) fn unlock_after_fork() {
    unlock();
}

/// Takes the thread out of the registry when it exits (std runs thread-local destructors then).
struct ExitHook;

thread_local! {
    static EXIT_HOOK: ExitHook = const { ExitHook };
}

impl Drop for ExitHook {
    fn drop(&mut self) {
        let _ = guard::with_state(leave);
    }
}

/// Sampled mode's figures summed over the registry and the exited threads.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sums {
    pub total_bytes: u64,
    pub total_blocks: u64,
    pub freed_blocks: u64,
    pub reallocs: u64,
    /// Live bytes in the threads' batches.
    pub pending: i64,
}

/// Sums the registered threads' counters and the exited threads'.
pub(crate) fn sums() -> Sums {
    lock();
    let mut sum = Sums {
        total_bytes: EXITED_BYTES.load(Relaxed),
        total_blocks: EXITED_BLOCKS.load(Relaxed),
        freed_blocks: EXITED_FREED_BLOCKS.load(Relaxed),
        reallocs: EXITED_REALLOCS.load(Relaxed),
        pending: 0,
    };
    for entry in &REGISTRY {
        let p = entry.load(Acquire);
        if p.is_null() {
            continue;
        }
        // SAFETY: a registered state is its thread's `guard::STATE`, whose storage lives until
        // the thread exits; the thread leaves the registry (under the lock held here) before
        // that, in its exit hook. Every field read is an atomic (`guard::Own`).
        let t = unsafe { &*p };
        sum.total_bytes = sum.total_bytes.wrapping_add(t.allocated_bytes.get());
        sum.total_blocks = sum.total_blocks.wrapping_add(t.allocations.get());
        sum.freed_blocks = sum.freed_blocks.wrapping_add(t.frees.get());
        sum.reallocs = sum.reallocs.wrapping_add(t.reallocs.get());
        sum.pending = sum
            .pending
            .wrapping_add(t.net.get().wrapping_sub(t.flushed()));
    }
    unlock();
    sum
}

/// How many threads are registered, and the live bytes their batches hold (for tests).
pub(crate) fn registered_and_pending() -> (usize, i64) {
    lock();
    let mut n = 0;
    let mut pending = 0i64;
    for entry in &REGISTRY {
        let p = entry.load(Acquire);
        if p.is_null() {
            continue;
        }
        // SAFETY: as in `sums`: registered, read under the lock its thread takes to leave.
        let t = unsafe { &*p };
        n += 1;
        pending = pending.wrapping_add(t.net.get().wrapping_sub(t.flushed()));
    }
    unlock();
    (n, pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_stays_within_minus_batch_to_batch() {
        assert!(within_batch(0, 0));
        assert!(within_batch(BATCH - 1, 0));
        assert!(!within_batch(BATCH, 0));
        assert!(within_batch(-BATCH, 0));
        assert!(!within_batch(-BATCH - 1, 0));
        // Relative to what was flushed, in wrapping arithmetic (a thread's net may be negative).
        assert!(within_batch(i64::MIN + 5, i64::MIN));
        assert!(!within_batch(i64::MIN + 5 + BATCH, i64::MIN + 5));
    }
}
