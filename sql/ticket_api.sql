-- The ticketing API: every function, every SQLSTATE a caller can meet, and
-- the occupancy rules.
SET search_path = ticket, public;
SET client_min_messages = warning;

-- a timetable ------------------------------------------------------------

SELECT add_station('VNP', '北京南', 'beijingnan') > 0 AS added,
       add_station('jgk', '济南西') > 0 AS lower_case_code,
       add_station('NKH', '南京南', 'nanjingnan') > 0,
       add_station('AOH', '上海虹桥', 'shanghaihongqiao') > 0,
       add_station('TJP', '天津', 'tianjin') > 0;
-- adding again renames, it does not duplicate
SELECT add_station('VNP', '北京南', NULL) = station_id('VNP') AS same_id;
SELECT code, name, pinyin FROM station ORDER BY code;
SELECT regress_error($$SELECT add_station('VN', 'x')$$);
SELECT regress_error($$SELECT add_station('VNX', '')$$);
SELECT regress_error($$SELECT add_station(NULL, 'x')$$);

-- stations by code or by name
SELECT station_id('VNP') = station_id('北京南') AS code_or_name, station_id(' aoh ') = station_id('上海虹桥') AS trimmed;
SELECT regress_error($$SELECT station_id('XYZ')$$);

-- G1 with times (offsets from 00:00 of the service date), T1 without times
SELECT add_train('G1', ARRAY['VNP', '济南西', 'NKH', '上海虹桥'],
	ARRAY[NULL, '10:22', '12:24', '13:28']::interval[],
	ARRAY['09:00', '10:24', '12:26', NULL]::interval[]) > 0 AS g1;
SELECT add_train('t1', ARRAY['VNP', 'TJP']) > 0 AS t1;
SELECT t.code, s.stop_no, st.code AS station, s.arrive, s.depart, s.arrive_day
FROM stop s JOIN train t USING (train_id) JOIN station st USING (station_id)
ORDER BY t.code, s.stop_no;
-- an overnight train: arrival the next day has a day offset
SELECT add_train('Z9', ARRAY['VNP', 'NKH'], ARRAY[NULL, '31:05']::interval[], ARRAY['21:00', NULL]::interval[]) > 0 AS z9;
SELECT arrive, arrive_day FROM stop JOIN train USING (train_id) WHERE code = 'Z9' AND stop_no = 1;
SELECT regress_error($$SELECT add_train('G1', ARRAY['VNP', 'NKH'])$$);
SELECT regress_error($$SELECT add_train('G2', ARRAY['VNP'])$$);
SELECT regress_error($$SELECT add_train('G2', ARRAY['VNP', 'NKH', 'VNP'])$$);
SELECT regress_error($$SELECT add_train('G2', ARRAY['VNP', 'QQQ'])$$);
SELECT regress_error($$SELECT add_train('G-2', ARRAY['VNP', 'NKH'])$$);
SELECT regress_error($$SELECT add_train('G2', ARRAY['VNP', 'NKH'], ARRAY[NULL, '08:00']::interval[], ARRAY['09:00', NULL]::interval[])$$);
SELECT regress_error($$SELECT add_train('G2', ARRAY['VNP', 'NKH'], ARRAY[NULL]::interval[])$$);
SELECT count(*) AS trains FROM train;

-- seats: G1 gets one business, one first and one second class carriage
SELECT add_carriage('G1', 1, 'business', 2, 'ACF') AS business_seats,
       add_carriage('G1', 2, 'M', 2, 'ACDF') AS first_seats,     -- 12306 code M
       add_carriage('G1', 3, 'second', 2, 'ABCDF') AS second_seats;
SELECT carriage_no, seat_no, seat_class FROM seat JOIN train USING (train_id)
WHERE code = 'G1' ORDER BY seat_id LIMIT 8;
SELECT regress_error($$SELECT add_carriage('G1', 3, 'second', 2, 'ABCDF')$$);
SELECT regress_error($$SELECT add_carriage('G1', 4, 'economy', 2, 'ABCDF')$$);
SELECT regress_error($$SELECT add_carriage('G1', 4, 'second', 0, 'ABCDF')$$);
SELECT regress_error($$SELECT add_carriage('G1', 4, 'second', 2, 'ABCDG')$$);
SELECT regress_error($$SELECT add_carriage('G1', 4, 'second', 2, 'AAB')$$);
SELECT regress_error($$SELECT add_carriage('G9', 1, 'second', 2, 'AB')$$);
SELECT regress_error($$SELECT add_carriage(NULL, 1, 'second', 2, 'AB')$$);
SELECT regress_error($$SELECT open_sales(NULL, '2030-02-01')$$);
SELECT regress_error($$SELECT add_train('G2', ARRAY['VNP', NULL])$$);
-- default layouts: a 16-car G train has 1,193 seats, D and C 576
SELECT add_train('G7', ARRAY['VNP', 'AOH']) > 0, add_train('D5', ARRAY['NKH', 'AOH']) > 0,
       add_train('K48', ARRAY['VNP', 'JGK']) > 0;
