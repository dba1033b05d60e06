//! Peak polyphony over all tracks from each track's sorted run of per-tick note-count changes, merged without a sort.
//!
//! Each change is packed into one `u64` (tick above, biased delta below) so that runs merge by plain integer
//! comparison with no branch on the data, and the last merge computes the peak as it goes instead of writing out.
//! A change that does not fit (a tick past 2^40 or a delta past 2^23, only in broken files) switches the file to a
//! wide `(tick, delta)` list merged the slower way.

/// Bits of the packed word that hold the biased delta.
const DELTA_BITS: u32 = 24;
const BIAS: i64 = 1 << (DELTA_BITS - 1);
const DELTA_MASK: u64 = (1 << DELTA_BITS) - 1;
/// First tick that no longer fits above the delta.
const TICK_LIMIT: u64 = 1 << (64 - DELTA_BITS);

/// Per-thread buffers, reused across files.
#[derive(Default)]
pub(crate) struct Polyphony {
    /// Packed changes, ascending within each run.
    packed: Vec<u64>,
    /// Merge buffer for `packed`.
    buf: Vec<u64>,
    /// Every change as `(tick, delta)`, only once one did not fit in `packed`.
    wide: Vec<(u64, i32)>,
    wide_buf: Vec<(u64, i32)>,
    is_wide: bool,
    /// Where each track's run ends.
    runs: Vec<usize>,
}

impl Polyphony {
    pub fn reset(&mut self) {
        // Do not let one huge file pin memory on a worker thread forever.
        if self.packed.capacity() > 1 << 22 {
            self.packed = Vec::new();
            self.buf = Vec::new();
        }
        self.packed.clear();
        self.wide = Vec::new();
        self.wide_buf = Vec::new();
        self.is_wide = false;
        self.runs.clear();
    }

    /// The net change of sounding notes at `tick` in the current track (ticks ascend within a track).
    #[inline(always)]
    pub fn push(&mut self, tick: u64, delta: i32) {
        let d = i64::from(delta);
        if !self.is_wide && tick < TICK_LIMIT && (-BIAS..BIAS).contains(&d) {
            self.packed.push((tick << DELTA_BITS) | (d + BIAS) as u64);
        } else {
            self.widen();
            self.wide.push((tick, delta));
        }
    }

    #[cold]
    fn widen(&mut self) {
        if !self.is_wide {
            self.is_wide = true;
            self.wide = self.packed.iter().map(|&p| unpack(p)).collect();
        }
    }

    /// The current track ends: its run is complete.
    pub fn end_run(&mut self) {
        let len = if self.is_wide {
            self.wide.len()
        } else {
            self.packed.len()
        };
        self.runs.push(len);
    }

    /// Most notes sounding at once after any tick, all runs summed.
    pub fn peak(&mut self) -> i64 {
        if self.is_wide {
            return peak_of_sorted(
                merge_runs_wide(&mut self.wide, &self.runs, &mut self.wide_buf)
                    .iter()
                    .copied(),
            );
        }
        let mut bounds = run_bounds(&self.runs, self.packed.len());
        let (mut src, mut dst) = (&mut self.packed, &mut self.buf);
        // Pairwise rounds down to two runs; the last merge feeds the peak directly.
        while bounds.len() > 3 {
            dst.clear();
            dst.resize(src.len(), 0);
            let mut next = vec![0usize];
            let mut i = 0;
            while i + 1 < bounds.len() {
                let (a0, a1) = (bounds[i], bounds[i + 1]);
                let b1 = if i + 2 < bounds.len() { bounds[i + 2] } else { a1 };
                merge_into(&src[a0..a1], &src[a1..b1], &mut dst[a0..b1]);
                next.push(b1);
                i += 2;
            }
            bounds = next;
            std::mem::swap(&mut src, &mut dst);
        }
        let mid = if bounds.len() == 3 { bounds[1] } else { src.len() };
        let (a, b) = src.split_at(mid);
        peak_of_merge(a, b)
    }
}

/// Run boundaries `0, end1, end2, ..., len` without empty runs.
fn run_bounds(ends: &[usize], len: usize) -> Vec<usize> {
    let mut bounds: Vec<usize> = Vec::with_capacity(ends.len() + 2);
    bounds.push(0);
    bounds.extend(ends.iter().copied().filter(|&e| e <= len));
    if bounds.last() != Some(&len) {
        bounds.push(len);
    }
    bounds.dedup();
    bounds
}

#[inline(always)]
fn unpack(p: u64) -> (u64, i32) {
    (p >> DELTA_BITS, ((p & DELTA_MASK) as i64 - BIAS) as i32)
}

/// Merges two ascending runs into `out` (exactly their combined length), choosing by a select, not a branch.
fn merge_into(a: &[u64], b: &[u64], out: &mut [u64]) {
    let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
    while i < a.len() && j < b.len() && k < out.len() {
        let (x, y) = (a[i], b[j]);
        let take_b = y < x;
        out[k] = if take_b { y } else { x };
        j += usize::from(take_b);
        i += usize::from(!take_b);
        k += 1;
    }
    let rest = if i < a.len() { &a[i..] } else { &b[j..] };
    if let Some(o) = out.get_mut(k..k + rest.len()) {
        o.copy_from_slice(rest);
    }
}

