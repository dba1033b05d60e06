//! One bzip2 block decoded from its bits, faster than libbz2: Huffman codes looked up several bits at a time, the
//! inverse BWT walk over a vector built in one pass, the block CRC computed eight bytes at a time.
//!
//! Every check libbz2 makes is made here, in the same order and with the same arithmetic (the Huffman tables are
//! built exactly as libbz2 builds them, and the lookup table only caches what libbz2's bit-by-bit search would
//! find), so a block decodes here exactly when it decodes there, to the same bytes. Blocks written with the
//! long-obsolete "randomised" flag are left to libbz2 ([`BlockError::Randomised`]).

/// Why a block did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockError {
    /// The bits are not a valid block (corrupt, or cut short / too long).
    Bad(&'static str),
    /// The output would pass the caller's cap.
    TooBig,
    /// The block uses bzip2 0.9's randomisation, which only the reference decoder handles.
    Randomised,
}

const BLOCK_MAGIC: u64 = 0x3141_5926_5359;
const MAX_GROUPS: usize = 6;
const MAX_ALPHA: usize = 258;
const MAX_CODE_LEN: usize = 23;
const MAX_SELECTORS: usize = 18_002;
const GROUP_SIZE: u32 = 50;
/// Bits looked up at once when decoding a Huffman symbol; longer codes take libbz2's bit-by-bit path.
const LUT_BITS: u32 = 10;

/// Reads bits most significant first from `data`, from bit `pos` on; bits past the end of `data` read as zeros
/// (the caller checks where decoding stopped).
struct Bits<'a> {
    data: &'a [u8],
    pos: u64,
}

impl Bits<'_> {
    /// The next 32 bits, without consuming them.
    #[inline(always)]
    fn peek32(&self) -> u32 {
        let byte = (self.pos >> 3) as usize;
        let word = match self.data.get(byte..byte + 8) {
            Some(b) => u64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
            None => {
                let mut b = [0u8; 8];
                if byte < self.data.len() {
                    let rest = &self.data[byte..];
                    b[..rest.len()].copy_from_slice(rest);
                }
                u64::from_be_bytes(b)
            }
        };
        ((word << (self.pos & 7)) >> 32) as u32
    }

    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        debug_assert!((1..=32).contains(&n));
        let v = self.peek32() >> (32 - n);
        self.pos += u64::from(n);
        v
    }

    #[inline(always)]
    fn bit(&mut self) -> bool {
        self.take(1) == 1
    }
}

/// One Huffman table: libbz2's limit/base/perm arrays plus a lookup table of the first [`LUT_BITS`] bits.
struct Table {
    min_len: u32,
    limit: [i32; MAX_CODE_LEN],
    base: [i32; MAX_CODE_LEN],
    perm: [u16; MAX_ALPHA],
    /// `len << 16 | symbol` for the code the first bits resolve to; 0 when libbz2's search must run.
    lut: [u32; 1 << LUT_BITS],
}

impl Table {
    fn new() -> Self {
        Table {
            min_len: 0,
            limit: [0; MAX_CODE_LEN],
            base: [0; MAX_CODE_LEN],
            perm: [0; MAX_ALPHA],
            lut: [0; 1 << LUT_BITS],
        }
    }

    /// libbz2's `BZ2_hbCreateDecodeTables`, then the lookup table.
    fn build(&mut self, lens: &[u8]) {
        let min = u32::from(*lens.iter().min().unwrap_or(&1));
        let max = u32::from(*lens.iter().max().unwrap_or(&1));
        let mut pp = 0;
        self.perm = [0; MAX_ALPHA];
        for i in min..=max {
            for (j, &l) in lens.iter().enumerate() {
                if u32::from(l) == i {
                    self.perm[pp] = j as u16;
                    pp += 1;
                }
            }
        }
        self.base = [0; MAX_CODE_LEN];
        for &l in lens {
            self.base[usize::from(l) + 1] += 1;
        }
        for i in 1..MAX_CODE_LEN {
            self.base[i] += self.base[i - 1];
        }
        self.limit = [0; MAX_CODE_LEN];
        let mut vec = 0i32;
        for i in min as usize..=max as usize {
            vec += self.base[i + 1] - self.base[i];
            self.limit[i] = vec - 1;
            vec <<= 1;
        }
        for i in min as usize + 1..=max as usize {
            self.base[i] = ((self.limit[i - 1] + 1) << 1) - self.base[i];
        }
        self.min_len = min;
        for p in 0..1u32 << LUT_BITS {
            self.lut[p as usize] = self.resolve(p).unwrap_or(0);
        }
    }

