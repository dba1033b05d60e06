-- Similarity search by a small index: each file's features projected on their first 12 principal axes
-- (`musical_metadata.coarse`, crates/engine/src/midi/similarity.rs). `like:` reads the files nearest in that
-- projection from a GiST index of 12 dimensions and ranks them by the features' own distance (database/similar.rs).
-- It replaces the features' own index of 0018, which at 1M files was 1.2 GB and read 120 MB a query (a
-- 50-dimension GiST prunes poorly).
-- Migration 20 (not SQL) fills the column for the files that have features; 0021 builds its index.
ALTER TABLE musical_metadata ADD COLUMN IF NOT EXISTS coarse real[];
DROP INDEX IF EXISTS musical_metadata_features_idx;
