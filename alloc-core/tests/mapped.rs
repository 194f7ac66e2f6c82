//! Blocks of `MAP_THRESHOLD` bytes or more in mappings of their own (`alloc_core::mapped`),
//! against the real kernel: growth by moving pages, fork, the budget of mappings, refusal.
//!
//! The tests read process-wide figures (`mapped::totals`), so they run one at a time; nothing
//! else in this binary allocates blocks of 32 MiB or more.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Mutex;

use alloc_core::mapped::{self, MAX_MAPPINGS};
use alloc_core::policy::{HUGE_PAGE_SIZE, MAP_THRESHOLD};
use alloc_core::{AlignedAlloc, usable_size};

#[global_allocator]
static GLOBAL: AlignedAlloc = AlignedAlloc::new();

mod common;
use common::thread_faults;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;

/// The byte at `i` of a block filled by [`fill`].
fn pattern(i: usize) -> u8 {
    (i / 4096 % 251) as u8 | 1
}

fn fill(v: &mut [u8]) {
    for (i, b) in v.iter_mut().enumerate() {
        *b = pattern(i);
    }
}

fn check(v: &[u8]) {
    for i in (0..v.len()).step_by(4093).chain([v.len() - 1]) {
        assert_eq!(v[i], pattern(i), "byte {i} of {}", v.len());
    }
}

#[test]
fn growth_moves_pages_instead_of_copying() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = mapped::totals();
    let mut v = vec![0u8; 64 * MIB];
    fill(&mut v);
    assert_eq!(v.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
    assert_eq!(mapped::totals().mappings, before.mappings + 1);

    // Growing to 192 MiB: a copy would write 64 MiB into fresh pages (16 384 faults of 4 KiB, or
    // 32 of 2 MiB); moving the pages faults none.
    let faults = thread_faults();
    v.reserve_exact(128 * MIB);
    let grew = thread_faults() - faults;
    assert!(v.capacity() >= 192 * MIB);
    assert!(
        grew < 8,
        "growing a 64 MiB block faulted {grew} pages: it was copied"
    );
    check(&v);
    assert_eq!(v.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
    // SAFETY: `v`'s buffer is a live block of the global allocator.
    assert!(unsafe { usable_size(v.as_ptr()) } >= v.capacity());
    assert_eq!(mapped::totals().mappings, before.mappings + 1);

    // Shrinking inside the threshold keeps the mapping; below it, the block moves to jemalloc.
    v.truncate(40 * MIB);
    v.shrink_to_fit();
    check(&v);
    assert_eq!(mapped::totals().mappings, before.mappings + 1);
    v.truncate(MIB);
    v.shrink_to_fit();
    check(&v);
    assert_eq!(mapped::totals().mappings, before.mappings);
    // SAFETY: as above.
    assert!(unsafe { usable_size(v.as_ptr()) } >= MIB);
}

#[test]
fn a_forked_child_grows_and_frees_its_copy() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = mapped::totals();
    let mut v = vec![0u8; 48 * MIB];
    fill(&mut v);
    assert_eq!(
        mapped::totals().mappings,
        before.mappings + 1,
        "not a mapping of its own"
    );
    // SAFETY: the child only touches its copy of `v` and the allocator, then leaves with
    // `_exit` (no destructors, no unwinding, nothing of the parent's harness runs).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(move || {
            let mut v = v;
            check(&v);
            v.reserve_exact(64 * MIB);
            check(&v);
            drop(v);
            let w = vec![0u8; 80 * MIB];
            w.iter().step_by(4096).all(|&b| b == 0)
        });
        // SAFETY: ends the child at once, as the comment above says.
        unsafe { libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status}"
    );
    // The parent's block is its own: untouched by the child's growth and free.
    check(&v);
    v.reserve_exact(64 * MIB);
    check(&v);
}

#[test]
fn threads_grow_shrink_and_free_side_by_side() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = mapped::totals();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            std::thread::spawn(move || {
                for round in 0..40usize {
                    let mark = |i: usize| (i / MIB) as u8 ^ t ^ round as u8;
                    let mut v = vec![0u8; 33 * MIB + round * 4096];
                    let len = v.len();
                    for i in (0..len).step_by(MIB) {
                        v[i] = mark(i);
                    }
                    v.reserve_exact((round % 3 + 1) * 40 * MIB); // moves or grows in place
                    v.truncate(len.min(34 * MIB));
                    v.shrink_to_fit(); // gives a tail back
                    for i in (0..v.len()).step_by(MIB) {
                        assert_eq!(v[i], mark(i), "thread {t}, round {round}, byte {i}");
                    }
                    // SAFETY: `v`'s buffer is a live block of the global allocator.
                    assert!(unsafe { usable_size(v.as_ptr()) } >= v.len());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(mapped::totals().mappings, before.mappings);
    assert_eq!(mapped::totals().bytes, before.bytes);
}

#[test]
fn the_budget_bounds_the_mappings_not_the_blocks() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let a = AlignedAlloc::new();
    let layout = Layout::from_size_align(MAP_THRESHOLD, 8).unwrap();
    let before = mapped::totals();
    let blocks: Vec<*mut u8> = (0..MAX_MAPPINGS + 8)
        // SAFETY: a non-zero size.
        .map(|_| unsafe { a.alloc(layout) })
        .collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    assert_eq!(mapped::totals().mappings, MAX_MAPPINGS);
    assert!(before.mappings == 0, "{before:?}");
    // The blocks past the budget are jemalloc's, with the same guarantees; a few of each kind
    // are written (each write faults in a 2 MiB huge page).
    for &p in blocks.iter().take(2).chain(blocks.iter().rev().take(8)) {
        assert_eq!(p as usize % HUGE_PAGE_SIZE, 0);
        // SAFETY: `p` is a live block of `layout`.
        unsafe {
            assert!(usable_size(p) >= MAP_THRESHOLD);
            p.write(1);
            p.add(MAP_THRESHOLD - 1).write(2);
        }
    }
    for p in blocks {
        // SAFETY: each block is live with `layout`.
        unsafe { a.dealloc(p, layout) };
    }
    assert_eq!(mapped::totals().mappings, 0);
}

/// Run in a child process (`MAPPED_REFUSED_CHILD=1`) whose address space is capped, so that the
/// kernel refuses mappings: allocation and growth return null and the old block stays.
#[test]
fn refused_mappings_are_null_not_a_panic() {
    if std::env::var_os("MAPPED_REFUSED_CHILD").is_some() {
        let mut v = vec![0u8; 40 * MIB];
        fill(&mut v);
        // The cap is the address space in use now plus 256 MiB.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let vm_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|l| l.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap();
        let limit = libc::rlimit {
            rlim_cur: vm_kib * 1024 + (256 << 20),
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: sets this process's own limit from a valid `rlimit`.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
        assert!(Vec::<u8>::new().try_reserve_exact(1 << 30).is_err());
        assert!(v.try_reserve_exact(1 << 30).is_err(), "growth past the cap");
        check(&v);
        v.reserve_exact(32 * MIB); // still inside the cap
        check(&v);
        println!("refusals seen");
        return;
    }
    common::run_self(
        "refused_mappings_are_null_not_a_panic",
        &[("MAPPED_REFUSED_CHILD", "1")],
        None,
        "refusals seen",
    );
}
