//! 7z blocks decoded ahead by worker threads, each on its own reader of the archive, and replayed to the walk in
//! archive order: the walk asks for block `b` when it gets there and waits only if no worker has finished it.
//!
//! A worker decodes a whole block into memory and records what the block decoder yielded (each member's bytes and
//! the error that cut them short, then the decoder's own result), so the walk sees exactly what decoding the block
//! itself would have shown it, damage included. Only blocks whose declared output fits the byte budget are
//! fetched, and blocks are sent only while the declared output of those sent and not yet taken stays within it, so
//! memory stays bounded whatever the archive holds (a member never yields more than its declared size).

use std::io::{self, Read, Seek};
use std::thread::Scope;

use sevenz_rust2::{Archive, ArchiveEntry, BlockDecoder, Password};

use super::ahead::{Bounds, Lost, OrderedAhead, Planned};

/// What decoding one block yielded, to be replayed.
pub(super) struct Recorded {
    /// For each member the decoder handed out, in order: its bytes and the error that stopped reading them.
    pub entries: Vec<(Vec<u8>, Option<io::Error>)>,
    /// The decoder's own result.
    pub end: Result<bool, sevenz_rust2::Error>,
}

impl Recorded {
    /// Hand the recorded members to `each` as the block decoder would have, and return what it would have.
    pub fn replay(
        self,
        entries: &[ArchiveEntry],
        each: &mut dyn FnMut(&ArchiveEntry, &mut dyn Read) -> Result<bool, sevenz_rust2::Error>,
    ) -> Result<bool, sevenz_rust2::Error> {
        for ((data, error), entry) in self.entries.into_iter().zip(entries) {
            let mut r = super::zipahead::Fetch {
                data: io::Cursor::new(data),
                error,
            };
            if !each(entry, &mut r)? {
                return Ok(false);
            }
            // The decoder drains what the callback left and fails where the member is damaged.
            if let Err(e) = io::copy(&mut r, &mut io::sink()) {
                return Err(e.into());
            }
        }
        self.end
    }
}

/// Decode block `b` whole, recording what the decoder yields.
fn record<R: Read + Seek>(archive: &Archive, b: usize, src: &mut R) -> Recorded {
    let password = Password::empty();
    let mut entries = Vec::new();
    let end = BlockDecoder::new(1, b, archive, &password, src).for_each_entries(&mut |f, r| {
        // Bounded: the decoder never yields more than the member's declared size.
        let mut data = Vec::with_capacity(f.size.min(1 << 20) as usize);
        let error = r.read_to_end(&mut data).err();
        let go_on = error.is_none();
        entries.push((data, error));
        Ok(go_on)
    });
    Recorded { entries, end }
}

/// Blocks decoded ahead and not yet taken, at most (the byte budget is what binds in practice).
const BLOCKS_AHEAD: usize = 1024;

/// Workers decoding blocks ahead of the walk.
pub(super) struct BlocksAhead(Planned<usize, Recorded>);

