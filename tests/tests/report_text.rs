//! The text report's shapes, on `src/bin/report_shapes.rs` run as a child process: the owners of
//! the peak, temporaries, the origin of a grown block, merging of callsites that show alike
//! (`frames=1`), folding of library frames (`stacks=full` unfolds them), and `%p` in a report
//! path that several processes append to.

use std::process::Command;
use std::time::Duration;

use integration_tests::child::{Finished, run_within};
use integration_tests::pprof::{flat_by_function, go_pprof};

fn run(config: &str) -> Finished {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_report_shapes"));
    cmd.env("ALLOC_TRACKER", config);
    let done = run_within(cmd, None, Duration::from_secs(60), "report_shapes");
    assert!(done.status.success(), "{done:?}");
    done
}

/// The entry headed by a line starting with `head` (after its `#N `), then its indented lines
/// without their indent.
fn entry<'a>(text: &'a str, head: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.split_once(' ')
                .is_some_and(|(n, rest)| n.starts_with('#') && rest.starts_with(head))
        })
        .unwrap_or_else(|| panic!("no entry `{head}`:\n{text}"));
    let mut out = vec![lines[at]];
    out.extend(lines[at + 1..].iter().map_while(|l| l.strip_prefix("    ")));
    out
}

const REPORT_SHAPES: &str = include_str!("../src/bin/report_shapes.rs");

/// The 1-based line of `source` (`src/bin/report_shapes.rs` by default) that contains `needle`.
fn line_of(needle: &str) -> usize {
    line_in(REPORT_SHAPES, needle)
}

fn line_in(source: &str, needle: &str) -> usize {
    1 + source
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in the source"))
}

#[test]
fn the_peak_owner_is_named_though_it_was_freed() {
    let text = run("top=3").stderr;
    let peak = entry(&text, "at peak: 10 000 000 bytes in 1 block (peak share ");
    assert!(
        peak[1].starts_with("report_shapes::peak_owner at src/bin/report_shapes.rs:"),
        "{text}"
    );
    assert!(
        peak[0].contains("total 9.5 MiB in 1 block, 0 reallocs, 1 temporary"),
        "{text}"
    );
    let order: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("at the peak (") || l.starts_with("SUMMARY:"))
        .collect();
    assert_eq!(order.len(), 2, "one peak section, before SUMMARY:\n{text}");
    assert!(order[0].starts_with("at the peak ("), "{text}");
}

#[test]
fn a_loop_of_short_lived_blocks_counts_100000_temporaries() {
    let text = run("top=3").stderr;
    let temp = entry(&text, "temporaries: 100 000 of 100 000 allocated here, ");
    // Each is freed within microseconds: short-lived too, but for a block live when the
    // tracker's tick jumped (see `short_lived_blocks_are_counted_apart_from_temporaries`).
    assert!(temp[0].contains(" short-lived (6.1 MiB in total"), "{text}");
    assert!(
        (99_000..=100_000).contains(&short_lived_of(temp[0])),
        "{text}"
    );
    assert!(
        temp[1].starts_with(&format!(
            "report_shapes::temporaries at src/bin/report_shapes.rs:{}:",
            line_of("let v = black_box(vec![i as u8; 64]);")
        )),
        "{text}"
    );
}

#[test]
fn a_grown_vec_names_where_it_was_first_made() {
    let text = run("top=10,show=direct,indirect,reachable").stderr;
    let grown = text
        .lines()
        .find(|l| l.starts_with("    (grown from a block first made at "))
        .unwrap_or_else(|| panic!("no grown-from line:\n{text}"));
    assert!(
        grown.contains(&format!(
            "report_shapes::make_small at src/bin/report_shapes.rs:{}:",
            line_of("Vec::with_capacity(4)")
        )),
        "{grown}\n{text}"
    );
}

#[test]
fn frames_1_shows_one_frame_and_merges_what_shows_alike() {
    let text = run("frames=1,top=20,show=direct,indirect,reachable").stderr;
    // Both callers' blocks show only `helper`'s line: one entry, two stacks.
    let merged = entry(&text, "reachable: 8 000 bytes in 2 blocks (peak share ");
    assert!(merged[0].ends_with("; 2 stacks merged)"), "{text}");
    assert_eq!(merged.len(), 2, "one frame shown:\n{text}");
    assert!(merged[1].starts_with("report_shapes::helper at "), "{text}");
    assert!(
        !text.contains("no frame outside the allocation machinery"),
        "{text}"
    );
}

#[test]
fn library_frames_fold_and_stacks_full_shows_them() {
    let folded = run("top=20,show=direct,indirect,reachable").stderr;
    let e = entry(&folded, "reachable: 600 bytes in 20 blocks (peak share ");
    assert!(e[1].contains("through_iterators::{"), "{folded}");
    assert!(
        e.iter()
            .any(|l| l.starts_with("… ") && l.ends_with(" frames in std …")),
        "{folded}"
    );
    assert!(
        e.iter().any(|l| l.contains("report_shapes::main")),
        "{folded}"
    );
    let full = run("top=20,show=direct,indirect,reachable,stacks=full").stderr;
    let e_full = entry(&full, "reachable: 600 bytes in 20 blocks (peak share ");
    assert!(
        e_full.len() > e.len() && !e_full.iter().any(|l| l.contains(" frames in std …")),
        "{full}"
    );
    assert!(e_full.iter().any(|l| l.contains("core::iter::")), "{full}");
}

