//! The natural order of file names (`2_` before `11_` before `101_`, case folded), as a key whose byte order is
//! that order: stored beside each name, so an ordinary index delivers the browser's name order.

/// Starts a run of ASCII digits in a key. Text never holds it (digits always form runs), and it sorts where the
/// digit itself sorts, so a number sits among the punctuation around it as in byte order (`a-` < `a1` < `a_`).
const NUMBER: char = '0';

/// A run's count of significant digits is one character from here on: more digits, a later character, so the run
/// with more digits is the larger number before any digit is compared.
const LENGTH_BASE: u32 = 0x41;

/// Longer keys are cut at a character boundary: a b-tree entry has a size limit, and names that share their first
/// kilobyte are rare enough to leave to the id that breaks ties.
const MAX_KEY_BYTES: usize = 1024;

/// The key of `name` under which byte order (`COLLATE "C"`) is natural order: letters compared without case, each
/// run of digits as the number it spells (leading zeros ignored: `007` and `7` tie, broken by the file's id).
pub fn natural_sort_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len() + 8);
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if key.len() >= MAX_KEY_BYTES {
            break;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let significant = rest[..digits].trim_start_matches('0');
            // Capped far below the surrogates; a run this long is past MAX_KEY_BYTES anyway.
            let length = significant.len().min(4096) as u32;
            key.push(NUMBER);
            key.push(char::from_u32(LENGTH_BASE + length).unwrap_or(char::REPLACEMENT_CHARACTER));
            key.push_str(significant);
            rest = &rest[digits..];
        } else {
            key.extend(c.to_lowercase());
            rest = &rest[c.len_utf8()..];
        }
    }
    if key.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::natural_sort_key;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<&str> = names.to_vec();
        v.sort_by_key(|n| natural_sort_key(n));
        v.into_iter().map(String::from).collect()
    }

    #[test]
    fn numbers_sort_by_value_and_letters_without_case() {
        assert_eq!(
            sorted(&["126_x.mid", "11_x.mid", "101_x.mid", "2_x.mid", "1_x.mid"]),
            ["1_x.mid", "2_x.mid", "11_x.mid", "101_x.mid", "126_x.mid"]
        );
        assert_eq!(
            sorted(&["Track10.mid", "track9.mid", "TRACK 1.mid", "track1.mid"]),
            ["TRACK 1.mid", "track1.mid", "track9.mid", "Track10.mid"]
        );
        assert_eq!(
            sorted(&["Beat.mid", "apple.mid", "beat 2.mid", "Apple 10.mid", "apple 9.mid"]),
            ["apple 9.mid", "Apple 10.mid", "apple.mid", "beat 2.mid", "Beat.mid"]
        );
        // Several runs in one name, numbers longer than any integer type, and digits before letters (as in byte order).
        assert_eq!(
            sorted(&[
                "v2.10.mid",
                "v2.9.mid",
                "v10.1.mid",
                "123456789012345678901234567890.mid",
                "99.mid"
            ]),
            [
                "99.mid",
                "123456789012345678901234567890.mid",
                "v2.9.mid",
                "v2.10.mid",
                "v10.1.mid"
            ]
        );
        assert_eq!(
            sorted(&["x010.mid", "x9.mid", "x0.mid"]),
            ["x0.mid", "x9.mid", "x010.mid"]
        );
        assert_eq!(natural_sort_key("007"), natural_sort_key("7"), "leading zeros tie");
    }

    #[test]
    fn wide_characters_and_punctuation_keep_byte_order_around_numbers() {
        assert_eq!(
            sorted(&["さくら (410).mid", "さくら (41).mid", "さくら (5).mid", "Zebra.mid"]),
            ["Zebra.mid", "さくら (5).mid", "さくら (41).mid", "さくら (410).mid"]
        );
        assert_eq!(sorted(&["a_1", "a1", "a-1", "a"]), ["a", "a-1", "a1", "a_1"]);
        assert_eq!(natural_sort_key(""), "");
    }

    #[test]
    fn an_absurd_name_gives_a_bounded_key() {
        let digits = "9".repeat(100_000);
        let key = natural_sort_key(&digits);
        assert!(key.len() <= 1024, "{}", key.len());
        let wide = "さ".repeat(1000);
        let key = natural_sort_key(&wide);
        assert!(key.len() <= 1024 && key.chars().all(|c| c == 'さ'));
        // Still ordered by length first: more digits, larger number.
        assert!(natural_sort_key(&"9".repeat(900)) > natural_sort_key(&"1".repeat(800)));
    }
}
