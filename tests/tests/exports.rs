//! The exports of one snapshot, read by the real tools their users open them with:
//! `src/bin/export_known.rs` makes known allocations (`integration_tests::export_known`) and
//! writes every export through the API; these tests check what the tools make of the files.
//!
//! - pprof: `go tool pprof -top` for each of the four sample types gives each known callsite's
//!   figure exactly, by function name. Go must be installed (Debian `golang-go`; `.ci/run`
//!   installs it): without it these tests fail, they do not skip.
//! - folded stacks and flame graphs: the folded lines of each metric sum to the heap's figure
//!   (peak, live) and give each known callsite its bytes; the SVG parses (Python's
//!   `xml.dom.minidom`) and names the peak's owner with its bytes; headless Chromium renders it
//!   (its DOM after the SVG's own script laid the names out shows `export_known::spike` in full)
//!   and its screenshot, kept as `target/tmp/shots/flame-peak.png`, has the frames' colour and text.
//! - diff: `Snapshot::diff` between a snapshot taken after `holder` and the final one names the
//!   pages (+2 048 000 bytes, +500 blocks), then the held block, largest first, and neither the
//!   freed spike nor the holder, which did not grow.
//! - DHAT: valgrind's own viewer code (`/usr/libexec/valgrind/dh_view.js`, shipped with valgrind)
//!   loads the JSON under node (`dh_view_harness.js` stands in for the browser's DOM) without an
//!   error; the tree it builds has t-gmax and t-end bytes equal to the heap's peak and live bytes
//!   and each known callsite's figures, and the page it draws states them. Headless Chromium then
//!   shows the real `dh_view.html`'s script and style on the file: `target/tmp/shots/dhat-viewer.png`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use integration_tests::child::run_within;
use integration_tests::export_known::{
    HOLDER_BYTES, KEEP_BYTES, PAGE_BYTES, PAGES, PAGES_FREED, SPIKE_BYTES,
};

const EXPORT_KNOWN: &str = env!("CARGO_BIN_EXE_export_known");

/// A child or a tool that has not exited after this long is taken to hang.
const LIMIT: Duration = Duration::from_secs(120);

/// The files one run of `export_known` wrote, and the snapshot's global figures it printed.
struct Known {
    dir: PathBuf,
    /// Live bytes when the snapshot was taken.
    live: u64,
    /// The heap's peak (t-gmax) bytes.
    peak: u64,
    /// `Snapshot::diff` from the snapshot taken after `holder`: function, bytes, blocks gained.
    grew: Vec<(String, u64, i64)>,
}

impl Known {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Runs `export_known` once per test process, writing every export into a fresh directory.
fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exports");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(EXPORT_KNOWN);
        cmd.env("ALLOC_TRACKER", "report=off");
        for (key, file) in [
            ("pprof", "heap.pb.gz"),
            ("dhat", "dhat.json"),
            ("folded_peak", "peak.folded"),
            ("folded_exit", "exit.folded"),
            ("folded_total", "total.folded"),
            ("svg_peak", "peak.svg"),
            ("svg_exit", "exit.svg"),
        ] {
            cmd.arg(format!("{key}={}", dir.join(file).display()));
        }
        let out = run_within(cmd, None, LIMIT, "export_known");
        assert!(out.status.success(), "export_known failed:\n{}", out.stderr);
        let line = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("heap "))
            .unwrap_or_else(|| panic!("no heap line:\n{}", out.stdout));
        let figure = |key: &str| -> u64 {
            line.split(' ')
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {key}= in {line}"))
        };
        let grew = out
            .stdout
            .lines()
            .filter_map(|l| {
                let mut words = l.strip_prefix("grew ")?.split(' ');
                let function = words.next()?.to_owned();
                Some((
                    function,
                    words.next()?.parse().ok()?,
                    words.next()?.parse().ok()?,
                ))
            })
            .collect();
        Known {
            grew,
            live: figure("live"),
            peak: figure("peak"),
            dir,
        }
    })
}

