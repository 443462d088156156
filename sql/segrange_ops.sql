--
-- segrange_ops: every operator and function of ticket.segrange, checked
-- differentially against the built-in int4range, which has exactly the
-- meaning segrange promises.  Random pairs print only counts of mismatches
-- (expected 0), so a failure shows up as a non-zero number.
--
SET search_path = ticket, public;
-- The extension normally comes from segrange_input; this makes the file
-- runnable on its own too.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ticket CASCADE;
RESET client_min_messages;

--
-- Hand-picked edge cases: adjacent, equal, nested, same lower, same upper,
-- touching at 0, the maximum stop 32767, single-leg segments.
--
CREATE TEMP TABLE edge_seg (v segrange);
INSERT INTO edge_seg VALUES
	('[0,1)'), ('[1,2)'), ('[0,2)'), ('[2,3)'), ('[0,32767)'), ('[1,32767)'),
	('[0,32766)'), ('[32766,32767)'), ('[32765,32766)'), ('[32000,32767)'),
	('[4,5)'), ('[5,6)'), ('[6,7)'), ('[4,6)'), ('[5,8)'), ('[5,10)'),
	('[7,10)'), ('[9,11)'), ('[10,11)'), ('[10,20)'), ('[3,12)'), ('[5,7)');

CREATE TEMP TABLE edge_stop (s int);
INSERT INTO edge_stop VALUES
	(-2147483648), (-1), (0), (1), (2), (4), (5), (6), (9), (10), (11),
	(32765), (32766), (32767), (32768), (2147483647);

-- A readable truth table for the classic relations.
SELECT a, b,
	a = b AS "=", a < b AS "<", a && b AS "&&", a @> b AS "@>", a <@ b AS "<@",
	a << b AS "<<", a >> b AS ">>", a &< b AS "&<", a &> b AS "&>",
	a -|- b AS "-|-", segrange_cmp(a, b) AS cmp
FROM (VALUES
	('[0,1)'::segrange, '[1,2)'::segrange),	-- adjacent, touching at 0
	('[1,2)', '[0,1)'),						-- adjacent, other side
	('[0,1)', '[0,1)'),						-- equal single legs
	('[5,10)', '[5,10)'),					-- equal
	('[3,12)', '[5,7)'),					-- nested
	('[5,7)', '[3,12)'),					-- nested, other side
	('[5,8)', '[5,10)'),					-- same lower
	('[7,10)', '[5,10)'),					-- same upper
	('[4,6)', '[5,8)'),						-- partial overlap
	('[4,5)', '[6,7)'),						-- gap of one stop
	('[0,32767)', '[32766,32767)'),			-- widest vs last leg
	('[32765,32766)', '[32766,32767)'),		-- adjacent at the top
	('[0,32766)', '[1,32767)')				-- overlapping nearly everything
) AS t(a, b);

-- Every segrange-pair operator over all edge pairs, compared with int4range.
SELECT op, count(*) AS pairs, count(*) FILTER (WHERE seg IS DISTINCT FROM rng) AS mismatches
FROM (SELECT a.v AS a, b.v AS b, a.v::int4range AS ra, b.v::int4range AS rb
      FROM edge_seg a, edge_seg b) p,
LATERAL (VALUES
	(1, '=', a = b, ra = rb),
	(2, '<>', a <> b, ra <> rb),
	(3, '<', a < b, ra < rb),
	(4, '<=', a <= b, ra <= rb),
	(5, '>', a > b, ra > rb),
	(6, '>=', a >= b, ra >= rb),
	(7, '&&', a && b, ra && rb),
	(8, '@>', a @> b, ra @> rb),
	(9, '<@', a <@ b, ra <@ rb),
	(10, '<<', a << b, ra << rb),
	(11, '>>', a >> b, ra >> rb),
	(12, '&<', a &< b, ra &< rb),
	(13, '&>', a &> b, ra &> rb),
	(14, '-|-', a -|- b, ra -|- rb),
	(15, 'segrange_cmp', sign(segrange_cmp(a, b)) = sign(range_cmp(ra, rb)), true)
) AS v(ord, op, seg, rng)
GROUP BY ord, op ORDER BY ord;

