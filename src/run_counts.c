/*-------------------------------------------------------------------------
 *
 * run_counts.c
 *	  Free seats of a run for every journey and class, in shared memory,
 *	  exact: the remaining-tickets table a rush asks for thousands of times a
 *	  second, counted from the seat maps once per change of them.
 *
 * An entry is the whole matrix of a run (every journey [a, b), every class)
 * counted from its seat maps under one MVCC snapshot, the builder's.  It
 * never goes stale, because a reader uses it only when it is exactly what
 * the reader's own snapshot would count:
 *
 *  1. Nothing the reader sees is missing from it.  Every change of a seat
 *	   map (a row of ticket.run_carriage inserted, updated or deleted) or of
 *	   a hold's deadline fires the trigger ticket.run_seats_changed(), which
 *	   notes the run's slot in the transaction (slots are a hash of database
 *	   and run: two runs may share one, which only costs a miss).  Just
 *	   before the transaction commits (XACT_EVENT_PRE_COMMIT) it counts as
 *	   "committing" in each slot it noted; after its commit is visible to
 *	   new snapshots (XACT_EVENT_COMMIT) it adds one to the slot's "changes"
 *	   and only then stops counting as committing.  A builder reads
 *	   "committing" (it must be 0) and then "changes" before it takes its
 *	   snapshot; a reader reads them in the same order after its snapshot
 *	   was taken, and uses the entry only if nothing is committing and
 *	   "changes" has not moved.  A commit the reader sees was visible before
 *	   the reader looked; by then it counted as committing, so it has either
 *	   ended (and moved "changes") or still counts: either way the entry is
 *	   refused, unless the commit ended before the builder read "changes"
 *	   and so is in the builder's snapshot.  A transaction still running
 *	   blocks nothing: no snapshot sees it.
 *  2. Nothing in it is hidden from the reader.  The builder's snapshot may
 *	   have been taken after the reader's; the entry keeps the builder's xmax
 *	   and the transactions it saw running (its xip), and serves a reader
 *	   whose snapshot sees every transaction the builder saw: its xmax is not
 *	   behind the builder's, and each transaction it counts as running below
 *	   the builder's xmax was running for the builder too (or simply: its
 *	   xmin is at or past the builder's xmax).  In a read-only rush no
 *	   transaction id is assigned and this holds at once; under writes it
 *	   holds for the readers whose snapshot was taken with no commit since
 *	   the build, and for every reader once the transactions running then
 *	   have ended.
 *  3. Holds past their deadline count as free (as the next grab would
 *	   release them), so the counts change with time alone: an entry keeps
 *	   the latest deadline of the holds it counts as free and the earliest of
 *	   those it counts as taken, and serves a statement whose now() lies
 *	   between them (the same holds have run out for it).
 *
 * A transaction that changed a run's maps itself never uses or builds an
 * entry of that run's slot; TRUNCATE counts in a slot of its own that every
 * reader checks.  A prepared transaction (PREPARE TRANSACTION) keeps
 * counting as committing until the server restarts: COMMIT PREPARED runs in
 * another session, which this library does not hear of, so the slots it
 * touched serve from the seat maps from then on.  Changes made with the
 * trigger disabled (ALTER TABLE ... DISABLE TRIGGER, a superuser's act) are
 * not seen: the trigger is ENABLE ALWAYS so that session_replication_role
 * (logical replication's apply) still fires it.
 *
 * On a hot standby the primary's commits never reach this memory (they
 * arrive as WAL, without triggers or callbacks), so a standby keeps
 * nothing: run_counts_find() and run_counts_begin() say no, and every read
 * counts from the seat maps.
 *
 * Not preloaded, there is no shared memory and the same is true.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "run_counts.h"
#include "shmem.h"

/* counters of changes, by hash of database and run */
#define RUN_CHANGE_SLOTS 4096
/* places an entry of a run may take */
#define RUN_COUNTS_PROBES 4
/* transactions running when an entry was built that it remembers */
#define RUN_COUNTS_MAX_RUNNING 64

typedef struct RunChanges
{
	pg_atomic_uint32 committing;	/* transactions committing a change of a run of this slot */
	pg_atomic_uint64 changes;	/* such commits (and aborts after the pre-commit) done */
} RunChanges;

