//! `ALLOC_TRACKER`: the run-time configuration, read once, lazily, with one warning line per mistake.
//!
//! The variable is a comma-separated list of `key=value` items (`off` may stand alone), e.g.
//! `ALLOC_TRACKER=frames=24,top=10,report=leaks.txt`. It is read with `getenv` on the first
//! allocation (or at exit, whichever comes first) under the re-entrancy guard: `std::env::var`
//! takes the environment lock, which a thread inside `set_var` may hold while it allocates.

use std::sync::OnceLock;

use crate::guard::Guard;

/// Frames shown per stack by default, counted outside the allocation machinery.
pub const DEFAULT_FRAMES: usize = 16;
/// The most frames `frames=` accepts.
pub const MAX_FRAMES: usize = 64;
/// Frames captured beyond `frames=` for the allocation machinery above the callsite (std's
/// `RawVec` growth path, `Tracked`'s own frames: up to 11 in a debug build, 2 in release).
pub const MACHINERY_FRAMES: usize = 16;
/// The deepest stack ever captured.
pub const CAPTURE_MAX: usize = MAX_FRAMES + MACHINERY_FRAMES;
/// Callsites listed in a report by default.
pub const DEFAULT_TOP: usize = 10;

/// How stacks are captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unwind {
    /// Frame-pointer walk when this build forces frame pointers, DWARF otherwise.
    Auto,
    /// Frame-pointer walk; in a build without frame pointers, DWARF (and one warning when
    /// `ALLOC_TRACKER` is read).
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

/// A set of leak classes (`show=`, `fail_on=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Classes {
    pub direct: bool,
    pub indirect: bool,
    pub reachable: bool,
}

impl Classes {
    /// Direct and indirect: the default of `show` and `fail_on`.
    pub(crate) const LEAKS: Classes = Classes {
        direct: true,
        indirect: true,
        reachable: false,
    };

    fn parse(value: &str) -> Option<Classes> {
        let mut c = Classes {
            direct: false,
            indirect: false,
            reachable: false,
        };
        for name in value.split(['+', ';', ' ', '|']).filter(|n| !n.is_empty()) {
            match name {
                "direct" => c.direct = true,
                "indirect" => c.indirect = true,
                "reachable" => c.reachable = true,
                "all" => {
                    c = Classes {
                        direct: true,
                        indirect: true,
                        reachable: true,
                    }
                }
                "none" => {}
                _ => return None,
            }
        }
        Some(c)
    }
}

/// The parsed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// Record nothing per callsite (global counters only).
    pub off: bool,
    /// Frames shown per stack, `1..=MAX_FRAMES`, outside the allocation machinery.
    pub frames: usize,
    /// Show every frame (`stacks=full`) instead of folding runs of library frames.
    pub stacks_full: bool,
    pub unwind: Unwind,
    pub report: ReportTo,
    pub top: usize,
    pub leak_exit_code: Option<i32>,
    /// Classify live blocks by reachability at exit (`scan=on`, the default).
    pub scan: bool,
    /// Classes listed callsite by callsite in the report.
    pub show: Classes,
    /// Classes that make `leak_exit_code` fire.
    pub fail_on: Classes,
    /// A LeakSanitizer-style suppressions file.
    pub suppressions: Option<String>,
    /// Exports written at exit (`%p` is the pid): gzipped pprof, DHAT JSON, an SVG flame graph.
    pub pprof: Option<String>,
    pub dhat: Option<String>,
    pub flamegraph: Option<String>,
    /// What the exit flame graph measures.
    pub flamegraph_of: FlameOf,
    /// Sampled mode: the mean bytes between samples (`sample=`); 0 records every block.
    pub sample: u64,
    /// Seconds between the profiles written to `pprof` by a background thread (`pprof_every=`).
    pub pprof_every: Option<u64>,
}

/// The metric of the exit flame graph (`flamegraph_of=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlameOf {
    /// Bytes live at the heap's peak (t-gmax), the default.
    Peak,
    /// Bytes live at exit.
    Exit,
    /// Bytes allocated in total.
    Total,
}

