-- The Spring-Festival rush: scaffolding for the demo, not part of the
-- extension.  Two kinds of clients:
--   demo.rush_step(user): an account buys for 1 to 5 of its named passengers
--     (a family, added on first use with real-format resident ID numbers),
--     sitting together, some asking for window seats; then pays (most),
--     cancels, refunds the order or one ticket, or walks away and lets the
--     hold expire; a sold-out journey sometimes makes it join the waitlist.
--   demo.queue_step(user): a seat for one named passenger through the order
--     queue: enqueue (the passenger form: real names are required), commit,
--     poll queue_status() until the background worker has served the
--     request, then pay or cancel.
-- Outcomes and server-side times go to an unlogged table, so the report can
-- say what happened.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS demo;

-- The day on sale: the 2021-04-13 timetable, run three days from today
-- (Beijing time), so refund fees and waitlist deadlines are those of a real
-- sale (5% from 48 hours to 8 days before departure).
CREATE TABLE demo.config (sale_date date NOT NULL);
INSERT INTO demo.config VALUES ((now() AT TIME ZONE 'Asia/Shanghai')::date + 3);

CREATE TABLE demo.hot_train (n serial PRIMARY KEY, code text NOT NULL, n_stops integer NOT NULL);
INSERT INTO demo.hot_train (code, n_stops)
SELECT t.code, t.n_stops FROM ticket.train t
WHERE t.code IN ('G1', 'G11', 'G101', 'G105', 'G107', 'G1228') ORDER BY t.code;

CREATE UNLOGGED TABLE demo.attempt (
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	path text NOT NULL,				-- 'direct' (named passengers) or 'queue'
	user_id bigint NOT NULL,
	train text NOT NULL,
	seat_class text,
	group_size integer,
	letters text,
	outcome text NOT NULL,
	order_id bigint,
	placement text,
	seats_as_asked boolean,
	ms double precision,			-- server time of the whole attempt
	queue_position bigint,
	queue_ahead bigint,				-- requests ahead when it was accepted
	queue_wait_ms double precision	-- accepted to served
);

