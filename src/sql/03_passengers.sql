-- Real names (doc/passengers.md): the people an account buys for, the
-- administrator's limits, fares and refund fee rules.  Orders with passengers
-- are sold in the sales file (grab_named); this file holds what they use.

-- settings ------------------------------------------------------------------

-- Limits live in a table, not in GUCs: a ticket.* GUC would be USERSET and
-- the application role could lift its own limits with SET.  The table holds
-- only what an administrator changed; setting() knows the defaults.
CREATE TABLE setting (
	name text PRIMARY KEY
		CHECK (name IN ('max_passengers', 'max_orders_per_day', 'max_cancels_per_day', 'refund_min_fee',
		                'real_names_required', 'max_tickets_per_person_day', 'max_orders_per_client_run',
		                'risk_checks', 'risk_captcha_grabs_per_minute', 'risk_block_grabs_per_minute',
		                'risk_captcha_expired_holds', 'risk_block_expired_holds', 'risk_captcha_cancels',
		                'risk_block_cancels', 'risk_captcha_refunds', 'risk_block_refunds',
		                'risk_captcha_accounts_per_document', 'risk_block_accounts_per_document',
		                -- hot runs and the overload breaker (src/sql/09_overload.sql)
		                'hot_queue_length', 'hot_cooldown_seconds', 'breaker_mode', 'breaker_trip_backends',
		                'breaker_hold_seconds')),
	value numeric NOT NULL CHECK (value >= 0)
);
COMMENT ON TABLE setting IS 'limits changed by an administrator (ticket.set_setting); missing names take their defaults (see ticket.setting())';
GRANT SELECT ON setting TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('setting', '');

CREATE OR REPLACE FUNCTION setting(name text) RETURNS numeric
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
		-- against scalpers (doc/passengers.md): 0 off, 1 on
		WHEN 'real_names_required' THEN 0
		-- tickets of one person (identity document) per service day, over
		-- every account; no ordinary traveller takes more trains in a day
		WHEN 'max_tickets_per_person_day' THEN 5
		-- live orders of one client (ticket.client) per run; 0: no limit
		WHEN 'max_orders_per_client_run' THEN 0
		-- risk signals (src/sql/09_risk.sql): off until risk_checks is 1
		WHEN 'risk_checks' THEN 0
		WHEN 'risk_captcha_grabs_per_minute' THEN 30
		WHEN 'risk_block_grabs_per_minute' THEN 120
		WHEN 'risk_captcha_expired_holds' THEN 3
		WHEN 'risk_block_expired_holds' THEN 10
		WHEN 'risk_captcha_cancels' THEN 5
		WHEN 'risk_block_cancels' THEN 20
		WHEN 'risk_captcha_refunds' THEN 5
		WHEN 'risk_block_refunds' THEN 20
		WHEN 'risk_captcha_accounts_per_document' THEN 3
		WHEN 'risk_block_accounts_per_document' THEN 10
		WHEN 'hot_queue_length' THEN 0			-- off: no run is marked hot by its queue
		WHEN 'hot_cooldown_seconds' THEN 60
		WHEN 'breaker_mode' THEN 1				-- auto, which never trips at level 0
		WHEN 'breaker_trip_backends' THEN 0		-- off
		WHEN 'breaker_hold_seconds' THEN 10
	END);
