-- What the rush did, checked independently of the extension's own code.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SET search_path = public, ticket;
SELECT sale_date AS day FROM demo.config \gset

\echo
\echo '== Outcomes of the rush (one row per attempt: an account ordering for its family, or a queued seat for one of them)'
SELECT path, outcome, count(*) AS attempts,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY path), 1) AS "% of path"
FROM demo.attempt GROUP BY path, outcome ORDER BY path, count(*) DESC;

\echo '== Throughput and server-side time of an attempt (grab + pay/cancel/refund; queue: enqueue to paid, polling included)'
SELECT path, count(*) AS attempts,
       round(extract(epoch FROM max(at) - min(at))::numeric, 1) AS seconds,
       round(count(*) / greatest(extract(epoch FROM max(at) - min(at)), 0.001)::numeric) AS per_second,
       round(percentile_cont(0.50) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p50_ms,
       round(percentile_cont(0.90) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p90_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p99_ms,
       round(max(ms)::numeric, 2) AS max_ms
FROM demo.attempt GROUP BY path ORDER BY path;

\echo '== Orders by status (named: with passengers, real names being required; single seat: none)'
SELECT o.status, count(*) FILTER (WHERE o.total IS NOT NULL) AS named_orders,
       count(*) FILTER (WHERE o.total IS NULL) AS single_seat_orders
FROM ticket.orders o GROUP BY o.status ORDER BY count(*) DESC;

\echo '== The hot trains on' :day': tickets paid and held, seats, sold-out answers'
SELECT t.code AS train, count(*) FILTER (WHERE k.status = 'paid') AS paid_tickets,
       count(*) FILTER (WHERE k.status = 'held' AND k.hold_until > now()) AS live_holds,
       (SELECT count(*) FROM ticket.seat s WHERE s.train_id = t.train_id) AS seats,
       (SELECT count(*) FROM demo.attempt a WHERE a.train = t.code AND a.outcome LIKE '%sold out%') AS sold_out_answers
FROM demo.hot_train h JOIN ticket.train t ON t.code = h.code
JOIN ticket.run r ON r.train_id = t.train_id AND r.service_date = :'day'
LEFT JOIN ticket.tickets k ON k.run_id = r.run_id
GROUP BY t.code, t.train_id ORDER BY t.code;

\echo '== Groups: how the orders that got seats were seated (placement), and window seats asked for (选座)'
SELECT a.group_size AS passengers, count(*) AS orders,
       count(*) FILTER (WHERE a.placement = 'row') AS "one row",
       count(*) FILTER (WHERE a.placement = 'adjacent_rows') AS "two rows",
       count(*) FILTER (WHERE a.placement = 'carriage') AS "same carriage",
       count(*) FILTER (WHERE a.placement = 'spread') AS spread,
       count(*) FILTER (WHERE a.letters IS NOT NULL) AS asked_letters,
       count(*) FILTER (WHERE a.seats_as_asked) AS got_them
FROM demo.attempt a WHERE a.path = 'direct' AND a.placement IS NOT NULL
GROUP BY a.group_size ORDER BY a.group_size;
\echo '   a few groups that asked for AF, as seated:'
SELECT a.order_id, a.train, a.seat_class, a.group_size AS passengers, a.letters, a.placement, a.seats_as_asked,
       string_agg(p.name || ' ' || s.carriage_no || '/' || s.seat_no, ', ' ORDER BY k.ticket_id) AS "passenger carriage/seat"
FROM (SELECT * FROM demo.attempt WHERE letters = 'AF' AND placement IS NOT NULL ORDER BY group_size DESC, order_id LIMIT 3) a
JOIN ticket.tickets k ON k.order_id = a.order_id
JOIN ticket.seat s ON s.seat_id = k.seat_id JOIN ticket.passenger p ON p.passenger_id = k.passenger_id
GROUP BY a.order_id, a.train, a.seat_class, a.group_size, a.letters, a.placement, a.seats_as_asked
ORDER BY a.group_size DESC, a.order_id;

\echo '== Fares paid: tickets with passengers, by class and passenger type (price per ticket, from tickets.price)'
SELECT s.seat_class, k.passenger_type, count(*) AS paid_tickets,
       min(k.price) AS cheapest, round(avg(k.price), 1) AS average, max(k.price) AS dearest, sum(k.price) AS revenue
FROM ticket.tickets k JOIN ticket.seat s USING (seat_id)
WHERE k.status = 'paid' AND k.price IS NOT NULL
GROUP BY s.seat_class, k.passenger_type ORDER BY s.seat_class, k.passenger_type;
\echo '   for example, G1 北京南 > 上海虹桥 (ticket.fare):'
SELECT c.seat_class, ticket.fare('G1', '北京南', '上海虹桥', c.seat_class) AS adult,
       ticket.fare('G1', '北京南', '上海虹桥', c.seat_class, 'student') AS student,
       ticket.fare('G1', '北京南', '上海虹桥', c.seat_class, 'child') AS child
FROM (VALUES (1, 'business'), (2, 'first'), (3, 'second')) c(n, seat_class) ORDER BY c.n;

\echo '== Refunds: fees kept by time to departure (12306: free 8 days or more before, 5% from 48 h, 10% from 24 h, 20% after)'
SELECT CASE WHEN o.status = 'refunded' AND NOT EXISTS (SELECT 1 FROM ticket.tickets x WHERE x.order_id = o.order_id AND x.status <> 'refunded')
            THEN 'whole order (refund)' ELSE 'one ticket (refund_ticket)' END AS refunded,
       count(*) AS tickets, sum(k.price) AS price, sum(k.refund_fee) AS fees, sum(k.price - k.refund_fee) AS paid_back,
       round(100 * sum(k.refund_fee) / sum(k.price), 1) AS fee_percent,
       date_trunc('hour', min(lower(k.travel) - ticket.beijing_now())) AS soonest_departure_in
FROM ticket.tickets k JOIN ticket.orders o USING (order_id)
WHERE k.status = 'refunded' AND k.price IS NOT NULL GROUP BY 1 ORDER BY 1;
\echo '   the fee one of those tickets would have cost at other times (ticket.refund_fee):'
SELECT k.ticket_id, k.price, ticket.refund_fee(k.price, '10 days') AS "10 days before",
       ticket.refund_fee(k.price, '3 days') AS "3 days", ticket.refund_fee(k.price, '30 hours') AS "30 hours",
       ticket.refund_fee(k.price, '2 hours') AS "2 hours"
FROM ticket.tickets k WHERE k.status = 'refunded' AND k.price IS NOT NULL ORDER BY k.price DESC, k.ticket_id LIMIT 1;

\echo '== The queue: requests accepted, served by the background worker strictly in order, and how long they waited'
SELECT t.code AS train, count(*) AS accepted, min(q.queue_position) AS first_position, max(q.queue_position) AS last_position,
       max(h.served) AS "served (queue_head)", count(*) FILTER (WHERE q.status = 'done') AS done,
       count(*) FILTER (WHERE q.status = 'failed') AS failed, count(*) FILTER (WHERE q.status = 'waiting') AS waiting,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM q.served_at - q.accepted_at) * 1000)::numeric, 1) AS p50_wait_ms,
       round(max(extract(epoch FROM q.served_at - q.accepted_at) * 1000)::numeric, 1) AS max_wait_ms
