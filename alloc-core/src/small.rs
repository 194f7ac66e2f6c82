//! Small blocks in pages owned by one thread, in front of jemalloc.
//!
//! Blocks of up to [`SMALL_MAX`] (32 KiB) bytes that take no jemalloc flags are served here, the
//! way mimalloc serves them: each thread owns 4 MiB segments cut into 64 KiB pages, each page
//! holds blocks of one size class, and allocating or freeing (by the owning thread) is a pop or a
//! push on the page's free list. jemalloc's thread cache instead flushes freed blocks back to their
//! slabs in batches, under the bin's lock, with a tree lookup per block, and refills from them the
//! same way: on the `btree` workload (500 000 `String`s removed) that flush was most of the 10% of
//! instructions `aligned` spent more than mimalloc, and on `churn` the refills and flushes of the
//! 1-4 KiB classes were a quarter of the run (`benches/RESULTS.md` sections 14 and 16).
//!
//! Measured with callgrind, whole process (`benches/RESULTS.md` section 16), instructions before
//! → after: `churn` 1 128 M → 969 M (raw jemalloc 1 082 M), `mt-churn` 2 266 M → 1 937 M,
//! `btree` 1 859 M → 1 746 M (mimalloc 1 675 M), `vecgrow` 6 645 M → 6 622 M. A `realloc`
//! between two small sizes then stayed in the layer (`jemalloc.rs`'s `realloc_small`), and a free
//! that empties its class's current page stopped calling the slow path: `btree` 1 686 M, `vecgrow`
//! 6 577 M (section 17). Reaching the thread's heap without a call to `__tls_get_addr` (see
//! `heap`) then took `churn` from 971 M to 920 M, `mt-churn` from 1 941 M to 1 840 M and
//! `btree` from 1 687 M to 1 661 M (section 18). Raising [`SMALL_MAX`] from 4 KiB to 32 KiB took
//! `vecgrow`'s blocks of 5-32 KiB off jemalloc's large-class path too (section 20).
//!
//! - **No huge pages here:** advising them on a large heap's segments saved 3-5% of `btree`'s
//!   user time, but on the VM measured, where the host takes back free 2 MiB blocks, their faults
//!   cost as much system time again (`benches/RESULTS.md` section 17). `thp=always` gives them
//!   anyway; [`crate::stats`] then counts each one whole.
//! - **Same size classes as jemalloc's** (8, 16, 32, 48, ..., 4096, 5120, ..., 28672, 32768),
//!   laid from 64 KiB-aligned page starts as jemalloc lays its small ones from page-aligned slabs,
//!   so `usable_size` reports the same class and [`crate::policy`]'s rules (64 bytes from 256 up)
//!   hold unchanged. A block is at least as aligned as jemalloc's would be: the classes from
//!   16 KiB, jemalloc's large ones (page-aligned extents), are multiples of a 4 KiB page.
//! - **Where a block lives** is one subtraction: every segment comes from one address range
//!   reserved at first use ([`REGION_SIZE`], 16 GiB of address space, `PROT_NONE` and not
//!   committed until a segment is mapped), so `dealloc` tells these blocks from jemalloc's without
//!   a lookup. The reservation shows in a process's virtual size (`VmSize`), not in its memory.
//! - **Frees from other threads** go onto the page's atomic list (`xfree`), which the owner takes
//!   back when the page runs out; each such free also flags its page in the segment and its owner
//!   in a static table (never through the owner's thread-local memory, which may be gone), so a
//!   page that had gone full comes back into use. The owner's own paths take no fence.
//! - **Thread exit** (a `pthread` key destructor) abandons the thread's segments; the next thread
//!   that needs a segment adopts one and takes over its pages. Blocks still live in them stay valid
//!   and can be freed from any thread at any time. A child of `fork` keeps every block; the
//!   segments of threads it does not have are never adopted there.
//! - **Memory goes back:** a page that empties goes back to its segment, for any size class to
//!   reuse; a thread keeps such pages resident up to 1 MiB ([`PURGE_LIMIT`]) or one for every 8
//!   pages it has in use ([`PURGE_SHARE`]), whichever is more, and gives the memory of the others
//!   to the kernel (`MADV_DONTNEED`), the pages emptied longest ago first; a segment with no page
//!   in use gives back all its pages but the header. A page with one live block stays (see
//!   [`PAGE_SIZE`]).
//! - **Statistics:** [`crate::stats`] adds this layer's blocks to jemalloc's figures, exactly for
//!   `allocated` (blocks handed out and not freed, whichever thread freed them), the touched
//!   bytes of its pages in use for `active`, and for `resident` what the kernel holds in its
//!   segments (`mincore`: a transparent huge page, under `thp=always`, counts whole), or the
//!   touched bytes where more.
//! - **Fallbacks:** if the range cannot be reserved (under an address-space limit, halves of it
//!   are tried down to [`MIN_REGION_SIZE`]; valgrind takes the 16 GiB), the range is used up, a segment
//!   cannot be mapped, the thread is exiting, or more than [`MAX_HEAPS`] threads use this layer at
//!   once, the block comes from jemalloc as before. `ALLOC_CORE_SMALL=off` (or `0`) in the
//!   environment turns the layer off for the whole process (read once, at the first small
//!   allocation). The way to jemalloc then still passes through this layer's first checks:
//!   `churn` ran 1 299 M instructions with the layer off, against 1 128 M before it existed
//!   (and 969 M with it on).
//! - **A cost jemalloc does not have:** freeing a block writes its first word (the free list),
//!   where jemalloc's thread cache only stores the pointer. A program that frees blocks it has not
//!   touched for a long time (`btree` removing cold `String`s) takes a cache miss there.
//!
//! Nothing here allocates, takes a lock, or panics: the free lists live inside free blocks, the
//! page and segment headers in each segment's first page, the per-thread state in a thread-local
//! without a destructor, and the shared state in statics of atomics (the abandoned segments are a
//! lock-free stack with a tag against ABA). The one libc call that may allocate,
//! `pthread_setspecific` at a thread's first small block, allocates with glibc's own `malloc`,
//! never through the global allocator.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};

use crate::policy;

/// The largest block served here; larger ones (and any with jemalloc flags) go to jemalloc.
pub const SMALL_MAX: usize = 32 << 10;
/// A segment: the unit of memory a thread owns, aligned to its size.
pub const SEGMENT_SIZE: usize = 4 << 20;
/// A page: one size class's blocks. The first page of each segment ([`HEADER_PAGES`]) holds the
/// segment's headers. A page goes back only once every block in it is free, so larger pages keep
/// more memory behind scattered survivors: with a random 10% of 500 000 blocks of 1-4 KiB kept,
/// 1 183 MiB of pages stay active against jemalloc's 551 MiB (whose slabs of those classes hold
/// 4-16 blocks). 16 KiB pages kept 580 MiB but made `churn` 1.4× slower in wall time (a page
/// change every few blocks); 64 KiB is mimalloc's size for these classes too
/// (`benches/RESULTS.md` section 16).
pub const PAGE_SIZE: usize = 64 << 10;
const PAGES: usize = SEGMENT_SIZE / PAGE_SIZE;
const PAGE_SHIFT: u32 = PAGE_SIZE.trailing_zeros();
/// 64-bit words of a mask with one bit per page.
const WORDS: usize = PAGES / 64;
/// The pages at a segment's start that hold its headers.
pub const HEADER_PAGES: usize = size_of::<Segment>().div_ceil(PAGE_SIZE);
/// Every page but the headers' free: a new segment's mask.
const ALL_FREE: [u64; WORDS] = all_free();

