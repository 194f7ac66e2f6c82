//! Symbolization, at report time only: return address -> frames (`function at file:line:col`),
//! cached per address, and the trimming that finds a callsite's first frame outside the
//! allocation machinery.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

/// One resolved frame of a callsite's stack (inlined calls give one frame each).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The demangled function name, without its hash (`0x…` when the address has no symbol).
    pub function: String,
    /// The source file, relative to the current directory when it lies below it.
    pub file: Option<String>,
    /// The line in `file`.
    pub line: Option<u32>,
    /// The column in `line`.
    pub column: Option<u32>,
}

impl fmt::Display for Frame {
    /// `function at file:line:col`, or as much of it as is known. Generic arguments are left out
    /// of the function name (`fold<core::ops::range::Range<usize>, …>` shows as `fold`): the
    /// file and line say which instance it was.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_without_generics(f, &self.function)?;
        if let Some(file) = &self.file {
            write!(f, " at {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(col) = self.column {
                    write!(f, ":{col}")?;
                }
            }
        }
        Ok(())
    }
}

impl Frame {
    /// The function's name without generic arguments, as [`Display`](fmt::Display) shows it
    /// before ` at file:line` (for the exports' frame names).
    pub(crate) fn name_without_generics(&self) -> String {
        let mut name = String::with_capacity(self.function.len());
        let _ = write_without_generics(&mut name, &self.function);
        name
    }
}

/// Writes `name` without the generic argument lists that follow a name (`Vec<u8>::new` ->
/// `Vec::new`) or a turbofish (`try_with::<F, R>` -> `try_with`); a `<` that opens a qualified
/// path (`<T as Trait>::f`, `impls::<impl FnOnce for &F>::call_once`) is kept.
fn write_without_generics(f: &mut impl fmt::Write, name: &str) -> fmt::Result {
    let mut depth = 0usize;
    let mut prev = ' ';
    // A `::` seen outside generics and not yet written: it is dropped if a turbofish follows.
    let mut colons = false;
    for (i, c) in name.char_indices() {
        let turbofish = colons && !name[i + 1..].starts_with("impl ");
        match c {
            '<' if depth > 0 || prev.is_alphanumeric() || prev == '_' || prev == '}' => depth += 1,
            '<' if turbofish => {
                depth += 1;
                colons = false;
            }
            // The `>` of a `->` inside generics (`impl Fn(f64) -> f64`) closes nothing.
            '>' if depth > 0 && prev != '-' => depth -= 1,
            _ if depth > 0 => {}
            ':' if prev == ':' && !colons => colons = true,
            ':' if name[i + 1..].starts_with(':') => {}
            _ => {
                if colons {
                    f.write_str("::")?;
                    colons = false;
                }
                f.write_char(c)?;
            }
        }
        prev = c;
    }
    if colons {
        f.write_str("::")?;
    }
    Ok(())
}

/// Frames per return address, innermost (inlined) first. The tracker's own memory.
type Cache = BTreeMap<usize, Vec<Frame>>;
static CACHE: Mutex<Cache> = Mutex::new(BTreeMap::new());

fn lock() -> std::sync::MutexGuard<'static, Cache> {
    CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Resolves every address of `stack` not yet cached. Call under the guard.
pub(crate) fn fill(stack: &[usize]) {
    let mut cache = lock();
    let cwd = std::env::current_dir().ok();
    for &ip in stack {
        if cache.contains_key(&ip) {
            continue;
        }
        let mut frames = Vec::new();
        backtrace::resolve(ip as *mut core::ffi::c_void, |sym| {
            let function = match sym.name() {
                Some(name) => format!("{name:#}"),
                None => format!("{ip:#x}"),
            };
            let file = sym.filename().map(|path| {
                let shown = cwd
                    .as_deref()
                    .and_then(|cwd| path.strip_prefix(cwd).ok())
                    .unwrap_or(path);
                shorten_std(&shown.display().to_string())
            });
            frames.push(Frame {
                function,
                file,
                line: sym.lineno(),
                column: sym.colno(),
            });
        });
        if frames.is_empty() {
            frames.push(Frame {
                function: format!("{ip:#x}"),
                file: None,
                line: None,
                column: None,
            });
        }
        cache.insert(ip, frames);
    }
}

/// `/rustc/<hash>/library/std/src/x.rs` -> `library/std/src/x.rs`.
fn shorten_std(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/rustc/")
        && let Some((_hash, tail)) = rest.split_once('/')
    {
        return tail.to_owned();
    }
    path.to_owned()
}

