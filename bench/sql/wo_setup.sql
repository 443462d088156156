-- WO, overload and the breaker (issue 14, item 5): W2's hot run (load
-- sql/w2_setup.sql first) with a journey-search load beside it.  The search
-- load is one-change itineraries between two stations whose trains meet at
-- twenty stations: 40 trains leave XBA through XAA..XAT, 40 more run
-- through XAA..XAT to XBB, every ten minutes, so search_transfers('XBA',
-- 'XBB') pairs tens of thousands of candidate connections, as between the
-- busiest stations of the real timetable (doc/search.md, Speed).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT count(ticket.add_station(c, c)) AS search_stations
FROM (SELECT 'XA' || chr(65 + i) FROM generate_series(0, 19) i UNION ALL VALUES ('XBA'), ('XBB')) s(c);
-- K2001..K2040: XBA 06:00 + 10 min x t, then a stop every 20 minutes
SELECT count(ticket.add_train('K' || (2000 + t),
	ARRAY['XBA'] || ARRAY(SELECT 'XA' || chr(65 + i) FROM generate_series(0, 19) i ORDER BY i),
	ARRAY[NULL::interval] || ARRAY(SELECT interval '6 hours' + (t * 10 + (i + 1) * 20 - 2) * interval '1 minute'
	                               FROM generate_series(0, 19) i ORDER BY i),
	ARRAY(SELECT interval '6 hours' + (t * 10 + i * 20) * interval '1 minute' FROM generate_series(0, 19) i ORDER BY i)
		|| NULL::interval)) AS feeder_trains
FROM generate_series(1, 40) t;
-- K3001..K3040: XAA 07:00 + 10 min x t, a stop every 20 minutes, then XBB
SELECT count(ticket.add_train('K' || (3000 + t),
	ARRAY(SELECT 'XA' || chr(65 + i) FROM generate_series(0, 19) i ORDER BY i) || ARRAY['XBB'],
	ARRAY[NULL::interval] || ARRAY(SELECT interval '7 hours' + (t * 10 + i * 20 - 2) * interval '1 minute'
	                               FROM generate_series(1, 20) i ORDER BY i),
	ARRAY(SELECT interval '7 hours' + (t * 10 + i * 20) * interval '1 minute' FROM generate_series(0, 19) i ORDER BY i)
		|| NULL::interval)) AS onward_trains
FROM generate_series(1, 40) t;

-- the search load's client: one search_transfers call; a degraded answer
-- (TK081) is counted and the client backs off 100 ms before it asks again,
-- as an application told "try later" would.  Once W2's clients are done
-- (bench.wo_stop), the client ends with BX001.
CREATE TABLE bench.wo_stop (stop boolean NOT NULL);
INSERT INTO bench.wo_stop VALUES (false);
CREATE UNLOGGED TABLE bench.wo_search_log (outcome text NOT NULL, ms double precision NOT NULL);
CREATE FUNCTION bench.wo_search() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	started timestamptz := clock_timestamp();
	n integer;
	outcome text;
BEGIN
	IF (SELECT stop FROM bench.wo_stop) THEN
		RAISE EXCEPTION 'bench wo: the grabs are done, this client stops' USING ERRCODE = 'BX001';
	END IF;
	BEGIN
		SELECT count(*) INTO n FROM ticket.search_transfers('XBA', 'XBB', DATE '2030-01-01');
		outcome := 'answered';
	EXCEPTION WHEN SQLSTATE 'TK081' THEN
		outcome := 'degraded';
	END;
	INSERT INTO bench.wo_search_log VALUES (outcome, extract(epoch FROM clock_timestamp() - started) * 1000);
	IF outcome = 'degraded' THEN
		PERFORM pg_sleep(0.1);
	END IF;
	RETURN outcome;
END
$$;
GRANT SELECT ON bench.wo_stop TO bench_app;
GRANT INSERT ON bench.wo_search_log TO bench_app;
