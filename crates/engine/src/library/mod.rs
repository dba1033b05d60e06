//! The library browser's engine side: the query language and searching the imported library with it.
pub mod gm;
pub mod query;

pub use crate::database::search::{Cursor, Hit, Page, SortValue};
pub use query::{ParseError, Query, Sort, SortField};

use crate::database::{DbResult, search};
use crate::session::Engine;

impl Engine {
    /// One page of the files matching `query` in `sort` order; pass the page's `next` as `after` for the next page.
    pub async fn search(&self, query: &Query, sort: Sort, limit: usize, after: Option<&Cursor>) -> DbResult<Page> {
        search::page(&self.pool, query, sort, limit, after).await
    }
}
