//! Lesson 6: a memoising cache that never evicts keeps every result alive until the process exits;
//! the exit report names the callsite. Python's `functools.lru_cache(maxsize=None)` on a function
//! returning arrays does the same.

use std::collections::HashMap;
use std::sync::Mutex;

use alloc_tracker::{measure, snapshot};
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
        "nothing frees it: the exit report below lists it as live at exit, at remember's callsite",
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
        } else if super::mentions(frames, "lesson6_leak") {
            "lesson 6's cache (arrays and its hash table): the deliberate leak"
        } else if super::mentions(frames, "thread_info") {
            "std's record of the main thread, set up before main: the report sets it apart as not counted"
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
