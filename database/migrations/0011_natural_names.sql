-- Names sort as people read them: `11_x` before `101_x` (digits by their value), case aside. The narrow search
-- table's name column takes an ICU collation with numeric ordering, so its covering name index delivers pages in
-- that order (rebuilt here); the joined tables' queries order by `filename COLLATE natural_names`. Only this one
-- index pays for the collation: an ICU comparison costs several times a byte comparison when an index is built.
-- Equality stays byte equality (the collation is deterministic). A server built without ICU gets the name as a
-- copy of "C" (byte order), so the same statements run everywhere.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'natural_names'
                   AND collnamespace = 'public'::regnamespace) THEN
        IF EXISTS (SELECT 1 FROM pg_collation WHERE collprovider = 'i') THEN
            CREATE COLLATION public.natural_names (provider = icu, locale = 'und-u-kn-true');
        ELSE
            CREATE COLLATION public.natural_names FROM "C";
        END IF;
    END IF;
END $$;
ALTER TABLE search_rows ALTER COLUMN filename TYPE text COLLATE public.natural_names;
