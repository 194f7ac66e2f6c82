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

/// Runs test `name` of this test binary again in a child process, with `env` set and, if given,
/// `limit_as` as its address-space limit from its first instruction on (`RLIMIT_AS`, set between
/// `fork` and `exec`). Asserts the child succeeded and printed `marker`, showing its output if not.
pub fn run_self(name: &str, env: &[(&str, &str)], limit_as: Option<u64>, marker: &str) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads", "1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(bytes) = limit_as {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before `exec` and only calls
        // `setrlimit`, which is async-signal-safe and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // A child that hangs (an allocation failure inside the panic hook's backtrace deadlocks on
    // its lock) is killed after `CHILD_TIMEOUT` and fails the test instead of stalling the run.
    let pid = child.id() as libc::pid_t;
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = wait.recv_timeout(CHILD_TIMEOUT).is_err();
        if timed_out {
            // SAFETY: `kill` has no memory effects. `pid` is the child, not yet reaped unless
            // `wait_with_output` returned in the same instant as the timeout (it sends on `done`
            // right after); only in that instant could the signal reach a reused pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        timed_out
    });
    let out = child.wait_with_output().unwrap();
    // The watchdog may have timed out already: then the channel is gone and the send fails.
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !timed_out && out.status.success() && stdout.contains(marker),
        "child {name} failed{}: {}\n{stdout}\n{}",
        if timed_out {
            " (killed after the timeout)"
        } else {
            ""
        },
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How long [`run_self`] lets a child run (the slowest takes a few seconds).
pub const CHILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
