//! Marking and classification over a frozen copy of the block list.
//!
//! Blocks are sorted by address with a coarse index over the address span, so "the live block
//! containing address X" is a range check, one index load and a short binary search. Marking
//! reads every aligned word of every root range and of every block reached, with an explicit
//! work list (a deep list must not overflow the stack). What stays unmarked is leaked; among
//! those, the strongly connected components of "points to" decide the classes, with an
//! iterative Tarjan: a component that no other leaked block points to is a leak's origin, and
//! exactly one of its blocks is **direct** (the first allocated, approximated by the lowest
//! callsite id, then the lowest address); every other leaked block is **indirect**.

use super::mem::MmapVec;

/// A block's class (see DESIGN.md's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Class {
    /// Not reached (yet).
    Leaked = 0,
    Reachable = 1,
    Direct = 2,
    Indirect = 3,
}

/// One live block in the scan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blk {
    pub addr: usize,
    pub end: usize,
    pub id: u32,
    pub ignored: bool,
    pub class: Class,
    /// Tarjan's stack membership.
    on_stack: bool,
    /// Some block of another leaked component points into this block's component (set on the
    /// component's root).
    pointed_to: bool,
}

impl Blk {
    pub(crate) fn new(addr: usize, size: usize, id: u32, ignored: bool) -> Blk {
        Blk {
            addr,
            end: addr.saturating_add(size),
            id,
            ignored,
            class: Class::Leaked,
            on_stack: false,
            pointed_to: false,
        }
    }
}

/// The blocks, sorted, with their index and the marking state.
pub(crate) struct Heap {
    pub blocks: MmapVec<Blk>,
    index: MmapVec<u32>,
    min: usize,
    max_end: usize,
    shift: u32,
    work: MmapVec<u32>,
}

/// Asks the processor to start loading the cache line at `addr` (a hint: never faults).
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that does not fault, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Reads the word at `p` (8-aligned, inside memory the caller knows is mapped and readable).
///
/// Nothing writes the memory the scan reads while it runs: other threads are stopped, and the
/// block map frozen. The exceptions are threads that cannot be stopped (jemalloc's background
/// threads, writing jemalloc's own statics): a value read mid-change there can only make a block
/// look reachable or not for that one word, as a conservative collector's snapshot would.
#[inline(always)]
fn word(p: usize) -> usize {
    // SAFETY: the callers pass addresses inside root ranges (mapped, readable segments and
    // stacks of stopped threads, bounded by the memory map) or inside live blocks (the block
    // map is frozen, so none is freed meanwhile). Volatile: other threads' memory, read as the
    // conservative collectors do.
    unsafe { core::ptr::read_volatile(p as *const usize) }
}

impl Heap {
    /// Sorts `blocks` and builds the index; `None` if memory for it could not be mapped.
    pub(crate) fn new(mut blocks: MmapVec<Blk>) -> Option<Heap> {
        blocks.as_mut_slice().sort_unstable_by_key(|b| b.addr);
        let n = blocks.len();
        let (min, max_end) = match blocks.as_slice() {
            [] => (0, 0),
            all => (all[0].addr, all.iter().map(|b| b.end).max().unwrap_or(0)),
        };
        let span = max_end - min;
        // About two index entries per block, at least one per 4 KiB.
        let mut shift = 12;
        while (span >> shift) > 2 * n + 16 {
            shift += 1;
        }
        let chunks = (span >> shift) + 2;
        let mut index = MmapVec::zeroed(chunks)?;
        let mut b = 0usize;
        for c in 0..chunks {
            let start = min.saturating_add(c << shift);
            while b < n && blocks[b].addr < start {
                b += 1;
            }
            index[c] = b as u32;
        }
        Some(Heap {
            work: MmapVec::with_capacity(n)?,
            blocks,
            index,
            min,
            max_end,
            shift,
        })
    }

