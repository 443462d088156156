/*-------------------------------------------------------------------------
 *
 * queue_enqueue.c
 *	  ticket.enqueue(): accept a request into a run's order queue.
 *
 * Every click of a rush is an enqueue, so it is written to cost as little
 * as possible: a handful of queries, each planned once per session and kept
 * (SPI_keepplan), instead of the nested PL/pgSQL calls (each with its own
 * search_path to set and reset) of 1.2.  The usual case resolves train,
 * stations, run, free seats and the queue's service count in one query;
 * anything it cannot resolve is handed to ticket.journey(), which raises
 * exactly the error a grab would (TK007-TK011, TK017).  With the library
 * preloaded a journey is resolved once for every session (journey_cache.c)
 * and then its run is read through primary keys, with no query at all
 * (run_live.c).
 *
 * With the library preloaded the request goes into the ring in shared
 * memory (queue_ring.c) and no table row is written; otherwise it is
 * inserted into ticket.queue_request under the run's queue lock, as in 1.2.
 *
 * The order of the checks and every message and SQLSTATE are those of the
 * PL/pgSQL version of 1.2 (doc/queue.md): unknown journey, then a repeated
 * request id (answered with the request it named), sales not open (TK012),
 * sold out (TK001), queue full (TK018), already waiting (TK020).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "commands/trigger.h"
#include "utils/timestamp.h"
#include "storage/latch.h"
#include "miscadmin.h"
#include "utils/wait_event.h"

#include "journey_cache.h"
#include "queue_ring.h"
#include "run_live.h"
#include "queue_signal.h"
#include "queue_worker.h"
#include "ticket_errcodes.h"

PG_FUNCTION_INFO_V1(ticket_enqueue);

/* the session's plans, prepared on first use */
static SPIPlanPtr resolve_plan = NULL;
static SPIPlanPtr class_plan = NULL;
static SPIPlanPtr journey_plan = NULL;
static SPIPlanPtr existing_plan = NULL;
static SPIPlanPtr ahead_of_plan = NULL;
static SPIPlanPtr stale_holds_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr request_id_plan = NULL;
static SPIPlanPtr position_plan = NULL;

PG_FUNCTION_INFO_V1(ticket_timetable_changed);

/* trigger on station, stop, train and run: kept journeys are resolved again */
Datum
ticket_timetable_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "ticket.timetable_changed() is a trigger");
	queue_signal_timetable_changed();
	return PointerGetDatum(NULL);
}

/* hashtext('ticket.queue'), the first key of the runs' queue locks */
static Datum queue_lock_key = 0;

static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "ticket.enqueue: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

static void
run_plan(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, 0);

	if (rc < 0)
		elog(ERROR, "ticket.enqueue: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

static Datum
column(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

static int64
column_int8(int row, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static char *
upper_text(text *t)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1Coll(upper, DEFAULT_COLLATION_OID,
																	PointerGetDatum(t))));
}

static char *
date_text(DateADT d)
{
	return DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(d)));
}

/*
 * Requests of a run waiting between two positions, up to stop_at.  Served
 * in order, every waiting request comes after the last one served (`after`,
 * queue_head.last_position), so the scan skips the served ones.
 */
static int64
waiting_ahead(SPIPlanPtr plan, int64 run_id, int64 after, int64 before, int32 stop_at)
{
	Datum		values[4] = {Int64GetDatum(run_id), Int64GetDatum(after), Int64GetDatum(before),
	Int32GetDatum(stop_at)};

	/* a new snapshot: requests accepted by earlier commands of this transaction count */
	run_plan(plan, values, NULL, false);
	return column_int8(0, 1);
}

/* built after SPI_finish(), in the caller's memory context */
static Datum
queue_entry(FunctionCallInfo fcinfo, int64 request_id, int64 position, bool ahead_known,
			int64 ahead, const char *status)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, !ahead_known, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticket.enqueue must return a composite type");
	values[0] = Int64GetDatum(request_id);
	values[1] = Int64GetDatum(position);
	values[2] = Int64GetDatum(ahead);
	values[3] = CStringGetTextDatum(status);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

