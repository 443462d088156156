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

-- Hot runs and the overload breaker (as in src/sql/09_overload.sql and
-- the settings of src/sql/03_passengers.sql).
ALTER TABLE setting DROP CONSTRAINT setting_name_check;
ALTER TABLE setting ADD CONSTRAINT setting_name_check
	CHECK (name IN ('max_passengers', 'max_orders_per_day', 'max_cancels_per_day', 'refund_min_fee',
		'hot_queue_length', 'hot_cooldown_seconds', 'breaker_mode', 'breaker_trip_backends',
		'breaker_hold_seconds'));

CREATE TABLE hot_run (
	run_id bigint PRIMARY KEY REFERENCES run ON DELETE CASCADE,
	reason text NOT NULL CHECK (reason IN ('admin', 'queue_length')),
	marked_at timestamptz NOT NULL DEFAULT now(),
	until timestamptz,
	CHECK ((reason = 'admin') = (until IS NULL))
);
COMMENT ON TABLE hot_run IS 'runs sold only through the queue: direct grabs refused with TK080; marked by an administrator (until NULL: until removed) or by the queue-length rule (until its deadline)';
COMMENT ON COLUMN hot_run.until IS 'when an automatic mark lapses (extended while the queue stays long); NULL for an administrator''s mark';
GRANT SELECT ON hot_run TO ticket_admin, ticket_app;
SELECT pg_catalog.pg_extension_config_dump('hot_run', '');

CREATE VIEW hot_runs AS
SELECT t.code AS train, r.service_date, h.reason, h.marked_at, h.until
FROM hot_run h JOIN run r USING (run_id) JOIN train t USING (train_id)
WHERE h.until IS NULL OR h.until > now();
COMMENT ON VIEW hot_runs IS 'the runs that are hot now, by train and date, with why (admin, queue_length), since when and until when (NULL: until an administrator unmarks it)';
GRANT SELECT ON hot_runs TO ticket_admin, ticket_app;