/// Runs a tool, failing (not skipping) when it is not installed.
fn tool(program: &str, args: &[&str], install: &str) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if Command::new(program).arg("--version").output().is_err()
        && Command::new(program).arg("version").output().is_err()
    {
        panic!("`{program}` is not installed: {install} (.ci/run does)");
    }
    let out = run_within(cmd, None, LIMIT, program);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// The 1-based line of `src/bin/export_known.rs` that contains `needle`.
fn line_of(needle: &str) -> usize {
    let path = format!("{}/src/bin/export_known.rs", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(path).unwrap();
    1 + source.lines().position(|l| l.contains(needle)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// pprof

/// `go tool pprof -top` of the profile for one sample type: every function's flat figure, and
/// the total the header states.
fn pprof_top(sample_index: &str) -> (HashMap<String, u64>, u64, String) {
    let file = known().path("heap.pb.gz");
    let index = format!("-sample_index={sample_index}");
    let mut args = vec!["tool", "pprof", "-top", "-nodefraction=0", &index];
    if sample_index.ends_with("_space") {
        args.push("-unit=byte"); // exact figures, not "1.95MB"
    }
    args.push(file.to_str().unwrap());
    let text = tool("go", &args, "apt-get install golang-go");
    let flat = integration_tests::pprof::flat_by_function(&text);
    let total = integration_tests::pprof::total(&text);
    (flat, total, text)
}

/// Checks one sample type's figures for the known callsites (`None`: absent or zero).
fn check_pprof(sample_index: &str, expect: [(&str, u64); 4]) {
    let (flat, total, text) = pprof_top(sample_index);
    assert!(
        text.contains(&format!("Type: {sample_index}")),
        "sample type not shown:\n{text}"
    );
    for (function, figure) in expect {
        let name = format!("export_known::{function}");
        assert_eq!(
            flat.get(&name).copied().unwrap_or(0),
            figure,
            "{sample_index} of {name}:\n{text}"
        );
        if figure > 0 {
            assert!(text.contains(&name), "{name} missing:\n{text}");
        }
    }
    if sample_index == "inuse_space" {
        assert_eq!(
            total,
            known().live,
            "inuse_space total is the live heap\n{text}"
        );
    }
}

#[test]
fn pprof_inuse_space_is_exact_per_function() {
    let pages_live = (PAGES - PAGES_FREED) * PAGE_BYTES;
    check_pprof(
        "inuse_space",
        [
            ("page", pages_live),
            ("keep", KEEP_BYTES),
            ("holder", HOLDER_BYTES),
            ("spike", 0),
        ],
    );
}

#[test]
fn pprof_inuse_objects_is_exact_per_function() {
    check_pprof(
        "inuse_objects",
        [
            ("page", PAGES - PAGES_FREED),
            ("keep", 1),
            ("holder", 1),
            ("spike", 0),
        ],
    );
}

#[test]
fn pprof_alloc_space_is_exact_per_function() {
    check_pprof(
        "alloc_space",
        [
            ("page", PAGES * PAGE_BYTES),
            ("keep", KEEP_BYTES),
            ("holder", HOLDER_BYTES),
            ("spike", SPIKE_BYTES),
        ],
    );
}

#[test]
fn pprof_alloc_objects_is_exact_per_function() {
    check_pprof(
        "alloc_objects",
        [("page", PAGES), ("keep", 1), ("holder", 1), ("spike", 1)],
    );
}

#[test]
fn pprof_default_sample_type_is_inuse_space_and_mappings_carry_build_ids() {
    let file = known().path("heap.pb.gz");
    let text = tool(
        "go",
        &["tool", "pprof", "-top", file.to_str().unwrap()],
        "apt-get install golang-go",
    );
    assert!(text.contains("Type: inuse_space"), "{text}");
    // Locations carry file:line: `-lines` shows them without the binary.
    let lines = tool(
        "go",
        &["tool", "pprof", "-top", "-lines", file.to_str().unwrap()],
        "apt-get install golang-go",
    );
    let page_line = format!(
        "export_known::page src/bin/export_known.rs:{}",
        line_of("vec![1u8; PAGE_BYTES as usize]")
    );
    assert!(lines.contains(&page_line), "no {page_line:?} in\n{lines}");
    // `-raw` lists the mappings with their build IDs: the executable's must be there.
    let raw = tool(
        "go",
        &["tool", "pprof", "-raw", file.to_str().unwrap()],
        "apt-get install golang-go",
    );
    let mappings = raw
        .split("Mappings")
        .nth(1)
        .unwrap_or_else(|| panic!("no mappings in\n{raw}"));
    let exe_line = mappings
        .lines()
        .find(|l| l.contains("export_known"))
        .unwrap_or_else(|| panic!("the executable has no mapping:\n{raw}"));
    // The ELF note of the binary itself, as binutils reads it.
    let notes = tool("readelf", &["-n", EXPORT_KNOWN], "apt-get install binutils");
    let build_id = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap_or_else(|| panic!("readelf finds no build ID:\n{notes}"));
    assert!(
        exe_line.split_whitespace().any(|w| w == build_id),
        "mapping {exe_line} lacks the build ID {build_id}"
    );
}

// ---------------------------------------------------------------------------------------------
// Folded stacks and flame graphs

/// The folded lines of `file`: stack -> bytes.
fn folded(file: &str) -> HashMap<String, u64> {
    let text = std::fs::read_to_string(known().path(file)).unwrap();
    text.lines()
        .map(|l| {
            let (stack, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            assert!(!stack.is_empty() && !value.starts_with('0'), "{l:?}");
            (stack.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// The bytes of the stack `main;<function>` in `stacks`.
fn under_main(stacks: &HashMap<String, u64>, function: &str) -> Option<u64> {
    stacks
        .get(&format!("export_known::main;export_known::{function}"))
        .copied()
}

#[test]
fn folded_peak_sums_to_the_peak_and_names_its_owners() {
    let stacks = folded("peak.folded");
    assert_eq!(stacks.values().sum::<u64>(), known().peak, "{stacks:#?}");
    assert_eq!(under_main(&stacks, "spike"), Some(SPIKE_BYTES));
    let pages_live = (PAGES - PAGES_FREED) * PAGE_BYTES;
    assert_eq!(under_main(&stacks, "page"), Some(pages_live));
    assert_eq!(under_main(&stacks, "keep"), Some(KEEP_BYTES));
    assert_eq!(under_main(&stacks, "holder"), Some(HOLDER_BYTES));
}

#[test]
fn folded_exit_sums_to_the_live_heap_and_total_counts_every_block() {
    let exit = folded("exit.folded");
    assert_eq!(exit.values().sum::<u64>(), known().live, "{exit:#?}");
    assert_eq!(under_main(&exit, "spike"), None, "freed: no line");
    assert_eq!(under_main(&exit, "keep"), Some(KEEP_BYTES));
    let total = folded("total.folded");
    assert_eq!(under_main(&total, "page"), Some(PAGES * PAGE_BYTES));
    assert_eq!(under_main(&total, "spike"), Some(SPIKE_BYTES));
}

/// Every `<title>` of an SVG (inferno gives each frame one: `name (N bytes, P%)`), through
/// Python's XML parser: the file must parse.
fn svg_titles(file: &str) -> Vec<String> {
    const SCRIPT: &str = "import sys, xml.dom.minidom as m\n\
        doc = m.parse(sys.argv[1])\n\
        assert doc.documentElement.tagName == 'svg'\n\
        for t in doc.getElementsByTagName('title'):\n\
        \x20   print(''.join(n.data for n in t.childNodes if n.nodeType == n.TEXT_NODE))\n";
    let path = known().path(file);
    let out = tool(
        "python3",
        &["-c", SCRIPT, path.to_str().unwrap()],
        "install python3",
    );
    out.lines().map(str::to_owned).collect()
}

#[test]
fn flame_graph_svg_parses_and_names_the_peak_owner() {
    let titles = svg_titles("peak.svg");
    let spike = titles
        .iter()
        .find(|t| t.starts_with("export_known::spike ("))
        .unwrap_or_else(|| panic!("the peak's owner is not named: {titles:#?}"));
    // inferno writes counts with thousands separators.
    assert!(
        spike.starts_with("export_known::spike (8,388,608 bytes, "),
        "{spike}"
    );
    let exit = svg_titles("exit.svg");
    assert!(
        exit.iter()
            .any(|t| t.starts_with("export_known::keep (300,000 bytes")),
        "{exit:#?}"
    );
    assert!(!exit.iter().any(|t| t.contains("spike")), "{exit:#?}");
}

/// Where screenshots are kept for people to look at: this build's own temporary directory
/// (`target/tmp/shots`), so that test runs of two checkouts never share (and delete) a file.
fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium on `url` with `args` (a root user needs `--no-sandbox`).
fn chromium(args: &[&str], url: &str) -> String {
    // A profile directory of its own per call: two Chromiums (this file's tests run in
    // parallel, and other test runs may too) must not share one.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chromium-{}-{n}", std::process::id()));
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let mut all = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        profile_arg.as_str(),
    ];
    all.extend_from_slice(args);
    all.push(url);
    let out = tool("chromium", &all, "apt-get install chromium");
    let _ = std::fs::remove_dir_all(&profile);
    out
}

/// An RGBA PNG's width and pixels (8-bit, non-interlaced RGB or RGBA, as Chromium writes).
fn png_pixels(path: &std::path::Path) -> (usize, Vec<[u8; 3]>) {
    use std::io::Read;
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&data[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut width, mut height, mut channels, mut idat) = (0, 0, 0, Vec::new());
    let mut at = 8;
    while at + 8 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let body = &data[at + 8..at + 8 + len];
        match &data[at + 4..at + 8] {
            b"IHDR" => {
                width = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                assert_eq!((body[8], body[12]), (8, 0), "8-bit, not interlaced");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(body),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    assert_eq!(raw.len(), height * (stride + 1), "PNG data size");
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(width * height);
    for row in raw.chunks(stride + 1) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 } as i16;
            let b = prev[i] as i16;
            let c = if i >= channels { prev[i - channels] } else { 0 } as i16;
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("PNG filter {other}"),
            };
            cur[i] = line[i].wrapping_add(predicted as u8);
        }
        pixels.extend(cur.chunks(channels).map(|p| [p[0], p[1], p[2]]));
        prev = cur;
    }
    (width, pixels)
}

#[test]
fn flame_graph_renders_in_headless_chromium_with_its_names() {
    let svg = known().path("peak.svg");
    let url = format!("file://{}", svg.display());
    // The DOM after the SVG's own script fitted each name to its box: the peak's owner has room
    // for its whole name (narrow frames read `..`).
    let dom = chromium(&["--dump-dom"], &url);
    assert!(dom.contains(">export_known::spike </text>"), "{dom}");
    assert!(dom.contains(">export_known::page </text>"), "{dom}");
    let shot = shots().join("flame-peak.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,800",
        ],
        &url,
    );
    let (width, pixels) = png_pixels(&shot);
    assert_eq!(width, 1200);
    // inferno's `mem` palette: green frames. At least one full row of frames (1180 x 15 px) for
    // the three rows drawn (all, main, the owners), and dark text pixels for their names.
    let green = pixels
        .iter()
        .filter(|[r, g, b]| *g as i32 > *r as i32 + 60 && *g as i32 > *b as i32 + 20)
        .count();
    let dark = pixels.iter().filter(|p| p.iter().all(|&c| c < 90)).count();
    eprintln!("{}: {green} green, {dark} dark pixels", shot.display());
    assert!(
        green > 1180 * 15,
        "{green} green pixels in {}",
        shot.display()
    );
    assert!(
        dark > 500,
        "{dark} dark (text) pixels in {}",
        shot.display()
    );
}

// ---------------------------------------------------------------------------------------------
// DHAT

/// valgrind's DHAT viewer, whose code the tests run.
const DH_VIEW: &str = "/usr/libexec/valgrind";

/// One node of the viewer's tree: its figures (`tb`, `gb`, …) and first frame.
#[derive(Debug)]
struct DhNode {
    figures: HashMap<String, String>,
    frame: String,
}

impl DhNode {
    fn get(&self, key: &str) -> u64 {
        self.figures[key]
            .parse()
            .unwrap_or_else(|_| panic!("{key}={} of {self:?}", self.figures[key]))
    }
}

/// What the viewer made of `dhat.json`: `tg`, `te`, the root, the nodes below it, the page.
fn dh_view() -> (u64, u64, DhNode, Vec<DhNode>, String) {
    assert!(
        std::path::Path::new(&format!("{DH_VIEW}/dh_view.js")).exists(),
        "valgrind's dh_view.js is missing: apt-get install valgrind (.ci/run does)"
    );
    let harness = format!("{}/tests/dh_view_harness.js", env!("CARGO_MANIFEST_DIR"));
    let json = known().path("dhat.json");
    let out = tool(
        "node",
        &[
            &harness,
            &format!("{DH_VIEW}/dh_view.js"),
            json.to_str().unwrap(),
        ],
        "apt-get install nodejs",
    );
    let (head, page) = out
        .split_once("\npage:\n")
        .unwrap_or_else(|| panic!("{out}"));
    let node = |rest: &str| {
        let mut figures = HashMap::new();
        let mut words = rest.split(' ');
        let mut frame = Vec::new();
        for w in words.by_ref() {
            match w.split_once('=') {
                Some((k, v)) if frame.is_empty() && k.len() <= 3 => {
                    figures.insert(k.to_owned(), v.to_owned());
                }
                _ => frame.push(w),
            }
        }
        DhNode {
            figures,
            frame: frame.join(" "),
        }
    };
    let (mut times, mut root, mut kids) = (None, None, Vec::new());
    for line in head.lines() {
        if let Some(rest) = line.strip_prefix("times ") {
            times = Some(node(rest));
        } else if let Some(rest) = line.strip_prefix("root ") {
            root = Some(node(rest));
        } else if let Some(rest) = line.strip_prefix("kid ") {
            kids.push(node(rest));
        }
    }
    let times = times.unwrap_or_else(|| panic!("{out}"));
    (
        times.get("tg"),
        times.get("te"),
        root.unwrap_or_else(|| panic!("{out}")),
        kids,
        page.to_owned(),
    )
}

/// `1234567` as the viewer prints it (en-US grouping): `1,234,567`.
fn en_us(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn dhat_json_loads_in_valgrinds_viewer_with_t_gmax_and_t_end_bytes_exact() {
    let (tg, te, root, kids, page) = dh_view();
    let known = known();
    assert_eq!(root.get("gb"), known.peak, "t-gmax bytes\n{page}");
    assert_eq!(root.get("eb"), known.live, "t-end bytes\n{page}");
    assert!(
        0 < tg && tg <= te,
        "t-gmax {tg} µs within the run of {te} µs"
    );
    for line in [
        format!("At t-gmax: {} bytes (100%)", en_us(known.peak)),
        format!("At t-end:  {} bytes (100%)", en_us(known.live)),
        "Mode:    rust-heap".to_owned(),
    ] {
        assert!(
            page.contains(&line),
            "the viewer does not show {line:?}:\n{page}"
        );
    }
    let kid = |function: &str| {
        kids.iter()
            .find(|k| k.frame.contains(&format!(": export_known::{function} (")))
            .unwrap_or_else(|| panic!("no node for {function}: {kids:#?}"))
    };
    let page_node = kid("page");
    let figures =
        |n: &DhNode| ["tb", "tbk", "mb", "mbk", "gb", "gbk", "eb", "ebk"].map(|k| n.get(k));
    let half = PAGES - PAGES_FREED;
    assert_eq!(
        figures(page_node),
        [
            PAGES * PAGE_BYTES,
            PAGES,
            PAGES * PAGE_BYTES, // every page was live before half were freed
            PAGES,
            half * PAGE_BYTES,
            half,
            half * PAGE_BYTES,
            half,
        ]
    );
    assert!(
        page_node.frame.contains("src/bin/export_known.rs:"),
        "{page_node:?}"
    );
    assert_eq!(
        figures(kid("spike")),
        [SPIKE_BYTES, 1, SPIKE_BYTES, 1, SPIKE_BYTES, 1, 0, 0]
    );
    assert_eq!(
        figures(kid("keep")),
        [KEEP_BYTES, 1, KEEP_BYTES, 1, KEEP_BYTES, 1, KEEP_BYTES, 1]
    );
    // Lifetimes: the spike lived a moment, the held block from before t-gmax to t-end.
    let keep_lifetime = kid("keep").get("tl");
    assert!(kid("spike").get("tl") <= keep_lifetime, "{kids:#?}");
    assert!(keep_lifetime >= te - tg && keep_lifetime <= te, "{kids:#?}");
}

#[test]
fn dhat_viewer_page_renders_in_headless_chromium() {
    // dh_view.html loads a file through a file picker, which a headless browser cannot click:
    // this page is dh_view.html with the same script and style, and the file's text inline,
    // loaded as its "Load…" button does (JSON.parse, buildTree, displayTree), sorted by bytes at
    // t-gmax.
    let json = std::fs::read_to_string(known().path("dhat.json")).unwrap();
    let html = format!(
        r#"<!DOCTYPE html>
<html>
  <head>
    <meta charset="UTF-8">
    <link rel="stylesheet" href="file://{DH_VIEW}/dh_view.css">
    <script src="file://{DH_VIEW}/dh_view.js"></script>
    <script type="application/json" id="dhat">{}</script>
    <script>
      function loadInline() {{
        onLoad();
        tryFunc(() => {{
          gFilename = "dhat.json";
          gData = JSON.parse(document.getElementById("dhat").textContent);
          buildTree();
          const i = gSelectData.findIndex((d) => d.cmpField === "_atTGmaxBytes");
          gSelect.childNodes[i].selected = true;
          displayTree();
        }});
      }}
    </script>
  </head>
  <body onload="loadInline()"></body>
</html>
"#,
        json.replace("</", "<\\/")
    );
    let page = known().path("dhat-view.html");
    std::fs::write(&page, html).unwrap();
    let url = format!("file://{}", page.display());
    let dom = chromium(&["--dump-dom"], &url);
    assert!(!dom.contains("class=\"error\""), "{dom}");
    // The page's text, without the inline file and the tags (bold figures are spans of their own).
    let body = &dom[dom.find("<body").unwrap_or_else(|| panic!("{dom}"))..];
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let peak = format!("At t-gmax: {} bytes (100%)", en_us(known().peak));
    assert!(text.contains(&peak), "no {peak:?} in\n{text}");
    assert!(text.contains(": export_known::spike ("), "{text}");
    let shot = shots().join("dhat-viewer.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1000",
        ],
        &url,
    );
    let (width, pixels) = png_pixels(&shot);
    assert_eq!(width, 1200);
    let dark = pixels.iter().filter(|p| p.iter().all(|&c| c < 90)).count();
    eprintln!("{}: {dark} dark (text) pixels", shot.display());
    assert!(
        dark > 5000,
        "{dark} dark (text) pixels in {}",
        shot.display()
    );
}

// ---------------------------------------------------------------------------------------------
// diff

#[test]
fn diff_names_the_callsites_that_grew_largest_first() {
    let grew = &known().grew;
    let half = PAGES - PAGES_FREED;
    assert_eq!(
        grew.first(),
        Some(&(
            "export_known::page".to_owned(),
            half * PAGE_BYTES,
            half as i64
        )),
        "{grew:#?}"
    );
    assert_eq!(
        grew.get(1),
        Some(&("export_known::keep".to_owned(), KEEP_BYTES, 1)),
        "{grew:#?}"
    );
    assert!(
        grew.windows(2).all(|w| w[0].1 >= w[1].1),
        "largest first: {grew:#?}"
    );
    for gone in ["export_known::spike", "export_known::holder"] {
        assert!(
            !grew.iter().any(|g| g.0 == gone),
            "{gone} did not grow: {grew:#?}"
        );
    }
}
