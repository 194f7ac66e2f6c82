//! The only two places these tests call alloc-tracker's run-time leak API,
//! `alloc_tracker::leak_check()` and `alloc_tracker::ignore_leak(ptr)`.
//!
//! WIRING: while that API is being written, the calls are compiled only with this crate's
//! `leak-api` feature; without it both functions return `None` and the scenarios that need them
//! (`leak_cases ignored`, `leak_cases leak_check`) print `unavailable`, which their tests report as
//! a failure. Once `alloc_tracker::{leak_check, ignore_leak, LeakSummary}` exist, turn the feature
//! on by default in `tests/Cargo.toml` (`default = ["leak-api"]`) or delete the stubs below.

/// The figures of `alloc_tracker::LeakSummary`, field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeakFigures {
    /// Bytes in leaked blocks no other leaked block points to.
    pub direct_bytes: u64,
    /// Blocks of `direct_bytes`.
    pub direct_blocks: u64,
    /// Bytes in leaked blocks that a leaked block points to.
    pub indirect_bytes: u64,
    /// Blocks of `indirect_bytes`.
    pub indirect_blocks: u64,
    /// Bytes in live blocks reachable from a root.
    pub reachable_bytes: u64,
    /// Blocks of `reachable_bytes`.
    pub reachable_blocks: u64,
    /// Bytes in leaked blocks matched by a suppression.
    pub suppressed_bytes: u64,
    /// Blocks of `suppressed_bytes`.
    pub suppressed_blocks: u64,
}

impl std::fmt::Display for LeakFigures {
    /// One line of `key=value` pairs, as the `leak_check` scenario prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "direct_bytes={} direct_blocks={} indirect_bytes={} indirect_blocks={} \
             reachable_bytes={} reachable_blocks={} suppressed_bytes={} suppressed_blocks={}",
            self.direct_bytes,
            self.direct_blocks,
            self.indirect_bytes,
            self.indirect_blocks,
            self.reachable_bytes,
            self.reachable_blocks,
            self.suppressed_bytes,
            self.suppressed_blocks
        )
    }
}

/// `alloc_tracker::leak_check()` now, or `None` while the API is not wired (see the module docs).
#[cfg(feature = "leak-api")]
pub fn leak_check() -> Option<LeakFigures> {
    let s = alloc_tracker::leak_check();
    Some(LeakFigures {
        direct_bytes: s.direct_bytes,
        direct_blocks: s.direct_blocks,
        indirect_bytes: s.indirect_bytes,
        indirect_blocks: s.indirect_blocks,
        reachable_bytes: s.reachable_bytes,
        reachable_blocks: s.reachable_blocks,
        suppressed_bytes: s.suppressed_bytes,
        suppressed_blocks: s.suppressed_blocks,
    })
}

/// `alloc_tracker::ignore_leak(ptr)`, or `None` while the API is not wired (see the module docs).
#[cfg(feature = "leak-api")]
pub fn ignore_leak(ptr: *const u8) -> Option<bool> {
    Some(alloc_tracker::ignore_leak(ptr))
}

/// Stub until the API is wired: always `None` (see the module docs).
#[cfg(not(feature = "leak-api"))]
pub fn leak_check() -> Option<LeakFigures> {
    None
}

/// Stub until the API is wired: always `None` (see the module docs).
#[cfg(not(feature = "leak-api"))]
pub fn ignore_leak(ptr: *const u8) -> Option<bool> {
    let _ = ptr;
    None
}
