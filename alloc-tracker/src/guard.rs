//! The re-entrancy guard and the per-thread counters behind [`crate::measure`].
//!
//! Both live in one const-initialised thread-local without a destructor ([`ThreadState`]), so they
//! are reachable for the whole life of a thread, including while its other thread-locals are being
//! destroyed (an allocation in a TLS destructor is tracked like any other), and reaching them never
//! allocates. While a thread holds a [`Guard`], every allocation it makes is the tracker's own:
//! `Tracked` forwards it to the inner allocator untracked and counts it as overhead.

use core::cell::Cell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::sample::Sampler;
use crate::slots::BATCH;

/// A counter written only by its own thread and read by others (sampled mode's `stats()` sums
/// them, `slots.rs`): a relaxed atomic, so that the reads are no data race, used like a `Cell`
/// (a plain load and store, no locked instruction).
pub(crate) struct Own<T>(T);

impl Own<AtomicU64> {
    const fn new(v: u64) -> Self {
        Own(AtomicU64::new(v))
    }
    #[inline(always)]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
    #[inline(always)]
    pub(crate) fn set(&self, v: u64) {
        self.0.store(v, Relaxed)
    }
}

impl Own<AtomicI64> {
    const fn new(v: i64) -> Self {
        Own(AtomicI64::new(v))
    }
    #[inline(always)]
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
    #[inline(always)]
    pub(crate) fn set(&self, v: i64) {
        self.0.store(v, Relaxed)
    }
    fn replace(&self, v: i64) -> i64 {
        self.0.swap(v, Relaxed)
    }
}

/// One thread's tracker state.
///
/// Invariants:
/// 1. `flags` has [`BUSY`] exactly while a [`Guard`] of this thread is alive.
/// 2. `allocated_bytes - freed_bytes == net` (in wrapping `i64` arithmetic) and `peak_net >= net`
///    since the last [`ThreadState::reset_peak`].
/// 3. Sampled mode (`slots.rs`): `flags` has [`READY`] exactly while the thread is in the registry of threads
///    whose counters `stats()` sums; `net - flushed` is the part of the thread's live bytes not
///    yet in the global figure, within ±`slots::BATCH`.
pub(crate) struct ThreadState {
    /// [`BUSY`] and [`READY`], in one byte so that sampled mode's fast path tells both with one
    /// compare ([`Ready::get`]).
    flags: Cell<u8>,
    /// Inside a block-map operation (whose own frees must not touch the map again).
    map_busy: Cell<bool>,
    /// A reachability scan asked this thread to stop while it was inside the tracker: it stops
    /// when it leaves (see `scan/world.rs`).
    stop_pending: Cell<bool>,
    pub(crate) allocated_bytes: Own<AtomicU64>,
    pub(crate) allocations: Own<AtomicU64>,
    pub(crate) freed_bytes: Own<AtomicU64>,
    pub(crate) frees: Own<AtomicU64>,
    pub(crate) net: Own<AtomicI64>,
    pub(crate) peak_net: Own<AtomicI64>,
    /// The address of this thread's last allocation, until it is freed or another is made (0:
    /// none), a free of which is a temporary (see `table::Callsite::temporaries`). Kept
    /// bit-inverted: the reachability scan reads this thread-local as a root, and must not take
    /// it for a pointer that keeps the block alive (a leaked last block would look reachable).
    last_alloc: Cell<usize>,
    /// Sampled mode's countdown to this thread's next sample point (see `sample.rs`).
    sampler: Sampler,
    /// Sampled mode: this thread's entry in the registry (`slots.rs`).
    pub(crate) entry: Cell<u32>,
    /// Sampled mode: the part of `net` already added to the global live bytes.
    flushed: Own<AtomicI64>,
    /// `flushed ± slots::BATCH`: the bounds of `net` past which the fast path flushes (one
    /// compare instead of the batch's arithmetic; an allocation can only pass the upper one and a
    /// free the lower one, since nothing else moves `net - flushed`; a realloc checks both).
    flush_hi: Cell<i64>,
    flush_lo: Cell<i64>,
    /// Sampled mode's fast path: reallocs this thread made.
    pub(crate) reallocs: Own<AtomicU64>,
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            flags: Cell::new(0),
            map_busy: Cell::new(false),
            stop_pending: Cell::new(false),
            allocated_bytes: Own::<AtomicU64>::new(0),
            allocations: Own::<AtomicU64>::new(0),
            freed_bytes: Own::<AtomicU64>::new(0),
            frees: Own::<AtomicU64>::new(0),
            net: Own::<AtomicI64>::new(0),
            peak_net: Own::<AtomicI64>::new(0),
            last_alloc: Cell::new(0),
            sampler: Sampler::new(),
            entry: Cell::new(0),
            flushed: Own::<AtomicI64>::new(0),
            flush_hi: Cell::new(BATCH),
            flush_lo: Cell::new(-BATCH),
            reallocs: Own::<AtomicU64>::new(0),
        }
    };
}

