//! A small program with one leak of each kind, for the README's "Reading the leak report":
//! a forgotten buffer (direct), a forgotten list (its head direct, the rest indirect), an `Rc`
//! cycle (one direct, one indirect) and a cache held by a static (reachable, not a leak).
//!
//! ```sh
//! cargo run -p alloc-tracker --example leaky
//! ```

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Mutex;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

/// A cache that is never evicted: it grows, but a static holds it, so it is reachable.
static CACHE: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Node {
    _next: Option<Box<Node>>,
    _payload: [u64; 4],
}

struct Peer {
    other: RefCell<Option<Rc<Peer>>>,
    _name: String,
}

#[inline(never)]
fn forget_buffer() {
    std::mem::forget(black_box(vec![0u8; 4096]));
}

#[inline(never)]
fn forget_list() {
    let mut head: Option<Box<Node>> = None;
    for _ in 0..10 {
        head = Some(Box::new(Node {
            _next: head,
            _payload: [0; 4],
        }));
    }
    std::mem::forget(black_box(head));
}

#[inline(never)]
fn make_cycle() {
    let a = Rc::new(Peer {
        other: RefCell::new(None),
        _name: String::new(),
    });
    let b = Rc::new(Peer {
        other: RefCell::new(Some(a.clone())),
        _name: String::new(),
    });
    *a.other.borrow_mut() = Some(b);
}

#[inline(never)]
fn fill_cache() {
    let mut cache = CACHE.lock().unwrap();
    for i in 0..3 {
        cache.push(format!("entry {i}"));
    }
}

fn main() {
    forget_buffer();
    forget_list();
    make_cycle();
    fill_cache();
    let summary = alloc_tracker::leak_check();
    println!(
        "leak_check: direct {} bytes in {} blocks, indirect {} bytes in {} blocks",
        summary.direct_bytes,
        summary.direct_blocks,
        summary.indirect_bytes,
        summary.indirect_blocks
    );
}
