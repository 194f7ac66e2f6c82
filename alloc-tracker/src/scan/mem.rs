//! Memory for the scan that no allocator hands out: while other threads are stopped, one of them
//! may hold a lock of the inner allocator (jemalloc's background thread purging, a C library call
//! inside `malloc`), so the scan takes its working memory straight from the kernel with `mmap`.
//! Pages not touched cost nothing, so arrays are sized by their worst case.

use core::marker::PhantomData;
use core::ptr;

/// A fixed-capacity array of `T` in its own anonymous mapping, zero-filled (all-zero must be a
/// valid `T`: every user here stores integers and plain structs of integers).
pub(crate) struct MmapVec<T: Copy> {
    ptr: *mut T,
    cap: usize,
    len: usize,
    _owns: PhantomData<T>,
}

impl<T: Copy> MmapVec<T> {
    /// Room for `cap` elements (reserved, not resident until written); `None` if the kernel
    /// refuses the mapping.
    pub(crate) fn with_capacity(cap: usize) -> Option<Self> {
        let bytes = Self::bytes_for(cap.max(1))?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing; the
        // arguments are valid for that, and the result is checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        Some(MmapVec {
            ptr: p.cast(),
            cap: cap.max(1),
            len: 0,
            _owns: PhantomData,
        })
    }

    /// A zero-filled array of `len` elements.
    pub(crate) fn zeroed(len: usize) -> Option<Self> {
        let mut v = Self::with_capacity(len)?;
        v.len = len;
        Some(v)
    }

    fn bytes_for(cap: usize) -> Option<usize> {
        let bytes = cap.checked_mul(size_of::<T>())?;
        Some(bytes.checked_add(4095)? & !4095)
    }

    /// Appends `value`; false (nothing stored) when the array is full.
    #[inline]
    pub(crate) fn push(&mut self, value: T) -> bool {
        if self.len == self.cap {
            return false;
        }
        // SAFETY: `len < cap`, so the slot is inside the mapping.
        unsafe { self.ptr.add(self.len).write(value) };
        self.len += 1;
        true
    }

    /// Removes and returns the last element.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: the old `len - 1` < cap: a written (or zero-filled) slot of the mapping.
        Some(unsafe { self.ptr.add(self.len).read() })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` elements are inside the mapping and initialised (written or
        // zero-filled, and all-zero is a valid `T`, see the type's docs).
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl<T: Copy> Drop for MmapVec<T> {
    fn drop(&mut self) {
        if let Some(bytes) = Self::bytes_for(self.cap) {
            // SAFETY: the mapping made in `with_capacity`, of this length, unmapped once.
            unsafe { libc::munmap(self.ptr.cast(), bytes) };
        }
    }
}

impl<T: Copy> core::ops::Index<usize> for MmapVec<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.as_slice()[i]
    }
}

impl<T: Copy> core::ops::IndexMut<usize> for MmapVec<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.as_mut_slice()[i]
    }
}
