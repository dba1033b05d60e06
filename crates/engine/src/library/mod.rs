//! The library browser's engine side: the query language, searching the imported library with it, one file's
//! detail, its notes, its duplicates, and exporting what a query finds.
pub mod backfill;
pub mod export;
pub mod notes;
pub mod splits;

pub use crate::database::dupes::{DupeFile, DupeGroup, DupeKind, DupeSummary};
pub use crate::database::query::{ParseError, Query, Sort, SortField};
pub use crate::database::search::{COUNT_CAP, Cursor, FileDetail, Hit, LocationDetail, MatchCount, Page, SortValue};
pub use crate::midi::Music;
pub use notes::{FileNotes, LoadNotesError, MAX_NOTES, load_notes};

use crate::database::{DbResult, dupes, search};
use crate::run::session::Engine;

/// Files of each duplicate group a file's detail lists (the group's size is counted in full).
const DETAIL_DUPLICATES: usize = 6;

impl Engine {
    /// One page of the files matching `query` in `sort` order; pass the page's `next` as `after` for the next page.
    pub async fn search(&self, query: &Query, sort: Sort, limit: usize, after: Option<&Cursor>) -> DbResult<Page> {
        if query.like().is_some() {
            return crate::database::similar::page_kept(&self.pool, Some(&self.pack), query, limit, after, true).await;
        }
        search::page(&self.pool, query, sort, limit, after, true).await
    }

    /// [`Engine::search`] without the locations (`Hit::locations` left empty): the console's results list, which
    /// shows one path per file and reads the locations of the selected file only.
    pub async fn search_files(
        &self,
        query: &Query,
        sort: Sort,
        limit: usize,
        after: Option<&Cursor>,
    ) -> DbResult<Page> {
        if query.like().is_some() {
            return crate::database::similar::page_kept(&self.pool, Some(&self.pack), query, limit, after, false).await;
        }
        search::page(&self.pool, query, sort, limit, after, false).await
    }

    /// How many files `query` matches: exact up to [`COUNT_CAP`], the planner's estimate past it.
    pub async fn count_matches(&self, query: &Query) -> DbResult<MatchCount> {
        search::count(&self.pool, query).await
    }

    /// The collection of each location of `hits` (`Hit::location_collections`, beside `Hit::locations`).
    pub async fn location_collections(&self, hits: &mut [Hit]) -> DbResult<()> {
        search::attach_location_collections(&self.pool, hits).await
    }

    /// Everything stored about the file with this BLAKE3 hash (32 bytes; [`hash_from_hex`] reads the hex form),
    /// its analysis and every location; `None` when no such file was imported.
    pub async fn file_detail(&self, content_hash: &[u8]) -> DbResult<Option<FileDetail>> {
        let Some(mut detail) = search::file_detail(&self.pool, content_hash).await? else {
            return Ok(None);
        };
        // The byte-identical group is the file's own locations, listed already.
        let mut groups = dupes::groups_of(&self.pool, content_hash, DETAIL_DUPLICATES).await?;
        groups.retain(|g| g.kind != DupeKind::Bytes);
        detail.duplicates = groups;
        Ok(Some(detail))
    }

    /// The duplicate groups the content `content_hash` (BLAKE3, 32 bytes) belongs to, for a file's detail: its own
    /// locations when there are several ([`DupeKind::Bytes`]), the files with the same notes
    /// ([`DupeKind::Musical`]) and with the same notes up to transposition ([`DupeKind::Transposed`]). A group is
    /// listed only when the file is not alone in it; each lists the file itself and at most `max_files` files
    /// (`total_files` counts them all). Empty for an unknown hash.
    pub async fn duplicates_of(&self, content_hash: &[u8], max_files: usize) -> DbResult<Vec<DupeGroup>> {
        dupes::groups_of(&self.pool, content_hash, max_files).await
    }

    /// Every source any import was given (locations), for export to keep paths from the source's folder down.
    pub async fn import_sources(&self) -> DbResult<Vec<String>> {
        crate::database::runs::import_sources(&self.pool).await
    }

    /// Every duplicate group of `kind` in the library, largest first, handed to `each` as it is read (return false
    /// to stop); returns how many were handed out.
    pub async fn duplicate_groups(&self, kind: DupeKind, each: impl FnMut(DupeGroup) -> bool) -> DbResult<u64> {
        dupes::for_each_group(&self.pool, kind, each).await
    }