    /// What libbz2's search finds for a code starting with the [`LUT_BITS`] bits `p`, if it ends within them.
    fn resolve(&self, p: u32) -> Option<u32> {
        let mut zn = self.min_len;
        loop {
            if zn > LUT_BITS || zn > 20 {
                return None;
            }
            let zvec = (p >> (LUT_BITS - zn)) as i32;
            if zvec <= self.limit[zn as usize] {
                let idx = zvec - self.base[zn as usize];
                return (0..MAX_ALPHA as i32)
                    .contains(&idx)
                    .then(|| (zn << 16) | u32::from(self.perm[idx as usize]));
            }
            zn += 1;
        }
    }

    /// The next symbol from the top bits of `buf` (at least 20 valid) and its code length.
    #[inline(always)]
    fn decode(&self, buf: u64) -> Result<(u32, u32), BlockError> {
        let e = self.lut[(buf >> (64 - LUT_BITS)) as usize];
        if e != 0 {
            return Ok((e & 0xffff, e >> 16));
        }
        self.decode_slow((buf >> 32) as u32)
    }

    /// libbz2's bit-by-bit search (`GET_MTF_VAL`), for codes longer than the lookup table.
    #[cold]
    fn decode_slow(&self, window: u32) -> Result<(u32, u32), BlockError> {
        let mut zn = self.min_len;
        loop {
            if zn > 20 {
                return Err(BlockError::Bad("bzip2 Huffman code too long"));
            }
            let zvec = (window >> (32 - zn)) as i32;
            if zvec <= self.limit[zn as usize] {
                let idx = zvec - self.base[zn as usize];
                if !(0..MAX_ALPHA as i32).contains(&idx) {
                    return Err(BlockError::Bad("bzip2 Huffman code out of range"));
                }
                return Ok((u32::from(self.perm[idx as usize]), zn));
            }
            zn += 1;
        }
    }
}

/// A 64-bit bit buffer for the symbol loop, kept in locals there: `buf` holds `have` valid bits at its top, the
/// next unread byte is `next`; bytes past the end of `data` read as zeros, like [`Bits`].
struct Fast<'a> {
    data: &'a [u8],
    buf: u64,
    have: u32,
    next: usize,
}

impl<'a> Fast<'a> {
    fn from_bits(r: &Bits<'a>) -> Self {
        let mut f = Fast {
            data: r.data,
            buf: 0,
            have: 0,
            next: (r.pos >> 3) as usize,
        };
        f.refill();
        let skip = (r.pos & 7) as u32;
        f.buf <<= skip;
        f.have -= skip;
        f
    }

    /// The bit position of the next unread bit.
    fn pos(&self) -> u64 {
        self.next as u64 * 8 - u64::from(self.have)
    }

    /// At least 56 valid bits afterwards.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(b) = self.data.get(self.next..self.next + 8) {
            let word = u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
            self.buf |= word >> self.have;
            self.next += ((63 - self.have) >> 3) as usize;
            self.have |= 56;
        } else {
            self.refill_tail();
        }
    }

    #[cold]
    fn refill_tail(&mut self) {
        while self.have <= 56 {
            let b = self.data.get(self.next).copied().unwrap_or(0);
            self.buf |= u64::from(b) << (56 - self.have);
            self.have += 8;
            self.next += 1;
        }
    }
}

/// A block decoder with its buffers, reused from block to block (a worker keeps one).
pub(crate) struct BlockDecoder {
    tables: Vec<Table>,
    selectors: Vec<u8>,
    /// The block after Huffman, MTF and run decoding (one byte per entry), then the inverse BWT's vector.
    tt: HugeBuf,
    /// The block before its first run-length stage is undone.
    walked: Vec<u8>,
}

