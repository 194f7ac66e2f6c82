//! Checks that run under any `Tracked<A>` global allocator. Each asserts measured figures.

use std::hint::black_box;

use alloc_tracker::{ResolvedCallsite, measure, snapshot};

/// Allocates 3 blocks of 1 000 bytes into `out` (reserved by the caller).
#[inline(never)]
pub fn alloc_a(out: &mut Vec<Box<[u8]>>) {
    for _ in 0..3 {
        out.push(vec![1u8; 1000].into_boxed_slice());
    }
}

/// Allocates 5 blocks of 700 bytes into `out` (reserved by the caller).
#[inline(never)]
pub fn alloc_b(out: &mut Vec<Box<[u8]>>) {
    for _ in 0..5 {
        out.push(vec![2u8; 700].into_boxed_slice());
    }
}

/// The resolved callsites whose first frame outside the allocation machinery is `function`.
pub fn callsites_of(function: &str) -> Vec<ResolvedCallsite> {
    snapshot()
        .resolve()
        .into_iter()
        .filter(|c| {
            c.location()
                .is_some_and(|f| f.function.ends_with(&format!("::{function}")))
        })
        .collect()
}

/// Two functions allocate known, different amounts; `snapshot()` gives each its exact live bytes
/// and blocks, and names the right function and file.
pub fn attribution() {
    let mut keep = Vec::with_capacity(8);
    alloc_a(&mut keep);
    alloc_b(&mut keep);
    for (function, bytes, blocks) in [("alloc_a", 3000, 3), ("alloc_b", 3500, 5)] {
        let sites = callsites_of(function);
        assert_eq!(
            sites.len(),
            1,
            "{function}: {:#?}",
            sites.iter().map(|s| &s.frames).collect::<Vec<_>>()
        );
        let site = &sites[0];
        assert_eq!(
            (site.stats.live_bytes, site.stats.live_blocks),
            (bytes, blocks),
            "{function}"
        );
        assert!(site.stats.total_bytes >= bytes);
        let file = site.location().unwrap().file.clone().unwrap_or_default();
        assert!(file.ends_with("src/checks.rs"), "{function} at {file}");
    }
    drop(keep);
    for function in ["alloc_a", "alloc_b"] {
        assert_eq!(callsites_of(function)[0].stats.live_bytes, 0, "{function}");
    }
    alloc_tracker::__bench::check_invariants().unwrap();
}

/// `measure`: slicing allocates nothing, `vec![0u8; 4096]` is 4 096 bytes, peaks of
/// alloc-free-alloc sequences are right, nesting works.
pub fn measure_figures() {
    let data: Vec<u64> = (0..4096).collect();
    let (sum, usage) = measure(|| black_box(&data[1024..2048]).iter().sum::<u64>());
    assert_eq!(sum, (1024..2048).sum::<u64>());
    assert_eq!(usage, alloc_tracker::Usage::default());

    let (v, usage) = measure(|| vec![0u8; 4096]);
    assert_eq!((usage.allocated_bytes, usage.allocations), (4096, 1));
    assert_eq!(
        (usage.freed_bytes, usage.frees, usage.peak_bytes),
        (0, 0, 4096)
    );

    let ((), usage) = measure(|| {
        let a = black_box(vec![0u8; 3000]);
        drop(a);
        let b = black_box(vec![0u8; 2000]);
        let c = black_box(vec![0u8; 500]);
        drop((b, c));
    });
    assert_eq!(usage.peak_bytes, 3000);
    assert_eq!((usage.allocated_bytes, usage.freed_bytes), (5500, 5500));
    assert_eq!((usage.allocations, usage.frees), (3, 3));

    // Freeing what existed before gives a negative net and a zero peak.
    let ((), usage) = measure(|| drop(v));
    assert_eq!(
        (usage.freed_bytes, usage.peak_bytes, usage.net_bytes()),
        (4096, 0, -4096)
    );

    // Nested: the inner peak counts toward the outer one.
    let ((), outer) = measure(|| {
        let x = black_box(vec![0u8; 100]);
        let ((), inner) = measure(|| drop(black_box(vec![0u8; 1000])));
        assert_eq!(inner.peak_bytes, 1000);
        drop(x);
    });
    assert_eq!(outer.peak_bytes, 1100);

    // A realloc counts as one allocation of the new size and one free of the old.
    let ((), usage) = measure(|| {
        let mut v: Vec<u8> = Vec::with_capacity(64);
        v.reserve_exact(1000);
        black_box(&v);
    });
    assert_eq!((usage.allocations, usage.frees), (2, 2));
    assert_eq!(usage.allocated_bytes, 64 + 1000);
}

