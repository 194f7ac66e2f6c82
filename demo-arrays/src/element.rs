//! Element types: what may live in an array ([`Element`]), what supports arithmetic ([`Num`]), and the
//! runtime [`DType`] used by `.npy` files and [`astype`](crate::ArrayBase::astype).

use std::fmt::Debug;

/// The runtime data type of an array, NumPy's `dtype` (little-endian, native sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// `bool`, NumPy `bool` (`|b1`).
    Bool,
    /// `i8`, NumPy `int8` (`|i1`).
    I8,
    /// `i16`, NumPy `int16` (`<i2`).
    I16,
    /// `i32`, NumPy `int32` (`<i4`).
    I32,
    /// `i64`, NumPy `int64` (`<i8`).
    I64,
    /// `u8`, NumPy `uint8` (`|u1`).
    U8,
    /// `u16`, NumPy `uint16` (`<u2`).
    U16,
    /// `u32`, NumPy `uint32` (`<u4`).
    U32,
    /// `u64`, NumPy `uint64` (`<u8`).
    U64,
    /// `f32`, NumPy `float32` (`<f4`).
    F32,
    /// `f64`, NumPy `float64` (`<f8`).
    F64,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 11] = [
        DType::Bool,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F32,
        DType::F64,
    ];

    /// NumPy's name for the dtype, as in its error messages: `float64`, `int8`, `bool`.
    pub const fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Whether this is a floating-point type.
    pub const fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Bytes per element.
    pub const fn itemsize(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// The `.npy` type string NumPy writes for this dtype (`<f8`, `|i1`, `|b1`).
    pub const fn descr(self) -> &'static str {
        match self {
            DType::Bool => "|b1",
            DType::I8 => "|i1",
            DType::I16 => "<i2",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            DType::U8 => "|u1",
            DType::U16 => "<u2",
            DType::U32 => "<u4",
            DType::U64 => "<u8",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
        }
    }

    /// Parses a `.npy` type string for data in native (little-endian) order: `<f8`, `=f8`, `|i1`;
    /// `None` for big-endian multi-byte types (see [`parse_descr`](Self::parse_descr)) and
    /// anything unsupported.
    pub fn from_descr(descr: &str) -> Option<DType> {
        match Self::parse_descr(descr)? {
            (d, false) => Some(d),
            (_, true) => None,
        }
    }

    /// Parses a `.npy` type string as NumPy's `np.dtype(descr)` does for these types: an optional
    /// byte order (`<` little, `>` big, `=` native, `|` not applicable, which NumPy also takes as
    /// native) and a code (`f8`, `i4`, `u1`, `b1` or `?`, …). Returns the dtype and whether the data
    /// is big-endian (never for one-byte types); this crate supports little-endian hosts, where
    /// native is little.
    pub fn parse_descr(descr: &str) -> Option<(DType, bool)> {
        let (big, code) = match descr.as_bytes().first()? {
            b'>' => (true, &descr[1..]),
            b'<' | b'=' | b'|' => (false, &descr[1..]),
            _ => (false, descr),
        };
        let dtype = match code {
            "b1" | "?" => DType::Bool,
            "i1" => DType::I8,
            "i2" => DType::I16,
            "i4" => DType::I32,
            "i8" => DType::I64,
            "u1" => DType::U8,
            "u2" => DType::U16,
            "u4" => DType::U32,
            "u8" => DType::U64,
            "f4" => DType::F32,
            "f8" => DType::F64,
            _ => return None,
        };
        Some((dtype, big && dtype.itemsize() > 1))
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A value converted for [`astype`](crate::ArrayBase::astype): the widest type of its kind.
#[derive(Clone, Copy, Debug)]
pub enum Scalar {
    /// Any boolean.
    Bool(bool),
    /// Any signed integer.
    Int(i64),
    /// Any unsigned integer.
    UInt(u64),
    /// Any float.
    Float(f64),
}

/// A type that can be an array element.
///
/// # Safety
///
/// Implementors promise, and the crate's unsafe code relies on it:
///
/// 1. `T` is `Copy` and has no padding: every byte of a `T` is initialised (`.npy` writing views
///    elements as bytes).
/// 2. `size_of::<T>() == DTYPE.itemsize()`, and `align_of::<T>()` divides it and is at most
///    [`ALIGN`](crate::ALIGN). The alignment is the platform's, not the size: `i64`, `u64` and `f64`
///    are 4-byte aligned on 32-bit x86. Mapped files are checked against `align_of::<T>()`, and
///    64-byte buffers satisfy every element.
/// 3. All-zero bytes are a valid `T` (`0`, `0.0`, `false`): [`zeros`](crate::NdArray::zeros) and
///    `npy::load`'s buffer are zero-filled allocations used as `T` without writing each element.
/// 4. Every bit pattern of that size is a valid `T` except where [`Element::valid_bytes`] says
///    otherwise (only `bool` restricts: bytes must be 0 or 1). `.npy` loading and memory mapping call
///    `valid_bytes` and rely on it to view file bytes as `&[T]`.
///
/// Items 1 and 2 are checked at compile time for the crate's own implementations.
pub unsafe trait Element:
    Copy + Debug + Default + PartialEq + Send + Sync + 'static
{
    /// The runtime dtype of `Self`.
    const DTYPE: DType;
    /// Whether `bytes` (a whole number of elements) are all valid values of `Self`.
    fn valid_bytes(bytes: &[u8]) -> bool {
        let _ = bytes;
        true
    }
    /// Widens `self` for a dtype conversion.
    fn to_scalar(self) -> Scalar;
    /// Narrows a widened value the way NumPy's `astype` does (float→int truncates toward zero and
    /// saturates, anything→bool is `!= 0`).
    fn from_scalar(s: Scalar) -> Self;
}

/// Element types that [`sum`](crate::ArrayBase::sum) and [`mean`](crate::ArrayBase::mean) accept,
/// with the accumulator NumPy's `sum` uses for them: `int64` for signed integers and `bool` (a
/// count), `uint64` for unsigned integers, the type itself for floats. So an `int8` sum of 100 000
/// ones is 100 000, as in NumPy, not a wrapped `-96`.
pub trait Summable: Element {
    /// The type `sum` returns and accumulates in.
    type Acc: Element;
    /// The sum of nothing.
    const ACC_ZERO: Self::Acc;
    /// `self` converted to the accumulator (sign-extended, zero-extended, `true` → 1).
    fn widen(self) -> Self::Acc;
    /// `a + b` in the accumulator; wrapping for integers, as NumPy's `int64` sums wrap silently.
    fn acc_add(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// `self` as `f64` (for `mean`, which accumulates in `f64`).
    fn to_f64(self) -> f64;
}

/// Element types with arithmetic. Integer `+ - *` wrap on overflow, as NumPy's do.
///
/// Integer `/` is Rust's truncating division (`-7 / 2 == -3`), which is neither NumPy's `/` (true
/// division, a float result) nor its `//` (floor division, `-7 // 2 == -4`): for NumPy's `//` use
/// [`floor_div`](Num::floor_div). Division by zero is a result, never a panic: 0 for integers (as
/// NumPy's `//`, which also warns), IEEE `inf`/`nan` for floats. `MIN / -1` wraps to `MIN` (NumPy's
/// `//` gives the same, with an overflow warning).
pub trait Num: Summable + PartialOrd {
    /// The additive identity.
    const ZERO: Self;
    /// `a + b` (wrapping for integers).
    fn add(a: Self, b: Self) -> Self;
    /// `a - b` (wrapping for integers).
    fn sub(a: Self, b: Self) -> Self;
    /// `a * b` (wrapping for integers).
    fn mul(a: Self, b: Self) -> Self;
    /// `a / b`: truncating for integers (0 if `b == 0`, `MIN / -1 == MIN`), IEEE for floats.
    fn div(a: Self, b: Self) -> Self;
    /// NumPy's `a // b`: the quotient rounded toward negative infinity (`-7 // 2 == -4`). Integers:
    /// 0 if `b == 0`, `MIN // -1 == MIN`. Floats: NumPy's `npy_floor_divide` (`1.0 // 0.0 == inf`,
    /// `0.0 // 0.0` is NaN, `-7.0 // 2.0 == -4.0`).
    fn floor_div(a: Self, b: Self) -> Self;
    /// Whether `self` is a NaN (always false for integers).
    fn is_nan(self) -> bool;
    /// NumPy's `np.abs`: `|self|`. Signed integers wrap (`abs(-128i8) == -128`, as NumPy's),
    /// unsigned ones are unchanged, floats clear the sign bit (`abs(-0.0) == 0.0`, NaN stays NaN).
    fn abs(self) -> Self;
}

/// Floating-point element types: the element-wise functions NumPy defines on floats
/// ([`sqrt`](crate::ArrayBase::sqrt), [`exp`](crate::ArrayBase::exp)). NumPy also takes integer
/// arrays there and returns `float64`; here convert first with
/// [`astype`](crate::ArrayBase::astype).
pub trait Float: Num {
    /// The square root (NaN for negative numbers, as NumPy's, without its warning).
    fn sqrt(self) -> Self;
    /// `e` raised to `self` (`inf` on overflow, as NumPy's, without its warning).
    fn exp(self) -> Self;
    /// The nearest `Self` to `x`.
    fn from_f64(x: f64) -> Self;
}

/// Compile-time check of `Element`'s layout rules (items 1–2) for `T` with `dtype`.
const fn layout_ok<T>(dtype: DType) -> bool {
    size_of::<T>() == dtype.itemsize()
        && dtype.itemsize().is_multiple_of(align_of::<T>())
        && align_of::<T>() <= crate::buffer::ALIGN
}

macro_rules! int_element {
    ($($t:ty => $d:ident, $kind:ident, $wide:ty);* $(;)?) => {$(
        const _: () = assert!(layout_ok::<$t>(DType::$d));
        // SAFETY: a primitive integer has no padding, its size is its dtype's itemsize and its
        // alignment divides it (checked at compile time above), all-zero bytes are 0, and every bit
        // pattern is a valid value.
        unsafe impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn to_scalar(self) -> Scalar {
                Scalar::$kind(self as $wide)
            }
            fn from_scalar(s: Scalar) -> Self {
                match s {
                    Scalar::Bool(b) => b as $t,
                    Scalar::Int(i) => i as $t,
                    Scalar::UInt(u) => u as $t,
                    Scalar::Float(f) => f as $t,
                }
            }
        }
        impl Summable for $t {
            type Acc = $wide;
            const ACC_ZERO: $wide = 0;
            #[inline(always)]
            fn widen(self) -> $wide { self as $wide }
            #[inline(always)]
            fn acc_add(a: $wide, b: $wide) -> $wide { a.wrapping_add(b) }
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
        }
        impl Num for $t {
            const ZERO: Self = 0;
            #[inline(always)]
            fn add(a: Self, b: Self) -> Self { a.wrapping_add(b) }
            #[inline(always)]
            fn sub(a: Self, b: Self) -> Self { a.wrapping_sub(b) }
            #[inline(always)]
            fn mul(a: Self, b: Self) -> Self { a.wrapping_mul(b) }
            #[inline(always)]
            fn div(a: Self, b: Self) -> Self { if b == 0 { 0 } else { a.wrapping_div(b) } }
            #[inline(always)]
            #[allow(unused_comparisons)] // `< 0` is always false for unsigned types
            fn floor_div(a: Self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let q = a.wrapping_div(b);
                // Truncation rounded toward zero; step down when the exact quotient was negative
                // and not whole.
                if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) { q - 1 } else { q }
            }
            #[inline(always)]
            fn is_nan(self) -> bool { false }
            #[inline(always)]
            #[allow(unused_comparisons)] // `< 0` is always false for unsigned types
            fn abs(self) -> Self { if self < 0 { self.wrapping_neg() } else { self } }
        }
    )*};
}

