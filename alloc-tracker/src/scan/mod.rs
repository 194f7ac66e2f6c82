//! The reachability scan (cold path): which live blocks are leaks, as LeakSanitizer decides it.
//!
//! 1. List the roots' segments (`roots.rs`), note where this thread's stack starts.
//! 2. Stop every other thread (`world.rs`): each publishes its stack and thread pointers.
//! 3. Freeze the block map (every shard locked) and copy the live blocks into scan memory. A
//!    shard still held then is held by a thread that could not stop, perhaps waiting for an
//!    inner-allocator lock of a stopped thread: the threads go on for a moment and 2–3 start over.
//! 4. Mark (`mark.rs`): every aligned word of the roots — writable segments, each thread's stack
//!    from its stack pointer up (registers saved there), its static TLS — and of every block
//!    reached, that points at or into a live block, reaches it. Blocks kept by
//!    [`crate::ignore_leak`] are roots too.
//! 5. What is left is leaked: direct or indirect, by the components of "points to".
//! 6. Let the threads go, unfreeze, and count bytes and blocks per callsite and class.
//!
//! The scanning thread's own stack is read from where its caller's frames begin: for the exit
//! report, from the frame that called `exit` (the frames of `exit`, of the C library's exit
//! handlers and of this crate lie over the dead frames of `main`, whose stale slots must not keep
//! a forgotten block alive); for [`crate::leak_check`], from its own frame, with the callee-saved
//! registers stored there. Its registers are otherwise not read.
//!
//! Steps 2 to 5 allocate nothing (scan memory is mapped with `mmap`, see `mem.rs`): a stopped
//! thread may hold the inner allocator's lock.

pub(crate) mod mark;
pub(crate) mod mem;
pub(crate) mod roots;
pub(crate) mod world;

use mark::{Blk, Class, Heap};
use mem::MmapVec;

use crate::blockmap;
use crate::guard::Guard;

/// Bytes and blocks of one callsite in one class.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SiteClass {
    pub class: Class,
    pub id: u32,
    pub bytes: u64,
    pub blocks: u64,
}

/// What a scan found.
pub(crate) struct Outcome {
    /// Per callsite and class, in no particular order.
    pub sites: Vec<SiteClass>,
    /// Threads whose stacks could not be read (see `world.rs`).
    pub not_stopped: usize,
}

/// Where the scanning thread's own stack starts.
#[derive(Clone, Copy)]
pub(crate) enum Start {
    /// At the frame that called `exit` (the exit report).
    Exit,
    /// From `Here::take`'s caller's caller on, with the registers it saved.
    Here(Here),
}

/// The calling thread's registers and where its caller's frame begins.
#[derive(Clone, Copy)]
pub(crate) struct Here {
    from: usize,
    regs: [usize; 6],
}

impl Here {
    /// Saves the callee-saved registers and finds the start of the frame that called the
    /// function this is inlined into (its CFA, from the frame pointer; with no frame pointers,
    /// the current stack pointer: then that function's own frame, whose unused slots may hold
    /// stale values from earlier calls, is read too).
    #[inline(always)]
    pub(crate) fn take() -> Here {
        let mut regs = [0usize; 6];
        let sp = world::spill(&mut regs);
        let from = if crate::capture::FRAME_POINTERS {
            regs[1].wrapping_add(16) // rbp: saved rbp, then the return address, then the caller
        } else {
            sp
        };
        let from = if from >= sp && from - sp < 1 << 16 {
            from
        } else {
            sp
        };
        Here { from, regs }
    }
}

/// Stops the other threads, reads the mappings and locks every shard of the block map. A shard
/// still locked once the others are stopped belongs to a thread that could not stop and may be
/// waiting for an inner-allocator lock held by a stopped thread (`blockmap::try_freeze`): then
/// the threads go on for a moment (1 ms, doubling to 16 ms) and the scan starts again.
fn stop_and_freeze() -> Option<(world::Stopped, roots::Ranges, blockmap::Frozen)> {
    let mut pause_ms = 1;
    loop {
        let stopped = world::stop_others();
        let maps = roots::readable_mappings()?;
        if let Some(frozen) = blockmap::try_freeze() {
            return Some((stopped, maps, frozen));
        }
        drop(maps);
        drop(stopped); // every stopped thread goes on
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: pause_ms * 1_000_000,
        };
        // SAFETY: a valid timespec; no remainder wanted.
        unsafe { libc::nanosleep(&pause, core::ptr::null_mut()) };
        pause_ms = (pause_ms * 2).min(16);
    }
}

