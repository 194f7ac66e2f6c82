//! # alloc-tracker: where did my memory go?
//!
//! [`Tracked<A>`] wraps any [`GlobalAlloc`](core::alloc::GlobalAlloc) (`alloc_core::AlignedAlloc`,
//! `std::alloc::System`, jemalloc, mimalloc…) and records, for every callsite (the stack that
//! allocated), live bytes and blocks, totals, its highest live bytes and its share of the heap's
//! peak. At exit it prints a leak report that tells leaks from blocks still reachable. Installing
//! the static is the whole change:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
//!     alloc_tracker::Tracked::new(std::alloc::System);
//! # fn main() {}
//! ```
//!
//! At exit (a return from `main` or `std::process::exit`, whatever other threads are doing) the
//! report goes to stderr. A program that leaks 12 345 bytes from `leak_named::leak_some` prints
//! (literal output of the test helper `tests/src/bin/leak_named.rs`, run from `tests/`; the pid
//! and the time vary):
//!
//! ```text
//! alloc-tracker: report at exit (pid 3674, 0.00 s)
//!   peak 21.4 KiB | total 21.4 KiB in 5 blocks | live at exit 12.6 KiB in 2 blocks
//! #1 direct leak: 12 345 bytes in 1 block (peak share 56.3%)
//!     leak_named::leak_some at src/bin/leak_named.rs:12:38
//!     leak_named::main at src/bin/leak_named.rs:18:5
//! reachable: 544 bytes in 1 block from 1 callsite (statics, live threads; show=direct,indirect,reachable lists them)
//! at the peak (21.4 KiB live, t-gmax): its largest owners (1% of it or more)
//! #2 at peak: 12 345 bytes in 1 block (peak share 56.3%; total 12.1 KiB in 1 block, 0 reallocs, 0 temporaries, 0 short-lived)
//!     leak_named::leak_some at src/bin/leak_named.rs:12:38
//!     leak_named::main at src/bin/leak_named.rs:18:5
//! #3 at peak: 8 000 bytes in 1 block (peak share 36.5%; total 7.8 KiB in 1 block, 0 reallocs, 0 temporaries, 1 short-lived)
//!     leak_named::main at src/bin/leak_named.rs:17:37
//! #4 at peak: 1 024 bytes in 1 block (peak share 4.7%; total 1.0 KiB in 1 block, 0 reallocs, 1 temporary, 1 short-lived)
//!     <std::io::buffered::bufwriter::BufWriter>::with_capacity at library/std/src/io/buffered/bufwriter.rs:122:33
//!     … 14 frames in std …
//!     leak_named::main at src/bin/leak_named.rs:19:5
//! #5 at peak: 544 bytes in 1 block (peak share 2.5%; total 544 B in 1 block, 0 reallocs, 0 temporaries, 0 short-lived)
//!     std::sys::pal::unix::stack_overflow::thread_info::set_current_info at library/std/src/sys/pal/unix/stack_overflow/thread_info.rs:122:17
//!     … 3 frames in std …
//! LEAKS: alloc-tracker: direct 12345 bytes in 1 blocks; indirect 0 bytes in 0 blocks; reachable 544 bytes in 1 blocks
//! SUMMARY: alloc-tracker: live at exit: 12889 bytes in 2 blocks from 2 callsites
//! ```
//!
//! Each callsite is shown from its first frame outside the allocation machinery (std's
//! `alloc`/`raw_vec`/collections growth paths, `alloc-core`, this crate) down to `main` or the
//! thread's entry, runs of std's frames folded (`… 14 frames in std …`); "peak share" is the
//! callsite's part of the heap at its peak (t-gmax). The `at peak:` entries are the heap's largest
//! owners at that moment, freed since or not, with what each callsite allocated in all (the 1 024
//! bytes are std's stdout buffer, freed by its thread at exit before it allocated again: a
//! temporary). The 544 bytes on the `reachable:` line are a block that std's runtime allocates in
//! `std::rt::init` and holds for the whole run: live at exit, but reachable, so not a leak, and a
//! program that frees everything it allocates reports no leak. (No heuristic sets such blocks apart
//! any more: the scan finds what holds them.) The `LEAKS:` and `SUMMARY:` lines are machine-read,
//! `SUMMARY:` always last.
//!
//! At run time: [`stats`] (exact global figures), [`measure`] (what this thread allocated in a
//! closure), [`snapshot`] (per-callsite counters, resolvable to frames), [`set_limit`] (a
//! live-bytes budget), [`leak_check`] and [`ignore_leak`] (below), [`write_report`] and
//! [`overhead_bytes`].
//!
//! ## Leaks
//!
//! A **live** block (allocated and not yet freed) at exit is not necessarily a leak. At exit, and
//! on [`leak_check`], a conservative scan as LeakSanitizer's marks what is **reachable**: a block
//! that a root (a static, a live thread's stack, registers or TLS) or another reachable block
//! points to, at its start or inside it. A **leak** is a live block that is not reachable:
//! **direct** when no other leaked block points to it (each unreachable cycle has exactly one
//! direct block, its first allocated), **indirect** when a leaked block does. Leaks that a rule of
//! a `suppressions=` file matches are counted as **suppressed**. The report lists direct leaks,
//! then indirect ones, then one line summing what is reachable, then the suppressed, then the
//! owners of the heap's peak (callsites by their live bytes at t-gmax, with their totals, reallocs
//! and temporaries), then the callsites with the most temporaries (blocks freed by their thread
//! before it allocated again, heaptrack's definition), then the `LEAKS:` and `SUMMARY:` lines.
//! Callsites whose shown frames are identical are one entry (`N stacks merged`); a callsite that
//! grows blocks names where the first block it grew was made. [`leak_check`] returns the same
//! classes as a [`LeakSummary`]; [`ignore_leak`] marks a block as kept on purpose. The README's
//! "Reading the leak report" walks through a report, suppressions, the CI gate and the scan's
//! limits (a conservative scan can take an integer or a stale copy for a pointer; a thread that
//! blocks signals cannot be stopped and its stack is not read: the report then says how many
//! threads could not be stopped).
//!
//! ## Configuration: `ALLOC_TRACKER`
//!
//! Comma-separated `key=value`, read once: `off` (global counters only, no callsites),
//! `frames=1..64` (frames shown per stack, counted outside the allocation machinery, default 16; 16
//! more are captured for the machinery), `stacks=folded|full` (`folded`, the default, shows each
//! run of two or more library frames, std's or a registry crate's, as one line `… 9 frames in std
//! …`; the first frame is always shown), `unwind=auto|fp|dwarf` (`fp` in a build without frame
//! pointers warns once and unwinds by DWARF), `report=stderr|off|<path>` (a path is appended to, so
//! the test binaries of one `cargo test` all keep their reports; `%p` in it is the pid), `top=N`
//! (callsites listed per section, default 10), `leak_exit_code=N` (exit with N when leaks remain:
//! direct or indirect ones, unless `fail_on` says otherwise), `scan=on|off` (classify by
//! reachability, the default; `off` lists every live block and prints no `LEAKS:` line),
//! `show=direct,indirect,reachable` (the classes listed callsite by callsite; default
//! `direct,indirect`), `fail_on=direct,indirect,reachable` (the classes that make `leak_exit_code`
//! fire; default `direct,indirect`), `suppressions=<file>` (LeakSanitizer's `leak:<substring>`
//! lines), `pprof=<path>`, `dhat=<path>`, `flamegraph=<path>` (exports written at exit, each
//! replacing its file; `%p` is the pid), `flamegraph_of=peak|exit|total` (the flame graph's
//! metric, default `peak`), `sample=<bytes>` (sampled mode, below) and `pprof_every=<seconds>`
//! (with `pprof=<path>`: a profile every N seconds from a thread of the tracker's own, `%n` in
//! the path its sequence number). A mistake prints one warning line naming it and the accepted
//! values; the program runs on. An unwritable report path prints a warning and the report goes to
//! stderr.
//!
//! ## Sampled mode, for production
//!
//! `ALLOC_TRACKER=sample=512KiB` (or any mean number of bytes; `KiB`/`MiB` suffixes) records one
//! allocation per about that many bytes, as jemalloc's `prof` and tcmalloc do: each thread's
//! countdown is drawn from an exponential distribution, so a block of `s` bytes is sampled with
//! probability `1 − exp(−s / rate)`; only sampled blocks capture a stack and enter the block map,
//! and an unsampled free is told apart by a lock-free filter without touching the map. Each
//! sampled block counts as `1 / (1 − exp(−s / rate))` blocks of its size, so per-callsite figures
//! are unbiased estimates (their relative error about `1/√samples`); [`stats`]' totals, block
//! counts and live bytes stay exact whenever no allocation is in flight. To keep unsampled
//! operations free of locked instructions, each thread batches its change of live bytes (up to
//! ±64 KiB) before adding it to the global figure, so in sampled mode the peak (`peak_bytes`,
//! the report's `peak`) may be off by up to 64 KiB per running thread, and so may the budget
//! of [`set_limit`] for threads that have not allocated since it was set (`slots.rs`). The
//! reachability scan needs every block and does not run: the report lists estimated live bytes
//! per callsite under the header line `sampled every ~512 KiB: per-callsite figures are
//! estimates`, and `SUMMARY:` gives the exact global figure. [`heap_profile`] returns a gzipped
//! pprof of the heap (sampled or exact) for a service's `/debug/pprof/heap`
//! (`examples/heap_server.rs`). See `sample.rs` for the mechanics.
//!
//! ## Cost
//!
//! Per allocation: a thread-local guard check, a stack capture (frame-pointer walk when the build
//! forces frame pointers, as this workspace does, about 1.5 ns per frame; with `unwind=dwarf` or
//! without frame pointers, the `.eh_frame` rules of each frame, cached per return address, about
//! 8 ns per frame on x86-64 Linux and 160 ns through libgcc elsewhere), a lock-free callsite
//! lookup, relaxed atomic adds (the global live bytes, the callsite's bytes and blocks) and one
//! insert into a block map grouped by 4 KiB page, under the mutex of one of its 64 shards (picked
//! by 2 MiB region: threads allocating in different regions take different locks); per free, a
//! remove under the same shard's mutex and relaxed atomic adds. No global lock, but threads that
//! allocate or free in one 2 MiB region take turns at its shard's mutex.
//! Symbolization happens only when frames are shown or matched (`snapshot().resolve()`, a report
//! listing leaks, leaks to match against a suppressions file): the first time loads the binary's
//! DWARF through `backtrace`, tens of megabytes and a fraction of a second. The tracker's own
//! memory (callsite records; the block map, which holds each block's size for the scan: about
//! 16 B per 32-byte block and 75 to 79 B per 8 KiB block over four runs of
//! `tests/tests/overhead.rs`) is counted in [`HeapStats::overhead_bytes`], not in the user's
//! figures. The reachability scan runs only at
//! exit (unless `scan=off`) or on [`leak_check`]; for its cost, see benches/RESULTS.md, section
//! Reachability scan. Measured figures (per operation and whole workloads) are in
//! `benches/per_alloc.rs`'s docs and `benches/RESULTS.md`.
//!
//! When stacks will be walked by DWARF, the executable's symbol table is read once before `main`
//! (an ELF constructor) to learn where std's entry frames are and end walks there: no allocation
//! does I/O.
//!
//! Around `fork`, the block map's locks are taken (`pthread_atfork`, registered at the first
//! allocation so that they are taken before the inner allocator's own and released after, whatever
//! the link order), so a child process never inherits one held by a thread it does not have; the
//! forking thread counts as inside the tracker meanwhile, so a scan never stops it holding them. A
//! child of `fork` prints no exit report, runs no scan and never applies `leak_exit_code`: every
//! block it inherited is the parent's, and the parent reports them. `write_report` and
//! `leak_check` still work in a child (and list the inherited blocks); a program that forks to
//! detach gets no report at exit from the process that carries on.
//!
//! **Signal handlers and coroutines.** The fast stack walks (frame pointers, cached DWARF) read
//! only the thread's own stack. An allocation made elsewhere — in a signal handler running on a
//! `sigaltstack`, or on a coroutine's stack — is unwound by libgcc instead: the report still names
//! the handler and, through the kernel's signal frame, the code it interrupted. That capture costs
//! about 3 µs instead of about 40 ns (2.85 µs for 19 frames from a `sigaltstack` handler, measured
//! for `tests/tests/off_thread_stack.rs`). In the report, `(no stack captured: …)` means the stack
//! could not be walked from that allocation; `(stacks not recorded: the callsite table is full)`
//! means more than 98 304 distinct stacks were seen and later ones are counted together.
//!
//! Frame-pointer capture needs frame pointers in every crate on the stack. Cargo applies the
//! workspace's `build.rustflags` to all crates it compiles, but rustdoc does not, so doctests may
//! miss their own frames; `unwind=dwarf` does not depend on them. A project that depends on this
//! crate gets its own configuration, not this workspace's: without `-C force-frame-pointers=yes`
//! there, stacks are walked by DWARF, and a release build needs `debug = "line-tables-only"` for
//! file:line (the README's "Using it outside this workspace" gives the settings and their costs).
//!
//! Layers, each using only those before it (tests aside):
//! 1. leaves: `guard.rs` (re-entrancy, per-thread counters), `sample.rs` (sampled mode's draws
//!    and filter), `output.rs` (stderr, files, `%p`), `clock.rs`, `stack.rs` (the thread's stack
//!    bounds), `entry.rs` (where std's entry frames lie, from the ELF symbol table);
//! 2. `config.rs` (`ALLOC_TRACKER`), then the hot path's tables: `dwarf.rs` and `capture.rs`
//!    (stacks), `table.rs` (callsites), `counters.rs` (global atomics, budget), `slots.rs`
//!    (sampled mode's per-thread counters and batched live bytes), `blockmap.rs` (address ->
//!    callsite and size), `lifetimes.rs` (summed lifetimes, its own thread);
//! 3. `record.rs` (the bookkeeping of one operation), `fast.rs` (sampled mode's fast path),
//!    `tracked.rs` (`GlobalAlloc`);
//! 4. cold: `measure.rs`, `snapshot.rs`, `scan/` (roots, world, mark), `report/` (model,
//!    symbolize, suppress, the text report and the exports), `profile.rs` (heap profiles);
//! 5. lifecycle: `lifecycle.rs` (the load-time constructors, the first use, `fork`'s handlers,
//!    the exit report's `atexit` handler).
//!
//! Two arrows still point up, both on a cold path: the first recorded allocation registers the
//! exit handler (`record.rs`/`tracked.rs` -> `lifecycle.rs`), and `config.rs` switches the tables to
//! sampled mode when it is read (-> `table.rs`); `report/` and `profile.rs` use each other.

