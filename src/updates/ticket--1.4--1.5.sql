/* ticket--1.4--1.5.sql: queue wake-ups, scans that start after the last request served, waitlist requests with passengers */

\echo Use "ALTER EXTENSION ticket UPDATE TO '1.5'" to load this file. \quit

SET LOCAL search_path = ticket, pg_catalog;

-- Wake-ups (src/queue_signal.c) ------------------------------------------------
--
-- With ticket in shared_preload_libraries (the queue worker needs it anyway)
-- a committed batch wakes the sessions waiting in queue_wait() on its run,
-- and a committed enqueue wakes the worker, instead of both looking again
-- and again.  Not preloaded, queue_batch_count() is NULL and queue_wait()
-- waits as before.

CREATE FUNCTION queue_batch_count(run_id bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ticket_queue_batch_count' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_batch_count(bigint) IS 'internal: batches committed so far on the wake-up slot of a run (NULL: ticket is not preloaded, no wake-ups)';

CREATE FUNCTION queue_sleep(run_id bigint, seen bigint, until timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ticket_queue_sleep' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_sleep(bigint, bigint, timestamptz) IS 'internal: sleep until a batch of the run''s wake-up slot commits after the count seen, until the given time, or at most a second; true if a batch came';

CREATE FUNCTION queue_notify_served(run_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_queue_notify_served' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_notify_served(bigint) IS 'internal: when this transaction commits, wake the sessions waiting in queue_wait() on the run';


-- Requests in shared memory (src/queue_ring.c) ---------------------------------
--
-- With the library preloaded, enqueue() keeps a request in shared memory
-- until a server serves it: it writes no row, so a click costs a lookup of
-- the journey and a few checks.  serve_queue() takes the run's requests
-- from there in order (never past one still being accepted) and writes
-- them to queue_request in the batch that serves them.

CREATE FUNCTION queue_ring_take(run_id bigint, batch_size integer,
	OUT request_id bigint, OUT queue_position bigint, OUT user_id bigint, OUT from_stop integer,
	OUT to_stop integer, OUT seat_class integer, OUT client_request_id text, OUT accepted_at timestamptz,
	OUT ahead_when_accepted bigint, OUT served_when_accepted bigint)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_take' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_ring_take(bigint, integer) IS 'internal: up to batch_size requests of a run waiting in shared memory, in order, stopping before one still being accepted; they are this transaction''s until it commits (then gone) or aborts (then waiting again)';

CREATE FUNCTION queue_ring_runs() RETURNS SETOF bigint
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_runs' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION queue_ring_runs() IS 'internal: runs of this database with requests waiting in shared memory';

CREATE FUNCTION queue_ring_request(request_id bigint,
	OUT run_id bigint, OUT queue_position bigint, OUT ahead_when_accepted bigint, OUT served_when_accepted bigint)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_request' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_ring_request(bigint) IS 'internal: a request still waiting in shared memory (no row: served, or not there)';

CREATE FUNCTION queue_ring_waiting(OUT run_id bigint, OUT waiting bigint, OUT last_position bigint)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_waiting' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION queue_ring_waiting() IS 'internal: per run, the requests waiting in shared memory and the highest position among them';

-- What is queued now, wherever it waits: waiting requests are in shared
-- memory (preloaded) or in queue_request (not preloaded, or written by a
-- batch that has not committed).
CREATE FUNCTION waiting_requests(OUT run_id bigint, OUT waiting bigint, OUT last_position bigint)
RETURNS SETOF record
LANGUAGE sql VOLATILE SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT x.run_id, sum(x.waiting)::bigint, max(x.last_position)
	FROM (SELECT q.run_id, count(*), max(q.queue_position) FROM queue_request q
	      WHERE q.status = 'waiting' GROUP BY q.run_id
	      UNION ALL
	      SELECT r.run_id, r.waiting, r.last_position FROM queue_ring_waiting() r) x(run_id, waiting, last_position)
	GROUP BY x.run_id ORDER BY x.run_id
$$;
COMMENT ON FUNCTION waiting_requests() IS 'per run with queued requests not served yet: how many wait and the highest position handed out among them (administration and monitoring)';

CREATE OR REPLACE FUNCTION queued_runs() RETURNS TABLE (run_id bigint)
LANGUAGE sql VOLATILE SET search_path = ticket, pg_catalog, pg_temp AS $$
	-- the distinct runs of the waiting-requests index, one probe per run
	WITH RECURSIVE runs AS (
		(SELECT q.run_id FROM queue_request q WHERE q.status = 'waiting' ORDER BY q.run_id LIMIT 1)
		UNION ALL
		SELECT (SELECT q.run_id FROM queue_request q
		        WHERE q.status = 'waiting' AND q.run_id > runs.run_id ORDER BY q.run_id LIMIT 1)
		FROM runs WHERE runs.run_id IS NOT NULL)
	SELECT runs.run_id FROM runs WHERE runs.run_id IS NOT NULL
	UNION
	SELECT x.run_id FROM queue_ring_runs() x(run_id)
	ORDER BY 1
$$;

-- Sessions keep the journeys enqueue resolved (train, date and stations to
-- run and stops) while the timetable does not change; every change of it
-- is counted in shared memory, at the statement and again at commit.
CREATE FUNCTION timetable_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'ticket_timetable_changed' LANGUAGE C;
COMMENT ON FUNCTION timetable_changed() IS 'internal trigger: the timetable changed, so sessions drop the journeys they keep';
CREATE TRIGGER station_timetable_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON station
	FOR EACH STATEMENT EXECUTE FUNCTION timetable_changed();
CREATE TRIGGER stop_timetable_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stop
	FOR EACH STATEMENT EXECUTE FUNCTION timetable_changed();
CREATE TRIGGER train_timetable_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON train
	FOR EACH STATEMENT EXECUTE FUNCTION timetable_changed();
CREATE TRIGGER run_timetable_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON run
	FOR EACH STATEMENT EXECUTE FUNCTION timetable_changed();

-- The queue ---------------------------------------------------------------------

-- Requests are served in order, so every request of a run still waiting
-- comes after the last one served: enqueue and the batches start their
-- scans there instead of walking the index entries of served requests that
-- wait for vacuum (thousands in a rush).
ALTER TABLE queue_head ADD COLUMN last_position bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN queue_head.last_position IS 'queue_position of the last request of the run served: every request still waiting comes after it';

-- enqueue in C (src/queue_enqueue.c): the same checks, messages and
-- SQLSTATEs as 1.2 in a few kept plans; with the library preloaded the
-- request goes into shared memory (src/queue_ring.c), else into the table.
CREATE OR REPLACE FUNCTION enqueue(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL, request_id text DEFAULT NULL)
RETURNS queue_entry
	AS 'MODULE_PATHNAME', 'ticket_enqueue'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp;
COMMENT ON FUNCTION enqueue(bigint, text, date, text, text, text, text) IS 'queue a grab (same arguments as ticket.grab): returns at once with the request id and its position; requests of a run are served strictly in order, in batches; TK018 when the queue is full';

CREATE OR REPLACE FUNCTION queue_status(request_id bigint,
	OUT status text, OUT queue_position bigint, OUT ahead bigint, OUT estimated_wait interval,
	OUT order_id bigint, OUT carriage integer, OUT seat_no text, OUT hold_until timestamptz,
	OUT error_sqlstate text, OUT error_message text)
LANGUAGE plpgsql VOLATILE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	q queue_request;
	h queue_head;
BEGIN
	SELECT * INTO q FROM queue_request x WHERE x.request_id = queue_status.request_id;
	IF NOT FOUND THEN
		-- still waiting in shared memory?  (A server writes it to the table
		-- and commits before it lets go of it there, so the second look at
		-- the table, with a new snapshot, finds one served in between.)
		SELECT x.run_id, x.queue_position, x.ahead_when_accepted, x.served_when_accepted, 'waiting'
		INTO q.run_id, q.queue_position, q.ahead_when_accepted, q.served_when_accepted, q.status
		FROM queue_ring_request(queue_status.request_id) x;
		IF NOT FOUND THEN
			SELECT * INTO q FROM queue_request x WHERE x.request_id = queue_status.request_id;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'no such queued request: %', request_id USING ERRCODE = 'TK019';
			END IF;
		END IF;
	END IF;
	status := q.status;
	queue_position := q.queue_position;
	IF q.status = 'waiting' THEN
		-- Served in order: whatever was served since this request was
		-- accepted was ahead of it.  (Requests still being accepted then
		-- were not counted, so this errs on the short side; never below 0.)
		SELECT * INTO h FROM queue_head x WHERE x.run_id = q.run_id;
		ahead := greatest(q.ahead_when_accepted - (coalesce(h.served, 0) - q.served_when_accepted), 0);
		estimated_wait := make_interval(secs => (ahead + 1) * coalesce(h.seconds_per_request, 0.001));
	ELSIF q.status = 'done' THEN
		-- (what order_row() tells, in one statement: this runs for every answer)
		SELECT o.order_id, s.carriage_no, s.seat_no, o.hold_until
		INTO queue_status.order_id, carriage, seat_no, hold_until
		FROM orders o
		JOIN LATERAL (SELECT t.seat_id FROM tickets t WHERE t.order_id = o.order_id
		              ORDER BY t.ticket_id DESC LIMIT 1) t ON true
		JOIN seat s ON s.seat_id = t.seat_id
		WHERE o.order_id = q.order_id;
	ELSE
		error_sqlstate := q.error_sqlstate;
		error_message := q.error_message;
	END IF;
END
$$;
COMMENT ON FUNCTION queue_status(bigint) IS 'a queued request (call it in READ COMMITTED): waiting (position, requests ahead, estimated wait), done (its order, seat and hold deadline) or failed (SQLSTATE and message, as ticket.grab would have raised)';

-- Wait for a queued request's answer, up to a timeout, without polling.
-- With the library preloaded, the caller sleeps until a batch of its run
-- commits (queue_sleep); otherwise on the lock a batch of the run holds
-- until it commits.  It looks again after each batch.
-- queue_wait in C (src/queue_enqueue.c): a request waiting in shared
-- memory sleeps there until a batch has served it; one waiting in the table
-- sleeps until a batch of its run commits (or, not preloaded, on the lock a
-- batch holds); then one query gives the answer.
CREATE OR REPLACE FUNCTION queue_wait(request_id bigint, timeout interval DEFAULT '30 seconds',
	OUT status text, OUT queue_position bigint, OUT ahead bigint, OUT estimated_wait interval,
	OUT order_id bigint, OUT carriage integer, OUT seat_no text, OUT hold_until timestamptz,
	OUT error_sqlstate text, OUT error_message text)
	AS 'MODULE_PATHNAME', 'ticket_queue_wait' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION queue_wait(bigint, interval) IS 'queue_status() once the request is served or the timeout (default 30 s) has passed, whichever comes first; sleeps while batches are served instead of polling';

CREATE OR REPLACE FUNCTION serve_queue(run_id bigint DEFAULT NULL, batch_size integer DEFAULT 500)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	r record;
	n integer := 0;
	started timestamptz := clock_timestamp();
	ids bigint[];
	positions bigint[];
	served_up_to bigint;
	ring_top bigint;
	ring_top_id bigint;
	users bigint[];
	journeys segrange[];
	wanted integer[];
	client_ids text[];
	fail_state text[];
	fail_message text[];
	unpaid record;
	stale bigint[];
	maps bytea[];
	map_class integer[];
	map_carriage integer[];
	seating integer[];
	unseated boolean;
	service_nos bigint[];
	horizon bigint;
	got booking;
	until timestamptz := now() + hold_timeout();
	state text;
	message text;
BEGIN
	IF batch_size IS NULL OR batch_size < 1 THEN
		RAISE EXCEPTION 'batch size must be at least 1' USING ERRCODE = 'TK017';
	END IF;
	IF run_id IS NULL THEN
		FOR r IN SELECT x.run_id FROM queued_runs() x LOOP
			n := n + serve_queue(r.run_id, batch_size);
		END LOOP;
		RETURN n;
	END IF;

	-- one server per run at a time; another one busy with it will get to these
	IF NOT pg_try_advisory_xact_lock(hashtext('ticket.serve_queue'), hashint8(serve_queue.run_id)) THEN
		RETURN 0;
	END IF;
	-- A batch is under way: queue_wait() callers sleep on this until it
	-- commits.  Only tried: a caller may hold it for an instant, and the
	-- batch must not wait for callers (they then look again a little later).
	PERFORM pg_try_advisory_xact_lock(hashtext('ticket.queue_batch'), hashint8(serve_queue.run_id));
	SELECT ru.run_id, ru.train_id, ru.status, ru.service_date, t.code INTO r
	FROM run ru JOIN train t USING (train_id) WHERE ru.run_id = serve_queue.run_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such run: %', run_id USING ERRCODE = 'TK008';
	END IF;

	-- The horizon: wait for the run's enqueuers in flight (see above).  A
	-- session lock, released at once, so enqueuers wait only for an instant.
	-- Served in order, so every request still waiting comes after the last
	-- one served: the scan starts there, not at the served requests whose
	-- index entries wait for vacuum.
	SELECT coalesce(max(h.last_position), 0) INTO served_up_to FROM queue_head h WHERE h.run_id = r.run_id;
	PERFORM pg_advisory_lock(hashtext('ticket.queue'), hashint8(r.run_id));
	SELECT s.last_value INTO horizon FROM queue_position_seq s;
	PERFORM pg_advisory_unlock(hashtext('ticket.queue'), hashint8(r.run_id));
	-- Requests waiting in shared memory come after every one in the table
	-- (they are numbered on from the sequences): written here, served below
	-- with the rest, in order.  The sequences are moved past their numbers,
	-- so requests accepted into the table later (the library no longer
	-- preloaded) still come after them.
	WITH taken AS (
		INSERT INTO queue_request AS q (request_id, run_id, queue_position, user_id, client_request_id,
			seat_class, legs, accepted_at, ahead_when_accepted, served_when_accepted)
		SELECT t.request_id, r.run_id, t.queue_position, t.user_id, t.client_request_id,
		       (enum_range(NULL::seat_class))[t.seat_class], segrange(t.from_stop, t.to_stop), t.accepted_at,
		       t.ahead_when_accepted, t.served_when_accepted
		FROM queue_ring_take(r.run_id, batch_size) t
		-- a request id used twice at the same instant: the one accepted first stands
		ON CONFLICT DO NOTHING
		RETURNING q.queue_position, q.request_id)
	SELECT max(t.queue_position), max(t.request_id) INTO ring_top, ring_top_id FROM taken t;
	IF ring_top > horizon THEN
		horizon := ring_top;
		PERFORM setval('queue_position_seq', ring_top);
	END IF;
	IF ring_top_id > (SELECT s.last_value FROM queue_request_request_id_seq s) THEN
		PERFORM setval('queue_request_request_id_seq', ring_top_id);
	END IF;

	SELECT array_agg(x.request_id ORDER BY x.queue_position), array_agg(x.user_id ORDER BY x.queue_position),
	       array_agg(x.legs ORDER BY x.queue_position),
	       array_agg(array_position(enum_range(NULL::seat_class), x.seat_class) ORDER BY x.queue_position),
	       array_agg(x.client_request_id ORDER BY x.queue_position),
	       array_agg(x.queue_position ORDER BY x.queue_position)
	INTO ids, users, journeys, wanted, client_ids, positions
	FROM (SELECT * FROM queue_request q
	      WHERE q.run_id = r.run_id AND q.status = 'waiting'
	        AND q.queue_position > served_up_to AND q.queue_position <= horizon
	      ORDER BY q.queue_position LIMIT batch_size) x;
	n := coalesce(cardinality(ids), 0);
	IF n = 0 THEN
		RETURN 0;
	END IF;
	fail_state := array_fill(NULL::text, ARRAY[n]);
	fail_message := fail_state;

	BEGIN
		PERFORM lock_run_inventory(r.run_id);
		IF r.status <> 'open' THEN
			fail_state := array_fill('TK012'::text, ARRAY[n]);
			fail_message := array_fill(format('sales are not open for train %s on %s', r.code, r.service_date), ARRAY[n]);
		END IF;

		-- Unpaid orders of these users on the run.  Ones past their deadline
		-- are expired here, unless their payment holds them right now (it
		-- waits for the carriages this batch holds: waiting for it here
		-- would deadlock); then they still count.
		SELECT array_agg(o.order_id) INTO stale FROM orders o
		WHERE o.run_id = r.run_id AND o.status = 'held' AND o.user_id = ANY (users) AND o.hold_until <= now();
		IF stale IS NOT NULL THEN
			SELECT array_agg(x.order_id) INTO stale FROM (
				SELECT o.order_id FROM orders o
				WHERE o.order_id = ANY (stale) AND o.status = 'held' FOR UPDATE SKIP LOCKED) x;
			PERFORM expire_orders(stale);
		END IF;
		-- (one waiting request per user and run, so a user is at one place)
		FOR unpaid IN
			-- LATERAL ... LIMIT 1: one probe of the (user, run) index per user,
			-- never a scan of the run's orders, whatever the statistics say
			SELECT u.i FROM unnest(users) WITH ORDINALITY u(user_id, i)
			JOIN LATERAL (SELECT 1 FROM orders o
			              WHERE o.user_id = u.user_id AND o.run_id = r.run_id AND o.status = 'held'
			              LIMIT 1) o ON true
		LOOP
			fail_state[unpaid.i] := coalesce(fail_state[unpaid.i], 'TK002');
			fail_message[unpaid.i] := coalesce(fail_message[unpaid.i],
				format('user %s already has an unpaid order on this train', users[unpaid.i]));
		END LOOP;
		FOR unpaid IN
			SELECT u.i FROM unnest(users, client_ids) WITH ORDINALITY u(user_id, client_id, i)
			WHERE u.client_id IS NOT NULL
			  AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.request_id = u.client_id)
		LOOP
			fail_state[unpaid.i] := coalesce(fail_state[unpaid.i], 'TK013');
			fail_message[unpaid.i] := coalesce(fail_message[unpaid.i],
				format('request id "%s" was already used for another request', client_ids[unpaid.i]));
		END LOOP;

		-- Seats, in queue order.  If some find none while expired holds
		-- still mark seats as taken, release those (the waitlist gets them
		-- first, as always) and seat the rest once more.
		FOR attempt IN 1..2 LOOP
			SELECT array_agg(rc.map ORDER BY rc.carriage_no),
			       array_agg(array_position(enum_range(NULL::seat_class), rc.seat_class) ORDER BY rc.carriage_no),
			       array_agg(rc.carriage_no ORDER BY rc.carriage_no)
			INTO maps, map_class, map_carriage
			FROM run_carriage rc WHERE rc.run_id = r.run_id;
			seating := seatmap_assign(maps, map_class,
				ARRAY(SELECT CASE WHEN fail_state[i] IS NULL THEN journeys[i] END
				      FROM generate_series(1, n) i ORDER BY i),
				wanted);

			unseated := false;
			FOR i IN 1..n LOOP
				IF fail_state[i] IS NULL AND seating[2 * i - 1] IS NULL THEN
					unseated := true;
					EXIT;
				END IF;
			END LOOP;
			EXIT WHEN NOT unseated OR attempt = 2 OR release_expired_holds(r.run_id) = 0;
		END LOOP;

		-- numbers of service in queue order (generate_series yields in order)
		SELECT array_agg(nextval('queue_service_seq')) INTO service_nos FROM generate_series(1, n);
		WITH seated AS (
			SELECT i, users[i] AS user_id, client_ids[i] AS client_id, journeys[i] AS legs,
			       map_carriage[seating[2 * i - 1]] AS carriage_no, seating[2 * i] AS seat_index,
			       nextval('orders_order_id_seq') AS order_id
			FROM generate_series(1, n) i
			WHERE fail_state[i] IS NULL AND seating[2 * i - 1] IS NOT NULL
			ORDER BY i),
		new_tickets AS (
			INSERT INTO tickets (order_id, run_id, seat_id, legs, status, hold_until)
			SELECT x.order_id, r.run_id, s.seat_id, x.legs, 'held', until
			FROM seated x JOIN seat s ON s.train_id = r.train_id AND s.carriage_no = x.carriage_no
			                         AND s.seat_index = x.seat_index
			RETURNING ticket_id),
		new_orders AS (
			INSERT INTO orders (order_id, user_id, run_id, request_id, seat_class, legs, hold_until)
			SELECT x.order_id, x.user_id, r.run_id, x.client_id, rc.seat_class, x.legs, until
			FROM seated x JOIN run_carriage rc ON rc.run_id = r.run_id AND rc.carriage_no = x.carriage_no
			RETURNING order_id, user_id)
		UPDATE queue_request q
		SET status = CASE WHEN x.order_id IS NULL THEN 'failed' ELSE 'done' END,
		    served_at = clock_timestamp(), service_no = x.service_no, order_id = x.order_id,
		    error_sqlstate = CASE WHEN x.order_id IS NULL THEN coalesce(fail_state[x.i], 'TK001') END,
		    error_message = CASE WHEN x.order_id IS NULL THEN coalesce(fail_message[x.i],
		        format('sold out: no %s seat on train %s on %s %s',
		               coalesce((enum_range(NULL::seat_class))[wanted[x.i]]::text, 'free'),
		               r.code, r.service_date, journeys[x.i])) END
		FROM (SELECT b.i, ids[b.i] AS request_id, o.order_id, service_nos[b.i] AS service_no
		      FROM generate_series(1, n) b(i) LEFT JOIN seated o ON o.i = b.i) x
		WHERE q.request_id = x.request_id;
	EXCEPTION WHEN OTHERS THEN
		-- Something no check above foresaw (the exclusion constraint, say):
		-- nothing of the batch is kept.  Serve its first request alone, the
		-- way grab does, so a request that fails every time cannot hold the
		-- queue up.
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
		IF state IN ('40P01', '40001', '55P03') THEN
			-- lost a race for the carriages (a deadlock PostgreSQL broke by
			-- choosing this batch): nothing of it is kept, the next call
			-- serves the same requests in the same order
			RAISE LOG 'ticket queue: batch of % requests on run % rolled back: %', n, r.run_id, message;
			RETURN 0;
		END IF;
		RAISE WARNING 'ticket queue: batch of % requests on run % failed, serving one: %', n, r.run_id, message;
		n := 1;
		BEGIN
			got := hold_seat(users[1], r.run_id, r.train_id, journeys[1],
				(enum_range(NULL::seat_class))[wanted[1]], client_ids[1], true,
				format('on train %s on %s %s', r.code, r.service_date, journeys[1]));
			UPDATE queue_request q SET status = 'done', served_at = clock_timestamp(),
				service_no = nextval('queue_service_seq'), order_id = got.order_id
			WHERE q.request_id = ids[1];
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
			UPDATE queue_request q SET status = 'failed', served_at = clock_timestamp(),
				service_no = nextval('queue_service_seq'), error_sqlstate = state, error_message = message
			WHERE q.request_id = ids[1];
		END;
	END;

	INSERT INTO queue_head AS h (run_id, served, last_served_at, seconds_per_request, last_position)
	VALUES (r.run_id, n, clock_timestamp(), extract(epoch FROM clock_timestamp() - started) / n, positions[n])
	ON CONFLICT ON CONSTRAINT queue_head_pkey DO UPDATE
	SET served = h.served + n, last_served_at = excluded.last_served_at,
	    last_position = greatest(h.last_position, excluded.last_position),
	    -- a moving average over recent batches
	    seconds_per_request = coalesce(0.7 * h.seconds_per_request + 0.3 * excluded.seconds_per_request,
	                                   excluded.seconds_per_request);
	-- wake the run's waiters at commit; requests taken from shared memory
	-- wake them anyway, once they are let go of there
	IF ring_top IS NULL THEN
		PERFORM queue_notify_served(r.run_id);
	END IF;
	RETURN n;
END
$$;
COMMENT ON FUNCTION serve_queue(bigint, integer) IS 'serve up to batch_size queued requests of a run (NULL: of every run) in order, in this transaction; the queue worker calls it; returns how many were served';

-- The waitlist with passengers ---------------------------------------------------
--
-- A waitlist request may name passengers, as an order does: it is then
-- fulfilled as an order with their names (fares by passenger type, no
-- person in two places at once, seated together where possible).

ALTER TABLE waitlist ADD COLUMN passengers text[]
	CHECK (passengers IS NULL OR cardinality(passengers) BETWEEN 1 AND 5);
COMMENT ON COLUMN waitlist.passengers IS 'document numbers of the account''s passengers the request is for (NULL: one seat without names)';

DROP FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz);
CREATE FUNCTION join_waitlist(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_classes text[] DEFAULT NULL, deadline timestamptz DEFAULT NULL,
	passengers text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
	classes ticket.seat_class[];
	departs timestamptz;
	free_seats integer;
	documents text[];
	needed integer := greatest(coalesce(cardinality(passengers), 1), 1);
	result bigint;
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
	END IF;
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);
	IF j.run_status <> 'open' THEN
		RAISE EXCEPTION 'sales are not open for train % on %', upper(train), service_date
			USING ERRCODE = 'TK012';
	END IF;
	IF seat_classes IS NULL THEN
		-- any class the train has, cheapest first
		SELECT array_agg(DISTINCT c.seat_class ORDER BY c.seat_class DESC) INTO classes
		FROM carriage c WHERE c.train_id = j.train_id;
	ELSE
		IF cardinality(seat_classes) = 0 OR array_position(seat_classes, NULL) IS NOT NULL THEN
			RAISE EXCEPTION 'seat classes must be a non-empty list without nulls' USING ERRCODE = 'TK017';
		END IF;
		SELECT array_agg(checked_seat_class(c) ORDER BY n) INTO classes
		FROM unnest(seat_classes) WITH ORDINALITY u(c, n);
	END IF;

	IF passengers IS NOT NULL THEN
		-- as an order with passengers: 1 to 5 different people of the account
		documents := ARRAY(SELECT upper(regexp_replace(x, '\s', '', 'g')) FROM unnest(passengers) WITH ORDINALITY u(x, n) ORDER BY n);
		IF cardinality(passengers) NOT BETWEEN 1 AND 5 OR array_position(passengers, NULL) IS NOT NULL
		   OR (SELECT count(DISTINCT d) FROM unnest(documents) d) <> cardinality(passengers) THEN
			RAISE EXCEPTION 'an order names 1 to 5 different passengers, not %', array_to_string(passengers, ', ', 'NULL')
				USING ERRCODE = 'TK044', DETAIL = 'Give each passenger''s document number once.';
		END IF;
		FOR i IN 1..cardinality(documents) LOOP
			IF NOT EXISTS (SELECT 1 FROM passenger p WHERE p.user_id = join_waitlist.user_id
			               AND p.document_no = documents[i] AND p.removed_at IS NULL) THEN
				RAISE EXCEPTION 'no passenger % on account %', passengers[i], user_id USING ERRCODE = 'TK042',
					HINT = 'Add passengers with ticket.add_passenger() first.';
			END IF;
		END LOOP;
	END IF;

	departs := departure_time(j.run_id, lower(j.legs));
	deadline := coalesce(deadline, departs);
	IF deadline <= now() OR deadline > departs THEN
		RAISE EXCEPTION 'invalid waitlist deadline: %', deadline USING ERRCODE = 'TK022',
			DETAIL = format('The deadline must be after now and no later than the departure at %s.', departs);
	END IF;

	-- only sold-out journeys: with seats free (for the whole group, in one
	-- of the classes) the caller should grab them
	SELECT coalesce(sum(r.remaining), 0) INTO free_seats
	FROM remaining(train, service_date, from_station, to_station) r
	WHERE r.seat_class::ticket.seat_class = ANY (classes);
	IF EXISTS (SELECT 1 FROM remaining(train, service_date, from_station, to_station) r
	           WHERE r.seat_class::ticket.seat_class = ANY (classes) AND r.remaining >= needed) THEN
		RAISE EXCEPTION 'seats are available on this journey: grab one instead' USING ERRCODE = 'TK021',
			DETAIL = format('%s seats of the requested classes are free.', free_seats);
	END IF;

	BEGIN
		INSERT INTO waitlist (user_id, run_id, legs, seat_classes, deadline, passengers)
		VALUES (join_waitlist.user_id, j.run_id, j.legs, classes, deadline, documents)
		RETURNING waitlist_id INTO result;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'user % is already on the waitlist of this train', user_id USING ERRCODE = 'TK023',
			DETAIL = (SELECT format('Waitlist request %s is waiting.', w.waitlist_id) FROM waitlist w
			          WHERE w.user_id = join_waitlist.user_id AND w.run_id = j.run_id AND w.status = 'waiting'),
			HINT = 'Leave it with ticket.leave_waitlist() first.';
	END;
	RETURN result;
END
$$;
COMMENT ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[]) IS 'wait for seats on a sold-out journey (候补): returned seats go to waiting requests in order before public sale; classes in order of preference (default any, cheapest first); deadline defaults to the departure; passengers (document numbers of the account''s passengers, 1 to 5): fulfilled as an order with their names, seated together where possible (default: one seat, no names)';

