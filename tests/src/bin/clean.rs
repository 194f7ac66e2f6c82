//! Allocates, prints and frees everything: its exit report must show zero bytes live.

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

fn main() {
    let words: Vec<String> = (0..100).map(|i| format!("word{i}")).collect();
    let joined = words.join(" ");
    println!("{} bytes of words", joined.len());
    let handle = std::thread::spawn(|| vec![1u64; 512].iter().sum::<u64>());
    println!("thread summed {}", handle.join().unwrap());
}