-- segrange @> int and int <@ segrange on the edge stops.
SELECT a, s, a @> s AS "@>", s <@ a AS "<@",
	(a @> s) = (a::int4range @> s) AND (s <@ a) = (s <@ a::int4range) AS agrees
FROM (VALUES ('[0,1)'::segrange), ('[5,10)'), ('[32766,32767)')) AS t(a),
	(VALUES (-1), (0), (1), (5), (9), (10), (32766), (32767)) AS u(s)
ORDER BY a, s;

SELECT count(*) AS pairs,
	count(*) FILTER (WHERE (v @> s) IS DISTINCT FROM (v::int4range @> s)) AS contains_int_mismatches,
	count(*) FILTER (WHERE (s <@ v) IS DISTINCT FROM (s <@ v::int4range)) AS int_contained_mismatches
FROM edge_seg, edge_stop;

-- Functions on the edge values.
SELECT v, lower(v), upper(v), legs(v), v::int4range AS int4range
FROM edge_seg ORDER BY v;

SELECT count(*) AS segments,
	count(*) FILTER (WHERE lower(v) IS DISTINCT FROM lower(v::int4range)) AS lower_mismatches,
	count(*) FILTER (WHERE upper(v) IS DISTINCT FROM upper(v::int4range)) AS upper_mismatches,
	count(*) FILTER (WHERE legs(v) IS DISTINCT FROM upper(v::int4range) - lower(v::int4range)) AS legs_mismatches,
	count(*) FILTER (WHERE v::text IS DISTINCT FROM v::int4range::text) AS text_mismatches,
	count(*) FILTER (WHERE segrange(lower(v), upper(v)) IS DISTINCT FROM v) AS constructor_mismatches
FROM edge_seg;

-- Constructor and casts at the limits.
SELECT segrange(0, 1), segrange(32766, 32767), segrange(0, 32767);
SELECT int4range(0, 32767)::segrange, '[0,0]'::int4range::segrange,
	'(0,32767)'::int4range::segrange, '[32766,32767)'::int4range::segrange;
SELECT segrange(0, 32767)::int4range, segrange(3, 4)::int4range;

--
-- Errors: constructor and casts reject what is not a segment.
--
SELECT segrange(5, 2);
SELECT segrange(3, 3);
SELECT segrange(-1, 3);
SELECT segrange(0, 32768);
SELECT segrange(-2147483648, 2147483647);
SELECT 'empty'::int4range::segrange;
SELECT int4range(4, 4)::segrange;
SELECT '(,5)'::int4range::segrange;
SELECT '[3,)'::int4range::segrange;
SELECT '(,)'::int4range::segrange;
SELECT int4range(-1, 5)::segrange;
SELECT int4range(0, 32768)::segrange;
SELECT '[32767,32767]'::int4range::segrange;
SELECT int4range(40000, 50000)::segrange;

--
-- Random pairs: 5000 with bounds in 0..40 (so overlap, adjacency, equality
-- and containment are all common), 1000 anywhere in 0..32767 and 500 near
-- the top of the range.  Bounds are drawn first and kept in a table, so
-- every later query sees the same values.
--
SELECT setseed(0.20240601);
CREATE TEMP TABLE raw_pairs AS
SELECT i AS id,
	floor(random() * 41)::int AS x1, floor(random() * 41)::int AS x2,
	floor(random() * 41)::int AS y1, floor(random() * 41)::int AS y2,
	floor(random() * 45)::int - 2 AS s
FROM generate_series(1, 5000) AS i;
INSERT INTO raw_pairs
SELECT i,
	floor(random() * 32768)::int, floor(random() * 32768)::int,
	floor(random() * 32768)::int, floor(random() * 32768)::int,
	floor(random() * 32770)::int - 1
