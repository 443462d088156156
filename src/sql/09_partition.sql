-- A partition behind the proxy (doc/scale-out.md) -------------------------------
--
-- With the ticket_proxy extension on a PL/Proxy database in front, every
-- partition is a database with this extension.  The timetable, fares,
-- settings and passengers are on every partition (the proxy fans their
-- calls out); a run, with its seat maps, orders, tickets, queue and
-- waitlist, lives on one: run_partition(train, date).  Ids of what a
-- partition sells carry its number in their top bits (id >> 48), so that
-- a call naming an order, a ticket, a queued request or a waitlist request
-- goes to its partition without a look-up.  A server that is no partition
-- (no row below) is partition 0 of 1: its ids are the ones it always had.

CREATE TABLE partition_state (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	partition_no integer NOT NULL DEFAULT 0,
	partitions integer NOT NULL DEFAULT 1,
	CHECK (partitions BETWEEN 1 AND 32768 AND partitions & (partitions - 1) = 0
	       AND partition_no >= 0 AND partition_no < partitions)
);
COMMENT ON TABLE partition_state IS 'this database as a partition behind ticket_proxy: its number and how many there are (a power of two); no row: partition 0 of 1';
GRANT SELECT ON partition_state TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('partition_state', '');

-- A sequence, not a column: pg_dump keeps its value, and restoring the
-- timetable (whose triggers move it) cannot collide with restoring it.
CREATE SEQUENCE partition_timetable_version_seq;
COMMENT ON SEQUENCE partition_timetable_version_seq IS 'the timetable version of this partition: statements that changed a replicated table (timetable, fares, settings, refund rules)';
GRANT SELECT ON partition_timetable_version_seq TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('partition_timetable_version_seq', '');

