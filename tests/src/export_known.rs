//! The known allocations of `src/bin/export_known.rs`, whose exports (pprof, DHAT JSON, folded
//! stacks, flame graphs) `tests/exports.rs` reads with the real tools: the figures each callsite
//! must show there.

/// Bytes of each block `export_known::page` allocates.
pub const PAGE_BYTES: u64 = 4096;
/// Blocks `export_known::page` allocates (each one call).
pub const PAGES: u64 = 1000;
/// Of them, freed before the snapshot (every other one); the rest stay live.
pub const PAGES_FREED: u64 = 500;
/// Bytes of the one block `export_known::spike` allocates after the pages are halved, and frees
/// right away: the heap's peak (t-gmax) is while it is live.
pub const SPIKE_BYTES: u64 = 8 << 20;
/// Bytes of the one block `export_known::keep` allocates before the spike and holds to the end.
pub const KEEP_BYTES: u64 = 300_000;
/// Bytes of the vector `export_known::holder` allocates to hold the pages (`PAGES` of
/// `Vec<u8>`, 24 bytes each), live to the end.
pub const HOLDER_BYTES: u64 = PAGES * 24;
