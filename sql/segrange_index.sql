--
-- segrange_index: GiST, btree and hash indexes on ticket.segrange return
-- exactly what a sequential scan returns, for every indexable operator.
-- Mismatch counts are expected to be 0; plans_ok says that every checked
-- query really ran on the intended index.
--
SET search_path = ticket, public;
-- Objects this test creates go into public (schema-qualified), never into the
-- extension's own schema.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ticket CASCADE;
RESET client_min_messages;
-- Plans with disabled scan types look expensive enough to trigger JIT, which
-- only costs time here.
SET jit = off;

-- The three operator classes pass the core validator.
SELECT opcname, amname, amvalidate(opc.oid)
FROM pg_opclass opc JOIN pg_am am ON am.oid = opcmethod
WHERE opcintype = 'ticket.segrange'::regtype ORDER BY 1, 2;

--
-- 100,000 random segments with bounds in 0..1000: mostly short legs (many
-- duplicates), some medium, some long, plus hand-picked extremes and NULLs.
--
SELECT setseed(0.31415);
CREATE TABLE public.segidx_raw AS
SELECT i AS id, random() AS kind, random() AS lo, random() AS len
FROM generate_series(1, 100000) AS i;
CREATE TABLE public.segidx_base AS
SELECT id, segrange(l, least(l + w, 1000)) AS r
FROM (SELECT id,
		floor(lo * 1000)::int AS l,
		CASE WHEN kind < 0.70 THEN 1 + floor(len * 5)::int
			 WHEN kind < 0.95 THEN 1 + floor(len * 60)::int
			 ELSE 1 + floor(len * 1000)::int END AS w
	  FROM segidx_raw) s;
INSERT INTO segidx_base VALUES
	(100001, '[0,1)'), (100002, '[999,1000)'), (100003, '[0,1000)'),
	(100004, '[0,32767)'), (100005, '[32766,32767)'), (100006, '[500,501)'),
	(100007, NULL), (100008, NULL), (100009, '[0,1)');
DROP TABLE segidx_raw;
SELECT count(*) AS rows, count(r) AS non_null, count(DISTINCT r) AS distinct_values,
	min(lower(r)) AS min_lower, max(upper(r)) AS max_upper,
	count(*) FILTER (WHERE legs(r) <= 5) AS short_legs,
	count(*) FILTER (WHERE legs(r) > 60) AS long_legs
FROM segidx_base;

-- Sorted build: CREATE INDEX on the filled table (the opclass has sortsupport).
CREATE TABLE public.segidx_sorted AS SELECT * FROM segidx_base;
CREATE INDEX segidx_sorted_gist ON segidx_sorted USING gist (r);
-- Insert build: empty index first, then rows one by one in a scrambled order,
-- which exercises penalty and picksplit.
CREATE TABLE public.segidx_insert (id int, r segrange);
CREATE INDEX segidx_insert_gist ON segidx_insert USING gist (r);
INSERT INTO segidx_insert SELECT * FROM segidx_base ORDER BY (id * 7919) % 100019, id;
-- Buffering build: the third way CREATE INDEX can fill a GiST index.
CREATE TABLE public.segidx_buffered AS
SELECT * FROM segidx_base ORDER BY (id * 7919) % 100019, id;
CREATE INDEX segidx_buffered_gist ON segidx_buffered USING gist (r) WITH (buffering = on);
-- The sorted build packs its pages; inserting row by row leaves them part full.
SELECT pg_relation_size('segidx_sorted_gist') < pg_relation_size('segidx_insert_gist') AS sorted_build_is_denser;
-- A btree and a hash index, each alone on its own copy.
CREATE TABLE public.segidx_btree AS SELECT * FROM segidx_base;
CREATE INDEX segidx_btree_idx ON segidx_btree USING btree (r);
CREATE TABLE public.segidx_hash AS SELECT * FROM segidx_base;
CREATE INDEX segidx_hash_idx ON segidx_hash USING hash (r);
VACUUM ANALYZE segidx_base, segidx_sorted, segidx_insert, segidx_buffered, segidx_btree, segidx_hash;

