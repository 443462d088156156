-- Overload (README "Hot trains and overload"): hot runs sold only through
-- the queue (热点隔离), and the breaker that degrades non-core calls while
-- the server is overloaded (降级熔断).  grab, enqueue, confirm, cancel and
-- refund are never degraded.

-- hot runs ------------------------------------------------------------------
--
-- A run marked hot refuses direct grabs (both forms) with TK080 and a hint
-- to enqueue: its rush is served in order by the queue, whose worker seats
-- requests without grab().  An administrator marks it (ticket.set_run_hot),
-- or the queue rule does: a batch of serve_queue() that finds the run's
-- queue at least setting('hot_queue_length') long marks it for
-- setting('hot_cooldown_seconds'), and every later batch that finds it at
-- least half that long extends the mark; once no batch has for the
-- cooldown, the mark lapses by itself.  An administrator's mark stays until
-- an administrator removes it.
CREATE TABLE hot_run (
	run_id bigint PRIMARY KEY REFERENCES run ON DELETE CASCADE,
	reason text NOT NULL CHECK (reason IN ('admin', 'queue_length')),
	marked_at timestamptz NOT NULL DEFAULT now(),
	until timestamptz,
	CHECK ((reason = 'admin') = (until IS NULL))
);
COMMENT ON TABLE hot_run IS 'runs sold only through the queue: direct grabs refused with TK080; marked by an administrator (until NULL: until removed) or by the queue-length rule (until its deadline)';
COMMENT ON COLUMN hot_run.until IS 'when an automatic mark lapses (extended while the queue stays long); NULL for an administrator''s mark';
GRANT SELECT ON hot_run TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('hot_run', '');

