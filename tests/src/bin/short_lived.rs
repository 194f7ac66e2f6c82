//! Blocks of known lifetimes for the short-lived count (read by `tests/report_text.rs`): 2 000
//! blocks freed at once but not temporaries (another allocation comes first), 2 000 temporaries
//! made in between, and 4 blocks each held 150 ms (not short-lived, not temporaries). At the end
//! it prints, from `alloc_tracker::snapshot()`, one line per function of this file:
//! `SITE <function> blocks <total> temporaries <n> short-lived <n>`; the exit report follows.

use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

/// 16 bytes, freed by the caller right away: the thread's last allocation, so a temporary.
#[inline(never)]
fn in_between() -> Vec<u8> {
    black_box(vec![2u8; 16])
}

/// 2 000 blocks of 128 bytes, each freed within microseconds, after `in_between` allocated.
#[inline(never)]
fn immediate() {
    for i in 0..2000u32 {
        let a = black_box(vec![i as u8; 128]);
        let b = in_between();
        drop(a);
        drop(b);
    }
}

/// 4 blocks of 256 bytes, each held 150 ms (`in_between` allocates meanwhile).
#[inline(never)]
fn held() {
    for i in 0..4u8 {
        let a = black_box(vec![i; 256]);
        drop(in_between());
        std::thread::sleep(Duration::from_millis(150));
        drop(a);
    }
}

fn main() {
    immediate();
    held();
    let mut lines = Vec::new();
    for site in alloc_tracker::snapshot().resolve() {
        if let Some(f) = site.location()
            && f.function.starts_with("short_lived::")
        {
            lines.push(format!(
                "SITE {} blocks {} temporaries {} short-lived {}",
                f.function, site.stats.total_blocks, site.stats.temporaries, site.stats.short_lived
            ));
        }
    }
    lines.sort();
    for line in lines {
        println!("{line}");
    }
}
