-- Risk signals (风控, issue 14): per account, per end client (ticket.client)
-- and per identity document, grab attempts per minute, holds left to
-- expire, cancels, refunds and accounts per document; thresholds that give
-- a level (none, captcha, blocked); TK075 at blocked for grab (both forms),
-- enqueue and join_waitlist; the administrator's view.  The counts live in
-- shared memory (the library is preloaded here), per database.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticket CASCADE;
CREATE EXTENSION ticket CASCADE;
SET search_path = ticket, public;
SET TimeZone = 'UTC';

\i test/regress_helpers.sql

SELECT add_station('VNP', '北京南') > 0, add_station('AOH', '上海虹桥') > 0;
SELECT add_train('G1', ARRAY['VNP', 'AOH'], ARRAY[NULL, '13:28']::interval[], ARRAY['09:00', NULL]::interval[]) > 0;
SELECT add_carriage('G1', 1, 'second', 10, 'ABCDF') > 0;
CREATE TEMP TABLE d AS SELECT beijing_now()::date + 30 AS day;
SELECT open_sales('G1', (SELECT day FROM d)) > 0;
CREATE FUNCTION pg_temp.grab_for(u bigint) RETURNS text LANGUAGE sql AS $$
	SELECT regress_error(format('SELECT * FROM ticket.grab(%s, %L, %L, %L, %L)', u, 'G1', (SELECT day FROM d), 'VNP', 'AOH'))
$$;
-- what shared memory counts for a subject
CREATE FUNCTION pg_temp.counts(s text) RETURNS TABLE (kind text, grabs integer, expired integer, cancels integer, refunds integer)
LANGUAGE sql AS $$
	SELECT c.kind, c.grabs_per_minute, c.expired_holds, c.cancels, c.refunds FROM ticket.risk_counts() c WHERE c.subject = s
$$;
-- Per-minute counts: start early in a minute, so that this file's minute
-- stays one (it runs in seconds).
CREATE FUNCTION pg_temp.early_in_minute() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF extract(second FROM clock_timestamp()) > 30 THEN
		PERFORM pg_sleep(61 - extract(second FROM clock_timestamp()));
	END IF;
END
$$;

-- Off by default: 1.6's behaviour.  Any number of grabs a minute, nothing
-- counted, every level none.
SELECT setting('risk_checks') AS risk_checks, risk_enabled();
SELECT count(*) FILTER (WHERE r = 'no error') AS held, count(*) FILTER (WHERE r LIKE 'TK002:%') AS tk002
FROM (SELECT pg_temp.grab_for(7001) AS r FROM generate_series(1, 200)) x;
SELECT risk(7001), count(*) AS counted FROM risk_counts();
SELECT count(*) AS flagged FROM risk_flagged;

-- The settings: names, ranges (TK055), the defaults
SELECT regress_error($$SELECT set_setting('risk_checks', 2)$$);
SELECT regress_error($$SELECT set_setting('risk_block_grabs_per_minute', 0)$$);
SELECT regress_error($$SELECT set_setting('risk_captcha_refunds', 1.5)$$);
SELECT regress_error($$SELECT set_setting('risk_nothing', 1)$$);
SELECT n, setting(n) FROM unnest(ARRAY['risk_captcha_grabs_per_minute', 'risk_block_grabs_per_minute',
	'risk_captcha_expired_holds', 'risk_block_expired_holds', 'risk_captcha_cancels', 'risk_block_cancels',
	'risk_captcha_refunds', 'risk_block_refunds', 'risk_captcha_accounts_per_document',
	'risk_block_accounts_per_document']) n;
SELECT regress_error($$SELECT risk(NULL)$$), regress_error($$SELECT captcha_passed(NULL)$$);

-- On, with low thresholds for grabs: 3 a minute ask for a captcha, 5 block
SELECT set_setting('risk_checks', 1), set_setting('risk_captcha_grabs_per_minute', 3),
       set_setting('risk_block_grabs_per_minute', 5);
SELECT risk_enabled();
SELECT pg_temp.early_in_minute();
SELECT pg_temp.grab_for(7002) LIKE 'no error' AS held, pg_temp.grab_for(7002);
SELECT risk(7002);
SELECT pg_temp.grab_for(7002);
SELECT risk(7002);
-- the application showed a captcha and the user passed it
SELECT captcha_passed(7002);
SELECT pg_temp.grab_for(7002);
-- the fifth attempt in a minute is refused: TK075, whatever the call
SELECT pg_temp.grab_for(7002);
SELECT risk(7002);
SELECT regress_error(format($$SELECT * FROM enqueue(7002, 'G1', %L, 'VNP', 'AOH')$$, (SELECT day FROM d)));
SELECT regress_error(format($$SELECT join_waitlist(7002, 'G1', %L, 'VNP', 'AOH')$$, (SELECT day FROM d)));
SELECT regress_error(format($$SELECT * FROM grab(7002, 'G1', %L, 'VNP', 'AOH', 'second', ARRAY['11010519491231002X'])$$,
	(SELECT day FROM d)));
