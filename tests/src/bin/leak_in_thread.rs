//! Leaks 777 bytes from a spawned (and joined) thread, and returns from `main` while a second
//! thread is still running and allocating: the report must not be lost.

use std::sync::atomic::{AtomicBool, Ordering};

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

static STARTED: AtomicBool = AtomicBool::new(false);

#[inline(never)]
fn leak_from_thread() {
    std::mem::forget(vec![3u8; 777]);
}

fn main() {
    std::thread::spawn(leak_from_thread).join().unwrap();
    std::thread::spawn(|| {
        loop {
            let churn = vec![0u8; 100];
            std::hint::black_box(&churn);
            STARTED.store(true, Ordering::Relaxed);
        }
    });
    while !STARTED.load(Ordering::Relaxed) {
        std::hint::spin_loop();
    }
    println!("returning from main with a thread still allocating");
}
