-- The schema belongs to the extension, so DROP EXTENSION removes it too.
-- CREATE EXTENSION restores search_path when the script ends.
CREATE SCHEMA ticket;

SET LOCAL search_path = ticket, pg_catalog;
COMMENT ON SCHEMA ticket IS 'ticket: seat sales for trains, with overlapping bookings made impossible by PostgreSQL itself';

-- roles ---------------------------------------------------------------------

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