impl Config {
    /// Frames to capture: those shown, plus room for the allocation machinery above them.
    #[inline]
    pub(crate) fn capture_depth(&self) -> usize {
        (self.frames + MACHINERY_FRAMES).min(CAPTURE_MAX)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            off: false,
            frames: DEFAULT_FRAMES,
            stacks_full: false,
            unwind: Unwind::Auto,
            report: ReportTo::Stderr,
            top: DEFAULT_TOP,
            leak_exit_code: None,
            scan: true,
            show: Classes::LEAKS,
            fail_on: Classes::LEAKS,
            suppressions: None,
            pprof: None,
            dhat: None,
            flamegraph: None,
            flamegraph_of: FlameOf::Peak,
            sample: 0,
            pprof_every: None,
        }
    }
}

const ACCEPTED: &str = "off, frames=1..64, stacks=folded|full, unwind=auto|fp|dwarf, report=stderr|off|<path>, top=<n>, leak_exit_code=0..255, scan=on|off, show=<classes>, fail_on=<classes>, suppressions=<file>, pprof=<path>, dhat=<path>, flamegraph=<path>, flamegraph_of=peak|exit|total, sample=<bytes>, pprof_every=<seconds>";
const CLASSES: &str =
    "direct, indirect, reachable, joined with `+` (e.g. `direct+indirect`), or all, none";

fn bad_value(key: &str, value: &str, accepted: &str) -> String {
    format!(
        "alloc-tracker: warning: ALLOC_TRACKER: bad value `{value}` for `{key}` (accepted: {accepted}); using the default"
    )
}

/// The warning for `unwind=fp` in a build without frame pointers.
const FP_WITHOUT_FRAME_POINTERS: &str = "alloc-tracker: warning: ALLOC_TRACKER: `unwind=fp` but this build has no frame pointers (build with RUSTFLAGS=\"-C force-frame-pointers=yes\"); stacks are unwound by DWARF instead";

/// Parses an `ALLOC_TRACKER` value: the configuration and one warning line per bad item.
///
/// `unwind=fp` in a build without frame pointers also warns: the capture falls back to the
/// DWARF walk there, which costs several times more per allocation, and the user asked for the
/// cheap one. (`cfg(alloc_tracker_fp)` is what `capture::FRAME_POINTERS` reads; read here
/// directly so that `config` stays below `capture` in the layers.)
pub(crate) fn parse(text: &str) -> (Config, Vec<String>) {
    parse_for(text, cfg!(alloc_tracker_fp))
}

/// [`parse`] for a build that has frame pointers or not.
fn parse_for(text: &str, frame_pointers: bool) -> (Config, Vec<String>) {
    let (cfg, mut warnings) = parse_items(text);
    if cfg.unwind == Unwind::Fp && !frame_pointers {
        warnings.push(FP_WITHOUT_FRAME_POINTERS.to_owned());
    }
    (cfg, warnings)
}