impl BlockDecoder {
    pub(crate) fn new() -> Self {
        BlockDecoder {
            tables: (0..MAX_GROUPS).map(|_| Table::new()).collect(),
            selectors: Vec::new(),
            tt: HugeBuf::default(),
            walked: Vec::new(),
        }
    }

    /// Decode the block whose bits (from its magic on) are bits `first_bit..first_bit + bits` of `data`, in a
    /// stream of level `level` (`b'1'..=b'9'`), appending its output to `out`. The block must end exactly at its
    /// last bit, its CRC must match, and it may not grow `out` past `cap` bytes.
    pub(crate) fn decode(
        &mut self,
        data: &[u8],
        first_bit: u64,
        bits: u64,
        level: u8,
        out: &mut Vec<u8>,
        cap: usize,
    ) -> Result<u32, BlockError> {
        let mut r = Bits { data, pos: first_bit };
        let end = first_bit + bits;
        let max_block = 100_000 * usize::from(level.saturating_sub(b'0')).clamp(1, 9);
        let magic = (u64::from(r.take(24)) << 24) | u64::from(r.take(24));
        if magic != BLOCK_MAGIC {
            return Err(BlockError::Bad("bzip2 block magic missing"));
        }
        let stored_crc = r.take(32);
        if r.bit() {
            return Err(BlockError::Randomised);
        }
        let orig_ptr = r.take(24) as usize;
        if orig_ptr > 10 + max_block {
            return Err(BlockError::Bad("bzip2 block origin out of range"));
        }
        let seq_to_unseq = read_used_bytes(&mut r)?;
        let alpha = seq_to_unseq.len() + 2;
        self.read_tables(&mut r, alpha)?;
        let (n, counts) = self.read_symbols(&mut r, &seq_to_unseq, max_block)?;
        if r.pos != end {
            return Err(BlockError::Bad("bzip2 block does not end at its boundary"));
        }
        if orig_ptr >= n {
            return Err(BlockError::Bad("bzip2 block origin out of range"));
        }
        self.inverse_bwt(n, orig_ptr, counts);
        let start = out.len();
        undo_runs(&self.walked, out, cap)?;
        let crc = crc32_bzip2(&out[start..]);
        if crc != stored_crc {
            return Err(BlockError::Bad("bzip2 block CRC mismatch"));
        }
        Ok(crc)
    }

    /// Group count, selectors (MTF-coded) and the delta-coded code lengths of each table.
    fn read_tables(&mut self, r: &mut Bits, alpha: usize) -> Result<(), BlockError> {
        let groups = r.take(3) as usize;
        if !(2..=MAX_GROUPS).contains(&groups) {
            return Err(BlockError::Bad("bzip2 table count out of range"));
        }
        let n_sel = r.take(15) as usize;
        if n_sel < 1 {
            return Err(BlockError::Bad("bzip2 block without selectors"));
        }
        let mut pos: [u8; MAX_GROUPS] = [0, 1, 2, 3, 4, 5];
        self.selectors.clear();
        for i in 0..n_sel {
            let mut j = 0usize;
            while r.bit() {
                j += 1;
                if j >= groups {
                    return Err(BlockError::Bad("bzip2 selector out of range"));
                }
            }
            // libbz2 1.0.8 reads selectors past its limit and ignores them.
            if i < MAX_SELECTORS {
                let v = pos[j];
                pos.copy_within(0..j, 1);
                pos[0] = v;
                self.selectors.push(v);
            }
        }
        let mut lens = [0u8; MAX_ALPHA];
        for t in 0..groups {
            let mut curr = r.take(5) as i32;
            for len in lens.iter_mut().take(alpha) {
                loop {
                    if !(1..=20).contains(&curr) {
                        return Err(BlockError::Bad("bzip2 code length out of range"));
                    }
                    if !r.bit() {
                        break;
                    }
                    if r.bit() {
                        curr -= 1;
                    } else {
                        curr += 1;
                    }
                }
                *len = curr as u8;
            }
            self.tables[t].build(&lens[..alpha]);
        }
        Ok(())
    }

