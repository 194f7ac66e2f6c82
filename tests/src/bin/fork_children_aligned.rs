//! Forks while threads allocate, under `Tracked<Stalling<alloc_core::AlignedAlloc>>`: children that exit
//! normally print no report and exit 0 (see `fork_children/body.rs`). Run by
//! `tests/exit_report.rs`.

#[path = "fork_children/body.rs"]
mod body;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<body::Stalling<alloc_core::AlignedAlloc>> =
    alloc_tracker::Tracked::new(body::Stalling(alloc_core::AlignedAlloc::new()));

fn main() {
    body::run();
}
