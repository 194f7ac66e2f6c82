//! Printing arrays. `Display` is NumPy's `print(a)` (`str(a)`, NumPy 2's default print options):
//! nested brackets, elements padded to a common width, rows wrapped at 75 characters, and arrays
//! of more than 1000 elements summarised with `...` (the first and last three along every axis
//! longer than six). Floats follow NumPy's `FloatingFormat`: the shortest digits that identify
//! each value, at most eight after the point, positional unless the values span more than three
//! decades, reach `1e8` or go below `1e-4`, in which case every value is in scientific notation.
//! `tests/numpy_semantics.rs` compares the output with NumPy's own on the arrays of
//! `fixtures/make_fixtures.py`.
//!
//! `Debug` is shorter and never wraps: `array([0.0, 1.0, 2.0, …], shape=(3, 4), dtype=float64)`,
//! at most the first eight elements in logical order.

use std::fmt;

use crate::array_base::{ArrayBase, ArrayView, Data};
use crate::dim::Counter;
use crate::element::{DType, Element, Scalar};
use crate::error::ShapeDisplay;

/// NumPy's `threshold`: arrays with more elements than this are summarised.
const THRESHOLD: usize = 1000;
/// NumPy's `edgeitems`: elements shown at each end of a summarised axis.
const EDGE: usize = 3;
/// NumPy's `linewidth`.
const LINE_WIDTH: usize = 75;
/// NumPy's `precision`: at most this many digits after the point (or in a mantissa's fraction).
const PRECISION: usize = 8;

impl<S: Data> fmt::Debug for ArrayBase<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("array([")?;
        for (i, x) in self.iter().take(8).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{x:?}")?;
        }
        if self.len() > 8 {
            f.write_str(", …")?;
        }
        write!(
            f,
            "], shape={}, dtype={})",
            ShapeDisplay::of(self.shape()),
            self.dtype()
        )
    }
}

/// NumPy's `print(a)` / `str(a)`, as the module docs describe:
///
/// ```
/// use demo_arrays::NdArray;
/// let a = NdArray::<f64>::arange(6).into_shape(&[2, 3]).unwrap() / 4.0;
/// assert_eq!(a.to_string(), "[[0.   0.25 0.5 ]\n [0.75 1.   1.25]]");
/// assert_eq!(NdArray::<i32>::arange(2000).to_string(), "[   0    1    2 ... 1997 1998 1999]");
/// ```
///
/// Allocates the text (and, while formatting, small strings per shown element).
impl<S: Data> fmt::Display for ArrayBase<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&array_str(self.view()))
    }
}

/// A float type, for formatting in its own precision as NumPy does (a `float32` prints its own
/// shortest digits, and its thresholds are compared in `float32`).
trait Flt: Copy + PartialOrd + fmt::Display + fmt::LowerExp {
    const ZERO: Self;
    const EXP_MAX: Self; // 1e8
    const EXP_MIN: Self; // 1e-4
    const RATIO: Self; // 1000
    fn of(s: Scalar) -> Self;
    fn abs(self) -> Self;
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    fn div(self, b: Self) -> Self;
}

macro_rules! flt {
    ($($t:ty),*) => {$(
        impl Flt for $t {
            const ZERO: Self = 0.0;
            const EXP_MAX: Self = 1e8;
            const EXP_MIN: Self = 1e-4;
            const RATIO: Self = 1000.0;
            fn of(s: Scalar) -> Self {
                match s {
                    Scalar::Float(x) => x as $t, // exact: the value came from a `$t`
                    _ => unreachable!("float dtype"),
                }
            }
            fn abs(self) -> Self { <$t>::abs(self) }
            fn is_finite(self) -> bool { <$t>::is_finite(self) }
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
            fn div(self, b: Self) -> Self { self / b }
        }
    )*};
}
flt!(f32, f64);

/// Trailing zeros of a fraction removed.
fn trim_zeros(frac: &str) -> &str {
    frac.trim_end_matches('0')
}

