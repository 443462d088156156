/* ticket--1.1--1.2.sql: the order queue and the waitlist */

\echo Use "ALTER EXTENSION ticket UPDATE TO '1.2'" to load this file. \quit

SET LOCAL search_path = ticket, pg_catalog;

-- New SQLSTATEs (README lists them):
--   TK018 queue full, try later          TK019 no such queued request
--   TK020 already waiting in this queue  TK021 seats available: grab them
--   TK022 invalid waitlist deadline      TK023 already on this waitlist
--   TK024 no such waitlist request

-- The queue ------------------------------------------------------------------
--
-- ticket.enqueue() accepts a request at once and gives it the next number
-- of a sequence; a server (the background worker, or anyone calling
-- ticket.serve_queue()) serves a run's requests strictly in that order,
-- many per transaction.  Enqueuers of a run share a lock on its queue
-- (an advisory lock, held to commit, never waited on by each other); a
-- server takes it exclusively for an instant, which waits for the
-- enqueuers in flight, and notes the sequence's last number: every request
-- of the run numbered up to there is then committed or gone, so serving
-- them in order never passes over one that would show up later.  Enqueuers
-- never queue up on one row, so a crowd on one train costs no convoy.

CREATE SEQUENCE queue_position_seq;
COMMENT ON SEQUENCE queue_position_seq IS 'order of acceptance of queued requests, across all runs';

-- Written only by servers, so enqueuers never wait for a batch to finish.
CREATE TABLE queue_head (
	run_id bigint PRIMARY KEY REFERENCES run ON DELETE CASCADE,
	served bigint NOT NULL DEFAULT 0 CHECK (served >= 0),
	last_served_at timestamptz,
	seconds_per_request double precision
);
COMMENT ON TABLE queue_head IS 'per run: how many queued requests have been served, when last, and the recent service time per request (for wait estimates)';

CREATE SEQUENCE queue_service_seq;
COMMENT ON SEQUENCE queue_service_seq IS 'order in which queued requests were served, across all runs';

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
COMMENT ON COLUMN queue_request.service_no IS 'global order of service (queue_service_seq): served in position order, it grows with queue_position';

CREATE TYPE queue_entry AS (
	request_id bigint,
	queue_position bigint,
	ahead bigint,
	status text
);
COMMENT ON TYPE queue_entry IS 'a queued request as ticket.enqueue() returns it: its id, its number in the order of acceptance and how many requests of its run are waiting ahead of it';

CREATE FUNCTION queue_max_waiting() RETURNS integer
	AS 'MODULE_PATHNAME', 'ticket_queue_max_waiting' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION queue_max_waiting() IS 'the setting ticket.queue_max_waiting: most requests one run''s queue may hold unserved';

-- The waitlist (候补) ----------------------------------------------------------
--
-- A user whose journey is sold out leaves a request; a seat that comes back
-- to sale (cancel, refund, expired hold) is offered to the run's waiting
-- requests in order before anyone else, in the transaction that released
-- it, so a public grab cannot see it in between.

CREATE TABLE waitlist (
	waitlist_id bigserial PRIMARY KEY,
	user_id bigint NOT NULL,
	run_id bigint NOT NULL REFERENCES run ON DELETE CASCADE,
	legs segrange NOT NULL,
	seat_classes seat_class[] NOT NULL CHECK (cardinality(seat_classes) BETWEEN 1 AND 6),
	deadline timestamptz NOT NULL,
	status text NOT NULL DEFAULT 'waiting'
		CHECK (status IN ('waiting', 'fulfilled', 'expired', 'cancelled')),
	created_at timestamptz NOT NULL DEFAULT now(),
	closed_at timestamptz,
	order_id bigint REFERENCES orders,
	CHECK ((status = 'fulfilled') = (order_id IS NOT NULL))
);
CREATE UNIQUE INDEX waitlist_one_per_run ON waitlist (user_id, run_id) WHERE status = 'waiting';
CREATE INDEX waitlist_waiting_idx ON waitlist (run_id, waitlist_id) WHERE status = 'waiting';
COMMENT ON TABLE waitlist IS 'waitlist requests (候补): a sold-out journey, acceptable classes in order of preference and a deadline; fulfilled requests point at the order they got';

