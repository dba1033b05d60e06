//! The similarity pack (migration 0024): every file's coarse vector in a byte per axis with the tags `like:` filters
//! on, stored in page-sized rows, read whole by one sequential scan and ranked in memory; kept, extended and forgotten.
use std::sync::{Arc, Mutex};

use sqlx::{PgConnection, PgPool, Row};

use crate::database::query::{Filter, NumField, Places, Query};
use crate::midi::similarity::COARSE_DIMS;

use super::DbResult;

/// The fence between writers and a build ("MTLK", 2, beside the library lock's 1): a writer holds it shared from
/// taking file ids to its commit, so a build that holds it alone for a moment knows every id up to the largest it
/// sees is committed or never will be.
pub const FENCE: (i32, i32) = (0x4d54_4c4b, 2);

/// Taken by a writer's transaction before it takes ids (released at its end).
pub const WRITER_FENCE: &str = "SELECT pg_advisory_xact_lock_shared($1, $2)";

/// Files with features below which no pack is built: the GiST walk of a library this small reads few pages.
pub const MIN_FILES: i64 = 200_000;

/// Files after the pack (imported since it was built or extended) that `like:` reads from the table; with more, it
/// walks the index until the next import's end extends the pack.
pub const TAIL_MAX: usize = 20_000;

/// Bytes of a stored part's columns, under a page with the row's own (stored without TOAST): about 440 files of
/// 1 + 12 + 1 + 2 + 2 bytes (the id a varint delta from the one before).
const PART_BYTES: usize = 7_900;

/// Bytes of one entry beside its id's delta.
const ENTRY_BYTES: usize = COARSE_DIMS + 1 + 2 + 2;

/// A forgotten pack: `like:` walks the index until the next build. In the same transaction as what makes it stale
/// (TRUNCATE: its pages go at once, where deleted rows would stay for every scan to read until a vacuum).
pub const FORGET: &str = "UPDATE similarity_pack_state SET generation = generation + 1, max_file_id = NULL, \
                          files = 0, parts = 0, steps = NULL, built_at = NULL; TRUNCATE similarity_pack";

/// Tags byte: the key's place on the circle of fifths (turn 0) in the low five bits, [`NO_PLACE`] for none.
const NO_PLACE: u8 = 31;
const DRUMS: u8 = 0x80;
/// Tempo: sixteenths of a beat per minute; none.
const TEMPO_SCALE: f64 = 16.0;
const NO_TEMPO: u16 = u16::MAX;

/// One file as the pack holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub code: [i8; COARSE_DIMS],
    pub tags: u8,
    pub tempo: u16,
    pub families: u16,
}

/// One file as the table holds it (the pack's source, and the tail's rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: i64,
    pub coarse: [f32; COARSE_DIMS],
    pub drums: bool,
    pub place: Option<i32>,
    pub bpm: Option<f64>,
    /// Bit f: a program of General MIDI family f (programs 8f..8f+7, stored 0-based) is set.
    pub families: u16,
}

/// The families of programs stored 0-based (`musical_metadata.programs`).
fn families(programs: &[i16]) -> u16 {
    programs
        .iter()
        .filter(|p| (0..128).contains(*p))
        .fold(0, |m, p| m | 1 << (p / 8))
}

fn tags(drums: bool, place: Option<i32>) -> u8 {
    let place = place
        .and_then(|p| u8::try_from(p).ok())
        .filter(|p| *p < 24)
        .unwrap_or(NO_PLACE);
    place | if drums { DRUMS } else { 0 }
}

fn tempo(bpm: Option<f64>) -> u16 {
    match bpm {
        Some(b) if b.is_finite() && b >= 0.0 => (b * TEMPO_SCALE).round().min(f64::from(NO_TEMPO - 1)) as u16,
        _ => NO_TEMPO,
    }
}

/// Steps that hold every vector of `rows` without clipping: the largest magnitude per axis over 127, with room for
/// files added later (an extension whose vector does not fit builds the pack anew).
pub fn steps_for(rows: &[Source]) -> [f32; COARSE_DIMS] {
    let mut max = [0f32; COARSE_DIMS];
    for r in rows {
        for (m, v) in max.iter_mut().zip(r.coarse) {
            *m = m.max(v.abs());
        }
    }
    max.map(|m| (m * 1.25).max(1e-6) / 127.0)
}