impl BlocksAhead {
    /// Start `threads` workers, each on a clone of `src`, to decode the blocks of `wanted` (ascending, with their
    /// declared output bytes); blocks declaring more than `budget` are left to the walk.
    pub fn start<'s, R>(
        scope: &'s Scope<'s, '_>,
        archive: &'s Archive,
        src: &R,
        threads: usize,
        wanted: Vec<(usize, u64)>,
        budget: u64,
    ) -> BlocksAhead
    where
        R: Read + Seek + Clone + Send + 's,
    {
        let workers = (0..threads)
            .map(|_| {
                let mut r = src.clone();
                move |b| record(archive, b, &mut r)
            })
            .collect();
        let bounds = Bounds {
            jobs: BLOCKS_AHEAD,
            bytes: budget,
        };
        let pool = OrderedAhead::scoped(scope, "7z-ahead", workers, bounds);
        let jobs = wanted.into_iter().filter(|&(_, size)| size <= budget);
        BlocksAhead(Planned::new(pool, jobs.map(|(b, size)| (b, b, size)).collect()))
    }

    /// Block `b` as decoded, if it was sent to the workers (waiting for it as needed); `None` when the walk
    /// decodes it itself.
    pub fn take(&mut self, b: usize) -> Option<Recorded> {
        match self.0.take(b)? {
            Ok(rec) => Some(rec),
            Err(Lost::Panicked) => Some(Recorded {
                entries: Vec::new(),
                end: Err(sevenz_rust2::Error::Other("7z block decoder failed".into())),
            }),
            Err(Lost::Gone) => None,
        }
    }

    /// The most declared bytes ever sent and not yet taken (tests look at it).
    #[cfg(test)]
    pub fn peak(&self) -> u64 {
        self.0.peak()
    }

    /// Stop the workers after the block in hand (the scope then joins them).
    pub fn stop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use sevenz_rust2::{ArchiveWriter, EncoderConfiguration, EncoderMethod};

    use super::*;

    /// `n` members of varied sizes and contents.
    fn members(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let len = 3_000 + (i * 7_919) % 17_000;
                // A generator seeded per member: no member's bytes occur inside another's.
                let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (i as u64);
                (0..len)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(2 * i as u64 + 1);
                        (state >> 56) as u8
                    })
                    .collect()
            })
            .collect()
    }

    /// A non-solid 7z (one block per member), stored so that a member's bytes can be found and damaged.
    fn non_solid(members: &[Vec<u8>]) -> Vec<u8> {
        let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).expect("writer");
        w.set_content_methods(vec![EncoderConfiguration::new(EncoderMethod::COPY)]);
        for (i, m) in members.iter().enumerate() {
            let entry = ArchiveEntry::new_file(&format!("m{i}.mid"));
            w.push_archive_entry(entry, Some(m.as_slice())).expect("push");
        }
        w.finish().expect("finish").into_inner()
    }

    type Seen = (Vec<(Vec<u8>, Option<String>)>, Result<bool, String>);

    /// What a callback reading every member whole sees of one block.
    fn collect(
        run: impl FnOnce(
            &mut dyn FnMut(&ArchiveEntry, &mut dyn Read) -> Result<bool, sevenz_rust2::Error>,
        ) -> Result<bool, sevenz_rust2::Error>,
    ) -> Seen {
        let mut seen = Vec::new();
        let end = run(&mut |_f, r| {
            let mut data = Vec::new();
            let error = r.read_to_end(&mut data).err().map(|e| e.to_string());
            let go_on = error.is_none();
            seen.push((data, error));
            Ok(go_on)
        });
        (seen, end.map_err(|e| e.to_string()))
    }

    /// Every block through workers ahead (within `budget`) and decoded here, side by side; and the peak.
    fn both_ways(bytes: &[u8], budget: u64) -> (Vec<Seen>, Vec<Seen>, u64) {
        let archive = Archive::read(&mut Cursor::new(bytes), &Password::empty()).expect("archive");
        let wanted: Vec<(usize, u64)> = (0..archive.blocks.len())
            .map(|b| (b, archive.blocks[b].get_unpack_size()))
            .collect();
        let live: Vec<Seen> = (0..archive.blocks.len())
            .map(|b| {
                let (password, mut src) = (Password::empty(), Cursor::new(bytes));
                let dec = BlockDecoder::new(1, b, &archive, &password, &mut src);
                collect(|each| dec.for_each_entries(&mut |f, r| each(f, r)))
            })
            .collect();
        let (ahead, peak) = std::thread::scope(|s| {
            let mut a = BlocksAhead::start(s, &archive, &Cursor::new(bytes), 2, wanted, budget);
            let mut got = Vec::new();
            for b in 0..archive.blocks.len() {
                let rec = a.take(b).expect("every block was fetched ahead");
                let declared = archive.blocks[b].get_unpack_size();
                let held: usize = rec.entries.iter().map(|(d, _)| d.len()).sum();
                assert!(
                    held as u64 <= declared,
                    "block {b} holds {held} of {declared} declared bytes"
                );
                let (password, mut src) = (Password::empty(), Cursor::new(bytes));
                let entries = BlockDecoder::new(1, b, &archive, &password, &mut src)
                    .entries()
                    .to_vec();
                got.push(collect(|each| rec.replay(&entries, each)));
            }
            (got, a.peak())
        });
        (live, ahead, peak)
    }

    #[test]
    fn the_look_ahead_holds_at_most_its_budget_and_replays_every_block_in_order() {
        let ms = members(40);
        let bytes = non_solid(&ms);
        let budget = 45_000;
        let (live, ahead, peak) = both_ways(&bytes, budget);
        assert_eq!(ahead.len(), ms.len(), "one block per member");
        assert!(peak <= budget, "{peak} bytes in flight with a budget of {budget}");
        // The look-ahead did run ahead: more than one block in flight at some point.
        let largest = ms.iter().map(Vec::len).max().unwrap_or(0) as u64;
        assert!(peak > largest.min(budget / 2), "peak {peak}");
        for (i, ((seen, end), m)) in ahead.iter().zip(&ms).enumerate() {
            assert_eq!(end, &Ok(true), "block {i}");
            assert_eq!(seen.len(), 1);
            assert_eq!(&seen[0].0, m, "block {i}");
            assert_eq!(seen[0].1, None);
        }
        assert_eq!(live, ahead);
    }

    #[test]
    fn a_damaged_block_shows_the_same_damage_ahead_as_decoded_here_and_costs_only_its_member() {
        let ms = members(12);
        let mut bytes = non_solid(&ms);
        let victim = &ms[5];
        let at = bytes
            .windows(victim.len())
            .position(|w| w == victim.as_slice())
            .expect("stored member");
        bytes[at + victim.len() / 2] ^= 0x55;
        let (live, ahead, _) = both_ways(&bytes, 1 << 20);
        assert_eq!(live, ahead);
        for (i, (seen, end)) in ahead.iter().enumerate() {
            if i == 5 {
                let failed = seen[0].1.is_some() || end.is_err();
                assert!(failed, "the damaged block decoded: {end:?}");
            } else {
                assert_eq!(end, &Ok(true), "block {i}");
                assert_eq!(&seen[0].0, &ms[i]);
            }
        }
    }
}
