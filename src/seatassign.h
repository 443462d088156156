/*-------------------------------------------------------------------------
 *
 * seatassign.h
 *	  Seats for a batch of requests at once, in order, over the seat maps
 *	  of a run's carriages: what a queue server does in one transaction.
 *	  Plain C, no server dependency (unit-tested in test/fuzz/fuzz_seatmap.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_SEATASSIGN_H
#define TICKET_SEATASSIGN_H

#include "seatmap.h"

/* a request that wants no seat (already failed), or any class */
#define SEATASSIGN_SKIP		(-2)
#define SEATASSIGN_ANY		(-1)

/*
 * Requests are served in array order, each seeing the seats taken by those
 * before it.  Request i wants legs[i] in carriages of class wanted[i]
 * (a class number, SEATASSIGN_ANY or SEATASSIGN_SKIP).  Each gets the seat a
 * single grab would get: the best-scoring seat of any matching carriage
 * (see seatmap_best), ties to the higher class number (cheaper: classes are
 * numbered from the most expensive), then to the earlier carriage.
 * carriage[i] is its carriage's index in maps, or -1 with seat[i] = -1 when
 * nothing is free; the maps are changed (the seats taken).
 */
extern void seatmaps_assign(SeatMap **maps, const int *carriage_class, int n_carriages,
							const Segment *legs, const int *wanted, int n_requests,
							int *carriage, int *seat);

#endif							/* TICKET_SEATASSIGN_H */