    /// [`Engine::duplicate_groups`], the `limit` largest groups only (`None`: all); the cap is applied in the
    /// query, so a short listing of a big library costs little more than its summary.
    pub async fn duplicate_groups_up_to(
        &self,
        kind: DupeKind,
        limit: Option<u64>,
        each: impl FnMut(DupeGroup) -> bool,
    ) -> DbResult<u64> {
        dupes::for_each_group_up_to(&self.pool, kind, limit, each).await
    }

    /// How many duplicate groups of `kind` the library holds, with their files and locations (what
    /// [`Engine::duplicate_groups`] would list, counted without listing it).
    pub async fn duplicate_summary(&self, kind: DupeKind) -> DbResult<DupeSummary> {
        dupes::summary(&self.pool, kind).await
    }
}

/// Why [`Engine::export_query`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportQueryError {
    #[error(transparent)]
    Database(#[from] crate::database::DbError),
    #[error(transparent)]
    Export(#[from] export::ExportError),
    #[error("the export task stopped: {0}")]
    Task(String),
}

/// What an export of a query did: the files it matched and what was written.
#[derive(Debug)]
pub struct QueryExport {
    pub matched: usize,
    pub report: export::ExportReport,
    /// Per split (`--split`; one unnamed part with `--one-per-group` alone): groups, files, notes, hours.
    pub splits: Vec<splits::SplitSummary>,
    /// Files `--one-per-group` left out (their group's representative was exported).
    pub left_out: usize,
}

/// Files read per page while collecting every match of a query.
const COLLECT_PAGE: usize = 1_000;

impl Engine {
    /// Every file matching `query` (at most `limit`), with every location, page by page (keyset, never OFFSET).
    pub async fn search_all(&self, query: &Query, sort: Sort, limit: usize) -> DbResult<Vec<Hit>> {
        let mut hits: Vec<Hit> = Vec::new();
        let mut after: Option<Cursor> = None;
        while hits.len() < limit {
            let page = self
                .search(query, sort, COLLECT_PAGE.min(limit - hits.len()), after.as_ref())
                .await?;
            hits.extend(page.hits);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(hits)
    }

    /// `export`: the files matching `query` written under `out` with their original bytes and names (every location
    /// with `all_locations`), and a manifest when asked for; the same for the command line and the console.
    pub async fn export_query(
        &self,
        query: &Query,
        out: std::path::PathBuf,
        all_locations: bool,
        manifest: Option<std::path::PathBuf>,
        split: &splits::SplitOptions,
    ) -> Result<QueryExport, ExportQueryError> {
        if let Some(m) = &manifest {
            let ext = m.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
            if !matches!(ext.as_deref(), Some("csv" | "jsonl" | "ndjson")) {
                return Err(export::ExportError::ManifestFormat(m.clone()).into());
            }
        }
        let mut hits = self.search_all(query, Sort::default(), usize::MAX).await?;
        let matched = hits.len();
        let mut grouped = splits::SplitHits::default();
        if split.active() {
            grouped = self.split_hits(hits, split).await?;
            hits = std::mem::take(&mut grouped.hits);
        }
        let split_names = split.spec.is_some().then(|| std::mem::take(&mut grouped.split));
        if manifest.is_some() {
            // The manifest names each written location's own collection.
            for chunk in hits.chunks_mut(1000) {
                self.location_collections(chunk).await?;
            }
        }
        let opts = export::ExportOptions {
            out: out.clone(),
            all_locations,
            limits: crate::unpack::extract_limits(),
            sources: self.import_sources().await?,
        };
        let report = tokio::task::spawn_blocking(move || {
            let report = export::export(&hits, &opts)?;
            if let Some(m) = &manifest {
                export::write_manifest(m, &out, &hits, &report, split_names.as_deref())?;
            }
            Ok::<_, export::ExportError>(report)
        })
        .await
        .map_err(|e| ExportQueryError::Task(e.to_string()))??;
        Ok(QueryExport {
            matched,
            report,
            splits: grouped.summary,
            left_out: grouped.left_out,
        })
    }
}

/// The 32 bytes of a hex BLAKE3 hash (as `Hit::content_hash` writes it); `None` if it is not one.
pub fn hash_from_hex(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_hashes_read_back() {
        let h = blake3::hash(b"x");
        assert_eq!(super::hash_from_hex(h.to_hex().as_str()), Some(*h.as_bytes()));
        assert_eq!(super::hash_from_hex("abc"), None);
        assert_eq!(super::hash_from_hex(&"zz".repeat(32)), None);
        assert_eq!(
            super::hash_from_hex(&"+1".repeat(32)),
            None,
            "from_str_radix takes a sign; a hash does not"
        );
    }
}
