-- Timings of ticket.search() and ticket.search_transfers() over the busiest
-- pairs of the real timetable (see doc/search.md).  Needs the timetable and
-- a day on sale; from the project's top directory:
--   psql -f demo/load_timetable.sql
--   psql -c "SELECT ticket.open_sales(date '2032-04-13')"
--   psql -f bench/search.sql
-- Every pair runs once to warm up, then :runs times (default 5); the median
-- and the worst are shown in milliseconds.  Set :stations (default 8) to
-- time transfers between more of the busiest stations, :day (default
-- 2032-04-13) to search another day on sale (open_sales() takes no date
-- whose runs have ended, so the timetable's own 2021-04-13 cannot be).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\if :{?runs}
\else
\set runs 5
\endif
\if :{?stations}
\else
\set stations 8
\endif
\if :{?day}
\else
\set day 2032-04-13
\endif
DROP TABLE IF EXISTS pg_temp.bench_pair, pg_temp.bench_result;
CREATE TEMP TABLE bench_pair (kind text, from_code text, to_code text);

-- direct: the station pairs served by the most trains
INSERT INTO bench_pair
SELECT 'direct', fs.code, ts.code
FROM ticket.stop a JOIN ticket.stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
JOIN ticket.station fs ON fs.station_id = a.station_id
JOIN ticket.station ts ON ts.station_id = b.station_id
GROUP BY fs.code, ts.code ORDER BY count(*) DESC, 2, 3 LIMIT 5;

-- transfers: every ordered pair of the stations most trains call at
WITH busiest AS (
	SELECT st.code FROM ticket.stop s JOIN ticket.station st USING (station_id)
	GROUP BY st.code ORDER BY count(*) DESC, st.code LIMIT :stations)
INSERT INTO bench_pair
SELECT 'transfers', f.code, t.code FROM busiest f, busiest t WHERE f.code <> t.code;

CREATE TEMP TABLE bench_result (kind text, from_code text, to_code text, rows integer, ms double precision[]);
SELECT set_config('bench.runs', :'runs', false), set_config('bench.day', :'day', false);
DO $$
DECLARE
	p record;
	t0 timestamptz;
	n integer;
	times double precision[];
BEGIN
	FOR p IN SELECT * FROM bench_pair LOOP
		times := '{}';
		FOR i IN 0..current_setting('bench.runs')::integer LOOP
			t0 := clock_timestamp();
			IF p.kind = 'direct' THEN
				SELECT count(*) INTO n FROM ticket.search(p.from_code, p.to_code, current_setting('bench.day')::date);
			ELSE
				SELECT count(*) INTO n FROM ticket.search_transfers(p.from_code, p.to_code, current_setting('bench.day')::date);
			END IF;
			IF i > 0 THEN
				times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
			END IF;
		END LOOP;
		INSERT INTO bench_result VALUES (p.kind, p.from_code, p.to_code, n, times);
	END LOOP;
END
$$;

CREATE TEMP VIEW bench_summary AS
SELECT r.kind, r.from_code || ' ' || fs.name AS from_station, r.to_code || ' ' || ts.name AS to_station, r.rows,
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(r.ms) x)::numeric, 1) AS median_ms,
       round((SELECT max(x) FROM unnest(r.ms) x)::numeric, 1) AS max_ms
FROM bench_result r
JOIN ticket.station fs ON fs.code = r.from_code JOIN ticket.station ts ON ts.code = r.to_code;

-- the direct pairs, and the slowest transfer pairs
(SELECT * FROM bench_summary WHERE kind = 'direct' ORDER BY median_ms DESC)
UNION ALL
(SELECT * FROM bench_summary WHERE kind = 'transfers' ORDER BY median_ms DESC LIMIT 8);
SELECT kind, count(*) AS pairs, max(median_ms) AS worst_median_ms, max(max_ms) AS worst_ms,
       round(avg(median_ms), 1) AS mean_median_ms
FROM bench_summary GROUP BY kind ORDER BY kind;