/// A file's entry, or `None` when its vector does not fit `steps`.
pub fn encode(r: &Source, steps: &[f32; COARSE_DIMS]) -> Option<Entry> {
    let mut code = [0i8; COARSE_DIMS];
    for ((c, v), s) in code.iter_mut().zip(r.coarse).zip(steps) {
        let q = (v / s).round();
        if !(-127.0..=127.0).contains(&q) {
            return None;
        }
        *c = q as i8;
    }
    Some(Entry {
        id: r.id,
        code,
        tags: tags(r.drums, r.place),
        tempo: tempo(r.bpm),
        families: r.families,
    })
}

/// The filters of a query the pack tests before any row is read: whether the file has drums, the places of its
/// key, its tempo, the families of its instruments. Each lets through every file the query's SQL would keep (the SQL tests them again, exactly).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sieve {
    pub drums: Option<bool>,
    pub places: Vec<Places>,
    /// Tempo ranges in the pack's units, bounds included.
    pub tempos: Vec<(u16, u16)>,
    /// Per `inst:` term, the families of its programs: a file passes with a program in one of them.
    pub families: Vec<u16>,
}

impl Sieve {
    pub fn of(query: &Query) -> Self {
        let mut s = Sieve::default();
        for t in &query.terms {
            if t.negated {
                if let Filter::Drums(yes) = t.filter {
                    s.drums = Some(!yes);
                }
                continue;
            }
            match &t.filter {
                Filter::Drums(yes) => s.drums = Some(*yes),
                Filter::Key { keys } => s.places.extend(Places::of(keys)),
                Filter::Number {
                    field: NumField::Bpm,
                    range,
                } => {
                    // Widened by a unit: a stored tempo is rounded to the nearest sixteenth.
                    let lo = range.min.map_or(0.0, |b| (b.value * TEMPO_SCALE).floor() - 1.0);
                    let hi = range.max.map_or(f64::MAX, |b| (b.value * TEMPO_SCALE).ceil() + 1.0);
                    s.tempos
                        .push((lo.clamp(0.0, 65534.0) as u16, hi.clamp(0.0, 65534.0) as u16));
                }
                Filter::Programs(gm) => {
                    let stored: Vec<i16> = gm.iter().map(|&p| i16::from(p) - 1).collect();
                    s.families.push(families(&stored));
                }
                _ => {}
            }
        }
        s
    }

    pub fn passes(&self, tags: u8, tempo: u16, families: u16) -> bool {
        if self.families.iter().any(|f| f & families == 0) {
            return false;
        }
        if self.drums.is_some_and(|d| d != (tags & DRUMS != 0)) {
            return false;
        }
        let place = tags & 0x1f;
        for p in &self.places {
            if place == NO_PLACE {
                return false;
            }
            let turned = (place + p.turn) % 24;
            if turned < p.lo || turned > p.hi || p.gaps.contains(&turned) {
                return false;
            }
        }
        self.tempos
            .iter()
            .all(|&(lo, hi)| tempo != NO_TEMPO && (lo..=hi).contains(&tempo))
    }
}

/// The stored pack, decoded.
#[derive(Debug, Clone, Default)]
pub struct Packed {
    pub steps: [f32; COARSE_DIMS],
    pub entries: Vec<Entry>,
}

/// The pack and the tail as one query reads them.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub packed: Arc<Packed>,
    pub tail: Vec<Source>,
}

/// What identifies one stored pack: (generation, largest id covered, files, built at in microseconds).
type Stamp = (i64, i64, i64, i64);

/// The decoded pack an engine keeps between its queries (the console's, the bench's hot runs), checked against the
/// stored one's stamp at each: a query whose pack is unchanged reads only the state row and the tail.
#[derive(Debug, Default)]
pub struct Cache(Mutex<Option<(Stamp, Arc<Packed>)>>);

impl Cache {
    fn get(&self, stamp: Stamp) -> Option<Arc<Packed>> {
        let kept = self.0.lock().ok()?;
        kept.as_ref().filter(|(s, _)| *s == stamp).map(|(_, p)| p.clone())
    }

    fn keep(&self, stamp: Stamp, packed: Arc<Packed>) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some((stamp, packed));
        }
    }
}

/// The files passing a sieve in the order `like:` reads them: nearest first in the coarse projection as the pack
/// holds it, each with a distance no unread file of the order can be under.
#[derive(Debug, Clone, Default)]
pub struct Order {
    /// (estimated coarse distance, file id), sorted up to `sorted`.
    ranked: Vec<(f32, i64)>,
    sorted: usize,
    /// How far an estimate can exceed the true coarse distance (half a step on every axis).
    slack: f32,
}