SELECT pg_catalog.pg_extension_config_dump('queue_position_seq', '');
SELECT pg_catalog.pg_extension_config_dump('queue_head', '');
SELECT pg_catalog.pg_extension_config_dump('queue_request', '');
SELECT pg_catalog.pg_extension_config_dump('queue_request_request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('queue_service_seq', '');
SELECT pg_catalog.pg_extension_config_dump('waitlist', '');
SELECT pg_catalog.pg_extension_config_dump('waitlist_waitlist_id_seq', '');

-- Seat search ------------------------------------------------------------------

-- find_seat learns not to wait: the waitlist looks for seats while it holds
-- the carriages its caller released, and waiting there could deadlock.
DROP FUNCTION find_seat(bigint, integer, segrange, seat_class);

-- A free seat for a journey, best first (see README, seat choice), with its
-- carriage's inventory row locked for this transaction.  Carriages are tried
-- in the order of their best seat; one being changed by a concurrent grab is
-- skipped; only when every carriage with a free seat is locked, and the
-- caller may wait, does it wait, so sold out means no seat is free.  Each
-- attempt runs in a subtransaction that gives the row lock back when the
-- carriage turns out to be full, so a grab never holds one carriage while it
-- waits for another (no deadlocks).
CREATE FUNCTION find_seat(run_id bigint, train_id integer, legs segrange, wanted seat_class,
	may_wait boolean)
RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	candidate record;
	best_index integer;
BEGIN
	FOR pass IN 1..CASE WHEN may_wait THEN 2 ELSE 1 END LOOP
		FOR candidate IN
			SELECT c.carriage_no FROM (
				SELECT rc.carriage_no, rc.seat_class, seatmap_best_score(rc.map, legs) AS score
				FROM run_carriage rc
				WHERE rc.run_id = find_seat.run_id AND (wanted IS NULL OR rc.seat_class = wanted)
				OFFSET 0) c
			WHERE c.score IS NOT NULL
			ORDER BY c.score DESC, c.seat_class DESC, c.carriage_no
		LOOP
			BEGIN
				IF pass = 1 THEN
					PERFORM 1 FROM run_carriage rc
					WHERE rc.run_id = find_seat.run_id AND rc.carriage_no = candidate.carriage_no
					FOR UPDATE SKIP LOCKED;
					CONTINUE WHEN NOT FOUND;
				ELSE
					PERFORM 1 FROM run_carriage rc
					WHERE rc.run_id = find_seat.run_id AND rc.carriage_no = candidate.carriage_no
					FOR UPDATE;
				END IF;
				-- a new statement: it sees the latest map, which the lock now guards
				SELECT seatmap_best(rc.map, legs) INTO best_index FROM run_carriage rc
				WHERE rc.run_id = find_seat.run_id AND rc.carriage_no = candidate.carriage_no;
				IF best_index IS NULL THEN
					RAISE EXCEPTION USING ERRCODE = 'TKZ01';	-- filled up meanwhile
				END IF;
				RETURN (SELECT s.seat_id FROM seat s
				        WHERE s.train_id = find_seat.train_id AND s.carriage_no = candidate.carriage_no
				          AND s.seat_index = best_index);
			EXCEPTION WHEN SQLSTATE 'TKZ01' THEN
				NULL;	-- the subtransaction's end released the carriage: try the next
			END;
		END LOOP;
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION find_seat(bigint, integer, segrange, seat_class, boolean) IS 'internal: the best free seat for a journey with its carriage locked, NULL if none (without waiting for locked carriages unless may_wait)';

-- Lock every carriage of a run, in carriage order.  Whoever locks several
-- carriages takes them in (run, carriage) order, and whoever holds one
-- waits for no other; a grab that must expire holds of the run before it
-- looks for a seat (which locks their carriages) takes them all this way
-- first, so it never holds one carriage while waiting for a lower one.
CREATE FUNCTION lock_run_inventory(run_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM 1 FROM run_carriage rc WHERE rc.run_id = lock_run_inventory.run_id
	ORDER BY rc.carriage_no FOR UPDATE;
END
$$;
COMMENT ON FUNCTION lock_run_inventory(bigint) IS 'internal: lock all inventory rows of a run in carriage order';

-- A user may hold one unpaid order per run: raise TK002 if there is one.
-- One past its deadline no longer counts and is expired first; its seats
-- come back (to the waitlist first), the run's carriages locked in order
-- before, so the caller may go on to wait for a carriage.
CREATE FUNCTION check_unpaid_order(user_id bigint, run_id bigint, may_wait boolean) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	unpaid bigint;
	stale boolean;
BEGIN
	-- at most one unpaid order per user and run (a unique index says so);
	-- one past its deadline no longer counts and is expired here
	IF may_wait THEN
		SELECT o.order_id, o.hold_until <= now() INTO unpaid, stale FROM orders o
		WHERE o.user_id = check_unpaid_order.user_id AND o.run_id = check_unpaid_order.run_id AND o.status = 'held'
		FOR UPDATE;
	ELSE
		-- a stale order may be locked by its payment, which waits for a
		-- carriage this caller holds: leave it, it still counts
		SELECT o.order_id, false INTO unpaid, stale FROM orders o
		WHERE o.user_id = check_unpaid_order.user_id AND o.run_id = check_unpaid_order.run_id AND o.status = 'held';
	END IF;
	IF stale THEN
		PERFORM lock_run_inventory(check_unpaid_order.run_id);
		PERFORM expire_orders(ARRAY[unpaid]);
		unpaid := NULL;
	END IF;
	IF unpaid IS NOT NULL THEN
		RAISE EXCEPTION 'user % already has an unpaid order on this train', user_id
			USING ERRCODE = 'TK002', DETAIL = format('Order %s is waiting for payment.', unpaid),
			HINT = 'Pay or cancel it first.';
	END IF;
END
$$;
COMMENT ON FUNCTION check_unpaid_order(bigint, bigint, boolean) IS 'internal: TK002 if the user has an unpaid order on the run; one past its deadline is expired instead (only when the caller may wait for locks)';

-- Hold a seat for a user on a run: the part of a grab after the request has
-- been checked.  grab() calls it for one caller; the waitlist for each
-- request it fulfils.  Raises TK001 (nothing free) and TK002 (unpaid order).
CREATE FUNCTION hold_seat(user_id bigint, run_id bigint, train_id integer, legs segrange,
	wanted seat_class, request_id text, may_wait boolean, journey_label text)
RETURNS booking
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	new_order bigint;
	until timestamptz := now() + hold_timeout();
	chosen integer;
	taken seat;
	violated text;
BEGIN
	PERFORM check_unpaid_order(hold_seat.user_id, hold_seat.run_id, may_wait);

	-- Expired holds may still mark seats as taken until the sweeper runs;
	-- before answering sold out, release those of this run (the waitlist
	-- gets them first) and look once more.  That takes carriage locks, so
	-- only callers that may wait do it (not the waitlist).
	new_order := nextval('orders_order_id_seq');
	FOR attempt IN 1..3 LOOP
		chosen := find_seat(hold_seat.run_id, hold_seat.train_id, hold_seat.legs, wanted, may_wait);
		IF chosen IS NULL THEN
			EXIT WHEN attempt > 1 OR NOT may_wait OR release_expired_holds(hold_seat.run_id) = 0;
		ELSE
			-- the exclusion constraint has the last word
			BEGIN
				INSERT INTO tickets (order_id, run_id, seat_id, legs, status, hold_until)
				VALUES (new_order, hold_seat.run_id, chosen, hold_seat.legs, 'held', until);
				EXIT;
			EXCEPTION WHEN exclusion_violation THEN
				-- The map said free but a live ticket overlaps.  That cannot
				-- happen while the trigger keeps them equal; if it ever does,
				-- recount the carriage (this transaction holds its lock) and
				-- look again.
				PERFORM rebuild_seat_map(hold_seat.run_id, s.carriage_no) FROM seat s WHERE s.seat_id = chosen;
				chosen := NULL;
			END;
		END IF;
	END LOOP;

	IF chosen IS NULL THEN
		RAISE EXCEPTION 'sold out: no % seat %', coalesce(wanted::text, 'free'), journey_label
			USING ERRCODE = 'TK001';
	END IF;

	SELECT * INTO taken FROM seat s WHERE s.seat_id = chosen;
	BEGIN
		INSERT INTO orders (order_id, user_id, run_id, request_id, seat_class, legs, hold_until)
		VALUES (new_order, hold_seat.user_id, hold_seat.run_id, hold_seat.request_id,
		        taken.seat_class, hold_seat.legs, until);
	EXCEPTION WHEN unique_violation THEN
		-- a concurrent transaction that this one's snapshot cannot see
		-- (REPEATABLE READ or SERIALIZABLE callers) got there first
		GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
		IF violated = 'orders_one_unpaid_per_run' THEN
			RAISE EXCEPTION 'user % already has an unpaid order on this train', user_id
				USING ERRCODE = 'TK002', HINT = 'Pay or cancel it first.';
		END IF;
		RAISE EXCEPTION 'request id "%" was already used for another request', request_id
			USING ERRCODE = 'TK013';
	END;
	RETURN ROW(new_order, taken.carriage_no, taken.seat_no, taken.seat_class::text, hold_seat.legs,
		until, 'held')::booking;
END
$$;
COMMENT ON FUNCTION hold_seat(bigint, bigint, integer, segrange, seat_class, text, boolean, text) IS 'internal: hold the best free seat of a run for a user and write the order; TK001 if none, TK002 if the user has an unpaid order there';

CREATE OR REPLACE FUNCTION grab(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL, request_id text DEFAULT NULL)
RETURNS SETOF booking
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
	cls ticket.seat_class := checked_seat_class(seat_class);
	existing orders%ROWTYPE;
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
	END IF;
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);

	-- One user's grabs on one run take turns; transaction-scoped, so this
	-- works behind a pooler in transaction mode.
	PERFORM pg_advisory_xact_lock(hashint8extended(grab.user_id, j.run_id));

	IF request_id IS NOT NULL THEN
		SELECT * INTO existing FROM orders o
		WHERE o.user_id = grab.user_id AND o.request_id = grab.request_id;
		IF FOUND THEN
			IF existing.run_id <> j.run_id OR existing.legs <> j.legs
			   OR (cls IS NOT NULL AND existing.seat_class <> cls) THEN
				RAISE EXCEPTION 'request id "%" was already used for another request', request_id
					USING ERRCODE = 'TK013', DETAIL = format('It belongs to order %s.', existing.order_id);
			END IF;
			RETURN QUERY SELECT * FROM order_row(existing.order_id);
			RETURN;
		END IF;
	END IF;

	IF j.run_status <> 'open' THEN
		RAISE EXCEPTION 'sales are not open for train % on %', upper(train), service_date
			USING ERRCODE = 'TK012';
	END IF;

	RETURN NEXT hold_seat(grab.user_id, j.run_id, j.train_id, j.legs, cls, grab.request_id, true,
		format('on train %s on %s from %s to %s', upper(train), service_date, from_station, to_station));
END
$$;

-- The waitlist -----------------------------------------------------------------

-- Departure of a run from a stop, as a point in time (the timetable is in
-- Beijing time); a train without times leaves at the start of its date.
CREATE FUNCTION departure_time(run_id bigint, stop_no integer) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT (r.service_date + coalesce(s.depart, interval '0')) AT TIME ZONE 'Asia/Shanghai'
	FROM run r JOIN stop s ON s.train_id = r.train_id
	WHERE r.run_id = departure_time.run_id AND s.stop_no = departure_time.stop_no
$$;
COMMENT ON FUNCTION departure_time(bigint, integer) IS 'when a run leaves one of its stops (timetables are Beijing time; without times, the start of the service date)';

CREATE FUNCTION join_waitlist(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_classes text[] DEFAULT NULL, deadline timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
	classes ticket.seat_class[];
	departs timestamptz;
	free_seats integer;
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

	departs := departure_time(j.run_id, lower(j.legs));
	deadline := coalesce(deadline, departs);
	IF deadline <= now() OR deadline > departs THEN
		RAISE EXCEPTION 'invalid waitlist deadline: %', deadline USING ERRCODE = 'TK022',
			DETAIL = format('The deadline must be after now and no later than the departure at %s.', departs);
	END IF;

	-- only sold-out journeys: with a seat free the caller should grab it
	SELECT coalesce(sum(r.remaining), 0) INTO free_seats
	FROM remaining(train, service_date, from_station, to_station) r
	WHERE r.seat_class::ticket.seat_class = ANY (classes);
	IF free_seats > 0 THEN
		RAISE EXCEPTION 'seats are available on this journey: grab one instead' USING ERRCODE = 'TK021',
			DETAIL = format('%s seats of the requested classes are free.', free_seats);
	END IF;

	BEGIN
		INSERT INTO waitlist (user_id, run_id, legs, seat_classes, deadline)
		VALUES (join_waitlist.user_id, j.run_id, j.legs, classes, deadline)
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
COMMENT ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz) IS 'wait for a seat on a sold-out journey (候补): returned seats go to waiting requests in order before public sale; classes in order of preference (default any, cheapest first); deadline defaults to the departure';

CREATE FUNCTION waitlist_status(waitlist_id bigint,
	OUT status text, OUT ahead bigint, OUT deadline timestamptz, OUT order_id bigint)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	w waitlist;
BEGIN
	SELECT * INTO w FROM waitlist x WHERE x.waitlist_id = waitlist_status.waitlist_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such waitlist request: %', waitlist_id USING ERRCODE = 'TK024';
	END IF;
	status := CASE WHEN w.status = 'waiting' AND w.deadline <= now() THEN 'expired' ELSE w.status END;
	IF status = 'waiting' THEN
		SELECT count(*) INTO ahead FROM waitlist x
		WHERE x.run_id = w.run_id AND x.status = 'waiting' AND x.waitlist_id < w.waitlist_id;
	END IF;
	deadline := w.deadline;
	order_id := w.order_id;
END
$$;
COMMENT ON FUNCTION waitlist_status(bigint) IS 'a waitlist request: waiting (with how many requests of the run are ahead), fulfilled (with its order, held for payment), expired or cancelled';

CREATE FUNCTION leave_waitlist(waitlist_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result text;
BEGIN
	UPDATE waitlist w SET status = 'cancelled', closed_at = now()
	WHERE w.waitlist_id = leave_waitlist.waitlist_id AND w.status = 'waiting'
	RETURNING w.status INTO result;
	IF result IS NULL THEN
		SELECT w.status INTO result FROM waitlist w WHERE w.waitlist_id = leave_waitlist.waitlist_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no such waitlist request: %', waitlist_id USING ERRCODE = 'TK024';
		END IF;
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION leave_waitlist(bigint) IS 'withdraw a waiting waitlist request; idempotent; a fulfilled one keeps its order (cancel that instead)';

-- Seats came back to sale on a run (cancel, refund, expiry, change): the
-- waitlist gets them before public sale.  Every path that releases seats
-- calls this in the same transaction, while it still holds the carriages
-- it released them in, so no other transaction sees them free in between.
-- It never waits for a carriage (a concurrent releaser may hold one and wait
-- for this run's waitlist): carriages locked elsewhere are left to their
-- holders, who run this themselves before they commit.
CREATE FUNCTION seats_returned(run_id bigint) RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	w record;
	got booking;
	fulfilled integer := 0;
	train integer;
	cls seat_class;
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
		SELECT x.waitlist_id, x.user_id, x.legs, x.seat_classes, x.deadline
		FROM waitlist x
		WHERE x.run_id = seats_returned.run_id AND x.status = 'waiting'
		ORDER BY x.waitlist_id
		FOR UPDATE SKIP LOCKED	-- one being withdrawn right now is left to that
	LOOP
		IF w.deadline <= now() THEN
			UPDATE waitlist x SET status = 'expired', closed_at = now() WHERE x.waitlist_id = w.waitlist_id;
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

-- Releasing the expired holds of a run, a grab that found no seat locks all
-- the run's carriages in order first (see lock_run_inventory): it looks for
-- a seat again right after, and must not hold some while waiting for others.
CREATE OR REPLACE FUNCTION release_expired_holds(run_id bigint) RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM tickets t
	               WHERE t.run_id = release_expired_holds.run_id AND t.status = 'held' AND t.hold_until <= now()) THEN
		RETURN 0;
	END IF;
	PERFORM lock_run_inventory(release_expired_holds.run_id);
	RETURN (SELECT expire_orders(coalesce(array_agg(o.order_id), '{}')) FROM (
		-- found through tickets_holds_idx: orders has no index by run, so
		-- that no plan ever prefers one to the unique (user, run) index
		SELECT o.order_id FROM orders o
		WHERE o.order_id IN (
			SELECT t.order_id FROM tickets t
			WHERE t.run_id = release_expired_holds.run_id AND t.status = 'held' AND t.hold_until <= now())
		  AND o.status = 'held' AND o.hold_until <= now()
		ORDER BY o.order_id
		FOR UPDATE OF o SKIP LOCKED) o);
END
$$;

-- Every release of seats now offers them to the waitlist first.
CREATE OR REPLACE FUNCTION expire_orders(order_ids bigint[]) RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	IF coalesce(cardinality(order_ids), 0) = 0 THEN
		RETURN 0;
	END IF;
	PERFORM lock_inventory_of(order_ids);
	UPDATE tickets t SET status = 'expired'
	WHERE t.order_id = ANY (order_ids) AND t.status = 'held';
	UPDATE orders o SET status = 'expired', closed_at = now()
	WHERE o.order_id = ANY (order_ids) AND o.status = 'held';
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM seats_returned(r.run_id)
	FROM (SELECT DISTINCT o.run_id FROM orders o WHERE o.order_id = ANY (order_ids) ORDER BY 1) r;
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION set_order_status(order_id bigint, new_status text) RETURNS text
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result text;
	order_run bigint;
BEGIN
	PERFORM lock_inventory_of(ARRAY[set_order_status.order_id]);
	UPDATE tickets t SET status = new_status WHERE t.order_id = set_order_status.order_id;
	UPDATE orders o SET status = new_status,
		paid_at = CASE WHEN new_status = 'paid' THEN now() ELSE o.paid_at END,
		closed_at = CASE WHEN new_status = 'paid' THEN o.closed_at ELSE now() END
	WHERE o.order_id = set_order_status.order_id
	RETURNING o.status, o.run_id INTO result, order_run;
	IF new_status NOT IN ('held', 'paid') THEN
		PERFORM seats_returned(order_run);
	END IF;
	RETURN result;
END
$$;

-- The sweeper also ends waitlist requests past their deadline.
CREATE OR REPLACE FUNCTION expire_holds() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
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

-- The queue ----------------------------------------------------------------------

-- Requests of a run waiting ahead of the one numbered pos, or all of them
-- (counting stops at stop_at, the cap, so a full queue costs no more).
CREATE FUNCTION waiting_ahead(run_id bigint, pos bigint, stop_at integer) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	RETURN (SELECT count(*) FROM (
		SELECT 1 FROM queue_request q
		WHERE q.run_id = waiting_ahead.run_id AND q.status = 'waiting' AND (pos IS NULL OR q.queue_position < pos)
		LIMIT stop_at) x);
END
$$;
COMMENT ON FUNCTION waiting_ahead(bigint, bigint, integer) IS 'internal: how many requests of a run wait ahead of a position (NULL: all that wait), counting at most stop_at (NULL: no limit)';

CREATE FUNCTION enqueue(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL, request_id text DEFAULT NULL)
RETURNS queue_entry
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
	cls ticket.seat_class := checked_seat_class(seat_class);
	existing queue_request;
	free_seats integer;
	cap integer := queue_max_waiting();
	pos bigint;
	ahead bigint;
	served_so_far bigint;
	new_id bigint;
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
	END IF;
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);

	IF request_id IS NOT NULL THEN
		SELECT * INTO existing FROM queue_request q
		WHERE q.user_id = enqueue.user_id AND q.client_request_id = enqueue.request_id;
		IF FOUND THEN
			IF existing.run_id <> j.run_id OR existing.legs <> j.legs
			   OR existing.seat_class IS DISTINCT FROM cls THEN
				RAISE EXCEPTION 'request id "%" was already used for another request', request_id
					USING ERRCODE = 'TK013', DETAIL = format('It belongs to queued request %s.', existing.request_id);
			END IF;
			RETURN ROW(existing.request_id, existing.queue_position,
				CASE WHEN existing.status = 'waiting'
				     THEN waiting_ahead(existing.run_id, existing.queue_position, NULL) END,
				existing.status)::queue_entry;
		END IF;
	END IF;

	IF j.run_status <> 'open' THEN
		RAISE EXCEPTION 'sales are not open for train % on %', upper(train), service_date
			USING ERRCODE = 'TK012';
	END IF;
	-- Sold out now: say so at once instead of queueing a request that must
	-- fail.  Counted from the maps alone; expired holds not swept yet may
	-- still count as taken there, so with any on the run, queue anyway.
	SELECT coalesce(sum(seatmap_free(rc.map, j.legs)), 0) INTO free_seats
	FROM run_carriage rc WHERE rc.run_id = j.run_id AND (cls IS NULL OR rc.seat_class = cls);
	IF free_seats = 0 THEN
		IF NOT EXISTS (SELECT 1 FROM tickets t
		               WHERE t.run_id = j.run_id AND t.status = 'held' AND t.hold_until <= now()) THEN
			RAISE EXCEPTION 'sold out: no % seat on train % on % from % to %',
				coalesce(cls::text, 'free'), upper(train), service_date, from_station, to_station
				USING ERRCODE = 'TK001', HINT = 'Join the waitlist with ticket.join_waitlist().';
		END IF;
	END IF;

	-- Accept: share the run's queue lock to commit (see above), take a
	-- number, and count who is ahead.  The cap is checked against requests
	-- committed before this one; ones accepted at the same instant do not
	-- see each other, so a queue may pass the cap by at most the number of
	-- concurrent enqueue calls.
	-- Every request committed so far got its number before this one will.
	PERFORM pg_advisory_xact_lock_shared(hashtext('ticket.queue'), hashint8(j.run_id));
	ahead := waiting_ahead(j.run_id, NULL, cap);
	IF ahead >= cap THEN
		RAISE EXCEPTION 'queue full for train % on %: try later', upper(train), service_date
			USING ERRCODE = 'TK018',
			DETAIL = format('%s requests are waiting; at most %s may wait (ticket.queue_max_waiting).', ahead, cap);
	END IF;
	SELECT coalesce(max(h.served), 0) INTO served_so_far FROM queue_head h WHERE h.run_id = j.run_id;
	BEGIN
		INSERT INTO queue_request (run_id, user_id, client_request_id, seat_class, legs,
			ahead_when_accepted, served_when_accepted)
		VALUES (j.run_id, enqueue.user_id, enqueue.request_id, cls, j.legs, ahead, served_so_far)
		RETURNING queue_request.request_id, queue_request.queue_position INTO new_id, pos;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'user % is already waiting in the queue of this train', user_id
			USING ERRCODE = 'TK020', HINT = 'Follow the waiting request with ticket.queue_status().';
	END;

	-- A queued request is a click, not a sale: its commit need not wait for
	-- the disk (the seats a server then holds commit as usual, and durably
	-- after it).  A crash may forget requests accepted in its last moments;
	-- their status then says TK019 and the client asks again.
	PERFORM set_config('synchronous_commit', 'off', true);
	RETURN ROW(new_id, pos, ahead, 'waiting')::queue_entry;
END
$$;
COMMENT ON FUNCTION enqueue(bigint, text, date, text, text, text, text) IS 'queue a grab (same arguments as ticket.grab): returns at once with the request id and its position; requests of a run are served strictly in order, in batches; TK018 when the queue is full';

CREATE FUNCTION queue_status(request_id bigint,
	OUT status text, OUT queue_position bigint, OUT ahead bigint, OUT estimated_wait interval,
	OUT order_id bigint, OUT carriage integer, OUT seat_no text, OUT hold_until timestamptz,
	OUT error_sqlstate text, OUT error_message text)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	q queue_request;
	h queue_head;
BEGIN
	SELECT * INTO q FROM queue_request x WHERE x.request_id = queue_status.request_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such queued request: %', request_id USING ERRCODE = 'TK019';
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
		SELECT b.order_id, b.carriage, b.seat_no, b.hold_until
		INTO queue_status.order_id, carriage, seat_no, hold_until
		FROM order_row(q.order_id) b;
	ELSE
		error_sqlstate := q.error_sqlstate;
		error_message := q.error_message;
	END IF;
END
$$;
COMMENT ON FUNCTION queue_status(bigint) IS 'a queued request: waiting (position, requests ahead, estimated wait), done (its order, seat and hold deadline) or failed (SQLSTATE and message, as ticket.grab would have raised)';

-- Wait for a queued request's answer, up to a timeout, without polling: the
-- caller sleeps on the lock a batch of the run holds until it commits, and
-- looks again after each batch.
CREATE FUNCTION queue_wait(request_id bigint, timeout interval DEFAULT '30 seconds',
	OUT status text, OUT queue_position bigint, OUT ahead bigint, OUT estimated_wait interval,
	OUT order_id bigint, OUT carriage integer, OUT seat_no text, OUT hold_until timestamptz,
	OUT error_sqlstate text, OUT error_message text)
LANGUAGE plpgsql VOLATILE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	give_up timestamptz := clock_timestamp() + timeout;
	run bigint;
	current text;
	asked timestamptz;
BEGIN
	IF timeout IS NULL OR timeout < '0'::interval THEN
		RAISE EXCEPTION 'timeout must be a non-negative interval' USING ERRCODE = 'TK017';
	END IF;
	LOOP
		SELECT q.status, q.run_id INTO current, run FROM queue_request q
		WHERE q.request_id = queue_wait.request_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no such queued request: %', request_id USING ERRCODE = 'TK019';
		END IF;
		EXIT WHEN current <> 'waiting' OR clock_timestamp() >= give_up;
		asked := clock_timestamp();
		-- taken and given back in one expression, so it is held for an instant
		PERFORM pg_advisory_lock_shared(hashtext('ticket.queue_batch'), hashint8(run)),
		        pg_advisory_unlock_shared(hashtext('ticket.queue_batch'), hashint8(run));
		IF clock_timestamp() - asked < interval '1 millisecond' THEN
			-- no batch was under way: the server has yet to start one
			PERFORM pg_sleep(0.005);
		END IF;
	END LOOP;
	SELECT * INTO status, queue_position, ahead, estimated_wait, order_id, carriage, seat_no, hold_until,
		error_sqlstate, error_message
	FROM queue_status(queue_wait.request_id);
END
$$;
COMMENT ON FUNCTION queue_wait(bigint, interval) IS 'queue_status() once the request is served or the timeout (default 30 s) has passed, whichever comes first; sleeps while batches are served instead of polling';

-- Runs whose queue has requests waiting, in run order.
CREATE FUNCTION queued_runs() RETURNS TABLE (run_id bigint)
LANGUAGE sql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
	-- the distinct runs of the waiting-requests index, one probe per run
	WITH RECURSIVE runs AS (
		(SELECT q.run_id FROM queue_request q WHERE q.status = 'waiting' ORDER BY q.run_id LIMIT 1)
		UNION ALL
		SELECT (SELECT q.run_id FROM queue_request q
		        WHERE q.status = 'waiting' AND q.run_id > runs.run_id ORDER BY q.run_id LIMIT 1)
		FROM runs WHERE runs.run_id IS NOT NULL)
	SELECT runs.run_id FROM runs WHERE runs.run_id IS NOT NULL
$$;
COMMENT ON FUNCTION queued_runs() IS 'runs with queued requests not served yet (the queue worker serves them one transaction per run)';

CREATE FUNCTION seatmap_assign(maps bytea[], classes integer[], legs segrange[], wanted integer[])
	RETURNS integer[]
	AS 'MODULE_PATHNAME', 'seatmap_assign_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_assign(bytea[], integer[], segrange[], integer[]) IS 'seats for requests served in order: request i wants legs[i] (NULL: skip) in class number wanted[i] (NULL: any) among carriages maps[c] of class number classes[c]; two numbers per request: carriage position in maps (1-based) and seat index, NULLs if none';

-- Serve up to batch_size waiting requests of a run in queue order, in this
-- transaction.  All the run's carriages are locked first, in carriage order
-- (as payments lock them), so the batch never waits in the middle; direct
-- grabs on the run wait for it, or take carriages it does not hold.  The
-- whole batch is checked with a few queries, seated by one C call over the
-- seat maps (each request gets the seat a grab at that moment would get)
-- and written with one statement per table.  A request that cannot be
-- served fails with the SQLSTATE grab would have raised, recorded on it.
-- Returns how many requests were served (done or failed).  NULL run_id:
-- every run with waiting requests.
CREATE FUNCTION serve_queue(run_id bigint DEFAULT NULL, batch_size integer DEFAULT 500)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	r record;
	n integer := 0;
	started timestamptz := clock_timestamp();
	ids bigint[];
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
	PERFORM pg_advisory_lock(hashtext('ticket.queue'), hashint8(r.run_id));
	SELECT s.last_value INTO horizon FROM queue_position_seq s;
	PERFORM pg_advisory_unlock(hashtext('ticket.queue'), hashint8(r.run_id));

	SELECT array_agg(x.request_id ORDER BY x.queue_position), array_agg(x.user_id ORDER BY x.queue_position),
	       array_agg(x.legs ORDER BY x.queue_position),
	       array_agg(array_position(enum_range(NULL::seat_class), x.seat_class) ORDER BY x.queue_position),
	       array_agg(x.client_request_id ORDER BY x.queue_position)
	INTO ids, users, journeys, wanted, client_ids
	FROM (SELECT * FROM queue_request q
	      WHERE q.run_id = r.run_id AND q.status = 'waiting' AND q.queue_position <= horizon
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

	INSERT INTO queue_head AS h (run_id, served, last_served_at, seconds_per_request)
	VALUES (r.run_id, n, clock_timestamp(), extract(epoch FROM clock_timestamp() - started) / n)
	ON CONFLICT ON CONSTRAINT queue_head_pkey DO UPDATE
	SET served = h.served + n, last_served_at = excluded.last_served_at,
	    -- a moving average over recent batches
	    seconds_per_request = coalesce(0.7 * h.seconds_per_request + 0.3 * excluded.seconds_per_request,
	                                   excluded.seconds_per_request);
	RETURN n;
END
$$;
COMMENT ON FUNCTION serve_queue(bigint, integer) IS 'serve up to batch_size queued requests of a run (NULL: of every run) in order, in this transaction; the queue worker calls it; returns how many were served';

-- roles ---------------------------------------------------------------------------

REVOKE ALL ON queue_head, queue_request, waitlist FROM PUBLIC;
GRANT SELECT ON queue_head, queue_request, waitlist TO ticket_admin, ticket_app;
REVOKE EXECUTE ON FUNCTION find_seat(bigint, integer, segrange, seat_class, boolean),
	hold_seat(bigint, bigint, integer, segrange, seat_class, text, boolean, text),
	departure_time(bigint, integer),
	join_waitlist(bigint, text, date, text, text, text[], timestamptz), waitlist_status(bigint),
	leave_waitlist(bigint),
	enqueue(bigint, text, date, text, text, text, text), queue_status(bigint), queue_wait(bigint, interval),
	queued_runs(),
	waiting_ahead(bigint, bigint, integer), seats_returned(bigint),
	serve_queue(bigint, integer), lock_run_inventory(bigint), check_unpaid_order(bigint, bigint, boolean),
	seatmap_assign(bytea[], integer[], segrange[], integer[])
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz),
	waitlist_status(bigint), leave_waitlist(bigint),
	enqueue(bigint, text, date, text, text, text, text), queue_status(bigint), queue_wait(bigint, interval)
	TO ticket_app, ticket_admin;
GRANT EXECUTE ON FUNCTION queued_runs(), serve_queue(bigint, integer) TO ticket_admin;
-- queue_status runs with the caller's rights and counts who is ahead
GRANT EXECUTE ON FUNCTION waiting_ahead(bigint, bigint, integer) TO ticket_app, ticket_admin;
