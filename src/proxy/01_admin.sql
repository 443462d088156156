-- Administration and passengers: on every partition ------------------------------
--
-- Each call runs on all partitions at once (RUN ON ALL; each commits on its
-- own).  They must all give the same answer (ids are equal when every
-- partition applied the same calls): the wrapper returns it, or raises
-- TK092 when they differ.  One that failed raises its error here, while the
-- others have committed: ticket.check_partitions() shows the partition out
-- of step (its timetable version), and the call is repeated there by hand.
-- A block per function: the fan-out in ticket_proxy, the API in ticket.

CREATE FUNCTION ticket_proxy.add_station(code text, name text, pinyin text DEFAULT NULL) RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.add_station;
$$;
COMMENT ON FUNCTION ticket_proxy.add_station(text, text, text) IS 'internal: ticket.add_station on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.add_station(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.add_station(text, text, text) TO ticket_admin;
CREATE FUNCTION ticket.add_station(code text, name text, pinyin text DEFAULT NULL) RETURNS integer
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.add_station(code, name, pinyin)), 'add_station')
$$;
COMMENT ON FUNCTION ticket.add_station(text, text, text) IS 'add a station on every partition; returns its id (the same on all); TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.add_station(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.add_station(text, text, text) TO ticket_admin;

CREATE FUNCTION ticket_proxy.set_station_city(station text, city text) RETURNS SETOF text
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.set_station_city;
$$;
COMMENT ON FUNCTION ticket_proxy.set_station_city(text, text) IS 'internal: ticket.set_station_city on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.set_station_city(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.set_station_city(text, text) TO ticket_admin;
CREATE FUNCTION ticket.set_station_city(station text, city text) RETURNS text
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.set_station_city(station, city)), 'set_station_city')
$$;
COMMENT ON FUNCTION ticket.set_station_city(text, text) IS 'set a station''s city on every partition; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.set_station_city(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.set_station_city(text, text) TO ticket_admin;

CREATE FUNCTION ticket_proxy.add_train(code text, stops text[], arrivals interval[] DEFAULT NULL, departures interval[] DEFAULT NULL) RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.add_train;
$$;
COMMENT ON FUNCTION ticket_proxy.add_train(text, text[], interval[], interval[]) IS 'internal: ticket.add_train on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.add_train(text, text[], interval[], interval[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.add_train(text, text[], interval[], interval[]) TO ticket_admin;
CREATE FUNCTION ticket.add_train(code text, stops text[], arrivals interval[] DEFAULT NULL, departures interval[] DEFAULT NULL) RETURNS integer
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.add_train(code, stops, arrivals, departures)), 'add_train')
$$;
COMMENT ON FUNCTION ticket.add_train(text, text[], interval[], interval[]) IS 'add a train with its stops on every partition; returns its id; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.add_train(text, text[], interval[], interval[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.add_train(text, text[], interval[], interval[]) TO ticket_admin;

CREATE FUNCTION ticket_proxy.add_carriage(train text, carriage_no integer, seat_class text, seat_rows integer, layout text) RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.add_carriage;
$$;
COMMENT ON FUNCTION ticket_proxy.add_carriage(text, integer, text, integer, text) IS 'internal: ticket.add_carriage on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.add_carriage(text, integer, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.add_carriage(text, integer, text, integer, text) TO ticket_admin;
CREATE FUNCTION ticket.add_carriage(train text, carriage_no integer, seat_class text, seat_rows integer, layout text) RETURNS integer
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.add_carriage(train, carriage_no, seat_class, seat_rows, layout)), 'add_carriage')
$$;
COMMENT ON FUNCTION ticket.add_carriage(text, integer, text, integer, text) IS 'add a carriage and its seats on every partition; returns the number of seats; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.add_carriage(text, integer, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.add_carriage(text, integer, text, integer, text) TO ticket_admin;

CREATE FUNCTION ticket_proxy.add_default_layout(train text) RETURNS SETOF integer
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.add_default_layout;
$$;
COMMENT ON FUNCTION ticket_proxy.add_default_layout(text) IS 'internal: ticket.add_default_layout on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.add_default_layout(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.add_default_layout(text) TO ticket_admin;
CREATE FUNCTION ticket.add_default_layout(train text) RETURNS integer
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.add_default_layout(train)), 'add_default_layout')
$$;
COMMENT ON FUNCTION ticket.add_default_layout(text) IS 'give a train its default carriages on every partition; returns the number of seats; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.add_default_layout(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.add_default_layout(text) TO ticket_admin;

