//! The parallel bzip2 decoder against libbz2's sequential one: same bytes, same failures.

use std::io::{Read, Write};

use super::*;

fn compress(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(level));
    e.write_all(data).expect("compress");
    e.finish().expect("finish")
}

fn sequential(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    bzip2::read::MultiBzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

/// Decode with the parallel decoder; returns the output and how many blocks needed joining.
fn parallel(bytes: &[u8], threads: usize, force_pool: bool) -> io::Result<(Vec<u8>, u64)> {
    let mut d = ParBz2::new(Box::new(bytes), threads, force_pool);
    let mut out = Vec::new();
    // Small reads too, so blocks are handed out across many calls.
    let mut buf = vec![0u8; 7919];
    loop {
        let n = d.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok((out, d.rejoins))
}

/// Pseudo-random bytes drawn from `alphabet`: poorly compressible, so blocks stay large and numerous.
fn noise(len: usize, alphabet: &[u8], seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            alphabet[(x >> 16) as usize % alphabet.len()]
        })
        .collect()
}

fn every_way(bytes: &[u8], expected: &[u8]) {
    for (threads, force) in [(1, false), (2, false), (2, true), (4, true)] {
        let (out, _) = parallel(bytes, threads, force).expect("parallel decode");
        assert!(
            out == expected,
            "threads {threads} force {force}: {} vs {} bytes",
            out.len(),
            expected.len()
        );
    }
}

#[test]
fn multi_block_and_multi_stream_match_the_sequential_decoder() {
    let all: Vec<u8> = (0..=255).collect();
    // Level 1: 100 kB blocks, so ~30 blocks; odd bit alignments of the magics come for free.
    let a = noise(3_000_000, &all, 1);
    let one = compress(&a, 1);
    assert_eq!(sequential(&one).expect("sequential"), a);
    every_way(&one, &a);

    // Several streams back to back (as pbzip2 writes), one of them empty, at different levels.
    let b = noise(250_000, b"MThdMTrk\x00\x90\x80", 2);
    let mut many = compress(&a[..500_000], 1);
    many.extend(compress(b"", 9));
    many.extend(compress(&b, 2));
    many.extend(compress(b"tail", 9));
    let mut expected = a[..500_000].to_vec();
    expected.extend_from_slice(&b);
    expected.extend_from_slice(b"tail");
    assert_eq!(sequential(&many).expect("sequential"), expected);
    every_way(&many, &expected);

    // A lone small block and an empty stream.
    every_way(&compress(b"hello", 9), b"hello");
    every_way(&compress(b"", 9), b"");
}

/// Bytes whose used-byte bitmap (stored verbatim in every block header) spells `magic`: each block then carries a
/// false magic at a bit offset of its own, inside its compressed data.
fn alphabet_spelling(magic: u64, first_range: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, word) in [(magic >> 32) & 0xffff, (magic >> 16) & 0xffff, magic & 0xffff]
        .iter()
        .enumerate()
    {
        for j in 0..16u8 {
            if word & (0x8000 >> j) != 0 {
                out.push((first_range + k as u8) * 16 + j);
            }
        }
    }
    out
}

#[test]
fn a_false_block_or_end_magic_inside_data_never_changes_the_output() {
    for (magic, first_range) in [(BLOCK_MAGIC, 0u8), (EOS_MAGIC, 3), (BLOCK_MAGIC, 8)] {
        let alphabet = alphabet_spelling(magic, first_range);
        // No byte repeats: a run of four would add its length byte (often 0) to the bitmap.
        let mut data = noise(1_200_000, &alphabet, 3);
        for i in 1..data.len() {
            if data[i] == data[i - 1] {
                let next = (alphabet.iter().position(|&b| b == data[i]).unwrap_or(0) + 1) % alphabet.len();
                data[i] = alphabet[next];
            }
        }
        let bytes = compress(&data, 1);
        let real_blocks = data.len().div_ceil(100_000) as u64;
        // The bitmap spelling the magic is really in the compressed bits, once per block.
        let mut d = ParBz2::new(Box::new(&bytes[..]), 2, true);
        while d.fill().expect("fill") {}
        let found = d.magics.len() as u64;
        assert!(
            found > 2 * real_blocks,
            "magic {magic:x}: {found} magics for {real_blocks} blocks"
        );
        for (threads, force) in [(1, false), (2, true)] {
            let (out, rejoins) = parallel(&bytes, threads, force).expect("parallel decode");
            assert!(out == data, "magic {magic:x}: output differs");
            assert!(rejoins >= real_blocks - 1, "magic {magic:x}: {rejoins} rejoins");
        }
    }
}

#[test]
fn damage_fails_like_the_sequential_decoder() {
    let all: Vec<u8> = (0..=255).collect();
    let a = noise(1_000_000, &all, 4);
    let good = compress(&a, 1);
    // A flipped byte inside a block: both fail, with invalid data, and nothing past that block is handed out.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    let seq = sequential(&bad).expect_err("sequential fails");
    for (threads, force) in [(1, false), (2, true)] {
        let e = parallel(&bad, threads, force).expect_err("parallel fails");
        assert_eq!(e.kind(), seq.kind(), "{e} vs {seq}");
    }
    // Cut short, inside a block or inside the trailer.
    for cut in [good.len() / 3, good.len() - 3] {
        assert!(sequential(&good[..cut]).is_err());
        assert!(parallel(&good[..cut], 2, true).is_err(), "cut at {cut}");
    }
    // A damaged stream CRC (the trailer's last bytes).
    let mut crc = good.clone();
    let n = crc.len();
    crc[n - 2] ^= 0x01;
    assert!(sequential(&crc).is_err());
    let e = parallel(&crc, 2, true).expect_err("stream CRC");
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    // Garbage after a stream, and no stream at all.
    let mut tail = good.clone();
    tail.extend_from_slice(b"garbage!");
    assert!(sequential(&tail).is_err());
    assert!(parallel(&tail, 2, false).is_err());
    assert!(parallel(b"not bzip2 at all", 2, false).is_err());
}

#[test]
fn a_block_inflating_past_the_worker_cap_is_streamed() {
    // Runs of one byte: bzip2's first run-length stage makes a ~46 MB block from a few kB.
    let zeros = vec![0u8; 2 * WORKER_OUTPUT_CAP + 12_345];
    let mut data = zeros.clone();
    data.extend(noise(300_000, b"abcdefgh", 5));
    let bytes = compress(&data, 9);
    for (threads, force) in [(1, false), (2, true)] {
        let (out, _) = parallel(&bytes, threads, force).expect("parallel decode");
        assert!(out == data, "threads {threads}");
    }
}