/// NumPy's `dragon4_positional(x, precision=prec, unique=True, trim='.')` as (integer part with
/// sign, fraction digits): the shortest digits that identify `x`, cut to `prec` after the point
/// and then rounded (exactly, from the binary value), trailing zeros dropped.
fn positional<F: Flt>(x: F, prec: usize) -> (String, String) {
    let s = x.to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if frac.len() <= prec {
        return (int.to_string(), frac.to_string());
    }
    let s = format!("{x:.prec$}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    (int.to_string(), trim_zeros(frac).to_string())
}

/// NumPy's `dragon4_scientific(x, precision=prec, unique=True, trim='.')` as (mantissa integer
/// digit with sign, mantissa fraction digits, decimal exponent).
fn scientific<F: Flt>(x: F, prec: usize) -> (String, String, i32) {
    let split = |s: &str| {
        let (m, e) = s.split_once('e').expect("LowerExp writes an exponent");
        let (int, frac) = m.split_once('.').unwrap_or((m, ""));
        (
            int.to_string(),
            trim_zeros(frac).to_string(),
            e.parse::<i32>()
                .expect("LowerExp writes an integer exponent"),
        )
    };
    let (int, frac, e) = split(&format!("{x:e}"));
    if frac.len() <= prec {
        return (int, frac, e);
    }
    split(&format!("{x:.prec$e}"))
}

/// NumPy's `FloatingFormat` (floatmode `maxprec`, sign `-`), fitted to the shown values.
struct FloatFormat {
    exp: bool,
    precision: usize,
    pad_left: usize,
    pad_right: usize,
    exp_size: usize,
}

impl FloatFormat {
    fn fit<F: Flt>(data: &[F]) -> FloatFormat {
        let finite: Vec<F> = data.iter().copied().filter(|x| x.is_finite()).collect();
        let mut exp = false;
        let nonzero = finite.iter().map(|x| x.abs()).filter(|&x| x != F::ZERO);
        let (mut lo, mut hi) = (None::<F>, None::<F>);
        for x in nonzero {
            lo = Some(lo.map_or(x, |m| if x < m { x } else { m }));
            hi = Some(hi.map_or(x, |m| if x > m { x } else { m }));
        }
        if let (Some(lo), Some(hi)) = (lo, hi) {
            exp = hi >= F::EXP_MAX || lo < F::EXP_MIN || hi.div(lo) > F::RATIO;
        }
        let mut f = FloatFormat {
            exp,
            precision: PRECISION,
            pad_left: 0,
            pad_right: 0,
            exp_size: 0,
        };
        if finite.is_empty() {
            f.exp = false;
        } else if exp {
            let parts: Vec<_> = finite.iter().map(|&x| scientific(x, PRECISION)).collect();
            f.precision = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
            f.pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(0);
            f.exp_size = parts
                .iter()
                .map(|p| p.2.unsigned_abs().to_string().len().max(2))
                .max()
                .unwrap_or(2);
            f.pad_right = f.exp_size + 2 + f.precision;
        } else {
            let parts: Vec<_> = finite.iter().map(|&x| positional(x, PRECISION)).collect();
            f.pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(0);
            f.pad_right = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
        }
        if finite.len() != data.len() {
            // Room for `nan`, `inf` and, if there is one, `-inf`.
            let neginf = data
                .iter()
                .any(|&x| !x.is_finite() && !x.is_nan() && x < F::ZERO);
            let offset = f.pad_right + 1;
            let need = 3 + usize::from(neginf);
            f.pad_left = f.pad_left.max(need.saturating_sub(offset));
        }
        f
    }

    fn format<F: Flt>(&self, x: F) -> String {
        if !x.is_finite() {
            let s = if x.is_nan() {
                "nan"
            } else if x < F::ZERO {
                "-inf"
            } else {
                "inf"
            };
            return format!("{s:>w$}", w = self.pad_left + self.pad_right + 1);
        }
        if self.exp {
            let (int, frac, e) = scientific(x, self.precision);
            let sign = if e < 0 { '-' } else { '+' };
            format!(
                "{int:>pl$}.{frac:0<p$}e{sign}{:0>es$}",
                e.unsigned_abs(),
                pl = self.pad_left,
                p = self.precision,
                es = self.exp_size
            )
        } else {
            let (int, frac) = positional(x, self.precision);
            format!(
                "{int:>pl$}.{frac:<pr$}",
                pl = self.pad_left,
                pr = self.pad_right
            )
        }
    }
}

/// How every element of one array is printed, fitted to the elements shown.
enum ElemFormat {
    Bool,
    Int(usize),
    F32(FloatFormat),
    F64(FloatFormat),
}

fn int_text(s: Scalar) -> String {
    match s {
        Scalar::Int(i) => i.to_string(),
        Scalar::UInt(u) => u.to_string(),
        _ => unreachable!("integer dtype"),
    }
}

impl ElemFormat {
    fn fit<T: Element>(shown: &[T]) -> ElemFormat {
        match T::DTYPE {
            DType::Bool => ElemFormat::Bool,
            DType::F32 => {
                let v: Vec<f32> = shown.iter().map(|x| f32::of(x.to_scalar())).collect();
                ElemFormat::F32(FloatFormat::fit(&v))
            }
            DType::F64 => {
                let v: Vec<f64> = shown.iter().map(|x| f64::of(x.to_scalar())).collect();
                ElemFormat::F64(FloatFormat::fit(&v))
            }
            _ => ElemFormat::Int(
                shown
                    .iter()
                    .map(|x| int_text(x.to_scalar()).len())
                    .max()
                    .unwrap_or(0),
            ),
        }
    }

    fn format<T: Element>(&self, x: T) -> String {
        match self {
            ElemFormat::Bool => match x.to_scalar() {
                Scalar::Bool(true) => " True".into(),
                _ => "False".into(),
            },
            ElemFormat::Int(w) => format!("{:>w$}", int_text(x.to_scalar())),
            ElemFormat::F32(f) => f.format(f32::of(x.to_scalar())),
            ElemFormat::F64(f) => f.format(f64::of(x.to_scalar())),
        }
    }
}

/// A 0-d array's value as NumPy's `str(a)` prints it: Python's `str` of the scalar (`5.0`,
/// `1e-05`, `1e+16`, `True`).
fn scalar_str<T: Element>(x: T) -> String {
    fn py_float<F: Flt>(x: F) -> String {
        if !x.is_finite() {
            return if x.is_nan() {
                "nan".into()
            } else if x < F::ZERO {
                "-inf".into()
            } else {
                "inf".into()
            };
        }
        // Python's `repr`: positional for decimal exponents -4 to 15, else scientific.
        let (int, frac, e) = scientific(x, usize::MAX);
        if x == F::ZERO || (-4..16).contains(&e) {
            let s = x.to_string();
            return if s.contains('.') { s } else { s + ".0" };
        }
        let dot = if frac.is_empty() { "" } else { "." };
        let sign = if e < 0 { '-' } else { '+' };
        format!("{int}{dot}{frac}e{sign}{:02}", e.unsigned_abs())
    }
    match x.to_scalar() {
        Scalar::Bool(b) => if b { "True" } else { "False" }.into(),
        s @ (Scalar::Int(_) | Scalar::UInt(_)) => int_text(s),
        s => match T::DTYPE {
            DType::F32 => py_float(f32::of(s)),
            _ => py_float(f64::of(s)),
        },
    }
}

/// The indices NumPy shows along an axis of length `n`.
fn shown(n: usize, summarize: bool) -> Vec<usize> {
    if summarize && n > 2 * EDGE {
        (0..EDGE).chain(n - EDGE..n).collect()
    } else {
        (0..n).collect()
    }
}

/// NumPy's `_extendLine`: appends `word` to `line`, first moving `line` into `s` if the word
/// would pass `width` (unless the line holds only its indent).
fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, indent: &str) {
    if line.len() + word.len() > width && line.len() > indent.len() {
        s.push_str(line.trim_end());
        s.push('\n');
        line.clear();
        line.push_str(indent);
    }
    line.push_str(word);
}

