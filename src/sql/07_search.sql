-- Journey search (doc/search.md): direct trains and one-change itineraries
-- between two stations on a date, with the seats remaining.

-- seats ---------------------------------------------------------------------

-- Seats free on a run for a journey, per class, from the seat maps.  Holds
-- past their deadline that the sweeper has not released yet are still in
-- the maps: they count as free, as the next grab would release them.
-- remaining() and the searches share this, so they always agree.
CREATE OR REPLACE FUNCTION free_seats(run_id bigint, legs segrange)
RETURNS TABLE (seat_class text, remaining integer)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM tickets t
	           WHERE t.run_id = free_seats.run_id AND t.status = 'held' AND t.hold_until <= now()) THEN
		RETURN QUERY
		WITH expired AS (
			SELECT s.carriage_no, array_agg(s.seat_index) AS seats, array_agg(t.legs) AS legs
			FROM tickets t JOIN seat s ON s.seat_id = t.seat_id
			WHERE t.run_id = free_seats.run_id AND t.status = 'held' AND t.hold_until <= now()
			GROUP BY s.carriage_no)
		SELECT rc.seat_class::text,
		       sum(CASE WHEN e.carriage_no IS NULL THEN seatmap_free(rc.map, free_seats.legs)
		                ELSE seatmap_free(rc.map, free_seats.legs, e.seats, e.legs) END)::integer
		FROM run_carriage rc LEFT JOIN expired e ON e.carriage_no = rc.carriage_no
		WHERE rc.run_id = free_seats.run_id
		GROUP BY rc.seat_class
		ORDER BY rc.seat_class;
	ELSE
		RETURN QUERY
		SELECT rc.seat_class::text, sum(seatmap_free(rc.map, free_seats.legs))::integer
		FROM run_carriage rc
		WHERE rc.run_id = free_seats.run_id
		GROUP BY rc.seat_class
		ORDER BY rc.seat_class;
	END IF;
