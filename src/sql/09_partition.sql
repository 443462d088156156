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
	timetable_version bigint NOT NULL DEFAULT 0,
	CHECK (partitions BETWEEN 1 AND 32768 AND partitions & (partitions - 1) = 0
	       AND partition_no >= 0 AND partition_no < partitions)
);
COMMENT ON TABLE partition_state IS 'this database as a partition behind ticket_proxy: its number, how many there are (a power of two) and the timetable version (statements that changed the replicated tables); no row: partition 0 of 1, version 0';
GRANT SELECT ON partition_state TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('partition_state', '');

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
	SELECT coalesce(p.partition_no, 0), coalesce(p.partitions, 1), coalesce(p.timetable_version, 0),
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
LANGUAGE plpgsql SET search_path = ticket, pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO partition_state AS p (timetable_version) VALUES (1)
	ON CONFLICT ON CONSTRAINT partition_state_pkey DO UPDATE SET timetable_version = p.timetable_version + 1;
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
	IF service_date IS NULL THEN
		RAISE EXCEPTION 'service date must not be null' USING ERRCODE = 'TK017';
	END IF;
	IF NOT isfinite(service_date) OR service_date > date '9999-12-31' THEN
		RAISE EXCEPTION 'invalid service date: %', service_date USING ERRCODE = 'TK017',
			DETAIL = 'A service date is a date up to 9999-12-31.';
	END IF;
	IF service_date < today AND NOT EXISTS (
		SELECT 1 FROM train x
		WHERE EXISTS (SELECT 1 FROM seat s WHERE s.train_id = x.train_id) AND NOT run_ended(x.train_id, service_date)) THEN
		RAISE EXCEPTION 'cannot open sales on %: every run of that date has ended', service_date
			USING ERRCODE = 'TK017', DETAIL = 'Every train has reached its last stop (Beijing time).';
	END IF;
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
