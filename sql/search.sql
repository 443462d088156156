-- Journey search (1.3) on the real China Railway timetable of 2021-04-13:
-- direct trains, one-change itineraries, cities, errors, and seat counts
-- that agree with ticket.remaining().  Its trains run on 2032-04-13, a
-- Tuesday as 2021-04-13 was: open_sales() takes no date whose runs have
-- ended.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket;
CREATE EXTENSION ticket CASCADE;
RESET client_min_messages;
\i test/regress_helpers.sql

-- the timetable through the API (this leaves the raw rows in the temporary
-- tables cr_station and cr_stop, which the checks below compare with)
\i demo/load_timetable.sql
\set ON_ERROR_STOP 0
SELECT ticket.open_sales(date '2032-04-13') AS runs_open;
SET search_path = ticket, public;

-- the raw timetable as timestamps of a service date, straight from
-- demo/data/stops.tsv, independent of the code under test
CREATE TEMP VIEW raw_stop AS
SELECT train_code, code, stop_no,
       timestamp '2032-04-13' + make_interval(secs => arrive_s) AS arrive_ts,
       timestamp '2032-04-13' + make_interval(secs => depart_s) AS depart_ts
FROM cr_stop;

-- direct --------------------------------------------------------------------

-- K48 Hangzhou - Qiqihar: 49 stops over three days; the only train
SELECT train, run_date, from_station_code, to_station_code, departure, arrival, duration, sales, remaining
FROM search('HZH', 'QHX', '2032-04-13');
-- by name too, and the times are those of stops.tsv
SELECT s.departure = f.depart_ts AS departure_ok, s.arrival = t.arrive_ts AS arrival_ok,
       s.duration = t.arrive_ts - f.depart_ts AS duration_ok
FROM search('杭州', '齐齐哈尔', '2032-04-13') s
JOIN raw_stop f ON f.train_code = 'K48' AND f.code = 'HZH'
JOIN raw_stop t ON t.train_code = 'K48' AND t.code = 'QHX';

-- between intermediate stops: 晏城 is left on day 1 of K48's run, so a
-- traveller leaving there on the 14th rides the run of the 13th
SELECT train, run_date, departure, arrival, duration, sales, remaining
FROM search('YEK', 'XZT', '2032-04-14');
-- and on the 13th the train there is the run of the 12th, not on sale
SELECT train, run_date, departure, arrival, sales, remaining
FROM search('晏城', '新肇', '2032-04-13');
-- the wrong way along the route finds nothing
SELECT count(*) AS backwards FROM search('XZT', 'YEK', '2032-04-14');

-- a busy pair: every train calling at both in that order, each once, in
-- departure order, with times matching stops.tsv
WITH s AS (SELECT * FROM search('南京南', '上海虹桥', '2032-04-13')),
raw AS (
	SELECT f.train_code, f.depart_ts, t.arrive_ts FROM raw_stop f
	JOIN raw_stop t ON t.train_code = f.train_code AND t.stop_no > f.stop_no
	WHERE f.code = 'NKH' AND t.code = 'AOH')
SELECT (SELECT count(*) FROM s) AS found, (SELECT count(*) FROM raw) AS in_timetable,
       (SELECT count(*) FROM s JOIN raw ON raw.train_code = s.train
        AND raw.depart_ts = s.departure AND raw.arrive_ts = s.arrival) AS times_match,
       (SELECT bool_and(sales = 'open' AND run_date = '2032-04-13') FROM s) AS all_open,
       (SELECT array_agg(train ORDER BY departure, train) = array_agg(train) FROM s) AS in_departure_order;

-- transfers -----------------------------------------------------------------

-- 杭州东 to 太原南 has no direct train; the earliest arrival changes at
-- 南京南 from G1228 to G1957
SELECT departure, arrival, duration, train_1, run_date_1, change_at, change_arrival,
       train_2, run_date_2, change_from, change_departure, connection, sales_1, sales_2
