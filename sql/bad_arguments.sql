-- Bad arguments to every API function.  Each function of the API (README's
-- API table, the doc pages' tables, and the queue's internal functions the
-- application role may call) is called with a good argument list and then
-- with each argument in turn replaced by a bad value of its type: NULL,
-- empty, blank and 1 MB strings, control characters, infinite and extreme
-- dates and timestamps, negative and huge intervals, NaN, negative and huge
-- numbers (1e100, 2^63-1), 2-D arrays, 10,000-element arrays and arrays of
-- NULLs; and once with every argument NULL.  Admin functions run as
-- ticket_admin, the others as ticket_app, on a small timetable with open
-- runs, a paid order, a held order, a queued request and a waitlist request.
--
-- Each answer must be a success or an SQLSTATE that README's "Errors" table
-- documents for that function (its "raised by" column names it, or says
-- "every API function", "every function taking a train" / "a station").
-- Every call runs in a subtransaction that is rolled back, so each starts
-- from the same data, with statement_timeout 5 s: a hang shows as 57014.
-- Arguments are passed as values of their declared types, so PostgreSQL's
-- own input errors (22P02, 22008 for a literal that is no date, raised
-- before the function runs) never occur here.  The output lists only the
-- calls that broke the rule (none), the functions README documents that the
-- table does not call (none), and how many calls were made; a crash would
-- cut it short.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
SET search_path = ticket, public;
SET TimeZone = 'UTC';

-- a small timetable, open runs and one of everything a call can name ---------

SELECT add_station('AAA', 'Alpha') > 0, add_station('BBB', 'Beta') > 0, add_station('CCC', 'Gamma') > 0;
SELECT add_train('G1', ARRAY['AAA', 'BBB', 'CCC'], ARRAY[NULL, '09:00', '10:00']::interval[],
	ARRAY['08:00', '09:02', NULL]::interval[]) > 0 AS g1,
       add_train('G2', ARRAY['AAA', 'CCC'], ARRAY[NULL, '12:00']::interval[], ARRAY['11:00', NULL]::interval[]) > 0 AS g2,
       add_train('G3', ARRAY['AAA', 'CCC'], ARRAY[NULL, '15:00']::interval[], ARRAY['14:00', NULL]::interval[]) > 0 AS g3;
SELECT add_carriage('G1', 1, 'second', 2, 'ABCDF') AS g1_second, add_carriage('G1', 2, 'first', 1, 'ACDF') AS g1_first,
       add_carriage('G2', 1, 'second', 1, 'A') AS g2_second;
-- the day on sale: three weeks ahead, so no rule about the clock answers
CREATE TABLE public.bad_args_fx AS SELECT beijing_now()::date + 21 AS d;
SELECT open_sales('G1', d) > 0 AS g1_open, open_sales('G2', d) > 0 AS g2_open FROM public.bad_args_fx;
SELECT add_passenger(1, 'P1000001', 'Li Lei', 'adult', 'passport') > 0,
       add_passenger(1, 'P1000002', 'Han Meimei', 'adult', 'passport') > 0,
       add_passenger(2, 'P1000003', 'Wang Fang', 'adult', 'passport') > 0,
       add_passenger(2, 'P1000004', 'Zhang Wei', 'child', 'passport') > 0;
-- user 1 paid for a ticket with a passenger; user 3 holds an order; user 900
-- bought G2's only seat; user 5 waits in the queue, user 6 on G2's waitlist
ALTER TABLE public.bad_args_fx ADD paid bigint, ADD ticket bigint, ADD held bigint, ADD request bigint,
	ADD waitlist bigint, ADD run bigint;
UPDATE public.bad_args_fx f SET paid = g.order_id, ticket = g.ticket_id
FROM grab(1, 'G1', (SELECT d FROM public.bad_args_fx), 'AAA', 'CCC', 'second', ARRAY['P1000001']) g;
SELECT confirm(paid) FROM public.bad_args_fx;
UPDATE public.bad_args_fx SET held = (SELECT order_id FROM grab(3, 'G1', d, 'AAA', 'BBB', 'first'));
SELECT confirm(order_id) FROM public.bad_args_fx, grab(900, 'G2', d, 'AAA', 'CCC');
UPDATE public.bad_args_fx SET request = (SELECT request_id FROM enqueue(5, 'G1', d, 'BBB', 'CCC', 'second'));
UPDATE public.bad_args_fx SET waitlist = join_waitlist(6, 'G2', d, 'AAA', 'CCC');
UPDATE public.bad_args_fx f SET run = r.run_id FROM run r JOIN train t USING (train_id)
WHERE t.code = 'G1' AND r.service_date = f.d;
SELECT paid > 0 AND ticket > 0 AND held > 0 AND request > 0 AND waitlist > 0 AND run > 0 AS fixture
FROM public.bad_args_fx;
GRANT SELECT ON public.bad_args_fx TO ticket_app, ticket_admin;

-- the calls ----------------------------------------------------------------

