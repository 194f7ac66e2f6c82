//! Fast DWARF unwinding for x86-64 Linux: `.eh_frame` rules, cached per return address.
//!
//! A frame is unwound by one rule, the row of its function's CFI at the frame's address:
//!
//! - CFA (the caller's stack pointer) = `rsp + off` or `rbp + off`;
//! - return address = `[CFA - 8]` (the rule must be `Offset(-8)`, as x86-64 SysV code has it);
//! - caller's `rbp` = unchanged or `[CFA + off]`.
//!
//! The CFA may only depend on `rsp` or `rbp`, so these two registers are all the state the walk
//! keeps. A rule is looked up by the frame's *lookup address*: the current instruction for the
//! first frame, `return address - 1` for callers (a return address points after the call, maybe
//! already into the next function), as libgcc does. On a cache miss the rule comes from the
//! object's `.eh_frame_hdr` binary-search table and `.eh_frame` (object found with
//! `dl_iterate_phdr`, CFI evaluated by `gimli` with on-stack storage: the miss path allocates
//! nothing). Rules are kept in [`CACHE`], a two-way set-associative table of 16 384 atomic words in
//! `.bss` (128 KiB, lock-free): each word holds the whole lookup address and a 16-bit rule code,
//! the common rules packed into the code itself, the others interned in [`RULES`]. A hit costs one
//! load of the set, then the frame's one or two stack words: `capture/dwarf_32_frames` measured
//! 247–263 ns (about 8 ns per frame) against 5.1 µs through libgcc (160 ns per frame).
//!
//! What it cannot follow (a CFA from an expression or another register, a saved `rbp` in another
//! register or an expression, a signal frame (`S` augmentation), an address in no loaded object
//! (JIT code), a return-address rule other than `[CFA - 8]`, CFI that gimli rejects or that needs
//! more than 32 register rules or 4 nested `remember_state`s) is *unsupported*: the walk answers
//! `None` and the caller unwinds the whole stack again through libgcc, so the answer stays that of
//! libgcc, only slower. Unsupported addresses are cached too, so finding out costs one lookup. An
//! address inside a loaded object but covered by no FDE, a return-address rule `Undefined`
//! (`_start`, a thread's `clone3`) and a zero return address end the walk, as they end libgcc's
//! (libgcc first tries to recognise a signal trampoline by its code bytes there; glibc's
//! `__restore_rt` has an FDE, so that fallback only matters for other libcs). So does a return
//! into std's `__rust_begin_short_backtrace`, cached as the end rule of those addresses: the
//! frames beyond are the runtime's (see `entry::in_user_entry`).
//!
//! Every stack read is bounds-checked against `[sp of the first frame, stack top)`, the live part
//! of this thread's stack (`capture.rs` walks only when that `sp` lies in the thread's own stack:
//! from a `sigaltstack` or a coroutine's stack the range would span unmapped gaps, and libgcc
//! unwinds instead), and the CFA must strictly increase: a wrong rule or a corrupt stack
//! ends the walk early and never faults. The cache is not invalidated by `dlclose`: an object
//! unloaded and another mapped at the same addresses would get the old rules (wrong frames, never
//! a fault).

use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, LittleEndian, RegisterRule, UnwindContext,
    UnwindContextStorage, UnwindSection, UnwindTableRow, X86_64,
};

/// The registers unwinding starts from: those of one live frame, at one instruction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Regs {
    /// An instruction of the frame's function (looked up as is, not minus one).
    pub(crate) ip: usize,
    /// `rsp` at that instruction.
    pub(crate) sp: usize,
    /// `rbp` at that instruction.
    pub(crate) bp: usize,
}

/// The registers of the calling function, at this point of it (must be inlined into it).
#[inline(always)]
pub(crate) fn registers() -> Regs {
    let (ip, sp, bp): (usize, usize, usize);
    // SAFETY: reads the instruction pointer (`lea` of the next instruction) and two registers in
    // one block, so the three describe one instruction; touches no memory, stack or flags.
    unsafe {
        core::arch::asm!(
            "lea {ip}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            ip = out(reg) ip,
            sp = out(reg) sp,
            bp = out(reg) bp,
            options(nomem, nostack, preserves_flags)
        );
    }
    Regs { ip, sp, bp }
}