/// In [`ThreadState::flags`]: the thread is inside the tracker (holds a [`Guard`]).
const BUSY: u8 = 1;
/// In [`ThreadState::flags`]: sampled mode registered the thread (`slots.rs`); its operations take
/// the fast path while it is not [`BUSY`] and no budget is set.
const READY: u8 = 2;

/// The per-thread counters at one moment (see [`ThreadState`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ThreadCounters {
    pub allocated_bytes: u64,
    pub allocations: u64,
    pub freed_bytes: u64,
    pub frees: u64,
    pub net: i64,
    pub peak_net: i64,
}

impl ThreadState {
    /// Sampled mode: whether the thread is in the registry (`slots.rs`).
    #[inline(always)]
    pub(crate) fn ready(&self) -> bool {
        self.flags.get() & READY != 0
    }

    /// Sampled mode: the thread entered (true) or left (false) the registry (`slots.rs`).
    pub(crate) fn set_ready(&self, ready: bool) {
        let f = self.flags.get() & !READY;
        self.flags.set(if ready { f | READY } else { f });
    }

    /// Sampled mode: the part of `net` already in the global live bytes (`slots.rs`).
    #[inline(always)]
    pub(crate) fn flushed(&self) -> i64 {
        self.flushed.get()
    }

    /// Sets [`ThreadState::flushed`] and the bounds the fast path checks against it.
    #[inline]
    pub(crate) fn set_flushed(&self, flushed: i64) {
        self.flushed.set(flushed);
        self.flush_hi.set(flushed.saturating_add(BATCH));
        self.flush_lo.set(flushed.saturating_sub(BATCH));
    }

    /// After an allocation that left `net`: whether the batch is still within its bound.
    #[inline(always)]
    pub(crate) fn below_flush(&self, net: i64) -> bool {
        net <= self.flush_hi.get()
    }

    /// After a free that left `net`: whether the batch is still within its bound.
    #[inline(always)]
    pub(crate) fn above_flush(&self, net: i64) -> bool {
        net >= self.flush_lo.get()
    }

    /// Sets [`BUSY`]; whether it was clear.
    #[inline(always)]
    fn take_busy(&self) -> bool {
        let f = self.flags.get();
        self.flags.set(f | BUSY);
        f & BUSY == 0
    }

    #[inline(always)]
    fn clear_busy(&self) {
        self.flags.set(self.flags.get() & !BUSY);
    }

    /// Counts a block of `size` bytes at `addr` this thread allocated.
    #[inline]
    pub(crate) fn note_alloc(&self, addr: usize, size: usize) {
        self.last_alloc.set(!addr);
        self.count_alloc(size);
    }

    /// [`ThreadState::note_alloc`] without the temporaries' note (sampled mode counts none); the
    /// thread's net live bytes after it.
    #[inline(always)]
    pub(crate) fn count_alloc(&self, size: usize) -> i64 {
        self.allocated_bytes
            .set(self.allocated_bytes.get().wrapping_add(size as u64));
        self.allocations.set(self.allocations.get().wrapping_add(1));
        let net = self.net.get().wrapping_add(size as i64);
        self.net.set(net);
        if net > self.peak_net.get() {
            self.peak_net.set(net);
        }
        net
    }

    /// Counts a block of `size` bytes at `addr` this thread freed (`addr` 0: a realloc's old
    /// block); whether it was a temporary, this thread's last allocation.
    #[inline]
    pub(crate) fn note_free(&self, addr: usize, size: usize) -> bool {
        self.count_free(size);
        let temporary = addr != 0 && self.last_alloc.get() == !addr;
        if temporary {
            self.last_alloc.set(0);
        }
        temporary
    }

    /// [`ThreadState::note_free`] without the temporaries' note; the thread's net live bytes
    /// after it.
    #[inline(always)]
    pub(crate) fn count_free(&self, size: usize) -> i64 {
        self.freed_bytes
            .set(self.freed_bytes.get().wrapping_add(size as u64));
        self.frees.set(self.frees.get().wrapping_add(1));
        let net = self.net.get().wrapping_sub(size as i64);
        self.net.set(net);
        net
    }

