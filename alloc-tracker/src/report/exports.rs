//! The exports written at exit (`pprof=`, `dhat=`, `flamegraph=`): each from one snapshot taken
//! after the text report, written whole to its path (`%p` is the pid).

use crate::config::{Config, FlameOf};
use crate::guard::Guard;
use crate::output::{self, Mode};
use crate::report::flame::Metric;
use crate::report::symbolize;
use crate::snapshot::{Snapshot, snapshot};
use crate::table;

/// A snapshot whose callsites are all symbolized. Under the guard: the writers resolve frames
/// through the cache, which they can fill only outside the guard, so it is filled here for every
/// callsite.
pub(crate) fn filled_snapshot() -> Snapshot {
    for cs in table::callsites() {
        symbolize::fill(&cs.stack);
    }
    snapshot()
}

/// One export's writer.
type Writer = fn(&Snapshot, &mut Vec<u8>, Metric) -> std::io::Result<()>;

/// Writes the exports `cfg` asks for. Under the guard: the snapshot, the symbols and the
/// encoded files are the tracker's own memory (overhead), in no figure they report.
pub(crate) fn write_at_exit(_guard: &Guard, cfg: &Config) {
    let snap = filled_snapshot();
    let metric = match cfg.flamegraph_of {
        FlameOf::Peak => Metric::Peak,
        FlameOf::Exit => Metric::Exit,
        FlameOf::Total => Metric::Total,
    };
    let writers: [(&Option<String>, &str, Writer); 3] = [
        (&cfg.pprof, "pprof profile", |s, w, _| s.write_pprof(w)),
        (&cfg.dhat, "DHAT profile", |s, w, _| s.write_dhat(w)),
        (&cfg.flamegraph, "flame graph", |s, w, m| {
            s.write_flamegraph(w, m)
        }),
    ];
    for (path, what, write) in writers {
        let Some(path) = path else { continue };
        // `%n` in a periodic profile's path: the exit's is the last of the sequence.
        let path = &if what == "pprof profile" {
            output::expand_seq(path, crate::profile::next_seq())
        } else {
            path.clone()
        };
        let mut bytes = Vec::new();
        match write(&snap, &mut bytes, metric) {
            Ok(()) => {
                output::write_file(path, Mode::Replace, what, &bytes);
            }
            Err(e) => output::write_stderr(
                format!("alloc-tracker: warning: cannot encode the {what} ({e})\n").as_bytes(),
            ),
        }
    }
}
