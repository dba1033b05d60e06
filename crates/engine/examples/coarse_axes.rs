//! Prints the principal axes of the similarity features of every MIDI file under a folder, as the Rust constant
//! `midi::similarity::COARSE_AXES` holds: `cargo run -p midi-tui-engine --example coarse_axes -- FOLDER [DIMS]`.
//!
//! The coarse vector is the features projected on these axes. The axes are orthonormal, so the distance between two
//! coarse vectors is never more than the distance between their features: `like:` reads candidates in coarse order
//! and stops once no unread file can be nearer (database/similar.rs). Principal axes keep that bound tight, so few
//! candidates are read; any orthonormal axes would keep it exact.
use std::path::{Path, PathBuf};

use midi_tui_engine::midi::{analyze, similarity::DIMS};

fn main() {
    let mut args = std::env::args().skip(1);
    let folder = PathBuf::from(args.next().expect("usage: coarse_axes FOLDER [DIMS]"));
    let keep: usize = args.next().map_or(8, |d| d.parse().expect("DIMS is a number"));
    let mut files = Vec::new();
    walk(&folder, &mut files);
    files.sort();
    let samples: Vec<Vec<f64>> = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| analyze(&b).ok().and_then(|m| m.features))
        .map(|f| f.iter().map(|&x| f64::from(x)).collect())
        .collect();
    assert!(samples.len() > DIMS, "too few files with features: {}", samples.len());
    let (values, vectors) = jacobi(covariance(&samples));
    let total: f64 = values.iter().sum();
    let mut order: Vec<usize> = (0..DIMS).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    eprintln!("{} files with features", samples.len());
    let mut acc = 0.0;
    for (rank, &i) in order.iter().enumerate().take(16) {
        acc += values[i];
        eprintln!(
            "axis {:>2}: variance share {:.3}, cumulative {:.3}",
            rank + 1,
            values[i] / total,
            acc / total
        );
    }
    println!("pub const COARSE_AXES: [[f32; DIMS]; COARSE_DIMS] = [");
    for &i in order.iter().take(keep) {
        // An axis's sign is arbitrary: the one whose largest component is positive, so reruns print the same.
        let axis: Vec<f64> = (0..DIMS).map(|r| vectors[r][i]).collect();
        let big = axis
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        let parts: Vec<String> = axis.iter().map(|x| format!("{:.6}", x * sign)).collect();
        println!("    [{}],", parts.join(", "));
    }
    println!("];");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| x.eq_ignore_ascii_case("mid") || x.eq_ignore_ascii_case("midi"))
        {
            out.push(p);
        }
    }
}

fn covariance(samples: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = samples.len() as f64;
    let mean: Vec<f64> = (0..DIMS)
        .map(|d| samples.iter().map(|s| s[d]).sum::<f64>() / n)
        .collect();
    let mut c = vec![vec![0.0; DIMS]; DIMS];
    for s in samples {
        for i in 0..DIMS {
            for j in 0..DIMS {
                c[i][j] += (s[i] - mean[i]) * (s[j] - mean[j]) / n;
            }
        }
    }
    c
}

/// Eigenvalues and eigenvectors (columns) of a symmetric matrix, by cyclic Jacobi rotations.
// A rotation updates two rows and two columns at once: indexes say that more plainly than iterators.
#[allow(clippy::needless_range_loop)]
fn jacobi(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}
