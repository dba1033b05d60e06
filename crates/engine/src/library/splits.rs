//! Dataset splits for `export --split`: the exported files fall into groups (the same notes, the same notes
//! transposed, optionally files that sound alike), and each whole group lands in one split, chosen from a hash of
//! the seed and the group's key, so that no near-duplicate leaks from the training split into the test split and
//! the same seed always gives the same assignment.
use std::collections::HashMap;
use std::str::FromStr;

use crate::database::{DbResult, similar};
use crate::library::Hit;
use crate::run::session::Engine;

/// `train=0.8,valid=0.1,test=0.1`: named shares, in order, summing to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSpec {
    pub parts: Vec<(String, f64)>,
}

impl FromStr for SplitSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((name, share)) = item.split_once('=') else {
                return Err(format!(
                    "`{item}` is not NAME=SHARE (e.g. train=0.8,valid=0.1,test=0.1)"
                ));
            };
            let name = name.trim();
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                && !parts.iter().any(|(n, _): &(String, f64)| n == name);
            if !valid {
                return Err(format!("`{name}` is not a new split name (letters, digits, - and _)"));
            }
            let share: f64 = share
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("`{share}` is not a share above 0 in `{item}`"))?;
            parts.push((name.to_string(), share));
        }
        if parts.len() < 2 {
            return Err("a split needs at least two parts, e.g. train=0.8,valid=0.1,test=0.1".into());
        }
        let total: f64 = parts.iter().map(|p| p.1).sum();
        if (total - 1.0).abs() > 1e-6 {
            return Err(format!("the shares add up to {total}, not 1"));
        }
        Ok(SplitSpec { parts })
    }
}

/// What the splitter knows of one exported file.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: i64,
    /// BLAKE3 of the bytes (a file's own key when it has no fingerprint).
    pub content_hash: Vec<u8>,
    pub notes_fingerprint: Option<Vec<u8>>,
    pub transposed_fingerprint: Option<Vec<u8>>,
}

/// Each member's group (an index into `keys`) and each group's key and split.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Per member, in the members' order.
    pub group: Vec<usize>,
    /// Per group: its split's index into the spec's parts.
    pub split: Vec<usize>,
}

/// Groups: members with the same notes, or the same notes transposed, or a pair of `links` (indexes into
/// `members`: files that sound alike), are one group, transitively. Each group's key is the smallest of its
/// members' keys (the transposed fingerprint, else the content hash): the same group gets the same key whatever
/// else the query matched. Its split is where `blake3(seed, key)`, read as a number in [0, 1), falls among the
/// cumulative shares.
pub fn assign(members: &[Member], links: &[(usize, usize)], spec: &SplitSpec, seed: u64) -> Assignment {
    let mut uf = UnionFind::new(members.len());
    let mut first: HashMap<&[u8], usize> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        for fp in [&m.notes_fingerprint, &m.transposed_fingerprint].into_iter().flatten() {
            match first.get(fp.as_slice()) {
                Some(&j) => uf.union(i, j),
                None => {
                    first.insert(fp.as_slice(), i);
                }
            }
        }
    }
    for &(a, b) in links {
        uf.union(a, b);
    }
    let mut group_of_root: HashMap<usize, usize> = HashMap::new();
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut group = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let root = uf.find(i);
        let next = keys.len();
        let g = *group_of_root.entry(root).or_insert(next);
        let key = m.transposed_fingerprint.as_deref().unwrap_or(&m.content_hash);
        if g == keys.len() {
            keys.push(key);
        } else if key < keys[g] {
            keys[g] = key;
        }
        group.push(g);
    }
    let split = keys.iter().map(|k| split_of(k, spec, seed)).collect();
    Assignment { group, split }
}

