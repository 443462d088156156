-- ticket_proxy: the ticket API on a PL/Proxy database (doc/scale-out.md) ------
--
-- The application connects here instead of to one node and calls the same
-- names (ticket.grab, ticket.remaining, ...) with the same arguments,
-- results and SQLSTATEs.  Each call goes to the partitions of the PL/Proxy
-- cluster 'ticket':
--
--   CREATE SERVER ticket FOREIGN DATA WRAPPER plproxy
--       OPTIONS (p0 'dbname=... host=...', p1 '...', ...);   -- a power of two
--   CREATE USER MAPPING FOR PUBLIC SERVER ticket OPTIONS (user '...');
--   GRANT USAGE ON FOREIGN SERVER ticket TO ticket_app, ticket_admin;
--   SELECT ticket.init_partitions();   -- once, before any sales
--
-- every partition being a database with CREATE EXTENSION ticket CASCADE.
-- Routing (deterministic, the same expression on both sides):
--
--   a run (train, date)       hashtext(upper(btrim(train)) || '/' || YYYY-MM-DD) & (n - 1)
--   an order, ticket, queued or waitlist request   (id >> 48) & (n - 1): ids carry their partition
--   the timetable, fares, settings, passengers     every partition (RUN ON ALL), answers compared
--   searches                  every partition, merged (the run's own partition gives its seats)
--
-- Schema ticket holds the API; schema ticket_proxy the routing helpers and
-- the fan-out calls behind the API functions that merge answers.  Adding a
-- forwarded function is one block: a LANGUAGE plproxy function of the same
-- name and signature with CLUSTER 'ticket' and the RUN ON of its key.

CREATE SCHEMA ticket;
CREATE SCHEMA ticket_proxy;
SET LOCAL search_path = ticket, pg_catalog;
COMMENT ON SCHEMA ticket IS 'ticket over PL/Proxy: the API of the ticket extension, each call routed to the partitions that hold its data';
COMMENT ON SCHEMA ticket_proxy IS 'ticket_proxy internals: routing and the fan-out calls behind merged answers';

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
GRANT USAGE ON SCHEMA ticket TO ticket_admin, ticket_app;
GRANT USAGE ON SCHEMA ticket_proxy TO ticket_admin, ticket_app;

-- types: the results of the API, column for column.  segrange is the
-- partitions' type of a journey's legs; here its text ('[0,3)'), as a
-- domain of that name, so a result prints and parses as on one node.
CREATE DOMAIN segrange AS text;
COMMENT ON DOMAIN segrange IS 'legs of a journey as the partitions print them ([from stop, to stop)); text on the proxy';

CREATE TYPE booking AS (
	order_id bigint, carriage integer, seat_no text, seat_class text, legs segrange,
	hold_until timestamptz, status text);
COMMENT ON TYPE booking IS 'an order as ticket.grab() returns it';

CREATE TYPE passenger_booking AS (
	order_id bigint, ticket_id bigint, passenger text, passenger_type text, carriage integer,
	seat_no text, seat_class text, legs segrange, departs timestamp, arrives timestamp,
	price numeric, total numeric, hold_until timestamptz, status text, placement text,
	seats_as_asked boolean);
COMMENT ON TYPE passenger_booking IS 'a ticket of an order with passengers, as ticket.grab() with passengers returns it';

CREATE TYPE refund_result AS (ticket_id bigint, price numeric, fee numeric, refunded numeric);
COMMENT ON TYPE refund_result IS 'a refunded ticket: its price, the fee kept and the amount paid back';

CREATE TYPE change_result AS (
	old_ticket_id bigint, ticket_id bigint, order_id bigint, carriage integer, seat_no text,
	seat_class text, legs segrange, departs timestamp, arrives timestamp, old_price numeric,
	price numeric, fee numeric, to_pay numeric);
COMMENT ON TYPE change_result IS 'a ticket change: the new ticket and seat, both prices, the fee kept and what the passenger pays';

CREATE TYPE queue_entry AS (request_id bigint, queue_position bigint, ahead bigint, status text);
COMMENT ON TYPE queue_entry IS 'a queued request as ticket.enqueue() returns it';

-- routing ----------------------------------------------------------------------

CREATE FUNCTION ticket_proxy.run_hash(train text, service_date date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT coalesce(pg_catalog.hashtext(pg_catalog.upper(pg_catalog.btrim(train)) || '/'
	                || pg_catalog.to_char(service_date, 'YYYY-MM-DD')), 0)
$$;
COMMENT ON FUNCTION ticket_proxy.run_hash(text, date) IS 'the hash that places a run on a partition (as ticket.run_hash on the partitions): PL/Proxy runs the call on partition hash & (n - 1)';

CREATE FUNCTION ticket_proxy.id_hash(id bigint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT coalesce((id >> 48)::integer, 0)
$$;
COMMENT ON FUNCTION ticket_proxy.id_hash(bigint) IS 'the partition an id of an order, ticket, queued or waitlist request was made on: its top bits (id >> 48)';

CREATE FUNCTION ticket_proxy.partitions() RETURNS integer
LANGUAGE sql STABLE AS $$
	SELECT count(*)::integer FROM pg_catalog.pg_foreign_server s, pg_catalog.unnest(s.srvoptions) o
	WHERE s.srvname = 'ticket' AND o ~ '^p[0-9]+='
$$;
COMMENT ON FUNCTION ticket_proxy.partitions() IS 'the number of partitions of the cluster ticket (its server''s p0, p1, ... options)';

CREATE FUNCTION ticket.run_partition(train text, service_date date) RETURNS integer
LANGUAGE sql STABLE AS $$
	SELECT ticket_proxy.run_hash(train, service_date) & (ticket_proxy.partitions() - 1)
$$;
COMMENT ON FUNCTION ticket.run_partition(text, date) IS 'the partition (0 to n - 1) that owns a run: run_hash(train, date) & (n - 1)';

CREATE FUNCTION ticket.id_partition(id bigint) RETURNS integer
LANGUAGE sql STABLE AS $$
	SELECT ticket_proxy.id_hash(id) & (ticket_proxy.partitions() - 1)
$$;
COMMENT ON FUNCTION ticket.id_partition(bigint) IS 'the partition (0 to n - 1) that holds an order, ticket, queued or waitlist request: (id >> 48) & (n - 1)';

-- Reads that may run on a standby (doc/scale-out.md): when a second
-- cluster named ticket_ro exists (its p0, p1, ... the partitions' hot
-- standbys, in the same order), remaining, remaining_matrix, search,
-- search_transfers and fare go there; without it, to the primaries.
CREATE FUNCTION ticket_proxy.read_cluster() RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server s WHERE s.srvname = 'ticket_ro')
	            THEN 'ticket_ro' ELSE 'ticket' END
$$;
COMMENT ON FUNCTION ticket_proxy.read_cluster() IS 'the PL/Proxy cluster of the read-only calls: ticket_ro (the standbys) if it exists, else ticket';

-- one answer from many: every partition must have given the same
CREATE FUNCTION ticket_proxy.agreed(answers anyarray, what text) RETURNS anyelement
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF (SELECT count(DISTINCT a) + (bool_or(a IS NULL) AND bool_or(a IS NOT NULL))::integer
	    FROM pg_catalog.unnest(answers) a) > 1 THEN
		RAISE EXCEPTION 'partitions disagree on %: %', what, answers::text USING ERRCODE = 'TK092',
			HINT = 'Compare them with ticket.check_partitions().';
	END IF;
	RETURN answers[1];
END
$$;
COMMENT ON FUNCTION ticket_proxy.agreed(anyarray, text) IS 'internal: the one answer every partition gave to a fanned-out call; TK092 if they differ';

-- setting up and checking the partitions ----------------------------------------

CREATE FUNCTION ticket_proxy.set_partition(partition_no integer, partitions integer) RETURNS integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON partition_no;
	TARGET ticket.set_partition;
$$;
COMMENT ON FUNCTION ticket_proxy.set_partition(integer, integer) IS 'internal: ticket.set_partition on partition partition_no';

CREATE FUNCTION ticket.init_partitions() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n integer := ticket_proxy.partitions();
BEGIN
	IF n < 1 OR n & (n - 1) <> 0 THEN
		RAISE EXCEPTION 'the cluster ticket has % partitions', n USING ERRCODE = 'TK091',
			HINT = 'CREATE SERVER ticket FOREIGN DATA WRAPPER plproxy OPTIONS (p0 ''...'', p1 ''...'', ...), a power of two.';
	END IF;
	FOR p IN 0 .. n - 1 LOOP
		PERFORM ticket_proxy.set_partition(p, n);
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION ticket.init_partitions() IS 'number every partition of the cluster ticket (ticket.set_partition(p, n) on partition p): once, before the first sale; returns n; error TK091 unless n is a power of two';
REVOKE EXECUTE ON FUNCTION ticket.init_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.init_partitions() TO ticket_admin;

CREATE FUNCTION ticket_proxy.partition_info(OUT partition_no integer, OUT partitions integer,
	OUT timetable_version bigint, OUT timetable_digest text)
RETURNS SETOF record
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.partition_info;
$$;
COMMENT ON FUNCTION ticket_proxy.partition_info() IS 'internal: ticket.partition_info() of every partition';

CREATE FUNCTION ticket.check_partitions(OUT partition_no integer, OUT partitions integer,
	OUT timetable_version bigint, OUT timetable_digest text, OUT in_step boolean)
RETURNS SETOF record
LANGUAGE sql AS $$
	WITH p AS (SELECT * FROM ticket_proxy.partition_info()),
	best AS (SELECT p.timetable_version, p.timetable_digest, count(*) AS n FROM p
	         GROUP BY 1, 2 ORDER BY n DESC, p.timetable_version DESC LIMIT 1)
	SELECT p.partition_no, p.partitions, p.timetable_version, p.timetable_digest,
	       p.timetable_version = b.timetable_version AND p.timetable_digest = b.timetable_digest
	       AND p.partitions = ticket_proxy.partitions()
	FROM p, best b
	ORDER BY p.partition_no
$$;
COMMENT ON FUNCTION ticket.check_partitions() IS 'every partition''s number, partition count, timetable version and digest; in_step is false for one that differs from the most (missed or failed an administration call) or was not numbered by ticket.init_partitions()';
REVOKE EXECUTE ON FUNCTION ticket.check_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.check_partitions() TO ticket_admin;