/// How to unwind one frame (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// CFA = (`rbp` if `cfa_rbp` else `rsp`) + `cfa_off`; return address at CFA - 8; the caller's
    /// `rbp` at CFA + `bp_off`, or unchanged if `None`.
    Frame {
        cfa_rbp: bool,
        cfa_off: i32,
        bp_off: Option<i32>,
    },
    /// The outermost frame: nothing to unwind to.
    End,
    /// CFI this walker does not follow: unwind through libgcc.
    Unsupported,
}

impl Rule {
    /// A [`Rule::Frame`]'s fields (`cfa_rbp`, `cfa_off`, `bp_off`); `None` for other rules.
    fn frame(self) -> Option<(bool, i32, Option<i32>)> {
        match self {
            Rule::Frame {
                cfa_rbp,
                cfa_off,
                bp_off,
            } => Some((cfa_rbp, cfa_off, bp_off)),
            Rule::End | Rule::Unsupported => None,
        }
    }
}

/// Cache slots, in sets of two: 128 KiB of `.bss`, touched only where used. Two ways, the most
/// recent first, keep two colliding hot addresses both cached, where a direct-mapped table would
/// re-read the CFI (microseconds) on every capture through both.
const CACHE_BITS: u32 = 14;
/// Interned rules; a program has a few dozen distinct ones.
const RULES_LEN: usize = 1024;

/// Cache entries, two-way set-associative: `lookup address << 16 | rule code`, 0 = empty. Codes:
/// 1 = unsupported, 2 = end, `3 + i` = `RULES[i]`, bit 15 set = a rule packed in the code.
/// Addresses of 48 bits and more are never cached.
///
/// One 64-bit word per entry, so a reader sees a whole entry or another whole entry, never a torn
/// one: it uses the entry only if its address is the one looked up. Racing writers of a slot
/// just overwrite each other (it is a cache).
static CACHE: [AtomicU64; 1 << CACHE_BITS] = [const { AtomicU64::new(0) }; 1 << CACHE_BITS];
/// Interned [`Rule::Frame`]s, encoded by [`encode`] (never 0 once written); append-only.
static RULES: [AtomicU64; RULES_LEN] = [const { AtomicU64::new(0) }; RULES_LEN];
/// Slots of [`RULES`] handed out (may exceed `RULES_LEN` once full).
static RULES_USED: AtomicUsize = AtomicUsize::new(0);

const CODE_UNSUPPORTED: u64 = 1;
const CODE_END: u64 = 2;
const CODE_FIRST_RULE: u64 = 3;
/// Flags a rule packed into the code itself ([`encode_inline`]).
const CODE_INLINE: u64 = 1 << 15;
/// Bits of the saved-`rbp` offset in an encoded rule.
const BP_OFF_BITS: u32 = 28;

/// Packs a [`Rule::Frame`]: bit 63 set (so never 0), bits 0..32 `cfa_off`, bit 32 `cfa_rbp`,
/// bit 33 "rbp saved", bits 34..62 `bp_off` (two's complement, 28 bits). `None` if `bp_off`
/// does not fit, or for other rules.
fn encode(rule: Rule) -> Option<u64> {
    let (cfa_rbp, cfa_off, bp_off) = rule.frame()?;
    let mut bits = 1 << 63 | u64::from(cfa_off as u32) | u64::from(cfa_rbp) << 32;
    if let Some(off) = bp_off {
        let limit = 1i32 << (BP_OFF_BITS - 1);
        if !(-limit..limit).contains(&off) {
            return None;
        }
        bits |= 1 << 33 | (u64::from(off as u32) & ((1 << BP_OFF_BITS) - 1)) << 34;
    }
    Some(bits)
}

