//! Where the tracker's output goes: stderr without std's lock, and files named by the user, with
//! `%p` for the pid.

use std::fs::OpenOptions;
use std::io::Write as _;

/// Writes `bytes` to file descriptor 2 with `write(2)`: no std lock, no allocation.
pub(crate) fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable slice for its length; fd 2 may be closed, in which
        // case write returns -1 and we stop.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// `path` with every `%p` replaced by this process's id (`%%` is a literal `%`).
pub(crate) fn expand(path: &str) -> String {
    replace_codes(path, |code| match code {
        'p' => Some(std::process::id().to_string()),
        '%' => Some("%".into()),
        _ => None,
    })
}

/// `path` with every `%n` replaced by `seq` (the sequence number of periodic profiles); other
/// `%` sequences are kept for [`expand`].
pub(crate) fn expand_seq(path: &str, seq: u64) -> String {
    replace_codes(path, |code| (code == 'n').then(|| seq.to_string()))
}

/// `path` with each `%<code>` that `with` names replaced by its text; other `%` sequences, and a
/// `%` at the end, are kept as they are.
fn replace_codes(path: &str, with: impl Fn(char) -> Option<String>) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(code) => match with(code) {
                Some(text) => out.push_str(&text),
                None => {
                    out.push('%');
                    out.push(code);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

/// How a file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Added at the end: text reports, so that several processes (the test binaries of one
    /// `cargo test`) writing one path all keep theirs.
    Append,
    /// Replaced whole: a binary export (pprof, DHAT JSON, SVG) is one document.
    Replace,
}

/// Writes `bytes` to the file `path` names (`%p` expanded); on failure, one warning line on
/// stderr naming the path, the error and `what` was lost. Whether it was written.
pub(crate) fn write_file(path: &str, mode: Mode, what: &str, bytes: &[u8]) -> bool {
    let path = expand(path);
    let mut options = OpenOptions::new();
    match mode {
        Mode::Append => options.append(true).create(true),
        Mode::Replace => options.write(true).truncate(true).create(true),
    };
    match options.open(&path).and_then(|mut f| f.write_all(bytes)) {
        Ok(()) => true,
        Err(e) => {
            write_stderr(
                format!("alloc-tracker: warning: cannot write the {what} to `{path}` ({e})\n")
                    .as_bytes(),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_p_is_the_pid() {
        let pid = std::process::id();
        assert_eq!(expand("leaks-%p.txt"), format!("leaks-{pid}.txt"));
        assert_eq!(expand("a%%p-%p"), format!("a%p-{pid}"));
        assert_eq!(expand("plain"), "plain");
        assert_eq!(expand("odd%x%"), "odd%x%");
        assert_eq!(
            expand(&expand_seq("heap.%p.%n.pb.gz", 7)),
            format!("heap.{pid}.7.pb.gz")
        );
        assert_eq!(expand(&expand_seq("a%%n%n", 3)), "a%n3");
    }
}
