-- Similarity search by a small index: each file's features projected on their first principal axes
-- (`musical_metadata.coarse`, COARSE_DIMS numbers, crates/engine/src/midi/similarity.rs). The distance between two
-- coarse vectors is never more than the distance between the features, so `like:` reads candidates in coarse order
-- from a GiST index of 8 dimensions and stops once no unread file can be nearer: the same ranking as the features'
-- own index of 0018, which at 1M files was 1.2 GB and read 120 MB a query (a 50-dimension GiST prunes poorly).
-- Migration 20 (not SQL) fills the column for the files that have features; 0021 builds its index.
ALTER TABLE musical_metadata ADD COLUMN IF NOT EXISTS coarse real[];
DROP INDEX IF EXISTS musical_metadata_features_idx;