/// Packs a common [`Rule::Frame`] into a 16-bit cache code, saving the [`RULES`] load: bit 15
/// set, bit 14 `cfa_rbp`, bits 0..8 `cfa_off / 8`, bits 8..14 `k` for a saved `rbp` at
/// `CFA - 8k` (0 = unchanged). `None` for other rules.
fn encode_inline(rule: Rule) -> Option<u64> {
    let (cfa_rbp, cfa_off, bp_off) = rule.frame()?;
    let words = u64::try_from(cfa_off)
        .ok()
        .filter(|o| o.is_multiple_of(8) && o / 8 < 256)?
        / 8;
    let k = match bp_off {
        None => 0,
        Some(off) => {
            u64::try_from(-i64::from(off))
                .ok()
                .filter(|o| o.is_multiple_of(8) && (1..64).contains(&(o / 8)))?
                / 8
        }
    };
    Some(CODE_INLINE | u64::from(cfa_rbp) << 14 | k << 8 | words)
}

/// Unpacks what [`encode_inline`] packed.
#[inline(always)]
fn decode_inline(code: u64) -> Rule {
    let k = (code >> 8 & 63) as i32;
    Rule::Frame {
        cfa_rbp: code & 1 << 14 != 0,
        cfa_off: (code & 0xff) as i32 * 8,
        bp_off: (k != 0).then_some(-8 * k),
    }
}

/// Unpacks what [`encode`] packed; `None` for 0 (a slot not yet written).
#[inline(always)]
fn decode(bits: u64) -> Option<Rule> {
    if bits >> 63 == 0 {
        return None;
    }
    // Bits 34..62 moved to the top, then sign-extended back down.
    let off = (((bits << (64 - 34 - BP_OFF_BITS)) as i64) >> (64 - BP_OFF_BITS)) as i32;
    let bp_off = (bits & 1 << 33 != 0).then_some(off);
    Some(Rule::Frame {
        cfa_rbp: bits & 1 << 32 != 0,
        cfa_off: bits as u32 as i32,
        bp_off,
    })
}

/// The cache set of a lookup address: two adjacent slots (one cache line).
#[inline(always)]
fn set(addr: usize) -> Option<&'static [AtomicU64; 2]> {
    let hash = (addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - CACHE_BITS + 1);
    let i = hash as usize * 2;
    CACHE.get(i..i + 2)?.try_into().ok()
}

/// The rule for `addr` (a lookup address): from the cache, else from the object's CFI.
#[inline(always)]
fn rule_for(addr: usize) -> Rule {
    if let Some(set) = set(addr) {
        for way in set {
            let entry = way.load(Ordering::Acquire);
            if entry >> 16 != addr as u64 || addr == 0 {
                continue;
            }
            match entry & 0xffff {
                CODE_UNSUPPORTED => return Rule::Unsupported,
                CODE_END => return Rule::End,
                code if code & CODE_INLINE != 0 => return decode_inline(code),
                code => {
                    // The entry's release store came after the rule's, so the rule is visible.
                    let rule = code
                        .checked_sub(CODE_FIRST_RULE)
                        .and_then(|i| RULES.get(i as usize))
                        .and_then(|r| decode(r.load(Ordering::Relaxed)));
                    if let Some(rule) = rule {
                        return rule;
                    }
                }
            }
        }
    }
    miss(addr)
}

