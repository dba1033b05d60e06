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

/// Every block of a compressed stream as it lies in the input: (bytes from its first byte, first bit, bits, level).
fn blocks_of(bytes: &[u8]) -> Vec<(Vec<u8>, u64, u64, u8)> {
    let mut d = ParBz2::new(Box::new(bytes), 1, false);
    while d.fill().expect("fill") {}
    let magics: Vec<(u64, Magic)> = d.magics.iter().copied().collect();
    magics
        .windows(2)
        .filter(|w| w[0].1 == Magic::Block)
        .map(|w| {
            let (start, end) = (w[0].0, w[1].0);
            let chunk = bytes[(start / 8) as usize..end.div_ceil(8) as usize].to_vec();
            (chunk, start % 8, end - start, bytes[3])
        })
        .collect()
}

/// Our block decoder and libbz2 on the same block bits: both fail, or both give the same bytes.
fn agree(dec: &mut BlockDecoder, chunk: &[u8], first_bit: u64, bits: u64, level: u8) -> Option<Vec<u8>> {
    let crc = if first_bit + 80 <= chunk.len() as u64 * 8 {
        read_bits(chunk, first_bit + 48, 32) as u32
    } else {
        0
    };
    let at = BlockAt {
        bytes: chunk,
        first_bit,
        bits,
        level,
        crc,
    };
    let ours = at.decode(dec, usize::MAX);
    let reference = decode_block_libbz2(&at.framed(), usize::MAX);
    match (ours, reference) {
        (Ok(a), Ok(b)) => {
            assert!(a == b, "outputs differ ({} vs {} bytes)", a.len(), b.len());
            Some(a)
        }
        (Err(Failure::Bad(_)), Err(Failure::Bad(_))) => None,
        (a, b) => panic!(
            "decoders disagree: ours {:?}, libbz2 {:?}",
            a.map(|v| v.len()),
            b.map(|v| v.len())
        ),
    }
}

/// Runs of random bytes with random lengths: exercises the run-length stages (counts up to 255, runs of 4 at a
/// block's end) and the zero runs of the MTF stage.
fn runs(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let byte = (x >> 24) as u8 % 40;
        let run = match (x >> 8) % 8 {
            0 => 300 + (x >> 12) as usize % 2000,
            1..=3 => 1,
            _ => 1 + (x >> 16) as usize % 9,
        };
        out.extend(std::iter::repeat_n(byte, run.min(len - out.len())));
    }
    out
}

#[test]
fn the_block_decoder_matches_libbz2_on_varied_and_real_inputs() {
    let all: Vec<u8> = (0..=255).collect();
    // Real MIDI files, as the importer meets them.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/midi");
    let mut midi = Vec::new();
    for e in std::fs::read_dir(&fixtures).expect("fixtures").flatten() {
        midi.extend(std::fs::read(e.path()).unwrap_or_default());
    }
    assert!(midi.len() > 10_000, "fixtures: {} bytes", midi.len());
    let inputs: Vec<(Vec<u8>, u32)> = vec![
        (noise(700_000, &all, 7), 9),
        (noise(400_000, b"ab", 8), 3),
        (runs(1_500_000, 9), 9),
        (runs(300_000, 10), 1),
        (vec![b'x'; 1_000_000], 5),
        (b"aaaa".to_vec(), 9),
        (b"abcaaaab".repeat(10_000), 2),
        (midi.clone(), 9),
        (midi.repeat(3), 1),
    ];
    let mut dec = BlockDecoder::new();
    for (i, (data, level)) in inputs.iter().enumerate() {
        let bytes = compress(data, *level);
        let mut out = Vec::new();
        for (chunk, first_bit, bits, lvl) in blocks_of(&bytes) {
            let got = agree(&mut dec, &chunk, first_bit, bits, lvl);
            out.extend(got.unwrap_or_else(|| panic!("input {i}: a good block failed")));
        }
        assert!(out == *data, "input {i}: {} vs {} bytes", out.len(), data.len());
    }
    assert_eq!(block::crc32_bzip2(b"123456789"), 0xfc89_1918);
}

#[test]
fn damaged_blocks_fail_in_both_decoders_alike_and_never_panic() {
    let mut blocks = blocks_of(&compress(&runs(250_000, 11), 9));
    blocks.extend(blocks_of(&compress(&noise(150_000, b"MThdTrk\x00\x90\x80\x40", 12), 2)));
    let mut dec = BlockDecoder::new();
    let mut x: u32 = 12_345;
    let mut rand = move || {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        x >> 8
    };
    let (mut decoded, mut failed) = (0, 0);
    for round in 0..600 {
        let (chunk, first_bit, bits, level) = &blocks[round % blocks.len()];
        let mut chunk = chunk.clone();
        let mut bits = *bits;
        match rand() % 4 {
            // A few flipped bits anywhere; in the header and tables most of the time, where checks are dense.
            0 | 1 => {
                for _ in 0..1 + rand() % 3 {
                    let span = if rand() % 3 == 0 {
                        chunk.len()
                    } else {
                        chunk.len().min(200)
                    };
                    let at = rand() as usize % span;
                    chunk[at] ^= 1 << (rand() % 8);
                }
            }
            // Cut short, or run on past the boundary.
            2 => bits = bits.saturating_sub(u64::from(1 + rand() % 5000)).max(1),
            _ => {
                chunk.extend((0..8).map(|_| rand() as u8));
                bits += u64::from(1 + rand() % 60);
            }
        }
        match agree(&mut dec, &chunk, *first_bit, bits, *level) {
            Some(_) => decoded += 1,
            None => failed += 1,
        }
    }
    // The mutations really damage blocks (and a flip in unused padding bits may leave one whole).
    assert!(failed > 500, "{failed} failed, {decoded} decoded");
}