/// The peak of the running sum, read after the last change of each tick, over the merge of two ascending runs.
fn peak_of_merge(a: &[u64], b: &[u64]) -> i64 {
    let (mut i, mut j) = (0usize, 0usize);
    let mut cur: i64 = 0;
    let mut poly: i64 = 0;
    let mut tick = u64::MAX;
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        let take_b = y < x;
        let p = if take_b { y } else { x };
        j += usize::from(take_b);
        i += usize::from(!take_b);
        let t = p >> DELTA_BITS;
        // A new tick: the running sum now is the one after the previous tick's last change.
        poly = if t != tick { poly.max(cur) } else { poly };
        tick = t;
        cur += (p & DELTA_MASK) as i64 - BIAS;
    }
    for &p in a[i..].iter().chain(&b[j..]) {
        let t = p >> DELTA_BITS;
        poly = if t != tick { poly.max(cur) } else { poly };
        tick = t;
        cur += (p & DELTA_MASK) as i64 - BIAS;
    }
    poly.max(cur)
}

/// The peak of the running sum (floored at 0), read after the last change of each tick, over changes sorted by tick.
fn peak_of_sorted(edges: impl Iterator<Item = (u64, i32)>) -> i64 {
    let mut cur: i64 = 0;
    let mut poly: i64 = 0;
    let mut tick = None;
    for (t, d) in edges {
        if tick != Some(t) {
            poly = poly.max(cur);
            tick = Some(t);
        }
        cur = (cur + i64::from(d)).max(0);
    }
    poly.max(cur)
}

/// Merge the per-track sorted runs of `edges` (each run ends at an offset in `ends`) bottom-up, pairwise:
/// O(n log tracks), where sorting every edge would be O(n log n).
fn merge_runs_wide<'a>(
    edges: &'a mut Vec<(u64, i32)>,
    ends: &[usize],
    buf: &'a mut Vec<(u64, i32)>,
) -> &'a [(u64, i32)] {
    let mut bounds = run_bounds(ends, edges.len());
    let (mut src, mut dst) = (edges, buf);
    while bounds.len() > 2 {
        dst.clear();
        let mut next = vec![0usize];
        let mut i = 0;
        while i + 1 < bounds.len() {
            let (a0, a1) = (bounds[i], bounds[i + 1]);
            let b1 = if i + 2 < bounds.len() { bounds[i + 2] } else { a1 };
            let (mut x, mut y) = (a0, a1);
            while x < a1 && y < b1 {
                if src[y].0 < src[x].0 {
                    dst.push(src[y]);
                    y += 1;
                } else {
                    dst.push(src[x]);
                    x += 1;
                }
            }
            dst.extend_from_slice(&src[x..a1]);
            dst.extend_from_slice(&src[y..b1]);
            next.push(dst.len());
            i += 2;
        }
        bounds = next;
        std::mem::swap(&mut src, &mut dst);
    }
    src
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peak(runs: &[&[(u64, i32)]], force_wide: bool) -> i64 {
        let mut p = Polyphony::default();
        if force_wide {
            p.widen();
        }
        for run in runs {
            for &(t, d) in *run {
                p.push(t, d);
            }
            p.end_run();
        }
        p.peak()
    }

    /// Reference: every change sorted by tick, the running sum read at tick ends.
    fn brute(runs: &[&[(u64, i32)]]) -> i64 {
        let mut all: Vec<(u64, i32)> = runs.iter().flat_map(|r| r.iter().copied()).collect();
        all.sort_by_key(|e| e.0);
        peak_of_sorted(all.into_iter())
    }

    #[test]
    fn merged_runs_peak_as_a_full_sort_does() {
        let cases: Vec<Vec<&[(u64, i32)]>> = vec![
            vec![],
            vec![&[(0, 2), (5, -2)]],
            // Offs and ons at one tick in different tracks net out: the peak is read after the tick.
            vec![&[(0, 3), (4, -3)], &[(4, 3), (8, -3)]],
            vec![
                &[(0, 1), (5, -1), (9, 1), (10, -1)],
                &[(1, 1), (5, 1), (6, -2)],
                &[(2, 1), (3, -1)],
                &[(8, 2), (9, -2)],
            ],
            vec![&[], &[(7, 4), (9, -4)], &[], &[(7, 1), (8, -1)], &[(7, 2), (10, -2)]],
        ];
        for runs in &cases {
            let want = brute(runs);
            assert_eq!(peak(runs, false), want, "{runs:?}");
            assert_eq!(peak(runs, true), want, "{runs:?}");
        }
        assert_eq!(peak(&cases[3], false), 3);
    }

    #[test]
    fn changes_too_large_to_pack_switch_to_the_wide_list() {
        let huge = TICK_LIMIT + 5;
        let (a, b) = ([(0, 1), (huge, -1)], [(3, 1 << 24), (huge, -(1 << 24))]);
        let runs: Vec<&[(u64, i32)]> = vec![&a, &b];
        assert_eq!(peak(&runs, false), brute(&runs));
        assert_eq!(peak(&runs, false), (1 << 24) + 1);
    }
}
