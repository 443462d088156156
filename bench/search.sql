-- Timings of ticket.search() and ticket.search_transfers() over the busiest
-- pairs of the real timetable (see doc/search.md).  Needs the timetable and
-- a day on sale:
--   psql -f demo/load_timetable.sql; psql -c "SELECT ticket.open_sales(date '2021-04-13')"
--   psql -f bench/search.sql
-- Each pair runs 5 times after one warm-up call; the median and worst are shown.
\set ON_ERROR_STOP 1
CREATE TEMP TABLE bench_pair (kind text, from_code text, to_code text, weight bigint);

-- direct: the station pairs served by the most trains
INSERT INTO bench_pair
SELECT 'direct', fs.code, ts.code, count(*)
FROM ticket.stop a JOIN ticket.stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
JOIN ticket.station fs ON fs.station_id = a.station_id
JOIN ticket.station ts ON ts.station_id = b.station_id
GROUP BY fs.code, ts.code ORDER BY count(*) DESC, 2, 3 LIMIT 5;

-- transfers: the pairs of busiest stations (trains leaving one times trains
-- reaching the other), both ways
INSERT INTO bench_pair
SELECT 'transfers', f.code, t.code, f.n * t.n
FROM (SELECT st.code, count(*) AS n FROM ticket.stop s JOIN ticket.station st USING (station_id)
      GROUP BY st.code ORDER BY count(*) DESC LIMIT 4) f,
     (SELECT st.code, count(*) AS n FROM ticket.stop s JOIN ticket.station st USING (station_id)
      GROUP BY st.code ORDER BY count(*) DESC LIMIT 4) t
WHERE f.code <> t.code;

CREATE TEMP TABLE bench_result (kind text, from_code text, to_code text, rows integer, ms double precision[]);
DO $$
DECLARE
	p record;
	t0 timestamptz;
	n integer;
	times double precision[];
BEGIN
	FOR p IN SELECT * FROM bench_pair ORDER BY kind, weight DESC LOOP
		times := '{}';
		FOR i IN 0..5 LOOP
			t0 := clock_timestamp();
			IF p.kind = 'direct' THEN
				SELECT count(*) INTO n FROM ticket.search(p.from_code, p.to_code, '2021-04-13');
			ELSE
				SELECT count(*) INTO n FROM ticket.search_transfers(p.from_code, p.to_code, '2021-04-13');
			END IF;
			IF i > 0 THEN
				times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
			END IF;
		END LOOP;
		INSERT INTO bench_result VALUES (p.kind, p.from_code, p.to_code, n, times);
	END LOOP;
END
$$;

SELECT r.kind, r.from_code || ' ' || fs.name AS from_station, r.to_code || ' ' || ts.name AS to_station, r.rows,
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(r.ms) x)::numeric, 1) AS median_ms,
       round((SELECT max(x) FROM unnest(r.ms) x)::numeric, 1) AS max_ms
FROM bench_result r
JOIN ticket.station fs ON fs.code = r.from_code JOIN ticket.station ts ON ts.code = r.to_code
ORDER BY r.kind, r.from_code, r.to_code;
