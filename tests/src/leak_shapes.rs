//! The sizes and node types of the `leak_cases` scenarios (`src/bin/leak_cases.rs`), shared with
//! `tests/leak_classes.rs`, so that every expected figure there is computed from the very
//! definitions the helper binary allocates with.

use std::cell::RefCell;
use std::rc::Rc;

/// `forget_vec`: bytes of the forgotten `Vec<u8>` (`vec![x; n]` allocates exactly `n`).
pub const FORGET_VEC_BYTES: usize = 1000;

/// `list`: nodes in the singly linked list whose head is forgotten.
pub const LIST_NODES: usize = 10;

/// One heap block of the `list` scenario: a `Box<ListNode>` holds exactly `size_of::<ListNode>()`.
#[derive(Debug)]
pub struct ListNode {
    /// The next node, the only pointer to it.
    pub next: Option<Box<ListNode>>,
    /// Makes the block a recognisable size.
    pub payload: [u64; 5],
}

/// One node of the `rc_cycle` scenario; two of them point at each other.
#[derive(Debug)]
pub struct CycleNode {
    /// The other node of the cycle.
    pub other: Option<Rc<RefCell<CycleNode>>>,
    /// Makes the block a recognisable size.
    pub payload: [u64; 3],
}

/// The layout `Rc::new` allocates: std's `RcInner<T>` is `#[repr(C)]` with the strong and weak
/// counts (`Cell<usize>` each) before the value. memcheck's byte counts check this mirror.
#[repr(C)]
struct RcInnerMirror<T> {
    strong: usize,
    weak: usize,
    value: T,
}

/// Bytes of the heap block that `Rc::new(value: T)` allocates.
pub const fn rc_block_bytes<T>() -> usize {
    size_of::<RcInnerMirror<T>>()
}

/// `statics`: bytes of the `Vec` in a `OnceLock` static.
pub const STATIC_ONCE_BYTES: usize = 600;
/// `statics`: bytes of the `Box::leak`ed slice kept in a static.
pub const STATIC_LEAKED_BYTES: usize = 700;

/// `interior`: bytes of the leaked `Box<[u8; N]>` only an interior pointer still reaches.
pub const INTERIOR_BLOCK_BYTES: usize = 4096;
/// `interior`: where into the block the remaining pointer points.
pub const INTERIOR_OFFSET: usize = 100;

/// `parked_thread`: bytes of the `Vec` on the parked thread's stack.
pub const PARKED_STACK_BYTES: usize = 2000;
/// `parked_thread`: bytes pushed into the parked thread's `thread_local!` `Vec`.
pub const PARKED_TLS_BYTES: usize = 3000;

/// `panic_backtrace`: bytes leaked after the caught panic.
pub const PANIC_LEAK_BYTES: usize = 1234;

/// `suppressed`: bytes leaked from the function named by [`SUPPRESSED_FUNCTION`].
pub const SUPPRESSED_BYTES: usize = 777;
/// `suppressed`: the distinctive name of the function that leaks (a `leak:` suppression matches it).
pub const SUPPRESSED_FUNCTION: &str = "suppressible_leak_zebra_quokka";

/// `ignored`: bytes of the leaked block passed to `ignore_leak`.
pub const IGNORED_BYTES: usize = 3000;
/// `ignored`: bytes of the control block, leaked the same way but not ignored.
pub const IGNORED_CONTROL_BYTES: usize = 300;

/// `leak_check`: bytes forgotten before `leak_check()` runs.
pub const LEAK_CHECK_BYTES: usize = 500;
/// `leak_check`: threads allocating while `leak_check()` runs.
pub const LEAK_CHECK_THREADS: usize = 2;