/// A realloc is attributed to the callsite that reallocated, and leaves the old one.
pub fn realloc_attribution() {
    #[inline(never)]
    fn make() -> Vec<u8> {
        Vec::with_capacity(100)
    }
    #[inline(never)]
    fn grow(v: &mut Vec<u8>) {
        v.reserve_exact(10_000);
    }
    let mut v = make();
    assert_eq!(callsites_of("make")[0].stats.live_bytes, 100);
    grow(&mut v);
    assert_eq!(callsites_of("make")[0].stats.live_bytes, 0);
    let grown = &callsites_of("grow")[0].stats;
    assert_eq!((grown.live_bytes, grown.live_blocks), (10_000, 1));
    drop(v);
    assert_eq!(callsites_of("grow")[0].stats.live_bytes, 0);
}

/// Report generation allocates (symbols, text) without disturbing the figures: only the caller's
/// own output buffer is counted for this thread.
pub fn report_allocates_untracked() {
    let mut out = Vec::new();
    let (result, usage) = measure(|| alloc_tracker::write_report(&mut out));
    result.unwrap();
    assert_eq!(usage.net_bytes(), out.capacity() as i64);
    let text = String::from_utf8(out).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("SUMMARY: alloc-tracker: live at exit: "),
        "{text}"
    );
    assert!(alloc_tracker::overhead_bytes() > 0);
}

/// Allocations in thread-local destructors at thread exit are tracked.
pub fn thread_local_destructors() {
    struct AllocatesOnDrop;
    impl Drop for AllocatesOnDrop {
        fn drop(&mut self) {
            dtor_alloc();
        }
    }
    #[inline(never)]
    fn dtor_alloc() {
        let freed = black_box(vec![0u8; 321]);
        drop(freed);
        std::mem::forget(vec![0u8; 333]);
    }
    thread_local! {
        static GUARD: AllocatesOnDrop = const { AllocatesOnDrop };
    }
    std::thread::spawn(|| GUARD.with(|_| ())).join().unwrap();
    let sites = callsites_of("dtor_alloc");
    let live: u64 = sites.iter().map(|s| s.stats.live_bytes).sum();
    let total: u64 = sites.iter().map(|s| s.stats.total_bytes).sum();
    assert_eq!((live, total), (333, 654), "{sites:#?}");
}

/// A tiny deterministic generator (xorshift64*), so runs are repeatable without a dependency.
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A size from 1 B to `max`, log-uniform (most blocks small, some large).
    pub fn size(&mut self, max: usize) -> usize {
        let bits = (self.next_u64() % (max.ilog2() as u64 + 1)) as u32;
        1 + (self.next_u64() as usize) % (1usize << bits).min(max)
    }
}

/// What one worker of [`churn`] did, by its own count.
#[derive(Debug, Default, Clone, Copy)]
pub struct Churned {
    /// Blocks allocated (reallocs included).
    pub blocks: u64,
    /// Bytes allocated (reallocs add their new size).
    pub bytes: u64,
}

