/* ticket--1.3--1.4.sql: real-name tickets: passengers, groups, fares, limits, refunds and changes */

\echo Use "ALTER EXTENSION ticket UPDATE TO '1.4'" to load this file. \quit

SET LOCAL search_path = ticket, pg_catalog;

-- SQLSTATEs of this version (doc/passengers.md lists them):
--   TK040 invalid document number        TK041 too many passengers
--   TK042 no such passenger              TK043 passenger already travelling then
--   TK044 invalid passenger list         TK045 invalid seat letters
--   TK046 seat choice not offered        TK047 daily cancel limit reached
--   TK048 daily order limit reached      TK049 change not allowed twice
--   TK050 ticket cannot be changed       TK051 no such ticket
--   TK052 passenger already added        TK053 passenger has live tickets
--   TK054 invalid passenger or document type
--   TK055 invalid fare or setting        TK056 nothing to change

-- settings ------------------------------------------------------------------

-- Limits live in a table, not in GUCs: a ticket.* GUC would be USERSET and
-- the application role could lift its own limits with SET.  The table holds
-- only what an administrator changed; setting() knows the defaults.
CREATE TABLE setting (
	name text PRIMARY KEY
		CHECK (name IN ('max_passengers', 'max_orders_per_day', 'max_cancels_per_day', 'refund_min_fee')),
	value numeric NOT NULL CHECK (value >= 0)
);
COMMENT ON TABLE setting IS 'limits changed by an administrator (ticket.set_setting); missing names take their defaults (see ticket.setting())';
SELECT pg_catalog.pg_extension_config_dump('setting', '');

CREATE FUNCTION setting(name text) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result numeric;
BEGIN
	SELECT s.value INTO result FROM ticket.setting s WHERE s.name = setting.name;
	RETURN coalesce(result, CASE setting.name
		WHEN 'max_passengers' THEN 15			-- 12306
		WHEN 'max_orders_per_day' THEN 20
		WHEN 'max_cancels_per_day' THEN 3		-- 12306
		WHEN 'refund_min_fee' THEN 2			-- 12306, yuan
	END);
END
$$;
COMMENT ON FUNCTION setting(text) IS 'a limit: max_passengers (15), max_orders_per_day (20), max_cancels_per_day (3), refund_min_fee (2 yuan); NULL for an unknown name';

CREATE FUNCTION set_setting(name text, value numeric) RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF setting(name) IS NULL OR value IS NULL OR value < 0 THEN
		RAISE EXCEPTION 'invalid setting: % = %', name, value USING ERRCODE = 'TK055',
			HINT = 'Settings are max_passengers, max_orders_per_day, max_cancels_per_day and refund_min_fee, each zero or more.';
	END IF;
	INSERT INTO ticket.setting AS s (name, value) VALUES (set_setting.name, set_setting.value)
	ON CONFLICT ON CONSTRAINT setting_pkey DO UPDATE SET value = excluded.value;
	RETURN value;
END
$$;
COMMENT ON FUNCTION set_setting(text, numeric) IS 'change a limit (see ticket.setting()); error TK055 if unknown or negative';

-- 12306 keeps Beijing time: days for the daily limits and departure times
-- for refund fees are Beijing's, whatever the session's time zone.
CREATE FUNCTION beijing_now() RETURNS timestamp
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT now() AT TIME ZONE 'Asia/Shanghai' $$;
COMMENT ON FUNCTION beijing_now() IS 'the current time in Beijing (timetables, days and fees are in Beijing time)';

-- passengers ----------------------------------------------------------------