typedef struct RunCountsEntry
{
	int64		run_id;			/* 0: empty */
	Oid			dbid;
	Oid			relid;			/* ticket.run_carriage of that database */
	uint64		changes;		/* the slot's count when it was built */
	uint64		all_changes;	/* the TRUNCATE slot's count then */
	TransactionId built_xmax;	/* the builder's snapshot's xmax */
	int32		n_running;		/* its running transactions (xip), -1: too many */
	TransactionId running[RUN_COUNTS_MAX_RUNNING];
	TimestampTz last_expired_hold;	/* latest deadline of a hold counted as free */
	TimestampTz first_hold_until;	/* earliest deadline of a hold counted as taken */
	TimestampTz built_at;
	int32		n_legs;
	int32		n_classes;
	Oid			classes[RUN_COUNTS_MAX_CLASSES];	/* in enum order */
	int32		counts[RUN_COUNTS_MAX_CELLS];	/* class-major, seatmap_journey_index() order */
} RunCountsEntry;

typedef struct RunCountsShared
{
	LWLock	   *lock;
	int			nentries;
	RunChanges	all;			/* TRUNCATE of ticket.run_carriage */
	RunChanges	slots[RUN_CHANGE_SLOTS];
	RunCountsEntry entries[FLEXIBLE_ARRAY_MEMBER];
} RunCountsShared;

static RunCountsShared *shared = NULL;

/* the slots this transaction changed (RUN_CHANGE_SLOTS: TRUNCATE) */
static int	touched[RUN_CHANGE_SLOTS + 1];
static int	n_touched = 0;
static bool in_commit = false;	/* counted as committing in them */
static uint8 touched_bits[(RUN_CHANGE_SLOTS + 1 + 7) / 8];
static bool xact_callback_registered = false;

PG_FUNCTION_INFO_V1(ticket_run_seats_changed);

Size
run_counts_shmem_size(void)
{
	return add_size(offsetof(RunCountsShared, entries),
					mul_size(ticket_remaining_cache_size, sizeof(RunCountsEntry)));
}

void
run_counts_shmem_init(void *ptr, bool found)
{
	shared = ptr;
	if (found)
		return;
	shared->lock = ticket_shmem_lock(TICKET_LOCK_RUN_COUNTS);
	shared->nentries = ticket_remaining_cache_size;
	pg_atomic_init_u32(&shared->all.committing, 0);
	pg_atomic_init_u64(&shared->all.changes, 0);
	for (int i = 0; i < RUN_CHANGE_SLOTS; i++)
	{
		pg_atomic_init_u32(&shared->slots[i].committing, 0);
		pg_atomic_init_u64(&shared->slots[i].changes, 0);
	}
}

bool
run_counts_available(void)
{
	return shared != NULL && !RecoveryInProgress();
}

static uint32
run_hash(int64 run_id)
{
	return hash_bytes_uint32((uint32) run_id ^ (uint32) (run_id >> 32)) ^ hash_bytes_uint32(MyDatabaseId);
}

static int
change_slot(int64 run_id)
{
	return run_hash(run_id) % RUN_CHANGE_SLOTS;
}

static RunChanges *
changes_of(int slot)
{
	return slot == RUN_CHANGE_SLOTS ? &shared->all : &shared->slots[slot];
}

static bool
is_touched(int slot)
{
	return (touched_bits[slot / 8] & (1 << (slot % 8))) != 0;
}

/*
 * The transaction commits: it counts as committing from just before its
 * commit until its changes are counted, after the commit is visible.
 */
static void
run_counts_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (!in_commit)
				for (int i = 0; i < n_touched; i++)
					pg_atomic_fetch_add_u32(&changes_of(touched[i])->committing, 1);
			in_commit = true;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
			if (in_commit)
				for (int i = 0; i < n_touched; i++)
				{
					RunChanges *c = changes_of(touched[i]);

					/* in this order: see the top of the file */
					pg_atomic_fetch_add_u64(&c->changes, 1);
					pg_atomic_fetch_sub_u32(&c->committing, 1);
				}
			/* FALLTHROUGH */
		case XACT_EVENT_PREPARE:
			/* prepared: committing, for good (see the top of the file) */
			n_touched = 0;
			in_commit = false;
			memset(touched_bits, 0, sizeof(touched_bits));
			break;
		default:
			break;
	}
}

