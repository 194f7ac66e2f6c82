//! Sets a live-bytes budget with almost no room, then panics: printing the panic's message and
//! backtrace allocates, and must still work. Run by `tests/exit_report.rs` with
//! `RUST_BACKTRACE=1`.

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

fn main() {
    let live = alloc_tracker::stats().live_bytes;
    alloc_tracker::set_limit(Some(live + 64));
    let refused = Vec::<u8>::new().try_reserve_exact(4096).is_err();
    panic!("refused past the budget: {refused}");
}