SELECT add_default_layout('G7') AS g_seats, add_default_layout('D5') AS d_seats, add_default_layout('K48') AS k_seats;
SELECT t.code, s.seat_class, count(*) FROM seat s JOIN train t USING (train_id)
WHERE t.code IN ('G7', 'D5', 'K48') GROUP BY 1, 2 ORDER BY 1, 2;

-- sales --------------------------------------------------------------------

SELECT open_sales('G1', '2030-02-01') = open_sales('G1', '2030-02-01') AS idempotent;
SELECT regress_error($$SELECT open_sales('T1', '2030-02-01')$$);   -- no seats
SELECT regress_error($$SELECT open_sales('G9', '2030-02-01')$$);
SELECT open_sales('2030-02-02') AS runs_opened_for_a_day;
SELECT t.code, r.service_date, r.status, r.n_legs FROM run r JOIN train t USING (train_id) ORDER BY 2, 1;

-- what is left: 6 business, 8 first, 10 second
SELECT * FROM remaining('G1', '2030-02-01', 'VNP', 'AOH');
SELECT regress_error($$SELECT * FROM remaining('G1', '2030-02-03', 'VNP', 'AOH')$$);   -- no run
SELECT regress_error($$SELECT * FROM remaining('G1', '2030-02-01', 'TJP', 'AOH')$$);   -- not on route
SELECT regress_error($$SELECT * FROM remaining('G1', '2030-02-01', 'AOH', 'VNP')$$);   -- backwards
SELECT regress_error($$SELECT * FROM remaining('G1', '2030-02-01', 'VNP', 'VNP')$$);
SELECT regress_error($$SELECT * FROM remaining('G1', '2030-02-01', 'VNP', 'NOWHERE')$$);
SELECT regress_error($$SELECT * FROM remaining('G9', '2030-02-01', 'VNP', 'AOH')$$);
SELECT regress_error($$SELECT * FROM remaining('G1', NULL, 'VNP', 'AOH')$$);

-- grab ---------------------------------------------------------------------

-- the cheapest class when none is asked for; legs [0,2) = VNP to NKH
SELECT order_id, carriage, seat_no, seat_class, legs, status,
       hold_until - now() = interval '15 minutes' AS held_15_min
FROM grab(101, 'G1', '2030-02-01', '北京南', '南京南');
-- the adjacent journey fills the same seat (best fit: its neighbour is sold)
SELECT order_id, carriage, seat_no, seat_class, legs FROM grab(102, 'G1', '2030-02-01', 'NKH', 'AOH');
-- a journey overlapping both takes the next seat
SELECT order_id, carriage, seat_no, seat_class, legs FROM grab(103, 'G1', '2030-02-01', 'JGK', 'AOH', 'second');
-- a class by name or by 12306 code
SELECT order_id, carriage, seat_no, seat_class FROM grab(104, 'G1', '2030-02-01', 'VNP', 'AOH', 'business');
SELECT order_id, carriage, seat_no, seat_class FROM grab(105, 'G1', '2030-02-01', 'VNP', 'AOH', '9');
SELECT * FROM remaining('G1', '2030-02-01', 'VNP', 'AOH');
SELECT * FROM remaining('G1', '2030-02-01', 'VNP', 'JGK');   -- seat 01A is free on [0,1)? no: [0,2) is held
SELECT * FROM remaining('G1', '2030-02-01', 'NKH', 'AOH');

-- one unpaid order per user and run
SELECT regress_error($$SELECT * FROM grab(101, 'G1', '2030-02-01', 'VNP', 'JGK')$$);
-- ... but another run is fine
SELECT seat_no, legs FROM grab(101, 'G7', '2030-02-02', 'VNP', 'AOH');

