-- The Spring-Festival rush: scaffolding for the demo, not part of the
-- extension.  Each pgbench transaction is one passenger: grab a seat on one
-- of the hot trains, then pay (most), cancel, refund after paying, or walk
-- away and let the hold expire.  Outcomes and server-side latencies go to an
-- unlogged table, so the report can say what happened.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS demo;

CREATE TABLE demo.hot_train (n serial PRIMARY KEY, code text NOT NULL, n_stops integer NOT NULL);
INSERT INTO demo.hot_train (code, n_stops)
SELECT t.code, t.n_stops FROM ticket.train t
WHERE t.code IN ('G1', 'G11', 'G101', 'G105', 'G107', 'G1228') ORDER BY t.code;

CREATE UNLOGGED TABLE demo.attempt (
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	train text NOT NULL,
	outcome text NOT NULL,
	grab_ms double precision
);

CREATE FUNCTION demo.rush_step(passenger bigint, service_date date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	hot demo.hot_train;
	a integer;
	b integer;
	from_code text;
	to_code text;
	booked ticket.booking;
	started timestamptz := clock_timestamp();
	fate double precision := random();
	outcome text;
BEGIN
	SELECT * INTO hot FROM demo.hot_train ORDER BY random() LIMIT 1;
	-- most people ride far: journeys start early and end late on the route
	a := floor(random() * random() * (hot.n_stops - 1))::integer;
	b := hot.n_stops - 1 - floor(random() * random() * (hot.n_stops - 1 - a))::integer;
	SELECT st.code INTO from_code FROM ticket.stop s JOIN ticket.station st USING (station_id)
	JOIN ticket.train t USING (train_id) WHERE t.code = hot.code AND s.stop_no = a;
	SELECT st.code INTO to_code FROM ticket.stop s JOIN ticket.station st USING (station_id)
	JOIN ticket.train t USING (train_id) WHERE t.code = hot.code AND s.stop_no = b;
	BEGIN
		SELECT * INTO booked FROM ticket.grab(passenger, hot.code, service_date, from_code, to_code);
		IF fate < 0.75 THEN
			PERFORM ticket.confirm(booked.order_id);
			outcome := 'paid';
			IF fate < 0.05 THEN
				PERFORM ticket.refund(booked.order_id);
				outcome := 'refunded';
			END IF;
		ELSIF fate < 0.90 THEN
			PERFORM ticket.cancel(booked.order_id);
			outcome := 'cancelled';
		ELSE
			outcome := 'left unpaid';
		END IF;
	EXCEPTION
		WHEN SQLSTATE 'TK001' THEN outcome := 'sold out';
		WHEN SQLSTATE 'TK002' THEN outcome := 'unpaid order exists';
	END;
	INSERT INTO demo.attempt (train, outcome, grab_ms)
	VALUES (hot.code, outcome, extract(epoch FROM clock_timestamp() - started) * 1000);
	RETURN outcome;
END
$$;
