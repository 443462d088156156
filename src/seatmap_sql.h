/*-------------------------------------------------------------------------
 *
 * seatmap_sql.h
 *	  Checks of seat maps read from the database, for every fmgr wrapper
 *	  and C caller that reads one (seatmap_sql.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_SEATMAP_SQL_H
#define TICKET_SEATMAP_SQL_H

#include "seatmap.h"

/* the map in a bytea value, or ERRCODE_DATA_CORRUPTED */
extern const SeatMap *seatmap_checked(bytea *value);

/* the journey fits the map's legs, or ERRCODE_INVALID_PARAMETER_VALUE */
extern void seatmap_check_legs(const SeatMap *map, Segment legs);

#endif							/* TICKET_SEATMAP_SQL_H */
