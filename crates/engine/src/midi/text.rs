//! Lossless-enough decoding of MIDI text meta events: UTF-8 when valid, else Windows-1252.

/// Windows-1252 code points for bytes 0x80..=0x9F; the five unassigned bytes keep their C1
/// control code point so that no byte is ever dropped.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
    '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
    '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
    '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Decodes a text meta payload for storage in PostgreSQL `text`.
///
/// MIDI never declared an encoding: old files are mostly Latin-1/CP1252, newer ones UTF-8.
/// Valid UTF-8 is taken as such, anything else byte by byte as CP1252, so decoding never fails.
/// NUL bytes are removed (PostgreSQL text cannot hold them; many writers pad names with NULs)
/// and surrounding whitespace is trimmed.
pub fn decode_text(raw: &[u8]) -> String {
    let s = match std::str::from_utf8(raw) {
        Ok(s) => s.replace('\0', ""),
        Err(_) => raw
            .iter()
            .filter(|&&b| b != 0)
            .map(|&b| match b {
                0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                _ => char::from(b),
            })
            .collect(),
    };
    let t = s.trim();
    if t.len() == s.len() { s } else { t.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_passes_through() {
        assert_eq!(decode_text("Grüße ♪".as_bytes()), "Grüße ♪");
    }

    #[test]
    fn latin1_and_cp1252_bytes() {
        // "Copyright © 1996" in Latin-1, then CP1252 curly quotes and euro sign.
        assert_eq!(decode_text(b"Copyright \xa9 1996"), "Copyright © 1996");
        assert_eq!(decode_text(b"\x93Hi\x94 \x80"), "\u{201C}Hi\u{201D} €");
        assert_eq!(decode_text(b"\x81\x8d"), "\u{0081}\u{008D}");
    }

    #[test]
    fn nuls_and_padding_removed() {
        assert_eq!(decode_text(b"Piano\0\0\0"), "Piano");
        assert_eq!(decode_text(b"  Bass \xe9\0 "), "Bass é");
        assert_eq!(decode_text(b""), "");
        assert_eq!(decode_text(b"\0\0"), "");
    }
}
