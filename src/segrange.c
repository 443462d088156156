/*-------------------------------------------------------------------------
 *
 * segrange.c
 *	  I/O, constructors, casts, operators and btree/hash support for
 *	  ticket.segrange.  Each function is a thin wrapper over segment.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/rangetypes.h"
#include "utils/sortsupport.h"
#include "utils/typcache.h"

#include "segrange.h"

PG_FUNCTION_INFO_V1(segrange_in);
PG_FUNCTION_INFO_V1(segrange_out);
PG_FUNCTION_INFO_V1(segrange_recv);
PG_FUNCTION_INFO_V1(segrange_send);
PG_FUNCTION_INFO_V1(segrange_make);
PG_FUNCTION_INFO_V1(segrange_lower);
PG_FUNCTION_INFO_V1(segrange_upper);
PG_FUNCTION_INFO_V1(segrange_legs);
PG_FUNCTION_INFO_V1(segrange_from_int4range);
PG_FUNCTION_INFO_V1(segrange_to_int4range);
PG_FUNCTION_INFO_V1(segrange_eq);
PG_FUNCTION_INFO_V1(segrange_ne);
PG_FUNCTION_INFO_V1(segrange_lt);
PG_FUNCTION_INFO_V1(segrange_le);
PG_FUNCTION_INFO_V1(segrange_gt);
PG_FUNCTION_INFO_V1(segrange_ge);
PG_FUNCTION_INFO_V1(segrange_cmp);
PG_FUNCTION_INFO_V1(segrange_sortsupport);
PG_FUNCTION_INFO_V1(segrange_hash);
PG_FUNCTION_INFO_V1(segrange_hash_extended);
PG_FUNCTION_INFO_V1(segrange_overlaps);
PG_FUNCTION_INFO_V1(segrange_contains);
PG_FUNCTION_INFO_V1(segrange_contained_by);
PG_FUNCTION_INFO_V1(segrange_contains_stop);
PG_FUNCTION_INFO_V1(segrange_stop_contained_by);
PG_FUNCTION_INFO_V1(segrange_left);
PG_FUNCTION_INFO_V1(segrange_right);
PG_FUNCTION_INFO_V1(segrange_overleft);
PG_FUNCTION_INFO_V1(segrange_overright);
PG_FUNCTION_INFO_V1(segrange_adjacent);

/*
 * Errors for values that did not come from text: function arguments, binary
 * input and casts.  Text input has its own messages that quote the input.
 */
void
segrange_check_bounds(int64 lower, int64 upper)
{
	switch (segment_validate(lower, upper))
	{
		case SEGMENT_OK:
			return;
		case SEGMENT_OUT_OF_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("segrange bound out of range: [" INT64_FORMAT "," INT64_FORMAT ")",
							lower, upper),
					 errdetail("Stop indexes must be between 0 and %d.",
							   SEGMENT_MAX_STOP)));
			break;
		case SEGMENT_EMPTY:
		case SEGMENT_SYNTAX:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("segrange cannot be empty: [" INT64_FORMAT "," INT64_FORMAT ")",
							lower, upper),
					 errdetail("A segment covers at least one leg, so the lower stop must be less than the upper stop.")));
			break;
		case SEGMENT_REVERSED:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("segrange lower bound must be less than upper bound: [" INT64_FORMAT "," INT64_FORMAT ")",
							lower, upper),
					 errdetail("The lower stop must come before the upper stop.")));
			break;
	}
}

Datum
segrange_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Segment		seg = {0, 0};
	const char *detail;
	SegmentStatus status;

	status = segment_parse(str, &seg, &detail);
	if (status == SEGMENT_OUT_OF_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("segrange bound out of range: \"%s\"", str),
				 errdetail("%s", detail)));
	if (status != SEGMENT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type segrange: \"%s\"", str),
				 errdetail("%s", detail),
				 errhint("Write a segment as [lower,upper) with 0 <= lower < upper <= %d.",
						 SEGMENT_MAX_STOP)));
	PG_RETURN_SEGMENT(seg);
}

Datum
segrange_out(PG_FUNCTION_ARGS)
{
	Segment		seg = PG_GETARG_SEGMENT(0);
	char	   *buf = palloc(SEGMENT_TEXT_MAX);

	segment_format(seg, buf, SEGMENT_TEXT_MAX);
	PG_RETURN_CSTRING(buf);
}

/* Binary form: lower and upper as two int4, checked exactly like text. */
Datum
segrange_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		lower = (int32) pq_getmsgint(buf, 4);
	int32		upper = (int32) pq_getmsgint(buf, 4);
	Segment		seg;

	segrange_check_bounds(lower, upper);
	seg.lower = lower;
	seg.upper = upper;
	PG_RETURN_SEGMENT(seg);
}

