//! Forks while threads allocate, under `Tracked<Stalling<std::alloc::System>>`: children that exit
//! normally print no report and exit 0 (see `fork_children/body.rs`). Run by
//! `tests/exit_report.rs`.

#[path = "fork_children/body.rs"]
mod body;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<body::Stalling<std::alloc::System>> =
    alloc_tracker::Tracked::new(body::Stalling(std::alloc::System));

fn main() {
    body::run();
}