impl Order {
    pub fn new(pack: &Loaded, from: &[f32; COARSE_DIMS], sieve: &Sieve, except: i64) -> Self {
        // The tail's ids are all above the pack's: no file is in both.
        let mut ranked = Vec::with_capacity(pack.packed.entries.len() + pack.tail.len());
        let steps = &pack.packed.steps;
        for e in &pack.packed.entries {
            if e.id == except || !sieve.passes(e.tags, e.tempo, e.families) {
                continue;
            }
            let mut d = 0f32;
            for ((c, s), t) in e.code.iter().zip(steps).zip(from) {
                let x = t - f32::from(*c) * s;
                d += x * x;
            }
            ranked.push((d.sqrt(), e.id));
        }
        for t in &pack.tail {
            if t.id == except || !sieve.passes(tags(t.drums, t.place), tempo(t.bpm), t.families) {
                continue;
            }
            let d: f32 = t.coarse.iter().zip(from).map(|(a, b)| (a - b) * (a - b)).sum();
            ranked.push((d.sqrt(), t.id));
        }
        let slack = steps.iter().map(|s| (s / 2.0) * (s / 2.0)).sum::<f32>().sqrt() * 1.001;
        Order {
            ranked,
            sorted: 0,
            slack,
        }
    }

    pub fn len(&self) -> usize {
        self.ranked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranked.is_empty()
    }

    /// The first `n` ids of the order.
    pub fn first(&mut self, n: usize) -> Vec<i64> {
        let n = n.min(self.ranked.len());
        if n > self.sorted {
            let cmp = |a: &(f32, i64), b: &(f32, i64)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            if n < self.ranked.len() {
                self.ranked.select_nth_unstable_by(n, cmp);
            }
            self.ranked[..n].sort_unstable_by(cmp);
            self.sorted = n;
        }
        self.ranked[..n].iter().map(|r| r.1).collect()
    }

    /// The least coarse distance of any file after the first `n` (`first(n)` taken): `None` when there is none.
    pub fn bound_after(&self, n: usize) -> Option<f64> {
        let rest = self.ranked.get(n..)?;
        let least = rest.iter().map(|r| r.0).min_by(f32::total_cmp)?;
        Some(f64::from((least - self.slack).max(0.0)))
    }
}

/// The state row as [`load`] reads it: generation, largest id covered, files, steps, built at (microseconds).
type StateRow = (i64, Option<i64>, i64, Option<Vec<f32>>, Option<i64>);

/// Read the pack and its tail in one snapshot (the pack from `cache` when it holds this one): `None` when there is
/// no pack, or more than [`TAIL_MAX`] files after it.
pub async fn load(pool: &PgPool, cache: Option<&Cache>) -> DbResult<Option<Loaded>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let state: Option<StateRow> = sqlx::query_as(
        "SELECT generation, max_file_id, files, steps, (extract(epoch FROM built_at) * 1e6)::bigint \
         FROM similarity_pack_state",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some((generation, Some(max_id), files, Some(steps), Some(built))) = state else {
        return Ok(None);
    };
    let Ok(steps) = <[f32; COARSE_DIMS]>::try_from(steps.as_slice()) else {
        return Ok(None);
    };
    let tail = sources(&mut tx, max_id, None, Some(TAIL_MAX as i64 + 1)).await?;
    if tail.len() > TAIL_MAX {
        return Ok(None);
    }
    let stamp = (generation, max_id, files, built);
    if let Some(packed) = cache.and_then(|c| c.get(stamp)) {
        return Ok(Some(Loaded { packed, tail }));
    }
    let parts = sqlx::query("SELECT first_id, ids, vectors, tags, tempos, families FROM similarity_pack")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut entries = Vec::with_capacity(files.max(0) as usize);
    for p in &parts {
        let first: i64 = p.try_get(0)?;
        let columns: [Vec<u8>; 5] = [
            p.try_get(1)?,
            p.try_get(2)?,
            p.try_get(3)?,
            p.try_get(4)?,
            p.try_get(5)?,
        ];
        decode(first, &columns, &mut entries);
    }
    if entries.len() as i64 != files {
        tracing::warn!("similarity pack holds {} files of {files}: not used", entries.len());
        return Ok(None);
    }
    let packed = Arc::new(Packed { steps, entries });
    if let Some(c) = cache {
        c.keep(stamp, packed.clone());
    }
    Ok(Some(Loaded { packed, tail }))
}