mod blockmap;
mod capture;
mod clock;
mod config;
mod counters;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod dwarf;
mod entry;
mod fast;
mod guard;
mod lifecycle;
mod lifetimes;
mod measure;
mod output;
mod profile;
mod record;
mod report;
mod sample;
mod scan;
mod slots;
mod snapshot;
#[cfg(any(alloc_tracker_fp, all(target_arch = "x86_64", target_os = "linux")))]
mod stack;
mod table;
mod tracked;

pub use counters::HeapStats;
pub use measure::{Usage, measure};
pub use profile::heap_profile;
pub use report::diff::Growth;
pub use report::flame::Metric;
pub use report::symbolize::Frame;
pub use report::{LeakSummary, write_report};
pub use snapshot::{CallsiteStats, ResolvedCallsite, Snapshot, snapshot};
pub use tracked::Tracked;

/// The exact global figures now: live, peak and total bytes and blocks, reallocs, overhead.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let before = alloc_tracker::stats();
/// // `black_box`: in a release build LLVM removes a `Vec` that nothing reads.
/// let v = std::hint::black_box(vec![0u8; 4096]);
/// let during = alloc_tracker::stats();
/// println!("+{} bytes in +{} blocks", during.live_bytes - before.live_bytes,
///          during.live_blocks - before.live_blocks);
/// // +4096 bytes in +1 blocks
/// assert_eq!(during.total_bytes - before.total_bytes, 4096);
/// assert_eq!(during.total_blocks - before.total_blocks, 1);
/// assert!(during.peak_bytes >= during.live_bytes);
/// drop(v);
/// ```
pub fn stats() -> HeapStats {
    counters::heap_stats()
}