const fn all_free() -> [u64; WORDS] {
    let mut m = [0u64; WORDS];
    let mut i = HEADER_PAGES;
    while i < PAGES {
        m[i / 64] |= 1 << (i % 64);
        i += 1;
    }
    m
}
/// The address range all segments come from: reserved (not committed) at first use. Where the
/// kernel (or a tool such as valgrind) refuses that much, halves of it are tried down to
/// [`MIN_REGION_SIZE`].
pub const REGION_SIZE: usize = 16 << 30;
/// The smallest range worth reserving; below it the layer stays off.
pub const MIN_REGION_SIZE: usize = 256 << 20;
/// Threads that can own segments at the same time; the others use jemalloc for small blocks.
pub const MAX_HEAPS: usize = 4096;
/// A page's free list is extended by at most this many bytes of fresh blocks at a time, so a
/// page's memory is touched as it is used.
const EXTEND_BYTES: usize = 4096;

/// jemalloc's size classes up to [`SMALL_MAX`] (`policy::size_class`).
const CLASSES: usize = count_classes();
const CLASS_SIZE: [u32; CLASSES] = class_sizes();
/// The class of a size `s`, at index `(s + 7) / 8`.
const CLASS_OF: [u8; SMALL_MAX / 8 + 1] = class_table();

const fn count_classes() -> usize {
    let (mut n, mut size) = (0, 1);
    while size <= SMALL_MAX {
        n += 1;
        size = policy::size_class(size) + 1;
    }
    n
}

const fn class_sizes() -> [u32; CLASSES] {
    let mut out = [0u32; CLASSES];
    let (mut i, mut size) = (0, 1);
    while size <= SMALL_MAX {
        out[i] = policy::size_class(size) as u32;
        size = out[i] as usize + 1;
        i += 1;
    }
    out
}

const fn class_table() -> [u8; SMALL_MAX / 8 + 1] {
    let sizes = class_sizes();
    let mut out = [0u8; SMALL_MAX / 8 + 1];
    let mut i = 0;
    while i < out.len() {
        // Every size in ((i - 1) * 8, i * 8] has the class of i * 8: classes are multiples of 8.
        let size = if i == 0 { 1 } else { i * 8 };
        let mut c = 0;
        while (sizes[c] as usize) < size {
            c += 1;
        }
        out[i] = c as u8;
        i += 1;
    }
    out
}

/// A free block: the next one on its list in its first word.
#[repr(C)]
struct Block {
    next: *mut Block,
}

/// A page's header, in its segment's first page.
///
/// Fields in `UnsafeCell`s are the owner thread's alone (ownership passes through `owner` and the
/// abandoned stack with release/acquire); the atomics are read by other threads too (`xfree` by
/// frees from other threads, `used`, `block_size` and `touched` by [`stats`]).
#[repr(C)]
struct Page {
    /// Free blocks of this page, for the owner to allocate from and free to.
    free: UnsafeCell<*mut Block>,
    /// Blocks handed out and not yet on `free` (those on `xfree` included).
    used: AtomicU32,
    /// The class size, 0 while the page is not in use.
    block_size: AtomicU32,
    /// Bytes from the page's start ever handed to `free`: the page's touched memory.
    touched: AtomicU32,
    /// The class index.
    class: UnsafeCell<u8>,
    /// In the owner's list of pages with free blocks (`Heap::avail`).
    in_avail: UnsafeCell<bool>,
    /// Ran out of blocks: in no list until a block comes back.
    in_full: UnsafeCell<bool>,
    /// The next never-used block and the end of the last whole block.
    bump: UnsafeCell<usize>,
    end: UnsafeCell<usize>,
    /// Blocks freed by other threads, pushed with compare-and-swap.
    xfree: AtomicPtr<Block>,
    /// `Heap::avail` links.
    next: UnsafeCell<*mut Page>,
    prev: UnsafeCell<*mut Page>,
}

/// A segment's header, at its start.
#[repr(C)]
struct Segment {
    /// The owning heap's id (its slot + 1), 0 while abandoned.
    owner: AtomicUsize,
    /// Pages that received a free from another thread since the owner last looked.
    remote_full: [AtomicU64; WORDS],
    /// Bytes of blocks on the pages' `xfree` lists (for [`stats`]).
    xfree_bytes: AtomicUsize,
    /// The next segment on the abandoned stack.
    abandoned_next: AtomicUsize,
    /// The owner's list of its segments, and its stack of segments with free pages.
    next_owned: UnsafeCell<*mut Segment>,
    next_free: UnsafeCell<*mut Segment>,
    in_free: UnsafeCell<bool>,
    /// Bit i: page i is not in use (the header pages never are).
    free_pages: UnsafeCell<[u64; WORDS]>,
    pages: [Page; PAGES],
}

const _: () = assert!(PAGES.is_multiple_of(64) && HEADER_PAGES < PAGES);

/// What a thread needs: its pages per class, its segments. Lives in thread-local storage without
/// a destructor, so that reaching it is an offset from the thread pointer (see [`heap`]).
///
/// `repr(C)`: on x86-64 Linux its initial image ([`Heap::NEW`]) is laid out in assembly,
/// `current` first and `id` last of the fields it writes; a field added here must be zero in
/// `NEW` (or be written there too), which the assertion beside the image checks for these.
#[repr(C)]
struct Heap {
    /// The page each class allocates from; [`EMPTY`] when it has none.
    current: [*mut Page; CLASSES],
    /// Pages with free blocks, besides the current one (doubly linked).
    avail: [*mut Page; CLASSES],
    /// Every owned segment, and the stack of those that may have free pages.
    owned: *mut Segment,
    free_segs: *mut Segment,
    /// Free pages of the heap's segments whose memory is still resident (`touched` non-zero),
    /// linked through their `next` and `prev`, the most recently emptied at `resident`, the
    /// least at `resident_tail`: [`fresh_page`] takes the first, and past the bound of
    /// [`PURGE_LIMIT`] and [`PURGE_SHARE`] the last goes back to the kernel.
    resident: *mut Page,
    resident_tail: *mut Page,
    /// How many pages are on `resident`.
    empty_resident: usize,
    /// How many pages of the heap's segments are in use (hold a size class).
    pages_in_use: usize,
    /// 0 not started, 1 live, 2 no layer (exited, refused, or turned off).
    state: u8,
    /// The heap's id: its slot in [`NOTIFY`] plus one; `usize::MAX` (no segment's owner) while
    /// the heap is not live.
    id: usize,
}

const UNINIT: u8 = 0;
const LIVE: u8 = 1;
const DEAD: u8 = 2;
/// The id of a heap that is not live: never a segment's `owner`.
const NO_ID: usize = usize::MAX;

/// A page with no blocks, never written: the `current` of every class without a page, so the
/// allocation fast path needs no null check.
static EMPTY: Page = Page {
    free: UnsafeCell::new(ptr::null_mut()),
    used: AtomicU32::new(0),
    block_size: AtomicU32::new(0),
    touched: AtomicU32::new(0),
    class: UnsafeCell::new(0),
    in_avail: UnsafeCell::new(false),
    in_full: UnsafeCell::new(false),
    bump: UnsafeCell::new(0),
    end: UnsafeCell::new(0),
    xfree: AtomicPtr::new(ptr::null_mut()),
    next: UnsafeCell::new(ptr::null_mut()),
    prev: UnsafeCell::new(ptr::null_mut()),
};

// SAFETY: `EMPTY` is never written: every write to a page's cells is to a page of a segment
// (`current` is compared with `EMPTY` before any write), and its atomics are only read.
unsafe impl Sync for Page {}

const EMPTY_PTR: *mut Page = (&raw const EMPTY).cast_mut();

impl Heap {
    const NEW: Heap = Heap {
        current: [EMPTY_PTR; CLASSES],
        avail: [ptr::null_mut(); CLASSES],
        owned: ptr::null_mut(),
        free_segs: ptr::null_mut(),
        resident: ptr::null_mut(),
        resident_tail: ptr::null_mut(),
        empty_resident: 0,
        pages_in_use: 0,
        state: UNINIT,
        id: NO_ID,
    };
}