-- request ids make retries safe
SELECT order_id, seat_no, legs FROM grab(106, 'G1', '2030-02-01', 'VNP', 'AOH', 'first', 'req-1');
SELECT order_id, seat_no, legs FROM grab(106, 'G1', '2030-02-01', 'VNP', 'AOH', 'first', 'req-1');
SELECT count(*) AS orders_of_106 FROM orders WHERE user_id = 106;
SELECT regress_error($$SELECT * FROM grab(106, 'G1', '2030-02-01', 'VNP', 'NKH', 'first', 'req-1')$$);
-- the same key of another user is another request
SELECT order_id, seat_no FROM grab(107, 'G1', '2030-02-01', 'VNP', 'AOH', 'first', 'req-1');

-- errors of grab
SELECT regress_error($$SELECT * FROM grab(NULL, 'G1', '2030-02-01', 'VNP', 'AOH')$$);
SELECT regress_error($$SELECT * FROM grab(110, 'G1', '2030-02-01', 'VNP', 'AOH', 'sleeper')$$);
SELECT regress_error($$SELECT * FROM grab(110, 'G1', '2030-02-01', 'AOH', 'VNP')$$);
SELECT regress_error($$SELECT * FROM grab(110, 'G1', '2030-02-09', 'VNP', 'AOH')$$);
SELECT regress_error($$SELECT * FROM grab(110, 'G1', '2030-02-01', 'TJP', 'AOH')$$);
SELECT regress_error($$SELECT * FROM grab(110, 'G1', '2030-02-01', 'VNP', 'AOH', 'hard_seat')$$);   -- no such seats

-- sold out: the 6 business seats
SELECT count(*) AS grabbed FROM generate_series(201, 204) u, grab(u, 'G1', '2030-02-01', 'VNP', 'AOH', 'business');
SELECT regress_error($$SELECT * FROM grab(205, 'G1', '2030-02-01', 'VNP', 'AOH', 'business')$$);
SELECT * FROM remaining('G1', '2030-02-01', 'VNP', 'AOH');

-- sales closed
SELECT close_sales('G7', '2030-02-02') > 0 AS closed;
SELECT regress_error($$SELECT * FROM grab(300, 'G7', '2030-02-02', 'VNP', 'AOH')$$);
SELECT regress_error($$SELECT close_sales('G7', '2030-01-01')$$);
SELECT open_sales('G7', '2030-02-02') > 0 AS reopened;

-- confirm, cancel, refund ---------------------------------------------------

SELECT confirm(1) AS paid, confirm(1) AS paid_again;
SELECT regress_error($$SELECT cancel(1)$$);
SELECT refund(1) AS refunded, refund(1) AS refunded_again, confirm(1) AS confirm_after_refund;
SELECT cancel(2) AS cancelled, cancel(2) AS cancelled_again;
SELECT regress_error($$SELECT confirm(2)$$);
SELECT regress_error($$SELECT refund(2)$$);
SELECT regress_error($$SELECT refund(3)$$);
SELECT regress_error($$SELECT confirm(999999)$$);
SELECT regress_error($$SELECT cancel(999999)$$);
SELECT regress_error($$SELECT refund(999999)$$);
SELECT order_id, status, paid_at IS NOT NULL AS paid_at_set, closed_at IS NOT NULL AS closed
FROM orders WHERE order_id IN (1, 2, 3) ORDER BY 1;
-- refunded and cancelled seats return to sale; tickets follow their orders
SELECT o.order_id, o.status, t.status AS ticket_status FROM orders o JOIN tickets t USING (order_id)
WHERE o.order_id IN (1, 2, 3) ORDER BY 1;
SELECT * FROM remaining('G1', '2030-02-01', 'VNP', 'AOH');
-- a user whose order was cancelled may grab again
SELECT seat_no, legs FROM grab(102, 'G1', '2030-02-01', 'NKH', 'AOH');

-- holds expire -------------------------------------------------------------

