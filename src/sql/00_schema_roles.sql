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