/// The name of this thread's [`Heap`] in thread-local storage on x86-64 Linux, with the crate's
/// version in it so that two versions of this crate linked into one program keep their own.
#[cfg(all(
    target_arch = "x86_64",
    target_pointer_width = "64",
    target_os = "linux"
))]
macro_rules! heap_symbol {
    () => {
        concat!(
            "alloc_core_small_heap_",
            env!("CARGO_PKG_VERSION_MAJOR"),
            "_",
            env!("CARGO_PKG_VERSION_MINOR"),
            "_",
            env!("CARGO_PKG_VERSION_PATCH")
        )
    };
}

// Every thread's heap starts as [`Heap::NEW`]: its initial image in `.tdata`, hidden (not
// exported from a shared library). `current` is every class's pointer to `EMPTY` (a relocated
// address, as C's `static __thread void *p = &x;` is), `id` is `NO_ID`, and every other field is
// zero (`null`, 0, `UNINIT`). The assertion below checks the layout and `Heap::NEW`'s values for
// every field but `current` (a pointer a constant cannot compare), and the unit test at the end
// reads a new thread's heap field by field, `current` included.
#[cfg(all(
    target_arch = "x86_64",
    target_pointer_width = "64",
    target_os = "linux"
))]
core::arch::global_asm!(
    concat!(".pushsection .tdata.", heap_symbol!(), ",\"awT\",@progbits"),
    ".p2align 3",
    concat!(".globl ", heap_symbol!()),
    concat!(".hidden ", heap_symbol!()),
    concat!(".type ", heap_symbol!(), ",@object"),
    concat!(".size ", heap_symbol!(), ", {size}"),
    concat!(heap_symbol!(), ":"),
    ".rept {classes}",
    ".quad {empty}",
    ".endr",
    ".zero {id} - {classes} * 8",
    ".quad -1",
    ".zero {size} - {id} - 8",
    ".popsection",
    size = const size_of::<Heap>(),
    classes = const CLASSES,
    id = const core::mem::offset_of!(Heap, id),
    empty = sym EMPTY,
);

#[cfg(all(
    target_arch = "x86_64",
    target_pointer_width = "64",
    target_os = "linux"
))]
const _: () = {
    use core::mem::offset_of;
    let new = Heap::NEW;
    // The image above: `current` at the start, all `EMPTY`; `id` `NO_ID` in the last word it
    // writes; the rest zero.
    assert!(offset_of!(Heap, current) == 0 && offset_of!(Heap, id) + 8 <= size_of::<Heap>());
    assert!(align_of::<Heap>() <= 8); // `.p2align 3`
    assert!(
        offset_of!(Heap, avail) == CLASSES * 8 && offset_of!(Heap, id) > offset_of!(Heap, state)
    );
    assert!(new.id == usize::MAX && new.state == 0 && new.empty_resident == 0);
    assert!(new.pages_in_use == 0);
    assert!(new.owned.is_null() && new.free_segs.is_null());
    assert!(new.resident.is_null() && new.resident_tail.is_null());
    let mut i = 0;
    while i < CLASSES {
        assert!(new.avail[i].is_null());
        i += 1;
    }
};

/// This thread's heap: the thread pointer plus the heap's offset in the initial-exec TLS model,
/// which is how jemalloc reaches its own thread data. Two instructions and no call (the offset
/// is a constant the linker writes into an executable); with Rust's `thread_local!`, code in a
/// library crate is compiled for the general-dynamic model, a call to `__tls_get_addr` that the
/// linker then rewrites into the same two instructions, but only after the compiler has moved
/// every live value out of the registers that call would clobber: `alloc` and `free` pushed and
/// popped two registers each, 5% of `churn`'s instructions (`benches/RESULTS.md` section 18).
///
/// As with jemalloc (unless built with `tikv-jemalloc-sys`'s `disable_initial_exec_tls`), a shared
/// library holding this crate takes static TLS, here 2 × 8 × the class count + 56 bytes (712,
/// beside jemalloc's own 1 968, `je_tsd_tls`, measured with `nm -S`): it loads at start-up, or by
/// `dlopen` while the C library's reserve for that lasts (glibc's tunable
/// `glibc.rtld.optional_static_tls`, 512 bytes by default, which jemalloc alone already
/// exceeds; musl has none). The symbol is hidden, so a Rust `dylib`
/// of this crate, whose `#[inline]` functions inline this into other shared objects, does not
/// link; executables, static libraries and `cdylib`s do.
#[cfg(all(
    target_arch = "x86_64",
    target_pointer_width = "64",
    target_os = "linux"
))]
#[inline(always)]
fn heap() -> *mut Heap {
    let heap: *mut Heap;
    // SAFETY: `fs:0` holds the thread pointer's own value (the x86-64 TLS ABI), and the GOT
    // entry the linker makes for the symbol (or the constant it puts in its place) is the
    // offset of this thread's copy of it, which lives as long as the thread. Nothing is written
    // and no Rust memory is read: the result is the same for every call on one thread.
    unsafe {
        core::arch::asm!(
            "mov {heap}, qword ptr fs:[0]",
            concat!("add {heap}, qword ptr [rip + ", heap_symbol!(), "@GOTTPOFF]"),
            heap = out(reg) heap,
            options(pure, nomem, nostack),
        );
    }
    heap
}

#[cfg(not(all(
    target_arch = "x86_64",
    target_pointer_width = "64",
    target_os = "linux"
)))]
thread_local! {
    static HEAP: UnsafeCell<Heap> = const { UnsafeCell::new(Heap::NEW) };
}

/// This thread's heap: an offset from the thread pointer (a const thread-local with no
/// destructor is always there). Only the address is taken inside `with`, so that the callers'
/// code inlines around it; with the work inside the closure, `LocalKey::with` stayed a call.
#[cfg(not(all(
    target_arch = "x86_64",
    target_pointer_width = "64",
    target_os = "linux"
)))]
#[inline(always)]
fn heap() -> *mut Heap {
    HEAP.with(UnsafeCell::get)
}

/// The start of the reserved range (until then an address no user pointer has; [`LEN`] is 0
/// then too, so [`owns`] is false for every block).
static BASE: AtomicUsize = AtomicUsize::new(1 << 63);
/// The reserved range's length (0 until reserved).
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the range handed out as segments so far.
static CURSOR: AtomicUsize = AtomicUsize::new(0);
/// 0 not tried, 1 being reserved, 2 reserved, 3 unavailable.
static REGION: AtomicU8 = AtomicU8::new(0);
/// The abandoned segments: a stack whose head carries a tag in the bits below the segment
/// alignment, against ABA.
static ABANDONED: AtomicUsize = AtomicUsize::new(0);
/// Heap slots in use, one bit each.
static SLOTS: [AtomicU64; MAX_HEAPS / 64] = [const { AtomicU64::new(0) }; MAX_HEAPS / 64];
/// Set by another thread's free into a full page of the slot's heap.
static NOTIFY: [AtomicBool; MAX_HEAPS] = [const { AtomicBool::new(false) }; MAX_HEAPS];
/// The `pthread` key whose destructor abandons an exiting thread's heap; `usize::MAX` until made.
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Whether `ptr` lies in this layer's range (so it is one of its blocks, if it is any block).
#[inline]
pub fn owns(ptr: *const u8) -> bool {
    (ptr as usize).wrapping_sub(BASE.load(Relaxed)) < LEN.load(Relaxed)
}

/// The reserved range as `(start, length)`, once a small block has been asked for and the range
/// could be reserved; `None` while this layer is off (not yet started, refused, or turned off).
pub fn region() -> Option<(usize, usize)> {
    (REGION.load(Acquire) == 2).then(|| (BASE.load(Relaxed), LEN.load(Relaxed)))
}

const _: () = {
    let mut i = 0;
    while i < CLASS_OF.len() {
        assert!((CLASS_OF[i] as usize) < CLASSES);
        i += 1;
    }
};