/// NumPy's `_formatArray`.
struct Layout<'v, 'a, T: Element> {
    a: &'v ArrayView<'a, T>,
    fmt: ElemFormat,
    summarize: bool,
}

impl<T: Element> Layout<'_, '_, T> {
    fn rec(&self, index: &mut Vec<usize>, indent: &str, width: usize) -> String {
        let axis = index.len();
        let left = self.a.ndim() - axis;
        if left == 0 {
            let x = *self.a.get(index).expect("index in bounds");
            return self.fmt.format(x);
        }
        let next_indent = format!("{indent} ");
        let next_width = width - 1;
        let n = self.a.shape()[axis];
        let summary = self.summarize && n > 2 * EDGE;
        let (lead, trail) = if summary { (EDGE, EDGE) } else { (0, n) };
        let mut sub = |i: usize| {
            index.push(i);
            let r = self.rec(index, &next_indent, next_width);
            index.pop();
            r
        };
        let mut s = String::new();
        if left == 1 {
            let elem_width = width - 1; // room for `]`
            let mut line = indent.to_string();
            for i in 0..lead {
                extend_line(&mut s, &mut line, &sub(i), elem_width, indent);
                line.push(' ');
            }
            if summary {
                extend_line(&mut s, &mut line, "...", elem_width, indent);
                line.push(' ');
            }
            for i in (2..=trail).rev() {
                extend_line(&mut s, &mut line, &sub(n - i), elem_width, indent);
                line.push(' ');
            }
            extend_line(&mut s, &mut line, &sub(n - 1), elem_width, indent);
            s.push_str(&line);
        } else {
            let sep = "\n".repeat(left - 1);
            let row = |s: &mut String, text: &str, last: bool| {
                s.push_str(indent);
                s.push_str(text);
                if !last {
                    s.push_str(&sep);
                }
            };
            for i in 0..lead {
                row(&mut s, &sub(i), false);
            }
            if summary {
                row(&mut s, "...", false);
            }
            for i in (2..=trail).rev() {
                row(&mut s, &sub(n - i), false);
            }
            row(&mut s, &sub(n - 1), true);
        }
        format!("[{}]", &s[indent.len()..])
    }
}

