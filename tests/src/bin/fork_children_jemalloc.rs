//! Forks while threads allocate, under `Tracked<Stalling<tikv_jemallocator::Jemalloc>>`: children that exit
//! normally print no report and exit 0 (see `fork_children/body.rs`). Run by
//! `tests/exit_report.rs`.

#[path = "fork_children/body.rs"]
mod body;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<body::Stalling<tikv_jemallocator::Jemalloc>> =
    alloc_tracker::Tracked::new(body::Stalling(tikv_jemallocator::Jemalloc));

fn main() {
    body::run();
}
