-- P1, plain PostgreSQL: what a careful developer writes without the
-- extension.  A booking is one seat of one run over int4range legs [a, b);
-- btree_gist's exclusion constraint forbids two overlapping bookings of a
-- seat.  grab() takes the first seat with no overlapping booking (anti-join)
-- and inserts it, looking again if a concurrent grab took it first
-- (exclusion_violation).  Same shape as W1: 200 runs (0..199) x 1,000 seats.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION btree_gist;
CREATE SCHEMA p1;

CREATE TABLE p1.seat (
	run_id integer NOT NULL,
	seat_id integer NOT NULL,
	PRIMARY KEY (run_id, seat_id)
);
INSERT INTO p1.seat SELECT r, s FROM generate_series(0, 199) r, generate_series(1, 1000) s;

CREATE TABLE p1.booking (
	booking_id bigserial PRIMARY KEY,
	run_id integer NOT NULL,
	seat_id integer NOT NULL,
	legs int4range NOT NULL,
	user_id bigint NOT NULL,
	booked_at timestamptz NOT NULL DEFAULT now(),
	EXCLUDE USING gist (run_id WITH =, seat_id WITH =, legs WITH &&)
);

-- the seat taken, or NULL when no seat is free on every leg of [a, b)
CREATE FUNCTION p1.grab(p_run integer, p_a integer, p_b integer, p_user bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	wanted int4range := int4range(p_a, p_b);
	chosen integer;
BEGIN
	LOOP
		SELECT s.seat_id INTO chosen FROM p1.seat s
		WHERE s.run_id = p_run
		  AND NOT EXISTS (SELECT 1 FROM p1.booking b
		                  WHERE b.run_id = p_run AND b.seat_id = s.seat_id AND b.legs && wanted)
		ORDER BY s.seat_id
		LIMIT 1;
		IF chosen IS NULL THEN
			RETURN NULL;
		END IF;
		BEGIN
			INSERT INTO p1.booking (run_id, seat_id, legs, user_id)
			VALUES (p_run, chosen, wanted, p_user);
			RETURN chosen;
		EXCEPTION WHEN exclusion_violation THEN
			NULL;	-- a concurrent grab took that seat first: look again
		END;
	END LOOP;
END
$$;

GRANT USAGE ON SCHEMA p1 TO bench_app;
GRANT SELECT, INSERT ON p1.seat, p1.booking TO bench_app;
GRANT USAGE ON SEQUENCE p1.booking_booking_id_seq TO bench_app;
