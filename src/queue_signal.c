/*-------------------------------------------------------------------------
 *
 * queue_signal.c
 *	  Wake-ups for the order queue, in shared memory.
 *
 * Without them a caller of ticket.queue_wait() has to look at its request
 * again and again (about 11 times per answer in the 64-client benchmark, 2.6
 * with them), and an idle queue worker would have to look for requests
 * again and again: CPU for nothing, and latency.  With the library in
 * shared_preload_libraries (which the worker needs anyway), a committed
 * batch wakes exactly the sessions waiting on its run, and a committed
 * enqueue (or a batch that gave its requests back) wakes the worker, which
 * otherwise sleeps.
 *
 * Runs share 64 slots (run id modulo 64), each a counter of committed
 * batches and a condition variable.  A waiter reads its slot's counter
 * before it looks at its request, and sleeps until the counter moves: a
 * batch committing after the look moves it, one committing before it shows
 * in the look, so no wake-up is lost.  The signals are sent from a
 * transaction callback after the commit is visible to other sessions, never
 * for a transaction that rolled back.  Sleeps are cut at one second, so even
 * a missed signal (a prepared transaction commits without this session's
 * callbacks) only delays a waiter.
 *
 * Not preloaded, the functions say so (NULL) and the SQL callers fall back
 * to their lock-based waits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "queue_signal.h"
#include "shmem.h"

#define QUEUE_SIGNAL_SLOTS 64

/* longest single sleep: a missed signal costs at most this */
#define QUEUE_SIGNAL_MAX_SLEEP_MS 1000

typedef struct QueueSignalSlot
{
	pg_atomic_uint64 batches;	/* committed batches of this slot's runs */
	ConditionVariable cv;		/* broadcast after each of them */
} QueueSignalSlot;

typedef struct QueueSignalShared
{
	/* pgprocno of the queue worker, INVALID_PGPROCNO when there is none */
	pg_atomic_uint32 worker_procno;
	/* the database it serves (enqueues elsewhere do not wake it) */
	pg_atomic_uint32 worker_database;
	/* changes of the timetable (stations, stops, trains, runs) in any database */
	pg_atomic_uint64 timetable_changes;
	QueueSignalSlot slots[QUEUE_SIGNAL_SLOTS];
} QueueSignalShared;

static QueueSignalShared *queue_signal = NULL;

/* this transaction's signals, sent when it commits */
static uint64 pending_batch_slots = 0;
static bool pending_timetable_change = false;
static bool xact_callback_registered = false;

PG_FUNCTION_INFO_V1(ticket_queue_batch_count);
PG_FUNCTION_INFO_V1(ticket_queue_sleep);
PG_FUNCTION_INFO_V1(ticket_queue_notify_served);

Size
queue_signal_shmem_size(void)
{
	return sizeof(QueueSignalShared);
}

void
queue_signal_shmem_init(void *ptr, bool found)
{
	queue_signal = ptr;
	if (found)
		return;
	pg_atomic_init_u32(&queue_signal->worker_procno, INVALID_PGPROCNO);
	pg_atomic_init_u32(&queue_signal->worker_database, InvalidOid);
	pg_atomic_init_u64(&queue_signal->timetable_changes, 0);
	for (int i = 0; i < QUEUE_SIGNAL_SLOTS; i++)
	{
		pg_atomic_init_u64(&queue_signal->slots[i].batches, 0);
		ConditionVariableInit(&queue_signal->slots[i].cv);
	}
}

static void
forget_worker(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	uint32		mine = (uint32) MyProc->pgprocno;

	pg_atomic_compare_exchange_u32(&queue_signal->worker_procno, &mine, INVALID_PGPROCNO);
}

void
queue_signal_register_worker(void)
{
	if (queue_signal == NULL)
		return;
	pg_atomic_write_u32(&queue_signal->worker_database, MyDatabaseId);
	pg_atomic_write_u32(&queue_signal->worker_procno, (uint32) MyProc->pgprocno);
	before_shmem_exit(forget_worker, (Datum) 0);
}

static QueueSignalSlot *
slot_of(int64 run_id)
{
	return &queue_signal->slots[(uint64) run_id % QUEUE_SIGNAL_SLOTS];
}

/*
 * Wake the queue worker now, if it serves this database: requests wait.
 * It sleeps until told (or for a while), so whatever makes a request ready
 * to serve tells it: a committed enqueue, a batch that gave its requests
 * back.
 */