FROM generate_series(5001, 6000) AS i;
INSERT INTO raw_pairs
SELECT i,
	32767 - floor(random() * 30)::int, 32767 - floor(random() * 30)::int,
	32767 - floor(random() * 30)::int, 32767 - floor(random() * 30)::int,
	32769 - floor(random() * 32)::int
FROM generate_series(6001, 6500) AS i;
-- x1 = x2 would be empty: widen such pairs by one leg (downwards at the top).
UPDATE raw_pairs SET x2 = CASE WHEN x1 = 32767 THEN x1 - 1 ELSE x1 + 1 END WHERE x1 = x2;
UPDATE raw_pairs SET y2 = CASE WHEN y1 = 32767 THEN y1 - 1 ELSE y1 + 1 END WHERE y1 = y2;

-- a, b are built by the constructor; ra, rb independently by int4range().
CREATE TEMP TABLE pairs AS
SELECT id,
	segrange(least(x1, x2), greatest(x1, x2)) AS a,
	segrange(least(y1, y2), greatest(y1, y2)) AS b,
	int4range(least(x1, x2), greatest(x1, x2)) AS ra,
	int4range(least(y1, y2), greatest(y1, y2)) AS rb,
	s
FROM raw_pairs;

SELECT count(*) AS pairs, count(*) FILTER (WHERE id <= 5000) AS small_pairs,
	count(DISTINCT a) AS distinct_a, count(*) FILTER (WHERE a = b) AS equal_pairs
FROM pairs;

-- One row per operator: mismatches against int4range (expected 0), and
-- whether both outcomes occurred so the comparison means something.
SELECT op, count(*) AS pairs,
	count(*) FILTER (WHERE seg IS DISTINCT FROM rng) AS mismatches,
	bool_or(seg) AND NOT bool_and(seg) AS both_outcomes
FROM pairs,
LATERAL (VALUES
	(1, '=', a = b, ra = rb),
	(2, '<>', a <> b, ra <> rb),
	(3, '<', a < b, ra < rb),
	(4, '<=', a <= b, ra <= rb),
	(5, '>', a > b, ra > rb),
	(6, '>=', a >= b, ra >= rb),
	(7, '&&', a && b, ra && rb),
	(8, '@>', a @> b, ra @> rb),
	(9, '<@', a <@ b, ra <@ rb),
	(10, '<<', a << b, ra << rb),
	(11, '>>', a >> b, ra >> rb),
	(12, '&<', a &< b, ra &< rb),
	(13, '&>', a &> b, ra &> rb),
	(14, '-|-', a -|- b, ra -|- rb),
	(15, '@> int', a @> s, ra @> s),
	(16, 'int <@', s <@ a, s <@ ra),
	-- each operator against its commutator / negator
	(17, '&& commutes', a && b, b && a),
	(18, '-|- commutes', a -|- b, b -|- a),
	(19, '@> vs <@', a @> b, b <@ a),
	(20, '<< vs >>', a << b, b >> a),
	(21, '< vs >', a < b, b > a),
	(22, '<= vs >=', a <= b, b >= a),
	(23, '< negates >=', a < b, NOT (a >= b)),
	(24, '= negates <>', a = b, NOT (a <> b))
) AS v(ord, op, seg, rng)
GROUP BY ord, op ORDER BY ord;

