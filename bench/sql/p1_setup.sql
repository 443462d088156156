-- P1, plain PostgreSQL: the best grab a careful developer writes without the
-- extension.  Same shape as W1: 200 runs (0..199) x 1,000 seats, 20 stops.
--
-- A seat row keeps which legs of it are sold as the bits of an integer
-- (bit l: leg [l, l + 1)); a booking is one seat of one run over int4range
-- legs [a, b), kept for the record.  p1.grab() is one UPDATE of the first
-- seat whose legs a..b-1 are all free, locking it with FOR UPDATE SKIP
-- LOCKED so that concurrent grabs on a run take different seats instead of
-- queueing behind one row (READ COMMITTED rechecks a seat changed since the
-- snapshot once it is locked), then one INSERT of the booking.  Only when
-- every free seat is locked by another grab does it wait for them, so "sold
-- out" (NULL) is exact.  The row lock on the seat is what makes two
-- overlapping bookings impossible; bench/run checks the bookings with an
-- independent self-join over int4range.  PL/pgSQL keeps both statements'
-- plans for the session.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE SCHEMA p1;

CREATE TABLE p1.seat (
	run_id integer NOT NULL,
	seat_id integer NOT NULL,
	sold integer NOT NULL DEFAULT 0,	-- bit l set: leg [l, l + 1) is sold
	PRIMARY KEY (run_id, seat_id)
) WITH (fillfactor = 50);	-- room for HOT updates: sold is in no index
INSERT INTO p1.seat (run_id, seat_id) SELECT r, s FROM generate_series(0, 199) r, generate_series(1, 1000) s;

CREATE TABLE p1.booking (
	booking_id bigserial PRIMARY KEY,
	run_id integer NOT NULL,
	seat_id integer NOT NULL,
	legs int4range NOT NULL,
	user_id bigint NOT NULL,
	booked_at timestamptz NOT NULL DEFAULT now()
);

-- the seat taken, or NULL when no seat is free on every leg of [a, b)
CREATE FUNCTION p1.grab(p_run integer, p_a integer, p_b integer, p_user bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	wanted integer := (1 << p_b) - (1 << p_a);	-- legs a..b-1
	chosen integer;
BEGIN
	UPDATE p1.seat s SET sold = s.sold | wanted
	FROM (SELECT f.seat_id FROM p1.seat f
	      WHERE f.run_id = p_run AND f.sold & wanted = 0
	      ORDER BY f.seat_id LIMIT 1
	      FOR UPDATE SKIP LOCKED) free
	WHERE s.run_id = p_run AND s.seat_id = free.seat_id
	RETURNING s.seat_id INTO chosen;
	IF chosen IS NULL THEN
		-- every free seat may be locked by a concurrent grab: wait for them
		UPDATE p1.seat s SET sold = s.sold | wanted
		FROM (SELECT f.seat_id FROM p1.seat f
		      WHERE f.run_id = p_run AND f.sold & wanted = 0
		      ORDER BY f.seat_id LIMIT 1
		      FOR UPDATE) free
		WHERE s.run_id = p_run AND s.seat_id = free.seat_id
		RETURNING s.seat_id INTO chosen;
		IF chosen IS NULL THEN
			RETURN NULL;
		END IF;
	END IF;
	INSERT INTO p1.booking (run_id, seat_id, legs, user_id)
	VALUES (p_run, chosen, int4range(p_a, p_b), p_user);
	RETURN chosen;
END
$$;

GRANT USAGE ON SCHEMA p1 TO bench_app;
GRANT SELECT, UPDATE ON p1.seat TO bench_app;
GRANT SELECT, INSERT ON p1.booking TO bench_app;
GRANT USAGE ON SEQUENCE p1.booking_booking_id_seq TO bench_app;
