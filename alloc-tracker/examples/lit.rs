//! `write_report` at run time: prints a line (std's stdout buffer), keeps a block, forgets one on
//! a scoped thread, then prints the report on demand to stdout. The literal output is quoted
//! in `write_report`'s docs (`src/report/mod.rs`).
//!
//! ```sh
//! cargo run -q -p alloc-tracker --example lit
//! ```

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

/// Leaks 100 bytes: the report names this function.
#[inline(never)]
fn forget_some() {
    // `black_box`: in a release build LLVM may remove an allocation that is only forgotten.
    std::mem::forget(std::hint::black_box(vec![2u8; 100]));
}

fn main() {
    println!("hello");
    let kept = std::hint::black_box(vec![1u8; 10]);
    // On a thread of its own: a stale copy of the address in `main`'s frame or registers would
    // keep the forgotten block reachable for the scan (see the README's "Limits").
    std::thread::scope(|s| {
        s.spawn(forget_some);
    });
    let mut out = Vec::new();
    alloc_tracker::write_report(&mut out).unwrap();
    print!("{}", String::from_utf8(out).unwrap());
    drop(kept);
}
