//! The example `examples/heap_server.rs` serves `heap_profile()` over HTTP; the real `go tool
//! pprof` fetches it from the URL the example prints, as a fleet profiler's scraper would, and
//! finds its two known callsites with their estimated bytes (sampled at 64 KiB: about 1000
//! samples for the 64 MiB cache, so ±10%; 256 for the 16 MiB of sessions, so ±25%). Go must be
//! installed (Debian `golang-go`): without it this test fails, it does not skip. `cargo test -p
//! alloc-tracker` builds the example first; run alone (`--test heap_server`), build it with
//! `cargo build -p alloc-tracker --example heap_server`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The example's binary: `cargo test` builds examples beside the tests, in `<profile>/examples/`.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    profile_dir.join("examples").join("heap_server")
}

/// Kills the server if the test fails before it asked it to quit.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn go_pprof_reads_the_heap_profile_the_example_serves() {
    let mut server = Server(
        Command::new(example())
            .arg("127.0.0.1:0")
            .env("ALLOC_TRACKER", "sample=64KiB,report=off")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (`cargo test -p alloc-tracker` builds the examples; \
                     `--test heap_server` alone does not: build it first with \
                     `cargo build -p alloc-tracker --example heap_server`)",
                    example().display()
                )
            }),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("heap_server");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = Command::new("go")
        .args([
            "tool",
            "pprof",
            "-top",
            "-nodefraction=0",
            "-sample_index=inuse_space",
            "-unit=byte",
            "-timeout=60",
            &url,
        ])
        // Where pprof keeps a copy of what it fetched.
        .env("PPROF_TMPDIR", &tmp)
        .output()
        .expect("go tool pprof (apt-get install golang-go)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "go tool pprof {url} failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Type: inuse_space"), "{text}");
    let mut cum: HashMap<String, u64> = HashMap::new();
    for row in text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
    {
        let words: Vec<&str> = row.split_whitespace().collect();
        if words.len() >= 6 {
            // Cumulative: the entries are made in each function's closure.
            let bytes = words[3].trim_end_matches('B').parse().unwrap_or(0);
            *cum.entry(words[5..].join(" ")).or_insert(0) += bytes;
        }
    }
    for (function, truth, tolerance) in [
        ("heap_server::make_cache", 64u64 << 20, 0.10),
        ("heap_server::open_sessions", 16 << 20, 0.25),
    ] {
        let got = cum.get(function).copied().unwrap_or(0);
        assert!(
            (got as f64 / truth as f64 - 1.0).abs() <= tolerance,
            "{function}: {got} bytes in the served profile, {truth} held\n{text}"
        );
    }

    let addr = url
        .strip_prefix("http://")
        .and_then(|u| u.split('/').next())
        .unwrap();
    let mut quit = TcpStream::connect(addr).unwrap();
    quit.write_all(b"GET /quit HTTP/1.0\r\n\r\n").unwrap();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}");
}
