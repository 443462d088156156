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

-- the extension's locks (src/ticket_locks.c) ----------------------------------
--
-- Not advisory locks: those are one namespace for the whole database, and
-- any login role may take any of them (up to 1.6 a role with no grants at
-- all could stall a run's queue, or a user's grabs, by taking the key the
-- extension used).  These are heavyweight locks whose tag no SQL function
-- can produce; pg_locks shows them as locktype 'advisory' with objsubid
-- 12300 + the kind (queue 12301, serve_queue 12302, queue_batch 12303,
-- waitlist 12304, user 12305, user_run 12306, person 12307, client_run 12308) and the bigint key in classid
-- (high half) and objid (low half).  Internal: only the extension's
-- SECURITY DEFINER functions call them (and its C code, directly).

CREATE OR REPLACE FUNCTION lock_xact(kind text, key bigint, shared boolean DEFAULT false) RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_lock_xact_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION lock_xact(text, bigint, boolean) IS 'internal: wait for one of the extension''s locks (queue, serve_queue, queue_batch, waitlist, user, user_run, person, client_run) and hold it to the end of the transaction';
REVOKE EXECUTE ON FUNCTION lock_xact(text, bigint, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION try_lock_xact(kind text, key bigint, shared boolean DEFAULT false) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ticket_try_lock_xact_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION try_lock_xact(text, bigint, boolean) IS 'internal: take one of the extension''s locks to the end of the transaction if it is free now; false if not';
REVOKE EXECUTE ON FUNCTION try_lock_xact(text, bigint, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION lock_session(kind text, key bigint, shared boolean DEFAULT false) RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_lock_session_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION lock_session(text, bigint, boolean) IS 'internal: wait for one of the extension''s locks and hold it for the session, until unlock_session()';
REVOKE EXECUTE ON FUNCTION lock_session(text, bigint, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION unlock_session(kind text, key bigint, shared boolean DEFAULT false) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ticket_unlock_session_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION unlock_session(text, bigint, boolean) IS 'internal: release one of the extension''s locks held for the session; false (with a warning) if it was not held';
REVOKE EXECUTE ON FUNCTION unlock_session(text, bigint, boolean) FROM PUBLIC;

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