-- The routing rule, the same expression as ticket_proxy's: PostgreSQL's
-- hashtext of the train code (as ticket.train_id() normalises it), a slash
-- and the date as YYYY-MM-DD; PL/Proxy keeps the low bits (hash & (n - 1)).
CREATE OR REPLACE FUNCTION run_hash(train text, service_date date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT coalesce(hashtext(upper(btrim(train)) || '/' || to_char(service_date, 'YYYY-MM-DD')), 0)
$$;
COMMENT ON FUNCTION run_hash(text, date) IS 'the hash that places a run (train and date) on a partition: hashtext(upper(btrim(train)) || ''/'' || YYYY-MM-DD), 0 for a null; the partition is hash & (partitions - 1)';

CREATE OR REPLACE FUNCTION partition_info(OUT partition_no integer, OUT partitions integer,
	OUT timetable_version bigint, OUT timetable_digest text)
LANGUAGE sql STABLE SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT coalesce(p.partition_no, 0), coalesce(p.partitions, 1),
	       (SELECT CASE WHEN v.is_called THEN v.last_value ELSE 0 END FROM partition_timetable_version_seq v),
	       md5(concat_ws('|',
	           (SELECT string_agg(concat_ws(',', s.station_id, s.code, s.name, s.pinyin, s.city), ';' ORDER BY s.station_id) FROM station s),
	           (SELECT string_agg(concat_ws(',', t.train_id, t.code, t.n_stops), ';' ORDER BY t.train_id) FROM train t),
	           (SELECT string_agg(concat_ws(',', x.train_id, x.stop_no, x.station_id, x.arrive, x.depart), ';'
	                              ORDER BY x.train_id, x.stop_no) FROM stop x),
	           (SELECT string_agg(concat_ws(',', c.train_id, c.carriage_no, c.seat_class, c.seat_rows, c.layout), ';'
	                              ORDER BY c.train_id, c.carriage_no) FROM carriage c),
	           (SELECT count(*) || ',' || coalesce(max(s.seat_id), 0) FROM seat s),
	           (SELECT string_agg(f::text, ';' ORDER BY f::text) FROM fare f),
	           (SELECT string_agg(s::text, ';' ORDER BY s.name) FROM setting s),
	           (SELECT string_agg(r::text, ';' ORDER BY r::text) FROM refund_rule r)))
	FROM (SELECT 1) one LEFT JOIN partition_state p ON true
$$;
COMMENT ON FUNCTION partition_info() IS 'this partition''s number, the number of partitions, its timetable version and an md5 digest of the replicated tables (stations, trains, stops, carriages, seats, fares, settings, refund rules): equal on every partition that applied the same administration calls';
GRANT EXECUTE ON FUNCTION partition_info() TO ticket_admin, ticket_app;

CREATE OR REPLACE FUNCTION run_partition(train text, service_date date) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT run_hash(train, service_date) & (coalesce((SELECT p.partitions FROM partition_state p), 1) - 1)
$$;
COMMENT ON FUNCTION run_partition(text, date) IS 'the partition that owns a run: run_hash(train, date) & (partitions - 1)';

-- Every statement that changes a replicated table moves the version on:
-- partitions that applied the same calls have the same version, one that
-- missed one (it was down, or failed) is behind (ticket.check_partitions()
-- on the proxy compares them, and the digests).
CREATE OR REPLACE FUNCTION partition_timetable_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	PERFORM nextval('partition_timetable_version_seq');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION partition_timetable_changed() IS 'internal trigger: a replicated table (timetable, fares, settings, refund rules) changed, so this partition''s timetable version moves on';
REVOKE EXECUTE ON FUNCTION partition_timetable_changed() FROM PUBLIC;

CREATE TRIGGER station_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON station
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER train_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON train
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER stop_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stop
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER carriage_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON carriage
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER fare_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fare
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER setting_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON setting
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();
CREATE TRIGGER refund_rule_partition_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON refund_rule
	FOR EACH STATEMENT EXECUTE FUNCTION partition_timetable_changed();

-- Make this database partition partition_no of partitions: the sequences
-- of what it sells start at partition_no << 48 (2^48 ids each).  Only
-- before it sells anything, or again with the same number.
CREATE OR REPLACE FUNCTION set_partition(partition_no integer, partitions integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	cur record;
	base bigint;
	seq text;
BEGIN
	PERFORM require_primary();
	IF partitions IS NULL OR partition_no IS NULL OR partitions NOT BETWEEN 1 AND 32768
	   OR partitions & (partitions - 1) <> 0 OR partition_no NOT BETWEEN 0 AND partitions - 1 THEN
		RAISE EXCEPTION 'invalid partition: % of %', partition_no, partitions USING ERRCODE = 'TK091',
			HINT = 'Partitions are a power of two from 1 to 32768, numbered from 0.';
	END IF;
	SELECT * INTO cur FROM partition_info();
	IF cur.partition_no <> set_partition.partition_no
	   AND (EXISTS (SELECT 1 FROM run) OR EXISTS (SELECT 1 FROM orders) OR EXISTS (SELECT 1 FROM queue_request)
	        OR EXISTS (SELECT 1 FROM waitlist)) THEN
		RAISE EXCEPTION 'cannot make partition % the partition %: it has sales', cur.partition_no, partition_no
			USING ERRCODE = 'TK091',
			DETAIL = 'The ids of its runs, orders, tickets and requests carry the partition number.';
	END IF;
	INSERT INTO partition_state AS p (partition_no, partitions)
	VALUES (set_partition.partition_no, set_partition.partitions)
	ON CONFLICT ON CONSTRAINT partition_state_pkey
	DO UPDATE SET partition_no = excluded.partition_no, partitions = excluded.partitions;
	IF cur.partition_no <> set_partition.partition_no THEN
		base := set_partition.partition_no::bigint << 48;
		FOREACH seq IN ARRAY ARRAY['run_run_id_seq', 'orders_order_id_seq', 'tickets_ticket_id_seq',
		                           'queue_request_request_id_seq', 'waitlist_waitlist_id_seq'] LOOP
			EXECUTE format('ALTER SEQUENCE ticket.%I MINVALUE %s MAXVALUE %s START WITH %s RESTART',
				seq, base + 1, base + (1::bigint << 48) - 1, base + 1);
		END LOOP;
	END IF;
	RETURN partition_no;
END
$$;
COMMENT ON FUNCTION set_partition(integer, integer) IS 'make this database partition partition_no of partitions (a power of two) behind ticket_proxy: ids of its runs, orders, tickets, queued and waitlist requests start at partition_no << 48; error TK091 for a bad number or a partition that has sales under another number';
REVOKE EXECUTE ON FUNCTION set_partition(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_partition(integer, integer) TO ticket_admin;

-- open_sales(date) on one partition of many: the runs it owns.  The
-- checks and errors of open_sales(date) are on the whole timetable, so
-- every partition answers a bad date alike.
CREATE OR REPLACE FUNCTION open_sales_owned(service_date date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer := 0;
	today date := beijing_now()::date;
	me integer := (SELECT p.partition_no FROM partition_info() p);
	t record;
BEGIN
	PERFORM require_primary();
	PERFORM check_sales_day(service_date);
	FOR t IN
		SELECT x.code FROM train x
		WHERE EXISTS (SELECT 1 FROM seat s WHERE s.train_id = x.train_id)
		  AND run_partition(x.code, open_sales_owned.service_date) = me
		  AND (open_sales_owned.service_date > today OR NOT run_ended(x.train_id, open_sales_owned.service_date))
		ORDER BY x.train_id
	LOOP
		PERFORM open_sales(t.code, service_date);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION open_sales_owned(date) IS 'open_sales(date) for the runs this partition owns (run_partition); returns how many it opened; the errors of open_sales(date)';
REVOKE EXECUTE ON FUNCTION open_sales_owned(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION open_sales_owned(date) TO ticket_admin;

-- People across partitions ---------------------------------------------------------
--
-- On one node, tickets_one_place_at_a_time keeps a person (document type
-- and number) from holding two live tickets that overlap in time.  Behind
-- the proxy two runs can be on two partitions, so the proxy keeps a ledger
-- of each person's trips on the partition that owns the document key
-- (hashtext(document_key) & (n - 1)), under the same kind of exclusion
-- constraint, and reserves there before it holds the seat (doc/scale-out.md):
--
--   held       reserved for a grab; lapses at live_until (past the hold's deadline)
--   paying     the order is being paid: never lapses; settled from the order's status
--   paid       the ticket is paid: for good, until released
--   releasing  the ticket is being refunded: still blocks; settled from the order's status
--   released   no longer counts
--
-- A held row whose grab never came back (the proxy or a partition died)
-- lapses by itself; paying and releasing rows are settled by the next call
-- on their order or by ticket.expire_holds() on the proxy, from the status
-- of the order's tickets, so none stays unsettled longer than a hold.
CREATE TABLE person_trip (
	trip_id bigserial PRIMARY KEY,
	document_key text NOT NULL,
	travel tsrange NOT NULL,
	token text NOT NULL,
	order_id bigint,
	state text NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'paying', 'paid', 'releasing', 'released')),
	live_until timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT person_trip_one_place_at_a_time EXCLUDE USING gist
		(document_key WITH =, travel WITH &&) WHERE (state <> 'released')
);
CREATE INDEX person_trip_order_idx ON person_trip (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX person_trip_unsettled_idx ON person_trip (created_at) WHERE state IN ('paying', 'releasing');
COMMENT ON TABLE person_trip IS 'behind ticket_proxy: the trips of the people whose document key this partition owns, whatever partition their run is on; rows not released never overlap for one person';
COMMENT ON COLUMN person_trip.token IS 'the grab that reserved the trip (chosen by the proxy)';
COMMENT ON COLUMN person_trip.live_until IS 'a held trip lapses then (the hold''s deadline and a margin); paying, paid and releasing ones do not';
GRANT SELECT ON person_trip TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('person_trip', '');
SELECT pg_catalog.pg_extension_config_dump('person_trip_trip_id_seq', '');

-- What a grab with passengers would reserve: the people's document keys and
-- the time of the journey.  NULLs when the request is wrong in any way: the
-- grab itself then raises what one node raises.
CREATE OR REPLACE FUNCTION trip_plan(user_id bigint, passengers text[], train text, service_date date,
	from_station text, to_station text, OUT document_keys text[], OUT travel tsrange)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	j record;
BEGIN
	SELECT * INTO j FROM journey(train, service_date, from_station, to_station);
	SELECT p.document_keys INTO document_keys FROM named_passengers(user_id, passengers) p;
	travel := travel_time(j.train_id, service_date, j.legs);
EXCEPTION WHEN OTHERS THEN
	document_keys := NULL;
	travel := NULL;
END
$$;
COMMENT ON FUNCTION trip_plan(bigint, text[], text, date, text, text) IS 'behind ticket_proxy: the document keys of an account''s passengers and the travel time of a journey, for the person ledger; NULLs if the request is wrong (the grab raises the error)';
REVOKE EXECUTE ON FUNCTION trip_plan(bigint, text[], text, date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trip_plan(bigint, text[], text, date, text, text) TO ticket_app, ticket_admin;

-- Reserve the trip of people whose key this partition owns; TK043 (as one
-- node says it) when one of them already travels then.  Held rows that
-- lapsed are released first.  Again with the same token: nothing more.
-- Every write of the ledger takes its people's locks first, in key order:
-- two calls for one person (a reservation and a payment's set_trips, say)
-- then take turns instead of waiting for each other's uncommitted rows in
-- the exclusion check, which PostgreSQL breaks as a deadlock.
CREATE OR REPLACE FUNCTION lock_people(document_keys text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	k text;
BEGIN
	FOR k IN SELECT DISTINCT x FROM unnest(document_keys) x WHERE x IS NOT NULL ORDER BY x LOOP
		PERFORM lock_xact('person', hashtextextended('ledger ' || k, 0));
	END LOOP;
END
$$;
COMMENT ON FUNCTION lock_people(text[]) IS 'internal, behind ticket_proxy: lock the ledger''s people (document keys) in key order until the end of the transaction';
REVOKE EXECUTE ON FUNCTION lock_people(text[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION reserve_trips(document_keys text[], travel tsrange, token text, live_until timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer;
	clash record;
BEGIN
	PERFORM require_primary();
	PERFORM lock_people(document_keys);
	UPDATE person_trip p SET state = 'released'
	WHERE p.document_key = ANY (document_keys) AND p.state = 'held' AND p.live_until <= now()
	  AND p.travel && reserve_trips.travel;
	BEGIN
		INSERT INTO person_trip (document_key, travel, token, live_until)
		SELECT k, reserve_trips.travel, reserve_trips.token, reserve_trips.live_until
		FROM unnest(document_keys) k
		WHERE NOT EXISTS (SELECT 1 FROM person_trip p WHERE p.document_key = k AND p.token = reserve_trips.token
		                  AND p.state <> 'released');
		GET DIAGNOSTICS n = ROW_COUNT;
	EXCEPTION WHEN exclusion_violation THEN
		SELECT p.order_id, p.travel INTO clash FROM person_trip p
		WHERE p.document_key = ANY (document_keys) AND p.state <> 'released' AND p.travel && reserve_trips.travel
		LIMIT 1;
		RAISE EXCEPTION 'a passenger is already travelling then' USING ERRCODE = 'TK043',
			DETAIL = format('Order %s covers %s.', coalesce(clash.order_id::text, '(being made)'), clash.travel);
	END;
	RETURN n;
END
$$;
COMMENT ON FUNCTION reserve_trips(text[], tsrange, text, timestamptz) IS 'behind ticket_proxy: reserve a trip for people this partition owns until live_until; TK043 if one of them travels then';
REVOKE EXECUTE ON FUNCTION reserve_trips(text[], tsrange, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reserve_trips(text[], tsrange, text, timestamptz) TO ticket_app, ticket_admin;

-- The people of an order, on the run's partition: their keys, trips and
-- what their tickets say now (held past the deadline counts as gone).
CREATE OR REPLACE FUNCTION order_people(order_id bigint, ticket_id bigint DEFAULT NULL)
RETURNS TABLE (of_order bigint, document_key text, travel tsrange, trip_state text, hold_until timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT t.order_id, t.document_key, t.travel,
	       CASE WHEN t.status = 'paid' THEN 'paid'
	            WHEN t.status = 'held' AND t.hold_until > now() THEN 'held'
	            ELSE 'released' END,
	       t.hold_until
	FROM tickets t
	WHERE t.order_id = coalesce(order_people.order_id,
	                            (SELECT x.order_id FROM tickets x WHERE x.ticket_id = order_people.ticket_id))
	  AND t.document_key IS NOT NULL
	ORDER BY t.ticket_id
$$;
COMMENT ON FUNCTION order_people(bigint, bigint) IS 'behind ticket_proxy: the people of an order (or of the order of a ticket): document key, travel time and the state of their trips as their tickets say (held, paid or released)';
REVOKE EXECUTE ON FUNCTION order_people(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION order_people(bigint, bigint) TO ticket_app, ticket_admin;

-- Move the trips of an order's people (owned here) to a state:
--   held/paid/released   settled, as the order's tickets say (live_until: the hold's deadline for held)
--   paying               before a payment: the trip must be there, found by order, or by
--                        key and time among trips held for no order yet, or reserved anew
--                        (TK043 if another trip took the time)
--   releasing            before a refund
CREATE OR REPLACE FUNCTION set_trips(document_keys text[], travels tsrange[], order_id bigint, states text[],
	live_until timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer := 0;
	k integer;
	tid bigint;
BEGIN
	PERFORM require_primary();
	PERFORM lock_people(document_keys);
	FOR i IN 1 .. coalesce(cardinality(document_keys), 0) LOOP
		SELECT p.trip_id INTO tid FROM person_trip p
		WHERE p.document_key = document_keys[i] AND p.order_id = set_trips.order_id AND p.state <> 'released'
		FOR UPDATE;
		IF NOT FOUND AND states[i] IN ('paying', 'held', 'paid') THEN
			-- reserved by a grab whose answer never came back: adopt it
			SELECT p.trip_id INTO tid FROM person_trip p
			WHERE p.document_key = document_keys[i] AND p.travel = travels[i] AND p.order_id IS NULL
			  AND p.state = 'held'
			ORDER BY p.trip_id DESC LIMIT 1 FOR UPDATE;
		END IF;
		IF tid IS NULL AND states[i] IN ('paying', 'held', 'paid') THEN
			PERFORM reserve_trips(ARRAY[document_keys[i]], travels[i], 'order ' || set_trips.order_id, live_until);
			SELECT p.trip_id INTO tid FROM person_trip p
			WHERE p.document_key = document_keys[i] AND p.token = 'order ' || set_trips.order_id AND p.state = 'held';
		END IF;
		IF tid IS NOT NULL THEN
			UPDATE person_trip p SET order_id = set_trips.order_id, state = states[i],
				live_until = CASE WHEN states[i] = 'held' THEN set_trips.live_until ELSE 'infinity' END
			WHERE p.trip_id = tid;
			GET DIAGNOSTICS k = ROW_COUNT;
			n := n + k;
		END IF;
		tid := NULL;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION set_trips(text[], tsrange[], bigint, text[], timestamptz) IS 'behind ticket_proxy: move the trips of an order''s people (owned here) to held, paying, paid, releasing or released; a trip to pay for is found or reserved anew (TK043 if taken)';
REVOKE EXECUTE ON FUNCTION set_trips(text[], tsrange[], bigint, text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_trips(text[], tsrange[], bigint, text[], timestamptz) TO ticket_app, ticket_admin;

-- Give back the trips a grab reserved when it failed (a compensating call).
CREATE OR REPLACE FUNCTION release_trips(document_keys text[], token text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	PERFORM require_primary();
	PERFORM lock_people(document_keys);
	UPDATE person_trip p SET state = 'released'
	WHERE p.document_key = ANY (document_keys) AND p.token = release_trips.token AND p.state = 'held'
	  AND p.order_id IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION release_trips(text[], text) IS 'behind ticket_proxy: release the trips a failed grab reserved (its token), for no order';
REVOKE EXECUTE ON FUNCTION release_trips(text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION release_trips(text[], text) TO ticket_app, ticket_admin;

CREATE OR REPLACE FUNCTION unsettled_trips() RETURNS TABLE (order_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ticket, pg_catalog, pg_temp AS $$
	SELECT DISTINCT p.order_id FROM person_trip p
	WHERE p.state IN ('paying', 'releasing') AND p.order_id IS NOT NULL
	ORDER BY 1
$$;
COMMENT ON FUNCTION unsettled_trips() IS 'behind ticket_proxy: orders whose people''s trips wait to be settled (paying or releasing)';
REVOKE EXECUTE ON FUNCTION unsettled_trips() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION unsettled_trips() TO ticket_admin;
