//! The hot path's bookkeeping, called by `Tracked` under the guard: capture, intern, count, map.
//!
//! Non-generic, so one copy serves every `Tracked<A>`; `Tracked`'s own methods stay one screen.
//! Order matters in two places (see `tracked.rs`): a free is recorded *before* the block goes back
//! to the inner allocator, and a realloc forgets the old address before the inner call, because
//! once the inner allocator has the address back another thread may receive it and record it.
//!
//! In sampled mode (`sample.rs`) every block is counted in the global counters, only sampled ones
//! capture a stack, enter the block map and the filter, and add their estimates to a callsite; a
//! free or realloc asks the filter before the map. Each entry point tests the mode once, from the
//! configuration it already reads.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::blockmap::{self, Removed};
use crate::capture;
use crate::config;
use crate::counters;
use crate::guard::Guard;
use crate::sample;
use crate::slots;
use crate::table::{self, Callsite};

/// Interns the current stack, or `None` when `ALLOC_TRACKER=off`.
#[inline]
fn callsite(cfg: &config::Config) -> Option<&'static Callsite> {
    if cfg.off {
        return None;
    }
    Some(capture_callsite(cfg))
}

/// Captures and interns the current stack.
#[inline]
fn capture_callsite(cfg: &config::Config) -> &'static Callsite {
    let mut buf = capture::buf();
    let stack = capture::capture(&mut buf, cfg.capture_depth(), cfg.unwind);
    table::intern(stack)
}

/// Records a new block `ptr` of `size` bytes; `live` is the global figure [`counters::reserve`] left.
#[inline]
pub(crate) fn alloc(guard: &Guard, ptr: *mut u8, size: usize, live: u64) {
    crate::lifecycle::ensure_registered(guard);
    counters::reached(live);
    let cfg = config::get(guard);
    if cfg.sample != 0 {
        return alloc_sampled(guard, cfg, ptr, size);
    }
    match callsite(cfg) {
        Some(cs) => {
            cs.add(size);
            if !blockmap::insert(ptr as usize, size, cs) {
                return untracked(cs, size);
            }
        }
        None => counters::block_added(size),
    }
    guard.thread().note_alloc(ptr as usize, size);
}

/// [`alloc`] in sampled mode's slow path (the first block, or while a budget is set; see
/// `fast.rs` for the rest): the block counts in the thread's counters (`slots.rs`). (The peak
/// was raised before a sampled block's estimates are added, so a copy of the per-callsite peak
/// figures made here may miss that one block; `copy_peak_if_dirty`.)
#[inline]
fn alloc_sampled(guard: &Guard, cfg: &config::Config, ptr: *mut u8, size: usize) {
    let thread = guard.thread();
    if slots::registered(thread) {
        // `counters::reserve` counted it in the global live bytes already.
        slots::counted_in_live(thread, size as i64);
    } else {
        counters::block_added(size);
    }
    if thread.sampled(size, cfg.sample) {
        record_sample(cfg, ptr as usize, size);
    }
    thread.note_alloc(ptr as usize, size);
    counters::engage_sampled();
}

/// A sampled block: its stack, its estimates at the callsite, its place in the map and the
/// filter. If the map cannot hold it, it stays an unsampled block (the globals counted it).
#[cold]
#[inline(never)]
pub(crate) fn record_sample(
    cfg: &config::Config,
    addr: usize,
    size: usize,
) -> Option<&'static Callsite> {
    let cs = capture_callsite(cfg);
    let (bytes, blocks) = sample::estimate(size, cfg.sample);
    counters::copy_peak_if_dirty();
    cs.add_estimate(bytes, blocks);
    if !blockmap::insert(addr, size, cs) {
        cs.unadd_estimate(bytes, blocks);
        return None;
    }
    sample::filter_add(addr);
    Some(cs)
}

/// Sampled mode: takes the block at `addr` out of the map, the filter and its callsite's
/// estimates, if it was sampled; the map is asked only if the filter says it may be there.
#[inline]
fn take_sample(addr: usize, rate: u64) -> Option<Removed> {
    if !sample::maybe_sampled(addr) {
        return None;
    }
    probe(addr, rate)
}

