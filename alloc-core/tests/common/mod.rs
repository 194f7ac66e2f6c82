//! What the kernel says about this test process, for alloc-core's test binaries (each includes
//! this module with `mod common;` and uses what it needs).

#![allow(dead_code)] // every binary uses a different part

/// This process's resident set in bytes, from the kernel.
pub fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Minor page faults of the calling thread so far (other threads' faults are not counted).
pub fn thread_faults() -> i64 {
    // SAFETY: `getrusage` writes one `rusage` into the zeroed value it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage.ru_minflt
    }
}