SELECT * FROM pg_temp.counts('7002');
-- another account is not affected
SELECT risk(7003), pg_temp.grab_for(7003);
SELECT kind, subject, user_id, level, flagged_by, grabs_per_minute FROM risk_flagged ORDER BY kind, subject;

-- Per client: the application names the end client in each transaction.
-- Six accounts behind one address: the fifth attempt from it is refused.
BEGIN;
SELECT set_config('ticket.client', '10.1.2.3', true) IS NOT NULL;
SELECT u, pg_temp.grab_for(u) FROM generate_series(7010, 7015) u;
SELECT risk(7010), risk(7099);
COMMIT;
-- the accounts themselves are fine; the address is flagged
SELECT risk(7010), risk(7015);
SELECT * FROM pg_temp.counts('10.1.2.3');
-- calls without a client are not added up: six more accounts, no client
SELECT u, pg_temp.grab_for(u) FROM generate_series(7020, 7025) u;
SELECT count(*) AS blank_clients FROM risk_counts() WHERE kind = 'client' AND subject <> '10.1.2.3';

-- Cancels, refunds and expired holds count per Beijing day, when their
-- transaction commits
SELECT set_setting('risk_captcha_cancels', 2), set_setting('risk_block_cancels', 3);
SELECT cancel(o.order_id) FROM orders o WHERE o.user_id = 7020;
BEGIN;
SELECT cancel(o.order_id) FROM orders o WHERE o.user_id = 7021;
ROLLBACK;
SELECT * FROM pg_temp.counts('7020') UNION ALL SELECT * FROM pg_temp.counts('7021');
SELECT risk(7020);
SELECT pg_temp.grab_for(7020) LIKE 'no error' AS held;
SELECT cancel(o.order_id) FROM orders o WHERE o.user_id = 7020 AND o.status = 'held';
SELECT risk(7020);
SELECT pg_temp.grab_for(7020) LIKE 'no error' AS held;
SELECT cancel(o.order_id) FROM orders o WHERE o.user_id = 7020 AND o.status = 'held';
SELECT risk(7020), pg_temp.grab_for(7020);
-- refunds
SELECT confirm(o.order_id), refund(o.order_id) FROM orders o WHERE o.user_id = 7022;
SELECT * FROM pg_temp.counts('7022');
-- a hold left to expire: the sweeper counts it for the account (not for the
-- client of whoever expired it)
SET ticket.hold_timeout = '1s';
SELECT pg_temp.grab_for(7030) LIKE 'no error' AS held;
SELECT pg_sleep(1.2);
BEGIN;
SELECT set_config('ticket.client', 'sweeper-host', true) IS NOT NULL;
SELECT expire_holds() >= 1 AS expired;
COMMIT;
RESET ticket.hold_timeout;
SELECT * FROM pg_temp.counts('7030');
SELECT count(*) AS sweeper_counted FROM risk_counts() WHERE subject = 'sweeper-host';

-- Documents: a person bought for from several accounts.  Accounts per
-- document come from the passengers (exact); the document's own counts
-- from the calls that name it.
SELECT set_setting('risk_captcha_accounts_per_document', 2), set_setting('risk_block_accounts_per_document', 3);
SELECT add_passenger(7040, '11010519491231002X', '张三') > 0, add_passenger(7041, '11010519491231002x', '张三') > 0;
SELECT risk(7040), risk(7041), risk(7042);
SELECT add_passenger(7042, '110105 19491231002X', '张三') > 0;
SELECT regress_error(format($$SELECT * FROM grab(7042, 'G1', %L, 'VNP', 'AOH', 'second', ARRAY['11010519491231002X'])$$,
	(SELECT day FROM d)));
SELECT remove_passenger(7042, '11010519491231002X');
SELECT risk(7040);
SELECT order_id IS NOT NULL AS held FROM grab(7040, 'G1', (SELECT day FROM d), 'VNP', 'AOH', 'second', ARRAY['11010519491231002X']);
SELECT cancel(o.order_id) FROM orders o WHERE o.user_id = 7040 AND o.status = 'held';
SELECT * FROM pg_temp.counts('11010519491231002X');
SELECT kind, subject, level, flagged_by, accounts_per_document FROM risk_flagged
WHERE kind <> 'client' AND subject NOT IN ('7002', '7020') ORDER BY kind, subject;

-- Off again: nothing is refused, nothing flagged, counting stops
SELECT set_setting('risk_checks', 0);
SELECT risk(7002), pg_temp.grab_for(7002);
SELECT count(*) AS flagged FROM risk_flagged;
