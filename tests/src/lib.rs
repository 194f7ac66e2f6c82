//! Cross-crate integration tests live in `tests/tests/`, one global-allocator setup per file; the
//! helper binaries in `src/bin/` are run as child processes by `tests/exit_report.rs` and (under
//! the tracker and under valgrind's memcheck) `tests/leak_classes.rs`.
//!
//! This library holds the checks shared by several allocator setups ([`checks`]), so that
//! `Tracked<AlignedAlloc>`, `Tracked<System>` and `Tracked<Jemalloc>` pass the same ones; the
//! run-time switchable allocator of the binaries that also run under valgrind ([`switch`]); the
//! shapes of the leak scenarios of `src/bin/leak_cases.rs` ([`leak_shapes`]); running a child
//! process with a deadline ([`child`]); the threads of the fork tests ([`fork`]); the known allocations of `src/bin/export_known.rs`, whose
//! exports `tests/exports.rs` reads with the real tools ([`export_known`]); reading heap profiles
//! with `go tool pprof` ([`pprof`]).

pub mod checks;
pub mod child;
pub mod export_known;
pub mod fork;
pub mod leak_shapes;
pub mod pprof;
pub mod switch;
