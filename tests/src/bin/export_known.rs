//! Known allocations, then every export of one snapshot through the API, for `tests/exports.rs`.
//!
//! `holder` allocates room for `PAGES` vectors; `page` allocates `PAGES` blocks of `PAGE_BYTES`,
//! every other one freed; `keep` allocates `KEEP_BYTES` held to the end; `spike` allocates
//! `SPIKE_BYTES` and frees them, making the heap's peak (see `integration_tests::export_known`).
//! Then one `snapshot()` is written by each writer to the paths given as `key=path` arguments
//! (keys `pprof`, `dhat`, `folded_peak`, `folded_exit`, `folded_total`, `svg_peak`, `svg_exit`), and the
//! snapshot's global figures are printed on stdout: `heap live=<bytes> peak=<bytes>`, after
//! the snapshot's `diff` from one taken right after `holder`: `grew <function> <bytes> <blocks>`
//! for each callsite that grew, largest first.

use std::fs::File;
use std::io::BufWriter;

use alloc_tracker::Metric;
use integration_tests::export_known::{KEEP_BYTES, PAGE_BYTES, PAGES, SPIKE_BYTES};

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

#[inline(never)]
fn holder() -> Vec<Vec<u8>> {
    Vec::with_capacity(PAGES as usize)
}

#[inline(never)]
fn page() -> Vec<u8> {
    std::hint::black_box(vec![1u8; PAGE_BYTES as usize])
}

#[inline(never)]
fn keep() -> Vec<u8> {
    std::hint::black_box(vec![2u8; KEEP_BYTES as usize])
}

#[inline(never)]
fn spike() {
    drop(std::hint::black_box(vec![3u8; SPIKE_BYTES as usize]));
}

fn main() {
    let outputs: Vec<(String, String)> = std::env::args()
        .skip(1)
        .map(|a| {
            let (k, v) = a.split_once('=').expect("arguments are key=path");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let mut pages = holder();
    let early = alloc_tracker::snapshot();
    for _ in 0..PAGES {
        pages.push(page());
    }
    for (i, p) in pages.iter_mut().enumerate() {
        if i % 2 == 1 {
            *p = Vec::new();
        }
    }
    let kept = keep();
    spike();

    let snap = alloc_tracker::snapshot();
    for (key, path) in &outputs {
        let mut w = BufWriter::new(File::create(path).expect("output file"));
        match key.as_str() {
            "pprof" => snap.write_pprof(&mut w),
            "dhat" => snap.write_dhat(&mut w),
            "folded_peak" => snap.write_folded(&mut w, Metric::Peak),
            "folded_exit" => snap.write_folded(&mut w, Metric::Exit),
            "folded_total" => snap.write_folded(&mut w, Metric::Total),
            "svg_peak" => snap.write_flamegraph(&mut w, Metric::Peak),
            "svg_exit" => snap.write_flamegraph(&mut w, Metric::Exit),
            other => panic!("unknown output {other}"),
        }
        .unwrap_or_else(|e| panic!("writing {key} to {path}: {e}"));
    }
    for growth in snap.diff(&early) {
        let function = growth
            .resolve()
            .first()
            .map_or_else(|| "?".to_owned(), |f| f.function.clone());
        println!(
            "grew {function} {} {}",
            growth.grown_bytes(),
            growth.grown_blocks()
        );
    }
    let heap = snap.heap();
    println!("heap live={} peak={}", heap.live_bytes, heap.peak_bytes);
    drop((pages, kept));
}