-- Every function with the role that calls it and a good argument list (SQL
-- expressions; the fixture's ids and day are read from bad_args_fx).
CREATE TABLE public.bad_args_fn (fn regprocedure PRIMARY KEY, role name NOT NULL, base text[] NOT NULL);
INSERT INTO public.bad_args_fn VALUES
	-- timetable and sales (admin)
	('ticket.add_station(text,text,text)', 'ticket_admin', ARRAY[$$'ZZZ'$$, $$'Zeta'$$, $$'zeta'$$]),
	('ticket.set_station_city(text,text)', 'ticket_admin', ARRAY[$$'AAA'$$, $$'Alphaville'$$]),
	('ticket.add_train(text,text[],interval[],interval[])', 'ticket_admin',
		ARRAY[$$'G9'$$, $$ARRAY['AAA', 'BBB', 'CCC']$$, $$ARRAY[NULL, '09:00', '10:00']::interval[]$$,
		      $$ARRAY['08:00', '09:02', NULL]::interval[]$$]),
	('ticket.add_carriage(text,integer,text,integer,text)', 'ticket_admin',
		ARRAY[$$'G1'$$, '9', $$'second'$$, '2', $$'ABCDF'$$]),
	('ticket.add_default_layout(text)', 'ticket_admin', ARRAY[$$'G3'$$]),
	('ticket.open_sales(text,date)', 'ticket_admin', ARRAY[$$'G1'$$, $$(SELECT d + 1 FROM public.bad_args_fx)$$]),
	('ticket.open_sales(date)', 'ticket_admin', ARRAY[$$(SELECT d + 1 FROM public.bad_args_fx)$$]),
	('ticket.close_sales(text,date)', 'ticket_admin', ARRAY[$$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$]),
	('ticket.expire_holds()', 'ticket_admin', '{}'),
	('ticket.schedule_jobs(text)', 'ticket_admin', ARRAY[$$'* * * * *'$$]),
	('ticket.unschedule_jobs()', 'ticket_admin', '{}'),
	('ticket.serve_queue(bigint,integer)', 'ticket_admin', ARRAY[$$(SELECT run FROM public.bad_args_fx)$$, '10']),
	('ticket.waiting_requests()', 'ticket_admin', '{}'),
	('ticket.queued_runs()', 'ticket_admin', '{}'),
	('ticket.set_fare(text,text,text,text,numeric)', 'ticket_admin',
		ARRAY[$$'G1'$$, $$'AAA'$$, $$'CCC'$$, $$'second'$$, '100']),
	('ticket.set_setting(text,numeric)', 'ticket_admin', ARRAY[$$'max_passengers'$$, '10']),
	('ticket.set_refund_rule(interval,numeric)', 'ticket_admin', ARRAY[$$'48 hours'$$, '0.05']),
	-- hot runs and the overload breaker (admin; degraded() app)
	('ticket.set_run_hot(text,date,boolean)', 'ticket_admin',
		ARRAY[$$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$, 'true']),
	('ticket.set_breaker(text)', 'ticket_admin', ARRAY[$$'auto'$$]),
	('ticket.breaker_status()', 'ticket_admin', '{}'),
	('ticket.degraded()', 'ticket_app', '{}'),
	-- sales (app)
	('ticket.remaining(text,date,text,text)', 'ticket_app',
		ARRAY[$$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$, $$'AAA'$$, $$'CCC'$$]),
	('ticket.remaining_matrix(text,date)', 'ticket_app', ARRAY[$$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$]),
	('ticket.grab(bigint,text,date,text,text,text,text)', 'ticket_app',
		ARRAY['101', $$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$, $$'AAA'$$, $$'CCC'$$, $$'second'$$, $$'req-101'$$]),
	('ticket.grab(bigint,text,date,text,text,text,text[],text)', 'ticket_app',
		ARRAY['2', $$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$, $$'AAA'$$, $$'BBB'$$, $$'second'$$,
		      $$ARRAY['P1000003', 'P1000004']$$, $$'AF'$$]),
	('ticket.confirm(bigint)', 'ticket_app', ARRAY[$$(SELECT held FROM public.bad_args_fx)$$]),
	('ticket.cancel(bigint)', 'ticket_app', ARRAY[$$(SELECT held FROM public.bad_args_fx)$$]),
	('ticket.refund(bigint)', 'ticket_app', ARRAY[$$(SELECT paid FROM public.bad_args_fx)$$]),
	('ticket.order_tickets(bigint)', 'ticket_app', ARRAY[$$(SELECT paid FROM public.bad_args_fx)$$]),
	('ticket.refund_ticket(bigint)', 'ticket_app', ARRAY[$$(SELECT ticket FROM public.bad_args_fx)$$]),
	('ticket.change_ticket(bigint,text,date,text,text,text)', 'ticket_app',
		ARRAY[$$(SELECT ticket FROM public.bad_args_fx)$$, $$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$,
		      $$'AAA'$$, $$'BBB'$$, $$'second'$$]),
	-- the queue and the waitlist (app; serve_queue and the lists above are admin)
	('ticket.enqueue(bigint,text,date,text,text,text,text)', 'ticket_app',
		ARRAY['104', $$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$, $$'AAA'$$, $$'CCC'$$, $$'second'$$, $$'q-104'$$]),
	('ticket.enqueue(bigint,text,date,text,text,text,text[],text)', 'ticket_app',
		ARRAY['2', $$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$, $$'AAA'$$, $$'BBB'$$, $$'second'$$,
		      $$ARRAY['P1000003', 'P1000004']$$, $$'AF'$$]),
	('ticket.client()', 'ticket_app', '{}'),
	('ticket.queue_status(bigint)', 'ticket_app', ARRAY[$$(SELECT request FROM public.bad_args_fx)$$]),
	('ticket.queue_wait(bigint,interval)', 'ticket_app',
		ARRAY[$$(SELECT request FROM public.bad_args_fx)$$, $$'0 seconds'$$]),
	('ticket.queue_batch_count(bigint)', 'ticket_app', ARRAY[$$(SELECT run FROM public.bad_args_fx)$$]),
	('ticket.queue_sleep(bigint,bigint,timestamp with time zone)', 'ticket_app',
		ARRAY[$$(SELECT run FROM public.bad_args_fx)$$,
		      $$ticket.queue_batch_count((SELECT run FROM public.bad_args_fx))$$, 'now()']),
	('ticket.join_waitlist(bigint,text,date,text,text,text[],timestamp with time zone,text[])', 'ticket_app',
		ARRAY['2', $$'G2'$$, $$(SELECT d FROM public.bad_args_fx)$$, $$'AAA'$$, $$'CCC'$$, $$ARRAY['second']$$,
		      $$now() + interval '1 day'$$, $$ARRAY['P1000003']$$]),
	('ticket.waitlist_status(bigint)', 'ticket_app', ARRAY[$$(SELECT waitlist FROM public.bad_args_fx)$$]),
	('ticket.leave_waitlist(bigint)', 'ticket_app', ARRAY[$$(SELECT waitlist FROM public.bad_args_fx)$$]),
	-- the forms that check the user (user 3 holds `held`, user 1 paid `paid` and
	-- owns `ticket`, user 6 waits on `waitlist`)
	('ticket.confirm(bigint,bigint)', 'ticket_app', ARRAY[$$(SELECT held FROM public.bad_args_fx)$$, '3']),
	('ticket.cancel(bigint,bigint)', 'ticket_app', ARRAY[$$(SELECT held FROM public.bad_args_fx)$$, '3']),
	('ticket.refund(bigint,bigint)', 'ticket_app', ARRAY[$$(SELECT paid FROM public.bad_args_fx)$$, '1']),
	('ticket.refund_ticket(bigint,bigint)', 'ticket_app', ARRAY[$$(SELECT ticket FROM public.bad_args_fx)$$, '1']),
	('ticket.change_ticket(bigint,text,date,text,text,text,bigint)', 'ticket_app',
		ARRAY[$$(SELECT ticket FROM public.bad_args_fx)$$, $$'G1'$$, $$(SELECT d FROM public.bad_args_fx)$$,
		      $$'AAA'$$, $$'BBB'$$, $$'second'$$, '1']),
	('ticket.leave_waitlist(bigint,bigint)', 'ticket_app', ARRAY[$$(SELECT waitlist FROM public.bad_args_fx)$$, '6']),
	-- search (app)
	('ticket.search(text,text,date)', 'ticket_app', ARRAY[$$'AAA'$$, $$'CCC'$$, $$(SELECT d FROM public.bad_args_fx)$$]),
	('ticket.search_transfers(text,text,date,interval,interval,integer,interval)', 'ticket_app',
		ARRAY[$$'AAA'$$, $$'CCC'$$, $$(SELECT d FROM public.bad_args_fx)$$, $$'20 min'$$, $$'4 hours'$$, '20',
		      $$'1 hour'$$]),
	-- passengers, fares, refunds (app)
	('ticket.add_passenger(bigint,text,text,text,text)', 'ticket_app',
		ARRAY['7', $$'11010519491231002X'$$, $$'张三'$$, $$'adult'$$, $$'id_card'$$]),
	('ticket.remove_passenger(bigint,text,text)', 'ticket_app', ARRAY['1', $$'P1000002'$$, $$'passport'$$]),
	('ticket.fare(text,text,text,text,text)', 'ticket_app',
		ARRAY[$$'G1'$$, $$'AAA'$$, $$'CCC'$$, $$'second'$$, $$'student'$$]),
	('ticket.refund_fee(numeric,interval)', 'ticket_app', ARRAY['100', $$'3 days'$$]),
	('ticket.valid_resident_id(text)', 'ticket_app', ARRAY[$$'11010519491231002X'$$]),
	('ticket.setting(text)', 'ticket_app', ARRAY[$$'max_passengers'$$]),
	('ticket.hold_timeout()', 'ticket_app', '{}'),
	-- risk signals (app)
	('ticket.risk(bigint)', 'ticket_app', ARRAY['3']),
	('ticket.captcha_passed(bigint)', 'ticket_app', ARRAY['3']),
	-- the type's constructors (README, "The type ticket.segrange")
	('ticket.segrange(integer,integer)', 'ticket_app', ARRAY['1', '3']),
	('ticket.segrange(int4range)', 'ticket_app', ARRAY[$$'[1,3)'$$]);

-- The bad values of each type.  'base*10000' is 10,000 copies of the good
-- list's first element, 'base 2-D' the good list twice as a 2-D array.
CREATE TABLE public.bad_args_value (type text, label text, expr text);
INSERT INTO public.bad_args_value VALUES
	('bigint', 'NULL', 'NULL'), ('bigint', '0', '0'), ('bigint', '-1', '-1'),
	('bigint', '2^63-1', '9223372036854775807'), ('bigint', '-2^63', '-9223372036854775808'),
	('integer', 'NULL', 'NULL'), ('integer', '0', '0'), ('integer', '-1', '-1'),
	('integer', '2^31-1', '2147483647'), ('integer', '-2^31', '-2147483648'),
	('numeric', 'NULL', 'NULL'), ('numeric', 'NaN', $$'NaN'$$), ('numeric', '0', '0'), ('numeric', '-1', '-1'),
	('numeric', '1e100', '1e100'), ('numeric', '-1e100', '-1e100'), ('numeric', '2^63-1', '9223372036854775807'),
	('numeric', '0.001', '0.001'),
	('text', 'NULL', 'NULL'), ('text', 'empty', $$''$$), ('text', 'blank', $$'   '$$),
	('text', '1 MB', $$repeat('x', 1048576)$$), ('text', '1 MB of 北', $$repeat('北', 349526)$$),
	('text', 'control characters', $$E'A\u0001B\u0007'$$), ('text', 'a line break', $$E'AAA\nBBB'$$),
	('date', 'NULL', 'NULL'), ('date', 'infinity', $$'infinity'$$), ('date', '-infinity', $$'-infinity'$$),
	('date', '4713 BC', $$'4713-01-01 BC'$$), ('date', '5874897', $$'5874897-12-31'$$),
	('date', '2000-01-01', $$'2000-01-01'$$), ('date', '2 days ago', 'current_date - 2'),
	('timestamp with time zone', 'NULL', 'NULL'), ('timestamp with time zone', 'infinity', $$'infinity'$$),
	('timestamp with time zone', '-infinity', $$'-infinity'$$),
	('timestamp with time zone', '4713 BC', $$'4713-01-01 00:00:00+00 BC'$$),
	('timestamp with time zone', '294276', $$'294276-12-31 23:59:59+00'$$),
	('timestamp with time zone', '2000-01-01', $$'2000-01-01 00:00:00+00'$$),
	('interval', 'NULL', 'NULL'), ('interval', '-1 second', $$'-1 second'$$), ('interval', '0', $$'0'$$),
	('interval', '178000000 years', $$'178000000 years'$$), ('interval', '-178000000 years', $$'-178000000 years'$$),
	('interval', '2^31-1 days', $$'2147483647 days'$$), ('interval', '2562047788 hours', $$'2562047788 hours'$$),
	('interval', '1 mon -31 days', $$'1 mon -31 days'$$),
	('text[]', 'NULL', 'NULL'), ('text[]', 'empty', $$'{}'$$), ('text[]', '{NULL}', $$'{NULL}'$$),
	('text[]', '2-D', $$ARRAY[['AAA', 'BBB'], ['CCC', 'DDD']]$$), ('text[]', 'base 2-D', 'base 2-D'),
	('text[]', '10,000 x', $$array_fill('x'::text, ARRAY[10000])$$), ('text[]', 'base*10000', 'base*10000'),
	('text[]', '{1 MB}', $$ARRAY[repeat('x', 1048576)]$$), ('text[]', 'from 0', $$'[0:1]={AAA,CCC}'$$),
	('interval[]', 'NULL', 'NULL'), ('interval[]', 'empty', $$'{}'$$), ('interval[]', '{NULL,NULL,NULL}', $$'{NULL,NULL,NULL}'$$),
	('interval[]', 'base 2-D', 'base 2-D'), ('interval[]', 'base*10000', 'base*10000'),
	('interval[]', 'negative', $$ARRAY['-10:00', '-09:00', '-08:00']::interval[]$$),
	('interval[]', 'huge', $$ARRAY['0', '178000000 years', '178000000 years']::interval[]$$),
	('int4range', 'NULL', 'NULL'), ('int4range', 'empty', $$'empty'$$), ('int4range', '(,)', $$'(,)'$$),
	('int4range', '[-5,3)', $$'[-5,3)'$$), ('int4range', '[0,40000)', $$'[0,40000)'$$);

-- The calls: the good list, every argument replaced by each bad value of its
-- type, and every argument NULL.
CREATE TABLE public.bad_args_call (
	id serial PRIMARY KEY, fn regprocedure, role name, label text, sql text, answer text, message text);
WITH f AS (
	SELECT b.fn, b.role, b.base, p.proname,
	       ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, n) ORDER BY n) AS types,
	       coalesce(p.proargnames, '{}') AS names
	FROM public.bad_args_fn b JOIN pg_proc p ON p.oid = b.fn
), variant AS (
	SELECT f.*, 0 AS i, 'good arguments' AS label, NULL::text AS expr, 0 AS k FROM f
	UNION ALL
	SELECT f.*, -1, 'every argument NULL', NULL, 0 FROM f WHERE cardinality(f.types) > 0
	UNION ALL
	SELECT f.*, i, format('%s = %s', f.names[i], v.label),
	       CASE v.expr WHEN 'base*10000' THEN format('array_fill((%s)[1], ARRAY[10000])', f.base[i])
	                   WHEN 'base 2-D' THEN format('ARRAY[%s, %s]', f.base[i], f.base[i])
	                   ELSE v.expr END,
	       row_number() OVER (PARTITION BY f.fn, i ORDER BY v.label)::integer
	FROM f, generate_subscripts(f.types, 1) i, public.bad_args_value v
	WHERE v.type = f.types[i]
)
INSERT INTO public.bad_args_call (fn, role, label, sql)
SELECT v.fn, v.role, format('%s(%s)', v.proname, v.label),
       format('SELECT count(*) FROM ticket.%I(%s) x', v.proname,
              (SELECT string_agg(format('(%s)::%s',
                                        CASE WHEN v.i = -1 THEN 'NULL' WHEN n = v.i THEN v.expr ELSE v.base[n] END,
                                        v.types[n]), ', ' ORDER BY n)
               FROM generate_subscripts(v.types, 1) n))