/// Bytes the tracker holds for itself on the heap right now (its callsite records, block map,
/// caches): the memory cost of tracking, as [`HeapStats::overhead_bytes`].
///
/// Not counted: the tracker's fixed tables in `.bss`, about 9.2 MiB of address space that becomes
/// resident only page by page as it is used: the callsite table (2^17 pointers, 1 MiB), callsite
/// ids for the block map (2^20 pointers, 8 MiB), on x86-64 Linux the DWARF rule cache (2^14
/// words, 128 KiB) and its rules (8 KiB), the scan's thread slots (4096 of 24 bytes, 96 KiB) and
/// the block map's 64 shard headers (8 KiB) (sizes from `nm -S` of a release build). Ids are
/// handed out in order (one 4 KiB page per 512 callsites); the callsite table is indexed by hash,
/// so its pages become resident in no order, at most all 256 of them.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// // `black_box`: in a release build LLVM removes a `Vec` that nothing reads.
/// let _v = std::hint::black_box(vec![1u8; 10]);
/// println!("{} bytes of tracker overhead", alloc_tracker::overhead_bytes());
/// // 1224 bytes of tracker overhead   (as a program's `main`: debug; 1088 in release)
/// assert!(alloc_tracker::overhead_bytes() > 0);
/// ```
pub fn overhead_bytes() -> u64 {
    counters::heap_stats().overhead_bytes
}

