//! t-gmax: `keep` (60 000 B) then `spike` (100 000 B, freed) then `late` (30 000 B). At the heap's
//! peak `keep` and `spike` were live and `late` was not; prints each callsite's bytes at the peak
//! (from `snapshot`) on stdout, and leaks `keep` and `late` into the exit report.

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

#[inline(never)]
fn keep() -> Vec<u8> {
    Vec::with_capacity(60_000)
}

#[inline(never)]
fn spike() -> Vec<u8> {
    Vec::with_capacity(100_000)
}

#[inline(never)]
fn late() -> Vec<u8> {
    Vec::with_capacity(30_000)
}

fn main() {
    let kept = keep();
    drop(std::hint::black_box(spike()));
    let later = late();
    let snap = alloc_tracker::snapshot().resolve();
    for name in ["keep", "spike", "late"] {
        let at_peak: u64 = snap
            .iter()
            .filter(|c| {
                c.location()
                    .is_some_and(|f| f.function.ends_with(&format!("::{name}")))
            })
            .map(|c| c.stats.peak_bytes)
            .sum();
        println!("{name} {at_peak}");
    }
    std::mem::forget((kept, later));
}
