-- Load the China Railway timetable of 2021-04-13 (demo/data, see SOURCE.md)
-- through the administration API, and give every train its default layout.
-- Run with psql from the project's top directory:
--   psql -v ON_ERROR_STOP=1 -f demo/load_timetable.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE TEMP TABLE cr_station (code text, name text, pinyin text);
CREATE TEMP TABLE cr_stop (train_code text, stop_no integer, code text, arrive_s integer, depart_s integer);
\copy cr_station FROM 'demo/data/stations.tsv'
\copy cr_stop FROM 'demo/data/stops.tsv'

SELECT count(ticket.add_station(code, name, pinyin)) AS stations FROM cr_station;

SELECT count(ticket.add_train(train_code, stops, arrivals, departures)) AS trains
FROM (SELECT train_code,
             array_agg(code ORDER BY stop_no) AS stops,
             array_agg(make_interval(secs => arrive_s) ORDER BY stop_no) AS arrivals,
             array_agg(make_interval(secs => depart_s) ORDER BY stop_no) AS departures
      FROM cr_stop GROUP BY train_code) routes;

SELECT sum(ticket.add_default_layout(code)) AS seats FROM ticket.train;