static int64
next_value(SPIPlanPtr *plan, const char *sql)
{
	run_plan(keep_plan(plan, sql, 0, NULL), NULL, NULL, false);
	return column_int8(0, 1);
}

/* TK013: a client request id names another request than this one */
static void
request_id_used(text *client_id, int64 request_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_TICKET_REQUEST_ID_REUSED),
			 errmsg("request id \"%s\" was already used for another request", text_to_cstring(client_id)),
			 errdetail("It belongs to queued request %lld.", (long long) request_id)));
}

/* a client request id already names a waiting request: the same one, or TK013 */
static Datum
same_request_again(FunctionCallInfo fcinfo, text *client_id, QueueRingAnswer *found, int64 run_id,
				   int32 from_stop, int32 to_stop, int32 class_no)
{
	if (found->run_id != run_id || found->from_stop != from_stop || found->to_stop != to_stop
		|| found->seat_class != class_no)
		request_id_used(client_id, found->request_id);
	return queue_entry(fcinfo, found->request_id, found->position, true, found->ahead, "waiting");
}

/* the rest of enqueue with the ring: called after SPI_finish() */
static Datum
enqueue_into_ring(FunctionCallInfo fcinfo, int64 user_id, int64 run_id, int32 from_stop, int32 to_stop,
				  int32 class_no, text *client_id, int64 served_so_far, int32 cap)
{
	QueueRingRequest req;
	QueueRingAnswer answer;
	QueueRingOutcome outcome;
	int64		request_id_base = 0;
	int64		position_base = 0;

	memset(&req, 0, sizeof(req));
	req.run_id = run_id;
	req.user_id = user_id;
	req.from_stop = from_stop;
	req.to_stop = to_stop;
	req.served_when = served_so_far;
	req.seat_class = class_no;
	req.client_id_len = -1;
	if (client_id != NULL)
	{
		int			len = VARSIZE_ANY_EXHDR(client_id);

		if (len > QUEUE_RING_CLIENT_ID_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
					 errmsg("request id is too long for the queue: %d bytes", len),
					 errdetail("The queue keeps request ids of at most %d bytes.", QUEUE_RING_CLIENT_ID_MAX)));
		memcpy(req.client_id, VARDATA_ANY(client_id), len);
		req.client_id_len = len;
	}

	SPI_connect();
	if (queue_ring_needs_base())
	{
		request_id_base = next_value(&request_id_plan, "SELECT nextval('ticket.queue_request_request_id_seq')");
		position_base = next_value(&position_plan, "SELECT nextval('ticket.queue_position_seq')");
	}
	SPI_finish();

	outcome = queue_ring_accept(&req, cap, request_id_base, position_base, &answer);
	switch (outcome)
	{
		case QUEUE_RING_ACCEPTED:
			break;
		case QUEUE_RING_SAME_CLIENT_ID:
			return same_request_again(fcinfo, client_id, &answer, run_id, from_stop, to_stop, class_no);
		case QUEUE_RING_USER_WAITING:
			ereport(ERROR,
					(errcode(ERRCODE_TICKET_ALREADY_QUEUED),
					 errmsg("user %lld is already waiting in the queue of this train", (long long) user_id),
					 errhint("Follow the waiting request with ticket.queue_status().")));
			break;
		case QUEUE_RING_RUN_FULL:
		case QUEUE_RING_FULL:
			ereport(ERROR,
					(errcode(ERRCODE_TICKET_QUEUE_FULL),
					 errmsg("queue full for train %s on %s: try later",
							upper_text(PG_GETARG_TEXT_PP(1)), date_text(PG_GETARG_DATEADT(2))),
					 outcome == QUEUE_RING_RUN_FULL
					 ? errdetail("%lld requests are waiting; at most %d may wait (ticket.queue_max_waiting).",
								 (long long) answer.ahead, cap)
					 : errdetail("The queues of all trains hold as many requests as the server keeps.")));
			break;
	}
	/* the request numbers may have been logged: no need to wait for the disk */
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	queue_signal_accepted();
	return queue_entry(fcinfo, answer.request_id, answer.position, true, answer.ahead, "waiting");
}

