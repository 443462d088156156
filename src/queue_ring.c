/*-------------------------------------------------------------------------
 *
 * queue_ring.c
 *	  Queued requests accepted into shared memory.
 *
 * In a rush every click is an enqueue.  Writing each one to a table (heap,
 * four indexes, WAL, a transaction id and a commit) and then updating it
 * when it is served made a queued request cost as much as a grab.  With the
 * library preloaded, ticket.enqueue() instead puts the request into a ring
 * of entries in shared memory; the server that serves it copies it into
 * ticket.queue_request, served, in the batch that serves it.  Requests that
 * are waiting therefore live here and nowhere else: a crash or a restart
 * forgets them (queue_status() then says TK019 and the client asks again).
 *
 * Request ids.  A client holds on to its request id across a crash, so an
 * id must never be handed out twice: ids come from blocks of
 * QUEUE_RING_ID_BLOCK that enqueue reserves from the database's sequence
 * and flushes to the WAL before any id of the block is handed out
 * (queue_enqueue.c).  After a restart numbering goes on past every block
 * reserved before, on this server or on the primary a promoted standby
 * replayed.  Positions only order the requests waiting now and are told
 * nobody's identity; they go on from their sequence as before.
 *
 * Order.  Positions are numbered under the ring's lock, so they grow with
 * the order of acceptance.  An entry is PENDING until the enqueuing
 * transaction commits (READY) or aborts (gone), through transaction and
 * subtransaction callbacks; a server takes a run's READY entries in
 * position order and stops before the first PENDING one of that run, so it
 * never serves past a request still being accepted, and nobody waits for
 * anybody.  Taken entries are TAKEN until the server's transaction commits
 * (gone: the rows are in the table) or aborts (READY again).
 *
 * The admission cap and "one waiting request per user and run" are checked
 * under the lock, so both are exact here.  Scans are linear over the used
 * part of the ring: it holds the waiting requests of every run, a few
 * thousand at the very most before the cap refuses more.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "queue_ring.h"
#include "queue_signal.h"
#include "shmem.h"

/* databases whose queues use the ring at once */
#define QUEUE_RING_DATABASES 64

typedef enum EntryState
{
	ENTRY_FREE = 0,
	ENTRY_PENDING,				/* the enqueuing transaction is in progress */
	ENTRY_READY,				/* waiting to be served */
	ENTRY_TAKEN					/* a server's transaction is serving it */
} EntryState;

typedef struct RingEntry
{
	EntryState	state;
	SubTransactionId subxid;	/* its subtransaction that did it */
	int			answer_slot;	/* TAKEN: where its server put the answer, -1: nowhere */
	SubTransactionId answer_subxid; /* the server's subtransaction that put it there */
	Oid			dbid;
	Oid			extension;		/* the ticket extension it was accepted by */
	QueueRingRequest req;
	int64		request_id;
	int64		position;
	int64		ahead;
	TimestampTz accepted_at;
} RingEntry;

/*
 * Numbers go on per database from its own sequences (a server moves the
 * position sequence past the positions it writes); an unused counter has
 * dbid InvalidOid.  Request ids up to reserved_request_id are reserved on
 * disk in the sequence of the extension named.
 */
typedef struct RingCounter
{
	Oid			dbid;
	Oid			extension;		/* whose sequence reserved the ids */
	int64		last_position;
	int64		last_request_id;
	int64		reserved_request_id;
} RingCounter;

/*
 * Answers of served requests, for queue_wait(): a server puts the outcome
 * of each request it took from the ring here, and it becomes visible when
 * the server's transaction commits, together with the request leaving the
 * ring.  A waiter woken by the batch then has its answer without a query.
 * Slot request_id % answer_slots (ticket.queue_answer_slots): a newer
 * answer overwrites an older one; an answer not here (overwritten, too long
 * to keep, or the slot taken by an answer not committed yet) is read from
 * ticket.queue_request as before.
 */
typedef struct AnswerSlot
{
	int64		request_id;		/* 0: empty */
	Oid			dbid;
	Oid			extension;
	bool		visible;		/* the serving transaction committed */
	QueueRingServed served;
} AnswerSlot;