-- Query values: for the segment operators ...
CREATE TABLE public.segidx_q (op text, qtype text, q text);
INSERT INTO segidx_q
SELECT op, 'ticket.segrange', q
FROM unnest(ARRAY['<<', '&<', '&&', '&>', '>>', '@>', '<@', '-|-', '=', '<>',
				  '<', '<=', '>', '>=']) AS op,
	unnest(ARRAY['[0,1)', '[500,501)', '[250,260)', '[100,400)', '[0,1000)',
				 '[999,1000)', '[0,32767)', '[1000,1001)', '[32766,32767)']) AS q;
-- ... and for segrange @> integer.
INSERT INTO segidx_q
SELECT '@>', 'integer', q
FROM unnest(ARRAY['-1', '0', '500', '999', '1000', '32767']) AS q;

--
-- segidx_run(tbl, op, qtype, q, mode) runs
--   SELECT count(*), sum(id), sum(hashint4(id)) FROM tbl WHERE r <op> q
-- under one of these planner settings and reports whether the plan has the
-- shape the mode asks for:
--   seq     only a sequential scan
--   bitmap  a Bitmap Index Scan on the table's index
--   index   a plain Index Scan on the table's index
--   ionly   an Index Only Scan (sums over r itself, not id)
--
CREATE FUNCTION public.segidx_run(tbl text, op text, qtype text, q text, mode text,
						   OUT n bigint, OUT digest text, OUT plan_ok boolean)
LANGUAGE plpgsql AS $$
DECLARE
	sql text;
	line text;
	plan text := '';
BEGIN
	PERFORM set_config('enable_seqscan', CASE WHEN mode = 'seq' THEN 'on' ELSE 'off' END, true);
	PERFORM set_config('enable_bitmapscan', CASE WHEN mode = 'bitmap' THEN 'on' ELSE 'off' END, true);
	PERFORM set_config('enable_indexscan', CASE WHEN mode IN ('index', 'ionly') THEN 'on' ELSE 'off' END, true);
	PERFORM set_config('enable_indexonlyscan', CASE WHEN mode = 'ionly' THEN 'on' ELSE 'off' END, true);
	PERFORM set_config('max_parallel_workers_per_gather', '0', true);
	-- disabled plan types look expensive enough to trigger JIT: keep it off
	PERFORM set_config('jit', 'off', true);
	IF mode = 'ionly' THEN
		-- the index returns the value: digest the values, not the ids
		sql := format('SELECT count(*), concat_ws(%L, sum(lower(r)), sum(upper(r)), sum(hashint4(lower(r) * 32768 + upper(r))::bigint)) FROM %I WHERE r %s %L::%s',
					  '/', tbl, op, q, qtype);
	ELSE
		sql := format('SELECT count(*), concat_ws(%L, sum(id), sum(hashint4(id)::bigint)) FROM %I WHERE r %s %L::%s',
					  '/', tbl, op, q, qtype);
	END IF;
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || sql LOOP
		plan := plan || line || E'\n';
	END LOOP;
	plan_ok := CASE mode
		WHEN 'seq' THEN plan ~ 'Seq Scan' AND plan !~ 'Index'
		WHEN 'bitmap' THEN plan ~ 'Bitmap Index Scan on' AND plan !~ 'Seq Scan'
		WHEN 'index' THEN plan ~ ' Index Scan using' AND plan !~ 'Seq Scan|Bitmap|Index Only'
		WHEN 'ionly' THEN plan ~ 'Index Only Scan using' AND plan !~ 'Seq Scan|Bitmap'
	END;
	EXECUTE sql INTO n, digest;
END
$$;

-- Reference answers from sequential scans of the base table.
CREATE TABLE public.segidx_expected AS
SELECT op, qtype, q, s.*, v.digest AS value_digest
FROM segidx_q,
	LATERAL segidx_run('segidx_base', op, qtype, q, 'seq') AS s,
	LATERAL segidx_run('segidx_base', op, qtype, q, 'ionly') AS v;
