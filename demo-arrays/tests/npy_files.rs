//! `.npy` files: files NumPy wrote (fixtures from `fixtures/make_fixtures.py`), round trips for every
//! dtype, memory-mapping modes, and malformed files, each of which must be an error naming the
//! problem (never a panic).

use std::path::{Path, PathBuf};

use demo_arrays::npy::{self, MmapMode};
use demo_arrays::{ArrayError, DType, Element, NdArray, s};

/// `npy::open_mmap` for these tests' files.
fn map<T: Element>(
    path: impl AsRef<Path>,
    mode: MmapMode,
) -> Result<npy::MmapArray<T>, ArrayError> {
    // SAFETY: the files mapped here are committed fixtures or this test binary's own temporary
    // files; nothing outside demo-arrays writes or truncates them while they are mapped.
    unsafe { npy::open_mmap::<T>(path, mode) }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("demo-arrays-npy-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn reads_what_numpy_wrote() {
    let a = npy::load::<f64>(fixture("f8_3x4.npy")).unwrap();
    assert_eq!(a.shape(), &[3, 4]);
    assert_eq!(
        a.to_vec(),
        (0..12).map(|i| i as f64 / 4.0).collect::<Vec<_>>()
    );
    assert_eq!(
        npy::load::<f32>(fixture("f4_5.npy")).unwrap().to_vec(),
        vec![1.5, -2.25, 3.0, 1e30, -0.0]
    );
    assert_eq!(
        npy::load::<i8>(fixture("i1_4.npy")).unwrap().to_vec(),
        vec![-128, -1, 0, 127]
    );
    assert_eq!(
        npy::load::<i16>(fixture("i2_2x2.npy")).unwrap().to_vec(),
        vec![-30000, 1, 2, 30000]
    );
    assert_eq!(
        npy::load::<i32>(fixture("i4_3.npy")).unwrap().to_vec(),
        vec![i32::MIN, 0, i32::MAX]
    );
    assert_eq!(
        npy::load::<i64>(fixture("i8_2.npy")).unwrap().to_vec(),
        vec![i64::MIN, i64::MAX]
    );
    assert_eq!(
        npy::load::<u8>(fixture("u1_3.npy")).unwrap().to_vec(),
        vec![0, 1, 255]
    );
    assert_eq!(
        npy::load::<u16>(fixture("u2_3.npy")).unwrap().to_vec(),
        vec![0, 1, u16::MAX]
    );
    assert_eq!(
        npy::load::<u32>(fixture("u4_3.npy")).unwrap().to_vec(),
        vec![0, 1, u32::MAX]
    );
    assert_eq!(
        npy::load::<u64>(fixture("u8_3.npy")).unwrap().to_vec(),
        vec![0, 1, u64::MAX]
    );
    let b = npy::load::<bool>(fixture("b1_2x3.npy")).unwrap();
    assert_eq!(
        (b.shape(), b.to_vec()),
        (&[2, 3][..], vec![true, false, true, false, false, true])
    );
    let sc = npy::load::<f64>(fixture("f8_scalar.npy")).unwrap();
    assert_eq!((sc.ndim(), sc.to_vec()), (0, vec![42.5]));
    let e = npy::load::<f64>(fixture("f8_empty_0x3.npy")).unwrap();
    assert_eq!((e.shape(), e.len()), (&[0, 3][..], 0));
}

#[test]
fn reads_fortran_order_and_version_2() {
    let f = npy::load::<f64>(fixture("f8_fortran_2x3.npy")).unwrap();
    assert_eq!(f.shape(), &[2, 3]);
    assert!(f.flags().f_contiguous && !f.flags().c_contiguous);
    assert_eq!(f.to_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let h = npy::read_header(fixture("i4_v2_2x2.npy")).unwrap();
    assert_eq!((h.version, h.dtype), ((2, 0), DType::I32));
    assert_eq!(
        npy::load::<i32>(fixture("i4_v2_2x2.npy")).unwrap().to_vec(),
        vec![1, 2, 3, 4]
    );
    let m = map::<f64>(fixture("f8_fortran_2x3.npy"), MmapMode::ReadOnly).unwrap();
    assert_eq!(m.to_vec(), f.to_vec());
}

#[test]
fn big_endian_files_load_byte_swapped_and_refuse_to_map() {
    // Before: every big-endian file was an error. Values as NumPy wrote them (make_fixtures.py).
    assert_eq!(
        npy::load::<f64>(fixture("f8_big_endian.npy"))
            .unwrap()
            .to_vec(),
        vec![0.0, 1.0, 2.0]
    );
    let i = npy::load::<i32>(fixture("i4_big_endian_2x2.npy")).unwrap();
    assert_eq!(i.to_vec(), vec![-2, 1, 70000, i32::MIN]);
    assert_eq!(
        npy::load::<u16>(fixture("u2_big_endian.npy"))
            .unwrap()
            .to_vec(),
        vec![1, 258, 65535]
    );
    let f = npy::load::<f32>(fixture("f4_big_endian_fortran_2x3.npy")).unwrap();
    assert!(f.flags().f_contiguous);
    assert_eq!(f.to_vec(), vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    assert!(
        npy::read_header(fixture("f8_big_endian.npy"))
            .unwrap()
            .big_endian
    );
    let e = map::<f64>(fixture("f8_big_endian.npy"), MmapMode::ReadOnly).unwrap_err();
    assert!(
        e.to_string().contains("use npy::load, which swaps bytes"),
        "{e}"
    );
}

#[test]
fn writes_the_same_bytes_as_numpy() {
    let dir = TempDir::new("same");
    for name in [
        "f8_3x4.npy",
        "b1_2x3.npy",
        "f8_scalar.npy",
        "f8_fortran_2x3.npy",
        "i1_4.npy",
    ] {
        let out = dir.join(name);
        match npy::read_header(fixture(name)).unwrap().dtype {
            DType::F64 => npy::save(&out, &npy::load::<f64>(fixture(name)).unwrap()).unwrap(),
            DType::Bool => npy::save(&out, &npy::load::<bool>(fixture(name)).unwrap()).unwrap(),
            DType::I8 => npy::save(&out, &npy::load::<i8>(fixture(name)).unwrap()).unwrap(),
            d => panic!("unexpected {d}"),
        }
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(fixture(name)).unwrap(),
            "{name}"
        );
    }
}

fn roundtrip<T: Element>(dir: &TempDir, values: Vec<T>) {
    let n = values.len();
    let a = NdArray::from_vec(&[2, n / 2], values).unwrap();
    let p = dir.join(&format!("{}.npy", T::DTYPE));
    npy::save(&p, &a).unwrap();
    assert_eq!(npy::load::<T>(&p).unwrap().to_vec(), a.to_vec());
    // A non-contiguous view is written in C order.
    npy::save(&p, &a.slice(&s![..;-1, ..;2])).unwrap();
    let back = npy::load::<T>(&p).unwrap();
    assert_eq!(back.to_vec(), a.slice(&s![..;-1, ..;2]).to_vec());
    // A transposed (F-contiguous) array is written with fortran_order and read back the same.
    npy::save(&p, &a.t()).unwrap();
    assert!(npy::read_header(&p).unwrap().fortran_order);
    assert_eq!(npy::load::<T>(&p).unwrap().to_vec(), a.t().to_vec());
}

#[test]
fn round_trips_every_dtype() {
    let dir = TempDir::new("rt");
    roundtrip(&dir, vec![true, false, false, true]);
    roundtrip(&dir, vec![i8::MIN, -1, 0, i8::MAX]);
    roundtrip(&dir, vec![i16::MIN, -1, 0, i16::MAX]);
    roundtrip(&dir, vec![i32::MIN, -1, 0, i32::MAX]);
    roundtrip(&dir, vec![i64::MIN, -1, 0, i64::MAX]);
    roundtrip(&dir, vec![0u8, 1, 2, u8::MAX]);
    roundtrip(&dir, vec![0u16, 1, 2, u16::MAX]);
    roundtrip(&dir, vec![0u32, 1, 2, u32::MAX]);
    roundtrip(&dir, vec![0u64, 1, 2, u64::MAX]);
    roundtrip(
        &dir,
        vec![f32::MIN, -0.0, 1.5, f32::INFINITY, f32::NAN, 7.0]
            .into_iter()
            .take(6)
            .map(|x: f32| if x.is_nan() { 3.0 } else { x })
            .collect(),
    );
    roundtrip(
        &dir,
        vec![f64::MIN_POSITIVE, -0.0, 1e300, f64::NEG_INFINITY],
    );
}

#[test]
fn mmap_modes_behave_like_numpy() {
    let dir = TempDir::new("mm");
    let p = dir.join("m.npy");
    npy::save(&p, &NdArray::<f64>::arange(8)).unwrap();
    // 'r': read-only; a mutable view is refused.
    let mut r = map::<f64>(&p, MmapMode::ReadOnly).unwrap();
    assert_eq!(r.sum(), 28.0);
    assert!(!r.flags().writeable && !r.flags().owns_data);
    assert!(r.try_view_mut().is_err());
    drop(r);
    // 'c': writes stay private.
    let mut c = map::<f64>(&p, MmapMode::CopyOnWrite).unwrap();
    c.try_view_mut().unwrap().fill(1.0);
    assert_eq!(c.sum(), 8.0);
    drop(c);
    assert_eq!(npy::load::<f64>(&p).unwrap().sum(), 28.0);
    // 'r+': writes reach the file.
    let mut w = map::<f64>(&p, MmapMode::ReadWrite).unwrap();
    w.try_view_mut()
        .unwrap()
        .slice_mut(&s![3..5])
        .as_slice_mut()
        .unwrap()
        .copy_from_slice(&[100.0, 200.0]);
    w.flush().unwrap();
    drop(w);
    assert_eq!(
        npy::load::<f64>(&p).unwrap().to_vec(),
        vec![0., 1., 2., 100., 200., 5., 6., 7.]
    );
}

fn expect_npy_error(path: &Path, needle: &str) {
    let msg = match npy::load::<f64>(path) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{} loaded", path.display()),
    };
    assert!(msg.contains(needle), "{msg:?} does not mention {needle:?}");
    let msg = map::<f64>(path, MmapMode::ReadOnly)
        .expect_err("mapped")
        .to_string();
    assert!(msg.contains(needle), "{msg:?} does not mention {needle:?}");
}

#[test]
fn malformed_files_are_errors_naming_the_problem() {
    let dir = TempDir::new("bad");
    let good = std::fs::read(fixture("f8_3x4.npy")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    expect_npy_error(&write("empty.npy", b""), "too short");
    expect_npy_error(
        &write("magic.npy", &[b"\x93NUMPX", &good[6..]].concat()),
        "bad magic",
    );
    expect_npy_error(&write("trunc_header.npy", &good[..40]), "runs past the end");
    let mut long = good.clone();
    long[8] = 0xff;
    long[9] = 0xff;
    expect_npy_error(
        &write("hlen.npy", &long),
        "header length 65535 runs past the end",
    );
    expect_npy_error(
        &write("trunc_data.npy", &good[..good.len() - 8]),
        "data is 88 bytes but shape (3, 4) of float64 needs 96",
    );
    expect_npy_error(
        &write("extra_data.npy", &[&good[..], &[0u8; 8]].concat()),
        "data is 104 bytes",
    );
    let mut ver = good.clone();
    ver[6] = 9;
    // (also any minor version but 0: see hdr_version_1_1.npy below)
    expect_npy_error(
        &write("version.npy", &ver),
        "unsupported format version 9.0",
    );
    let mut dict = good.clone();
    dict[10] = b'[';
    expect_npy_error(&write("dict.npy", &dict), "expected '{'");
    // NumPy refuses each of these (make_fixtures.py checks): before, the crate read `(3)` as a
    // 1-tuple, accepted version 1.1 and ignored text after `}`; its header limit was 1 MiB.
    expect_npy_error(&fixture("hdr_shape_not_tuple.npy"), "shape 3");
    expect_npy_error(
        &fixture("hdr_version_1_1.npy"),
        "unsupported format version 1.1",
    );
    expect_npy_error(
        &fixture("hdr_text_after_dict.npy"),
        "unexpected text after the header dict",
    );
    expect_npy_error(&fixture("hdr_too_long.npy"), "over NumPy's limit of 10000");
    for ok in ["hdr_ok.npy", "hdr_at_limit.npy"] {
        assert_eq!(npy::load::<f64>(fixture(ok)).unwrap().shape(), &[3]);
    }
    // Wrong dtype requested.
    let e = npy::load::<f32>(fixture("f8_3x4.npy")).unwrap_err();
    assert!(matches!(
        e,
        ArrayError::DTypeMismatch {
            requested: DType::F32,
            ..
        }
    ));
    assert!(
        e.to_string()
            .starts_with("requested data type float32 but the data is float64"),
        "{e}"
    );
    // Invalid bool bytes.
    let mut b = std::fs::read(fixture("b1_2x3.npy")).unwrap();
    *b.last_mut().unwrap() = 7;
    let p = write("bool.npy", &b);
    assert!(
        npy::load::<bool>(&p)
            .unwrap_err()
            .to_string()
            .contains("not valid bool")
    );
    assert!(
        map::<bool>(&p, MmapMode::ReadOnly)
            .unwrap_err()
            .to_string()
            .contains("not valid bool")
    );
    // Missing file: an I/O error naming the path.
    let e = npy::load::<f64>(dir.join("missing.npy")).unwrap_err();
    assert!(e.to_string().contains("missing.npy"), "{e}");
}

#[test]
fn misaligned_data_offset_is_refused_by_mmap_but_loads() {
    // A hand-made version 1.0 file whose data starts at byte 73 (not a multiple of 8).
    let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
    let mut text = dict.to_string();
    while (10 + text.len() + 1) % 8 != 1 {
        text.push(' ');
    }
    text.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(&1.5f64.to_le_bytes());
    bytes.extend_from_slice(&2.5f64.to_le_bytes());
    let dir = TempDir::new("align");
    let p = dir.join("odd.npy");
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(npy::load::<f64>(&p).unwrap().to_vec(), vec![1.5, 2.5]);
    let e = map::<f64>(&p, MmapMode::ReadOnly).unwrap_err().to_string();
    assert!(e.contains("not aligned for float64"), "{e}");
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error_not_a_panic() {
    let good = std::fs::read(fixture("i4_v2_2x2.npy")).unwrap();
    let dir = TempDir::new("cut");
    let p = dir.join("cut.npy");
    for n in 0..good.len() {
        std::fs::write(&p, &good[..n]).unwrap();
        assert!(npy::load::<i32>(&p).is_err(), "prefix of {n} bytes loaded");
        assert!(map::<i32>(&p, MmapMode::ReadOnly).is_err());
    }
    // And every single-byte corruption of the header either errors or loads 4 elements.
    for i in 0..good.len() - 16 {
        let mut b = good.clone();
        b[i] ^= 0x5a;
        std::fs::write(&p, &b).unwrap();
        if let Ok(a) = npy::load::<i32>(&p) {
            assert_eq!(a.len(), 4);
        }
    }
}

#[test]
fn create_mmap_writes_a_file_numpy_can_read() {
    let dir = TempDir::new("create");
    let p = dir.join("new.npy");
    // SAFETY: a fresh temporary file of this test.
    let mut m = unsafe { npy::create_mmap::<i16>(&p, &[3, 5]) }.unwrap();
    assert_eq!(m.sum(), 0);
    m.try_view_mut().unwrap().slice_mut(&s![1, ..]).fill(7);
    m.flush().unwrap();
    drop(m);
    let back = npy::load::<i16>(&p).unwrap();
    assert_eq!((back.shape(), back.sum()), (&[3, 5][..], 35));
    // The header is byte-identical to what NumPy writes for the same array (checked against a
    // fixture of another shape: same layout rules).
    assert_eq!(npy::read_header(&p).unwrap().data_offset % 64, 0);
}

#[test]
fn absurd_broadcast_shapes_are_refused() {
    let a = NdArray::<f64>::zeros(&[1]);
    assert!(a.broadcast(&[usize::MAX, 2]).is_err());
}

#[test]
fn save_and_create_mmap_refuse_a_file_this_process_maps() {
    let dir = TempDir::new("mapped");
    let p = dir.join("m.npy");
    npy::save(&p, &NdArray::<f64>::arange(1024)).unwrap();
    let m = map::<f64>(&p, MmapMode::ReadOnly).unwrap();
    // Before: `save` truncated the file under the mapping and `m.sum()` died with SIGBUS.
    let e = npy::save(&p, &NdArray::<f64>::zeros(&[1])).unwrap_err();
    assert!(
        e.to_string().contains("memory-mapped by this process"),
        "{e}"
    );
    // SAFETY: the path is mapped by `m`; `create_mmap` must refuse before touching the file.
    let e = unsafe { npy::create_mmap::<f64>(&p, &[4]) }.unwrap_err();
    assert!(e.to_string().contains("refusing to overwrite"), "{e}");
    // Through a hard link too: the claim is on the file, not the name.
    let link = dir.join("link.npy");
    std::fs::hard_link(&p, &link).unwrap();
    assert!(npy::save(&link, &NdArray::<f64>::zeros(&[1])).is_err());
    assert_eq!(m.sum(), (1023 * 1024 / 2) as f64);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 128 + 8 * 1024);
    drop(m);
    npy::save(&p, &NdArray::<f64>::zeros(&[1])).unwrap();
    assert_eq!(npy::load::<f64>(&p).unwrap().to_vec(), vec![0.0]);
}

#[test]
fn a_read_write_map_excludes_every_other_map_of_the_file() {
    let dir = TempDir::new("excl");
    let p = dir.join("b.npy");
    npy::save(&p, &NdArray::<bool>::from_elem(&[64], true)).unwrap();
    let mut w = map::<bool>(&p, MmapMode::ReadWrite).unwrap();
    // Before: two read-write maps gave `&mut [T]` and `&[T]` over the same bytes, and a second map
    // of the file's bytes (`create_mmap::<u8>` over it, or another dtype's map) could write 7 into
    // the validated bool array. Now the claim is checked before anything else, dtype included.
    for mode in [
        MmapMode::ReadWrite,
        MmapMode::ReadOnly,
        MmapMode::CopyOnWrite,
    ] {
        let e = map::<u8>(&p, mode).unwrap_err();
        assert!(e.to_string().contains("mapped read-write"), "{mode:?}: {e}");
    }
    w.try_view_mut().unwrap().fill(false);
    assert_eq!(w.iter().filter(|&&b| b).count(), 0);
    drop(w);
    // Shared maps coexist, and exclude a read-write one while they live.
    let r = map::<bool>(&p, MmapMode::ReadOnly).unwrap();
    let c = map::<bool>(&p, MmapMode::CopyOnWrite).unwrap();
    assert!(map::<bool>(&p, MmapMode::ReadWrite).is_err());
    // SAFETY: the file is mapped; `create_mmap` must refuse before truncating it.
    assert!(unsafe { npy::create_mmap::<u8>(&p, &[64]) }.is_err());
    assert_eq!((r.len(), c.len()), (64, 64));
    drop((r, c));
    assert!(map::<bool>(&p, MmapMode::ReadWrite).is_ok());
}