/*
 * The ring's header; its entries and then its answers follow it in the
 * same area, as many as the startup settings said (ticket.queue_ring_size,
 * ticket.queue_answer_slots).
 */
typedef struct QueueRing
{
	LWLock	   *lock;
	int			capacity;		/* entries */
	int			answer_slots;
	RingEntry  *entries;
	AnswerSlot *answers;
	RingCounter counters[QUEUE_RING_DATABASES];
	int			high_water;		/* entries at and beyond are all free */
	int			used;
} QueueRing;

static QueueRing *ring = NULL;

/* the entries this backend's transaction answers for */
static int *owned = NULL;
static int	nowned = 0;
static int	owned_room = 0;
static bool callbacks_registered = false;

PG_FUNCTION_INFO_V1(ticket_queue_ring_take);
PG_FUNCTION_INFO_V1(ticket_queue_ring_answered);
PG_FUNCTION_INFO_V1(ticket_queue_ring_runs);
PG_FUNCTION_INFO_V1(ticket_queue_ring_request);

Size
queue_ring_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(QueueRing));

	size = add_size(size, MAXALIGN(mul_size(ticket_queue_ring_size, sizeof(RingEntry))));
	return add_size(size, mul_size(ticket_queue_answer_slots, sizeof(AnswerSlot)));
}

void
queue_ring_shmem_init(void *ptr, bool found)
{
	ring = ptr;
	if (found)
		return;
	ring->lock = ticket_shmem_lock(TICKET_LOCK_QUEUE_RING);
	ring->capacity = ticket_queue_ring_size;
	ring->answer_slots = ticket_queue_answer_slots;
	/* the postmaster maps shared memory at the same address in every process */
	ring->entries = (RingEntry *) ((char *) ring + MAXALIGN(sizeof(QueueRing)));
	ring->answers = (AnswerSlot *) ((char *) ring->entries
									+ MAXALIGN(mul_size(ring->capacity, sizeof(RingEntry))));
}

bool
queue_ring_available(void)
{
	return ring != NULL;
}

static RingCounter *
counter_of(Oid dbid)
{
	for (int i = 0; i < QUEUE_RING_DATABASES; i++)
		if (ring->counters[i].dbid == dbid)
			return &ring->counters[i];
	return NULL;
}

/*
 * The ticket extension's OID, looked up once per command (entries and
 * answers are told apart by it from those of an extension since dropped).
 */
static Oid
current_extension(void)
{
	static Oid	extension = InvalidOid;
	static LocalTransactionId looked_in = InvalidLocalTransactionId;
	static CommandId looked_at = InvalidCommandId;

	if (extension == InvalidOid || looked_in != MyProc->lxid || looked_at != GetCurrentCommandId(false))
	{
		extension = get_extension_oid("ticket", true);
		looked_in = MyProc->lxid;
		looked_at = GetCurrentCommandId(false);
	}
	return extension;
}

/* no request id reserved on disk is left to hand out (the ring's lock is held) */
static bool
out_of_ids(RingCounter *counter, Oid extension)
{
	return counter == NULL || counter->extension != extension
		|| counter->last_request_id >= counter->reserved_request_id;
}

/*
 * Does this database need request ids reserved before it can accept a
 * request?  If so, *last_id is the last id handed out (0: none since the
 * server started) and *new_counter says it also needs a base for positions.
 */
bool
queue_ring_ids_needed(int64 *last_id, bool *new_counter)
{
	RingCounter *counter;
	bool		needed;

	LWLockAcquire(ring->lock, LW_SHARED);
	counter = counter_of(MyDatabaseId);
	needed = out_of_ids(counter, current_extension());
	*last_id = counter ? counter->last_request_id : 0;
	*new_counter = counter == NULL;
	LWLockRelease(ring->lock);
	return needed;
}

/*
 * Request ids last_id + 1 .. reserved_to are reserved on disk (in the
 * current extension's sequence): hand them out.  position_base numbers the
 * positions of a database new to the ring.  False when the ring numbers as
 * many databases as it can.
 */
