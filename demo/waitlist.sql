-- After the rush, on a quiet train: a journey sells out, two accounts join
-- its waitlist (候补), a ticket is refunded and its seat goes to the first of
-- them in the refund's own transaction.  Scaffolding for the demo.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SET search_path = public, ticket;
SET ticket.hold_timeout = '15min';
SELECT sale_date AS day FROM demo.config \gset
\set train G2
\set from_station 上海虹桥
\set to_station 北京南

-- what a statement raised, as SQLSTATE and message (for the expected refusals)
CREATE FUNCTION demo.outcome_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

\echo
\echo '== The fare of' :train :from_station '>' :to_station 'on' :day', by class and passenger type (ticket.fare)'
SELECT c.seat_class, ticket.fare(:'train', :'from_station', :'to_station', c.seat_class) AS adult,
       ticket.fare(:'train', :'from_station', :'to_station', c.seat_class, 'student') AS student,
       ticket.fare(:'train', :'from_station', :'to_station', c.seat_class, 'child') AS child
FROM (VALUES (1, 'business'), (2, 'first'), (3, 'second')) c(n, seat_class) ORDER BY c.n;

\echo '== Travel agencies buy up business class: groups of up to 5 family members per account, paid at once'
CREATE TEMP TABLE tour (account bigint, b ticket.passenger_booking);
DO $$
DECLARE
	day date := (SELECT c.sale_date FROM demo.config c);
	acct bigint := 900000;
	left_ integer;
BEGIN
	LOOP
		SELECT r.remaining INTO left_ FROM ticket.remaining('G2', day, '上海虹桥', '北京南') r
		WHERE r.seat_class = 'business';
		EXIT WHEN left_ = 0;
		acct := acct + 1;
		PERFORM ticket.add_passenger(acct, f.document_no, f.name, f.passenger_type)
		FROM demo.family(acct) f ORDER BY f.member;
		INSERT INTO tour
		SELECT acct, b FROM ticket.grab(acct, 'G2', day, '上海虹桥', '北京南', 'business',
			ARRAY(SELECT f.document_no FROM demo.family(acct) f WHERE f.member <= least(5, left_)
			      ORDER BY f.member)) b;
		PERFORM ticket.confirm((SELECT max((t.b).order_id) FROM tour t WHERE t.account = acct));
	END LOOP;
END
$$;
SELECT (b).order_id, account, count(*) AS tickets,
       string_agg((b).passenger || ' ' || (b).carriage || '/' || (b).seat_no, ', ' ORDER BY (b).ticket_id) AS "passenger carriage/seat",
       (b).placement, (b).total AS order_total
FROM tour GROUP BY (b).order_id, account, (b).placement, (b).total ORDER BY (b).order_id;
SELECT seat_class, remaining FROM ticket.remaining(:'train', :'day', :'from_station', :'to_station');

\echo '== Two more travellers want business class: the grab says sold out, so they join the waitlist'
SELECT count(ticket.add_passenger(u, f.document_no, f.name, f.passenger_type)) AS passengers_added
FROM generate_series(900101, 900102) u, demo.family(u) f WHERE f.member = 1;
SELECT demo.outcome_of(format('SELECT ticket.grab(900101, %L, %L, %L, %L, %L, ARRAY[%L])',
	:'train', :'day', :'from_station', :'to_station', 'business',
	(SELECT f.document_no FROM demo.family(900101) f WHERE f.member = 1))) AS "grab by account 900101";
-- requests name their passengers, as a grab with passengers does (1.5; real
-- names are required in this demo, 1.7)
SELECT ticket.join_waitlist(900101, :'train', :'day', :'from_station', :'to_station', ARRAY['business'], NULL,
	ARRAY[(SELECT f.document_no FROM demo.family(900101) f WHERE f.member = 1)]) AS first_waitlist_id \gset
SELECT ticket.join_waitlist(900102, :'train', :'day', :'from_station', :'to_station', ARRAY['business'],
	(SELECT lower(k.travel) AT TIME ZONE 'Asia/Shanghai' - interval '2 hours' FROM ticket.tickets k
	 WHERE k.order_id = (SELECT min((b).order_id) FROM tour) LIMIT 1),
	ARRAY[(SELECT f.document_no FROM demo.family(900102) f WHERE f.member = 1)]) AS second_waitlist_id \gset
SELECT w.waitlist_id, w.user_id AS account, s.status, s.ahead, s.deadline AT TIME ZONE 'Asia/Shanghai' AS "deadline (Beijing)"
FROM ticket.waitlist w CROSS JOIN LATERAL ticket.waitlist_status(w.waitlist_id) s
WHERE w.waitlist_id IN (:first_waitlist_id, :second_waitlist_id) ORDER BY w.waitlist_id;

\echo '== One tour member cannot travel: ticket.refund_ticket() refunds that ticket alone, keeping the fee'
SELECT (b).ticket_id AS refunded_ticket, (b).passenger, (b).carriage, (b).seat_no FROM tour
WHERE (b).ticket_id = (SELECT max((t.b).ticket_id) FROM tour t WHERE (t.b).order_id = (SELECT min((x.b).order_id) FROM tour x)) \gset
SELECT r.ticket_id, :'passenger' AS passenger, r.price, r.fee, r.refunded,
       round(100 * r.fee / r.price, 1) AS fee_percent,
       date_trunc('minute', lower(k.travel) - ticket.beijing_now()) AS before_departure
FROM ticket.refund_ticket(:refunded_ticket) r JOIN ticket.tickets k USING (ticket_id);

\echo '== In the same transaction the seat went to the first waiting request, as a held order'
SELECT w.waitlist_id, w.user_id AS account, s.status, s.ahead, s.order_id, o.passenger, o.carriage, o.seat_no,
       o.status AS order_status,
       CASE WHEN o.carriage = :carriage AND o.seat_no = :'seat_no' THEN 'yes' ELSE 'no' END AS "refunded seat?"
FROM ticket.waitlist w CROSS JOIN LATERAL ticket.waitlist_status(w.waitlist_id) s
LEFT JOIN LATERAL ticket.order_tickets(s.order_id) o ON s.order_id IS NOT NULL
WHERE w.waitlist_id IN (:first_waitlist_id, :second_waitlist_id) ORDER BY w.waitlist_id;
SELECT ticket.confirm(s.order_id) AS "account 900101 pays"
FROM ticket.waitlist_status(:first_waitlist_id) s;
SELECT seat_class, remaining FROM ticket.remaining(:'train', :'day', :'from_station', :'to_station');