    /// The block containing address `x`, at its start or inside it.
    #[inline]
    pub(crate) fn find(&self, x: usize) -> Option<usize> {
        if x < self.min || x >= self.max_end {
            return None;
        }
        let c = (x - self.min) >> self.shift;
        let (lo, hi) = (self.index[c] as usize, self.index[c + 1] as usize);
        let blocks = self.blocks.as_slice();
        let i = lo + blocks[lo..hi].partition_point(|b| b.addr <= x);
        let i = i.checked_sub(1)?;
        (x < blocks[i].end).then_some(i)
    }

    /// Marks as reachable every block that one of `values` (register contents) points into.
    pub(crate) fn mark_values(&mut self, values: &[usize]) {
        for &v in values {
            if let Some(i) = self.find(v) {
                self.reach(i);
            }
        }
    }

    /// Marks as reachable every block that a word of `[lo, hi)` points into.
    ///
    /// Most words are not addresses in the heap's span, so they are tested eight at a time
    /// without a branch (the loop vectorizes) and only a chunk with a candidate is looked at word
    /// by word.
    pub(crate) fn mark_range(&mut self, lo: usize, hi: usize) {
        let start = lo.next_multiple_of(8);
        if hi < start.saturating_add(8) {
            return;
        }
        let n = (hi - start) / 8;
        let words = start as *const usize;
        let (min, span) = (self.min, self.max_end - self.min);
        let mut i = 0;
        while i < n {
            let end = (i + 8).min(n);
            let mut any = false;
            for k in i..end {
                // SAFETY: `k < n`: inside `[lo, hi)`, which the callers know is mapped and
                // readable (see `word`).
                any |= unsafe { words.add(k).read() }.wrapping_sub(min) < span;
            }
            if any {
                for k in i..end {
                    if let Some(b) = self.find(word(start + 8 * k)) {
                        self.reach(b);
                    }
                }
            }
            i = end;
        }
    }

    #[inline]
    fn reach(&mut self, i: usize) {
        if self.blocks[i].class == Class::Leaked {
            self.blocks[i].class = Class::Reachable;
            self.work.push(i as u32);
        }
    }

    /// Marks the ignored blocks (kept on purpose) as roots.
    pub(crate) fn mark_ignored(&mut self) {
        for i in 0..self.blocks.len() {
            if self.blocks[i].ignored {
                self.reach(i);
            }
        }
    }

    /// Follows every marked block's contents until nothing new is reached.
    ///
    /// The work list is read first in, first out (each block enters it once, so it is an array
    /// with a read cursor): blocks are then read in the order they were found, which for a
    /// container of blocks is their address order, and the next block is prefetched while one is
    /// read (its first 1 KiB, one block ahead). Last in, first out read 1 GiB in 1 M blocks in
    /// 320 ms; this order with the prefetch, 135 ms
    /// (`benches/RESULTS.md`, "Reachability scan").
    pub(crate) fn propagate(&mut self) {
        let mut next = 0;
        while next < self.work.len() {
            let i = self.work[next] as usize;
            next += 1;
            if let Some(&j) = self.work.as_slice().get(next + 1) {
                let ahead = self.blocks[j as usize];
                let mut line = ahead.addr & !63;
                while line < ahead.end.min(ahead.addr + 1024) {
                    prefetch(line);
                    line += 64;
                }
            }
            let b = self.blocks[i];
            self.mark_range(b.addr, b.end);
        }
    }

    /// Leaked blocks that block `v`'s words point into, from word address `at` on: the next
    /// one and where to go on from.
    fn next_leaked_edge(&self, v: usize, mut at: usize) -> Option<(usize, usize)> {
        let end = self.blocks[v].end;
        while at.saturating_add(8) <= end {
            let w = word(at);
            at += 8;
            if let Some(j) = self.find(w)
                && self.blocks[j].class == Class::Leaked
            {
                return Some((j, at));
            }
        }
        None
    }

