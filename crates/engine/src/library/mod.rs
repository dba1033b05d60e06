//! The library browser's engine side: the query language, searching the imported library with it, one file's
//! detail and its notes.
pub mod gm;
pub mod notes;
pub mod query;

pub use crate::database::search::{Cursor, FileDetail, Hit, LocationDetail, MusicDetail, Page, SortValue};
pub use notes::{FileNotes, LoadNotesError, MAX_NOTES, load_notes};
pub use query::{ParseError, Query, Sort, SortField};

use crate::database::{DbResult, search};
use crate::session::Engine;

impl Engine {
    /// One page of the files matching `query` in `sort` order; pass the page's `next` as `after` for the next page.
    pub async fn search(&self, query: &Query, sort: Sort, limit: usize, after: Option<&Cursor>) -> DbResult<Page> {
        search::page(&self.pool, query, sort, limit, after).await
    }

    /// Everything stored about the file with this BLAKE3 hash (32 bytes; [`hash_from_hex`] reads the hex form),
    /// its analysis and every location; `None` when no such file was imported.
    pub async fn file_detail(&self, content_hash: &[u8]) -> DbResult<Option<FileDetail>> {
        search::file_detail(&self.pool, content_hash).await
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
