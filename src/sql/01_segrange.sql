-- ticket.segrange: the legs [from, to) of a journey as a C type, with the
-- operators and btree, hash and GiST operator classes that let an EXCLUDE
-- constraint refuse two live tickets sharing a leg of a seat.

-- the type ------------------------------------------------------------------

CREATE TYPE segrange;

CREATE OR REPLACE FUNCTION segrange_in(cstring) RETURNS segrange
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION segrange_out(segrange) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION segrange_recv(internal) RETURNS segrange
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION segrange_send(segrange) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segrange (
	INPUT = segrange_in,
	OUTPUT = segrange_out,
	RECEIVE = segrange_recv,
	SEND = segrange_send,
	INTERNALLENGTH = 4,
	PASSEDBYVALUE,
	ALIGNMENT = int4,
	STORAGE = plain
);
COMMENT ON TYPE segrange IS 'half-open interval [from, to) of stop indexes on one route: the legs a ticket occupies';
COMMENT ON FUNCTION segrange_in(cstring) IS 'text input of segrange, e.g. ''[2,5)''';
COMMENT ON FUNCTION segrange_out(segrange) IS 'canonical text output of segrange';
COMMENT ON FUNCTION segrange_recv(internal) IS 'binary input of segrange: two int4, validated like text';
COMMENT ON FUNCTION segrange_send(segrange) IS 'binary output of segrange: lower and upper as int4';

-- constructor, accessors, casts ----------------------------------------------

CREATE OR REPLACE FUNCTION segrange(integer, integer) RETURNS segrange
	AS 'MODULE_PATHNAME', 'segrange_make' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segrange(integer, integer) IS 'segment from stop $1 (included) to stop $2 (excluded)';

