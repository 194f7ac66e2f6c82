//! Prints how many return addresses the tracker captured for one known allocation. Run by
//! `tests/exit_report.rs` under `unwind=fp` and `unwind=dwarf`: DWARF walks end at std's entry
//! frame around `main` (the symbol table is read before `main` for that), the frame-pointer walk
//! goes on through the runtime's and the C library's frames.

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

#[inline(never)]
fn allocate_marked() -> Vec<u8> {
    vec![3u8; 4321]
}

fn main() {
    let block = std::hint::black_box(allocate_marked());
    let snapshot = alloc_tracker::snapshot();
    let callsite = snapshot
        .callsites()
        .iter()
        .find(|c| c.live_bytes == 4321 && c.live_blocks == 1)
        .expect("the marked block's callsite");
    println!("{}", callsite.stack().len());
    drop(block);
}
