//! [`Snapshot::write_dhat`]: the snapshot as DHAT's JSON (`dhatFileVersion` 2, mode
//! `rust-heap`, as dhat-rs writes it), which valgrind's viewer `dh_view.html` opens.
//!
//! One program point (PP) per callsite: total bytes and blocks (`tb`, `tbk`) with their summed
//! lifetimes (`tl`), the callsite's own maximum (`mb`, `mbk`), what it held at the heap's peak
//! (`gb`, `gbk`, at t-gmax `tg`) and at the snapshot (`eb`, `ebk`, at t-end `te`). Times are in
//! microseconds since the tracker started (`tu` "µs", `Mtu` "s"); `tuth`, the viewer's
//! "short-lived" threshold, is 1 ms, the text report's. Frames (`fs`, innermost first, indices
//! into `ftbl`, whose entry 0 is `[root]`) are the callsite's trimmed stack, one entry per
//! address and inlined call: `0x55…: function (file:line:col)`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use super::symbolize::{self, Frame};
use crate::guard::with_guard;
use crate::snapshot::{CallsiteStats, Snapshot};

/// The viewer's threshold of a short-lived block, in `tu` (µs): 1 ms.
const SHORT_LIVED_US: u64 = 1000;

/// One program point's figures, in the viewer's field order.
#[derive(Default)]
struct Pp {
    tb: u64,
    tbk: u64,
    tl: u64,
    mb: u64,
    mbk: u64,
    gb: u64,
    gbk: u64,
    eb: u64,
    ebk: u64,
}

impl Pp {
    /// Adds a callsite's figures. Callsites whose shown frames are identical become one PP (the
    /// viewer refuses a repeated location); their maxima are then summed, an upper bound of the
    /// merged maximum (they may have peaked at different times), every other figure is exact.
    fn add(&mut self, cs: &CallsiteStats) {
        self.tb += cs.total_bytes;
        self.tbk += cs.total_blocks;
        self.tl += cs.lifetime_ns / 1000;
        self.mb += cs.max_live_bytes;
        self.mbk += cs.max_live_blocks;
        self.gb += cs.peak_bytes;
        self.gbk += cs.peak_blocks;
        self.eb += cs.live_bytes;
        self.ebk += cs.live_blocks;
    }
}

/// The frame table under construction.
struct Frames {
    table: Vec<String>,
    index: HashMap<(usize, Frame), usize>,
    named: HashMap<&'static str, usize>,
}

impl Frames {
    fn new() -> Self {
        Frames {
            table: vec!["[root]".to_owned()],
            index: HashMap::new(),
            named: HashMap::new(),
        }
    }

    /// The entry of `frame` at return address `ip`: `0x…: function (file:line:col)`.
    fn frame(&mut self, ip: usize, frame: &Frame) -> usize {
        if let Some(&i) = self.index.get(&(ip, frame.clone())) {
            return i;
        }
        let mut entry = format!("{ip:#x}: {}", frame.name_without_generics());
        if let Some(file) = &frame.file {
            let _ = write!(entry, " ({file}");
            if let Some(line) = frame.line {
                let _ = write!(entry, ":{line}");
                if let Some(col) = frame.column {
                    let _ = write!(entry, ":{col}");
                }
            }
            entry.push(')');
        }
        self.table.push(entry);
        self.index.insert((ip, frame.clone()), self.table.len() - 1);
        self.table.len() - 1
    }

    /// A frame standing for a callsite without one to show.
    fn placeholder(&mut self, what: &'static str) -> usize {
        if let Some(&i) = self.named.get(what) {
            return i;
        }
        self.table.push(what.to_owned());
        self.named.insert(what, self.table.len() - 1);
        self.table.len() - 1
    }
}

