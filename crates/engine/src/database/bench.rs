//! SQL of the benchmark: an empty library database before each measured run.
use super::{DbResult, cluster, connect_options, quote_ident};
use sqlx::{Connection, PgConnection};

/// Drop the library database of `url` (closing its sessions) and create it again, empty. Runs from the
/// `postgres` maintenance database of the same server, since a database cannot drop itself.
pub async fn recreate_library(url: &str) -> DbResult<()> {
    let mut admin = PgConnection::connect_with(&connect_options(url)?.database("postgres")).await?;
    // The name is the managed cluster's constant, never input; quoted all the same.
    let name = quote_ident(cluster::DATABASE);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}
