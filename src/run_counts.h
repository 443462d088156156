/*-------------------------------------------------------------------------
 *
 * run_counts.h
 *	  Free seats of a run for every journey and class, kept in shared memory
 *	  and exact: an entry serves a reader only when it holds what the
 *	  reader's own snapshot would count from the seat maps (run_counts.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_RUN_COUNTS_H
#define TICKET_RUN_COUNTS_H

#include "datatype/timestamp.h"
#include "utils/snapshot.h"

/* classes x journeys one entry holds: 6 classes of a 20-stop run */
#define RUN_COUNTS_MAX_CLASSES 8
#define RUN_COUNTS_MAX_CELLS 1536

/* what run_counts_find() copies out */
typedef struct RunCountsFound
{
	int32		n_legs;
	int32		n_classes;
	Oid			classes[RUN_COUNTS_MAX_CLASSES];	/* seat_class enum values, in enum order */
	/* one per class for the journey asked, or the whole matrix (class-major) */
	int32		counts[RUN_COUNTS_MAX_CELLS];
} RunCountsFound;

/* where a build starts: NULL when nothing may be kept now */
typedef struct RunCountsTicket
{
	int			slot;
	uint64		changes;
	uint64		all_changes;
} RunCountsTicket;

extern bool run_counts_available(void);
extern bool run_counts_find(int64 run_id, Oid relid, Snapshot snapshot, TimestampTz now,
							int from_stop, int to_stop, RunCountsFound *out);
extern bool run_counts_begin(int64 run_id, RunCountsTicket *ticket);
extern bool run_counts_same_view(Snapshot statement, Snapshot later);
extern void run_counts_keep(int64 run_id, Oid relid, const RunCountsTicket *ticket,
							Snapshot built, TimestampTz last_expired_hold, TimestampTz first_hold_until,
							int n_legs, int n_classes, const Oid *classes, const int32 *counts);

#endif							/* TICKET_RUN_COUNTS_H */