/// The items of an `ALLOC_TRACKER` value, one warning line per bad item.
fn parse_items(text: &str) -> (Config, Vec<String>) {
    let mut cfg = Config::default();
    let mut warnings = Vec::new();
    // `show=direct,indirect,reachable`: the list's own commas also separate class names, so a
    // bare class name continues the `show` or `fail_on` item before it.
    let mut classes_key: Option<&str> = None;
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (item, None),
        };
        if value.is_none()
            && let Some(list) = classes_key
            && let Some(more) = Classes::parse(key)
        {
            let set = if list == "show" {
                &mut cfg.show
            } else {
                &mut cfg.fail_on
            };
            set.direct |= more.direct;
            set.indirect |= more.indirect;
            set.reachable |= more.reachable;
            continue;
        }
        classes_key = match key {
            "show" | "fail_on" if value.is_some() => Some(key),
            _ => None,
        };
        match (key, value) {
            ("off", None | Some("1" | "true" | "yes")) => cfg.off = true,
            ("off", Some("0" | "false" | "no")) => cfg.off = false,
            ("off", Some(v)) => warnings.push(bad_value(key, v, "off, off=true, off=false")),
            ("frames", Some(v)) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_FRAMES).contains(&n) => cfg.frames = n,
                _ => warnings.push(bad_value(key, v, "an integer 1..64")),
            },
            ("stacks", Some(v)) => match v {
                "folded" => cfg.stacks_full = false,
                "full" => cfg.stacks_full = true,
                _ => warnings.push(bad_value(key, v, "folded, full")),
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
            ("scan", Some(v)) => match v {
                "on" | "1" | "true" | "yes" => cfg.scan = true,
                "off" | "0" | "false" | "no" => cfg.scan = false,
                _ => warnings.push(bad_value(key, v, "on, off")),
            },
            ("show", Some(v)) => match Classes::parse(v) {
                Some(c) => cfg.show = c,
                None => warnings.push(bad_value(key, v, CLASSES)),
            },
            ("fail_on", Some(v)) => match Classes::parse(v) {
                Some(c) => cfg.fail_on = c,
                None => warnings.push(bad_value(key, v, CLASSES)),
            },
            ("suppressions", Some(v)) if !v.is_empty() => cfg.suppressions = Some(v.to_owned()),
            ("pprof", Some(v)) if !v.is_empty() => cfg.pprof = Some(v.to_owned()),
            ("dhat", Some(v)) if !v.is_empty() => cfg.dhat = Some(v.to_owned()),
            ("flamegraph", Some(v)) if !v.is_empty() => cfg.flamegraph = Some(v.to_owned()),
            ("flamegraph_of", Some(v)) => match v {
                "peak" => cfg.flamegraph_of = FlameOf::Peak,
                "exit" => cfg.flamegraph_of = FlameOf::Exit,
                "total" => cfg.flamegraph_of = FlameOf::Total,
                _ => warnings.push(bad_value(key, v, "peak, exit, total")),
            },
            ("sample", Some(v)) => match parse_bytes(v) {
                Some(n) => cfg.sample = n,
                None => warnings.push(bad_value(
                    key,
                    v,
                    "a mean number of bytes between samples: an integer, optionally with KiB or MiB (e.g. 512KiB), 0 for exact",
                )),
            },
            ("pprof_every", Some(v)) => match v.parse::<u64>() {
                Ok(n) if n > 0 => cfg.pprof_every = Some(n),
                _ => warnings.push(bad_value(key, v, "a whole number of seconds, 1 or more")),
            },
            (
                "frames" | "stacks" | "unwind" | "report" | "top" | "leak_exit_code" | "scan" | "show"
                | "fail_on" | "suppressions" | "pprof" | "dhat" | "flamegraph" | "flamegraph_of"
                | "sample" | "pprof_every",
                _,
            ) => {
                warnings.push(format!(
                    "alloc-tracker: warning: ALLOC_TRACKER: `{key}` needs a value (accepted: {ACCEPTED}); using the default"
                ))
            }
            _ => warnings.push(format!(
                "alloc-tracker: warning: ALLOC_TRACKER: unknown key `{key}` (accepted: {ACCEPTED}); ignored"
            )),
        }
    }
    if cfg.off {
        // Nothing is recorded per callsite: there is nothing to sample.
        cfg.sample = 0;
    }
    if cfg.pprof_every.is_some() && cfg.pprof.is_none() {
        warnings.push(
            "alloc-tracker: warning: ALLOC_TRACKER: `pprof_every` needs `pprof=<path>` (where to write; %p is the pid, %n the sequence number); no periodic profiles".to_owned(),
        );
        cfg.pprof_every = None;
    }
    (cfg, warnings)
}

