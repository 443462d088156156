-- Searches: every partition, merged ----------------------------------------------
--
-- Every partition has the whole timetable, so each finds the same
-- itineraries in the same order; only the run's own partition knows its
-- sales status and free seats (the others say not_open, no seats).  The
-- proxy asks all of them (RUN ON ALL, in parallel), numbers each answer's
-- rows (WITH ORDINALITY on the partition), and keeps per itinerary the
-- status and seats of the partition that has the run, in the partitions'
-- order: the same rows, order and limit as one node.

CREATE FUNCTION ticket_proxy.search(from_station text, to_station text, service_date date)
RETURNS TABLE (ord bigint, train text, run_date date, from_station_code text, to_station_code text,
	departure timestamp, arrival timestamp, duration interval, sales text, remaining jsonb)
LANGUAGE plproxy AS $$
	CLUSTER ticket_proxy.read_cluster();
	RUN ON ALL;
	SELECT s.ord, s.train, s.run_date, s.from_station_code, s.to_station_code, s.departure, s.arrival,
	       s.duration, s.sales, s.remaining
	FROM ticket.search(from_station, to_station, service_date)
	     WITH ORDINALITY AS s(train, run_date, from_station_code, to_station_code, departure, arrival,
	                          duration, sales, remaining, ord);
$$;
COMMENT ON FUNCTION ticket_proxy.search(text, text, date) IS 'internal: ticket.search on every partition, rows numbered';
REVOKE EXECUTE ON FUNCTION ticket_proxy.search(text, text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.search(text, text, date) TO ticket_app, ticket_admin;

CREATE FUNCTION search(from_station text, to_station text, service_date date)
RETURNS TABLE (train text, run_date date, from_station_code text, to_station_code text,
	departure timestamp, arrival timestamp, duration interval, sales text, remaining jsonb)
LANGUAGE sql STABLE AS $$
	SELECT s.train, s.run_date, s.from_station_code, s.to_station_code, s.departure, s.arrival, s.duration,
	       coalesce((array_agg(s.sales) FILTER (WHERE s.sales <> 'not_open'))[1], 'not_open'),
	       (array_agg(s.remaining) FILTER (WHERE s.sales <> 'not_open'))[1]
	FROM ticket_proxy.search(from_station, to_station, service_date) s
	GROUP BY s.train, s.run_date, s.from_station_code, s.to_station_code, s.departure, s.arrival, s.duration
	ORDER BY min(s.ord)
$$;
COMMENT ON FUNCTION search(text, text, date) IS 'direct trains from one station to another leaving on a date, from every partition: each run''s status and seats from its own partition';
REVOKE EXECUTE ON FUNCTION search(text, text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION search(text, text, date) TO ticket_app, ticket_admin;

CREATE FUNCTION ticket_proxy.search_transfers(from_station text, to_station text, service_date date,
	min_connection interval, max_connection interval, max_results integer, min_city_connection interval)
RETURNS TABLE (ord bigint, departure timestamp, arrival timestamp, duration interval,
	train_1 text, run_date_1 date, change_at text, change_arrival timestamp,
	train_2 text, run_date_2 date, change_from text, change_departure timestamp,
	connection interval, sales_1 text, remaining_1 jsonb, sales_2 text, remaining_2 jsonb)
LANGUAGE plproxy AS $$
	CLUSTER ticket_proxy.read_cluster();
	RUN ON ALL;
	SELECT s.ord, s.departure, s.arrival, s.duration, s.train_1, s.run_date_1, s.change_at, s.change_arrival,
	       s.train_2, s.run_date_2, s.change_from, s.change_departure, s.connection,
	       s.sales_1, s.remaining_1, s.sales_2, s.remaining_2
	FROM ticket.search_transfers(from_station, to_station, service_date, min_connection, max_connection,
	                             max_results, min_city_connection)
	     WITH ORDINALITY AS s(departure, arrival, duration, train_1, run_date_1, change_at, change_arrival,
	                          train_2, run_date_2, change_from, change_departure, connection,
	                          sales_1, remaining_1, sales_2, remaining_2, ord);
$$;
COMMENT ON FUNCTION ticket_proxy.search_transfers(text, text, date, interval, interval, integer, interval) IS 'internal: ticket.search_transfers on every partition, rows numbered';
REVOKE EXECUTE ON FUNCTION ticket_proxy.search_transfers(text, text, date, interval, interval, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_proxy.search_transfers(text, text, date, interval, interval, integer, interval) TO ticket_app, ticket_admin;

CREATE FUNCTION search_transfers(from_station text, to_station text, service_date date,
	min_connection interval DEFAULT '20 min', max_connection interval DEFAULT '4 hours',
	max_results integer DEFAULT 20, min_city_connection interval DEFAULT '1 hour')
RETURNS TABLE (departure timestamp, arrival timestamp, duration interval,
	train_1 text, run_date_1 date, change_at text, change_arrival timestamp,
	train_2 text, run_date_2 date, change_from text, change_departure timestamp,
	connection interval, sales_1 text, remaining_1 jsonb, sales_2 text, remaining_2 jsonb)
LANGUAGE sql STABLE AS $$
	SELECT s.departure, s.arrival, s.duration, s.train_1, s.run_date_1, s.change_at, s.change_arrival,
	       s.train_2, s.run_date_2, s.change_from, s.change_departure, s.connection,
	       coalesce((array_agg(s.sales_1) FILTER (WHERE s.sales_1 <> 'not_open'))[1], 'not_open'),
	       (array_agg(s.remaining_1) FILTER (WHERE s.sales_1 <> 'not_open'))[1],
	       coalesce((array_agg(s.sales_2) FILTER (WHERE s.sales_2 <> 'not_open'))[1], 'not_open'),
	       (array_agg(s.remaining_2) FILTER (WHERE s.sales_2 <> 'not_open'))[1]
	FROM ticket_proxy.search_transfers(from_station, to_station, service_date, min_connection, max_connection,
	                                   max_results, min_city_connection) s
	GROUP BY s.departure, s.arrival, s.duration, s.train_1, s.run_date_1, s.change_at, s.change_arrival,
	         s.train_2, s.run_date_2, s.change_from, s.change_departure, s.connection
	ORDER BY min(s.ord)
$$;
COMMENT ON FUNCTION search_transfers(text, text, date, interval, interval, integer, interval) IS 'itineraries with one change, from every partition: each run''s status and seats from its own partition';
REVOKE EXECUTE ON FUNCTION search_transfers(text, text, date, interval, interval, integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION search_transfers(text, text, date, interval, interval, integer, interval) TO ticket_app, ticket_admin;