/// Takes the block at `addr` out of the map (the filter let its free through), the filter and
/// its callsite's estimates, if it was sampled. Call under the guard.
#[cold]
#[inline(never)]
pub(crate) fn probe(addr: usize, rate: u64) -> Option<Removed> {
    let removed = blockmap::remove(addr);
    sample::probed(removed.is_some());
    let block = removed?;
    // Out of the filter now: once the inner allocator has the address back, it may be handed
    // out and sampled again.
    sample::filter_remove(addr);
    let (bytes, blocks) = sample::estimate(block.size, rate);
    counters::copy_peak_if_dirty();
    block.cs.remove_estimate(bytes, blocks);
    Some(block)
}

/// The block map could not hold a new block (out of memory for the tracker's own tables): undo
/// its callsite's count and make it overhead ([`counters::untracked`]), so that its free, which
/// misses the map, balances. The thread's `measure` figures never saw it.
#[cold]
#[inline(never)]
fn untracked(cs: &Callsite, size: usize) {
    cs.unadd(size);
    counters::untracked(size);
}

/// Records that `ptr` (of `size` bytes) is about to be freed.
#[inline]
pub(crate) fn free(guard: &Guard, ptr: *mut u8, size: usize) {
    let cfg = config::get(guard);
    if cfg.sample != 0 {
        return free_sampled(ptr as usize, size, cfg.sample);
    }
    let block = if cfg.off {
        None
    } else {
        // Not in the map: a block the tracker allocated for itself under the guard.
        let Some(block) = blockmap::remove(ptr as usize) else {
            return counters::overhead_sub(size);
        };
        Some(block)
    };
    counters::copy_peak_if_at_peak();
    counters::freed(size);
    let temporary = guard.thread().note_free(ptr as usize, size);
    match block {
        Some(block) => {
            if temporary {
                block.cs.temporaries.fetch_add(1, Relaxed);
            }
            block.cs.remove(size, block.short_lived())
        }
        None => counters::block_removed(),
    }
}

/// [`free`] in sampled mode: the fast path (`fast.rs`) unless a budget is set; else the
/// counters always, the map only if the filter lets it. (The per-callsite peak figures are
/// copied at sampled events, `copy_peak_if_dirty`.) Called under the guard.
#[inline]
fn free_sampled(addr: usize, size: usize, rate: u64) {
    // This thread's state by its thread-local, not the caller's guard (held meanwhile): a
    // reference to the guard made exact mode's free keep it on the stack.
    let _ = crate::guard::with_state(|thread| {
        if counters::sampled_fast() {
            return crate::fast::freeing(thread, addr, size);
        }
        counters::freed(size);
        if slots::registered(thread) {
            slots::counted_in_live(thread, (size as i64).wrapping_neg());
        } else {
            counters::block_removed();
        }
        thread.note_free(addr, size);
        take_sample(addr, rate);
    });
}

/// A free made from inside the tracker (the guard is held further up this thread's stack).
///
/// Usually the block is the tracker's own (overhead). But tracker code can free a user's block —
/// e.g. `backtrace`'s symbol cache, filled by the user's own `backtrace::resolve` and trimmed by
/// the tracker's — so the block map is asked, unless this free comes from the map's own growth.
#[cold]
pub(crate) fn free_reentrant(ptr: *mut u8, size: usize) {
    if let Some(block) = tracked_block_reentrant(ptr) {
        user_block_left(&block, size);
    } else {
        counters::overhead_sub(size);
    }
}

/// Forgets `ptr` if it is a tracked block and the map may be used from here (see
/// [`free_reentrant`]). In sampled mode only a sampled block is found: an unsampled user block
/// freed from inside the tracker counts as the tracker's own.
#[inline]
pub(crate) fn tracked_block_reentrant(ptr: *mut u8) -> Option<Removed> {
    if crate::guard::map_busy() {
        return None;
    }
    match sample::rate() {
        None => blockmap::remove(ptr as usize),
        Some(rate) => take_sample(ptr as usize, rate),
    }
}