/*
 * enqueue(user_id bigint, train text, service_date date, from_station text,
 *		   to_station text, seat_class text, request_id text) returns queue_entry
 */
Datum
ticket_enqueue(PG_FUNCTION_ARGS)
{
	Oid			resolve_types[5] = {TEXTOID, DATEOID, TEXTOID, TEXTOID, TEXTOID};
	Oid			text_type[1] = {TEXTOID};
	Oid			journey_types[4] = {TEXTOID, DATEOID, TEXTOID, TEXTOID};
	Oid			existing_types[2] = {INT8OID, TEXTOID};
	Oid			ahead_types[4] = {INT8OID, INT8OID, INT8OID, INT4OID};
	Oid			run_type[1] = {INT8OID};
	Oid			insert_types[8] = {INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT8OID, INT8OID};
	int64		user_id;
	text	   *train;
	DateADT		service_date;
	text	   *from_station;
	text	   *to_station;
	text	   *seat_class = NULL;	/* canonical name, NULL: any */
	text	   *client_id = PG_ARGISNULL(6) ? NULL : PG_GETARG_TEXT_PP(6);
	Datum		values[8];
	char		nulls[8];
	int32		from_stop;
	int32		to_stop;
	int64		run_id;
	bool		sales_open;
	RunLive		live;
	int64		free_seats;
	int64		served_so_far;
	int64		served_up_to;
	int32		class_no = 0;	/* position in the enum, 0: any */
	JourneyKey	key;
	bool		keepable = false;
	bool		journey_named;
	bool		known = false;
	JourneyFound journey;
	uint64		timetable_changes = 0;
	QueueRingAnswer found;
	int32		cap = queue_max_waiting_setting();
	int64		ahead;
	int64		request_id;
	int64		position;
	bool		waiting;
	char		existing_status[16];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
				 errmsg("user id must not be null")));
	user_id = PG_GETARG_INT64(0);

	SPI_connect();

	if (!PG_ARGISNULL(5))
	{
		/* by name or 12306 code; TK014 if unknown */
		values[0] = PG_GETARG_DATUM(5);
		run_plan(keep_plan(&class_plan,
						   "SELECT c::text, array_position(enum_range(NULL::ticket.seat_class), c) "
						   "FROM ticket.checked_seat_class($1) c",
						   1, text_type),
				 values, NULL, true);
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = column(0, 1, &isnull);

			if (!isnull)
			{
				seat_class = DatumGetTextPP(SPI_datumTransfer(d, false, -1));
				class_no = DatumGetInt32(column(0, 2, &isnull));
			}
		}
	}

	/* the journey, its run and what the queue needs to know about it */
	journey_named = !(PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4));
	if (!journey_named)
		SPI_processed = 0;
	else if (journey_cache_available()
			 && (keepable = journey_key(&key, PG_GETARG_TEXT_PP(1), PG_GETARG_DATEADT(2),
										PG_GETARG_TEXT_PP(3), PG_GETARG_TEXT_PP(4)))
			 && journey_cache_find(&key, &journey))
	{
		/*
		 * A journey resolved before: what may have changed, by run id (its
		 * run gone behind the triggers' back: resolve it again).
		 */
		known = run_live_read(journey.run_id, journey.from_stop, journey.to_stop,
							  seat_class ? text_to_cstring(seat_class) : NULL, &live);
	}
	if (!known && journey_named)
	{
		timetable_changes = queue_signal_timetable_changes();
		values[0] = PG_GETARG_DATUM(1);
		values[1] = PG_GETARG_DATUM(2);
		values[2] = PG_GETARG_DATUM(3);
		values[3] = PG_GETARG_DATUM(4);
		values[4] = seat_class ? PointerGetDatum(seat_class) : (Datum) 0;
		memcpy(nulls, "    ", 4);
		nulls[4] = seat_class ? ' ' : 'n';
		run_plan(keep_plan(&resolve_plan,
						   "WITH s AS (SELECT upper(btrim($1)) AS train, upper(btrim($3)) AS from_code, "
						   "btrim($3) AS from_name, upper(btrim($4)) AS to_code, btrim($4) AS to_name) "
						   "SELECT a.stop_no, b.stop_no, r.run_id, r.status, "
						   "  (SELECT coalesce(sum(ticket.seatmap_free(rc.map, ticket.segrange(a.stop_no, b.stop_no))), 0) "
						   "   FROM ticket.run_carriage rc WHERE rc.run_id = r.run_id "
						   "   AND ($5 IS NULL OR rc.seat_class = $5::ticket.seat_class))::int8, "
						   "  h.served, h.last_position "
						   "FROM s JOIN ticket.train t ON t.code = s.train "
						   "JOIN ticket.stop a ON a.train_id = t.train_id AND a.station_id = "
						   "  (SELECT x.station_id FROM ticket.station x WHERE x.code = s.from_code OR x.name = s.from_name "
						   "   ORDER BY x.code = s.from_code DESC LIMIT 1) "
						   "JOIN ticket.stop b ON b.train_id = t.train_id AND b.station_id = "
						   "  (SELECT x.station_id FROM ticket.station x WHERE x.code = s.to_code OR x.name = s.to_name "
						   "   ORDER BY x.code = s.to_code DESC LIMIT 1) "
						   "JOIN ticket.run r ON r.train_id = t.train_id AND r.service_date = $2 "
						   "LEFT JOIN ticket.queue_head h ON h.run_id = r.run_id "
						   "WHERE a.stop_no < b.stop_no",
						   5, resolve_types),
		/* a snapshot taken after the timetable count was read: never keep older data under it */
				 values, nulls, false);
	}
	if (!known && SPI_processed != 1)
	{
		/* not a journey: ticket.journey() says why, as grab would */
		for (int i = 0; i < 4; i++)
		{
			values[i] = PG_ARGISNULL(i + 1) ? (Datum) 0 : PG_GETARG_DATUM(i + 1);
			nulls[i] = PG_ARGISNULL(i + 1) ? 'n' : ' ';
		}
		run_plan(keep_plan(&journey_plan, "SELECT * FROM ticket.journey($1, $2, $3, $4)", 4, journey_types),
				 values, nulls, true);
		elog(ERROR, "ticket.enqueue: journey resolved by ticket.journey() but not by the queue");
	}
	if (keepable && !known)
	{
		bool		isnull;

		journey.run_id = DatumGetInt64(column(0, 3, &isnull));
		journey.from_stop = DatumGetInt32(column(0, 1, &isnull));
		journey.to_stop = DatumGetInt32(column(0, 2, &isnull));
		journey_cache_keep(&key, timetable_changes, &journey);
	}
	train = PG_GETARG_TEXT_PP(1);
	service_date = PG_GETARG_DATEADT(2);
	from_station = PG_GETARG_TEXT_PP(3);
	to_station = PG_GETARG_TEXT_PP(4);
	if (known)
	{
		from_stop = journey.from_stop;
		to_stop = journey.to_stop;
		run_id = journey.run_id;
		sales_open = live.open;
		free_seats = live.free_seats;
		served_so_far = live.served;
		served_up_to = live.last_position;
	}
	else
	{
		bool		isnull;

		from_stop = DatumGetInt32(column(0, 1, &isnull));
		to_stop = DatumGetInt32(column(0, 2, &isnull));
		run_id = DatumGetInt64(column(0, 3, &isnull));
		sales_open = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4), "open") == 0;
		free_seats = column_int8(0, 5);
		served_so_far = column_int8(0, 6);
		served_up_to = column_int8(0, 7);
	}

	keep_plan(&ahead_of_plan,
			  "SELECT count(*) FROM (SELECT 1 FROM ticket.queue_request q "
			  "WHERE q.run_id = $1 AND q.status = 'waiting' AND q.queue_position > $2 "
			  "AND q.queue_position < $3 LIMIT $4) x",
			  4, ahead_types);

	if (client_id != NULL && queue_ring_available()
		&& queue_ring_find_client(user_id, VARDATA_ANY(client_id), VARSIZE_ANY_EXHDR(client_id), &found))
	{
		/* the same request again, still waiting: answer with it, unless it was another one */
		SPI_finish();
		return same_request_again(fcinfo, client_id, &found, run_id, from_stop, to_stop, class_no);
	}
	if (client_id != NULL)
	{
		/*
		 * The same request again: answer with it, unless it was another one.
		 * (Looked up with a snapshot taken now, after the look at the ring:
		 * one served from there meanwhile is in the table.)
		 */
		values[0] = Int64GetDatum(user_id);
		values[1] = PointerGetDatum(client_id);
		run_plan(keep_plan(&existing_plan,
						   "SELECT q.request_id, q.queue_position, q.run_id, "
						   "  ticket.lower(q.legs), ticket.upper(q.legs), q.seat_class::text, q.status "
						   "FROM ticket.queue_request q WHERE q.user_id = $1 AND q.client_request_id = $2",
						   2, existing_types),
				 values, NULL, false);
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		cls = column(0, 6, &isnull);
			char	   *status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7);
			bool		same_class = (isnull && seat_class == NULL)
				|| (!isnull && seat_class != NULL
					&& strcmp(TextDatumGetCString(cls), text_to_cstring(seat_class)) == 0);

			request_id = column_int8(0, 1);
			position = column_int8(0, 2);
			if (column_int8(0, 3) != run_id
				|| DatumGetInt32(column(0, 4, &isnull)) != from_stop
				|| DatumGetInt32(column(0, 5, &isnull)) != to_stop
				|| !same_class)
				request_id_used(client_id, request_id);
			ahead = 0;
			waiting = strcmp(status, "waiting") == 0;
			if (waiting)
				ahead = waiting_ahead(ahead_of_plan, run_id, served_up_to, position, PG_INT32_MAX);
			strlcpy(existing_status, status, sizeof(existing_status));
			SPI_finish();
			PG_RETURN_DATUM(queue_entry(fcinfo, request_id, position, waiting, ahead, existing_status));
		}
	}

	if (!sales_open)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_SALES_NOT_OPEN),
				 errmsg("sales are not open for train %s on %s", upper_text(train), date_text(service_date))));

	/*
	 * Sold out now: say so at once instead of queueing a request that must
	 * fail.  Counted from the maps alone; expired holds not swept yet may
	 * still count as taken there, so with any on the run, queue anyway.
	 */
	if (free_seats == 0)
	{
		bool		isnull;

		values[0] = Int64GetDatum(run_id);
		run_plan(keep_plan(&stale_holds_plan,
						   "SELECT EXISTS (SELECT 1 FROM ticket.tickets t WHERE t.run_id = $1 "
						   "AND t.status = 'held' AND t.hold_until <= now())",
						   1, run_type),
				 values, NULL, true);
		if (!DatumGetBool(column(0, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_TICKET_SOLD_OUT),
					 errmsg("sold out: no %s seat on train %s on %s from %s to %s",
							seat_class ? text_to_cstring(seat_class) : "free",
							upper_text(train), date_text(service_date),
							text_to_cstring(from_station), text_to_cstring(to_station)),
					 errhint("Join the waitlist with ticket.join_waitlist().")));
	}

	if (queue_ring_available())
	{
		SPI_finish();
		return enqueue_into_ring(fcinfo, user_id, run_id, from_stop, to_stop, class_no, client_id,
								 served_so_far, cap);
	}

	/*
	 * Accept: share the run's queue lock to commit (a server takes it
	 * exclusively for an instant, so it never serves past a request still
	 * being accepted), count who is ahead and take a number.  The cap is
	 * checked against requests committed before this one; ones accepted at
	 * the same instant do not see each other, so a queue may pass the cap by
	 * at most the number of concurrent enqueue calls.
	 */
	if (queue_lock_key == 0)
		queue_lock_key = DirectFunctionCall1Coll(hashtext, DEFAULT_COLLATION_OID,
												 CStringGetTextDatum("ticket.queue"));
	DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, queue_lock_key,
						DirectFunctionCall1(hashint8, Int64GetDatum(run_id)));
	ahead = waiting_ahead(ahead_of_plan, run_id, served_up_to, PG_INT64_MAX, cap);
	if (ahead >= cap)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_QUEUE_FULL),
				 errmsg("queue full for train %s on %s: try later", upper_text(train), date_text(service_date)),
				 errdetail("%lld requests are waiting; at most %d may wait (ticket.queue_max_waiting).",
						   (long long) ahead, cap)));

	/* no conflict target: a conflict on either unique key is told apart below */
	values[0] = Int64GetDatum(run_id);
	values[1] = Int64GetDatum(user_id);
	values[2] = client_id ? PointerGetDatum(client_id) : (Datum) 0;
	values[3] = seat_class ? PointerGetDatum(seat_class) : (Datum) 0;
	values[4] = Int32GetDatum(from_stop);
	values[5] = Int32GetDatum(to_stop);
	values[6] = Int64GetDatum(ahead);
	values[7] = Int64GetDatum(served_so_far);
	memcpy(nulls, "        ", 8);
	nulls[2] = client_id ? ' ' : 'n';
	nulls[3] = seat_class ? ' ' : 'n';
	run_plan(keep_plan(&insert_plan,
					   "INSERT INTO ticket.queue_request (run_id, user_id, client_request_id, seat_class, legs, "
					   "  ahead_when_accepted, served_when_accepted) "
					   "VALUES ($1, $2, $3, $4::ticket.seat_class, ticket.segrange($5, $6), $7, $8) "
					   "ON CONFLICT DO NOTHING RETURNING request_id, queue_position",
					   8, insert_types),
			 values, nulls, false);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_ALREADY_QUEUED),
				 errmsg("user %lld is already waiting in the queue of this train", (long long) user_id),
				 errhint("Follow the waiting request with ticket.queue_status().")));
	request_id = column_int8(0, 1);
	position = column_int8(0, 2);

	/*
	 * A queued request is a click, not a sale: its commit need not wait for
	 * the disk (the seats a server then holds commit as usual, and durably
	 * after it).  A crash may forget requests accepted in its last moments;
	 * their status then says TK019 and the client asks again.
	 */
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	queue_signal_accepted();

	SPI_finish();
	PG_RETURN_DATUM(queue_entry(fcinfo, request_id, position, true, ahead, "waiting"));
}