-- An 18-digit resident ID number: region, birth date, sequence (odd for men)
-- and the ISO 7064 MOD 11-2 check character, computed here on its own (the
-- extension checks it again with ticket.valid_resident_id()).
CREATE FUNCTION demo.resident_id(region text, born date, seq integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	body text := region || to_char(born, 'YYYYMMDD') || lpad(seq::text, 3, '0');
	total integer := 0;
BEGIN
	FOR i IN 1..17 LOOP
		-- weight of digit i: 2^(18-i) mod 11
		total := total + substr(body, i, 1)::integer * ((2 ^ (18 - i))::bigint % 11)::integer;
	END LOOP;
	RETURN body || substr('10X98765432', total % 11 + 1, 1);
END
$$;

-- A family of five per account, made up from the user id: two parents, a
-- student, a child and a grandparent.
CREATE FUNCTION demo.family(user_id bigint)
RETURNS TABLE (member integer, document_no text, name text, passenger_type text)
LANGUAGE sql IMMUTABLE AS $$
	SELECT m.member,
	       -- unique per account and member: the day of birth and the sequence number spell the user id
	       demo.resident_id((ARRAY['110105', '310104', '330106', '320106', '370102', '440305', '510107', '420106'])[1 + user_id % 8],
	                        m.born + (user_id % m.span)::integer, ((user_id / m.span) % 500)::integer * 2 + m.male),
	       -- the mother (member 2) keeps her own surname
	       (ARRAY['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '胡', '朱', '高', '林'])[1 + (user_id + CASE m.member WHEN 2 THEN 5 ELSE 0 END) % 16]
	       || (ARRAY['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '娟', '涛', '明', '超', '霞', '平', '刚'])[1 + (user_id / 16 + m.member * 7) % 20],
	       m.passenger_type
	FROM (VALUES
		(1, date '1975-01-01', 7000, 1, 'adult'),
		(2, date '1977-03-01', 6500, 0, 'adult'),
		(3, date '2004-09-01', 900, 1, 'student'),
		(4, date '2016-01-01', 1800, 0, 'child'),
		(5, date '1948-05-01', 3000, 1, 'adult')) AS m(member, born, span, male, passenger_type)
$$;

-- A journey on one of the hot trains: most people ride far, so journeys
-- start early and end late on the route.
CREATE FUNCTION demo.pick_journey(OUT train text, OUT from_code text, OUT to_code text)
LANGUAGE plpgsql AS $$
DECLARE
	hot demo.hot_train;
	a integer;
	b integer;
BEGIN
	SELECT * INTO hot FROM demo.hot_train ORDER BY random() LIMIT 1;
	a := floor(random() * random() * (hot.n_stops - 1))::integer;
	b := hot.n_stops - 1 - floor(random() * random() * (hot.n_stops - 1 - a))::integer;
	train := hot.code;
	SELECT st.code INTO from_code FROM ticket.stop s JOIN ticket.station st USING (station_id)
	JOIN ticket.train t USING (train_id) WHERE t.code = hot.code AND s.stop_no = a;
	SELECT st.code INTO to_code FROM ticket.stop s JOIN ticket.station st USING (station_id)
	JOIN ticket.train t USING (train_id) WHERE t.code = hot.code AND s.stop_no = b;
END
$$;

-- One account in the rush (one pgbench transaction).
CREATE FUNCTION demo.rush_step(user_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	day date := (SELECT c.sale_date FROM demo.config c);
	j record;
	cls text;
	k integer;
	letters text;
	docs text[];
	b ticket.passenger_booking;
	started timestamptz := clock_timestamp();
	fate double precision := random();
	outcome text;
	last_ticket bigint;
BEGIN
	SELECT * INTO j FROM demo.pick_journey();
	cls := CASE WHEN random() < 0.80 THEN 'second' WHEN random() < 0.8 THEN 'first' ELSE 'business' END;
	-- group sizes: 1 (35%), 2 (30%), 3 (15%), 4 (10%), 5 (10%)
	k := CASE WHEN fate < 0.35 THEN 1 WHEN fate < 0.65 THEN 2 WHEN fate < 0.80 THEN 3 WHEN fate < 0.90 THEN 4 ELSE 5 END;
	fate := random();
	-- one order in four asks for window seats (选座)
	IF random() < 0.25 THEN
		letters := CASE WHEN k = 1 THEN 'F' ELSE 'AF' END;
	END IF;

	-- a new account adds its family first
	IF NOT EXISTS (SELECT 1 FROM ticket.passenger p WHERE p.user_id = rush_step.user_id) THEN
		BEGIN
			PERFORM ticket.add_passenger(rush_step.user_id, f.document_no, f.name, f.passenger_type)
			FROM demo.family(rush_step.user_id) f ORDER BY f.member;
		EXCEPTION WHEN SQLSTATE 'TK052' THEN
			NULL;	-- the same account in another client at the same moment
		END;
	END IF;
	SELECT array_agg(f.document_no ORDER BY f.member) INTO docs
	FROM demo.family(rush_step.user_id) f WHERE f.member <= k;

	BEGIN
		FOR b IN SELECT * FROM ticket.grab(rush_step.user_id, j.train, day, j.from_code, j.to_code,
		                                   cls, docs, letters) LOOP
			last_ticket := b.ticket_id;
		END LOOP;
		IF fate < 0.72 THEN
			PERFORM ticket.confirm(b.order_id);
			outcome := 'paid';
			IF fate < 0.04 THEN
				PERFORM ticket.refund(b.order_id);
				outcome := 'paid, then refunded';
			ELSIF fate < 0.08 AND k > 1 THEN
				PERFORM ticket.refund_ticket(last_ticket);
				outcome := 'paid, then one ticket refunded';
			END IF;
		ELSIF fate < 0.86 THEN
			PERFORM ticket.cancel(b.order_id);
			outcome := 'cancelled';
		ELSE
			outcome := 'left unpaid';
		END IF;
	EXCEPTION
		WHEN SQLSTATE 'TK001' THEN
			outcome := 'sold out';
			-- some try the waitlist (候补) for that journey and class, until 10 minutes from now
			IF random() < 0.15 THEN
				BEGIN
					PERFORM ticket.join_waitlist(rush_step.user_id, j.train, day, j.from_code, j.to_code,
						ARRAY[cls], now() + interval '10 minutes', docs);
					outcome := 'sold out, joined the waitlist';
				EXCEPTION
					WHEN SQLSTATE 'TK021' THEN outcome := 'sold out, waitlist refused (seats free: grab them)';
					WHEN SQLSTATE 'TK023' THEN outcome := 'sold out, already on the waitlist';
				END;
			END IF;
		WHEN SQLSTATE 'TK002' THEN outcome := 'unpaid order exists (TK002)';
		WHEN SQLSTATE 'TK043' THEN outcome := 'a passenger already travels then (TK043)';
		WHEN SQLSTATE 'TK047' THEN outcome := 'daily cancel limit (TK047)';
		WHEN SQLSTATE 'TK048' THEN outcome := 'daily order limit (TK048)';
		WHEN SQLSTATE 'TK071' THEN outcome := 'a passenger has as many tickets that day as allowed (TK071)';
	END;
	INSERT INTO demo.attempt (path, user_id, train, seat_class, group_size, letters, outcome, order_id,
		placement, seats_as_asked, ms)
	VALUES ('direct', rush_step.user_id, j.train, cls, k, letters, outcome,
		CASE WHEN b.order_id IS NOT NULL AND outcome NOT LIKE 'sold out%' THEN b.order_id END,
		b.placement, b.seats_as_asked, extract(epoch FROM clock_timestamp() - started) * 1000);
	RETURN outcome;
END
$$;

-- One single-seat request through the queue (one pgbench CALL).  A
-- procedure, so it can commit the request (the worker cannot serve what it
-- cannot see) and then poll in transactions of its own.
CREATE PROCEDURE demo.queue_step(user_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
	day date := (SELECT c.sale_date FROM demo.config c);
	j record;
	cls text := CASE WHEN random() < 0.85 THEN 'second' ELSE 'first' END;
	e ticket.queue_entry;
	s record;
	got_order bigint;
	started timestamptz := clock_timestamp();
	accepted timestamptz;
	fate double precision := random();
	outcome text;
BEGIN
	SELECT * INTO j FROM demo.pick_journey();
	-- real names are required: the account adds its family first, and queues for one of them
	IF NOT EXISTS (SELECT 1 FROM ticket.passenger p WHERE p.user_id = queue_step.user_id) THEN
		BEGIN
			PERFORM ticket.add_passenger(queue_step.user_id, f.document_no, f.name, f.passenger_type)
			FROM demo.family(queue_step.user_id) f ORDER BY f.member;
		EXCEPTION WHEN SQLSTATE 'TK052' THEN
			NULL;	-- the same account in another client at the same moment
		END;
	END IF;
	BEGIN
		SELECT * INTO e FROM ticket.enqueue(queue_step.user_id, j.train, day, j.from_code, j.to_code, cls,
			ARRAY[(SELECT f.document_no FROM demo.family(queue_step.user_id) f WHERE f.member = 1)]);
	EXCEPTION
		WHEN SQLSTATE 'TK001' THEN outcome := 'sold out at once (TK001)';
		WHEN SQLSTATE 'TK018' THEN outcome := 'queue full (TK018)';
		WHEN SQLSTATE 'TK020' THEN outcome := 'already waiting in the queue (TK020)';
	END;
	IF outcome IS NULL THEN
		accepted := clock_timestamp();
		COMMIT;
		-- poll until served: every 20 ms, for at most 60 s
		FOR i IN 1..3000 LOOP
			SELECT * INTO s FROM ticket.queue_status(e.request_id);
			EXIT WHEN s.status <> 'waiting';
			COMMIT;
			PERFORM pg_sleep(0.02);
		END LOOP;
		IF s.status = 'done' THEN
			got_order := s.order_id;
			IF fate < 0.80 THEN
				PERFORM ticket.confirm(s.order_id);
				outcome := 'served, paid';
			ELSIF fate < 0.90 THEN
				PERFORM ticket.cancel(s.order_id);
				outcome := 'served, cancelled';
			ELSE
				outcome := 'served, left unpaid';
			END IF;
		ELSIF s.status = 'failed' THEN
			outcome := 'served: ' || CASE s.error_sqlstate WHEN 'TK001' THEN 'sold out' ELSE s.error_sqlstate END
				|| ' (' || s.error_sqlstate || ')';
		ELSE
			outcome := 'still waiting after 60 s';
		END IF;
	END IF;
	INSERT INTO demo.attempt (path, user_id, train, seat_class, group_size, outcome, order_id, ms,
		queue_position, queue_ahead, queue_wait_ms)
	VALUES ('queue', queue_step.user_id, j.train, cls, 1, outcome, got_order,
		extract(epoch FROM clock_timestamp() - started) * 1000, e.queue_position, e.ahead,
		(SELECT extract(epoch FROM q.served_at - q.accepted_at) * 1000 FROM ticket.queue_request q
		 WHERE q.request_id = e.request_id));
END
$$;

-- The queue and the sales, once a second during the rush (demo.monitor).
CREATE UNLOGGED TABLE demo.sample (
	at timestamptz NOT NULL,
	second integer NOT NULL,
	accepted bigint,		-- queued requests so far
	waiting bigint,			-- of which not served yet
	longest bigint,			-- the longest queue of one run
	served bigint,			-- served by the worker (ticket.queue_head)
	last_position bigint,	-- highest queue position handed out
	tickets_sold bigint,
	waitlist_waiting bigint,
	waitlist_fulfilled bigint
);

CREATE PROCEDURE demo.monitor(seconds integer)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	x demo.sample;
BEGIN
	FOR i IN 1..seconds LOOP
		PERFORM pg_sleep_until(t0 + make_interval(secs => i));
		INSERT INTO demo.sample
		SELECT clock_timestamp(), i,
		       -- waiting requests are in shared memory until served (ticket.waiting_requests())
		       (SELECT count(*) FROM ticket.queue_request)
		         + (SELECT coalesce(sum(r.waiting), 0) FROM ticket.queue_ring_waiting() r),
		       (SELECT coalesce(sum(w.waiting), 0) FROM ticket.waiting_requests() w),
		       (SELECT coalesce(max(w.waiting), 0) FROM ticket.waiting_requests() w),
		       (SELECT coalesce(sum(h.served), 0) FROM ticket.queue_head h),
		       greatest((SELECT max(q.queue_position) FROM ticket.queue_request q),
		                (SELECT max(w.last_position) FROM ticket.waiting_requests() w)),
		       (SELECT count(*) FROM ticket.tickets k WHERE k.status = 'paid'),
		       (SELECT count(*) FROM ticket.waitlist w WHERE w.status = 'waiting'),
		       (SELECT count(*) FROM ticket.waitlist w WHERE w.status = 'fulfilled')
		RETURNING * INTO x;
		COMMIT;
		IF i % 5 = 0 THEN
			RAISE NOTICE 'at % s: queue % accepted, % served, % waiting (longest % on one run), last position %; % tickets paid; waitlist % waiting, % fulfilled',
				i, x.accepted, x.served, x.waiting, x.longest, x.last_position, x.tickets_sold,
				x.waitlist_waiting, x.waitlist_fulfilled;
		END IF;
	END LOOP;
END
$$;
