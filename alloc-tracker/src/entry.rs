//! Where std's `__rust_begin_short_backtrace` lies, from the ELF symbol table alone.
//!
//! That `#[inline(never)]` frame sits around the user's `main` and every spawned thread's entry;
//! DWARF stack walks end there (see [`in_user_entry`]). Loading the binary's DWARF to learn it
//! would cost tens of megabytes and a fraction of a second, so this module reads
//! `/proc/self/exe`'s `.symtab` and `.strtab` sequentially through a 64 KiB buffer (the page cache
//! is not the process's memory) and keeps the symbol's address ranges. Without a symbol table (a
//! stripped binary) walks run on to the end of the stack.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

/// Address ranges (load bias applied) of `__rust_begin_short_backtrace`.
#[derive(Debug, Default)]
pub(crate) struct Boundaries {
    user: Vec<(usize, usize)>,
}

/// Whether the instruction at `addr` (a return address minus one) lies in std's
/// `__rust_begin_short_backtrace`, the frame around `main` and every spawned thread's entry.
///
/// DWARF stack walks end at the frame that returns there: the frames beyond are std's and the C
/// library's, the same under every stack and cut from every report, and they were half the
/// frames of a short stack. Never reads anything itself (it runs while allocating): the symbol
/// table is read before `main` by [`PRELOAD`] when DWARF walks are in prospect; `false` until
/// then, or without a symbol table. (Unit tests, which walk stacks in an fp build, read it on
/// first use.)
pub(crate) fn in_user_entry(addr: usize) -> bool {
    #[cfg(test)]
    let loaded = boundaries();
    #[cfg(not(test))]
    let loaded = CACHE.get().and_then(Option::as_ref);
    loaded.is_some_and(|b| b.user.iter().any(|&(lo, hi)| lo <= addr && addr < hi))
}

static CACHE: OnceLock<Option<Boundaries>> = OnceLock::new();

/// The boundaries of this executable, read once; `None` without a usable symbol table.
pub(crate) fn boundaries() -> Option<&'static Boundaries> {
    CACHE
        .get_or_init(|| read(load_bias()?).ok().flatten())
        .as_ref()
}

/// The main executable's load bias (0 for a non-PIE binary).
fn load_bias() -> Option<usize> {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `info` for the duration of the call, and `data` is
        // the `Option<usize>` below, exclusively ours while `dl_iterate_phdr` runs.
        unsafe {
            *data.cast::<Option<usize>>() = Some((*info).dlpi_addr as usize);
        }
        1 // the first object is the main program: stop
    }
    let mut bias: Option<usize> = None;
    // SAFETY: `first` matches the callback type and only writes through `data`, which points at
    // `bias`, alive for the whole call.
    unsafe { libc::dl_iterate_phdr(Some(first), (&mut bias as *mut Option<usize>).cast()) };
    bias
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// Bytes read at a time: 64 KiB rounded down to whole symbols (24 bytes each).
const CHUNK: usize = (64 << 10) / 24 * 24;

/// Reads `[offset, offset + len)` of `file` in chunks of [`CHUNK`] bytes (so a chunk never splits
/// a symbol), calling `f(position, bytes)`.
fn scan(file: &File, offset: u64, len: u64, mut f: impl FnMut(u64, &[u8])) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(CHUNK as u64) as usize;
        file.read_exact_at(&mut buf[..want], offset + done)?;
        f(done, &buf[..want]);
        done += want as u64;
    }
    Ok(())
}

fn read(bias: usize) -> std::io::Result<Option<Boundaries>> {
    let file = File::open("/proc/self/exe")?;
    let mut ehdr = [0u8; 64];
    file.read_exact_at(&mut ehdr, 0)?;
    // 64-bit little-endian ELF only (the platforms this crate walks stacks on).
    if &ehdr[..4] != b"\x7fELF" || ehdr[4] != 2 || ehdr[5] != 1 {
        return Ok(None);
    }
    let (shoff, shentsize, shnum) = (
        u64_at(&ehdr, 0x28),
        u16_at(&ehdr, 0x3a) as u64,
        u16_at(&ehdr, 0x3c) as u64,
    );
    let mut shdrs = vec![0u8; (shentsize * shnum) as usize];
    file.read_exact_at(&mut shdrs, shoff)?;
    let section = |i: u64| &shdrs[(i * shentsize) as usize..((i + 1) * shentsize) as usize];
    let Some(symtab) = (0..shnum).map(section).find(|s| u32_at(s, 4) == 2) else {
        return Ok(None); // SHT_SYMTAB absent: stripped
    };
    let (sym_off, sym_size, link) = (
        u64_at(symtab, 0x18),
        u64_at(symtab, 0x20),
        u32_at(symtab, 0x28),
    );
    if link as u64 >= shnum {
        return Ok(None);
    }
    let strtab = section(link as u64);
    let (str_off, str_size) = (u64_at(strtab, 0x18), u64_at(strtab, 0x20));

    // Pass 1: the string-table offsets of the name we look for.
    let mut wanted: Vec<u32> = Vec::new();
    let mut name: Vec<u8> = Vec::new();
    let mut start = 0u64;
    scan(&file, str_off, str_size, |pos, bytes| {
        for (i, &b) in bytes.iter().enumerate() {
            if b != 0 {
                name.push(b);
                continue;
            }
            if contains(&name, b"__rust_begin_short_backtrace") && start <= u32::MAX as u64 {
                wanted.push(start as u32);
            }
            name.clear();
            start = pos + i as u64 + 1;
        }
    })?;
    if wanted.is_empty() {
        return Ok(None);
    }
    wanted.sort_unstable();

    // Pass 2: the symbols carrying those names, as address ranges.
    let mut found = Boundaries::default();
    scan(&file, sym_off, sym_size - sym_size % 24, |_, bytes| {
        for sym in bytes.chunks_exact(24) {
            let (st_name, st_value, st_size) = (u32_at(sym, 0), u64_at(sym, 8), u64_at(sym, 16));
            if st_value == 0 || st_size == 0 {
                continue;
            }
            if wanted.binary_search(&st_name).is_ok() {
                let range = (
                    bias + st_value as usize,
                    bias + (st_value + st_size) as usize,
                );
                found.user.push(range);
            }
        }
    })?;
    Ok((!found.user.is_empty()).then_some(found))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_has_the_entry_frame() {
        let b = boundaries().expect("test binaries keep their symbol table");
        assert!(!b.user.is_empty(), "{b:?}");
        // This test runs on a libtest thread, entered through __rust_begin_short_backtrace.
        let mut buf = crate::capture::buf();
        let stack = crate::capture::capture(&mut buf, 64, crate::config::Unwind::Auto);
        assert!(stack.iter().any(|&ip| in_user_entry(ip - 1)), "{stack:x?}");
    }
}