SET ticket.hold_timeout = '1s';
SHOW ticket.hold_timeout;
SELECT hold_timeout();
SELECT order_id AS short_hold, seat_no FROM grab(400, 'G1', '2030-02-01', 'VNP', 'AOH', 'first') \gset
SELECT order_id AS other_short_hold FROM grab(399, 'G1', '2030-02-01', 'VNP', 'AOH', 'first') \gset
RESET ticket.hold_timeout;
SELECT hold_timeout();
SELECT regress_error($$SET ticket.hold_timeout = 0$$);
SELECT regress_error($$SET ticket.hold_timeout = 'soon'$$);
SELECT pg_sleep(1.2);
-- an expired hold no longer counts, even before the sweeper ran
SELECT status FROM orders WHERE order_id = :short_hold;
SELECT * FROM remaining('G1', '2030-02-01', 'VNP', 'AOH') WHERE seat_class = 'first';
-- confirming it fails and sells nothing
SELECT regress_error(format('SELECT confirm(%s)', :short_hold));
SELECT status FROM orders WHERE order_id = :short_hold;
-- the stale hold does not count as an unpaid order: the user may grab again
-- (and that grab expires it)
SELECT seat_class, legs FROM grab(400, 'G1', '2030-02-01', 'VNP', 'JGK', 'second');
SELECT o.status, t.status FROM orders o JOIN tickets t USING (order_id) WHERE o.order_id = :short_hold;
-- the sweeper releases the other one, once
SELECT expire_holds() AS swept;
SELECT expire_holds() AS swept_again;
SELECT o.status, t.status FROM orders o JOIN tickets t USING (order_id) WHERE o.order_id = :other_short_hold;
SELECT cancel(:short_hold) AS cancel_of_expired;
SELECT regress_error(format('SELECT confirm(%s)', :short_hold));

-- a grab takes over an expired, unswept hold: a train with a single seat.
-- (Holds are compared with now(), the start of the transaction: made and
-- tried in one, the 1 s hold is live for the second grab however slow the
-- machine; after the sleep, in a new transaction, it has expired.)
SELECT add_train('C1', ARRAY['NKH', 'AOH']) > 0, add_carriage('C1', 1, 'second', 1, 'A'),
       open_sales('C1', '2030-02-01') > 0;
BEGIN;
SET ticket.hold_timeout = '1s';
SELECT order_id AS stale_order, seat_no FROM grab(401, 'C1', '2030-02-01', 'NKH', 'AOH') \gset
RESET ticket.hold_timeout;
SELECT regress_error($$SELECT * FROM grab(402, 'C1', '2030-02-01', 'NKH', 'AOH')$$);
COMMIT;
SELECT pg_sleep(1.2);
SELECT seat_no, status FROM grab(402, 'C1', '2030-02-01', 'NKH', 'AOH');
SELECT o.status, t.status FROM orders o JOIN tickets t USING (order_id) WHERE o.order_id = :stale_order;

-- occupancy rules, enforced by the table itself ---------------------------

-- adjacent legs share a seat, overlapping legs never do, whatever the caller
SELECT s.seat_id AS some_seat FROM seat s JOIN train t USING (train_id) WHERE t.code = 'G1' AND s.seat_no = '02F' AND s.carriage_no = 3 \gset
SELECT run_id AS g1_run FROM run JOIN train USING (train_id) WHERE code = 'G1' AND service_date = '2030-02-01' \gset
INSERT INTO orders (order_id, user_id, run_id, seat_class, legs, hold_until) VALUES (9001, 1, :g1_run, 'second', '[0,1)', now() + interval '1 hour');
INSERT INTO tickets (order_id, run_id, seat_id, legs, hold_until) VALUES (9001, :g1_run, :some_seat, '[0,1)', now() + interval '1 hour');
INSERT INTO tickets (order_id, run_id, seat_id, legs, hold_until) VALUES (9001, :g1_run, :some_seat, '[1,3)', now() + interval '1 hour');
SELECT regress_error(format($$INSERT INTO tickets (order_id, run_id, seat_id, legs, hold_until) VALUES (9001, %s, %s, '[0,2)', now())$$, :g1_run, :some_seat));
-- released tickets do not block
UPDATE tickets SET status = 'cancelled' WHERE order_id = 9001 AND legs = '[1,3)';
INSERT INTO tickets (order_id, run_id, seat_id, legs, hold_until) VALUES (9001, :g1_run, :some_seat, '[1,2)', now() + interval '1 hour');
SELECT legs, status FROM tickets WHERE order_id = 9001 ORDER BY legs, status;
DELETE FROM tickets WHERE order_id = 9001;
DELETE FROM orders WHERE order_id = 9001;