-- An 18-character resident ID: 6 digits of region, the birth date as
-- YYYYMMDD, 3 digits of sequence and a check character (ISO 7064 MOD 11-2:
-- weights 2^(17-i) mod 11, remainder mapped to 1 0 X 9 8 7 6 5 4 3 2).
CREATE FUNCTION valid_resident_id(document_no text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
	weights constant integer[] := '{7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2}';
	y integer;
	m integer;
	d integer;
	total integer := 0;
BEGIN
	IF document_no !~ '^[0-9]{17}[0-9X]$' THEN
		RETURN false;
	END IF;
	y := substr(document_no, 7, 4)::integer;
	m := substr(document_no, 11, 2)::integer;
	d := substr(document_no, 13, 2)::integer;
	IF y < 1900 OR m NOT BETWEEN 1 AND 12 OR d < 1
	   OR d > extract(day FROM make_date(y, m, 1) + interval '1 month - 1 day') THEN
		RETURN false;
	END IF;
	FOR i IN 1..17 LOOP
		total := total + substr(document_no, i, 1)::integer * weights[i];
	END LOOP;
	RETURN substr('10X98765432', total % 11 + 1, 1) = substr(document_no, 18, 1);
END
$$;
COMMENT ON FUNCTION valid_resident_id(text) IS 'whether an 18-character Chinese resident ID number is well formed: digits, a real birth date and the right check character';

CREATE TABLE passenger (
	passenger_id bigserial PRIMARY KEY,
	user_id bigint NOT NULL,
	document_type text NOT NULL
		CHECK (document_type IN ('id_card', 'passport', 'hk_macao_permit', 'taiwan_permit', 'foreign_permanent_id')),
	document_no text NOT NULL,
	name text NOT NULL CHECK (btrim(name) <> ''),
	passenger_type text NOT NULL CHECK (passenger_type IN ('adult', 'child', 'student', 'disabled_soldier')),
	created_at timestamptz NOT NULL DEFAULT now(),
	removed_at timestamptz,
	CONSTRAINT passenger_document_valid CHECK (CASE WHEN document_type = 'id_card' THEN valid_resident_id(document_no)
	            ELSE document_no ~ '^[A-Z0-9]{5,20}$' END)
);
CREATE UNIQUE INDEX passenger_once_per_account ON passenger (user_id, document_no, document_type)
	WHERE removed_at IS NULL;
COMMENT ON TABLE passenger IS 'people an account buys tickets for: identity document, name and fare type; removed ones are kept for their tickets';
SELECT pg_catalog.pg_extension_config_dump('passenger', '');
SELECT pg_catalog.pg_extension_config_dump('passenger_passenger_id_seq', '');

-- Per user and Beijing day: orders made with passengers and orders the user
-- cancelled.  A counter row per day rather than a count over orders, so the
-- check needs no index on orders by user and date.
CREATE TABLE user_day (
	user_id bigint NOT NULL,
	day date NOT NULL,
	orders integer NOT NULL DEFAULT 0 CHECK (orders >= 0),
	cancels integer NOT NULL DEFAULT 0 CHECK (cancels >= 0),
	PRIMARY KEY (user_id, day)
);
COMMENT ON TABLE user_day IS 'per user and Beijing day: orders with passengers made and orders cancelled, for the daily limits';
SELECT pg_catalog.pg_extension_config_dump('user_day', '');

-- Tickets name their passenger and the time they travel.  document_key is
-- the person (document type and number), not the account's passenger row:
-- two accounts that both added the same person still cannot put them on two
-- trains at once.
ALTER TABLE tickets
	ADD COLUMN passenger_id bigint REFERENCES passenger,
	ADD COLUMN document_key text,
	ADD COLUMN passenger_type text,
	ADD COLUMN travel tsrange,
	ADD COLUMN price numeric(8, 1) CHECK (price >= 0),
	-- no foreign key to tickets itself: pg_dump warns about (and may fail
	-- to order) the rows of a self-referencing configuration table; only
	-- change_ticket() sets it and tickets are never deleted
	ADD COLUMN changed_from bigint,
	ADD COLUMN refund_fee numeric(8, 1),
	ADD CONSTRAINT tickets_named_complete CHECK (passenger_id IS NULL
		OR (document_key IS NOT NULL AND travel IS NOT NULL AND NOT isempty(travel) AND price IS NOT NULL));
ALTER TABLE tickets DROP CONSTRAINT tickets_status_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_status_check
	CHECK (status IN ('held', 'paid', 'cancelled', 'expired', 'refunded', 'changed'));
ALTER TABLE orders ADD COLUMN total numeric(9, 1);
-- One person cannot be in two places at once, whatever the train, the date
-- or the account: PostgreSQL refuses the second live ticket, so no race
-- between two orders can slip past it.
ALTER TABLE tickets ADD CONSTRAINT tickets_one_place_at_a_time EXCLUDE USING gist
	(document_key WITH =, travel WITH &&)
	WHERE (status IN ('held', 'paid') AND document_key IS NOT NULL);
CREATE INDEX tickets_passenger_idx ON tickets (passenger_id) WHERE passenger_id IS NOT NULL;
-- a ticket is changed at most once; partial, so the many tickets that are
-- no change cost no index entry
CREATE UNIQUE INDEX tickets_changed_from_key ON tickets (changed_from) WHERE changed_from IS NOT NULL;
COMMENT ON COLUMN tickets.document_key IS 'the person travelling: document type and number (NULL for tickets of the single-seat grab)';
COMMENT ON COLUMN tickets.travel IS 'Beijing time from departure at the first station to arrival at the last; live tickets of one person never overlap';
COMMENT ON COLUMN tickets.changed_from IS 'the ticket this one replaced in a change (改签); a ticket is changed at most once';
COMMENT ON COLUMN tickets.refund_fee IS 'fee kept when the ticket was refunded (or on the fare difference of a change)';
COMMENT ON COLUMN orders.total IS 'sum of the ticket prices of an order with passengers';

-- fares ---------------------------------------------------------------------

CREATE TABLE fare (
	train_id integer NOT NULL REFERENCES train ON DELETE CASCADE,
	from_stop integer NOT NULL,
	to_stop integer NOT NULL,
	seat_class seat_class NOT NULL,
	price numeric(8, 1) NOT NULL CHECK (price > 0 AND price * 2 = round(price * 2)),
	PRIMARY KEY (train_id, from_stop, to_stop, seat_class),
	CHECK (from_stop >= 0 AND from_stop < to_stop)
);
COMMENT ON TABLE fare IS 'full adult fares loaded by an administrator (ticket.set_fare); pairs without one use ticket.default_fare()';
SELECT pg_catalog.pg_extension_config_dump('fare', '');

-- The fare of a pair nobody loaded: the scheduled running time priced by
-- train kind and class (there are no distances in the timetable), rounded
-- to 0.5 yuan, at least 5 yuan.  Rates per hour come from G1 Beijing South -
-- Shanghai Hongqiao (4 h 28 min: 553 / 933 / 1748 yuan) and typical D and
-- conventional trains.  Without times, every leg counts as half an hour.
CREATE FUNCTION default_fare(train_id integer, from_stop integer, to_stop integer, seat_class seat_class)
RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	kind text;
	hours numeric;
	rate numeric;
BEGIN
	SELECT CASE WHEN t.code LIKE 'G%' THEN 'G' WHEN t.code ~ '^[DC]' THEN 'D' ELSE 'K' END,
	       coalesce(extract(epoch FROM coalesce(b.arrive, b.depart) - coalesce(a.depart, a.arrive)) / 3600,
	                (to_stop - from_stop) * 0.5)
	INTO kind, hours
	FROM train t
	JOIN stop a ON a.train_id = t.train_id AND a.stop_no = from_stop
	JOIN stop b ON b.train_id = t.train_id AND b.stop_no = to_stop
	WHERE t.train_id = default_fare.train_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	rate := CASE kind
		WHEN 'G' THEN CASE seat_class WHEN 'business' THEN 391 WHEN 'first' THEN 209 ELSE 124 END
		WHEN 'D' THEN CASE seat_class WHEN 'business' THEN 280 WHEN 'first' THEN 145
		                              WHEN 'soft_sleeper' THEN 160 ELSE 90 END
		ELSE CASE seat_class WHEN 'soft_sleeper' THEN 62 WHEN 'hard_sleeper' THEN 40
		                     WHEN 'hard_seat' THEN 21 ELSE 40 END
	END;
	RETURN greatest(5, round(rate * hours * 2) / 2)::numeric(8, 1);
END
$$;
COMMENT ON FUNCTION default_fare(integer, integer, integer, seat_class) IS 'fare of a pair without a loaded one: running hours times a rate per train kind (G, D/C, other) and class, rounded to 0.5 yuan, at least 5 (see doc/passengers.md)';

CREATE FUNCTION fare_of(train_id integer, from_stop integer, to_stop integer, seat_class seat_class)
RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	result numeric;
BEGIN
	SELECT f.price INTO result FROM fare f
	WHERE f.train_id = fare_of.train_id AND f.from_stop = fare_of.from_stop
	  AND f.to_stop = fare_of.to_stop AND f.seat_class = fare_of.seat_class;
	RETURN coalesce(result, default_fare(train_id, from_stop, to_stop, seat_class));
END
$$;
COMMENT ON FUNCTION fare_of(integer, integer, integer, seat_class) IS 'internal: the full adult fare of a pair of stops and a class, loaded or by the default rule';

-- What a passenger pays: children and disabled soldiers half, students 75%
-- in second class and half on hard seats and hard sleepers (the classes
-- where 12306 grants a student fare), everyone else the full fare; rounded
-- to 0.5 yuan.
CREATE FUNCTION passenger_price(full_fare numeric, passenger_type text, seat_class seat_class)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT (round(full_fare * CASE
		WHEN passenger_type IN ('child', 'disabled_soldier') THEN 0.5
		WHEN passenger_type = 'student' AND seat_class = 'second' THEN 0.75
		WHEN passenger_type = 'student' AND seat_class IN ('hard_seat', 'hard_sleeper') THEN 0.5
		ELSE 1 END * 2) / 2)::numeric(8, 1)
$$;
COMMENT ON FUNCTION passenger_price(numeric, text, seat_class) IS 'the price a passenger type pays for a full fare: child and disabled soldier 50%, student 75% in second class and 50% on hard seat and hard sleeper; rounded to 0.5 yuan';

-- The stop numbers of two stations on a train's route, in order; TK009,
-- TK010 or TK011 otherwise.  (journey() does the same in its one query, with
-- the run, for grabs.)
CREATE FUNCTION route_stops(train_id integer, train text, from_station text, to_station text,
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

CREATE FUNCTION set_fare(train text, from_station text, to_station text, seat_class text, price numeric)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	tid integer := ticket.train_id(train);
	cls ticket.seat_class := checked_seat_class(seat_class);
	a integer;
	b integer;
BEGIN
	IF cls IS NULL OR price IS NULL OR price <= 0 OR price * 2 <> round(price * 2) THEN
		RAISE EXCEPTION 'invalid fare: % yuan in class %', price, seat_class USING ERRCODE = 'TK055',
			HINT = 'A fare is a positive number of yuan in steps of 0.5, for a named class.';
	END IF;
	SELECT r.a, r.b INTO a, b FROM route_stops(tid, train, from_station, to_station) r;
	INSERT INTO fare AS f (train_id, from_stop, to_stop, seat_class, price) VALUES (tid, a, b, cls, set_fare.price)
	ON CONFLICT ON CONSTRAINT fare_pkey DO UPDATE SET price = excluded.price;
	RETURN price;
END
$$;
COMMENT ON FUNCTION set_fare(text, text, text, text, numeric) IS 'load the full adult fare of a train between two stations in a class (upsert)';

CREATE FUNCTION fare(train text, from_station text, to_station text, seat_class text,
	passenger_type text DEFAULT 'adult') RETURNS numeric
-- definer: the fare helpers it calls are internal
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	tid integer := ticket.train_id(train);
	cls ticket.seat_class := checked_seat_class(seat_class);
	a integer;
	b integer;
BEGIN
	IF cls IS NULL OR passenger_type IS NULL
	   OR passenger_type NOT IN ('adult', 'child', 'student', 'disabled_soldier') THEN
		RAISE EXCEPTION 'a fare needs a seat class and a passenger type' USING ERRCODE = 'TK054',
			HINT = 'Passenger types are adult, child, student and disabled_soldier.';
	END IF;
	SELECT r.a, r.b INTO a, b FROM route_stops(tid, train, from_station, to_station) r;
	RETURN passenger_price(fare_of(tid, a, b, cls), passenger_type, cls);
END
$$;
COMMENT ON FUNCTION fare(text, text, text, text, text) IS 'the price a passenger type pays between two stations of a train in a class (loaded fare or the default rule)';

-- refund fees ---------------------------------------------------------------

CREATE TABLE refund_rule (
	before interval PRIMARY KEY,
	rate numeric NOT NULL CHECK (rate >= 0 AND rate <= 1)
);
COMMENT ON TABLE refund_rule IS 'refund fee rates by time left to departure (from "before" up to the next rule); empty means 12306''s table (see ticket.refund_fee)';
SELECT pg_catalog.pg_extension_config_dump('refund_rule', '');

CREATE FUNCTION refund_fee(price numeric, time_left interval) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	rate numeric;
	fee numeric;
BEGIN
	IF price IS NULL OR time_left IS NULL THEN
		RETURN NULL;
	END IF;
	IF EXISTS (SELECT 1 FROM refund_rule) THEN
		SELECT r.rate INTO rate FROM refund_rule r WHERE r.before <= time_left ORDER BY r.before DESC LIMIT 1;
		IF NOT FOUND THEN
			-- after departure: the rate of the last rule
			SELECT r.rate INTO rate FROM refund_rule r ORDER BY r.before LIMIT 1;
		END IF;
	ELSE
		-- 12306: free 8 days or more before departure, 5% from 48 hours,
		-- 10% from 24 hours, 20% under 24 hours
		rate := CASE WHEN time_left >= interval '8 days' THEN 0
		             WHEN time_left >= interval '48 hours' THEN 0.05
		             WHEN time_left >= interval '24 hours' THEN 0.10
		             ELSE 0.20 END;
	END IF;
	IF rate = 0 THEN
		RETURN 0.0;
	END IF;
	-- rounded to 0.5 yuan (under 0.25 down, 0.75 and up to the next yuan),
	-- at least the minimum fee, never more than the price
	fee := round(price * rate * 2) / 2;
	RETURN least(price, greatest(fee, setting('refund_min_fee')))::numeric(8, 1);
END
$$;
COMMENT ON FUNCTION refund_fee(numeric, interval) IS 'the fee kept when a ticket of this price is refunded this long before departure: 12306''s table (or ticket.refund_rule), rounded to 0.5 yuan, at least refund_min_fee';

CREATE FUNCTION set_refund_rule(before interval, rate numeric) RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF before IS NULL OR rate IS NULL OR rate < 0 OR rate > 1 THEN
		RAISE EXCEPTION 'invalid refund rule: % before departure, rate %', before, rate USING ERRCODE = 'TK055',
			HINT = 'A rate is between 0 and 1, e.g. 0.05 for 5%.';
	END IF;
	INSERT INTO refund_rule AS r VALUES (set_refund_rule.before, set_refund_rule.rate)
	ON CONFLICT ON CONSTRAINT refund_rule_pkey DO UPDATE SET rate = excluded.rate;
	RETURN rate;
END
$$;
COMMENT ON FUNCTION set_refund_rule(interval, numeric) IS 'set the refund fee rate from a time before departure on (the first rule replaces 12306''s built-in table)';

-- passenger API -------------------------------------------------------------

CREATE FUNCTION add_passenger(user_id bigint, document_no text, name text,
	passenger_type text DEFAULT 'adult', document_type text DEFAULT 'id_card') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	doc text := upper(regexp_replace(document_no, '\s', '', 'g'));
	kind text := lower(btrim(document_type));
	ptype text := lower(btrim(passenger_type));
	n integer;
	result bigint;
BEGIN
	IF user_id IS NULL OR document_no IS NULL OR coalesce(btrim(name), '') = '' THEN
		RAISE EXCEPTION 'user id, document number and name must be given' USING ERRCODE = 'TK017';
	END IF;
	IF kind IS NULL OR kind NOT IN ('id_card', 'passport', 'hk_macao_permit', 'taiwan_permit', 'foreign_permanent_id')
	   OR ptype IS NULL OR ptype NOT IN ('adult', 'child', 'student', 'disabled_soldier') THEN
		RAISE EXCEPTION 'invalid passenger type "%" or document type "%"', passenger_type, document_type
			USING ERRCODE = 'TK054',
			HINT = 'Passenger types are adult, child, student and disabled_soldier; documents id_card, passport, hk_macao_permit, taiwan_permit and foreign_permanent_id.';
	END IF;
	IF kind = 'id_card' AND NOT valid_resident_id(doc) THEN
		RAISE EXCEPTION 'invalid ID card number: "%"', document_no USING ERRCODE = 'TK040',
			DETAIL = CASE WHEN doc !~ '^[0-9]{17}[0-9X]$' THEN 'A resident ID number is 17 digits and a check digit or X.'
			              ELSE 'The birth date or the check digit is wrong.' END;
	ELSIF kind <> 'id_card' AND doc !~ '^[A-Z0-9]{5,20}$' THEN
		RAISE EXCEPTION 'invalid % number: "%"', kind, document_no USING ERRCODE = 'TK040',
			DETAIL = 'A document number is 5 to 20 letters and digits.';
	END IF;
	-- one account's passenger changes take turns (the same lock grab takes
	-- for the daily limits), so the cap holds under concurrency
	PERFORM pg_advisory_xact_lock(hashint8extended(add_passenger.user_id, -1));
	IF EXISTS (SELECT 1 FROM passenger p WHERE p.user_id = add_passenger.user_id AND p.document_no = doc
	           AND p.document_type = kind AND p.removed_at IS NULL) THEN
		RAISE EXCEPTION 'passenger % is already on account %', doc, user_id USING ERRCODE = 'TK052';
	END IF;
	SELECT count(*) INTO n FROM passenger p WHERE p.user_id = add_passenger.user_id AND p.removed_at IS NULL;
	IF n >= setting('max_passengers') THEN
		RAISE EXCEPTION 'too many passengers on account %', user_id USING ERRCODE = 'TK041',
			DETAIL = format('An account may have at most %s passengers.', setting('max_passengers')),
			HINT = 'Remove one with ticket.remove_passenger() first.';
	END IF;
	INSERT INTO passenger (user_id, document_type, document_no, name, passenger_type)
	VALUES (add_passenger.user_id, kind, doc, btrim(name), ptype)
	RETURNING passenger_id INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION add_passenger(bigint, text, text, text, text) IS 'add a passenger to an account (ID card numbers are checked); returns its id; errors TK040 invalid number, TK041 too many, TK052 already added, TK054 bad type';

CREATE FUNCTION remove_passenger(user_id bigint, document_no text, document_type text DEFAULT 'id_card')
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	doc text := upper(regexp_replace(document_no, '\s', '', 'g'));
	pid bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashint8extended(remove_passenger.user_id, -1));
	SELECT p.passenger_id INTO pid FROM passenger p
	WHERE p.user_id = remove_passenger.user_id AND p.document_no = doc
	  AND p.document_type = lower(btrim(remove_passenger.document_type)) AND p.removed_at IS NULL
	FOR UPDATE;
	IF pid IS NULL THEN
		RAISE EXCEPTION 'no passenger % on account %', document_no, user_id USING ERRCODE = 'TK042';
	END IF;
	IF EXISTS (SELECT 1 FROM tickets t WHERE t.passenger_id = pid AND t.status IN ('held', 'paid')) THEN
		RAISE EXCEPTION 'passenger % has live tickets', doc USING ERRCODE = 'TK053',
			HINT = 'Refund or cancel them first.';
	END IF;
	UPDATE passenger p SET removed_at = now() WHERE p.passenger_id = pid;
	RETURN true;
