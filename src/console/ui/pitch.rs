//! Note names shared by the browser's detail and the piano roll.

/// `C4` for 60.
pub fn pitch_name(p: i16) -> String {
    const NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
    format!("{}{}", NAMES[p.rem_euclid(12) as usize], p.div_euclid(12) - 1)
}
