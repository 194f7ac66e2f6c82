//! The tracker's own memory runs out while the program's does not: an inner allocator that,
//! switched on, refuses every allocation except the program's own (one distinctive size), so the
//! block map can neither grow a page table nor rebuild a directory during a burst of allocations.
//! Run by `tests/tests/tracker_oom.rs`, which reads what this prints and the exit report.
//!
//! The tracker's allocations come while its guard is held, which this allocator cannot see, so it
//! tells them apart by size: the program allocates only [`USER_SIZE`] bytes while refusing is on,
//! from one callsite interned beforehand (a new callsite would need memory too).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// `System`, refusing every allocation but the program's own while [`REFUSING`] is set.
struct FailOnDemand;

static REFUSING: AtomicBool = AtomicBool::new(false);
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// The size of the program's blocks in the burst: a size no table of the tracker has (its page
/// tables are 64 bytes times a power of two, its directories 40 bytes times one).
const USER_SIZE: usize = 5000;
/// Blocks in the burst: about 10 MB, several 2 MiB regions, so several shards' directories.
const BLOCKS: usize = 4000;

fn refuse(size: usize) -> bool {
    if REFUSING.load(Relaxed) && size != USER_SIZE {
        REFUSED.fetch_add(1, Relaxed);
        return true;
    }
    false
}

// SAFETY: forwards to `System` with the caller's arguments, or returns null (a refusal), which
// `GlobalAlloc` allows for any allocation.
unsafe impl GlobalAlloc for FailOnDemand {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if refuse(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<FailOnDemand> = alloc_tracker::Tracked::new(FailOnDemand);

fn main() {
    let layout = Layout::from_size_align(USER_SIZE, 8).unwrap();
    let mut blocks: Vec<*mut u8> = Vec::with_capacity(BLOCKS);
    let before = alloc_tracker::stats();
    // Round 0 interns the callsite and gives the shards directories; round 1 is the burst, with
    // the tracker's memory refused. One loop, so both rounds allocate from the same callsite.
    for round in 0..2 {
        let n = if round == 0 { 16 } else { BLOCKS };
        REFUSING.store(round == 1, Relaxed);
        for _ in 0..n {
            // SAFETY: the layout has a non-zero size.
            let p = unsafe { std::alloc::alloc(layout) };
            assert!(
                !p.is_null(),
                "the program's own allocations are never refused"
            );
            blocks.push(p);
        }
        REFUSING.store(false, Relaxed);
        let during = alloc_tracker::stats();
        for p in blocks.drain(..) {
            // SAFETY: allocated above with `layout`, freed once.
            unsafe { std::alloc::dealloc(p, layout) };
        }
        if round == 1 {
            let after = alloc_tracker::stats();
            println!("refused: {}", REFUSED.load(Relaxed));
            // Each block of the burst is in live bytes (recorded) or in overhead (untracked).
            println!(
                "accounted during: {}",
                during.live_bytes + during.overhead_bytes
                    - before.live_bytes
                    - before.overhead_bytes
            );
            println!("live before: {}", before.live_bytes);
            println!("live after: {}", after.live_bytes);
            println!("blocks before: {}", before.live_blocks);
            println!("blocks after: {}", after.live_blocks);
            println!("overhead after: {}", after.overhead_bytes);
        }
    }
}
