-- W2, one hot train: bench scaffolding in a copy of the ticket template.
-- G9001 runs over the same 20 stops with ticket.add_default_layout (16 cars,
-- 1,193 seats); one run on 2030-01-01.
--
-- Every pgbench transaction is one passenger calling bench.w2_grab(user,
-- pick): the passenger wants journey number `pick` of the 190, or, once that
-- one is sold out, the next journey still on sale (as a passenger who looks
-- at the remaining-tickets table would).  A journey is marked sold out the
-- first time ticket.grab answers TK001 for it; nothing is ever released
-- (holds last 2 hours), so it stays sold out.  When every journey is sold
-- out, every seat is sold on every leg, and the function raises BX001,
-- which ends the pgbench client: the run ends exactly at the sell-out.
-- Sold out (TK001) and an unpaid order of the same user (TK002) are caught;
-- any other error is caught too, counted as an error, and the run goes on.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT ticket.add_train('G9001', ARRAY(SELECT 'S' || i FROM generate_series(0, 19) i ORDER BY i)) AS hot_train;
SELECT ticket.add_default_layout('G9001') AS seats;
SELECT ticket.open_sales('G9001', DATE '2030-01-01') AS run_id;

CREATE SCHEMA bench;
CREATE TABLE bench.w2_pair (
	p integer PRIMARY KEY,
	a integer NOT NULL,
	b integer NOT NULL,
	open boolean NOT NULL DEFAULT true
);
INSERT INTO bench.w2_pair (p, a, b)
SELECT row_number() OVER (ORDER BY a, b) - 1, a, b
FROM generate_series(0, 18) a, generate_series(1, 19) b WHERE a < b;

CREATE UNLOGGED TABLE bench.w2_log (
	user_id bigint NOT NULL,
	a integer NOT NULL,
	b integer NOT NULL,
	outcome text NOT NULL,
	started timestamptz NOT NULL,
	finished timestamptz NOT NULL,
	detail text
);

CREATE FUNCTION bench.w2_grab(p_user bigint, p_pick integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	started timestamptz := clock_timestamp();
	journey bench.w2_pair;
	booked ticket.booking;
	outcome text;
	detail text;
BEGIN
	SELECT * INTO journey FROM bench.w2_pair WHERE open ORDER BY p < p_pick, p LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'bench w2: G9001 is sold out, this client stops' USING ERRCODE = 'BX001';
	END IF;
	BEGIN
		SELECT * INTO booked FROM ticket.grab(p_user, 'G9001', DATE '2030-01-01',
			'S' || journey.a, 'S' || journey.b);
		outcome := 'ok';
	EXCEPTION
		WHEN SQLSTATE 'TK001' THEN outcome := 'sold out';
		WHEN SQLSTATE 'TK002' THEN outcome := 'error TK002 unpaid order exists';
		WHEN OTHERS THEN
			outcome := 'error ' || SQLSTATE || ' ' || SQLERRM;
			GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	END;
	IF outcome = 'sold out' THEN
		UPDATE bench.w2_pair SET open = false WHERE p = journey.p AND open;
	END IF;
	INSERT INTO bench.w2_log VALUES (p_user, journey.a, journey.b, outcome, started, clock_timestamp(), detail);
	RETURN outcome;
END
$$;

-- R1's full matrix: every from/to pair (190) of a run, every class, `loops`
-- times, either by one ticket.remaining_matrix() call or by 190 calls of
-- ticket.remaining(); returns server milliseconds per matrix, how many rows
-- one matrix had and what its seats add up to (the two must agree).
CREATE FUNCTION bench.matrix(train text, service_date date, loops integer, by_pairs boolean,
	OUT ms_per_matrix double precision, OUT rows_per_matrix bigint, OUT remaining_sum bigint)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	r record;
BEGIN
	rows_per_matrix := 0;
	remaining_sum := 0;
	t0 := clock_timestamp();
	FOR i IN 1..loops LOOP
		IF by_pairs THEN
			FOR a IN 0..18 LOOP
				FOR b IN a + 1..19 LOOP
					FOR r IN SELECT * FROM ticket.remaining(train, service_date, 'S' || a, 'S' || b) LOOP
						IF i = 1 THEN
							rows_per_matrix := rows_per_matrix + 1;
							remaining_sum := remaining_sum + r.remaining;
						END IF;
					END LOOP;
				END LOOP;
			END LOOP;
		ELSE
			FOR r IN SELECT * FROM ticket.remaining_matrix(train, service_date) LOOP
				IF i = 1 THEN
					rows_per_matrix := rows_per_matrix + 1;
					remaining_sum := remaining_sum + r.remaining;
				END IF;
			END LOOP;
		END IF;
	END LOOP;
	ms_per_matrix := extract(epoch FROM clock_timestamp() - t0) * 1000 / loops;
END
$$;

GRANT USAGE ON SCHEMA bench TO bench_app;
GRANT SELECT, UPDATE ON bench.w2_pair TO bench_app;
GRANT INSERT ON bench.w2_log TO bench_app;