bool
queue_ring_add_ids(int64 last_id, int64 reserved_to, int64 position_base)
{
	RingCounter *counter;
	bool		added = true;

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	counter = counter_of(MyDatabaseId);
	if (counter == NULL)
	{
		counter = counter_of(InvalidOid);
		if (counter == NULL || position_base == 0)
			added = false;
		else
		{
			counter->dbid = MyDatabaseId;
			counter->last_position = position_base;
		}
	}
	if (added)
	{
		/* (the reservers of a database take turns, so this only moves on) */
		counter->extension = current_extension();
		counter->last_request_id = Max(counter->last_request_id, last_id);
		counter->reserved_request_id = reserved_to;
	}
	LWLockRelease(ring->lock);
	return added;
}

/* the answer slot holds the answer to this entry's request */
static bool
answer_is_of(int slot, RingEntry *e)
{
	AnswerSlot *a = &ring->answers[slot];

	return a->request_id == e->request_id && a->dbid == e->dbid && a->extension == e->extension;
}

/* forget the answer a server put for this entry (the ring's lock is held exclusively) */
static void
drop_answer(RingEntry *e)
{
	if (e->answer_slot >= 0 && answer_is_of(e->answer_slot, e))
		ring->answers[e->answer_slot].request_id = 0;
	e->answer_slot = -1;
}

static void
free_entry(RingEntry *e)
{
	e->state = ENTRY_FREE;
	ring->used--;
	/* keep the scans short: drop free entries off the end */
	while (ring->high_water > 0 && ring->entries[ring->high_water - 1].state == ENTRY_FREE)
		ring->high_water--;
}

/*
 * Settle this backend's entries: at the end of the transaction (sub = 0:
 * every entry it owns) or of one subtransaction (those it made there).  The
 * backend keeps the list of its entries, so nothing is scanned; only it
 * reads or writes their subtransaction, so a subtransaction's commit needs
 * no lock.
 */
static void
settle(bool committed, SubTransactionId sub, SubTransactionId parent)
{
	uint64		served_slots = 0;
	int			kept = 0;
	bool		ready = false;	/* requests became ready to serve */

	if (sub != InvalidSubTransactionId && committed)
	{
		/* the parent now answers for them */
		for (int k = 0; k < nowned; k++)
		{
			RingEntry  *e = &ring->entries[owned[k]];

			if (e->subxid == sub)
				e->subxid = parent;
			if (e->answer_slot >= 0 && e->answer_subxid == sub)
				e->answer_subxid = parent;
		}
		return;
	}

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	for (int k = 0; k < nowned; k++)
	{
		RingEntry  *e = &ring->entries[owned[k]];

		if (sub != InvalidSubTransactionId && e->subxid != sub)
		{
			/* an answer put in the subtransaction that rolled back goes with it */
			if (e->answer_slot >= 0 && e->answer_subxid == sub)
				drop_answer(e);
			owned[kept++] = owned[k];
			continue;
		}
		if (e->state == ENTRY_PENDING)
		{
			if (committed)
			{
				e->state = ENTRY_READY;
				ready = true;
			}
			else
				free_entry(e);
		}
		else if (committed)
		{
			/* served: the rows are in the table now, and the answer here */
			if (e->answer_slot >= 0 && answer_is_of(e->answer_slot, e))
				ring->answers[e->answer_slot].visible = true;
			served_slots |= queue_signal_slot_bit(e->req.run_id);
			free_entry(e);
		}
		else
		{
			drop_answer(e);
			e->state = ENTRY_READY; /* the server rolled back: serve it again */
			ready = true;
		}
	}
	LWLockRelease(ring->lock);
	nowned = kept;

	/*
	 * The worker sleeps until told: tell it now that they are ready (not
	 * before: a worker woken by a callback that ran before this one would
	 * find them still pending, and sleep on).
	 */
	if (ready)
		queue_signal_wake_worker();

	/*
	 * Wake the sessions waiting on those runs, now that their requests are
	 * out of the ring (and in the table: this runs after the commit).
	 */
	if (served_slots != 0)
		queue_signal_batches_done(served_slots);
}

static void
queue_ring_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (nowned == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			settle(true, InvalidSubTransactionId, InvalidSubTransactionId);
			break;
		case XACT_EVENT_PRE_PREPARE:
			/* its requests could neither wait for nor outlive another session's COMMIT PREPARED */
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot prepare a transaction that queued or served requests in shared memory")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			settle(false, InvalidSubTransactionId, InvalidSubTransactionId);
			break;
		default:
			break;
	}
}