FROM search_transfers('HGH', 'TNV', '2032-04-13') LIMIT 1;
SELECT count(*) AS direct FROM search('HGH', 'TNV', '2032-04-13');
-- every time of that itinerary is the one in stops.tsv
SELECT s.departure = a.depart_ts AS departure_ok, s.change_arrival = b.arrive_ts AS change_arrival_ok,
       s.change_departure = c.depart_ts AS change_departure_ok, s.arrival = d.arrive_ts AS arrival_ok
FROM (SELECT * FROM search_transfers('杭州东', '太原南', '2032-04-13') LIMIT 1) s
JOIN raw_stop a ON a.train_code = 'G1228' AND a.code = 'HGH'
JOIN raw_stop b ON b.train_code = 'G1228' AND b.code = 'NKH'
JOIN raw_stop c ON c.train_code = 'G1957' AND c.code = 'NKH'
JOIN raw_stop d ON d.train_code = 'G1957' AND d.code = 'TNV';

-- the rules, over every itinerary of a busy search: earliest arrival first;
-- never the same train twice; a change at one station inside the window, or
-- between two stations of one city after the city connection; never through
-- the cities of the origin or the destination; the times are the timetable's
CREATE TEMP TABLE hz_bj AS
SELECT row_number() OVER () AS n, * FROM search_transfers('HGH', 'VNP', '2032-04-13', max_results => 1000);
SELECT count(*) AS itineraries,
       bool_and(train_1 <> train_2) AS two_trains,
       bool_and(departure::date = '2032-04-13') AS leaves_that_day,
       bool_and(duration = arrival - departure AND connection = change_departure - change_arrival) AS sums
FROM hz_bj;
SELECT bool_and(a.arrival <= b.arrival) AS by_arrival
FROM hz_bj a JOIN hz_bj b ON b.n = a.n + 1;
SELECT count(*) FILTER (WHERE h.change_at = h.change_from) > 0 AS some_same_station,
       count(*) FILTER (WHERE h.change_at <> h.change_from) > 0 AS some_same_city,
       bool_and(h.connection BETWEEN '20 min' AND '4 hours') AS in_window,
       bool_and(h.change_at = h.change_from OR (h.connection >= '1 hour' AND x.city = y.city)) AS city_rule,
       bool_and(x.city NOT IN ('杭州', '北京') AND y.city NOT IN ('杭州', '北京')) AS not_via_ends
FROM hz_bj h JOIN station x ON x.code = h.change_at JOIN station y ON y.code = h.change_from;
SELECT count(*) AS times_match, (SELECT count(*) FROM hz_bj) AS itineraries
FROM hz_bj h
JOIN raw_stop a ON a.train_code = h.train_1 AND a.code = 'HGH' AND a.depart_ts = h.departure
JOIN raw_stop b ON b.train_code = h.train_1 AND b.code = h.change_at AND b.arrive_ts = h.change_arrival
JOIN raw_stop c ON c.train_code = h.train_2 AND c.code = h.change_from
	AND c.depart_ts + (h.run_date_2 - date '2032-04-13') * interval '1 day' = h.change_departure
JOIN raw_stop d ON d.train_code = h.train_2 AND d.code = 'VNP'
	AND d.arrive_ts + (h.run_date_2 - date '2032-04-13') * interval '1 day' = h.arrival;

-- a change within one city: 无锡 to 无锡东 (both city 无锡) with 1 h 33 min
SELECT code, name, city FROM station WHERE code IN ('WXH', 'WGH') ORDER BY code;
SELECT train_1, change_at, change_arrival, train_2, change_from, change_departure, connection
FROM hz_bj WHERE train_1 = 'D3142' AND train_2 = 'G18';
-- it needs min_city_connection, not min_connection
SELECT count(*) AS with_2h_city_connection
FROM search_transfers('HGH', 'VNP', '2032-04-13', max_results => 1000, min_city_connection => '2 hours')
WHERE train_1 = 'D3142' AND train_2 = 'G18';
SELECT count(*) AS with_1h30_city_connection
FROM search_transfers('HGH', 'VNP', '2032-04-13', max_results => 1000, min_city_connection => '90 min')
WHERE train_1 = 'D3142' AND train_2 = 'G18';

