/*-------------------------------------------------------------------------
 *
 * segrange_gist.c
 *	  GiST operator class for ticket.segrange.
 *
 * Keys are segments themselves: a leaf key is the indexed value, an
 * internal key is the smallest segment covering every child.  Strategy
 * numbers are core's R-tree ones (access/stratnum.h), the same set that
 * range_ops uses, plus the ordering operators as inet_ops numbers them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/gist.h"
#include "access/stratnum.h"
#include "utils/sortsupport.h"

#include "segrange.h"

PG_FUNCTION_INFO_V1(gsegrange_consistent);
PG_FUNCTION_INFO_V1(gsegrange_union);
PG_FUNCTION_INFO_V1(gsegrange_penalty);
PG_FUNCTION_INFO_V1(gsegrange_picksplit);
PG_FUNCTION_INFO_V1(gsegrange_same);
PG_FUNCTION_INFO_V1(gsegrange_sortsupport);

/* Exact test of an indexed value against the query. */
static bool
leaf_consistent(Segment key, Datum query, StrategyNumber strategy)
{
	Segment		q;

	if (strategy == RTContainsElemStrategyNumber)
		return segment_contains_stop(key, DatumGetInt32(query));

	q = DatumGetSegment(query);
	switch (strategy)
	{
		case RTLeftStrategyNumber:
			return segment_left_of(key, q);
		case RTOverLeftStrategyNumber:
			return segment_overleft(key, q);
		case RTOverlapStrategyNumber:
			return segment_overlaps(key, q);
		case RTOverRightStrategyNumber:
			return segment_overright(key, q);
		case RTRightStrategyNumber:
			return segment_right_of(key, q);
		case RTContainsStrategyNumber:
			return segment_contains(key, q);
		case RTContainedByStrategyNumber:
			return segment_contains(q, key);
		case RTAdjacentStrategyNumber:
			return segment_adjacent(key, q);
		case RTEqualStrategyNumber:
			return segment_eq(key, q);
		case RTNotEqualStrategyNumber:
			return !segment_eq(key, q);
		case RTLessStrategyNumber:
			return segment_cmp(key, q) < 0;
		case RTLessEqualStrategyNumber:
			return segment_cmp(key, q) <= 0;
		case RTGreaterStrategyNumber:
			return segment_cmp(key, q) > 0;
		case RTGreaterEqualStrategyNumber:
			return segment_cmp(key, q) >= 0;
	}
	elog(ERROR, "unrecognized segrange strategy number: %d", strategy);
	return false;
}

/*
 * May some child of an internal key [kl, kh) satisfy the query?  Every child
 * c has kl <= c.lower < c.upper <= kh, so c.upper >= kl + 1 and
 * c.lower <= kh - 1; each test below is the loosest consequence of that.
 */
static bool
internal_consistent(Segment key, Datum query, StrategyNumber strategy)
{
	Segment		q;

	if (strategy == RTContainsElemStrategyNumber)
		return segment_contains_stop(key, DatumGetInt32(query));

	q = DatumGetSegment(query);
	switch (strategy)
	{
		case RTLeftStrategyNumber:
			return key.lower < q.lower;
		case RTOverLeftStrategyNumber:
			return key.lower < q.upper;
		case RTOverlapStrategyNumber:
		case RTContainedByStrategyNumber:
			return segment_overlaps(key, q);
		case RTOverRightStrategyNumber:
			return key.upper > q.lower;
		case RTRightStrategyNumber:
			return key.upper > q.upper;
		case RTContainsStrategyNumber:
		case RTEqualStrategyNumber:
			return segment_contains(key, q);
		case RTAdjacentStrategyNumber:
			return (key.lower < q.lower && q.lower <= key.upper) ||
				(key.lower <= q.upper && q.upper < key.upper);
		case RTNotEqualStrategyNumber:
			/* only a key that admits a single value can be excluded */
			return !(segment_eq(key, q) && segment_legs(key) == 1);
		case RTLessStrategyNumber:
			return key.lower < q.lower ||
				(key.lower == q.lower && key.lower + 1 < q.upper);
		case RTLessEqualStrategyNumber:
			return key.lower <= q.lower;
		case RTGreaterStrategyNumber:
			return key.upper - 1 > q.lower || key.upper > q.upper;
		case RTGreaterEqualStrategyNumber:
			return key.upper > q.lower;
	}
	elog(ERROR, "unrecognized segrange strategy number: %d", strategy);
	return false;
}