static void
touch(int slot)
{
	if (is_touched(slot))
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(run_counts_xact_callback, NULL);
		xact_callback_registered = true;
	}
	touched_bits[slot / 8] |= 1 << (slot % 8);
	touched[n_touched++] = slot;
	/* a change made after the pre-commit (by a deferred trigger) counts too */
	if (in_commit)
		pg_atomic_fetch_add_u32(&changes_of(slot)->committing, 1);
}

static void
touch_row(Relation rel, HeapTuple tuple)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), "run_id");
	bool		isnull;
	Datum		d;

	if (attnum <= 0)
		elog(ERROR, "ticket: column run_carriage.run_id is missing");
	d = heap_getattr(tuple, attnum, RelationGetDescr(rel), &isnull);
	touch(isnull ? RUN_CHANGE_SLOTS : change_slot(DatumGetInt64(d)));
}

/*
 * Trigger on ticket.run_carriage, BEFORE each row inserted, updated or
 * deleted and BEFORE TRUNCATE: this transaction changes the seat maps of a
 * run (of every run).
 */
Datum
ticket_run_seats_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "ticket.run_seats_changed() is a trigger");
	event = trigdata->tg_event;
	if (shared == NULL)
		;
	else if (TRIGGER_FIRED_BY_TRUNCATE(event) || !TRIGGER_FIRED_FOR_ROW(event))
		touch(RUN_CHANGE_SLOTS);
	else
	{
		if (TRIGGER_FIRED_BY_UPDATE(event) || TRIGGER_FIRED_BY_DELETE(event)
			|| TRIGGER_FIRED_BY_INSERT(event))
			touch_row(trigdata->tg_relation, trigdata->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(event))
			touch_row(trigdata->tg_relation, trigdata->tg_newtuple);
	}
	if (!TRIGGER_FIRED_FOR_ROW(event))
		return PointerGetDatum(NULL);
	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple);
}

/*
 * Whether an entry of the run may be built now, and where it starts: false
 * when this transaction changed the run's maps itself or another one is
 * committing a change of them.  Call it before taking the snapshot to build
 * with.
 */
bool
run_counts_begin(int64 run_id, RunCountsTicket *ticket)
{
	RunChanges *c;

	if (!run_counts_available())
		return false;
	ticket->slot = change_slot(run_id);
	if (is_touched(ticket->slot) || is_touched(RUN_CHANGE_SLOTS))
		return false;
	c = changes_of(ticket->slot);
	if (pg_atomic_read_u32(&c->committing) != 0 || pg_atomic_read_u32(&shared->all.committing) != 0)
		return false;
	pg_read_barrier();
	ticket->changes = pg_atomic_read_u64(&c->changes);
	ticket->all_changes = pg_atomic_read_u64(&shared->all.changes);
	/* the caller's snapshot must be taken after these reads */
	pg_memory_barrier();
	return true;
}

/*
 * Whether a snapshot sees every transaction another one, taken earlier,
 * saw: the other's xmax, and the transactions running then (xip; n_running
 * -1 when not all are known).  True when every transaction this one
 * counts as running and the other could have seen was running for the
 * other too.  A snapshot with running subtransactions of its own list
 * passes only when its xmin is past the other's xmax.
 */
static bool
sees_all_of(Snapshot snapshot, TransactionId xmax, int n_running, const TransactionId *running)
{
	if (TransactionIdFollowsOrEquals(snapshot->xmin, xmax))
		return true;
	if (n_running < 0 || snapshot->subxcnt > 0 || snapshot->suboverflowed || snapshot->takenDuringRecovery
		|| TransactionIdPrecedes(snapshot->xmax, xmax))
		return false;
	for (uint32 i = 0; i < snapshot->xcnt; i++)
	{
		TransactionId x = snapshot->xip[i];
		bool		was_running = false;

		if (TransactionIdFollowsOrEquals(x, xmax))
			continue;
		for (int k = 0; k < n_running && !was_running; k++)
			was_running = TransactionIdEquals(running[k], x);
		if (!was_running)
			return false;
	}
	return true;
}

/* the statement's snapshot sees exactly what a later one does, for the counts */
bool
run_counts_same_view(Snapshot statement, Snapshot later)
{
	if (later->xcnt > RUN_COUNTS_MAX_RUNNING || later->takenDuringRecovery)
		return TransactionIdFollowsOrEquals(statement->xmin, later->xmax);
	return sees_all_of(statement, later->xmax, (int) later->xcnt, later->xip);
}

