-- After the rush: risk control (风控, README "Risk signals").  The
-- administrator turns risk checks on (off by default, so that an update
-- keeps 1.6's behaviour; production should turn them on).  A scalper
-- program then fires grabs for one account from one address, retrying at
-- once: from its 30th attempt in a minute the account asks for a captcha,
-- at its 120th it is blocked (TK075); an ordinary user at another address
-- buys as before.  The administrator's view says who was flagged and why.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SET search_path = public, ticket;
SELECT sale_date AS day FROM demo.config \gset

SELECT ticket.set_setting('risk_checks', 1) AS "risk checks on (ticket.set_setting('risk_checks', 1))";
-- real names are required in this demo: each account names a passenger
SELECT count(ticket.add_passenger(u, f.document_no, f.name, f.passenger_type)) AS passengers_added
FROM generate_series(990001, 990002) u, demo.family(u) f WHERE f.member = 1;

\echo
\echo '== A scalper program: account 990001 at 198.51.100.7 fires 150 grabs on G1 北京南 > 南京南 at once'
BEGIN;
SELECT set_config('ticket.client', '198.51.100.7', true) IS NOT NULL AS "names its client";
CREATE TEMP TABLE scalper AS
SELECT i, demo.outcome_of(format($$SELECT * FROM ticket.grab(990001, 'G1', %L, '北京南', '南京南', 'second', ARRAY[%L])$$, :'day',
	(SELECT f.document_no FROM demo.family(990001) f WHERE f.member = 1))) AS outcome
FROM generate_series(1, 150) i;
SELECT ticket.risk(990001) AS "its level now";
COMMIT;
SELECT coalesce(substr(outcome, 1, 5), '') AS sqlstate, min(i) AS first_attempt, count(*) AS attempts,
       min(substr(outcome, 8, 60)) AS message
FROM scalper GROUP BY 1 ORDER BY 2;

\echo
\echo '== An ordinary user at another address buys as before'
BEGIN;
SELECT set_config('ticket.client', '203.0.113.20', true) IS NOT NULL AS "names its client";
SELECT ticket.risk(990002) AS level,
       demo.outcome_of(format($$SELECT * FROM ticket.grab(990002, 'G1', %L, '北京南', '南京南', 'second', ARRAY[%L])$$, :'day',
	(SELECT f.document_no FROM demo.family(990002) f WHERE f.member = 1))) AS grab;
COMMIT;

\echo
\echo '== Who is flagged, and why (SELECT * FROM ticket.risk_flagged, administrators only)'
SELECT kind, subject, level, flagged_by, grabs_per_minute, expired_holds, cancels, refunds, accounts_per_document
FROM ticket.risk_flagged WHERE subject IN ('990001', '198.51.100.7') ORDER BY kind;