-- Functions, casts, text form and the comparison function.
SELECT fn, count(*) AS values_tested, count(*) FILTER (WHERE NOT ok OR ok IS NULL) AS mismatches
FROM pairs,
LATERAL (VALUES
	(1, 'lower', lower(a) = lower(ra)),
	(2, 'upper', upper(a) = upper(ra)),
	(3, 'legs', legs(a) = upper(ra) - lower(ra)),
	(4, 'segrange(int,int)', segrange(lower(ra), upper(ra)) = a),
	(5, 'segrange::int4range', a::int4range = ra),
	(6, 'int4range::segrange', ra::segrange = a),
	(7, 'segrange(int4range)', segrange(ra) = a),
	(8, 'int4range(segrange)', int4range(a) = ra),
	(9, 'round trip via int4range', a::int4range::segrange = a),
	(10, 'round trip via text', a::text::segrange = a),
	(11, 'text equals int4range text', a::text = ra::text),
	(12, 'segrange_cmp sign', sign(segrange_cmp(a, b)) = sign(range_cmp(ra, rb))),
	(13, 'segrange_cmp antisymmetric', segrange_cmp(a, b) = -segrange_cmp(b, a)),
	(14, 'segrange_cmp vs <', (segrange_cmp(a, b) < 0) = (a < b)),
	(15, 'segrange_cmp vs =', (segrange_cmp(a, b) = 0) = (a = b)),
	(16, 'hash agrees with =', (a <> b) OR segrange_hash(a) = segrange_hash(b)),
	(17, 'hash_extended seed 0 low bits', (segrange_hash_extended(a, 0) & 4294967295)
		= (segrange_hash(a)::bigint & 4294967295)),
	(18, 'send: two int4', segrange_send(a) = int4send(lower(ra)) || int4send(upper(ra)))
) AS v(ord, fn, ok)
GROUP BY ord, fn ORDER BY ord;

--
-- btree order: ORDER BY segrange and ORDER BY int4range give the same
-- sequence, ascending and descending (sorting uses the sortsupport
-- comparator, the merge join below uses segrange_cmp).
--
SELECT count(*) AS rows_compared, count(*) FILTER (WHERE s.v::int4range <> r.v) AS order_mismatches
FROM (SELECT a AS v, row_number() OVER (ORDER BY a) AS rn FROM pairs) s
JOIN (SELECT ra AS v, row_number() OVER (ORDER BY ra) AS rn FROM pairs) r USING (rn);
SELECT count(*) AS rows_compared, count(*) FILTER (WHERE s.v::int4range <> r.v) AS order_mismatches
FROM (SELECT b AS v, row_number() OVER (ORDER BY b DESC) AS rn FROM pairs) s
JOIN (SELECT rb AS v, row_number() OVER (ORDER BY rb DESC) AS rn FROM pairs) r USING (rn);
-- min/max need no aggregate of their own; they follow the btree order too.
SELECT (SELECT a FROM pairs ORDER BY a LIMIT 1) = (SELECT ra FROM pairs ORDER BY ra LIMIT 1)::segrange AS min_agrees,
	(SELECT a FROM pairs ORDER BY a DESC LIMIT 1) = (SELECT ra FROM pairs ORDER BY ra DESC LIMIT 1)::segrange AS max_agrees;

--
-- Joins and grouping on = by hashing and by merging give what int4range gives.
--
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT a FROM pairs GROUP BY a;
SELECT (SELECT count(*) FROM (SELECT a FROM pairs GROUP BY a) g) AS segrange_groups,
	(SELECT count(*) FROM (SELECT ra FROM pairs GROUP BY ra) g) AS int4range_groups;
SELECT count(*) AS group_mismatches
FROM (SELECT a::int4range AS v, count(*) AS n FROM pairs GROUP BY a) s
FULL JOIN (SELECT ra AS v, count(*) AS n FROM pairs GROUP BY ra) r USING (v)
WHERE s.n IS DISTINCT FROM r.n;
RESET enable_sort;

SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM pairs p JOIN pairs q ON p.a = q.b;
SELECT (SELECT count(*) FROM pairs p JOIN pairs q ON p.a = q.b) AS segrange_hash_join,
	(SELECT count(*) FROM pairs p JOIN pairs q ON p.ra = q.rb) AS int4range_join;
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM pairs p JOIN pairs q ON p.a = q.b;
SELECT (SELECT count(*) FROM pairs p JOIN pairs q ON p.a = q.b) AS segrange_merge_join,
	(SELECT count(*) FROM pairs p JOIN pairs q ON p.ra = q.rb) AS int4range_join;