static bool
same_run(const RunCountsEntry *e, int64 run_id, Oid relid)
{
	return e->run_id == run_id && e->dbid == MyDatabaseId && e->relid == relid;
}

/*
 * The run's counts as the given snapshot would count them at now (the
 * statement's now()), if an entry holds exactly that: for the journey
 * [from_stop, to_stop) one count per class, or (from_stop < 0) the matrix.
 * A journey past the run's legs copies no count (the caller checks n_legs).
 */
bool
run_counts_find(int64 run_id, Oid relid, Snapshot snapshot, TimestampTz now, int from_stop, int to_stop,
				RunCountsFound *out)
{
	RunCountsTicket ticket;
	uint32		h;
	bool		hit = false;

	if (snapshot == NULL || !run_counts_begin(run_id, &ticket))
		return false;
	h = run_hash(run_id);
	LWLockAcquire(shared->lock, LW_SHARED);
	for (int p = 0; p < RUN_COUNTS_PROBES; p++)
	{
		RunCountsEntry *e = &shared->entries[(h + p) % shared->nentries];
		int			n_journeys;

		if (!same_run(e, run_id, relid))
			continue;
		hit = e->changes == ticket.changes && e->all_changes == ticket.all_changes
			&& sees_all_of(snapshot, e->built_xmax, e->n_running, e->running)
			&& e->last_expired_hold <= now && now < e->first_hold_until;
		if (!hit)
			break;
		out->n_legs = e->n_legs;
		out->n_classes = e->n_classes;
		memcpy(out->classes, e->classes, sizeof(Oid) * e->n_classes);
		n_journeys = e->n_legs * (e->n_legs + 1) / 2;
		if (from_stop < 0)
			memcpy(out->counts, e->counts, sizeof(int32) * e->n_classes * n_journeys);
		else if (to_stop <= e->n_legs && from_stop < to_stop)
		{
			int			j = from_stop * e->n_legs - from_stop * (from_stop - 1) / 2 + (to_stop - from_stop - 1);

			for (int k = 0; k < e->n_classes; k++)
				out->counts[k] = e->counts[k * n_journeys + j];
		}
		break;
	}
	LWLockRelease(shared->lock);
	return hit;
}

/* Keep counts built with a snapshot taken after run_counts_begin(). */
void
run_counts_keep(int64 run_id, Oid relid, const RunCountsTicket *ticket, Snapshot built,
				TimestampTz last_expired_hold, TimestampTz first_hold_until, int n_legs, int n_classes, const Oid *classes,
				const int32 *counts)
{
	uint32		h = run_hash(run_id);
	RunCountsEntry *target = NULL;
	int			cells = n_classes * (n_legs * (n_legs + 1) / 2);

	if (!run_counts_available() || cells > RUN_COUNTS_MAX_CELLS || n_classes > RUN_COUNTS_MAX_CLASSES)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int p = 0; p < RUN_COUNTS_PROBES; p++)
	{
		RunCountsEntry *e = &shared->entries[(h + p) % shared->nentries];

		if (same_run(e, run_id, relid) || e->run_id == 0)
		{
			target = e;
			break;
		}
		if (target == NULL || e->built_at < target->built_at)
			target = e;
	}
	/* a builder that started before the last change does not replace a newer entry */
	if (!(same_run(target, run_id, relid) && target->changes > ticket->changes))
	{
		target->run_id = run_id;
		target->dbid = MyDatabaseId;
		target->relid = relid;
		target->changes = ticket->changes;
		target->all_changes = ticket->all_changes;
		target->built_xmax = built->xmax;
		if (built->xcnt <= RUN_COUNTS_MAX_RUNNING && !built->takenDuringRecovery)
		{
			target->n_running = (int32) built->xcnt;
			memcpy(target->running, built->xip, sizeof(TransactionId) * built->xcnt);
		}
		else
			target->n_running = -1;
		target->last_expired_hold = last_expired_hold;
		target->first_hold_until = first_hold_until;
		target->built_at = GetCurrentTimestamp();
		target->n_legs = n_legs;
		target->n_classes = n_classes;
		memcpy(target->classes, classes, sizeof(Oid) * n_classes);
		memcpy(target->counts, counts, sizeof(int32) * cells);
	}
	LWLockRelease(shared->lock);
}
