//! A heap that grows while it frees temporaries, with more than 1 024 callsites: every free
//! leaves a new peak. Prints how many times the tracker copied the per-callsite t-gmax figures,
//! the heap's peak and the sum of those figures (read by `tests/peak_copies.rs`). `threads`
//! as the argument grows the heap from 4 threads at once.

use std::hint::black_box;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

/// One small block kept, allocated at the bottom of a distinct stack (a, b, c, d frames deep).
#[inline(never)]
fn leaf(keep: &mut Vec<Box<[u8]>>) {
    keep.push(black_box(vec![1u8; 16]).into_boxed_slice());
}

macro_rules! level {
    ($name:ident, $next:expr) => {
        #[inline(never)]
        fn $name(n: usize, rest: [usize; 3], keep: &mut Vec<Box<[u8]>>) {
            if n > 0 {
                $name(n - 1, rest, keep);
                black_box(());
            } else {
                $next(rest, keep);
            }
        }
    };
}
level!(a, |r: [usize; 3], k: &mut Vec<Box<[u8]>>| b(
    r[0],
    [r[1], r[2], 0],
    k
));
level!(b, |r: [usize; 3], k: &mut Vec<Box<[u8]>>| c(
    r[0],
    [r[1], 0, 0],
    k
));
level!(c, |r: [usize; 3], k: &mut Vec<Box<[u8]>>| d(
    r[0],
    [0, 0, 0],
    k
));
level!(d, |_: [usize; 3], k: &mut Vec<Box<[u8]>>| leaf(k));

/// Grows the heap by `steps` blocks of 1 KiB, freeing a temporary after each.
#[inline(never)]
fn grow(steps: usize) -> Vec<Vec<u8>> {
    let mut kept = Vec::with_capacity(steps);
    for i in 0..steps {
        kept.push(black_box(vec![i as u8; 1024]));
        drop(black_box(vec![0u8; 16]));
    }
    kept
}

fn main() {
    let threads = std::env::args().nth(1).as_deref() == Some("threads");
    let mut keep = Vec::with_capacity(4096);
    // Every (a, b, c, d) with a + b + c + d <= 12: 1 820 distinct stacks.
    for x in 0..=12 {
        for y in 0..=12 - x {
            for z in 0..=12 - x - y {
                for w in 0..=12 - x - y - z {
                    a(x, [y, z, w], &mut keep);
                }
            }
        }
    }
    let before = alloc_tracker::__bench::peak_copies();
    let kept: Vec<Vec<Vec<u8>>> = if threads {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| grow(5_000))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    } else {
        vec![grow(20_000)]
    };
    let copies = alloc_tracker::__bench::peak_copies() - before;
    let peak = alloc_tracker::stats().peak_bytes;
    let snap = alloc_tracker::snapshot();
    let at_peak: u64 = snap.callsites().iter().map(|c| c.peak_bytes).sum();
    println!(
        "callsites {} copies {copies} peak {peak} at_peak {at_peak}",
        snap.callsites().len()
    );
    drop(kept);
    drop(keep);
}