    /// Huffman symbols to bytes (MTF and the RUNA/RUNB zero runs undone) into `tt`; the byte count and how many
    /// of each byte value.
    fn read_symbols(
        &mut self,
        r: &mut Bits,
        seq_to_unseq: &[u8],
        max_block: usize,
    ) -> Result<(usize, [u32; 256]), BlockError> {
        let eob = seq_to_unseq.len() as u32 + 1;
        let mut mtf = Mtf::new(seq_to_unseq);
        let mut counts = [0u32; 256];
        let tt = self.tt.get(max_block);
        let mut n = 0usize;
        let mut f = Fast::from_bits(r);
        // The bit buffer lives in locals through the loop, written back to `f` only to refill.
        let (mut buf, mut have) = (f.buf, f.have);
        // RUNA / RUNB: a run of the front byte, its length in bijective base 2, pending while `weight > 1`.
        let mut run = 0usize;
        let mut weight = 1usize;
        for &sel in &self.selectors {
            let table = &self.tables[usize::from(sel)];
            for _ in 0..GROUP_SIZE {
                if have < 20 {
                    f.buf = buf;
                    f.have = have;
                    f.refill();
                    (buf, have) = (f.buf, f.have);
                }
                let (sym, len) = table.decode(buf)?;
                buf <<= len;
                have -= len;
                if sym <= 1 {
                    if weight >= 2 * 1024 * 1024 {
                        return Err(BlockError::Bad("bzip2 run too long"));
                    }
                    run += (sym as usize + 1) * weight;
                    weight *= 2;
                    continue;
                }
                if weight > 1 {
                    let byte = mtf.front();
                    if run > max_block - n {
                        return Err(BlockError::Bad("bzip2 block too long"));
                    }
                    counts[usize::from(byte)] += run as u32;
                    tt[n..n + run].fill(u32::from(byte));
                    n += run;
                    (run, weight) = (0, 1);
                }
                if sym == eob {
                    f.have = have;
                    r.pos = f.pos();
                    return Ok((n, counts));
                }
                if n >= max_block {
                    return Err(BlockError::Bad("bzip2 block too long"));
                }
                let byte = mtf.take(sym as usize - 1);
                counts[usize::from(byte)] += 1;
                tt[n] = u32::from(byte);
                n += 1;
            }
        }
        Err(BlockError::Bad("bzip2 selectors run out"))
    }

    /// The inverse BWT into `walked`: the vector of next positions built in one pass, then walked.
    fn inverse_bwt(&mut self, n: usize, orig_ptr: usize, counts: [u32; 256]) {
        let tt = &mut self.tt.get(n)[..n];
        let mut next = [0u32; 256];
        let mut sum = 0u32;
        for (c, &k) in next.iter_mut().zip(counts.iter()) {
            *c = sum;
            sum += k;
        }
        for i in 0..n {
            let b = (tt[i] & 0xff) as usize;
            // Counts sum to `n` by construction, so every slot is inside `tt`.
            let at = next[b] as usize;
            tt[at] |= (i as u32) << 8;
            next[b] += 1;
        }
        self.walked.clear();
        self.walked.resize(n, 0);
        let mut pos = tt[orig_ptr] >> 8;
        for w in self.walked.iter_mut() {
            // Every stored position is an index below `n`.
            let e = tt[pos as usize];
            *w = e as u8;
            pos = e >> 8;
        }
    }
}

/// The move-to-front list as libbz2 keeps it: 16 sublists of 16 bytes in a larger array, so that moving the
/// byte at position `nn` to the front shifts at most 15 bytes in its sublist and one per sublist before it.
struct Mtf {
    a: [u8; MTF_SPACE],
    base: [usize; 16],
}

const MTF_SPACE: usize = 4096;