RESET enable_hashjoin;
RESET enable_nestloop;

-- Hash partitioning uses segrange_hash_extended: every row lands in exactly
-- one partition and pruning finds it again.
CREATE TEMP TABLE seg_part (id int, v segrange) PARTITION BY HASH (v);
CREATE TEMP TABLE seg_part_0 PARTITION OF seg_part FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TEMP TABLE seg_part_1 PARTITION OF seg_part FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TEMP TABLE seg_part_2 PARTITION OF seg_part FOR VALUES WITH (MODULUS 3, REMAINDER 2);
INSERT INTO seg_part SELECT id, a FROM pairs;
SELECT count(*) AS rows, count(DISTINCT tableoid) AS partitions_used,
	count(*) FILTER (WHERE NOT satisfies_hash_partition('seg_part'::regclass, 3,
		CASE tableoid WHEN 'seg_part_0'::regclass THEN 0
			WHEN 'seg_part_1'::regclass THEN 1 ELSE 2 END, v)) AS misrouted
FROM seg_part;
EXPLAIN (COSTS OFF) SELECT * FROM seg_part WHERE v = '[2,5)';
SELECT count(*) AS lookups_missing
FROM pairs p
WHERE NOT EXISTS (SELECT 1 FROM seg_part sp WHERE sp.v = p.a AND sp.id = p.id);

--
-- Binary I/O: send/recv round trip through COPY BINARY.
--
\getenv abs_builddir PG_ABS_BUILDDIR
\set binfile :abs_builddir '/results/segrange_ops.bin'
COPY (SELECT id, a, b FROM pairs) TO :'binfile' (FORMAT binary);
CREATE TEMP TABLE pairs_copy (id int, a segrange, b segrange);
COPY pairs_copy FROM :'binfile' (FORMAT binary);
SELECT count(*) AS rows_copied,
	count(*) FILTER (WHERE c.a IS DISTINCT FROM p.a OR c.b IS DISTINCT FROM p.b) AS copy_mismatches
FROM pairs p FULL JOIN pairs_copy c USING (id);

-- segrange_recv validates like the constructor.  A bytea column is written
-- in binary COPY as its raw bytes, so it can smuggle any 8 bytes (two int4,
-- lower then upper) into a segrange column.
CREATE TEMP TABLE recv_target (v segrange);
COPY (SELECT '\x0000000200000005'::bytea) TO :'binfile' (FORMAT binary);
COPY recv_target FROM :'binfile' (FORMAT binary);
COPY (SELECT '\x0000000000007fff'::bytea) TO :'binfile' (FORMAT binary);
COPY recv_target FROM :'binfile' (FORMAT binary);
SELECT v FROM recv_target ORDER BY v;
COPY (SELECT '\x0000000500000002'::bytea) TO :'binfile' (FORMAT binary);
COPY recv_target FROM :'binfile' (FORMAT binary);
COPY (SELECT '\x0000000300000003'::bytea) TO :'binfile' (FORMAT binary);
COPY recv_target FROM :'binfile' (FORMAT binary);
COPY (SELECT '\xffffffff00000003'::bytea) TO :'binfile' (FORMAT binary);
COPY recv_target FROM :'binfile' (FORMAT binary);
COPY (SELECT '\x0000000000008000'::bytea) TO :'binfile' (FORMAT binary);
COPY recv_target FROM :'binfile' (FORMAT binary);
-- too short, too long
COPY (SELECT '\x00000002'::bytea) TO :'binfile' (FORMAT binary);
COPY recv_target FROM :'binfile' (FORMAT binary);
COPY (SELECT '\x000000020000000500'::bytea) TO :'binfile' (FORMAT binary);
COPY recv_target FROM :'binfile' (FORMAT binary);
SELECT count(*) AS rows_after_errors FROM recv_target;

DROP TABLE seg_part, recv_target, pairs_copy, pairs, raw_pairs, edge_seg, edge_stop;
