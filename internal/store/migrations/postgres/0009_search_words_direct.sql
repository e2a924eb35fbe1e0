-- Version 9: the title index takes each title into its trigram trees at
-- once. GIN's default keeps new entries in a pending list until a vacuum
-- or 4 MB of them, and every search reads the whole list and matches each
-- title in it: with a busy intake that costs every search milliseconds
-- (a search that finds nothing ran 6 ms and, on a loaded machine, over
-- 100 ms) where the trees alone answer in a fraction of one. Each title
-- written costs a little more instead. Without pg_trgm there is no index.
ALTER INDEX IF EXISTS item_search_words SET (fastupdate = off);
DO $$
BEGIN
    IF to_regclass('item_search_words') IS NOT NULL THEN
        PERFORM gin_clean_pending_list(to_regclass('item_search_words'));
    END IF;
END $$;
