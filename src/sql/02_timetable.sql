-- The timetable: stations, trains and their stops with times, carriages and
-- seats; the lookups that resolve what callers name; its administration.
-- Times are offsets from 00:00 of a train's service date, in Beijing time.

CREATE TYPE seat_class AS ENUM
	('business', 'first', 'second', 'soft_sleeper', 'hard_sleeper', 'hard_seat');
COMMENT ON TYPE seat_class IS 'seat classes, from the most to the least expensive';

-- stations and cities ---------------------------------------------------------

-- The timetable has no city column, but a change between two stations of
-- one city (北京南 and 北京西) is a real option.  Most station names are the
-- city plus a direction, so that is the rule; the few that are not (上海虹桥,
-- 苏州园区) are set by an administrator.  Names of one or two characters are
-- left whole: 济南 and 淮南 are cities, not 济 and 淮 plus a direction.
CREATE OR REPLACE FUNCTION city_of(name text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE WHEN char_length(name) >= 3 THEN regexp_replace(name, '[东南西北]$', '') ELSE name END;
COMMENT ON FUNCTION city_of(text) IS 'the city of a station by the naming rule: the name without one trailing 东/南/西/北 when it has three characters or more (杭州东 -> 杭州, 济南 -> 济南)';
REVOKE EXECUTE ON FUNCTION city_of(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION city_of(text) TO ticket_app, ticket_admin;

CREATE TABLE station (
	station_id serial PRIMARY KEY,
	code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z]{3}$'),
	name text NOT NULL UNIQUE CHECK (name <> ''),
	pinyin text,
	city_override text CHECK (btrim(city_override) <> ''),
	city text GENERATED ALWAYS AS (coalesce(city_override, city_of(name))) STORED
);
COMMENT ON TABLE station IS 'stations, by 12306 telegraph code (e.g. VNP) and name (e.g. 北京南)';
COMMENT ON COLUMN station.city_override IS 'city set by an administrator (ticket.set_station_city), NULL to follow the naming rule';
COMMENT ON COLUMN station.city IS 'city of the station: city_override, else the naming rule ticket.city_of(name); changes between stations of one city need a longer connection';
GRANT SELECT ON station TO ticket_admin, ticket_app;
-- pg_dump keeps the user's data in the extension's tables and sequences
SELECT pg_catalog.pg_extension_config_dump('station', '');
SELECT pg_catalog.pg_extension_config_dump('station_station_id_seq', '');

CREATE TABLE train (
	train_id serial PRIMARY KEY,
	code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z]?[0-9]{1,5}$'),
	n_stops integer NOT NULL CHECK (n_stops >= 2)
);
COMMENT ON TABLE train IS 'trains by their public code (e.g. G1); routes are in ticket.stop';
GRANT SELECT ON train TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('train', '');
SELECT pg_catalog.pg_extension_config_dump('train_train_id_seq', '');

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

-- Search starts from the trains through a station.
CREATE INDEX stop_station_idx ON stop (station_id, train_id, stop_no);
COMMENT ON INDEX stop_station_idx IS 'the trains calling at a station, where every search starts';
GRANT SELECT ON stop TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('stop', '');

CREATE TABLE carriage (
	train_id integer NOT NULL REFERENCES train ON DELETE CASCADE,
	carriage_no integer NOT NULL CHECK (carriage_no BETWEEN 1 AND 99),
	seat_class seat_class NOT NULL,
	seat_rows integer NOT NULL CHECK (seat_rows BETWEEN 1 AND 99),
	layout text NOT NULL CHECK (layout ~ '^[A-F]{1,6}$'),
	PRIMARY KEY (train_id, carriage_no)
);
COMMENT ON TABLE carriage IS 'carriages of a train: class, number of rows and the seat letters of one row';
GRANT SELECT ON carriage TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('carriage', '');

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
GRANT SELECT ON seat TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('seat', '');
SELECT pg_catalog.pg_extension_config_dump('seat_seat_id_seq', '');