END
$$;
COMMENT ON FUNCTION setting(text) IS 'a limit: max_passengers (15), max_orders_per_day (20), max_cancels_per_day (3), refund_min_fee (2 yuan), real_names_required (0: off, 1: on), max_tickets_per_person_day (5), max_orders_per_client_run (0: no limit); risk_checks (0: off) and the risk thresholds risk_captcha_* and risk_block_* (README, Risk signals); hot_queue_length (0: off), hot_cooldown_seconds (60), breaker_mode (1: auto), breaker_trip_backends (0: off), breaker_hold_seconds (10); NULL for an unknown name';
REVOKE EXECUTE ON FUNCTION setting(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION setting(text) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION set_setting(name text, value numeric) RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM require_primary();
	-- The limits are counts: 0 would stop every order with passengers (or,
	-- for cancels, every order), which closing sales does, so they start at
	-- 1.  The fee is money, rounded to 0.5 yuan like every fee.  A rule that
	-- is off by default is a switch (0 or 1) or a limit that 0 turns off.
	IF setting(name) IS NULL OR value IS NULL OR value = 'NaN'
	   OR (CASE WHEN name = 'refund_min_fee' THEN value < 0 OR value > 1000 OR value * 2 <> round(value * 2)
	            WHEN name IN ('real_names_required', 'risk_checks') THEN value NOT IN (0, 1)
	            -- 0 turns these rules off; the breaker's mode is 0 off, 1 auto, 2 on
	            WHEN name IN ('max_orders_per_client_run', 'hot_queue_length', 'breaker_trip_backends', 'breaker_mode')
	            THEN value < 0 OR value > CASE WHEN name = 'breaker_mode' THEN 2 ELSE 10000 END OR value <> round(value)
	            ELSE value < 1 OR value > 10000 OR value <> round(value) END) THEN
		RAISE EXCEPTION 'invalid setting: % = %', left(name, 40), value USING ERRCODE = 'TK055',
			HINT = CASE WHEN name LIKE 'hot\_%' OR name LIKE 'breaker\_%'
			            THEN 'hot_cooldown_seconds and breaker_hold_seconds are 1 to 10000, hot_queue_length and breaker_trip_backends 0 (off) to 10000, breaker_mode 0 (off), 1 (auto) or 2 (on).'
			            ELSE 'Settings are max_passengers, max_orders_per_day, max_cancels_per_day, max_tickets_per_person_day and the risk thresholds risk_captcha_* and risk_block_*, each a whole number from 1 to 10000, max_orders_per_client_run, 0 (no limit) to 10000, real_names_required and risk_checks, 0 (off) or 1 (on), and refund_min_fee, 0 to 1000 yuan in steps of 0.5.' END;
	END IF;
	INSERT INTO ticket.setting AS s (name, value) VALUES (set_setting.name, set_setting.value)
	ON CONFLICT ON CONSTRAINT setting_pkey DO UPDATE SET value = excluded.value;
	IF name LIKE 'risk\_%' THEN
		PERFORM risk_settings_changed();
	END IF;
	RETURN value;
END
$$;
COMMENT ON FUNCTION set_setting(text, numeric) IS 'change a limit (see ticket.setting()); error TK055 if unknown or out of range (limits and risk thresholds 1 to 10000, max_orders_per_client_run, hot_queue_length and breaker_trip_backends 0 to 10000, breaker_mode 0 to 2, real_names_required and risk_checks 0 or 1, refund_min_fee 0 to 1000 in steps of 0.5)';
REVOKE EXECUTE ON FUNCTION set_setting(text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_setting(text, numeric) TO ticket_admin;

-- Real names required (setting real_names_required): calls that would sell
-- a seat without a name (the single-seat grab, enqueue, a waitlist request
-- without passengers) are refused with TK070, and the hint names the
-- passenger form of the call.
CREATE OR REPLACE FUNCTION check_real_names(call text, passenger_form text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	IF setting('real_names_required') = 1 THEN
		RAISE EXCEPTION 'real names required: % without passengers is refused', call USING ERRCODE = 'TK070',
			DETAIL = 'Every ticket names its passenger (setting real_names_required).',
			HINT = format('Use the passenger form: %s.', passenger_form);
	END IF;
END
$$;
COMMENT ON FUNCTION check_real_names(text, text) IS 'internal: TK070 naming the passenger form of a call when real names are required (setting real_names_required)';
REVOKE EXECUTE ON FUNCTION check_real_names(text, text) FROM PUBLIC;

-- The end client of this transaction's calls (an IP address or a device
-- id), as the application names it: SELECT set_config('ticket.client',
-- '<id>', true).  NULL: the call is its own client.
CREATE OR REPLACE FUNCTION client() RETURNS text
	AS 'MODULE_PATHNAME', 'ticket_client' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION client() IS 'the setting ticket.client (the end client of this transaction''s calls), NULL when empty; error TK073 when over 64 bytes';
REVOKE EXECUTE ON FUNCTION client() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION client() TO ticket_app, ticket_admin;

-- 12306 keeps Beijing time: days for the daily limits and departure times
-- for refund fees are Beijing's, whatever the session's time zone.
CREATE OR REPLACE FUNCTION beijing_now() RETURNS timestamp
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT now() AT TIME ZONE 'Asia/Shanghai' $$;
COMMENT ON FUNCTION beijing_now() IS 'the current time in Beijing (timetables, days and fees are in Beijing time)';
REVOKE EXECUTE ON FUNCTION beijing_now() FROM PUBLIC;

-- passengers ----------------------------------------------------------------

-- An 18-character resident ID: 6 digits of region, the birth date as
-- YYYYMMDD, 3 digits of sequence and a check character (ISO 7064 MOD 11-2:
-- weights 2^(17-i) mod 11, remainder mapped to 1 0 X 9 8 7 6 5 4 3 2).
CREATE OR REPLACE FUNCTION valid_resident_id(document_no text) RETURNS boolean
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
REVOKE EXECUTE ON FUNCTION valid_resident_id(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION valid_resident_id(text) TO ticket_app, ticket_admin;

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
GRANT SELECT ON passenger TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('passenger', '');
SELECT pg_catalog.pg_extension_config_dump('passenger_passenger_id_seq', '');

-- Passengers as a screen shows them, with the document number masked as
-- 12306 prints it: an 18-character ID card number keeps its first 6 and last
-- 4 characters (110105********002X); so does any number of 15 characters or
-- more, and a shorter one (a passport, a permit) keeps its first and last
-- character (E*******8).  A role that only shows passengers gets SELECT on this view
-- and nothing on ticket.passenger: the view reads the table with its owner's
-- rights, so the full numbers stay out of that role's reach.
CREATE VIEW passenger_masked AS
SELECT p.passenger_id, p.user_id, p.document_type,
	CASE WHEN length(p.document_no) >= 15
	     THEN left(p.document_no, 6) || repeat('*', length(p.document_no) - 10) || right(p.document_no, 4)
	     ELSE left(p.document_no, 1) || repeat('*', length(p.document_no) - 2) || right(p.document_no, 1)
	END AS document_no,
	p.name, p.passenger_type, p.created_at, p.removed_at
FROM passenger p;
COMMENT ON VIEW passenger_masked IS 'ticket.passenger with document numbers masked as 12306 shows them (110105********002X): for roles that display passengers and must not read identity numbers';
COMMENT ON COLUMN passenger_masked.document_no IS 'the document number masked: 15 characters or more keep the first 6 and last 4, shorter ones the first and last character';
GRANT SELECT ON passenger_masked TO ticket_admin, ticket_app;

-- passenger API -------------------------------------------------------------

CREATE OR REPLACE FUNCTION add_passenger(user_id bigint, document_no text, name text,
	passenger_type text DEFAULT 'adult', document_type text DEFAULT 'id_card') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	doc text := upper(regexp_replace(document_no, '\s', '', 'g'));
	kind text := lower(btrim(document_type));
	ptype text := lower(btrim(passenger_type));
	n integer;
	result bigint;
BEGIN
	PERFORM require_primary();
	IF user_id IS NULL OR document_no IS NULL OR coalesce(btrim(name), '') = '' THEN
		RAISE EXCEPTION 'user id, document number and name must be given' USING ERRCODE = 'TK017';
	END IF;
	-- the name is printed on the ticket as it is stored
	IF NOT valid_name(name, 100) THEN
		RAISE EXCEPTION 'invalid passenger name' USING ERRCODE = 'TK017',
			DETAIL = 'A name is at most 100 characters, without control characters.';
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
	PERFORM lock_xact('user', add_passenger.user_id);
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
COMMENT ON FUNCTION add_passenger(bigint, text, text, text, text) IS 'add a passenger to an account (ID card numbers are checked); returns its id; errors TK017 missing argument or a name over 100 characters or with control characters, TK040 invalid number, TK041 too many, TK052 already added, TK054 bad type';
REVOKE EXECUTE ON FUNCTION add_passenger(bigint, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION add_passenger(bigint, text, text, text, text) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION remove_passenger(user_id bigint, document_no text, document_type text DEFAULT 'id_card')
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	doc text := upper(regexp_replace(document_no, '\s', '', 'g'));
	pid bigint;
BEGIN
	PERFORM require_primary();
	PERFORM lock_xact('user', remove_passenger.user_id);
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
REVOKE EXECUTE ON FUNCTION remove_passenger(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION remove_passenger(bigint, text, text) TO ticket_app, ticket_admin;

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
GRANT SELECT ON user_day TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('user_day', '');

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
GRANT SELECT ON fare TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('fare', '');

-- The fare of a pair nobody loaded: the scheduled running time priced by
-- train kind and class (there are no distances in the timetable), rounded
-- to 0.5 yuan, at least 5 yuan.  Rates per hour come from G1 Beijing South -
-- Shanghai Hongqiao (4 h 28 min: 553 / 933 / 1748 yuan) and typical D and
-- conventional trains.  Without times, every leg counts as half an hour.
CREATE OR REPLACE FUNCTION default_fare(train_id integer, from_stop integer, to_stop integer, seat_class seat_class)
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
REVOKE EXECUTE ON FUNCTION default_fare(integer, integer, integer, seat_class) FROM PUBLIC;

CREATE OR REPLACE FUNCTION fare_of(train_id integer, from_stop integer, to_stop integer, seat_class seat_class)
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
REVOKE EXECUTE ON FUNCTION fare_of(integer, integer, integer, seat_class) FROM PUBLIC;

-- What a passenger pays: children and disabled soldiers half, students 75%
-- in second class and half on hard seats and hard sleepers (the classes
-- where 12306 grants a student fare), everyone else the full fare; rounded
-- to 0.5 yuan.
CREATE OR REPLACE FUNCTION passenger_price(full_fare numeric, passenger_type text, seat_class seat_class)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT (round(full_fare * CASE
		WHEN passenger_type IN ('child', 'disabled_soldier') THEN 0.5
		WHEN passenger_type = 'student' AND seat_class = 'second' THEN 0.75
		WHEN passenger_type = 'student' AND seat_class IN ('hard_seat', 'hard_sleeper') THEN 0.5
		ELSE 1 END * 2) / 2)::numeric(8, 1)
$$;
COMMENT ON FUNCTION passenger_price(numeric, text, seat_class) IS 'the price a passenger type pays for a full fare: child and disabled soldier 50%, student 75% in second class and 50% on hard seat and hard sleeper; rounded to 0.5 yuan';
REVOKE EXECUTE ON FUNCTION passenger_price(numeric, text, seat_class) FROM PUBLIC;

CREATE OR REPLACE FUNCTION set_fare(train text, from_station text, to_station text, seat_class text, price numeric)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	tid integer := ticket.train_id(train);
	cls ticket.seat_class := checked_seat_class(seat_class);
	a integer;
	b integer;
BEGIN
	PERFORM require_primary();
	-- (ticket.fare holds numeric(8, 1): under 10 million yuan)
	IF cls IS NULL OR price IS NULL OR price = 'NaN' OR price <= 0 OR price >= 10000000
	   OR price * 2 <> round(price * 2) THEN
		RAISE EXCEPTION 'invalid fare: % yuan in class %', price, seat_class USING ERRCODE = 'TK055',
			HINT = 'A fare is a positive number of yuan under 10 million in steps of 0.5, for a named class.';
	END IF;
	SELECT r.a, r.b INTO a, b FROM route_stops(tid, train, from_station, to_station) r;
	INSERT INTO fare AS f (train_id, from_stop, to_stop, seat_class, price) VALUES (tid, a, b, cls, set_fare.price)
	ON CONFLICT ON CONSTRAINT fare_pkey DO UPDATE SET price = excluded.price;
	RETURN price;
END
$$;
COMMENT ON FUNCTION set_fare(text, text, text, text, numeric) IS 'load the full adult fare of a train between two stations in a class (upsert); error TK055 unless a positive number of yuan under 10 million in steps of 0.5';
REVOKE EXECUTE ON FUNCTION set_fare(text, text, text, text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_fare(text, text, text, text, numeric) TO ticket_admin;

CREATE OR REPLACE FUNCTION fare(train text, from_station text, to_station text, seat_class text,
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
REVOKE EXECUTE ON FUNCTION fare(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fare(text, text, text, text, text) TO ticket_app, ticket_admin;

-- refund fees ---------------------------------------------------------------

CREATE TABLE refund_rule (
	before interval PRIMARY KEY,
	rate numeric NOT NULL CHECK (rate >= 0 AND rate <= 1)
);
COMMENT ON TABLE refund_rule IS 'refund fee rates by time left to departure (from "before" up to the next rule); empty means 12306''s table (see ticket.refund_fee)';
GRANT SELECT ON refund_rule TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('refund_rule', '');

CREATE OR REPLACE FUNCTION refund_fee(price numeric, time_left interval) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	rate numeric;
	fee numeric;
BEGIN
	IF price IS NULL OR time_left IS NULL THEN
		RETURN NULL;
	END IF;
	IF price = 'NaN' OR price < 0 OR price >= 10000000 THEN
		RAISE EXCEPTION 'invalid price: %', price USING ERRCODE = 'TK055',
			HINT = 'A price is 0 or more yuan, under 10 million.';
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
COMMENT ON FUNCTION refund_fee(numeric, interval) IS 'the fee kept when a ticket of this price is refunded this long before departure: 12306''s table (or ticket.refund_rule), rounded to 0.5 yuan, at least refund_min_fee; error TK055 for a price that is NaN, negative or 10 million or more';
REVOKE EXECUTE ON FUNCTION refund_fee(numeric, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund_fee(numeric, interval) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION set_refund_rule(before interval, rate numeric) RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM require_primary();
	IF before IS NULL OR rate IS NULL OR before < interval '0' OR rate < 0 OR rate > 1 THEN
		RAISE EXCEPTION 'invalid refund rule: % before departure, rate %', before, rate USING ERRCODE = 'TK055',
			HINT = 'A rule starts 0 or more before departure; a rate is between 0 and 1, e.g. 0.05 for 5%.';
	END IF;
	INSERT INTO refund_rule AS r VALUES (set_refund_rule.before, set_refund_rule.rate)
	ON CONFLICT ON CONSTRAINT refund_rule_pkey DO UPDATE SET rate = excluded.rate;
	RETURN rate;
END
$$;
COMMENT ON FUNCTION set_refund_rule(interval, numeric) IS 'set the refund fee rate from a time before departure on (the first rule replaces 12306''s built-in table); error TK055 for a negative time or a rate outside 0 to 1';
REVOKE EXECUTE ON FUNCTION set_refund_rule(interval, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_refund_rule(interval, numeric) TO ticket_admin;