/// A stored part's entries: its columns are (ids, vectors, tags, tempos, families), each id the difference from the
/// one before (from `first` for the first) as a LEB128 varint; a part whose lengths disagree is left out (the count
/// check then refuses the pack).
fn decode(first: i64, [ids, vectors, tags, tempos, families]: &[Vec<u8>; 5], out: &mut Vec<Entry>) {
    let n = tags.len();
    if vectors.len() != COARSE_DIMS * n || tempos.len() != 2 * n || families.len() != 2 * n {
        return;
    }
    let mut deltas = Vec::with_capacity(n);
    let (mut value, mut shift) = (0u64, 0u32);
    for b in ids {
        value |= u64::from(b & 0x7f) << shift.min(63);
        shift += 7;
        if b & 0x80 == 0 {
            deltas.push(value);
            (value, shift) = (0, 0);
        }
    }
    if deltas.len() != n || shift != 0 {
        return;
    }
    let mut id = first;
    for (i, delta) in deltas.into_iter().enumerate() {
        id += delta as i64;
        let mut code = [0i8; COARSE_DIMS];
        for (c, b) in code.iter_mut().zip(&vectors[COARSE_DIMS * i..COARSE_DIMS * (i + 1)]) {
            *c = *b as i8;
        }
        out.push(Entry {
            id,
            code,
            tags: tags[i],
            tempo: u16::from_le_bytes([tempos[2 * i], tempos[2 * i + 1]]),
            families: u16::from_le_bytes([families[2 * i], families[2 * i + 1]]),
        });
    }
}

/// Entries (in id order) cut into parts of at most [`PART_BYTES`].
fn parts_of(entries: &[Entry]) -> Vec<&[Entry]> {
    let mut chunks: Vec<&[Entry]> = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for i in 0..entries.len() {
        let delta = if i == start {
            0
        } else {
            entries[i].id - entries[i - 1].id
        };
        let size = varint_len(delta as u64) + ENTRY_BYTES;
        if bytes + size > PART_BYTES {
            chunks.push(&entries[start..i]);
            (start, bytes) = (i, 1 + ENTRY_BYTES);
        } else {
            bytes += size;
        }
    }
    if start < entries.len() {
        chunks.push(&entries[start..]);
    }
    chunks
}

/// Bytes of `v` as a LEB128 varint.
fn varint_len(v: u64) -> usize {
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

/// One stored part: its first id and columns (`None` for no entry; entries in id order).
fn encode_part(entries: &[Entry]) -> Option<(i64, [Vec<u8>; 5])> {
    let first = entries.first()?.id;
    let n = entries.len();
    let mut c: [Vec<u8>; 5] = [
        Vec::with_capacity(n),
        Vec::with_capacity(COARSE_DIMS * n),
        Vec::with_capacity(n),
        Vec::with_capacity(2 * n),
        Vec::with_capacity(2 * n),
    ];
    let mut last = first;
    for e in entries {
        let mut delta = u64::try_from(e.id - last).ok()?;
        last = e.id;
        loop {
            let low = (delta & 0x7f) as u8;
            delta >>= 7;
            if delta == 0 {
                c[0].push(low);
                break;
            }
            c[0].push(low | 0x80);
        }
        c[1].extend(e.code.iter().map(|x| *x as u8));
        c[2].push(e.tags);
        c[3].extend(e.tempo.to_le_bytes());
        c[4].extend(e.families.to_le_bytes());
    }
    Some((first, c))
}

/// The files with features after `after` (and up to `upto`), in id order, at most `limit`.
async fn sources(conn: &mut PgConnection, after: i64, upto: Option<i64>, limit: Option<i64>) -> DbResult<Vec<Source>> {
    let rows = sqlx::query(
        "SELECT file_id, coarse, has_drums, key_place(coalesce(key_signature, detected_key), 0), bpm, programs \
         FROM musical_metadata WHERE file_id > $1 AND ($2::bigint IS NULL OR file_id <= $2) \
         AND coarse IS NOT NULL AND features IS NOT NULL ORDER BY file_id LIMIT $3",
    )
    .bind(after)
    .bind(upto)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let coarse: Vec<f32> = r.try_get(1)?;
        let Ok(coarse) = <[f32; COARSE_DIMS]>::try_from(coarse.as_slice()) else {
            continue;
        };
        out.push(Source {
            id: r.try_get(0)?,
            coarse,
            drums: r.try_get(2)?,
            place: r.try_get(3)?,
            bpm: r.try_get(4)?,
            families: families(&r.try_get::<Vec<i16>, _>(5)?),
        });
    }
    Ok(out)
}

