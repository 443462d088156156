-- Jobs: the sweeper that expires unpaid holds (and waitlist requests past
-- their deadline), and its schedule in pg_cron.

-- The sweeper also ends waitlist requests past their deadline.
CREATE OR REPLACE FUNCTION expire_holds() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM require_primary();
	UPDATE waitlist w SET status = 'expired', closed_at = now()
	WHERE w.waitlist_id IN (
		SELECT x.waitlist_id FROM waitlist x
		WHERE x.status = 'waiting' AND x.deadline <= now()
		FOR UPDATE SKIP LOCKED);
	-- SKIP LOCKED: an order being confirmed right now is left to confirm().
	RETURN (SELECT expire_orders(coalesce(array_agg(o.order_id), '{}')) FROM (
		SELECT o.order_id FROM orders o
		WHERE o.status = 'held' AND o.hold_until <= now()
		ORDER BY o.order_id
		FOR UPDATE SKIP LOCKED) o);
END
$$;
COMMENT ON FUNCTION expire_holds() IS 'release every unpaid hold past its deadline (its seats go to the waitlist first) and end waitlist requests past theirs; returns how many orders expired (pg_cron runs it, see schedule_jobs)';
REVOKE EXECUTE ON FUNCTION expire_holds() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expire_holds() TO ticket_admin;

-- pg_cron -------------------------------------------------------------------
--
-- Members of ticket_admin have no rights on pg_cron's schema: these two run
-- as the extension's owner (a superuser), so that they can schedule and
-- remove this one job and nothing else.  The command and the job's name are
-- fixed here; the caller chooses only when it runs.  The job belongs to the
-- owner, so it runs ticket.expire_holds() with the owner's rights, as it did
-- when a superuser scheduled it.

CREATE OR REPLACE FUNCTION schedule_jobs(schedule text DEFAULT '* * * * *') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	job bigint;
BEGIN
	PERFORM require_primary();
	IF to_regproc('cron.schedule_in_database') IS NULL THEN
		RAISE NOTICE 'pg_cron is not installed in this database: holds are not swept automatically'
			USING HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name, CREATE EXTENSION pg_cron, then call ticket.schedule_jobs() again; or run SELECT ticket.expire_holds() from another scheduler.';
		RETURN NULL;
	END IF;
	-- named jobs are upserts in pg_cron, so calling this twice is harmless
	EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database())'
		INTO job USING 'ticket-expire-holds', schedule, 'SELECT ticket.expire_holds()';
	RETURN job;
END
$$;
COMMENT ON FUNCTION schedule_jobs(text) IS 'schedule the hold sweeper as pg_cron job "ticket-expire-holds" (every minute by default); a notice, not an error, without pg_cron';
REVOKE EXECUTE ON FUNCTION schedule_jobs(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schedule_jobs(text) TO ticket_admin;

CREATE OR REPLACE FUNCTION unschedule_jobs() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	found boolean;
BEGIN
	PERFORM require_primary();
	IF to_regclass('cron.job') IS NULL THEN
		RAISE NOTICE 'pg_cron is not installed in this database: nothing to unschedule';
		RETURN false;
	END IF;
	-- cron.unschedule(name) removes the job of that name of the current user
	-- (the owner, here), and fails if it has none
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1 AND username = current_user)'
		INTO found USING 'ticket-expire-holds';
	IF found THEN
		EXECUTE 'SELECT cron.unschedule($1)' USING 'ticket-expire-holds';
	END IF;
	RETURN found;
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS 'remove the hold sweeper from pg_cron; idempotent';
REVOKE EXECUTE ON FUNCTION unschedule_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION unschedule_jobs() TO ticket_admin;
