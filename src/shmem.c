/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The library's shared memory, set up once, as pg_stat_statements does.
 *
 * Four parts live in shared memory when the library is preloaded: the
 * queue's wake-ups (queue_signal.c), the requests waiting in the queue and
 * the answers of served ones (queue_ring.c), the journeys enqueue and
 * remaining have resolved (journey_cache.c), the free seats of runs for
 * every journey (run_counts.c), the risk signals' counts (risk.c) and the
 * overload breaker's state (breaker.c).  Each says how much it needs and sets
 * itself up in what it is given; this file alone asks the server for the
 * memory and the locks, from one shmem_request_hook, and hands each part its
 * area from one shmem_startup_hook.  The sizes come from startup settings, so
 * that what is asked for at start is what every process later finds.
 *
 * Not preloaded, none of this runs: the parts' pointers stay NULL and their
 * functions fall back (SQL callers use the table and lock-based waits).
 *
 * Supported PostgreSQL versions: 15 only, the one this library is built and
 * tested against.  Older servers lack shmem_request_hook (space and locks
 * had to be asked for in _PG_init), InitMaterializedSRF and
 * MarkGUCPrefixReserved; they are refused below.  Newer ones are refused
 * too until they are tested: PostgreSQL 17 renames what queue_ring.c and
 * queue_signal.c read of a process (MyProc->lxid became MyProc->vxid.lxid,
 * MyProc->pgprocno and INVALID_PGPROCNO became ProcNumber and
 * INVALID_PROC_NUMBER).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "shmem.h"

#if PG_VERSION_NUM < 150000
#error "ticket needs PostgreSQL 15: it asks for shared memory from shmem_request_hook"
#elif PG_VERSION_NUM >= 160000
#error "ticket supports PostgreSQL 15 only (see shmem.c for what a newer server changes)"
#endif

#define TICKET_LOCK_TRANCHE "ticket"

/* most entries of any part: keeps each part well under 1 GB */
#define TICKET_SHMEM_MAX_ENTRIES (1024 * 1024)

int			ticket_queue_ring_size = 16384;
int			ticket_queue_answer_slots = 8192;
int			ticket_journey_cache_size = 4096;
int			ticket_remaining_cache_size = 1024;

typedef struct ShmemPart
{
	const char *name;			/* its name in the shared memory index */
	Size		(*size) (void);
	void		(*init) (void *ptr, bool found);
} ShmemPart;

static const ShmemPart parts[] = {
	{"ticket queue signals", queue_signal_shmem_size, queue_signal_shmem_init},
	{"ticket queue ring", queue_ring_shmem_size, queue_ring_shmem_init},
	{"ticket journeys", journey_cache_shmem_size, journey_cache_shmem_init},
	{"ticket risk", risk_shmem_size, risk_shmem_init},
	{"ticket breaker", breaker_shmem_size, breaker_shmem_init},
	{"ticket run counts", run_counts_shmem_size, run_counts_shmem_init},
};

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
ticket_shmem_request(void)
{
	Size		total = 0;

	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	/* ShmemInitStruct rounds every allocation up to a cache line */
	for (size_t i = 0; i < lengthof(parts); i++)
		total = add_size(total, CACHELINEALIGN(parts[i].size()));
	RequestAddinShmemSpace(total);
	RequestNamedLWLockTranche(TICKET_LOCK_TRANCHE, TICKET_NUM_LOCKS);
}

/*
 * The postmaster runs this at start (and after a crash, on fresh memory);
 * forked processes inherit what it learned, while with EXEC_BACKEND each
 * runs it again.  The first to run it finds the areas new and sets them
 * up, later ones only learn where they are; AddinShmemInitLock keeps a
 * part from being seen half set up.
 */
static void
ticket_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (size_t i = 0; i < lengthof(parts); i++)
	{
		Size		size = parts[i].size();
		bool		found;
		void	   *ptr = ShmemInitStruct(parts[i].name, size, &found);

		/* a new area starts zeroed: every part's "empty" is all zeros */
		if (!found)
			memset(ptr, 0, size);
		parts[i].init(ptr, found);
	}
	LWLockRelease(AddinShmemInitLock);
}

LWLock *
ticket_shmem_lock(TicketLock which)
{
	return &GetNamedLWLockTranche(TICKET_LOCK_TRANCHE)[which].lock;
}

/*
 * The settings that size shared memory, and the hooks.  Settings that can
 * only change at server start are defined only while the server starts, as
 * ticket.queue_database is; not preloaded there is nothing they could size.
 */
void
ticket_shmem_preload(void)
{
	Assert(process_shared_preload_libraries_in_progress);

	DefineCustomIntVariable("ticket.queue_ring_size",
							"Most queued requests shared memory holds, for the queues of all runs together.",
							"With ticket in shared_preload_libraries, waiting requests live in shared "
							"memory; when it is full, ticket.enqueue() refuses more with SQLSTATE TK018 "
							"(queue full, try later).  Each takes about 230 bytes.  "
							"Takes effect at server start.",
							&ticket_queue_ring_size,
							16384,
							16,
							TICKET_SHMEM_MAX_ENTRIES,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ticket.queue_answer_slots",
							"Answers of served requests kept in shared memory for ticket.queue_wait().",
							"A newer answer takes the slot of an older one; an answer not kept there is "
							"read from ticket.queue_request.  Each takes about 350 bytes.  "
							"Takes effect at server start.",
							&ticket_queue_answer_slots,
							8192,
							16,
							TICKET_SHMEM_MAX_ENTRIES,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ticket.journey_cache_size",
							"Journeys ticket.enqueue() keeps resolved in shared memory, for every session.",
							"A journey that finds no room replaces an older one; one not kept is resolved "
							"again by a query.  Each takes about 240 bytes.  Takes effect at server start.",
							&ticket_journey_cache_size,
							4096,
							64,
							TICKET_SHMEM_MAX_ENTRIES,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ticket.risk_entries",
							"Accounts, clients and documents whose risk signals shared memory counts at once.",
							"With ticket in shared_preload_libraries and risk checks on, every account, end "
							"client and identity document seen takes a slot; when the slots of its partition "
							"are full, it replaces the one seen least recently, whose counts are lost.  Each "
							"takes about 150 bytes.  Takes effect at server start.",
							&ticket_risk_entries,
							16384,
							32 * 16,
							TICKET_SHMEM_MAX_ENTRIES,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ticket.remaining_cache_size",
							"Runs whose free seats for every journey shared memory keeps, for ticket.remaining().",
							"An entry holds the counts of one run as of the last change of its seat maps "
							"and serves only readers whose snapshot sees exactly that; a run that finds no "
							"room replaces the oldest entry.  Each takes about 6.3 kB.  "
							"Takes effect at server start.",
							&ticket_remaining_cache_size,
							1024,
							16,
							65536,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ticket_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ticket_shmem_startup;
}