/// Whether a frame belongs to the allocation machinery (std's alloc/raw_vec/collections growth
/// paths, formatting into a growing `String`, hash tables, `alloc-core`, `alloc-tracker`).
pub(crate) fn is_machinery(function: &str) -> bool {
    const PREFIXES: [&str; 14] = [
        "alloc::",
        "core::",
        "std::collections::",
        "std::alloc::",
        "std::sys::alloc",
        "hashbrown::",
        "alloc_tracker::",
        "alloc_core::",
        "tikv_jemallocator::",
        "__rustc::",
        "__rust_",
        "__rdl_",
        "__rg_",
        "_ZN",
    ];
    let name = function.strip_prefix('<').unwrap_or(function);
    PREFIXES.iter().any(|p| name.starts_with(p))
        || function.contains(" as alloc::")
        || function.contains(" as core::alloc")
}

/// Source files of the allocation machinery. Release builds (`debug = "line-tables-only"`) name
/// inlined frames without their module path (`capture`, `finish_grow`), so the file decides for
/// them: the tracker's own code, `alloc-core`, std's `alloc`/`core` and collections, hashbrown.
const MACHINERY_FILES: [&str; 8] = [
    "alloc-tracker/src/",
    "alloc-core/src/",
    "library/alloc/src/",
    "library/core/src/",
    "library/std/src/alloc.rs",
    "library/std/src/collections/",
    "library/std/src/sys/alloc/",
    "/hashbrown-",
];

/// Whether a resolved frame belongs to the allocation machinery, by name or by source file.
fn is_machinery_frame(frame: &Frame) -> bool {
    is_machinery(&frame.function)
        || frame
            .file
            .as_deref()
            .is_some_and(|file| MACHINERY_FILES.iter().any(|m| file.contains(m)))
}

/// Whether a frame is where the runtime hands over to user code (nothing below it is shown).
/// Inlined into `main`'s caller in release builds, these frames carry their short names.
fn is_runtime_entry(function: &str) -> bool {
    function.starts_with("std::sys::backtrace::__rust_begin_short_backtrace")
        || function.starts_with("std::rt::lang_start")
        || function.starts_with("__rust_begin_short_backtrace")
        || function.starts_with("lang_start")
}

/// The `FnOnce::call_once` shims just above the runtime's entry.
fn is_call_shim(frame: &Frame) -> bool {
    frame.function.starts_with("core::ops::function::")
        || frame
            .file
            .as_deref()
            .is_some_and(|file| file.ends_with("library/core/src/ops/function.rs"))
}

/// Whether any frame of `stack`, untrimmed, satisfies `pred`. Frames must have been [`fill`]ed.
pub(crate) fn any_frame(stack: &[usize], mut pred: impl FnMut(&Frame) -> bool) -> bool {
    let cache = lock();
    stack
        .iter()
        .filter_map(|ip| cache.get(ip))
        .flat_map(|frames| frames.iter())
        .any(&mut pred)
}

/// Calls `f` on each frame of `stack` after trimming: the leading machinery frames and everything
/// from the runtime's entry on (plus the `FnOnce::call_once` shims just above it) are left out.
/// Frames must have been [`fill`]ed. Allocates nothing itself.
pub(crate) fn for_each_trimmed(stack: &[usize], mut f: impl FnMut(&Frame)) {
    let cache = lock();
    let Some((start, end)) = trimmed_range(&cache, stack) else {
        return;
    };
    all_frames(&cache, stack)
        .take(end)
        .skip(start)
        .for_each(&mut f);
}

/// As [`for_each_trimmed`], one return address at a time: `f` gets each address that keeps at
/// least one frame, with its kept frames (innermost inlined first; trimming may keep only part of
/// an address's inlined frames). For writers that need addresses, as pprof's locations do.
pub(crate) fn for_each_trimmed_address(stack: &[usize], mut f: impl FnMut(usize, &[Frame])) {
    let cache = lock();
    let Some((start, end)) = trimmed_range(&cache, stack) else {
        return;
    };
    let mut first = 0; // index, over all frames of `stack`, of this address's first frame
    for &ip in stack {
        let Some(frames) = cache.get(&ip) else {
            continue;
        };
        let (lo, hi) = (start.max(first), end.min(first + frames.len()));
        if lo < hi {
            f(ip, &frames[lo - first..hi - first]);
        }
        first += frames.len();
    }
}

