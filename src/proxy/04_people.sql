-- People across partitions: the person ledger (doc/scale-out.md) ----------------
--
-- One node refuses a second live ticket of a person that overlaps in time
-- (an EXCLUDE constraint).  Two runs may live on two partitions, so each
-- person's trips are also kept on the partition that owns the document key
-- (hashtext(key) & (n - 1)), in ticket.person_trip under the same kind of
-- constraint, and the proxy works like this:
--
--   grab with passengers  reserve the trip for each person (their partitions; TK043 if taken),
--                         for the hold timeout and 5 s, then hold the seats on the run's partition; if that fails, give the
--                         reservations back (a compensating call); then note the order on them
--   confirm               mark the trips 'paying' (reserving them again if they lapsed; TK043 if
--                         taken meanwhile: no payment), pay, then settle them from the tickets
--   cancel                cancel, then settle
--   refund, refund_ticket mark the trips 'releasing', refund, then settle
--
-- A step lost half-way (a partition or the proxy gone) leaves a trip that
-- blocks its person, never one that lets two tickets overlap: a held trip
-- lapses by itself at the hold's deadline (5 s after it, if the grab's
-- answer was lost), and 'paying' or
-- 'releasing' ones are settled by the next call on the order, or by
-- ticket.expire_holds() here (schedule it as on one node).

CREATE FUNCTION ticket_proxy.trip_plan(user_id bigint, passengers text[], train text, service_date date,
	from_station text, to_station text, OUT document_keys text[], OUT travel tsrange)
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.run_hash(train, service_date);
	TARGET ticket.trip_plan;
$$;
COMMENT ON FUNCTION ticket_proxy.trip_plan(bigint, text[], text, date, text, text) IS 'internal: the document keys of a grab''s people and its travel time (from the run''s partition)';

CREATE FUNCTION ticket_proxy.hold_timeout(train text, service_date date) RETURNS interval
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.run_hash(train, service_date);
	SELECT ticket.hold_timeout();
$$;
COMMENT ON FUNCTION ticket_proxy.hold_timeout(text, date) IS 'internal: how long a hold lasts on the run''s partition';

CREATE FUNCTION ticket_proxy.reserve_trips(document_keys text[], travel tsrange, token text, live_until timestamptz)
RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	SPLIT document_keys;
	RUN ON hashtext(document_keys);
	TARGET ticket.reserve_trips;
$$;
COMMENT ON FUNCTION ticket_proxy.reserve_trips(text[], tsrange, text, timestamptz) IS 'internal: reserve a trip for each person on the partition of their document key';

CREATE FUNCTION ticket_proxy.release_trips(document_keys text[], token text) RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	SPLIT document_keys;
	RUN ON hashtext(document_keys);
	TARGET ticket.release_trips;
$$;
COMMENT ON FUNCTION ticket_proxy.release_trips(text[], text) IS 'internal: give back the trips a failed grab reserved';

CREATE FUNCTION ticket_proxy.set_trips(document_keys text[], travels tsrange[], order_id bigint, states text[],
	live_until timestamptz) RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	SPLIT document_keys, travels, states;
	RUN ON hashtext(document_keys);
	TARGET ticket.set_trips;
$$;
COMMENT ON FUNCTION ticket_proxy.set_trips(text[], tsrange[], bigint, text[], timestamptz) IS 'internal: move the trips of an order''s people, each on the partition of its document key';

CREATE FUNCTION ticket_proxy.order_people(order_id bigint, ticket_id bigint)
RETURNS TABLE (of_order bigint, document_key text, travel tsrange, trip_state text, hold_until timestamptz)
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ticket_proxy.id_hash(coalesce(order_id, ticket_id));
	TARGET ticket.order_people;
$$;
COMMENT ON FUNCTION ticket_proxy.order_people(bigint, bigint) IS 'internal: the people of an order (or of a ticket''s order) and their trips'' state, from its partition';

CREATE FUNCTION ticket_proxy.unsettled_trips() RETURNS SETOF bigint
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.unsettled_trips;
$$;
COMMENT ON FUNCTION ticket_proxy.unsettled_trips() IS 'internal: orders whose trips wait to be settled, from every partition';