FROM variant v
ORDER BY v.fn::text, v.i, v.k;

-- A call as a role, in a subtransaction that is always rolled back: 'ok'
-- or the SQLSTATE, and the start of the message.
CREATE FUNCTION public.bad_args_answer(role name, query text, OUT answer text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		EXECUTE format('SET LOCAL ROLE %I', role);
		EXECUTE query;
		RAISE EXCEPTION USING ERRCODE = 'ZX999';	-- success: undo it all the same
	EXCEPTION
		WHEN SQLSTATE 'ZX999' THEN
			answer := 'ok';
		WHEN query_canceled THEN
			answer := '57014';
			message := 'still running after statement_timeout';
		WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS answer = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
	END;
	message := left(regexp_replace(message, '\s+', ' ', 'g'), 72);
END
$$;

-- each call a statement of its own, so that each has the whole timeout
-- (neither echoed nor answered here: the answers are read below)
SET statement_timeout = '5s';
\set ECHO none
\o /dev/null
SELECT format('UPDATE public.bad_args_call c SET (answer, message) = '
              '(SELECT * FROM public.bad_args_answer(c.role, c.sql)) WHERE c.id = %s', id)
FROM public.bad_args_call ORDER BY id \gexec
\o
\set ECHO all
RESET statement_timeout;

-- what README documents -------------------------------------------------------

-- README's Errors table: SQLSTATE and the "raised by" column
\set readme `cat README.md`
CREATE TABLE public.bad_args_documented AS
SELECT m[1] AS sqlstate, m[2] AS raised_by
FROM regexp_matches(:'readme', '\n\| ([0-9A-Z]{5}) \|[^\n]*\| ([^|\n]*) \|(?=\n)', 'g') m;
-- every function README and the doc pages list in their API tables
\set docs `cat README.md doc/*.md`
CREATE TABLE public.bad_args_api AS
SELECT DISTINCT p.oid::regprocedure AS fn
FROM regexp_matches(:'docs', '\n\| ([^|\n]*)\|', 'g') cell,
     regexp_matches(cell[1], '`([a-z_]+)[(`]', 'g') name
JOIN pg_proc p ON p.proname = name[1] AND p.pronamespace = 'ticket'::regnamespace
WHERE has_function_privilege('ticket_app', p.oid, 'EXECUTE') OR has_function_privilege('ticket_admin', p.oid, 'EXECUTE');

-- the answers ------------------------------------------------------------------

-- calls whose answer is neither a success nor documented for the function (none)
SELECT c.label, c.answer, c.message
FROM public.bad_args_call c JOIN pg_proc p ON p.oid = c.fn
WHERE c.answer IS DISTINCT FROM 'ok'
  AND NOT EXISTS (
	SELECT 1 FROM public.bad_args_documented d
	WHERE d.sqlstate = c.answer
	  AND (d.raised_by ~ ('(^|[^a-z0-9_])' || p.proname || '([^a-z0-9_]|$)')
	       OR d.raised_by ~ 'every API function'
	       OR (d.raised_by ~ 'every function taking a train' AND 'train' = ANY (p.proargnames))
	       OR (d.raised_by ~ 'every function taking a station'
	           AND p.proargnames && ARRAY['station', 'from_station', 'to_station', 'stops'])))
ORDER BY c.id;

-- functions of the API tables this file does not call (none)
SELECT a.fn AS not_called FROM public.bad_args_api a
WHERE NOT EXISTS (SELECT 1 FROM public.bad_args_fn f WHERE f.fn = a.fn)
ORDER BY 1::text;

-- every call answered, the backend still here
SELECT count(*) AS calls, count(answer) AS answered, count(DISTINCT fn) AS functions FROM public.bad_args_call;

-- what the API refuses (issue 13, items 7 to 9) ------------------------------

-- Values the calls above may pass for good ones (a success is not checked
-- there), each with the answer it gets.  Two more trains: K1 has no times
-- (its run takes the whole service date), Z1 arrives two days after it
-- leaves (its run of yesterday is still on its way).
SELECT add_train('K1', ARRAY['AAA', 'CCC']) > 0 AS k1,
       add_train('Z1', ARRAY['AAA', 'CCC'], ARRAY[NULL, '50:00']::interval[], ARRAY['20:00', NULL]::interval[]) > 0 AS z1,
       add_carriage('K1', 1, 'hard_seat', 1, 'ABC') > 0, add_carriage('Z1', 1, 'hard_sleeper', 1, 'ABC') > 0;
ALTER TABLE public.bad_args_fx ADD today date;
UPDATE public.bad_args_fx SET today = beijing_now()::date;
CREATE TABLE public.bad_args_refusal (id serial, role name, label text, sql text);
INSERT INTO public.bad_args_refusal (role, label, sql) VALUES
	-- 7: open_sales: infinite, year 4713 BC, year 5874897, runs that have ended
	('ticket_admin', 'open_sales(G1, infinity)', $$SELECT ticket.open_sales('G1', 'infinity')$$),
	('ticket_admin', 'open_sales(G1, -infinity)', $$SELECT ticket.open_sales('G1', '-infinity')$$),
	('ticket_admin', 'open_sales(G1, 4713 BC)', $$SELECT ticket.open_sales('G1', '4713-01-01 BC')$$),
	('ticket_admin', 'open_sales(G1, 5874897)', $$SELECT ticket.open_sales('G1', '5874897-12-31')$$),
	('ticket_admin', 'open_sales(G1, 10000-01-01)', $$SELECT ticket.open_sales('G1', '10000-01-01')$$),
	('ticket_admin', 'open_sales(G1, 9999-12-31)', $$SELECT ticket.open_sales('G1', '9999-12-31')$$),
	('ticket_admin', 'open_sales(G1, yesterday)', $$SELECT ticket.open_sales('G1', (SELECT today - 1 FROM public.bad_args_fx))$$),
	('ticket_admin', 'open_sales(K1, today)', $$SELECT ticket.open_sales('K1', (SELECT today FROM public.bad_args_fx))$$),
	('ticket_admin', 'open_sales(K1, yesterday)', $$SELECT ticket.open_sales('K1', (SELECT today - 1 FROM public.bad_args_fx))$$),
	('ticket_admin', 'open_sales(Z1, yesterday)', $$SELECT ticket.open_sales('Z1', (SELECT today - 1 FROM public.bad_args_fx))$$),
	('ticket_admin', 'open_sales(Z1, 3 days ago)', $$SELECT ticket.open_sales('Z1', (SELECT today - 3 FROM public.bad_args_fx))$$),
	('ticket_admin', 'open_sales(infinity)', $$SELECT ticket.open_sales('infinity'::date)$$),
	('ticket_admin', 'open_sales(4713 BC)', $$SELECT ticket.open_sales('4713-01-01 BC'::date)$$),
	('ticket_admin', 'open_sales(5874897)', $$SELECT ticket.open_sales('5874897-12-31'::date)$$),
	('ticket_admin', 'open_sales(3 days ago)', $$SELECT ticket.open_sales((SELECT today - 3 FROM public.bad_args_fx))$$),
	-- 7: set_setting: NaN, 0 where meaningless, 1e100; set_fare NaN; set_refund_rule negative
	('ticket_admin', 'set_setting(max_passengers, NaN)', $$SELECT ticket.set_setting('max_passengers', 'NaN')$$),
	('ticket_admin', 'set_setting(max_passengers, 0)', $$SELECT ticket.set_setting('max_passengers', 0)$$),
	('ticket_admin', 'set_setting(max_passengers, 1e100)', $$SELECT ticket.set_setting('max_passengers', 1e100)$$),
	('ticket_admin', 'set_setting(max_passengers, 10001)', $$SELECT ticket.set_setting('max_passengers', 10001)$$),
	('ticket_admin', 'set_setting(max_passengers, 10000)', $$SELECT ticket.set_setting('max_passengers', 10000)$$),
	('ticket_admin', 'set_setting(max_orders_per_day, 2.5)', $$SELECT ticket.set_setting('max_orders_per_day', 2.5)$$),
	('ticket_admin', 'set_setting(max_orders_per_day, 0)', $$SELECT ticket.set_setting('max_orders_per_day', 0)$$),
	('ticket_admin', 'set_setting(max_cancels_per_day, 0)', $$SELECT ticket.set_setting('max_cancels_per_day', 0)$$),
	('ticket_admin', 'set_setting(max_cancels_per_day, 1)', $$SELECT ticket.set_setting('max_cancels_per_day', 1)$$),
	('ticket_admin', 'set_setting(refund_min_fee, NaN)', $$SELECT ticket.set_setting('refund_min_fee', 'NaN')$$),
	('ticket_admin', 'set_setting(refund_min_fee, 1e100)', $$SELECT ticket.set_setting('refund_min_fee', 1e100)$$),
	('ticket_admin', 'set_setting(refund_min_fee, 2.25)', $$SELECT ticket.set_setting('refund_min_fee', 2.25)$$),
	('ticket_admin', 'set_setting(refund_min_fee, 0)', $$SELECT ticket.set_setting('refund_min_fee', 0)$$),
	('ticket_admin', 'set_fare(NaN)', $$SELECT ticket.set_fare('G1', 'AAA', 'CCC', 'second', 'NaN')$$),
	('ticket_admin', 'set_fare(1e100)', $$SELECT ticket.set_fare('G1', 'AAA', 'CCC', 'second', 1e100)$$),
	('ticket_admin', 'set_fare(10000000)', $$SELECT ticket.set_fare('G1', 'AAA', 'CCC', 'second', 10000000)$$),
	('ticket_admin', 'set_fare(9999999.5)', $$SELECT ticket.set_fare('G1', 'AAA', 'CCC', 'second', 9999999.5)$$),
	('ticket_admin', 'set_refund_rule(-1 hour)', $$SELECT ticket.set_refund_rule('-1 hour', 0.1)$$),
	('ticket_admin', 'set_refund_rule(1 day -25 hours)', $$SELECT ticket.set_refund_rule('1 day -25 hours', 0.1)$$),
	('ticket_admin', 'set_refund_rule(0)', $$SELECT ticket.set_refund_rule('0', 0.1)$$),
	-- 8: the TK SQLSTATE of the function, not PostgreSQL's
	('ticket_app', 'grab(passengers 2-D)',
		$$SELECT * FROM ticket.grab(2, 'G1', (SELECT d FROM public.bad_args_fx), 'AAA', 'BBB', 'second', ARRAY[['P1000003'], ['P1000004']])$$),
	('ticket_app', 'join_waitlist(passengers 2-D)',
		$$SELECT ticket.join_waitlist(2, 'G2', (SELECT d FROM public.bad_args_fx), 'AAA', 'CCC', NULL, NULL, ARRAY[['P1000003']])$$),
	('ticket_app', 'join_waitlist(seat_classes 2-D)',
		$$SELECT ticket.join_waitlist(2, 'G2', (SELECT d FROM public.bad_args_fx), 'AAA', 'CCC', ARRAY[['second']])$$),
	('ticket_app', 'search(infinity)', $$SELECT * FROM ticket.search('AAA', 'CCC', 'infinity')$$),
	('ticket_app', 'search(-infinity)', $$SELECT * FROM ticket.search('AAA', 'CCC', '-infinity')$$),
	('ticket_app', 'search(5874897)', $$SELECT * FROM ticket.search('AAA', 'CCC', '5874897-12-31')$$),
	('ticket_app', 'search_transfers(infinity)', $$SELECT * FROM ticket.search_transfers('AAA', 'CCC', 'infinity')$$),
	('ticket_app', 'search_transfers(-infinity)', $$SELECT * FROM ticket.search_transfers('AAA', 'CCC', '-infinity')$$),
	('ticket_app', 'search_transfers(min_city_connection 2 days)',
		$$SELECT * FROM ticket.search_transfers('AAA', 'CCC', (SELECT d FROM public.bad_args_fx), min_city_connection => '2 days')$$),
	('ticket_app', 'refund_fee(1e100)', $$SELECT ticket.refund_fee(1e100, '1 day')$$),
	('ticket_app', 'refund_fee(NaN)', $$SELECT ticket.refund_fee('NaN', '1 day')$$),
	('ticket_app', 'grab(request_id 1 MB)',
		$$SELECT * FROM ticket.grab(101, 'G1', (SELECT d FROM public.bad_args_fx), 'AAA', 'CCC', 'second', repeat('r', 1048576))$$),
	('ticket_app', 'grab(request_id 129 bytes)',
		$$SELECT * FROM ticket.grab(101, 'G1', (SELECT d FROM public.bad_args_fx), 'AAA', 'CCC', 'second', repeat('r', 129))$$),
	('ticket_app', 'grab(request_id 128 bytes)',
		$$SELECT * FROM ticket.grab(101, 'G1', (SELECT d FROM public.bad_args_fx), 'AAA', 'CCC', 'second', repeat('r', 128))$$),
	('ticket_app', 'enqueue(request_id 129 bytes)',
		$$SELECT * FROM ticket.enqueue(104, 'G1', (SELECT d FROM public.bad_args_fx), 'AAA', 'CCC', 'second', repeat('r', 129))$$),
	('ticket_app', 'queue_wait(178000000 years)',
		$$SELECT * FROM ticket.queue_wait((SELECT request FROM public.bad_args_fx), '178000000 years')$$),
	('ticket_app', 'queue_wait(25 hours)', $$SELECT * FROM ticket.queue_wait((SELECT request FROM public.bad_args_fx), '25 hours')$$),
	('ticket_admin', 'add_station(name 1 MB)', $$SELECT ticket.add_station('ZZY', repeat('站', 349526))$$),
	('ticket_admin', 'add_train(times 178000000 years)',
		$$SELECT ticket.add_train('G8', ARRAY['AAA', 'CCC'], ARRAY[NULL, '178000000 years']::interval[])$$),
	('ticket_admin', 'add_train(times -1 hour)',
		$$SELECT ticket.add_train('G8', ARRAY['AAA', 'CCC'], NULL, ARRAY['-01:00', NULL]::interval[])$$),
	('ticket_admin', 'add_train(arrivals 2-D)',
		$$SELECT ticket.add_train('G8', ARRAY['AAA', 'CCC'], ARRAY[[NULL], ['09:00']]::interval[], ARRAY[['08:00'], [NULL]]::interval[])$$),
	-- 9: what a person's name (and a station's) can be
	('ticket_app', 'add_passenger(name 1 MB)', $$SELECT ticket.add_passenger(8, 'P2000001', repeat('名', 349526), 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name 101 characters)', $$SELECT ticket.add_passenger(8, 'P2000001', repeat('x', 101), 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name 100 characters)', $$SELECT ticket.add_passenger(8, 'P2000001', repeat('x', 100), 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name with a bell)', $$SELECT ticket.add_passenger(8, 'P2000001', E'Li\u0007Lei', 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name with a line break)', $$SELECT ticket.add_passenger(8, 'P2000001', E'Li\nLei', 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name with a tab)', $$SELECT ticket.add_passenger(8, 'P2000001', E'Li\tLei', 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name with DEL)', $$SELECT ticket.add_passenger(8, 'P2000001', E'Li\u007fLei', 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name with a right-to-left override)', $$SELECT ticket.add_passenger(8, 'P2000001', E'Li\u202eieL', 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name with a zero-width space)', $$SELECT ticket.add_passenger(8, 'P2000001', E'Li\u200bLei', 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name Jean-Luc O''Brien)', $$SELECT ticket.add_passenger(8, 'P2000001', 'Jean-Luc O''Brien', 'adult', 'passport')$$),
	('ticket_app', 'add_passenger(name 阿卜杜·热合曼)', $$SELECT ticket.add_passenger(8, 'P2000001', '阿卜杜·热合曼', 'adult', 'passport')$$),
	('ticket_admin', 'add_station(name 51 characters)', $$SELECT ticket.add_station('ZZY', repeat('站', 51))$$),
	('ticket_admin', 'add_station(name 50 characters)', $$SELECT ticket.add_station('ZZY', repeat('站', 50))$$),
	('ticket_admin', 'add_station(name with a line break)', $$SELECT ticket.add_station('ZZY', E'Zeta\nStation')$$),
	('ticket_admin', 'add_station(pinyin with a tab)', $$SELECT ticket.add_station('ZZY', 'Zeta', E'ze\tta')$$),
	('ticket_admin', 'add_station(pinyin 1 MB)', $$SELECT ticket.add_station('ZZY', 'Zeta', repeat('z', 1048576))$$),
	('ticket_admin', 'set_station_city(city 1 MB)', $$SELECT ticket.set_station_city('AAA', repeat('城', 349526))$$),
	('ticket_admin', 'set_station_city(city with a tab)', $$SELECT ticket.set_station_city('AAA', E'Alpha\tCity')$$);
SET statement_timeout = '30s';
SELECT r.label, a.answer FROM public.bad_args_refusal r, public.bad_args_answer(r.role, r.sql) a ORDER BY r.id;
-- the whole day of yesterday: only the train still on its way
SET ROLE ticket_admin;
SELECT open_sales(today - 1) AS opened_yesterday FROM public.bad_args_fx;
RESET ROLE;
SELECT t.code FROM run r JOIN train t USING (train_id), public.bad_args_fx f WHERE r.service_date = f.today - 1;
-- a time already past is no reason to sleep (it slept until cancelled)
SET statement_timeout = '5s';
SELECT queue_sleep(run, queue_batch_count(run), '-infinity') AS batch_came,
       clock_timestamp() - statement_timestamp() < interval '1 s' AS at_once
FROM public.bad_args_fx;
SELECT queue_sleep(run, queue_batch_count(run), 'infinity') AS batch_came,
       clock_timestamp() - statement_timestamp() < interval '3 s' AS a_second_at_most
FROM public.bad_args_fx;
RESET statement_timeout;

DROP TABLE public.bad_args_fx, public.bad_args_fn, public.bad_args_value, public.bad_args_call,
	public.bad_args_documented, public.bad_args_api, public.bad_args_refusal;
DROP FUNCTION public.bad_args_answer(name, text);
