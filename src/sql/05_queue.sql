-- The queue ------------------------------------------------------------------
--
-- ticket.enqueue() accepts a request at once and gives it the next number
-- of a sequence; a server (the background worker, or anyone calling
-- ticket.serve_queue()) serves a run's requests strictly in that order,
-- many per transaction.  Enqueuers of a run share a lock on its queue
-- (one of the extension's own locks, src/ticket_locks.c, held to commit,
-- never waited on by each other); a
-- server takes it exclusively for an instant, which waits for the
-- enqueuers in flight, and notes the sequence's last number: every request
-- of the run numbered up to there is then committed or gone, so serving
-- them in order never passes over one that would show up later.  Enqueuers
-- never queue up on one row, so a crowd on one train costs no convoy.

CREATE SEQUENCE queue_position_seq;
COMMENT ON SEQUENCE queue_position_seq IS 'order of acceptance of queued requests, across all runs';
SELECT pg_catalog.pg_extension_config_dump('queue_position_seq', '');

-- Written only by servers, so enqueuers never wait for a batch to finish.
CREATE TABLE queue_head (
	run_id bigint PRIMARY KEY REFERENCES run ON DELETE CASCADE,
	served bigint NOT NULL DEFAULT 0 CHECK (served >= 0),
	last_served_at timestamptz,
	seconds_per_request double precision,
	-- Requests are served in order, so every request of a run still waiting
	-- comes after the last one served: enqueue and the batches start their
	-- scans there instead of walking the index entries of served requests
	-- that wait for vacuum (thousands in a rush).
	last_position bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE queue_head IS 'per run: how many queued requests have been served, when last, and the recent service time per request (for wait estimates)';
COMMENT ON COLUMN queue_head.last_position IS 'queue_position of the last request of the run served: every request still waiting comes after it';
GRANT SELECT ON queue_head TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('queue_head', '');

CREATE SEQUENCE queue_service_seq;
COMMENT ON SEQUENCE queue_service_seq IS 'order in which queued requests were served, across all runs';
SELECT pg_catalog.pg_extension_config_dump('queue_service_seq', '');

CREATE TABLE queue_request (
	request_id bigserial PRIMARY KEY,
	run_id bigint NOT NULL REFERENCES run ON DELETE CASCADE,
	-- unique by construction (a sequence); not indexed alone: servers read
	-- waiting requests through queue_waiting_idx
	queue_position bigint NOT NULL DEFAULT nextval('queue_position_seq'),
	user_id bigint NOT NULL,
	client_request_id text,
	seat_class seat_class,
	legs segrange NOT NULL,
	status text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'done', 'failed')),
	accepted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	served_at timestamptz,
	service_no bigint,
	-- no foreign key: only serve_queue() writes it, in the statement that
	-- creates the order (a key check would lock and log every new order
	-- row once more)
	order_id bigint,
	error_sqlstate text,
	error_message text,
	ahead_when_accepted bigint NOT NULL DEFAULT 0,
	served_when_accepted bigint NOT NULL DEFAULT 0,
	-- the passenger form of enqueue: the account's passengers (NULL: one
	-- seat without names) and the seat letters asked; the end client
	-- (ticket.client) the request came from
	passenger_ids bigint[],
	seat_letters text,
	client text,
	UNIQUE (user_id, client_request_id),
	CHECK ((status = 'waiting') = (served_at IS NULL)),
	CHECK ((status = 'done') = (order_id IS NOT NULL)),
	CHECK ((status = 'failed') = (error_sqlstate IS NOT NULL))
);

-- one waiting request per user and run, as grab allows one unpaid order
CREATE UNIQUE INDEX queue_one_waiting_per_run ON queue_request (user_id, run_id) WHERE status = 'waiting';
CREATE INDEX queue_waiting_idx ON queue_request (run_id, queue_position) WHERE status = 'waiting';
COMMENT ON TABLE queue_request IS 'requests accepted by ticket.enqueue(): waiting, then done (with an order) or failed (with an SQLSTATE)';
COMMENT ON COLUMN queue_request.queue_position IS 'order of acceptance (one sequence for all runs): a run''s requests are served in this order';
COMMENT ON COLUMN queue_request.ahead_when_accepted IS 'requests of the run waiting ahead when this one was accepted; with queue_head.served then and now, queue_status() tells how many still are without counting them';
COMMENT ON COLUMN queue_request.passenger_ids IS 'the passenger form of enqueue: ids of the account''s passengers, in order, served as the passenger form of grab (NULL: one seat without names)';
COMMENT ON COLUMN queue_request.seat_letters IS 'seat letters asked with passengers (NULL: none)';
COMMENT ON COLUMN queue_request.client IS 'the end client (ticket.client) that queued the request, NULL if none was named';
COMMENT ON COLUMN queue_request.service_no IS 'global order of service (queue_service_seq): served in position order, it grows with queue_position';
GRANT SELECT ON queue_request TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('queue_request', '');
SELECT pg_catalog.pg_extension_config_dump('queue_request_request_id_seq', '');

CREATE TYPE queue_entry AS (
	request_id bigint,
	queue_position bigint,
	ahead bigint,
	status text
);
COMMENT ON TYPE queue_entry IS 'a queued request as ticket.enqueue() returns it: its id, its number in the order of acceptance and how many requests of its run are waiting ahead of it';

CREATE OR REPLACE FUNCTION queue_max_waiting() RETURNS integer
	AS 'MODULE_PATHNAME', 'ticket_queue_max_waiting' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION queue_max_waiting() IS 'the setting ticket.queue_max_waiting: most requests one run''s queue may hold unserved';

CREATE OR REPLACE FUNCTION queue_lock_timeout() RETURNS integer
	AS 'MODULE_PATHNAME', 'ticket_queue_lock_timeout' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION queue_lock_timeout() IS 'the setting ticket.queue_lock_timeout, in milliseconds: how long serve_queue() waits for a lock of a run before it leaves the run for the next call';

-- Wake-ups (src/queue_signal.c) ------------------------------------------------
--
-- With ticket in shared_preload_libraries (the queue worker needs it anyway)
-- a committed batch wakes the sessions waiting in queue_wait() on its run,
-- and a committed enqueue wakes the worker, instead of both looking again
-- and again.  Not preloaded, queue_batch_count() is NULL and queue_wait()
-- waits on the lock a batch of its run holds until it commits.

