/*-------------------------------------------------------------------------
 *
 * segment.h
 *	  Plain C arithmetic on half-open stop intervals [lower, upper).
 *
 * Nothing here depends on the PostgreSQL server, so the parser and the
 * predicates can be unit-tested and fuzzed in a standalone program.  The
 * fmgr wrappers in segrange.c translate the result codes into ereport().
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_SEGMENT_H
#define TICKET_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Stop indexes are 0 .. SEGMENT_MAX_STOP.  Both bounds fit in 15 bits, which
 * lets a segment travel as a single non-negative int32 (see segment_pack):
 * pass-by-value, 4 bytes on disk, and the packed integers sort exactly like
 * (lower, upper) pairs.
 */
#define SEGMENT_MAX_STOP	32767

typedef struct Segment
{
	int32_t		lower;			/* first stop, inclusive */
	int32_t		upper;			/* last stop, exclusive */
} Segment;

typedef enum SegmentStatus
{
	SEGMENT_OK = 0,
	SEGMENT_SYNTAX,				/* malformed text */
	SEGMENT_OUT_OF_RANGE,		/* a bound is negative or above the maximum */
	SEGMENT_EMPTY,				/* lower == upper */
	SEGMENT_REVERSED			/* lower > upper */
} SegmentStatus;

/* Longest canonical text form: "[32766,32767)" plus the terminator. */
#define SEGMENT_TEXT_MAX	16

extern SegmentStatus segment_validate(int64_t lower, int64_t upper);
extern SegmentStatus segment_parse(const char *str, Segment *result,
								   const char **detail);
extern int	segment_format(Segment seg, char *buf, size_t buflen);

static inline int32_t
segment_pack(Segment seg)
{
	return (int32_t) (((uint32_t) seg.lower << 16) | (uint32_t) seg.upper);
}

static inline Segment
segment_unpack(int32_t packed)
{
	Segment		seg;

	seg.lower = (int32_t) (((uint32_t) packed >> 16) & 0x7FFF);
	seg.upper = (int32_t) ((uint32_t) packed & 0xFFFF);
	return seg;
}

static inline int
segment_cmp(Segment a, Segment b)
{
	if (a.lower != b.lower)
		return a.lower < b.lower ? -1 : 1;
	if (a.upper != b.upper)
		return a.upper < b.upper ? -1 : 1;
	return 0;
}

static inline bool
segment_eq(Segment a, Segment b)
{
	return a.lower == b.lower && a.upper == b.upper;
}

static inline bool
segment_overlaps(Segment a, Segment b)
{
	return a.lower < b.upper && b.lower < a.upper;
}

static inline bool
segment_contains(Segment a, Segment b)
{
	return a.lower <= b.lower && b.upper <= a.upper;
}

/* The leg that starts at stop "stop" lies inside a. */
static inline bool
segment_contains_stop(Segment a, int64_t stop)
{
	return a.lower <= stop && stop < a.upper;
}

static inline bool
segment_left_of(Segment a, Segment b)
{
	return a.upper <= b.lower;
}

static inline bool
segment_right_of(Segment a, Segment b)
{
	return a.lower >= b.upper;
}

/* a does not extend to the right of b */
static inline bool
segment_overleft(Segment a, Segment b)
{
	return a.upper <= b.upper;
}

/* a does not extend to the left of b */
static inline bool
segment_overright(Segment a, Segment b)
{
	return a.lower >= b.lower;
}

static inline bool
segment_adjacent(Segment a, Segment b)
{
	return a.upper == b.lower || b.upper == a.lower;
}

static inline int32_t
segment_legs(Segment a)
{
	return a.upper - a.lower;
}

static inline Segment
segment_union(Segment a, Segment b)
{
	Segment		r;

	r.lower = a.lower < b.lower ? a.lower : b.lower;
	r.upper = a.upper > b.upper ? a.upper : b.upper;
	return r;
}

#endif							/* TICKET_SEGMENT_H */
