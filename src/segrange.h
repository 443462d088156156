/*-------------------------------------------------------------------------
 *
 * segrange.h
 *	  The SQL type ticket.segrange: a segment (see segment.h) passed by
 *	  value as one packed int4.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_SEGRANGE_H
#define TICKET_SEGRANGE_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/sortsupport.h"

#include "segment.h"

#define DatumGetSegment(d)		segment_unpack(DatumGetInt32(d))
#define SegmentGetDatum(s)		Int32GetDatum(segment_pack(s))
#define PG_GETARG_SEGMENT(n)	DatumGetSegment(PG_GETARG_DATUM(n))
#define PG_RETURN_SEGMENT(s)	return SegmentGetDatum(s)

/* Raises the error that matches status; returns only for SEGMENT_OK. */
extern void segrange_check_bounds(int64 lower, int64 upper);
extern int	segrange_packed_cmp(Datum x, Datum y, SortSupport ssup);

#endif							/* TICKET_SEGRANGE_H */
