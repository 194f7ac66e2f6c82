//! Lesson 6: two ways memory stays alive until exit. A memoising cache that never evicts keeps
//! every result **reachable** from a static: no leak checker calls it a leak, and a garbage
//! collector could not free it either (Python's `functools.lru_cache(maxsize=None)` on a function
//! returning arrays does the same); only watching it grow shows it. A reference cycle that nobody
//! points to any more is a true **leak**: unreachable, and never freed by reference counting
//! (CPython's cycle collector would free it; Rust's `Rc`, like CPython with `gc.disable()`, does
//! not). The exit report lists the cycle as a direct leak and the cache on its `reachable:` line.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Mutex;

use alloc_tracker::{leak_check, measure, snapshot};
use demo_arrays::NdArray;

use super::{Ctx, bytes, note, numpy, row};

/// The cache: filled by `remember`, never evicted, alive until exit.
static CACHE: Mutex<Option<HashMap<usize, NdArray<f64>>>> = Mutex::new(None);

/// A "pure" function memoised forever: every distinct argument adds an array to the cache.
#[inline(never)]
fn remember(n: usize, len: usize) -> f64 {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let map = cache.get_or_insert_with(HashMap::new);
    map.entry(n)
        .or_insert_with(|| NdArray::<f64>::from_elem(&[len], n as f64))
        .sum()
}

/// A node of a graph of arrays that points at its peer.
struct Node {
    data: NdArray<f64>,
    peer: RefCell<Option<Rc<Node>>>,
}

/// Builds two nodes that point at each other, uses them, and drops both handles: each node still
/// counts one reference (its peer's), so neither is freed.
#[inline(never)]
fn make_cycle(len: usize) -> f64 {
    let a = Rc::new(Node {
        data: NdArray::<f64>::from_elem(&[len], 1.0),
        peer: RefCell::new(None),
    });
    let b = Rc::new(Node {
        data: NdArray::<f64>::from_elem(&[len], 2.0),
        peer: RefCell::new(Some(a.clone())),
    });
    *a.peer.borrow_mut() = Some(b.clone());
    let total = a.data.sum() + b.data.sum();
    black_box((a, b));
    total
}

pub fn run(ctx: &Ctx) {
    let len = ctx.size(131_072); // 1 MiB per entry
    numpy(&format!(
        "@functools.lru_cache(maxsize=None)\n         def remember(n): return np.full({len}, n).sum()"
    ));
    let mut total = 0.0;
    for round in 1..=3 {
        let (s, u) = measure(|| (0..round * 4).map(|n| remember(n, len)).sum::<f64>());
        total += s;
        row(
            &format!("remember(0..{}) (round {round})", round * 4),
            format!("net live +{}", bytes(u.net_bytes().max(0) as u64)),
        );
    }
    let _ = total;
    note("each round re-asks for old keys and adds 4 new entries: the cache only grows");
    note(
        "a static holds it: reachable, not a leak (ALLOC_TRACKER=show=direct,indirect,reachable lists it)",
    );

    numpy(&format!(
        "gc.disable(); a, b = Node(np.ones({len})), Node(np.full({len}, 2.)); a.peer, b.peer = b, a; del a, b"
    ));
    // The cycle is made on a thread of its own: once it is joined, no stale copy of the nodes'
    // addresses is left in this thread's stack for the conservative scan to take for a pointer.
    let before = leak_check();
    let _ = std::thread::scope(|s| s.spawn(|| make_cycle(len)).join());
    let after = leak_check();
    row(
        "make_cycle(): two Rc<Node> pointing at each other;",
        "both handles dropped",
    );
    row(
        "leak_check() after - before",
        format!(
            "direct +{} in {} block(s), indirect +{} in {} block(s)",
            bytes(after.direct_bytes - before.direct_bytes),
            after.direct_blocks - before.direct_blocks,
            bytes(after.indirect_bytes - before.indirect_bytes),
            after.indirect_blocks - before.indirect_blocks,
        ),
    );
    note(
        "nothing points to the cycle any more: a true leak, one block of it direct, the rest indirect",
    );
}

/// Prints, before the exit report, what it will list and why (from a snapshot of live callsites).
pub fn explain_exit_report() {
    let mut snap = snapshot();
    snap.retain(|c| c.live_bytes > 0);
    snap.sort_by_key_desc(|c| c.live_bytes);
    let resolved = snap.resolve();
    println!(
        "\nBefore exit: {} callsite(s) still hold memory (the exit report on stderr counts what is still live then):",
        resolved.len()
    );
    for c in resolved.iter().take(8) {
        let frames = super::user_frames(&c.frames);
        let why = if super::mentions(frames, "explain_exit_report") {
            "this listing's own snapshot, freed before exit"
        } else if super::mentions(frames, "make_cycle") {
            "lesson 6's Rc cycle: the deliberate leak (direct and indirect)"
        } else if super::mentions(frames, "lesson6_leak") {
            "lesson 6's cache (arrays and its hash table): reachable from a static, not a leak"
        } else if super::mentions(frames, "thread_info") {
            "std's record of the main thread, set up before main and held by a static: reachable"
        } else if super::mentions(frames, "stdio") {
            "std's stdout buffer, made by the first println!; std frees it at exit, before the report"
        } else if !super::mentions(frames, "demo-arrays/")
            && !super::mentions(frames, "demo_arrays")
        {
            "std's runtime state (stdout buffer, thread name), not the tour's; std releases it at exit"
        } else {
            "not expected: worth investigating"
        };
        let at = frames
            .first()
            .map(|f| f.to_string())
            .unwrap_or_else(|| "?".into());
        println!(
            "  {} in {} block(s) at {at}\n      -> {why}",
            bytes(c.stats.live_bytes),
            c.stats.live_blocks
        );
    }
}