-- ('ionly' on a table without an index just falls back to a seq scan; the
-- reference value digests come from there.)
SELECT count(*) AS queries, bool_and(plan_ok) AS all_seq_scans,
	count(*) FILTER (WHERE n = 0) AS empty_results,
	count(*) FILTER (WHERE n = 100007) AS all_rows_results
FROM segidx_expected;

--
-- GiST: the sorted build with bitmap, plain and index-only scans; the insert
-- build with bitmap and plain scans; the buffering build with bitmap scans.
--
CREATE TABLE public.segidx_got AS
SELECT tbl, mode, e.op, e.qtype, e.q,
	e.n AS want_n, CASE WHEN mode = 'ionly' THEN e.value_digest ELSE e.digest END AS want_digest,
	g.*
FROM segidx_expected e,
	(VALUES ('segidx_sorted', 'bitmap'), ('segidx_sorted', 'index'),
			('segidx_sorted', 'ionly'), ('segidx_insert', 'bitmap'),
			('segidx_insert', 'index'), ('segidx_buffered', 'bitmap')) AS m(tbl, mode),
	LATERAL segidx_run(tbl, e.op, e.qtype, e.q, mode) AS g;

SELECT tbl, mode, count(*) AS queries,
	count(*) FILTER (WHERE n <> want_n OR digest <> want_digest) AS mismatches,
	bool_and(plan_ok) AS plans_ok
FROM segidx_got GROUP BY tbl, mode ORDER BY tbl, mode;

SELECT op || CASE WHEN qtype = 'integer' THEN ' int' ELSE '' END AS operator,
	count(*) AS queries,
	count(*) FILTER (WHERE n <> want_n OR digest <> want_digest) AS mismatches,
	bool_and(plan_ok) AS plans_ok,
	sum(n) AS total_rows
FROM segidx_got GROUP BY op, qtype
ORDER BY min(array_position(ARRAY['<<', '&<', '&&', '&>', '>>', '@>', '<@', '-|-',
	'=', '<>', '<', '<=', '>', '>='], op)), qtype DESC;

-- Details of any mismatch (expected: no rows).
SELECT tbl, mode, op, q, want_n, n, plan_ok
FROM segidx_got WHERE n <> want_n OR digest <> want_digest OR NOT plan_ok
ORDER BY 1, 2, 3, 4;

-- The GiST index is used.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM segidx_sorted WHERE r && '[250,260)';
EXPLAIN (COSTS OFF) SELECT id FROM segidx_sorted WHERE r @> 500;
EXPLAIN (COSTS OFF) SELECT id FROM segidx_sorted WHERE r -|- '[250,260)';
EXPLAIN (COSTS OFF) SELECT id FROM segidx_insert WHERE r <@ '[100,400)';
EXPLAIN (COSTS OFF) SELECT id FROM segidx_insert WHERE r = '[500,501)';
-- Written the other way round, value first, the commuted operator is used.
EXPLAIN (COSTS OFF) SELECT id FROM segidx_sorted WHERE 500 <@ r;
EXPLAIN (COSTS OFF) SELECT id FROM segidx_sorted WHERE '[250,260)' <@ r;
SELECT (SELECT count(*) FROM segidx_sorted WHERE 500 <@ r) AS int_contained_by_index,
	(SELECT count(*) FROM segidx_base WHERE r::int4range @> 500) AS int4range_seqscan,
	(SELECT count(*) FROM segidx_sorted WHERE '[250,260)' <@ r) AS contained_by_index,
	(SELECT count(*) FROM segidx_base WHERE r::int4range @> int4range(250, 260)) AS int4range_seqscan;
RESET enable_seqscan;
-- Selective queries pick the index without any nudging.
EXPLAIN (COSTS OFF) SELECT id FROM segidx_sorted WHERE r @> '[250,260)';

