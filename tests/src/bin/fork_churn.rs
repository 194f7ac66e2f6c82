//! Forks 200 times while two threads allocate and free without pause; each child frees a block
//! one of those threads allocated, allocates, and leaves with `_exit`. A block-map lock held by
//! another thread at the moment of `fork` stays held forever in the child (the thread that held
//! it does not exist there): the tracker must take its locks around `fork`. Run by
//! `tests/exit_report.rs` with a time limit.
//!
//! With `FORK_CHURN_SCAN=1` a third thread runs `leak_check()` without pause meanwhile: the scan
//! stops every other thread with a signal, and must neither stop the forking thread while it
//! holds the block map's locks (the scan would then wait for them forever) nor be confused by it.

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

static STOP: AtomicBool = AtomicBool::new(false);
/// A block each allocating thread hands over (null when taken).
static HANDED: [AtomicPtr<[u8; 64]>; 2] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 2];

fn main() {
    let mut threads: Vec<_> = HANDED
        .iter()
        .map(|slot| std::thread::spawn(move || integration_tests::fork::churn(&STOP, slot)))
        .collect();
    let scans = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if std::env::var_os("FORK_CHURN_SCAN").is_some() {
        let scans = scans.clone();
        threads.push(std::thread::spawn(move || {
            while !STOP.load(Ordering::Relaxed) {
                std::hint::black_box(alloc_tracker::leak_check());
                scans.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut children = 0;
    for round in 0..200 {
        let handed = HANDED[round % 2].swap(std::ptr::null_mut(), Ordering::Acquire);
        // SAFETY: `fork` in a process with other threads: the child only allocates and frees
        // through the global allocator (the subject of this test) and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            if !handed.is_null() {
                // SAFETY: a block from `Box::into_raw` above, owned by this process's copy.
                drop(unsafe { Box::from_raw(handed) });
            }
            let v = vec![round as u8; 1000];
            // SAFETY: ends the child without running exit handlers (no report from children).
            unsafe { libc::_exit(i32::from(v[999] != round as u8)) };
        }
        assert!(pid > 0, "fork failed");
        if !handed.is_null() {
            // SAFETY: as above, the parent's copy.
            drop(unsafe { Box::from_raw(handed) });
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(waited == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        children += 1;
    }
    STOP.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    println!("{children} children exited");
    if std::env::var_os("FORK_CHURN_SCAN").is_some() {
        eprintln!("{} scans ran", scans.load(Ordering::Relaxed));
    }
}
