-- The hand-written part of the update from 1.6 to 1.7: what CREATE OR
-- REPLACE FUNCTION cannot do (tables, types, triggers, dropped or renamed
-- functions).  The build appends every function of src/sql/.
--
-- 1.7 reorganised the source; its tables are those of 1.6.

-- Passengers with their document numbers masked, for roles that only show
-- them (as in src/sql/03_passengers.sql).
CREATE VIEW passenger_masked AS
SELECT p.passenger_id, p.user_id, p.document_type,
	CASE WHEN length(p.document_no) >= 15
	     THEN left(p.document_no, 6) || repeat('*', length(p.document_no) - 10) || right(p.document_no, 4)
	     ELSE left(p.document_no, 1) || repeat('*', length(p.document_no) - 2) || right(p.document_no, 1)
	END AS document_no,
	p.name, p.passenger_type, p.created_at, p.removed_at
FROM passenger p;
COMMENT ON VIEW passenger_masked IS 'ticket.passenger with document numbers masked as 12306 shows them (110105********002X): for roles that display passengers and must not read identity numbers';
COMMENT ON COLUMN passenger_masked.document_no IS 'the document number masked: 15 characters or more keep the first 6 and last 4, shorter ones the first and last character';
GRANT SELECT ON passenger_masked TO ticket_admin, ticket_app;

-- Against scalpers (issue 14: real names required, per-person and
-- per-client limits): three settings, the client of an order, and
-- internal functions of 1.6 that now take the client (dropped here,
-- created again with it below).
ALTER TABLE setting DROP CONSTRAINT setting_name_check;
ALTER TABLE setting ADD CONSTRAINT setting_name_check
	CHECK (name IN ('max_passengers', 'max_orders_per_day', 'max_cancels_per_day', 'refund_min_fee',
	                'real_names_required', 'max_tickets_per_person_day', 'max_orders_per_client_run'));
ALTER TABLE orders ADD COLUMN client text;
COMMENT ON COLUMN orders.client IS 'the end client that made the order (ticket.client: an IP address or device id), NULL if none was named';
CREATE INDEX orders_client_idx ON orders (client, run_id) WHERE client IS NOT NULL;
DROP FUNCTION hold_seat(bigint, bigint, integer, segrange, seat_class, text, boolean, text);
DROP FUNCTION grab_named(bigint, text, date, text, text, text, text[], text);
-- The passenger form of enqueue: a queued request keeps its passengers,
-- seat letters and end client, in shared memory and in the table.
ALTER TABLE queue_request ADD COLUMN passenger_ids bigint[], ADD COLUMN seat_letters text, ADD COLUMN client text;
COMMENT ON COLUMN queue_request.passenger_ids IS 'the passenger form of enqueue: ids of the account''s passengers, in order, served as the passenger form of grab (NULL: one seat without names)';
COMMENT ON COLUMN queue_request.seat_letters IS 'seat letters asked with passengers (NULL: none)';
COMMENT ON COLUMN queue_request.client IS 'the end client (ticket.client) that queued the request, NULL if none was named';
DROP FUNCTION queue_ring_take(bigint, integer);