    /// Splits the blocks still unmarked into direct and indirect leaks (see the module docs).
    pub(crate) fn classify_leaks(&mut self) -> Option<()> {
        let n = self.blocks.len();
        if !self
            .blocks
            .as_slice()
            .iter()
            .any(|b| b.class == Class::Leaked)
        {
            return Some(());
        }
        // Tarjan, iteratively (see `Tarjan`).
        let mut t = Tarjan {
            order: MmapVec::zeroed(n)?,
            low: MmapVec::zeroed(n)?,
            comp: MmapVec::zeroed(n)?,
            stack: MmapVec::with_capacity(n)?,
            calls: MmapVec::with_capacity(n)?,
            counter: 0,
        };
        for v0 in 0..n {
            if self.blocks[v0].class != Class::Leaked || t.order[v0] != 0 {
                continue;
            }
            t.enter(self, v0);
            while let Some(&(v, at)) = t.calls.as_slice().last() {
                let v = v as usize;
                if let Some((w, next)) = self.next_leaked_edge(v, at) {
                    let top = t.calls.len() - 1;
                    t.calls[top].1 = next;
                    if t.order[w] == 0 {
                        t.enter(self, w);
                    } else if self.blocks[w].on_stack {
                        t.low[v] = t.low[v].min(t.order[w]);
                    }
                    continue;
                }
                t.calls.pop();
                if let Some(&(parent, _)) = t.calls.as_slice().last() {
                    let parent = parent as usize;
                    t.low[parent] = t.low[parent].min(t.low[v]);
                }
                if t.low[v] == t.order[v] {
                    while let Some(w) = t.stack.pop() {
                        let w = w as usize;
                        self.blocks[w].on_stack = false;
                        t.comp[w] = v as u32;
                        if w == v {
                            break;
                        }
                    }
                }
            }
        }
        let Tarjan {
            mut order, comp, ..
        } = t;
        // Components pointed to from another leaked component are not a leak's origin.
        for v in 0..n {
            if self.blocks[v].class != Class::Leaked {
                continue;
            }
            let mut at = self.blocks[v].addr.next_multiple_of(8);
            while let Some((w, next)) = self.next_leaked_edge(v, at) {
                if comp[w] != comp[v] {
                    let root = comp[w] as usize;
                    self.blocks[root].pointed_to = true;
                }
                at = next;
            }
        }
        // In each origin component, one direct block: the lowest (callsite id, address).
        // `order` is reused: at each component's root, the best candidate so far.
        for v in 0..n {
            if self.blocks[v].class == Class::Leaked && comp[v] as usize == v {
                order[v] = v as u32;
            }
        }
        for v in 0..n {
            if self.blocks[v].class == Class::Leaked {
                let root = comp[v] as usize;
                if self.key(v) < self.key(order[root] as usize) {
                    order[root] = v as u32;
                }
            }
        }
        for v in 0..n {
            if self.blocks[v].class == Class::Leaked {
                let root = comp[v] as usize;
                let origin = !self.blocks[root].pointed_to;
                self.blocks[v].class = if origin && order[root] as usize == v {
                    Class::Direct
                } else {
                    Class::Indirect
                };
            }
        }
        Some(())
    }

    fn key(&self, v: usize) -> (u32, usize) {
        (self.blocks[v].id, self.blocks[v].addr)
    }
}

/// Tarjan's state: `order[v]` is v's discovery number (0: not yet seen), `low[v]` its low-link,
/// `comp[v]` the root of its component once assigned; `calls` the explicit call stack (block,
/// next word to read).
struct Tarjan {
    order: MmapVec<u32>,
    low: MmapVec<u32>,
    comp: MmapVec<u32>,
    stack: MmapVec<u32>,
    calls: MmapVec<(u32, usize)>,
    counter: u32,
}

impl Tarjan {
    fn enter(&mut self, heap: &mut Heap, v: usize) {
        self.counter += 1;
        self.order[v] = self.counter;
        self.low[v] = self.counter;
        self.stack.push(v as u32);
        heap.blocks[v].on_stack = true;
        self.calls
            .push((v as u32, heap.blocks[v].addr.next_multiple_of(8)));
    }
}