impl Mtf {
    /// The list of `bytes` in order (positions past them are never asked for: symbols stay below their count).
    fn new(bytes: &[u8]) -> Self {
        let mut m = Mtf {
            a: [0; MTF_SPACE],
            base: [0; 16],
        };
        for (l, base) in m.base.iter_mut().enumerate() {
            *base = MTF_SPACE - 256 + 16 * l;
        }
        m.a[MTF_SPACE - 256..MTF_SPACE - 256 + bytes.len()].copy_from_slice(bytes);
        m
    }

    #[inline(always)]
    fn front(&self) -> u8 {
        self.a[self.base[0]]
    }

    /// The byte at position `nn` (below 256), moved to the front.
    #[inline(always)]
    fn take(&mut self, nn: usize) -> u8 {
        if nn < 16 {
            let pp = self.base[0];
            let v = self.a[pp + nn];
            let mut k = pp + nn;
            while k > pp {
                self.a[k] = self.a[k - 1];
                k -= 1;
            }
            self.a[pp] = v;
            return v;
        }
        self.take_far(nn)
    }

    fn take_far(&mut self, nn: usize) -> u8 {
        let mut lno = nn / 16;
        let mut pp = self.base[lno] + nn % 16;
        let v = self.a[pp];
        while pp > self.base[lno] {
            self.a[pp] = self.a[pp - 1];
            pp -= 1;
        }
        self.base[lno] += 1;
        while lno > 0 {
            self.base[lno] -= 1;
            self.a[self.base[lno]] = self.a[self.base[lno - 1] + 15];
            lno -= 1;
        }
        self.base[0] -= 1;
        self.a[self.base[0]] = v;
        if self.base[0] == 0 {
            // The sublists crept to the start of the space: pack them at its end again.
            let mut kk = MTF_SPACE;
            for l in (0..16).rev() {
                for j in (0..16).rev() {
                    kk -= 1;
                    self.a[kk] = self.a[self.base[l] + j];
                }
                self.base[l] = kk;
            }
        }
        v
    }
}

/// A `u32` buffer on huge pages where the kernel offers them: the inverse BWT reads it at random, and with 4 KiB
/// pages nearly every read would also miss the address translation cache.
#[derive(Default)]
struct HugeBuf {
    v: Vec<u32>,
    /// Where the 2 MiB-aligned part starts.
    off: usize,
}

const HUGE_PAGE: usize = 2 << 20;

impl HugeBuf {
    /// `len` entries (left as the last use left them).
    fn get(&mut self, len: usize) -> &mut [u32] {
        if self.v.len() < self.off + len {
            // Zeroed and untouched: the advice below takes effect when the pages are first written.
            self.v = vec![0u32; len + HUGE_PAGE / 4];
            let addr = self.v.as_ptr() as usize;
            self.off = (addr.next_multiple_of(HUGE_PAGE) - addr) / 4;
            let bytes = (self.v.len() - self.off) * 4 / HUGE_PAGE * HUGE_PAGE;
            if bytes > 0 {
                // SAFETY: the range lies inside `self.v`'s allocation; MADV_HUGEPAGE changes no contents and
                // failing (no transparent huge pages) is harmless.
                unsafe {
                    libc::madvise(self.v.as_mut_ptr().add(self.off).cast(), bytes, libc::MADV_HUGEPAGE);
                }
            }
        }
        &mut self.v[self.off..self.off + len]
    }
}

/// The used-bytes bitmap: the byte values the block holds, in order.
fn read_used_bytes(r: &mut Bits) -> Result<Vec<u8>, BlockError> {
    let ranges = r.take(16);
    let mut used = Vec::with_capacity(256);
    for i in 0..16u32 {
        if ranges & (0x8000 >> i) != 0 {
            let bits = r.take(16);
            for j in 0..16u32 {
                if bits & (0x8000 >> j) != 0 {
                    used.push((i * 16 + j) as u8);
                }
            }
        }
    }
    if used.is_empty() {
        return Err(BlockError::Bad("bzip2 block uses no byte"));
    }
    Ok(used)
}