END
$$;
COMMENT ON FUNCTION remove_passenger(bigint, text, text) IS 'remove a passenger from an account (kept for its old tickets); errors TK042 unknown, TK053 has live tickets';

-- seats for groups ----------------------------------------------------------

CREATE FUNCTION seatgroup_place(map bytea, row_len integer, aisle integer, legs segrange, n integer, wanted integer)
RETURNS integer[]
	AS 'MODULE_PATHNAME', 'seatgroup_place_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seatgroup_place(bytea, integer, integer, segrange, integer, integer) IS 'seats for a group of n in one carriage (rows of row_len seats, aisle after position aisle - 1, wanted: bitmask of asked positions): {level, letters_ok, seat indexes...}; NULL if fewer than n are free (see doc/passengers.md)';

-- Where the aisle is: second class and hard seats A B C | D F, first class
-- A C | D F, business A | C F; a sleeper compartment has none.
CREATE FUNCTION aisle_of(layout text, seat_class seat_class) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT CASE WHEN k = 0 OR k = length(layout) THEN 0 ELSE k END
	FROM (SELECT CASE
		WHEN seat_class IN ('soft_sleeper', 'hard_sleeper') THEN 0
		WHEN seat_class = 'business' THEN length(regexp_replace(layout, '[C-F]', '', 'g'))
		ELSE length(regexp_replace(layout, '[D-F]', '', 'g')) END AS k) a
