//! `ALLOC_TRACKER`: the run-time configuration, read once, lazily, with one warning line per mistake.
//!
//! The variable is a comma-separated list of `key=value` items (`off` may stand alone), e.g.
//! `ALLOC_TRACKER=frames=24,top=10,report=leaks.txt`. It is read with `getenv` on the first
//! allocation (or at exit, whichever comes first) under the re-entrancy guard: `std::env::var`
//! takes the environment lock, which a thread inside `set_var` may hold while it allocates.

use std::sync::OnceLock;

use crate::guard::Guard;

/// Stack depth captured by default.
pub const DEFAULT_FRAMES: usize = 32;
/// The deepest stack `frames=` accepts.
pub const MAX_FRAMES: usize = 64;
/// Callsites listed in a report by default.
pub const DEFAULT_TOP: usize = 10;

/// How stacks are captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unwind {
    /// Frame-pointer walk when this build forces frame pointers, DWARF otherwise.
    Auto,
    /// Frame-pointer walk.
    Fp,
    /// `backtrace::trace_unsynchronized` (DWARF unwind tables).
    Dwarf,
}

/// Where the exit report goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReportTo {
    Stderr,
    Off,
    Path(String),
}

/// The parsed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// Record nothing per callsite (global counters only).
    pub off: bool,
    /// Frames captured per stack, `1..=MAX_FRAMES`.
    pub frames: usize,
    pub unwind: Unwind,
    pub report: ReportTo,
    pub top: usize,
    pub leak_exit_code: Option<i32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            off: false,
            frames: DEFAULT_FRAMES,
            unwind: Unwind::Auto,
            report: ReportTo::Stderr,
            top: DEFAULT_TOP,
            leak_exit_code: None,
        }
    }
}

const ACCEPTED: &str = "off, frames=1..64, unwind=auto|fp|dwarf, report=stderr|off|<path>, top=<n>, leak_exit_code=0..255";

fn bad_value(key: &str, value: &str, accepted: &str) -> String {
    format!(
        "alloc-tracker: warning: ALLOC_TRACKER: bad value `{value}` for `{key}` (accepted: {accepted}); using the default"
    )
}

/// Parses an `ALLOC_TRACKER` value: the configuration and one warning line per bad item.
pub(crate) fn parse(text: &str) -> (Config, Vec<String>) {
    let mut cfg = Config::default();
    let mut warnings = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (item, None),
        };
        match (key, value) {
            ("off", None | Some("1" | "true" | "yes")) => cfg.off = true,
            ("off", Some("0" | "false" | "no")) => cfg.off = false,
            ("off", Some(v)) => warnings.push(bad_value(key, v, "off, off=true, off=false")),
            ("frames", Some(v)) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_FRAMES).contains(&n) => cfg.frames = n,
                _ => warnings.push(bad_value(key, v, "an integer 1..64")),
            },
            ("unwind", Some(v)) => match v {
                "auto" => cfg.unwind = Unwind::Auto,
                "fp" => cfg.unwind = Unwind::Fp,
                "dwarf" => cfg.unwind = Unwind::Dwarf,
                _ => warnings.push(bad_value(key, v, "auto, fp, dwarf")),
            },
            ("report", Some(v)) => match v {
                "stderr" => cfg.report = ReportTo::Stderr,
                "off" => cfg.report = ReportTo::Off,
                "" => warnings.push(bad_value(key, v, "stderr, off, <path>")),
                path => cfg.report = ReportTo::Path(path.to_owned()),
            },
            ("top", Some(v)) => match v.parse::<usize>() {
                Ok(n) => cfg.top = n,
                Err(_) => warnings.push(bad_value(key, v, "a non-negative integer")),
            },
            ("leak_exit_code", Some(v)) => match v.parse::<i32>() {
                Ok(n) if (0..=255).contains(&n) => cfg.leak_exit_code = Some(n),
                _ => warnings.push(bad_value(key, v, "an integer 0..255")),
            },
            ("frames" | "unwind" | "report" | "top" | "leak_exit_code", None) => {
                warnings.push(format!(
                    "alloc-tracker: warning: ALLOC_TRACKER: `{key}` needs a value (accepted: {ACCEPTED}); using the default"
                ))
            }
            _ => warnings.push(format!(
                "alloc-tracker: warning: ALLOC_TRACKER: unknown key `{key}` (accepted: {ACCEPTED}); ignored"
            )),
        }
    }
    (cfg, warnings)
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The configuration, read from `ALLOC_TRACKER` on first use (warnings go to stderr then).
///
/// Takes the guard as proof that the allocations made while parsing are the tracker's own.
#[inline]
pub(crate) fn get(_guard: &Guard) -> &'static Config {
    match CONFIG.get() {
        Some(cfg) => cfg,
        None => init(),
    }
}

#[cold]
#[inline(never)]
fn init() -> &'static Config {
    CONFIG.get_or_init(|| {
        let Some(text) = read_env() else {
            return Config::default();
        };
        let (cfg, warnings) = parse(&text);
        for w in warnings {
            crate::report::write_stderr(format!("{w}\n").as_bytes());
        }
        cfg
    })
}

/// `ALLOC_TRACKER` through `getenv`, without std's environment lock (see the module docs).
fn read_env() -> Option<String> {
    // SAFETY: the name is a NUL-terminated literal; getenv returns null or a NUL-terminated string
    // owned by the environment, which we copy at once. (A concurrent `setenv` is the one hazard,
    // the same one every C library reading its configuration accepts.)
    unsafe {
        let value = libc::getenv(c"ALLOC_TRACKER".as_ptr());
        if value.is_null() {
            return None;
        }
        Some(
            core::ffi::CStr::from_ptr(value)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_default() {
        assert_eq!(parse(""), (Config::default(), vec![]));
    }

    #[test]
    fn full_line() {
        let (cfg, warnings) =
            parse("frames=24,top=3,report=leaks.txt,unwind=dwarf,leak_exit_code=23,off");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cfg.frames, 24);
        assert_eq!(cfg.top, 3);
        assert_eq!(cfg.report, ReportTo::Path("leaks.txt".into()));
        assert_eq!(cfg.unwind, Unwind::Dwarf);
        assert_eq!(cfg.leak_exit_code, Some(23));
        assert!(cfg.off);
    }

    #[test]
    fn each_mistake_is_one_warning_naming_it() {
        let (cfg, warnings) = parse("frames=0,colour=red,unwind=magic,top,frames=12");
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].contains("`0` for `frames`"));
        assert!(warnings[1].contains("unknown key `colour`"));
        assert!(warnings[2].contains("`magic` for `unwind`") && warnings[2].contains("dwarf"));
        assert!(warnings[3].contains("`top` needs a value"));
        assert!(warnings.iter().all(|w| !w.contains('\n')));
        assert_eq!(cfg.frames, 12);
        assert_eq!(cfg.unwind, Unwind::Auto);
    }
}
