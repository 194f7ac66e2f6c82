//! Leaks 23 456 bytes from a function running on a stack that is not the thread's own, then
//! returns from `main`. Run by `tests/off_thread_stack.rs` under `ALLOC_TRACKER=unwind=fp` and
//! `unwind=dwarf`, with one argument naming where the allocation runs:
//!
//! - `below`: a synchronous `SIGUSR1` handler (`raise`) on a `sigaltstack` of its own `mmap`,
//!   which the kernel places below the main thread's stack, with unmapped memory in between;
//! - `scratch-rbp`: the same, but the interrupted code (a leaf function without frame pointer, as
//!   C libraries are built) holds an address of the alternate stack's `PROT_NONE` guard page in
//!   `rbp` when the signal arrives: a frame-pointer chain followed from the handler leads there;
//! - `above`: the alternate stack mapped above the main thread's stack top;
//! - `coroutine`: a `makecontext` coroutine on a stack of its own `mmap` (no signal).
//!
//! The leaking function is `leak_on_altstack` (`leak_on_coroutine` for `coroutine`). Prints
//! `handler ran` (`coroutine ran`) once it has.

use core::ptr;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

/// Bytes of the alternate stacks (between their guard pages).
const STACK: usize = 256 * 1024;
const PAGE: usize = 4096;

/// The function the report must name: allocates on the alternate signal stack.
#[inline(never)]
fn leak_on_altstack() {
    // `black_box`: in a release build LLVM may remove an allocation that is only forgotten.
    let block = std::hint::black_box(vec![9u8; 23_456]);
    std::mem::forget(block);
}

/// The function the report must name in the `coroutine` case.
#[inline(never)]
fn leak_on_coroutine() {
    let block = std::hint::black_box(vec![5u8; 23_456]);
    std::mem::forget(block);
}

extern "C" fn on_sigusr1(_sig: libc::c_int) {
    leak_on_altstack();
}

extern "C" fn coroutine_entry() {
    leak_on_coroutine();
}

// `tgkill(tgid, tid, sig)` from a leaf function that keeps `scratch` in `rbp` across the syscall,
// as code built without frame pointers may keep any value there. Its CFI is exact (`rbp` saved at
// CFA - 16), so a DWARF unwinder restores the caller's `rbp`; a frame-pointer walk takes `scratch`
// for a frame.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl sigaltstack_leak_tgkill_with_rbp",
    ".type sigaltstack_leak_tgkill_with_rbp, @function",
    "sigaltstack_leak_tgkill_with_rbp:",
    ".cfi_startproc",
    "push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "mov rbp, rcx",
    "mov eax, 234", // SYS_tgkill; arguments already in rdi, rsi, rdx
    "syscall",
    "pop rbp",
    ".cfi_def_cfa_offset 8",
    ".cfi_restore rbp",
    "ret",
    ".cfi_endproc",
    ".size sigaltstack_leak_tgkill_with_rbp, . - sigaltstack_leak_tgkill_with_rbp",
);

#[cfg(target_arch = "x86_64")]
unsafe extern "C" {
    /// `tgkill(tgid, tid, sig)` with `rbp = scratch` while the signal is delivered.
    fn sigaltstack_leak_tgkill_with_rbp(
        tgid: libc::pid_t,
        tid: libc::pid_t,
        sig: libc::c_int,
        scratch: usize,
    ) -> libc::c_long;
}

