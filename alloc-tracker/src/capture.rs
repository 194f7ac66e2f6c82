//! Stack capture: the return addresses of the current stack, without allocating.
//!
//! Two ways, chosen per call by the configured [`Unwind`]:
//!
//! - **Frame-pointer walk** (`cfg(alloc_tracker_fp)`, set by `build.rs` when the build forces frame
//!   pointers): follow the chain `[fp] = caller's fp, [fp + 8] = return address`. Every read is
//!   bounds-checked against this thread's stack, `[current sp, stack top)`, which is mapped, so a
//!   corrupt chain (a caller built without frame pointers) ends the walk and never faults. Measured
//!   by `cargo bench -p alloc-tracker --bench per_alloc -- capture/fp`: 44.8 ns per 32-frame
//!   capture on a quiet machine (benches/RESULTS.md), 58.6 ns on 2026-11-29 with both cores busy
//!   (load average 5), about 1.5–1.8 ns per frame.
//! - **DWARF unwind**, works without frame pointers: on x86-64 Linux by `dwarf.rs`, which follows
//!   each frame's `.eh_frame` rule (CFA from `rsp` or `rbp`, return address at CFA - 8), cached per
//!   return address, with the same bounds checks; measured 247–263 ns per 32-frame capture (about
//!   8 ns per frame). Where it meets CFI it does not follow (expressions, signal frames, code in
//!   no loaded object), and on other targets, through `backtrace::trace_unsynchronized` (libgcc's
//!   `_Unwind_Backtrace`): 5.1 µs per 32-frame capture.
//!
//! Both fast walks run only where the stack pointer lies in the thread's own stack `[bottom, top)`,
//! read once per thread (`pthread_getattr_np`) and cached in a const thread-local without
//! destructor: one load and two compares per capture. A signal handler on a `sigaltstack`, or a
//! coroutine on a stack of its own, runs elsewhere; `[sp, top)` then spans other mappings and
//! unmapped gaps, and the capture goes through libgcc instead (see [`capture`]).

use core::mem::MaybeUninit;

use crate::config::{CAPTURE_MAX as MAX_FRAMES, Unwind};

/// Room for one stack, left uninitialised: zeroing 512 bytes per allocation was measurable.
pub(crate) type Buf = [MaybeUninit<usize>; MAX_FRAMES];

/// An empty buffer for [`capture`].
#[inline(always)]
pub(crate) const fn buf() -> Buf {
    [MaybeUninit::uninit(); MAX_FRAMES]
}

/// Whether this build can walk frame pointers.
pub(crate) const FRAME_POINTERS: bool = cfg!(alloc_tracker_fp);

/// Captures up to `max` return addresses of the calling stack into `buf`, innermost first.
///
/// Off the thread's own stack (a handler on a `sigaltstack`, a coroutine) both fast walks decline
/// and libgcc unwinds instead. It needs no stack bounds, only each frame's CFI, and it follows the
/// kernel's signal frame (`__restore_rt`'s CFI) back to the interrupted code, so the report shows
/// the handler *and* what the signal interrupted, under `unwind=fp` and `unwind=dwarf` alike.
/// Measured from a handler on a `sigaltstack` (release, 2 shared cores): 2.85 µs per 19-frame
/// capture, against 31 ns (frame pointers) and 168 ns (cached DWARF) on the thread's stack.
/// Rejected: asking `sigaltstack(2)` for the alternate stack's bounds (120–140 ns a call) and
/// walking only inside them, which ends at the signal frame (the handler's frames, not the code it
/// interrupted) and knows nothing of a coroutine's stack. Allocating on such stacks is rare (a
/// handler that allocates is not async-signal-safe); a program that allocates mostly on coroutine
/// stacks pays libgcc's price on each capture.
#[inline(always)]
pub(crate) fn capture(buf: &mut Buf, max: usize, unwind: Unwind) -> &[usize] {
    let max = max.min(MAX_FRAMES);
    let use_fp = match unwind {
        Unwind::Auto | Unwind::Fp => FRAME_POINTERS,
        Unwind::Dwarf => false,
    };
    let mut len = if use_fp {
        fp::walk(&mut buf[..max])
    } else {
        dwarf_walk(&mut buf[..max], Via::Auto)
    };
    if len == usize::MAX {
        // The frame-pointer walk declined (not on the thread's own stack, or its bounds are
        // unknown): unwind instead, which goes through libgcc for the same reasons.
        len = dwarf_walk(&mut buf[..max], Via::Auto);
    }
    // SAFETY: both walks initialise exactly `buf[..len]` (and return `len <= max <= MAX_FRAMES`).
    unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<usize>(), len) }
}