-- Sessions keep the journeys enqueue resolved (train, date and stations to
-- run and stops) while the timetable does not change; every change of it
-- is counted in shared memory, at the statement and again at commit.
CREATE OR REPLACE FUNCTION timetable_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'ticket_timetable_changed' LANGUAGE C;
COMMENT ON FUNCTION timetable_changed() IS 'internal trigger: the timetable changed, so sessions drop the journeys they keep';
REVOKE EXECUTE ON FUNCTION timetable_changed() FROM PUBLIC;

CREATE TRIGGER station_timetable_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON station
	FOR EACH STATEMENT EXECUTE FUNCTION timetable_changed();

CREATE TRIGGER stop_timetable_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stop
	FOR EACH STATEMENT EXECUTE FUNCTION timetable_changed();

CREATE TRIGGER train_timetable_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON train
	FOR EACH STATEMENT EXECUTE FUNCTION timetable_changed();

-- What a name of a station, a city or a person may be: 1 to max_chars
-- characters (blanks at the ends do not count), none of them a control
-- character (C0, DEL, C1), a line or paragraph separator, or an invisible
-- format character (zero-width spaces and joiners, bidirectional overrides,
-- the byte order mark) that would make a printed name differ from what it
-- says.  NULL for NULL.
CREATE OR REPLACE FUNCTION valid_name(name text, max_chars integer) RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN btrim(name) <> '' AND char_length(btrim(name)) <= max_chars
		AND name !~ '[\u0001-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]';
COMMENT ON FUNCTION valid_name(text, integer) IS 'internal: whether a name is 1 to max_chars characters (trimmed) without control, separator or invisible format characters';
REVOKE EXECUTE ON FUNCTION valid_name(text, integer) FROM PUBLIC;

-- lookups -------------------------------------------------------------------

