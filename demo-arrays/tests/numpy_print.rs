//! `Display` against NumPy's `print(a)`: every case of `fixtures/numpy_str.txt` (written by
//! `fixtures/make_fixtures.py`: dtype, shape, values, then NumPy's `str(a)`) is rebuilt here and
//! printed; the text must be NumPy's, character for character. The cases cover float widths,
//! scientific notation, `nan`/`inf`, `-0.`, `float32` digits, integers, bools, 0-d and empty
//! arrays, line wrapping at 75 characters and summarisation with `...` past 1000 elements.

use std::path::Path;

use demo_arrays::{Element, NdArray, s};

struct Case {
    dtype: String,
    shape: Vec<usize>,
    values: Vec<String>,
    numpy: String,
}

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/numpy_str.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let mut out = Vec::new();
    while let Some(head) = lines.next() {
        let (dtype, shape) = head.split_once(' ').unwrap();
        let shape = shape
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        let values = lines
            .next()
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let numpy: Vec<&str> = lines.by_ref().take_while(|l| *l != "end").collect();
        out.push(Case {
            dtype: dtype.to_string(),
            shape,
            values,
            numpy: numpy.join("\n"),
        });
    }
    out
}

fn printed<T: Element>(c: &Case, parse: impl Fn(&str) -> T) -> String {
    let v: Vec<T> = c.values.iter().map(|s| parse(s)).collect();
    NdArray::from_vec(&c.shape, v).unwrap().to_string()
}

fn print_case(c: &Case) -> String {
    let f64_of = |s: &str| s.parse::<f64>().unwrap();
    match c.dtype.as_str() {
        "float64" => printed(c, f64_of),
        "float32" => printed(c, |s| f64_of(s) as f32),
        "int8" => printed(c, |s| s.parse::<i8>().unwrap()),
        "int16" => printed(c, |s| s.parse::<i16>().unwrap()),
        "int32" => printed(c, |s| s.parse::<i32>().unwrap()),
        "int64" => printed(c, |s| s.parse::<i64>().unwrap()),
        "uint64" => printed(c, |s| s.parse::<u64>().unwrap()),
        "bool" => printed(c, |s| s == "True"),
        d => panic!("fixture dtype {d} not handled"),
    }
}

#[test]
fn display_is_numpys_print() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for (k, c) in cases.iter().enumerate() {
        let got = print_case(c);
        if got != c.numpy {
            wrong.push(format!(
                "case {k} ({} {:?}):\n--- demo-arrays\n{got}\n--- NumPy\n{}",
                c.dtype, c.shape, c.numpy
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn display_of_views_prints_their_logical_order() {
    // Same text whatever the layout: a transposed, reversed view prints as its copy does.
    let a = NdArray::<f64>::arange(12).into_shape(&[3, 4]).unwrap() / 8.0;
    let v = a.t();
    let v = v.slice(&s![..;-1, ..]);
    assert_eq!(v.to_string(), v.to_owned().to_string());
    assert_eq!(
        v.to_string(),
        "[[0.375 0.875 1.375]\n [0.25  0.75  1.25 ]\n [0.125 0.625 1.125]\n [0.    0.5   1.   ]]"
    );
}
