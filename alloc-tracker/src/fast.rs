//! Sampled mode's fast path: what `Tracked` does for an allocation, free or realloc once sampled
//! mode has recorded its first block and while no budget is set (`counters::sampled_fast`).
//!
//! Two entries:
//! - **The ready path** (`*_ready`), taken first by every `Tracked` method: the thread is in
//!   the registry and not inside the tracker ([`ready`]: one thread-local byte and the budget's
//!   word). It takes no guard: an unsampled block only counts in the thread's own cells, which
//!   allocates nothing and takes no lock. Kept small so that it inlines into the `__rust_alloc`
//!   shims with `Tracked`'s slow path out of line: on `churn` sampled mode went from 1.58× to
//!   1.40× `aligned`'s instructions (`benches/RESULTS.md` section 13).
//! - **Under the guard** (the rest), from `Tracked`'s slow path: a thread not registered yet,
//!   or one already inside the tracker's bookkeeping.
//!
//! An unsampled block takes no lock and no locked instruction: the thread's `measure` counters,
//! which are also its share of `stats()` (`slots.rs`: totals summed over threads, live bytes
//! batched), its countdown (`sample.rs`) and, for a free, one load of the filter. Then one
//! branch: the rest (a sample point, a free the filter lets through, a batch to flush, a thread
//! not registered yet) is out of line, and enters the guard before it records anything.

use crate::blockmap::Removed;
use crate::config;
use crate::counters;
use crate::guard::{Guard, Ready, ThreadState};
use crate::record;
use crate::sample;
use crate::slots;

/// The current thread if its operation takes the ready path: sampled mode's fast path is on (no
/// budget is set) and the thread is registered and not inside the tracker.
#[inline(always)]
pub(crate) fn ready() -> Option<Ready> {
    let r = Ready::get()?;
    counters::sampled_fast().then_some(r)
}

/// A registered thread's allocation of `size` bytes, counted: true if an event must follow (a
/// sample point may fall in the block, or the batch passed its bound).
#[inline(always)]
fn count_alloc(t: &ThreadState, size: usize) -> bool {
    let net = t.count_alloc(size);
    match t.sampler().left_after(size) {
        Some(left) if t.below_flush(net) => {
            t.sampler().set_left(left);
            false
        }
        _ => true,
    }
}

/// A registered thread's free of `size` bytes at `addr`, counted: true if an event must come
/// before the inner allocator gets the block (the filter lets it through, or the batch passed
/// its bound).
#[inline(always)]
fn count_free(t: &ThreadState, addr: usize, size: usize) -> bool {
    let net = t.count_free(size);
    sample::maybe_sampled(addr) || !t.above_flush(net)
}

/// A registered thread's realloc from `old_size` to `new_size` bytes, counted: true if an event
/// must follow, as for [`count_alloc`].
#[inline(always)]
fn count_realloc(t: &ThreadState, old_size: usize, new_size: usize) -> bool {
    t.reallocs.set(t.reallocs.get().wrapping_add(1));
    // A realloc frees no temporary: the block lives on at its new address.
    t.count_free(old_size);
    let net = t.count_alloc(new_size);
    match t.sampler().left_after(new_size) {
        // A realloc that shrinks lowers `net`: both bounds.
        Some(left) if t.below_flush(net) && t.above_flush(net) => {
            t.sampler().set_left(left);
            false
        }
        _ => true,
    }
}

/// The ready path's [`allocated`]: a block of `size` bytes at `ptr` (not null).
#[inline(always)]
pub(crate) fn allocated_ready(r: &Ready, ptr: *mut u8, size: usize) {
    if count_alloc(r.thread(), size) {
        event_ready(ptr as usize, size);
    }
}

/// The ready path's [`freeing`]: the block of `size` bytes at `addr` is about to be handed back.
/// True if [`free_event_ready`] must run before it is: the caller makes that call out of line
/// with its own, so that the common case ends in a tail call of the inner `dealloc`.
#[inline(always)]
pub(crate) fn freeing_ready(r: &Ready, addr: usize, size: usize) -> bool {
    count_free(r.thread(), addr, size)
}

/// The ready path's [`reallocated`], for an old block the filter proved unsampled: it moved
/// from `old_size` bytes to `new_size` bytes at `new` (not null).
#[inline(always)]
pub(crate) fn reallocated_ready(r: &Ready, new: *mut u8, old_size: usize, new_size: usize) {
    if count_realloc(r.thread(), old_size, new_size) {
        event_ready(new as usize, new_size);
    }
}

/// [`alloc_event`] from the ready path, which holds no guard: takes it. (It cannot be taken
/// already: the thread was ready, so not inside the tracker, and nothing since entered it.)
#[cold]
#[inline(never)]
fn event_ready(addr: usize, size: usize) {
    if let Some(guard) = Guard::enter() {
        alloc_event(&guard, addr, size, None);
    }
}