#[cfg(test)]
thread_local! {
    /// Cache misses on this thread (tests check that a second walk only hits).
    static MISSES: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// Cache miss: reads the rule from the CFI, then caches it.
#[cold]
#[inline(never)]
fn miss(addr: usize) -> Rule {
    #[cfg(test)]
    MISSES.with(|m| m.set(m.get() + 1));
    // The walk ends in std's entry frame around `main` and each thread (`runtime::in_user_entry`).
    let rule = if crate::entry::in_user_entry(addr) {
        Rule::End
    } else {
        find_rule(addr)
    };
    remember(addr, rule);
    rule
}

/// Caches `rule` for `addr`, if the address and the rule fit.
fn remember(addr: usize, rule: Rule) {
    if addr == 0 || addr >> 48 != 0 {
        return;
    }
    let code = match rule {
        Rule::Unsupported => CODE_UNSUPPORTED,
        Rule::End => CODE_END,
        Rule::Frame { .. } => match encode_inline(rule) {
            Some(code) => code,
            None => match encode(rule).and_then(intern) {
                Some(i) => CODE_FIRST_RULE + i as u64,
                None => return,
            },
        },
    };
    if let Some([first, second]) = set(addr) {
        // Most recent first; the previous first moves to the second way (each entry stands
        // alone, so racing moves lose entries at worst).
        second.store(first.load(Ordering::Acquire), Ordering::Release);
        first.store((addr as u64) << 16 | code, Ordering::Release);
    }
}

/// The index of `bits` in [`RULES`], adding it if new; `None` when full.
fn intern(bits: u64) -> Option<usize> {
    let used = RULES_USED.load(Ordering::Acquire).min(RULES_LEN);
    let known = RULES.iter().take(used);
    // Acquire: a rule seen here is then published in a cache entry by this thread, whose readers
    // must see it too.
    if let Some(i) = known
        .enumerate()
        .find_map(|(i, r)| (r.load(Ordering::Acquire) == bits).then_some(i))
    {
        return Some(i);
    }
    if used >= RULES_LEN {
        return None;
    }
    // Two threads adding the same rule at once store it twice: harmless.
    let i = RULES_USED.fetch_add(1, Ordering::AcqRel);
    RULES.get(i)?.store(bits, Ordering::Release);
    // Ensures the cache code `CODE_FIRST_RULE + i` fits in 16 bits.
    const _: () = assert!(RULES_LEN as u64 + CODE_FIRST_RULE < CODE_INLINE);
    Some(i)
}

/// What the `dl_iterate_phdr` callback looks for and finds.
struct Search {
    addr: usize,
    rule: Rule,
}

/// Finds the rule for `addr` in the CFI of the loaded object containing it.
fn find_rule(addr: usize) -> Rule {
    let mut search = Search {
        addr,
        rule: Rule::Unsupported,
    };
    // SAFETY: `dl_iterate_phdr` calls `callback` for each loaded object, with `data` = our
    // `&mut search`, live for the whole call; it calls neither Rust's allocator nor back into us.
    unsafe {
        libc::dl_iterate_phdr(Some(callback), (&raw mut search).cast::<c_void>());
    }
    search.rule
}

/// `dl_iterate_phdr` callback: when `info` is the object containing `search.addr`, reads its rule
/// into `search.rule` and stops the iteration (returns 1).
///
/// # Safety
///
/// `info` must point to a valid `dl_phdr_info` and `data` to a `Search`, as `find_rule` passes.
unsafe extern "C" fn callback(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: the caller's contract; `data` is the `&mut Search` of `find_rule`, used by no one
    // else during the call.
    let (info, search) = unsafe { (&*info, &mut *data.cast::<Search>()) };
    let phdrs: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        // SAFETY: the loader gives `dlpi_phnum` program headers at `dlpi_phdr`, valid for the
        // callback's duration.
        unsafe { core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let object = Object {
        bias: info.dlpi_addr as usize,
        phdrs,
    };
    if object.load_segment(search.addr).is_none() {
        return 0;
    }
    search.rule = object.rule(search.addr).unwrap_or(Rule::Unsupported);
    1
}

/// A loaded object, as `dl_iterate_phdr` describes it.
struct Object<'a> {
    bias: usize,
    phdrs: &'a [libc::Elf64_Phdr],
}

impl Object<'_> {
    /// The `PT_LOAD` segment containing `addr`, as `(start, end)` addresses.
    fn load_segment(&self, addr: usize) -> Option<(usize, usize)> {
        self.phdrs
            .iter()
            .filter(|p| p.p_type == libc::PT_LOAD)
            .filter_map(|p| {
                let start = self.bias.checked_add(usize::try_from(p.p_vaddr).ok()?)?;
                let end = start.checked_add(usize::try_from(p.p_memsz).ok()?)?;
                Some((start, end))
            })
            .find(|&(start, end)| (start..end).contains(&addr))
    }

    /// The rule at `addr`, which lies in one of this object's segments; `None` = unsupported.
    ///
    /// Called inside `dl_iterate_phdr`, which keeps the object loaded meanwhile.
    fn rule(&self, addr: usize) -> Option<Rule> {
        let hdr = self
            .phdrs
            .iter()
            .find(|p| p.p_type == libc::PT_GNU_EH_FRAME)?;
        let hdr_start = self.bias.checked_add(usize::try_from(hdr.p_vaddr).ok()?)?;
        let hdr_len = usize::try_from(hdr.p_memsz).ok()?;
        let (seg_start, seg_end) = self.load_segment(hdr_start)?;
        if hdr_start.checked_add(hdr_len)? > seg_end || hdr_start < seg_start {
            return None;
        }
        // SAFETY: `[hdr_start, +hdr_len)` lies inside a loaded segment of an object that stays
        // loaded during the `dl_iterate_phdr` callback; `.eh_frame_hdr` is never written.
        let hdr_bytes = unsafe { core::slice::from_raw_parts(hdr_start as *const u8, hdr_len) };
        let bases = BaseAddresses::default().set_eh_frame_hdr(hdr_start as u64);
        let parsed = EhFrameHdr::new(hdr_bytes, LittleEndian)
            .parse(&bases, 8)
            .ok()?;
        let eh_frame = usize::try_from(parsed.eh_frame_ptr().direct().ok()?).ok()?;
        // `.eh_frame`'s length is not recorded: take the rest of its segment.
        let (_, eh_seg_end) = self.load_segment(eh_frame)?;
        // SAFETY: as above, `[eh_frame, eh_seg_end)` is the rest of a loaded, read-only segment.
        let eh_bytes =
            unsafe { core::slice::from_raw_parts(eh_frame as *const u8, eh_seg_end - eh_frame) };
        let mut section = EhFrame::new(eh_bytes, LittleEndian);
        section.set_address_size(8);
        let bases = bases.set_eh_frame(eh_frame as u64);
        let Some(table) = parsed.table() else {
            return Some(Rule::Unsupported);
        };
        let fde =
            match table.fde_for_address(&section, &bases, addr as u64, EhFrame::cie_from_offset) {
                Ok(fde) => fde,
                // In a loaded object but covered by no FDE: libgcc ends its walk there too.
                Err(gimli::Error::NoUnwindInfoForAddress) => return Some(Rule::End),
                Err(_) => return None,
            };
        if fde.is_signal_trampoline() || fde.cie().return_address_register() != X86_64::RA {
            return None;
        }
        let mut ctx = UnwindContext::<usize, Store>::new_in();
        let row = fde
            .unwind_info_for_address(&section, &bases, &mut ctx, addr as u64)
            .ok()?;
        rule_of_row(row)
    }
}

