//! `.xz` decoding on liblzma's multi-threaded decoder: the blocks of a multi-block stream decode on every core.
//!
//! liblzma decides per block: blocks whose headers record their sizes (what `xz -T`, pixz and every multi-threaded
//! encoder write) go to its worker threads; a single-block stream, or blocks without sizes, are decoded in the
//! calling thread exactly as by the single-threaded decoder. Its memory is bounded by [`THREAD_MEMORY`]: past it
//! liblzma drops to single-threaded decoding rather than allocate more. Concatenated streams (with their zero
//! padding) are read one after another, as `xz -dc` does; content that is not xz (a legacy `.lzma` under an `.xz`
//! name) goes to the format-sniffing decoder of old.

use std::io::{self, BufRead, BufReader, Read};

use xz2::bufread::XzDecoder;
use xz2::stream::{MtStreamBuilder, Stream};

/// Memory liblzma's threaded decoder may use for its threads' buffers (about three blocks' worth each).
pub(crate) const THREAD_MEMORY: u64 = 128 << 20;

const MAGIC: &[u8] = b"\xFD7zXZ\x00";

/// A multi-threaded xz decoder over `r` (with `threads` decoder threads at most).
pub(crate) fn decoder<'a>(r: Box<dyn Read + 'a>, threads: usize) -> io::Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::with_capacity(1 << 16, r);
    if !input.fill_buf()?.starts_with(MAGIC) {
        return Ok(Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)));
    }
    let threads = u32::try_from(threads.clamp(1, 64)).unwrap_or(1);
    let first = XzDecoder::new_stream(input, mt_stream(threads)?);
    Ok(Box::new(MultiStream {
        current: Some(first),
        threads,
    }))
}

fn mt_stream(threads: u32) -> io::Result<Stream> {
    MtStreamBuilder::new()
        .threads(threads)
        .memlimit_threading(THREAD_MEMORY)
        .memlimit_stop(u64::MAX)
        // Block until output is ready: the caller reads on its own thread and has nothing else to do meanwhile.
        .timeout_ms(0)
        .decoder()
        .map_err(io::Error::other)
}

/// Concatenated xz streams, each on a fresh threaded decoder (liblzma's threaded decoder reads one stream).
struct MultiStream<'a> {
    current: Option<XzDecoder<BufReader<Box<dyn Read + 'a>>>>,
    threads: u32,
}

impl Read for MultiStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(dec) = self.current.as_mut() else {
                return Ok(0);
            };
            // The decoder returns 0 only at its stream's end (a truncated stream is an error).
            let n = dec.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            let Some(mut input) = self.current.take().map(XzDecoder::into_inner) else {
                return Ok(0);
            };
            if !skip_padding(&mut input)? {
                return Ok(0);
            }
            self.current = Some(XzDecoder::new_stream(input, mt_stream(self.threads)?));
        }
    }
}

/// Skip the zero stream padding after a stream; true if another stream follows.
fn skip_padding(input: &mut impl BufRead) -> io::Result<bool> {
    let mut zeros = 0u64;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return if zeros.is_multiple_of(4) {
                Ok(false)
            } else {
                Err(corrupt())
            };
        }
        let n = buf.iter().take_while(|&&b| b == 0).count();
        let more = n < buf.len();
        input.consume(n);
        zeros += n as u64;
        if more {
            return if zeros.is_multiple_of(4) {
                Ok(true)
            } else {
                Err(corrupt())
            };
        }
    }
}

fn corrupt() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "corrupt xz stream padding")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A multi-block stream as `xz -T` writes it: block sizes in the headers, so liblzma can thread it.
    fn multi_block(data: &[u8], block: u64) -> Vec<u8> {
        let stream = MtStreamBuilder::new()
            .threads(2)
            .block_size(block)
            .preset(1)
            .encoder()
            .expect("encoder");
        let mut w = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
        w.write_all(data).expect("compress");
        w.finish().expect("finish")
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 7;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 3 == 0 { (x >> 24) as u8 } else { b"MThd"[i % 4] }
            })
            .collect()
    }

    fn decode_all(bytes: &[u8], threads: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decoder(Box::new(bytes), threads)?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn sequential(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        xz2::read::XzDecoder::new_multi_decoder(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn multi_block_and_concatenated_streams_match_the_sequential_decoder() {
        let a = sample(3 << 20);
        let b = sample(100_000);
        let mut both = multi_block(&a, 256 << 10);
        both.extend_from_slice(&[0; 8]);
        both.extend(multi_block(&b, 64 << 10));
        let mut expected = a.clone();
        expected.extend_from_slice(&b);
        assert_eq!(sequential(&both).expect("sequential"), expected);
        for threads in [1, 2, 4] {
            assert!(
                decode_all(&both, threads).expect("threaded") == expected,
                "threads {threads}"
            );
        }
        // A single-block stream (no sizes in its header) still decodes.
        let mut single = xz2::write::XzEncoder::new(Vec::new(), 1);
        single.write_all(&b).expect("compress");
        assert_eq!(decode_all(&single.finish().expect("xz"), 2).expect("single"), b);
    }

    #[test]
    fn corruption_fails_like_the_sequential_decoder() {
        let a = sample(2 << 20);
        let good = multi_block(&a, 256 << 10);
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        assert!(sequential(&bad).is_err());
        let e = decode_all(&bad, 2).expect_err("corrupt block");
        assert_ne!(e.kind(), io::ErrorKind::NotFound, "{e}");
        // Cut short: an error, never a silently short output.
        assert!(decode_all(&good[..good.len() - 20], 2).is_err());
        // Padding that is not a multiple of four bytes.
        let mut odd = good.clone();
        odd.extend_from_slice(&[0; 3]);
        assert!(decode_all(&odd, 2).is_err());
    }
}
