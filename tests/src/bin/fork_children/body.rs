//! The program shared by `fork_children_system`, `fork_children_jemalloc` and
//! `fork_children_aligned`, which differ only in the allocator `Tracked` wraps (one global
//! allocator per binary). Run by `tests/exit_report.rs` with a time limit and
//! `ALLOC_TRACKER=leak_exit_code=23`.
//!
//! The parent leaks 1 111 bytes, then forks 31 times while two threads allocate and free without
//! pause. Each child frees a block one of those threads allocated, allocates, leaks a block of its
//! own and leaves with `std::process::exit(0)`, which runs the exit handlers. A child must print no
//! report and keep its exit code 0: the parent's leak is not the child's. The parent prints how
//! many children exited 0, then exits with its own report and code 23.
//!
//! The first fork happens while a third thread holds a block-map shard lock and is inside the
//! inner allocator (the map growing a page table: [`Stalling`] holds it there), about to take the
//! inner allocator's locks. An allocator takes its own locks in a `pthread_atfork` prepare handler
//! that it registers when it initialises: jemalloc from a constructor that runs before or after the
//! tracker's depending on link order, [`Stalling`] at its first allocation. Prepare handlers run
//! in reverse order of registration; if the inner allocator's ran before the tracker's, it would
//! take its locks, and the tracker's handler would then wait for the shard lock held by a thread
//! that waits for those locks: a deadlock.

use core::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::{Duration, Instant};

/// Forwards to `A`, like an allocator with a lock of its own: when first used it registers fork
/// handlers that take [`ARENA`] around `fork` (as jemalloc does with its arena locks when it
/// initialises). The first `alloc_zeroed` of a thread that [`arm`]ed itself stalls: it announces
/// the stall, sleeps, then takes [`ARENA`] and allocates and frees 4 MiB through `A` (past
/// jemalloc's thread cache, so under jemalloc's arena locks too), then forwards. The tracker
/// allocates zeroed memory only to grow its block map, under a shard lock; this program's own
/// allocations are never zeroed while armed.
pub struct Stalling<A>(pub A);

/// The lock [`Stalling`] takes around `fork` and in its stall.
struct Arena(core::cell::UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex is made to be shared between threads; it is only used through
// `pthread_mutex_lock`/`unlock`.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(core::cell::UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
static INITIALISED: AtomicBool = AtomicBool::new(false);

extern "C" fn lock_arena() {
    // SAFETY: a statically initialised mutex, never moved.
    unsafe { libc::pthread_mutex_lock(ARENA.0.get()) };
}

extern "C" fn unlock_arena() {
    // SAFETY: this thread took the lock in `lock_arena` (in the child: the forking thread's copy).
    unsafe { libc::pthread_mutex_unlock(ARENA.0.get()) };
}

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}
/// Set while an armed thread sleeps inside [`Stalling::alloc_zeroed`].
static STALLED: AtomicBool = AtomicBool::new(false);
static STALL_DONE: AtomicBool = AtomicBool::new(false);

/// Makes this thread's next zeroed allocation stall (see [`Stalling`]).
fn arm() {
    ARMED.with(|a| a.set(true));
}

impl<A: GlobalAlloc> Stalling<A> {
    /// Registers the fork handlers at first use, as an allocator does when it initialises.
    #[inline]
    fn initialise(&self) {
        if !INITIALISED.load(Ordering::Acquire) && !INITIALISED.swap(true, Ordering::AcqRel) {
            // SAFETY: the handlers are `extern "C"` functions that only lock and unlock ARENA.
            unsafe {
                libc::pthread_atfork(Some(lock_arena), Some(unlock_arena), Some(unlock_arena))
            };
        }
    }

    /// The stall (see the type's docs).
    fn stall(&self) {
        STALLED.store(true, Ordering::Release);
        // Long enough for the main thread to enter `fork` and run the prepare handlers.
        std::thread::sleep(Duration::from_millis(500));
        lock_arena();
        let big = Layout::from_size_align(4 << 20, 64).unwrap();
        // SAFETY: a non-zero layout; the block is freed at once with the same layout.
        unsafe {
            let p = self.0.alloc(big);
            if !p.is_null() {
                self.0.dealloc(p, big);
            }
        }
        unlock_arena();
        STALL_DONE.store(true, Ordering::Release);
    }
}

// SAFETY: every method forwards to `A` with the caller's arguments and returns `A`'s result; the
// stall only sleeps, locks and makes a balanced allocation and free of its own through `A`.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Stalling<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.initialise();
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.initialise();
        if ARMED.with(|a| a.replace(false)) {
            self.stall();
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);
/// A block each churning thread hands over (null when taken).
static HANDED: [AtomicPtr<[u8; 64]>; 2] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 2];

/// The parent's leak, which its report shows and a child's must not.
#[inline(never)]
fn leak_some() {
    std::mem::forget(std::hint::black_box(vec![5u8; 1111]));
}

/// Allocates 64-byte blocks until the map grows a page table (whose allocation stalls).
fn stall_in_the_map() {
    arm();
    let mut held: Vec<Box<[u8; 64]>> = Vec::with_capacity(100_000);
    while ARMED.with(Cell::get) && held.len() < 100_000 {
        held.push(Box::new([3u8; 64]));
    }
}

/// In the child: frees the parent's handed block, allocates, leaks, exits normally.
fn child(handed: *mut [u8; 64], round: u8) -> ! {
    if !handed.is_null() {
        // SAFETY: a block from `Box::into_raw`, owned by this process's copy.
        drop(unsafe { Box::from_raw(handed) });
    }
    let v = std::hint::black_box(vec![round; 1000]);
    std::mem::forget(std::hint::black_box(vec![9u8; 333]));
    std::process::exit(i32::from(v[999] != round));
}

/// Forks; the child runs [`child`]. Returns the child's wait status.
fn fork_one(handed: *mut [u8; 64], round: u8) -> i32 {
    // SAFETY: `fork` in a process with other threads: the child only allocates and frees through
    // the global allocator (the subject of this test) and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child(handed, round);
    }
    assert!(pid > 0, "fork failed");
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    status
}

/// The whole program (see the module docs).
pub fn run() {
    leak_some();
    let threads: Vec<_> = HANDED
        .iter()
        .map(|slot| std::thread::spawn(move || integration_tests::fork::churn(&STOP, slot)))
        .collect();
    let mut statuses = Vec::with_capacity(32);

    // A fork while another thread holds a shard lock inside the inner allocator.
    let staller = std::thread::spawn(stall_in_the_map);
    let start = Instant::now();
    while !STALLED.load(Ordering::Acquire) {
        assert!(start.elapsed() < Duration::from_secs(30), "no stall");
        std::thread::yield_now();
    }
    statuses.push(fork_one(std::ptr::null_mut(), 0));
    assert!(STALL_DONE.load(Ordering::Acquire));
    staller.join().unwrap();

    for round in 1..31u8 {
        let handed = HANDED[usize::from(round % 2)].swap(std::ptr::null_mut(), Ordering::Acquire);
        statuses.push(fork_one(handed, round));
        if !handed.is_null() {
            // SAFETY: as in `child`, the parent's copy.
            drop(unsafe { Box::from_raw(handed) });
        }
    }
    STOP.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let clean = statuses
        .iter()
        .filter(|&&s| libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0)
        .count();
    println!("{clean} of {} children exited 0", statuses.len());
    for (i, &s) in statuses.iter().enumerate() {
        if !(libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0) {
            println!("child {i}: exit code {}", libc::WEXITSTATUS(s));
        }
    }
}
