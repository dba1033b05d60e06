//! Counts, plurals and sizes as people read them (`1 file`, `1,204 files`, `63.7 MB`): the one helper every front
//! end and log line uses, so that a figure reads the same on the console, the command line and in the log.

/// A whole number of anything: what [`count`] and [`counted`] take (unsigned, signed and `usize` alike).
pub trait Whole: Copy {
    fn wide(self) -> i128;
}

macro_rules! whole {
    ($($t:ty),*) => {$(
        impl Whole for $t {
            fn wide(self) -> i128 {
                self as i128
            }
        }
    )*};
}
whole!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// Digits in groups of three: `1234567` -> `1,234,567`, `-1204` -> `-1,204`.
pub fn count(n: impl Whole) -> String {
    let n = n.wide();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A measured quantity (a rate, an average) rounded to a whole number and grouped: `10847.6` -> `10,848`.
pub fn count_f(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    count(v.round() as i64)
}

/// The noun for `n` things: `singular` for exactly one, else its plural by the regular English rules (`file` ->
/// `files`, `index` -> `indexes`, `copy` -> `copies`, `match` -> `matches`). Irregular words take [`plural_as`].
pub fn plural(n: impl Whole, singular: &str) -> String {
    if n.wide() == 1 {
        return singular.to_string();
    }
    let consonant_y = singular.strip_suffix('y').filter(|stem| {
        stem.chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphabetic() && !"aeiouAEIOU".contains(c))
    });
    if let Some(stem) = consonant_y {
        format!("{stem}ies")
    } else if ["s", "x", "z", "ch", "sh"].iter().any(|end| singular.ends_with(end)) {
        format!("{singular}es")
    } else {
        format!("{singular}s")
    }
}

/// `n` and its noun: `1 file`, `0 files`, `1,204 files`.
pub fn counted(n: impl Whole, singular: &str) -> String {
    format!("{} {}", count(n), plural(n, singular))
}

/// `n` and an irregular noun given in both forms: `plural_as(2, "child", "children")` -> `2 children`.
pub fn plural_as(n: impl Whole, singular: &str, plural: &str) -> String {
    format!("{} {}", count(n), if n.wide() == 1 { singular } else { plural })
}

/// Bytes in B, kB, MB, GB or TB (powers of 1000, as the MB/s of the rates; one decimal above bytes):
/// `950 B`, `1.2 kB`, `63.7 MB`, `1.2 GB`.
pub fn bytes(n: impl Whole) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let n = n.wide();
    if n.unsigned_abs() < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    // 999,950 bytes would print as `1000.0 kB`: move up while the rounded figure reaches the next unit.
    while v.abs() >= 999.95 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_their_digits() {
        assert_eq!(count(0u64), "0");
        assert_eq!(count(999u32), "999");
        assert_eq!(count(1000usize), "1,000");
        assert_eq!(count(1204i64), "1,204");
        assert_eq!(count(63_683u64), "63,683");
        assert_eq!(count(1_234_567i32), "1,234,567");
        assert_eq!(count(-1204i64), "-1,204");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(count_f(10_847.6), "10,848");
        assert_eq!(count_f(0.4), "0");
        assert_eq!(count_f(f64::NAN), "0");
    }

    #[test]
    fn nouns_agree_with_their_count() {
        assert_eq!(counted(1u64, "file"), "1 file");
        assert_eq!(counted(0u64, "file"), "0 files");
        assert_eq!(counted(2u64, "file"), "2 files");
        assert_eq!(counted(63_683u64, "file"), "63,683 files");
        assert_eq!(counted(1usize, "unit"), "1 unit");
        assert_eq!(counted(3i64, "index"), "3 indexes");
        assert_eq!(counted(2u32, "copy"), "2 copies");
        assert_eq!(counted(2u32, "key"), "2 keys");
        assert_eq!(counted(2u32, "match"), "2 matches");
        assert_eq!(counted(1u32, "match"), "1 match");
        assert_eq!(plural(1u8, "archive"), "archive");
        assert_eq!(plural(5u8, "archive"), "archives");
        assert_eq!(plural_as(1u8, "child", "children"), "1 child");
        assert_eq!(plural_as(1_000u32, "child", "children"), "1,000 children");
    }

    #[test]
    fn sizes_take_the_unit_that_keeps_them_short() {
        assert_eq!(bytes(0u64), "0 B");
        assert_eq!(bytes(999u64), "999 B");
        assert_eq!(bytes(1000u64), "1.0 kB");
        assert_eq!(bytes(1_234u64), "1.2 kB");
        assert_eq!(bytes(63_683_000u64), "63.7 MB");
        assert_eq!(bytes(999_950u64), "1.0 MB", "never 1000.0 kB");
        assert_eq!(bytes(1_200_000_000u64), "1.2 GB");
        assert_eq!(bytes(5_500_000_000_000u64), "5.5 TB");
        assert_eq!(bytes(7_000_000_000_000_000u64), "7000.0 TB");
    }
}
