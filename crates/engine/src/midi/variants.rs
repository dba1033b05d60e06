//! Variants of a real MIDI file (transposed, tempo-scaled, re-encoded, a part removed) and how well the similarity
//! features find the original again: the quality measure of `like:` (its test and the bench's `--corpus` lines).
//! Bytes in, bytes out: the callers read the files.
use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use super::analyze::analyze;
use super::similarity::distance;

/// The kinds of variant, in the order [`variants`] returns them.
pub const VARIANT_KINDS: [&str; 4] = ["transposed", "tempo-scaled", "re-encoded", "part-removed"];

/// The variants of `original` (None where a variant cannot be made: a file midly cannot read strictly, SMPTE
/// timing, fewer than two parts for "part-removed").
pub fn variants(original: &[u8]) -> Vec<(&'static str, Option<Vec<u8>>)> {
    vec![
        ("transposed", edit(original, transpose)),
        ("tempo-scaled", edit(original, scale_tempo)),
        ("re-encoded", edit(original, re_encode)),
        ("part-removed", edit(original, remove_part)),
    ]
}

fn edit(original: &[u8], f: fn(&mut Smf<'_>) -> bool) -> Option<Vec<u8>> {
    let mut smf = Smf::parse(original).ok()?;
    if !matches!(smf.header.timing, Timing::Metrical(_)) || !f(&mut smf) {
        return None;
    }
    let mut out = Vec::new();
    smf.write_std(&mut out).ok()?;
    Some(out)
}

/// Every pitched note three semitones up (drums stay: a transposed song keeps its kit).
fn transpose(smf: &mut Smf<'_>) -> bool {
    for track in &mut smf.tracks {
        for ev in track.iter_mut() {
            if let TrackEventKind::Midi { channel, message } = &mut ev.kind {
                if channel.as_int() == 9 {
                    continue;
                }
                match message {
                    MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                        *key = (key.as_int() + 3).min(127).into();
                    }
                    _ => {}
                }
            }
        }
    }
    true
}

/// Every tempo 25% faster; a file without tempo events gets one (150 BPM instead of the default 120).
fn scale_tempo(smf: &mut Smf<'_>) -> bool {
    let mut any = false;
    for track in &mut smf.tracks {
        for ev in track.iter_mut() {
            if let TrackEventKind::Meta(MetaMessage::Tempo(t)) = &mut ev.kind {
                *t = ((t.as_int() as f64 / 1.25) as u32).max(1).into();
                any = true;
            }
        }
    }
    if !any {
        let Some(first) = smf.tracks.first_mut() else {
            return false;
        };
        first.insert(0, meta(MetaMessage::Tempo(400_000.into())));
    }
    true
}

fn meta(m: MetaMessage<'static>) -> TrackEvent<'static> {
    TrackEvent {
        delta: 0.into(),
        kind: TrackEventKind::Meta(m),
    }
}

/// Twice the resolution, other track names, markers and text added, the copyright gone, and format 1 as format 1
/// with the meta events moved: the same notes written otherwise.
fn re_encode(smf: &mut Smf<'_>) -> bool {
    let Timing::Metrical(tpq) = smf.header.timing else {
        return false;
    };
    if tpq.as_int() > 0x3FFF {
        return false;
    }
    smf.header.timing = Timing::Metrical((tpq.as_int() * 2).into());
    for (i, track) in smf.tracks.iter_mut().enumerate() {
        track.retain(|ev| {
            !matches!(
                ev.kind,
                TrackEventKind::Meta(MetaMessage::Copyright(_) | MetaMessage::TrackName(_) | MetaMessage::Text(_))
            )
        });
        for ev in track.iter_mut() {
            ev.delta = (ev.delta.as_int().saturating_mul(2).min(0x0FFF_FFFF)).into();
        }
        let name: &'static [u8] = if i == 0 { b"Converted" } else { b"Part" };
        track.insert(0, meta(MetaMessage::TrackName(name)));
        track.insert(1, meta(MetaMessage::Marker(b"Verse")));
        track.insert(2, meta(MetaMessage::Text(b"re-encoded by a sequencer")));
    }
    true
}

/// The pitched part (a track with notes off the drum channel) with the fewest notes, of at least two, left out: the
/// drums are not a part in this sense (without them a song is another groove).
fn remove_part(smf: &mut Smf<'_>) -> bool {
    if smf.header.format == Format::Sequential {
        return false;
    }
    let notes = |t: &Vec<TrackEvent<'_>>| {
        t.iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    TrackEventKind::Midi {
                        channel,
                        message: MidiMessage::NoteOn { vel, .. },
                    } if vel.as_int() > 0 && channel.as_int() != 9
                )
            })
            .count()
    };
    let mut parts: Vec<(usize, usize)> = smf
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| (notes(t), i))
        .filter(|(n, _)| *n > 0)
        .collect();
    if parts.len() < 2 {
        return false;
    }
    parts.sort();
    let (_, at) = parts[0];
    let track = &mut smf.tracks[at];
    // Keep its meta events (tempo, end of track) so the timing stays; drop its channel events.
    track.retain(|e| !matches!(e.kind, TrackEventKind::Midi { .. }));
    true
}