PG_FUNCTION_INFO_V1(ticket_queue_wait);

static SPIPlanPtr wait_row_plan = NULL;
static SPIPlanPtr answer_plan = NULL;
static SPIPlanPtr status_plan = NULL;

/* queue_status(request_id), whole, as this function's result */
static Datum
status_of(FunctionCallInfo fcinfo, int64 request_id)
{
	Oid			types[1] = {INT8OID};
	Datum		value = Int64GetDatum(request_id);
	TupleDesc	tupdesc;
	HeapTuple	tuple;

	run_plan(keep_plan(&status_plan, "SELECT * FROM ticket.queue_status($1)", 1, types), &value, NULL, false);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticket.queue_wait must return a composite type");
	tuple = SPI_copytuple(SPI_tuptable->vals[0]);
	SPI_finish();
	return heap_copy_tuple_as_datum(tuple, BlessTupleDesc(tupdesc));
}

/* an answer its server left in shared memory, as the table would give it */
static Datum
served_answer(FunctionCallInfo fcinfo, QueueRingServed *served)
{
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ticket.queue_wait must return a composite type");
	memset(nulls, true, sizeof(nulls));
	values[0] = CStringGetTextDatum(served->done ? "done" : "failed");
	values[1] = Int64GetDatum(served->position);
	nulls[0] = nulls[1] = false;
	if (served->done)
	{
		values[4] = Int64GetDatum(served->order_id);
		values[5] = Int32GetDatum(served->carriage);
		values[6] = CStringGetTextDatum(served->seat_no);
		values[7] = TimestampTzGetDatum(served->hold_until);
		nulls[4] = nulls[5] = nulls[6] = nulls[7] = false;
	}
	else
	{
		values[8] = CStringGetTextDatum(served->sqlstate);
		values[9] = CStringGetTextDatum(served->message);
		nulls[8] = nulls[9] = false;
	}
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * queue_wait(request_id bigint, timeout interval): the answer once the
 * request is served, or its status at the timeout.  In C, as enqueue: a
 * waiter costs a sleep and one query for its answer.
 */
Datum
ticket_queue_wait(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {INT8OID};
	int64		request_id;
	QueueRingServed served;
	Interval   *timeout;
	TimestampTz until;
	Datum		value;

	timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	if (timeout == NULL || timeout->time < 0 || timeout->day < 0 || timeout->month < 0)
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_INVALID_ARGUMENT),
				 errmsg("timeout must be a non-negative interval")));
	until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(GetCurrentTimestamp()),
													IntervalPGetDatum(timeout)));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_TICKET_NO_SUCH_QUEUED_REQUEST),
				 errmsg("no such queued request: <NULL>")));
	request_id = PG_GETARG_INT64(0);
	value = Int64GetDatum(request_id);

	/* waiting in shared memory: sleep there until a batch has served it */
	if (!queue_ring_wait_for(request_id, until))
	{
		SPI_connect();
		return status_of(fcinfo, request_id);
	}
	/* its server left the answer there too */
	if (queue_ring_answer_of(request_id, &served))
		return served_answer(fcinfo, &served);

	SPI_connect();
	/* waiting in the table (not preloaded, or left there by a batch): until a batch of its run commits */
	for (;;)
	{
		int64		run_id;
		bool		isnull;
		char	   *status;
		uint64		seen = 0;
		bool		signals = queue_signal_available();

		run_plan(keep_plan(&wait_row_plan,
						   "SELECT q.run_id, q.status FROM ticket.queue_request q WHERE q.request_id = $1",
						   1, types),
				 &value, NULL, false);
		if (SPI_processed != 1)
			break;
		run_id = DatumGetInt64(column(0, 1, &isnull));
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		if (strcmp(status, "waiting") != 0 || GetCurrentTimestamp() >= until)
			break;
		if (signals)
		{
			/* counted, then looked at again: a batch committing after the look wakes us */
			seen = queue_signal_batches(run_id);
			run_plan(wait_row_plan, &value, NULL, false);
			if (SPI_processed != 1
				|| strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "waiting") != 0)
				break;
			(void) queue_signal_sleep(run_id, seen, until);
		}
		else
		{
			/* the batch lock of the run: held by a batch under way until it commits */
			TimestampTz asked = GetCurrentTimestamp();
			Datum		key1 = DirectFunctionCall1Coll(hashtext, DEFAULT_COLLATION_OID,
													   CStringGetTextDatum("ticket.queue_batch"));
			Datum		key2 = DirectFunctionCall1(hashint8, Int64GetDatum(run_id));

			DirectFunctionCall2(pg_advisory_lock_shared_int4, key1, key2);
			DirectFunctionCall2(pg_advisory_unlock_shared_int4, key1, key2);
			if (TimestampDifferenceExceeds(asked, GetCurrentTimestamp(), 1) == false)
			{
				/* no batch was under way: the server has yet to start one */
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 5,
								 PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
		}
		CHECK_FOR_INTERRUPTS();
	}

	/* the answer in one statement (what queue_status() tells of a served request) */
	run_plan(keep_plan(&answer_plan,
					   "SELECT q.status, q.queue_position, NULL::bigint, NULL::interval, o.order_id, "
					   "  k.carriage_no, k.seat_no, o.hold_until, q.error_sqlstate, q.error_message "
					   "FROM ticket.queue_request q "
					   "LEFT JOIN ticket.orders o ON o.order_id = q.order_id "
					   "LEFT JOIN LATERAL (SELECT t.seat_id FROM ticket.tickets t WHERE t.order_id = o.order_id "
					   "                   ORDER BY t.ticket_id DESC LIMIT 1) t ON true "
					   "LEFT JOIN ticket.seat k ON k.seat_id = t.seat_id "
					   "WHERE q.request_id = $1 AND q.status <> 'waiting'",
					   1, types),
			 &value, NULL, false);
	if (SPI_processed == 1)
	{
		TupleDesc	tupdesc;
		HeapTuple	tuple = SPI_copytuple(SPI_tuptable->vals[0]);

		SPI_finish();
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "ticket.queue_wait must return a composite type");
		return heap_copy_tuple_as_datum(tuple, BlessTupleDesc(tupdesc));
	}
	/* unknown (TK019), or still waiting at the timeout */
	return status_of(fcinfo, request_id);
}