FROM ticket.queue_request q JOIN ticket.run r USING (run_id) JOIN ticket.train t USING (train_id)
LEFT JOIN ticket.queue_head h ON h.run_id = q.run_id
GROUP BY t.code ORDER BY t.code;
\echo '   requests ahead when accepted (ticket.enqueue), by attempt:'
SELECT count(*) AS accepted, count(*) FILTER (WHERE queue_ahead = 0) AS none_ahead,
       round(avg(queue_ahead), 1) AS average_ahead, max(queue_ahead) AS most_ahead
FROM demo.attempt WHERE path = 'queue' AND queue_position IS NOT NULL;
\echo '   the queue second by second (sampled during the rush; every 5th second and the longest wait):'
SELECT second, accepted, served, waiting, longest AS "longest run queue", last_position,
       tickets_sold AS tickets_paid, waitlist_waiting, waitlist_fulfilled
FROM demo.sample WHERE second % 5 = 0 OR second = (SELECT s.second FROM demo.sample s ORDER BY s.waiting DESC, s.second LIMIT 1)
ORDER BY second;
\echo '   the longest time nothing was served while requests waited (from queue_request.accepted_at and served_at):'
SELECT round(extract(epoch FROM x.gap)::numeric, 2) AS seconds, x.served_at AS "ended at", x.request_id AS "by serving request"
FROM (SELECT q.request_id, q.served_at,
             q.served_at - greatest(lag(q.served_at) OVER (ORDER BY q.service_no), q.accepted_at) AS gap
      FROM ticket.queue_request q WHERE q.service_no IS NOT NULL) x
