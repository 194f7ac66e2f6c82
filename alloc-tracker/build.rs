//! Detects whether this build forces frame pointers and, if so, sets `cfg(alloc_tracker_fp)`.
//!
//! The frame-pointer walk in `src/capture.rs` is only sound to *use* (it is always safe to run: it
//! is bounds-checked) when every frame keeps a frame pointer; otherwise the chain skips callers or
//! ends early. Cargo hands build scripts the target's rustflags in `CARGO_ENCODED_RUSTFLAGS`
//! (separated by 0x1f); the workspace's `.cargo/config.toml` puts `-C force-frame-pointers=yes` there.

use std::env;

/// Whether the last `force-frame-pointers` option in `flags` turns frame pointers on.
fn forces_frame_pointers(flags: &str) -> bool {
    let parts: Vec<&str> = flags.split('\x1f').filter(|p| !p.is_empty()).collect();
    let mut on = false;
    for (i, part) in parts.iter().enumerate() {
        let option = match *part {
            "-C" | "--codegen" => parts.get(i + 1).copied(),
            p => p
                .strip_prefix("-C")
                .or_else(|| p.strip_prefix("--codegen=")),
        };
        if let Some(value) = option.and_then(|o| o.strip_prefix("force-frame-pointers")) {
            on = matches!(value, "" | "=yes" | "=y" | "=on" | "=true");
        }
    }
    on
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(alloc_tracker_fp)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let walkable = matches!(arch.as_str(), "x86_64" | "aarch64") && os == "linux";
    if walkable && forces_frame_pointers(&flags) {
        println!("cargo::rustc-cfg=alloc_tracker_fp");
    }
}