-- The one rule that says which station a caller names: its telegraph code
-- in any case (vnp, VNP) or its exact name (北京南), surrounding blanks
-- ignored; a code wins over a name.  station_id() and journey() use it, and
-- search and the rest resolve stations through station_id().
-- LANGUAGE sql, STABLE, not STRICT, set-returning and without a SET clause,
-- so the planner inlines it as a subquery into the query that uses it:
-- journey() resolves train, run, both stations and their stops in one
-- query, as fast as with the match written into it.  Without SET the body
-- names its table with the schema.  An inlined function is still checked
-- for EXECUTE, so the roles that call station_id() and journey() have it.
CREATE OR REPLACE FUNCTION station_named(station text) RETURNS TABLE (station_id integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT s.station_id FROM ticket.station s
	WHERE s.code = upper(btrim(station)) OR s.name = btrim(station)
	ORDER BY s.code = upper(btrim(station)) DESC LIMIT 1
$$;
COMMENT ON FUNCTION station_named(text) IS 'internal: the station a text names, by telegraph code in any case or exact name, blanks trimmed, the code first; no row if none';
REVOKE EXECUTE ON FUNCTION station_named(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_named(text) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION station_id(station text) RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result integer;
BEGIN
	IF station IS NULL THEN
		RAISE EXCEPTION 'station must not be null' USING ERRCODE = 'TK017';
	END IF;
	SELECT s.station_id INTO result FROM station_named(station) s;
	IF result IS NULL THEN
		RAISE EXCEPTION 'no such station: "%"', station USING ERRCODE = 'TK009',
			HINT = 'Give a telegraph code such as VNP or a name such as 北京南.';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION station_id(text) IS 'station by telegraph code or name; error TK009 if unknown';

CREATE OR REPLACE FUNCTION train_id(train text) RETURNS integer
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

CREATE OR REPLACE FUNCTION parse_seat_class(seat_class text) RETURNS seat_class
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

CREATE OR REPLACE FUNCTION checked_seat_class(seat_class text) RETURNS seat_class
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
CREATE OR REPLACE FUNCTION journey(train text, service_date date, from_station text, to_station text,
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
	LEFT JOIN LATERAL station_named(from_station) f ON true
	LEFT JOIN LATERAL station_named(to_station) d ON true
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

-- The stop numbers of two stations on a train's route, in order; TK009,
-- TK010 or TK011 otherwise.  (journey() does the same in its one query, with
-- the run, for grabs.)
CREATE OR REPLACE FUNCTION route_stops(train_id integer, train text, from_station text, to_station text,
	OUT a integer, OUT b integer)
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	SELECT s.stop_no INTO a FROM stop s WHERE s.train_id = route_stops.train_id AND s.station_id = station_id(from_station);
	SELECT s.stop_no INTO b FROM stop s WHERE s.train_id = route_stops.train_id AND s.station_id = station_id(to_station);
	IF a IS NULL OR b IS NULL THEN
		RAISE EXCEPTION 'station "%" is not on the route of train %',
			CASE WHEN a IS NULL THEN from_station ELSE to_station END, upper(train) USING ERRCODE = 'TK010';
	END IF;
	IF a >= b THEN
		RAISE EXCEPTION 'from station must come before to station on train %', upper(train) USING ERRCODE = 'TK011';
	END IF;
END
$$;
COMMENT ON FUNCTION route_stops(integer, text, text, text) IS 'internal: stop numbers of two stations on a train''s route, from before to; TK009, TK010 or TK011 otherwise';
REVOKE EXECUTE ON FUNCTION route_stops(integer, text, text, text) FROM PUBLIC;

-- the time a journey takes, in Beijing time
CREATE OR REPLACE FUNCTION travel_time(train_id integer, service_date date, legs segrange) RETURNS tsrange
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
	-- a train without times takes its passengers for the whole service day
	SELECT CASE WHEN coalesce(a.depart, a.arrive) IS NULL OR coalesce(b.arrive, b.depart) IS NULL
	            THEN tsrange(service_date, service_date + 1)
	            ELSE tsrange(service_date + coalesce(a.depart, a.arrive), service_date + coalesce(b.arrive, b.depart)) END
	FROM stop a JOIN stop b ON b.train_id = a.train_id
	WHERE a.train_id = travel_time.train_id AND a.stop_no = lower(legs) AND b.stop_no = upper(legs)
$$;
COMMENT ON FUNCTION travel_time(integer, date, segrange) IS 'Beijing time from departure at the journey''s first station to arrival at its last (the whole service day for a train without times)';
REVOKE EXECUTE ON FUNCTION travel_time(integer, date, segrange) FROM PUBLIC;

-- administration ------------------------------------------------------------

CREATE OR REPLACE FUNCTION add_station(code text, name text, pinyin text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result integer;
BEGIN
	PERFORM require_primary();
	IF code IS NULL OR upper(btrim(code)) !~ '^[A-Z]{3}$' OR coalesce(btrim(name), '') = '' THEN
		RAISE EXCEPTION 'invalid station: code "%" name "%"', code, name USING ERRCODE = 'TK016',
			HINT = 'A telegraph code is three letters, such as VNP; the name must not be empty.';
	END IF;
	IF NOT valid_name(name, 50) OR NOT coalesce(valid_name(pinyin, 100), true) THEN
		RAISE EXCEPTION 'invalid station name or pinyin for %', upper(btrim(code)) USING ERRCODE = 'TK016',
			DETAIL = 'A station name is at most 50 characters and a pinyin at most 100, without control characters.';
	END IF;
	INSERT INTO station AS s (code, name, pinyin)
	VALUES (upper(btrim(code)), btrim(name), pinyin)
	ON CONFLICT ON CONSTRAINT station_code_key DO UPDATE SET name = excluded.name, pinyin = coalesce(excluded.pinyin, s.pinyin)
	RETURNING station_id INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION add_station(text, text, text) IS 'add a station, or rename the one with that telegraph code; returns its id';
REVOKE EXECUTE ON FUNCTION add_station(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION add_station(text, text, text) TO ticket_admin;

CREATE OR REPLACE FUNCTION set_station_city(station text, city text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	sid integer := station_id(station);
	result text;
BEGIN
	PERFORM require_primary();
	IF city IS NOT NULL AND btrim(city) = '' THEN
		RAISE EXCEPTION 'invalid city: "%"', city USING ERRCODE = 'TK033',
			HINT = 'Give a city name such as 上海, or NULL to follow the naming rule.';
	END IF;
	IF NOT coalesce(valid_name(city, 50), true) THEN
		RAISE EXCEPTION 'invalid city for station %', station USING ERRCODE = 'TK033',
			DETAIL = 'A city name is at most 50 characters, without control characters.';
	END IF;
	UPDATE station s SET city_override = btrim(set_station_city.city)
	WHERE s.station_id = sid
	RETURNING s.city INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION set_station_city(text, text) IS 'set the city of a station (NULL: back to the naming rule); returns the city it now has';
REVOKE EXECUTE ON FUNCTION set_station_city(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_station_city(text, text) TO ticket_admin;

CREATE OR REPLACE FUNCTION add_train(code text, stops text[], arrivals interval[] DEFAULT NULL,
	departures interval[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	new_id integer;
	n integer := coalesce(cardinality(stops), 0);
BEGIN
	PERFORM require_primary();
	IF code IS NULL OR upper(btrim(code)) !~ '^[A-Z]?[0-9]{1,5}$' THEN
		RAISE EXCEPTION 'invalid train code: "%"', code USING ERRCODE = 'TK016',
			HINT = 'A train code is an optional letter and digits, such as G1 or K48.';
	END IF;
	IF n < 2 THEN
		RAISE EXCEPTION 'a train needs at least two stops' USING ERRCODE = 'TK016';
	END IF;
	-- one-dimensional lists numbered from 1, as the stops are read below
	IF coalesce(array_ndims(stops), 1) <> 1 OR coalesce(array_lower(stops, 1), 1) <> 1
	   OR coalesce(array_ndims(arrivals), 1) <> 1 OR coalesce(array_lower(arrivals, 1), 1) <> 1
	   OR coalesce(array_ndims(departures), 1) <> 1 OR coalesce(array_lower(departures, 1), 1) <> 1 THEN
		RAISE EXCEPTION 'stops, arrivals and departures must be one-dimensional lists' USING ERRCODE = 'TK016',
			HINT = 'Write them as ARRAY[...], one entry per stop.';
	END IF;
	IF (arrivals IS NOT NULL AND cardinality(arrivals) <> n)
	   OR (departures IS NOT NULL AND cardinality(departures) <> n) THEN
		RAISE EXCEPTION 'arrival and departure arrays must have one entry per stop' USING ERRCODE = 'TK016';
	END IF;
	IF EXISTS (SELECT 1 FROM unnest(arrivals || departures) t WHERE t < interval '0' OR t >= interval '10 days') THEN
		RAISE EXCEPTION 'times of train % must be offsets from 0 to 10 days', upper(btrim(code)) USING ERRCODE = 'TK016',
			HINT = 'Times are offsets from 00:00 of the service date; add 24 hours after midnight.';
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
REVOKE EXECUTE ON FUNCTION add_train(text, text[], interval[], interval[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION add_train(text, text[], interval[], interval[]) TO ticket_admin;

CREATE OR REPLACE FUNCTION add_carriage(train text, carriage_no integer, seat_class text, seat_rows integer,
	layout text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	tid integer := ticket.train_id(train);
	cls ticket.seat_class := checked_seat_class(seat_class);
	n integer;
BEGIN
	PERFORM require_primary();
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
REVOKE EXECUTE ON FUNCTION add_carriage(text, integer, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION add_carriage(text, integer, text, integer, text) TO ticket_admin;

CREATE OR REPLACE FUNCTION add_default_layout(train text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	code text := upper(btrim(train));
	n integer := 0;
	c record;
BEGIN
	PERFORM require_primary();
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
REVOKE EXECUTE ON FUNCTION add_default_layout(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION add_default_layout(text) TO ticket_admin;