-- connection window limits
SELECT count(*) > 0 AS found, bool_and(connection BETWEEN '30 min' AND '45 min') AS in_window
FROM search_transfers('HGH', 'VNP', '2032-04-13', '30 min', '45 min', 1000);
SELECT count(*) AS g1228_g1957_with_min_1h
FROM search_transfers('HGH', 'TNV', '2032-04-13', min_connection => '1 hour', max_results => 1000)
WHERE train_1 = 'G1228' AND train_2 = 'G1957';	-- the change takes 56 minutes
SELECT count(*) AS g1228_g1957_with_max_50min
FROM search_transfers('HGH', 'TNV', '2032-04-13', max_connection => '50 min', max_results => 1000)
WHERE train_1 = 'G1228' AND train_2 = 'G1957';
SELECT count(*) AS g1228_g1957_with_56min_window
FROM search_transfers('HGH', 'TNV', '2032-04-13', '56 min', '56 min', 1000)
WHERE train_1 = 'G1228' AND train_2 = 'G1957';
-- max_results
SELECT count(*) AS default_limit FROM search_transfers('HGH', 'VNP', '2032-04-13');
SELECT count(*) AS three FROM search_transfers('HGH', 'VNP', '2032-04-13', max_results => 3);
-- an overnight connection takes the next day's run of the second train
SELECT bool_and(run_date_2 = change_departure::date - (SELECT max(s.depart_day) FROM stop s
                JOIN train t USING (train_id) JOIN station c USING (station_id)
                WHERE t.code = h.train_2 AND c.code = h.change_from)) AS run_dates_ok,
       count(*) FILTER (WHERE change_departure::date > change_arrival::date) > 0 AS some_overnight
FROM search_transfers('HGH', 'VNP', '2032-04-13', max_connection => '1 day', max_results => 1000) h;

-- an administrator puts 上海虹桥 in 上海; NULL goes back to the naming rule
SELECT city_of('北京南') AS beijingnan, city_of('济南') AS jinan, city_of('上海虹桥') AS hongqiao;
SELECT count(*) AS aoh_shh_changes_before
FROM search_transfers('HGH', 'VNP', '2032-04-13', max_connection => '1 day', max_results => 1000)
WHERE (change_at, change_from) IN (('AOH', 'SHH'), ('SHH', 'AOH'));
SELECT set_station_city('上海虹桥', ' 上海 ') AS set;
SELECT code, city, city_override FROM station WHERE code IN ('AOH', 'SHH') ORDER BY code;
SELECT count(*) > 0 AS aoh_shh_changes
FROM search_transfers('HGH', 'VNP', '2032-04-13', max_connection => '1 day', max_results => 1000)
WHERE (change_at, change_from) IN (('AOH', 'SHH'), ('SHH', 'AOH'));
SELECT set_station_city('AOH', NULL) AS reset;
SELECT regress_error($$SELECT set_station_city('AOH', ' ')$$);
SELECT regress_error($$SELECT set_station_city('XYZ', '上海')$$);

-- errors --------------------------------------------------------------------