static void
queue_ring_subxact_callback(SubXactEvent event, SubTransactionId sub, SubTransactionId parent,
							void *arg pg_attribute_unused())
{
	if (nowned == 0)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
		settle(true, sub, parent);
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		settle(false, sub, parent);
}

/*
 * Room to own `more` entries, made before any entry changes state: an entry
 * made PENDING or TAKEN that this backend then failed to list would never
 * be settled.  The list grows as needed (up to the ring's capacity) rather
 * than taking the ring's size in every backend that ever enqueues.
 */
static void
reserve_owned(int more)
{
	int			need = Min(nowned + more, ring->capacity);

	if (!callbacks_registered)
	{
		RegisterXactCallback(queue_ring_xact_callback, NULL);
		RegisterSubXactCallback(queue_ring_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (need > owned_room)
	{
		int			room = Min(Max(need, Max(owned_room * 2, 64)), ring->capacity);

		owned = owned == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(int) * room)
			: repalloc(owned, sizeof(int) * room);
		owned_room = room;
	}
}

/* this backend's transaction now answers for entry i (the ring's lock is held; room reserved) */
static void
own_entry(int i)
{
	Assert(nowned < owned_room);
	owned[nowned++] = i;
}

static bool
same_client_id(const QueueRingRequest *a, const QueueRingRequest *b)
{
	return a->client_id_len >= 0 && a->client_id_len == b->client_id_len
		&& memcmp(a->client_id, b->client_id, a->client_id_len) == 0;
}

/* what answer says of a waiting entry, with the requests of its run ahead */
static void
describe(RingEntry *e, QueueRingAnswer *answer)
{
	answer->request_id = e->request_id;
	answer->position = e->position;
	answer->run_id = e->req.run_id;
	answer->from_stop = e->req.from_stop;
	answer->to_stop = e->req.to_stop;
	answer->seat_class = e->req.seat_class;
	answer->ahead = 0;
	for (int j = 0; j < ring->high_water; j++)
	{
		RingEntry  *o = &ring->entries[j];

		if (o->state != ENTRY_FREE && o->dbid == MyDatabaseId && o->req.run_id == e->req.run_id
			&& o->position < e->position)
			answer->ahead++;
	}
}

/*
 * The request was queued by this backend's transaction, which has not
 * committed yet: no server can see it before that.
 */
bool
queue_ring_queued_here(int64 request_id)
{
	bool		found = false;

	if (ring == NULL || nowned == 0)
		return false;
	LWLockAcquire(ring->lock, LW_SHARED);
	for (int k = 0; k < nowned && !found; k++)
	{
		RingEntry  *e = &ring->entries[owned[k]];

		found = e->state == ENTRY_PENDING && e->request_id == request_id;
	}
	LWLockRelease(ring->lock);
	return found;
}

/* a waiting request of the user by its client request id */
bool
queue_ring_find_client(int64 user_id, const char *client_id, int client_id_len, QueueRingAnswer *answer)
{
	bool		found = false;

	LWLockAcquire(ring->lock, LW_SHARED);
	for (int i = 0; i < ring->high_water && !found; i++)
	{
		RingEntry  *e = &ring->entries[i];

		if (e->state != ENTRY_FREE && e->dbid == MyDatabaseId && e->req.user_id == user_id
			&& e->req.client_id_len == client_id_len && memcmp(e->req.client_id, client_id, client_id_len) == 0)
		{
			describe(e, answer);
			found = true;
		}
	}
	LWLockRelease(ring->lock);
	return found;
}

/*
 * Accept a request: check it against the requests waiting, number it and
 * keep it, PENDING until this transaction ends.  QUEUE_RING_NEEDS_IDS when
 * the database has no request id reserved on disk left to give it (the
 * first request since the server started, say): the caller reserves a
 * block (queue_ring_add_ids) and asks again.
 */
QueueRingOutcome
queue_ring_accept(const QueueRingRequest *req, int32 cap, QueueRingAnswer *answer)
{
	int			slot = -1;
	int64		ahead = 0;
	RingEntry  *e;
	RingCounter *counter;
	Oid			extension = current_extension();

	reserve_owned(1);
	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ring->high_water; i++)
	{
		e = &ring->entries[i];
		if (e->state == ENTRY_READY && e->dbid == MyDatabaseId && e->extension != extension)
			free_entry(e);		/* left by an extension since dropped: gone with it */
		if (e->state == ENTRY_FREE)
		{
			if (slot < 0)
				slot = i;
			continue;
		}
		if (e->dbid != MyDatabaseId)
			continue;
		if (req->client_id_len >= 0 && e->req.user_id == req->user_id && same_client_id(&e->req, req))
		{
			describe(e, answer);
			LWLockRelease(ring->lock);
			return QUEUE_RING_SAME_CLIENT_ID;
		}
		if (e->req.run_id == req->run_id)
		{
			if (e->req.user_id == req->user_id)
			{
				LWLockRelease(ring->lock);
				return QUEUE_RING_USER_WAITING;
			}
			ahead++;
		}
	}
	answer->ahead = ahead;
	if (slot >= ring->high_water)
		slot = -1;				/* freed above, and the end dropped past it */
	if (ahead >= cap)
	{
		LWLockRelease(ring->lock);
		return QUEUE_RING_RUN_FULL;
	}
	counter = counter_of(MyDatabaseId);
	if (out_of_ids(counter, extension))
	{
		LWLockRelease(ring->lock);
		return QUEUE_RING_NEEDS_IDS;
	}
	if (slot < 0)
	{
		if (ring->high_water >= ring->capacity)
		{
			LWLockRelease(ring->lock);
			return QUEUE_RING_FULL;
		}
		slot = ring->high_water++;
	}
	e = &ring->entries[slot];
	e->state = ENTRY_PENDING;
	e->subxid = GetCurrentSubTransactionId();
	e->answer_slot = -1;
	e->dbid = MyDatabaseId;
	e->req = *req;
	e->extension = extension;
	e->position = ++counter->last_position;
	e->request_id = ++counter->last_request_id;
	e->ahead = ahead;
	e->accepted_at = GetCurrentTimestamp();
	ring->used++;
	own_entry(slot);
	LWLockRelease(ring->lock);
	answer->request_id = e->request_id;
	answer->position = e->position;
	return QUEUE_RING_ACCEPTED;
}

