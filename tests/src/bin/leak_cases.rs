//! Ground-truth leak scenarios for the tracker's reachability scan: `leak_cases <scenario>` runs one
//! (the list is [`SCENARIOS`]; sizes and node types are in `integration_tests::leak_shapes`).
//! `tests/leak_classes.rs` checks each run's `LEAKS:` line against exact expected figures and
//! against valgrind's memcheck run on the very same binary.
//!
//! The global allocator is `integration_tests::switch::Switch`: `Tracked<System>` by default, plain
//! `System` when the environment has `LEAK_CASES_UNTRACKED=1`. The choice is read with
//! `libc::getenv` (no allocation) at the first allocation and cached in an atomic, so the two never
//! mix. Untracked, nothing stands between the program and the C library's malloc: that is the run
//! memcheck checks.
//!
//! Every leak is made inside an `#[inline(never)]` function and the leaked value passes through
//! `std::hint::black_box`, so no build (release included) can remove the allocation or keep a copy
//! of the pointer in `main`'s frame. Each run prints `mode: tracked|untracked` and
//! `<scenario>: done` to stdout.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::mem;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::thread;

use integration_tests::leak_shapes::{self as shapes, CycleNode, ListNode};
use integration_tests::switch;

#[global_allocator]
static GLOBAL: switch::Switch = switch::Switch;

/// The scenarios, by the name given as the first argument.
const SCENARIOS: &[(&str, fn())] = &[
    ("forget_vec", forget_vec),
    ("list", list),
    ("rc_cycle", rc_cycle),
    ("statics", statics),
    ("interior", interior),
    ("parked_thread", parked_thread),
    ("stdin", stdin),
    ("panic_backtrace", panic_backtrace),
    ("exit_with_thread", exit_with_thread),
    ("suppressed", suppressed),
    ("ignored", ignored),
    ("leak_check", leak_check),
];

/// `mem::forget` of a `Vec<u8>` of `FORGET_VEC_BYTES`: one direct leak.
#[inline(never)]
fn forget_vec() {
    let v = black_box(vec![0xABu8; shapes::FORGET_VEC_BYTES]);
    mem::forget(v);
}

/// Builds a list of `LIST_NODES` boxed nodes and forgets its head: the head is a direct leak, the
/// other nodes (reached only from the head) indirect ones.
#[inline(never)]
fn list() {
    let mut head: Option<Box<ListNode>> = None;
    for i in 0..shapes::LIST_NODES {
        head = Some(Box::new(ListNode {
            next: head,
            payload: [i as u64; 5],
        }));
    }
    mem::forget(black_box(head));
}

/// Two `Rc<RefCell<CycleNode>>` pointing at each other; both handles dropped: an unreachable
/// cycle, so one block is direct and the other indirect.
#[inline(never)]
fn rc_cycle() {
    let a = Rc::new(RefCell::new(CycleNode {
        other: None,
        payload: [1; 3],
    }));
    let b = Rc::new(RefCell::new(CycleNode {
        other: Some(Rc::clone(&a)),
        payload: [2; 3],
    }));
    a.borrow_mut().other = Some(Rc::clone(&b));
    drop(black_box(a));
    drop(black_box(b));
}

static ONCE_VEC: OnceLock<Vec<u8>> = OnceLock::new();
static LEAKED_BOX: OnceLock<&'static [u8]> = OnceLock::new();
static MAP: LazyLock<Mutex<HashMap<String, Vec<u8>>>> = LazyLock::new(Default::default);

/// Blocks held by statics (a `OnceLock<Vec<u8>>`, a `Box::leak` kept in a static, a `HashMap` in a
/// static `Mutex`, whose table is reached through an interior pointer): all reachable, no leak.
#[inline(never)]
fn statics() {
    ONCE_VEC.get_or_init(|| black_box(vec![1u8; shapes::STATIC_ONCE_BYTES]));
    let leaked: &'static [u8] =
        Box::leak(black_box(vec![2u8; shapes::STATIC_LEAKED_BYTES]).into_boxed_slice());
    LEAKED_BOX.set(leaked).unwrap();
    let mut map = MAP.lock().unwrap();
    for i in 0..20 {
        map.insert(format!("key {i}"), vec![i as u8; 50 + i]);
    }
}