/// The end of a realloc made from inside the tracker, with the same accounting as
/// [`free_reentrant`]: `user` is what [`tracked_block_reentrant`] took out of the map at `ptr`.
/// If the inner realloc failed (`new` null) the block goes back as it was; otherwise a user's
/// block leaves the figures and the new block is the tracker's own (overhead), as is a block
/// that was the tracker's own before.
#[cold]
pub(crate) fn realloc_reentrant_done(
    ptr: *mut u8,
    new: *mut u8,
    user: Option<Removed>,
    old_size: usize,
    new_size: usize,
) {
    match (new.is_null(), user) {
        (true, user) => restore(ptr, user),
        (false, Some(block)) => {
            user_block_left(&block, old_size);
            counters::overhead_add(new_size);
        }
        (false, None) => {
            counters::overhead_sub(old_size);
            counters::overhead_add(new_size);
        }
    }
}

/// A user's block of `size` bytes that [`tracked_block_reentrant`] took out of the map leaves
/// the figures (it was freed, or reallocated from inside the tracker into the tracker's own).
pub(crate) fn user_block_left(block: &Removed, size: usize) {
    counters::freed(size);
    match sample::rate() {
        None => block.cs.remove(size, false),
        // Its estimates left with it (`take_sample`).
        Some(_) => counters::block_removed(),
    }
}

/// What a realloc must put back if the inner allocator fails.
pub(crate) struct Moving {
    old: Option<Removed>,
    /// The old block was the tracker's own (never recorded).
    internal: bool,
}

/// First half of a realloc: forgets the old address (see the module docs).
#[inline]
pub(crate) fn realloc_begin(guard: &Guard, ptr: *mut u8) -> Moving {
    let cfg = config::get(guard);
    if cfg.off {
        return Moving {
            old: None,
            internal: false,
        };
    }
    if cfg.sample != 0 {
        // Registered before `realloc_done` counts the old block freed (`slots.rs`).
        slots::registered(guard.thread());
        // Unsampled blocks are not in the map: a miss is a user's block, not the tracker's.
        return Moving {
            old: take_sample(ptr as usize, cfg.sample),
            internal: false,
        };
    }
    let old = blockmap::remove(ptr as usize);
    Moving {
        internal: old.is_none(),
        old,
    }
}

/// Whether the block being reallocated is the tracker's own (then it stays overhead).
#[inline]
pub(crate) fn is_internal(moving: &Moving) -> bool {
    moving.internal
}

/// The inner realloc failed: the old block stays recorded as it was.
#[cold]
pub(crate) fn realloc_failed(ptr: *mut u8, moving: Moving) {
    restore(ptr, moving.old);
}

/// Puts a forgotten block back in the map as it was (its realloc failed). Call under the guard.
#[cold]
pub(crate) fn restore(ptr: *mut u8, old: Option<Removed>) {
    if let (Some(block), Some(rate)) = (old, sample::rate()) {
        // Sampled mode took it out of the filter and its callsite: put it back in both, or
        // leave it an unsampled block if the map cannot take it back.
        if blockmap::reinsert(ptr as usize, block) {
            sample::filter_add(ptr as usize);
            let (bytes, blocks) = sample::estimate(block.size, rate);
            block.cs.add_estimate(bytes, blocks);
        }
        return;
    }
    if let Some(block) = old
        && !blockmap::reinsert(ptr as usize, block)
    {
        // Its page table was dropped when it was taken out and cannot be made again: the block
        // leaves its callsite as if freed and becomes overhead (see `untracked`).
        block.cs.remove(block.size, false);
        counters::untracked(block.size);
    }
}