/// The split a group key falls in.
fn split_of(key: &[u8], spec: &SplitSpec, seed: u64) -> usize {
    let mut h = blake3::Hasher::new();
    h.update(b"midi-tui split v1");
    h.update(&seed.to_le_bytes());
    h.update(key);
    let bytes = h.finalize();
    let x = u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap_or_default());
    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
    let mut acc = 0.0;
    for (i, (_, share)) in spec.parts.iter().enumerate() {
        acc += share;
        if u < acc {
            return i;
        }
    }
    spec.parts.len() - 1
}

/// Per group, the member kept by `--one-per-group`: the longest (then the most notes, then the lowest id).
pub fn representatives(group: &[usize], score: impl Fn(usize) -> (f64, i64, i64)) -> Vec<bool> {
    let mut best: HashMap<usize, usize> = HashMap::new();
    for (i, &g) in group.iter().enumerate() {
        let better = |j: usize| {
            let (a, b) = (score(i), score(j));
            a.0 > b.0 || (a.0 == b.0 && (a.1 > b.1 || (a.1 == b.1 && a.2 < b.2)))
        };
        match best.get(&g) {
            Some(&j) if !better(j) => {}
            _ => {
                best.insert(g, i);
            }
        }
    }
    let mut keep = vec![false; group.len()];
    for i in best.into_values() {
        keep[i] = true;
    }
    keep
}

/// What `export` was asked for besides the files: splits, similar-file grouping, one file per group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitOptions {
    pub spec: Option<SplitSpec>,
    pub seed: u64,
    /// `--group-similar T`: files whose features lie within T of each other are one group.
    pub group_similar: Option<f64>,
    pub one_per_group: bool,
}

impl SplitOptions {
    /// Anything to do beyond a plain export.
    pub fn active(&self) -> bool {
        self.spec.is_some() || self.one_per_group
    }
}

/// One split of an export: what it holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SplitSummary {
    pub name: String,
    pub groups: usize,
    pub files: usize,
    pub notes: i64,
    pub hours: f64,
}

/// The hits kept, each with its split's name (empty without `--split`), and the per-split summary.
#[derive(Debug, Clone, Default)]
pub struct SplitHits {
    pub hits: Vec<Hit>,
    pub split: Vec<String>,
    pub summary: Vec<SplitSummary>,
    /// Files left out by `--one-per-group`.
    pub left_out: usize,
}

/// Neighbours asked for per file by `--group-similar` (the nearest this many, then those within the threshold).
const SIMILAR_PER_FILE: i64 = 10;

impl Engine {
    /// Group `hits` and assign each group a split (see [`assign`]), keeping one file per group when asked.
    pub async fn split_hits(&self, hits: Vec<Hit>, opts: &SplitOptions) -> DbResult<SplitHits> {
        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        let mut keys: HashMap<i64, similar::GroupKeys> = HashMap::new();
        for chunk in ids.chunks(10_000) {
            for k in similar::group_keys(&self.pool, chunk).await? {
                keys.insert(k.0, k);
            }
        }
        let members: Vec<Member> = hits
            .iter()
            .map(|h| {
                let k = keys.remove(&h.id);
                Member {
                    id: h.id,
                    content_hash: k
                        .as_ref()
                        .map(|k| k.1.clone())
                        .unwrap_or_else(|| h.id.to_le_bytes().to_vec()),
                    notes_fingerprint: k.as_ref().and_then(|k| k.2.clone()),
                    transposed_fingerprint: k.and_then(|k| k.3),
                }
            })
            .collect();
        let mut links = Vec::new();
        if let Some(t) = opts.group_similar {
            let index: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
            for chunk in ids.chunks(1_000) {
                for (a, b) in similar::neighbours_within(&self.pool, chunk, &ids, t, SIMILAR_PER_FILE).await? {
                    if let (Some(&a), Some(&b)) = (index.get(&a), index.get(&b)) {
                        links.push((a, b));
                    }
                }
            }
        }
        let whole = SplitSpec {
            parts: vec![(String::new(), 1.0)],
        };
        let spec = opts.spec.as_ref().unwrap_or(&whole);
        let a = assign(&members, &links, spec, opts.seed);
        let keep = if opts.one_per_group {
            representatives(&a.group, |i| {
                let h = &hits[i];
                (h.duration_seconds.unwrap_or(0.0), h.total_notes, h.id)
            })
        } else {
            vec![true; hits.len()]
        };
        Ok(summarise(hits, &a, &keep, spec))
    }
}