--
-- btree: =, <, <=, >, >= and ORDER BY use the index and agree.
--
CREATE TABLE public.segidx_btree_got AS
SELECT e.op, e.q, e.n AS want_n, e.digest AS want_digest, g.*, mode
FROM segidx_expected e, unnest(ARRAY['bitmap', 'index']) AS mode,
	LATERAL segidx_run('segidx_btree', e.op, e.qtype, e.q, mode) AS g
WHERE e.op IN ('=', '<', '<=', '>', '>=') AND e.qtype <> 'integer';
SELECT op, count(*) AS queries,
	count(*) FILTER (WHERE n <> want_n OR digest <> want_digest) AS mismatches,
	bool_and(plan_ok) AS plans_ok
FROM segidx_btree_got GROUP BY op
ORDER BY array_position(ARRAY['=', '<', '<=', '>', '>='], op);

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM segidx_btree WHERE r >= '[250,260)' AND r < '[260,261)';
EXPLAIN (COSTS OFF) SELECT r FROM segidx_btree ORDER BY r;
SELECT count(*) AS rows_compared, count(*) FILTER (WHERE i.r IS DISTINCT FROM s.r) AS order_mismatches
FROM (SELECT r, row_number() OVER () AS rn FROM (SELECT r FROM segidx_btree ORDER BY r) x) i
JOIN (SELECT r, row_number() OVER (ORDER BY r::int4range) AS rn FROM segidx_base) s USING (rn);
SELECT (SELECT count(*) FROM segidx_btree WHERE r >= '[250,260)' AND r < '[260,261)') AS btree_range,
	(SELECT count(*) FROM segidx_base WHERE r::int4range >= '[250,260)' AND r::int4range < '[260,261)') AS int4range_range;
RESET enable_seqscan;
RESET enable_bitmapscan;

--
-- hash: = uses the index and agrees, for values present, duplicated and absent.
--
CREATE TABLE public.segidx_hash_got AS
SELECT e.op, e.q, e.n AS want_n, e.digest AS want_digest, g.*, mode
FROM segidx_expected e, unnest(ARRAY['bitmap', 'index']) AS mode,
	LATERAL segidx_run('segidx_hash', e.op, e.qtype, e.q, mode) AS g
WHERE e.op = '=' AND e.qtype <> 'integer';
SELECT count(*) AS queries, count(*) FILTER (WHERE want_n > 1) AS with_duplicates,
	count(*) FILTER (WHERE want_n = 0) AS absent,
	count(*) FILTER (WHERE n <> want_n OR digest <> want_digest) AS mismatches,
	bool_and(plan_ok) AS plans_ok
FROM segidx_hash_got;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM segidx_hash WHERE r = '[500,501)';
-- Every distinct value, looked up through the hash index, finds all its rows.
SELECT count(*) AS values_checked,
	count(*) FILTER (WHERE (SELECT count(*) FROM segidx_hash h WHERE h.r = v.r) <> v.n) AS mismatches
FROM (SELECT r, count(*) AS n FROM segidx_base WHERE r IS NOT NULL GROUP BY r
	  ORDER BY r LIMIT 2000) v;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- The indexes survive updates and deletes: change a tenth of the rows, then
-- compare one query per operator again.
UPDATE segidx_sorted SET r = segrange(upper(r) - 1, upper(r)) WHERE id % 10 = 3;
DELETE FROM segidx_sorted WHERE id % 10 = 7;
UPDATE segidx_base SET r = segrange(upper(r) - 1, upper(r)) WHERE id % 10 = 3;
DELETE FROM segidx_base WHERE id % 10 = 7;
SELECT count(*) AS queries,
	count(*) FILTER (WHERE (segidx_run('segidx_sorted', op, qtype, q, 'bitmap')).digest
		<> (segidx_run('segidx_base', op, qtype, q, 'seq')).digest) AS mismatches
FROM segidx_q WHERE q IN ('[250,260)', '[0,1)', '500');

DROP FUNCTION segidx_run(text, text, text, text, text);
DROP TABLE segidx_base, segidx_sorted, segidx_insert, segidx_buffered, segidx_btree, segidx_hash,
	segidx_q, segidx_expected, segidx_got, segidx_btree_got, segidx_hash_got;