#[test]
fn percent_p_names_the_file_and_reports_append() {
    let dir = std::env::temp_dir().join(format!("report-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pattern = dir.join("r-%p.txt");
    run(&format!("report={}", pattern.display()));
    let shared = dir.join("shared.txt");
    run(&format!("report={}", shared.display()));
    run(&format!("report={}", shared.display()));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let pid_file = names
        .iter()
        .find(|n| n.starts_with("r-"))
        .unwrap_or_else(|| panic!("{names:?}"));
    let pid: u32 = pid_file[2..pid_file.len() - 4].parse().unwrap();
    let text = std::fs::read_to_string(dir.join(pid_file)).unwrap();
    assert!(
        text.starts_with(&format!("alloc-tracker: report at exit (pid {pid}, ")),
        "{text}"
    );
    let both = std::fs::read_to_string(&shared).unwrap();
    assert_eq!(
        both.matches("\nSUMMARY: alloc-tracker: ").count(),
        2,
        "{both}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exports_at_exit_go_to_their_paths_with_the_pid() {
    let dir = std::env::temp_dir().join(format!("report-exports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    let done = run(&format!(
        "report=off,pprof={d}/heap-%p.pb.gz,dhat={d}/dhat-%p.json,flamegraph={d}/flame-%p.svg,flamegraph_of=total"
    ));
    assert!(
        done.stderr.is_empty(),
        "report=off prints nothing: {}",
        done.stderr
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    let pid = names[0]
        .strip_prefix("dhat-")
        .and_then(|n| n.strip_suffix(".json"))
        .unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(
        names,
        [
            format!("dhat-{pid}.json"),
            format!("flame-{pid}.svg"),
            format!("heap-{pid}.pb.gz")
        ]
    );
    // The real pprof reads the profile: the peak's block and the 100 000 temporaries of 64
    // bytes, allocated in all.
    let heap = dir.join(&names[2]);
    let top = go_pprof(&[
        "-top",
        "-sample_index=alloc_space",
        "-unit=byte",
        heap.to_str().unwrap(),
    ]);
    let flat = flat_by_function(&top);
    assert_eq!(flat["report_shapes::peak_owner"], 10_000_000, "{top}");
    assert_eq!(flat["report_shapes::temporaries"], 6_400_000, "{top}");
    let dhat = std::fs::read_to_string(dir.join(&names[0])).unwrap();
    assert!(
        dhat.contains("\"dhatFileVersion\":2") || dhat.contains("\"dhatFileVersion\": 2"),
        "{dhat}"
    );
    assert!(dhat.contains("report_shapes::temporaries"), "{dhat}");
    // `flamegraph_of=total`: the 100 000 temporaries are in the total, not at the peak.
    let svg = std::fs::read_to_string(dir.join(&names[1])).unwrap();
    assert!(
        svg.starts_with("<?xml") && svg.contains("report_shapes::temporaries"),
        "{svg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Short-lived blocks (freed within 1 ms) counted apart from temporaries, on
/// `src/bin/short_lived.rs`: its snapshot's figures, then the report's temporaries section.
#[test]
fn short_lived_blocks_are_counted_apart_from_temporaries() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_short_lived"));
    cmd.env("ALLOC_TRACKER", "top=5");
    let done = run_within(cmd, None, Duration::from_secs(60), "short_lived");
    assert!(done.status.success(), "{done:?}");
    // Summed over the snapshot's raw stacks that start in `function` (the report merges them).
    let site = |function: &str| -> [u64; 3] {
        let mut sum = [0; 3];
        for line in done
            .stdout
            .lines()
            .filter(|l| l.starts_with(&format!("SITE {function} ")))
        {
            let n: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
            assert_eq!(n.len(), 3, "{line}");
            sum.iter_mut().zip(n).for_each(|(s, n)| *s += n);
        }
        sum
    };
    // A block freed within microseconds of its allocation is short-lived unless the tracker's
    // tick jumps by two or more meanwhile (its thread kept off the CPU for over 1 ms, which on a
    // loaded machine happens now and then and costs the block then live); a block held 150 ms
    // is not, unless that thread stalled for 148 ms.
    let [blocks, temporaries, short] = site("short_lived::immediate");
    assert_eq!((blocks, temporaries), (2000, 0), "{}", done.stdout);
    assert!((1900..=2000).contains(&short), "{}", done.stdout);
    let [blocks, temporaries, short] = site("short_lived::in_between");
    assert_eq!((blocks, temporaries), (2004, 2004), "{}", done.stdout);
    assert!((1950..=2004).contains(&short), "{}", done.stdout);
    assert_eq!(site("short_lived::held"), [4, 0, 0], "{}", done.stdout);
    // The report lists both loops in its temporaries section, with the same figures.
    let text = &done.stderr;
    assert!(
        text.lines().any(|l| l.starts_with("temporaries: ")
            && l.ends_with(" short-lived (freed within 1 ms); the most")),
        "{text}"
    );
    let head = entry(text, "temporaries: 0 of 2 000 allocated here, ");
    assert!(
        head[1].starts_with(&format!(
            "short_lived::immediate at src/bin/short_lived.rs:{}:",
            line_in(
                include_str!("../src/bin/short_lived.rs"),
                "let a = black_box(vec![i as u8; 128]);"
            )
        )),
        "{text}"
    );
    assert!(
        head[0].contains(" short-lived (250.0 KiB in total"),
        "{text}"
    );
    assert_eq!(
        short_lived_of(head[0]),
        site("short_lived::immediate")[2],
        "{text}"
    );
}

/// `N` of a temporaries entry's `…, N short-lived (…`.
fn short_lived_of(head: &str) -> u64 {
    head.split(", ")
        .nth(1)
        .and_then(|s| s.split_once(" short-lived ("))
        .map(|(n, _)| n.replace(' ', "").parse().unwrap())
        .unwrap_or_else(|| panic!("{head}"))
}