CREATE OR REPLACE FUNCTION lower(segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'segrange_lower' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lower(segrange) IS 'first stop of the segment (boarding stop)';

CREATE OR REPLACE FUNCTION upper(segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'segrange_upper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION upper(segrange) IS 'stop where the segment ends (alighting stop), excluded';

CREATE OR REPLACE FUNCTION legs(segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'segrange_legs' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION legs(segrange) IS 'number of legs the segment covers';

CREATE OR REPLACE FUNCTION segrange(int4range) RETURNS segrange
	AS 'MODULE_PATHNAME', 'segrange_from_int4range' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segrange(int4range) IS 'convert a bounded, non-empty int4range to segrange';

CREATE OR REPLACE FUNCTION int4range(segrange) RETURNS int4range
	AS 'MODULE_PATHNAME', 'segrange_to_int4range' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION int4range(segrange) IS 'convert segrange to the equal int4range';

CREATE CAST (int4range AS segrange) WITH FUNCTION segrange(int4range);

CREATE CAST (segrange AS int4range) WITH FUNCTION int4range(segrange);
COMMENT ON CAST (int4range AS segrange) IS 'fails for empty or unbounded ranges and for stops outside 0..32767';
COMMENT ON CAST (segrange AS int4range) IS 'always succeeds; the result equals the segment';

-- operators -----------------------------------------------------------------

CREATE OR REPLACE FUNCTION segrange_eq(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_ne(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_lt(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_le(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_gt(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_ge(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_cmp(segrange, segrange) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_overlaps(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_contains(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_contained_by(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_contains_stop(segrange, integer) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_stop_contained_by(integer, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_left(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_right(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_overleft(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_overright(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OR REPLACE FUNCTION segrange_adjacent(segrange, segrange) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION segrange_eq(segrange, segrange) IS 'implementation of = for segrange';
COMMENT ON FUNCTION segrange_ne(segrange, segrange) IS 'implementation of <> for segrange';
COMMENT ON FUNCTION segrange_lt(segrange, segrange) IS 'implementation of < for segrange';
COMMENT ON FUNCTION segrange_le(segrange, segrange) IS 'implementation of <= for segrange';
COMMENT ON FUNCTION segrange_gt(segrange, segrange) IS 'implementation of > for segrange';
COMMENT ON FUNCTION segrange_ge(segrange, segrange) IS 'implementation of >= for segrange';
COMMENT ON FUNCTION segrange_cmp(segrange, segrange) IS 'btree comparison: by lower stop, then upper stop, like int4range';
COMMENT ON FUNCTION segrange_overlaps(segrange, segrange) IS 'implementation of && for segrange';
COMMENT ON FUNCTION segrange_contains(segrange, segrange) IS 'implementation of @> for segrange';
COMMENT ON FUNCTION segrange_contained_by(segrange, segrange) IS 'implementation of <@ for segrange';
COMMENT ON FUNCTION segrange_contains_stop(segrange, integer) IS 'implementation of segrange @> integer: the leg starting at that stop is covered';
COMMENT ON FUNCTION segrange_stop_contained_by(integer, segrange) IS 'implementation of integer <@ segrange';
COMMENT ON FUNCTION segrange_left(segrange, segrange) IS 'implementation of << for segrange';
COMMENT ON FUNCTION segrange_right(segrange, segrange) IS 'implementation of >> for segrange';
COMMENT ON FUNCTION segrange_overleft(segrange, segrange) IS 'implementation of &< for segrange';
COMMENT ON FUNCTION segrange_overright(segrange, segrange) IS 'implementation of &> for segrange';
COMMENT ON FUNCTION segrange_adjacent(segrange, segrange) IS 'implementation of -|- for segrange';

CREATE OPERATOR = (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_eq,
	COMMUTATOR = '=', NEGATOR = '<>',
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);

CREATE OPERATOR <> (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_ne,
	COMMUTATOR = '<>', NEGATOR = '=',
	RESTRICT = neqsel, JOIN = neqjoinsel
);

CREATE OPERATOR < (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_lt,
	COMMUTATOR = '>', NEGATOR = '>=',
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR <= (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_le,
	COMMUTATOR = '>=', NEGATOR = '>',
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);

CREATE OPERATOR > (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_gt,
	COMMUTATOR = '<', NEGATOR = '<=',
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR >= (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_ge,
	COMMUTATOR = '<=', NEGATOR = '<',
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR && (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_overlaps,
	COMMUTATOR = '&&',
	RESTRICT = areasel, JOIN = areajoinsel
);

CREATE OPERATOR @> (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_contains,
	COMMUTATOR = '<@',
	RESTRICT = contsel, JOIN = contjoinsel
);

CREATE OPERATOR <@ (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_contained_by,
	COMMUTATOR = '@>',
	RESTRICT = contsel, JOIN = contjoinsel
);

CREATE OPERATOR @> (
	LEFTARG = segrange, RIGHTARG = integer, PROCEDURE = segrange_contains_stop,
	COMMUTATOR = '<@',
	RESTRICT = contsel, JOIN = contjoinsel
);

CREATE OPERATOR <@ (
	LEFTARG = integer, RIGHTARG = segrange, PROCEDURE = segrange_stop_contained_by,
	COMMUTATOR = '@>',
	RESTRICT = contsel, JOIN = contjoinsel
);

CREATE OPERATOR << (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_left,
	COMMUTATOR = '>>',
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR >> (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_right,
	COMMUTATOR = '<<',
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR &< (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_overleft,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR &> (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_overright,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR -|- (
	LEFTARG = segrange, RIGHTARG = segrange, PROCEDURE = segrange_adjacent,
	COMMUTATOR = '-|-',
	RESTRICT = contsel, JOIN = contjoinsel
);
COMMENT ON OPERATOR = (segrange, segrange) IS 'equal';
COMMENT ON OPERATOR <> (segrange, segrange) IS 'not equal';
COMMENT ON OPERATOR < (segrange, segrange) IS 'less than, ordering by lower then upper stop';
COMMENT ON OPERATOR <= (segrange, segrange) IS 'less than or equal';
COMMENT ON OPERATOR > (segrange, segrange) IS 'greater than';
COMMENT ON OPERATOR >= (segrange, segrange) IS 'greater than or equal';
COMMENT ON OPERATOR && (segrange, segrange) IS 'share at least one leg';
COMMENT ON OPERATOR @> (segrange, segrange) IS 'contains';
COMMENT ON OPERATOR <@ (segrange, segrange) IS 'is contained by';
COMMENT ON OPERATOR @> (segrange, integer) IS 'covers the leg starting at the stop';
COMMENT ON OPERATOR <@ (integer, segrange) IS 'the leg starting at the stop is covered by';
COMMENT ON OPERATOR << (segrange, segrange) IS 'strictly left of';
COMMENT ON OPERATOR >> (segrange, segrange) IS 'strictly right of';
COMMENT ON OPERATOR &< (segrange, segrange) IS 'does not extend to the right of';
COMMENT ON OPERATOR &> (segrange, segrange) IS 'does not extend to the left of';
COMMENT ON OPERATOR -|- (segrange, segrange) IS 'is adjacent to: one ends at the stop where the other starts';

-- btree and hash ------------------------------------------------------------

CREATE OR REPLACE FUNCTION segrange_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segrange_sortsupport(internal) IS 'btree sort support for segrange';

CREATE OPERATOR CLASS segrange_ops
	DEFAULT FOR TYPE segrange USING btree AS
		OPERATOR 1 <,
		OPERATOR 2 <=,
		OPERATOR 3 =,
		OPERATOR 4 >=,
		OPERATOR 5 >,
		FUNCTION 1 segrange_cmp(segrange, segrange),
		FUNCTION 2 segrange_sortsupport(internal);
COMMENT ON OPERATOR CLASS segrange_ops USING btree IS 'btree order of segrange: by lower stop, then upper stop';

CREATE OR REPLACE FUNCTION segrange_hash(segrange) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION segrange_hash_extended(segrange, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segrange_hash(segrange) IS 'hash of a segrange';
COMMENT ON FUNCTION segrange_hash_extended(segrange, bigint) IS 'seeded 64-bit hash of a segrange';

CREATE OPERATOR CLASS segrange_ops
	DEFAULT FOR TYPE segrange USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 segrange_hash(segrange),
		FUNCTION 2 segrange_hash_extended(segrange, bigint);
COMMENT ON OPERATOR CLASS segrange_ops USING hash IS 'hash equality of segrange';

-- GiST ----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION gsegrange_consistent(internal, segrange, smallint, oid, internal) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION gsegrange_union(internal, internal) RETURNS segrange
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION gsegrange_penalty(internal, internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION gsegrange_picksplit(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION gsegrange_same(segrange, segrange, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION gsegrange_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gsegrange_consistent(internal, segrange, smallint, oid, internal) IS 'GiST support: consistent';
COMMENT ON FUNCTION gsegrange_union(internal, internal) IS 'GiST support: union';
COMMENT ON FUNCTION gsegrange_penalty(internal, internal, internal) IS 'GiST support: penalty';
COMMENT ON FUNCTION gsegrange_picksplit(internal, internal) IS 'GiST support: picksplit';
COMMENT ON FUNCTION gsegrange_same(segrange, segrange, internal) IS 'GiST support: same';
COMMENT ON FUNCTION gsegrange_sortsupport(internal) IS 'GiST support: sorted build';

CREATE OPERATOR CLASS segrange_ops
	DEFAULT FOR TYPE segrange USING gist AS
		OPERATOR 1 <<,
		OPERATOR 2 &<,
		OPERATOR 3 &&,
		OPERATOR 4 &>,
		OPERATOR 5 >>,
		OPERATOR 7 @> (segrange, segrange),
		OPERATOR 8 <@ (segrange, segrange),
		OPERATOR 16 @> (segrange, integer),
		OPERATOR 17 -|-,
		OPERATOR 18 =,
		OPERATOR 19 <>,
		OPERATOR 20 <,
		OPERATOR 21 <=,
		OPERATOR 22 >,
		OPERATOR 23 >=,
		FUNCTION 1 gsegrange_consistent(internal, segrange, smallint, oid, internal),
		FUNCTION 2 gsegrange_union(internal, internal),
		FUNCTION 5 gsegrange_penalty(internal, internal, internal),
		FUNCTION 6 gsegrange_picksplit(internal, internal),
		FUNCTION 7 gsegrange_same(segrange, segrange, internal),
		FUNCTION 11 gsegrange_sortsupport(internal);
COMMENT ON OPERATOR CLASS segrange_ops USING gist IS 'GiST index on segrange: overlap, containment, position, adjacency and equality searches, and EXCLUDE (legs WITH &&)';
