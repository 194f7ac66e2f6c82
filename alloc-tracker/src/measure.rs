//! [`measure`]: what the current thread allocated while running a closure.

use crate::guard;

/// What [`measure`] saw the current thread do. A `realloc` counts as one allocation of the new
/// size and one free of the old.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes allocated.
    pub allocated_bytes: u64,
    /// Blocks allocated.
    pub allocations: u64,
    /// Bytes freed (including blocks allocated before the closure ran).
    pub freed_bytes: u64,
    /// Blocks freed.
    pub frees: u64,
    /// The highest net live bytes over the start (allocated minus freed), at any moment; 0 if it
    /// never rose above the start.
    pub peak_bytes: u64,
}

impl Usage {
    /// Net bytes still held: allocated minus freed (negative if the closure freed older blocks).
    pub fn net_bytes(&self) -> i64 {
        self.allocated_bytes as i64 - self.freed_bytes as i64
    }
}

/// Runs `f` and returns what the **current thread** allocated and freed meanwhile.
///
/// Thread-scoped, so it stays exact while other threads (parallel `cargo test`) allocate; it
/// nests. Only counts while a [`crate::Tracked`] allocator is installed.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let data = vec![1u32; 1024];
/// let (sum, usage) = alloc_tracker::measure(|| data[256..512].iter().sum::<u32>());
/// assert_eq!(sum, 256);
/// assert_eq!(usage.allocated_bytes, 0); // a slice is a view: no allocation
///
/// // `black_box`: in a release build LLVM removes a `Vec` that nothing reads, and with it the
/// // allocation this example measures.
/// let (_, usage) = alloc_tracker::measure(|| {
///     let a = std::hint::black_box(vec![0u8; 4096]);
///     drop(a);
///     let b = std::hint::black_box(vec![0u8; 1000]);
///     b.len()
/// });
/// println!("{usage:?}");
/// // Usage { allocated_bytes: 5096, allocations: 2, freed_bytes: 5096, frees: 2, peak_bytes: 4096 }
/// assert_eq!((usage.allocated_bytes, usage.peak_bytes), (5096, 4096));
/// ```
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let start = guard::thread_counters();
    let outer_peak = guard::reset_peak();
    let result = f();
    let end = guard::thread_counters();
    guard::merge_peak(outer_peak);
    let usage = Usage {
        allocated_bytes: end.allocated_bytes.wrapping_sub(start.allocated_bytes),
        allocations: end.allocations.wrapping_sub(start.allocations),
        freed_bytes: end.freed_bytes.wrapping_sub(start.freed_bytes),
        frees: end.frees.wrapping_sub(start.frees),
        peak_bytes: end.peak_net.wrapping_sub(start.net).max(0) as u64,
    };
    (result, usage)
}