Datum
segrange_send(PG_FUNCTION_ARGS)
{
	Segment		seg = PG_GETARG_SEGMENT(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, seg.lower);
	pq_sendint32(&buf, seg.upper);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
segrange_make(PG_FUNCTION_ARGS)
{
	int32		lower = PG_GETARG_INT32(0);
	int32		upper = PG_GETARG_INT32(1);
	Segment		seg;

	segrange_check_bounds(lower, upper);
	seg.lower = lower;
	seg.upper = upper;
	PG_RETURN_SEGMENT(seg);
}

Datum
segrange_lower(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_SEGMENT(0).lower);
}

Datum
segrange_upper(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_SEGMENT(0).upper);
}

Datum
segrange_legs(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(segment_legs(PG_GETARG_SEGMENT(0)));
}

Datum
segrange_from_int4range(PG_FUNCTION_ARGS)
{
	RangeType  *range = PG_GETARG_RANGE_P(0);
	TypeCacheEntry *typcache;
	RangeBound	lower;
	RangeBound	upper;
	bool		empty;
	Segment		seg;

	typcache = range_get_typcache(fcinfo, RangeTypeGetOid(range));
	range_deserialize(typcache, range, &lower, &upper, &empty);
	if (empty)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot convert an empty int4range to segrange"),
				 errdetail("A segment covers at least one leg.")));
	if (lower.infinite || upper.infinite)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot convert an unbounded int4range to segrange"),
				 errdetail("Both stops of a segment must be given.")));

	/* int4range is canonical: inclusive lower, exclusive upper, like us. */
	segrange_check_bounds(DatumGetInt32(lower.val), DatumGetInt32(upper.val));
	seg.lower = DatumGetInt32(lower.val);
	seg.upper = DatumGetInt32(upper.val);
	PG_RETURN_SEGMENT(seg);
}

Datum
segrange_to_int4range(PG_FUNCTION_ARGS)
{
	Segment		seg = PG_GETARG_SEGMENT(0);
	TypeCacheEntry *typcache;
	RangeBound	lower;
	RangeBound	upper;

	typcache = range_get_typcache(fcinfo, INT4RANGEOID);
	lower.val = Int32GetDatum(seg.lower);
	lower.infinite = false;
	lower.inclusive = true;
	lower.lower = true;
	upper.val = Int32GetDatum(seg.upper);
	upper.infinite = false;
	upper.inclusive = false;
	upper.lower = false;
	PG_RETURN_RANGE_P(make_range(typcache, &lower, &upper, false));
}

#define SEGMENT_PREDICATE(fname, expr) \
Datum \
fname(PG_FUNCTION_ARGS) \
{ \
	Segment		a = PG_GETARG_SEGMENT(0); \
	Segment		b = PG_GETARG_SEGMENT(1); \
	PG_RETURN_BOOL(expr); \
}

SEGMENT_PREDICATE(segrange_eq, segment_eq(a, b))
SEGMENT_PREDICATE(segrange_ne, !segment_eq(a, b))
SEGMENT_PREDICATE(segrange_lt, segment_cmp(a, b) < 0)
SEGMENT_PREDICATE(segrange_le, segment_cmp(a, b) <= 0)
SEGMENT_PREDICATE(segrange_gt, segment_cmp(a, b) > 0)
SEGMENT_PREDICATE(segrange_ge, segment_cmp(a, b) >= 0)
SEGMENT_PREDICATE(segrange_overlaps, segment_overlaps(a, b))
SEGMENT_PREDICATE(segrange_contains, segment_contains(a, b))
SEGMENT_PREDICATE(segrange_contained_by, segment_contains(b, a))
SEGMENT_PREDICATE(segrange_left, segment_left_of(a, b))
SEGMENT_PREDICATE(segrange_right, segment_right_of(a, b))
SEGMENT_PREDICATE(segrange_overleft, segment_overleft(a, b))
SEGMENT_PREDICATE(segrange_overright, segment_overright(a, b))
SEGMENT_PREDICATE(segrange_adjacent, segment_adjacent(a, b))

Datum
segrange_contains_stop(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(segment_contains_stop(PG_GETARG_SEGMENT(0),
										 PG_GETARG_INT32(1)));
}

Datum
segrange_stop_contained_by(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(segment_contains_stop(PG_GETARG_SEGMENT(1),
										 PG_GETARG_INT32(0)));
}

Datum
segrange_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(segment_cmp(PG_GETARG_SEGMENT(0), PG_GETARG_SEGMENT(1)));
}

/* Packed segments order exactly like (lower, upper), so compare integers. */
int
segrange_packed_cmp(Datum x, Datum y, SortSupport ssup)
{
	int32		a = DatumGetInt32(x);
	int32		b = DatumGetInt32(y);

	(void) ssup;
	return (a > b) - (a < b);
}

Datum
segrange_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = segrange_packed_cmp;
	PG_RETURN_VOID();
}

Datum
segrange_hash(PG_FUNCTION_ARGS)
{
	return hash_uint32((uint32) PG_GETARG_INT32(0));
}

Datum
segrange_hash_extended(PG_FUNCTION_ARGS)
{
	return hash_uint32_extended((uint32) PG_GETARG_INT32(0),
								PG_GETARG_INT64(1));
}