CREATE FUNCTION ticket_proxy.set_fare(train text, from_station text, to_station text, seat_class text, price numeric) RETURNS SETOF numeric
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.set_fare;
$$;
COMMENT ON FUNCTION ticket_proxy.set_fare(text, text, text, text, numeric) IS 'internal: ticket.set_fare on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.set_fare(text, text, text, text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.set_fare(text, text, text, text, numeric) TO ticket_admin;
CREATE FUNCTION ticket.set_fare(train text, from_station text, to_station text, seat_class text, price numeric) RETURNS numeric
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.set_fare(train, from_station, to_station, seat_class, price)), 'set_fare')
$$;
COMMENT ON FUNCTION ticket.set_fare(text, text, text, text, numeric) IS 'load a fare on every partition; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.set_fare(text, text, text, text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.set_fare(text, text, text, text, numeric) TO ticket_admin;

CREATE FUNCTION ticket_proxy.set_setting(name text, value numeric) RETURNS SETOF numeric
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.set_setting;
$$;
COMMENT ON FUNCTION ticket_proxy.set_setting(text, numeric) IS 'internal: ticket.set_setting on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.set_setting(text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.set_setting(text, numeric) TO ticket_admin;
CREATE FUNCTION ticket.set_setting(name text, value numeric) RETURNS numeric
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.set_setting(name, value)), 'set_setting')
$$;
COMMENT ON FUNCTION ticket.set_setting(text, numeric) IS 'change a limit on every partition; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.set_setting(text, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.set_setting(text, numeric) TO ticket_admin;

CREATE FUNCTION ticket_proxy.set_refund_rule(before interval, rate numeric) RETURNS SETOF numeric
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.set_refund_rule;
$$;
COMMENT ON FUNCTION ticket_proxy.set_refund_rule(interval, numeric) IS 'internal: ticket.set_refund_rule on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.set_refund_rule(interval, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.set_refund_rule(interval, numeric) TO ticket_admin;
CREATE FUNCTION ticket.set_refund_rule(before interval, rate numeric) RETURNS numeric
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.set_refund_rule(before, rate)), 'set_refund_rule')
$$;
COMMENT ON FUNCTION ticket.set_refund_rule(interval, numeric) IS 'set a refund fee rate on every partition; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.set_refund_rule(interval, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.set_refund_rule(interval, numeric) TO ticket_admin;

CREATE FUNCTION ticket_proxy.add_passenger(user_id bigint, document_no text, name text, passenger_type text DEFAULT 'adult', document_type text DEFAULT 'id_card') RETURNS SETOF bigint
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.add_passenger;
$$;
COMMENT ON FUNCTION ticket_proxy.add_passenger(bigint, text, text, text, text) IS 'internal: ticket.add_passenger on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.add_passenger(bigint, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.add_passenger(bigint, text, text, text, text) TO ticket_app, ticket_admin;
CREATE FUNCTION ticket.add_passenger(user_id bigint, document_no text, name text, passenger_type text DEFAULT 'adult', document_type text DEFAULT 'id_card') RETURNS bigint
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.add_passenger(user_id, document_no, name, passenger_type, document_type)), 'add_passenger')
$$;
COMMENT ON FUNCTION ticket.add_passenger(bigint, text, text, text, text) IS 'add a passenger to an account on every partition (a run''s partition checks the passengers of its orders); returns its id; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.add_passenger(bigint, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.add_passenger(bigint, text, text, text, text) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.remove_passenger(user_id bigint, document_no text, document_type text DEFAULT 'id_card') RETURNS SETOF boolean
LANGUAGE plproxy AS $$
	CLUSTER 'ticket';
	RUN ON ALL;
	TARGET ticket.remove_passenger;
$$;
COMMENT ON FUNCTION ticket_proxy.remove_passenger(bigint, text, text) IS 'internal: ticket.remove_passenger on every partition';
REVOKE EXECUTE ON FUNCTION ticket_proxy.remove_passenger(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.remove_passenger(bigint, text, text) TO ticket_app, ticket_admin;
CREATE FUNCTION ticket.remove_passenger(user_id bigint, document_no text, document_type text DEFAULT 'id_card') RETURNS boolean
LANGUAGE sql AS $$
	SELECT ticket_proxy.agreed(ARRAY(SELECT ticket_proxy.remove_passenger(user_id, document_no, document_type)), 'remove_passenger')
$$;
COMMENT ON FUNCTION ticket.remove_passenger(bigint, text, text) IS 'remove a passenger from an account on every partition; TK092 if the partitions answer differently';
REVOKE EXECUTE ON FUNCTION ticket.remove_passenger(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket.remove_passenger(bigint, text, text) TO ticket_app, ticket_admin;
