//! A minimal Standard MIDI File writer (chunks, VLQ deltas, optional running status), written by hand on purpose.

/// Where an event sorts among events at the same tick: meta first, then setup, note-offs, then note-ons,
/// so a re-struck pitch is released before it sounds again.
pub(crate) const PRI_META: u8 = 0;
pub(crate) const PRI_SETUP: u8 = 1;
pub(crate) const PRI_OFF: u8 = 2;
pub(crate) const PRI_ON: u8 = 3;

#[derive(Clone, Copy, Debug)]
pub(crate) enum EvKind {
    /// A channel message: status byte and up to two data bytes (program change and channel pressure use one).
    Chan([u8; 3]),
    /// A meta event: type and a slice `(offset, len)` of the song's text arena.
    Meta(u8, u32, u32),
    /// A `F0` SysEx event: payload slice of the arena (length prefix is written here).
    SysEx(u32, u32),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Ev {
    pub tick: u32,
    pub pri: u8,
    pub kind: EvKind,
}

/// Events in writing order: by tick, then priority, then insertion. Sorting packed `u64` keys (tick,
/// priority, index) instead of the events themselves is several times faster, and the index makes every
/// key unique, so the unstable sort still gives one deterministic order.
pub(crate) fn writing_order(evs: &[Ev]) -> Vec<u64> {
    let mut keys: Vec<u64> = evs
        .iter()
        .enumerate()
        .map(|(i, e)| u64::from(e.tick) << 32 | u64::from(e.pri & 3) << 30 | i as u64)
        .collect();
    keys.sort_unstable();
    keys
}

/// How a file encodes its channel messages; real files differ in exactly these ways.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriteStyle {
    pub running_status: bool,
    /// Note-off written as note-on with velocity 0 (what makes running status pay off).
    pub off_as_on0: bool,
}

pub(crate) fn push_vlq(out: &mut Vec<u8>, mut v: u32) {
    v &= 0x0FFF_FFFF; // SMF allows at most four VLQ bytes
    let mut buf = [0u8; 4];
    let mut n = 0;
    loop {
        buf[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for k in (0..n).rev() {
        out.push(if k > 0 { buf[k] | 0x80 } else { buf[k] });
    }
}

pub(crate) fn push_header(out: &mut Vec<u8>, format: u16, ntracks: u16, division: u16) {
    out.extend_from_slice(b"MThd");
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&format.to_be_bytes());
    out.extend_from_slice(&ntracks.to_be_bytes());
    out.extend_from_slice(&division.to_be_bytes());
}

/// Writes one `MTrk` chunk (events in any order; they are sorted here); `end_tick` places End of Track.
pub(crate) fn push_track(out: &mut Vec<u8>, evs: &[Ev], arena: &[u8], style: WriteStyle, end_tick: u32) {
    out.extend_from_slice(b"MTrk");
    let len_at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    let body_start = out.len();
    let mut now = 0u32;
    let mut running: Option<u8> = None;
    for key in writing_order(evs) {
        let ev = &evs[(key & 0x3FFF_FFFF) as usize];
        let tick = ev.tick.max(now);
        push_vlq(out, tick - now);
        now = tick;
        match ev.kind {
            EvKind::Chan([status, a, b]) => {
                let (status, b) = if style.off_as_on0 && status & 0xF0 == 0x80 {
                    (0x90 | (status & 0x0F), 0)
                } else {
                    (status, b)
                };
                if !(style.running_status && running == Some(status)) {
                    out.push(status);
                }
                running = Some(status);
                out.push(a & 0x7F);
                if !matches!(status & 0xF0, 0xC0 | 0xD0) {
                    out.push(b & 0x7F);
                }
            }
            EvKind::Meta(ty, off, len) => {
                out.push(0xFF);
                out.push(ty);
                push_vlq(out, len);
                out.extend_from_slice(slice(arena, off, len));
                // Meta and SysEx cancel running status (SMF 1.0); readers rely on it.
                running = None;
            }
            EvKind::SysEx(off, len) => {
                out.push(0xF0);
                push_vlq(out, len);
                out.extend_from_slice(slice(arena, off, len));
                running = None;
            }
        }
    }
    push_vlq(out, end_tick.saturating_sub(now));
    out.extend_from_slice(&[0xFF, 0x2F, 0x00]);
    let len = (out.len() - body_start) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

fn slice(arena: &[u8], off: u32, len: u32) -> &[u8] {
    let start = off as usize;
    arena.get(start..start + len as usize).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlq(v: u32) -> Vec<u8> {
        let mut out = Vec::new();
        push_vlq(&mut out, v);
        out
    }

    #[test]
    fn vlq_matches_the_spec_examples() {
        assert_eq!(vlq(0), [0x00]);
        assert_eq!(vlq(0x40), [0x40]);
        assert_eq!(vlq(0x7F), [0x7F]);
        assert_eq!(vlq(0x80), [0x81, 0x00]);
        assert_eq!(vlq(0x2000), [0xC0, 0x00]);
        assert_eq!(vlq(0x3FFF), [0xFF, 0x7F]);
        assert_eq!(vlq(0x4000), [0x81, 0x80, 0x00]);
        assert_eq!(vlq(0x0FFF_FFFF), [0xFF, 0xFF, 0xFF, 0x7F]);
    }

    #[test]
    fn events_are_sorted_and_running_status_is_cancelled_by_meta() {
        let arena = b"Hi".to_vec();
        let evs = [
            Ev {
                tick: 10,
                pri: PRI_ON,
                kind: EvKind::Chan([0x90, 62, 90]),
            },
            Ev {
                tick: 0,
                pri: PRI_ON,
                kind: EvKind::Chan([0x90, 60, 100]),
            },
            Ev {
                tick: 10,
                pri: PRI_OFF,
                kind: EvKind::Chan([0x80, 60, 64]),
            },
            Ev {
                tick: 10,
                pri: PRI_META,
                kind: EvKind::Meta(0x05, 0, 2),
            },
        ];
        let mut out = Vec::new();
        let style = WriteStyle {
            running_status: true,
            off_as_on0: true,
        };
        push_track(&mut out, &evs, &arena, style, 20);
        let body = &out[8..];
        assert_eq!(
            body,
            [
                0x00, 0x90, 60, 100, // first note-on carries its status
                0x0A, 0xFF, 0x05, 0x02, b'H', b'i', // lyric: meta sorts first at a tick
                0x00, 0x90, 60, 0, // note-off as note-on velocity 0; status repeated after meta
                0x00, 62, 90, // running status
                0x0A, 0xFF, 0x2F, 0x00
            ]
        );
        assert_eq!(
            u32::from_be_bytes([out[4], out[5], out[6], out[7]]) as usize,
            body.len()
        );
    }
}