/// `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Snapshot {
    /// Writes the snapshot as DHAT's JSON (`dhatFileVersion` 2, mode `rust-heap`), the file
    /// valgrind's DHAT viewer (`dh_view.html`, "Load…") opens: per callsite, total bytes and
    /// blocks with their average lifetime, the callsite's maximum, its bytes at the heap's peak
    /// (t-gmax) and at the snapshot (t-end), under its trimmed stack.
    ///
    /// Callsites whose shown frames are identical are one program point (the viewer refuses a
    /// repeated stack): their figures are summed, and their maxima too, which then bound the
    /// true maximum from above. Symbolizes what is not cached yet; what this allocates is the
    /// caller's.
    ///
    /// ```
    /// #[global_allocator]
    /// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    ///     alloc_tracker::Tracked::new(std::alloc::System);
    ///
    /// let kept = std::hint::black_box(vec![0u8; 4096]);
    /// let mut json = Vec::new();
    /// alloc_tracker::snapshot().write_dhat(&mut json).unwrap();
    /// let json = String::from_utf8(json).unwrap();
    /// assert!(json.starts_with("{\"dhatFileVersion\":2,\"mode\":\"rust-heap\""));
    /// // std::fs::write("dhat.json", &json), then open it in dh_view.html.
    /// # drop(kept);
    /// ```
    pub fn write_dhat(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut frames = Frames::new();
        let mut pps: Vec<(Vec<usize>, Pp)> = Vec::new();
        let mut by_stack: HashMap<Vec<usize>, usize> = HashMap::new();
        for cs in self.callsites() {
            if cs.total_blocks == 0 && cs.live_blocks == 0 {
                continue;
            }
            let mut fs = Vec::new();
            if cs.stack().is_empty() {
                fs.push(frames.placeholder("[no stack recorded]"));
            } else {
                with_guard(|_| symbolize::fill(cs.stack()));
                symbolize::for_each_trimmed_address(cs.stack(), |ip, kept| {
                    fs.extend(kept.iter().map(|f| frames.frame(ip, f)));
                });
                if fs.is_empty() {
                    fs.push(frames.placeholder("[allocation machinery only]"));
                }
            }
            let at = *by_stack.entry(fs.clone()).or_insert_with(|| {
                pps.push((fs, Pp::default()));
                pps.len() - 1
            });
            pps[at].1.add(cs);
        }

        let mut out = String::new();
        out.push_str("{\"dhatFileVersion\":2,\"mode\":\"rust-heap\",\"verb\":\"Allocated\",");
        out.push_str("\"bklt\":true,\"bkacc\":false,\"tu\":\"µs\",\"Mtu\":\"s\",");
        let _ = write!(out, "\"tuth\":{SHORT_LIVED_US},\"cmd\":");
        let cmd: Vec<String> = std::env::args().collect();
        json_string(&mut out, &cmd.join(" "));
        let _ = write!(
            out,
            ",\"pid\":{},\"tg\":{},\"te\":{},\n\"pps\":[",
            std::process::id(),
            self.peak_at_ns() / 1000,
            self.elapsed_ns() / 1000,
        );
        for (i, (fs, pp)) in pps.iter().enumerate() {
            let _ = write!(
                out,
                "{}\n{{\"tb\":{},\"tbk\":{},\"tl\":{},\"mb\":{},\"mbk\":{},\"gb\":{},\"gbk\":{},\
                 \"eb\":{},\"ebk\":{},\"fs\":{:?}}}",
                if i == 0 { "" } else { "," },
                pp.tb,
                pp.tbk,
                pp.tl,
                pp.mb,
                pp.mbk,
                pp.gb,
                pp.gbk,
                pp.eb,
                pp.ebk,
                fs,
            );
        }
        out.push_str("\n],\n\"ftbl\":[");
        for (i, entry) in frames.table.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            json_string(&mut out, entry);
        }
        out.push_str("\n]\n}\n");
        w.write_all(out.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::json_string;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut out = String::new();
        json_string(&mut out, "a \"b\" \\c\n\u{1}µ");
        assert_eq!(out, r#""a \"b\" \\c\n\u0001µ""#);
    }
}