$$;
COMMENT ON FUNCTION aisle_of(text, seat_class) IS 'seats left of the aisle in a row of this layout and class (0: no aisle)';

-- The bitmask of asked letters in a layout; NULL if one is not in it.
CREATE FUNCTION letters_mask(layout text, letters text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN letters IS NULL THEN 0
	            WHEN bool_and(strpos(layout, l) > 0) THEN sum(1 << (strpos(layout, l) - 1))::integer END
	FROM regexp_split_to_table(letters, '') l
$$;
COMMENT ON FUNCTION letters_mask(text, text) IS 'internal: positions of the seat letters in a row layout as a bitmask, NULL if a letter is not in the layout';

-- Seats for a group on a run, with the inventory rows they come from locked:
-- the carriage whose placement is best (asked letters honoured, then one
-- row, two adjacent rows, the carriage), locked and searched again on its
-- latest map (a carriage locked by a concurrent grab is passed over for the
-- next best unless all are); failing any carriage that holds the whole group, every
-- carriage of the class with free seats is locked in (run_id, carriage_no)
-- order, the lock order of set_order_status(), and the group is spread over
-- the fewest carriages (level 4).  No rows: sold out.
CREATE FUNCTION place_group(run_id bigint, train_id integer, legs segrange, wanted seat_class,
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

	-- no carriage holds the whole group: spread it
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

-- the time a journey takes, in Beijing time
CREATE FUNCTION travel_time(train_id integer, service_date date, legs segrange) RETURNS tsrange
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
	-- a train without times takes its passengers for the whole service day
	SELECT CASE WHEN coalesce(a.depart, a.arrive) IS NULL OR coalesce(b.arrive, b.depart) IS NULL
	            THEN tsrange(service_date, service_date + 1)
	            ELSE tsrange(service_date + coalesce(a.depart, a.arrive), service_date + coalesce(b.arrive, b.depart)) END
	FROM stop a JOIN stop b ON b.train_id = a.train_id
	WHERE a.train_id = travel_time.train_id AND a.stop_no = lower(legs) AND b.stop_no = upper(legs)
$$;
COMMENT ON FUNCTION travel_time(integer, date, segrange) IS 'Beijing time from departure at the journey''s first station to arrival at its last (the whole service day for a train without times)';

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

CREATE FUNCTION order_tickets(order_id bigint) RETURNS SETOF passenger_booking
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

CREATE FUNCTION grab_named(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, passengers text[], seat_letters text DEFAULT NULL)
RETURNS SETOF passenger_booking
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
	cls ticket.seat_class := checked_seat_class(seat_class);
	letters text := nullif(upper(btrim(seat_letters)), '');
	n integer := coalesce(cardinality(passengers), 0);
	code text;
	today date := beijing_now()::date;
	counts user_day;
	trip tsrange;
	full_fare numeric;
	pax passenger;
	pids bigint[];
	keys text[];
	ptypes text[];
	prices numeric[];
	seats integer[];
	level integer;
	asked boolean;
	clash record;
	new_order bigint;
	order_total numeric;
	until timestamptz := now() + hold_timeout();
	violated text;
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user id must not be null' USING ERRCODE = 'TK017';
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
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);
	code := upper(btrim(train));
	IF letters IS NOT NULL THEN
		IF code !~ '^[GDC]' OR cls NOT IN ('business', 'first', 'second') THEN
			RAISE EXCEPTION 'seat choice is offered on G, D and C trains in business, first and second class only'
				USING ERRCODE = 'TK046', DETAIL = format('Train %s, class %s.', code, cls);
		END IF;
		IF letters !~ '^[A-F]+$' OR length(letters) > n
		   OR (SELECT count(DISTINCT l) FROM regexp_split_to_table(letters, '') l) <> length(letters)
		   OR NOT EXISTS (SELECT 1 FROM carriage ca WHERE ca.train_id = j.train_id AND ca.seat_class = cls
		                  AND letters_mask(ca.layout, letters) IS NOT NULL) THEN
			RAISE EXCEPTION 'invalid seat letters: "%"', seat_letters USING ERRCODE = 'TK045',
				DETAIL = format('Give at most one letter per passenger (%s), each once, from the class''s row layout.', n),
				HINT = 'Second class rows are A B C | D F, first class A C | D F, business A | C F.';
		END IF;
	END IF;

	-- The user's lock (daily counters, passengers), then the user's lock on
	-- the run that the single-seat grab takes too; always in this order.
	PERFORM pg_advisory_xact_lock(hashint8extended(grab_named.user_id, -1));
	PERFORM pg_advisory_xact_lock(hashint8extended(grab_named.user_id, j.run_id));

	IF j.run_status <> 'open' THEN
		RAISE EXCEPTION 'sales are not open for train % on %', code, service_date USING ERRCODE = 'TK012';
	END IF;
	-- The day's counters, row locked until commit: a concurrent cancel()
	-- of this user waits to count.  Lock order: this row, then orders, then
	-- carriages, as in cancel().
	INSERT INTO user_day AS u (user_id, day) VALUES (grab_named.user_id, today)
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

	PERFORM check_unpaid_order(grab_named.user_id, j.run_id, true);

	-- the passengers, in the order given
	FOR i IN 1..n LOOP
		SELECT p.* INTO pax FROM passenger p
		WHERE p.user_id = grab_named.user_id AND p.document_no = upper(regexp_replace(passengers[i], '\s', '', 'g'))
		  AND p.removed_at IS NULL
		ORDER BY p.document_type = 'id_card' DESC LIMIT 1;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no passenger % on account %', passengers[i], user_id USING ERRCODE = 'TK042',
				HINT = 'Add passengers with ticket.add_passenger() first.';
		END IF;
		pids[i] := pax.passenger_id;
		keys[i] := pax.document_type || ':' || pax.document_no;
		ptypes[i] := pax.passenger_type;
	END LOOP;

	trip := travel_time(j.train_id, service_date, j.legs);
	-- unpaid holds of these people past their deadline no longer count:
	-- expire them (the sweeper would) so they do not block this order
	PERFORM expire_orders(array_agg(x.order_id)) FROM (
		SELECT o.order_id FROM orders o
		WHERE o.order_id IN (
			SELECT t.order_id FROM tickets t
			WHERE t.document_key = ANY (keys) AND t.status = 'held' AND t.hold_until <= now() AND t.travel && trip)
		  AND o.status = 'held' AND o.hold_until <= now()
		ORDER BY o.order_id
		FOR UPDATE OF o SKIP LOCKED) x
	HAVING count(*) > 0;
	-- a friendly early answer; the exclusion constraint decides under races
	SELECT p.name, t.ticket_id, tr.code, t.travel INTO clash
	FROM tickets t JOIN passenger p ON p.passenger_id = t.passenger_id
	JOIN run r ON r.run_id = t.run_id JOIN train tr ON tr.train_id = r.train_id
	WHERE t.document_key = ANY (keys) AND t.status IN ('held', 'paid') AND t.travel && trip
	ORDER BY t.ticket_id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'passenger % is already travelling then', clash.name USING ERRCODE = 'TK043',
			DETAIL = format('Ticket %s on train %s covers %s.', clash.ticket_id, clash.code, clash.travel);
	END IF;

	full_fare := fare_of(j.train_id, lower(j.legs), upper(j.legs), cls);
	order_total := 0;
	FOR i IN 1..n LOOP
		prices[i] := passenger_price(full_fare, ptypes[i], cls);
		order_total := order_total + prices[i];
	END LOOP;

	-- seats, their carriages locked (place_group); expired holds may still
	-- mark seats taken: release those of this run and look once more
	FOR attempt IN 1..2 LOOP
		BEGIN
			SELECT array_agg(p.seat_id), max(p.level), bool_and(p.letters_ok)
			INTO seats, level, asked
			FROM place_group(j.run_id, j.train_id, j.legs, cls, n, letters) p;
			EXIT;
		EXCEPTION WHEN SQLSTATE 'TKZ02' THEN
			IF attempt = 2 OR release_expired_holds(j.run_id) = 0 THEN
				RAISE EXCEPTION 'sold out: no % seats for % passengers on train % on % from % to %',
					cls, n, code, service_date, from_station, to_station USING ERRCODE = 'TK001';
			END IF;
		END;
	END LOOP;

	new_order := nextval('orders_order_id_seq');
	BEGIN
		INSERT INTO orders (order_id, user_id, run_id, seat_class, legs, hold_until, total)
		VALUES (new_order, grab_named.user_id, j.run_id, cls, j.legs, until, order_total);
		INSERT INTO tickets (order_id, run_id, seat_id, legs, status, hold_until,
			passenger_id, document_key, passenger_type, travel, price)
		SELECT new_order, j.run_id, seats[i], j.legs, 'held', until,
			pids[i], keys[i], ptypes[i], trip, prices[i]
		FROM generate_series(1, n) i ORDER BY i;
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
	UPDATE user_day u SET orders = u.orders + 1 WHERE u.user_id = grab_named.user_id AND u.day = today;

	RETURN QUERY
	SELECT b.order_id, b.ticket_id, b.passenger, b.passenger_type, b.carriage, b.seat_no, b.seat_class,
	       b.legs, b.departs, b.arrives, b.price, b.total, b.hold_until, b.status,
	       CASE level WHEN 1 THEN 'row' WHEN 2 THEN 'adjacent_rows' WHEN 3 THEN 'carriage' ELSE 'spread' END,
	       CASE WHEN letters IS NOT NULL THEN asked END
	FROM order_tickets(new_order) b;
END
$$;
COMMENT ON FUNCTION grab_named(bigint, text, date, text, text, text, text[], text) IS 'internal: one attempt of the passenger form of grab()';

-- A grab may have to expire stale holds first (its user's, its
-- passengers'), which locks their carriages, possibly on other runs, before
-- it looks for seats; two such grabs can then wait for each other.
-- PostgreSQL detects that and aborts one: that one is rolled back to here
-- and simply tries again.
CREATE FUNCTION grab(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, passengers text[], seat_letters text DEFAULT NULL)
RETURNS SETOF passenger_booking
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	FOR attempt IN 1..3 LOOP
		BEGIN
			RETURN QUERY SELECT * FROM grab_named(user_id, train, service_date, from_station, to_station,
				seat_class, passengers, seat_letters);
			RETURN;
		EXCEPTION WHEN deadlock_detected THEN
			IF attempt = 3 THEN
				RAISE;
			END IF;
		END;
	END LOOP;
END
$$;
COMMENT ON FUNCTION grab(bigint, text, date, text, text, text, text[], text) IS 'hold seats for 1 to 5 named passengers (document numbers of the account''s passengers) on one run, journey and class, sitting together, with optional seat letters; one row per ticket with its price and the order total';

-- after-sales ---------------------------------------------------------------

-- Same signature and results as 1.1; the cancel now counts toward the
-- user's daily cancel limit.
CREATE OR REPLACE FUNCTION cancel(order_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	owner bigint;
	o orders;
BEGIN
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
			RETURN set_order_status(order_id, 'cancelled');
	END CASE;
END
$$;
COMMENT ON FUNCTION cancel(bigint) IS 'cancel an unpaid order: its seats return to sale and it counts toward the daily cancel limit; idempotent; error TK004 if paid';

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
CREATE FUNCTION refund_tickets(o orders, only_ticket bigint) RETURNS SETOF refund_result
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

-- Same signature and results as 1.1; tickets with a price now keep the
-- refund fee (tickets.refund_fee), and tickets changed away stay changed.
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

CREATE FUNCTION lock_ticket_order(ticket_id bigint, OUT o orders, OUT t tickets)
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

CREATE FUNCTION refund_ticket(ticket_id bigint) RETURNS SETOF refund_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	l record;
BEGIN
	SELECT * INTO l FROM lock_ticket_order(ticket_id);
	IF (l.t).status <> 'paid' THEN
		RAISE EXCEPTION 'ticket % is not paid', ticket_id USING ERRCODE = 'TK005',
			DETAIL = format('Its status is %s.', (l.t).status);
	END IF;
	RETURN QUERY SELECT * FROM refund_tickets(l.o, ticket_id);
END
$$;
COMMENT ON FUNCTION refund_ticket(bigint) IS 'refund one paid ticket of an order, keeping the fee by time to departure; returns price, fee and amount refunded; errors TK005 not paid, TK051 unknown';

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
CREATE FUNCTION change_ticket(ticket_id bigint, train text, service_date date, from_station text,
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
		RAISE EXCEPTION 'sales are not open for train % on %', upper(train), service_date USING ERRCODE = 'TK012';
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

-- privileges ----------------------------------------------------------------

REVOKE ALL ON setting, passenger, user_day, fare, refund_rule FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION setting(text), set_setting(text, numeric), beijing_now(), route_stops(integer, text, text, text),
	valid_resident_id(text), default_fare(integer, integer, integer, seat_class),
	fare_of(integer, integer, integer, seat_class), passenger_price(numeric, text, seat_class),
	set_fare(text, text, text, text, numeric), fare(text, text, text, text, text),
	refund_fee(numeric, interval), set_refund_rule(interval, numeric),
	add_passenger(bigint, text, text, text, text), remove_passenger(bigint, text, text),
	seatgroup_place(bytea, integer, integer, segrange, integer, integer), aisle_of(text, seat_class),
	letters_mask(text, text), place_group(bigint, integer, segrange, seat_class, integer, text),
	travel_time(integer, date, segrange), order_tickets(bigint),
	grab(bigint, text, date, text, text, text, text[], text), grab_named(bigint, text, date, text, text, text, text[], text),
	refund_tickets(orders, bigint), lock_ticket_order(bigint), refund_ticket(bigint),
	change_ticket(bigint, text, date, text, text, text)
	FROM PUBLIC;
GRANT SELECT ON setting, passenger, user_day, fare, refund_rule TO ticket_admin, ticket_app;
GRANT EXECUTE ON FUNCTION add_passenger(bigint, text, text, text, text), remove_passenger(bigint, text, text),
	grab(bigint, text, date, text, text, text, text[], text), order_tickets(bigint),
	refund_ticket(bigint), change_ticket(bigint, text, date, text, text, text),
	fare(text, text, text, text, text), refund_fee(numeric, interval), setting(text),
	valid_resident_id(text)
	TO ticket_app, ticket_admin;
GRANT EXECUTE ON FUNCTION set_setting(text, numeric), set_fare(text, text, text, text, numeric),
	set_refund_rule(interval, numeric) TO ticket_admin;