/// What a build or an extension did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Refreshed {
    /// Nothing to do: no pack and too few files for one, or no file after it.
    #[default]
    Nothing,
    Built {
        files: u64,
    },
    Extended {
        files: u64,
    },
    /// Changed meanwhile (forgotten by a backfill or a repair, or extended by another run's end): nothing stored.
    Abandoned,
}

impl Refreshed {
    /// The run log's line, when something was stored.
    pub fn describe(&self) -> Option<String> {
        match self {
            Refreshed::Nothing => None,
            Refreshed::Built { files } => Some(format!(
                "similarity pack built: {}",
                crate::human::counted(*files, "file")
            )),
            Refreshed::Extended { files } => Some(format!(
                "similarity pack extended by {}",
                crate::human::counted(*files, "file")
            )),
            Refreshed::Abandoned => Some(
                "similarity pack not stored: it changed while the files were read (the next import's end tries again)"
                    .into(),
            ),
        }
    }
}

/// Bring the pack up to date: extend it by the files imported since, or build it when there is none and the
/// library has [`MIN_FILES`] files with features (`min_files` in tests).
pub async fn refresh(pool: &PgPool, min_files: i64) -> DbResult<Refreshed> {
    let (generation, upto) = fence(pool).await?;
    let Some(upto) = upto else {
        return Ok(Refreshed::Nothing);
    };
    let state: (Option<i64>, i32, Option<Vec<f32>>) =
        sqlx::query_as("SELECT max_file_id, parts, steps FROM similarity_pack_state")
            .fetch_one(pool)
            .await?;
    let mut conn = pool.acquire().await?;
    if let (Some(after), parts, Some(steps)) = state {
        if after >= upto {
            return Ok(Refreshed::Nothing);
        }
        let steps = <[f32; COARSE_DIMS]>::try_from(steps.as_slice()).unwrap_or_default();
        let rows = sources(&mut conn, after, Some(upto), None).await?;
        let entries: Option<Vec<Entry>> = rows.iter().map(|r| encode(r, &steps)).collect();
        // A vector that does not fit the steps, or a pack of many small parts: build it anew.
        let typical = (PART_BYTES / (ENTRY_BYTES + 1)) as i64;
        if let Some(entries) = entries.filter(|_| i64::from(parts) < 2 * (upto / typical) + 64) {
            let n = entries.len() as u64;
            return store(
                &mut conn,
                (generation, Some(after)),
                false,
                upto,
                steps,
                parts,
                &entries,
            )
            .await
            .map(|stored| {
                if stored {
                    Refreshed::Extended { files: n }
                } else {
                    Refreshed::Abandoned
                }
            });
        }
    } else {
        // The server's estimates first: most libraries are far below the size, and then no row is read. The planner's
        // count is stale right after a large import (it comes from the last ANALYZE), the statistics' live rows count
        // every insert since: the larger of the two.
        let estimate: f64 = sqlx::query_scalar(
            "SELECT greatest(c.reltuples::float8, coalesce(s.n_live_tup, 0)::float8) FROM pg_class c \
             LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = 'musical_metadata'::regclass",
        )
        .fetch_one(&mut *conn)
        .await?;
        if estimate < min_files as f64 / 2.0 {
            return Ok(Refreshed::Nothing);
        }
        let enough: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM musical_metadata WHERE coarse IS NOT NULL AND features IS NOT NULL \
             LIMIT $1) s",
        )
        .bind(min_files)
        .fetch_one(&mut *conn)
        .await?;
        if enough < min_files {
            return Ok(Refreshed::Nothing);
        }
    }
    let rows = sources(&mut conn, 0, Some(upto), None).await?;
    let steps = steps_for(&rows);
    let entries: Vec<Entry> = rows.iter().filter_map(|r| encode(r, &steps)).collect();
    let n = entries.len() as u64;
    let stored = store(&mut conn, (generation, state.0), true, upto, steps, 0, &entries).await?;
    Ok(if stored {
        Refreshed::Built { files: n }
    } else {
        Refreshed::Abandoned
    })
}