/// Second half of a realloc that succeeded: `old_size` bytes at the old address became
/// `new_size` bytes at `new`, attributed to the callsite that reallocated. `live` is the global
/// figure after a growth's reservation (ignored for a shrink).
#[inline]
pub(crate) fn realloc_done(
    guard: &Guard,
    moving: Moving,
    new: *mut u8,
    old_size: usize,
    new_size: usize,
    live: u64,
) {
    if new_size < old_size {
        counters::copy_peak_if_at_peak();
        counters::freed(old_size - new_size);
    } else {
        counters::reached(live);
    }
    counters::realloced();
    let thread = guard.thread();
    // A realloc frees no temporary: the block lives on at its new address.
    thread.note_free(0, old_size);
    let cfg = config::get(guard);
    if cfg.sample != 0 {
        // The old block left its callsite in `realloc_begin`; the new one is sampled as any
        // allocation of its size.
        if slots::registered(thread) {
            // `counters::reserve`/`freed` counted the change in the global live bytes already.
            slots::counted_in_live(thread, (new_size as i64).wrapping_sub(old_size as i64));
        } else {
            counters::block_moved(new_size);
        }
        if thread.sampled(new_size, cfg.sample)
            && let Some(cs) = record_sample(cfg, new as usize, new_size)
            && let Some(old) = &moving.old
        {
            cs.grew_from(old.cs);
        }
        thread.note_alloc(new as usize, new_size);
        return;
    }
    if let Some(old) = &moving.old {
        old.cs.remove(old_size, false);
    }
    match callsite(cfg) {
        Some(cs) => {
            cs.add(new_size);
            cs.reallocs.fetch_add(1, Relaxed);
            if let Some(old) = &moving.old {
                cs.grew_from(old.cs);
            }
            if !blockmap::insert(new as usize, new_size, cs) {
                cs.reallocs.fetch_sub(1, Relaxed);
                return untracked(cs, new_size);
            }
        }
        None => counters::block_moved(new_size),
    }
    thread.note_alloc(new as usize, new_size);
}

/// When the last refusal line was written ([`crate::clock::now_ns`]; 0: never).
static REFUSAL_SHOWN_NS: AtomicU64 = AtomicU64::new(0);
/// Refusals not shown since the last line.
static REFUSALS_HIDDEN: AtomicU64 = AtomicU64::new(0);

/// The budget refused an allocation of `size` bytes (for a realloc, its new size) that would have
/// added `growth` live bytes. Writes one line saying so to stderr, so that the abort of an
/// infallible allocation (std then prints only "memory allocation of N bytes failed") names its
/// cause:
///
/// ```text
/// alloc-tracker: refused an allocation of 3000000 bytes: live 1234567 + 3000000 bytes would pass the budget of 2234567 bytes (set_limit)
/// ```
///
/// The first refusal is always shown, later ones at most once a second (a program that probes
/// with `try_reserve` must not flood stderr); a line counts the refusals left out before it.
/// Formats into a stack buffer and writes with `write(2)`: no allocation (the budget would refuse
/// it, and the caller may be inside the tracker).
#[cold]
#[inline(never)]
pub(crate) fn refused(size: usize, growth: usize, refused: counters::Refused) {
    let now = crate::clock::now_ns().max(1);
    let shown = REFUSAL_SHOWN_NS.load(Relaxed);
    if (shown != 0 && now.saturating_sub(shown) < 1_000_000_000)
        || REFUSAL_SHOWN_NS
            .compare_exchange(shown, now, Relaxed, Relaxed)
            .is_err()
    {
        REFUSALS_HIDDEN.fetch_add(1, Relaxed);
        return;
    }
    let hidden = REFUSALS_HIDDEN.swap(0, Relaxed);
    let mut line = StackLine::new();
    let _ = core::fmt::write(
        &mut line,
        format_args!(
            "alloc-tracker: refused an allocation of {size} bytes: live {} + {growth} bytes would \
             pass the budget of {} bytes (set_limit)",
            refused.live, refused.limit
        ),
    );
    if hidden > 0 {
        let _ = core::fmt::write(
            &mut line,
            format_args!("; {hidden} more refused since the last such line"),
        );
    }
    line.append(b"\n", 0);
    crate::output::write_stderr(line.as_bytes());
}

/// A line formatted on the stack; what does not fit is cut.
struct StackLine {
    buf: [u8; 256],
    len: usize,
}

impl StackLine {
    fn new() -> Self {
        StackLine {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Appends what fits of `bytes`, leaving `keep` bytes free; whether all of it fitted.
    fn append(&mut self, bytes: &[u8], keep: usize) -> bool {
        let room = (self.buf.len() - self.len).saturating_sub(keep);
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n == bytes.len()
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl core::fmt::Write for StackLine {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // The last byte is kept for the newline.
        if self.append(s.as_bytes(), 1) {
            Ok(())
        } else {
            Err(core::fmt::Error)
        }
    }
}