/*
 * ticket.queue_ring_take(run_id, batch_size): up to batch_size READY
 * requests of the run, in order, stopping before the first one still being
 * accepted; TAKEN by this transaction.
 */
Datum
ticket_queue_ring_take(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	int32		batch_size = PG_GETARG_INT32(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		first_pending = PG_INT64_MAX;
	int		   *picked;
	int			n = 0;

	Oid			extension;

	InitMaterializedSRF(fcinfo, 0);
	if (ring == NULL || batch_size < 1)
		return (Datum) 0;
	extension = current_extension();
	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	picked = palloc(sizeof(int) * Max(ring->high_water, 1));
	for (int i = 0; i < ring->high_water; i++)
	{
		RingEntry  *e = &ring->entries[i];

		if (e->state == ENTRY_READY && e->dbid == MyDatabaseId && e->extension != extension)
		{
			free_entry(e);		/* left by an extension since dropped: gone with it */
			continue;
		}

		if (e->state == ENTRY_PENDING && e->dbid == MyDatabaseId && e->req.run_id == run_id
			&& e->position < first_pending)
			first_pending = e->position;
	}
	for (int i = 0; i < ring->high_water; i++)
	{
		RingEntry  *e = &ring->entries[i];

		if (e->state == ENTRY_READY && e->dbid == MyDatabaseId && e->req.run_id == run_id
			&& e->position < first_pending)
			picked[n++] = i;
	}
	/* in order of position (insertion sort: the ring is mostly in order) */
	for (int i = 1; i < n; i++)
	{
		int			x = picked[i];
		int			j = i - 1;

		while (j >= 0 && ring->entries[picked[j]].position > ring->entries[x].position)
		{
			picked[j + 1] = picked[j];
			j--;
		}
		picked[j + 1] = x;
	}
	n = Min(n, batch_size);
	reserve_owned(n);
	for (int i = 0; i < n; i++)
	{
		RingEntry  *e = &ring->entries[picked[i]];
		Datum		values[13];
		bool		nulls[13] = {false};

		e->state = ENTRY_TAKEN;
		e->subxid = GetCurrentSubTransactionId();
		e->answer_slot = -1;
		own_entry(picked[i]);
		values[0] = Int64GetDatum(e->request_id);
		values[1] = Int64GetDatum(e->position);
		values[2] = Int64GetDatum(e->req.user_id);
		values[3] = Int32GetDatum(e->req.from_stop);
		values[4] = Int32GetDatum(e->req.to_stop);
		values[5] = Int32GetDatum(e->req.seat_class);
		nulls[5] = e->req.seat_class == 0;
		if (e->req.client_id_len >= 0)
			values[6] = PointerGetDatum(cstring_to_text_with_len(e->req.client_id, e->req.client_id_len));
		else
			nulls[6] = true;
		values[7] = TimestampTzGetDatum(e->accepted_at);
		values[8] = Int64GetDatum(e->ahead);
		values[9] = Int64GetDatum(e->req.served_when);
		if (e->req.n_passengers > 0)
		{
			Datum		ids[QUEUE_RING_PASSENGERS_MAX];

			for (int k = 0; k < e->req.n_passengers; k++)
				ids[k] = Int64GetDatum(e->req.passenger_ids[k]);
			values[10] = PointerGetDatum(construct_array(ids, e->req.n_passengers, INT8OID, sizeof(int64),
														 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		}
		else
			nulls[10] = true;
		values[11] = CStringGetTextDatum(e->req.seat_letters);
		nulls[11] = e->req.seat_letters[0] == '\0';
		if (e->req.end_client_len >= 0)
			values[12] = PointerGetDatum(cstring_to_text_with_len(e->req.end_client, e->req.end_client_len));
		else
			nulls[12] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(ring->lock);
	return (Datum) 0;
}

/* ticket.queue_ring_runs(): runs of this database with requests ready to serve */
Datum
ticket_queue_ring_runs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64	   *runs;
	int			n = 0;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (ring == NULL)
		return (Datum) 0;
	LWLockAcquire(ring->lock, LW_SHARED);
	runs = palloc(sizeof(int64) * Max(ring->high_water, 1));
	for (int i = 0; i < ring->high_water; i++)
	{
		RingEntry  *e = &ring->entries[i];
		bool		seen = false;

		if (e->state != ENTRY_READY || e->dbid != MyDatabaseId)
			continue;
		for (int j = 0; j < n && !seen; j++)
			seen = runs[j] == e->req.run_id;
		if (!seen)
			runs[n++] = e->req.run_id;
	}
	LWLockRelease(ring->lock);
	for (int j = 0; j < n; j++)
	{
		Datum		value = Int64GetDatum(runs[j]);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}

/*
 * ticket.queue_ring_request(request_id): a request still waiting in the
 * ring: its run, position, requests ahead at acceptance and the run's
 * served count then; no row if it is not there (served, or never was).
 */
Datum
ticket_queue_ring_request(PG_FUNCTION_ARGS)
{
	int64		request_id = PG_GETARG_INT64(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (ring == NULL)
		return (Datum) 0;
	LWLockAcquire(ring->lock, LW_SHARED);
	for (int i = 0; i < ring->high_water; i++)
	{
		RingEntry  *e = &ring->entries[i];
		Datum		values[4];
		bool		nulls[4] = {false};

		if (e->state == ENTRY_FREE || e->dbid != MyDatabaseId || e->request_id != request_id)
			continue;
		values[0] = Int64GetDatum(e->req.run_id);
		values[1] = Int64GetDatum(e->position);
		values[2] = Int64GetDatum(e->ahead);
		values[3] = Int64GetDatum(e->req.served_when);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		break;
	}
	LWLockRelease(ring->lock);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(ticket_queue_ring_waiting);

/*
 * ticket.queue_ring_waiting(): per run of this database, the requests in
 * shared memory not served yet and the highest position among them.
 */
Datum
ticket_queue_ring_waiting(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64	   *runs;
	int64	   *counts;
	int64	   *tops;
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (ring == NULL)
		return (Datum) 0;
	LWLockAcquire(ring->lock, LW_SHARED);
	runs = palloc(sizeof(int64) * Max(ring->high_water, 1));
	counts = palloc0(sizeof(int64) * Max(ring->high_water, 1));
	tops = palloc0(sizeof(int64) * Max(ring->high_water, 1));
	for (int i = 0; i < ring->high_water; i++)
	{
		RingEntry  *e = &ring->entries[i];
		int			j;

		if (e->state == ENTRY_FREE || e->dbid != MyDatabaseId)
			continue;
		for (j = 0; j < n && runs[j] != e->req.run_id; j++)
			;
		if (j == n)
			runs[n++] = e->req.run_id;
		counts[j]++;
		tops[j] = Max(tops[j], e->position);
	}
	LWLockRelease(ring->lock);
	for (int j = 0; j < n; j++)
	{
		Datum		values[3] = {Int64GetDatum(runs[j]), Int64GetDatum(counts[j]), Int64GetDatum(tops[j])};
		bool		nulls[3] = {false, false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* the run of a request in the ring, or 0 if it is not there */
static int64
run_of_waiting(int64 request_id)
{
	int64		run_id = 0;

	LWLockAcquire(ring->lock, LW_SHARED);
	for (int i = 0; i < ring->high_water; i++)
	{
		RingEntry  *e = &ring->entries[i];

		if (e->state != ENTRY_FREE && e->dbid == MyDatabaseId && e->request_id == request_id)
		{
			run_id = e->req.run_id;
			break;
		}
	}
	LWLockRelease(ring->lock);
	return run_id;
}

/*
 * Sleep while the request waits in the ring, until a batch has served it
 * (true: it is in the table now) or until `until` (false).  True at once
 * for a request not in the ring.  A batch lets go of its requests after its
 * commit and signals after that, so a woken waiter finds its request gone
 * and its row visible.
 */
bool
queue_ring_wait_for(int64 request_id, TimestampTz until)
{
	if (ring == NULL)
		return true;
	for (;;)
	{
		int64		run_id = run_of_waiting(request_id);
		uint64		seen;

		if (run_id == 0)
			return true;
		/* counted before the look: a batch letting go of it after that wakes us */
		seen = queue_signal_batches(run_id);
		if (run_of_waiting(request_id) == 0)
			return true;
		if (GetCurrentTimestamp() >= until)
			return false;
		(void) queue_signal_sleep(run_id, seen, until);
		CHECK_FOR_INTERRUPTS();
	}
}

/* element i of a text array, as a C string, or NULL */
static const char *
text_element(Datum *values, bool *nulls, int i)
{
	return nulls[i] ? NULL : TextDatumGetCString(values[i]);
}

static void
array_elements(ArrayType *array, Oid type, int expected, Datum **values, bool **nulls)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(array, type, typlen, typbyval, typalign, values, nulls, &n);
	if (n != expected)
		elog(ERROR, "ticket.queue_ring_answered: arrays of different lengths");
}

/*
 * ticket.queue_ring_answered(request_ids, order_ids, carriages, seat_nos,
 * hold_until, error_sqlstates, error_messages): the outcomes of requests
 * this transaction took from the ring, for their waiters; they see them
 * once it commits.  Outcomes that do not fit a slot are left to the table.
 * Returns how many were kept.
 */
Datum
ticket_queue_ring_answered(PG_FUNCTION_ARGS)
{
	ArrayType  *ids;
	int			n;
	Datum	   *id_values,
			   *order_values,
			   *carriage_values,
			   *seat_values,
			   *state_values,
			   *message_values;
	bool	   *id_nulls,
			   *order_nulls,
			   *carriage_nulls,
			   *seat_nulls,
			   *state_nulls,
			   *message_nulls;
	QueueRingServed *outcomes;
	int64	   *outcome_ids;
	int			nout = 0;
	int			kept = 0;

	if (ring == NULL || nowned == 0 || PG_ARGISNULL(0))
		PG_RETURN_INT32(0);
	for (int arg = 1; arg <= 6; arg++)
		if (PG_ARGISNULL(arg) && arg != 4)
			elog(ERROR, "ticket.queue_ring_answered: null argument %d", arg + 1);
	ids = PG_GETARG_ARRAYTYPE_P(0);
	n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	array_elements(ids, INT8OID, n, &id_values, &id_nulls);
	array_elements(PG_GETARG_ARRAYTYPE_P(1), INT8OID, n, &order_values, &order_nulls);
	array_elements(PG_GETARG_ARRAYTYPE_P(2), INT4OID, n, &carriage_values, &carriage_nulls);
	array_elements(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, n, &seat_values, &seat_nulls);
	array_elements(PG_GETARG_ARRAYTYPE_P(5), TEXTOID, n, &state_values, &state_nulls);
	array_elements(PG_GETARG_ARRAYTYPE_P(6), TEXTOID, n, &message_values, &message_nulls);

	/* the outcomes that fit a slot, read before the lock is taken */
	outcomes = palloc(sizeof(QueueRingServed) * Max(n, 1));
	outcome_ids = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		QueueRingServed *served = &outcomes[nout];

		if (id_nulls[i])
			continue;
		memset(served, 0, sizeof(QueueRingServed));
		served->done = !order_nulls[i];
		if (served->done)
		{
			const char *seat_no = text_element(seat_values, seat_nulls, i);

			if (carriage_nulls[i] || seat_no == NULL || strlen(seat_no) >= QUEUE_RING_SEAT_NO_MAX
				|| PG_ARGISNULL(4))
				continue;
			served->order_id = DatumGetInt64(order_values[i]);
			served->carriage = DatumGetInt32(carriage_values[i]);
			served->hold_until = PG_GETARG_TIMESTAMPTZ(4);
			strlcpy(served->seat_no, seat_no, QUEUE_RING_SEAT_NO_MAX);
		}
		else
		{
			const char *state = text_element(state_values, state_nulls, i);
			const char *message = text_element(message_values, message_nulls, i);

			if (state == NULL || strlen(state) != 5 || message == NULL
				|| strlen(message) >= QUEUE_RING_MESSAGE_MAX)
				continue;
			strlcpy(served->sqlstate, state, sizeof(served->sqlstate));
			strlcpy(served->message, message, QUEUE_RING_MESSAGE_MAX);
		}
		outcome_ids[nout++] = DatumGetInt64(id_values[i]);
	}

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	for (int i = 0; i < nout; i++)
	{
		RingEntry  *e = NULL;
		int			slot = (int) ((uint64) outcome_ids[i] % ring->answer_slots);
		AnswerSlot *a = &ring->answers[slot];

		for (int k = 0; k < nowned && e == NULL; k++)
		{
			RingEntry  *o = &ring->entries[owned[k]];

			if (o->state == ENTRY_TAKEN && o->request_id == outcome_ids[i])
				e = o;
		}
		/* not one of ours, or the slot holds an answer not committed yet */
		if (e == NULL || (a->request_id != 0 && !a->visible && !answer_is_of(slot, e)))
			continue;
		outcomes[i].position = e->position;
		a->request_id = e->request_id;
		a->dbid = e->dbid;
		a->extension = e->extension;
		a->visible = false;
		a->served = outcomes[i];
		e->answer_slot = slot;
		e->answer_subxid = GetCurrentSubTransactionId();
		kept++;
	}
	LWLockRelease(ring->lock);
	PG_RETURN_INT32(kept);
}

/*
 * The answer to a request a server took from the ring, once its
 * transaction has committed; false if it is not kept here.
 */
bool
queue_ring_answer_of(int64 request_id, QueueRingServed *served)
{
	Oid			extension;
	AnswerSlot *a;
	bool		found;

	if (ring == NULL || request_id <= 0)
		return false;
	extension = current_extension();
	a = &ring->answers[(uint64) request_id % ring->answer_slots];
	LWLockAcquire(ring->lock, LW_SHARED);
	found = a->visible && a->request_id == request_id && a->dbid == MyDatabaseId && a->extension == extension;
	if (found)
		*served = a->served;
	LWLockRelease(ring->lock);
	return found;
}