SELECT regress_error($$SELECT * FROM search('XYZ', 'VNP', '2032-04-13')$$);
SELECT regress_error($$SELECT * FROM search('VNP', '不存在', '2032-04-13')$$);
SELECT regress_error($$SELECT * FROM search('VNP', '北京南', '2032-04-13')$$);
SELECT regress_error($$SELECT * FROM search(NULL, 'VNP', '2032-04-13')$$);
SELECT regress_error($$SELECT * FROM search('AOH', 'VNP', NULL)$$);
SELECT regress_error($$SELECT * FROM search_transfers('XYZ', 'VNP', '2032-04-13')$$);
SELECT regress_error($$SELECT * FROM search_transfers('vnp', 'VNP', '2032-04-13')$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', NULL, '2032-04-13')$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', 'VNP', '2032-04-13', NULL)$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', 'VNP', '2032-04-13', max_results => NULL)$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', 'VNP', '2032-04-13', '-1 min')$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', 'VNP', '2032-04-13', '2 hours', '1 hour')$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', 'VNP', '2032-04-13', '20 min', '25 hours')$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', 'VNP', '2032-04-13', min_city_connection => '-1 hour')$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', 'VNP', '2032-04-13', max_results => 0)$$);
SELECT regress_error($$SELECT * FROM search_transfers('AOH', 'VNP', '2032-04-13', max_results => 1001)$$);

-- seats ---------------------------------------------------------------------

-- the counts are remaining()'s, for direct trains and both legs of changes
CREATE TEMP VIEW k48_counts AS
SELECT s.remaining AS searched,
       (SELECT jsonb_object_agg(r.seat_class, r.remaining) FROM remaining('K48', '2032-04-13', 'HZH', 'QHX') r) AS remaining
FROM search('HZH', 'QHX', '2032-04-13') s;
SELECT searched = remaining AS agree, searched FROM k48_counts;
SELECT bool_and(s.remaining = (SELECT jsonb_object_agg(r.seat_class, r.remaining)
                               FROM remaining(s.train, s.run_date, 'NKH', 'AOH') r)) AS agree
FROM search('NKH', 'AOH', '2032-04-13') s;
SELECT bool_and(h.remaining_1 = (SELECT jsonb_object_agg(r.seat_class, r.remaining)
                                 FROM remaining(h.train_1, h.run_date_1, 'HGH', h.change_at) r)
            AND h.remaining_2 = (SELECT jsonb_object_agg(r.seat_class, r.remaining)
                                 FROM remaining(h.train_2, h.run_date_2, h.change_from, 'TNV') r)) AS agree
FROM search_transfers('HGH', 'TNV', '2032-04-13') h;

-- a grab between intermediate stops takes one hard sleeper off the whole
-- journey, both ways of counting; not off a journey on other legs
SELECT seat_class, legs FROM grab(1, 'K48', '2032-04-13', 'ZJH', 'YEK', 'hard_sleeper');
SELECT searched = remaining AS agree, searched->'hard_sleeper' AS hard_sleepers FROM k48_counts;
SELECT remaining->'hard_sleeper' AS after_the_grab_yek_xzt FROM search('YEK', 'XZT', '2032-04-14');
-- a hold past its deadline counts as free, in both.  (Holds are compared
-- with now(), the start of the transaction: counted in the transaction that
-- made it, the 1 s hold is live however slow the machine; after the sleep,
-- in a new transaction, it has expired.)
BEGIN;
SET ticket.hold_timeout = 1;
SELECT seat_class FROM grab(2, 'K48', '2032-04-13', 'HZH', 'QHX', 'soft_sleeper');
SELECT searched->'soft_sleeper' AS soft_sleepers_held FROM k48_counts;
COMMIT;
SELECT pg_sleep(1.2);
SELECT searched = remaining AS agree, searched->'soft_sleeper' AS soft_sleepers_expired FROM k48_counts;
RESET ticket.hold_timeout;
-- closed sales still show what is left
SELECT close_sales('K48', '2032-04-13') > 0 AS closed;
SELECT sales, remaining IS NOT NULL AS counted FROM search('HZH', 'QHX', '2032-04-13');
SELECT open_sales('K48', '2032-04-13') > 0 AS reopened;

-- the applications' role can search
SET ROLE ticket_app;
SELECT count(*) AS app_direct FROM ticket.search('HZH', 'QHX', '2032-04-13');
SELECT count(*) AS app_transfers FROM ticket.search_transfers('HGH', 'TNV', '2032-04-13', max_results => 5);
SELECT regress_error($$SELECT ticket.set_station_city('AOH', '上海')$$);
RESET ROLE;
