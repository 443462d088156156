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