/// `ops` random alloc / realloc / free operations over at most 64 live blocks of 1 B..`max`,
/// all freed at the end. Returns the thread's own count, checked against `measure`.
pub fn churn(seed: u64, ops: usize, max: usize) -> Churned {
    let mut rng = Rng(seed | 1);
    let mut slots: Vec<Vec<u8>> = (0..64).map(|_| Vec::new()).collect();
    let mut count = Churned::default();
    let ((), usage) = measure(|| {
        for _ in 0..ops {
            let slot = &mut slots[(rng.next_u64() % 64) as usize];
            match (slot.capacity(), rng.next_u64() % 3) {
                (0, _) => {
                    let size = rng.size(max);
                    *slot = Vec::with_capacity(size);
                    count.blocks += 1;
                    count.bytes += slot.capacity() as u64;
                }
                (before, 0) => {
                    let size = rng.size(max);
                    if size > before {
                        slot.reserve_exact(size - slot.len());
                    } else {
                        slot.shrink_to(size);
                    }
                    if slot.capacity() != before {
                        count.blocks += 1;
                        count.bytes += slot.capacity() as u64;
                    }
                }
                _ => *slot = Vec::new(),
            }
        }
        slots.iter_mut().for_each(|s| *s = Vec::new());
    });
    assert_eq!(usage.allocations, count.blocks, "thread's own count");
    assert_eq!(usage.allocated_bytes, count.bytes);
    assert_eq!(usage.freed_bytes, usage.allocated_bytes);
    // No callsite freed more than it allocated, overhead never went below zero: imbalances that
    // the counters' saturating arithmetic would hide from every figure above.
    alloc_tracker::__bench::check_invariants().unwrap();
    count
}

/// One step of [`run_program`].
#[derive(Clone, Debug)]
pub enum Op {
    /// Allocate a block of this many bytes (1..).
    Alloc(usize),
    /// Reallocate the block at this index (modulo the live count) to this many bytes (1..).
    Realloc(usize, usize),
    /// Free the block at this index (modulo the live count).
    Free(usize),
}

#[inline(never)]
fn program_alloc(size: usize) -> Vec<u8> {
    Vec::with_capacity(size)
}

#[inline(never)]
fn program_realloc(v: &mut Vec<u8>, size: usize) {
    if size > v.capacity() {
        v.reserve_exact(size);
    } else {
        v.shrink_to(size);
    }
}

/// Runs `ops` against the tracker and a model (a list of sizes): `measure`'s figures and the
/// live bytes and blocks of the two callsites doing the work must equal the model's, and
/// everything is back to zero after the final frees.
pub fn run_program(ops: &[Op]) {
    let live_at = |names: &[&str]| -> (u64, u64) {
        snapshot()
            .resolve()
            .into_iter()
            .filter(|c| {
                c.location().is_some_and(|f| {
                    names
                        .iter()
                        .any(|n| f.function.ends_with(&format!("::{n}")))
                })
            })
            .fold((0, 0), |(b, n), c| {
                (b + c.stats.live_bytes, n + c.stats.live_blocks)
            })
    };
    let base = live_at(&["program_alloc", "program_realloc"]);
    let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(ops.len());
    let (mut allocated, mut freed, mut peak, mut net) = (0u64, 0u64, 0u64, 0u64);
    let ((), usage) = measure(|| {
        for op in ops {
            match *op {
                Op::Alloc(size) => {
                    blocks.push(program_alloc(size));
                    allocated += size as u64;
                    net += size as u64;
                }
                Op::Realloc(i, size) if !blocks.is_empty() => {
                    let i = i % blocks.len();
                    let old = blocks[i].capacity();
                    program_realloc(&mut blocks[i], size);
                    if blocks[i].capacity() != old {
                        allocated += size as u64;
                        freed += old as u64;
                        net = net + size as u64 - old as u64;
                    }
                }
                Op::Free(i) if !blocks.is_empty() => {
                    let v = blocks.swap_remove(i % blocks.len());
                    freed += v.capacity() as u64;
                    net -= v.capacity() as u64;
                }
                _ => {}
            }
            peak = peak.max(net);
        }
    });
    assert_eq!(
        (usage.allocated_bytes, usage.freed_bytes, usage.peak_bytes),
        (allocated, freed, peak)
    );
    let live = live_at(&["program_alloc", "program_realloc"]);
    assert_eq!(
        (live.0 - base.0, live.1 - base.1),
        (net, blocks.len() as u64),
        "per-callsite live figures"
    );
    drop(blocks);
    assert_eq!(live_at(&["program_alloc", "program_realloc"]), base);
}