/// A block of `size` bytes (a layout that takes no jemalloc flags), or null when this layer
/// cannot serve it (`size` over [`SMALL_MAX`] included) and jemalloc should. `size` is not 0
/// (`GlobalAlloc`'s contract).
#[inline]
pub fn alloc(size: usize) -> *mut u8 {
    let p = alloc_fast(size);
    if !p.is_null() || size > SMALL_MAX || thread_off() {
        return p;
    }
    alloc_refill(size)
}

/// [`alloc`]'s fast path alone: a block from the free list of the class's current page, or
/// null (no current page, its list empty, `size` over [`SMALL_MAX`], or the layer off).
///
/// Split from the rest so that a caller can reach [`alloc_refill`] or jemalloc by a tail call,
/// with no value of its own kept across a call (and so no register saved on the fast path).
#[inline]
pub fn alloc_fast(size: usize) -> *mut u8 {
    if size > SMALL_MAX {
        return ptr::null_mut();
    }
    // SAFETY: `(size + 7) / 8 <= SMALL_MAX / 8`, inside the table, whose entries are all below
    // `CLASSES` (the assertion above).
    let class = unsafe { *CLASS_OF.get_unchecked((size + 7) >> 3) } as usize;
    let heap = heap();
    // SAFETY: the heap is this thread's; `current` is `EMPTY` (whose `free` is null and is only
    // read) or a page of a segment this heap owns, whose `free` list holds free blocks of that page.
    unsafe {
        let page = *(*heap).current.get_unchecked(class);
        let block = *(*page).free.get();
        if block.is_null() {
            return ptr::null_mut();
        }
        *(*page).free.get() = (*block).next;
        (*page)
            .used
            .store((*page).used.load(Relaxed).wrapping_add(1), Relaxed);
        block.cast()
    }
}

/// Whether this thread's layer serves nothing (it exited, the range was refused, or the layer
/// is turned off): [`alloc_fast`]'s null then means jemalloc, at once.
#[inline]
pub fn thread_off() -> bool {
    // SAFETY: the heap is this thread's, and `state` is only written by this thread.
    unsafe { (*heap()).state == DEAD }
}

/// [`alloc`] after [`alloc_fast`] found no block: the class's next page (or a fresh one, or the
/// layer started at this thread's first small block), or null for jemalloc to serve `size`.
#[inline(never)]
pub fn alloc_refill(size: usize) -> *mut u8 {
    let Some(&class) = CLASS_OF.get((size + 7) >> 3) else {
        return ptr::null_mut();
    };
    // SAFETY: this thread's heap, and a class below `CLASSES` (the assertion above).
    unsafe { alloc_slow(heap(), class as usize) }
}

/// Whether sizes `a` and `b`, both at most [`SMALL_MAX`], share a size class: a block of one
/// then holds the other in place.
#[inline]
pub fn same_class(a: usize, b: usize) -> bool {
    let class = |s: usize| CLASS_OF.get((s + 7) >> 3);
    class(a) == class(b)
}

/// Frees `ptr`, a block of this layer ([`owns`]) of `size` bytes.
///
/// # Safety
///
/// `ptr` is a live block of this layer, allocated with `size` (any size of its class).
///
/// Out of line: inlined, it made `GlobalAlloc::dealloc` too big to be inlined into its callers,
/// which cost every jemalloc free a call too (churn +11% instructions).
#[inline(never)]
pub unsafe fn free(ptr: *mut u8, size: usize) {
    let seg = (ptr as usize & !(SEGMENT_SIZE - 1)) as *mut Segment;
    let index = (ptr as usize >> PAGE_SHIFT) & (PAGES - 1);
    let block = ptr.cast::<Block>();
    let heap = heap();
    // SAFETY: `ptr` is a live block of page `index` of the segment it lies in (the caller's
    // contract), so the segment's header is mapped. If this thread's heap owns the segment, the
    // page's owner fields are ours to change; otherwise only its atomics are touched.
    unsafe {
        let page = &raw mut (*seg).pages[index];
        if (*seg).owner.load(Relaxed) != (*heap).id {
            // The slow paths take only `ptr` (and `size`) and find the rest again, so that this
            // path needs no callee-saved register (none pushed, none popped).
            return free_remote(ptr, size);
        }
        (*block).next = *(*page).free.get();
        *(*page).free.get() = block;
        let used = (*page).used.load(Relaxed).wrapping_sub(1);
        (*page).used.store(used, Relaxed);
        // An emptied page that is its class's current one stays as it is: a block allocated and
        // freed at once (a `String` that `format!` grows at its first write) empties it each time.
        if (used == 0 || *(*page).in_full.get())
            && (*(*page).in_full.get() || (*heap).current[page_class(page)] != page)
        {
            free_slow(ptr);
        }
    }
}

/// The usable size of `ptr` if it is one of this layer's blocks.
///
/// # Safety
///
/// `ptr` is a live block of this process's global allocator.
#[inline]
pub unsafe fn usable_size(ptr: *const u8) -> Option<usize> {
    if !owns(ptr) {
        return None;
    }
    let seg = (ptr as usize & !(SEGMENT_SIZE - 1)) as *const Segment;
    let index = (ptr as usize >> PAGE_SHIFT) & (PAGES - 1);
    // SAFETY: a live block of this layer lies in a page in use of a mapped segment.
    Some(unsafe { (*seg).pages[index].block_size.load(Relaxed) } as usize)
}