/// Which unwinder [`dwarf_walk`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// The fast walker where it can ([`crate::dwarf`], x86-64 Linux), else libgcc.
    Auto,
    /// The fast walker only; `usize::MAX` where it cannot (tests).
    #[cfg(test)]
    Fast,
    /// libgcc only (tests).
    #[cfg(test)]
    Libgcc,
}

/// DWARF unwind into `buf`: the first frame is this function's return address (into capture's
/// caller, as the frame-pointer walk's first frame; a test checks that both walks agree).
///
/// On x86-64 Linux, first by [`crate::dwarf::walk`] from this frame's registers (`.eh_frame`
/// rules cached per return address, ~8 ns per frame); when that meets CFI it does not follow
/// (see `dwarf.rs`), when this frame is not on the thread's own stack, or when the stack bounds
/// are unknown, the whole stack through libgcc.
///
/// libgcc (`backtrace::trace_unsynchronized`, ~160 ns per frame): frames are told apart by the
/// stack address libgcc reports for them (`_Unwind_GetCFA`, which for the frame returning into
/// function F is F's stack pointer at that call): the frames returning into the unwinder and into
/// this function report addresses at or below this function's local `marker`; the first frame
/// above returns into our caller, and it and all frames after it are kept (past a signal frame
/// the interrupted code's stack may lie below a `sigaltstack`). This replaced asking
/// `symbol_address()` of each frame (one more FDE search per skipped frame);
/// `capture/dwarf_32_frames` measured the same either way (5.0 vs 5.1 µs). The walk ends at the
/// first zero return address (libgcc reports one past a thread's `clone`).
#[inline(never)]
fn dwarf_walk(buf: &mut [MaybeUninit<usize>], via: Via) -> usize {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        #[cfg(test)]
        let fast = via != Via::Libgcc;
        #[cfg(not(test))]
        let fast = true;
        if fast {
            // Registers of this frame: `dwarf::walk` is inlined here, and reads only above them.
            let regs = crate::dwarf::registers();
            if let Some(top) = live_top(regs.sp) {
                // SAFETY: `regs.sp` is this frame's stack pointer and lies in this thread's own
                // stack, whose top is `top`, so `[regs.sp, top)` is its live part, mapped while
                // this frame runs.
                let walked = unsafe { crate::dwarf::walk(regs, top, buf) };
                if let Some(n) = walked {
                    return n;
                }
            }
            #[cfg(test)]
            if via == Via::Fast {
                return usize::MAX;
            }
        }
    }
    let _ = via;
    let marker = 0u8;
    let marker = core::hint::black_box(&marker) as *const u8 as usize;
    let mut n = 0;
    // SAFETY: `trace_unsynchronized` is unsafe only because some platforms' unwinders are not
    // thread-safe; on Linux it is libgcc's `_Unwind_Backtrace`, which is. The closure allocates
    // nothing and never unwinds.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            if n == 0 && frame.sp() as usize <= marker {
                return true; // this function's frame or an unwinder's
            }
            let ip = frame.ip() as usize;
            let Some(slot) = buf.get_mut(n).filter(|_| ip != 0) else {
                return false;
            };
            slot.write(ip);
            n += 1;
            // Like the fast walk, end at std's entry frame (see `runtime::in_user_entry`).
            n < buf.len() && !crate::entry::in_user_entry(ip - 1)
        });
    }
    n
}

#[cfg(any(alloc_tracker_fp, all(target_arch = "x86_64", target_os = "linux")))]
pub(crate) use crate::stack::live_top;