/// [`free_event`] from the ready path, under the guard it takes (see [`event_ready`]).
#[inline]
pub(crate) fn free_event_ready(addr: usize) {
    if let Some(guard) = Guard::enter() {
        free_event(guard.thread(), addr);
    }
}

/// A block of `size` bytes at `ptr` that the inner allocator just returned (not null).
#[inline(always)]
pub(crate) fn allocated(guard: &Guard, ptr: *mut u8, size: usize) {
    let t = guard.thread();
    if !t.ready() {
        return alloc_unready(guard, ptr as usize, size);
    }
    if count_alloc(t, size) {
        alloc_event(guard, ptr as usize, size, None);
    }
}

/// The block of `size` bytes at `addr` is about to be handed back to the inner allocator (called
/// under the guard, with this thread's state).
#[inline(always)]
pub(crate) fn freeing(t: &ThreadState, addr: usize, size: usize) {
    if !t.ready() {
        return free_unready(t, addr, size);
    }
    if count_free(t, addr, size) {
        free_event(t, addr);
    }
}

/// Before a realloc of `ptr`: the old block if it was sampled (taken out of the map and its
/// callsite); registers the thread if it is not yet.
#[inline(always)]
pub(crate) fn realloc_begin(guard: &Guard, ptr: *mut u8) -> Option<Removed> {
    let t = guard.thread();
    if !t.ready() {
        slots::registered(t);
    }
    if sample::maybe_sampled(ptr as usize) {
        return take_old(guard, ptr as usize);
    }
    None
}

/// The inner realloc failed: a sampled old block goes back as it was.
#[cold]
#[inline(never)]
pub(crate) fn realloc_failed(ptr: *mut u8, old: Option<Removed>) {
    if old.is_some() {
        record::restore(ptr, old);
    }
}

/// The inner realloc moved `old_size` bytes to `new_size` bytes at `new` (not null); `old` is
/// what [`realloc_begin`] took out.
#[inline(always)]
pub(crate) fn reallocated(
    guard: &Guard,
    new: *mut u8,
    old_size: usize,
    new_size: usize,
    old: Option<Removed>,
) {
    let t = guard.thread();
    if !t.ready() {
        // Outside the registry (full): the global atomics; `measure` still counts.
        counters::block_moved(new_size);
        counters::realloced();
        counters::add_live((new_size as i64).wrapping_sub(old_size as i64));
        t.count_free(old_size);
        t.count_alloc(new_size);
        if t.sampled_configured(new_size) {
            sample_alloc(guard, new as usize, new_size, old);
        }
        return;
    }
    if count_realloc(t, old_size, new_size) {
        alloc_event(guard, new as usize, new_size, old);
    }
}

/// After a counted allocation (or realloc, from `old`): the batch passed its bound, or a sample
/// point may fall in the block.
#[cold]
#[inline(never)]
fn alloc_event(guard: &Guard, addr: usize, size: usize, old: Option<Removed>) {
    let t = guard.thread();
    if t.sampled_configured(size) {
        sample_alloc(guard, addr, size, old);
    }
    if !slots::within_batch(t.net.get(), t.flushed()) {
        slots::flush(t);
    }
}

/// A thread not in the registry: registers it, or counts in the global atomics if it cannot be.
#[cold]
#[inline(never)]
fn alloc_unready(guard: &Guard, addr: usize, size: usize) {
    let t = guard.thread();
    if slots::registered(t) {
        t.count_alloc(size);
        return alloc_event(guard, addr, size, None);
    }
    counters::block_added(size);
    counters::add_live(size as i64);
    t.count_alloc(size);
    if t.sampled_configured(size) {
        sample_alloc(guard, addr, size, None);
    }
}

/// The filter lets the free of `addr` through, or the batch passed its bound.
#[cold]
#[inline(never)]
fn free_event(t: &ThreadState, addr: usize) {
    if sample::maybe_sampled(addr) {
        record::probe(addr, sample::rate_or_zero());
    }
    slots::flush(t);
}

/// [`alloc_unready`] for a free.
#[cold]
#[inline(never)]
fn free_unready(t: &ThreadState, addr: usize, size: usize) {
    if slots::registered(t) {
        t.count_free(size);
        return free_event(t, addr);
    }
    counters::block_removed();
    counters::add_live((size as i64).wrapping_neg());
    t.count_free(size);
    if sample::maybe_sampled(addr) {
        record::probe(addr, sample::rate_or_zero());
    }
}

/// A sample point fell in the block at `addr`: record it (attributed as grown from `old`'s
/// callsite for a realloc), then flush this thread's batch.
fn sample_alloc(guard: &Guard, addr: usize, size: usize, old: Option<Removed>) {
    let cfg = config::get(guard);
    if let Some(cs) = record::record_sample(cfg, addr, size)
        && let Some(old) = old
    {
        cs.grew_from(old.cs);
    }
    slots::flush(guard.thread());
}

#[cold]
#[inline(never)]
fn take_old(guard: &Guard, addr: usize) -> Option<Removed> {
    let old = record::probe(addr, sample::rate_or_zero());
    slots::flush(guard.thread());
    old
}