/// A free from a thread that does not own the segment (or from an exiting owner).
///
/// # Safety
///
/// As for [`free`].
#[cold]
#[inline(never)]
unsafe fn free_remote(ptr: *mut u8, size: usize) {
    let seg = (ptr as usize & !(SEGMENT_SIZE - 1)) as *mut Segment;
    let index = (ptr as usize >> PAGE_SHIFT) & (PAGES - 1);
    let block = ptr.cast::<Block>();
    // SAFETY: the segment's header is mapped for as long as the process lives (segments are
    // never unmapped), and the block is live until it is on `xfree`, where only the owner takes it.
    unsafe {
        let page = &raw mut (*seg).pages[index];
        (*seg)
            .xfree_bytes
            .fetch_add(policy::size_class(size), Relaxed);
        let mut head = (*page).xfree.load(Relaxed);
        loop {
            (*block).next = head;
            match (*page)
                .xfree
                .compare_exchange_weak(head, block, Release, Relaxed)
            {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        // Then the page's bit and its owner's flag, after the push: an owner that sees the flag
        // sees the bit, and one that takes the bit sees the block. The owner itself pays no
        // fence for this (its pages going full is frequent, frees from other threads are not).
        // `SeqCst` on the bit and on `owner` for an adopter (which stores `owner`, then takes
        // the bits): if this load still reads 0, the adopter's take comes after this bit.
        (*seg).remote_full[index / 64].fetch_or(1 << (index % 64), SeqCst);
        let owner = (*seg).owner.load(SeqCst);
        // An abandoned segment's owner is 0: no slot, nobody to tell (the adopter looks).
        if let Some(flag) = NOTIFY.get(owner.wrapping_sub(1)) {
            flag.store(true, Release);
        }
    }
}

/// After a local free made the page of `ptr` empty or found it full.
///
/// # Safety
///
/// `ptr` was just freed by this thread's live heap into one of its pages in use.
#[cold]
#[inline(never)]
unsafe fn free_slow(ptr: *mut u8) {
    let seg = (ptr as usize & !(SEGMENT_SIZE - 1)) as *mut Segment;
    let index = (ptr as usize >> PAGE_SHIFT) & (PAGES - 1);
    let heap = heap();
    // SAFETY: the page and segment are the heap's (caller), and the heap is this thread's.
    unsafe {
        let page = &raw mut (*seg).pages[index];
        let class = page_class(page);
        if *(*page).in_full.get() {
            *(*page).in_full.get() = false;
            avail_push(heap, class, page);
        }
        if (*page).used.load(Relaxed) == 0 && (*heap).current[class] != page {
            avail_remove(heap, class, page);
            retire_page(heap, seg, page);
        }
    }
}

/// The class index of a page in use. (`min` only keeps the slow paths' indexing free of a panic
/// branch: every class written is below `CLASSES`.)
///
/// # Safety
///
/// This thread owns `page`.
unsafe fn page_class(page: *mut Page) -> usize {
    // SAFETY: an owner field of an owned page (caller).
    (unsafe { *(*page).class.get() } as usize).min(CLASSES - 1)
}

/// Pushes `page` on the heap's list of pages with free blocks for `class`.
///
/// # Safety
///
/// `heap` is this thread's; `page` is one of its pages of `class`, in no list and not current.
unsafe fn avail_push(heap: *mut Heap, class: usize, page: *mut Page) {
    let class = class.min(CLASSES - 1);
    // SAFETY: owner fields of the heap's own pages (caller).
    unsafe {
        let head = (*heap).avail[class];
        *(*page).next.get() = head;
        *(*page).prev.get() = ptr::null_mut();
        if !head.is_null() {
            *(*head).prev.get() = page;
        }
        (*heap).avail[class] = page;
        *(*page).in_avail.get() = true;
    }
}

/// Takes `page` out of the heap's list for `class` if it is in it.
///
/// # Safety
///
/// As for [`avail_push`], the page possibly in the list.
unsafe fn avail_remove(heap: *mut Heap, class: usize, page: *mut Page) {
    let class = class.min(CLASSES - 1);
    // SAFETY: owner fields of the heap's own pages (caller).
    unsafe {
        if !*(*page).in_avail.get() {
            return;
        }
        let (next, prev) = (*(*page).next.get(), *(*page).prev.get());
        if prev.is_null() {
            (*heap).avail[class] = next;
        } else {
            *(*prev).next.get() = next;
        }
        if !next.is_null() {
            *(*next).prev.get() = prev;
        }
        *(*page).in_avail.get() = false;
    }
}

/// How many free pages with resident memory a heap keeps for reuse at least (1 MiB) before it
/// gives the memory of the one emptied longest ago back to the kernel; a heap with more pages in
/// use keeps up to [`PURGE_SHARE`] of them.
pub const PURGE_LIMIT: usize = (1 << 20) / PAGE_SIZE;

/// A heap keeps up to one free resident page for every `PURGE_SHARE` (8) pages it has in use,
/// when that is more than [`PURGE_LIMIT`]. The bound follows the pages in use down as the heap
/// shrinks (each emptied page gives back as many as it takes to stay under it), so the free pages
/// a heap keeps are at most 1 MiB or an eighth of the pages it uses.
///
/// With the fixed 1 MiB alone, `vecgrow` (1 000 live vectors of up to 32 KiB, 25 MiB peak RSS)
/// gave back and faulted in again 3 700 pages of 4 KiB: 9 600 page faults against 5 900, and
/// 28 ms of system time against 16 ms (medians of 16 runs, `benches/RESULTS.md` section 21), at
/// the same peak RSS. A page fault cost 1.5-2.3 µs on the VM measured.
pub const PURGE_SHARE: usize = 8;

/// Puts `page`, free and resident, at the head of the heap's `resident` list.
///
/// # Safety
///
/// `heap` is this thread's and owns `page`'s segment; `page` is not in use, its `touched` is not
/// zero, and it is in no list.
unsafe fn resident_push(heap: *mut Heap, page: *mut Page) {
    // SAFETY: owner fields of the heap's own pages (caller); a free page is in no `avail` list,
    // so its links are this list's.
    unsafe {
        let head = (*heap).resident;
        *(*page).next.get() = head;
        *(*page).prev.get() = ptr::null_mut();
        if head.is_null() {
            (*heap).resident_tail = page;
        } else {
            *(*head).prev.get() = page;
        }
        (*heap).resident = page;
        (*heap).empty_resident += 1;
    }
}

/// Takes `page` off the heap's `resident` list.
///
/// # Safety
///
/// `heap` is this thread's; `page` is on its `resident` list.
unsafe fn resident_remove(heap: *mut Heap, page: *mut Page) {
    // SAFETY: owner fields of the heap's own pages (caller).
    unsafe {
        let (next, prev) = (*(*page).next.get(), *(*page).prev.get());
        if prev.is_null() {
            (*heap).resident = next;
        } else {
            *(*prev).next.get() = next;
        }
        if next.is_null() {
            (*heap).resident_tail = prev;
        } else {
            *(*next).prev.get() = prev;
        }
        *(*page).next.get() = ptr::null_mut();
        *(*page).prev.get() = ptr::null_mut();
        (*heap).empty_resident = (*heap).empty_resident.saturating_sub(1);
    }
}

/// The segment holding page header `page`, and the page's index in it.
fn page_position(page: *mut Page) -> (*mut Segment, usize) {
    let seg = (page as usize & !(SEGMENT_SIZE - 1)) as *mut Segment;
    let first = seg as usize + core::mem::offset_of!(Segment, pages);
    (seg, (page as usize - first) / size_of::<Page>())
}

/// Returns an empty page to its segment. Its memory stays for reuse (the first page
/// [`fresh_page`] takes), and past [`PURGE_LIMIT`] such pages, or one for every [`PURGE_SHARE`]
/// pages in use if more, the ones emptied longest ago go back to the kernel; the whole segment's
/// goes back when none of its pages is in use.
///
/// # Safety
///
/// `heap` owns `seg`; `page` is one of its pages in use, with `used == 0`, in no list, not current.
unsafe fn retire_page(heap: *mut Heap, seg: *mut Segment, page: *mut Page) {
    // SAFETY: owner fields of the heap's own segment (caller); the page holds no live block.
    unsafe {
        let index = page.offset_from((&raw mut (*seg).pages).cast::<Page>()) as usize;
        (*page).block_size.store(0, Relaxed);
        *(*page).free.get() = ptr::null_mut();
        let free_pages = &mut *(*seg).free_pages.get();
        free_pages[index / 64] |= 1 << (index % 64);
        if !*(*seg).in_free.get() {
            *(*seg).next_free.get() = (*heap).free_segs;
            (*heap).free_segs = seg;
            *(*seg).in_free.get() = true;
        }
        (*heap).pages_in_use = (*heap).pages_in_use.saturating_sub(1);
        if (*page).touched.load(Relaxed) != 0 {
            resident_push(heap, page);
        }
        if *free_pages == ALL_FREE {
            purge(heap, seg);
        }
        let keep = PURGE_LIMIT.max((*heap).pages_in_use / PURGE_SHARE);
        // `resident_remove` lowers `empty_resident` through the pointer.
        loop {
            if (*heap).empty_resident <= keep {
                break;
            }
            let old = (*heap).resident_tail;
            resident_remove(heap, old);
            (*old).touched.store(0, Relaxed);
            let (old_seg, old_index) = page_position(old);
            libc::madvise(
                old_seg
                    .cast::<u8>()
                    .add(old_index * PAGE_SIZE)
                    .cast::<c_void>(),
                PAGE_SIZE,
                libc::MADV_DONTNEED,
            );
        }
    }
}

/// Gives a segment's pages back to the kernel (they read as zeros when touched again).
///
/// # Safety
///
/// No page of `seg` is in use, and `heap`, this thread's, owns it.
unsafe fn purge(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: the segment's pages after the header pages are mapped and hold no live block.
    unsafe {
        let mut touched = false;
        for index in HEADER_PAGES..PAGES {
            let page = &raw mut (*seg).pages[index];
            if (*page).touched.load(Relaxed) != 0 {
                // Free (no page of `seg` is in use) and resident: on the heap's list.
                resident_remove(heap, page);
                (*page).touched.store(0, Relaxed);
                touched = true;
            }
        }
        if touched {
            libc::madvise(
                seg.cast::<u8>()
                    .add(HEADER_PAGES * PAGE_SIZE)
                    .cast::<c_void>(),
                SEGMENT_SIZE - HEADER_PAGES * PAGE_SIZE,
                libc::MADV_DONTNEED,
            );
        }
    }
}

/// The allocation slow path: `class`'s current page has no free block.
///
/// # Safety
///
/// `heap` is this thread's heap.
#[cold]
#[inline(never)]
unsafe fn alloc_slow(heap: *mut Heap, class: usize) -> *mut u8 {
    let class = class.min(CLASSES - 1); // it is already; this keeps the indexing panic-free
    // SAFETY: the heap is this thread's (caller); every page reached from it is of a segment it
    // owns, so their owner fields are ours.
    unsafe {
        if (*heap).state != LIVE && ((*heap).state == DEAD || !start(heap)) {
            return ptr::null_mut();
        }
        loop {
            let page = (*heap).current[class];
            if page != EMPTY_PTR {
                if refill(page) {
                    let block = *(*page).free.get();
                    *(*page).free.get() = (*block).next;
                    (*page)
                        .used
                        .store((*page).used.load(Relaxed).wrapping_add(1), Relaxed);
                    return block.cast();
                }
                // Out of blocks (`refill` took any frees from other threads): flagged full, in no
                // list, until a local free or a remote one's bit (`take_remote_full`) brings it back.
                *(*page).in_full.get() = true;
                (*heap).current[class] = EMPTY_PTR;
            }
            let next = (*heap).avail[class];
            if !next.is_null() {
                avail_remove(heap, class, next);
                (*heap).current[class] = next;
                continue;
            }
            let id = (*heap).id;
            // `id` is a slot plus one while the heap is live: never out of the table.
            let notify = NOTIFY.get(id.wrapping_sub(1));
            // A load first: the swap is a locked instruction and the flag is mostly clear.
            if notify.is_some_and(|n| n.load(Relaxed) && n.swap(false, AcqRel)) {
                take_remote_full(heap);
                if !(*heap).avail[class].is_null() {
                    continue;
                }
            }
            let fresh = fresh_page(heap, class);
            if fresh.is_null() {
                return ptr::null_mut();
            }
            (*heap).current[class] = fresh;
        }
    }
}

/// Gives `page` free blocks if it can: frees from other threads first, then fresh blocks.
/// Whether `free` is non-empty after.
///
/// # Safety
///
/// This thread owns `page`, which is in use.
unsafe fn refill(page: *mut Page) -> bool {
    // SAFETY: owner fields of an owned page; `xfree` blocks are free blocks of this page.
    unsafe {
        if !(*(*page).free.get()).is_null() {
            return true;
        }
        if collect(page) {
            return true;
        }
        let (bump, end) = (*(*page).bump.get(), *(*page).end.get());
        if bump >= end {
            return false;
        }
        let size = (*page).block_size.load(Relaxed) as usize;
        let take = (EXTEND_BYTES / size).max(1).min((end - bump) / size);
        let first = bump as *mut Block;
        for i in 0..take {
            let b = (bump + i * size) as *mut Block;
            (*b).next = if i + 1 == take {
                ptr::null_mut()
            } else {
                (bump + (i + 1) * size) as *mut Block
            };
        }
        let new_bump = bump + take * size;
        *(*page).bump.get() = new_bump;
        let start = bump & !(PAGE_SIZE - 1);
        // Only the owner writes `touched` (a plain load and store, not a locked `fetch_max`).
        let touched = (new_bump - start) as u32;
        if touched > (*page).touched.load(Relaxed) {
            (*page).touched.store(touched, Relaxed);
        }
        *(*page).free.get() = first;
        true
    }
}

/// Moves the blocks other threads freed to `page`'s free list. Whether there were any.
///
/// # Safety
///
/// This thread owns `page`, which is in use.
unsafe fn collect(page: *mut Page) -> bool {
    // SAFETY: the `xfree` list, once swapped out, is ours; its blocks are free blocks of this page.
    unsafe {
        // A plain load first: the swap is a locked instruction, and the list is mostly empty.
        if (*page).xfree.load(Relaxed).is_null() {
            return false;
        }
        let list = (*page).xfree.swap(ptr::null_mut(), Acquire);
        if list.is_null() {
            return false;
        }
        let mut n = 1u32;
        let mut last = list;
        while !(*last).next.is_null() {
            last = (*last).next;
            n += 1;
        }
        (*last).next = *(*page).free.get();
        *(*page).free.get() = list;
        (*page)
            .used
            .store((*page).used.load(Relaxed).wrapping_sub(n), Relaxed);
        let seg = (page as usize & !(SEGMENT_SIZE - 1)) as *mut Segment;
        let bytes = n as usize * (*page).block_size.load(Relaxed) as usize;
        (*seg).xfree_bytes.fetch_sub(bytes, Relaxed);
        true
    }
}

/// Puts every full page that a free from another thread flagged back in its list.
///
/// # Safety
///
/// `heap` is this thread's live heap.
unsafe fn take_remote_full(heap: *mut Heap) {
    // SAFETY: the heap's own segments.
    unsafe {
        let mut seg = (*heap).owned;
        while !seg.is_null() {
            take_remote_full_of(heap, seg);
            seg = *(*seg).next_owned.get();
        }
    }
}

/// [`take_remote_full`] for one segment.
///
/// # Safety
///
/// `heap`, this thread's live heap, owns `seg`.
unsafe fn take_remote_full_of(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: the heap's own segment and pages.
    unsafe {
        for (word, bits) in (*seg).remote_full.iter().enumerate() {
            let mut mask = bits.swap(0, SeqCst);
            while mask != 0 {
                let index = word * 64 + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let page = &raw mut (*seg).pages[index];
                if (*page).block_size.load(Relaxed) != 0 && *(*page).in_full.get() {
                    *(*page).in_full.get() = false;
                    collect(page);
                    avail_push(heap, page_class(page), page);
                }
            }
        }
    }
}

/// A page for `class`: the free page with resident memory emptied last, else one from the heap's
/// segments, an adopted one, or a new one; null if none can be had. (Taking the first free page of
/// a segment instead, `vecgrow` with blocks up to 32 KiB, two to a page, left the pages it had
/// used empty and gave them back to the kernel: 1 894 `madvise` calls and 30 297 page faults
/// against 6 472.)
///
/// # Safety
///
/// `heap` is this thread's live heap.
unsafe fn fresh_page(heap: *mut Heap, class: usize) -> *mut Page {
    let class = class.min(CLASSES - 1);
    // SAFETY: the heap's own segments; an adopted or new segment becomes the heap's.
    unsafe {
        let resident = (*heap).resident;
        if !resident.is_null() {
            // The page emptied last: its memory resident, likely still in the caches and the TLB.
            let (seg, index) = page_position(resident);
            return init_page(heap, seg, index, class);
        }
        loop {
            let seg = (*heap).free_segs;
            if !seg.is_null() {
                let free_pages = &*(*seg).free_pages.get();
                let Some(word) = free_pages.iter().position(|&w| w != 0) else {
                    (*heap).free_segs = *(*seg).next_free.get();
                    *(*seg).in_free.get() = false;
                    continue;
                };
                let index = word * 64 + free_pages[word].trailing_zeros() as usize;
                return init_page(heap, seg, index, class);
            }
            if adopt(heap) {
                let page = (*heap).avail[class];
                if !page.is_null() {
                    avail_remove(heap, class, page);
                    return page;
                }
                continue;
            }
            let seg = new_segment();
            if seg.is_null() {
                return ptr::null_mut();
            }
            own(heap, seg);
        }
    }
}

/// Starts page `index` of `seg` for `class`.
///
/// # Safety
///
/// `heap`, this thread's, owns `seg`, and page `index` (≥ [`HEADER_PAGES`]) is not in use.
unsafe fn init_page(heap: *mut Heap, seg: *mut Segment, index: usize, class: usize) -> *mut Page {
    // SAFETY: owner fields of an owned, unused page.
    unsafe {
        let page = &raw mut (*seg).pages[index];
        // Every class index in use came from `CLASS_OF`, so it is below `CLASSES`.
        let size = *CLASS_SIZE.get_unchecked(class) as usize;
        let start = seg as usize + index * PAGE_SIZE;
        (*(*seg).free_pages.get())[index / 64] &= !(1 << (index % 64));
        if (*page).touched.load(Relaxed) != 0 {
            resident_remove(heap, page);
        }
        *(*page).free.get() = ptr::null_mut();
        (*page).used.store(0, Relaxed);
        (*page).block_size.store(size as u32, Relaxed);
        *(*page).class.get() = class as u8;
        *(*page).in_avail.get() = false;
        *(*page).in_full.get() = false;
        *(*page).bump.get() = start;
        *(*page).end.get() = start + PAGE_SIZE / size * size;
        (*heap).pages_in_use += 1;
        page
    }
}

/// Makes `seg` the heap's: in its lists, with `owner` set.
///
/// # Safety
///
/// `heap` is this thread's live heap; `seg` is new or just taken off the abandoned stack.
unsafe fn own(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: nobody else owns `seg` (caller).
    unsafe {
        (*seg).owner.store((*heap).id, SeqCst); // see `free_remote`
        *(*seg).next_owned.get() = (*heap).owned;
        (*heap).owned = seg;
        *(*seg).in_free.get() = false;
        if *(*seg).free_pages.get() != [0; WORDS] {
            *(*seg).next_free.get() = (*heap).free_segs;
            (*heap).free_segs = seg;
            *(*seg).in_free.get() = true;
        }
    }
}

/// Maps a new segment from the reserved range; null when the range is used up or the kernel
/// refuses.
fn new_segment() -> *mut Segment {
    let len = LEN.load(Relaxed);
    let offset = CURSOR.fetch_add(SEGMENT_SIZE, Relaxed);
    if offset >= len {
        CURSOR.store(len, Relaxed);
        return ptr::null_mut();
    }
    let addr = BASE.load(Relaxed) + offset;
    // SAFETY: `[addr, addr + SEGMENT_SIZE)` is inside the range this module reserved and no one
    // else maps (each offset is handed out once), so replacing its `PROT_NONE` pages is ours to do.
    let p = unsafe {
        libc::mmap(
            addr as *mut c_void,
            SEGMENT_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    let seg = p.cast::<Segment>();
    // SAFETY: fresh zeroed memory, ours alone: zero is every field's empty state but the free
    // page mask.
    unsafe { *(*seg).free_pages.get() = ALL_FREE };
    seg
}

/// Takes an abandoned segment off the stack and makes it the heap's, its pages sorted into the
/// heap's lists. Whether there was one.
///
/// # Safety
///
/// `heap` is this thread's live heap.
unsafe fn adopt(heap: *mut Heap) -> bool {
    const TAG: usize = SEGMENT_SIZE - 1;
    let mut head = ABANDONED.load(Acquire);
    let seg = loop {
        let seg = (head & !TAG) as *mut Segment;
        if seg.is_null() {
            return false;
        }
        // SAFETY: segment headers stay mapped forever, so reading a stale one is harmless; the
        // tag makes the compare-and-swap fail if the stack changed since `head` was read.
        let next = unsafe { (*seg).abandoned_next.load(Relaxed) };
        let new = next | ((head.wrapping_add(1)) & TAG);
        match ABANDONED.compare_exchange_weak(head, new, Acquire, Acquire) {
            Ok(_) => break seg,
            Err(now) => head = now,
        }
    };
    // SAFETY: the segment is ours now: no heap owns it and it is off the stack.
    unsafe {
        own(heap, seg);
        for index in HEADER_PAGES..PAGES {
            let page = &raw mut (*seg).pages[index];
            if (*page).block_size.load(Relaxed) == 0 {
                if (*page).touched.load(Relaxed) != 0 {
                    resident_push(heap, page);
                }
                continue;
            }
            *(*page).in_avail.get() = false;
            *(*page).in_full.get() = false;
            (*heap).pages_in_use += 1;
            collect(page);
            if (*page).used.load(Relaxed) == 0 {
                retire_page(heap, seg, page);
            } else if !(*(*page).free.get()).is_null() || *(*page).bump.get() < *(*page).end.get() {
                avail_push(heap, page_class(page), page);
            } else {
                *(*page).in_full.get() = true;
            }
        }
        // Frees from other threads that read `owner` as 0 (before `own` stored ours) set their
        // pages' bits and told nobody: taken here.
        take_remote_full_of(heap, seg);
    }
    true
}

/// Starts this thread's heap: the range reserved, a slot and the exit hook taken. Whether the
/// heap is live after.
///
/// # Safety
///
/// `heap` is this thread's heap, not live.
#[cold]
unsafe fn start(heap: *mut Heap) -> bool {
    // SAFETY: this thread's heap (caller).
    unsafe {
        if (*heap).state == DEAD {
            return false;
        }
        match region_ready() {
            Region::Ready => {}
            Region::Busy => return false, // another thread is reserving it: jemalloc this time
            Region::Unavailable => {
                (*heap).state = DEAD;
                return false;
            }
        }
        (*heap).state = DEAD; // until everything below succeeded
        let Some(slot) = take_slot() else {
            return false;
        };
        let key = exit_key();
        // A non-null value makes the destructor run at thread exit.
        if key == usize::MAX
            || libc::pthread_setspecific(key as libc::pthread_key_t, ptr::dangling::<c_void>()) != 0
        {
            release_slot(slot);
            return false;
        }
        (*heap).id = slot + 1;
        (*heap).state = LIVE;
        true
    }
}

enum Region {
    Ready,
    Busy,
    Unavailable,
}

/// Whether the range is reserved, reserving it on the first call.
fn region_ready() -> Region {
    match REGION.load(Acquire) {
        2 => return Region::Ready,
        0 => {}
        1 => return Region::Busy,
        _ => return Region::Unavailable,
    }
    if REGION.compare_exchange(0, 1, Acquire, Acquire).is_err() {
        return region_ready();
    }
    if turned_off() {
        REGION.store(3, Release);
        return Region::Unavailable;
    }
    let mut len = REGION_SIZE;
    while len >= MIN_REGION_SIZE {
        // SAFETY: a fresh anonymous reservation; nothing is overwritten.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len + SEGMENT_SIZE,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            // The base first: while the length is 0 no pointer is in range, whatever the base.
            BASE.store((p as usize).next_multiple_of(SEGMENT_SIZE), Release);
            LEN.store(len, Release);
            REGION.store(2, Release);
            return Region::Ready;
        }
        len /= 2;
    }
    REGION.store(3, Release);
    Region::Unavailable
}

/// `ALLOC_CORE_SMALL=off` (or `0`) in the environment.
fn turned_off() -> bool {
    // SAFETY: a NUL-terminated name; `getenv` allocates nothing and the value is read at once.
    unsafe {
        let v = libc::getenv(c"ALLOC_CORE_SMALL".as_ptr());
        if v.is_null() {
            return false;
        }
        let v = core::ffi::CStr::from_ptr(v).to_bytes();
        v == b"off" || v == b"0"
    }
}

fn take_slot() -> Option<usize> {
    for (word, bits) in SLOTS.iter().enumerate() {
        let mut cur = bits.load(Relaxed);
        while cur != u64::MAX {
            let bit = (!cur).trailing_zeros();
            match bits.compare_exchange_weak(cur, cur | (1 << bit), AcqRel, Relaxed) {
                Ok(_) => {
                    let slot = word * 64 + bit as usize;
                    if let Some(flag) = NOTIFY.get(slot) {
                        flag.store(false, Relaxed);
                    }
                    return Some(slot);
                }
                Err(now) => cur = now,
            }
        }
    }
    None
}

fn release_slot(slot: usize) {
    if let Some(bits) = SLOTS.get(slot / 64) {
        bits.fetch_and(!(1 << (slot % 64)), Release);
    }
}

/// The key whose destructor abandons the heap; `usize::MAX` if none could be made.
fn exit_key() -> usize {
    let key = KEY.load(Acquire);
    if key != usize::MAX {
        return key;
    }
    let mut new: libc::pthread_key_t = 0;
    // SAFETY: `new` is a valid out-pointer and `heap_exit` has the destructor's signature.
    if unsafe { libc::pthread_key_create(&mut new, Some(heap_exit)) } != 0 {
        return usize::MAX;
    }
    match KEY.compare_exchange(usize::MAX, new as usize, AcqRel, Acquire) {
        Ok(_) => new as usize,
        Err(other) => {
            // SAFETY: our key, never set on any thread.
            unsafe { libc::pthread_key_delete(new) };
            other
        }
    }
}

/// The exiting thread's destructor: its segments go on the abandoned stack, and the thread uses
/// jemalloc for what it still allocates.
unsafe extern "C" fn heap_exit(_: *mut c_void) {
    // SAFETY: this thread's heap, live (the key is only set on a live heap).
    unsafe { abandon(heap()) }
}

/// Gives up every segment of `heap`.
///
/// # Safety
///
/// `heap` is this thread's live heap.
unsafe fn abandon(heap: *mut Heap) {
    // SAFETY: the heap's own segments, handed over through the stack's release CAS.
    unsafe {
        (*heap).state = DEAD;
        let mut seg = (*heap).owned;
        while !seg.is_null() {
            let next = *(*seg).next_owned.get();
            for index in HEADER_PAGES..PAGES {
                let page = &raw mut (*seg).pages[index];
                if (*page).block_size.load(Relaxed) != 0 {
                    collect(page);
                }
            }
            (*seg).owner.store(0, Release);
            let mut head = ABANDONED.load(Relaxed);
            loop {
                (*seg)
                    .abandoned_next
                    .store(head & !(SEGMENT_SIZE - 1), Relaxed);
                let new = seg as usize | (head.wrapping_add(1) & (SEGMENT_SIZE - 1));
                match ABANDONED.compare_exchange_weak(head, new, Release, Relaxed) {
                    Ok(_) => break,
                    Err(now) => head = now,
                }
            }
            seg = next;
        }
        (*heap).owned = ptr::null_mut();
        (*heap).free_segs = ptr::null_mut();
        (*heap).resident = ptr::null_mut();
        (*heap).resident_tail = ptr::null_mut();
        (*heap).empty_resident = 0;
        (*heap).pages_in_use = 0;
        (*heap).current = [EMPTY_PTR; CLASSES];
        (*heap).avail = [ptr::null_mut(); CLASSES];
        release_slot((*heap).id - 1);
        (*heap).id = NO_ID;
    }
}

/// This layer's share of [`crate::AllocatorStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SmallStats {
    /// Bytes in blocks handed out and not freed.
    pub allocated: usize,
    /// Touched bytes of pages in use.
    pub active: usize,
    /// Bytes the kernel holds in the segments (`mincore`), or the touched bytes of their pages
    /// and headers where more.
    pub resident: usize,
    /// Segments mapped.
    pub mapped: usize,
}

/// Sums every segment's headers. Figures of pages other threads are changing meanwhile are
/// a moment's; each is read atomically.
pub(crate) fn stats() -> SmallStats {
    let mut out = SmallStats::default();
    if REGION.load(Acquire) != 2 {
        return out;
    }
    let base = BASE.load(Relaxed);
    let end = CURSOR.load(Relaxed).min(LEN.load(Relaxed));
    let header = size_of::<Segment>().next_multiple_of(4096);
    let mut offset = 0;
    while offset < end {
        let seg = (base + offset) as *const Segment;
        offset += SEGMENT_SIZE;
        let Some(held) = resident_bytes(seg.cast()) else {
            continue;
        };
        out.mapped += SEGMENT_SIZE;
        let mut touched_all = header;
        // SAFETY: a mapped segment's header: every field read here is an atomic.
        unsafe {
            let mut bytes = 0usize;
            for page in (*seg).pages.iter().skip(HEADER_PAGES) {
                let size = page.block_size.load(Relaxed) as usize;
                let touched = page.touched.load(Relaxed) as usize;
                if size != 0 {
                    bytes += page.used.load(Relaxed) as usize * size;
                    out.active += touched;
                }
                touched_all += touched;
            }
            out.allocated += bytes.saturating_sub((*seg).xfree_bytes.load(Relaxed));
            // What the kernel holds (a huge page counts whole), but never less than the touched
            // bytes: a block handed out and never written is active without being resident.
            out.resident += held.max(touched_all);
        }
    }
    out
}

/// The resident bytes of the segment at `p`, inside the reserved range, if its header page has
/// been mapped and written; `None` otherwise.
///
/// A segment's offset is handed out before it is mapped, and a failed `mmap` leaves it
/// `PROT_NONE`: reading such a header would fault. `mincore` tells without touching it: a
/// `PROT_NONE` page is never resident, and `new_segment` writes the header right after mapping.
///
/// `mincore` reports per kernel page: 4 KiB on x86-64, 16 or 64 KiB on some arm64 and POWER
/// kernels, so the count is multiplied by the page size the kernel reports, not by 4 KiB.
fn resident_bytes(p: *const u8) -> Option<usize> {
    /// One byte per page of the smallest size Linux uses, 4 KiB: enough for any larger one.
    const MAX_PAGES: usize = SEGMENT_SIZE / 4096;
    let mut vec = [0u8; MAX_PAGES];
    // SAFETY: `sysconf` reads a value the C library keeps; it does not allocate.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n >= 4096 => n as usize,
        _ => 4096,
    };
    // SAFETY: `mincore` only inspects the page tables; the segment's pages, of at least 4 KiB,
    // need one byte of `vec` each, at most `MAX_PAGES`.
    let r = unsafe { libc::mincore(p as *mut c_void, SEGMENT_SIZE, vec.as_mut_ptr()) };
    if r != 0 || vec[0] & 1 == 0 {
        return None;
    }
    let pages = SEGMENT_SIZE / page;
    Some(vec[..pages].iter().filter(|&&v| v & 1 == 1).count() * page)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `heap` is [`Heap::NEW`], field by field.
    fn is_new(heap: *const Heap) -> bool {
        // SAFETY: a thread's own heap, read on that thread.
        let h = unsafe { &*heap };
        h.current.iter().all(|&p| p == EMPTY_PTR)
            && h.avail.iter().all(|p| p.is_null())
            && h.owned.is_null()
            && h.free_segs.is_null()
            && h.resident.is_null()
            && h.resident_tail.is_null()
            && h.empty_resident == 0
            && h.pages_in_use == 0
            && h.state == UNINIT
            && h.id == NO_ID
    }

    /// Every thread's heap starts as `Heap::NEW` (on x86-64 Linux an image written in assembly),
    /// each thread its own. This test binary's global allocator is the system's, so no thread
    /// here has started its heap.
    #[test]
    fn every_thread_starts_with_a_new_heap_of_its_own() {
        let here = heap() as usize;
        assert!(is_new(here as *const Heap));
        let there = std::thread::spawn(|| {
            let h = heap();
            (h as usize, is_new(h))
        })
        .join()
        .unwrap();
        assert!(there.1, "a spawned thread's heap is not Heap::NEW");
        assert_ne!(here, there.0, "two threads share a heap");
        assert_eq!(here % align_of::<Heap>(), 0);
    }
}
