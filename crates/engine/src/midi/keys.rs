//! Key names: key-signature meta events named as mido names them, and Krumhansl-Schmuckler key finding.

const MAJOR_BY_SHARPS: [&str; 15] = [
    "Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#",
];
const MINOR_BY_SHARPS: [&str; 15] = [
    "Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m",
];

/// Name of a key signature meta event (`sf` = sharps if positive, flats if negative; `mi` =
/// 0 major, 1 minor), spelled as mido spells it. `None` for values mido rejects.
pub fn key_signature_name(sf: i8, mi: u8) -> Option<&'static str> {
    if !(-7..=7).contains(&sf) {
        return None;
    }
    let i = usize::try_from(i16::from(sf) + 7).ok()?;
    match mi {
        0 => MAJOR_BY_SHARPS.get(i).copied(),
        1 => MINOR_BY_SHARPS.get(i).copied(),
        _ => None,
    }
}

/// Key names by tonic pitch class, with the conventional (fewest accidentals) spelling.
const MAJOR_BY_PC: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
const MINOR_BY_PC: [&str; 12] = [
    "Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm",
];

/// Krumhansl-Kessler probe-tone profiles, tonic first.
const KK_MAJOR: [f64; 12] = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const KK_MINOR: [f64; 12] = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

fn pearson(x: &[f64; 12], y: &[f64; 12], rot: usize) -> f64 {
    let mx = x.iter().sum::<f64>() / 12.0;
    let my = y.iter().sum::<f64>() / 12.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        let dx = x[(i + rot) % 12] - mx;
        let dy = yi - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    let d = (sxx * syy).sqrt();
    if d > 0.0 { sxy / d } else { 0.0 }
}

/// Krumhansl-Schmuckler: correlates a pitch-class weight vector (durations or counts, index
/// 0 = C) with the 24 rotated major/minor profiles and returns the best key and its Pearson
/// correlation (-1..1, higher = clearer). `None` when there is nothing to correlate (no
/// weight, or all twelve classes equal).
pub fn detect_key(weights: &[f64; 12]) -> Option<(&'static str, f64)> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let first = weights[0];
    if weights.iter().all(|&w| w == first) {
        return None;
    }
    let mut best: Option<(&'static str, f64)> = None;
    for tonic in 0..12 {
        for (profile, names) in [(&KK_MAJOR, &MAJOR_BY_PC), (&KK_MINOR, &MINOR_BY_PC)] {
            let r = pearson(weights, profile, tonic);
            if best.is_none_or(|(_, b)| r > b) {
                best = Some((names[tonic], r));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_signature_names_match_mido() {
        assert_eq!(key_signature_name(0, 0), Some("C"));
        assert_eq!(key_signature_name(0, 1), Some("Am"));
        assert_eq!(key_signature_name(3, 1), Some("F#m"));
        assert_eq!(key_signature_name(-2, 0), Some("Bb"));
        assert_eq!(key_signature_name(-6, 1), Some("Ebm"));
        assert_eq!(key_signature_name(-7, 0), Some("Cb"));
        assert_eq!(key_signature_name(7, 1), Some("A#m"));
        assert_eq!(key_signature_name(8, 0), None);
        assert_eq!(key_signature_name(-8, 1), None);
        assert_eq!(key_signature_name(0, 2), None);
        assert_eq!(key_signature_name(i8::MIN, 0), None);
    }

    fn scale(tonic: usize, steps: &[usize]) -> [f64; 12] {
        let mut w = [0.0; 12];
        for &s in steps {
            w[(tonic + s) % 12] += 1.0;
        }
        // Emphasise tonic and fifth as real music does.
        w[tonic] += 2.0;
        w[(tonic + 7) % 12] += 1.0;
        w
    }

    #[test]
    fn finds_major_and_minor_scales() {
        let major = [0, 2, 4, 5, 7, 9, 11];
        let minor = [0, 2, 3, 5, 7, 8, 10];
        assert_eq!(detect_key(&scale(0, &major)).map(|k| k.0), Some("C"));
        assert_eq!(detect_key(&scale(7, &major)).map(|k| k.0), Some("G"));
        assert_eq!(detect_key(&scale(10, &major)).map(|k| k.0), Some("Bb"));
        assert_eq!(detect_key(&scale(9, &minor)).map(|k| k.0), Some("Am"));
        assert_eq!(detect_key(&scale(6, &minor)).map(|k| k.0), Some("F#m"));
        let (_, r) = detect_key(&scale(0, &major)).unwrap_or(("", 0.0));
        assert!(r > 0.8 && r <= 1.0, "confidence {r}");
    }

    #[test]
    fn nothing_to_detect() {
        assert_eq!(detect_key(&[0.0; 12]), None);
        assert_eq!(detect_key(&[3.0; 12]), None);
    }
}
