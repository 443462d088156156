-- The schema belongs to the extension, so DROP EXTENSION removes it too.
-- CREATE EXTENSION restores search_path when the script ends.
CREATE SCHEMA ticket;

SET LOCAL search_path = ticket, pg_catalog;
COMMENT ON SCHEMA ticket IS 'ticket: seat sales for trains, with overlapping bookings made impossible by PostgreSQL itself';

-- roles ---------------------------------------------------------------------
--
-- Two roles, cluster-wide (they outlive DROP EXTENSION on purpose): members
-- of ticket_admin run the timetable and sales, members of ticket_app sell.
-- Every object's grants are written beside it: tables are readable by both
-- and written only through the functions; a function is executable by PUBLIC
-- only where nothing says otherwise, and every one that changes data says
-- which role may call it (internal ones are revoked from PUBLIC).

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ticket_admin') THEN
		CREATE ROLE ticket_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ticket_app') THEN
		CREATE ROLE ticket_app NOLOGIN;
	END IF;
END
$$;
GRANT USAGE ON SCHEMA ticket TO ticket_admin, ticket_app;

-- primary or standby ------------------------------------------------------------
--
-- On a hot standby (a streaming replica, say a Patroni cluster's) the reads
-- run as on the primary; every function that writes calls this first, so
-- that a write sent to a standby fails at once with TK063 and a hint to
-- connect to the primary, not with 25006 from somewhere inside it.
CREATE OR REPLACE FUNCTION require_primary() RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_require_primary' LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION require_primary() IS 'internal: error TK063 (writes go to the primary) when this server is a standby in recovery; nothing on a primary';
REVOKE EXECUTE ON FUNCTION require_primary() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION require_primary() TO ticket_admin, ticket_app;
