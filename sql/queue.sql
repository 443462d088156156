-- The order queue and the waitlist (version 1.2).  No queue worker runs in
-- this server (ticket.queue_database is empty), so the tests serve the queue
-- themselves with ticket.serve_queue(), one step at a time.
--
-- This file runs twice: with the library preloaded, as production runs it
-- (waiting requests live in shared memory, src/queue_ring.c; expected output
-- in expected/), and not preloaded (waiting requests are rows of
-- ticket.queue_request, the table path a failed batch also writes back to;
-- `make installcheck-fallback`, expected output in test/fallback/expected/).
-- Queries that look at waiting requests therefore go by the ids enqueue
-- answered (kept in the table asked below) and ask queue_status() for them,
-- which answers on both paths.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
RESET client_min_messages;
\i test/regress_helpers.sql
-- which path this run takes: wake-ups exist only with the library preloaded
SELECT ticket.queue_batch_count(1) IS NOT NULL AS preloaded;
CREATE TEMP TABLE asked (user_id bigint, request_id bigint);

-- G7001 and its twins G7002 and G7004: 5 stops, a second-class carriage of
-- 10 seats and a first-class one of 4.  G7003: 3 stops with times, one
-- carriage of 2 seats.
SELECT count(ticket.add_station(c, n)) AS stations
FROM (VALUES ('QAA', 'Q0'), ('QAB', 'Q1'), ('QAC', 'Q2'), ('QAD', 'Q3'), ('QAE', 'Q4')) v(c, n);
SELECT ticket.add_train(t, ARRAY['QAA', 'QAB', 'QAC', 'QAD', 'QAE']) > 0 AS added,
       ticket.add_carriage(t, 1, 'second', 2, 'ABCDF') AS second_seats,
       ticket.add_carriage(t, 2, 'first', 1, 'ACDF') AS first_seats,
       ticket.open_sales(t, DATE '2099-01-01') > 0 AS open
FROM (VALUES ('G7001'), ('G7002'), ('G7004')) v(t);
SELECT ticket.add_train('G7003', ARRAY['QAA', 'QAB', 'QAC'], ARRAY[NULL, '8:30', '9:30']::interval[],
	ARRAY['8:00', '8:32', NULL]::interval[]) > 0 AS added,
       ticket.add_carriage('G7003', 1, 'second', 1, 'AB') AS seats,
       ticket.open_sales('G7003', DATE '2099-01-01') > 0 AS open;

-- Enqueueing answers at once: a request id, the order of acceptance and
-- how many requests of the run wait ahead.
WITH e AS (SELECT * FROM ticket.enqueue(1, 'G7001', '2099-01-01', 'QAA', 'QAE')),
     k AS (INSERT INTO asked SELECT 1, request_id FROM e)
SELECT * FROM e;
WITH e AS (SELECT * FROM ticket.enqueue(2, 'G7001', '2099-01-01', 'QAA', 'QAC', 'second')),
     k AS (INSERT INTO asked SELECT 2, request_id FROM e)
SELECT * FROM e;
WITH e AS (SELECT * FROM ticket.enqueue(3, 'G7001', '2099-01-01', 'Q2', 'Q4', 'M')),
     k AS (INSERT INTO asked SELECT 3, request_id FROM e)
SELECT * FROM e;
-- where they wait: preloaded, in shared memory only (enqueue writes no row)
SELECT count(*) AS rows_written FROM ticket.queue_request;
SELECT status, queue_position, ahead, estimated_wait > '0'::interval AS has_estimate, order_id
FROM ticket.queue_status((SELECT request_id FROM asked WHERE user_id = 3));