/// Storage for gimli's CFA-program evaluation, on the stack (no allocation; a test keeps it under
/// 8 KiB). CFI with more register rules in one row, or deeper `remember_state` nesting, fails to
/// evaluate (unsupported).
struct Store;

impl UnwindContextStorage<usize> for Store {
    type Rules = [(gimli::Register, RegisterRule<usize>); 32];
    type Stack = [UnwindTableRow<usize, Self>; 4];
}

/// The [`Rule`] of one CFI row; `None` = unsupported.
fn rule_of_row<S: UnwindContextStorage<usize>>(row: &UnwindTableRow<usize, S>) -> Option<Rule> {
    match row.register(X86_64::RA) {
        Some(RegisterRule::Offset(-8)) => {}
        Some(RegisterRule::Undefined) => return Some(Rule::End),
        _ => return None,
    }
    let CfaRule::RegisterAndOffset { register, offset } = *row.cfa() else {
        return None;
    };
    let cfa_rbp = match register {
        X86_64::RSP => false,
        X86_64::RBP => true,
        _ => return None,
    };
    let bp_off = match row.register(X86_64::RBP) {
        None | Some(RegisterRule::SameValue) => None,
        Some(RegisterRule::Offset(off)) => Some(i32::try_from(off).ok()?),
        Some(_) => return None,
    };
    Some(Rule::Frame {
        cfa_rbp,
        cfa_off: i32::try_from(offset).ok()?,
        bp_off,
    })
}