-- remaining() equals a recount over int4range for every pair and class
WITH pairs AS (
	SELECT a.station_id AS from_id, b.station_id AS to_id, a.stop_no AS a, b.stop_no AS b
	FROM stop a JOIN stop b ON a.train_id = b.train_id AND a.stop_no < b.stop_no
	JOIN train t ON t.train_id = a.train_id WHERE t.code = 'G1'),
api AS (
	SELECT p.a, p.b, r.seat_class, r.remaining FROM pairs p,
	LATERAL remaining('G1', '2030-02-01', (SELECT code FROM station WHERE station_id = p.from_id),
		(SELECT code FROM station WHERE station_id = p.to_id)) r),
recount AS (
	SELECT p.a, p.b, s.seat_class::text, count(*) FILTER (WHERE NOT EXISTS (
		SELECT 1 FROM tickets k WHERE k.run_id = :g1_run AND k.seat_id = s.seat_id
		  AND k.legs::int4range && int4range(p.a, p.b)
		  AND (k.status = 'paid' OR (k.status = 'held' AND k.hold_until > now()))))::int AS remaining
	FROM pairs p, seat s JOIN train t USING (train_id) WHERE t.code = 'G1'
	GROUP BY 1, 2, 3)
SELECT count(*) AS pairs_and_classes, count(*) FILTER (WHERE api.remaining IS DISTINCT FROM recount.remaining) AS mismatches
FROM recount FULL JOIN api USING (a, b, seat_class);

-- the whole table at once agrees with remaining() pair by pair, with and
-- without expired holds waiting for the sweeper
SELECT count(*) AS matrix_rows,
       count(*) FILTER (WHERE m.remaining IS DISTINCT FROM (
           SELECT r.remaining FROM remaining('G1', '2030-02-01', m.from_station, m.to_station) r
           WHERE r.seat_class = m.seat_class)) AS mismatches
FROM remaining_matrix('G1', '2030-02-01') m;
SELECT from_station, to_station, seat_class, remaining FROM remaining_matrix('G1', '2030-02-01') LIMIT 6;
SET ticket.hold_timeout = '1s';
SELECT seat_no IS NOT NULL AS short_hold FROM grab(500, 'G1', '2030-02-01', 'JGK', 'NKH', 'second');
RESET ticket.hold_timeout;
SELECT pg_sleep(1.2);
SELECT count(*) AS matrix_rows,
       count(*) FILTER (WHERE m.remaining IS DISTINCT FROM (
           SELECT r.remaining FROM remaining('G1', '2030-02-01', m.from_station, m.to_station) r
           WHERE r.seat_class = m.seat_class)) AS mismatches
FROM remaining_matrix('G1', '2030-02-01') m;
SELECT regress_error($$SELECT * FROM remaining_matrix('G1', '2031-01-01')$$);

-- the repair path: a carriage's seat map wiped by hand is recounted from its
-- live tickets and comes out exactly as it was
CREATE TEMP TABLE maps_before AS
SELECT carriage_no, map FROM run_carriage WHERE run_id = :g1_run;
UPDATE run_carriage SET map = seatmap_new(seats, 3) WHERE run_id = :g1_run;
SELECT count(*) FILTER (WHERE rc.map <> b.map) AS wiped_maps_differ
FROM run_carriage rc JOIN maps_before b USING (carriage_no) WHERE rc.run_id = :g1_run;
SELECT rebuild_seat_map(:g1_run, carriage_no) FROM maps_before ORDER BY carriage_no;
SELECT count(*) FILTER (WHERE rc.map <> b.map) AS rebuilt_maps_differ
FROM run_carriage rc JOIN maps_before b USING (carriage_no) WHERE rc.run_id = :g1_run;

-- pg_cron: named, idempotent; here pg_cron is preloaded and created
SELECT extname FROM pg_extension WHERE extname = 'pg_cron';
CREATE EXTENSION pg_cron;
SELECT schedule_jobs() = schedule_jobs() AS same_job;
SELECT jobname, schedule, command, database = current_database() AS here FROM cron.job;
SELECT unschedule_jobs() AS removed, unschedule_jobs() AS removed_again;
SELECT count(*) AS jobs FROM cron.job;
DROP EXTENSION pg_cron;
SET client_min_messages = notice;
SELECT schedule_jobs() IS NULL AS no_pg_cron;
SELECT unschedule_jobs() AS nothing_to_remove;
SET client_min_messages = warning;