END
$$;
COMMENT ON FUNCTION free_seats(bigint, segrange) IS 'internal: seats free on every leg of a journey on a run, per class, in class order (expired holds count as free)';
REVOKE EXECUTE ON FUNCTION free_seats(bigint, segrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION free_seats(bigint, segrange) TO ticket_app, ticket_admin;

-- The free seats as one value per journey, for search results: the same
-- class names and numbers remaining() returns.
CREATE OR REPLACE FUNCTION free_seats_json(run_id bigint, legs segrange) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF run_id IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN (SELECT coalesce(jsonb_object_agg(f.seat_class, f.remaining), '{}')
	        FROM free_seats(free_seats_json.run_id, free_seats_json.legs) f);
END
$$;
COMMENT ON FUNCTION free_seats_json(bigint, segrange) IS 'internal: free_seats() as a JSON object of class -> seats, NULL without a run';
REVOKE EXECUTE ON FUNCTION free_seats_json(bigint, segrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION free_seats_json(bigint, segrange) TO ticket_app, ticket_admin;

-- search --------------------------------------------------------------------

CREATE OR REPLACE FUNCTION check_search(from_station text, to_station text, service_date date,
	OUT from_id integer, OUT to_id integer)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF from_station IS NULL OR to_station IS NULL OR service_date IS NULL THEN
		RAISE EXCEPTION 'from station, to station and service date must not be null'
			USING ERRCODE = 'TK017';
	END IF;
	-- the searches add a stop's day offset and times to the date
	IF NOT isfinite(service_date) OR service_date NOT BETWEEN date '0001-01-01' AND date '9999-12-31' THEN
		RAISE EXCEPTION 'invalid service date: %', service_date USING ERRCODE = 'TK017',
			DETAIL = 'A date to search is from 0001-01-01 to 9999-12-31.';
	END IF;
	from_id := station_id(from_station);
	to_id := station_id(to_station);
	IF from_id = to_id THEN
		RAISE EXCEPTION 'from and to are the same station: "%"', from_station
			USING ERRCODE = 'TK030', DETAIL = format('"%s" and "%s" name one station.', from_station, to_station);
	END IF;
END
$$;
COMMENT ON FUNCTION check_search(text, text, date) IS 'internal: resolve the stations of a search; errors TK017 (a null, or a date that is infinite or outside the years 1 to 9999), TK009, TK030';
REVOKE EXECUTE ON FUNCTION check_search(text, text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION check_search(text, text, date) TO ticket_app, ticket_admin;

-- Direct trains.  A stop's times are offsets from 00:00 of the train's
-- service date, so the train that leaves from_station on the travel date
-- runs on service_date minus the day offset of that stop.
CREATE OR REPLACE FUNCTION search(from_station text, to_station text, service_date date)
RETURNS TABLE (train text, run_date date, from_station_code text, to_station_code text,
	departure timestamp, arrival timestamp, duration interval, sales text, remaining jsonb)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	st record;
BEGIN
	SELECT * INTO st FROM check_search(from_station, to_station, service_date);
	RETURN QUERY
	SELECT t.code, d.run_date, fs.code, ts.code, d.departure, d.arrival, d.arrival - d.departure,
	       CASE WHEN r.run_id IS NULL THEN 'not_open' WHEN r.status = 'open' AND run_hot(r.run_id) THEN 'queue_only'
	            ELSE r.status END,
	       free_seats_json(r.run_id, segrange(a.stop_no, b.stop_no))
	FROM stop a
	JOIN stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
	JOIN train t ON t.train_id = a.train_id
	JOIN station fs ON fs.station_id = a.station_id
	JOIN station ts ON ts.station_id = b.station_id
	CROSS JOIN LATERAL (
		-- a train without times is taken to leave on its service date
		SELECT search.service_date - coalesce(a.depart_day, 0) AS run_date) rd
	CROSS JOIN LATERAL (
		SELECT rd.run_date, rd.run_date + a.depart AS departure,
		       rd.run_date + coalesce(b.arrive, b.depart) AS arrival) d
	LEFT JOIN run r ON r.train_id = a.train_id AND r.service_date = d.run_date
	WHERE a.station_id = st.from_id AND b.station_id = st.to_id
	ORDER BY d.departure, t.code;
END
$$;
COMMENT ON FUNCTION search(text, text, date) IS 'direct trains from one station to another (any stops of their routes) leaving on a date: departure, arrival, duration, the run''s date and sales status (not_open, open, queue_only: a hot run sold through the queue, closed), and seats free per class';
REVOKE EXECUTE ON FUNCTION search(text, text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION search(text, text, date) TO ticket_app, ticket_admin;

-- One-change itineraries.  Every train through from_station gives a first
-- leg to each later stop; every train through to_station a second leg from
-- each earlier stop; the legs meet at one station, or at two stations of
-- one city with the longer city connection, and the second leg takes the
-- first run of its train that leaves after the minimum connection.  The
-- window is at most a day, so that first run is the only one to consider.
-- The pairing of legs is the hot loop (tens of thousands of candidates
-- between the busiest stations): it compares integer microseconds and joins
-- on a number per city; timestamps are built for the results only.
CREATE OR REPLACE FUNCTION search_transfers(from_station text, to_station text, service_date date,
	min_connection interval DEFAULT '20 min', max_connection interval DEFAULT '4 hours',
	max_results integer DEFAULT 20, min_city_connection interval DEFAULT '1 hour')
RETURNS TABLE (departure timestamp, arrival timestamp, duration interval,
	train_1 text, run_date_1 date, change_at text, change_arrival timestamp,
	train_2 text, run_date_2 date, change_from text, change_departure timestamp,
	connection interval, sales_1 text, remaining_1 jsonb, sales_2 text, remaining_2 jsonb)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp
-- a generic plan cannot see how busy the two stations are
SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	st record;
	from_city text;
	to_city text;
	day_us constant bigint := 86400000000;
	min_us bigint;
	city_us bigint;
	max_us bigint;
BEGIN
	SELECT * INTO st FROM check_search(from_station, to_station, service_date);
	-- not core: degraded while the server is overloaded
	PERFORM check_not_degraded('search_transfers');
	IF min_connection IS NULL OR max_connection IS NULL OR max_results IS NULL
	   OR min_city_connection IS NULL THEN
		RAISE EXCEPTION 'connection times and max_results must not be null' USING ERRCODE = 'TK017';
	END IF;
	IF min_connection < interval '0' OR max_connection < min_connection OR max_connection > interval '1 day'
	   OR min_city_connection < interval '0' OR min_city_connection > interval '1 day' THEN
		RAISE EXCEPTION 'invalid connection window: % to %', min_connection, max_connection
			USING ERRCODE = 'TK031',
			DETAIL = format('min_connection is %s, max_connection %s, min_city_connection %s.',
				min_connection, max_connection, min_city_connection),
			HINT = 'Connections run from min_connection (0 or more) to max_connection (at most 1 day); min_city_connection is 0 to 1 day.';
	END IF;
	IF max_results NOT BETWEEN 1 AND 1000 THEN
		RAISE EXCEPTION 'invalid max_results: %', max_results USING ERRCODE = 'TK032',
			HINT = 'Ask for 1 to 1000 itineraries.';
	END IF;
	min_us := (extract(epoch FROM min_connection) * 1000000)::bigint;
	city_us := (extract(epoch FROM greatest(min_connection, min_city_connection)) * 1000000)::bigint;
	max_us := (extract(epoch FROM max_connection) * 1000000)::bigint;
	SELECT s.city INTO from_city FROM station s WHERE s.station_id = st.from_id;
	SELECT s.city INTO to_city FROM station s WHERE s.station_id = st.to_id;

	RETURN QUERY
	WITH city AS MATERIALIZED (
		-- cities numbered, so that legs meet on an integer
		SELECT s.station_id, s.city, dense_rank() OVER (ORDER BY s.city COLLATE "C") AS city_no
		FROM station s
		WHERE s.city <> from_city AND s.city <> to_city
	), leg1 AS MATERIALIZED (
		-- trains through the origin to every later stop outside the two end
		-- cities; times in microseconds since the epoch, local time
		SELECT a.train_id, a.stop_no AS a_no, x.stop_no AS x_no, x.station_id AS x_id,
		       sx.city_no AS x_city,
		       search_transfers.service_date - a.depart_day AS run_date,
		       (extract(epoch FROM (search_transfers.service_date - a.depart_day) + a.depart) * 1000000)::bigint AS dep_us,
		       (extract(epoch FROM (search_transfers.service_date - a.depart_day) + x.arrive) * 1000000)::bigint AS arr_us,
		       (extract(epoch FROM (search_transfers.service_date - a.depart_day) + d.arrive) * 1000000)::bigint AS on_arr_us
		FROM stop a
		JOIN stop x ON x.train_id = a.train_id AND x.stop_no > a.stop_no
		JOIN city sx ON sx.station_id = x.station_id
		-- the first train may go on to the destination itself, but not
		-- through it to the change
		LEFT JOIN stop d ON d.train_id = a.train_id AND d.station_id = st.to_id AND d.stop_no > a.stop_no
		WHERE a.station_id = st.from_id AND a.depart IS NOT NULL AND x.arrive IS NOT NULL
		  AND (d.stop_no IS NULL OR d.stop_no > x.stop_no)
	), leg2 AS MATERIALIZED (
		-- trains through the destination from every earlier stop outside the
		-- two end cities, that do not call at the origin on the way (boarding
		-- there would be the same journey without a change)
		SELECT b.train_id, y.stop_no AS y_no, b.stop_no AS b_no, y.station_id AS y_id,
		       sy.city_no AS y_city, y.depart AS y_depart,
		       (extract(epoch FROM y.depart) * 1000000)::bigint % 86400000000 AS tod_us,
		       (extract(epoch FROM b.arrive - y.depart) * 1000000)::bigint AS ride_us
		FROM stop b
		JOIN stop y ON y.train_id = b.train_id AND y.stop_no < b.stop_no
		JOIN city sy ON sy.station_id = y.station_id
		WHERE b.station_id = st.to_id AND y.depart IS NOT NULL AND b.arrive IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM stop o
		                  WHERE o.train_id = b.train_id AND o.station_id = st.from_id AND o.stop_no < b.stop_no)
	), pairs AS MATERIALIZED (
		SELECT l1.train_id, l1.a_no, l1.x_no, l1.x_id, l1.run_date, l1.dep_us, l1.arr_us, l1.on_arr_us,
		       l2.train_id AS train2_id, l2.y_no, l2.b_no, l2.y_id, l2.y_depart, w.dep2_us,
		       w.dep2_us + l2.ride_us AS arr2_us
		FROM leg1 l1
		JOIN leg2 l2 ON l2.y_city = l1.x_city AND l2.train_id <> l1.train_id
		-- the second train's first departure after the minimum connection
		CROSS JOIN LATERAL (
			SELECT l1.arr_us + CASE WHEN l2.y_id = l1.x_id THEN min_us ELSE city_us END AS earliest_us) e
		CROSS JOIN LATERAL (
			SELECT e.earliest_us + ((l2.tod_us - e.earliest_us) % day_us + day_us) % day_us AS dep2_us) w
		WHERE w.dep2_us <= l1.arr_us + max_us
		  -- a first train that gets to the destination itself no later
		  -- makes the change pointless
		  AND (l1.on_arr_us IS NULL OR l1.on_arr_us > w.dep2_us + l2.ride_us)
	), top AS (
		-- the pairs of trains that arrive first
		SELECT p.train_id, p.train2_id, min(p.arr2_us) AS arr2_us, min(p.dep_us) AS dep_us
		FROM pairs p
		GROUP BY p.train_id, p.train2_id
		ORDER BY 3, 4 DESC, 1, 2
		LIMIT max_results
	), ranked AS (
		-- one itinerary per pair of trains: of those that arrive first, a
		-- change at one station before one between two, then the longest
		-- connection, as the safest
		SELECT DISTINCT ON (p.train_id, p.train2_id) p.*
		FROM top JOIN pairs p USING (train_id, train2_id, arr2_us)
		ORDER BY p.train_id, p.train2_id, (p.x_id <> p.y_id), p.dep2_us - p.arr_us DESC, p.x_id
	), timed AS (
		SELECT k.*,
		       timestamp 'epoch' + k.dep_us * interval '1 microsecond' AS dep,
		       timestamp 'epoch' + k.arr_us * interval '1 microsecond' AS arr,
		       timestamp 'epoch' + k.dep2_us * interval '1 microsecond' AS dep2,
		       timestamp 'epoch' + k.arr2_us * interval '1 microsecond' AS arr2
		FROM ranked k
	)
	SELECT k.dep, k.arr2, k.arr2 - k.dep,
	       t1.code, k.run_date, sx.code, k.arr,
	       t2.code, (k.dep2 - k.y_depart)::date, sy.code, k.dep2,
	       k.dep2 - k.arr,
	       CASE WHEN r1.run_id IS NULL THEN 'not_open' WHEN r1.status = 'open' AND run_hot(r1.run_id) THEN 'queue_only'
	            ELSE r1.status END,
	       free_seats_json(r1.run_id, segrange(k.a_no, k.x_no)),
	       CASE WHEN r2.run_id IS NULL THEN 'not_open' WHEN r2.status = 'open' AND run_hot(r2.run_id) THEN 'queue_only'
	            ELSE r2.status END,
	       free_seats_json(r2.run_id, segrange(k.y_no, k.b_no))
	FROM timed k
	JOIN train t1 ON t1.train_id = k.train_id
	JOIN train t2 ON t2.train_id = k.train2_id
	JOIN station sx ON sx.station_id = k.x_id
	JOIN station sy ON sy.station_id = k.y_id
	LEFT JOIN run r1 ON r1.train_id = k.train_id AND r1.service_date = k.run_date
	LEFT JOIN run r2 ON r2.train_id = k.train2_id AND r2.service_date = (k.dep2 - k.y_depart)::date
	ORDER BY k.arr2_us, k.dep_us DESC, k.train_id, k.train2_id;
END
$$;
COMMENT ON FUNCTION search_transfers(text, text, date, interval, interval, integer, interval) IS 'itineraries with one change leaving from_station on a date, earliest arrival first: a change at one station within min_connection..max_connection, or between two stations of one city after min_city_connection; one per pair of trains, at most max_results, with seats free per class on both legs; TK081 (degraded, try later) while the breaker is tripped';
REVOKE EXECUTE ON FUNCTION search_transfers(text, text, date, interval, interval, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION search_transfers(text, text, date, interval, interval, integer, interval) TO ticket_app, ticket_admin;
