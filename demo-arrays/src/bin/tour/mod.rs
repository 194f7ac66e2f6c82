//! The tour: one module per lesson, each printing what the tracker measured next to the NumPy idiom
//! it mirrors. Numbers printed are always measured (`alloc_tracker::measure`, `stats`, `snapshot`,
//! `Instant`), never computed from sizes.

mod lesson1_footprint;
mod lesson2_sharing;
mod lesson3_views_and_copies;
mod lesson4_temporaries;
mod lesson5_lingering;
mod lesson6_leak;
mod lesson7_mmap;
mod lesson8_alignment;
mod lesson9_dtype_pitfalls;

use std::time::{Duration, Instant};

use alloc_tracker::Usage;

/// Options shared by the lessons.
pub struct Ctx {
    /// Divide sizes by 64 (for the end-to-end test in debug builds).
    pub quick: bool,
}

impl Ctx {
    /// `n`, or `n / 64` in quick mode.
    pub fn size(&self, n: usize) -> usize {
        if self.quick { n / 64 } else { n }
    }
}

type Lesson = fn(&Ctx);

/// Number, title, function.
pub const LESSONS: [(usize, &str, Lesson); 9] = [
    (
        1,
        "contiguous storage and dtype footprint",
        lesson1_footprint::run,
    ),
    (
        2,
        "assignment and borrowing share data",
        lesson2_sharing::run,
    ),
    (
        3,
        "a slice is a view; fancy indexing and reshaping a transpose copy",
        lesson3_views_and_copies::run,
    ),
    (
        4,
        "temporaries: a * 2.0 + b, fused, in place",
        lesson4_temporaries::run,
    ),
    (
        5,
        "lingering references: a small view pins a big base",
        lesson5_lingering::run,
    ),
    (
        6,
        "leaks: a cache that never evicts, a cycle nobody holds",
        lesson6_leak::run,
    ),
    (
        7,
        "memory mapping: sum a file bigger than the heap budget",
        lesson7_mmap::run,
    ),
    (
        8,
        "alignment: 64-byte aligned vs offset by one element",
        lesson8_alignment::run,
    ),
    (
        9,
        "dtype pitfalls: f32 accumulation, i8 overflow",
        lesson9_dtype_pitfalls::run,
    ),
];

/// Runs one lesson or all, then explains what the exit report will list.
pub fn run(ctx: &Ctx, only: Option<usize>) {
    println!(
        "demo-arrays tour: every number below is measured by alloc-tracker (Tracked<AlignedAlloc>)."
    );
    if ctx.quick {
        println!("(--quick: sizes divided by 64)");
    }
    for (n, title, f) in LESSONS {
        if only.is_none_or(|o| o == n) {
            println!("\nLesson {n}: {title}");
            f(ctx);
        }
    }
    lesson6_leak::explain_exit_report();
}

/// `80 000 000 B (76.3 MiB)`.
pub fn bytes(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    if n < 1024 {
        format!("{grouped} B")
    } else {
        // NumPy's size text writes 122 MiB as `122. MiB`; a table reads better as `122 MiB`.
        let size = demo_arrays::size_to_string(n as u128).replace(". ", " ");
        format!("{grouped} B ({size})")
    }
}

/// One line: the Rust expression, then what was measured.
pub fn row(code: &str, measured: impl std::fmt::Display) {
    println!("  {code:<46} {measured}");
}

/// The NumPy idiom a lesson mirrors.
pub fn numpy(idiom: &str) {
    println!("  NumPy: {idiom}");
}

/// A conclusion line.
pub fn note(text: impl std::fmt::Display) {
    println!("  -> {text}");
}

/// `allocated X in N blocks, peak Y`.
pub fn usage(u: &Usage) -> String {
    format!(
        "allocated {} in {} block(s), peak {}",
        bytes(u.allocated_bytes),
        u.allocations,
        bytes(u.peak_bytes)
    )
}

/// Runs `f` and returns its result and wall time.
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// The best of `reps` timings of `f` (the result of the last run is returned).
pub fn best_of<R>(reps: usize, mut f: impl FnMut() -> R) -> (R, Duration) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..reps.max(1) {
        let (r, d) = timed(&mut f);
        best = best.min(d);
        last = Some(r);
    }
    (last.expect("at least one run"), best)
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// The frames of a callsite from the first one outside the allocation machinery (the tracker, the
/// allocator, std's `alloc`): release builds inline those layers, so they can show up unnamed by
/// module and the tracker's own trimming may keep them.
pub fn user_frames(frames: &[alloc_tracker::Frame]) -> &[alloc_tracker::Frame] {
    let machinery = |f: &alloc_tracker::Frame| {
        let file = f.file.as_deref().unwrap_or("");
        // Paths are relative to the current directory when below it, absolute otherwise.
        file.contains("alloc-tracker/src/")
            || file.contains("alloc-core/src/")
            || file.contains("library/alloc/src/alloc.rs")
            || file.contains("library/alloc/src/raw_vec")
            || f.function.contains("__rust_alloc")
            || f.function.starts_with("alloc_tracker::")
    };
    let start = frames
        .iter()
        .position(|f| !machinery(f))
        .unwrap_or(frames.len());
    &frames[start..]
}

/// Whether any frame's function or file mentions `needle`.
pub fn mentions(frames: &[alloc_tracker::Frame], needle: &str) -> bool {
    frames.iter().any(|f| {
        f.function.contains(needle) || f.file.as_deref().is_some_and(|p| p.contains(needle))
    })
}
