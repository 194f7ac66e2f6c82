//! The `demo-arrays` command: `demo-arrays tour` walks through nine NumPy memory lessons and prints
//! what `alloc-tracker` measured for each (bytes allocated, peak, time where it matters).
//!
//! ```text
//! cargo run --release -p demo-arrays -- tour             # all nine lessons
//! cargo run --release -p demo-arrays -- tour --lesson 4  # one lesson
//! cargo run --release -p demo-arrays -- --help
//! ```
//!
//! `--quick` divides every size by 64 (the end-to-end test uses it so a debug build stays fast).

mod tour;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

fn usage() -> String {
    let mut s = String::from(
        "demo-arrays: NumPy's memory lessons in Rust, measured by alloc-tracker\n\n\
         usage: demo-arrays tour [--lesson N] [--quick]\n       demo-arrays --help\n\n\
         --lesson N  run lesson N only\n\
         --quick     divide array sizes by 64 (for tests)\n\nlessons:\n",
    );
    for (n, title, _) in tour::LESSONS {
        s.push_str(&format!("  {n}  {title}\n"));
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut lesson = None;
    let mut quick = false;
    let mut tour_cmd = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "tour" => tour_cmd = true,
            "--quick" => quick = true,
            "--help" | "-h" => {
                print!("{}", usage());
                return;
            }
            "--lesson" => match it
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=9).contains(n))
            {
                Some(n) => lesson = Some(n),
                None => fail("--lesson needs a number from 1 to 9"),
            },
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    if !tour_cmd {
        fail("missing command");
    }
    drop(args); // nothing of main's own should be live when the tour explains the exit report
    tour::run(&tour::Ctx { quick }, lesson);
}

fn fail(msg: &str) -> ! {
    eprint!("error: {msg}\n\n{}", usage());
    std::process::exit(2);
}
