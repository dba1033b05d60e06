//! Locations: lossless text names for files on disk and members inside (nested) archives.
//!
//! # Escape scheme
//!
//! A location is always a `String`, but file names on Unix and inside archives are arbitrary bytes. Bytes are turned
//! into text like this:
//!
//! * every valid UTF-8 character is kept as it is, except a `%` that is directly followed by two ASCII hex digits,
//!   which is written `%25` (so that it cannot be mistaken for an escape);
//! * every byte that is not part of valid UTF-8 is written `%XX` (two upper-case hex digits).
//!
//! Decoding turns every `%XX` (two hex digits, any case) back into the byte `XX` and keeps everything else. A `%`
//! that the encoder kept literally is never followed by two hex digits in the encoded text, so decoding is exact:
//! `decode_location(&encode_bytes(b)) == b` for every byte string `b`. Ordinary names, including names with a
//! lone `%` such as `100% funk.mid`, come out unchanged.
//!
//! # Archive members
//!
//! A member's location is `ARCHIVE!/member/path`, where `ARCHIVE` is the archive's own location; nested archives
//! chain: `a.zip!/b.tar.gz!/c.mid`. The member path is the name stored in the archive with leading `/` and `./`
//! removed and a trailing `/` dropped.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Separator between an archive's location and the path of one of its members.
pub const MEMBER_SEPARATOR: &str = "!/";

/// Encode arbitrary bytes as a location string (see the module docs for the scheme).
pub fn encode_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        let vb = valid.as_bytes();
        let mut start = 0;
        for (i, &b) in vb.iter().enumerate() {
            // A chunk ends only at an invalid byte or at the end, so looking inside the chunk is enough.
            if b == b'%' && is_hex_pair(vb.get(i + 1), vb.get(i + 2)) {
                out.push_str(&valid[start..i]);
                out.push_str("%25");
                start = i + 1;
            }
        }
        out.push_str(&valid[start..]);
        for &b in chunk.invalid() {
            push_escape(&mut out, b);
        }
    }
    out
}

/// Encode a filesystem path as a location string, losslessly.
pub fn encode_os_path(p: &Path) -> String {
    encode_bytes(os_bytes(p.as_os_str()))
}

/// Decode a location string back into the exact bytes it was made from.
pub fn decode_location(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex_val), b.get(i + 2).and_then(hex_val))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Decode a location of a plain file (no `!/` member part) back into the filesystem path it names.
pub fn location_to_path(s: &str) -> PathBuf {
    path_from_bytes(decode_location(s))
}

/// The location of `member` (raw bytes as stored in the archive) inside the archive at `archive_location`.
pub fn member_location(archive_location: &str, member: &[u8]) -> String {
    let mut s = String::with_capacity(archive_location.len() + 2 + member.len());
    s.push_str(archive_location);
    s.push_str(MEMBER_SEPARATOR);
    s.push_str(&encode_bytes(normalize_member_path(member)));
    s
}

/// A member path as it appears in locations: leading `/` and `./` removed, one trailing `/` dropped.
pub fn normalize_member_path(mut p: &[u8]) -> &[u8] {
    loop {
        if let Some(rest) = p.strip_prefix(b"./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix(b"/") {
            p = rest;
        } else {
            break;
        }
    }
    p.strip_suffix(b"/").unwrap_or(p)
}

/// Raw bytes of an OS string (Unix: exact; elsewhere: its UTF-8 form, lossy only for unpaired surrogates).
pub(crate) fn os_bytes(s: &OsStr) -> &[u8] {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        s.as_bytes()
    }
    #[cfg(not(unix))]
    {
        s.as_encoded_bytes()
    }
}

/// A path made from raw bytes (Unix: exact).
pub(crate) fn path_from_bytes(b: Vec<u8>) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(b))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(&b).into_owned())
    }
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xF)] as char);
}

fn is_hex_pair(a: Option<&u8>, b: Option<&u8>) -> bool {
    a.and_then(hex_val).is_some() && b.and_then(hex_val).is_some()
}

fn hex_val(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(b: &[u8]) {
        let enc = encode_bytes(b);
        assert_eq!(decode_location(&enc), b, "bytes {b:?} encoded as {enc:?}");
        // Encoding is a fixed point on its own output's decoding.
        assert_eq!(encode_bytes(&decode_location(&enc)), enc);
    }

    #[test]
    fn plain_names_are_unchanged() {
        for s in [
            "song.mid",
            "dir/sub/Ünïcödé ♪.MID",
            "100% funk.mid",
            "50%.kar",
            "%",
            "a%g1.mid",
            "x%4",
        ] {
            assert_eq!(encode_bytes(s.as_bytes()), s);
            round_trip(s.as_bytes());
        }
    }

    #[test]
    fn percent_before_hex_digits_is_escaped() {
        assert_eq!(encode_bytes(b"%41.mid"), "%2541.mid");
        assert_eq!(decode_location("%2541.mid"), b"%41.mid");
        assert_eq!(encode_bytes(b"a%ff"), "a%25ff");
        round_trip(b"%41%42");
    }

    #[test]
    fn invalid_bytes_are_escaped() {
        assert_eq!(encode_bytes(b"caf\xe9.mid"), "caf%E9.mid");
        assert_eq!(encode_bytes(b"\xff\xfe"), "%FF%FE");
        assert_eq!(encode_bytes(b"%\xab"), "%%AB");
        assert_eq!(encode_bytes(b"%A\xbc"), "%A%BC");
        round_trip(b"caf\xe9.mid");
        round_trip(b"%\xab");
        round_trip(b"%A\xbc");
        round_trip(b"\xe2\x82"); // truncated 3-byte sequence
        round_trip(b"%\xe2\x82\xac41"); // '%' then a valid euro sign
    }

    #[test]
    fn round_trip_exhaustive_short_strings() {
        // Every string of length <= 3 over an alphabet rich in the tricky cases.
        let alphabet: &[u8] = b"%A4g/\xff\xe2\x82\xac\xc3";
        let mut buf = Vec::new();
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    buf.clear();
                    buf.extend_from_slice(&[*a, *b, *c]);
                    round_trip(&buf);
                    round_trip(&buf[..2]);
                    round_trip(&buf[..1]);
                }
            }
        }
    }

    #[test]
    fn round_trip_pseudo_random() {
        // A small deterministic generator: enough variety without a dependency.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let pick = b"%%%aF09/._\x80\xff\xe2\x82\xac\xf0\x9f\x8e\xb5z";
        for _ in 0..5000 {
            let len = (x % 12) as usize;
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(pick[(x % pick.len() as u64) as usize]);
            }
            round_trip(&v);
        }
    }

    #[test]
    fn os_path_round_trip() {
        let p = path_from_bytes(b"/music/caf\xe9/100%.mid".to_vec());
        let loc = encode_os_path(&p);
        assert_eq!(loc, "/music/caf%E9/100%.mid");
        assert_eq!(location_to_path(&loc), p);
    }

    #[test]
    fn member_locations() {
        assert_eq!(member_location("a.zip", b"./x/y.mid"), "a.zip!/x/y.mid");
        assert_eq!(member_location("a.zip", b"/abs.mid"), "a.zip!/abs.mid");
        assert_eq!(
            member_location("a.zip!/b.tar.gz", b"c\xff.mid"),
            "a.zip!/b.tar.gz!/c%FF.mid"
        );
        assert_eq!(normalize_member_path(b"dir/"), b"dir");
    }
}
