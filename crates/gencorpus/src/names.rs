//! Word pools, text encodings and the file/folder names of the synthetic corpus.

use super::rng::Rng;

pub(crate) const TITLE_WORDS: &[&str] = &[
    "Midnight",
    "Summer",
    "Rain",
    "City",
    "Lights",
    "Dream",
    "Fire",
    "River",
    "Blue",
    "Golden",
    "Night",
    "Drive",
    "Heart",
    "Shadow",
    "Echo",
    "Velvet",
    "Neon",
    "Ocean",
    "Storm",
    "Silver",
    "Morning",
    "Love",
    "Dance",
    "Ghost",
    "Paradise",
    "Highway",
    "Sunset",
    "Memory",
    "Thunder",
    "Crystal",
    "Wild",
    "Electric",
    "Moon",
    "Starlight",
    "Broken",
    "Sweet",
    "Lonely",
    "Forever",
    "Freedom",
    "Gravity",
    "Waltz",
    "Sonata",
    "Prelude",
    "Groove",
    "Funky",
    "Jungle",
    "Desert",
    "Winter",
    "Garden",
    "Mirror",
];

/// Titles that need Latin-1 when written the way old European sequencers did.
pub(crate) const LATIN1_TITLES: &[&str] = &[
    "Café Noir",
    "Señorita",
    "Frère Jacques",
    "München Nacht",
    "Schöne Welt",
    "Coração",
    "Niña Bonita",
    "Déjà Vu",
    "À la claire fontaine",
    "Für Elise",
    "Mañana",
    "Été Indien",
    "Garçon",
    "Ça plane pour moi",
];

/// Japanese titles with their Shift-JIS bytes (the encoding of most Japanese MIDI files of the 1990s).
pub(crate) const SJIS_TITLES: &[(&str, &[u8])] = &[
    ("さくら", &[0x82, 0xb3, 0x82, 0xad, 0x82, 0xe7]),
    ("夜空", &[0x96, 0xe9, 0x8b, 0xf3]),
    ("東京", &[0x93, 0x8c, 0x8b, 0x9e]),
    ("桜", &[0x8d, 0xf7]),
    ("ひかり", &[0x82, 0xd0, 0x82, 0xa9, 0x82, 0xe8]),
    ("こころ", &[0x82, 0xb1, 0x82, 0xb1, 0x82, 0xeb]),
];

pub(crate) const GENRES: &[&str] = &[
    "Hip Hop",
    "Rock",
    "Jazz",
    "Classical",
    "Pop",
    "Electronic",
    "Trap",
    "House",
    "Techno",
    "Drum & Bass",
    "R&B",
    "Soul",
    "Funk",
    "Reggae",
    "Latin",
    "Country",
    "Blues",
    "Metal",
    "Ambient",
    "Lo-Fi",
    "Video Game",
    "Anime",
    "J-Pop",
    "Film Score",
    "Gospel",
    "Disco",
    "Bossa Nova",
    "Chiptune",
];

const BAND_WORDS: &[&str] = &[
    "Velvet", "Neon", "Midnight", "Crimson", "Electric", "Silver", "Golden", "Lunar", "Static", "Paper", "Iron",
    "Glass", "Wild", "Quiet", "Cosmic",
];
const BAND_NOUNS: &[&str] = &[
    "Owls",
    "Rivers",
    "Tigers",
    "Echoes",
    "Machines",
    "Hearts",
    "Ghosts",
    "Pilots",
    "Dreamers",
    "Wolves",
    "Kings",
    "Satellites",
];
const DJ_NAMES: &[&str] = &[
    "DJ Nova",
    "MC Flow",
    "Lil Beat",
    "Kid Tempo",
    "Prod. Sky",
    "Señor Ritmo",
    "Beyoncé Covers",
];

/// Which byte encoding a file's text events use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enc {
    Ascii,
    Latin1,
    ShiftJis,
    Utf8,
}

/// A piece of text as shown in a file name (UTF-8) and as stored in the MIDI file (any encoding).
#[derive(Clone, Debug)]
pub(crate) struct Text {
    pub display: String,
    pub bytes: Vec<u8>,
}

impl Text {
    pub(crate) fn ascii(s: &str) -> Text {
        Text {
            display: s.to_string(),
            bytes: s.as_bytes().to_vec(),
        }
    }
}

/// Latin-1 bytes of a string whose characters are all below U+0100 (others become `?`, as old tools did).
pub(crate) fn latin1(s: &str) -> Vec<u8> {
    s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
}