int_element! {
    i8 => I8, Int, i64; i16 => I16, Int, i64; i32 => I32, Int, i64; i64 => I64, Int, i64;
    u8 => U8, UInt, u64; u16 => U16, UInt, u64; u32 => U32, UInt, u64; u64 => U64, UInt, u64;
}

macro_rules! float_element {
    ($($t:ty => $d:ident);* $(;)?) => {$(
        const _: () = assert!(layout_ok::<$t>(DType::$d));
        // SAFETY: a primitive float has no padding, its size is its dtype's itemsize and its
        // alignment divides it (checked at compile time above), all-zero bytes are +0.0, and every
        // bit pattern is a valid value (possibly a NaN).
        unsafe impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn to_scalar(self) -> Scalar {
                Scalar::Float(self as f64)
            }
            fn from_scalar(s: Scalar) -> Self {
                match s {
                    Scalar::Bool(b) => b as u8 as $t,
                    Scalar::Int(i) => i as $t,
                    Scalar::UInt(u) => u as $t,
                    Scalar::Float(f) => f as $t,
                }
            }
        }
        impl Summable for $t {
            type Acc = $t;
            const ACC_ZERO: $t = 0.0;
            #[inline(always)]
            fn widen(self) -> $t { self }
            #[inline(always)]
            fn acc_add(a: $t, b: $t) -> $t { a + b }
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
        }
        impl Num for $t {
            const ZERO: Self = 0.0;
            #[inline(always)]
            fn add(a: Self, b: Self) -> Self { a + b }
            #[inline(always)]
            fn sub(a: Self, b: Self) -> Self { a - b }
            #[inline(always)]
            fn mul(a: Self, b: Self) -> Self { a * b }
            #[inline(always)]
            fn div(a: Self, b: Self) -> Self { a / b }
            /// NumPy's `npy_floor_divide` / `npy_divmod` (npymath), step for step.
            fn floor_div(a: Self, b: Self) -> Self {
                if b == 0.0 {
                    return a / b;
                }
                let m = a % b; // C's fmod
                let mut div = (a - m) / b;
                if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
                    div -= 1.0;
                }
                if div != 0.0 {
                    let f = div.floor();
                    if div - f > 0.5 { f + 1.0 } else { f }
                } else {
                    (0.0 as $t).copysign(a / b)
                }
            }
            #[inline(always)]
            #[allow(clippy::eq_op)]
            fn is_nan(self) -> bool { self != self }
            #[inline(always)]
            fn abs(self) -> Self { <$t>::abs(self) }
        }
        impl Float for $t {
            #[inline(always)]
            fn sqrt(self) -> Self { <$t>::sqrt(self) }
            #[inline(always)]
            fn exp(self) -> Self { <$t>::exp(self) }
            #[inline(always)]
            fn from_f64(x: f64) -> Self { x as $t }
        }
    )*};
}

float_element! { f32 => F32; f64 => F64 }

const _: () = assert!(layout_ok::<bool>(DType::Bool));
// SAFETY: `bool` is one byte with alignment 1 and no padding; the zero byte is `false`; only the
// bytes 0 and 1 are valid, which `valid_bytes` checks and every byte-to-`bool` path (`.npy` load and
// mmap) calls before viewing bytes.
unsafe impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn valid_bytes(bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| b <= 1)
    }
    fn to_scalar(self) -> Scalar {
        Scalar::Bool(self)
    }
    fn from_scalar(s: Scalar) -> Self {
        match s {
            Scalar::Bool(b) => b,
            Scalar::Int(i) => i != 0,
            Scalar::UInt(u) => u != 0,
            Scalar::Float(f) => f != 0.0,
        }
    }
}

/// `bool` sums count the `true`s, in `int64` as NumPy's `mask.sum()`.
impl Summable for bool {
    type Acc = i64;
    const ACC_ZERO: i64 = 0;
    #[inline(always)]
    fn widen(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn acc_add(a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
}