CREATE OR REPLACE FUNCTION seats_returned(run_id bigint) RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	w record;
	got booking;
	fulfilled integer := 0;
	train integer;
	cls seat_class;
	place record;
	new_order bigint;
	patience text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM waitlist x WHERE x.run_id = seats_returned.run_id AND x.status = 'waiting') THEN
		RETURN 0;
	END IF;
	-- the run's waitlist is served by one transaction at a time, in order
	PERFORM pg_advisory_xact_lock(hashtext('ticket.waitlist'), hashint8(seats_returned.run_id));
	SELECT r.train_id INTO train FROM run r WHERE r.run_id = seats_returned.run_id AND r.status = 'open';
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	FOR w IN
		SELECT x.waitlist_id, x.user_id, x.legs, x.seat_classes, x.deadline, x.passengers
		FROM waitlist x
		WHERE x.run_id = seats_returned.run_id AND x.status = 'waiting'
		ORDER BY x.waitlist_id
		FOR UPDATE SKIP LOCKED	-- one being withdrawn right now is left to that
	LOOP
		IF w.deadline <= now() THEN
			UPDATE waitlist x SET status = 'expired', closed_at = now() WHERE x.waitlist_id = w.waitlist_id;
			CONTINUE;
		END IF;
		IF w.passengers IS NOT NULL THEN
			-- An order with passengers, as grab() makes it (names, fares,
			-- one place at a time, seated together where possible).  It must
			-- not wait: this runs while the releasing transaction holds its
			-- carriages, so any lock it cannot have at once (a carriage, the
			-- user's own lock) ends the attempt and the request keeps
			-- waiting, like one nothing fits.
			SELECT t.code, r.service_date, a.code AS from_code, b.code AS to_code
			INTO place FROM run r JOIN train t USING (train_id)
			JOIN stop sa ON sa.train_id = r.train_id AND sa.stop_no = lower(w.legs)
			JOIN station a ON a.station_id = sa.station_id
			JOIN stop sb ON sb.train_id = r.train_id AND sb.stop_no = upper(w.legs)
			JOIN station b ON b.station_id = sb.station_id
			WHERE r.run_id = seats_returned.run_id;
			new_order := NULL;
			patience := current_setting('lock_timeout');
			FOREACH cls IN ARRAY w.seat_classes LOOP
				BEGIN
					PERFORM set_config('lock_timeout', '10ms', true);
					SELECT min(b.order_id) INTO new_order
					FROM grab_named(w.user_id, place.code, place.service_date, place.from_code, place.to_code,
					                cls::text, w.passengers) b;
					PERFORM set_config('lock_timeout', patience, true);
					EXIT;
				EXCEPTION WHEN SQLSTATE 'TK001' OR SQLSTATE 'TK002' OR SQLSTATE 'TK042' OR SQLSTATE 'TK043'
				               OR SQLSTATE 'TK047' OR SQLSTATE 'TK048' OR SQLSTATE '55P03' THEN
					-- nothing fits in this class, the user has an unpaid order,
					-- a passenger is gone or travels then, a daily limit, or a
					-- lock that would have to be waited for: keep waiting
					NULL;
				END;
			END LOOP;
			IF new_order IS NOT NULL THEN
				UPDATE waitlist x SET status = 'fulfilled', closed_at = now(), order_id = new_order
				WHERE x.waitlist_id = w.waitlist_id;
				fulfilled := fulfilled + 1;
			END IF;
			CONTINUE;
		END IF;
		got := NULL;
		FOREACH cls IN ARRAY w.seat_classes LOOP
			BEGIN
				got := hold_seat(w.user_id, seats_returned.run_id, train, w.legs, cls, NULL, false,
					format('for waitlist request %s', w.waitlist_id));
				EXIT;
			EXCEPTION WHEN SQLSTATE 'TK001' OR SQLSTATE 'TK002' THEN
				-- nothing fits in this class, or the user has an unpaid
				-- order on the run: the request keeps waiting
				NULL;
			END;
		END LOOP;
		IF got.order_id IS NOT NULL THEN
			UPDATE waitlist x SET status = 'fulfilled', closed_at = now(), order_id = got.order_id
			WHERE x.waitlist_id = w.waitlist_id;
			fulfilled := fulfilled + 1;
		END IF;
	END LOOP;
	RETURN fulfilled;
END
$$;
COMMENT ON FUNCTION seats_returned(bigint) IS 'internal: offer seats that came back to sale on a run to its waitlist first, in order, skipping requests nothing fits; returns how many requests were fulfilled';

-- enqueue and queue_wait count who is ahead themselves now
DROP FUNCTION waiting_ahead(bigint, bigint, integer);

-- roles ---------------------------------------------------------------------------

REVOKE EXECUTE ON FUNCTION queue_batch_count(bigint), queue_sleep(bigint, bigint, timestamptz),
	queue_notify_served(bigint),
	queue_ring_take(bigint, integer), queue_ring_runs(), queue_ring_request(bigint),
	queue_ring_waiting(), waiting_requests(), timetable_changed(),
	join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[])
	TO ticket_app, ticket_admin;
-- queue_wait runs with the caller's rights
GRANT EXECUTE ON FUNCTION queue_batch_count(bigint), queue_sleep(bigint, bigint, timestamptz),
	queue_ring_request(bigint)
	TO ticket_app, ticket_admin;
GRANT EXECUTE ON FUNCTION waiting_requests(), queue_ring_waiting() TO ticket_admin;
