//! Cross-crate integration tests live in `tests/tests/`, one global-allocator setup per file; the
//! helper binaries in `src/bin/` are run as child processes by `tests/exit_report.rs`.
//!
//! This library holds the checks shared by several allocator setups ([`checks`]), so that
//! `Tracked<AlignedAlloc>`, `Tracked<System>` and `Tracked<Jemalloc>` pass the same ones.

pub mod checks;