/// A stack of `STACK` bytes with a `PROT_NONE` guard page below and above, at `hint` if given
/// (and free); its lowest usable address.
fn map_stack(hint: Option<usize>) -> Option<usize> {
    let len = PAGE + STACK + PAGE;
    let (addr, flags) = match hint {
        Some(hint) => (hint as *mut libc::c_void, libc::MAP_FIXED_NOREPLACE),
        None => (ptr::null_mut(), 0),
    };
    // SAFETY: an anonymous private mapping; with MAP_FIXED_NOREPLACE the kernel never replaces an
    // existing mapping. Checked below.
    let base = unsafe {
        libc::mmap(
            addr,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    if hint.is_some_and(|h| h != base as usize) {
        // A kernel before 4.17 takes MAP_FIXED_NOREPLACE as a hint.
        // SAFETY: `base` is the mapping of `len` bytes just made, not used by anyone.
        unsafe { libc::munmap(base, len) };
        return None;
    }
    let base = base as usize;
    for guard in [base, base + PAGE + STACK] {
        // SAFETY: both guard pages lie in the mapping just made, ours alone.
        let rc = unsafe { libc::mprotect(guard as *mut libc::c_void, PAGE, libc::PROT_NONE) };
        assert_eq!(rc, 0, "mprotect");
    }
    Some(base + PAGE)
}

/// The calling thread's stack top (highest address + 1).
fn thread_stack_top() -> usize {
    let mut attr = core::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let (mut addr, mut size) = (ptr::null_mut(), 0);
    // SAFETY: `attr` is initialised by `pthread_getattr_np` (checked) before it is read, then
    // destroyed once.
    unsafe {
        assert_eq!(
            libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()),
            0
        );
        assert_eq!(
            libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size),
            0
        );
        libc::pthread_attr_destroy(attr.as_mut_ptr());
    }
    addr as usize + size
}

/// Makes `[low, low + STACK)` this thread's alternate signal stack and runs `on_sigusr1` there
/// for every SIGUSR1.
fn install_handler(low: usize) {
    let stack = libc::stack_t {
        ss_sp: low as *mut libc::c_void,
        ss_flags: 0,
        ss_size: STACK,
    };
    // SAFETY: `stack` describes a readable, writable mapping that is never unmapped.
    assert_eq!(unsafe { libc::sigaltstack(&stack, ptr::null_mut()) }, 0);
    // SAFETY: a zeroed `sigaction` is a valid empty one, then filled in; the handler is an
    // `extern "C" fn(c_int)`, and SA_ONSTACK runs it on the stack installed above.
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = on_sigusr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &action, ptr::null_mut()), 0);
    }
}

fn raise_sigusr1() {
    // SAFETY: `raise` is synchronous: the handler has run when it returns.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
}

/// An alternate stack above the thread's stack top, where a free range is found.
fn map_stack_above() -> usize {
    let top = thread_stack_top();
    (1..4096)
        .find_map(|i| map_stack(Some(top + i * (1 << 20))))
        .expect("no free range above the thread's stack")
}

/// Runs `coroutine_entry` on a `makecontext` stack of its own and back.
fn run_coroutine() {
    let low = map_stack(None).expect("mmap");
    // SAFETY: `ucontext_t` is plain data, valid zeroed; `getcontext` fills `co` before
    // `makecontext` points it at the stack mapped above (never unmapped) and at `coroutine_entry`
    // (no arguments), returning to `main_ctx` through `uc_link`. Both contexts outlive the swap.
    unsafe {
        let mut main_ctx: libc::ucontext_t = core::mem::zeroed();
        let mut co: libc::ucontext_t = core::mem::zeroed();
        assert_eq!(libc::getcontext(&mut co), 0);
        co.uc_stack.ss_sp = low as *mut libc::c_void;
        co.uc_stack.ss_size = STACK;
        co.uc_link = &mut main_ctx;
        libc::makecontext(&mut co, coroutine_entry, 0);
        assert_eq!(libc::swapcontext(&mut main_ctx, &co), 0);
    }
}

fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    match case.as_str() {
        "below" => {
            install_handler(map_stack(None).expect("mmap"));
            raise_sigusr1();
        }
        "scratch-rbp" => {
            let low = map_stack(None).expect("mmap");
            install_handler(low);
            let guard_above = low + STACK;
            assert!(guard_above < thread_stack_top(), "{guard_above:x}");
            // SAFETY: sends SIGUSR1 to this thread (synchronously); `rbp` is restored on return.
            let rc = unsafe {
                sigaltstack_leak_tgkill_with_rbp(
                    libc::getpid(),
                    libc::gettid(),
                    libc::SIGUSR1,
                    guard_above,
                )
            };
            assert_eq!(rc, 0);
        }
        "above" => {
            let low = map_stack_above();
            assert!(low > thread_stack_top());
            install_handler(low);
            raise_sigusr1();
        }
        "coroutine" => {
            run_coroutine();
            println!("coroutine ran");
            return;
        }
        other => panic!("unknown case {other:?}: below, scratch-rbp, above or coroutine"),
    }
    println!("handler ran");
}