/// The generation and the largest file id once no writer holds ids it has not committed (`None`: no file).
async fn fence(pool: &PgPool) -> DbResult<(i64, Option<i64>)> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(FENCE.0)
        .bind(FENCE.1)
        .execute(&mut *tx)
        .await?;
    let generation: i64 = sqlx::query_scalar("SELECT generation FROM similarity_pack_state")
        .fetch_one(&mut *tx)
        .await?;
    let upto: Option<i64> = sqlx::query_scalar("SELECT max(file_id) FROM musical_metadata")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((generation, upto))
}

/// Store entries covering files up to `upto`: the whole pack when `anew`, else parts after `parts`. Nothing is stored
/// when the pack changed since `seen` (the generation and the largest id covered, as read before the files):
/// forgotten, or extended by another run's end, whose files would then be in it twice. Returns whether it stored.
#[allow(clippy::too_many_arguments)]
async fn store(
    conn: &mut PgConnection,
    seen: (i64, Option<i64>),
    anew: bool,
    upto: i64,
    steps: [f32; COARSE_DIMS],
    parts: i32,
    entries: &[Entry],
) -> DbResult<bool> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let now: (i64, Option<i64>) =
        sqlx::query_as("SELECT generation, max_file_id FROM similarity_pack_state FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    if now != seen {
        return Ok(false);
    }
    if anew {
        // Not DELETE: the old rows would stay in the table's pages until a vacuum, and every query's scan would read
        // them (a rebuilt pack read 43 MB for 18 MB of files).
        sqlx::query("TRUNCATE similarity_pack").execute(&mut *tx).await?;
    }
    let mut part = if anew { 0 } else { parts };
    let chunks = parts_of(entries);
    for batch in chunks.chunks(256) {
        let mut numbers: Vec<i32> = Vec::with_capacity(batch.len());
        let mut firsts: Vec<i64> = Vec::with_capacity(batch.len());
        let mut columns: [Vec<Vec<u8>>; 5] = Default::default();
        for c in batch {
            let Some((first, encoded)) = encode_part(c) else {
                continue;
            };
            numbers.push(part);
            firsts.push(first);
            for (column, bytes) in columns.iter_mut().zip(encoded) {
                column.push(bytes);
            }
            part += 1;
        }
        let [ids, vectors, tags, tempos, families] = columns;
        sqlx::query(
            "INSERT INTO similarity_pack (part, first_id, ids, vectors, tags, tempos, families) \
             SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[], \
             $7::bytea[])",
        )
        .bind(&numbers)
        .bind(&firsts)
        .bind(&ids)
        .bind(&vectors)
        .bind(&tags)
        .bind(&tempos)
        .bind(&families)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE similarity_pack_state SET max_file_id = $1, files = CASE WHEN $2 THEN 0 ELSE files END + $3, \
         parts = $4, steps = $5, built_at = now()",
    )
    .bind(upto)
    .bind(anew)
    .bind(entries.len() as i64)
    .bind(part)
    .bind(steps.to_vec())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Forget the pack (`like:` walks the index until it is built again).
pub async fn forget(pool: &PgPool) -> DbResult<()> {
    sqlx::raw_sql(FORGET).execute(pool).await?;
    Ok(())
}

