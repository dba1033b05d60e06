//! Times the bzip2 block decoder alone: `cargo run --release -p midi-tui-engine --example bz2_blocks -- FILE.bz2
//! [PASSES]` decodes every block of FILE on one thread PASSES times and prints the median thread CPU seconds of a
//! pass (compare with `lbzip2 -dc -n1 FILE` user seconds on the same file).
#![allow(dead_code)]

#[path = "../src/source/stream/bz2/block.rs"]
mod block;

use block::BlockDecoder;

const BLOCK_MAGIC: u64 = 0x3141_5926_5359;
const EOS_MAGIC: u64 = 0x1772_4538_5090;

/// Bit positions of every block and end-of-stream magic (a chance match inside a block would show as a failure).
fn magics(data: &[u8]) -> Vec<(u64, bool)> {
    let mut found = Vec::new();
    let mut window = 0u64;
    for (i, &b) in data.iter().enumerate() {
        for k in (0..8).rev() {
            window = ((window << 1) | u64::from((b >> k) & 1)) & ((1 << 48) - 1);
            let end = (i as u64) * 8 + (8 - k);
            if end >= 48 && (window == BLOCK_MAGIC || window == EOS_MAGIC) {
                found.push((end - 48, window == BLOCK_MAGIC));
            }
        }
    }
    found
}

fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: bz2_blocks FILE.bz2 [PASSES]");
        std::process::exit(2);
    };
    let passes: usize = args.next().and_then(|p| p.parse().ok()).unwrap_or(5);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let level = data.get(3).copied().unwrap_or(b'9');
    let m = magics(&data);
    let blocks: Vec<(u64, u64)> = m
        .windows(2)
        .filter(|w| w[0].1)
        .map(|w| (w[0].0, w[1].0 - w[0].0))
        .collect();
    let mut dec = BlockDecoder::new();
    let mut out = Vec::new();
    let mut times = Vec::new();
    let mut bytes = 0usize;
    for _ in 0..passes {
        let t = thread_cpu();
        bytes = 0;
        for &(start, bits) in &blocks {
            out.clear();
            if let Err(e) = dec.decode(&data, start, bits, level, &mut out, 64 << 20) {
                eprintln!("block at bit {start}: {e:?}");
            }
            bytes += out.len();
        }
        times.push(thread_cpu() - t);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{} blocks, {:.1} MB out, median {:.3} s CPU per pass of {passes} ({:?})",
        blocks.len(),
        bytes as f64 / 1e6,
        times[times.len() / 2],
        times.iter().map(|t| (t * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    );
}