/// Sets a live-bytes budget: an allocation (or realloc growth) that would take live bytes past
/// `limit` returns null, so `try_reserve` errs and infallible allocations reach
/// `handle_alloc_error`. A realloc that does not grow (`shrink_to_fit`, `into_boxed_slice`) is
/// never refused, even when live bytes are already past `limit`. `None` removes the budget.
/// Counters stay exact either way. In sampled mode a thread's own batched live bytes are counted
/// before it is held to the budget, but those of other threads that have not allocated since
/// the budget was set are not (up to 64 KiB each, either way; see the crate docs' "Sampled
/// mode"); while a budget is set, sampled mode's operations take its slower, exact path.
///
/// Each refusal is announced on stderr, so that an abort names its cause (the first refusal
/// always, then at most one line a second, counting the ones left out); for an infallible
/// allocation std's own line follows (literal output of `tests/src/bin/limit_shrink.rs`):
///
/// ```text
/// alloc-tracker: refused an allocation of 3000000 bytes: live 2580 + 3000000 bytes would pass the budget of 1002580 bytes (set_limit)
/// memory allocation of 3000000 bytes failed
/// ```
///
/// A thread that is panicking is not held to the budget: printing the panic's message and
/// backtrace allocates, and a refusal there would leave std's allocation-error hook waiting for
/// the backtrace lock the panic holds (`tests/tests/exit_report.rs` runs such a panic).
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let live = alloc_tracker::stats().live_bytes;
/// alloc_tracker::set_limit(Some(live + 1024));
/// let mut v: Vec<u8> = Vec::new();
/// let err = v.try_reserve_exact(1 << 20).unwrap_err();
/// println!("{err}");
/// // memory allocation failed because the memory allocator returned an error
/// alloc_tracker::set_limit(None);
/// v.try_reserve_exact(1 << 20).unwrap();
/// ```
pub fn set_limit(limit: Option<u64>) {
    counters::set_limit(limit);
}

