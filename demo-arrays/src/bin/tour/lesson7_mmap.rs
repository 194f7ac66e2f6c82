//! Lesson 7: with a 64 MiB heap budget (`alloc_tracker::set_limit`), sum a 512 MiB `.npy` through
//! `open_mmap` — the data is file pages, not heap — while `load` of the same file fails with NumPy's
//! out-of-memory message instead of crashing. The file lives in a temp dir deleted at the end.

use std::path::PathBuf;

use alloc_tracker::{measure, set_limit, stats};
use demo_arrays::npy::{self, MmapMode};

use super::{Ctx, bytes, ms, note, numpy, row, timed, usage};

/// A temporary directory removed on drop (even if a step fails).
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(ctx: &Ctx) {
    let n = ctx.size(64 << 20); // 64 Mi f64 = 512 MiB
    let budget = ctx.size(64 << 20) as u64; // 64 MiB
    let dir =
        TempDir(std::env::temp_dir().join(format!("demo-arrays-tour-{}", std::process::id())));
    if let Err(e) = std::fs::create_dir_all(&dir.0) {
        note(format!("skipped: cannot create {}: {e}", dir.0.display()));
        return;
    }
    let path = dir.0.join("big.npy");
    numpy(&format!(
        "m = np.lib.format.open_memmap('big.npy', 'w+', np.float64, ({n},)); m[:] = 1.0"
    ));
    let (made, u) = measure(|| -> Result<f64, demo_arrays::ArrayError> {
        // SAFETY: the file is in this process's own fresh temporary directory; nothing else writes
        // or truncates it while `m` lives.
        let mut m = unsafe { npy::create_mmap::<f64>(&path, &[n])? };
        m.try_view_mut()?.fill(1.0);
        m.flush()?;
        Ok(m.sum())
    });
    let written = match made {
        Ok(s) => s,
        Err(e) => {
            note(format!("skipped: {e}"));
            return;
        }
    };
    let file_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    row(
        "npy::create_mmap + fill(1.0)",
        format!("file {}, heap {}", bytes(file_len), usage(&u)),
    );

    // The budget is on total live heap bytes, like a container's memory limit. (Should earlier
    // lessons hold more than that, it starts from what is live.)
    let live = stats().live_bytes;
    let limit = if live < budget / 2 {
        budget
    } else {
        live + budget
    };
    set_limit(Some(limit));
    row(
        "alloc_tracker::set_limit(Some(limit))",
        format!("limit {}, live now {}", bytes(limit), bytes(live)),
    );
    numpy("a = np.load('big.npy', mmap_mode='r'); a.sum()");
    let ((sum, u), t) = timed(|| {
        measure(|| {
            // SAFETY: as above: our own temporary file, not written while mapped.
            unsafe { npy::open_mmap::<f64>(&path, MmapMode::ReadOnly) }.map(|m| m.sum())
        })
    });
    match sum {
        Ok(s) => row(
            "npy::open_mmap(path, ReadOnly)?.sum()",
            format!(
                "sum {s} (expected {written}), heap peak {}  {}",
                bytes(u.peak_bytes),
                ms(t)
            ),
        ),
        Err(e) => row(
            "npy::open_mmap(path, ReadOnly)?.sum()",
            format!("error: {e}"),
        ),
    }
    numpy("a = np.load('big.npy')                # MemoryError: Unable to allocate 512. MiB ...");
    let (loaded, u) = measure(|| npy::load::<f64>(&path));
    let peak_after = stats().peak_bytes;
    set_limit(None);
    match loaded {
        Ok(a) => row(
            "npy::load::<f64>(path)",
            format!("loaded {} (budget not enforced?)", bytes(a.nbytes() as u64)),
        ),
        Err(e) => row("npy::load::<f64>(path)", format!("Err: {e}")),
    }
    note(format!(
        "the failed load allocated {} (its header parsing); process heap peak so far {}",
        bytes(u.allocated_bytes),
        bytes(peak_after)
    ));
    drop(dir);
    note(format!("temp file deleted: {}", !path.exists()));
}
