//! [`AlignedBuf`]: the one place array memory is allocated and freed. Every buffer is aligned to
//! [`ALIGN`] (64 bytes: an AVX-512 vector, a cache line) by its own `Layout`, whatever the global
//! allocator, and allocation failure is an [`ArrayError::OutOfMemory`] instead of an abort.

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::element::Element;
use crate::error::ArrayError;

/// Alignment of every array buffer, in bytes.
pub const ALIGN: usize = 64;

/// An owned, 64-byte-aligned, fully initialised buffer of `len` elements.
///
/// Invariants: (1) if `len > 0`, `ptr` came from the global allocator with `Self::layout(len)` and
/// is freed with it exactly once (in `Drop`); (2) all `len` elements are initialised; (3) if
/// `len == 0`, `ptr` is a dangling pointer aligned to [`ALIGN`] and nothing is allocated.
pub(crate) struct AlignedBuf<T: Element> {
    ptr: NonNull<T>,
    len: usize,
    _owns: PhantomData<T>,
}

// SAFETY: `AlignedBuf` owns its elements like a `Vec<T>`; `T: Element` is `Send + Sync`.
unsafe impl<T: Element> Send for AlignedBuf<T> {}
// SAFETY: as above; shared access only hands out `&T`.
unsafe impl<T: Element> Sync for AlignedBuf<T> {}

/// A buffer being filled: an [`AlignedBuf`] whose elements may not all be initialised yet. Dropping it
/// only frees the block (elements are `Copy`, nothing is read).
pub(crate) struct UninitBuf<T: Element>(AlignedBuf<T>);

fn dangling<T>() -> NonNull<T> {
    // A non-null, ALIGN-aligned address with no provenance: never dereferenced (len == 0).
    NonNull::new(std::ptr::without_provenance_mut::<T>(ALIGN)).expect("ALIGN is non-zero")
}

impl<T: Element> AlignedBuf<T> {
    fn layout(len: usize) -> Option<Layout> {
        let bytes = len.checked_mul(size_of::<T>())?;
        Layout::from_size_align(bytes, ALIGN).ok()
    }

    /// Allocates `len` elements for an array of `shape` (used only for the error message).
    fn raw_alloc(len: usize, shape: &[usize], zeroed: bool) -> Result<NonNull<T>, ArrayError> {
        if len == 0 {
            return Ok(dangling());
        }
        let layout = Self::layout(len).ok_or_else(|| ArrayError::out_of_memory(shape, T::DTYPE))?;
        // SAFETY: `layout` has a non-zero size (len > 0 and no `Element` is zero-sized).
        let ptr = unsafe {
            if zeroed {
                alloc::alloc_zeroed(layout)
            } else {
                alloc::alloc(layout)
            }
        };
        NonNull::new(ptr.cast::<T>()).ok_or_else(|| cold_oom(shape, T::DTYPE))
    }

    /// A zero-filled buffer (zero bytes are a valid value of every element type).
    pub(crate) fn try_zeroed(len: usize, shape: &[usize]) -> Result<Self, ArrayError> {
        let ptr = Self::raw_alloc(len, shape, true)?;
        // Invariant 2 holds: all-zero bytes are a valid value of every `Element` (its item 3).
        Ok(AlignedBuf {
            ptr,
            len,
            _owns: PhantomData,
        })
    }

    /// An uninitialised buffer, to be filled through [`UninitBuf::as_uninit_mut`].
    pub(crate) fn try_uninit(len: usize, shape: &[usize]) -> Result<UninitBuf<T>, ArrayError> {
        let ptr = Self::raw_alloc(len, shape, false)?;
        let buf = AlignedBuf {
            ptr,
            len,
            _owns: PhantomData,
        };
        Ok(UninitBuf(buf))
    }

    /// A buffer holding a copy of `data`.
    pub(crate) fn try_from_slice(data: &[T], shape: &[usize]) -> Result<Self, ArrayError> {
        let mut u = Self::try_uninit(data.len(), shape)?;
        for (dst, &src) in u.as_uninit_mut().iter_mut().zip(data) {
            dst.write(src);
        }
        // SAFETY: the loop wrote all `data.len()` elements.
        Ok(unsafe { u.assume_init() })
    }

    /// The buffer's bytes, for filling from a file.
    ///
    /// # Safety
    ///
    /// Before any element is read as `T`, the bytes must hold valid `T`s (check with
    /// [`Element::valid_bytes`]); dropping the buffer reads nothing and is always fine.
    pub(crate) unsafe fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is valid for `nbytes` initialised bytes (invariants 1–3; `T` has no padding by
        // `Element`'s contract), uniquely borrowed through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast::<u8>(), self.nbytes()) }
    }
    pub(crate) fn as_ptr(&self) -> NonNull<T> {
        self.ptr
    }
    /// Bytes of the buffer (`len × size_of::<T>()`).
    pub(crate) fn nbytes(&self) -> usize {
        self.len * size_of::<T>()
    }
}

impl<T: Element> UninitBuf<T> {
    pub(crate) fn as_uninit_mut(&mut self) -> &mut [MaybeUninit<T>] {
        // SAFETY: `ptr` is valid and aligned for `len` elements (invariants 1 and 3); viewing them as
        // `MaybeUninit` makes no claim about their contents, and `&mut self` makes the borrow unique.
        unsafe {
            std::slice::from_raw_parts_mut(self.0.ptr.as_ptr().cast::<MaybeUninit<T>>(), self.0.len)
        }
    }

    /// # Safety
    ///
    /// All `len` elements must have been written.
    pub(crate) unsafe fn assume_init(self) -> AlignedBuf<T> {
        self.0
    }
}

impl<T: Element> Drop for AlignedBuf<T> {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        let layout = Self::layout(self.len).expect("layout was valid at allocation");
        // SAFETY: invariant 1: allocated by the global allocator with exactly this layout, freed once.
        unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), layout) }
    }
}

#[cold]
#[inline(never)]
fn cold_oom(shape: &[usize], dtype: crate::element::DType) -> ArrayError {
    ArrayError::out_of_memory(shape, dtype)
}