/// One variant's outcome: where its original ranked among the library's files by distance.
#[derive(Debug, Clone)]
pub struct VariantRank {
    pub original: usize,
    pub kind: &'static str,
    /// 1 = nearest.
    pub rank: usize,
}

/// The quality of `like:` on a library of `payloads`: per original (those of `originals`, indexes into
/// `payloads`), each variant's rank of its original among every file of the library (the files with the
/// original's notes count as the original), and the mean reciprocal rank.
#[derive(Debug, Clone, Default)]
pub struct Quality {
    pub ranks: Vec<VariantRank>,
    pub mean_reciprocal_rank: f64,
}

impl Quality {
    /// Variants whose original ranked below `k`.
    pub fn misses(&self, k: usize) -> Vec<&VariantRank> {
        self.ranks.iter().filter(|r| r.rank > k).collect()
    }
}

/// The files of `payloads` that make good originals: readable by midly, timed in beats, at least three parts and
/// 200 notes, no musical duplicate in the library; at most `max` of them, evenly spread.
pub fn pick_originals(payloads: &[Vec<u8>], max: usize) -> Vec<usize> {
    let metas: Vec<_> = payloads.iter().map(|p| analyze(p).ok()).collect();
    let mut candidates = Vec::new();
    for (i, m) in metas.iter().enumerate() {
        let Some(m) = m else { continue };
        let fp = m.notes_fingerprint;
        let dupes = metas
            .iter()
            .flatten()
            .filter(|o| fp.is_some() && o.notes_fingerprint == fp)
            .count();
        let parts = Smf::parse(&payloads[i])
            .map(|s| {
                s.tracks
                    .iter()
                    .filter(|t| t.iter().any(|e| matches!(e.kind, TrackEventKind::Midi { .. })))
                    .count()
            })
            .unwrap_or(0);
        // midly reads some damaged files otherwise than the analysis (it drops the rest of a track at a fault): a
        // variant written from its reading would be another piece.
        let same = edit(&payloads[i], |_| true)
            .and_then(|b| analyze(&b).ok())
            .is_some_and(|r| r.music.total_notes == m.music.total_notes && r.features == m.features);
        if m.features.is_some() && m.music.total_notes >= 200 && parts >= 3 && dupes == 1 && same {
            candidates.push(i);
        }
    }
    let stride = candidates.len().div_ceil(max.max(1)).max(1);
    candidates.into_iter().step_by(stride).take(max).collect()
}

/// Rank each variant of each original against the library (see [`Quality`]).
pub fn measure(payloads: &[Vec<u8>], originals: &[usize]) -> Quality {
    let metas: Vec<_> = payloads.iter().map(|p| analyze(p).ok()).collect();
    let mut ranks = Vec::new();
    for &o in originals {
        let Some(orig) = metas[o].as_ref() else { continue };
        let Some(orig_f) = orig.features.as_deref() else {
            continue;
        };
        for (kind, bytes) in variants(&payloads[o]) {
            let Some(v) = bytes.and_then(|b| analyze(&b).ok()) else {
                continue;
            };
            let Some(vf) = v.features.as_deref() else { continue };
            let d_orig = distance(vf, orig_f);
            let closer = metas
                .iter()
                .flatten()
                .filter(|m| m.notes_fingerprint != orig.notes_fingerprint)
                .filter_map(|m| m.features.as_deref())
                .filter(|f| distance(vf, f) < d_orig)
                .count();
            ranks.push(VariantRank {
                original: o,
                kind,
                rank: closer + 1,
            });
        }
    }
    let mrr = if ranks.is_empty() {
        0.0
    } else {
        ranks.iter().map(|r| 1.0 / r.rank as f64).sum::<f64>() / ranks.len() as f64
    };
    Quality {
        ranks,
        mean_reciprocal_rank: mrr,
    }
}
