-- Sales: each call on the one partition that owns its run, order or ticket ------
--
-- PL/Proxy sends the call with the same arguments to ticket.<name> there
-- (autocommit: the partition commits before it answers) and passes its rows
-- and errors (with their SQLSTATE) back.  A reply lost after the commit is
-- made good by calling again: grab, enqueue and join_waitlist with the same
-- request id (grab) or user and run (enqueue's request id, the waitlist's one
-- waiting request per run) give the same answer; confirm, cancel and refund
-- of an order already in that state answer as before (doc/scale-out.md,
-- Retries).

-- runs: their sales and what remains -------------------------------------------

CREATE FUNCTION open_sales(train text, service_date date) RETURNS bigint
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.run_hash(train, service_date);
$$;
COMMENT ON FUNCTION open_sales(text, date) IS 'open sales of a train on a date on the partition that owns the run; returns the run id (its partition in the top bits)';
REVOKE EXECUTE ON FUNCTION open_sales(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION open_sales(text, date) TO ticket_admin;

CREATE FUNCTION close_sales(train text, service_date date) RETURNS bigint
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.run_hash(train, service_date);
$$;
COMMENT ON FUNCTION close_sales(text, date) IS 'stop sales of a run, on its partition';
REVOKE EXECUTE ON FUNCTION close_sales(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION close_sales(text, date) TO ticket_admin;

CREATE FUNCTION ticket_proxy.open_sales_owned(service_date date) RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.open_sales_owned;
$$;
COMMENT ON FUNCTION ticket_proxy.open_sales_owned(date) IS 'internal: every partition opens the runs of a date it owns';
REVOKE EXECUTE ON FUNCTION ticket_proxy.open_sales_owned(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.open_sales_owned(date) TO ticket_admin;

CREATE FUNCTION open_sales(service_date date) RETURNS integer
LANGUAGE sql AS $$
	SELECT sum(n)::integer FROM ticket_proxy.open_sales_owned(service_date) n
$$;
COMMENT ON FUNCTION open_sales(date) IS 'open sales of every train that has seats on a date, each run on its partition; returns the number of runs open';
REVOKE EXECUTE ON FUNCTION open_sales(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION open_sales(date) TO ticket_admin;

CREATE FUNCTION remaining(train text, service_date date, from_station text, to_station text)
RETURNS TABLE (seat_class text, remaining integer)
LANGUAGE plproxy AS $$
	CLUSTER ticket_proxy.read_cluster();
	RUN ON ticket_proxy.run_hash(train, service_date);
$$;
COMMENT ON FUNCTION remaining(text, date, text, text) IS 'seats free on every leg from one station to another, per class, from the run''s partition';

CREATE FUNCTION remaining_matrix(train text, service_date date)
RETURNS TABLE (from_station text, to_station text, seat_class text, remaining integer)
LANGUAGE plproxy AS $$
	CLUSTER ticket_proxy.read_cluster();
	RUN ON ticket_proxy.run_hash(train, service_date);
$$;
COMMENT ON FUNCTION remaining_matrix(text, date) IS 'remaining seats of a run for every from/to pair and class, from the run''s partition';

CREATE FUNCTION fare(train text, from_station text, to_station text, seat_class text,
	passenger_type text DEFAULT 'adult') RETURNS numeric
LANGUAGE plproxy AS $$
	CLUSTER ticket_proxy.read_cluster();
	RUN ON ANY;
$$;
COMMENT ON FUNCTION fare(text, text, text, text, text) IS 'the price a passenger type pays between two stations of a train in a class (any partition: fares are on all)';
REVOKE EXECUTE ON FUNCTION fare(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fare(text, text, text, text, text) TO ticket_app, ticket_admin;

CREATE FUNCTION setting(name text) RETURNS numeric
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ANY;
$$;
COMMENT ON FUNCTION setting(text) IS 'a limit (any partition: settings are on all)';
REVOKE EXECUTE ON FUNCTION setting(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION setting(text) TO ticket_app, ticket_admin;

-- grabs, the queue and the waitlist: on the run's partition ----------------------

CREATE FUNCTION grab(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL, request_id text DEFAULT NULL)
RETURNS SETOF booking
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.run_hash(train, service_date);
$$;
COMMENT ON FUNCTION grab(bigint, text, date, text, text, text, text) IS 'hold a seat on the run''s partition; request_id makes retries return the same order';
REVOKE EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.grab(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, passengers text[], seat_letters text DEFAULT NULL)
RETURNS SETOF passenger_booking
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.run_hash(train, service_date);
	TARGET ticket.grab;
$$;
COMMENT ON FUNCTION ticket_proxy.grab(bigint, text, date, text, text, text, text[], text) IS 'internal: the passenger form of ticket.grab on the run''s partition (ticket.grab reserves the people first)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.grab(bigint, text, date, text, text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.grab(bigint, text, date, text, text, text, text[], text) TO ticket_app, ticket_admin;

CREATE FUNCTION enqueue(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL, request_id text DEFAULT NULL)
RETURNS queue_entry
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.run_hash(train, service_date);
$$;
COMMENT ON FUNCTION enqueue(bigint, text, date, text, text, text, text) IS 'queue a grab on the run''s partition; the request id carries the partition';
REVOKE EXECUTE ON FUNCTION enqueue(bigint, text, date, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION enqueue(bigint, text, date, text, text, text, text) TO ticket_app, ticket_admin;

CREATE FUNCTION queue_status(request_id bigint,
	OUT status text, OUT queue_position bigint, OUT ahead bigint, OUT estimated_wait interval,
	OUT order_id bigint, OUT carriage integer, OUT seat_no text, OUT hold_until timestamptz,
	OUT error_sqlstate text, OUT error_message text)
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(request_id);
$$;
COMMENT ON FUNCTION queue_status(bigint) IS 'a queued request, from its partition';
REVOKE EXECUTE ON FUNCTION queue_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_status(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION queue_wait(request_id bigint, timeout interval DEFAULT '30 seconds',
	OUT status text, OUT queue_position bigint, OUT ahead bigint, OUT estimated_wait interval,
	OUT order_id bigint, OUT carriage integer, OUT seat_no text, OUT hold_until timestamptz,
	OUT error_sqlstate text, OUT error_message text)
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(request_id);
$$;
COMMENT ON FUNCTION queue_wait(bigint, interval) IS 'queue_status() once the request is served or the timeout has passed, waiting on its partition';
REVOKE EXECUTE ON FUNCTION queue_wait(bigint, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_wait(bigint, interval) TO ticket_app, ticket_admin;

CREATE FUNCTION join_waitlist(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_classes text[] DEFAULT NULL, deadline timestamptz DEFAULT NULL,
	passengers text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.run_hash(train, service_date);
$$;
COMMENT ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[]) IS 'wait for seats on a sold-out journey (候补), on the run''s partition';
REVOKE EXECUTE ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION join_waitlist(bigint, text, date, text, text, text[], timestamptz, text[]) TO ticket_app, ticket_admin;

CREATE FUNCTION waitlist_status(waitlist_id bigint,
	OUT status text, OUT ahead bigint, OUT deadline timestamptz, OUT order_id bigint)
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(waitlist_id);
$$;
COMMENT ON FUNCTION waitlist_status(bigint) IS 'a waitlist request, from its partition';
REVOKE EXECUTE ON FUNCTION waitlist_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION waitlist_status(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION leave_waitlist(waitlist_id bigint) RETURNS text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(waitlist_id);
$$;
COMMENT ON FUNCTION leave_waitlist(bigint) IS 'cancel a waitlist request, on its partition';
REVOKE EXECUTE ON FUNCTION leave_waitlist(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION leave_waitlist(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION leave_waitlist(waitlist_id bigint, user_id bigint) RETURNS text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(waitlist_id);
$$;
COMMENT ON FUNCTION leave_waitlist(bigint, bigint) IS 'cancel that user''s waitlist request, on its partition';
REVOKE EXECUTE ON FUNCTION leave_waitlist(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION leave_waitlist(bigint, bigint) TO ticket_app, ticket_admin;

-- orders and tickets: on the partition in their id --------------------------------

CREATE FUNCTION ticket_proxy.confirm(order_id bigint) RETURNS text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(order_id);
	TARGET ticket.confirm;
$$;
COMMENT ON FUNCTION ticket_proxy.confirm(bigint) IS 'internal: ticket.confirm on the partition of the id (ticket.confirm adds the person ledger)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.confirm(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.confirm(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.confirm(order_id bigint, user_id bigint) RETURNS text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(order_id);
	TARGET ticket.confirm;
$$;
COMMENT ON FUNCTION ticket_proxy.confirm(bigint, bigint) IS 'internal: ticket.confirm on the partition of the id (ticket.confirm adds the person ledger)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.confirm(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.confirm(bigint, bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.cancel(order_id bigint) RETURNS text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(order_id);
	TARGET ticket.cancel;
$$;
COMMENT ON FUNCTION ticket_proxy.cancel(bigint) IS 'internal: ticket.cancel on the partition of the id (ticket.cancel adds the person ledger)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.cancel(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.cancel(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.cancel(order_id bigint, user_id bigint) RETURNS text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(order_id);
	TARGET ticket.cancel;
$$;
COMMENT ON FUNCTION ticket_proxy.cancel(bigint, bigint) IS 'internal: ticket.cancel on the partition of the id (ticket.cancel adds the person ledger)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.cancel(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.cancel(bigint, bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.refund(order_id bigint) RETURNS text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(order_id);
	TARGET ticket.refund;
$$;
COMMENT ON FUNCTION ticket_proxy.refund(bigint) IS 'internal: ticket.refund on the partition of the id (ticket.refund adds the person ledger)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.refund(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.refund(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.refund(order_id bigint, user_id bigint) RETURNS text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(order_id);
	TARGET ticket.refund;
$$;
COMMENT ON FUNCTION ticket_proxy.refund(bigint, bigint) IS 'internal: ticket.refund on the partition of the id (ticket.refund adds the person ledger)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.refund(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.refund(bigint, bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.refund_ticket(ticket_id bigint) RETURNS SETOF refund_result
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(ticket_id);
	TARGET ticket.refund_ticket;
$$;
COMMENT ON FUNCTION ticket_proxy.refund_ticket(bigint) IS 'internal: ticket.refund_ticket on the partition of the id (ticket.refund_ticket adds the person ledger)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.refund_ticket(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.refund_ticket(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.refund_ticket(ticket_id bigint, user_id bigint) RETURNS SETOF refund_result
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(ticket_id);
	TARGET ticket.refund_ticket;
$$;
COMMENT ON FUNCTION ticket_proxy.refund_ticket(bigint, bigint) IS 'internal: ticket.refund_ticket on the partition of the id (ticket.refund_ticket adds the person ledger)';
REVOKE EXECUTE ON FUNCTION ticket_proxy.refund_ticket(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.refund_ticket(bigint, bigint) TO ticket_app, ticket_admin;

-- A change holds the new seat and releases the old one in one transaction:
-- both runs must be on the ticket's partition.  A change to a run of
-- another partition is TK090 (refund and grab there instead).
CREATE FUNCTION ticket_proxy.check_change(ticket_id bigint, train text, service_date date) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF ticket_id IS NOT NULL AND train IS NOT NULL AND service_date IS NOT NULL
	   AND ticket.id_partition(ticket_id) <> ticket.run_partition(train, service_date) THEN
		RAISE EXCEPTION 'cannot change ticket % to train % on %: the run is on another partition',
			ticket_id, upper(btrim(train)), service_date USING ERRCODE = 'TK090',
			DETAIL = format('The ticket is on partition %s, the run on partition %s.',
				ticket.id_partition(ticket_id), ticket.run_partition(train, service_date)),
			HINT = 'Refund the ticket and grab a seat on the other run.';
	END IF;
END
$$;
COMMENT ON FUNCTION ticket_proxy.check_change(bigint, text, date) IS 'internal: TK090 when a change would move a ticket to a run on another partition';

CREATE FUNCTION ticket_proxy.change_ticket(ticket_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text)
RETURNS SETOF change_result
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(ticket_id);
	TARGET ticket.change_ticket;
$$;
COMMENT ON FUNCTION ticket_proxy.change_ticket(bigint, text, date, text, text, text) IS 'internal: ticket.change_ticket on the ticket''s partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.change_ticket(bigint, text, date, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.change_ticket(bigint, text, date, text, text, text) TO ticket_app, ticket_admin;

CREATE FUNCTION change_ticket(ticket_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text DEFAULT NULL)
RETURNS SETOF change_result
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM ticket_proxy.check_change(ticket_id, train, service_date);
	RETURN QUERY SELECT * FROM ticket_proxy.change_ticket(ticket_id, train, service_date, from_station,
		to_station, seat_class);
END
$$;
COMMENT ON FUNCTION change_ticket(bigint, text, date, text, text, text) IS 'change a paid ticket (改签) to another run of its partition; TK090 for a run on another partition';
REVOKE EXECUTE ON FUNCTION change_ticket(bigint, text, date, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION change_ticket(bigint, text, date, text, text, text) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.change_ticket(ticket_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, user_id bigint)
RETURNS SETOF change_result
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(ticket_id);
	TARGET ticket.change_ticket;
$$;
COMMENT ON FUNCTION ticket_proxy.change_ticket(bigint, text, date, text, text, text, bigint) IS 'internal: ticket.change_ticket for a user on the ticket''s partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.change_ticket(bigint, text, date, text, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.change_ticket(bigint, text, date, text, text, text, bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION change_ticket(ticket_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, user_id bigint)
RETURNS SETOF change_result
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM ticket_proxy.check_change(ticket_id, train, service_date);
	RETURN QUERY SELECT * FROM ticket_proxy.change_ticket(ticket_id, train, service_date, from_station,
		to_station, seat_class, user_id);
END
$$;
COMMENT ON FUNCTION change_ticket(bigint, text, date, text, text, text, bigint) IS 'change_ticket(...) for that user''s ticket only; TK090 for a run on another partition';
REVOKE EXECUTE ON FUNCTION change_ticket(bigint, text, date, text, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION change_ticket(bigint, text, date, text, text, text, bigint) TO ticket_app, ticket_admin;

-- jobs: every partition ----------------------------------------------------------

CREATE FUNCTION ticket_proxy.expire_holds() RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.expire_holds;
$$;
COMMENT ON FUNCTION ticket_proxy.expire_holds() IS 'internal: ticket.expire_holds on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.expire_holds() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.expire_holds() TO ticket_admin;

CREATE FUNCTION expire_holds() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n integer := (SELECT coalesce(sum(x), 0)::integer FROM ticket_proxy.expire_holds() x);
BEGIN
	PERFORM ticket_proxy.settle_unsettled();
	RETURN n;
END
$$;
COMMENT ON FUNCTION expire_holds() IS 'release expired holds on every partition and settle the trips of people left half-way (doc/scale-out.md); returns how many orders expired';
REVOKE EXECUTE ON FUNCTION expire_holds() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expire_holds() TO ticket_admin;