/// Runs the scan (see the module docs); `None` if scan memory could not be mapped. Call under
/// the guard (the result's vector is the tracker's own memory).
pub(crate) fn run(_guard: &Guard, start: Start) -> Option<Outcome> {
    let (own_sp, own_regs) = match start {
        Start::Exit => (exit_caller_sp(), [0; 6]),
        Start::Here(here) => (here.from, here.regs),
    };
    let own_tp = world::thread_pointer();
    let (segments, tls) = roots::segments()?;
    let (stopped, maps, mut frozen) = stop_and_freeze()?;
    let mut count = 0usize;
    frozen.for_each(|_| count += 1);
    let mut blocks: MmapVec<Blk> = MmapVec::with_capacity(count)?;
    frozen.for_each(|b| {
        blocks.push(Blk::new(b.addr, b.size, b.id, b.ignored));
    });
    let mut heap = Heap::new(blocks)?;
    for &(lo, hi) in segments.as_slice() {
        for_each_readable(&maps, lo, hi, |lo, hi| heap.mark_range(lo, hi));
    }
    let mut thread = |sp: usize, tp: usize| {
        let stack = roots::mapping_of(&maps, sp);
        if let Some((_, hi)) = stack {
            heap.mark_range(sp, hi);
        }
        // Static TLS lies just below the thread pointer. A spawned thread's is inside its stack
        // mapping, above the stack pointer, so it was read with the stack.
        let in_stack = stack.is_some_and(|(_, hi)| sp <= tp && tp < hi);
        if !in_stack && let Some((lo, hi)) = roots::mapping_of(&maps, tp) {
            let from = tp.saturating_sub(tls + 4096).max(lo);
            heap.mark_range(from, tp.saturating_add(4096).min(hi));
        }
    };
    stopped.each(&mut thread);
    thread(own_sp, own_tp);
    heap.mark_values(&own_regs);
    heap.mark_ignored();
    heap.propagate();
    let classified = heap.classify_leaks();
    drop(frozen);
    let not_stopped = stopped.not_stopped;
    drop(stopped);
    classified?;

    let blocks = heap.blocks.as_mut_slice();
    blocks.sort_unstable_by_key(|b| (b.class, b.id));
    let mut sites: Vec<SiteClass> = Vec::new();
    for b in blocks.iter() {
        let size = (b.end - b.addr) as u64;
        match sites.last_mut() {
            Some(s) if s.class == b.class && s.id == b.id => {
                s.bytes += size;
                s.blocks += 1;
            }
            _ => sites.push(SiteClass {
                class: b.class,
                id: b.id,
                bytes: size,
                blocks: 1,
            }),
        }
    }
    Some(Outcome { sites, not_stopped })
}

/// Calls `f` with the parts of `[lo, hi)` that lie in readable mappings.
fn for_each_readable(maps: &roots::Ranges, lo: usize, hi: usize, mut f: impl FnMut(usize, usize)) {
    let maps = maps.as_slice();
    let first = maps.partition_point(|&(_, end)| end <= lo);
    for &(mlo, mhi) in &maps[first..] {
        if mlo >= hi {
            break;
        }
        f(mlo.max(lo), mhi.min(hi));
    }
}

/// The stack address where the frame that called `exit` begins (the CFA of `exit`'s frame), or
/// this frame's stack pointer if no frame of `exit` is found (then more is read: conservative).
#[inline(never)]
fn exit_caller_sp() -> usize {
    let exit_fn = libc::exit as *const () as usize;
    let mut found = 0usize;
    let mut regs = [0usize; 6];
    let here = world::spill(&mut regs);
    // SAFETY: walks this thread's own stack with libgcc; the closure only reads frame fields and
    // calls `dladdr1`, which takes the loader's lock and allocates nothing.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            let ip = (frame.ip() as usize).saturating_sub(1);
            if within_symbol(ip, exit_fn) {
                found = frame.sp() as usize;
                return false;
            }
            true
        });
    }
    if found != 0 { found } else { here }
}

/// Whether `ip` lies inside the dynamic symbol that starts at `start`.
fn within_symbol(ip: usize, start: usize) -> bool {
    if ip < start {
        return false;
    }
    // SAFETY: a zeroed Dl_info is a valid out-parameter; `sym` receives a pointer to the symbol's
    // ELF entry, which stays valid while the object is loaded (libc is never unloaded).
    unsafe {
        let mut info: libc::Dl_info = core::mem::zeroed();
        let mut sym: *mut libc::c_void = core::ptr::null_mut();
        const RTLD_DL_SYMENT: libc::c_int = 1;
        if libc::dladdr1(ip as *const _, &mut info, &mut sym, RTLD_DL_SYMENT) == 0 || sym.is_null()
        {
            return false;
        }
        let sym = &*sym.cast::<libc::Elf64_Sym>();
        info.dli_saddr as usize == start && ip < start + sym.st_size as usize
    }
}