fn summarise(hits: Vec<Hit>, a: &Assignment, keep: &[bool], spec: &SplitSpec) -> SplitHits {
    let mut summary: Vec<SplitSummary> = spec
        .parts
        .iter()
        .map(|(name, _)| SplitSummary {
            name: name.clone(),
            groups: 0,
            files: 0,
            notes: 0,
            hours: 0.0,
        })
        .collect();
    let mut seen_groups = std::collections::HashSet::new();
    let mut out = SplitHits::default();
    for (i, h) in hits.into_iter().enumerate() {
        if !keep[i] {
            out.left_out += 1;
            continue;
        }
        let g = a.group[i];
        let s = &mut summary[a.split[g]];
        if seen_groups.insert(g) {
            s.groups += 1;
        }
        s.files += 1;
        s.notes += h.total_notes;
        s.hours += h.duration_seconds.unwrap_or(0.0) / 3600.0;
        out.split.push(s.name.clone());
        out.hits.push(h);
    }
    out.summary = summary;
    out
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: i64, fp: Option<u8>, tfp: Option<u8>) -> Member {
        Member {
            id,
            content_hash: id.to_le_bytes().to_vec(),
            notes_fingerprint: fp.map(|b| vec![b; 16]),
            transposed_fingerprint: tfp.map(|b| vec![b; 16]),
        }
    }

    #[test]
    fn specs_parse_and_refuse_what_does_not_add_up() {
        let s: SplitSpec = "train=0.8,valid=0.1,test=0.1".parse().unwrap();
        assert_eq!(s.parts.len(), 3);
        assert!(
            "train=0.8,test=0.1"
                .parse::<SplitSpec>()
                .unwrap_err()
                .contains("add up to")
        );
        assert!("train=1".parse::<SplitSpec>().is_err());
        assert!("train=0.5,train=0.5".parse::<SplitSpec>().is_err());
        assert!("train=x,test=0.5".parse::<SplitSpec>().is_err());
    }

    #[test]
    fn groups_stay_whole_transitively_and_the_seed_decides() {
        let members = vec![
            m(1, Some(1), Some(10)),
            m(2, Some(2), Some(10)), // transposed copy of 1
            m(3, Some(2), Some(11)), // same notes as 2 (cannot happen with real fingerprints, but transitive)
            m(4, None, None),
            m(5, Some(5), Some(50)),
            m(6, Some(6), Some(60)),
        ];
        let spec: SplitSpec = "a=0.5,b=0.5".parse().unwrap();
        let a = assign(&members, &[(4, 5)], &spec, 7);
        assert_eq!(a.group[0], a.group[1]);
        assert_eq!(a.group[1], a.group[2]);
        assert_eq!(a.group[4], a.group[5]);
        assert_ne!(a.group[0], a.group[3]);
        assert_eq!(a, assign(&members, &[(4, 5)], &spec, 7));
        // Over many groups, the shares are near the spec and another seed moves groups.
        let many: Vec<Member> = (0..4000).map(|i| m(i, None, None)).collect();
        let x = assign(&many, &[], &spec, 1);
        let y = assign(&many, &[], &spec, 2);
        let in_a = x.split.iter().filter(|&&s| s == 0).count();
        assert!((1800..2200).contains(&in_a), "{in_a}");
        assert_ne!(x.split, y.split);
    }

    #[test]
    fn the_longest_member_represents_its_group() {
        let keep = representatives(&[0, 0, 1, 0], |i| {
            [(10.0, 5, 1), (30.0, 1, 2), (1.0, 1, 3), (30.0, 1, 0)][i]
        });
        assert_eq!(keep, vec![false, false, true, true]);
    }
}
