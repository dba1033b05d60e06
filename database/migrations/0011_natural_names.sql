-- Names sort as people read them: `11_x` before `101_x` (digits by their value), case aside. The file-name columns
-- take an ICU collation with numeric ordering, so every ORDER BY and keyset comparison on them follows, and so do
-- their indexes (rebuilt here; the table itself is not rewritten). Equality stays byte equality (the collation
-- is deterministic). A server built without ICU keeps byte order.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collprovider = 'i') THEN
        CREATE COLLATION IF NOT EXISTS natural_names (provider = icu, locale = 'und-u-kn-true');
        ALTER TABLE files ALTER COLUMN filename TYPE text COLLATE natural_names;
        ALTER TABLE search_rows ALTER COLUMN filename TYPE text COLLATE natural_names;
    END IF;
END $$;