/// The current live-bytes budget set by [`set_limit`].
///
/// ```
/// alloc_tracker::set_limit(Some(1 << 30));
/// assert_eq!(alloc_tracker::limit(), Some(1 << 30));
/// alloc_tracker::set_limit(None);
/// assert_eq!(alloc_tracker::limit(), None);
/// ```
pub fn limit() -> Option<u64> {
    counters::limit()
}

/// Classifies every live block now, as the exit report does: direct and indirect leaks,
/// reachable blocks, suppressed leaks (see the crate docs' "Leaks"). Safe while other threads
/// run: they are stopped for the scan (a thread inside the allocator first finishes its
/// operation) and go on afterwards. The calling thread's stack counts from this call's frame up,
/// with its registers.
///
/// Returns all zeros under `ALLOC_TRACKER=off` (no block is recorded), in sampled mode
/// (`sample=`: only sampled blocks are recorded, and the scan needs every block) or when called
/// from inside the allocator.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// #[inline(never)]
/// fn forget_one() {
///     std::mem::forget(std::hint::black_box(vec![7u8; 500]));
/// }
///
/// let before = alloc_tracker::leak_check();
/// forget_one();
/// let after = alloc_tracker::leak_check();
/// println!("{} bytes newly leaked", after.direct_bytes - before.direct_bytes);
/// // 500 bytes newly leaked
/// assert_eq!(after.direct_bytes - before.direct_bytes, 500);
/// ```
#[inline(never)]
pub fn leak_check() -> LeakSummary {
    let here = scan::Here::take();
    guard::with_guard(|g| {
        let cfg = config::get(g);
        if cfg.off || cfg.sample != 0 {
            return LeakSummary::default();
        }
        report::classify(g, cfg, scan::Start::Here(here))
            .map(|c| c.summary)
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// Marks the live block that starts at `ptr` as kept on purpose, like LeakSanitizer's
/// `__lsan_ignore_object`: it counts as reachable, and so does everything it points to. Returns
/// false if no tracked block starts at `ptr`.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let kept: &'static mut [u8] = Box::leak(vec![1u8; 64].into_boxed_slice());
/// assert!(alloc_tracker::ignore_leak(kept.as_ptr()));
/// assert!(!alloc_tracker::ignore_leak(&0u8 as *const u8));
/// ```
pub fn ignore_leak<T: ?Sized>(ptr: *const T) -> bool {
    guard::with_guard(|_| blockmap::set_ignored(ptr as *const u8 as usize)).unwrap_or(false)
}

/// Entry points into the hot path's stages, for the criterion bench `benches/per_alloc.rs` only;
/// not a stable API.
#[doc(hidden)]
pub mod __bench {
    use crate::config::Unwind;

    /// Captures up to `frames` return addresses by frame-pointer walk (`dwarf = false`, DWARF
    /// if this build has no frame pointers) or DWARF unwind; returns how many.
    #[inline(never)]
    pub fn capture(frames: usize, dwarf: bool) -> usize {
        let unwind = if dwarf { Unwind::Dwarf } else { Unwind::Auto };
        crate::capture::capture(&mut crate::capture::buf(), frames, unwind).len()
    }

    /// Captures the current stack and interns it; returns the callsite's address.
    #[inline(never)]
    pub fn capture_and_intern(frames: usize) -> usize {
        crate::guard::with_guard(|_| {
            let mut buf = crate::capture::buf();
            let stack = crate::capture::capture(&mut buf, frames, Unwind::Auto);
            crate::table::intern(stack) as *const _ as usize
        })
        .unwrap_or(0)
    }

    /// Checks the tracker's invariants that saturating arithmetic would otherwise hide: overhead
    /// never went below zero, and no callsite freed more than it allocated. Tests call it after
    /// their workloads; cheap (one pass over the callsites).
    pub fn check_invariants() -> Result<(), String> {
        crate::counters::check_invariants()?;
        crate::table::check_invariants()
    }

    /// How many times the per-callsite t-gmax figures have been copied (see
    /// `tests/tests/peak_copies.rs`).
    pub fn peak_copies() -> u64 {
        crate::counters::peak_copies()
    }

    /// Sampled mode's probes of the block map by frees that the filter let through, and how many
    /// of them missed (false positives): a test checks that unsampled frees do not probe.
    pub fn sample_probes() -> (u64, u64) {
        crate::sample::probes()
    }

    /// Sampled mode's registry (`slots.rs`): how many threads are registered, and the live
    /// bytes their batches hold (not yet in the global figure). Tests check that exited threads
    /// leave it and that a batch stays within its bound.
    pub fn sampled_batches() -> (usize, i64) {
        crate::slots::registered_and_pending()
    }

    /// The batch bound of sampled mode (`slots::BATCH`), in bytes.
    pub const SAMPLED_BATCH: i64 = crate::slots::BATCH;

    /// Interns a fixed 32-frame stack (a lookup hit after the first call).
    #[inline(never)]
    pub fn intern_fixed() -> usize {
        const STACK: [usize; 32] = {
            let mut s = [0usize; 32];
            let mut i = 0;
            while i < 32 {
                s[i] = 0x5555_0000_0000 + i * 0x1234;
                i += 1;
            }
            s
        };
        crate::guard::with_guard(|_| crate::table::intern(&STACK) as *const _ as usize).unwrap_or(0)
    }
}