pub(crate) fn song_title(rng: &mut Rng, enc: Enc) -> Text {
    match enc {
        Enc::Latin1 => {
            let t = *rng.pick(LATIN1_TITLES);
            Text {
                display: t.to_string(),
                bytes: latin1(t),
            }
        }
        Enc::ShiftJis => {
            let (t, b) = *rng.pick(SJIS_TITLES);
            Text {
                display: t.to_string(),
                bytes: b.to_vec(),
            }
        }
        Enc::Utf8 => {
            let t = if rng.chance(0.5) {
                *rng.pick(LATIN1_TITLES)
            } else {
                rng.pick(SJIS_TITLES).0
            };
            Text {
                display: t.to_string(),
                bytes: t.as_bytes().to_vec(),
            }
        }
        Enc::Ascii => {
            let n = rng.range(1, 3);
            let words: Vec<&str> = (0..n).map(|_| *rng.pick(TITLE_WORDS)).collect();
            Text::ascii(&words.join(" "))
        }
    }
}

pub(crate) fn artist_name(rng: &mut Rng) -> String {
    match rng.weighted(&[60, 25, 15]) {
        0 => format!("Artist {}", rng.range(1, 60)),
        1 => format!("The {} {}", rng.pick(BAND_WORDS), rng.pick(BAND_NOUNS)),
        _ => rng.pick(DJ_NAMES).to_string(),
    }
}

const NOTE_SHARP: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const NOTE_FLAT: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"];
/// Sharps (+) or flats (-) of the major key on each pitch class, as a key-signature meta event stores them.
const MAJOR_SF: [i8; 12] = [0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5];

/// The key-signature `sf` value for a key.
pub(crate) fn key_sf(tonic: u8, minor: bool) -> i8 {
    let major_tonic = if minor { (tonic + 3) % 12 } else { tonic % 12 };
    MAJOR_SF[major_tonic as usize]
}

/// Key as musicians and file names spell it: `Cm`, `F#m`, `Bb`.
pub(crate) fn key_name(tonic: u8, minor: bool) -> String {
    let names = if key_sf(tonic, minor) < 0 {
        &NOTE_FLAT
    } else {
        &NOTE_SHARP
    };
    let mut s = names[(tonic % 12) as usize].to_string();
    if minor {
        s.push('m');
    }
    s
}

/// The role of a part; decides channel, program, patterns and names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Drums,
    Bass,
    Chords,
    Pad,
    Melody,
    Arp,
    Counter,
}

pub(crate) fn track_name(rng: &mut Rng, role: Role, enc: Enc) -> Text {
    let (ascii, sjis, latin): (&[&str], (&str, &[u8]), &str) = match role {
        Role::Drums => (
            &["Drums", "Drum Kit", "DRUMS", "Percussion", "Kick & Snare", "Beat"],
            ("ドラム", &[0x83, 0x68, 0x83, 0x89, 0x83, 0x80]),
            "Batterie",
        ),
        Role::Bass => (
            &["Bass", "Fretless Bass", "Synth Bass", "BASS", "Bass Guitar"],
            ("ベース", &[0x83, 0x78, 0x81, 0x5b, 0x83, 0x58]),
            "Basse électrique",
        ),
        Role::Chords => (
            &["Piano", "Keys", "Rhythm Guitar", "E.Piano", "Organ", "Chords"],
            ("ピアノ", &[0x83, 0x73, 0x83, 0x41, 0x83, 0x6d]),
            "Klavier (Begleitung)",
        ),
        Role::Pad => (
            &["Strings", "Pad", "Warm Pad", "Choir", "Str Ensemble"],
            (
                "ストリングス",
                &[0x83, 0x58, 0x83, 0x67, 0x83, 0x8a, 0x83, 0x93, 0x83, 0x4f, 0x83, 0x58],
            ),
            "Cordes",
        ),
        Role::Melody => (
            &["Melody", "Lead", "Vocal", "Lead Synth", "Flute", "Sax Solo", "MELODY"],
            ("メロディ", &[0x83, 0x81, 0x83, 0x8d, 0x83, 0x66, 0x83, 0x42]),
            "Mélodie",
        ),
        Role::Arp => (
            &["Arp", "Arpeggio", "Pluck", "Sequence"],
            ("ギター", &[0x83, 0x4d, 0x83, 0x5e, 0x81, 0x5b]),
            "Arpège",
        ),
        Role::Counter => (
            &["Counter Melody", "Harmony", "Guitar", "Brass", "Horns"],
            ("ギター", &[0x83, 0x4d, 0x83, 0x5e, 0x81, 0x5b]),
            "Contre-chant",
        ),
    };
    match enc {
        Enc::ShiftJis => Text {
            display: sjis.0.to_string(),
            bytes: sjis.1.to_vec(),
        },
        Enc::Latin1 => Text {
            display: latin.to_string(),
            bytes: latin1(latin),
        },
        Enc::Utf8 => Text {
            display: sjis.0.to_string(),
            bytes: sjis.0.as_bytes().to_vec(),
        },
        Enc::Ascii => Text::ascii(rng.pick::<&str>(ascii)),
    }
}