/// What the pack covers: (files, largest id covered), `None` when there is none (status and tests).
pub async fn covered(pool: &PgPool) -> DbResult<Option<(i64, i64)>> {
    let row: Option<(i64, Option<i64>)> = sqlx::query_as("SELECT files, max_file_id FROM similarity_pack_state")
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(|(f, m)| m.map(|m| (f, m))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(id: i64, x: f32, drums: bool, place: Option<i32>, bpm: Option<f64>) -> Source {
        let mut coarse = [0f32; COARSE_DIMS];
        coarse[0] = x;
        coarse[1] = -x / 2.0;
        Source {
            id,
            coarse,
            drums,
            place,
            bpm,
            families: (id as u16).rotate_left(3) | 1,
        }
    }

    #[test]
    fn entries_round_trip_through_parts_and_keep_every_vector_within_half_a_step() {
        let rows: Vec<Source> = (0..1000)
            .map(|i| {
                source(
                    10 + 3 * i,
                    (i as f32 / 7.0).sin(),
                    i % 2 == 0,
                    Some((i % 25) as i32),
                    Some(90.0 + i as f64 / 3.0),
                )
            })
            .collect();
        let steps = steps_for(&rows);
        let entries: Vec<Entry> = rows.iter().map(|r| encode(r, &steps).expect("fits")).collect();
        let mut entries = entries;
        // Ids far apart take longer varints.
        entries[700].id += 1 << 40;
        for e in &mut entries[701..] {
            e.id += (1 << 40) + 300;
        }
        let parts = parts_of(&entries);
        assert!(parts.len() >= 2, "{} parts", parts.len());
        let mut back = Vec::new();
        for c in parts {
            let (first, columns) = encode_part(c).expect("encodes");
            let bytes: usize = columns.iter().map(Vec::len).sum();
            assert!(bytes <= PART_BYTES, "{bytes} bytes in a part");
            decode(first, &columns, &mut back);
        }
        assert_eq!(back, entries);
        for (r, e) in rows.iter().zip(&entries) {
            for ((v, c), s) in r.coarse.iter().zip(e.code).zip(steps) {
                assert!((v - f32::from(c) * s).abs() <= s / 2.0 + 1e-6);
            }
        }
        // Place 24 is not a place: stored as none.
        assert_eq!(entries[24].tags & 0x1f, NO_PLACE);
        // A vector beyond the steps does not fit.
        assert!(encode(&source(1, 1e3, false, None, None), &steps).is_none());
    }

    #[test]
    fn the_order_is_nearest_first_and_its_bound_is_below_every_unread_file() {
        let rows: Vec<Source> = (0..500)
            .map(|i| source(i, i as f32 / 100.0, false, None, None))
            .collect();
        let steps = steps_for(&rows);
        let pack = Loaded {
            packed: Arc::new(Packed {
                steps,
                entries: rows.iter().map(|r| encode(r, &steps).unwrap()).collect(),
            }),
            tail: vec![source(1000, 2.5, false, None, None)],
        };
        let mut from = [0f32; COARSE_DIMS];
        from[0] = 2.5;
        from[1] = -1.25;
        let mut order = Order::new(&pack, &from, &Sieve::default(), 250);
        assert_eq!(order.len(), 500, "the target is left out, the tail is in");
        let first = order.first(5);
        assert_eq!(first[0], 1000, "the tail's exact vector, the target's own, is nearest");
        assert!(!first.contains(&250));
        let bound = order.bound_after(5).expect("more files");
        let true_least = rows
            .iter()
            .filter(|r| r.id != 250 && !first.contains(&r.id))
            .map(|r| crate::midi::similarity::distance(&r.coarse, &from))
            .fold(f64::MAX, f64::min);
        assert!(bound <= true_least, "{bound} > {true_least}");
        assert!(order.bound_after(500).is_none());
    }

    #[test]
    fn the_sieve_lets_through_what_the_terms_keep() {
        let q = Query::parse("like:1 drums:yes key:Cm~ bpm:100..130").expect("parses");
        let s = Sieve::of(&q);
        let cm = Some(crate::database::query::Key { tonic: 0, minor: true }.place(0) as i32);
        let ok = |drums, place, bpm| s.passes(tags(drums, place), tempo(bpm), 0);
        assert!(ok(true, cm, Some(100.0)));
        assert!(ok(true, cm, Some(130.0)));
        assert!(!ok(false, cm, Some(110.0)), "no drums");
        assert!(!ok(true, None, Some(110.0)), "no key");
        assert!(!ok(true, cm, Some(131.0)), "too fast");
        assert!(!ok(true, cm, None), "no tempo");
        let n = Sieve::of(&Query::parse("like:1 ^drums:yes").expect("parses"));
        assert!(n.passes(tags(false, None), NO_TEMPO, 0));
        assert!(!n.passes(tags(true, None), NO_TEMPO, 0));
        assert_eq!(
            Sieve::of(&Query::parse("like:1 ^key:C ^bpm:100..130 ^inst:bass").expect("parses")),
            Sieve::default()
        );
        // `inst:bass` is programs 33-40 (stored 32-39): family 4. A file with a bass and a piano passes, a file with
        // strings alone does not.
        let b = Sieve::of(&Query::parse("like:1 inst:bass").expect("parses"));
        assert_eq!(b.families, vec![1 << 4]);
        assert!(b.passes(tags(false, None), NO_TEMPO, families(&[0, 33])));
        assert!(!b.passes(tags(false, None), NO_TEMPO, families(&[40, 48])));
        assert!(!b.passes(tags(false, None), NO_TEMPO, 0));
    }
}