    /// Sampled mode: whether this thread's block of `size` bytes is sampled, at a mean of `rate`
    /// bytes between samples (a subtract and a branch, but once per sample point).
    #[inline]
    pub(crate) fn sampled(&self, size: usize, rate: u64) -> bool {
        self.sampler.take(size, rate)
    }

    /// Sampled mode's fast path: [`ThreadState::sampled`] at the configured rate.
    #[inline]
    pub(crate) fn sampled_configured(&self, size: usize) -> bool {
        self.sampler.take_configured(size)
    }

    /// Sampled mode's countdown to the next sample point (`sample.rs`).
    #[inline(always)]
    pub(crate) fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    fn counters(&self) -> ThreadCounters {
        ThreadCounters {
            allocated_bytes: self.allocated_bytes.get(),
            allocations: self.allocations.get(),
            freed_bytes: self.freed_bytes.get(),
            frees: self.frees.get(),
            net: self.net.get(),
            peak_net: self.peak_net.get(),
        }
    }
}

/// This thread's counters.
pub(crate) fn thread_counters() -> ThreadCounters {
    STATE.try_with(ThreadState::counters).unwrap_or_default()
}

/// Runs `f` on this thread's state (sampled mode's fast path and registry, `fast.rs` and
/// `slots.rs`, which take no guard for an unsampled block); `None` if the state is gone. `f`
/// must not allocate or free unless it takes the guard.
#[inline(always)]
pub(crate) fn with_state<R>(f: impl FnOnce(&ThreadState) -> R) -> Option<R> {
    STATE.try_with(f).ok()
}

/// Restarts this thread's peak at its current net and returns the previous peak.
pub(crate) fn reset_peak() -> i64 {
    STATE
        .try_with(|s| s.peak_net.replace(s.net.get()))
        .unwrap_or(0)
}

/// Sets this thread's peak to `max(peak, current peak)` (restores an outer `measure`'s peak).
pub(crate) fn merge_peak(peak: i64) {
    let _ = STATE.try_with(|s| s.peak_net.set(s.peak_net.get().max(peak)));
}

/// Runs the block-map operation `f`, marking this thread as inside the map meanwhile.
#[inline]
pub(crate) fn in_map<R>(f: impl FnOnce() -> R) -> R {
    let _ = STATE.try_with(|s| s.map_busy.set(true));
    let r = f();
    let _ = STATE.try_with(|s| s.map_busy.set(false));
    r
}

/// Whether this thread is inside a block-map operation (see [`in_map`]).
#[inline]
pub(crate) fn map_busy() -> bool {
    STATE.try_with(|s| s.map_busy.get()).unwrap_or(true)
}

/// Proof that the current thread is inside the tracker; dropping it leaves.
///
/// Not `Send`: it refers to the current thread's [`ThreadState`].
pub(crate) struct Guard {
    state: *const ThreadState,
    _not_send: PhantomData<*const ()>,
}

impl Guard {
    /// Enters the tracker, or `None` if this thread is already inside it (a re-entrant call: the
    /// allocation is the tracker's own).
    #[inline]
    pub(crate) fn enter() -> Option<Guard> {
        STATE
            .try_with(|s| {
                // `then`, not `then_some`: a `Guard` built and dropped would clear `BUSY`.
                s.take_busy().then(|| Guard {
                    state: s,
                    _not_send: PhantomData,
                })
            })
            .ok()
            .flatten()
    }

    /// The current thread's state.
    #[inline]
    pub(crate) fn thread(&self) -> &ThreadState {
        // SAFETY: `state` points at this thread's `STATE`, a const thread-local without destructor
        // whose storage lives as long as the thread; the guard is `!Send` and never outlives the
        // call that made it, so the pointer is valid and only used on its own thread.
        unsafe { &*self.state }
    }
}

/// Sampled mode's fast path: proof that the current thread is in the registry and not inside
/// the tracker (`ThreadState::flags` is exactly [`READY`]: one load and one compare). Unlike a
/// [`Guard`] it marks nothing. An unsampled operation only counts in this thread's cells: it
/// allocates nothing and takes no lock, so nothing re-enters meanwhile; what does allocate or
/// lock (a sample point, a probe of the block map) takes the guard first, out of line.
///
/// Not `Send`: it refers to the current thread's [`ThreadState`].
pub(crate) struct Ready {
    state: *const ThreadState,
    _not_send: PhantomData<*const ()>,
}

