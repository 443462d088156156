/* ticket--1.0--1.1.sql: timetable, sales, grab / confirm / cancel / refund */

\echo Use "ALTER EXTENSION ticket UPDATE TO '1.1'" to load this file. \quit

SET LOCAL search_path = ticket, pg_catalog;

-- Errors every caller can meet carry SQLSTATEs of class TK (README lists
-- them):
--   TK001 sold out                      TK002 unpaid order exists
--   TK003 hold expired                  TK004 already paid
--   TK005 not paid                      TK006 no such order
--   TK007 no such train                 TK008 no such run
--   TK009 no such station               TK010 station not on this train's route
--   TK011 from not before to            TK012 sales not open
--   TK013 request id reused             TK014 invalid seat class
--   TK015 order cancelled               TK016 invalid timetable or layout
--   TK017 invalid argument

-- settings ------------------------------------------------------------------

CREATE FUNCTION hold_timeout() RETURNS interval
	AS 'MODULE_PATHNAME', 'ticket_hold_timeout' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION hold_timeout() IS 'current value of the ticket.hold_timeout setting (default 15 minutes)';

-- Seat maps: per carriage and run, the taken legs of every seat as bitmaps,
-- searched and updated in C (src/seatmap.c).
CREATE FUNCTION seatmap_new(n_seats integer, n_legs integer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'seatmap_new' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION seatmap_take(map bytea, seat integer, legs segrange) RETURNS bytea
	AS 'MODULE_PATHNAME', 'seatmap_take_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION seatmap_release(map bytea, seat integer, legs segrange) RETURNS bytea
	AS 'MODULE_PATHNAME', 'seatmap_release_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION seatmap_best(map bytea, legs segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'seatmap_best_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION seatmap_best_score(map bytea, legs segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'seatmap_best_score_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION seatmap_free(map bytea, legs segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'seatmap_free_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION seatmap_free(map bytea, legs segrange, released_seats integer[], released_legs segrange[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'seatmap_free_releasing_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_new(integer, integer) IS 'an empty seat map of n seats and n legs';
COMMENT ON FUNCTION seatmap_take(bytea, integer, segrange) IS 'the map with the legs of a seat marked taken';
COMMENT ON FUNCTION seatmap_release(bytea, integer, segrange) IS 'the map with the legs of a seat marked free';
COMMENT ON FUNCTION seatmap_best(bytea, segrange) IS 'the best free seat of the map for a journey (see README, seat choice), NULL if none';
COMMENT ON FUNCTION seatmap_best_score(bytea, segrange) IS 'how well the best free seat fits the journey: 2 both ends meet taken legs or route ends, 1 one, 0 none; NULL if no seat is free';
COMMENT ON FUNCTION seatmap_free(bytea, segrange) IS 'number of seats free on every leg of the journey';
COMMENT ON FUNCTION seatmap_free(bytea, segrange, integer[], segrange[]) IS 'number of seats free on every leg of the journey if the listed (seat, legs) bookings were released';
CREATE FUNCTION seatmap_free_matrix(maps bytea[]) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'seatmap_free_matrix_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_free_matrix(bytea[]) IS 'for every journey [a,b) of the route (a-major order: [0,1), [0,2) .. [0,n), [1,2) ..), the seats free on all its legs, summed over the maps';

-- timetable -----------------------------------------------------------------

CREATE TYPE seat_class AS ENUM
	('business', 'first', 'second', 'soft_sleeper', 'hard_sleeper', 'hard_seat');
COMMENT ON TYPE seat_class IS 'seat classes, from the most to the least expensive';

CREATE TABLE station (
	station_id serial PRIMARY KEY,
	code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z]{3}$'),
	name text NOT NULL UNIQUE CHECK (name <> ''),
	pinyin text
);
COMMENT ON TABLE station IS 'stations, by 12306 telegraph code (e.g. VNP) and name (e.g. 北京南)';

CREATE TABLE train (
	train_id serial PRIMARY KEY,
	code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z]?[0-9]{1,5}$'),
	n_stops integer NOT NULL CHECK (n_stops >= 2)
);
COMMENT ON TABLE train IS 'trains by their public code (e.g. G1); routes are in ticket.stop';

CREATE TABLE stop (
	train_id integer NOT NULL REFERENCES train ON DELETE CASCADE,
	stop_no integer NOT NULL CHECK (stop_no >= 0),
	station_id integer NOT NULL REFERENCES station,
	arrive interval,
	depart interval,
	arrive_day integer GENERATED ALWAYS AS (floor(extract(epoch FROM arrive) / 86400)::integer) STORED,
	depart_day integer GENERATED ALWAYS AS (floor(extract(epoch FROM depart) / 86400)::integer) STORED,
	PRIMARY KEY (train_id, stop_no),
	UNIQUE (train_id, station_id),
	CHECK (arrive IS NULL OR depart IS NULL OR arrive <= depart)
);
COMMENT ON TABLE stop IS 'route of each train: stop 0 is the origin; times are offsets from 00:00 of the service date, so overnight stops have a day offset';
COMMENT ON COLUMN stop.arrive_day IS 'days after the service date on which the train arrives here';
COMMENT ON COLUMN stop.depart_day IS 'days after the service date on which the train leaves here';

CREATE TABLE carriage (
	train_id integer NOT NULL REFERENCES train ON DELETE CASCADE,
	carriage_no integer NOT NULL CHECK (carriage_no BETWEEN 1 AND 99),
	seat_class seat_class NOT NULL,
	seat_rows integer NOT NULL CHECK (seat_rows BETWEEN 1 AND 99),
	layout text NOT NULL CHECK (layout ~ '^[A-F]{1,6}$'),
	PRIMARY KEY (train_id, carriage_no)
);
COMMENT ON TABLE carriage IS 'carriages of a train: class, number of rows and the seat letters of one row';

CREATE TABLE seat (
	seat_id serial PRIMARY KEY,
	train_id integer NOT NULL,
	carriage_no integer NOT NULL,
	seat_no text NOT NULL,
	seat_class seat_class NOT NULL,
	seat_index integer NOT NULL CHECK (seat_index >= 0),
	FOREIGN KEY (train_id, carriage_no) REFERENCES carriage ON DELETE CASCADE,
	UNIQUE (train_id, carriage_no, seat_no),
	UNIQUE (train_id, carriage_no, seat_index)
);
CREATE INDEX seat_train_class_idx ON seat (train_id, seat_class, seat_id);
COMMENT ON TABLE seat IS 'every seat of a train, numbered 12306 style: row and position letter, e.g. 05A';
COMMENT ON COLUMN seat.seat_index IS 'position of the seat in its carriage''s seat map, from 0';

-- sales ---------------------------------------------------------------------

CREATE TABLE run (
	run_id bigserial PRIMARY KEY,
	train_id integer NOT NULL REFERENCES train,
	service_date date NOT NULL,
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	n_legs integer NOT NULL CHECK (n_legs >= 1),
	opened_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (train_id, service_date)
);
COMMENT ON TABLE run IS 'a train on a service date, with its sales status; its inventory is the train''s seats times its legs';

CREATE TABLE orders (
	order_id bigserial PRIMARY KEY,
	user_id bigint NOT NULL,
	run_id bigint NOT NULL REFERENCES run,
	request_id text,
	seat_class seat_class NOT NULL,
	legs segrange NOT NULL,
	status text NOT NULL DEFAULT 'held'
		CHECK (status IN ('held', 'paid', 'cancelled', 'expired', 'refunded')),
	created_at timestamptz NOT NULL DEFAULT now(),
	hold_until timestamptz NOT NULL,
	paid_at timestamptz,
	closed_at timestamptz,
	UNIQUE (user_id, request_id)
);
-- one unpaid order per user and run, whatever the isolation level of the caller
CREATE UNIQUE INDEX orders_one_unpaid_per_run ON orders (user_id, run_id) WHERE status = 'held';
CREATE INDEX orders_hold_until_idx ON orders (hold_until) WHERE status = 'held';
COMMENT ON TABLE orders IS 'orders of users; status held -> paid -> refunded, or held -> cancelled / expired';

CREATE TABLE tickets (
	ticket_id bigserial PRIMARY KEY,
	-- deferred: grab() claims the seat first and writes the order once it has one
	order_id bigint NOT NULL REFERENCES orders DEFERRABLE INITIALLY DEFERRED,
	run_id bigint NOT NULL,
	seat_id integer NOT NULL REFERENCES seat,
	legs segrange NOT NULL,
	status text NOT NULL DEFAULT 'held'
		CHECK (status IN ('held', 'paid', 'cancelled', 'expired', 'refunded')),
	hold_until timestamptz NOT NULL,
	-- The last line of defence: two live tickets never share a leg of a seat.
	CONSTRAINT tickets_no_double_booking EXCLUDE USING gist
		(run_id WITH =, seat_id WITH =, legs WITH &&) WHERE (status IN ('held', 'paid'))
);
CREATE INDEX tickets_order_idx ON tickets (order_id);
CREATE INDEX tickets_holds_idx ON tickets (run_id, hold_until) WHERE status = 'held';

-- The inventory: one row per carriage of a run holding the seat map of its
-- seats (which legs of each are held or sold).  A grab searches the maps in C
-- and locks the one carriage it takes a seat from (FOR UPDATE SKIP LOCKED),
-- so concurrent grabs spread over carriages and grabs on different runs never
-- wait on each other.  The maps are derived from tickets by a trigger; the
-- API never writes them directly.
CREATE TABLE run_carriage (
	run_id bigint NOT NULL REFERENCES run ON DELETE CASCADE,
	carriage_no integer NOT NULL,
	seat_class seat_class NOT NULL,
	seats integer NOT NULL,
	map bytea NOT NULL,
	PRIMARY KEY (run_id, carriage_no)
);
ALTER TABLE run_carriage ALTER COLUMN map SET STORAGE main;
COMMENT ON TABLE run_carriage IS 'inventory of a run: per carriage, the seat map of taken legs, kept equal to the live tickets by a trigger';

-- Seat maps change by taking or releasing exactly a ticket's legs, applied
-- to the row's latest version, so concurrent changes to one carriage compose.
CREATE FUNCTION sync_seat_map() RETURNS trigger
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	was_live boolean := TG_OP <> 'INSERT' AND OLD.status IN ('held', 'paid');
	is_live boolean := TG_OP <> 'DELETE' AND NEW.status IN ('held', 'paid');
	moved boolean := TG_OP = 'UPDATE'
		AND (OLD.run_id, OLD.seat_id, OLD.legs) IS DISTINCT FROM (NEW.run_id, NEW.seat_id, NEW.legs);
BEGIN
	IF was_live AND (moved OR NOT is_live) THEN
		UPDATE run_carriage rc SET map = seatmap_release(rc.map, s.seat_index, OLD.legs)
		FROM seat s
		WHERE s.seat_id = OLD.seat_id AND rc.run_id = OLD.run_id AND rc.carriage_no = s.carriage_no;
	END IF;
	IF is_live AND (moved OR NOT was_live) THEN
		UPDATE run_carriage rc SET map = seatmap_take(rc.map, s.seat_index, NEW.legs)
		FROM seat s
		WHERE s.seat_id = NEW.seat_id AND rc.run_id = NEW.run_id AND rc.carriage_no = s.carriage_no;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION sync_seat_map() IS 'trigger: take or release a ticket''s legs in its carriage''s seat map as it becomes live or stops being live';

CREATE TRIGGER tickets_sync_seat_map
	AFTER INSERT OR DELETE OR UPDATE OF status, legs, run_id, seat_id ON tickets
	FOR EACH ROW EXECUTE FUNCTION sync_seat_map();

COMMENT ON TABLE tickets IS 'seats sold or held: legs of one seat on one run; live (held or paid) tickets never overlap';

-- pg_dump keeps the user's data in these tables and sequences
SELECT pg_catalog.pg_extension_config_dump('station', '');
SELECT pg_catalog.pg_extension_config_dump('station_station_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('train', '');
SELECT pg_catalog.pg_extension_config_dump('train_train_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('stop', '');
SELECT pg_catalog.pg_extension_config_dump('carriage', '');
SELECT pg_catalog.pg_extension_config_dump('seat', '');
SELECT pg_catalog.pg_extension_config_dump('seat_seat_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('run', '');
SELECT pg_catalog.pg_extension_config_dump('run_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('orders', '');
SELECT pg_catalog.pg_extension_config_dump('orders_order_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tickets', '');
SELECT pg_catalog.pg_extension_config_dump('tickets_ticket_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('run_carriage', '');

CREATE TYPE booking AS (
	order_id bigint,
	carriage integer,
	seat_no text,
	seat_class text,
	legs segrange,
	hold_until timestamptz,
	status text
);
COMMENT ON TYPE booking IS 'an order as ticket.grab() returns it';

-- lookups -------------------------------------------------------------------

CREATE FUNCTION station_id(station text) RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result integer;
BEGIN
	IF station IS NULL THEN
		RAISE EXCEPTION 'station must not be null' USING ERRCODE = 'TK017';
	END IF;
	SELECT s.station_id INTO result FROM station s
	WHERE s.code = upper(btrim(station)) OR s.name = btrim(station)
	ORDER BY s.code = upper(btrim(station)) DESC LIMIT 1;
	IF result IS NULL THEN
		RAISE EXCEPTION 'no such station: "%"', station USING ERRCODE = 'TK009',
			HINT = 'Give a telegraph code such as VNP or a name such as 北京南.';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION station_id(text) IS 'station by telegraph code or name; error TK009 if unknown';

CREATE FUNCTION train_id(train text) RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result integer;
BEGIN
	IF train IS NULL THEN
		RAISE EXCEPTION 'train must not be null' USING ERRCODE = 'TK017';
	END IF;
	SELECT t.train_id INTO result FROM train t WHERE t.code = upper(btrim(train));
	IF result IS NULL THEN
		RAISE EXCEPTION 'no such train: "%"', train USING ERRCODE = 'TK007';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION train_id(text) IS 'train by code; error TK007 if unknown';

CREATE FUNCTION parse_seat_class(seat_class text) RETURNS seat_class
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF seat_class IS NULL THEN
		RETURN NULL;
	END IF;
	-- 12306's one-letter seat type codes are accepted as well
	RETURN CASE lower(btrim(seat_class))
		WHEN 'business' THEN 'business' WHEN '9' THEN 'business'
		WHEN 'first' THEN 'first' WHEN 'm' THEN 'first'
		WHEN 'second' THEN 'second' WHEN 'o' THEN 'second'
		WHEN 'soft_sleeper' THEN 'soft_sleeper' WHEN '4' THEN 'soft_sleeper'
		WHEN 'hard_sleeper' THEN 'hard_sleeper' WHEN '3' THEN 'hard_sleeper'
		WHEN 'hard_seat' THEN 'hard_seat' WHEN '1' THEN 'hard_seat'
	END::seat_class;
END
$$;
COMMENT ON FUNCTION parse_seat_class(text) IS 'seat class by name or 12306 code (9 M O 4 3 1); NULL for an unknown class';

CREATE FUNCTION checked_seat_class(seat_class text) RETURNS seat_class
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result seat_class := parse_seat_class(seat_class);
BEGIN
	IF seat_class IS NOT NULL AND result IS NULL THEN
		RAISE EXCEPTION 'invalid seat class: "%"', seat_class USING ERRCODE = 'TK014',
			HINT = 'Use business, first, second, soft_sleeper, hard_sleeper or hard_seat.';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION checked_seat_class(text) IS 'seat class by name or 12306 code; error TK014 if unknown';

-- The run and the legs of a journey, with every check a caller can fail.
-- One query resolves everything (it runs on every grab and every query);
-- the checks below only look at what it found.
CREATE FUNCTION journey(train text, service_date date, from_station text, to_station text,
	OUT run_id bigint, OUT train_id integer, OUT legs segrange, OUT n_legs integer,
	OUT run_status text)
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	found_train boolean;
	from_id integer;
	to_id integer;
	from_stop integer;
	to_stop integer;
BEGIN
	IF train IS NULL OR service_date IS NULL OR from_station IS NULL OR to_station IS NULL THEN
		RAISE EXCEPTION 'train, service date, from and to stations must not be null'
			USING ERRCODE = 'TK017';
	END IF;
	SELECT t.train_id IS NOT NULL, t.train_id, f.station_id, d.station_id, a.stop_no, b.stop_no,
	       r.run_id, r.n_legs, r.status
	INTO found_train, journey.train_id, from_id, to_id, from_stop, to_stop,
	     journey.run_id, journey.n_legs, journey.run_status
	FROM (SELECT 1) one
	LEFT JOIN train t ON t.code = upper(btrim(train))
	LEFT JOIN LATERAL (
		SELECT s.station_id FROM station s
		WHERE s.code = upper(btrim(from_station)) OR s.name = btrim(from_station)
		ORDER BY s.code = upper(btrim(from_station)) DESC LIMIT 1) f ON true
	LEFT JOIN LATERAL (
		SELECT s.station_id FROM station s
		WHERE s.code = upper(btrim(to_station)) OR s.name = btrim(to_station)
		ORDER BY s.code = upper(btrim(to_station)) DESC LIMIT 1) d ON true
	LEFT JOIN stop a ON a.train_id = t.train_id AND a.station_id = f.station_id
	LEFT JOIN stop b ON b.train_id = t.train_id AND b.station_id = d.station_id
	LEFT JOIN run r ON r.train_id = t.train_id AND r.service_date = journey.service_date;

	IF NOT found_train THEN
		RAISE EXCEPTION 'no such train: "%"', train USING ERRCODE = 'TK007';
	END IF;
	IF from_id IS NULL OR to_id IS NULL THEN
		RAISE EXCEPTION 'no such station: "%"', CASE WHEN from_id IS NULL THEN from_station ELSE to_station END
			USING ERRCODE = 'TK009', HINT = 'Give a telegraph code such as VNP or a name such as 北京南.';
	END IF;
	IF from_stop IS NULL OR to_stop IS NULL THEN
		RAISE EXCEPTION 'station "%" is not on the route of train %',
			CASE WHEN from_stop IS NULL THEN from_station ELSE to_station END, upper(train)
			USING ERRCODE = 'TK010';
	END IF;
	IF from_stop >= to_stop THEN
		RAISE EXCEPTION 'from station must come before to station on train %', upper(train)
			USING ERRCODE = 'TK011',
			DETAIL = format('"%s" is stop %s and "%s" is stop %s.', from_station, from_stop, to_station, to_stop);
	END IF;
	IF journey.run_id IS NULL THEN
		RAISE EXCEPTION 'no such run: train % on %', upper(train), service_date
			USING ERRCODE = 'TK008', HINT = 'An administrator opens sales with ticket.open_sales().';
	END IF;
	legs := segrange(from_stop, to_stop);
END
$$;
COMMENT ON FUNCTION journey(text, date, text, text) IS 'resolve train, date and stations to a run and the legs between the stations';

-- administration ------------------------------------------------------------

CREATE FUNCTION add_station(code text, name text, pinyin text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result integer;
BEGIN
	IF code IS NULL OR upper(btrim(code)) !~ '^[A-Z]{3}$' OR coalesce(btrim(name), '') = '' THEN
		RAISE EXCEPTION 'invalid station: code "%" name "%"', code, name USING ERRCODE = 'TK016',
			HINT = 'A telegraph code is three letters, such as VNP; the name must not be empty.';
	END IF;
	INSERT INTO station AS s (code, name, pinyin)
	VALUES (upper(btrim(code)), btrim(name), pinyin)
	ON CONFLICT ON CONSTRAINT station_code_key DO UPDATE SET name = excluded.name, pinyin = coalesce(excluded.pinyin, s.pinyin)
	RETURNING station_id INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION add_station(text, text, text) IS 'add a station, or rename the one with that telegraph code; returns its id';

CREATE FUNCTION add_train(code text, stops text[], arrivals interval[] DEFAULT NULL,
	departures interval[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	new_id integer;
	n integer := coalesce(cardinality(stops), 0);
BEGIN
	IF code IS NULL OR upper(btrim(code)) !~ '^[A-Z]?[0-9]{1,5}$' THEN
		RAISE EXCEPTION 'invalid train code: "%"', code USING ERRCODE = 'TK016',
			HINT = 'A train code is an optional letter and digits, such as G1 or K48.';
	END IF;
	IF n < 2 THEN
		RAISE EXCEPTION 'a train needs at least two stops' USING ERRCODE = 'TK016';
	END IF;
	IF (arrivals IS NOT NULL AND cardinality(arrivals) <> n)
	   OR (departures IS NOT NULL AND cardinality(departures) <> n) THEN
		RAISE EXCEPTION 'arrival and departure arrays must have one entry per stop' USING ERRCODE = 'TK016';
	END IF;
	IF EXISTS (SELECT 1 FROM train t WHERE t.code = upper(btrim(add_train.code))) THEN
		RAISE EXCEPTION 'train % already exists', upper(btrim(code)) USING ERRCODE = 'TK016';
	END IF;
	INSERT INTO train (code, n_stops) VALUES (upper(btrim(code)), n) RETURNING train_id INTO new_id;
	BEGIN
		INSERT INTO stop (train_id, stop_no, station_id, arrive, depart)
		SELECT new_id, i - 1, station_id(stops[i]), arrivals[i], departures[i]
		FROM generate_subscripts(stops, 1) i;
	EXCEPTION
		WHEN unique_violation THEN
			RAISE EXCEPTION 'train % visits a station twice', upper(btrim(code)) USING ERRCODE = 'TK016';
		WHEN check_violation THEN
			RAISE EXCEPTION 'train % arrives after it departs at some stop', upper(btrim(code)) USING ERRCODE = 'TK016';
	END;
	IF EXISTS (SELECT 1 FROM stop a JOIN stop b ON b.train_id = a.train_id AND b.stop_no = a.stop_no + 1
	           WHERE a.train_id = new_id AND coalesce(b.arrive, b.depart) < coalesce(a.depart, a.arrive)) THEN
		RAISE EXCEPTION 'times of train % go backwards along the route', upper(btrim(code))
			USING ERRCODE = 'TK016', HINT = 'Times are offsets from 00:00 of the service date; add 24 hours after midnight.';
	END IF;
	RETURN new_id;
END
$$;
COMMENT ON FUNCTION add_train(text, text[], interval[], interval[]) IS 'add a train with its stops (codes or names, in route order) and optional arrival/departure offsets from 00:00 of the service date';

CREATE FUNCTION add_carriage(train text, carriage_no integer, seat_class text, seat_rows integer,
	layout text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	tid integer := ticket.train_id(train);
	cls ticket.seat_class := checked_seat_class(seat_class);
	n integer;
BEGIN
	IF cls IS NULL OR carriage_no IS NULL OR seat_rows IS NULL
	   OR carriage_no NOT BETWEEN 1 AND 99 OR seat_rows NOT BETWEEN 1 AND 99
	   OR coalesce(upper(layout), '') !~ '^[A-F]{1,6}$'
	   OR (SELECT count(DISTINCT c) FROM regexp_split_to_table(upper(layout), '') c) <> length(layout) THEN
		RAISE EXCEPTION 'invalid carriage: number %, class %, % rows, layout "%"',
			carriage_no, seat_class, seat_rows, layout USING ERRCODE = 'TK016',
			HINT = 'Carriages and rows are numbered 1 to 99; a layout is distinct seat letters of one row, such as ABCDF.';
	END IF;
	IF EXISTS (SELECT 1 FROM carriage c WHERE c.train_id = tid AND c.carriage_no = add_carriage.carriage_no) THEN
		RAISE EXCEPTION 'carriage % of train % already exists', carriage_no, upper(train) USING ERRCODE = 'TK016';
	END IF;
	INSERT INTO carriage VALUES (tid, carriage_no, cls, seat_rows, upper(layout));
	INSERT INTO seat (train_id, carriage_no, seat_no, seat_class, seat_index)
	SELECT tid, carriage_no, lpad(r::text, 2, '0') || substr(upper(layout), p, 1), cls,
		(r - 1) * length(layout) + p - 1
	FROM generate_series(1, seat_rows) r, generate_series(1, length(layout)) p
	ORDER BY r, p;
	GET DIAGNOSTICS n = ROW_COUNT;
	-- runs already on sale get the new seats too
	INSERT INTO run_carriage (run_id, carriage_no, seat_class, seats, map)
	SELECT r.run_id, add_carriage.carriage_no, cls, n, seatmap_new(n, r.n_legs)
	FROM run r WHERE r.train_id = tid;
	RETURN n;
END
$$;
COMMENT ON FUNCTION add_carriage(text, integer, text, integer, text) IS 'add a carriage and its seats (rows x layout letters, numbered 01A, 01B, ...); returns the number of seats';

CREATE FUNCTION add_default_layout(train text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	code text := upper(btrim(train));
	n integer := 0;
	c record;
BEGIN
	-- G: a 16-car CR400AF, 1,193 seats; D and C: an 8-car set, 576 seats;
	-- other trains: sleepers and hard seats.
	FOR c IN
		SELECT * FROM (VALUES
			('G', 1, 'business', 4, 'ACF'), ('G', 2, 'first', 9, 'ACDF'), ('G', 3, 'first', 18, 'ACDF'),
			('G', 4, 'second', 19, 'ABCDF'), ('G', 5, 'second', 19, 'ABCDF'), ('G', 6, 'second', 19, 'ABCDF'),
			('G', 7, 'second', 19, 'ABCDF'), ('G', 8, 'second', 19, 'ABCDF'), ('G', 9, 'second', 19, 'ABCDF'),
			('G', 10, 'second', 19, 'ABCDF'), ('G', 11, 'second', 19, 'ABCDF'), ('G', 12, 'second', 19, 'ABCDF'),
			('G', 13, 'second', 19, 'ABCDF'), ('G', 14, 'second', 15, 'ABCDF'), ('G', 15, 'first', 9, 'ACDF'),
			('G', 16, 'business', 4, 'ACF'),
			('D', 1, 'first', 14, 'ACDF'), ('D', 2, 'second', 15, 'ABCDF'), ('D', 3, 'second', 15, 'ABCDF'),
			('D', 4, 'second', 15, 'ABCDF'), ('D', 5, 'second', 15, 'ABCDF'), ('D', 6, 'second', 15, 'ABCDF'),
			('D', 7, 'second', 15, 'ABCDF'), ('D', 8, 'second', 14, 'ABCDF'),
			('K', 1, 'soft_sleeper', 9, 'ABCD'), ('K', 2, 'hard_sleeper', 11, 'ABCDEF'),
			('K', 3, 'hard_sleeper', 11, 'ABCDEF'), ('K', 4, 'hard_sleeper', 11, 'ABCDEF'),
			('K', 5, 'hard_seat', 24, 'ABCDF'), ('K', 6, 'hard_seat', 24, 'ABCDF'), ('K', 7, 'hard_seat', 24, 'ABCDF')
		) AS l(kind, carriage_no, seat_class, seat_rows, layout)
		WHERE l.kind = CASE WHEN code LIKE 'G%' THEN 'G' WHEN code ~ '^[DC]' THEN 'D' ELSE 'K' END
		ORDER BY l.carriage_no
	LOOP
		n := n + add_carriage(code, c.carriage_no, c.seat_class, c.seat_rows, c.layout);
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION add_default_layout(text) IS 'give a train a realistic layout: G 16 cars / 1,193 seats (business, first, second), D and C 8 cars / 576 seats, others sleepers and hard seats; returns the number of seats';

-- Seats of a run that have no inventory row yet get one with nothing taken.
CREATE FUNCTION open_inventory(run_id bigint) RETURNS void
LANGUAGE sql SET search_path = ticket, pg_catalog, pg_temp AS $$
	INSERT INTO run_carriage (run_id, carriage_no, seat_class, seats, map)
	SELECT r.run_id, c.carriage_no, c.seat_class, c.seat_rows * length(c.layout),
		seatmap_new(c.seat_rows * length(c.layout), r.n_legs)
	FROM run r JOIN carriage c ON c.train_id = r.train_id
	WHERE r.run_id = open_inventory.run_id
	ON CONFLICT DO NOTHING;
$$;
COMMENT ON FUNCTION open_inventory(bigint) IS 'internal: create the inventory rows of a run';

CREATE FUNCTION open_sales(train text, service_date date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	tid integer := ticket.train_id(train);
	result bigint;
BEGIN
	IF service_date IS NULL THEN
		RAISE EXCEPTION 'service date must not be null' USING ERRCODE = 'TK017';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM seat s WHERE s.train_id = tid) THEN
		RAISE EXCEPTION 'train % has no seats', upper(train) USING ERRCODE = 'TK016',
			HINT = 'Add carriages with ticket.add_carriage() or ticket.add_default_layout().';
	END IF;
	INSERT INTO run AS r (train_id, service_date, n_legs)
	SELECT tid, open_sales.service_date, t.n_stops - 1 FROM train t WHERE t.train_id = tid
	ON CONFLICT ON CONSTRAINT run_train_id_service_date_key DO UPDATE SET status = 'open'
	RETURNING r.run_id INTO result;
	PERFORM open_inventory(result);
	RETURN result;
END
$$;
COMMENT ON FUNCTION open_sales(text, date) IS 'open sales of a train on a date: creates the run (idempotent) and returns its id';

CREATE FUNCTION open_sales(service_date date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	IF service_date IS NULL THEN
		RAISE EXCEPTION 'service date must not be null' USING ERRCODE = 'TK017';
	END IF;
	INSERT INTO run AS r (train_id, service_date, n_legs)
	SELECT t.train_id, open_sales.service_date, t.n_stops - 1 FROM train t
	WHERE EXISTS (SELECT 1 FROM seat s WHERE s.train_id = t.train_id)
	ON CONFLICT ON CONSTRAINT run_train_id_service_date_key DO UPDATE SET status = 'open';
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM open_inventory(r.run_id) FROM run r WHERE r.service_date = open_sales.service_date;
	RETURN n;
END
$$;
COMMENT ON FUNCTION open_sales(date) IS 'open sales of every train that has seats on a date; returns the number of runs open';

CREATE FUNCTION close_sales(train text, service_date date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result bigint;
BEGIN
	UPDATE run r SET status = 'closed'
	WHERE r.train_id = ticket.train_id(train) AND r.service_date = close_sales.service_date
	RETURNING r.run_id INTO result;
	IF result IS NULL THEN
		RAISE EXCEPTION 'no such run: train % on %', upper(train), service_date USING ERRCODE = 'TK008';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION close_sales(text, date) IS 'stop sales of a run; tickets already sold stay valid';

-- applications --------------------------------------------------------------

-- Counts from the seat maps.  Read-only: no writes, no locks, so it runs on a hot standby too.
CREATE FUNCTION remaining(train text, service_date date, from_station text, to_station text)
RETURNS TABLE (seat_class text, remaining integer)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
BEGIN
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);
	-- Holds that have expired but are not swept yet are still in the maps:
	-- when there are any, count as if they were released.
	IF EXISTS (SELECT 1 FROM tickets t
	           WHERE t.run_id = j.run_id AND t.status = 'held' AND t.hold_until <= now()) THEN
		RETURN QUERY
		WITH expired AS (
			SELECT s.carriage_no, array_agg(s.seat_index) AS seats, array_agg(t.legs) AS legs
			FROM tickets t JOIN seat s ON s.seat_id = t.seat_id
			WHERE t.run_id = j.run_id AND t.status = 'held' AND t.hold_until <= now()
			GROUP BY s.carriage_no)
		SELECT rc.seat_class::text,
		       sum(CASE WHEN e.carriage_no IS NULL THEN seatmap_free(rc.map, j.legs)
		                ELSE seatmap_free(rc.map, j.legs, e.seats, e.legs) END)::integer
		FROM run_carriage rc LEFT JOIN expired e ON e.carriage_no = rc.carriage_no
		WHERE rc.run_id = j.run_id
		GROUP BY rc.seat_class
		ORDER BY rc.seat_class;
	ELSE
		RETURN QUERY
		SELECT rc.seat_class::text, sum(seatmap_free(rc.map, j.legs))::integer
		FROM run_carriage rc
		WHERE rc.run_id = j.run_id
		GROUP BY rc.seat_class
		ORDER BY rc.seat_class;
	END IF;
END
$$;
COMMENT ON FUNCTION remaining(text, date, text, text) IS 'seats free on every leg from one station to another, per class (expired holds count as free)';

-- The whole remaining-tickets table of a run: every from/to pair of its
-- route and every class, from one pass over each carriage's seat map.
CREATE FUNCTION remaining_matrix(train text, service_date date)
RETURNS TABLE (from_station text, to_station text, seat_class text, remaining integer)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	tid integer := ticket.train_id(train);
	r record;
BEGIN
	SELECT ru.run_id, ru.n_legs INTO r FROM run ru
	WHERE ru.train_id = tid AND ru.service_date = remaining_matrix.service_date;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such run: train % on %', upper(train), service_date
			USING ERRCODE = 'TK008', HINT = 'An administrator opens sales with ticket.open_sales().';
	END IF;
	IF EXISTS (SELECT 1 FROM tickets t
	           WHERE t.run_id = r.run_id AND t.status = 'held' AND t.hold_until <= now()) THEN
		-- holds expired but not swept yet: count pair by pair, as remaining() does
		RETURN QUERY
		SELECT fs.code, ts.code, x.seat_class, x.remaining
		FROM stop a JOIN stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
		JOIN station fs ON fs.station_id = a.station_id
		JOIN station ts ON ts.station_id = b.station_id
		CROSS JOIN LATERAL remaining(train, service_date, fs.code, ts.code) x
		WHERE a.train_id = tid
		ORDER BY a.stop_no, b.stop_no, x.seat_class::seat_class;
		RETURN;
	END IF;
	RETURN QUERY
	WITH m AS (
		SELECT rc.seat_class, seatmap_free_matrix(array_agg(rc.map)) AS counts
		FROM run_carriage rc WHERE rc.run_id = r.run_id GROUP BY rc.seat_class)
	SELECT fs.code, ts.code, m.seat_class::text,
	       m.counts[a.stop_no * r.n_legs - a.stop_no * (a.stop_no - 1) / 2 + (b.stop_no - a.stop_no - 1) + 1]
	FROM stop a JOIN stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
	JOIN station fs ON fs.station_id = a.station_id
	JOIN station ts ON ts.station_id = b.station_id
	CROSS JOIN m
	WHERE a.train_id = tid
	ORDER BY a.stop_no, b.stop_no, m.seat_class;
END
$$;
COMMENT ON FUNCTION remaining_matrix(text, date) IS 'remaining seats of a run for every from/to pair (telegraph codes) and class, in route order; read-only';

CREATE FUNCTION grab(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL, request_id text DEFAULT NULL)
RETURNS SETOF booking
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
	cls ticket.seat_class := checked_seat_class(seat_class);
	existing orders%ROWTYPE;
	unpaid bigint;
	stale boolean;
	new_order bigint;
	until timestamptz := now() + hold_timeout();
	chosen integer;
	taken seat;
	violated text;
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

	-- at most one unpaid order per user and run (a unique index says so);
	-- one past its deadline no longer counts and is expired here
	SELECT o.order_id, o.hold_until <= now() INTO unpaid, stale FROM orders o
	WHERE o.user_id = grab.user_id AND o.run_id = j.run_id AND o.status = 'held'
	FOR UPDATE;
	IF stale THEN
		PERFORM expire_orders(ARRAY[unpaid]);
		unpaid := NULL;
	END IF;
	IF unpaid IS NOT NULL THEN
		RAISE EXCEPTION 'user % already has an unpaid order on this train', user_id
			USING ERRCODE = 'TK002', DETAIL = format('Order %s is waiting for payment.', unpaid),
			HINT = 'Pay or cancel it first.';
	END IF;

	-- Find and lock a seat (find_seat).  Expired holds may still mark seats
	-- as taken until the sweeper runs; before answering sold out, release
	-- those of this run and look once more.
	new_order := nextval('orders_order_id_seq');
	FOR attempt IN 1..3 LOOP
		chosen := find_seat(j.run_id, j.train_id, j.legs, cls);
		IF chosen IS NULL THEN
			EXIT WHEN attempt > 1 OR release_expired_holds(j.run_id) = 0;
		ELSE
			-- the exclusion constraint has the last word
			BEGIN
				INSERT INTO tickets (order_id, run_id, seat_id, legs, status, hold_until)
				VALUES (new_order, j.run_id, chosen, j.legs, 'held', until);
				EXIT;
			EXCEPTION WHEN exclusion_violation THEN
				-- The map said free but a live ticket overlaps.  That cannot
				-- happen while the trigger keeps them equal; if it ever does,
				-- recount the carriage (this transaction holds its lock) and
				-- look again.
				PERFORM rebuild_seat_map(j.run_id, s.carriage_no) FROM seat s WHERE s.seat_id = chosen;
				chosen := NULL;
			END;
		END IF;
	END LOOP;

	IF chosen IS NULL THEN
		RAISE EXCEPTION 'sold out: no % seat on train % on % from % to %',
			coalesce(cls::text, 'free'), upper(train), service_date, from_station, to_station
			USING ERRCODE = 'TK001';
	END IF;

	SELECT * INTO taken FROM seat s WHERE s.seat_id = chosen;
	BEGIN
		INSERT INTO orders (order_id, user_id, run_id, request_id, seat_class, legs, hold_until)
		VALUES (new_order, grab.user_id, j.run_id, grab.request_id, taken.seat_class, j.legs, until);
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
	RETURN NEXT ROW(new_order, taken.carriage_no, taken.seat_no, taken.seat_class::text, j.legs,
		until, 'held')::booking;
END
$$;
COMMENT ON FUNCTION grab(bigint, text, date, text, text, text, text) IS 'hold a seat from one station to another for ticket.hold_timeout; request_id makes retries return the same order';

-- A free seat for a journey, best first (see README, seat choice), with its
-- carriage's inventory row locked for this transaction.  Carriages are tried
-- in the order of their best seat; one being changed by a concurrent grab is
-- skipped; only when every carriage with a free seat is locked does it wait,
-- so sold out means no seat is free.  Each attempt runs in a subtransaction
-- that gives the row lock back when the carriage turns out to be full, so a
-- grab never holds one carriage while it waits for another (no deadlocks).
CREATE FUNCTION find_seat(run_id bigint, train_id integer, legs segrange, wanted seat_class)
RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	candidate record;
	best_index integer;
BEGIN
	FOR pass IN 1..2 LOOP
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
COMMENT ON FUNCTION find_seat(bigint, integer, segrange, seat_class) IS 'internal: the best free seat for a journey with its carriage locked, NULL if none';

-- Lock the inventory rows of the orders' carriages in a fixed order, before
-- their tickets change: grab() locks an inventory row and then inserts a
-- ticket, so taking locks in the same order keeps the two from deadlocking.
CREATE FUNCTION lock_inventory_of(order_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM 1 FROM run_carriage rc
	WHERE (rc.run_id, rc.carriage_no) IN (
		SELECT t.run_id, s.carriage_no FROM tickets t JOIN seat s USING (seat_id)
		WHERE t.order_id = ANY (order_ids))
	ORDER BY rc.run_id, rc.carriage_no
	FOR UPDATE OF rc;
END
$$;
COMMENT ON FUNCTION lock_inventory_of(bigint[]) IS 'internal: lock the inventory rows the orders'' tickets live in';

-- Recompute one carriage's seat map from its live tickets.
CREATE FUNCTION rebuild_seat_map(run_id bigint, carriage_no integer) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	fresh bytea;
	booked record;
BEGIN
	SELECT seatmap_new(rc.seats, r.n_legs) INTO fresh
	FROM run_carriage rc JOIN run r USING (run_id)
	WHERE rc.run_id = rebuild_seat_map.run_id AND rc.carriage_no = rebuild_seat_map.carriage_no
	FOR UPDATE OF rc;
	FOR booked IN
		SELECT s.seat_index, t.legs FROM tickets t JOIN seat s USING (seat_id)
		WHERE t.run_id = rebuild_seat_map.run_id AND s.carriage_no = rebuild_seat_map.carriage_no
		  AND t.status IN ('held', 'paid')
	LOOP
		fresh := seatmap_take(fresh, booked.seat_index, booked.legs);
	END LOOP;
	UPDATE run_carriage rc SET map = fresh
	WHERE rc.run_id = rebuild_seat_map.run_id AND rc.carriage_no = rebuild_seat_map.carriage_no;
END
$$;
COMMENT ON FUNCTION rebuild_seat_map(bigint, integer) IS 'recompute the seat map of one carriage of a run from its live tickets (repair; never needed in normal operation)';

-- Expire held orders (the caller has locked them) and release their seats,
-- locking the inventory rows in a fixed order first, as set_order_status()
-- does, so sweepers and payments never deadlock on them.
CREATE FUNCTION expire_orders(order_ids bigint[]) RETURNS integer
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
	RETURN n;
END
$$;
COMMENT ON FUNCTION expire_orders(bigint[]) IS 'internal: move locked held orders and their tickets to expired';

-- Release the expired holds of a run; returns how many orders expired.
-- Orders being confirmed or cancelled right now (locked) are left to them.
CREATE FUNCTION release_expired_holds(run_id bigint) RETURNS integer
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
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
COMMENT ON FUNCTION release_expired_holds(bigint) IS 'internal: expire the unpaid holds of one run that are past their deadline';

CREATE FUNCTION order_row(order_id bigint)
RETURNS SETOF booking
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	RETURN QUERY
	SELECT o.order_id, s.carriage_no, s.seat_no, o.seat_class::text, o.legs, o.hold_until, o.status
	FROM orders o
	JOIN LATERAL (SELECT t.seat_id FROM tickets t WHERE t.order_id = o.order_id
	              ORDER BY t.ticket_id DESC LIMIT 1) t ON true
	JOIN seat s ON s.seat_id = t.seat_id
	WHERE o.order_id = order_row.order_id;
END
$$;
COMMENT ON FUNCTION order_row(bigint) IS 'an order as grab() returns it: seat, class, legs, hold deadline and status';

-- Lock an order for a state change; error TK006 if it does not exist.
CREATE FUNCTION lock_order(order_id bigint) RETURNS orders
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result orders;
BEGIN
	SELECT * INTO result FROM orders o WHERE o.order_id = lock_order.order_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such order: %', order_id USING ERRCODE = 'TK006';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION lock_order(bigint) IS 'internal: the order, locked for update; error TK006 if unknown';

-- Locks the inventory rows of the order's seats before touching its tickets:
-- grab() locks an inventory row and then inserts a ticket, so taking the
-- locks in the same order here is what keeps the two from deadlocking.
CREATE FUNCTION set_order_status(order_id bigint, new_status text) RETURNS text
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result text;
BEGIN
	PERFORM lock_inventory_of(ARRAY[set_order_status.order_id]);
	UPDATE tickets t SET status = new_status WHERE t.order_id = set_order_status.order_id;
	UPDATE orders o SET status = new_status,
		paid_at = CASE WHEN new_status = 'paid' THEN now() ELSE o.paid_at END,
		closed_at = CASE WHEN new_status = 'paid' THEN o.closed_at ELSE now() END
	WHERE o.order_id = set_order_status.order_id
	RETURNING o.status INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION set_order_status(bigint, text) IS 'internal: move an order and its tickets to a new status';

CREATE FUNCTION confirm(order_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	o orders := lock_order(order_id);
BEGIN
	CASE o.status
		WHEN 'paid', 'refunded' THEN
			RETURN o.status;	-- already confirmed: a retry changes nothing
		WHEN 'cancelled' THEN
			RAISE EXCEPTION 'order % was cancelled', order_id USING ERRCODE = 'TK015';
		WHEN 'expired' THEN
			RAISE EXCEPTION 'hold of order % has expired', order_id USING ERRCODE = 'TK003',
				HINT = 'Grab the journey again.';
		ELSE
			IF o.hold_until <= now() THEN
				-- nothing is sold; the sweeper (or the next grab of the seat) releases it
				RAISE EXCEPTION 'hold of order % has expired', order_id
					USING ERRCODE = 'TK003', HINT = 'Grab the journey again.';
			END IF;
			RETURN set_order_status(order_id, 'paid');
	END CASE;
END
$$;
COMMENT ON FUNCTION confirm(bigint) IS 'payment received: the held seat becomes sold; error TK003 if the hold has expired; idempotent';

CREATE FUNCTION cancel(order_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	o orders := lock_order(order_id);
BEGIN
	CASE o.status
		WHEN 'cancelled', 'expired' THEN
			RETURN o.status;
		WHEN 'paid', 'refunded' THEN
			RAISE EXCEPTION 'order % is already paid', order_id USING ERRCODE = 'TK004',
				HINT = 'Use ticket.refund() for a paid order.';
		ELSE
			RETURN set_order_status(order_id, 'cancelled');
	END CASE;
END
$$;
COMMENT ON FUNCTION cancel(bigint) IS 'cancel an unpaid order: its seat returns to sale; idempotent; error TK004 if paid';

CREATE FUNCTION refund(order_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	o orders := lock_order(order_id);
BEGIN
	CASE o.status
		WHEN 'refunded' THEN
			RETURN o.status;
		WHEN 'paid' THEN
			RETURN set_order_status(order_id, 'refunded');
		ELSE
			RAISE EXCEPTION 'order % is not paid', order_id USING ERRCODE = 'TK005',
				DETAIL = format('Its status is %s.', o.status), HINT = 'Use ticket.cancel() for an unpaid order.';
	END CASE;
END
$$;
COMMENT ON FUNCTION refund(bigint) IS 'refund a paid order: its seat returns to sale; idempotent; error TK005 if not paid';

CREATE FUNCTION expire_holds() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	-- SKIP LOCKED: an order being confirmed right now is left to confirm().
	RETURN (SELECT expire_orders(coalesce(array_agg(o.order_id), '{}')) FROM (
		SELECT o.order_id FROM orders o
		WHERE o.status = 'held' AND o.hold_until <= now()
		ORDER BY o.order_id
		FOR UPDATE SKIP LOCKED) o);
END
$$;
COMMENT ON FUNCTION expire_holds() IS 'release every unpaid hold past its deadline; returns how many orders expired (pg_cron runs it, see schedule_jobs)';

-- pg_cron -------------------------------------------------------------------

CREATE FUNCTION schedule_jobs(schedule text DEFAULT '* * * * *') RETURNS bigint
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	job bigint;
BEGIN
	IF to_regproc('cron.schedule_in_database') IS NULL THEN
		RAISE NOTICE 'pg_cron is not installed in this database: holds are not swept automatically'
			USING HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name, CREATE EXTENSION pg_cron, then call ticket.schedule_jobs() again; or run SELECT ticket.expire_holds() from another scheduler.';
		RETURN NULL;
	END IF;
	-- named jobs are upserts in pg_cron, so calling this twice is harmless
	EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database())'
		INTO job USING 'ticket-expire-holds', schedule, 'SELECT ticket.expire_holds()';
	RETURN job;
END
$$;
COMMENT ON FUNCTION schedule_jobs(text) IS 'schedule the hold sweeper as pg_cron job "ticket-expire-holds" (every minute by default); a notice, not an error, without pg_cron';

CREATE FUNCTION unschedule_jobs() RETURNS boolean
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	found boolean;
BEGIN
	IF to_regclass('cron.job') IS NULL THEN
		RAISE NOTICE 'pg_cron is not installed in this database: nothing to unschedule';
		RETURN false;
	END IF;
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO found USING 'ticket-expire-holds';
	IF found THEN
		EXECUTE 'SELECT cron.unschedule($1)' USING 'ticket-expire-holds';
	END IF;
	RETURN found;
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS 'remove the hold sweeper from pg_cron; idempotent';

-- roles ---------------------------------------------------------------------

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ticket_admin') THEN
		CREATE ROLE ticket_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ticket_app') THEN
		CREATE ROLE ticket_app NOLOGIN;
	END IF;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA ticket FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION add_station(text, text, text), add_train(text, text[], interval[], interval[]),
	add_carriage(text, integer, text, integer, text), add_default_layout(text),
	open_sales(text, date), open_sales(date), close_sales(text, date),
	grab(bigint, text, date, text, text, text, text), confirm(bigint), cancel(bigint), refund(bigint),
	expire_holds(), schedule_jobs(text), unschedule_jobs(),
	set_order_status(bigint, text),
	lock_order(bigint),
	release_expired_holds(bigint), expire_orders(bigint[]), open_inventory(bigint), sync_seat_map(),
	find_seat(bigint, integer, segrange, seat_class), lock_inventory_of(bigint[]),
	rebuild_seat_map(bigint, integer)
	FROM PUBLIC;

GRANT USAGE ON SCHEMA ticket TO ticket_admin, ticket_app;
GRANT SELECT ON ALL TABLES IN SCHEMA ticket TO ticket_admin, ticket_app;
GRANT EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text), confirm(bigint),
	cancel(bigint), refund(bigint) TO ticket_app, ticket_admin;
GRANT EXECUTE ON FUNCTION add_station(text, text, text), add_train(text, text[], interval[], interval[]),
	add_carriage(text, integer, text, integer, text), add_default_layout(text),
	open_sales(text, date), open_sales(date), close_sales(text, date),
	expire_holds(), schedule_jobs(text), unschedule_jobs() TO ticket_admin;