CREATE OR REPLACE FUNCTION queue_batch_count(run_id bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ticket_queue_batch_count' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_batch_count(bigint) IS 'internal: batches committed so far on the wake-up slot of a run (NULL: ticket is not preloaded, no wake-ups)';
REVOKE EXECUTE ON FUNCTION queue_batch_count(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_batch_count(bigint) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION queue_sleep(run_id bigint, seen bigint, until timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'ticket_queue_sleep' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_sleep(bigint, bigint, timestamptz) IS 'internal: sleep until a batch of the run''s wake-up slot commits after the count seen, until the given time, or at most a second; true if a batch came';
REVOKE EXECUTE ON FUNCTION queue_sleep(bigint, bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_sleep(bigint, bigint, timestamptz) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION queue_notify_served(run_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'ticket_queue_notify_served' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_notify_served(bigint) IS 'internal: when this transaction commits, wake the sessions waiting in queue_wait() on the run';
REVOKE EXECUTE ON FUNCTION queue_notify_served(bigint) FROM PUBLIC;

-- Requests in shared memory (src/queue_ring.c) ---------------------------------
--
-- With the library preloaded, enqueue() keeps a request in shared memory
-- until a server serves it: it writes no row, so a click costs a lookup of
-- the journey and a few checks.  serve_queue() takes the run's requests
-- from there in order (never past one still being accepted) and writes
-- them to queue_request in the batch that serves them.

CREATE OR REPLACE FUNCTION queue_ring_take(run_id bigint, batch_size integer,
	OUT request_id bigint, OUT queue_position bigint, OUT user_id bigint, OUT from_stop integer,
	OUT to_stop integer, OUT seat_class integer, OUT client_request_id text, OUT accepted_at timestamptz,
	OUT ahead_when_accepted bigint, OUT served_when_accepted bigint, OUT passenger_ids bigint[],
	OUT seat_letters text, OUT client text)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_take' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_ring_take(bigint, integer) IS 'internal: up to batch_size requests of a run waiting in shared memory, in order, stopping before one still being accepted; they are this transaction''s until it commits (then gone) or aborts (then waiting again)';
REVOKE EXECUTE ON FUNCTION queue_ring_take(bigint, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION queue_ring_runs() RETURNS SETOF bigint
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_runs' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION queue_ring_runs() IS 'internal: runs of this database with requests waiting in shared memory';
REVOKE EXECUTE ON FUNCTION queue_ring_runs() FROM PUBLIC;
-- queued_runs() (admin) reads it with its caller's rights
GRANT EXECUTE ON FUNCTION queue_ring_runs() TO ticket_admin;

CREATE OR REPLACE FUNCTION queue_ring_request(request_id bigint,
	OUT run_id bigint, OUT queue_position bigint, OUT ahead_when_accepted bigint, OUT served_when_accepted bigint)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_request' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION queue_ring_request(bigint) IS 'internal: a request still waiting in shared memory (no row: served, or not there)';
-- Any user's request, by id: applications follow theirs with queue_status()
-- (which runs as the owner); only administrators call this directly.
REVOKE EXECUTE ON FUNCTION queue_ring_request(bigint) FROM PUBLIC, ticket_app;
GRANT EXECUTE ON FUNCTION queue_ring_request(bigint) TO ticket_admin;

CREATE OR REPLACE FUNCTION queue_ring_waiting(OUT run_id bigint, OUT waiting bigint, OUT last_position bigint)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_waiting' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION queue_ring_waiting() IS 'internal: per run, the requests waiting in shared memory and the highest position among them';
REVOKE EXECUTE ON FUNCTION queue_ring_waiting() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_ring_waiting() TO ticket_admin;

-- A server leaves the outcome of each request it took from shared memory
-- there too (src/queue_ring.c); queue_wait() answers a waiter woken by the
-- batch from it, without a query over queue_request, orders, tickets and
-- seat for every request.
CREATE OR REPLACE FUNCTION queue_ring_answered(request_ids bigint[], order_ids bigint[], carriages integer[],
	seat_nos text[], hold_until timestamptz, error_sqlstates text[], error_messages text[])
	RETURNS integer
	AS 'MODULE_PATHNAME', 'ticket_queue_ring_answered' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION queue_ring_answered(bigint[], bigint[], integer[], text[], timestamptz, text[], text[]) IS 'internal: the outcomes of requests this transaction took from shared memory, for their waiters once it commits; returns how many were kept';
REVOKE EXECUTE ON FUNCTION queue_ring_answered(bigint[], bigint[], integer[], text[], timestamptz, text[], text[]) FROM PUBLIC;

-- What is queued now, wherever it waits: waiting requests are in shared
-- memory (preloaded) or in queue_request (not preloaded, or written by a
-- batch that has not committed).
CREATE OR REPLACE FUNCTION waiting_requests(OUT run_id bigint, OUT waiting bigint, OUT last_position bigint)
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
REVOKE EXECUTE ON FUNCTION waiting_requests() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION waiting_requests() TO ticket_admin;

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
COMMENT ON FUNCTION queued_runs() IS 'runs with queued requests not served yet (the queue worker serves them one transaction per run)';
REVOKE EXECUTE ON FUNCTION queued_runs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queued_runs() TO ticket_admin;

-- enqueue in C (src/queue_enqueue.c): the checks, messages and SQLSTATEs of
-- grab, in a few kept plans; with the library preloaded the request goes
-- into shared memory (src/queue_ring.c), else into the table.
CREATE OR REPLACE FUNCTION enqueue(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL, request_id text DEFAULT NULL)
RETURNS queue_entry
	AS 'MODULE_PATHNAME', 'ticket_enqueue'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp;
COMMENT ON FUNCTION enqueue(bigint, text, date, text, text, text, text) IS 'queue a grab (same arguments as ticket.grab): returns at once with the request id and its position; requests of a run are served strictly in order, in batches; TK018 when the queue is full';
REVOKE EXECUTE ON FUNCTION enqueue(bigint, text, date, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION enqueue(bigint, text, date, text, text, text, text) TO ticket_app, ticket_admin;

-- The passenger form: the arguments of the passenger form of grab.  The
-- passengers are checked at once, as grab checks them (queue_passengers);
-- the request keeps their ids and is served in the run's order as that
-- grab would serve it (grab_named: person overlap, per-person and
-- per-client limits, daily limits, seats together).
CREATE OR REPLACE FUNCTION enqueue(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, passengers text[], seat_letters text DEFAULT NULL)
RETURNS queue_entry
	AS 'MODULE_PATHNAME', 'ticket_enqueue_named'
	LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp;
COMMENT ON FUNCTION enqueue(bigint, text, date, text, text, text, text[], text) IS 'queue a grab with passengers (same arguments as the passenger form of ticket.grab): returns at once with the request id and its position; served in the run''s order as that grab would be; TK044, TK042, TK045, TK046 at once for passengers or seat letters grab would refuse';
REVOKE EXECUTE ON FUNCTION enqueue(bigint, text, date, text, text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION enqueue(bigint, text, date, text, text, text, text[], text) TO ticket_app, ticket_admin;

-- The passenger form of enqueue, checked as grab_named checks it before
-- it locks anything (its steps 1, 2 and 4): the passengers as the
-- account's passenger ids, in order, and the seat letters normalised.
CREATE OR REPLACE FUNCTION queue_passengers(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, passengers text[], seat_letters text,
	OUT passenger_ids bigint[], OUT letters text)
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	cls ticket.seat_class := checked_seat_class(seat_class);
	n integer := coalesce(cardinality(passengers), 0);
	j record;
BEGIN
	PERFORM check_group_request(user_id, passengers, n, cls);
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);
	letters := nullif(upper(btrim(seat_letters)), '');
	IF letters IS NOT NULL THEN
		PERFORM check_seat_letters(upper(btrim(train)), j.train_id, cls, n, letters, seat_letters);
	END IF;
	SELECT x.passenger_ids INTO passenger_ids FROM named_passengers(user_id, passengers) x;
END
$$;
COMMENT ON FUNCTION queue_passengers(bigint, text, date, text, text, text, text[], text) IS 'internal: the passenger form of enqueue checked as grab checks it (TK017, TK044, TK045, TK046, TK042, journey errors): the passenger ids in order and the seat letters';
REVOKE EXECUTE ON FUNCTION queue_passengers(bigint, text, date, text, text, text, text[], text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION queue_status(request_id bigint,
	OUT status text, OUT queue_position bigint, OUT ahead bigint, OUT estimated_wait interval,
	OUT order_id bigint, OUT carriage integer, OUT seat_no text, OUT hold_until timestamptz,
	OUT error_sqlstate text, OUT error_message text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
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
				-- (request ids are never handed out twice: an id a client
				-- was given names its request or nothing)
				RAISE EXCEPTION 'no such queued request: %', request_id USING ERRCODE = 'TK019',
					HINT = 'A request still waiting when the server restarted is forgotten: enqueue it again.';
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
REVOKE EXECUTE ON FUNCTION queue_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_status(bigint) TO ticket_app, ticket_admin;

-- Wait for a queued request's answer, up to a timeout, without polling.
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
REVOKE EXECUTE ON FUNCTION queue_wait(bigint, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_wait(bigint, interval) TO ticket_app, ticket_admin;

-- Serving a batch ---------------------------------------------------------------
--
-- serve_queue() serves up to batch_size waiting requests of a run in one
-- transaction, in these steps (each an internal function below, in the order
-- it runs; they assume the caller holds serve_queue()'s locks):
--
--   queue_batch_take     the horizon, then the requests in order: from the table, then from shared memory
--   queue_batch_defer    where the kind changes (one seat / passengers), the rest wait for the next batch
--   queue_batch_named    a batch of requests with passengers: each served as grab serves it, in order
--   queue_batch_screen   requests from shared memory that clash with one in the table
--   queue_batch_check    the users' unpaid orders (stale ones expired), request ids used before, clients' limits
--   queue_batch_seat     seats for all the requests at once, in order (in C)
--   queue_batch_write    orders, tickets, the requests' outcomes and the answers for their waiters
--   queue_batch_recover  after a batch failed: keep the requests it took, serve its first one alone
--   queue_batch_advance  the run's queue head moves past the requests served
--
-- The batch travels between the steps as arrays, one element per request in
-- queue order (ids[i], users[i], journeys[i], ...): the steps read them by
-- position in set-based statements, never with a call per request.

CREATE OR REPLACE FUNCTION serve_queue(run_id bigint DEFAULT NULL, batch_size integer DEFAULT 500)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp
	-- set in the body to ticket.queue_lock_timeout; the clause restores the caller's at return
	SET lock_timeout = 0 AS $$
DECLARE
	r record;		-- the run, with its train's code
	b record;		-- the batch: the columns of queue_batch_take()
	n integer := 0;	-- requests in the batch, then how many were served
	started timestamptz := clock_timestamp();
	until timestamptz := now() + hold_timeout();	-- the deadline of the orders written
	-- per request: why it fails before any seat is looked for (NULL: it
	-- gets one if one is free; 'dropped': it gets no answer at all)
	fail_state text[];
	fail_message text[];
	-- per request, two numbers: carriage (position in map_carriage) and seat
	-- index, NULLs if none
	seating integer[];
	map_carriage integer[];
	state text;
	message text;
	cut integer;	-- the first request of another kind than the first (one seat / passengers)
BEGIN
	PERFORM require_primary();
	IF batch_size IS NULL OR batch_size < 1 THEN
		RAISE EXCEPTION 'batch size must be at least 1' USING ERRCODE = 'TK017';
	END IF;
	IF run_id IS NULL THEN
		FOR r IN SELECT x.run_id FROM queued_runs() x LOOP
			n := n + serve_queue(r.run_id, batch_size);
		END LOOP;
		RETURN n;
	END IF;

	-- One stuck run must not hold up the others: every lock this call waits
	-- for (the run's queue, its carriages, its waitlist, ...) is waited for
	-- at most ticket.queue_lock_timeout; past that the run is left for the
	-- next call, its requests waiting in order, and the log says why.  (The
	-- SET clause above keeps this to the call.)
	PERFORM set_config('lock_timeout', queue_lock_timeout() || 'ms', true);
	-- one server per run at a time; another one busy with it will get to these
	IF NOT try_lock_xact('serve_queue', serve_queue.run_id) THEN
		RETURN 0;
	END IF;
	-- A batch is under way: queue_wait() callers sleep on this until it
	-- commits.  Only tried: a caller may hold it for an instant, and the
	-- batch must not wait for callers (they then look again a little later).
	PERFORM try_lock_xact('queue_batch', serve_queue.run_id);
	SELECT ru.run_id, ru.train_id, ru.status, ru.service_date, t.code INTO r
	FROM run ru JOIN train t USING (train_id) WHERE ru.run_id = serve_queue.run_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such run: %', run_id USING ERRCODE = 'TK008';
	END IF;

	SELECT * INTO b FROM queue_batch_take(r.run_id, batch_size);
	n := coalesce(cardinality(b.ids), 0);
	IF n = 0 THEN
		RETURN 0;
	END IF;
	-- A batch is of one kind: requests for one seat without names, served
	-- all at once below, or requests with passengers, served one by one as
	-- grab serves them (queue_batch_named).  Where the kind changes, the
	-- batch ends; the requests from there on wait, in order, for the next.
	cut := coalesce((SELECT min(i) FROM generate_subscripts(b.ids, 1) i
	                 WHERE (b.named[i] IS NULL) <> (b.named[1] IS NULL)), n + 1);
	IF cut <= n THEN
		PERFORM queue_batch_defer(r.run_id, b.ids, b.positions, b.users, b.journeys, b.wanted, b.client_ids,
			b.n_table, b.accepted, b.ahead, b.served_when, b.named, b.letters, b.clients,
			array_fill(NULL::text, ARRAY[n]), cut);
		n := cut - 1;
		b.ids := b.ids[1:n];
		b.positions := b.positions[1:n];
		b.users := b.users[1:n];
		b.journeys := b.journeys[1:n];
		b.wanted := b.wanted[1:n];
		b.client_ids := b.client_ids[1:n];
		b.named := b.named[1:n];
		b.letters := b.letters[1:n];
		b.clients := b.clients[1:n];
		b.n_table := least(b.n_table, n);
		b.accepted := b.accepted[1:n - b.n_table];
		b.ahead := b.ahead[1:n - b.n_table];
		b.served_when := b.served_when[1:n - b.n_table];
	END IF;
	SELECT * INTO fail_state, fail_message FROM queue_batch_screen(b.users, b.client_ids, b.n_table);

	IF b.named[1] IS NOT NULL THEN
		n := queue_batch_named(r.run_id, r.code, r.service_date, b.ids, b.positions, b.users, b.journeys,
			b.wanted, b.client_ids, b.n_table, b.accepted, b.ahead, b.served_when, b.named, b.letters, b.clients,
			fail_state, fail_message);
		IF n = 0 THEN
			RETURN 0;
		END IF;
		PERFORM queue_batch_advance(r.run_id, n, started, b.positions[n]);
		IF b.ring_top IS NULL THEN
			PERFORM queue_notify_served(r.run_id);
		END IF;
		RETURN n;
	END IF;

	-- The batch is served all at once, in a subtransaction: should anything
	-- fail, nothing of it is kept.  (Variables are not rolled back: the
	-- handler sees fail_state as the block left it.  That is why the TK012
	-- overwrite below is written here, not in a step: a step's changes would
	-- be lost with it on an error.)
	BEGIN
		-- (the clients' locks on the run before any carriage, as a grab takes them)
		PERFORM queue_batch_lock_clients(r.run_id, b.clients);
		PERFORM lock_run_inventory(r.run_id);
		IF r.status <> 'open' THEN
			fail_state := array_fill('TK012'::text, ARRAY[n]);
			fail_message := array_fill(sales_not_open_message(r.code, r.service_date), ARRAY[n]);
		END IF;
		SELECT * INTO fail_state, fail_message
		FROM queue_batch_check(r.run_id, b.users, b.client_ids, b.clients, fail_state, fail_message);
		SELECT * INTO seating, map_carriage FROM queue_batch_seat(r.run_id, b.journeys, b.wanted, fail_state);
		PERFORM queue_batch_write(r.run_id, r.train_id, r.code, r.service_date, until,
			b.ids, b.positions, b.users, b.journeys, b.wanted, b.client_ids,
			b.n_table, b.accepted, b.ahead, b.served_when,
			fail_state, fail_message, seating, map_carriage, b.clients);
	EXCEPTION WHEN OTHERS THEN
		-- Something no check above foresaw (the exclusion constraint, say):
		-- nothing of the batch is kept; at most its first request is served.
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
		n := queue_batch_recover(r.run_id, r.train_id, r.code, r.service_date,
			b.ids, b.positions, b.users, b.journeys, b.wanted, b.client_ids,
			b.n_table, b.accepted, b.ahead, b.served_when, fail_state, state, message, b.clients);
		IF n = 0 THEN
			RETURN 0;
		END IF;
	END;

	PERFORM queue_batch_advance(r.run_id, n, started, b.positions[n]);
	PERFORM queue_hot_rule(r.run_id, b.positions[1], b.positions[n]);
	-- wake the run's waiters at commit; requests taken from shared memory
	-- wake them anyway, once they are let go of there
	IF b.ring_top IS NULL THEN
		PERFORM queue_notify_served(r.run_id);
	END IF;
	RETURN n;
END
$$;
COMMENT ON FUNCTION serve_queue(bigint, integer) IS 'serve up to batch_size queued requests of a run (NULL: of every run) in order, in this transaction; a run whose locks stay taken past ticket.queue_lock_timeout is left for a later call; the queue worker calls it; returns how many were served';
REVOKE EXECUTE ON FUNCTION serve_queue(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION serve_queue(bigint, integer) TO ticket_admin;

-- The requests a batch serves, in order, with what each needs later:
-- requests from the table first (accepted without the library preloaded, or
-- given back by a batch that could not keep them), then requests from
-- shared memory, which come after every one in the table (numbered on from
-- the sequences).  The first n_table came from the table; accepted, ahead and
-- served_when hold what only the ones from shared memory carry (element
-- i - n_table for request i); ring_top is the highest position taken from
-- shared memory (NULL: none).
CREATE OR REPLACE FUNCTION queue_batch_take(run_id bigint, batch_size integer,
	OUT ids bigint[], OUT positions bigint[], OUT users bigint[], OUT journeys segrange[],
	OUT wanted integer[], OUT client_ids text[], OUT n_table integer,
	OUT accepted timestamptz[], OUT ahead bigint[], OUT served_when bigint[], OUT ring_top bigint,
	OUT named text[], OUT letters text[], OUT clients text[])
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	served_up_to bigint;
	horizon bigint;
	ring record;
BEGIN
	-- The horizon: wait for the run's enqueuers in flight (see above).  A
	-- session lock, released at once, so enqueuers wait only for an instant.
	-- Served in order, so every request still waiting comes after the last
	-- one served: the scan starts there, not at the served requests whose
	-- index entries wait for vacuum.  An enqueuer whose transaction stays
	-- open (table path only: enqueuers into shared memory take no lock)
	-- holds the run up for serve_queue()'s lock timeout at most: then the
	-- batch takes nothing (ids NULL) and the run waits for the next call.
	SELECT coalesce(max(h.last_position), 0) INTO served_up_to FROM queue_head h
	WHERE h.run_id = queue_batch_take.run_id;
	BEGIN
		PERFORM lock_session('queue', queue_batch_take.run_id);
	EXCEPTION WHEN lock_not_available THEN
		RAISE LOG 'ticket queue: run % left for the next round: an enqueue of the run has not committed (%)',
			queue_batch_take.run_id, SQLERRM;
		n_table := 0;
		RETURN;
	END;
	SELECT s.last_value INTO horizon FROM queue_position_seq s;
	PERFORM unlock_session('queue', queue_batch_take.run_id);
	-- Requests waiting in the table first.
	SELECT array_agg(x.request_id ORDER BY x.queue_position), array_agg(x.user_id ORDER BY x.queue_position),
	       array_agg(x.legs ORDER BY x.queue_position),
	       array_agg(array_position(enum_range(NULL::seat_class), x.seat_class) ORDER BY x.queue_position),
	       array_agg(x.client_request_id ORDER BY x.queue_position),
	       array_agg(x.queue_position ORDER BY x.queue_position),
	       array_agg(x.passenger_ids::text ORDER BY x.queue_position),
	       array_agg(x.seat_letters ORDER BY x.queue_position), array_agg(x.client ORDER BY x.queue_position)
	INTO ids, users, journeys, wanted, client_ids, positions, named, letters, clients
	FROM (SELECT * FROM queue_request q
	      WHERE q.run_id = queue_batch_take.run_id AND q.status = 'waiting'
	        AND q.queue_position > served_up_to AND q.queue_position <= horizon
	      ORDER BY q.queue_position LIMIT batch_size) x;
	n_table := coalesce(cardinality(ids), 0);
	-- Then requests waiting in shared memory.  They are written to the
	-- table only once, served, by the statement that serves them
	-- (queue_batch_write).  The sequences are moved past their numbers, so
	-- requests accepted into the table later (the library no longer
	-- preloaded) still come after them.
	-- (taking none when the table filled the batch: ring is set all the same)
	SELECT array_agg(t.request_id ORDER BY t.queue_position) AS ids,
	       array_agg(t.user_id ORDER BY t.queue_position) AS users,
	       array_agg(segrange(t.from_stop, t.to_stop) ORDER BY t.queue_position) AS journeys,
	       array_agg(t.seat_class ORDER BY t.queue_position) AS wanted,
	       array_agg(t.client_request_id ORDER BY t.queue_position) AS client_ids,
	       array_agg(t.queue_position ORDER BY t.queue_position) AS positions,
	       array_agg(t.accepted_at ORDER BY t.queue_position) AS accepted,
	       array_agg(t.ahead_when_accepted ORDER BY t.queue_position) AS ahead,
	       array_agg(t.served_when_accepted ORDER BY t.queue_position) AS served_when,
	       array_agg(t.passenger_ids::text ORDER BY t.queue_position) AS named,
	       array_agg(t.seat_letters ORDER BY t.queue_position) AS letters,
	       array_agg(t.client ORDER BY t.queue_position) AS clients,
	       max(t.queue_position) AS top, max(t.request_id) AS top_id
	INTO ring
	FROM queue_ring_take(queue_batch_take.run_id, batch_size - n_table) t;
	IF ring.ids IS NOT NULL THEN
		ids := ids || ring.ids;
		users := users || ring.users;
		journeys := journeys || ring.journeys;
		wanted := wanted || ring.wanted;
		client_ids := client_ids || ring.client_ids;
		positions := positions || ring.positions;
		named := named || ring.named;
		letters := letters || ring.letters;
		clients := clients || ring.clients;
		accepted := ring.accepted;
		ahead := ring.ahead;
		served_when := ring.served_when;
		ring_top := ring.top;
		IF ring_top > horizon THEN
			PERFORM setval('queue_position_seq', ring_top);
		END IF;
		IF ring.top_id > (SELECT s.last_value FROM queue_request_request_id_seq s) THEN
			PERFORM setval('queue_request_request_id_seq', ring.top_id);
		END IF;
	END IF;
END
$$;
COMMENT ON FUNCTION queue_batch_take(bigint, integer) IS 'internal: serve_queue step: the horizon, then up to batch_size waiting requests of a run in order, from the table and then from shared memory, as arrays (named: the passenger ids of a request with passengers as text, NULL for one seat)';
REVOKE EXECUTE ON FUNCTION queue_batch_take(bigint, integer) FROM PUBLIC;

-- Before the batch locks anything: requests from shared memory that clash
-- with one in the table.  The result starts the batch's fail_state and
-- fail_message (one element per request, NULL: no clash).
CREATE OR REPLACE FUNCTION queue_batch_screen(users bigint[], client_ids text[], n_table integer,
	OUT fail_state text[], OUT fail_message text[])
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer := cardinality(users);
	clash record;
BEGIN
	fail_state := array_fill(NULL::text, ARRAY[n]);
	fail_message := fail_state;
	IF n > n_table THEN
		-- A request id used twice at the same instant, once in the table and
		-- once in shared memory: the request accepted first stands, the other
		-- is dropped (its client hears TK019 and asks again).
		FOR clash IN
			SELECT u.i FROM unnest(users, client_ids) WITH ORDINALITY u(user_id, client_id, i)
			WHERE u.i > n_table AND u.client_id IS NOT NULL
			  AND EXISTS (SELECT 1 FROM queue_request q
			              WHERE q.user_id = u.user_id AND q.client_request_id = u.client_id)
		LOOP
			fail_state[clash.i] := 'dropped';
		END LOOP;
		-- One waiting request per user and run: enqueue looks for one where
		-- it queues, so a user waiting in the table (a request written back
		-- by a failed batch) may queue again in shared memory.  The later
		-- request fails as enqueue would have refused it.
		IF n_table > 0 THEN
			FOR clash IN
				SELECT u.i FROM unnest(users) WITH ORDINALITY u(user_id, i)
				WHERE u.i > n_table AND u.user_id = ANY (users[1:n_table])
			LOOP
				fail_state[clash.i] := coalesce(fail_state[clash.i], 'TK020');
				fail_message[clash.i] := coalesce(fail_message[clash.i],
					format('user %s is already waiting in the queue of this train', users[clash.i]));
			END LOOP;
		END IF;
	END IF;
END
$$;
COMMENT ON FUNCTION queue_batch_screen(bigint[], text[], integer) IS 'internal: serve_queue step: per request of a batch, dropped or TK020 when one taken from shared memory clashes with one waiting in the table (NULL: no clash)';
REVOKE EXECUTE ON FUNCTION queue_batch_screen(bigint[], text[], integer) FROM PUBLIC;

-- With the run's carriages locked: the users' unpaid orders on the run and
-- the request ids they used before.  Ones past their deadline are expired
-- here, unless their payment holds them right now (it waits for the
-- carriages this batch holds: waiting for it here would deadlock); then
-- they still count.  A request already failed keeps its reason.
CREATE OR REPLACE FUNCTION queue_batch_check(run_id bigint, users bigint[], client_ids text[], clients text[],
	INOUT fail_state text[], INOUT fail_message text[])
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	stale bigint[];
	unpaid record;
	cap numeric := setting('max_orders_per_client_run');
BEGIN
	SELECT array_agg(o.order_id) INTO stale FROM orders o
	WHERE o.run_id = queue_batch_check.run_id AND o.status = 'held' AND o.user_id = ANY (users)
	  AND o.hold_until <= now();
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
		              WHERE o.user_id = u.user_id AND o.run_id = queue_batch_check.run_id AND o.status = 'held'
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
	-- The per-client limit, as check_client_limit() applies it to a grab:
	-- a client's live orders on the run, and its requests ahead in this
	-- batch that may yet get one (the clients' locks are held).
	IF cap > 0 THEN
		FOR unpaid IN
			SELECT u.i, u.client, c.live + u.k - 1 AS n FROM (
				SELECT x.i, x.client, row_number() OVER (PARTITION BY x.client ORDER BY x.i) AS k
				FROM unnest(clients) WITH ORDINALITY x(client, i)
				WHERE x.client IS NOT NULL AND fail_state[x.i] IS NULL) u
			CROSS JOIN LATERAL (SELECT count(*) AS live FROM orders o
			                    WHERE o.client = u.client AND o.run_id = queue_batch_check.run_id
			                      AND (o.status = 'paid' OR (o.status = 'held' AND o.hold_until > now()))) c
			WHERE c.live + u.k - 1 >= cap
		LOOP
			fail_state[unpaid.i] := 'TK072';
			fail_message[unpaid.i] := format('per-client limit reached: client "%s" has %s live orders on this train',
				unpaid.client, unpaid.n);
		END LOOP;
	END IF;
END
$$;
COMMENT ON FUNCTION queue_batch_check(bigint, bigint[], text[], text[], text[], text[]) IS 'internal: serve_queue step, carriages locked: expire the stale unpaid orders of a batch''s users, then TK002 for a user with an unpaid order on the run, TK013 for a request id used before and TK072 past a client''s limit';
REVOKE EXECUTE ON FUNCTION queue_batch_check(bigint, bigint[], text[], text[], text[], text[]) FROM PUBLIC;

-- The clients' locks on the run (check_client_limit()), in key order,
-- before the batch locks a carriage, as a grab takes them; only when the
-- per-client limit is on.
CREATE OR REPLACE FUNCTION queue_batch_lock_clients(run_id bigint, clients text[]) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF setting('max_orders_per_client_run') > 0 THEN
		PERFORM lock_xact('client_run', x.k)
		FROM (SELECT DISTINCT hashtextextended(c, queue_batch_lock_clients.run_id) AS k
		      FROM unnest(clients) c WHERE c IS NOT NULL ORDER BY 1) x;
	END IF;
END
$$;
COMMENT ON FUNCTION queue_batch_lock_clients(bigint, text[]) IS 'internal: serve_queue step: lock the batch''s clients on the run, in order, when the per-client limit is on';
REVOKE EXECUTE ON FUNCTION queue_batch_lock_clients(bigint, text[]) FROM PUBLIC;

-- Seats for the whole batch at once, in queue order, in C (seatmap_assign)
-- from the run's seat maps; a request that already failed is skipped.  If
-- some find none while expired holds still mark seats as taken, release
-- those (the waitlist gets them first, as always) and seat the rest once
-- more.
CREATE OR REPLACE FUNCTION queue_batch_seat(run_id bigint, journeys segrange[], wanted integer[], fail_state text[],
	OUT seating integer[], OUT map_carriage integer[])
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer := cardinality(journeys);
	maps bytea[];
	map_class integer[];
	unseated boolean;
BEGIN
	FOR attempt IN 1..2 LOOP
		SELECT array_agg(rc.map ORDER BY rc.carriage_no),
		       array_agg(array_position(enum_range(NULL::seat_class), rc.seat_class) ORDER BY rc.carriage_no),
		       array_agg(rc.carriage_no ORDER BY rc.carriage_no)
		INTO maps, map_class, map_carriage
		FROM run_carriage rc WHERE rc.run_id = queue_batch_seat.run_id;
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
		EXIT WHEN NOT unseated OR attempt = 2 OR release_expired_holds(queue_batch_seat.run_id) = 0;
	END LOOP;
END
$$;
COMMENT ON FUNCTION queue_batch_seat(bigint, segrange[], integer[], text[]) IS 'internal: serve_queue step, carriages locked: seats for a batch''s requests in order, two numbers per request (carriage position in map_carriage and seat index, NULLs if none), releasing expired holds once if some found none';
REVOKE EXECUTE ON FUNCTION queue_batch_seat(bigint, segrange[], integer[], text[]) FROM PUBLIC;

-- Everything the batch writes, in one statement: a held order and ticket
-- per seated request; per request its outcome (done with its order, or
-- failed with its SQLSTATE: TK001 when no seat was found), an update of a
-- request from the table, the one insert of a request from shared memory;
-- then the answers, for their waiters: they see them when this commits,
-- without a query.  A dropped request gets no outcome.  Returns how many
-- answers were kept.
CREATE OR REPLACE FUNCTION queue_batch_write(run_id bigint, train_id integer, train_code text, service_date date,
	until timestamptz, ids bigint[], positions bigint[], users bigint[], journeys segrange[], wanted integer[],
	client_ids text[], n_table integer, accepted timestamptz[], ahead bigint[], served_when bigint[],
	fail_state text[], fail_message text[], seating integer[], map_carriage integer[], clients text[])
RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer := cardinality(ids);
	service_nos bigint[];
	answers integer;
BEGIN
	-- numbers of service in queue order (generate_series yields in order)
	SELECT array_agg(nextval('queue_service_seq')) INTO service_nos FROM generate_series(1, n);
	WITH seated AS (
		SELECT i, users[i] AS user_id, client_ids[i] AS client_id, clients[i] AS client, journeys[i] AS legs,
		       map_carriage[seating[2 * i - 1]] AS carriage_no, seating[2 * i] AS seat_index,
		       nextval('orders_order_id_seq') AS order_id
		FROM generate_series(1, n) i
		WHERE fail_state[i] IS NULL AND seating[2 * i - 1] IS NOT NULL
		ORDER BY i),
	new_tickets AS (
		INSERT INTO tickets (order_id, run_id, seat_id, legs, status, hold_until)
		SELECT x.order_id, queue_batch_write.run_id, s.seat_id, x.legs, 'held', until
		FROM seated x JOIN seat s ON s.train_id = queue_batch_write.train_id AND s.carriage_no = x.carriage_no
		                         AND s.seat_index = x.seat_index
		RETURNING order_id, seat_id),
	new_orders AS (
		INSERT INTO orders (order_id, user_id, run_id, request_id, seat_class, legs, hold_until, client)
		SELECT x.order_id, x.user_id, queue_batch_write.run_id, x.client_id, rc.seat_class, x.legs, until, x.client
		FROM seated x JOIN run_carriage rc ON rc.run_id = queue_batch_write.run_id AND rc.carriage_no = x.carriage_no
		RETURNING order_id, user_id),
	outcome AS (
		SELECT b.i, ids[b.i] AS request_id, o.order_id, service_nos[b.i] AS service_no,
		       CASE WHEN o.order_id IS NULL THEN 'failed' ELSE 'done' END AS status,
		       CASE WHEN o.order_id IS NULL THEN coalesce(fail_state[b.i], 'TK001') END AS error_sqlstate,
		       CASE WHEN o.order_id IS NULL THEN coalesce(fail_message[b.i],
		           format('sold out: no %s seat on train %s on %s %s',
		                  coalesce((enum_range(NULL::seat_class))[wanted[b.i]]::text, 'free'),
		                  train_code, queue_batch_write.service_date, journeys[b.i])) END AS error_message
		FROM generate_series(1, n) b(i) LEFT JOIN seated o ON o.i = b.i
		WHERE fail_state[b.i] IS DISTINCT FROM 'dropped'),
	-- requests from the table: served
	served_rows AS (
		UPDATE queue_request q
		SET status = x.status, served_at = clock_timestamp(), service_no = x.service_no,
		    order_id = x.order_id, error_sqlstate = x.error_sqlstate, error_message = x.error_message
		FROM outcome x
		WHERE x.i <= n_table AND q.request_id = x.request_id),
	-- requests from shared memory: written once, served
	answered AS (
		INSERT INTO queue_request AS q (request_id, run_id, queue_position, user_id, client_request_id,
			seat_class, legs, accepted_at, ahead_when_accepted, served_when_accepted,
			status, served_at, service_no, order_id, error_sqlstate, error_message, client)
		SELECT x.request_id, queue_batch_write.run_id, positions[x.i], users[x.i], client_ids[x.i],
		       (enum_range(NULL::seat_class))[wanted[x.i]], journeys[x.i],
		       accepted[x.i - n_table], ahead[x.i - n_table], served_when[x.i - n_table],
		       x.status, clock_timestamp(), x.service_no, x.order_id, x.error_sqlstate, x.error_message,
		       clients[x.i]
		FROM outcome x
		WHERE x.i > n_table
		ORDER BY x.i
		RETURNING q.request_id, q.order_id, q.error_sqlstate, q.error_message)
	SELECT queue_ring_answered(array_agg(a.request_id), array_agg(a.order_id), array_agg(k.carriage_no),
	                           array_agg(k.seat_no), until, array_agg(a.error_sqlstate),
	                           array_agg(a.error_message))
	INTO answers
	FROM answered a LEFT JOIN new_tickets t ON t.order_id = a.order_id LEFT JOIN seat k ON k.seat_id = t.seat_id;
	RETURN answers;
END
$$;
COMMENT ON FUNCTION queue_batch_write(bigint, integer, text, date, timestamptz, bigint[], bigint[], bigint[], segrange[], integer[], text[], integer, timestamptz[], bigint[], bigint[], text[], text[], integer[], integer[], text[]) IS 'internal: serve_queue step, carriages locked: write a seated batch in one statement (orders with their clients, tickets, the requests'' outcomes) and the answers for waiters in shared memory; returns how many answers were kept';
REVOKE EXECUTE ON FUNCTION queue_batch_write(bigint, integer, text, date, timestamptz, bigint[], bigint[], bigint[], segrange[], integer[], text[], integer, timestamptz[], bigint[], bigint[], text[], text[], integer[], integer[], text[]) FROM PUBLIC;

-- A batch failed on something its checks did not foresee, and its work was
-- rolled back; state and message are the error's.  The requests it took
-- from shared memory wait in the table from now on (this transaction lets
-- go of them there when it commits).  Lost a race for the carriages (a
-- deadlock PostgreSQL broke by choosing this batch), or waited past
-- serve_queue()'s lock timeout for a lock held elsewhere (a client's open
-- transaction on a carriage, say): nothing of it is kept, the next call
-- serves the same requests in the same order; returns 0.  Otherwise its
-- first request is served alone, the way grab does, so a request that
-- fails every time cannot hold the queue up; returns 1 (0 if that too
-- waited past the lock timeout: the request waits, first).
CREATE OR REPLACE FUNCTION queue_batch_recover(run_id bigint, train_id integer, train_code text, service_date date,
	ids bigint[], positions bigint[], users bigint[], journeys segrange[], wanted integer[], client_ids text[],
	n_table integer, accepted timestamptz[], ahead bigint[], served_when bigint[], fail_state text[],
	state text, message text, clients text[])
RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer := cardinality(ids);
	got booking;
BEGIN
	-- (a batch of one seat each: no passengers or letters to keep)
	PERFORM queue_batch_defer(queue_batch_recover.run_id, ids, positions, users, journeys, wanted, client_ids,
		n_table, accepted, ahead, served_when, array_fill(NULL::text, ARRAY[n]), array_fill(NULL::text, ARRAY[n]),
		clients, fail_state, 1);
	IF state = '55P03' THEN
		-- a lock of the run held past serve_queue()'s lock timeout (a client's
		-- open transaction on a carriage, say): the run waits for the next call
		RAISE LOG 'ticket queue: run % left for the next round: a lock it needs is held elsewhere (%); its % requests wait',
			queue_batch_recover.run_id, message, n;
		RETURN 0;
	END IF;
	IF state IN ('40P01', '40001') OR fail_state[1] IS NOT DISTINCT FROM 'dropped' THEN
		RAISE LOG 'ticket queue: batch of % requests on run % rolled back: %', n, queue_batch_recover.run_id, message;
		RETURN 0;
	END IF;
	RAISE WARNING 'ticket queue: batch of % requests on run % failed, serving one: %', n, queue_batch_recover.run_id, message;
	BEGIN
		-- served as grab serves it: not on a run whose sales are not open
		IF NOT EXISTS (SELECT 1 FROM run ru WHERE ru.run_id = queue_batch_recover.run_id AND ru.status = 'open') THEN
			PERFORM raise_sales_not_open(train_code, queue_batch_recover.service_date);
		END IF;
		PERFORM check_client_limit(clients[1], queue_batch_recover.run_id);
		got := hold_seat(users[1], queue_batch_recover.run_id, queue_batch_recover.train_id, journeys[1],
			(enum_range(NULL::seat_class))[wanted[1]], client_ids[1], true,
			format('on train %s on %s %s', train_code, queue_batch_recover.service_date, journeys[1]), clients[1]);
		UPDATE queue_request q SET status = 'done', served_at = clock_timestamp(),
			service_no = nextval('queue_service_seq'), order_id = got.order_id
		WHERE q.request_id = ids[1];
	EXCEPTION WHEN lock_not_available THEN
		-- not the request's fault: it waits, first, for the next call
		RAISE LOG 'ticket queue: run % left for the next round: a lock it needs is held elsewhere (%)',
			queue_batch_recover.run_id, SQLERRM;
		RETURN 0;
	WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
		UPDATE queue_request q SET status = 'failed', served_at = clock_timestamp(),
			service_no = nextval('queue_service_seq'), error_sqlstate = state, error_message = message
		WHERE q.request_id = ids[1];
	END;
	RETURN 1;
END
$$;
COMMENT ON FUNCTION queue_batch_recover(bigint, integer, text, date, bigint[], bigint[], bigint[], segrange[], integer[], text[], integer, timestamptz[], bigint[], bigint[], text[], text, text, text[]) IS 'internal: serve_queue step, after a failed batch was rolled back: write the requests it took from shared memory to the table, then serve its first request alone as grab does (1) or, after a lost race for locks, nothing (0)';
REVOKE EXECUTE ON FUNCTION queue_batch_recover(bigint, integer, text, date, bigint[], bigint[], bigint[], segrange[], integer[], text[], integer, timestamptz[], bigint[], bigint[], text[], text, text, text[]) FROM PUBLIC;

-- Requests a batch took but does not serve now (from position from_i on)
-- wait for the next batch, in order: those from shared memory are written
-- to the table, waiting (this transaction lets go of them there when it
-- commits); those from the table wait there still.  A dropped one is not
-- kept.
CREATE OR REPLACE FUNCTION queue_batch_defer(run_id bigint, ids bigint[], positions bigint[], users bigint[],
	journeys segrange[], wanted integer[], client_ids text[], n_table integer, accepted timestamptz[],
	ahead bigint[], served_when bigint[], named text[], letters text[], clients text[], fail_state text[],
	from_i integer)
RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO queue_request AS q (request_id, run_id, queue_position, user_id, client_request_id,
		seat_class, legs, accepted_at, ahead_when_accepted, served_when_accepted, passenger_ids, seat_letters, client)
	SELECT ids[i], queue_batch_defer.run_id, positions[i], users[i], client_ids[i],
	       (enum_range(NULL::seat_class))[wanted[i]], journeys[i],
	       accepted[i - n_table], ahead[i - n_table], served_when[i - n_table],
	       named[i]::bigint[], letters[i], clients[i]
	FROM generate_series(greatest(n_table + 1, from_i), cardinality(ids)) i
	WHERE fail_state[i] IS DISTINCT FROM 'dropped'
	ORDER BY i
	ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION queue_batch_defer(bigint, bigint[], bigint[], bigint[], segrange[], integer[], text[], integer, timestamptz[], bigint[], bigint[], text[], text[], text[], text[], integer) IS 'internal: serve_queue step: the requests of a batch from a position on wait for the next batch (those taken from shared memory are written to the table, waiting)';
REVOKE EXECUTE ON FUNCTION queue_batch_defer(bigint, bigint[], bigint[], bigint[], segrange[], integer[], text[], integer, timestamptz[], bigint[], bigint[], text[], text[], text[], text[], integer) FROM PUBLIC;

-- A batch of requests with passengers, served in order, each as the
-- passenger form of grab serves it (grab_named: names, fares, one place at
-- a time, the per-person, per-client and daily limits, seats together), in
-- a subtransaction of its own: its error (TK001 sold out, TK043, TK071 ...)
-- is its outcome, as grab would have raised it.  A lock held elsewhere past
-- serve_queue()'s lock timeout, or a deadlock, is not the request's fault:
-- it and the ones after it wait for the next call.  Writes each outcome
-- (and, for a request from shared memory, its row and its answer for the
-- waiter); returns how many requests were served.
CREATE OR REPLACE FUNCTION queue_batch_named(run_id bigint, train_code text, service_date date, ids bigint[],
	positions bigint[], users bigint[], journeys segrange[], wanted integer[], client_ids text[], n_table integer,
	accepted timestamptz[], ahead bigint[], served_when bigint[], named text[], letters text[], clients text[],
	fail_state text[], fail_message text[])
RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer := cardinality(ids);
	place record;
	docs text[];
	got_order bigint;
	got_carriage integer;
	got_seat text;
	got_until timestamptz;
	state text;
	message text;
BEGIN
	FOR i IN 1..n LOOP
		CONTINUE WHEN fail_state[i] IS NOT DISTINCT FROM 'dropped';
		state := fail_state[i];
		message := fail_message[i];
		got_order := NULL;
		IF state IS NULL THEN
			SELECT a.code AS from_code, b.code AS to_code INTO place
			FROM run r
			JOIN stop sa ON sa.train_id = r.train_id AND sa.stop_no = lower(journeys[i])
			JOIN station a ON a.station_id = sa.station_id
			JOIN stop sb ON sb.train_id = r.train_id AND sb.stop_no = upper(journeys[i])
			JOIN station b ON b.station_id = sb.station_id
			WHERE r.run_id = queue_batch_named.run_id;
			SELECT array_agg(p.document_no ORDER BY u.k) INTO docs
			FROM unnest(named[i]::bigint[]) WITH ORDINALITY u(passenger_id, k)
			JOIN passenger p ON p.passenger_id = u.passenger_id;
			BEGIN
				SELECT b.order_id, b.carriage, b.seat_no, b.hold_until INTO got_order, got_carriage, got_seat, got_until
				FROM grab_named(users[i], train_code, queue_batch_named.service_date, place.from_code, place.to_code,
				                (enum_range(NULL::seat_class))[wanted[i]]::text, docs, letters[i], clients[i]) b
				ORDER BY b.ticket_id DESC LIMIT 1;
			EXCEPTION
				WHEN lock_not_available OR deadlock_detected THEN
					GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
					RAISE LOG 'ticket queue: run % left for the next round: a lock it needs is held elsewhere (%)',
						queue_batch_named.run_id, message;
					PERFORM queue_batch_defer(queue_batch_named.run_id, ids, positions, users, journeys, wanted,
						client_ids, n_table, accepted, ahead, served_when, named, letters, clients, fail_state, i);
					RETURN i - 1;
				WHEN OTHERS THEN
					GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
			END;
		END IF;
		IF i <= n_table THEN
			UPDATE queue_request q
			SET status = CASE WHEN got_order IS NULL THEN 'failed' ELSE 'done' END,
			    served_at = clock_timestamp(), service_no = nextval('queue_service_seq'), order_id = got_order,
			    error_sqlstate = CASE WHEN got_order IS NULL THEN state END,
			    error_message = CASE WHEN got_order IS NULL THEN message END
			WHERE q.request_id = ids[i];
		ELSE
			INSERT INTO queue_request (request_id, run_id, queue_position, user_id, client_request_id,
				seat_class, legs, accepted_at, ahead_when_accepted, served_when_accepted, passenger_ids, seat_letters,
				client, status, served_at, service_no, order_id, error_sqlstate, error_message)
			VALUES (ids[i], queue_batch_named.run_id, positions[i], users[i], client_ids[i],
				(enum_range(NULL::seat_class))[wanted[i]], journeys[i], accepted[i - n_table], ahead[i - n_table],
				served_when[i - n_table], named[i]::bigint[], letters[i], clients[i],
				CASE WHEN got_order IS NULL THEN 'failed' ELSE 'done' END, clock_timestamp(),
				nextval('queue_service_seq'), got_order,
				CASE WHEN got_order IS NULL THEN state END, CASE WHEN got_order IS NULL THEN message END);
			PERFORM queue_ring_answered(ARRAY[ids[i]], ARRAY[got_order], ARRAY[got_carriage], ARRAY[got_seat],
				got_until, ARRAY[CASE WHEN got_order IS NULL THEN state END],
				ARRAY[CASE WHEN got_order IS NULL THEN message END]);
		END IF;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION queue_batch_named(bigint, text, date, bigint[], bigint[], bigint[], segrange[], integer[], text[], integer, timestamptz[], bigint[], bigint[], text[], text[], text[], text[], text[]) IS 'internal: serve_queue step: serve a batch of requests with passengers in order, each as the passenger form of grab (its error its outcome), and write their outcomes; a lock held elsewhere leaves the rest for the next call; returns how many were served';
REVOKE EXECUTE ON FUNCTION queue_batch_named(bigint, text, date, bigint[], bigint[], bigint[], segrange[], integer[], text[], integer, timestamptz[], bigint[], bigint[], text[], text[], text[], text[], text[]) FROM PUBLIC;

-- The run's queue head moves past the requests served: how many, when, up
-- to which position (every request still waiting comes after it), and the
-- pace per request that wait estimates use.
CREATE OR REPLACE FUNCTION queue_batch_advance(run_id bigint, n integer, started timestamptz, last_position bigint)
RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO queue_head AS h (run_id, served, last_served_at, seconds_per_request, last_position)
	VALUES (queue_batch_advance.run_id, n, clock_timestamp(), extract(epoch FROM clock_timestamp() - started) / n,
	        queue_batch_advance.last_position)
	ON CONFLICT ON CONSTRAINT queue_head_pkey DO UPDATE
	SET served = h.served + n, last_served_at = excluded.last_served_at,
	    last_position = greatest(h.last_position, excluded.last_position),
	    -- a moving average over recent batches
	    seconds_per_request = coalesce(0.7 * h.seconds_per_request + 0.3 * excluded.seconds_per_request,
	                                   excluded.seconds_per_request);
END
$$;
COMMENT ON FUNCTION queue_batch_advance(bigint, integer, timestamptz, bigint) IS 'internal: serve_queue step: count a batch of n requests served up to a position in the run''s queue head, with the time since it started';
REVOKE EXECUTE ON FUNCTION queue_batch_advance(bigint, integer, timestamptz, bigint) FROM PUBLIC;
