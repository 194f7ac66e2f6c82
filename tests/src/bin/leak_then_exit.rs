//! Leaks 4 096 bytes, then calls `std::process::exit(3)`: the report is still printed and the
//! exit code stays 3.

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

#[inline(never)]
fn leak_before_exit() -> &'static mut [u8] {
    Box::leak(vec![1u8; 4096].into_boxed_slice())
}

fn main() {
    let leaked = leak_before_exit();
    println!("leaked {} bytes, exiting with 3", leaked.len());
    std::process::exit(3);
}