-- what a caller can get wrong
SELECT regress_error($q$SELECT ticket.enqueue(1, 'G7001', '2099-01-01', 'QAB', 'QAC')$q$);
SELECT regress_error($q$SELECT ticket.enqueue(NULL, 'G7001', '2099-01-01', 'QAB', 'QAC')$q$);
SELECT regress_error($q$SELECT ticket.enqueue(9, 'G7001', '2099-01-01', 'QAB', 'QAC', 'deluxe')$q$);
SELECT regress_error($q$SELECT ticket.enqueue(9, 'G7001', '2099-01-02', 'QAB', 'QAC')$q$);
SELECT regress_error($q$SELECT ticket.enqueue(9, 'G7001', '2099-01-01', 'QAC', 'QAB')$q$);
-- sales closed: TK012, worded as grab words it (rolled back: G7001 stays open)
BEGIN;
SELECT ticket.close_sales('G7001', '2099-01-01') > 0 AS closed;
SELECT regress_error($q$SELECT ticket.enqueue(9, 'g7001', '2099-01-01', 'QAB', 'QAC')$q$);
SELECT regress_error($q$SELECT ticket.grab(9, 'g7001', '2099-01-01', 'QAB', 'QAC')$q$);
ROLLBACK;
SELECT regress_error($q$SELECT * FROM ticket.queue_status(999)$q$);
SELECT regress_error($q$SELECT ticket.serve_queue(NULL, 0)$q$);
-- a retry with the same request id gets the same request; another journey with it is refused
WITH t AS (SELECT (ticket.enqueue(4, 'G7001', '2099-01-01', 'QAB', 'QAD', NULL, 'req-4')).request_id AS first_try,
                  (ticket.enqueue(4, 'G7001', '2099-01-01', 'QAB', 'QAD', NULL, 'req-4')).request_id AS retry),
     k AS (INSERT INTO asked SELECT 4, first_try FROM t)
SELECT first_try, retry FROM t;
SELECT regress_error($q$SELECT ticket.enqueue(4, 'G7001', '2099-01-01', 'QAA', 'QAD', NULL, 'req-4')$q$);

