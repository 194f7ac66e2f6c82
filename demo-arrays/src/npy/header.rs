//! The `.npy` header: magic, version, and the Python-literal dict NumPy writes
//! (`{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`). Parsing is bounds-checked and
//! returns a message naming the problem; nothing here panics on any input.

use std::io::Read;

use crate::element::DType;

/// `\x93NUMPY`.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Headers longer than this many characters are refused, as by NumPy's `np.load` (its default
/// `max_header_size`, a guard against costly parsing of hostile files). NumPy never writes one that
/// long for an array of at most 32 dimensions.
pub const MAX_HEADER: usize = 10_000;

/// What a `.npy` header says about the array that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Element type (from `descr`).
    pub dtype: DType,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Whether the elements are stored big-endian (`>f8`): [`load`](super::load) swaps their
    /// bytes, [`open_mmap`](super::open_mmap) refuses them.
    pub big_endian: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Format version `(major, minor)`.
    pub version: (u8, u8),
    /// Byte offset of the data from the start of the file.
    pub data_offset: u64,
}

impl Header {
    /// Bytes of data the header promises (`None` if that overflows).
    pub fn data_len(&self) -> Option<u64> {
        crate::dim::checked_file_bytes(&self.shape, self.dtype.itemsize())
    }
}

/// Reads and parses the header from the start of `r`; `file_len` bounds the header length field.
pub(crate) fn read_header(r: &mut impl Read, file_len: u64) -> Result<Header, String> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre)
        .map_err(|_| format!("file is {file_len} bytes, too short for the .npy magic"))?;
    if &pre[..6] != MAGIC {
        return Err(format!(
            "bad magic {:?}, expected \\x93NUMPY",
            String::from_utf8_lossy(&pre[..6])
        ));
    }
    let version = (pre[6], pre[7]);
    if !matches!(version, (1, 0) | (2, 0) | (3, 0)) {
        return Err(format!(
            "unsupported format version {}.{} (NumPy reads 1.0, 2.0 and 3.0 only)",
            version.0, version.1
        ));
    }
    let (len, prefix) = match version.0 {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)
                .map_err(|_| "truncated header length".to_string())?;
            (u16::from_le_bytes(b) as u64, 10u64)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)
                .map_err(|_| "truncated header length".to_string())?;
            (u32::from_le_bytes(b) as u64, 12u64)
        }
        _ => {
            return Err(format!(
                "unsupported format version {}.{}",
                version.0, version.1
            ));
        }
    };
    if prefix + len > file_len {
        return Err(format!(
            "header length {len} runs past the end of the file ({file_len} bytes)"
        ));
    }
    // A UTF-8 character takes at most 4 bytes: longer headers are refused without being read.
    if len as usize > 4 * MAX_HEADER {
        return Err(too_long(len as usize));
    }
    let mut text = vec![0u8; len as usize];
    r.read_exact(&mut text)
        .map_err(|_| "truncated header".to_string())?;
    let text = match version.0 {
        3 => String::from_utf8(text).map_err(|_| "header is not UTF-8".to_string())?,
        _ => text.iter().map(|&b| b as char).collect(), // latin-1
    };
    let chars = text.chars().count();
    if chars > MAX_HEADER {
        return Err(too_long(chars));
    }
    let (dtype, big_endian, fortran_order, shape) = parse_dict(&text)?;
    Ok(Header {
        dtype,
        fortran_order,
        big_endian,
        shape,
        version,
        data_offset: prefix + len,
    })
}

fn too_long(n: usize) -> String {
    format!(
        "header of {n} characters is over NumPy's limit of {MAX_HEADER} (np.load's max_header_size)"
    )
}

/// The full header bytes (magic to newline) NumPy would write for this array: version 1.0 unless the
/// dict needs more than 65 535 bytes, padded with spaces so the data starts at a multiple of 64.
pub(crate) fn write_header(dtype: DType, fortran_order: bool, shape: &[usize]) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}",
        dtype.descr(),
        if fortran_order { "True" } else { "False" },
        crate::error::ShapeDisplay::of(shape),
    );
    let v1 = dict.len() + 1 + 10 <= u16::MAX as usize;
    let prefix = if v1 { 10 } else { 12 };
    let total = (prefix + dict.len() + 1).div_ceil(64) * 64;
    dict.extend(std::iter::repeat_n(' ', total - prefix - dict.len() - 1));
    dict.push('\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out
}

#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Int(u64),
    Tuple(Vec<Value>),
}

