//! How much of a small-block heap stays mapped once most of it is freed: jemalloc's slab size
//! against fragmentation (issue #13 tried larger slabs, `_RJEM_MALLOC_CONF=slab_sizes:…`).
//!
//! Allocates `COUNT` blocks of random sizes in `LO..HI` bytes, frees all but a random `KEEP`%, and
//! prints the allocator's active bytes (pages of extents, slabs and `alloc_core::small` pages that
//! hold a live block) and the process's resident memory (`VmRSS`) at the peak and after the frees,
//! beside the live bytes. A slab goes back to the page allocator only once
//! every region in it is free, so the larger the slabs, the more pages a scattered survivor holds.
//!
//! ```text
//! cargo run --release -p benches --bin slab_fragment -- KEEP LO HI COUNT
//! cargo run --release -p benches --bin slab_fragment -- 10 1025 4096 500000
//! _RJEM_MALLOC_CONF=slab_sizes:1025-4096:16 target/release/slab_fragment 10 1025 4096 500000
//! ```

#[global_allocator]
static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("KEEP LO HI COUNT: four integers"))
        .collect();
    let [keep, lo, hi, count] = args[..] else {
        eprintln!("usage: slab_fragment KEEP LO HI COUNT (e.g. 10 1025 4096 500000)");
        std::process::exit(2);
    };
    assert!(
        lo >= 1 && hi > lo && keep <= 100,
        "need 1 <= LO < HI and KEEP <= 100"
    );
    let mut x = 88172645463325252u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = alloc_core::stats().expect("jemalloc statistics").active;
    let mut blocks: Vec<Box<[u8]>> = (0..count)
        .map(|i| {
            let mut b = vec![0u8; lo + (next() % (hi - lo) as u64) as usize].into_boxed_slice();
            b[0] = i as u8;
            b
        })
        .collect();
    let peak = alloc_core::stats().expect("jemalloc statistics").active - base;
    let peak_rss = vm_rss();
    for b in blocks.iter_mut() {
        if next() % 100 >= keep as u64 {
            *b = Box::new([]);
        }
    }
    let after = alloc_core::stats().expect("jemalloc statistics").active - base;
    let after_rss = vm_rss();
    let live: usize = blocks.iter().map(|b| b.len()).sum();
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "keep {keep}% of {count} blocks of {lo}..{hi} B: active {:.0} MiB at the peak, {:.0} MiB after the frees, live {:.0} MiB; VmRSS {:.0} MiB at the peak, {:.0} MiB after",
        mib(peak),
        mib(after),
        mib(live),
        mib(peak_rss),
        mib(after_rss)
    );
}

/// This process's resident memory in bytes (`VmRSS` of `/proc/self/status`).
fn vm_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kib << 10
}