-- Serving: two at a time, strictly in order of acceptance.
SELECT ticket.serve_queue(r.run_id, 2) AS served FROM ticket.run r JOIN ticket.train t USING (train_id)
WHERE t.code = 'G7001';
-- (status: the request's row, if it has one; preloaded, the waiting ones have none)
SELECT a.request_id, q.status, s.status AS status_now, s.ahead, s.carriage, s.seat_no
FROM asked a LEFT JOIN ticket.queue_request q USING (request_id), ticket.queue_status(a.request_id) s
ORDER BY s.queue_position;
SELECT ticket.serve_queue() AS served_everything_left;
SELECT q.request_id, q.user_id, q.status, o.status AS order_status, o.seat_class, o.legs,
       s.carriage, s.seat_no, q.service_no
FROM ticket.queue_request q JOIN ticket.orders o USING (order_id), ticket.queue_status(q.request_id) s
ORDER BY q.queue_position;
SELECT * FROM ticket.queue_status((SELECT request_id FROM asked WHERE user_id = 1)) WHERE hold_until IS NULL;	-- a served order has its hold deadline
SELECT served FROM ticket.queue_head;
SELECT ticket.serve_queue() AS nothing_waiting;

-- A batch seats every request where ticket.grab at that moment would: the
-- same journeys queued on G7002 and grabbed one by one on its twin G7004.
CREATE TEMP TABLE journeys (n integer, a text, b text, cls text);
INSERT INTO journeys VALUES (1, 'QAA', 'QAB', NULL), (2, 'QAC', 'QAE', NULL), (3, 'QAB', 'QAC', 'second'),
	(4, 'QAA', 'QAE', 'first'), (5, 'QAD', 'QAE', NULL), (6, 'QAA', 'QAC', NULL), (7, 'QAB', 'QAE', 'first'),
	(8, 'QAA', 'QAE', NULL), (9, 'QAC', 'QAD', 'second'), (10, 'QAA', 'QAB', 'first');
SELECT count(ticket.enqueue(100 + n, 'G7002', '2099-01-01', a, b, cls)) AS queued
FROM (SELECT * FROM journeys ORDER BY n) j;
SELECT ticket.serve_queue() AS served;
CREATE TEMP TABLE grabbed AS
SELECT j.n, g.carriage, g.seat_no FROM (SELECT * FROM journeys ORDER BY n) j,
	LATERAL ticket.grab(200 + j.n, 'G7004', '2099-01-01', j.a, j.b, j.cls) g;
SELECT j.n, s.carriage AS queued_carriage, s.seat_no AS queued_seat, g.carriage AS grabbed_carriage,
       g.seat_no AS grabbed_seat
FROM journeys j
JOIN ticket.queue_request q ON q.user_id = 100 + j.n
CROSS JOIN LATERAL ticket.queue_status(q.request_id) s
JOIN grabbed g ON g.n = j.n
WHERE (s.carriage, s.seat_no) IS DISTINCT FROM (g.carriage, g.seat_no);
SELECT count(*) AS same_seats_as_grab FROM journeys j
JOIN ticket.queue_request q ON q.user_id = 100 + j.n
CROSS JOIN LATERAL ticket.queue_status(q.request_id) s
JOIN grabbed g ON g.n = j.n AND g.carriage = s.carriage AND g.seat_no = s.seat_no;

-- Requests that cannot be served fail with grab's SQLSTATE, recorded on them.
SELECT (ticket.grab(300, 'G7002', '2099-01-01', 'QAA', 'QAB', 'second')).seat_no IS NOT NULL AS user_300_holds;
SELECT request_id AS unpaid_request FROM ticket.enqueue(300, 'G7002', '2099-01-01', 'QAB', 'QAC') \gset
SELECT request_id AS reused_request FROM ticket.enqueue(301, 'G7002', '2099-01-01', 'QAB', 'QAC', NULL, 'r-301') \gset
-- (the request id gets used by a grab before the request is served)
SELECT (ticket.grab(301, 'G7001', '2099-01-01', 'QAC', 'QAD', NULL, 'r-301')).status;
SELECT count(ticket.enqueue(310 + i, 'G7002', '2099-01-01', 'QAA', 'QAE', 'first')) AS first_class_asks
FROM generate_series(1, 4) i;
SELECT ticket.serve_queue() AS served;
SELECT q.user_id, q.status, s.error_sqlstate, s.error_message
FROM ticket.queue_request q, ticket.queue_status(q.request_id) s
WHERE q.user_id >= 300 ORDER BY q.queue_position;

-- Sold out for good: enqueue says so at once.
SELECT regress_error($q$SELECT ticket.enqueue(320, 'G7002', '2099-01-01', 'QAA', 'QAE', 'first')$q$);

-- Order of service equals order of acceptance, across every batch so far.
SELECT count(*) AS served_requests,
       count(*) FILTER (WHERE service_rank <> position_rank) AS out_of_order
FROM (SELECT rank() OVER (ORDER BY service_no) AS service_rank,
             rank() OVER (ORDER BY queue_position) AS position_rank
      FROM ticket.queue_request WHERE status <> 'waiting') x;

-- Admission control: at most ticket.queue_max_waiting requests wait per run.
SET ticket.queue_max_waiting = 2;
SELECT ahead FROM ticket.enqueue(400, 'G7001', '2099-01-01', 'QAD', 'QAE');
SELECT ahead FROM ticket.enqueue(401, 'G7001', '2099-01-01', 'QAD', 'QAE');
SELECT regress_error($q$SELECT ticket.enqueue(402, 'G7001', '2099-01-01', 'QAD', 'QAE')$q$);
SELECT w.waiting FROM ticket.waiting_requests() w JOIN ticket.run r USING (run_id) JOIN ticket.train t USING (train_id)
WHERE t.code = 'G7001';
RESET ticket.queue_max_waiting;
SELECT ticket.serve_queue() AS served;

-- An expired hold that is not swept yet does not make enqueue say sold out:
-- the server releases it and seats the request.
SET ticket.hold_timeout = '1s';
SELECT count(*) AS both_seats_held
FROM generate_series(1, 2) i, LATERAL ticket.grab(500 + i, 'G7003', '2099-01-01', 'QAA', 'QAC') g;
RESET ticket.hold_timeout;
SELECT pg_sleep(1.1);
SELECT status FROM ticket.enqueue(510, 'G7003', '2099-01-01', 'QAA', 'QAB');
SELECT ticket.serve_queue() AS served;
SELECT s.status, s.seat_no FROM ticket.queue_request q, ticket.queue_status(q.request_id) s WHERE q.user_id = 510;
SELECT o.user_id, o.status FROM ticket.orders o WHERE o.user_id BETWEEN 500 AND 510 ORDER BY o.user_id;

-- Should the batch meet something its checks did not foresee (here a seat
-- map wiped behind the extension's back, so a taken seat looks free and the
-- exclusion constraint objects), nothing of it is kept and its first
-- request is served alone, the way grab serves, which repairs the map.
UPDATE ticket.run_carriage rc SET map = ticket.seatmap_new(rc.seats, r.n_legs)
FROM ticket.run r JOIN ticket.train t USING (train_id)
WHERE rc.run_id = r.run_id AND t.code = 'G7002' AND rc.carriage_no = 1;
SELECT count(ticket.enqueue(600 + i, 'G7002', '2099-01-01', 'QAA', 'QAB', 'second')) AS queued
FROM generate_series(1, 3) i;
SET client_min_messages = error;
SELECT ticket.serve_queue() AS served_alone;
RESET client_min_messages;
SELECT q.user_id, q.status, s.error_sqlstate FROM ticket.queue_request q, ticket.queue_status(q.request_id) s
WHERE q.user_id > 600 ORDER BY q.queue_position;
SELECT ticket.serve_queue() AS served_after_repair;
SELECT q.user_id, q.status, s.error_sqlstate FROM ticket.queue_request q, ticket.queue_status(q.request_id) s
WHERE q.user_id > 600 ORDER BY q.queue_position;
-- no two live tickets overlap, by an independent int4range check
SELECT count(*) AS overlapping_pairs FROM ticket.tickets a JOIN ticket.tickets b
	ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
	AND a.legs::text::int4range && b.legs::text::int4range
WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid');

-- The waitlist ---------------------------------------------------------------
-- G7003's two seats: sell both on the whole route (user 700 and 701, paid).
SELECT ticket.cancel(o.order_id) FROM ticket.orders o WHERE o.user_id IN (510) AND o.status = 'held';
SELECT regress_error($q$SELECT ticket.join_waitlist(710, 'G7003', '2099-01-01', 'QAA', 'QAB')$q$);
SELECT ticket.confirm(g.order_id) FROM (VALUES (700), (701)) u(id),
	LATERAL ticket.grab(u.id, 'G7003', '2099-01-01', 'QAA', 'QAC') g;
SELECT * FROM ticket.remaining('G7003', '2099-01-01', 'QAA', 'QAC');
-- three requests in order: a first leg, the whole route, a second leg
SELECT ticket.join_waitlist(710, 'G7003', '2099-01-01', 'QAA', 'QAB') AS w1;
SELECT ticket.join_waitlist(711, 'G7003', '2099-01-01', 'QAA', 'QAC', ARRAY['second']) AS w2;
SELECT ticket.join_waitlist(712, 'G7003', '2099-01-01', 'QAB', 'QAC', ARRAY['O'],
	'2098-12-31 12:00+08') AS w3;
SELECT waitlist_id, w.user_id, w.legs, w.seat_classes, s.status, s.ahead, s.deadline = w.deadline AS same_deadline
FROM ticket.waitlist w, ticket.waitlist_status(w.waitlist_id) s ORDER BY waitlist_id;
-- the default deadline is the departure from the journey's first station
SELECT deadline = ticket.departure_time(run_id, 0) AS deadline_is_departure FROM ticket.waitlist WHERE user_id = 710;
SELECT regress_error($q$SELECT ticket.join_waitlist(710, 'G7003', '2099-01-01', 'QAB', 'QAC')$q$);
SELECT split_part(regress_error($q$SELECT ticket.join_waitlist(713, 'G7003', '2099-01-01', 'QAA', 'QAC', NULL, now() - interval '1 minute')$q$), ':', 1) AS deadline_passed;
SELECT regress_error($q$SELECT ticket.join_waitlist(713, 'G7003', '2099-01-01', 'QAA', 'QAC', NULL, '2099-02-01')$q$);
SELECT regress_error($q$SELECT ticket.join_waitlist(713, 'G7003', '2099-01-01', 'QAA', 'QAC', ARRAY['second', NULL])$q$);
SELECT regress_error($q$SELECT ticket.join_waitlist(713, 'G7003', '2099-01-01', 'QAA', 'QAC', ARRAY['deluxe'])$q$);
SELECT regress_error($q$SELECT ticket.join_waitlist(NULL, 'G7003', '2099-01-01', 'QAA', 'QAC')$q$);
SELECT regress_error($q$SELECT * FROM ticket.waitlist_status(999)$q$);
SELECT regress_error($q$SELECT ticket.leave_waitlist(999)$q$);

-- A refund returns seat A on both legs: the first request (first leg)
-- gets it, the second (whole route) no longer fits and is passed over, not
-- waited for, and the third (second leg) gets the rest.  All in the
-- refund's transaction: no public grab ever sees the seat free.
SELECT ticket.refund(o.order_id) FROM ticket.orders o WHERE o.user_id = 700;
SELECT w.user_id, s.status, s.ahead, o.status AS order_status, o.legs, k.seat_no
FROM ticket.waitlist w CROSS JOIN LATERAL ticket.waitlist_status(w.waitlist_id) s
LEFT JOIN ticket.orders o ON o.order_id = s.order_id
LEFT JOIN ticket.tickets t ON t.order_id = o.order_id LEFT JOIN ticket.seat k ON k.seat_id = t.seat_id
ORDER BY w.waitlist_id;
SELECT * FROM ticket.remaining('G7003', '2099-01-01', 'QAA', 'QAB');
-- the first leg comes back (user 710 does not pay): the whole-route request
-- still does not fit, so the seat goes on public sale
SELECT ticket.cancel(o.order_id) FROM ticket.orders o WHERE o.user_id = 710 AND o.status = 'held';
SELECT w.user_id, s.status FROM ticket.waitlist w, ticket.waitlist_status(w.waitlist_id) s ORDER BY w.waitlist_id;
SELECT * FROM ticket.remaining('G7003', '2099-01-01', 'QAA', 'QAB');
-- holds that expire come back too, through the sweeper: once user 720's
-- first leg and user 712's second leg of seat A expire, the whole route is
-- free and the waiting whole-route request gets it
SELECT (ticket.grab(720, 'G7003', '2099-01-01', 'QAA', 'QAB')).seat_no AS public_grab_of_the_first_leg;
UPDATE ticket.orders SET hold_until = now() - interval '1 second' WHERE user_id = 720;
UPDATE ticket.tickets t SET hold_until = now() - interval '1 second' FROM ticket.orders o
WHERE o.order_id = t.order_id AND o.user_id = 720;
UPDATE ticket.orders SET hold_until = now() - interval '1 second' WHERE user_id = 712 AND status = 'held';
UPDATE ticket.tickets t SET hold_until = now() - interval '1 second' FROM ticket.orders o
WHERE o.order_id = t.order_id AND o.user_id = 712 AND o.status = 'held';
SELECT ticket.expire_holds() AS expired_orders;
SELECT w.user_id, s.status, o.legs, k.seat_no
FROM ticket.waitlist w CROSS JOIN LATERAL ticket.waitlist_status(w.waitlist_id) s
LEFT JOIN ticket.orders o ON o.order_id = s.order_id
LEFT JOIN ticket.tickets t ON t.order_id = o.order_id LEFT JOIN ticket.seat k ON k.seat_id = t.seat_id
ORDER BY w.waitlist_id;
-- leaving is idempotent; a fulfilled request keeps its order
SELECT ticket.leave_waitlist(w.waitlist_id) FROM ticket.waitlist w WHERE w.user_id = 711;
SELECT ticket.join_waitlist(730, 'G7003', '2099-01-01', 'QAA', 'QAC', NULL, now() + interval '1 second') AS w4;
SELECT ticket.join_waitlist(731, 'G7003', '2099-01-01', 'QAA', 'QAC') AS w5;
SELECT ticket.leave_waitlist(w.waitlist_id) AS leave, ticket.leave_waitlist(w.waitlist_id) AS again
FROM ticket.waitlist w WHERE w.user_id = 731;
-- a request past its deadline ends: the status says so at once, the sweeper records it
SELECT pg_sleep(1.1);
SELECT s.status FROM ticket.waitlist w, ticket.waitlist_status(w.waitlist_id) s WHERE w.user_id = 730;
SELECT ticket.expire_holds() >= 0 AS swept;
SELECT w.user_id, w.status, w.closed_at IS NOT NULL AS closed FROM ticket.waitlist w ORDER BY w.waitlist_id;
-- nothing overlaps, nothing is lost: every live ticket is in the seat maps,
-- which equal a recount from the tickets
SELECT count(*) AS overlapping_pairs FROM ticket.tickets a JOIN ticket.tickets b
	ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
	AND a.legs::text::int4range && b.legs::text::int4range
WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid');
CREATE TEMP TABLE maps_before AS SELECT run_id, carriage_no, map FROM ticket.run_carriage;
SELECT count(ticket.rebuild_seat_map(run_id, carriage_no)) AS recounted FROM ticket.run_carriage;
SELECT count(*) AS maps_differing_from_recount
FROM maps_before b JOIN ticket.run_carriage rc USING (run_id, carriage_no) WHERE rc.map <> b.map;

-- 1.5: served in order, every request still waiting comes after the last
-- one served, so the scans of enqueue and the batches start there.
WITH e AS (SELECT ticket.enqueue(900, 'G7001', '2099-01-01', 'QAA', 'QAB') AS first,
                  ticket.enqueue(901, 'G7001', '2099-01-01', 'QAA', 'QAB') AS second),
     k AS (INSERT INTO asked SELECT 900, (first).request_id FROM e UNION ALL SELECT 901, (second).request_id FROM e)
SELECT (first).status AS first, (second).ahead AS second_has_ahead FROM e;
SELECT t.code FROM ticket.queued_runs() x JOIN ticket.run r USING (run_id) JOIN ticket.train t USING (train_id);
SELECT ticket.serve_queue(r.run_id, 1) AS served FROM ticket.run r JOIN ticket.train t USING (train_id)
WHERE t.code = 'G7001';
SELECT t.code,
       h.last_position = (SELECT max(q.queue_position) FROM ticket.queue_request q
                          WHERE q.run_id = h.run_id AND q.status <> 'waiting') AS head_at_last_served,
       (SELECT count(*) FROM ticket.queue_request q
        WHERE q.run_id = h.run_id AND q.status = 'waiting' AND q.queue_position <= h.last_position) AS waiting_behind_head,
       (SELECT coalesce(sum(w.waiting), 0) FROM ticket.waiting_requests() w WHERE w.run_id = h.run_id) AS waiting
FROM ticket.queue_head h JOIN ticket.run r USING (run_id) JOIN ticket.train t USING (train_id) ORDER BY t.code;
-- (the one still waiting, wherever it waits, comes after the head)
SELECT s.status, s.ahead, s.queue_position > h.last_position AS after_head
FROM asked a, ticket.queue_status(a.request_id) s,
     ticket.queue_head h JOIN ticket.run r USING (run_id) JOIN ticket.train t USING (train_id)
WHERE a.user_id = 901 AND t.code = 'G7001';
SELECT ticket.serve_queue() AS served_the_rest;
SELECT count(*) AS runs_still_queued FROM ticket.queued_runs();
-- wake-ups only with the library preloaded; not preloaded, both say NULL and
-- queue_wait() sleeps on the batch lock instead
SELECT ticket.queue_batch_count(1) IS NULL AS no_wakeup_count, ticket.queue_sleep(1, 0, now()) IS NULL AS no_wakeup_sleep;
SELECT s.status FROM ticket.queue_request q, ticket.queue_wait(q.request_id, '1 s') s WHERE q.user_id = 901;

-- 1.5: a waitlist request with passengers is fulfilled as an order with
-- their names.  G7005 has one second-class row of two seats (A B); both are
-- sold on the whole route.
SELECT ticket.add_train('G7005', ARRAY['QAA', 'QAB', 'QAC'], ARRAY[NULL, '8:30', '9:30']::interval[],
	ARRAY['8:00', '8:32', NULL]::interval[]) > 0 AS added,
       ticket.add_carriage('G7005', 1, 'second', 1, 'AB') AS seats,
       ticket.open_sales('G7005', DATE '2099-01-01') > 0 AS open;
SELECT ticket.add_passenger(750, '110101198001015559', '吴十') > 0 AS wu,
       ticket.add_passenger(750, '440304199001011233', '王五', 'student') > 0 AS wang,
       ticket.add_passenger(751, '11010519491231002X', '张三') > 0 AS zhang;
-- while two seats are free the pair should grab them; with one, it may wait
SELECT regress_error($q$SELECT ticket.join_waitlist(750, 'G7005', '2099-01-01', 'QAA', 'QAC', ARRAY['second'], NULL,
	ARRAY['110101198001015559', '440304199001011233'])$q$);
SELECT ticket.confirm(g.order_id) FROM ticket.grab(752, 'G7005', '2099-01-01', 'QAA', 'QAC') g;
SELECT ticket.join_waitlist(750, 'G7005', '2099-01-01', 'QAA', 'QAC', ARRAY['second'], NULL,
	ARRAY['110101198001015559', ' 440304199001011233 ']) > 0 AS pair_waits;
SELECT w.passengers FROM ticket.waitlist w WHERE w.user_id = 750;
SELECT ticket.confirm(g.order_id) FROM ticket.grab(753, 'G7005', '2099-01-01', 'QAA', 'QAC') g;
-- behind the pair, a single passenger
SELECT ticket.join_waitlist(751, 'G7005', '2099-01-01', 'QAA', 'QAC', passengers => ARRAY['11010519491231002X']) > 0 AS single_waits;
-- the passengers must be the account's, each once, at most five
SELECT regress_error($q$SELECT ticket.join_waitlist(754, 'G7005', '2099-01-01', 'QAA', 'QAC', NULL, NULL, ARRAY['110101198001015559'])$q$);
SELECT regress_error($q$SELECT ticket.join_waitlist(754, 'G7005', '2099-01-01', 'QAA', 'QAC', NULL, NULL, ARRAY['1', '1'])$q$);
SELECT regress_error($q$SELECT ticket.join_waitlist(754, 'G7005', '2099-01-01', 'QAA', 'QAC', NULL, NULL, ARRAY[]::text[])$q$);
-- one seat comes back: the pair does not fit and is passed over, the single passenger gets it
SELECT ticket.refund(o.order_id) FROM ticket.orders o WHERE o.user_id = 752;
SELECT w.user_id, s.status, p.passenger, p.passenger_type, p.seat_no, p.status AS ticket_status
FROM ticket.waitlist w CROSS JOIN LATERAL ticket.waitlist_status(w.waitlist_id) s
LEFT JOIN LATERAL ticket.order_tickets(s.order_id) p ON true
WHERE w.run_id = (SELECT run_id FROM ticket.run JOIN ticket.train USING (train_id) WHERE code = 'G7005')
ORDER BY w.waitlist_id, p.ticket_id;
-- the single passenger cancels and the other seat comes back too: now the pair fits, together
SELECT ticket.cancel(o.order_id) FROM ticket.orders o WHERE o.user_id = 751 AND o.status = 'held';
SELECT ticket.refund(o.order_id) FROM ticket.orders o WHERE o.user_id = 753;
SELECT w.user_id, s.status, p.passenger, p.passenger_type, p.seat_no, p.price > 0 AS priced, p.status AS ticket_status
FROM ticket.waitlist w CROSS JOIN LATERAL ticket.waitlist_status(w.waitlist_id) s
LEFT JOIN LATERAL ticket.order_tickets(s.order_id) p ON true
WHERE w.run_id = (SELECT run_id FROM ticket.run JOIN ticket.train USING (train_id) WHERE code = 'G7005')
ORDER BY w.waitlist_id, p.ticket_id;
-- the student pays less than the adult, and nothing is left for public sale
SELECT count(DISTINCT t.price) AS two_fares FROM ticket.tickets t JOIN ticket.orders o USING (order_id)
WHERE o.user_id = 750 AND t.status = 'held';
SELECT * FROM ticket.remaining('G7005', '2099-01-01', 'QAA', 'QAC');
-- queue_wait's own errors
SELECT regress_error($q$SELECT * FROM ticket.queue_wait(1, '-1 s')$q$);
SELECT regress_error($q$SELECT * FROM ticket.queue_wait(1, NULL)$q$);
SELECT regress_error($q$SELECT * FROM ticket.queue_wait(999999, '1 s')$q$);
SELECT regress_error($q$SELECT * FROM ticket.queue_wait(NULL)$q$);
-- a request still waiting at the timeout says so, with its place
WITH e AS (SELECT * FROM ticket.enqueue(902, 'G7001', '2099-01-01', 'QAB', 'QAC')),
     k AS (INSERT INTO asked SELECT 902, request_id FROM e)
SELECT status AS queued FROM e;
SELECT s.status, s.queue_position > 0 AS has_position, s.ahead, s.order_id
FROM asked a, ticket.queue_wait(a.request_id, '0.1 s') s WHERE a.user_id = 902;
SELECT ticket.serve_queue() AS served;
SELECT s.status, s.carriage IS NOT NULL AS seated, s.hold_until > now() AS held
FROM asked a, ticket.queue_wait(a.request_id) s WHERE a.user_id = 902;