Datum
gsegrange_consistent(PG_FUNCTION_ARGS)
{
	GISTENTRY  *entry = (GISTENTRY *) PG_GETARG_POINTER(0);
	Datum		query = PG_GETARG_DATUM(1);
	StrategyNumber strategy = (StrategyNumber) PG_GETARG_UINT16(2);
	bool	   *recheck = (bool *) PG_GETARG_POINTER(4);
	Segment		key = DatumGetSegment(entry->key);

	*recheck = false;
	if (GIST_LEAF(entry))
		PG_RETURN_BOOL(leaf_consistent(key, query, strategy));
	PG_RETURN_BOOL(internal_consistent(key, query, strategy));
}

Datum
gsegrange_union(PG_FUNCTION_ARGS)
{
	GistEntryVector *entryvec = (GistEntryVector *) PG_GETARG_POINTER(0);
	Segment		result = DatumGetSegment(entryvec->vector[0].key);
	int			i;

	for (i = 1; i < entryvec->n; i++)
		result = segment_union(result, DatumGetSegment(entryvec->vector[i].key));
	PG_RETURN_SEGMENT(result);
}

/*
 * Penalty is how many legs the original key must grow by.  Ties (the new
 * value already fits) go to the tighter key, so narrow subtrees stay narrow.
 */
Datum
gsegrange_penalty(PG_FUNCTION_ARGS)
{
	GISTENTRY  *origentry = (GISTENTRY *) PG_GETARG_POINTER(0);
	GISTENTRY  *newentry = (GISTENTRY *) PG_GETARG_POINTER(1);
	float	   *penalty = (float *) PG_GETARG_POINTER(2);
	Segment		orig = DatumGetSegment(origentry->key);
	Segment		merged = segment_union(orig,
									   DatumGetSegment(newentry->key));
	int32		growth = segment_legs(merged) - segment_legs(orig);

	if (growth > 0)
		*penalty = (float) growth + 1.0f;
	else
		*penalty = 1.0f - 1.0f / (float) (segment_legs(orig) + 1);
	PG_RETURN_POINTER(penalty);
}

typedef struct SortItem
{
	Segment		seg;
	OffsetNumber offset;
} SortItem;

/* Order by centre, then by width, so each half is as compact as possible. */
static int
sort_item_cmp(const void *a, const void *b)
{
	const Segment *x = &((const SortItem *) a)->seg;
	const Segment *y = &((const SortItem *) b)->seg;
	int32		cx = x->lower + x->upper;
	int32		cy = y->lower + y->upper;

	if (cx != cy)
		return cx < cy ? -1 : 1;
	return segment_cmp(*x, *y);
}

/* Sort by centre and cut in the middle: both halves non-empty by design. */
Datum
gsegrange_picksplit(PG_FUNCTION_ARGS)
{
	GistEntryVector *entryvec = (GistEntryVector *) PG_GETARG_POINTER(0);
	GIST_SPLITVEC *v = (GIST_SPLITVEC *) PG_GETARG_POINTER(1);
	OffsetNumber maxoff = entryvec->n - 1;
	int			nitems = maxoff - FirstOffsetNumber + 1;
	SortItem   *items = palloc(sizeof(SortItem) * nitems);
	int			half;
	int			i;
	Segment		left;
	Segment		right;

	for (i = 0; i < nitems; i++)
	{
		items[i].offset = FirstOffsetNumber + i;
		items[i].seg = DatumGetSegment(entryvec->vector[FirstOffsetNumber + i].key);
	}
	qsort(items, nitems, sizeof(SortItem), sort_item_cmp);

	half = nitems / 2;
	v->spl_left = palloc(sizeof(OffsetNumber) * nitems);
	v->spl_right = palloc(sizeof(OffsetNumber) * nitems);
	v->spl_nleft = 0;
	v->spl_nright = 0;
	left = items[0].seg;
	right = items[half].seg;
	for (i = 0; i < nitems; i++)
	{
		if (i < half)
		{
			v->spl_left[v->spl_nleft++] = items[i].offset;
			left = segment_union(left, items[i].seg);
		}
		else
		{
			v->spl_right[v->spl_nright++] = items[i].offset;
			right = segment_union(right, items[i].seg);
		}
	}
	v->spl_ldatum = SegmentGetDatum(left);
	v->spl_rdatum = SegmentGetDatum(right);
	pfree(items);
	PG_RETURN_POINTER(v);
}

Datum
gsegrange_same(PG_FUNCTION_ARGS)
{
	Segment		a = PG_GETARG_SEGMENT(0);
	Segment		b = PG_GETARG_SEGMENT(1);
	bool	   *result = (bool *) PG_GETARG_POINTER(2);

	*result = segment_eq(a, b);
	PG_RETURN_POINTER(result);
}

/*
 * Sorted builds: neighbouring values in (lower, upper) order end up on the
 * same page, which is what the penalty function would have chosen too.
 */
Datum
gsegrange_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = segrange_packed_cmp;
	PG_RETURN_VOID();
}