#[cfg(alloc_tracker_fp)]
mod fp {
    use super::live_top;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn registers() -> (usize, usize) {
        let (fp, sp): (usize, usize);
        // SAFETY: reads two registers; touches no memory, stack or flags.
        unsafe {
            core::arch::asm!("mov {}, rbp", "mov {}, rsp", out(reg) fp, out(reg) sp,
                options(nomem, nostack, preserves_flags));
        }
        (fp, sp)
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    fn registers() -> (usize, usize) {
        let (fp, sp): (usize, usize);
        // SAFETY: reads two registers; touches no memory, stack or flags.
        unsafe {
            core::arch::asm!("mov {}, x29", "mov {}, sp", out(reg) fp, out(reg) sp,
                options(nomem, nostack, preserves_flags));
        }
        (fp, sp)
    }

    /// Walks the frame-pointer chain into `buf`; `usize::MAX` when this frame does not run on
    /// the thread's own stack or its bounds are unknown (see [`super::capture`]).
    ///
    /// Only addresses in `[sp, top)` are read: that range is this thread's live stack, mapped
    /// and readable. Each frame must lie strictly above the previous one, so the walk ends.
    #[inline(never)]
    pub(super) fn walk(buf: &mut [core::mem::MaybeUninit<usize>]) -> usize {
        const WORD: usize = core::mem::size_of::<usize>();
        let (mut fp, sp) = registers();
        let Some(top) = live_top(sp) else {
            return usize::MAX;
        };
        let mut n = 0;
        while n < buf.len() {
            if fp < sp || fp % WORD != 0 || fp > top.saturating_sub(2 * WORD) {
                break;
            }
            // SAFETY: `sp <= fp` and `fp + 2 words <= top`, so both words lie in this thread's
            // mapped stack; volatile reads because they are other frames' memory, not ours.
            let (next, ret) = unsafe {
                (
                    core::ptr::read_volatile(fp as *const usize),
                    core::ptr::read_volatile((fp + WORD) as *const usize),
                )
            };
            if ret == 0 {
                break;
            }
            buf[n].write(ret);
            n += 1;
            if next <= fp {
                break;
            }
            fp = next;
        }
        n
    }
}

#[cfg(not(alloc_tracker_fp))]
mod fp {
    /// No frame pointers in this build: always ask for the DWARF fallback.
    #[inline]
    pub(super) fn walk(_buf: &mut [core::mem::MaybeUninit<usize>]) -> usize {
        usize::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn depth_probe(levels: usize, unwind: Unwind) -> usize {
        if levels == 0 {
            capture(&mut buf(), MAX_FRAMES, unwind).len()
        } else {
            std::hint::black_box(depth_probe(levels - 1, unwind))
        }
    }

    #[test]
    fn deeper_calls_give_longer_stacks() {
        for unwind in [Unwind::Auto, Unwind::Dwarf] {
            let shallow = depth_probe(1, unwind);
            let deep = depth_probe(6, unwind);
            assert!(shallow > 2, "{unwind:?}: {shallow}");
            assert_eq!(deep, shallow + 5, "{unwind:?}");
        }
    }

    /// Both captures from one frame, as owned vectors.
    #[inline(never)]
    fn both() -> (Vec<usize>, Vec<usize>) {
        let mut a = buf();
        let mut b = buf();
        let fp = capture(&mut a, MAX_FRAMES, Unwind::Auto).to_vec();
        let dwarf = capture(&mut b, MAX_FRAMES, Unwind::Dwarf).to_vec();
        (fp, dwarf)
    }

    #[test]
    fn dwarf_and_frame_pointer_walks_see_the_same_callers() {
        let (fp, dwarf) = std::hint::black_box(both());
        // The innermost frame is each capture's own call site in `both`; above it, the same
        // return addresses (a DWARF walk that kept `backtrace`'s frames would differ here).
        // The DWARF walk ends at std's entry frame (libtest runs each test on a thread entered
        // through `__rust_begin_short_backtrace`); the frame-pointer walk goes on to `clone`.
        assert!(
            dwarf.len() > 3 && fp.len() > dwarf.len(),
            "{fp:x?}\n{dwarf:x?}"
        );
        assert_eq!(fp[1..dwarf.len()], dwarf[1..], "{fp:x?}\n{dwarf:x?}");
        let last = dwarf[dwarf.len() - 1];
        assert!(crate::entry::in_user_entry(last - 1), "{last:x} {dwarf:x?}");
        assert!(!dwarf.contains(&0), "{dwarf:x?}");
    }

    /// `dwarf_walk` through the fast walker and through libgcc, from one frame.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[inline(never)]
    fn fast_and_libgcc(max: usize) -> (Vec<usize>, Vec<usize>) {
        let mut a = buf();
        let mut b = buf();
        let n = dwarf_walk(&mut a[..max], Via::Fast);
        assert_ne!(n, usize::MAX, "fast walker: unsupported CFI");
        let m = dwarf_walk(&mut b[..max], Via::Libgcc);
        let init = |b: &Buf, len: usize| -> Vec<usize> {
            // SAFETY: both walks initialise `buf[..len]`.
            let init = unsafe { core::slice::from_raw_parts(b.as_ptr().cast::<usize>(), len) };
            init.to_vec()
        };
        (init(&a, n), init(&b, m))
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[inline(never)]
    fn nested<R>(levels: usize, f: &mut dyn FnMut() -> R) -> R {
        if levels == 0 {
            // Not a tail call: a release build would leave no frame of its own at depth 0.
            std::hint::black_box(f())
        } else {
            std::hint::black_box(nested(levels - 1, f))
        }
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn fast_and_libgcc_agree_at_depths() {
        for levels in [0, 3, 50] {
            let (fast, libgcc) = nested(levels, &mut || fast_and_libgcc(MAX_FRAMES));
            // Same first frame up to the call site (each walk is called from its own).
            assert!(fast.len() > 3 + levels.min(MAX_FRAMES - 4), "{fast:x?}");
            assert_eq!(fast.len(), libgcc.len(), "{fast:x?}\n{libgcc:x?}");
            assert_eq!(fast[1..], libgcc[1..], "{fast:x?}\n{libgcc:x?}");
            for max in [1, 2, 5] {
                let (fast, libgcc) = nested(levels, &mut || fast_and_libgcc(max));
                assert_eq!(fast.len(), max);
                assert_eq!(fast[1..], libgcc[1..]);
            }
        }
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn fast_dwarf_walk_equals_libgcc_walk() {
        fast_and_libgcc_agree_at_depths();
        std::thread::spawn(fast_and_libgcc_agree_at_depths)
            .join()
            .unwrap();
    }

    #[cfg(any(alloc_tracker_fp, all(target_arch = "x86_64", target_os = "linux")))]
    #[test]
    fn only_the_threads_own_stack_is_live() {
        let local = 0u8;
        let sp = std::hint::black_box(&local) as *const u8 as usize;
        let top = live_top(sp).expect("a local lies in the thread's stack");
        assert!(top > sp);
        for outside in [
            0,
            1,
            top,
            top + 4096,
            usize::MAX,
            buf as fn() -> Buf as usize,
        ] {
            assert_eq!(live_top(outside), None, "{outside:x}");
        }
        let on_heap = Box::new(0u64);
        assert_eq!(live_top(&*on_heap as *const u64 as usize), None);
    }

    /// Runs `f` on a `makecontext` coroutine with a stack of its own on the heap.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn on_coroutine_stack(f: fn()) {
        use std::cell::Cell;
        thread_local! {
            static BODY: Cell<Option<fn()>> = const { Cell::new(None) };
        }
        extern "C" fn entry() {
            if let Some(f) = BODY.take() {
                f();
            }
        }
        BODY.set(Some(f));
        let mut stack = vec![0u128; 64 * 1024 / 16];
        // SAFETY: `ucontext_t` is plain data, valid zeroed; `getcontext` fills `co` before
        // `makecontext` points it at `stack` (alive until after the swap back) and at `entry` (no
        // arguments), which returns to `back` through `uc_link`. Both contexts outlive the swap.
        unsafe {
            let mut back: libc::ucontext_t = core::mem::zeroed();
            let mut co: libc::ucontext_t = core::mem::zeroed();
            assert_eq!(libc::getcontext(&mut co), 0);
            co.uc_stack.ss_sp = stack.as_mut_ptr().cast();
            co.uc_stack.ss_size = stack.len() * 16;
            co.uc_link = &mut back;
            libc::makecontext(&mut co, entry, 0);
            assert_eq!(libc::swapcontext(&mut back, &co), 0);
        }
        assert!(BODY.take().is_none(), "the coroutine did not run");
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn off_the_thread_stack_both_unwinds_go_through_libgcc() {
        on_coroutine_stack(|| {
            let (fp, dwarf) = both();
            // Through libgcc both from their own call sites up to the coroutine's entry.
            assert!(fp.len() > 2, "{fp:x?}");
            assert_eq!(fp[1..], dwarf[1..], "{fp:x?}\n{dwarf:x?}");
            let mut b = buf();
            let n = dwarf_walk(&mut b[..], Via::Fast);
            assert_eq!(
                n,
                usize::MAX,
                "the fast walker must decline off the thread's stack"
            );
        });
    }

    #[test]
    fn respects_the_frame_budget() {
        assert!(capture(&mut buf(), 3, Unwind::Auto).len() <= 3);
        assert!(capture(&mut buf(), 3, Unwind::Dwarf).len() <= 3);
    }
}
