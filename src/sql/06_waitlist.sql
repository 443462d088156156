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
	-- A request may name passengers, as an order does: it is then fulfilled
	-- as an order with their names (fares by passenger type, no person in
	-- two places at once, seated together where possible).
	passengers text[] CHECK (passengers IS NULL OR cardinality(passengers) BETWEEN 1 AND 5),
	CHECK ((status = 'fulfilled') = (order_id IS NOT NULL))
);
CREATE UNIQUE INDEX waitlist_one_per_run ON waitlist (user_id, run_id) WHERE status = 'waiting';
CREATE INDEX waitlist_waiting_idx ON waitlist (run_id, waitlist_id) WHERE status = 'waiting';
COMMENT ON TABLE waitlist IS 'waitlist requests (候补): a sold-out journey, acceptable classes in order of preference and a deadline; fulfilled requests point at the order they got';
COMMENT ON COLUMN waitlist.passengers IS 'document numbers of the account''s passengers the request is for (NULL: one seat without names)';
GRANT SELECT ON waitlist TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('waitlist', '');
SELECT pg_catalog.pg_extension_config_dump('waitlist_waitlist_id_seq', '');

CREATE OR REPLACE FUNCTION join_waitlist(user_id bigint, train text, service_date date, from_station text,
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
	PERFORM require_primary();
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
	END IF;
	IF passengers IS NULL THEN
		PERFORM check_real_names('a waitlist request',
			'ticket.join_waitlist(user_id, train, service_date, from_station, to_station, seat_classes, deadline, passengers)');
	END IF;
	PERFORM check_risk(join_waitlist.user_id, passengers);
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);
	IF j.run_status <> 'open' THEN
		PERFORM raise_sales_not_open(upper(train), service_date);
	END IF;
	IF seat_classes IS NULL THEN
		-- any class the train has, cheapest first
		SELECT array_agg(DISTINCT c.seat_class ORDER BY c.seat_class DESC) INTO classes
		FROM carriage c WHERE c.train_id = j.train_id;
	ELSE
		-- (the dimensions first: array_position() refuses a 2-D array with 0A000)
		IF coalesce(array_ndims(seat_classes), 1) <> 1 OR coalesce(array_lower(seat_classes, 1), 1) <> 1 THEN
			RAISE EXCEPTION 'seat classes must be a one-dimensional list' USING ERRCODE = 'TK017',
				DETAIL = 'Give 1 to 6 classes in order of preference, as ARRAY[...].';
		END IF;
		IF cardinality(seat_classes) NOT BETWEEN 1 AND 6 OR array_position(seat_classes, NULL) IS NOT NULL THEN
			RAISE EXCEPTION 'seat classes must be a non-empty list without nulls' USING ERRCODE = 'TK017',
				HINT = 'Give 1 to 6 classes in order of preference.';
		END IF;
		SELECT array_agg(checked_seat_class(c) ORDER BY n) INTO classes
		FROM unnest(seat_classes) WITH ORDINALITY u(c, n);
	END IF;

	IF passengers IS NOT NULL THEN
		-- as an order with passengers: 1 to 5 different people of the account
		IF coalesce(array_ndims(passengers), 1) <> 1 OR coalesce(array_lower(passengers, 1), 1) <> 1 THEN
			RAISE EXCEPTION 'an order names its passengers in a one-dimensional list' USING ERRCODE = 'TK044',
				HINT = 'Give the document numbers as ARRAY[...], each once.';
		END IF;
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
REVOKE EXECUTE ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[]) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION waitlist_status(waitlist_id bigint,
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
REVOKE EXECUTE ON FUNCTION waitlist_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION waitlist_status(bigint) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION leave_waitlist(waitlist_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result text;
BEGIN
	PERFORM require_primary();
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
REVOKE EXECUTE ON FUNCTION leave_waitlist(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION leave_waitlist(bigint) TO ticket_app, ticket_admin;

-- leave_waitlist() with the database checking who the user is, as the
-- checked forms of confirm and cancel do (src/sql/04_sales.sql): an unknown
-- request and another user's alike are TK057.  A request's user never changes.
CREATE OR REPLACE FUNCTION leave_waitlist(waitlist_id bigint, user_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF waitlist_id IS NULL OR user_id IS NULL THEN
		RAISE EXCEPTION 'waitlist request id and user id must be given' USING ERRCODE = 'TK017';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM waitlist w
	               WHERE w.waitlist_id = leave_waitlist.waitlist_id AND w.user_id = leave_waitlist.user_id) THEN
		RAISE EXCEPTION 'user % has no waitlist request %', user_id, waitlist_id USING ERRCODE = 'TK057',
			DETAIL = 'There is no such waitlist request, or it is another user''s.';
	END IF;
	RETURN leave_waitlist(waitlist_id);
END
$$;
COMMENT ON FUNCTION leave_waitlist(bigint, bigint) IS 'leave_waitlist(waitlist_id), for that user''s request only: error TK057 if the user has no such request (the database checks who the user is)';
REVOKE EXECUTE ON FUNCTION leave_waitlist(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION leave_waitlist(bigint, bigint) TO ticket_app, ticket_admin;

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
	PERFORM lock_xact('waitlist', seats_returned.run_id);
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
				               OR SQLSTATE 'TK047' OR SQLSTATE 'TK048' OR SQLSTATE 'TK071' OR SQLSTATE '55P03'
				               OR SQLSTATE 'TK081' THEN
					-- nothing fits in this class, the user has an unpaid order,
					-- a passenger is gone or travels then, a daily or
					-- per-person limit, a lock that would have to be waited
					-- for, or the group would have to be spread while
					-- degraded: keep waiting
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
REVOKE EXECUTE ON FUNCTION seats_returned(bigint) FROM PUBLIC;