/// `524288`, `512KiB`, `512 KiB`, `1MiB` -> bytes (`K`/`M`, `KB`/`MB` and lower case read as
/// binary units too); `None` for anything else or on overflow.
fn parse_bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().ok()?;
    let shift = match v[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        _ => return None,
    };
    n.checked_mul(1 << shift)
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
            crate::output::write_stderr(format!("{w}\n").as_bytes());
        }
        if cfg.sample != 0 {
            // Before any block is recorded: every block is judged by the same mode.
            crate::table::set_sampled();
            crate::sample::set_rate(cfg.sample);
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
    fn class_lists_take_the_lists_own_commas() {
        let (cfg, warnings) = parse(
            "show=direct,indirect,reachable,top=3,fail_on=direct,scan=off,suppressions=s.txt",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(cfg.show.direct && cfg.show.indirect && cfg.show.reachable);
        assert_eq!(
            (
                cfg.fail_on.direct,
                cfg.fail_on.indirect,
                cfg.fail_on.reachable
            ),
            (true, false, false)
        );
        assert_eq!(cfg.top, 3);
        assert!(!cfg.scan);
        assert_eq!(cfg.suppressions.as_deref(), Some("s.txt"));
        let (cfg, warnings) = parse("show=reachable+direct,fail_on=purple");
        assert!(cfg.show.reachable && cfg.show.direct && !cfg.show.indirect);
        assert_eq!(cfg.fail_on, Classes::LEAKS);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("`purple` for `fail_on`"),
            "{warnings:?}"
        );
        // A bare class name with no list before it is an unknown key.
        assert_eq!(parse("direct").1.len(), 1);
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

    #[test]
    fn sample_rates_and_periodic_profiles() {
        for (text, want) in [
            ("sample=524288", 524_288),
            ("sample=512KiB", 524_288),
            ("sample=512 KiB", 524_288),
            ("sample=1MiB", 1 << 20),
            ("sample=4k", 4096),
            ("sample=0", 0),
        ] {
            let (cfg, warnings) = parse(text);
            assert!(warnings.is_empty(), "{text}: {warnings:?}");
            assert_eq!(cfg.sample, want, "{text}");
        }
        assert_eq!(Config::default().sample, 0, "exact without the key");
        for bad in [
            "sample=lots",
            "sample=1GiB5",
            "sample=-1",
            "sample=99999999999999999999MiB",
        ] {
            let (cfg, warnings) = parse(bad);
            assert_eq!(cfg.sample, 0, "{bad}");
            assert_eq!(warnings.len(), 1, "{bad}: {warnings:?}");
            assert!(warnings[0].contains("for `sample`") && warnings[0].contains("KiB"));
        }
        let (cfg, warnings) = parse("sample=512KiB,pprof_every=30,pprof=heap.%p.%n.pb.gz");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cfg.pprof_every, Some(30));
        let (cfg, warnings) = parse("pprof_every=30");
        assert_eq!(cfg.pprof_every, None);
        assert!(warnings[0].contains("needs `pprof=<path>`"), "{warnings:?}");
        assert_eq!(parse("pprof_every=0").1.len(), 1);
    }

    #[test]
    fn unwind_fp_without_frame_pointers_warns_once() {
        let (cfg, warnings) = parse_for("unwind=fp,frames=8", false);
        assert_eq!(cfg.unwind, Unwind::Fp);
        assert_eq!(warnings, [FP_WITHOUT_FRAME_POINTERS]);
        assert!(warnings[0].contains("force-frame-pointers=yes") && warnings[0].contains("DWARF"));
        // The last `unwind=` wins, and only the outcome warns: once, not per item.
        assert_eq!(parse_for("unwind=fp,unwind=fp", false).1.len(), 1);
        assert!(parse_for("unwind=fp,unwind=dwarf", false).1.is_empty());
        assert!(parse_for("unwind=fp", true).1.is_empty());
        assert!(parse_for("unwind=auto", false).1.is_empty());
        assert!(parse_for("", false).1.is_empty());
        // This build: a warning exactly when it lacks frame pointers.
        assert_eq!(
            parse("unwind=fp").1.is_empty(),
            crate::capture::FRAME_POINTERS
        );
    }
}
