//! What the fork tests' threads do while the main thread forks (`src/bin/fork_churn.rs`,
//! `src/bin/fork_children/`).

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// Allocates and frees 64-byte blocks without pause until `stop`, keeping a ring of 64 live, and
/// hands one block over through `slot` whenever it is empty (for a forked child to free: a block
/// this thread, which the child does not have, allocated).
pub fn churn(stop: &AtomicBool, slot: &AtomicPtr<[u8; 64]>) {
    let mut ring: Vec<Box<[u8; 64]>> = Vec::with_capacity(64);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        ring.push(Box::new([i as u8; 64]));
        if ring.len() == 64 {
            ring.swap_remove((i % 64) as usize);
        }
        if slot.load(Ordering::Relaxed).is_null() {
            slot.store(Box::into_raw(Box::new([7u8; 64])), Ordering::Release);
        }
        i += 1;
    }
}
