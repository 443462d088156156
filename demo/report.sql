-- What the rush did, checked independently of the extension's own code.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SET search_path = public, ticket;

\echo
\echo '== Outcomes of the rush (one row per passenger)'
SELECT outcome, count(*) AS passengers,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS percent
FROM demo.attempt GROUP BY outcome ORDER BY count(*) DESC;

\echo '== Throughput and server-side latency of a passenger (grab + pay/cancel)'
SELECT count(*) AS passengers,
       round(extract(epoch FROM max(at) - min(at))::numeric, 1) AS seconds,
       round(count(*) / greatest(extract(epoch FROM max(at) - min(at)), 0.001)::numeric) AS per_second,
       round(percentile_cont(0.50) WITHIN GROUP (ORDER BY grab_ms)::numeric, 2) AS p50_ms,
       round(percentile_cont(0.90) WITHIN GROUP (ORDER BY grab_ms)::numeric, 2) AS p90_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY grab_ms)::numeric, 2) AS p99_ms,
       round(max(grab_ms)::numeric, 2) AS max_ms
FROM demo.attempt;

\echo '== Orders by status'
SELECT status, count(*) FROM ticket.orders GROUP BY status ORDER BY count(*) DESC;

\echo '== The hot trains: seats sold (paid) and held, by journeys'
SELECT t.code AS train, count(*) FILTER (WHERE k.status = 'paid') AS paid_tickets,
       count(*) FILTER (WHERE k.status = 'held' AND k.hold_until > now()) AS live_holds,
       (SELECT count(*) FROM ticket.seat s WHERE s.train_id = t.train_id) AS seats,
       (SELECT count(*) FROM demo.attempt a WHERE a.train = t.code AND a.outcome = 'sold out') AS sold_out_answers
FROM demo.hot_train h JOIN ticket.train t ON t.code = h.code
JOIN ticket.run r ON r.train_id = t.train_id AND r.service_date = '2021-04-13'
LEFT JOIN ticket.tickets k ON k.run_id = r.run_id
GROUP BY t.code, t.train_id ORDER BY t.code;

\echo '== Double bookings, by an independent query over int4range (must be 0)'
SELECT count(*) AS overlapping_live_tickets
FROM ticket.tickets a JOIN ticket.tickets b
  ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
 AND int4range(ticket.lower(a.legs), ticket.upper(a.legs)) && int4range(ticket.lower(b.legs), ticket.upper(b.legs))
WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid');

\echo '== Occupancy of G1228 (36 legs), carriage 4, rows 01-10: one line per seat, one column per leg'
\echo '   # paid   h held   . free'
SELECT seat_no, string_agg(mark, '' ORDER BY leg) AS "legs 0 .. 35"
FROM (
	SELECT s.seat_id, s.seat_no, leg,
	       CASE WHEN bool_or(k.status = 'paid') THEN '#'
	            WHEN bool_or(k.status = 'held' AND k.hold_until > now()) THEN 'h'
	            ELSE '.' END AS mark
	FROM ticket.seat s
	JOIN ticket.train t ON t.train_id = s.train_id AND t.code = 'G1228'
	JOIN ticket.run r ON r.train_id = t.train_id AND r.service_date = '2021-04-13'
	CROSS JOIN generate_series(0, r.n_legs - 1) leg
	LEFT JOIN ticket.tickets k ON k.run_id = r.run_id AND k.seat_id = s.seat_id
	     AND k.legs @> leg AND k.status IN ('held', 'paid')
	WHERE s.carriage_no = 4 AND s.seat_no <= '10F'
	GROUP BY s.seat_id, s.seat_no, leg) m
GROUP BY seat_id, seat_no ORDER BY seat_id;

\echo '== Remaining tickets on G1 (2021-04-13), every from/to pair, by ticket.remaining()'
SELECT f.name || ' > ' || t.name AS journey,
       max(r.remaining) FILTER (WHERE r.seat_class = 'business') AS business,
       max(r.remaining) FILTER (WHERE r.seat_class = 'first') AS first,
       max(r.remaining) FILTER (WHERE r.seat_class = 'second') AS second
FROM ticket.stop a
JOIN ticket.stop b ON b.train_id = a.train_id AND b.stop_no > a.stop_no
JOIN ticket.train g ON g.train_id = a.train_id AND g.code = 'G1'
JOIN ticket.station f ON f.station_id = a.station_id
JOIN ticket.station t ON t.station_id = b.station_id
CROSS JOIN LATERAL ticket.remaining('G1', '2021-04-13', f.code, t.code) r
GROUP BY a.stop_no, b.stop_no, f.name, t.name ORDER BY a.stop_no, b.stop_no;
