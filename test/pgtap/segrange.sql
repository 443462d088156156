-- pgTAP: the segrange type and its index support as a catalog sees them.
BEGIN;
SELECT plan(14);
SET LOCAL search_path = ticket, public;

SELECT has_schema('ticket');
SELECT has_type('ticket', 'segrange', 'segrange type exists');
SELECT has_function('ticket', 'segrange', ARRAY['integer', 'integer']);
SELECT has_function('ticket', 'legs', ARRAY['segrange']);
SELECT has_opclass('ticket', 'segrange_ops', 'segrange_ops opclasses exist');
SELECT ok(amvalidate(oid), 'opclass ' || opcname || ' USING ' || (SELECT amname FROM pg_am WHERE pg_am.oid = opcmethod) || ' is valid')
FROM pg_opclass WHERE opcintype = 'ticket.segrange'::regtype ORDER BY opcmethod;
SELECT is((SELECT count(*)::int FROM pg_opclass WHERE opcintype = 'ticket.segrange'::regtype AND opcdefault), 3,
	'btree, hash and gist classes are the defaults');
SELECT throws_ok($$SELECT '[5,2)'::ticket.segrange$$, '22P02', NULL, 'reversed text input is refused');
SELECT throws_ok($$SELECT '[-1,3)'::ticket.segrange$$, '22003', NULL, 'negative stop is out of range');
SELECT is(ticket.segrange(0, 3) OPERATOR(ticket.&&) ticket.segrange(3, 5), false, '[0,3) and [3,5) share no leg');
SELECT is(ticket.segrange(0, 3) OPERATOR(ticket.-|-) ticket.segrange(3, 5), true, '[0,3) and [3,5) are adjacent');
SELECT is(ticket.legs('[2,5)'), 3, '[2,5) covers three legs');

SELECT * FROM finish();
ROLLBACK;