/// Copyright notices, some with the Latin-1 `©` (0xA9) that breaks naive UTF-8 decoding.
pub(crate) fn copyright(rng: &mut Rng, enc: Enc, artist: &str) -> Vec<u8> {
    let year = rng.range(1988, 2024);
    // The Latin-1 sign is common in files from the 1990s, not in most.
    match (enc, rng.below(5)) {
        (Enc::Latin1, _) | (_, 0) => {
            let mut v = latin1(&format!("© {year} "));
            v.extend(latin1(artist));
            v
        }
        (Enc::Utf8, _) => format!("© {year} {artist}").into_bytes(),
        (_, 1 | 2) => format!("Copyright (c) {year} by {artist}").into_bytes(),
        _ => format!("(C) {year} MIDI Loops Inc. All rights reserved.").into_bytes(),
    }
}

const LYRIC_EN: &[&str] = &[
    "Oh ", "ba", "by ", "I ", "love ", "you ", "to", "night ", "la ", "we ", "are ", "dan", "cing ", "in ", "the ",
    "rain ", "hold ", "me ", "close ", "for", "ev", "er ", "yeah ", "shine ", "on ",
];
const LYRIC_LATIN1: &[&str] = &[
    "co", "ra", "zón ", "ma", "ña", "na ", "é", "té ", "mi ", "a", "mor ", "fü", "r ", "dich ", "ça ", "va ",
];
const LYRIC_SJIS: &[&[u8]] = &[
    &[0x82, 0xa0],
    &[0x82, 0xa2],
    &[0x82, 0xa4],
    &[0x82, 0xa9],
    &[0x82, 0xb3],
    &[0x82, 0xbd],
    &[0x82, 0xc8],
    &[0x82, 0xcc],
    &[0x82, 0xdc],
    &[0x82, 0xe7],
    &[0x82, 0xe9],
    &[0x82, 0xe6],
    &[0x82, 0xdf],
];

/// One lyric syllable in the file's encoding.
pub(crate) fn syllable(rng: &mut Rng, enc: Enc, out: &mut Vec<u8>) {
    match enc {
        Enc::Latin1 => out.extend(latin1(rng.pick::<&str>(LYRIC_LATIN1))),
        Enc::ShiftJis => out.extend_from_slice(rng.pick::<&[u8]>(LYRIC_SJIS)),
        Enc::Utf8 => out.extend_from_slice(rng.pick(LYRIC_LATIN1).as_bytes()),
        Enc::Ascii => out.extend_from_slice(rng.pick(LYRIC_EN).as_bytes()),
    }
}

/// What a file name may say about the content (taken from the content's own parameters, so a name's
/// `Cm_92bpm` is true for the file).
pub(crate) struct NameFacts<'a> {
    pub title: &'a str,
    pub artist: &'a str,
    pub key: &'a str,
    pub bpm: u16,
    pub is_loop: bool,
    pub karaoke: bool,
    pub part: &'a str,
}

/// A file name unique in the whole corpus: every template embeds the file's own index, delimited so that
/// no two indices can produce the same name.
pub(crate) fn file_name(rng: &mut Rng, index: u64, f: &NameFacts<'_>) -> String {
    let i = index;
    if f.karaoke {
        return format!("{} ({i}).kar", f.title);
    }
    if f.is_loop {
        return match rng.weighted(&[50, 20, 20, 10]) {
            0 => format!("{}_{}bpm_{}_{i:05}.mid", f.key, f.bpm, f.part),
            1 => format!("{}bpm_{}_{}_{i}.mid", f.bpm, f.key, f.part),
            2 => {
                let word = if f.part == "loop" {
                    "Groove".to_string()
                } else {
                    capitalize(f.part)
                };
                format!("{word} Loop {i:03} {} BPM.mid", f.bpm)
            }
            _ => format!("{}_{i:05}.MID", f.part.to_uppercase()),
        };
    }
    match rng.weighted(&[25, 15, 15, 10, 10, 15, 10]) {
        0 => format!("{} ({i}).mid", f.title),
        1 => format!("{i:05} - {} - {}.mid", f.artist, f.title),
        2 => format!("{}_{i}.mid", f.title.to_lowercase().replace(' ', "_")),
        3 => format!("{} {i}.MID", f.title),
        4 => format!("{} v{i}.midi", f.title),
        5 => format!("{}_{}_{}bpm_{i}.mid", f.title, f.key, f.bpm),
        _ => format!("{:06}.mid", i),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_and_signatures() {
        assert_eq!(key_name(0, true), "Cm");
        assert_eq!(key_sf(0, true), -3);
        assert_eq!(key_name(6, true), "F#m");
        assert_eq!(key_sf(6, true), 3);
        assert_eq!(key_name(10, false), "Bb");
        assert_eq!(key_sf(10, false), -2);
        assert_eq!(key_name(9, true), "Am");
        assert_eq!(key_sf(9, true), 0);
        assert_eq!(key_name(7, false), "G");
        assert_eq!(key_sf(7, false), 1);
    }

    #[test]
    fn latin1_and_sjis_bytes_are_not_utf8() {
        assert!(std::str::from_utf8(&latin1("Café")).is_err());
        for (_, b) in SJIS_TITLES {
            assert!(std::str::from_utf8(b).is_err());
        }
        assert_eq!(latin1("© 1998"), b"\xa9 1998");
    }
}
