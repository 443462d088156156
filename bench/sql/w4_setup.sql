-- W4, the queue on the hot train: the same train, run, journeys and
-- passenger behaviour as W2 (run w2_setup.sql first), through
-- ticket.enqueue() instead of ticket.grab().
--
-- One pgbench transaction pair is one passenger: bench.w4_enqueue(user,
-- pick) queues journey number `pick` (or the next one still on sale) and
-- commits; bench.w4_wait(request) then waits with ticket.queue_wait() until
-- the queue worker has served it, and marks the journey sold out if the
-- answer was TK001, as W2's passenger does.  The server serves requests in
-- batches (the background worker; ticket is preloaded with
-- ticket.queue_database = 'ticket_w4').  When every journey is sold out the
-- client stops (BX001), so the run ends at the sell-out.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE FUNCTION bench.w4_enqueue(p_user bigint, p_pick integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	journey bench.w2_pair;
	req bigint;
BEGIN
	SELECT * INTO journey FROM bench.w2_pair WHERE open ORDER BY p < p_pick, p LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'bench w4: G9001 is sold out, this client stops' USING ERRCODE = 'BX001';
	END IF;
	BEGIN
		req := (ticket.enqueue(p_user, 'G9001', DATE '2030-01-01', 'S' || journey.a, 'S' || journey.b)).request_id;
	EXCEPTION
		WHEN SQLSTATE 'TK001' THEN
			UPDATE bench.w2_pair SET open = false WHERE p = journey.p AND open;
			RETURN 0;
		WHEN SQLSTATE 'TK018' THEN
			PERFORM pg_sleep(0.01);	-- queue full: try later
			RETURN 0;
	END;
	RETURN req;
END
$$;

CREATE FUNCTION bench.w4_wait(p_request bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s record;
BEGIN
	IF p_request = 0 THEN
		RETURN 'not queued';
	END IF;
	LOOP
		SELECT * INTO s FROM ticket.queue_wait(p_request);
		EXIT WHEN s.status <> 'waiting';
	END LOOP;
	-- (the queue records every outcome and time itself: ticket.queue_request)
	IF s.error_sqlstate = 'TK001' THEN
		UPDATE bench.w2_pair w SET open = false
		FROM ticket.queue_request q
		WHERE q.request_id = p_request AND w.open
		  AND w.a = ticket.lower(q.legs) AND w.b = ticket.upper(q.legs);
	END IF;
	RETURN s.status;
END
$$;

