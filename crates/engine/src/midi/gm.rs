//! General MIDI level 1 programs: the 128 instrument names and the 16 families, numbered 1..=128 as GM lists them.

/// Instrument names, index 0 = GM program 1.
pub const PROGRAM_NAMES: [&str; 128] = [
    "Acoustic Grand Piano",
    "Bright Acoustic Piano",
    "Electric Grand Piano",
    "Honky-tonk Piano",
    "Electric Piano 1",
    "Electric Piano 2",
    "Harpsichord",
    "Clavinet",
    "Celesta",
    "Glockenspiel",
    "Music Box",
    "Vibraphone",
    "Marimba",
    "Xylophone",
    "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ",
    "Percussive Organ",
    "Rock Organ",
    "Church Organ",
    "Reed Organ",
    "Accordion",
    "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)",
    "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)",
    "Electric Guitar (clean)",
    "Electric Guitar (muted)",
    "Overdriven Guitar",
    "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass",
    "Electric Bass (finger)",
    "Electric Bass (pick)",
    "Fretless Bass",
    "Slap Bass 1",
    "Slap Bass 2",
    "Synth Bass 1",
    "Synth Bass 2",
    "Violin",
    "Viola",
    "Cello",
    "Contrabass",
    "Tremolo Strings",
    "Pizzicato Strings",
    "Orchestral Harp",
    "Timpani",
    "String Ensemble 1",
    "String Ensemble 2",
    "Synth Strings 1",
    "Synth Strings 2",
    "Choir Aahs",
    "Voice Oohs",
    "Synth Voice",
    "Orchestra Hit",
    "Trumpet",
    "Trombone",
    "Tuba",
    "Muted Trumpet",
    "French Horn",
    "Brass Section",
    "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax",
    "Alto Sax",
    "Tenor Sax",
    "Baritone Sax",
    "Oboe",
    "English Horn",
    "Bassoon",
    "Clarinet",
    "Piccolo",
    "Flute",
    "Recorder",
    "Pan Flute",
    "Blown Bottle",
    "Shakuhachi",
    "Whistle",
    "Ocarina",
    "Lead 1 (square)",
    "Lead 2 (sawtooth)",
    "Lead 3 (calliope)",
    "Lead 4 (chiff)",
    "Lead 5 (charang)",
    "Lead 6 (voice)",
    "Lead 7 (fifths)",
    "Lead 8 (bass + lead)",
    "Pad 1 (new age)",
    "Pad 2 (warm)",
    "Pad 3 (polysynth)",
    "Pad 4 (choir)",
    "Pad 5 (bowed)",
    "Pad 6 (metallic)",
    "Pad 7 (halo)",
    "Pad 8 (sweep)",
    "FX 1 (rain)",
    "FX 2 (soundtrack)",
    "FX 3 (crystal)",
    "FX 4 (atmosphere)",
    "FX 5 (brightness)",
    "FX 6 (goblins)",
    "FX 7 (echoes)",
    "FX 8 (sci-fi)",
    "Sitar",
    "Banjo",
    "Shamisen",
    "Koto",
    "Kalimba",
    "Bagpipe",
    "Fiddle",
    "Shanai",
    "Tinkle Bell",
    "Agogo",
    "Steel Drums",
    "Woodblock",
    "Taiko Drum",
    "Melodic Tom",
    "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise",
    "Breath Noise",
    "Seashore",
    "Bird Tweet",
    "Telephone Ring",
    "Helicopter",
    "Applause",
    "Gunshot",
];

/// The 16 families of eight programs each, in order (family i holds programs 8i+1..=8i+8), with the names a query
/// may use for them (the first is the canonical one).
pub const FAMILIES: [&[&str]; 16] = [
    &["piano"],
    &["chromatic", "chromatic-percussion", "mallets"],
    &["organ"],
    &["guitar"],
    &["bass"],
    &["strings"],
    &["ensemble"],
    &["brass"],
    &["reed"],
    &["pipe", "flute"],
    &["lead", "synth-lead"],
    &["pad", "synth-pad"],
    &["fx", "synth-fx"],
    &["ethnic"],
    &["percussive"],
    &["sfx", "sound-effects"],
];

/// GM program numbers (1..=128) an `inst:` word names: a family by name, else every program whose name contains the
/// word (case-insensitive, so `fretless` finds Fretless Bass). Empty when nothing matches.
pub fn programs_for(word: &str) -> Vec<u8> {
    let w = word.to_ascii_lowercase();
    if let Some(family) = FAMILIES.iter().position(|names| names.contains(&w.as_str())) {
        let first = family as u8 * 8 + 1;
        return (first..first + 8).collect();
    }
    PROGRAM_NAMES
        .iter()
        .zip(1u8..)
        .filter(|(name, _)| name.to_ascii_lowercase().contains(&w))
        .map(|(_, n)| n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_names_map_to_gm_numbers() {
        assert_eq!(programs_for("bass"), (33..=40).collect::<Vec<_>>());
        assert_eq!(programs_for("Piano"), (1..=8).collect::<Vec<_>>());
        assert_eq!(programs_for("sfx"), (121..=128).collect::<Vec<_>>());
        assert_eq!(programs_for("fretless"), vec![36]);
        assert_eq!(programs_for("sax"), vec![65, 66, 67, 68]);
        assert!(programs_for("kazoo").is_empty());
        assert_eq!(PROGRAM_NAMES[32], "Acoustic Bass");
    }
}
