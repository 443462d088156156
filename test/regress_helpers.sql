-- Shared by the pg_regress tests (\i test/regress_helpers.sql): show an
-- error's SQLSTATE, message and detail without the source line numbers that
-- VERBOSITY verbose would print.
CREATE OR REPLACE FUNCTION public.regress_error(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	state text;
	message text;
	detail text;
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL;
	RETURN state || ': ' || message || coalesce(E'\n       ' || nullif(detail, ''), '');
END
$$;

-- A valid resident ID number (GB 11643 check character) per n, born
-- 1 January 1980 in Beijing: passengers of the tests.
CREATE OR REPLACE FUNCTION public.resident_id_no(n integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT d || substr('10X98765432', (SELECT sum(substr(d, i, 1)::integer * w[i]) FROM generate_series(1, 17) i)::integer % 11 + 1, 1)
	FROM (SELECT '11010519800101' || lpad(n::text, 3, '0') AS d,
	             '{7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2}'::integer[] AS w) x
$$;
