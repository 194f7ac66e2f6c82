//! Which files this process has memory-mapped through demo-arrays, so that the crate's own functions
//! cannot invalidate a live mapping: [`npy::save`](crate::npy::save) and
//! [`create_mmap`](crate::npy::create_mmap) refuse to truncate a mapped file, and a file is mapped
//! read-write ([`MmapMode::ReadWrite`](crate::MmapMode::ReadWrite)) by at most one array and then
//! by no other (a read-only or copy-on-write map would see its writes under a `&[T]`).
//!
//! Files are identified by device and inode, so hard links and different spellings of a path are
//! the same file. This is a reader–writer claim per file that never blocks: a conflicting claim is an
//! error. It protects nothing across processes, nor against other code in this process writing the
//! file (`std::fs::write`); that is what the `# Safety` section of
//! [`open_mmap`](crate::npy::open_mmap) asks of the caller. On non-Unix targets nothing is tracked.

use std::fs::File;
use std::sync::Mutex;

/// A file's identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId(u64, u64);

/// How a claim uses the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Read-only or copy-on-write mapping: any number may coexist.
    Shared,
    /// Read-write mapping, or a write of the whole file (save, create): no other claim at all.
    Exclusive,
}

/// Live claims: one entry per mapping (or file being written).
static CLAIMS: Mutex<Vec<(FileId, Claim)>> = Mutex::new(Vec::new());

/// A claim on a file, released when dropped (the mapping array holds it until it is unmapped).
#[derive(Debug)]
pub(crate) struct ClaimGuard(Option<(FileId, Claim)>);

#[cfg(unix)]
fn file_id(file: &File) -> std::io::Result<Option<FileId>> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    Ok(Some(FileId(m.dev(), m.ino())))
}

#[cfg(not(unix))]
fn file_id(_file: &File) -> std::io::Result<Option<FileId>> {
    Ok(None)
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(FileId, Claim)>> {
    // The list is consistent at every unlock (each operation is one push or one remove), so a panic
    // elsewhere while it was held leaves nothing half-done.
    CLAIMS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Claims `file` for `how`, or says which live claim conflicts.
pub(crate) fn claim(file: &File, how: Claim) -> Result<ClaimGuard, String> {
    let Some(id) = file_id(file).map_err(|e| e.to_string())? else {
        return Ok(ClaimGuard(None));
    };
    let mut claims = lock();
    if let Some(&(_, held)) = claims
        .iter()
        .find(|&&(f, c)| f == id && (how == Claim::Exclusive || c == Claim::Exclusive))
    {
        return Err(match held {
            Claim::Exclusive => {
                "the file is mapped read-write (or being written) by this process".into()
            }
            Claim::Shared => "the file is memory-mapped by this process; drop the mapping first \
                              (writing it would change or truncate the mapped data)"
                .into(),
        });
    }
    claims.push((id, how));
    Ok(ClaimGuard(Some((id, how))))
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some(entry) = self.0 {
            let mut claims = lock();
            if let Some(i) = claims.iter().position(|&e| e == entry) {
                claims.swap_remove(i);
            }
            if claims.is_empty() {
                // Free the list's block: with no mapping alive the process holds no heap memory of
                // ours (else it would show in the tracker's exit report as live at exit).
                *claims = Vec::new();
            }
        }
    }
}