CREATE OR REPLACE FUNCTION run_hot(run_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ticket_run_hot' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION run_hot(bigint) IS 'is the run hot now (marked, and an automatic mark not lapsed), as committed at this instant whatever the caller''s snapshot';
REVOKE EXECUTE ON FUNCTION run_hot(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION run_hot(bigint) TO ticket_app, ticket_admin;

-- grab's step: a hot run is sold through the queue only.  (The waitlist and
-- the queue's batches do not come through here.)
CREATE OR REPLACE FUNCTION check_not_hot(run_id bigint, train text, service_date date) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF run_hot(run_id) THEN
		RAISE EXCEPTION 'train % on % is hot: it is sold through the queue only', upper(btrim(train)), service_date
			USING ERRCODE = 'TK080',
			DETAIL = 'Direct grabs on this run are refused so that its rush is served in order.',
			HINT = 'Queue the same request with ticket.enqueue() and wait for it with ticket.queue_wait().';
	END IF;
END
$$;
COMMENT ON FUNCTION check_not_hot(bigint, text, date) IS 'internal: grab''s step, error TK080 (with a hint to enqueue) when the run is hot';
REVOKE EXECUTE ON FUNCTION check_not_hot(bigint, text, date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION set_run_hot(train text, service_date date, hot boolean) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	rid bigint;
BEGIN
	PERFORM require_primary();
	IF hot IS NULL OR service_date IS NULL THEN
		RAISE EXCEPTION 'service date and hot must not be null' USING ERRCODE = 'TK017';
	END IF;
	SELECT r.run_id INTO rid FROM run r WHERE r.train_id = train_id(set_run_hot.train)
	  AND r.service_date = set_run_hot.service_date;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such run: train % on %', upper(train), service_date
			USING ERRCODE = 'TK008', HINT = 'An administrator opens sales with ticket.open_sales().';
	END IF;
	IF hot THEN
		-- an automatic mark becomes the administrator's
		INSERT INTO hot_run AS h (run_id, reason, until) VALUES (rid, 'admin', NULL)
		ON CONFLICT ON CONSTRAINT hot_run_pkey DO UPDATE SET reason = 'admin', until = NULL,
			marked_at = CASE WHEN h.reason = 'admin' THEN h.marked_at ELSE now() END;
	ELSE
		DELETE FROM hot_run h WHERE h.run_id = rid;
	END IF;
	RETURN hot;
END
$$;
COMMENT ON FUNCTION set_run_hot(text, date, boolean) IS 'mark a run hot (true: direct grabs refused with TK080, sold through the queue only, until unmarked) or unmark it (false: also ends an automatic mark, which the queue rule may set again); effective for every grab that starts after the commit';
REVOKE EXECUTE ON FUNCTION set_run_hot(text, date, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_run_hot(text, date, boolean) TO ticket_admin;

CREATE VIEW hot_runs AS
SELECT t.code AS train, r.service_date, h.reason, h.marked_at, h.until
FROM hot_run h JOIN run r USING (run_id) JOIN train t USING (train_id)
WHERE h.until IS NULL OR h.until > now();
COMMENT ON VIEW hot_runs IS 'the runs that are hot now, by train and date, with why (admin, queue_length), since when and until when (NULL: until an administrator unmarks it)';
GRANT SELECT ON hot_runs TO ticket_admin, ticket_app;

-- serve_queue's last step: the queue-length rule.  The queue's length when
-- the batch began: from its first request (first_position) to the last
-- one accepted, which still waits or was the batch's own last
-- (last_position).  Positions are handed out in order of acceptance, so
-- this is how many were in line, whichever path they wait on.
CREATE OR REPLACE FUNCTION queue_hot_rule(run_id bigint, first_position bigint, last_position bigint) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	level numeric := setting('hot_queue_length');
	cooldown interval;
	len bigint;
BEGIN
	IF level = 0 THEN
		RETURN;	-- the rule is off (the default)
	END IF;
	cooldown := make_interval(secs => setting('hot_cooldown_seconds'));
	SELECT greatest(max(w.last_position), queue_hot_rule.last_position) - first_position + 1 INTO len
	FROM waiting_requests() w WHERE w.run_id = queue_hot_rule.run_id;
	IF len >= level THEN
		INSERT INTO hot_run AS h (run_id, reason, until) VALUES (queue_hot_rule.run_id, 'queue_length', now() + cooldown)
		ON CONFLICT ON CONSTRAINT hot_run_pkey DO UPDATE SET until = excluded.until,
			marked_at = CASE WHEN h.until <= now() THEN now() ELSE h.marked_at END
		WHERE h.reason = 'queue_length';
	ELSIF len * 2 >= level THEN
		-- hysteresis: a queue still half as long keeps a live mark alive
		UPDATE hot_run h SET until = now() + cooldown
		WHERE h.run_id = queue_hot_rule.run_id AND h.reason = 'queue_length' AND h.until > now();
	ELSE
		DELETE FROM hot_run h
		WHERE h.run_id = queue_hot_rule.run_id AND h.reason = 'queue_length' AND h.until <= now();
	END IF;
END
$$;
COMMENT ON FUNCTION queue_hot_rule(bigint, bigint, bigint) IS 'internal: serve_queue''s last step, marks a run hot for hot_cooldown_seconds when its queue was at least hot_queue_length long as the batch began (0: never), extends the mark while it is at least half that';
REVOKE EXECUTE ON FUNCTION queue_hot_rule(bigint, bigint, bigint) FROM PUBLIC;

-- the breaker ---------------------------------------------------------------
--
-- Mode (setting breaker_mode, set with ticket.set_breaker()): off (0) never
-- trips; auto (1, the default) trips on the measured signal, the number of
-- other active client backends of this database, when it reaches
-- breaker_trip_backends (0, the default: never), and recovers once every
-- sample for breaker_hold_seconds was under half of that (src/breaker.c); on
-- (2) is tripped by the administrator until set back.

CREATE OR REPLACE FUNCTION breaker_check(mode integer, trip_level integer, hold_seconds integer) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ticket_breaker_check' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION breaker_check(integer, integer, integer) IS 'internal: is the breaker tripped now, for a mode (0 off, 1 auto, 2 on), trip level and hold time; samples the signal and moves the automatic state';
REVOKE EXECUTE ON FUNCTION breaker_check(integer, integer, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION breaker_state(OUT tripped boolean, OUT signal integer, OUT sampled_at timestamptz,
	OUT tripped_at timestamptz, OUT recovered_at timestamptz, OUT trips bigint)
	AS 'MODULE_PATHNAME', 'ticket_breaker_state' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION breaker_state() IS 'internal: the automatic breaker''s state as the last check left it (all NULL without the library preloaded)';
REVOKE EXECUTE ON FUNCTION breaker_state() FROM PUBLIC;

-- SECURITY DEFINER: the levels are the administrator's; a caller cannot
-- hand breaker_check() its own
CREATE OR REPLACE FUNCTION degraded() RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT breaker_check(setting('breaker_mode')::integer, setting('breaker_trip_backends')::integer,
	                     setting('breaker_hold_seconds')::integer)
$$;
COMMENT ON FUNCTION degraded() IS 'is the breaker tripped now (by the administrator, or automatically on the number of active backends): non-core calls are degraded while it is';
REVOKE EXECUTE ON FUNCTION degraded() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION degraded() TO ticket_app, ticket_admin;

-- The degraded answer of a non-core call: TK081, try later.
CREATE OR REPLACE FUNCTION check_not_degraded(what text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF degraded() THEN
		RAISE EXCEPTION 'degraded: % is off while the server is overloaded, try later', what
			USING ERRCODE = 'TK081',
			DETAIL = 'The overload breaker is tripped; grab, enqueue, confirm, cancel and refund keep working.',
			HINT = 'Try again in a few seconds.';
	END IF;
END
$$;
COMMENT ON FUNCTION check_not_degraded(text) IS 'internal: error TK081 (degraded, try later) naming a non-core call while the breaker is tripped';
REVOKE EXECUTE ON FUNCTION check_not_degraded(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION check_not_degraded(text) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION set_breaker(mode text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	m integer := CASE lower(btrim(mode)) WHEN 'off' THEN 0 WHEN 'auto' THEN 1 WHEN 'on' THEN 2 END;
BEGIN
	PERFORM require_primary();
	IF m IS NULL THEN
		RAISE EXCEPTION 'invalid breaker mode: "%"', left(mode, 40) USING ERRCODE = 'TK055',
			HINT = 'The modes are off, auto and on.';
	END IF;
	PERFORM set_setting('breaker_mode', m);
	RETURN lower(btrim(mode));
END
$$;
COMMENT ON FUNCTION set_breaker(text) IS 'the overload breaker''s mode: on (tripped by the administrator: non-core calls degraded until set back), auto (trips on breaker_trip_backends active backends, recovers under half of that after breaker_hold_seconds) or off';
REVOKE EXECUTE ON FUNCTION set_breaker(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_breaker(text) TO ticket_admin;

CREATE OR REPLACE FUNCTION breaker_status(OUT mode text, OUT degraded boolean, OUT signal integer,
	OUT trip_level integer, OUT recover_below numeric, OUT hold_seconds integer, OUT sampled_at timestamptz,
	OUT tripped_at timestamptz, OUT recovered_at timestamptz, OUT trips bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	mode := (ARRAY['off', 'auto', 'on'])[setting('breaker_mode')::integer + 1];
	degraded := ticket.degraded();
	trip_level := setting('breaker_trip_backends');
	recover_below := round(trip_level / 2.0, 1);
	hold_seconds := setting('breaker_hold_seconds');
	SELECT * INTO s FROM breaker_state();
	signal := s.signal;
	sampled_at := s.sampled_at;
	tripped_at := s.tripped_at;
	recovered_at := s.recovered_at;
	trips := s.trips;
END
$$;
COMMENT ON FUNCTION breaker_status() IS 'the overload breaker: mode, degraded now, the last sample of the signal (other active client backends of this database), trip level, recovery level, hold time, when it last tripped and recovered, automatic trips since the server started';
REVOKE EXECUTE ON FUNCTION breaker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION breaker_status() TO ticket_admin;
