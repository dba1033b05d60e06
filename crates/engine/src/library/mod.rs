//! The library browser's engine side: the query language and searching the imported library with it.
pub mod export;
pub mod gm;
pub mod query;

pub use crate::database::dupes::{DupeFile, DupeGroup, DupeKind};
pub use crate::database::search::{Cursor, Hit, Page, SortValue};
pub use query::{ParseError, Query, Sort, SortField};

use crate::database::{DbResult, dupes, search};
use crate::session::Engine;

impl Engine {
    /// One page of the files matching `query` in `sort` order; pass the page's `next` as `after` for the next page.
    pub async fn search(&self, query: &Query, sort: Sort, limit: usize, after: Option<&Cursor>) -> DbResult<Page> {
        search::page(&self.pool, query, sort, limit, after).await
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
}