impl Ready {
    /// The current thread, if it is ready.
    #[inline(always)]
    pub(crate) fn get() -> Option<Ready> {
        STATE
            .try_with(|s| {
                (s.flags.get() == READY).then_some(Ready {
                    state: s,
                    _not_send: PhantomData,
                })
            })
            .ok()
            .flatten()
    }

    /// The current thread's state.
    #[inline(always)]
    pub(crate) fn thread(&self) -> &ThreadState {
        // SAFETY: as for `Guard::thread`: `state` points at this thread's `STATE` (const, no
        // destructor, lives as long as the thread), and `Ready` is `!Send` and never outlives
        // the call that made it.
        unsafe { &*self.state }
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        let state = self.thread();
        state.clear_busy();
        // The scan's signal handler runs on this thread: it must see `BUSY` cleared before this
        // reads `stop_pending`, or it would defer a stop that nobody then makes.
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        if state.stop_pending.get() {
            state.stop_pending.set(false);
            stop_now();
        }
    }
}

/// The scan's `park` (registered by `scan/world.rs` when it installs its signal handler: the hot
/// path does not depend on the scan's module).
static PARK: core::sync::atomic::AtomicPtr<()> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// Registers the function a thread calls when it leaves the tracker with a stop pending.
pub(crate) fn set_park_hook(park: fn()) {
    PARK.store(park as *mut (), core::sync::atomic::Ordering::SeqCst);
}

#[cold]
#[inline(never)]
fn stop_now() {
    let park = PARK.load(core::sync::atomic::Ordering::SeqCst);
    if !park.is_null() {
        // SAFETY: only `set_park_hook` stores here, and it stores a `fn()`.
        let park: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(park) };
        park();
    }
}

/// Marks this thread as inside the tracker while it forks (from the block map's prepare handler,
/// before it takes the shard locks): a reachability scan's signal arriving meanwhile then waits
/// for the fork to finish instead of stopping the thread with shard locks held, which the scan
/// would wait for forever. True if this call set the mark (it was not already inside).
pub(crate) fn hold_for_fork() -> bool {
    STATE.try_with(ThreadState::take_busy).unwrap_or(false)
}

/// Undoes [`hold_for_fork`] (when it returned true), after the locks are released. In the parent
/// a stop deferred meanwhile is made now; in the child, which has no scan, it is dropped.
pub(crate) fn release_after_fork(took: bool, child: bool) {
    if !took {
        return;
    }
    let pending = STATE
        .try_with(|s| {
            s.clear_busy();
            core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
            s.stop_pending.replace(false)
        })
        .unwrap_or(false);
    if pending && !child {
        stop_now();
    }
}

/// Called by the scan's signal handler on this thread: if the thread is inside the tracker, the
/// stop is deferred until it leaves (true); otherwise the caller stops it now (false).
pub(crate) fn defer_stop() -> bool {
    STATE
        .try_with(|s| {
            if s.flags.get() & BUSY != 0 {
                s.stop_pending.set(true);
                true
            } else {
                false
            }
        })
        .unwrap_or(false)
}

/// Runs `f` with the guard held if this thread can take it (`None` if it is already inside).
pub(crate) fn with_guard<R>(f: impl FnOnce(&Guard) -> R) -> Option<R> {
    let guard = Guard::enter()?;
    Some(f(&guard))
}

/// The signal that stops threads for a reachability scan (`scan/world.rs`): the third highest
/// real-time signal (glibc keeps the lowest ones). Here, below the scan, so that the tracker's
/// own thread (`lifetimes.rs`) can leave it unblocked without depending on the scan.
pub(crate) fn stop_signal() -> libc::c_int {
    libc::SIGRTMAX() - 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_enter_leaves_the_guard_held() {
        let outer = Guard::enter().expect("this thread is not inside the tracker");
        // A second enter is refused and must not clear `BUSY` (a `Guard` built and dropped by the
        // refusal did, and the third enter then succeeded).
        assert!(Guard::enter().is_none());
        assert!(Guard::enter().is_none());
        assert!(Ready::get().is_none(), "a busy thread takes no ready path");
        assert!(with_state(|s| s.flags.get() & BUSY != 0).unwrap());
        drop(outer);
        assert!(with_state(|s| s.flags.get() & BUSY == 0).unwrap());
        assert!(Guard::enter().is_some());
    }
}
