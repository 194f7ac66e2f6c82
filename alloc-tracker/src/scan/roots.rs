//! Where the scan starts: the writable segments of every loaded object (statics, `OnceLock`s,
//! `Box::leak` kept in a static), and the memory map that bounds each thread's stack and static
//! TLS. As LeakSanitizer's `lsan_common_linux.cpp`: segments from `dl_iterate_phdr` (`PT_LOAD`
//! with write permission), stacks from the stack pointer up to the end of their mapping.
//!
//! Segments are listed before other threads stop (`dl_iterate_phdr` takes the loader's lock,
//! which a stopped thread could hold); the memory map is read after, with raw system calls.

use super::mem::MmapVec;

/// Address ranges `[lo, hi)`.
pub(crate) type Ranges = MmapVec<(usize, usize)>;

/// The writable segments of every loaded object, and the size of the static TLS blocks of all
/// of them (the sum of their `PT_TLS` segments, aligned).
pub(crate) fn segments() -> Option<(Ranges, usize)> {
    struct Found {
        ranges: Ranges,
        tls: usize,
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `info` (with `dlpi_phnum` headers at `dlpi_phdr`) for
        // the duration of the call; `data` is the `Found` below, exclusively ours meanwhile.
        unsafe {
            let found = &mut *data.cast::<Found>();
            let info = &*info;
            let phdrs = core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
            let libc = !info.dlpi_name.is_null()
                && is_c_library(core::ffi::CStr::from_ptr(info.dlpi_name).to_bytes());
            for ph in phdrs {
                if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_W != 0 && !libc {
                    let lo = info.dlpi_addr as usize + ph.p_vaddr as usize;
                    found.ranges.push((lo, lo + ph.p_memsz as usize));
                } else if ph.p_type == libc::PT_TLS {
                    let align = (ph.p_align as usize).max(1);
                    found.tls += (ph.p_memsz as usize).div_ceil(align) * align;
                }
            }
        }
        0
    }
    let mut found = Found {
        ranges: MmapVec::with_capacity(4096)?,
        tls: 0,
    };
    // SAFETY: `each` matches the callback type and only writes through `data`, which points at
    // `found`, alive for the whole call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut found as *mut Found).cast()) };
    Some((found.ranges, found.tls))
}

/// Whether `path` names the C library. Its writable data is not a root: glibc's malloc keeps
/// there (in `main_arena`'s bins and top) pointers to chunk headers, and a chunk's header lies in
/// the last bytes of the block before it, so with `System` as the inner allocator a leaked block
/// followed by a free chunk would look reachable. Rust programs keep no pointer to their own
/// blocks in the C library's data.
fn is_c_library(path: &[u8]) -> bool {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    name.starts_with(b"libc.so") || name.starts_with(b"libc-")
}

/// The readable mappings of this process, sorted by address, from `/proc/self/maps`.
pub(crate) fn readable_mappings() -> Option<Ranges> {
    let mut out: Ranges = MmapVec::with_capacity(1 << 16)?;
    // SAFETY: a NUL-terminated path literal; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/maps".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 8192];
    let mut line = [0u8; 64];
    let mut len = 0usize; // bytes of the current line kept (only its start matters)
    loop {
        // SAFETY: reads at most the buffer's size into it.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        for &b in &buf[..n as usize] {
            if b == b'\n' {
                if let Some(range) = parse_maps_line(&line[..len]) {
                    out.push(range);
                }
                len = 0;
            } else if len < line.len() {
                line[len] = b;
                len += 1;
            }
        }
    }
    // SAFETY: opened above.
    unsafe { libc::close(fd) };
    Some(out)
}

/// `start-end rwxp ...` -> `(start, end)` if readable.
fn parse_maps_line(line: &[u8]) -> Option<(usize, usize)> {
    let mut fields = line.split(|&b| b == b' ');
    let range = fields.next()?;
    let perms = fields.next()?;
    if perms.first() != Some(&b'r') {
        return None;
    }
    let dash = range.iter().position(|&b| b == b'-')?;
    Some((hex(&range[..dash])?, hex(&range[dash + 1..])?))
}

fn hex(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &b| {
        Some(n.checked_mul(16)? + (b as char).to_digit(16)? as usize)
    })
}

/// The readable mapping containing `addr`, if any.
pub(crate) fn mapping_of(maps: &Ranges, addr: usize) -> Option<(usize, usize)> {
    let maps = maps.as_slice();
    let i = maps.partition_point(|&(lo, _)| lo <= addr);
    let (lo, hi) = *maps.get(i.checked_sub(1)?)?;
    (addr < hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    static MARKER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(7);

    #[test]
    fn statics_and_stack_are_found() {
        let (ranges, tls) = segments().unwrap();
        let at = &MARKER as *const _ as usize;
        assert!(
            ranges
                .as_slice()
                .iter()
                .any(|&(lo, hi)| lo <= at && at < hi)
        );
        assert!(tls > 0, "std's thread-locals live in static TLS");
        let maps = readable_mappings().unwrap();
        let local = 5u64;
        let sp = &local as *const u64 as usize;
        let (lo, hi) = mapping_of(&maps, sp).unwrap();
        assert!(lo <= sp && sp < hi);
        assert_eq!(parse_maps_line(b"7f00-7f10 ---p 0 00:00 0"), None);
        assert!(is_c_library(b"/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(!is_c_library(b"/usr/lib/libcrypto.so.3"));
        assert_eq!(
            parse_maps_line(b"7f00-7f10 rw-p 00000000 00:00 0 [stack]"),
            Some((0x7f00, 0x7f10))
        );
    }
}
