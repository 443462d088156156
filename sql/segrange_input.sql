-- Text, binary and constructor input of segrange: what is accepted, what is
-- refused and with which SQLSTATE.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ticket CASCADE;
RESET client_min_messages;
SET search_path = ticket, public;

\i test/regress_helpers.sql

-- canonical forms, white space around and inside
SELECT '[2,5)'::segrange, ' [2,5) '::segrange, E'\t[ 2 , 5 )\n'::segrange,
       '[002,05)'::segrange, '[0,1)'::segrange, '[32766,32767)'::segrange,
       '[0,32767)'::segrange;

-- a ticket from stop 2 to stop 5 occupies legs 2, 3 and 4
SELECT lower(s), upper(s), legs(s), s @> 2 AS leg2, s @> 4 AS leg4, s @> 5 AS leg5
FROM (VALUES ('[2,5)'::segrange)) v(s);

-- routes of 1,000 stops and more are representable
SELECT segrange(0, 1000), legs(segrange(0, 1000)), segrange(999, 1000);

-- bad text input, each with its SQLSTATE
SELECT regress_error($q$SELECT '[5,2)'::segrange$q$);
SELECT regress_error($q$SELECT '[3,3)'::segrange$q$);
SELECT regress_error($q$SELECT '[-1,3)'::segrange$q$);
SELECT regress_error($q$SELECT '(1,2]'::segrange$q$);
SELECT regress_error($q$SELECT '[1,2]'::segrange$q$);
SELECT regress_error($q$SELECT '[1,2'::segrange$q$);
SELECT regress_error($q$SELECT '[1,2)x'::segrange$q$);
SELECT regress_error($q$SELECT ''::segrange$q$);
SELECT regress_error($q$SELECT '   '::segrange$q$);
SELECT regress_error($q$SELECT 'empty'::segrange$q$);
SELECT regress_error($q$SELECT '[,2)'::segrange$q$);
SELECT regress_error($q$SELECT '[1 2)'::segrange$q$);
SELECT regress_error($q$SELECT '[+1,2)'::segrange$q$);
SELECT regress_error($q$SELECT '[1.5,2)'::segrange$q$);
SELECT regress_error($q$SELECT '[1,32768)'::segrange$q$);
SELECT regress_error($q$SELECT '[1,2147483648)'::segrange$q$);
SELECT regress_error($q$SELECT '[1,99999999999999999999999999)'::segrange$q$);
SELECT regress_error($q$SELECT E'[1,2)\x01'::segrange$q$);

-- constructor and casts
SELECT regress_error($q$SELECT segrange(5, 2)$q$);
SELECT regress_error($q$SELECT segrange(3, 3)$q$);
SELECT regress_error($q$SELECT segrange(-1, 3)$q$);
SELECT regress_error($q$SELECT segrange(0, 40000)$q$);
SELECT regress_error($q$SELECT 'empty'::int4range::segrange$q$);
SELECT regress_error($q$SELECT '[1,)'::int4range::segrange$q$);
SELECT regress_error($q$SELECT '(,5)'::int4range::segrange$q$);
SELECT regress_error($q$SELECT '[-3,5)'::int4range::segrange$q$);
SELECT '[1,4]'::int4range::segrange AS from_closed, '(1,4)'::int4range::segrange AS from_open,
       '[2,5)'::segrange::int4range AS to_int4range;
SELECT segrange(NULL, 3) IS NULL AS strict_null;

-- random bytes never crash the parser and never produce a value
DO $$
DECLARE
	accepted int := 0;
	refused int := 0;
	s text;
BEGIN
	PERFORM setseed(0.42);
	FOR i IN 1..3000 LOOP
		SELECT string_agg(chr(1 + floor(random() * 126)::int), '')
		  INTO s FROM generate_series(1, 1 + floor(random() * 12)::int);
		BEGIN
			PERFORM s::segrange;
			-- only inputs that really are segments may get through
			IF s !~ '^\s*\[\s*\d+\s*,\s*\d+\s*\)\s*$' THEN
				RAISE EXCEPTION 'accepted garbage: %', s;
			END IF;
			accepted := accepted + 1;
		EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
			refused := refused + 1;
		END;
	END LOOP;
	RAISE NOTICE 'random inputs: % refused, % accepted', refused, accepted;
END
$$;

-- binary input repeats the checks of text input: write a valid COPY BINARY
-- file, patch bytes of the first value, and read it back.  The header is 19
-- bytes; a tuple is a 2-byte field count, a 4-byte length, then the value as
-- lower and upper int4 (bytes 25..28 and 29..32 of the file).
CREATE TEMP TABLE wire (s segrange);
CREATE FUNCTION pg_temp.copy_patched(byte_no int, new_byte int) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	path text := '/tmp/ticket_wire_' || pg_backend_pid() || '.bin';
	image bytea;
	lo oid;
BEGIN
	TRUNCATE wire;
	INSERT INTO wire VALUES ('[2,5)'), ('[0,32767)');
	EXECUTE format('COPY wire TO %L WITH (FORMAT binary)', path);
	image := pg_read_binary_file(path);
	IF byte_no IS NOT NULL THEN
		image := set_byte(image, byte_no, new_byte);
	END IF;
	lo := lo_from_bytea(0, image);
	PERFORM lo_export(lo, path);
	PERFORM lo_unlink(lo);
	TRUNCATE wire;
	EXECUTE format('COPY wire FROM %L WITH (FORMAT binary)', path);
	RETURN QUERY SELECT s::text FROM wire ORDER BY s;
END
$$;
SELECT * FROM pg_temp.copy_patched(NULL, NULL);   -- untouched round trip
SELECT * FROM pg_temp.copy_patched(28, 1);        -- [1,5) is fine
SELECT regress_error($q$SELECT * FROM pg_temp.copy_patched(28, 9)$q$);        -- [9,5) reversed
SELECT regress_error($q$SELECT * FROM pg_temp.copy_patched(28, 5)$q$);        -- [5,5) empty
SELECT regress_error($q$SELECT * FROM pg_temp.copy_patched(25, 255)$q$);      -- negative lower
SELECT regress_error($q$SELECT * FROM pg_temp.copy_patched(31, 255)$q$);      -- upper above 32767