/// bzip2's first stage undone: four equal bytes are followed by a count of further copies.
fn undo_runs(s: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), BlockError> {
    let n = s.len();
    let mut i = 0;
    // The output is at least as long as the input: reserve that, and grow for runs.
    if out.len() + n > cap {
        return Err(BlockError::TooBig);
    }
    out.reserve(n);
    while i < n {
        // Copy bytes up to the next place where four equal bytes start.
        let mut j = i;
        while j + 3 < n && !(s[j] == s[j + 1] && s[j] == s[j + 2] && s[j] == s[j + 3]) {
            j += 1;
        }
        if j + 3 >= n {
            out.extend_from_slice(&s[i..]);
            return Ok(());
        }
        out.extend_from_slice(&s[i..j]);
        let Some(&count) = s.get(j + 4) else {
            // libbz2 reads a count past the block's end and fails.
            return Err(BlockError::Bad("bzip2 run count missing"));
        };
        let run = 4 + usize::from(count);
        if out.len() + run + (n - j - 5) > cap {
            return Err(BlockError::TooBig);
        }
        out.resize(out.len() + run, s[j]);
        i = j + 5;
    }
    Ok(())
}

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04c1_1db7
            } else {
                c << 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev << 8) ^ t[0][(prev >> 24) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

static CRC: [[u32; 256]; 8] = crc_tables();

/// CRC-32/BZIP2 (most significant bit first, polynomial 0x04c11db7), eight bytes at a time.
pub(crate) fn crc32_bzip2(data: &[u8]) -> u32 {
    let t = &CRC;
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let one = crc ^ u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let two = u32::from_be_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(one >> 24) as usize]
            ^ t[6][((one >> 16) & 0xff) as usize]
            ^ t[5][((one >> 8) & 0xff) as usize]
            ^ t[4][(one & 0xff) as usize]
            ^ t[3][(two >> 24) as usize]
            ^ t[2][((two >> 16) & 0xff) as usize]
            ^ t[1][((two >> 8) & 0xff) as usize]
            ^ t[0][(two & 0xff) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc << 8) ^ t[0][((crc >> 24) ^ u32::from(b)) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code lengths 1, 2, ..., 19, 20, 20: symbol 19 is `1^19 0` and symbol 20 is `1^20`, both past the lookup
    /// table, the longest codes libbz2 accepts.
    fn deep_table() -> Table {
        let lens: Vec<u8> = (1..=20).chain([20]).collect();
        let mut t = Table::new();
        t.build(&lens);
        t
    }

    #[test]
    fn twenty_bit_codes_decode_from_the_last_bytes_of_the_input() {
        let t = deep_table();
        assert_eq!(t.decode(0).ok(), Some((0, 1)));
        assert_eq!(t.decode(0x000f_fffe << 44).ok(), Some((19, 20)));
        assert_eq!(t.decode(u64::MAX).ok(), Some((20, 20)));
        // The code ends exactly at the input's last bit, at every starting alignment: the buffer is filled from
        // the tail bytes and zeros past them.
        for skip in 0..8u64 {
            let word = 0x000f_fffe_u64 << (44 - skip);
            let mut data = word.to_be_bytes().to_vec();
            data.truncate((skip + 20).div_ceil(8) as usize);
            let r = Bits { data: &data, pos: skip };
            let f = Fast::from_bits(&r);
            assert_eq!(t.decode(f.buf).ok(), Some((19, 20)), "skip {skip}");
            let mut f = f;
            f.buf <<= 20;
            f.have -= 20;
            assert_eq!(f.pos(), skip + 20);
            f.refill();
            assert_eq!(f.buf, 0, "past the end reads as zeros");
        }
    }

    #[test]
    fn a_code_cut_off_by_the_end_of_input_reads_zeros() {
        let t = deep_table();
        // Nineteen ones from bit 5, then the input ends: the zero read past it completes symbol 19.
        let data = [0x07, 0xff, 0xff];
        let mut f = Fast::from_bits(&Bits { data: &data, pos: 5 });
        assert_eq!(t.decode(f.buf).ok(), Some((19, 20)));
        f.have -= 20;
        assert_eq!(
            f.pos(),
            25,
            "one bit past the end, where the caller's boundary check fails"
        );
    }
}