/// Reads the stack word at `addr` if it lies in `[lo, top)` and is aligned.
///
/// # Safety
///
/// `[lo, top)` must be mapped, readable memory (the live part of this thread's stack).
#[inline(always)]
unsafe fn read(addr: usize, lo: usize, top: usize) -> Option<usize> {
    const WORD: usize = core::mem::size_of::<usize>();
    if addr < lo || addr > top.checked_sub(WORD)? || !addr.is_multiple_of(WORD) {
        return None;
    }
    // SAFETY: `[addr, addr + 8)` lies in `[lo, top)`, readable by the caller's contract; aligned.
    // Volatile: other frames' memory.
    Some(unsafe { core::ptr::read_volatile(addr as *const usize) })
}

/// Unwinds from `start` (registers of a live frame of this thread, below `top`, the thread's
/// stack top) and writes up to `buf.len()` return addresses into `buf[..n]`, innermost first:
/// the first is `start`'s frame's return address. `Some(n)`, or `None` when a frame needs CFI
/// this walker does not follow (then `buf` holds garbage; unwind through libgcc instead).
///
/// Ends at a zero return address, at the outermost frame, or at a frame whose rule would read
/// outside `[start.sp, top)` or not move up the stack.
///
/// # Safety
///
/// `[start.sp, top)` must be mapped and readable during the call: `start.sp` a stack pointer of
/// this thread's live frame (the caller's or one of its callers') and `top` this thread's stack
/// top. Nothing outside that range is read, whatever the other registers and the CFI say.
#[inline(always)]
pub(crate) unsafe fn walk(
    start: Regs,
    top: usize,
    buf: &mut [MaybeUninit<usize>],
) -> Option<usize> {
    let lo = start.sp;
    let (mut sp, mut bp, mut addr) = (start.sp, start.bp, start.ip);
    let mut n = 0;
    while let Some(slot) = buf.get_mut(n) {
        let (cfa_rbp, cfa_off, bp_off) = match rule_for(addr) {
            Rule::Frame {
                cfa_rbp,
                cfa_off,
                bp_off,
            } => (cfa_rbp, cfa_off, bp_off),
            Rule::End => break,
            Rule::Unsupported => return None,
        };
        let base = if cfa_rbp { bp } else { sp };
        let Some(cfa) = base
            .checked_add_signed(cfa_off as isize)
            .filter(|&c| c > sp)
        else {
            break;
        };
        let Some(ret_at) = cfa.checked_sub(8) else {
            break;
        };
        // SAFETY: `[lo, top)` is readable, by the caller's contract.
        let Some(ret) = (unsafe { read(ret_at, lo, top) }) else {
            break;
        };
        if let Some(off) = bp_off {
            let Some(bp_at) = cfa.checked_add_signed(off as isize) else {
                break;
            };
            // SAFETY: as above.
            match unsafe { read(bp_at, lo, top) } {
                Some(saved) => bp = saved,
                None => break,
            }
        }
        if ret == 0 {
            break;
        }
        slot.write(ret);
        n += 1;
        sp = cfa;
        addr = ret - 1;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// This thread's stack top.
    fn top() -> usize {
        let top = crate::stack::live_top(registers().sp);
        top.expect("this frame lies in the thread's stack, whose bounds are known")
    }

    /// The fast walk from the caller's frame (return addresses from the caller's caller on).
    #[inline(never)]
    fn fast(max: usize) -> Vec<usize> {
        let mut buf = [MaybeUninit::uninit(); 200];
        let regs = registers();
        // SAFETY: `regs` are this frame's; `[regs.sp, top)` is this thread's live stack.
        let n = unsafe { walk(regs, top(), &mut buf[..max]) }.expect("CFI unsupported");
        // SAFETY: `walk` initialised `buf[..n]`.
        buf[..n]
            .iter()
            .map(|s| unsafe { s.assume_init() })
            .collect()
    }

    /// libgcc's ip list (`backtrace::trace_unsynchronized`), up to the first zero.
    #[inline(never)]
    fn libgcc() -> Vec<usize> {
        let mut ips = Vec::with_capacity(500);
        // SAFETY: libgcc's unwinder is thread-safe; the closure does not unwind.
        unsafe {
            backtrace::trace_unsynchronized(|f| {
                let ip = f.ip() as usize;
                if ip == 0 || ips.len() == ips.capacity() {
                    return false;
                }
                ips.push(ip);
                // The fast walk ends at std's entry frame, as `capture`'s libgcc walk does.
                !crate::entry::in_user_entry(ip - 1)
            })
        };
        ips
    }

    /// Both walks from one frame: the fast one must equal libgcc's list from the fast one's
    /// first frame on (libgcc's list starts with its own and `libgcc()`'s frames).
    #[inline(never)]
    fn compare() -> usize {
        let fast = black_box(fast(200));
        let slow = black_box(libgcc());
        assert!(fast.len() > 2, "{fast:x?}");
        // `fast[0]` returns into this function after `fast()`, libgcc's counterpart after
        // `libgcc()`; from our caller on, both lists must be the same.
        let at = slow.iter().position(|&ip| ip == fast[1]);
        let at = at.unwrap_or_else(|| panic!("{:x} not in libgcc's {slow:x?}", fast[1]));
        assert_eq!(fast[1..], slow[at..], "fast {fast:x?}\nlibgcc {slow:x?}");
        fast.len()
    }

    /// `levels` frames of its own, then `f`. Both calls are kept out of tail position: a release
    /// build would otherwise jump to `f` and leave no frame at depth 0.
    #[inline(never)]
    fn recurse<R>(levels: usize, f: &mut dyn FnMut() -> R) -> R {
        if levels == 0 {
            black_box(f())
        } else {
            black_box(recurse(levels - 1, f))
        }
    }

    #[inline(never)]
    fn generic<T: core::fmt::Debug, R>(t: T, f: impl FnOnce(T) -> R) -> R {
        black_box(f(black_box(t)))
    }

    fn check_depths() {
        let shallow = compare();
        let base = recurse(0, &mut compare);
        assert!(base >= shallow, "{base} < {shallow}");
        for levels in [1, 5, 50] {
            let len = recurse(levels, &mut compare);
            assert_eq!(len, base + levels, "{levels} levels");
        }
        let len = generic("x", |s| {
            generic(vec![s], |v| black_box(v).len() + compare())
        });
        assert!(len > shallow);
        let lens: Vec<usize> = (0..2).map(|_| recurse(3, &mut compare)).collect();
        assert_eq!(lens[0], lens[1]);
    }

    #[test]
    fn fast_walk_equals_libgcc_on_this_thread() {
        check_depths();
    }

    #[test]
    fn fast_walk_equals_libgcc_on_a_spawned_thread() {
        std::thread::spawn(check_depths).join().unwrap();
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| recurse(20, &mut compare))
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn concurrent_walks_agree_with_libgcc() {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..100 {
                        recurse((i * 7 + t) % 23, &mut compare);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    /// Walks the same stack four times: the walks and this thread's cache misses of each.
    #[inline(never)]
    fn repeat() -> Vec<(Vec<usize>, usize)> {
        (0..4)
            .map(|_| {
                let before = MISSES.with(|m| m.get());
                let walk = recurse(10, &mut || fast(200));
                (walk, MISSES.with(|m| m.get()) - before)
            })
            .collect()
    }

    #[test]
    fn second_walk_hits_the_cache_and_agrees() {
        let walks = repeat();
        let first = &walks[0].0;
        assert!(first.len() > 12, "{first:x?}");
        assert!(walks.iter().all(|(w, _)| w == first), "{walks:x?}");
        // Other tests' walks may evict an entry meanwhile, but not in every round.
        assert!(walks[1..].iter().any(|&(_, m)| m == 0), "{walks:x?}");
    }

    #[test]
    fn stops_at_max_frames() {
        let full = recurse(5, &mut || (fast(200), fast(3), fast(1), fast(0)));
        assert_eq!(full.1.len(), 3);
        assert_eq!(full.1[1..], full.0[1..3]);
        assert_eq!(full.2.len(), 1);
        assert!(full.3.is_empty());
    }

    #[test]
    fn bad_registers_end_the_walk_without_reading_outside_the_stack() {
        // From a few frames down: a release build inlines the test's body into std's entry
        // frame, where every walk ends at once.
        recurse(3, &mut bad_registers);
    }

    #[inline(never)]
    fn bad_registers() {
        let mut buf = [MaybeUninit::uninit(); 8];
        let regs = registers();
        let top = top();
        // SAFETY: `regs.sp` is this frame's, `[regs.sp, top)` this thread's live stack (in all the
        // walks below; the other registers may be anything).
        let full = unsafe { walk(regs, top, &mut buf) }.expect("supported");
        assert!(full > 2);
        // With frame pointers (this workspace forces them) this frame's rule at `regs.ip` uses
        // rbp: a bogus rbp gives a CFA below sp or past the stack top, nothing is read and no
        // frame found. Without (`RUSTFLAGS=-Cforce-frame-pointers=no`), a bogus rbp may still
        // misdirect a caller's rule: whatever it finds, it must not fault.
        let rbp_based = matches!(rule_for(regs.ip), Rule::Frame { cfa_rbp: true, .. });
        for bp in [0, 16, regs.sp - 64, top, top + 4096, usize::MAX - 8] {
            // SAFETY: see above.
            let n = unsafe { walk(Regs { bp, ..regs }, top, &mut buf) }.expect("supported");
            assert!(n <= full, "bp {bp:x}");
            if rbp_based {
                assert_eq!(n, 0, "bp {bp:x}");
            }
        }
        // An empty stack range: the return address lies outside.
        // SAFETY: see above (an empty range).
        let n = unsafe { walk(regs, regs.sp, &mut buf) }.expect("supported");
        assert_eq!(n, 0);
    }

    #[test]
    fn miss_path_stack_storage_stays_small() {
        let size = core::mem::size_of::<UnwindContext<usize, Store>>();
        println!("UnwindContext<usize, Store>: {size} bytes");
        assert!(size < 8192, "{size}");
    }

    #[test]
    fn rules_encode_and_decode() {
        for rule in [
            Rule::Frame {
                cfa_rbp: true,
                cfa_off: 16,
                bp_off: Some(-16),
            },
            Rule::Frame {
                cfa_rbp: false,
                cfa_off: 8,
                bp_off: None,
            },
            Rule::Frame {
                cfa_rbp: false,
                cfa_off: i32::MAX,
                bp_off: Some((1 << 27) - 1),
            },
            Rule::Frame {
                cfa_rbp: true,
                cfa_off: i32::MIN,
                bp_off: Some(-(1 << 27)),
            },
        ] {
            let bits = encode(rule).unwrap();
            assert_eq!(decode(bits), Some(rule), "{bits:x}");
        }
        for (cfa_rbp, cfa_off, bp_off) in [
            (true, 16, Some(-16)),
            (false, 8, None),
            (false, 2040, Some(-504)),
        ] {
            let rule = Rule::Frame {
                cfa_rbp,
                cfa_off,
                bp_off,
            };
            let code = encode_inline(rule).unwrap();
            assert!(code < 1 << 16 && code & CODE_INLINE != 0);
            assert_eq!(decode_inline(code), rule);
        }
        for (cfa_off, bp_off) in [
            (2048, None),
            (12, None),
            (-8, None),
            (16, Some(8)),
            (16, Some(-12)),
            (16, Some(-512)),
        ] {
            let rule = Rule::Frame {
                cfa_rbp: false,
                cfa_off,
                bp_off,
            };
            assert_eq!(encode_inline(rule), None, "{rule:?}");
        }
        let too_far = Rule::Frame {
            cfa_rbp: true,
            cfa_off: 0,
            bp_off: Some(1 << 27),
        };
        assert_eq!(encode(too_far), None);
        assert_eq!(encode(Rule::End), None);
        assert_eq!(decode(0), None);
    }

    #[test]
    fn addresses_outside_objects_are_unsupported() {
        assert_eq!(find_rule(0x10), Rule::Unsupported);
        // The first instruction of a function: CFA = rsp + 8, rbp unchanged.
        let f = rules_encode_and_decode as fn() as usize;
        assert_eq!(
            find_rule(f),
            Rule::Frame {
                cfa_rbp: false,
                cfa_off: 8,
                bp_off: None
            }
        );
    }
}
