//! Does starting arrays on a page boundary cost time? (alloc-core's `cache_oblivious:false`.)
//!
//! The NumPy-style loop `t = a*2; c = t + b` on f64 vectors of 16 KiB to 2 MiB, the four vectors
//! carved from one page-aligned buffer at chosen offsets into a page:
//! - `page-aligned`: all four at offset 0, where alloc-core starts blocks of 16 KiB or more;
//! - `staggered`: at 0, 1, 2 and 3 KiB, never at the same offset;
//! - `random-64B`: at pseudo-random multiples of 64 bytes (new ones each round), as jemalloc's
//!   default `cache_oblivious:true` places large blocks.
//!
//! A load and a store of different vectors at the same offset in a page can falsely depend on each
//! other in the core's memory disambiguation (4 KiB aliasing); this measures whether it shows.
//! The layouts take turns, 21 rounds of 2^27 elements each per size, and the fastest round of
//! each is printed (the least disturbed by the other tenants of a shared machine), with its ratio
//! to `page-aligned`:
//!
//! ```text
//! cargo run --release -p benches --bin page_offsets
//! ```

use std::hint::black_box;
use std::time::Instant;

/// Elements between the starts of two vectors' regions: the largest vector plus 8 KiB (room for
/// the offsets), a whole number of pages, so a vector's offset in its region is its page offset.
const REGION: usize = (1 << 18) + 1024;

/// Rounds per layout and size.
const ROUNDS: usize = 21;

/// `reps` times `t = a*2; c = t + b` over `n` elements of the vectors at byte offsets `offsets`
/// into regions 0..4 of `buf` (which starts on a page); returns the seconds taken.
fn run(buf: &mut [f64], n: usize, offsets: [usize; 4], reps: usize) -> f64 {
    let (ab, tc) = buf.split_at_mut(2 * REGION);
    let (a, b) = ab.split_at_mut(REGION);
    let (t, c) = tc.split_at_mut(REGION);
    let [oa, ob, ot, oc] = offsets.map(|o| o / 8);
    let (a, b) = (&mut a[oa..oa + n], &mut b[ob..ob + n]);
    let (t, c) = (&mut t[ot..ot + n], &mut c[oc..oc + n]);
    for (i, (x, y)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
        *x = i as f64;
        *y = (n - i) as f64;
    }
    let start = Instant::now();
    let mut acc = 0.0;
    for it in 0..reps {
        for (x, y) in t.iter_mut().zip(&*a) {
            *x = y * 2.0;
        }
        for ((z, x), y) in c.iter_mut().zip(&*t).zip(&*b) {
            *z = x + y;
        }
        acc += black_box(&*c)[it * 4099 % n];
    }
    black_box(acc);
    start.elapsed().as_secs_f64()
}

fn main() {
    let mut whole = vec![0.0f64; 4 * REGION + 512];
    let skip = whole.as_ptr().align_offset(4096);
    let buf = &mut whole[skip..];
    let mut seed = 12345u64;
    let mut random = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % 64) as usize * 64
    };
    for n in [1usize << 11, 1 << 13, 1 << 15, 1 << 17, 1 << 18] {
        let reps = (1usize << 27) / n;
        let mut best = [f64::INFINITY; 3];
        for _ in 0..ROUNDS {
            let layouts = [
                [0, 0, 0, 0],
                [0, 1024, 2048, 3072],
                [random(), random(), random(), random()],
            ];
            for (b, offsets) in best.iter_mut().zip(layouts) {
                *b = b.min(run(buf, n, offsets, reps));
            }
        }
        println!(
            "{:>4} KiB  page-aligned {:.4} s  staggered {:.4} s ({:.3}x)  random-64B {:.4} s ({:.3}x)",
            (n * 8) >> 10,
            best[0],
            best[1],
            best[1] / best[0],
            best[2],
            best[2] / best[0]
        );
    }
}
