/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  The library's shared memory, set up in one place (shmem.c).
 *
 * Each part that lives in shared memory (queue_signal.c, queue_ring.c,
 * journey_cache.c, run_counts.c, risk.c) says how much it needs and sets itself up in what it is
 * given; it installs no hooks of its own.  Its pointer stays NULL when the
 * library is not preloaded, and its functions then fall back.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_SHMEM_H
#define TICKET_SHMEM_H

#include "storage/lwlock.h"

/* the library's LWLocks, one tranche named "ticket" */
typedef enum TicketLock
{
	TICKET_LOCK_QUEUE_RING,
	TICKET_LOCK_JOURNEYS,
	TICKET_LOCK_RUN_COUNTS,
	/* the risk counters' partitions (risk.c), RISK_PARTITIONS locks */
	TICKET_LOCK_RISK_FIRST,
	TICKET_NUM_LOCKS = TICKET_LOCK_RISK_FIRST + 32
} TicketLock;

#define RISK_PARTITIONS (TICKET_NUM_LOCKS - TICKET_LOCK_RISK_FIRST)

/* startup settings (PGC_POSTMASTER) that size the parts */
extern int	ticket_queue_ring_size;
extern int	ticket_queue_answer_slots;
extern int	ticket_journey_cache_size;
extern int	ticket_risk_entries;
extern int	ticket_remaining_cache_size;

/* from _PG_init while shared_preload_libraries is processed */
extern void ticket_shmem_preload(void);

/* a lock of the tranche; only while the parts are set up */
extern LWLock *ticket_shmem_lock(TicketLock which);

/*
 * The parts: bytes needed, and set-up in the area given, zeroed when new
 * (found: another process set it up, only learn where it is).
 */
extern Size queue_signal_shmem_size(void);
extern void queue_signal_shmem_init(void *ptr, bool found);
extern Size queue_ring_shmem_size(void);
extern void queue_ring_shmem_init(void *ptr, bool found);
extern Size journey_cache_shmem_size(void);
extern void journey_cache_shmem_init(void *ptr, bool found);
extern Size risk_shmem_size(void);
extern void risk_shmem_init(void *ptr, bool found);
extern Size breaker_shmem_size(void);
extern void breaker_shmem_init(void *ptr, bool found);
extern Size run_counts_shmem_size(void);
extern void run_counts_shmem_init(void *ptr, bool found);

#endif							/* TICKET_SHMEM_H */