/// Every cached frame of `stack`, innermost first.
fn all_frames<'c>(cache: &'c Cache, stack: &'c [usize]) -> impl Iterator<Item = &'c Frame> + 'c {
    stack
        .iter()
        .filter_map(|ip| cache.get(ip))
        .flat_map(|frames| frames.iter())
}

/// The frames [`for_each_trimmed`] keeps, as `start..end` over [`all_frames`] (`end` may be
/// `usize::MAX`: to the last frame); `None` when every frame is machinery.
fn trimmed_range(cache: &Cache, stack: &[usize]) -> Option<(usize, usize)> {
    let all = || all_frames(cache, stack);
    let start = all().position(|fr| !is_machinery_frame(fr))?;
    let mut end = all()
        .skip(start)
        .position(|fr| is_runtime_entry(&fr.function))
        .map_or(usize::MAX, |p| p + start);
    if end != usize::MAX {
        while end > start + 1 && all().nth(end - 1).is_some_and(is_call_shim) {
            end -= 1;
        }
    }
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machinery_names() {
        for name in [
            "alloc::raw_vec::RawVecInner<A>::finish_grow",
            "<alloc::string::String as core::fmt::Write>::write_str",
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
            "__rust_alloc",
            "__rustc::__rust_alloc_zeroed",
            "alloc_tracker::record::alloc",
            "std::collections::hash::map::HashMap<K,V,S>::insert",
        ] {
            assert!(is_machinery(name), "{name}");
        }
        for name in [
            "leak_named::leak_some",
            "<my::Thing as core::clone::Clone>::clone",
        ] {
            assert!(!is_machinery(name), "{name}");
        }
    }

    #[test]
    fn machinery_files_decide_for_short_inlined_names() {
        let frame = |function: &str, file: &str| Frame {
            function: function.into(),
            file: Some(file.into()),
            line: Some(1),
            column: Some(1),
        };
        assert!(is_machinery_frame(&frame(
            "capture",
            "alloc-tracker/src/capture.rs"
        )));
        assert!(is_machinery_frame(&frame(
            "alloc",
            "library/alloc/src/alloc.rs"
        )));
        assert!(is_machinery_frame(&frame(
            "do_alloc<alloc::alloc::Global>",
            "/rust/deps/hashbrown-0.16.1/src/raw/alloc.rs"
        )));
        assert!(is_machinery_frame(&frame("__rust_alloc", "src/main.rs")));
        assert!(!is_machinery_frame(&frame(
            "remember",
            "demo-arrays/src/bin/tour/lesson6.rs"
        )));
    }

    #[test]
    fn display_is_function_at_file_line_col() {
        let f = Frame {
            function: "a::b".into(),
            file: Some("src/a.rs".into()),
            line: Some(3),
            column: Some(9),
        };
        assert_eq!(f.to_string(), "a::b at src/a.rs:3:9");
        let generic = Frame {
            function: "fold<core::ops::range::Range<usize>, f64, {closure_env#0}<u8>>".into(),
            ..f.clone()
        };
        assert_eq!(generic.to_string(), "fold at src/a.rs:3:9");
        // A `->` inside the generics closes nothing (the tour's release report read
        // `try_zip_map f64> at …` before).
        let arrow = Frame {
            function: "try_zip_map<f64, f64, demo::add<impl Fn(f64, f64) -> f64>::{closure#0}>"
                .into(),
            ..f.clone()
        };
        assert_eq!(arrow.to_string(), "try_zip_map at src/a.rs:3:9");
        let turbofish = Frame {
            function: "std::thread::current::try_with_current::<std::thread::a::{closure#0}, core::option::Option>::{closure#0}".into(),
            file: None,
            ..f.clone()
        };
        assert_eq!(
            turbofish.to_string(),
            "std::thread::current::try_with_current::{closure#0}"
        );
        let impl_path = Frame {
            function: "core::ops::function::impls::<impl core::ops::function::FnOnce<A> for &mut F>::call_once".into(),
            file: None,
            ..f.clone()
        };
        assert_eq!(
            impl_path.name_without_generics(),
            "core::ops::function::impls::<impl core::ops::function::FnOnce for &mut F>::call_once"
        );
        let qualified = Frame {
            function: "<alloc::vec::Vec<u8> as core::clone::Clone>::clone".into(),
            file: None,
            ..f
        };
        assert_eq!(
            qualified.to_string(),
            "<alloc::vec::Vec as core::clone::Clone>::clone"
        );
        assert_eq!(
            shorten_std("/rustc/abc123/library/std/src/rt.rs"),
            "library/std/src/rt.rs"
        );
    }
}
