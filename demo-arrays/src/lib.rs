//! # demo-arrays: a NumPy-style n-d array crate that shows where the bytes go
//!
//! [`NdArray<T>`] owns a 64-byte-aligned buffer (aligned by its own `Layout`, whatever the global
//! allocator); views ([`ArrayView`], [`ArrayViewMut`]) borrow it and allocate nothing;
//! [`SharedArray`] is NumPy's view-with-a-`base`: reference-counted, so a ten-element slice keeps the
//! whole base buffer alive. `.npy` files load, save and memory-map through [`npy`].
//!
//! ```
//! use demo_arrays::{NdArray, s, may_share_memory};
//!
//! let a = NdArray::<f64>::arange(12).into_shape(&[3, 4]).unwrap();
//! let v = a.slice(&s![.., 1..;2]);              // a[:, 1::2] — a view, zero bytes
//! assert_eq!(v.shape(), &[3, 2]);
//! assert!(may_share_memory(&a, &v));
//! let b = &a * 2.0 + &a;                          // new arrays, NumPy broadcasting
//! assert_eq!(b.sum(), 3.0 * 66.0);
//! let c = a.take(1, &[0, 3]).unwrap();            // fancy indexing copies
//! assert!(!may_share_memory(&a, &c));
//! ```
//!
//! ## For NumPy users
//!
//! | NumPy | demo-arrays | bytes allocated |
//! |---|---|---|
//! | `np.zeros((m, n))` | `NdArray::<f64>::zeros(&[m, n])` / `try_zeros` | `m·n·8` |
//! | `np.array(v).reshape(s)` | `NdArray::from_vec(&s, v)` | `len·size` (copied to an aligned buffer) |
//! | `b = a` | `let b = a.view()` | 0 |
//! | `a[1:-1, ::-2, 0, None]` | `a.slice(&s![1..-1, ..;-2, 0, NewAxis])` | 0 (view) |
//! | `a.T`, `np.transpose(a, ax)` | `a.t()`, `a.view().permuted_axes(&ax)` | 0 (view) |
//! | `np.broadcast_to(a, s)` | `a.broadcast(&s)` | 0 (view, stride 0) |
//! | `a.reshape(s)` (view possible) | `a.reshape(&s)` (errs if it would need a copy) | 0 (view) |
//! | `a.reshape(s)` (e.g. `a.T.reshape(-1)`) | `a.to_shape(&s)` → `CowArray`, `is_copy()` | the result if copied |
//! | `a[[0, 3]]`, `np.take(a, i, axis)` | `a.take(axis, &i)` | `n·size·(rest)` (copy) |
//! | `a[mask]` | `a.mask(&mask)` | `count·size` (copy) |
//! | `a.copy()`, `np.ascontiguousarray` | `a.to_owned()` | `nbytes` |
//! | `a.astype(np.float32)` | `a.astype::<f32>()` | `len·4` |
//! | `a.base`, view keeps base alive | `a.into_shared()`, `.slice_move(..)`, `base_nbytes()` | 0 per view |
//! | `np.may_share_memory(a, b)` | `may_share_memory(&a, &b)` | 0 |
//! | `a.flags` | `a.flags()` | 0 |
//! | `a * 2 + b` | `&(&a * 2.0) + &b` (all by reference) | a temporary + the result |
//! | `c = a * 2; c += b` | `&a * 2.0 + &b` (the temporary is reused by value) | the result |
//! | `numexpr.evaluate("a*2+b")` | `(lazy(&a) * 2.0 + &b).eval()` | the result only |
//! | `m * 2 + row - col` (broadcast, two temporaries) | `(lazy(&m) * 2.0 + &row - &col).eval()?` | the result only |
//! | `a *= 2; a += b` | `a *= 2.0; a += &b`, `a.mul_add_assign(2.0, &b)` | 0 |
//! | `a.sum()`, `a.mean()`, `a.min()` | `a.sum()` (`i64`/`u64` for integers), `a.mean()`, `a.min()?` | 0 |
//! | `a // b`, `a // 2` | `a.floor_div(&b)`, `a.floor_div_scalar(2)` | the result |
//! | `a[i, j]`, `a[i, j] = x` | `a[[i, j]]`, `a[[i, j]] = x`, `a.get(&[i, j])`, `get_mut` | 0 |
//! | `for x in np.nditer(a, op_flags=['readwrite'])` | `a.iter_mut()` | 0 |
//! | `a.sum(axis=k)`, `mean`, `min`, `max` | `a.sum_axis(k)?`, `mean_axis`, `min_axis`, `max_axis` | the result |
//! | `a.argmax()`, `a.argmin()` | `a.argmax()?`, `a.argmin()?` (flattened index) | 0 |
//! | `a.cumsum()` | `a.cumsum()` (`i64`/`u64` for integers) | the result |
//! | `2.0 * a`, `1.0 - a`, `-a` | `2.0 * &a`, `1.0 - &a`, `-&a` (by value: in place) | the result (0 by value) |
//! | `np.allclose(a, b)` | `a.allclose(&b, 1e-5, 1e-8)?` | 0 |
//! | `a < b`, `a == 0.5` (`<`, `<=`, `>`, `>=`, `==`, `!=`) | `a.lt(&b)?`, `a.eq(0.5)?` (`lt`, `le`, `gt`, `ge`, `eq`, `ne`) | the result (1 byte per element) |
//! | `a.any()`, `a.all()`, `(a > 0).sum()` | `a.any()`, `a.all()`, `a.gt(0.0)?.sum()` | 0 |
//! | `a.any(axis=k)`, `a.all(axis=k)` | `a.any_axis(k)?`, `a.all_axis(k)?` | the result |
//! | `np.where(c, x, y)` | `where_(&c, &x, y)?` (arrays or scalars) | the result |
//! | `np.where(c, a * 2 + b, 0)` (two temporaries) | `lazy_where(&c, lazy(&a) * 2.0 + &b, fused::scalar(0.0)).eval()?` | the result only |
//! | `a[mask] = x`, `np.copyto(a, x, where=mask)` | `a.assign_where(&mask, x)?` | 0 |
//! | `np.sqrt(a)`, `np.exp(a)`, `np.abs(a)`, `np.clip(a, lo, hi)` | `a.sqrt()`, `a.exp()`, `a.abs()`, `a.clip(lo, hi)` | the result |
//! | `np.sqrt(a, out=a)`, … | `a.sqrt_inplace()`, `exp_inplace`, `abs_inplace`, `clip_inplace` | 0 |
//! | `np.sqrt(a * 2 + b)` (two temporaries) | `(lazy(&a) * 2.0 + &b).sqrt().eval()?` (also `exp`, `abs`, `clip`, `map`) | the result only |
//! | `a.reshape(-1, 4)` | `a.reshape(&[INFER, 4])?` | 0 (view) |
//! | `np.concatenate([a, b], axis=k)`, `np.stack` | `concatenate(&[a.view(), b.view()], k)?`, `stack` | the result |
//! | `a.squeeze()`, `np.expand_dims(a, k)` | `a.squeeze()`, `squeeze_axis(k)?`, `expand_dims(k)?` (by value: `a.view().squeeze()` for a view) | 0 |
//! | `np.ones(s)`, `np.eye(n)`, `np.linspace(x, y, n)` | `NdArray::ones(&s)`, `NdArray::eye(n)`, `NdArray::linspace(x, y, n)` | the result |
//! | `print(a)`, `str(a)` | `println!("{a}")`, `a.to_string()` (NumPy's text, `...` past 1000 elements) | the text |
//! | `np.save`, `np.load` | `npy::save`, `npy::load::<T>` | `load`: the array (+ < 4 KiB header) |
//! | `np.load(f, mmap_mode='r'/'r+'/'c')` | `npy::open_mmap::<T>(f, MmapMode::…)` | < 4 KiB (header); data: file pages |
//! | `open_memmap(f, 'w+', dtype, shape)` | `npy::create_mmap::<T>(f, &shape)` | < 4 KiB (header); data: file pages |
//!
//! Every byte count in this table that says 0 or "the result" is measured by a test
//! (`tests/byte_claims.rs`) with `alloc_tracker::measure`.
//!
//! Differences from NumPy worth knowing: integer `/` is Rust's truncating division (NumPy's `/` is
//! true division, its `//` is [`floor_div`](ArrayBase::floor_div)); integer division by zero gives
//! 0 without a warning; [`may_share_memory`] is NumPy's `may_share_memory` (there is no exact
//! `shares_memory`); mapped big-endian files are refused (`npy::load` swaps them); NumPy's `-1` in
//! a shape is [`INFER`]; at most [`MAX_NDIM`] axes. Comparisons, `where_` and arithmetic take
//! operands of one element type (no mixed-dtype promotion); `sqrt` and `exp` take float arrays
//! only (NumPy turns integers into `float64`: use `astype` first); `clip` takes scalar bounds.
//! `sum` widens as NumPy's: `int8`…`int64` and `bool` to `i64`, unsigned to `u64` ([`Summable`]).
//!
//! ## The tour
//!
//! `cargo run --release -p demo-arrays -- tour` (or `tour --lesson N`, `--help`) runs nine lessons
//! under `alloc_tracker::Tracked<alloc_core::AlignedAlloc>` and prints what the tracker measured.
//! Literal output of lessons 4 and 7 on the development VM (times vary):
//!
//! ```text
//! Lesson 4: temporaries: a * 2.0 + b, fused, in place
//!   NumPy: a, b = np.arange(8000000.), np.ones(8000000); c = a * 2.0 + b   # temporary for a * 2.0
//!   &(&a * 2.0) + &b                               allocated 128 000 000 B (122 MiB) in 2 block(s), peak 128 000 000 B (122 MiB)  21.08 ms
//!   NumPy: c = a * 2.0; c += b                   # reuse the temporary
//!   &a * 2.0 + &b  (by value: reuses buffer)       allocated 64 000 000 B (61.0 MiB) in 1 block(s), peak 64 000 000 B (61.0 MiB)  16.09 ms
//!   NumPy: numexpr.evaluate('a * 2.0 + b')      # fused, one pass
//!   (lazy(&a) * 2.0 + &b).eval()                   allocated 64 000 000 B (61.0 MiB) in 1 block(s), peak 64 000 000 B (61.0 MiB)  10.50 ms
//!   NumPy: np.multiply(a, 2.0, out=c); c += b    # in place, into existing c
//!   (lazy(&a) * 2.0 + &b).eval_into(&mut c)        allocated 0 B in 0 block(s), peak 0 B
//!   d.mul_add_assign(2.0, &b)  (d = a.copy())      allocated 0 B in 0 block(s), peak 0 B  8.57 ms
//!   -> peak: temporaries 2.0x the fused peak; fused is 2.01x faster than temporaries
//!
//! Lesson 7: memory mapping: sum a file bigger than the heap budget
//!   NumPy: m = np.lib.format.open_memmap('big.npy', 'w+', np.float64, (67108864,)); m[:] = 1.0
//!   npy::create_mmap + fill(1.0)                   file 536 871 040 B (512 MiB), heap allocated 796 B in 11 block(s), peak 500 B
//!   NumPy: a = np.load('big.npy', mmap_mode='r'); a.sum()
//!   npy::open_mmap(path, ReadOnly)?.sum()          sum 67108864 (expected 67108864), heap peak 372 B  47.06 ms
//!   NumPy: a = np.load('big.npy')                # MemoryError: Unable to allocate 512. MiB ...
//!   npy::load::<f64>(path)                         Err: unable to allocate 512. MiB for an array with shape (67108864,) and data type float64
//! ```
//!
//! The byte counts printed are the ones `tests/byte_claims.rs` asserts on smaller arrays; the exit
//! report on stderr then lists lesson 6's deliberately leaked cache at its callsite.
//!
//! ## Safety
//!
//! Unsafe code is confined to `buffer.rs` (allocation), element access in the traversal and
//! reduction loops (each `// SAFETY:` names the `ArrayBase` invariant it relies on), and `npy/`
//! (viewing file bytes as elements, after checking length, alignment and, for `bool`, values).
//! [`npy::open_mmap`] and [`npy::create_mmap`] are `unsafe fn`s, as `memmap2`'s maps are: the
//! caller promises that nothing outside the array writes or truncates the file while it is mapped
//! (other processes, `std::fs::write`). Within the process, demo-arrays' own functions are checked:
//! `npy::save` and `create_mmap` refuse to overwrite a mapped file, and a read-write map excludes
//! every other map of the same file (an error, never a second `&mut`).
//!
//! ## Layout of the crate
//!
//! `element.rs` (dtypes) → `buffer.rs` (the only allocation) → `dim.rs` (inline geometry, the
//! index counter) → `storage/` (what keeps elements alive: owned, view, shared, mapped, and the
//! registry of mapped files) → `array_base.rs` (the type and its invariants) → `iter.rs` (C-order
//! traversal: lanes, iterators) → `impl_access.rs` (`a[[i, j]]`, `get`, `as_slice`),
//! `impl_constructors.rs`, `impl_views/` (`slicing`, `transpose`, `axes`, `broadcast`,
//! `reshape`), `impl_copies.rs`, `join.rs` (`concatenate`, `stack`), `impl_ops.rs`,
//! `impl_compare.rs` (comparisons, `any`/`all`, `where_`), `impl_math.rs` (`sqrt`, `exp`, `abs`,
//! `clip`), `fused.rs`, `reduce.rs`, `reduce_axis.rs`, `impl_fmt.rs` (printing) → `npy/` (the
//! `.npy` format, loading, saving, opening mappings).

mod array_base;
mod buffer;
mod dim;
mod element;
mod error;
pub mod fused;
mod impl_access;
mod impl_compare;
mod impl_constructors;
mod impl_copies;
mod impl_fmt;
mod impl_math;
mod impl_ops;
pub mod impl_views;
mod iter;
mod join;
pub mod npy;
pub mod reduce;
mod reduce_axis;
mod storage;

pub use array_base::{
    ArrayBase, ArrayView, ArrayViewMut, Data, DataMut, Flags, NdArray, OwnedRepr, RawData,
    SharedArray, SharedRepr, ViewRepr,
};
pub use buffer::ALIGN;
pub use dim::{Geom, INFER, MAX_NDIM};
pub use element::{DType, Element, Float, Num, Scalar, Summable};
pub use error::{ArrayError, ShapeDisplay, size_to_string};
pub use fused::{lazy, lazy_where};
pub use impl_compare::{Operand, where_};
pub use impl_views::may_share_memory;
pub use impl_views::reshape::CowArray;
pub use impl_views::slicing::SliceArg;
pub use iter::{Iter, IterMut};
pub use join::{concatenate, stack};
pub use npy::{MmapArray, MmapMode};