/// Python's `repr` of the value, for error messages (`3`, `'<f8'`, `(3, 4)`).
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Int(n) => write!(f, "{n}"),
            Value::Tuple(items) => {
                f.write_str("(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(if items.len() == 1 { ",)" } else { ")" })
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at byte {} of the header dict",
                c as char, self.i
            ))
        }
    }
    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > 4 {
            return Err("header dict nested too deeply".into());
        }
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err("unterminated string in header".into());
                }
                let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(Value::Str(v))
            }
            Some(b'(') => {
                self.i += 1;
                let mut items = Vec::new();
                let mut comma = false;
                while !self.eat(b')') {
                    if items.len() > crate::MAX_NDIM * 4 {
                        return Err("tuple in header too long".into());
                    }
                    items.push(self.value(depth + 1)?);
                    if !self.eat(b',') {
                        self.expect(b')')?;
                        break;
                    }
                    comma = true;
                }
                // As in Python, `(3)` is the integer 3 in parentheses; `(3,)` is a tuple.
                if items.len() == 1 && !comma {
                    return Ok(items.pop().expect("one item"));
                }
                Ok(Value::Tuple(items))
            }
            Some(b'[') => Err("structured (record) dtypes are not supported".into()),
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let txt = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                if self.i < self.s.len() && self.s[self.i] == b'L' {
                    self.i += 1; // Python 2 long suffix
                }
                txt.parse()
                    .map(Value::Int)
                    .map_err(|_| format!("integer {txt} in header too large"))
            }
            Some(_) => {
                let rest = &self.s[self.i..];
                for (word, v) in [("True", Value::Bool(true)), ("False", Value::Bool(false))] {
                    if rest.starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                Err(format!(
                    "unexpected character {:?} at byte {} of the header dict",
                    rest[0] as char, self.i
                ))
            }
            None => Err("header dict ends early".into()),
        }
    }
}

fn parse_dict(text: &str) -> Result<(DType, bool, bool, Vec<usize>), String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if p.eat(b'}') {
            break;
        }
        let key = match p.value(0)? {
            Value::Str(k) => k,
            v => return Err(format!("header dict key {v:?} is not a string")),
        };
        p.expect(b':')?;
        let v = p.value(0)?;
        match key.as_str() {
            "descr" => descr = Some(v),
            "fortran_order" => fortran = Some(v),
            "shape" => shape = Some(v),
            other => return Err(format!("unexpected key {other:?} in header")),
        }
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    // Like NumPy's `ast.literal_eval` of the whole header: only whitespace may follow the dict.
    if p.peek().is_some() {
        return Err(format!(
            "unexpected text after the header dict at byte {}",
            p.i
        ));
    }
    let (dtype, big_endian) = match descr {
        Some(Value::Str(d)) => {
            DType::parse_descr(&d).ok_or_else(|| format!("unsupported data type {d:?}"))?
        }
        Some(v) => return Err(format!("descr {v} is not a simple type string")),
        None => return Err("header has no 'descr' key".into()),
    };
    let fortran_order = match fortran {
        Some(Value::Bool(b)) => b,
        Some(v) => return Err(format!("fortran_order {v} is not True or False")),
        None => return Err("header has no 'fortran_order' key".into()),
    };
    let shape = match shape {
        Some(Value::Tuple(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::Int(n) => {
                    usize::try_from(n).map_err(|_| format!("shape entry {n} too large"))
                }
                v => Err(format!("shape entry {v} is not a non-negative integer")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(v) => return Err(format!("shape {v} is not a tuple")),
        None => return Err("header has no 'shape' key".into()),
    };
    if shape.len() > crate::MAX_NDIM {
        return Err(format!(
            "{} dimensions; demo-arrays supports at most {}",
            shape.len(),
            crate::MAX_NDIM
        ));
    }
    Ok((dtype, big_endian, fortran_order, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_dicts() {
        let (d, be, f, s) =
            parse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }  \n").unwrap();
        assert_eq!((d, be, f, s), (DType::F64, false, false, vec![3, 4]));
        let (_, _, _, s) =
            parse_dict("{'descr': '|b1', 'fortran_order': True, 'shape': (5,), }").unwrap();
        assert_eq!(s, vec![5]);
        let (d, be, _, _) =
            parse_dict("{'descr': '>i4', 'fortran_order': True, 'shape': ((2),), }").unwrap();
        assert_eq!((d, be), (DType::I32, true));
        let (_, _, _, s) =
            parse_dict("{\"shape\": (), \"fortran_order\": False, \"descr\": \"<i4\"}").unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "{",
            "{'descr'",
            "{'descr': '<f8'",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': ()} x",
            "{'descr': '<f8', 'fortran_order': False, 'shape': ()}}",
            "{'descr': '>c16', 'fortran_order': False, 'shape': ()}",
            "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': ()}",
            "{'shape': (99999999999999999999999,)}",
            "{'descr': '<f8', 'fortran_order': 1, 'shape': ()}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
        ] {
            assert!(parse_dict(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn header_is_64_aligned_and_roundtrips() {
        let h = write_header(DType::I16, true, &[7, 0, 2]);
        assert_eq!(h.len() % 64, 0);
        let parsed = read_header(&mut &h[..], h.len() as u64).unwrap();
        assert_eq!(
            (parsed.dtype, parsed.fortran_order, parsed.shape.as_slice()),
            (DType::I16, true, &[7, 0, 2][..])
        );
        assert_eq!(parsed.data_offset, h.len() as u64);
    }
}