-- Move the trips of an order's people: to what its tickets say (state NULL),
-- or to one state (paying, releasing).  Returns whether the order has people.
CREATE FUNCTION ticket_proxy.move_trips(order_id bigint, ticket_id bigint, state text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	p record;
BEGIN
	SELECT array_agg(x.document_key) AS keys, array_agg(x.travel) AS travels,
	       array_agg(coalesce(state, x.trip_state)) AS states, min(x.of_order) AS order_id,
	       max(x.hold_until) AS hold_until
	INTO p FROM ticket_proxy.order_people(order_id, ticket_id) x;
	IF p.keys IS NULL THEN
		RETURN false;
	END IF;
	PERFORM ticket_proxy.set_trips(p.keys, p.travels, p.order_id, p.states, p.hold_until);
	RETURN true;
END
$$;
COMMENT ON FUNCTION ticket_proxy.move_trips(bigint, bigint, text) IS 'internal: move the trips of an order''s people to a state, or (NULL) to what their tickets say; false if the order has no people';

-- settle, never failing the call it follows: what it could not do is done
-- by the next call on the order or by expire_holds()
CREATE FUNCTION ticket_proxy.settle_trips(order_id bigint, ticket_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM ticket_proxy.move_trips(order_id, ticket_id, NULL);
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'the trips of order % are settled later: %', coalesce(order_id::text, 'of ticket ' || ticket_id), SQLERRM;
END
$$;
COMMENT ON FUNCTION ticket_proxy.settle_trips(bigint, bigint) IS 'internal: settle the trips of an order''s people from its tickets, with a warning instead of an error';

CREATE FUNCTION grab(user_id bigint, train text, service_date date, from_station text,
	to_station text, seat_class text, passengers text[], seat_letters text DEFAULT NULL)
RETURNS SETOF passenger_booking
LANGUAGE plpgsql AS $$
DECLARE
	plan record;
	token text := md5(random()::text || clock_timestamp()::text || coalesce(user_id::text, ''));
	rows ticket.passenger_booking[];
BEGIN
	SELECT * INTO plan FROM ticket_proxy.trip_plan(user_id, passengers, train, service_date, from_station, to_station);
	IF plan.document_keys IS NULL OR plan.travel IS NULL THEN
		-- a wrong request: the run's partition says what is wrong
		RETURN QUERY SELECT * FROM ticket_proxy.grab(user_id, train, service_date, from_station, to_station,
			seat_class, passengers, seat_letters);
		RETURN;
	END IF;
	PERFORM ticket_proxy.reserve_trips(plan.document_keys, plan.travel, token,
		now() + ticket_proxy.hold_timeout(train, service_date) + interval '5 s');
	BEGIN
		SELECT array_agg(b) INTO rows FROM ticket_proxy.grab(user_id, train, service_date, from_station,
			to_station, seat_class, passengers, seat_letters) b;
	EXCEPTION WHEN OTHERS THEN
		BEGIN
			PERFORM ticket_proxy.release_trips(plan.document_keys, token);
		EXCEPTION WHEN OTHERS THEN
			NULL;	-- they lapse by themselves
		END;
		RAISE;
	END;
	-- the trips now belong to the order (if this is lost, they lapse after
	-- the hold, and confirm finds or reserves them again)
	BEGIN
		PERFORM ticket_proxy.set_trips(plan.document_keys, array_fill(plan.travel, ARRAY[cardinality(plan.document_keys)]),
			rows[1].order_id, array_fill('held'::text, ARRAY[cardinality(plan.document_keys)]),
			rows[1].hold_until);
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'the trips of order % are settled later: %', rows[1].order_id, SQLERRM;
	END;
	RETURN QUERY SELECT * FROM unnest(rows);
END
$$;
COMMENT ON FUNCTION grab(bigint, text, date, text, text, text, text[], text) IS 'hold seats for 1 to 5 named passengers on the run''s partition, after reserving their trip on the partitions of their document keys (TK043 if one travels then, on any partition)';
REVOKE EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grab(bigint, text, date, text, text, text, text[], text) TO ticket_app, ticket_admin;

-- pay: the trips first (never lapse while paying), then the order
CREATE FUNCTION ticket_proxy.pay(order_id bigint, user_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	people boolean;
	result text;
BEGIN
	people := ticket_proxy.move_trips(order_id, NULL, 'paying');
	BEGIN
		IF user_id IS NULL THEN
			result := ticket_proxy.confirm(order_id);
		ELSE
			result := ticket_proxy.confirm(order_id, user_id);
		END IF;
	EXCEPTION WHEN OTHERS THEN
		IF people THEN
			PERFORM ticket_proxy.settle_trips(order_id, NULL);
		END IF;
		RAISE;
	END;
	IF people THEN
		PERFORM ticket_proxy.settle_trips(order_id, NULL);
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION ticket_proxy.pay(bigint, bigint) IS 'internal: confirm with the person ledger';

CREATE FUNCTION confirm(order_id bigint) RETURNS text
LANGUAGE sql AS $$ SELECT ticket_proxy.pay(order_id, NULL) $$;
COMMENT ON FUNCTION confirm(bigint) IS 'pay a held order on its partition, its people''s trips made sure of first (TK043 if one was taken meanwhile); again on a paid order: paid';
REVOKE EXECUTE ON FUNCTION confirm(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION confirm(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION confirm(order_id bigint, user_id bigint) RETURNS text
LANGUAGE sql AS $$ SELECT ticket_proxy.pay(order_id, user_id) $$;
COMMENT ON FUNCTION confirm(bigint, bigint) IS 'pay that user''s held order, on its partition (as confirm(order_id))';
REVOKE EXECUTE ON FUNCTION confirm(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION confirm(bigint, bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION cancel(order_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text := ticket_proxy.cancel(order_id);
BEGIN
	PERFORM ticket_proxy.settle_trips(order_id, NULL);
	RETURN result;
END
$$;
COMMENT ON FUNCTION cancel(bigint) IS 'cancel a held order on its partition, then release its people''s trips';
REVOKE EXECUTE ON FUNCTION cancel(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cancel(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION cancel(order_id bigint, user_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text := ticket_proxy.cancel(order_id, user_id);
BEGIN
	PERFORM ticket_proxy.settle_trips(order_id, NULL);
	RETURN result;
END
$$;
COMMENT ON FUNCTION cancel(bigint, bigint) IS 'cancel that user''s held order, then release its people''s trips';
REVOKE EXECUTE ON FUNCTION cancel(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cancel(bigint, bigint) TO ticket_app, ticket_admin;

-- refund: the trips marked releasing (they still block), the refund, then settled
CREATE FUNCTION ticket_proxy.give_back(o_id bigint, t_id bigint, u_id bigint)
RETURNS TABLE (ticket_id bigint, price numeric, fee numeric, refunded numeric, answer text)
LANGUAGE plpgsql AS $$
DECLARE
	people boolean := ticket_proxy.move_trips(o_id, t_id, 'releasing');
	got ticket.refund_result[];
	said text;
BEGIN
	BEGIN
		IF t_id IS NOT NULL THEN
			IF u_id IS NULL THEN
				SELECT array_agg(r) INTO got FROM ticket_proxy.refund_ticket(t_id) r;
			ELSE
				SELECT array_agg(r) INTO got FROM ticket_proxy.refund_ticket(t_id, u_id) r;
			END IF;
		ELSIF u_id IS NULL THEN
			said := ticket_proxy.refund(o_id);
		ELSE
			said := ticket_proxy.refund(o_id, u_id);
		END IF;
	EXCEPTION WHEN OTHERS THEN
		IF people THEN
			PERFORM ticket_proxy.settle_trips(o_id, t_id);
		END IF;
		RAISE;
	END;
	IF people THEN
		PERFORM ticket_proxy.settle_trips(o_id, t_id);
	END IF;
	IF t_id IS NULL THEN
		RETURN QUERY SELECT NULL::bigint, NULL::numeric, NULL::numeric, NULL::numeric, said;
	ELSE
		RETURN QUERY SELECT r.ticket_id, r.price, r.fee, r.refunded, NULL::text FROM unnest(got) r;
	END IF;
END
$$;
COMMENT ON FUNCTION ticket_proxy.give_back(bigint, bigint, bigint) IS 'internal: refund or refund_ticket with the person ledger';

CREATE FUNCTION refund(order_id bigint) RETURNS text
LANGUAGE sql AS $$ SELECT g.answer FROM ticket_proxy.give_back(order_id, NULL, NULL) g $$;
COMMENT ON FUNCTION refund(bigint) IS 'refund a paid order on its partition, then release its people''s trips';
REVOKE EXECUTE ON FUNCTION refund(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION refund(order_id bigint, user_id bigint) RETURNS text
LANGUAGE sql AS $$ SELECT g.answer FROM ticket_proxy.give_back(order_id, NULL, user_id) g $$;
COMMENT ON FUNCTION refund(bigint, bigint) IS 'refund that user''s paid order, then release its people''s trips';
REVOKE EXECUTE ON FUNCTION refund(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund(bigint, bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION refund_ticket(ticket_id bigint) RETURNS SETOF refund_result
LANGUAGE sql AS $$
	SELECT g.ticket_id, g.price, g.fee, g.refunded FROM ticket_proxy.give_back(NULL, ticket_id, NULL) g
$$;
COMMENT ON FUNCTION refund_ticket(bigint) IS 'refund one paid ticket on its partition, then release its person''s trip';
REVOKE EXECUTE ON FUNCTION refund_ticket(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund_ticket(bigint) TO ticket_app, ticket_admin;

CREATE FUNCTION refund_ticket(ticket_id bigint, user_id bigint) RETURNS SETOF refund_result
LANGUAGE sql AS $$
	SELECT g.ticket_id, g.price, g.fee, g.refunded FROM ticket_proxy.give_back(NULL, ticket_id, user_id) g
$$;
COMMENT ON FUNCTION refund_ticket(bigint, bigint) IS 'refund one of that user''s paid tickets, then release its person''s trip';
REVOKE EXECUTE ON FUNCTION refund_ticket(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refund_ticket(bigint, bigint) TO ticket_app, ticket_admin;

-- the sweeper: holds on every partition, then trips left unsettled
CREATE FUNCTION ticket_proxy.settle_unsettled() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	n integer := 0;
	o bigint;
BEGIN
	FOR o IN SELECT DISTINCT x FROM ticket_proxy.unsettled_trips() x ORDER BY 1 LOOP
		PERFORM ticket_proxy.settle_trips(o, NULL);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION ticket_proxy.settle_unsettled() IS 'internal: settle the trips of every order left paying or releasing (a call lost half-way)';
