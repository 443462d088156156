/*-------------------------------------------------------------------------
 *
 * segment.c
 *	  Parsing, validation and formatting of stop intervals, free of any
 *	  server dependency (see segment.h).
 *
 *-------------------------------------------------------------------------
 */
#include "segment.h"

#include <stdio.h>

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

static const char *
skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

/*
 * Checks the bounds of a would-be segment.  Takes 64-bit arguments so that
 * callers can pass anything they received (int4, int8, parsed text) without
 * truncating it first.
 */
SegmentStatus
segment_validate(int64_t lower, int64_t upper)
{
	if (lower < 0 || upper < 0 ||
		lower > SEGMENT_MAX_STOP || upper > SEGMENT_MAX_STOP)
		return SEGMENT_OUT_OF_RANGE;
	if (lower == upper)
		return SEGMENT_EMPTY;
	if (lower > upper)
		return SEGMENT_REVERSED;
	return SEGMENT_OK;
}

/*
 * Reads an optionally negative decimal integer.  Values far beyond the
 * allowed range saturate instead of overflowing, so "[99999999999999999999,1)"
 * is reported as out of range rather than wrapped into something plausible.
 */
static const char *
parse_bound(const char *p, int64_t *value, const char **detail)
{
	bool		negative = false;
	int64_t		v = 0;
	const char *digits;

	p = skip_space(p);
	if (*p == '-')
	{
		negative = true;
		p++;
	}
	digits = p;
	while (*p >= '0' && *p <= '9')
	{
		if (v <= SEGMENT_MAX_STOP)
			v = v * 10 + (*p - '0');
		p++;
	}
	if (p == digits)
	{
		*detail = "A bound must be a decimal integer.";
		return NULL;
	}
	*value = negative ? -v : v;
	return skip_space(p);
}

SegmentStatus
segment_parse(const char *str, Segment *result, const char **detail)
{
	const char *p = skip_space(str);
	int64_t		lower;
	int64_t		upper;
	SegmentStatus status;

	*detail = NULL;
	if (*p == '\0')
	{
		*detail = "The input is empty; a segment is written like [2,5).";
		return SEGMENT_SYNTAX;
	}
	if (*p != '[')
	{
		*detail = "A segment must start with \"[\": the lower stop is always included.";
		return SEGMENT_SYNTAX;
	}
	p = parse_bound(p + 1, &lower, detail);
	if (p == NULL)
		return SEGMENT_SYNTAX;
	if (*p != ',')
	{
		*detail = "Missing comma after the lower bound.";
		return SEGMENT_SYNTAX;
	}
	p = parse_bound(p + 1, &upper, detail);
	if (p == NULL)
		return SEGMENT_SYNTAX;
	if (*p != ')')
	{
		*detail = "A segment must end with \")\": the upper stop is always excluded.";
		return SEGMENT_SYNTAX;
	}
	p = skip_space(p + 1);
	if (*p != '\0')
	{
		*detail = "Junk after the closing parenthesis.";
		return SEGMENT_SYNTAX;
	}

	status = segment_validate(lower, upper);
	switch (status)
	{
		case SEGMENT_OK:
			result->lower = (int32_t) lower;
			result->upper = (int32_t) upper;
			break;
		case SEGMENT_OUT_OF_RANGE:
			*detail = "Stop indexes must be between 0 and 32767.";
			break;
		case SEGMENT_EMPTY:
			*detail = "The lower and upper stop are equal; a segment covers at least one leg.";
			break;
		case SEGMENT_REVERSED:
			*detail = "The lower stop must come before the upper stop.";
			break;
		case SEGMENT_SYNTAX:
			break;
	}
	return status;
}

/* Writes the canonical form; returns the length as snprintf does. */
int
segment_format(Segment seg, char *buf, size_t buflen)
{
	return snprintf(buf, buflen, "[%d,%d)", (int) seg.lower, (int) seg.upper);
}
