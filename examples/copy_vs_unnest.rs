//! Measures the two batch-insert strategies for the write phase on one table shape: COPY (text) against
//! `INSERT ... SELECT FROM unnest($1, $2, ...)` with array parameters. Usage:
//!   cargo run --release --example copy_vs_unnest -- DATABASE_URL [ROWS] [BATCH]
use std::fmt::Write as _;
use std::time::Instant;

use sqlx::Connection;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or_else(|| anyhow::anyhow!("usage: copy_vs_unnest DATABASE_URL [ROWS] [BATCH]"))?;
    let rows: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let batch: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_locations; CREATE UNLOGGED TABLE bench_locations (id bigserial PRIMARY KEY, \
         file_id bigint NOT NULL, path text NOT NULL UNIQUE, size bigint NOT NULL, mtime bigint NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let paths: Vec<String> = (0..rows)
        .map(|i| {
            format!(
                "Collection_{:02}/Genre {}/Artist {}/Cm_120bpm_loop_{i:07}.mid",
                i % 40,
                i % 7,
                i % 300
            )
        })
        .collect();
    for round in 0..3 {
        sqlx::raw_sql("TRUNCATE bench_locations").execute(&mut conn).await?;
        let t = Instant::now();
        for (b, chunk) in paths.chunks(batch).enumerate() {
            let mut buf = String::with_capacity(chunk.len() * 96);
            for (i, p) in chunk.iter().enumerate() {
                let _ = writeln!(buf, "{}\t{p}\t{}\t{}", b * batch + i, 15_000 + i, 1_700_000_000 + i);
            }
            let mut tx = conn.begin().await?;
            let mut copy = tx
                .copy_in_raw("COPY bench_locations (file_id, path, size, mtime) FROM STDIN")
                .await?;
            copy.send(buf.into_bytes()).await?;
            copy.finish().await?;
            tx.commit().await?;
        }
        let copy_s = t.elapsed().as_secs_f64();
        sqlx::raw_sql("TRUNCATE bench_locations").execute(&mut conn).await?;
        let t = Instant::now();
        for (b, chunk) in paths.chunks(batch).enumerate() {
            let ids: Vec<i64> = (0..chunk.len()).map(|i| (b * batch + i) as i64).collect();
            let sizes: Vec<i64> = (0..chunk.len()).map(|i| 15_000 + i as i64).collect();
            let mtimes: Vec<i64> = (0..chunk.len()).map(|i| 1_700_000_000 + i as i64).collect();
            let mut tx = conn.begin().await?;
            sqlx::query(
                "INSERT INTO bench_locations (file_id, path, size, mtime) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])",
            )
            .bind(&ids)
            .bind(chunk)
            .bind(&sizes)
            .bind(&mtimes)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        let unnest_s = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {rows} rows in batches of {batch}: COPY {:.0} rows/s, UNNEST {:.0} rows/s (COPY/UNNEST = {:.2})",
            rows as f64 / copy_s,
            rows as f64 / unnest_s,
            unnest_s / copy_s
        );
    }
    sqlx::raw_sql("DROP TABLE bench_locations").execute(&mut conn).await?;
    Ok(())
}