static INTERIOR: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// A leaked `Box<[u8; INTERIOR_BLOCK_BYTES]>` whose only pointer left points `INTERIOR_OFFSET`
/// bytes into it, from a static: reachable for the tracker, "possibly lost" for memcheck.
#[inline(never)]
fn interior() {
    let block: Box<[u8; shapes::INTERIOR_BLOCK_BYTES]> =
        black_box(Box::new([7u8; shapes::INTERIOR_BLOCK_BYTES]));
    let start = Box::into_raw(block).cast::<u8>();
    INTERIOR.store(
        start.wrapping_add(shapes::INTERIOR_OFFSET),
        Ordering::SeqCst,
    );
}

thread_local! {
    static TLS_VEC: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

static PARKED_READY: AtomicBool = AtomicBool::new(false);

/// A thread still parked when `main` returns, holding a `Vec` on its stack and one in a
/// `thread_local!`: both reachable (from its stack and its static TLS), no leak.
#[inline(never)]
fn parked_thread() {
    let handle = thread::spawn(|| {
        let on_stack = black_box(vec![1u8; shapes::PARKED_STACK_BYTES]);
        TLS_VEC.with(|v| {
            v.borrow_mut()
                .extend_from_slice(&[2u8; shapes::PARKED_TLS_BYTES])
        });
        PARKED_READY.store(true, Ordering::SeqCst);
        loop {
            thread::park();
            black_box(&on_stack);
        }
    });
    while !PARKED_READY.load(Ordering::SeqCst) {
        thread::yield_now();
    }
    // Detached: it stays parked until the process exits.
    drop(handle);
}

/// Reads one line from stdin (std keeps its buffer in a static): no leak.
#[inline(never)]
fn stdin() {
    let mut line = String::new();
    let n = std::io::stdin().read_line(&mut line).unwrap();
    println!("read {n} bytes");
}

#[inline(never)]
fn panic_here() {
    panic!("deliberate panic, caught by catch_unwind");
}

/// The real leak of `panic_backtrace`, made from a function of its own so the report can name it.
#[inline(never)]
fn leak_after_panic() {
    mem::forget(black_box(vec![5u8; shapes::PANIC_LEAK_BYTES]));
}

/// A panic caught by `catch_unwind` (with `RUST_BACKTRACE=1` set by the test, std prints and
/// caches a symbolized backtrace), then one leak of `PANIC_LEAK_BYTES`: the only direct leak.
///
/// The leak is made on a thread of its own, which has exited by the time the process does: made
/// on this thread, copies of its address (interior ones, from the `memset` that fills it) stayed
/// in stack slots that the exit path's frames laid over without writing, and whether a scan then
/// met one depended on the stack's layout. Under `cargo test --workspace` (whose longer
/// `LD_LIBRARY_PATH` moves the stack) memcheck called the block "possibly lost", not definitely,
/// and the tracker, whose exiting thread is read from the frame that called `exit`, reachable.
#[inline(never)]
fn panic_backtrace() {
    let caught = std::panic::catch_unwind(panic_here);
    assert!(caught.is_err());
    drop(caught);
    std::thread::spawn(leak_after_panic).join().unwrap();
}

static CHURNED: AtomicUsize = AtomicUsize::new(0);

/// Allocates and frees blocks of varying sizes until `stop` is set (forever if it never is).
fn churn(stop: &AtomicBool) {
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let mut v: Vec<u64> = black_box(Vec::with_capacity(8 + i % 200));
        v.push(i as u64);
        black_box(&v);
        drop(v);
        i += 1;
        CHURNED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Loop iterations the churning threads run before the scenario goes on (they go on churning).
const CHURN_BEFORE: usize = 200;

/// Waits until the churning threads together have run `iterations` loops. Sleeps rather than
/// spins: under valgrind, which runs one thread at a time, a spinning waiter slows them down.
fn wait_for_churn(iterations: usize) {
    while CHURNED.load(Ordering::Relaxed) < iterations {
        thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// `std::process::exit(0)` while another thread allocates and frees in a loop: no crash, no leak.
#[inline(never)]
fn exit_with_thread() {
    static NEVER: AtomicBool = AtomicBool::new(false);
    thread::spawn(|| churn(&NEVER));
    wait_for_churn(CHURN_BEFORE);
    println!("exit_with_thread: exiting while a thread allocates");
    std::process::exit(0);
}

/// Leaks `SUPPRESSED_BYTES` from a function whose name is `SUPPRESSED_FUNCTION`.
#[inline(never)]
fn suppressible_leak_zebra_quokka() {
    mem::forget(black_box(vec![9u8; shapes::SUPPRESSED_BYTES]));
}

/// One leak from a distinctively named function, for a `leak:` suppression naming it.
#[inline(never)]
fn suppressed() {
    suppressible_leak_zebra_quokka();
}

/// Leaks a block of `bytes` and returns its start (the only pointer left).
#[inline(never)]
fn leak_block(bytes: usize) -> *const u8 {
    let v = black_box(vec![3u8; bytes]);
    mem::ManuallyDrop::new(v).as_ptr()
}

/// Two blocks leaked the same way: `ignore_leak` marks the first (it becomes reachable), the
/// second is the control (still a direct leak). Also checks `ignore_leak` refuses a pointer that is
/// not a block's start. Untracked (under memcheck), `ignore_leak` is not called.
#[inline(never)]
fn ignored() {
    let kept = leak_block(shapes::IGNORED_BYTES);
    let _control = leak_block(shapes::IGNORED_CONTROL_BYTES);
    if !switch::is_tracked() {
        println!("ignore_leak: not called (untracked)");
        return;
    }
    let interior = alloc_tracker::ignore_leak(kept.wrapping_add(1));
    let start = alloc_tracker::ignore_leak(kept);
    println!("ignore_leak: interior={interior} start={start}");
}

#[inline(never)]
fn leak_for_leak_check() {
    mem::forget(black_box(vec![4u8; shapes::LEAK_CHECK_BYTES]));
}

/// Forgets `LEAK_CHECK_BYTES`, then calls `leak_check()` while `LEAK_CHECK_THREADS` threads
/// allocate and free, and prints its figures (`leak_check: direct_bytes=… …`).
#[inline(never)]
fn leak_check() {
    static STOP: AtomicBool = AtomicBool::new(false);
    let threads: Vec<_> = (0..shapes::LEAK_CHECK_THREADS)
        .map(|_| thread::spawn(|| churn(&STOP)))
        .collect();
    wait_for_churn(CHURN_BEFORE * shapes::LEAK_CHECK_THREADS);
    // Leaked from a thread of its own, joined: no stale copy of the pointer can stay in this
    // thread's stack, which `leak_check()` scans (live, above its stack pointer) while it runs.
    thread::spawn(leak_for_leak_check).join().unwrap();
    if switch::is_tracked() {
        let s = alloc_tracker::leak_check();
        println!(
            "leak_check: direct_bytes={} direct_blocks={} indirect_bytes={} indirect_blocks={} \
             reachable_bytes={} reachable_blocks={} suppressed_bytes={} suppressed_blocks={}",
            s.direct_bytes,
            s.direct_blocks,
            s.indirect_bytes,
            s.indirect_blocks,
            s.reachable_bytes,
            s.reachable_blocks,
            s.suppressed_bytes,
            s.suppressed_blocks
        );
    } else {
        println!("leak_check: not called (untracked)");
    }
    STOP.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(&(name, run)) = SCENARIOS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "usage: leak_cases <scenario>; scenarios: {}",
            names.join(" ")
        );
        std::process::exit(2);
    };
    let mode = if switch::is_tracked() {
        "tracked"
    } else {
        "untracked"
    };
    println!("mode: {mode}");
    run();
    println!("{name}: done");
}