ORDER BY x.gap DESC NULLS LAST LIMIT 1;

\echo '== The waitlist (候补) during the rush: requests left on sold-out journeys, and what became of them'
SELECT w.status, count(*) AS requests, count(o.order_id) AS with_order,
       count(*) FILTER (WHERE o.status = 'paid') AS order_paid, count(*) FILTER (WHERE o.status = 'held') AS order_held,
       count(*) FILTER (WHERE o.status = 'expired') AS order_expired
FROM ticket.waitlist w LEFT JOIN ticket.orders o USING (order_id)
JOIN ticket.run r ON r.run_id = w.run_id JOIN ticket.train t ON t.train_id = r.train_id
JOIN demo.hot_train h ON h.code = t.code
GROUP BY w.status ORDER BY count(*) DESC;

\echo '== Checks, each by an independent query (all must be 0)'
SELECT
  (SELECT count(*) FROM ticket.tickets a JOIN ticket.tickets b
     ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
    AND int4range(ticket.lower(a.legs), ticket.upper(a.legs)) && int4range(ticket.lower(b.legs), ticket.upper(b.legs))
   WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid')) AS "seat legs sold twice (int4range)",
  (SELECT count(*) FROM ticket.tickets a JOIN ticket.passenger pa ON pa.passenger_id = a.passenger_id
   JOIN ticket.tickets b ON a.ticket_id < b.ticket_id JOIN ticket.passenger pb ON pb.passenger_id = b.passenger_id
    AND pa.document_type = pb.document_type AND pa.document_no = pb.document_no
   JOIN ticket.run ra ON ra.run_id = a.run_id JOIN ticket.run rb ON rb.run_id = b.run_id
   JOIN ticket.stop sa1 ON sa1.train_id = ra.train_id AND sa1.stop_no = ticket.lower(a.legs)
   JOIN ticket.stop sa2 ON sa2.train_id = ra.train_id AND sa2.stop_no = ticket.upper(a.legs)
   JOIN ticket.stop sb1 ON sb1.train_id = rb.train_id AND sb1.stop_no = ticket.lower(b.legs)
   JOIN ticket.stop sb2 ON sb2.train_id = rb.train_id AND sb2.stop_no = ticket.upper(b.legs)
   WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid')
     AND tsrange(ra.service_date + sa1.depart, ra.service_date + sa2.arrive)
      && tsrange(rb.service_date + sb1.depart, rb.service_date + sb2.arrive)) AS "people in two places at once (tsrange)",
  (SELECT count(*) FROM ticket.orders o
   WHERE o.total IS NOT NULL AND o.total <> (SELECT sum(k.price) FROM ticket.tickets k WHERE k.order_id = o.order_id)) AS "order totals <> sum of prices",
  (SELECT count(*) FROM ticket.tickets k
   WHERE k.status = 'refunded' AND k.price IS NOT NULL
     AND k.refund_fee IS DISTINCT FROM
         least(k.price, greatest(2, round(k.price * 0.05 * 2) / 2))) AS "refund fees <> 5% (sold 2 to 8 days ahead)",
  (SELECT count(*) FROM (SELECT o.user_id, o.run_id FROM ticket.orders o WHERE o.status = 'held'
                         GROUP BY 1, 2 HAVING count(*) > 1) x) AS "users with 2 unpaid orders on a run",
  (SELECT count(*) FROM (
     SELECT q.run_id, q.queue_position, q.service_no,
            lag(q.service_no) OVER (PARTITION BY q.run_id ORDER BY q.queue_position) AS before
     FROM ticket.queue_request q WHERE q.status <> 'waiting') x
   WHERE x.service_no < x.before) AS "queue requests served out of order",
  (WITH hot_run AS (
     SELECT r.run_id, r.train_id, r.n_legs FROM ticket.run r JOIN ticket.train t USING (train_id)
     WHERE r.service_date = :'day' AND (t.code IN (SELECT h.code FROM demo.hot_train h) OR t.code = 'G2')),
   taken AS (
     SELECT k.run_id, s.carriage_no, leg, count(*) AS n
     FROM ticket.tickets k JOIN hot_run USING (run_id) JOIN ticket.seat s USING (seat_id)
     CROSS JOIN generate_series(ticket.lower(k.legs), ticket.upper(k.legs) - 1) leg
     WHERE k.status IN ('held', 'paid') GROUP BY 1, 2, 3)
   SELECT count(*) FROM hot_run r JOIN ticket.run_carriage rc USING (run_id)
   CROSS JOIN generate_series(0, r.n_legs - 1) g(leg)
   LEFT JOIN taken x ON x.run_id = r.run_id AND x.carriage_no = rc.carriage_no AND x.leg = g.leg
   WHERE ticket.seatmap_free(rc.map, ticket.segrange(g.leg, g.leg + 1))
      <> (SELECT count(*) FROM ticket.seat s WHERE s.train_id = r.train_id AND s.carriage_no = rc.carriage_no)
         - coalesce(x.n, 0)) AS "seat map counts <> live tickets";

\echo '== Occupancy of G1228 (36 legs) on' :day', carriage 4, rows 01-10: one line per seat, one column per leg'
\echo '   # paid   h held   . free'
SELECT seat_no, string_agg(mark, '' ORDER BY leg) AS "legs 0 .. 35"
FROM (
	SELECT s.seat_id, s.seat_no, leg,
	       CASE WHEN bool_or(k.status = 'paid') THEN '#'
	            WHEN bool_or(k.status = 'held' AND k.hold_until > now()) THEN 'h'
	            ELSE '.' END AS mark
	FROM ticket.seat s
	JOIN ticket.train t ON t.train_id = s.train_id AND t.code = 'G1228'
	JOIN ticket.run r ON r.train_id = t.train_id AND r.service_date = :'day'
	CROSS JOIN generate_series(0, r.n_legs - 1) leg
	LEFT JOIN ticket.tickets k ON k.run_id = r.run_id AND k.seat_id = s.seat_id
	     AND k.legs @> leg AND k.status IN ('held', 'paid')
	WHERE s.carriage_no = 4 AND s.seat_no <= '10F'
	GROUP BY s.seat_id, s.seat_no, leg) m
GROUP BY seat_id, seat_no ORDER BY seat_id;

\echo '== Remaining tickets on G1 on' :day', every from/to pair, by ticket.remaining()'
SELECT f.name || ' > ' || t.name AS journey,
       max(r.remaining) FILTER (WHERE r.seat_class = 'business') AS business,
       max(r.remaining) FILTER (WHERE r.seat_class = 'first') AS first,
       max(r.remaining) FILTER (WHERE r.seat_class = 'second') AS second
FROM ticket.stop a
JOIN ticket.stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
JOIN ticket.train g ON g.train_id = a.train_id AND g.code = 'G1'
JOIN ticket.station f ON f.station_id = a.station_id
JOIN ticket.station t ON t.station_id = b.station_id
CROSS JOIN LATERAL ticket.remaining('G1', :'day', f.code, t.code) r
GROUP BY a.stop_no, b.stop_no, f.name, t.name ORDER BY a.stop_no, b.stop_no;

\echo '== Journey search on' :day': direct trains 杭州 > 齐齐哈尔 (ticket.search)'
SELECT s.train, s.run_date, s.departure, s.arrival, s.duration, s.sales, s.remaining
FROM ticket.search('杭州', '齐齐哈尔', :'day') s;
\echo '   one change, 杭州东 > 太原南, earliest arrival first (ticket.search_transfers, first 3)'
SELECT x.departure, x.train_1, c1.name AS change_at, x.change_arrival, x.train_2, x.change_departure,
       x.connection, x.arrival, x.duration, x.sales_1, x.sales_2
FROM ticket.search_transfers('杭州东', '太原南', :'day', max_results => 3) x
JOIN ticket.station c1 ON c1.code = x.change_at;
