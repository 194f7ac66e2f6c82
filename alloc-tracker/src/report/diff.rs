//! [`Snapshot::diff`]: the callsites whose live bytes grew between two snapshots, the growth
//! suspects of a long-running service (take a snapshot, let it run, take another, compare).

use std::collections::HashMap;

use super::symbolize::Frame;
use crate::snapshot::{CallsiteStats, Snapshot};

/// A callsite whose live bytes grew between two snapshots (from [`Snapshot::diff`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Growth {
    /// The callsite's counters in the later snapshot.
    pub now: CallsiteStats,
    /// Its live bytes in the earlier snapshot (0 if it had allocated nothing by then).
    pub before_bytes: u64,
    /// Its live blocks in the earlier snapshot.
    pub before_blocks: u64,
}

impl Growth {
    /// Live bytes gained: `now.live_bytes - before_bytes` (always more than 0).
    pub fn grown_bytes(&self) -> u64 {
        self.now.live_bytes - self.before_bytes
    }

    /// Live blocks gained (negative when fewer, larger blocks hold more bytes than before).
    pub fn grown_blocks(&self) -> i64 {
        self.now.live_blocks as i64 - self.before_blocks as i64
    }

    /// The callsite's trimmed frames (see [`CallsiteStats::resolve`]).
    pub fn resolve(&self) -> Vec<Frame> {
        self.now.resolve()
    }
}

impl Snapshot {
    /// The callsites whose live bytes grew since `earlier` (a snapshot taken before this one),
    /// largest growth first (ties: most live bytes now first). Callsites are matched by stack; one
    /// that `earlier` did not have grew from zero. Callsites that shrank or stayed level are left
    /// out.
    ///
    /// ```
    /// #[global_allocator]
    /// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    ///     alloc_tracker::Tracked::new(std::alloc::System);
    ///
    /// let before = alloc_tracker::snapshot();
    /// let cache: Vec<Box<[u8; 1000]>> = (0..10).map(|_| Box::new([0u8; 1000])).collect();
    /// let growth = alloc_tracker::snapshot().diff(&before);
    /// let top = &growth[0];
    /// println!("+{} bytes in {:+} blocks", top.grown_bytes(), top.grown_blocks());
    /// // +10000 bytes in +10 blocks
    /// assert_eq!((top.grown_bytes(), top.grown_blocks()), (10_000, 10));
    /// # drop(cache);
    /// ```
    pub fn diff(&self, earlier: &Snapshot) -> Vec<Growth> {
        let before: HashMap<&[usize], &CallsiteStats> =
            earlier.callsites().iter().map(|c| (c.stack(), c)).collect();
        let mut grown: Vec<Growth> = self
            .callsites()
            .iter()
            .filter_map(|now| {
                let (before_bytes, before_blocks) = before
                    .get(now.stack())
                    .map_or((0, 0), |b| (b.live_bytes, b.live_blocks));
                (now.live_bytes > before_bytes).then(|| Growth {
                    now: now.clone(),
                    before_bytes,
                    before_blocks,
                })
            })
            .collect();
        grown.sort_by(|a, b| {
            b.grown_bytes()
                .cmp(&a.grown_bytes())
                .then(b.now.live_bytes.cmp(&a.now.live_bytes))
        });
        grown
    }
}