void
queue_signal_wake_worker(void)
{
	if (queue_signal != NULL && pg_atomic_read_u32(&queue_signal->worker_database) == MyDatabaseId)
	{
		uint32		procno = pg_atomic_read_u32(&queue_signal->worker_procno);

		/* a worker that has just exited gets a harmless extra wake-up */
		if (procno != INVALID_PGPROCNO)
			SetLatch(&ProcGlobal->allProcs[procno].procLatch);
	}
}

static void
queue_signal_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			queue_signal_batches_done(pending_batch_slots);
			if (pending_timetable_change)
				pg_atomic_fetch_add_u64(&queue_signal->timetable_changes, 1);
			pending_batch_slots = 0;
			pending_timetable_change = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending_batch_slots = 0;
			pending_timetable_change = false;
			break;
		default:
			break;
	}
}

static void
ensure_xact_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(queue_signal_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

bool
queue_signal_available(void)
{
	return queue_signal != NULL;
}

uint64
queue_signal_batches(int64 run_id)
{
	return pg_atomic_read_u64(&slot_of(run_id)->batches);
}

/*
 * Sleep until the run's slot has counted a batch after `seen`, until
 * `until`, or for a second, whichever comes first; true when a batch came.
 */
bool
queue_signal_sleep(int64 run_id, uint64 seen, TimestampTz until)
{
	QueueSignalSlot *slot = slot_of(run_id);
	TimestampTz give_up = Min(until, TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																 QUEUE_SIGNAL_MAX_SLEEP_MS));
	bool		moved = false;

	ConditionVariablePrepareToSleep(&slot->cv);
	for (;;)
	{
		long		ms;

		if (pg_atomic_read_u64(&slot->batches) != seen)
		{
			moved = true;
			break;
		}
		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), give_up);
		if (ms <= 0)
			break;
		(void) ConditionVariableTimedSleep(&slot->cv, ms, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	return moved;
}

/* the wake-up slot of a run, as a bit of a set of slots */
uint64
queue_signal_slot_bit(int64 run_id)
{
	return UINT64CONST(1) << ((uint64) run_id % QUEUE_SIGNAL_SLOTS);
}

/* batches of these slots' runs have committed (and let go of their requests): wake their waiters now */
void
queue_signal_batches_done(uint64 slots)
{
	if (queue_signal == NULL)
		return;
	for (int i = 0; i < QUEUE_SIGNAL_SLOTS; i++)
	{
		if (slots & (UINT64CONST(1) << i))
		{
			pg_atomic_fetch_add_u64(&queue_signal->slots[i].batches, 1);
			ConditionVariableBroadcast(&queue_signal->slots[i].cv);
		}
	}
}

/*
 * ticket.queue_batch_count(run_id): committed batches of the run's slot so
 * far; NULL when the library is not preloaded (no signals).
 */
Datum
ticket_queue_batch_count(PG_FUNCTION_ARGS)
{
	if (queue_signal == NULL)
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) queue_signal_batches(PG_GETARG_INT64(0)));
}

/*
 * ticket.queue_sleep(run_id, seen, until): queue_signal_sleep(); NULL when
 * not preloaded.
 */
Datum
ticket_queue_sleep(PG_FUNCTION_ARGS)
{
	TimestampTz until = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz now = GetCurrentTimestamp();

	/* a time already past (-infinity too) means: look, but do not sleep */
	if (until < now)
		until = now;
	if (queue_signal == NULL)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(queue_signal_sleep(PG_GETARG_INT64(0), (uint64) PG_GETARG_INT64(1),
									  until));
}

/*
 * ticket.queue_notify_served(run_id): when this transaction commits, wake
 * the sessions waiting on the run's queue.
 */
Datum
ticket_queue_notify_served(PG_FUNCTION_ARGS)
{
	if (queue_signal != NULL)
	{
		ensure_xact_callback();
		pending_batch_slots |= queue_signal_slot_bit(PG_GETARG_INT64(0));
	}
	PG_RETURN_VOID();
}

/*
 * How often the timetable has changed: journeys enqueue resolved and keeps
 * (journey_cache.c) count only while this stands.  0 when not preloaded.
 */
uint64
queue_signal_timetable_changes(void)
{
	return queue_signal == NULL ? 0 : pg_atomic_read_u64(&queue_signal->timetable_changes);
}

/*
 * The timetable changes in this transaction: count it now and again when
 * the transaction commits, so that a journey resolved from the data before
 * the commit is never kept past it.
 */
void
queue_signal_timetable_changed(void)
{
	if (queue_signal == NULL)
		return;
	pg_atomic_fetch_add_u64(&queue_signal->timetable_changes, 1);
	ensure_xact_callback();
	pending_timetable_change = true;
}
