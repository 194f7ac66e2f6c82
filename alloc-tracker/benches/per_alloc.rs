//! Placeholder, replaced by the per-allocation bench.
fn main() {}
