-- Sales: runs and their inventory (seat maps), orders and tickets, and the
-- calls that sell and unsell them: open_sales, remaining, grab (one seat, or
-- named passengers seated together), confirm, cancel, refund, change.
-- Every error a caller can meet has a SQLSTATE of class TK (README lists
-- them all).

-- settings ------------------------------------------------------------------

CREATE OR REPLACE FUNCTION hold_timeout() RETURNS interval
	AS 'MODULE_PATHNAME', 'ticket_hold_timeout' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION hold_timeout() IS 'current value of the ticket.hold_timeout setting (default 15 minutes)';

-- Seat maps: per carriage and run, the taken legs of every seat as bitmaps,
-- searched and updated in C (src/seatmap.c).
CREATE OR REPLACE FUNCTION seatmap_new(n_seats integer, n_legs integer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'seatmap_new' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_new(integer, integer) IS 'an empty seat map of n seats and n legs';

CREATE OR REPLACE FUNCTION seatmap_take(map bytea, seat integer, legs segrange) RETURNS bytea
	AS 'MODULE_PATHNAME', 'seatmap_take_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_take(bytea, integer, segrange) IS 'the map with the legs of a seat marked taken';

-- A statement that inserts many tickets (a queue batch, a group, a restore)
-- changes each carriage's map once, by a statement trigger over the inserted
-- rows (sync_seat_maps_inserted()), not once per ticket; updates and deletes
-- of tickets go row by row (sync_seat_map()).
CREATE OR REPLACE FUNCTION seatmap_take(map bytea, seats integer[], legs segrange[]) RETURNS bytea
	AS 'MODULE_PATHNAME', 'seatmap_take_seats_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_take(bytea, integer[], segrange[]) IS 'the map with the legs of every seat marked taken (seats and legs pair up)';

CREATE OR REPLACE FUNCTION seatmap_release(map bytea, seat integer, legs segrange) RETURNS bytea
	AS 'MODULE_PATHNAME', 'seatmap_release_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_release(bytea, integer, segrange) IS 'the map with the legs of a seat marked free';

CREATE OR REPLACE FUNCTION seatmap_best(map bytea, legs segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'seatmap_best_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_best(bytea, segrange) IS 'the best free seat of the map for a journey (see README, seat choice), NULL if none';

CREATE OR REPLACE FUNCTION seatmap_best_score(map bytea, legs segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'seatmap_best_score_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_best_score(bytea, segrange) IS 'how well the best free seat fits the journey: 2 both ends meet taken legs or route ends, 1 one, 0 none; NULL if no seat is free';

CREATE OR REPLACE FUNCTION seatmap_free(map bytea, legs segrange) RETURNS integer
	AS 'MODULE_PATHNAME', 'seatmap_free_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_free(bytea, segrange) IS 'number of seats free on every leg of the journey';

CREATE OR REPLACE FUNCTION seatmap_free(map bytea, legs segrange, released_seats integer[], released_legs segrange[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'seatmap_free_releasing_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_free(bytea, segrange, integer[], segrange[]) IS 'number of seats free on every leg of the journey if the listed (seat, legs) bookings were released';

CREATE OR REPLACE FUNCTION seatmap_free_matrix(maps bytea[]) RETURNS integer[]
	AS 'MODULE_PATHNAME', 'seatmap_free_matrix_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_free_matrix(bytea[]) IS 'for every journey [a,b) of the route (a-major order: [0,1), [0,2) .. [0,n), [1,2) ..), the seats free on all its legs, summed over the maps';

CREATE OR REPLACE FUNCTION seatmap_assign(maps bytea[], classes integer[], legs segrange[], wanted integer[])
	RETURNS integer[]
	AS 'MODULE_PATHNAME', 'seatmap_assign_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatmap_assign(bytea[], integer[], segrange[], integer[]) IS 'seats for requests served in order: request i wants legs[i] (NULL: skip) in class number wanted[i] (NULL: any) among carriages maps[c] of class number classes[c]; two numbers per request: carriage position in maps (1-based) and seat index, NULLs if none';
REVOKE EXECUTE ON FUNCTION seatmap_assign(bytea[], integer[], segrange[], integer[]) FROM PUBLIC;

-- seats for groups ----------------------------------------------------------

CREATE OR REPLACE FUNCTION seatgroup_place(map bytea, row_len integer, aisle integer, legs segrange, n integer, wanted integer)
RETURNS integer[]
	AS 'MODULE_PATHNAME', 'seatgroup_place_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatgroup_place(bytea, integer, integer, segrange, integer, integer) IS 'seats for a group of n in one carriage (rows of row_len seats, aisle after position aisle - 1, wanted: bitmask of asked positions): {level, letters_ok, seat indexes...}; NULL if fewer than n are free (see doc/passengers.md)';
REVOKE EXECUTE ON FUNCTION seatgroup_place(bytea, integer, integer, segrange, integer, integer) FROM PUBLIC;

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
GRANT SELECT ON run TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('run', '');
SELECT pg_catalog.pg_extension_config_dump('run_run_id_seq', '');
-- a run's status is part of the journeys the queue keeps (timetable_changed())
CREATE TRIGGER run_timetable_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON run
	FOR EACH STATEMENT EXECUTE FUNCTION timetable_changed();

-- Departure of a run from a stop, as a point in time (the timetable is in
-- Beijing time); a train without times leaves at the start of its date.
CREATE OR REPLACE FUNCTION departure_time(run_id bigint, stop_no integer) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT (r.service_date + coalesce(s.depart, interval '0')) AT TIME ZONE 'Asia/Shanghai'
	FROM run r JOIN stop s ON s.train_id = r.train_id
	WHERE r.run_id = departure_time.run_id AND s.stop_no = departure_time.stop_no
$$;
COMMENT ON FUNCTION departure_time(bigint, integer) IS 'when a run leaves one of its stops (timetables are Beijing time; without times, the start of the service date)';
REVOKE EXECUTE ON FUNCTION departure_time(bigint, integer) FROM PUBLIC;

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
GRANT SELECT ON run_carriage TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('run_carriage', '');

-- Every change of a run's seat maps is counted in shared memory, so that
-- remaining() can keep a run's counts and know when they no longer hold
-- (src/run_counts.c).  ENABLE ALWAYS: it fires under
-- session_replication_role = replica too (logical replication's apply).
CREATE OR REPLACE FUNCTION run_seats_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'ticket_run_seats_changed' LANGUAGE C;
COMMENT ON FUNCTION run_seats_changed() IS 'internal trigger: a transaction changes the seat maps (or a hold''s deadline) of a run, so the counts remaining() keeps of it are not used until it has ended';
REVOKE EXECUTE ON FUNCTION run_seats_changed() FROM PUBLIC;
CREATE TRIGGER run_carriage_seats_changed BEFORE INSERT OR UPDATE OR DELETE ON run_carriage
	FOR EACH ROW EXECUTE FUNCTION run_seats_changed();
CREATE TRIGGER run_carriage_truncated BEFORE TRUNCATE ON run_carriage
	FOR EACH STATEMENT EXECUTE FUNCTION run_seats_changed();
ALTER TABLE run_carriage ENABLE ALWAYS TRIGGER run_carriage_seats_changed;
ALTER TABLE run_carriage ENABLE ALWAYS TRIGGER run_carriage_truncated;

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
	total numeric(9, 1),
	UNIQUE (user_id, request_id),
	client text
);
-- one unpaid order per user and run, whatever the isolation level of the caller
CREATE UNIQUE INDEX orders_one_unpaid_per_run ON orders (user_id, run_id) WHERE status = 'held';
CREATE INDEX orders_hold_until_idx ON orders (hold_until) WHERE status = 'held';
COMMENT ON TABLE orders IS 'orders of users; status held -> paid -> refunded, or held -> cancelled / expired';
COMMENT ON COLUMN orders.total IS 'sum of the ticket prices of an order with passengers';
COMMENT ON COLUMN orders.client IS 'the end client that made the order (ticket.client: an IP address or device id), NULL if none was named';
-- the per-client limit counts a client's live orders on a run
CREATE INDEX orders_client_idx ON orders (client, run_id) WHERE client IS NOT NULL;
GRANT SELECT ON orders TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('orders', '');
SELECT pg_catalog.pg_extension_config_dump('orders_order_id_seq', '');

-- Tickets name their passenger and the time they travel (NULLs for tickets
-- of the single-seat grab).  document_key is the person (document type and
-- number), not the account's passenger row: two accounts that both added the
-- same person still cannot put them on two trains at once.
CREATE TABLE tickets (
	ticket_id bigserial PRIMARY KEY,
	-- deferred: grab() claims the seat first and writes the order once it has one
	order_id bigint NOT NULL REFERENCES orders DEFERRABLE INITIALLY DEFERRED,
	run_id bigint NOT NULL,
	seat_id integer NOT NULL REFERENCES seat,
	legs segrange NOT NULL,
	status text NOT NULL DEFAULT 'held',
	hold_until timestamptz NOT NULL,
	passenger_id bigint REFERENCES passenger,
	document_key text,
	passenger_type text,
	travel tsrange,
	price numeric(8, 1) CHECK (price >= 0),
	-- no foreign key to tickets itself: pg_dump warns about (and may fail
	-- to order) the rows of a self-referencing configuration table; only
	-- change_ticket() sets it and tickets are never deleted
	changed_from bigint,
	refund_fee numeric(8, 1),
	CONSTRAINT tickets_status_check
		CHECK (status IN ('held', 'paid', 'cancelled', 'expired', 'refunded', 'changed')),
	CONSTRAINT tickets_named_complete CHECK (passenger_id IS NULL
		OR (document_key IS NOT NULL AND travel IS NOT NULL AND NOT isempty(travel) AND price IS NOT NULL)),
	-- The last line of defence: two live tickets never share a leg of a seat.
	CONSTRAINT tickets_no_double_booking EXCLUDE USING gist
		(run_id WITH =, seat_id WITH =, legs WITH &&) WHERE (status IN ('held', 'paid')),
	-- One person cannot be in two places at once, whatever the train, the
	-- date or the account: PostgreSQL refuses the second live ticket, so no
	-- race between two orders can slip past it.
	CONSTRAINT tickets_one_place_at_a_time EXCLUDE USING gist
		(document_key WITH =, travel WITH &&)
		WHERE (status IN ('held', 'paid') AND document_key IS NOT NULL)
);
CREATE INDEX tickets_order_idx ON tickets (order_id);
CREATE INDEX tickets_holds_idx ON tickets (run_id, hold_until) WHERE status = 'held';
CREATE INDEX tickets_passenger_idx ON tickets (passenger_id) WHERE passenger_id IS NOT NULL;

-- a ticket is changed at most once; partial, so the many tickets that are
-- no change cost no index entry
CREATE UNIQUE INDEX tickets_changed_from_key ON tickets (changed_from) WHERE changed_from IS NOT NULL;
COMMENT ON TABLE tickets IS 'seats sold or held: legs of one seat on one run; live (held or paid) tickets never overlap';
COMMENT ON COLUMN tickets.document_key IS 'the person travelling: document type and number (NULL for tickets of the single-seat grab)';
COMMENT ON COLUMN tickets.travel IS 'Beijing time from departure at the first station to arrival at the last; live tickets of one person never overlap';
COMMENT ON COLUMN tickets.changed_from IS 'the ticket this one replaced in a change (改签); a ticket is changed at most once';
COMMENT ON COLUMN tickets.refund_fee IS 'fee kept when the ticket was refunded (or on the fare difference of a change)';
GRANT SELECT ON tickets TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('tickets', '');
SELECT pg_catalog.pg_extension_config_dump('tickets_ticket_id_seq', '');

-- Seat maps change by taking or releasing exactly a ticket's legs, applied
-- to the row's latest version, so concurrent changes to one carriage compose.
CREATE OR REPLACE FUNCTION sync_seat_map() RETURNS trigger
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
REVOKE EXECUTE ON FUNCTION sync_seat_map() FROM PUBLIC;

CREATE OR REPLACE FUNCTION sync_seat_maps_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	UPDATE run_carriage rc SET map = seatmap_take(rc.map, x.seats, x.legs)
	FROM (SELECT t.run_id, s.carriage_no, array_agg(s.seat_index) AS seats, array_agg(t.legs) AS legs
	      FROM new_tickets t JOIN seat s ON s.seat_id = t.seat_id
	      WHERE t.status IN ('held', 'paid')
	      GROUP BY t.run_id, s.carriage_no) x
	WHERE rc.run_id = x.run_id AND rc.carriage_no = x.carriage_no;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION sync_seat_maps_inserted() IS 'trigger: take the legs of the live tickets a statement inserted in their carriages'' seat maps, once per carriage';
REVOKE EXECUTE ON FUNCTION sync_seat_maps_inserted() FROM PUBLIC;

CREATE TRIGGER tickets_sync_seat_map
	AFTER DELETE OR UPDATE OF status, legs, run_id, seat_id ON tickets
	FOR EACH ROW EXECUTE FUNCTION sync_seat_map();

CREATE TRIGGER tickets_sync_seat_maps_inserted
	AFTER INSERT ON tickets REFERENCING NEW TABLE AS new_tickets
	FOR EACH STATEMENT EXECUTE FUNCTION sync_seat_maps_inserted();

-- A hold's deadline decides whether remaining() counts its seat as free:
-- one moved by hand is a change of the run's counts too (run_seats_changed()).
CREATE TRIGGER tickets_hold_changed BEFORE UPDATE OF hold_until ON tickets
	FOR EACH ROW WHEN (OLD.hold_until IS DISTINCT FROM NEW.hold_until) EXECUTE FUNCTION run_seats_changed();
ALTER TABLE tickets ENABLE ALWAYS TRIGGER tickets_hold_changed;

-- Seats of a run that have no inventory row yet get one with nothing taken.
CREATE OR REPLACE FUNCTION open_inventory(run_id bigint) RETURNS void
LANGUAGE sql SET search_path = ticket, pg_catalog, pg_temp AS $$
	INSERT INTO run_carriage (run_id, carriage_no, seat_class, seats, map)
	SELECT r.run_id, c.carriage_no, c.seat_class, c.seat_rows * length(c.layout),
		seatmap_new(c.seat_rows * length(c.layout), r.n_legs)
	FROM run r JOIN carriage c ON c.train_id = r.train_id
	WHERE r.run_id = open_inventory.run_id
	ON CONFLICT DO NOTHING;
$$;
COMMENT ON FUNCTION open_inventory(bigint) IS 'internal: create the inventory rows of a run';
REVOKE EXECUTE ON FUNCTION open_inventory(bigint) FROM PUBLIC;

-- A run can be opened until its train reaches its last stop (a train
-- without times: the end of its service date), Beijing time; an overnight
-- train still on its way may be opened the day after it left.
CREATE OR REPLACE FUNCTION run_ended(train_id integer, service_date date) RETURNS boolean
LANGUAGE sql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT service_date + coalesce(max(greatest(s.arrive, s.depart)), interval '1 day') <= beijing_now()
	FROM stop s WHERE s.train_id = run_ended.train_id
$$;
COMMENT ON FUNCTION run_ended(integer, date) IS 'internal: whether the run of a train on a date has reached its last stop (untimed: its service date is over), Beijing time';
REVOKE EXECUTE ON FUNCTION run_ended(integer, date) FROM PUBLIC;

-- The dates open_sales() takes: finite, up to the year 9999 (timetables
-- add days to them), and not a run that has ended.
CREATE OR REPLACE FUNCTION check_sales_date(train_id integer, train text, service_date date) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF service_date IS NULL THEN
		RAISE EXCEPTION 'service date must not be null' USING ERRCODE = 'TK017';
	END IF;
	IF NOT isfinite(service_date) OR service_date > date '9999-12-31' THEN
		RAISE EXCEPTION 'invalid service date: %', service_date USING ERRCODE = 'TK017',
			DETAIL = 'A service date is a date up to 9999-12-31.';
	END IF;
	-- a run on a later day than today cannot have ended (times are 0 or more)
	IF service_date <= beijing_now()::date AND run_ended(train_id, service_date) THEN
		RAISE EXCEPTION 'cannot open sales of train % on %: the run has ended', train, service_date
			USING ERRCODE = 'TK017', DETAIL = 'Its train has reached its last stop (Beijing time).';
	END IF;
END
$$;
COMMENT ON FUNCTION check_sales_date(integer, text, date) IS 'internal: TK017 unless a run of the train can be opened on the date (finite, up to 9999-12-31, not ended)';
REVOKE EXECUTE ON FUNCTION check_sales_date(integer, text, date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION open_sales(train text, service_date date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	tid integer := ticket.train_id(train);
	result bigint;
BEGIN
	PERFORM require_primary();
	PERFORM check_sales_date(tid, upper(btrim(train)), service_date);
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
COMMENT ON FUNCTION open_sales(text, date) IS 'open sales of a train on a date: creates the run (idempotent) and returns its id; TK017 for a date that is infinite, after 9999 or of a run that has ended';
REVOKE EXECUTE ON FUNCTION open_sales(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION open_sales(text, date) TO ticket_admin;

-- The date of open_sales(date) (and of open_sales_owned() on a partition):
-- TK017 for a NULL, infinite or too late date, or a past one whose every
-- run has ended.
CREATE OR REPLACE FUNCTION check_sales_day(service_date date) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	today date := beijing_now()::date;
BEGIN
	IF service_date IS NULL THEN
		RAISE EXCEPTION 'service date must not be null' USING ERRCODE = 'TK017';
	END IF;
	IF NOT isfinite(service_date) OR service_date > date '9999-12-31' THEN
		RAISE EXCEPTION 'invalid service date: %', service_date USING ERRCODE = 'TK017',
			DETAIL = 'A service date is a date up to 9999-12-31.';
	END IF;
	-- the runs of that date that have not ended (all of them after today)
	IF service_date < today AND NOT EXISTS (
		SELECT 1 FROM train t
		WHERE EXISTS (SELECT 1 FROM seat s WHERE s.train_id = t.train_id) AND NOT run_ended(t.train_id, service_date)) THEN
		RAISE EXCEPTION 'cannot open sales on %: every run of that date has ended', service_date
			USING ERRCODE = 'TK017', DETAIL = 'Every train has reached its last stop (Beijing time).';
	END IF;
END
$$;
COMMENT ON FUNCTION check_sales_day(date) IS 'internal: TK017 unless sales can open on that date (not NULL, finite, up to 9999-12-31, and not past with every run ended)';
REVOKE EXECUTE ON FUNCTION check_sales_day(date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION open_sales(service_date date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer;
	today date := beijing_now()::date;
BEGIN
	PERFORM require_primary();
	PERFORM check_sales_day(service_date);
	INSERT INTO run AS r (train_id, service_date, n_legs)
	SELECT t.train_id, open_sales.service_date, t.n_stops - 1 FROM train t
	WHERE EXISTS (SELECT 1 FROM seat s WHERE s.train_id = t.train_id)
	  AND CASE WHEN open_sales.service_date > today THEN true ELSE NOT run_ended(t.train_id, open_sales.service_date) END
	ON CONFLICT ON CONSTRAINT run_train_id_service_date_key DO UPDATE SET status = 'open';
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM open_inventory(r.run_id) FROM run r WHERE r.service_date = open_sales.service_date;
	RETURN n;
END
$$;
COMMENT ON FUNCTION open_sales(date) IS 'open sales of every train that has seats on a date (but runs that have ended); returns the number of runs open; TK017 for a date that is infinite, after 9999 or past with every run ended';
REVOKE EXECUTE ON FUNCTION open_sales(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION open_sales(date) TO ticket_admin;

CREATE OR REPLACE FUNCTION close_sales(train text, service_date date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result bigint;
BEGIN
	PERFORM require_primary();
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
REVOKE EXECUTE ON FUNCTION close_sales(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION close_sales(text, date) TO ticket_admin;

-- TK012, worded once.  A grab, a change and the waitlist raise it
-- (raise_sales_not_open); serve_queue fails a batch's requests with the same
-- text.  Callers check the run's status themselves and call the raise only
-- when sales are closed, so the open path costs no call.  The train is given
-- as the caller shows it (upper case).
CREATE OR REPLACE FUNCTION sales_not_open_message(train text, service_date date) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN format('sales are not open for train %s on %s', train, service_date);
COMMENT ON FUNCTION sales_not_open_message(text, date) IS 'internal: the message of TK012, sales are not open for a train on a date';
REVOKE EXECUTE ON FUNCTION sales_not_open_message(text, date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION raise_sales_not_open(train text, service_date date) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'TK012', MESSAGE = sales_not_open_message(train, service_date);
END
$$;
COMMENT ON FUNCTION raise_sales_not_open(text, date) IS 'internal: raise TK012, sales are not open for a train on a date';
REVOKE EXECUTE ON FUNCTION raise_sales_not_open(text, date) FROM PUBLIC;

-- The seats left, for one journey or every journey of a run, in C
-- (src/remaining.c): the journey from the cache every session shares, the
-- counts from shared memory when it holds exactly what this statement's
-- snapshot would count from the seat maps (src/run_counts.c), else from the
-- maps through their primary key.  Not SECURITY DEFINER: the caller needs
-- SELECT on the tables they read, as in 1.6.
CREATE OR REPLACE FUNCTION remaining(train text, service_date date, from_station text, to_station text)
RETURNS TABLE (seat_class text, remaining integer)
	AS 'MODULE_PATHNAME', 'ticket_remaining' LANGUAGE C STABLE;
COMMENT ON FUNCTION remaining(text, date, text, text) IS 'seats free on every leg from one station to another, per class (expired holds count as free)';

-- The whole remaining-tickets table of a run: every from/to pair of its
-- route and every class, from one pass over each carriage's seat map.
CREATE OR REPLACE FUNCTION remaining_matrix(train text, service_date date)
RETURNS TABLE (from_station text, to_station text, seat_class text, remaining integer)
	AS 'MODULE_PATHNAME', 'ticket_remaining_matrix' LANGUAGE C STABLE;
COMMENT ON FUNCTION remaining_matrix(text, date) IS 'remaining seats of a run for every from/to pair (telegraph codes) and class, in route order; read-only; TK081 (degraded, try later) for callers outside ticket_admin while the breaker is tripped';

-- Recompute one carriage's seat map from its live tickets.
CREATE OR REPLACE FUNCTION rebuild_seat_map(run_id bigint, carriage_no integer) RETURNS void
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
REVOKE EXECUTE ON FUNCTION rebuild_seat_map(bigint, integer) FROM PUBLIC;

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

CREATE TYPE passenger_booking AS (
	order_id bigint,
	ticket_id bigint,
	passenger text,
	passenger_type text,
	carriage integer,
	seat_no text,
	seat_class text,
	legs segrange,
	departs timestamp,
	arrives timestamp,
	price numeric,
	total numeric,
	hold_until timestamptz,
	status text,
	placement text,
	seats_as_asked boolean
);
COMMENT ON TYPE passenger_booking IS 'a ticket of an order with passengers, as ticket.grab() with passengers returns it: placement is row, adjacent_rows, carriage or spread; seats_as_asked says whether the seat letters were honoured (NULL if none asked)';

-- Lock the inventory rows of the orders' carriages in a fixed order, before
-- their tickets change: grab() locks an inventory row and then inserts a
-- ticket, so taking locks in the same order keeps the two from deadlocking.
CREATE OR REPLACE FUNCTION lock_inventory_of(order_ids bigint[]) RETURNS void
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
REVOKE EXECUTE ON FUNCTION lock_inventory_of(bigint[]) FROM PUBLIC;

-- Lock every carriage of a run, in carriage order.  Whoever locks several
-- carriages takes them in (run, carriage) order, and whoever holds one
-- waits for no other; a grab that must expire holds of the run before it
-- looks for a seat (which locks their carriages) takes them all this way
-- first, so it never holds one carriage while waiting for a lower one.
CREATE OR REPLACE FUNCTION lock_run_inventory(run_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM 1 FROM run_carriage rc WHERE rc.run_id = lock_run_inventory.run_id
	ORDER BY rc.carriage_no FOR UPDATE;
END
$$;
COMMENT ON FUNCTION lock_run_inventory(bigint) IS 'internal: lock all inventory rows of a run in carriage order';
REVOKE EXECUTE ON FUNCTION lock_run_inventory(bigint) FROM PUBLIC;

-- A free seat for a journey, best first (see README, seat choice), with its
-- carriage's inventory row locked for this transaction.  Carriages are tried
-- in the order of their best seat; one being changed by a concurrent grab is
-- skipped; only when every carriage with a free seat is locked, and the
-- caller may wait, does it wait, so sold out means no seat is free.  Each
-- attempt runs in a subtransaction that gives the row lock back when the
-- carriage turns out to be full, so a grab never holds one carriage while it
-- waits for another (no deadlocks).
CREATE OR REPLACE FUNCTION find_seat(run_id bigint, train_id integer, legs segrange, wanted seat_class,
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
REVOKE EXECUTE ON FUNCTION find_seat(bigint, integer, segrange, seat_class, boolean) FROM PUBLIC;

-- A user may hold one unpaid order per run: raise TK002 if there is one.
-- One past its deadline no longer counts and is expired first; its seats
-- come back (to the waitlist first), the run's carriages locked in order
-- before, so the caller may go on to wait for a carriage.
CREATE OR REPLACE FUNCTION check_unpaid_order(user_id bigint, run_id bigint, may_wait boolean) RETURNS void
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
REVOKE EXECUTE ON FUNCTION check_unpaid_order(bigint, bigint, boolean) FROM PUBLIC;

-- Hold a seat for a user on a run: the part of a grab after the request has
-- been checked.  grab() calls it for one caller; the waitlist for each
-- request it fulfils.  Raises TK001 (nothing free) and TK002 (unpaid order).
CREATE OR REPLACE FUNCTION hold_seat(user_id bigint, run_id bigint, train_id integer, legs segrange,
	wanted seat_class, request_id text, may_wait boolean, journey_label text, client text DEFAULT NULL)
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
		INSERT INTO orders (order_id, user_id, run_id, request_id, seat_class, legs, hold_until, client)
		VALUES (new_order, hold_seat.user_id, hold_seat.run_id, hold_seat.request_id,
		        taken.seat_class, hold_seat.legs, until, hold_seat.client);
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
COMMENT ON FUNCTION hold_seat(bigint, bigint, integer, segrange, seat_class, text, boolean, text, text) IS 'internal: hold the best free seat of a run for a user and write the order (with its client, if named); TK001 if none, TK002 if the user has an unpaid order there';
REVOKE EXECUTE ON FUNCTION hold_seat(bigint, bigint, integer, segrange, seat_class, text, boolean, text, text) FROM PUBLIC;

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
COMMENT ON FUNCTION release_expired_holds(bigint) IS 'internal: expire the unpaid holds of one run that are past their deadline';
REVOKE EXECUTE ON FUNCTION release_expired_holds(bigint) FROM PUBLIC;

-- Every release of seats offers them to the waitlist first.
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
	PERFORM note_risk('expired', order_ids);
	PERFORM seats_returned(r.run_id)
	FROM (SELECT DISTINCT o.run_id FROM orders o WHERE o.order_id = ANY (order_ids) ORDER BY 1) r;
	RETURN n;
END
$$;
COMMENT ON FUNCTION expire_orders(bigint[]) IS 'internal: move locked held orders and their tickets to expired';
REVOKE EXECUTE ON FUNCTION expire_orders(bigint[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION grab(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL, request_id text DEFAULT NULL)
RETURNS SETOF booking
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
	cls ticket.seat_class := checked_seat_class(seat_class);
	existing orders%ROWTYPE;
BEGIN
	PERFORM require_primary();
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
	END IF;
	PERFORM check_real_names('a grab', 'ticket.grab(user_id, train, service_date, from_station, to_station, seat_class, passengers)');
	PERFORM check_risk(grab.user_id, NULL);
	-- as the queue keeps them (enqueue); orders.request_id is indexed
	IF octet_length(request_id) > 128 THEN
		RAISE EXCEPTION 'request id is too long: % bytes', octet_length(request_id) USING ERRCODE = 'TK017',
			DETAIL = 'A request id is at most 128 bytes.';
	END IF;
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);

	-- One user's grabs on one run take turns; transaction-scoped, so this
	-- works behind a pooler in transaction mode.
	PERFORM lock_xact('user_run', hashint8extended(grab.user_id, j.run_id));

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
		PERFORM raise_sales_not_open(upper(train), service_date);
	END IF;
	PERFORM check_not_hot(j.run_id, train, service_date);
	PERFORM check_client_limit(client(), j.run_id);

	RETURN NEXT hold_seat(grab.user_id, j.run_id, j.train_id, j.legs, cls, grab.request_id, true,
		format('on train %s on %s from %s to %s', upper(train), service_date, from_station, to_station), client());
END
$$;
COMMENT ON FUNCTION grab(bigint, text, date, text, text, text, text) IS 'hold a seat from one station to another for ticket.hold_timeout; request_id makes retries return the same order; TK080 on a hot run (enqueue instead)';
REVOKE EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text) TO ticket_app, ticket_admin;

-- A grab may have to expire stale holds first (its user's, its
-- passengers'), which locks their carriages, possibly on other runs, before
-- it looks for seats; two such grabs can then wait for each other.
-- PostgreSQL detects that and aborts one: that one is rolled back to here
-- and simply tries again.
CREATE OR REPLACE FUNCTION grab(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, passengers text[], seat_letters text DEFAULT NULL)
RETURNS SETOF passenger_booking
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	letters text := seat_letters;
	b passenger_booking;
BEGIN
	PERFORM require_primary();
	PERFORM check_risk(grab.user_id, passengers);
	PERFORM check_not_hot(r.run_id, grab.train, grab.service_date)
	FROM run r JOIN train t USING (train_id)
	WHERE t.code = upper(btrim(grab.train)) AND r.service_date = grab.service_date;
	-- Seat letters are not core: while the server is degraded (the breaker)
	-- they are not looked at, and the seats say they are not as asked.
	IF nullif(btrim(seat_letters), '') IS NOT NULL AND degraded() THEN
		letters := NULL;
	END IF;
	FOR attempt IN 1..3 LOOP
		BEGIN
			FOR b IN SELECT * FROM grab_named(user_id, train, service_date, from_station, to_station,
				seat_class, passengers, letters, client())
			LOOP
				IF letters IS DISTINCT FROM seat_letters THEN
					b.seats_as_asked := false;
				END IF;
				RETURN NEXT b;
			END LOOP;
			RETURN;
		EXCEPTION WHEN deadlock_detected THEN
			IF attempt = 3 THEN
				RAISE;
			END IF;
		END;
	END LOOP;
END
$$;
COMMENT ON FUNCTION grab(bigint, text, date, text, text, text, text[], text) IS 'hold seats for 1 to 5 named passengers (document numbers of the account''s passengers) on one run, journey and class, sitting together, with optional seat letters (not looked at while the server is degraded); one row per ticket with its price and the order total; TK080 on a hot run';
REVOKE EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text[], text) TO ticket_app, ticket_admin;


-- Where the aisle is: second class and hard seats A B C | D F, first class
-- A C | D F, business A | C F; a sleeper compartment has none.
CREATE OR REPLACE FUNCTION aisle_of(layout text, seat_class seat_class) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT CASE WHEN k = 0 OR k = length(layout) THEN 0 ELSE k END
	FROM (SELECT CASE
		WHEN seat_class IN ('soft_sleeper', 'hard_sleeper') THEN 0
		WHEN seat_class = 'business' THEN length(regexp_replace(layout, '[C-F]', '', 'g'))
		ELSE length(regexp_replace(layout, '[D-F]', '', 'g')) END AS k) a
$$;
COMMENT ON FUNCTION aisle_of(text, seat_class) IS 'seats left of the aisle in a row of this layout and class (0: no aisle)';
REVOKE EXECUTE ON FUNCTION aisle_of(text, seat_class) FROM PUBLIC;

-- The bitmask of asked letters in a layout; NULL if one is not in it.
CREATE OR REPLACE FUNCTION letters_mask(layout text, letters text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN letters IS NULL THEN 0
	            WHEN bool_and(strpos(layout, l) > 0) THEN sum(1 << (strpos(layout, l) - 1))::integer END
	FROM regexp_split_to_table(letters, '') l
$$;
COMMENT ON FUNCTION letters_mask(text, text) IS 'internal: positions of the seat letters in a row layout as a bitmask, NULL if a letter is not in the layout';
REVOKE EXECUTE ON FUNCTION letters_mask(text, text) FROM PUBLIC;

-- Seats for a group on a run, with the inventory rows they come from locked:
-- the carriage whose placement is best (asked letters honoured, then one
-- row, two adjacent rows, the carriage), locked and searched again on its
-- latest map (a carriage locked by a concurrent grab is passed over for the
-- next best unless all are); failing any carriage that holds the whole group, every
-- carriage of the class with free seats is locked in (run_id, carriage_no)
-- order, the lock order of set_order_status(), and the group is spread over
-- the fewest carriages (level 4).  No rows: sold out.
CREATE OR REPLACE FUNCTION place_group(run_id bigint, train_id integer, legs segrange, wanted seat_class,
	n integer, letters text)
RETURNS TABLE (seat_id integer, level integer, letters_ok boolean)
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	cand record;
	g integer[];
	rest integer;
	spread record;
BEGIN
	-- As find_seat(): carriages in order of their placement; in the first
	-- pass one being changed by a concurrent grab is skipped, in the second
	-- it is waited for.  Each attempt runs in a subtransaction that gives
	-- the lock back when the carriage has filled up meanwhile.
	FOR pass IN 1..2 LOOP
		FOR cand IN
			SELECT c.carriage_no, c.row_len, c.aisle, c.mask FROM (
				SELECT rc.carriage_no, length(ca.layout) AS row_len, aisle_of(ca.layout, ca.seat_class) AS aisle,
				       letters_mask(ca.layout, letters) AS mask,
				       seatgroup_place(rc.map, length(ca.layout), aisle_of(ca.layout, ca.seat_class), legs, n,
				                       coalesce(letters_mask(ca.layout, letters), 0)) AS g
				FROM run_carriage rc
				JOIN carriage ca ON ca.train_id = place_group.train_id AND ca.carriage_no = rc.carriage_no
				WHERE rc.run_id = place_group.run_id AND rc.seat_class = wanted
				OFFSET 0) c
			WHERE c.g IS NOT NULL
			ORDER BY c.g[2] DESC, c.g[1], c.carriage_no
		LOOP
			BEGIN
				IF pass = 1 THEN
					PERFORM 1 FROM run_carriage rc
					WHERE rc.run_id = place_group.run_id AND rc.carriage_no = cand.carriage_no
					FOR UPDATE SKIP LOCKED;
					CONTINUE WHEN NOT FOUND;
				ELSE
					PERFORM 1 FROM run_carriage rc
					WHERE rc.run_id = place_group.run_id AND rc.carriage_no = cand.carriage_no
					FOR UPDATE;
				END IF;
				-- a new statement: the latest map, which the lock now guards
				SELECT seatgroup_place(rc.map, cand.row_len, cand.aisle, legs, n, coalesce(cand.mask, 0)) INTO g
				FROM run_carriage rc WHERE rc.run_id = place_group.run_id AND rc.carriage_no = cand.carriage_no;
				IF g IS NULL THEN
					RAISE EXCEPTION USING ERRCODE = 'TKZ01';	-- filled up meanwhile
				END IF;
				RETURN QUERY
				SELECT s.seat_id, g[1], g[2] = 1 FROM seat s
				WHERE s.train_id = place_group.train_id AND s.carriage_no = cand.carriage_no
				  AND s.seat_index = ANY (g[3:])
				ORDER BY s.seat_index;
				RETURN;
			EXCEPTION WHEN SQLSTATE 'TKZ01' THEN
				NULL;	-- the subtransaction's end released the carriage: try the next
			END;
		END LOOP;
	END LOOP;

	-- No carriage holds the whole group: spread it, which locks every
	-- carriage of the class; not while the server is degraded (the breaker).
	IF degraded() THEN
		RAISE EXCEPTION 'degraded: no carriage has % seats together, and spreading a group over carriages is off while the server is overloaded, try later', n
			USING ERRCODE = 'TK081',
			HINT = 'Try again in a few seconds, or order for fewer passengers at a time.';
	END IF;
	PERFORM 1 FROM run_carriage rc
	WHERE rc.run_id = place_group.run_id AND rc.seat_class = wanted
	ORDER BY rc.run_id, rc.carriage_no FOR UPDATE;
	rest := n;
	FOR spread IN
		SELECT rc.carriage_no, length(ca.layout) AS row_len, aisle_of(ca.layout, ca.seat_class) AS aisle,
		       seatmap_free(rc.map, legs) AS free, rc.map
		FROM run_carriage rc
		JOIN carriage ca ON ca.train_id = place_group.train_id AND ca.carriage_no = rc.carriage_no
		WHERE rc.run_id = place_group.run_id AND rc.seat_class = wanted
		ORDER BY seatmap_free(rc.map, legs) DESC, rc.carriage_no
	LOOP
		EXIT WHEN rest = 0 OR spread.free = 0;
		g := seatgroup_place(spread.map, spread.row_len, spread.aisle, legs, least(rest, spread.free), 0);
		CONTINUE WHEN g IS NULL;
		rest := rest - (cardinality(g) - 2);
		RETURN QUERY
		SELECT s.seat_id, 4, false FROM seat s
		WHERE s.train_id = place_group.train_id AND s.carriage_no = spread.carriage_no
		  AND s.seat_index = ANY (g[3:])
		ORDER BY s.seat_index;
	END LOOP;
	IF rest > 0 THEN
		-- sold out for the group: the caller raises TK001 and rolls back
		RAISE EXCEPTION USING ERRCODE = 'TKZ02';
	END IF;
END
$$;
COMMENT ON FUNCTION place_group(bigint, integer, segrange, seat_class, integer, text) IS 'internal: seats for a group on a run with their carriages locked: level 1 one row .. 3 one carriage, 4 spread; error TKZ02 if not enough are free';
REVOKE EXECUTE ON FUNCTION place_group(bigint, integer, segrange, seat_class, integer, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION order_tickets(order_id bigint) RETURNS SETOF passenger_booking
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	RETURN QUERY
	SELECT o.order_id, t.ticket_id, p.name, t.passenger_type, s.carriage_no, s.seat_no, s.seat_class::text,
	       t.legs, lower(t.travel), upper(t.travel), t.price, o.total, o.hold_until, t.status,
	       NULL::text, NULL::boolean
	FROM orders o JOIN tickets t ON t.order_id = o.order_id
	JOIN seat s ON s.seat_id = t.seat_id
	LEFT JOIN passenger p ON p.passenger_id = t.passenger_id
	WHERE o.order_id = order_tickets.order_id
	ORDER BY t.ticket_id;
END
$$;
COMMENT ON FUNCTION order_tickets(bigint) IS 'the tickets of an order: passenger, seat, travel times, price, order total and status';
REVOKE EXECUTE ON FUNCTION order_tickets(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION order_tickets(bigint) TO ticket_app, ticket_admin;

-- One attempt of the passenger form of grab(), as named steps; each step is
-- a function below, in the order it runs.  Keep that order: it is the order
-- in which the attempt takes its locks (the user's own locks here, then
-- the user's row of the day, orders, carriages, as in cancel()).  A step
-- that fails raises, and the attempt is undone with what the steps before
-- it did (grab() retries one that lost a deadlock; the waitlist runs each
-- attempt in a subtransaction).
CREATE OR REPLACE FUNCTION grab_named(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, passengers text[], seat_letters text DEFAULT NULL, client text DEFAULT NULL)
RETURNS SETOF passenger_booking
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	cls ticket.seat_class := checked_seat_class(seat_class);
	letters text := nullif(upper(btrim(seat_letters)), '');
	n integer := coalesce(cardinality(passengers), 0);
	code text := upper(btrim(train));
	today date := beijing_now()::date;
	j record;
	pax record;
	trip tsrange;
	fares record;
	placed record;
	new_order bigint;
BEGIN
	-- the request, before anything is locked
	PERFORM check_group_request(grab_named.user_id, passengers, n, cls);
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);
	IF letters IS NOT NULL THEN
		PERFORM check_seat_letters(code, j.train_id, cls, n, letters, seat_letters);
	END IF;

	-- The user's lock (daily counters, passengers), then the user's lock on
	-- the run that the single-seat grab takes too; always in this order.
	-- The client's lock on the run (check_client_limit) and the people's
	-- locks (check_person_limits) come after them, before any carriage.
	PERFORM lock_xact('user', grab_named.user_id);
	PERFORM lock_xact('user_run', hashint8extended(grab_named.user_id, j.run_id));

	IF j.run_status <> 'open' THEN
		PERFORM raise_sales_not_open(code, service_date);
	END IF;
	PERFORM check_client_limit(grab_named.client, j.run_id);
	PERFORM check_daily_limits(grab_named.user_id, today);
	PERFORM check_unpaid_order(grab_named.user_id, j.run_id, true);

	SELECT * INTO pax FROM named_passengers(grab_named.user_id, passengers);
	trip := travel_time(j.train_id, service_date, j.legs);
	PERFORM check_passengers_free(pax.document_keys, trip);
	PERFORM check_person_limits(pax.document_keys, service_date);
	SELECT * INTO fares FROM price_passengers(j.train_id, j.legs, cls, pax.passenger_types);

	SELECT * INTO placed FROM seat_group(j.run_id, j.train_id, j.legs, cls, n, letters);
	IF placed.seats IS NULL THEN
		RAISE EXCEPTION 'sold out: no % seats for % passengers on train % on % from % to %',
			cls, n, code, service_date, from_station, to_station USING ERRCODE = 'TK001';
	END IF;

	new_order := write_group_order(grab_named.user_id, j.run_id, cls, j.legs, trip, today,
		pax.passenger_ids, pax.document_keys, pax.passenger_types, fares.prices, fares.total, placed.seats,
		grab_named.client);

	RETURN QUERY
	SELECT b.order_id, b.ticket_id, b.passenger, b.passenger_type, b.carriage, b.seat_no, b.seat_class,
	       b.legs, b.departs, b.arrives, b.price, b.total, b.hold_until, b.status,
	       CASE placed.level WHEN 1 THEN 'row' WHEN 2 THEN 'adjacent_rows' WHEN 3 THEN 'carriage' ELSE 'spread' END,
	       CASE WHEN letters IS NOT NULL THEN placed.letters_ok END
	FROM order_tickets(new_order) b;
END
$$;
COMMENT ON FUNCTION grab_named(bigint, text, date, text, text, text, text[], text, text) IS 'internal: one attempt of the passenger form of grab(), for a client (ticket.client; NULL: its own)';
REVOKE EXECUTE ON FUNCTION grab_named(bigint, text, date, text, text, text, text[], text, text) FROM PUBLIC;

-- grab_named, step 1: what can be checked before anything is looked up:
-- a user, 1 to 5 different passengers (a document number written with
-- blanks or in lower case is the same passenger), one class for all.
CREATE OR REPLACE FUNCTION check_group_request(user_id bigint, passengers text[], n integer, cls seat_class)
RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
	END IF;
	-- (before array_position(), which refuses a 2-D array with 0A000)
	IF coalesce(array_ndims(passengers), 1) <> 1 OR coalesce(array_lower(passengers, 1), 1) <> 1 THEN
		RAISE EXCEPTION 'an order names its passengers in a one-dimensional list' USING ERRCODE = 'TK044',
			HINT = 'Give the document numbers as ARRAY[...], each once.';
	END IF;
	IF n NOT BETWEEN 1 AND 5 OR array_position(passengers, NULL) IS NOT NULL
	   OR (SELECT count(DISTINCT upper(regexp_replace(x, '\s', '', 'g'))) FROM unnest(passengers) x) <> n THEN
		RAISE EXCEPTION 'an order names 1 to 5 different passengers, not %', coalesce(array_to_string(passengers, ', ', 'NULL'), 'none')
			USING ERRCODE = 'TK044', DETAIL = 'Give each passenger''s document number once.';
	END IF;
	IF cls IS NULL THEN
		RAISE EXCEPTION 'an order with passengers needs a seat class' USING ERRCODE = 'TK017',
			HINT = 'All tickets of an order are in one class.';
	END IF;
END
$$;
COMMENT ON FUNCTION check_group_request(bigint, text[], integer, seat_class) IS 'internal: grab_named step 1, TK017 or TK044 unless the request names a user, 1 to 5 different passengers and a class';
REVOKE EXECUTE ON FUNCTION check_group_request(bigint, text[], integer, seat_class) FROM PUBLIC;

-- grab_named, step 2 (only when seats are chosen): 12306 offers the choice
-- of seat letters on G, D and C trains in the classes with a row layout of
-- letters; at most one letter per passenger, each once, from a layout of
-- the class on this train.
CREATE OR REPLACE FUNCTION check_seat_letters(train_code text, train_id integer, cls seat_class, n integer,
	letters text, seat_letters text)
RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF train_code !~ '^[GDC]' OR cls NOT IN ('business', 'first', 'second') THEN
		RAISE EXCEPTION 'seat choice is offered on G, D and C trains in business, first and second class only'
			USING ERRCODE = 'TK046', DETAIL = format('Train %s, class %s.', train_code, cls);
	END IF;
	IF letters !~ '^[A-F]+$' OR length(letters) > n
	   OR (SELECT count(DISTINCT l) FROM regexp_split_to_table(letters, '') l) <> length(letters)
	   OR NOT EXISTS (SELECT 1 FROM carriage ca WHERE ca.train_id = check_seat_letters.train_id AND ca.seat_class = cls
	                  AND letters_mask(ca.layout, letters) IS NOT NULL) THEN
		RAISE EXCEPTION 'invalid seat letters: "%"', seat_letters USING ERRCODE = 'TK045',
			DETAIL = format('Give at most one letter per passenger (%s), each once, from the class''s row layout.', n),
			HINT = 'Second class rows are A B C | D F, first class A C | D F, business A | C F.';
	END IF;
END
$$;
COMMENT ON FUNCTION check_seat_letters(text, integer, seat_class, integer, text, text) IS 'internal: grab_named step 2, TK046 if the train or class offers no seat choice, TK045 if the letters (seat_letters as given, letters normalised) do not fit n passengers and the class''s layouts';
REVOKE EXECUTE ON FUNCTION check_seat_letters(text, integer, seat_class, integer, text, text) FROM PUBLIC;

-- grab_named, step 3 (under the user's lock): the day's counters, row
-- locked until commit, so a concurrent cancel() of this user waits to
-- count.  Lock order: this row, then orders, then carriages, as in
-- cancel().  write_group_order() counts the order in this row.
CREATE OR REPLACE FUNCTION check_daily_limits(user_id bigint, today date) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	counts user_day;
BEGIN
	INSERT INTO user_day AS u (user_id, day) VALUES (check_daily_limits.user_id, today)
	ON CONFLICT ON CONSTRAINT user_day_pkey DO UPDATE SET orders = u.orders
	RETURNING * INTO counts;
	IF counts.cancels >= setting('max_cancels_per_day') THEN
		RAISE EXCEPTION 'daily cancel limit reached: user % cancelled % orders today', user_id, counts.cancels
			USING ERRCODE = 'TK047', DETAIL = 'A user who cancels that many orders in a day cannot buy again that day.',
			HINT = 'Try again tomorrow (Beijing time).';
	END IF;
	IF counts.orders >= setting('max_orders_per_day') THEN
		RAISE EXCEPTION 'daily order limit reached: user % made % orders today', user_id, counts.orders
			USING ERRCODE = 'TK048', HINT = 'Try again tomorrow (Beijing time).';
	END IF;
END
$$;
COMMENT ON FUNCTION check_daily_limits(bigint, date) IS 'internal: grab_named step 3, lock the user''s counters of the (Beijing) day; TK047 or TK048 when a daily limit is reached';
REVOKE EXECUTE ON FUNCTION check_daily_limits(bigint, date) FROM PUBLIC;

-- grab_named, step 4 (under the user's lock, which add_passenger and
-- remove_passenger take too): the account's passengers by document number,
-- in the order given; a number held under two document types is the ID
-- card's.
CREATE OR REPLACE FUNCTION named_passengers(user_id bigint, passengers text[],
	OUT passenger_ids bigint[], OUT document_keys text[], OUT passenger_types text[])
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	pax passenger;
BEGIN
	FOR i IN 1..cardinality(passengers) LOOP
		SELECT p.* INTO pax FROM passenger p
		WHERE p.user_id = named_passengers.user_id AND p.document_no = upper(regexp_replace(passengers[i], '\s', '', 'g'))
		  AND p.removed_at IS NULL
		ORDER BY p.document_type = 'id_card' DESC LIMIT 1;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no passenger % on account %', passengers[i], user_id USING ERRCODE = 'TK042',
				HINT = 'Add passengers with ticket.add_passenger() first.';
		END IF;
		passenger_ids[i] := pax.passenger_id;
		document_keys[i] := pax.document_type || ':' || pax.document_no;
		passenger_types[i] := pax.passenger_type;
	END LOOP;
END
$$;
COMMENT ON FUNCTION named_passengers(bigint, text[]) IS 'internal: grab_named step 4, the account''s passengers by document number in the order given (id, document key, passenger type); TK042 for one it does not have';
REVOKE EXECUTE ON FUNCTION named_passengers(bigint, text[]) FROM PUBLIC;

-- grab_named, step 5: a person is in one place at a time.  Unpaid holds of
-- these people past their deadline no longer count: expire them (the
-- sweeper would) so they do not block this order.  Then a friendly early
-- answer if one of them travels then; the exclusion constraint decides
-- under races (write_group_order()).
CREATE OR REPLACE FUNCTION check_passengers_free(document_keys text[], trip tsrange) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	clash record;
BEGIN
	PERFORM expire_orders(array_agg(x.order_id)) FROM (
		SELECT o.order_id FROM orders o
		WHERE o.order_id IN (
			SELECT t.order_id FROM tickets t
			WHERE t.document_key = ANY (document_keys) AND t.status = 'held' AND t.hold_until <= now() AND t.travel && trip)
		  AND o.status = 'held' AND o.hold_until <= now()
		ORDER BY o.order_id
		FOR UPDATE OF o SKIP LOCKED) x
	HAVING count(*) > 0;
	SELECT p.name, t.ticket_id, tr.code, t.travel INTO clash
	FROM tickets t JOIN passenger p ON p.passenger_id = t.passenger_id
	JOIN run r ON r.run_id = t.run_id JOIN train tr ON tr.train_id = r.train_id
	WHERE t.document_key = ANY (document_keys) AND t.status IN ('held', 'paid') AND t.travel && trip
	ORDER BY t.ticket_id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'passenger % is already travelling then', clash.name USING ERRCODE = 'TK043',
			DETAIL = format('Ticket %s on train %s covers %s.', clash.ticket_id, clash.code, clash.travel);
	END IF;
END
$$;
COMMENT ON FUNCTION check_passengers_free(text[], tsrange) IS 'internal: grab_named step 5, expire the passengers'' unpaid holds past their deadline that overlap the trip; TK043 if one of them still holds or has a ticket overlapping it';
REVOKE EXECUTE ON FUNCTION check_passengers_free(text[], tsrange) FROM PUBLIC;

-- grab_named, step 5b: at most max_tickets_per_person_day live tickets per
-- person (identity document) and service day, counted over every account.
-- Exact under concurrency: each person's lock for the day (in document
-- order, so two orders naming the same people never wait for each other
-- crosswise) is held to commit, and the count after it sees every order
-- that held it before.  So two orders of one person for one service day
-- take turns, whatever their trains.  Holds count while live; cancelled, expired (or past their
-- deadline), refunded and changed tickets do not.
CREATE OR REPLACE FUNCTION check_person_limits(document_keys text[], service_date date) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	cap numeric := setting('max_tickets_per_person_day');
	over record;
BEGIN
	PERFORM lock_xact('person', hashtextextended(k, service_date - date '2000-01-01'))
	FROM (SELECT DISTINCT unnest(document_keys) AS k ORDER BY 1) x;
	SELECT t.document_key, count(*) AS n INTO over
	FROM tickets t JOIN run r ON r.run_id = t.run_id
	WHERE t.document_key = ANY (document_keys) AND r.service_date = check_person_limits.service_date
	  AND (t.status = 'paid' OR (t.status = 'held' AND t.hold_until > now()))
	GROUP BY t.document_key
	HAVING count(*) >= cap
	ORDER BY t.document_key LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'per-person limit reached: passenger % has % tickets on %',
			(SELECT p.name FROM passenger p WHERE p.document_type || ':' || p.document_no = over.document_key
			 ORDER BY p.passenger_id LIMIT 1), over.n, service_date
			USING ERRCODE = 'TK071',
			DETAIL = format('One person may hold at most %s tickets per service day, over all accounts (setting max_tickets_per_person_day).', cap),
			HINT = 'Unpaid holds count until they are cancelled or expire.';
	END IF;
END
$$;
COMMENT ON FUNCTION check_person_limits(text[], date) IS 'internal: grab_named step 5b, lock the people (document keys) and TK071 if one of them has max_tickets_per_person_day live tickets on the service day, over all accounts';
REVOKE EXECUTE ON FUNCTION check_person_limits(text[], date) FROM PUBLIC;

-- At most max_orders_per_client_run live orders (held before their
-- deadline, or paid) per client and run, whatever the accounts behind the
-- client; 0: no limit.  A call without a client (NULL) is its own client.
-- Exact under concurrency: the client's lock on the run is held to commit.
-- Taken after the user's locks, before any carriage.
CREATE OR REPLACE FUNCTION check_client_limit(client text, run_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	cap numeric;
	n integer;
BEGIN
	IF client IS NULL THEN
		RETURN;
	END IF;
	cap := setting('max_orders_per_client_run');
	IF cap = 0 THEN
		RETURN;
	END IF;
	PERFORM lock_xact('client_run', hashtextextended(client, check_client_limit.run_id));
	SELECT count(*) INTO n FROM orders o
	WHERE o.client = check_client_limit.client AND o.run_id = check_client_limit.run_id
	  AND (o.status = 'paid' OR (o.status = 'held' AND o.hold_until > now()));
	IF n >= cap THEN
		RAISE EXCEPTION 'per-client limit reached: client "%" has % live orders on this train', client, n
			USING ERRCODE = 'TK072',
			DETAIL = format('One client may have at most %s live orders per train and date, over all accounts (setting max_orders_per_client_run).', cap),
			HINT = 'Pay or cancel one first.';
	END IF;
END
$$;
COMMENT ON FUNCTION check_client_limit(text, bigint) IS 'internal: lock a client''s orders on a run and TK072 if it has max_orders_per_client_run live ones (no limit at 0, none for a NULL client)';
REVOKE EXECUTE ON FUNCTION check_client_limit(text, bigint) FROM PUBLIC;

-- grab_named, step 6: what each passenger pays (the full fare of the journey
-- and class by passenger type) and the order's total.
CREATE OR REPLACE FUNCTION price_passengers(train_id integer, legs segrange, cls seat_class, passenger_types text[],
	OUT prices numeric[], OUT total numeric)
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	full_fare numeric := fare_of(train_id, lower(legs), upper(legs), cls);
BEGIN
	total := 0;
	FOR i IN 1..cardinality(passenger_types) LOOP
		prices[i] := passenger_price(full_fare, passenger_types[i], cls);
		total := total + prices[i];
	END LOOP;
END
$$;
COMMENT ON FUNCTION price_passengers(integer, segrange, seat_class, text[]) IS 'internal: grab_named step 6, the price of each passenger type for a journey and class, and their total';
REVOKE EXECUTE ON FUNCTION price_passengers(integer, segrange, seat_class, text[]) FROM PUBLIC;

-- grab_named, step 7: seats for the group, their carriages locked
-- (place_group(), which gives n >= 1 seats or fails).  Expired holds may
-- still mark seats taken: release those of this run and look once more.
-- Seats NULL: sold out, and the caller raises TK001.
CREATE OR REPLACE FUNCTION seat_group(run_id bigint, train_id integer, legs segrange, cls seat_class, n integer,
	letters text, OUT seats integer[], OUT level integer, OUT letters_ok boolean)
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	FOR attempt IN 1..2 LOOP
		BEGIN
			SELECT array_agg(p.seat_id), max(p.level), bool_and(p.letters_ok)
			INTO seats, level, letters_ok
			FROM place_group(seat_group.run_id, seat_group.train_id, seat_group.legs, cls, n, letters) p;
			EXIT;
		EXCEPTION WHEN SQLSTATE 'TKZ02' THEN
			EXIT WHEN attempt = 2 OR release_expired_holds(seat_group.run_id) = 0;
		END;
	END LOOP;
END
$$;
COMMENT ON FUNCTION seat_group(bigint, integer, segrange, seat_class, integer, text) IS 'internal: grab_named step 7, seats for n passengers sitting together with their carriages locked, the placement level (1 row .. 4 spread) and whether the asked letters were met; seats NULL if sold out';
REVOKE EXECUTE ON FUNCTION seat_group(bigint, integer, segrange, seat_class, integer, text) FROM PUBLIC;

-- grab_named, step 8: the order and one held ticket per passenger, in the
-- order given, and the order counted in the user's row of the day (locked
-- in step 3).  The constraints have the last word under races: a passenger
-- travelling then (tickets_one_place_at_a_time) or an unpaid order of the
-- user on the run (orders_one_unpaid_per_run) raise TK043 and TK002.
CREATE OR REPLACE FUNCTION write_group_order(user_id bigint, run_id bigint, cls seat_class, legs segrange,
	trip tsrange, today date, passenger_ids bigint[], document_keys text[], passenger_types text[],
	prices numeric[], total numeric, seats integer[], client text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	new_order bigint := nextval('orders_order_id_seq');
	until timestamptz := now() + hold_timeout();
	violated text;
BEGIN
	BEGIN
		INSERT INTO orders (order_id, user_id, run_id, seat_class, legs, hold_until, total, client)
		VALUES (new_order, write_group_order.user_id, write_group_order.run_id, cls, write_group_order.legs, until,
		        write_group_order.total, write_group_order.client);
		INSERT INTO tickets (order_id, run_id, seat_id, legs, status, hold_until,
			passenger_id, document_key, passenger_type, travel, price)
		SELECT new_order, write_group_order.run_id, seats[i], write_group_order.legs, 'held', until,
			passenger_ids[i], document_keys[i], passenger_types[i], trip, prices[i]
		FROM generate_series(1, cardinality(passenger_ids)) i ORDER BY i;
	EXCEPTION
		WHEN exclusion_violation THEN
			GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
			IF violated = 'tickets_one_place_at_a_time' THEN
				RAISE EXCEPTION 'a passenger of this order is already travelling then' USING ERRCODE = 'TK043',
					DETAIL = format('Another order holds a ticket overlapping %s for one of them.', trip);
			END IF;
			RAISE;
		WHEN unique_violation THEN
			GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
			IF violated = 'orders_one_unpaid_per_run' THEN
				RAISE EXCEPTION 'user % already has an unpaid order on this train', user_id
					USING ERRCODE = 'TK002', HINT = 'Pay or cancel it first.';
			END IF;
			RAISE;
	END;
	UPDATE user_day u SET orders = u.orders + 1 WHERE u.user_id = write_group_order.user_id AND u.day = today;
	RETURN new_order;
END
$$;
COMMENT ON FUNCTION write_group_order(bigint, bigint, seat_class, segrange, tsrange, date, bigint[], text[], text[], numeric[], numeric, integer[], text) IS 'internal: grab_named step 8, write a held order (with its client) with one ticket per passenger and count it for the user''s day; TK043 or TK002 when a constraint says another order got there first; returns the order id';
REVOKE EXECUTE ON FUNCTION write_group_order(bigint, bigint, seat_class, segrange, tsrange, date, bigint[], text[], text[], numeric[], numeric, integer[], text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION order_row(order_id bigint)
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
CREATE OR REPLACE FUNCTION lock_order(order_id bigint) RETURNS orders
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result orders;
BEGIN
	PERFORM require_primary();
	SELECT * INTO result FROM orders o WHERE o.order_id = lock_order.order_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such order: %', order_id USING ERRCODE = 'TK006';
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION lock_order(bigint) IS 'internal: the order, locked for update; error TK006 if unknown';
REVOKE EXECUTE ON FUNCTION lock_order(bigint) FROM PUBLIC;

-- Who the user is.  The one-argument forms of confirm, cancel, refund,
-- refund_ticket and change_ticket act on whatever order or ticket id they
-- are given: the application vouches for the user.  Their forms with a user
-- id also make the database check that the order (or ticket) is that
-- user's.  An unknown id and another user's get the same answer, TK057, so a
-- caller learns nothing about other users' orders.  An order's user never
-- changes, so the check needs no lock: the call it guards locks the order.
CREATE OR REPLACE FUNCTION check_order_owner(order_id bigint, user_id bigint) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF order_id IS NULL OR user_id IS NULL THEN
		RAISE EXCEPTION 'order id and user id must be given' USING ERRCODE = 'TK017';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM orders o
	               WHERE o.order_id = check_order_owner.order_id AND o.user_id = check_order_owner.user_id) THEN
		RAISE EXCEPTION 'user % has no order %', user_id, order_id USING ERRCODE = 'TK057',
			DETAIL = 'There is no such order, or it is another user''s.';
	END IF;
END
$$;
COMMENT ON FUNCTION check_order_owner(bigint, bigint) IS 'internal: error TK057 unless the order is the user''s (unknown and another user''s alike), TK017 on a null';
REVOKE EXECUTE ON FUNCTION check_order_owner(bigint, bigint) FROM PUBLIC;

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
COMMENT ON FUNCTION set_order_status(bigint, text) IS 'internal: move an order and its tickets to a new status';
REVOKE EXECUTE ON FUNCTION set_order_status(bigint, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION confirm(order_id bigint) RETURNS text
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
REVOKE EXECUTE ON FUNCTION confirm(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION confirm(bigint) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION confirm(order_id bigint, user_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM check_order_owner(order_id, user_id);
	RETURN confirm(order_id);
END
$$;
COMMENT ON FUNCTION confirm(bigint, bigint) IS 'confirm(order_id), for that user''s order only: error TK057 if the user has no such order (the database checks who the user is)';
REVOKE EXECUTE ON FUNCTION confirm(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION confirm(bigint, bigint) TO ticket_app, ticket_admin;

-- after-sales ---------------------------------------------------------------

-- Cancel an unpaid order; the cancel counts toward the user's daily cancel
-- limit.
CREATE OR REPLACE FUNCTION cancel(order_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	owner bigint;
	o orders;
BEGIN
	PERFORM require_primary();
	-- Lock order: the user's day counters, then the order, then carriages,
	-- as grab() takes them.  (An order's user never changes.)
	SELECT x.user_id INTO owner FROM orders x WHERE x.order_id = cancel.order_id;
	IF owner IS NOT NULL THEN
		INSERT INTO user_day AS u (user_id, day) VALUES (owner, beijing_now()::date)
		ON CONFLICT ON CONSTRAINT user_day_pkey DO UPDATE SET cancels = u.cancels;
	END IF;
	o := lock_order(order_id);
	CASE o.status
		WHEN 'cancelled', 'expired' THEN
			RETURN o.status;
		WHEN 'paid', 'refunded' THEN
			RAISE EXCEPTION 'order % is already paid', order_id USING ERRCODE = 'TK004',
				HINT = 'Use ticket.refund() for a paid order.';
		ELSE
			UPDATE user_day u SET cancels = u.cancels + 1
			WHERE u.user_id = o.user_id AND u.day = beijing_now()::date;
			PERFORM note_risk('cancel', ARRAY[o.order_id]);
			RETURN set_order_status(order_id, 'cancelled');
	END CASE;
END
$$;
COMMENT ON FUNCTION cancel(bigint) IS 'cancel an unpaid order: its seats return to sale and it counts toward the daily cancel limit; idempotent; error TK004 if paid';
REVOKE EXECUTE ON FUNCTION cancel(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cancel(bigint) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION cancel(order_id bigint, user_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM check_order_owner(order_id, user_id);
	RETURN cancel(order_id);
END
$$;
COMMENT ON FUNCTION cancel(bigint, bigint) IS 'cancel(order_id), for that user''s order only: error TK057 if the user has no such order (the database checks who the user is)';
REVOKE EXECUTE ON FUNCTION cancel(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cancel(bigint, bigint) TO ticket_app, ticket_admin;

CREATE TYPE refund_result AS (
	ticket_id bigint,
	price numeric,
	fee numeric,
	refunded numeric
);
COMMENT ON TYPE refund_result IS 'a refunded ticket: its price, the fee kept and the amount paid back';

-- Refund the paid tickets of a locked order (all of them, or one), keeping
-- the fee by time to departure.  A whole order moves with
-- set_order_status(); single tickets are released here, with the order's
-- carriages locked in the usual order, and the run told seats came back.
CREATE OR REPLACE FUNCTION refund_tickets(o orders, only_ticket bigint) RETURNS SETOF refund_result
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	others_live integer;
	whole boolean;
BEGIN
	UPDATE tickets t SET refund_fee = refund_fee(t.price, lower(t.travel) - beijing_now())
	WHERE t.order_id = o.order_id AND t.status = 'paid'
	  AND (only_ticket IS NULL OR t.ticket_id = only_ticket);
	RETURN QUERY
	SELECT t.ticket_id, t.price, t.refund_fee, t.price - t.refund_fee FROM tickets t
	WHERE t.order_id = o.order_id AND t.status = 'paid' AND (only_ticket IS NULL OR t.ticket_id = only_ticket)
	ORDER BY t.ticket_id;
	PERFORM note_risk('refund', ARRAY[o.order_id]);
	SELECT count(*) FILTER (WHERE t.status IN ('held', 'paid') AND t.ticket_id <> only_ticket),
	       bool_and(t.status = 'paid') AND (only_ticket IS NULL OR count(*) = 1)
	INTO others_live, whole
	FROM tickets t WHERE t.order_id = o.order_id;
	IF whole THEN
		PERFORM set_order_status(o.order_id, 'refunded');
	ELSE
		PERFORM lock_inventory_of(ARRAY[o.order_id]);
		UPDATE tickets t SET status = 'refunded'
		WHERE t.order_id = o.order_id AND t.status = 'paid' AND (only_ticket IS NULL OR t.ticket_id = only_ticket);
		IF others_live = 0 THEN
			UPDATE orders SET status = 'refunded', closed_at = now() WHERE orders.order_id = o.order_id;
		END IF;
		PERFORM seats_returned(o.run_id);
	END IF;
END
$$;
COMMENT ON FUNCTION refund_tickets(orders, bigint) IS 'internal: refund the paid tickets of a locked order (or one of them) with their fees';
REVOKE EXECUTE ON FUNCTION refund_tickets(orders, bigint) FROM PUBLIC;

-- Refund a paid order; tickets with a price keep the refund fee
-- (tickets.refund_fee), and tickets changed away stay changed.
CREATE OR REPLACE FUNCTION refund(order_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	o orders := lock_order(order_id);
BEGIN
	CASE o.status
		WHEN 'refunded' THEN
			RETURN o.status;
		WHEN 'paid' THEN
			IF NOT EXISTS (SELECT 1 FROM tickets t WHERE t.order_id = o.order_id AND t.status = 'paid') THEN
				RAISE EXCEPTION 'order % has no paid tickets left', order_id USING ERRCODE = 'TK005',
					DETAIL = 'Its tickets were changed to other orders.',
					HINT = 'Refund the new tickets with ticket.refund_ticket().';
			END IF;
			PERFORM refund_tickets(o, NULL);
			RETURN 'refunded';
		ELSE
			RAISE EXCEPTION 'order % is not paid', order_id USING ERRCODE = 'TK005',
				DETAIL = format('Its status is %s.', o.status), HINT = 'Use ticket.cancel() for an unpaid order.';
	END CASE;
END
$$;
COMMENT ON FUNCTION refund(bigint) IS 'refund a paid order: its seats return to sale, fees by time to departure are kept (see ticket.refund_ticket); idempotent; error TK005 if not paid';
REVOKE EXECUTE ON FUNCTION refund(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund(bigint) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION refund(order_id bigint, user_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM check_order_owner(order_id, user_id);
	RETURN refund(order_id);
END
$$;
COMMENT ON FUNCTION refund(bigint, bigint) IS 'refund(order_id), for that user''s order only: error TK057 if the user has no such order (the database checks who the user is)';
REVOKE EXECUTE ON FUNCTION refund(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund(bigint, bigint) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION lock_ticket_order(ticket_id bigint, OUT o orders, OUT t tickets)
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	oid_ bigint;
BEGIN
	SELECT tk.order_id INTO oid_ FROM tickets tk WHERE tk.ticket_id = lock_ticket_order.ticket_id;
	IF oid_ IS NULL THEN
		RAISE EXCEPTION 'no such ticket: %', ticket_id USING ERRCODE = 'TK051';
	END IF;
	o := lock_order(oid_);
	-- read after the order lock: whatever changed the ticket held that lock
	SELECT * INTO t FROM tickets tk WHERE tk.ticket_id = lock_ticket_order.ticket_id;
END
$$;
COMMENT ON FUNCTION lock_ticket_order(bigint) IS 'internal: a ticket and its order, the order locked; error TK051 if unknown';
REVOKE EXECUTE ON FUNCTION lock_ticket_order(bigint) FROM PUBLIC;

-- check_order_owner() for a ticket: the user of the ticket's order.
CREATE OR REPLACE FUNCTION check_ticket_owner(ticket_id bigint, user_id bigint) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF ticket_id IS NULL OR user_id IS NULL THEN
		RAISE EXCEPTION 'ticket id and user id must be given' USING ERRCODE = 'TK017';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM tickets t JOIN orders o ON o.order_id = t.order_id
	               WHERE t.ticket_id = check_ticket_owner.ticket_id AND o.user_id = check_ticket_owner.user_id) THEN
		RAISE EXCEPTION 'user % has no ticket %', user_id, ticket_id USING ERRCODE = 'TK057',
			DETAIL = 'There is no such ticket, or it is another user''s.';
	END IF;
END
$$;
COMMENT ON FUNCTION check_ticket_owner(bigint, bigint) IS 'internal: error TK057 unless the ticket''s order is the user''s (unknown and another user''s alike), TK017 on a null';
REVOKE EXECUTE ON FUNCTION check_ticket_owner(bigint, bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION refund_ticket(ticket_id bigint) RETURNS SETOF refund_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	l record;
BEGIN
	PERFORM require_primary();
	SELECT * INTO l FROM lock_ticket_order(ticket_id);
	IF (l.t).status <> 'paid' THEN
		RAISE EXCEPTION 'ticket % is not paid', ticket_id USING ERRCODE = 'TK005',
			DETAIL = format('Its status is %s.', (l.t).status);
	END IF;
	RETURN QUERY SELECT * FROM refund_tickets(l.o, ticket_id);
END
$$;
COMMENT ON FUNCTION refund_ticket(bigint) IS 'refund one paid ticket of an order, keeping the fee by time to departure; returns price, fee and amount refunded; errors TK005 not paid, TK051 unknown';
REVOKE EXECUTE ON FUNCTION refund_ticket(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund_ticket(bigint) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION refund_ticket(ticket_id bigint, user_id bigint) RETURNS SETOF refund_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM check_ticket_owner(ticket_id, user_id);
	RETURN QUERY SELECT * FROM refund_ticket(ticket_id);
END
$$;
COMMENT ON FUNCTION refund_ticket(bigint, bigint) IS 'refund_ticket(ticket_id), for that user''s ticket only: error TK057 if the user has no such ticket (the database checks who the user is)';
REVOKE EXECUTE ON FUNCTION refund_ticket(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund_ticket(bigint, bigint) TO ticket_app, ticket_admin;

CREATE TYPE change_result AS (
	old_ticket_id bigint,
	ticket_id bigint,
	order_id bigint,
	carriage integer,
	seat_no text,
	seat_class text,
	legs segrange,
	departs timestamp,
	arrives timestamp,
	old_price numeric,
	price numeric,
	fee numeric,
	to_pay numeric
);
COMMENT ON TYPE change_result IS 'a ticket change: the new ticket and seat, both prices, the fee kept and what the passenger pays (negative: gets back)';

-- 改签: one transaction holds the new seat and releases the old one, so
-- the passenger never has both or neither.  The old ticket's order is
-- locked first (a refund of the same ticket waits, then finds it changed);
-- the old and the candidate new carriage are locked together in (run_id,
-- carriage_no) order, in a subtransaction that gives both back when the
-- candidate turns out full.
CREATE OR REPLACE FUNCTION change_ticket(ticket_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL)
RETURNS SETOF change_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	l record;
	prev tickets;
	old_carriage integer;
	j record;
	cls ticket.seat_class;
	new_travel tsrange;
	new_price numeric;
	diff numeric;
	fee numeric := 0.0;
	cand record;
	best integer;
	chosen integer;
	new_order bigint;
	new_ticket bigint;
	violated text;
BEGIN
	PERFORM require_primary();
	SELECT * INTO l FROM lock_ticket_order(ticket_id);
	prev := l.t;
	IF prev.status = 'changed' OR prev.changed_from IS NOT NULL THEN
		RAISE EXCEPTION 'ticket % was already changed once', ticket_id USING ERRCODE = 'TK049',
			DETAIL = 'A ticket may be changed only once.', HINT = 'Refund it and buy a new one.';
	END IF;
	IF prev.status <> 'paid' OR prev.passenger_id IS NULL THEN
		RAISE EXCEPTION 'ticket % cannot be changed', ticket_id USING ERRCODE = 'TK050',
			DETAIL = CASE WHEN prev.passenger_id IS NULL THEN 'Only tickets with a named passenger can be changed.'
			              ELSE format('Its status is %s; only paid tickets can be changed.', prev.status) END;
	END IF;
	IF lower(prev.travel) <= beijing_now() THEN
		RAISE EXCEPTION 'ticket % cannot be changed: its train has left', ticket_id USING ERRCODE = 'TK050',
			DETAIL = format('It departed at %s.', lower(prev.travel));
	END IF;
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);
	IF j.run_status <> 'open' THEN
		PERFORM raise_sales_not_open(upper(train), service_date);
	END IF;
	cls := coalesce(checked_seat_class(seat_class), (SELECT s.seat_class FROM seat s WHERE s.seat_id = prev.seat_id));
	IF j.run_id = prev.run_id AND j.legs = prev.legs
	   AND cls = (SELECT s.seat_class FROM seat s WHERE s.seat_id = prev.seat_id) THEN
		RAISE EXCEPTION 'ticket % is already for this train, journey and class', ticket_id USING ERRCODE = 'TK056';
	END IF;
	new_travel := travel_time(j.train_id, service_date, j.legs);
	-- 12306: within 48 hours of departure a ticket may only move to a train
	-- leaving by the end of the day printed on it
	IF lower(prev.travel) - beijing_now() < interval '48 hours'
	   AND lower(new_travel) >= date_trunc('day', lower(prev.travel)) + interval '1 day' THEN
		RAISE EXCEPTION 'ticket % cannot be changed to a later day within 48 hours of departure', ticket_id
			USING ERRCODE = 'TK050',
			DETAIL = format('It departs at %s; the new train must leave by the end of that day.', lower(prev.travel));
	END IF;
	new_price := passenger_price(fare_of(j.train_id, lower(j.legs), upper(j.legs), cls), prev.passenger_type, cls);
	SELECT s.carriage_no INTO old_carriage FROM seat s WHERE s.seat_id = prev.seat_id;

	FOR cand IN
		SELECT c.carriage_no FROM (
			SELECT rc.carriage_no, seatmap_best_score(rc.map, j.legs) AS score
			FROM run_carriage rc WHERE rc.run_id = j.run_id AND rc.seat_class = cls OFFSET 0) c
		WHERE c.score IS NOT NULL
		ORDER BY c.score DESC, c.carriage_no
	LOOP
		BEGIN
			PERFORM 1 FROM run_carriage rc
			WHERE (rc.run_id = j.run_id AND rc.carriage_no = cand.carriage_no)
			   OR (rc.run_id = prev.run_id AND rc.carriage_no = old_carriage)
			ORDER BY rc.run_id, rc.carriage_no FOR UPDATE;
			SELECT seatmap_best(rc.map, j.legs) INTO best FROM run_carriage rc
			WHERE rc.run_id = j.run_id AND rc.carriage_no = cand.carriage_no;
			IF best IS NULL THEN
				RAISE EXCEPTION USING ERRCODE = 'TKZ01';
			END IF;
			SELECT s.seat_id INTO chosen FROM seat s
			WHERE s.train_id = j.train_id AND s.carriage_no = cand.carriage_no AND s.seat_index = best;
			EXIT;
		EXCEPTION WHEN SQLSTATE 'TKZ01' THEN
			NULL;	-- both carriages released: try the next
		END;
	END LOOP;
	IF chosen IS NULL THEN
		RAISE EXCEPTION 'sold out: no % seat on train % on % from % to %', cls, upper(train), service_date,
			from_station, to_station USING ERRCODE = 'TK001', DETAIL = format('Ticket %s is unchanged.', ticket_id);
	END IF;

	-- 12306: a dearer ticket pays the difference; a cheaper one gets the
	-- difference back less the refund fee on it, by the prev ticket's time
	-- to departure
	diff := new_price - prev.price;
	IF diff < 0 THEN
		fee := refund_fee(-diff, lower(prev.travel) - beijing_now());
	END IF;

	-- release first: the new journey may overlap the prev one in time
	-- (the old order stays paid: confirm() and set_order_status() move every
	-- ticket of an order, and must never bring a changed ticket back)
	UPDATE tickets t SET status = 'changed', refund_fee = fee WHERE t.ticket_id = prev.ticket_id;
	new_order := nextval('orders_order_id_seq');
	BEGIN
		INSERT INTO orders (order_id, user_id, run_id, seat_class, legs, status, hold_until, paid_at, total)
		VALUES (new_order, (l.o).user_id, j.run_id, cls, j.legs, 'paid', now(), now(), new_price);
		INSERT INTO tickets (order_id, run_id, seat_id, legs, status, hold_until, passenger_id, document_key,
			passenger_type, travel, price, changed_from)
		VALUES (new_order, j.run_id, chosen, j.legs, 'paid', now(), prev.passenger_id, prev.document_key,
			prev.passenger_type, new_travel, new_price, prev.ticket_id)
		RETURNING tickets.ticket_id INTO new_ticket;
	EXCEPTION WHEN exclusion_violation THEN
		GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
		IF violated = 'tickets_one_place_at_a_time' THEN
			RAISE EXCEPTION 'the passenger of ticket % is already travelling then', ticket_id USING ERRCODE = 'TK043',
				DETAIL = format('Another ticket of the passenger overlaps %s.', new_travel);
		END IF;
		RAISE;
	END;
	PERFORM seats_returned(prev.run_id);

	RETURN QUERY
	SELECT prev.ticket_id, new_ticket, new_order, s.carriage_no, s.seat_no, s.seat_class::text, j.legs,
	       lower(new_travel), upper(new_travel), prev.price, new_price, fee, diff + fee
	FROM seat s WHERE s.seat_id = chosen;
END
$$;
COMMENT ON FUNCTION change_ticket(bigint, text, date, text, text, text) IS 'change a paid ticket (改签) once to another train, date, journey or class: new seat held and old released atomically; the difference is paid or refunded less the refund fee; errors TK001 sold out (old ticket kept), TK049 changed before, TK050 not changeable';
REVOKE EXECUTE ON FUNCTION change_ticket(bigint, text, date, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION change_ticket(bigint, text, date, text, text, text) TO ticket_app, ticket_admin;

-- The user id comes last, after a seat class that then has no default:
-- change_ticket(ticket, train, date, from, to, NULL, user) keeps the class.
CREATE OR REPLACE FUNCTION change_ticket(ticket_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, user_id bigint)
RETURNS SETOF change_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM check_ticket_owner(ticket_id, user_id);
	RETURN QUERY SELECT * FROM change_ticket(ticket_id, train, service_date, from_station, to_station, seat_class);
END
$$;
COMMENT ON FUNCTION change_ticket(bigint, text, date, text, text, text, bigint) IS 'change_ticket(...), for that user''s ticket only: error TK057 if the user has no such ticket (the database checks who the user is); a NULL seat class keeps the class';
REVOKE EXECUTE ON FUNCTION change_ticket(bigint, text, date, text, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION change_ticket(bigint, text, date, text, text, text, bigint) TO ticket_app, ticket_admin;