/// NumPy's `str(a)` for any array.
fn array_str<T: Element>(a: ArrayView<'_, T>) -> String {
    if a.ndim() == 0 {
        return scalar_str(*a.get(&[]).expect("a 0-d array has one element"));
    }
    if a.is_empty() {
        return "[]".into();
    }
    let summarize = a.len() > THRESHOLD;
    // The shown elements (NumPy's `_leading_trailing`), which alone decide the widths.
    let axes: Vec<Vec<usize>> = a.shape().iter().map(|&n| shown(n, summarize)).collect();
    let lens: Vec<usize> = axes.iter().map(Vec::len).collect();
    let mut vals = Vec::new();
    let mut idx = vec![0usize; a.ndim()];
    let mut pos = Counter::<0>::new();
    loop {
        for (ix, (&p, ax)) in idx.iter_mut().zip(pos.index(a.ndim()).iter().zip(&axes)) {
            *ix = ax[p];
        }
        vals.push(*a.get(&idx).expect("shown indices are in bounds"));
        if !pos.advance(&lens, []) {
            break;
        }
    }
    let layout = Layout {
        a: &a,
        fmt: ElemFormat::fit(&vals),
        summarize,
    };
    layout.rec(&mut Vec::new(), " ", LINE_WIDTH)
}
