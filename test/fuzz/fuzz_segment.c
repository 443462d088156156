/*
 * fuzz_segment.c
 *	  Unit test and fuzzer for the server-independent segment code
 *	  (src/segment.h, src/segment.c).
 *
 *	  make test/fuzz/fuzz_segment && ./test/fuzz/fuzz_segment [N [SEED]]
 *
 * 1. A table of hand-written inputs with the exact SegmentStatus expected,
 *    plus segment_validate and segment_format cases.
 * 2. N (default 200000) generated inputs: random bytes, random strings over
 *    the characters segments are made of, and mutations of valid segments.
 *    Each is parsed by segment_parse and by an independent reference parser
 *    written below; they must agree on the status and the value.  Accepted
 *    values must be in range, format canonically and re-parse to themselves;
 *    rejections must come with a detail message.
 * 3. segment_pack / segment_unpack over every valid segment: the round trip
 *    is the identity and packed int32 order is segment_cmp order.
 * 4. The predicates of segment.h against definitions on sets of legs.
 *
 * Prints a summary line and exits non-zero on any failure.
 */
#include "segment.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long failures = 0;

#define MAX_REPORTS 30

static void fail(const char *input, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* Counts a failure; reports the first few, with the input made printable. */
static void
fail(const char *input, const char *fmt,...)
{
	va_list		ap;

	failures++;
	if (failures > MAX_REPORTS)
	{
		if (failures == MAX_REPORTS + 1)
			fprintf(stderr, "FAIL: further failures not shown\n");
		return;
	}
	fprintf(stderr, "FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (input != NULL)
	{
		const unsigned char *p;

		fprintf(stderr, " input=\"");
		for (p = (const unsigned char *) input; *p; p++)
		{
			if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
				fputc(*p, stderr);
			else
				fprintf(stderr, "\\x%02x", *p);
		}
		fprintf(stderr, "\"");
	}
	fprintf(stderr, "\n");
}

static const char *
status_name(SegmentStatus s)
{
	switch (s)
	{
		case SEGMENT_OK:
			return "OK";
		case SEGMENT_SYNTAX:
			return "SYNTAX";
		case SEGMENT_OUT_OF_RANGE:
			return "OUT_OF_RANGE";
		case SEGMENT_EMPTY:
			return "EMPTY";
		case SEGMENT_REVERSED:
			return "REVERSED";
	}
	return "?";
}

/* ------------------------------------------------------------------------
 * Reference parser: an explicit state machine for
 *
 *	 WS* '[' WS* '-'? DIGIT+ WS* ',' WS* '-'? DIGIT+ WS* ')' WS* END
 *
 * with WS one of space \t \n \r \v \f.  Numbers are kept as "magnitude, or
 * too big": more than 5 significant digits or above 32767 is too big.
 * ------------------------------------------------------------------------
 */
typedef struct RefBound
{
	int			negative;
	int			too_big;
	long		magnitude;
} RefBound;

enum
{
	ST_START,					/* before '[' */
	ST_BEFORE_NUM,				/* after '[' or ',', maybe spaces */
	ST_AFTER_SIGN,				/* after '-' */
	ST_IN_NUM,					/* in digits */
	ST_AFTER_NUM,				/* spaces after digits */
	ST_AFTER_CLOSE				/* after ')' */
};

static int
ref_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
		c == '\f';
}

static int
ref_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static SegmentStatus
ref_parse(const char *input, long *lower, long *upper)
{
	const unsigned char *p = (const unsigned char *) input;
	RefBound	b[2];
	int			which = 0;		/* which bound is being read */
	int			state = ST_START;
	int			sig_digits = 0;
	int			i;

	memset(b, 0, sizeof(b));
	for (;; p++)
	{
		unsigned char c = *p;

		switch (state)
		{
			case ST_START:
				if (c == '[')
					state = ST_BEFORE_NUM;
				else if (!ref_space(c))
					return SEGMENT_SYNTAX;
				break;
			case ST_BEFORE_NUM:
				if (c == '-')
				{
					b[which].negative = 1;
					state = ST_AFTER_SIGN;
				}
				else if (ref_digit(c))
				{
					sig_digits = 0;
					p--;		/* reread as a digit */
					state = ST_IN_NUM;
				}
				else if (!ref_space(c))
					return SEGMENT_SYNTAX;
				break;
			case ST_AFTER_SIGN:
				if (!ref_digit(c))
					return SEGMENT_SYNTAX;
				sig_digits = 0;
				p--;
				state = ST_IN_NUM;
				break;
			case ST_IN_NUM:
				if (ref_digit(c))
				{
					if (sig_digits > 0 || c != '0')
						sig_digits++;
					if (sig_digits > 5)
						b[which].too_big = 1;
					else
						b[which].magnitude = b[which].magnitude * 10 + (c - '0');
					break;
				}
				state = ST_AFTER_NUM;
				/* FALLTHROUGH */
			case ST_AFTER_NUM:
				if (ref_space(c))
					break;
				if (which == 0 && c == ',')
				{
					which = 1;
					state = ST_BEFORE_NUM;
				}
				else if (which == 1 && c == ')')
					state = ST_AFTER_CLOSE;
				else
					return SEGMENT_SYNTAX;
				break;
			case ST_AFTER_CLOSE:
				if (c == '\0')
					goto done;
				if (!ref_space(c))
					return SEGMENT_SYNTAX;
				break;
		}
		if (c == '\0')
			return SEGMENT_SYNTAX;	/* ended before the closing ')' */
	}

done:
	for (i = 0; i < 2; i++)
	{
		if (b[i].too_big || b[i].magnitude > SEGMENT_MAX_STOP)
			return SEGMENT_OUT_OF_RANGE;
		if (b[i].negative && b[i].magnitude != 0)
			return SEGMENT_OUT_OF_RANGE;
	}
	*lower = b[0].magnitude;
	*upper = b[1].magnitude;
	if (*lower == *upper)
		return SEGMENT_EMPTY;
	if (*lower > *upper)
		return SEGMENT_REVERSED;
	return SEGMENT_OK;
}

/* ------------------------------------------------------------------------
 * Checks applied to every input, hand-written or generated.
 * ------------------------------------------------------------------------
 */
static long n_accepted = 0;
static long n_rejected = 0;

static void
check_input(const char *input, int use_reference)
{
	Segment		seg = {-7, -7};
	const char *detail = (const char *) 1;	/* must be overwritten */
	SegmentStatus st = segment_parse(input, &seg, &detail);

	if (st == SEGMENT_OK)
	{
		char		buf[SEGMENT_TEXT_MAX];
		char		want[64];
		int			len;
		Segment		again = {-7, -7};
		const char *detail2;

		n_accepted++;
		if (seg.lower < 0 || seg.upper > SEGMENT_MAX_STOP || seg.lower >= seg.upper)
			fail(input, "accepted out-of-range value [%d,%d)", (int) seg.lower, (int) seg.upper);
		len = segment_format(seg, buf, sizeof(buf));
		snprintf(want, sizeof(want), "[%d,%d)", (int) seg.lower, (int) seg.upper);
		if (len != (int) strlen(want) || strcmp(buf, want) != 0)
			fail(input, "segment_format gave \"%s\" for [%d,%d)", buf, (int) seg.lower, (int) seg.upper);
		if (segment_parse(buf, &again, &detail2) != SEGMENT_OK ||
			!segment_eq(again, seg))
			fail(input, "canonical form of [%d,%d) does not re-parse to itself",
				 (int) seg.lower, (int) seg.upper);
		if (segment_validate(seg.lower, seg.upper) != SEGMENT_OK)
			fail(input, "segment_validate rejects accepted [%d,%d)", (int) seg.lower, (int) seg.upper);
	}
	else
	{
		n_rejected++;
		if (st != SEGMENT_SYNTAX && st != SEGMENT_OUT_OF_RANGE &&
			st != SEGMENT_EMPTY && st != SEGMENT_REVERSED)
			fail(input, "unknown status %d", (int) st);
		if (detail == NULL || detail == (const char *) 1 || detail[0] == '\0')
			fail(input, "rejection (%s) without a detail message", status_name(st));
	}

	if (use_reference)
	{
		long		rl = -1;
		long		ru = -1;
		SegmentStatus rst = ref_parse(input, &rl, &ru);

		if (rst != st)
			fail(input, "segment_parse says %s, the reference parser says %s",
				 status_name(st), status_name(rst));
		else if (st == SEGMENT_OK && (rl != seg.lower || ru != seg.upper))
			fail(input, "segment_parse gave [%d,%d), the reference parser [%ld,%ld)",
				 (int) seg.lower, (int) seg.upper, rl, ru);
	}
}

/* ------------------------------------------------------------------------
 * 1. Hand-written cases.
 * ------------------------------------------------------------------------
 */
typedef struct Case
{
	const char *input;
	SegmentStatus status;
	int			lower;
	int			upper;
} Case;

static const Case cases[] = {
	/* valid */
	{"[2,5)", SEGMENT_OK, 2, 5},
	{"[0,1)", SEGMENT_OK, 0, 1},
	{"[0,32767)", SEGMENT_OK, 0, 32767},
	{"[32766,32767)", SEGMENT_OK, 32766, 32767},
	{"  [2,5)  ", SEGMENT_OK, 2, 5},
	{"\t\n\r\v\f[2,5)\f\v\r\n\t", SEGMENT_OK, 2, 5},
	{"[ 2 , 5 )", SEGMENT_OK, 2, 5},
	{"[\t2\t,\n5\n)", SEGMENT_OK, 2, 5},
	{" [ 12 ,\t345 ) ", SEGMENT_OK, 12, 345},
	{"[002,005)", SEGMENT_OK, 2, 5},
	{"[0000000000000000000000000001,00000000000000000000000032767)", SEGMENT_OK, 1, 32767},
	{"[00,01)", SEGMENT_OK, 0, 1},
	{"[-0,1)", SEGMENT_OK, 0, 1},	/* minus zero is zero, as for int4 */
	{"[-00000,1)", SEGMENT_OK, 0, 1},
	{"[1,2)", SEGMENT_OK, 1, 2},
	/* wrong order or empty */
	{"[5,2)", SEGMENT_REVERSED, 0, 0},
	{"[32767,0)", SEGMENT_REVERSED, 0, 0},
	{"[3,3)", SEGMENT_EMPTY, 0, 0},
	{"[0,0)", SEGMENT_EMPTY, 0, 0},
	{"[32767,32767)", SEGMENT_EMPTY, 0, 0},
	{"[-0,0)", SEGMENT_EMPTY, 0, 0},
	/* out of range: wins over reversed and empty */
	{"[-1,3)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[3,-1)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[32767,32768)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[0,32768)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[32768,32768)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[32768,1)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[1,99999999999999999999)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[99999999999999999999,1)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[-99999999999999999999,1)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[1,18446744073709551617)", SEGMENT_OUT_OF_RANGE, 0, 0},	/* 2^64 + 1 */
	{"[4294967297,4294967298)", SEGMENT_OUT_OF_RANGE, 0, 0},	/* 2^32 + 1 */
	{"[65537,65538)", SEGMENT_OUT_OF_RANGE, 0, 0},	/* [1,2) if packed unchecked */
	{"[2147483647,2147483648)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[-2147483648,5)", SEGMENT_OUT_OF_RANGE, 0, 0},
	{"[100000,2)", SEGMENT_OUT_OF_RANGE, 0, 0},
	/* syntax */
	{"", SEGMENT_SYNTAX, 0, 0},
	{"   ", SEGMENT_SYNTAX, 0, 0},
	{"\t\n", SEGMENT_SYNTAX, 0, 0},
	{"empty", SEGMENT_SYNTAX, 0, 0},
	{"(1,2]", SEGMENT_SYNTAX, 0, 0},
	{"(1,2)", SEGMENT_SYNTAX, 0, 0},
	{"[1,2]", SEGMENT_SYNTAX, 0, 0},
	{"[1,2", SEGMENT_SYNTAX, 0, 0},
	{"[1,2 ", SEGMENT_SYNTAX, 0, 0},
	{"[1,", SEGMENT_SYNTAX, 0, 0},
	{"[1", SEGMENT_SYNTAX, 0, 0},
	{"[", SEGMENT_SYNTAX, 0, 0},
	{")", SEGMENT_SYNTAX, 0, 0},
	{"[1,2)x", SEGMENT_SYNTAX, 0, 0},
	{"[1,2) x", SEGMENT_SYNTAX, 0, 0},
	{"[1,2))", SEGMENT_SYNTAX, 0, 0},
	{"[1,2) [3,4)", SEGMENT_SYNTAX, 0, 0},
	{"x[1,2)", SEGMENT_SYNTAX, 0, 0},
	{"[[1,2)", SEGMENT_SYNTAX, 0, 0},
	{"[a,2)", SEGMENT_SYNTAX, 0, 0},
	{"[1,b)", SEGMENT_SYNTAX, 0, 0},
	{"[1;2)", SEGMENT_SYNTAX, 0, 0},
	{"[1 2)", SEGMENT_SYNTAX, 0, 0},
	{"[1,,2)", SEGMENT_SYNTAX, 0, 0},
	{"[1,2,3)", SEGMENT_SYNTAX, 0, 0},
	{"[,2)", SEGMENT_SYNTAX, 0, 0},
	{"[1,)", SEGMENT_SYNTAX, 0, 0},
	{"[,)", SEGMENT_SYNTAX, 0, 0},
	{"[)", SEGMENT_SYNTAX, 0, 0},
	{"[+1,2)", SEGMENT_SYNTAX, 0, 0},
	{"[--1,2)", SEGMENT_SYNTAX, 0, 0},
	{"[- 1,2)", SEGMENT_SYNTAX, 0, 0},
	{"[-,2)", SEGMENT_SYNTAX, 0, 0},
	{"[1-2,3)", SEGMENT_SYNTAX, 0, 0},
	{"[1 1,3)", SEGMENT_SYNTAX, 0, 0},
	{"[0x1,2)", SEGMENT_SYNTAX, 0, 0},
	{"[1.5,2)", SEGMENT_SYNTAX, 0, 0},
	{"[1e2,300)", SEGMENT_SYNTAX, 0, 0},
	{"[\"1\",2)", SEGMENT_SYNTAX, 0, 0},
	{"[1,2)\x01", SEGMENT_SYNTAX, 0, 0},
	{"[\xef\xbc\x91,2)", SEGMENT_SYNTAX, 0, 0},	/* fullwidth digit one */
	{"\xc2\xa0[1,2)", SEGMENT_SYNTAX, 0, 0},	/* no-break space */
	/* syntax errors are found before range checks */
	{"[99999999999999999999,1", SEGMENT_SYNTAX, 0, 0},
	{"[-1,-1]", SEGMENT_SYNTAX, 0, 0},
	{"(5,2)", SEGMENT_SYNTAX, 0, 0},
};

static void
test_cases(void)
{
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const Case *c = &cases[i];
		Segment		seg = {-7, -7};
		const char *detail = NULL;
		SegmentStatus st = segment_parse(c->input, &seg, &detail);

		if (st != c->status)
			fail(c->input, "case %zu: expected %s, got %s", i,
				 status_name(c->status), status_name(st));
		else if (st == SEGMENT_OK && (seg.lower != c->lower || seg.upper != c->upper))
			fail(c->input, "case %zu: wrong value [%d,%d)", i, (int) seg.lower, (int) seg.upper);
		check_input(c->input, 1);
	}
}

static void
test_validate(void)
{
	static const struct
	{
		int64_t		lower;
		int64_t		upper;
		SegmentStatus status;
	}			v[] = {
		{0, 1, SEGMENT_OK},
		{0, 32767, SEGMENT_OK},
		{32766, 32767, SEGMENT_OK},
		{2, 5, SEGMENT_OK},
		{0, 0, SEGMENT_EMPTY},
		{32767, 32767, SEGMENT_EMPTY},
		{5, 2, SEGMENT_REVERSED},
		{32767, 0, SEGMENT_REVERSED},
		{-1, 3, SEGMENT_OUT_OF_RANGE},
		{3, -1, SEGMENT_OUT_OF_RANGE},
		{-1, -1, SEGMENT_OUT_OF_RANGE},
		{0, 32768, SEGMENT_OUT_OF_RANGE},
		{32768, 32768, SEGMENT_OUT_OF_RANGE},
		{40000, 2, SEGMENT_OUT_OF_RANGE},
		{65537, 65538, SEGMENT_OUT_OF_RANGE},
		{INT32_MIN, INT32_MAX, SEGMENT_OUT_OF_RANGE},
		{INT64_MIN, INT64_MAX, SEGMENT_OUT_OF_RANGE},
		{INT64_MAX, INT64_MIN, SEGMENT_OUT_OF_RANGE},
		{(int64_t) 1 << 32, ((int64_t) 1 << 32) + 1, SEGMENT_OUT_OF_RANGE},
	};
	size_t		i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
	{
		SegmentStatus st = segment_validate(v[i].lower, v[i].upper);

		if (st != v[i].status)
			fail(NULL, "segment_validate(%" PRId64 ", %" PRId64 ") gave %s, expected %s",
				 v[i].lower, v[i].upper, status_name(st), status_name(v[i].status));
	}
}

static void
test_format(void)
{
	static const Segment segs[] = {{0, 1}, {2, 5}, {32766, 32767}, {0, 32767}, {12345, 23456}};
	size_t		i;

	for (i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
	{
		char		buf[SEGMENT_TEXT_MAX];
		char		want[64];
		char		small[6];
		int			len;
		int			wantlen;

		wantlen = snprintf(want, sizeof(want), "[%d,%d)", (int) segs[i].lower, (int) segs[i].upper);
		len = segment_format(segs[i], buf, sizeof(buf));
		if (len != wantlen || strcmp(buf, want) != 0)
			fail(buf, "segment_format [%d,%d) returned %d", (int) segs[i].lower, (int) segs[i].upper, len);
		if (wantlen >= SEGMENT_TEXT_MAX)
			fail(want, "SEGMENT_TEXT_MAX too small");
		/* snprintf semantics: full length returned, output cut and terminated */
		memset(small, 'Z', sizeof(small));
		len = segment_format(segs[i], small, sizeof(small));
		if (len != wantlen || small[sizeof(small) - 1] != '\0' ||
			strncmp(small, want, sizeof(small) - 1) != 0)
			fail(want, "segment_format into a %zu-byte buffer returned %d", sizeof(small), len);
	}
	/* the longest possible text fits, with its terminator */
	{
		Segment		longest = {32766, 32767};
		char		buf[SEGMENT_TEXT_MAX];

		if (segment_format(longest, buf, sizeof(buf)) + 1 > SEGMENT_TEXT_MAX)
			fail(NULL, "longest text does not fit SEGMENT_TEXT_MAX");
	}
}

/* ------------------------------------------------------------------------
 * 2. Generated inputs.
 * ------------------------------------------------------------------------
 */
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	/* splitmix64 */
	uint64_t	z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static uint32_t
rng_below(uint32_t n)
{
	return (uint32_t) (rng_next() % n);
}

static const char alphabet[] = "[](), -0123456789 \t";
static const char spaces[] = " \t\n\r\v\f";

#define BUF_MAX 160

/* A bound as text: mostly near the interesting edges, sometimes wild. */
static void
append_bound(char *buf, size_t *len)
{
	long		v;
	int			zeros;
	char		tmp[64];
	int			n;

	switch (rng_below(8))
	{
		case 0:
			v = rng_below(3);
			break;
		case 1:
			v = SEGMENT_MAX_STOP - 2 + (long) rng_below(4);	/* 32765..32768 */
			break;
		case 2:
			v = -(long) rng_below(3);
			break;
		case 3:
			v = (long) rng_below(100000);
			break;
		case 4:
			v = 65536 + (long) rng_below(4);	/* wraps in 16 bits */
			break;
		default:
			v = (long) rng_below(SEGMENT_MAX_STOP + 1);
			break;
	}
	if (v < 0 && *len < BUF_MAX - 1)
	{
		buf[(*len)++] = '-';
		v = -v;
	}
	zeros = rng_below(6) == 0 ? (int) rng_below(25) : 0;
	while (zeros-- > 0 && *len < BUF_MAX - 1)
		buf[(*len)++] = '0';
	if (rng_below(40) == 0)
	{
		/* a huge number */
		int			digits = 6 + (int) rng_below(30);

		while (digits-- > 0 && *len < BUF_MAX - 1)
			buf[(*len)++] = (char) ('0' + rng_below(10));
		return;
	}
	n = snprintf(tmp, sizeof(tmp), "%ld", v);
	if (*len + (size_t) n < BUF_MAX - 1)
	{
		memcpy(buf + *len, tmp, (size_t) n);
		*len += (size_t) n;
	}
}

static void
append_spaces(char *buf, size_t *len)
{
	int			n = rng_below(3) == 0 ? (int) rng_below(3) + 1 : 0;

	while (n-- > 0 && *len < BUF_MAX - 1)
		buf[(*len)++] = spaces[rng_below(sizeof(spaces) - 1)];
}

/* A well-formed "[lower,upper)", possibly decorated with white space. */
static size_t
make_segment_text(char *buf)
{
	size_t		len = 0;

	append_spaces(buf, &len);
	buf[len++] = '[';
	append_spaces(buf, &len);
	append_bound(buf, &len);
	append_spaces(buf, &len);
	buf[len++] = ',';
	append_spaces(buf, &len);
	append_bound(buf, &len);
	append_spaces(buf, &len);
	buf[len++] = ')';
	append_spaces(buf, &len);
	buf[len] = '\0';
	return len;
}

static char
random_char(void)
{
	if (rng_below(4) == 0)
		return (char) (1 + rng_below(255));	/* any byte but NUL */
	return alphabet[rng_below(sizeof(alphabet) - 1)];
}

static void
mutate(char *buf, size_t *len)
{
	int			rounds = 1 + (int) rng_below(4);

	while (rounds-- > 0)
	{
		size_t		pos = *len > 0 ? rng_below((uint32_t) *len + 1) : 0;

		switch (rng_below(7))
		{
			case 0:				/* insert */
				if (*len < BUF_MAX - 1)
				{
					memmove(buf + pos + 1, buf + pos, *len - pos + 1);
					buf[pos] = random_char();
					(*len)++;
				}
				break;
			case 1:				/* delete */
				if (pos < *len)
				{
					memmove(buf + pos, buf + pos + 1, *len - pos);
					(*len)--;
				}
				break;
			case 2:				/* replace */
				if (pos < *len)
					buf[pos] = random_char();
				break;
			case 3:				/* swap neighbours */
				if (pos + 1 < *len)
				{
					char		t = buf[pos];

					buf[pos] = buf[pos + 1];
					buf[pos + 1] = t;
				}
				break;
			case 4:				/* duplicate a slice */
				if (pos < *len)
				{
					size_t		n = 1 + rng_below((uint32_t) (*len - pos));

					if (*len + n < BUF_MAX)
					{
						memmove(buf + pos + n, buf + pos, *len - pos + 1);
						*len += n;
					}
				}
				break;
			case 5:				/* truncate */
				*len = pos;
				buf[*len] = '\0';
				break;
			case 6:				/* a digit becomes another digit */
				if (pos < *len && ref_digit((unsigned char) buf[pos]))
					buf[pos] = (char) ('0' + rng_below(10));
				break;
		}
		buf[*len] = '\0';
	}
}

static void
fuzz(long n)
{
	char		buf[BUF_MAX + 1];
	long		i;

	for (i = 0; i < n; i++)
	{
		size_t		len = 0;
		uint32_t	kind = rng_below(10);

		if (kind == 0)
		{
			/* random bytes */
			size_t		want = rng_below(24);

			while (len < want)
				buf[len++] = (char) (1 + rng_below(255));
			buf[len] = '\0';
		}
		else if (kind <= 2)
		{
			/* random string over the segment alphabet */
			size_t		want = rng_below(20);

			while (len < want)
				buf[len++] = alphabet[rng_below(sizeof(alphabet) - 1)];
			buf[len] = '\0';
		}
		else if (kind <= 6)
		{
			/* a segment, well formed, maybe out of range or reversed */
			len = make_segment_text(buf);
		}
		else
		{
			/* a mutated segment */
			len = make_segment_text(buf);
			mutate(buf, &len);
		}
		check_input(buf, 1);
	}
}

/* ------------------------------------------------------------------------
 * 3. Packing, over every valid segment.
 * ------------------------------------------------------------------------
 */
static long
test_packing(void)
{
	int32_t		lower;
	int32_t		upper;
	int32_t		prev = -1;
	Segment		prevseg = {0, 0};
	long		count = 0;
	long		i;

	/*
	 * Segments are visited in (lower, upper) order, which is segment_cmp
	 * order; the packed integers must rise strictly along the way, so their
	 * order is exactly segment_cmp order.
	 */
	for (lower = 0; lower < SEGMENT_MAX_STOP; lower++)
	{
		for (upper = lower + 1; upper <= SEGMENT_MAX_STOP; upper++)
		{
			Segment		s = {lower, upper};
			int32_t		packed = segment_pack(s);
			Segment		back = segment_unpack(packed);

			if (back.lower != lower || back.upper != upper)
				fail(NULL, "pack/unpack round trip broken for [%d,%d)", (int) lower, (int) upper);
			if (packed <= prev)
				fail(NULL, "packed order differs from segment_cmp at [%d,%d)", (int) lower, (int) upper);
			if (count > 0 && segment_cmp(prevseg, s) >= 0)
				fail(NULL, "segment_cmp does not order [%d,%d) after its predecessor",
					 (int) lower, (int) upper);
			prev = packed;
			prevseg = s;
			count++;
		}
	}

	/* random pairs: sign of the packed difference equals segment_cmp */
	for (i = 0; i < 2000000; i++)
	{
		Segment		a;
		Segment		b;
		int32_t		pa;
		int32_t		pb;
		int			want;

		a.lower = (int32_t) rng_below(SEGMENT_MAX_STOP);
		a.upper = a.lower + 1 + (int32_t) rng_below((uint32_t) (SEGMENT_MAX_STOP - a.lower));
		if (rng_below(4) == 0)
			b.lower = a.lower;	/* same lower: the upper decides */
		else
			b.lower = (int32_t) rng_below(SEGMENT_MAX_STOP);
		b.upper = b.lower + 1 + (int32_t) rng_below((uint32_t) (SEGMENT_MAX_STOP - b.lower));
		pa = segment_pack(a);
		pb = segment_pack(b);
		want = segment_cmp(a, b);
		if (((pa > pb) - (pa < pb)) != want)
			fail(NULL, "packed comparison differs from segment_cmp for [%d,%d) vs [%d,%d)",
				 (int) a.lower, (int) a.upper, (int) b.lower, (int) b.upper);
		if ((want == 0) != segment_eq(a, b) || segment_cmp(b, a) != -want)
			fail(NULL, "segment_cmp inconsistent for [%d,%d) vs [%d,%d)",
				 (int) a.lower, (int) a.upper, (int) b.lower, (int) b.upper);
	}
	return count;
}

/* ------------------------------------------------------------------------
 * 4. Predicates, against definitions on the set of legs a segment covers
 *	  (leg i is the stretch from stop i to stop i + 1).
 * ------------------------------------------------------------------------
 */
#define SMALL_MAX 40

static uint64_t
legs_mask(Segment s)
{
	uint64_t	m = 0;
	int			i;

	for (i = s.lower; i < s.upper; i++)
		m |= UINT64_C(1) << i;
	return m;
}

static int
first_leg(uint64_t m)
{
	return __builtin_ctzll(m);
}

static int
last_leg(uint64_t m)
{
	return 63 - __builtin_clzll(m);
}

static int
contiguous(uint64_t m)
{
	/* the set bits form one run */
	uint64_t	shifted = m >> first_leg(m);

	return (shifted & (shifted + 1)) == 0;
}

static Segment
random_segment(void)
{
	Segment		s;

	s.lower = (int32_t) rng_below(SEGMENT_MAX_STOP);
	if (rng_below(2) == 0)		/* short */
		s.upper = s.lower + 1 + (int32_t) rng_below(3);
	else
		s.upper = s.lower + 1 + (int32_t) rng_below((uint32_t) (SEGMENT_MAX_STOP - s.lower));
	if (s.upper > SEGMENT_MAX_STOP)
		s.upper = SEGMENT_MAX_STOP;
	return s;
}

#define CHECK_PAIR(got, want) \
	do { \
		if ((got) != (want)) \
			fail(NULL, "%s is %d for [%d,%d) and [%d,%d)", #got, (int) (got), \
				 (int) a.lower, (int) a.upper, (int) b.lower, (int) b.upper); \
	} while (0)

static long
test_predicates(void)
{
	Segment		a;
	Segment		b;
	long		pairs = 0;
	long		i;

	for (a.lower = 0; a.lower < SMALL_MAX; a.lower++)
	for (a.upper = a.lower + 1; a.upper <= SMALL_MAX; a.upper++)
	{
		uint64_t	ma = legs_mask(a);
		int			stop;

		if (segment_legs(a) != __builtin_popcountll(ma))
			fail(NULL, "segment_legs([%d,%d))", (int) a.lower, (int) a.upper);
		for (stop = -2; stop <= SMALL_MAX + 2; stop++)
		{
			int			want = stop >= 0 && stop < 64 && (ma >> stop) & 1;

			if (segment_contains_stop(a, stop) != want)
				fail(NULL, "segment_contains_stop([%d,%d), %d)", (int) a.lower, (int) a.upper, stop);
		}
		if (segment_contains_stop(a, INT64_MIN) || segment_contains_stop(a, INT64_MAX))
			fail(NULL, "segment_contains_stop([%d,%d), INT64_MIN/MAX)", (int) a.lower, (int) a.upper);

		for (b.lower = 0; b.lower < SMALL_MAX; b.lower++)
		for (b.upper = b.lower + 1; b.upper <= SMALL_MAX; b.upper++)
		{
			uint64_t	mb = legs_mask(b);
			uint64_t	both = ma | mb;
			Segment		u = segment_union(a, b);

			pairs++;
			CHECK_PAIR(segment_eq(a, b), ma == mb);
			CHECK_PAIR(segment_overlaps(a, b), (ma & mb) != 0);
			CHECK_PAIR(segment_contains(a, b), (ma & mb) == mb);
			CHECK_PAIR(segment_left_of(a, b), last_leg(ma) < first_leg(mb));
			CHECK_PAIR(segment_right_of(a, b), first_leg(ma) > last_leg(mb));
			CHECK_PAIR(segment_overleft(a, b), last_leg(ma) <= last_leg(mb));
			CHECK_PAIR(segment_overright(a, b), first_leg(ma) >= first_leg(mb));
			CHECK_PAIR(segment_adjacent(a, b), (ma & mb) == 0 && contiguous(both));
			CHECK_PAIR(segment_cmp(a, b) < 0,
					   a.lower < b.lower || (a.lower == b.lower && a.upper < b.upper));
			/* the smallest segment covering both */
			CHECK_PAIR(u.lower == first_leg(both) && u.upper == last_leg(both) + 1, 1);
		}
	}

	/*
	 * The whole range, sampled: the same definitions in terms of the first
	 * and last leg, with b often built from a so that shared bounds and
	 * adjacency are common.
	 */
	for (i = 0; i < 2000000; i++)
	{
		int32_t		fa, la, fb, lb;

		a = random_segment();
		switch (rng_below(6))
		{
			case 0:
				b = a;
				break;
			case 1:				/* same lower */
				b.lower = a.lower;
				b.upper = b.lower + 1 + (int32_t) rng_below((uint32_t) (SEGMENT_MAX_STOP - b.lower));
				break;
			case 2:				/* same upper */
				b.upper = a.upper;
				b.lower = (int32_t) rng_below((uint32_t) b.upper);
				break;
			case 3:				/* b starts where a ends, if it can */
				if (a.upper < SEGMENT_MAX_STOP)
				{
					b.lower = a.upper;
					b.upper = b.lower + 1 + (int32_t) rng_below((uint32_t) (SEGMENT_MAX_STOP - b.lower));
				}
				else
					b = random_segment();
				break;
			default:
				b = random_segment();
				break;
		}
		fa = a.lower;
		la = a.upper - 1;
		fb = b.lower;
		lb = b.upper - 1;
		pairs++;
		CHECK_PAIR(segment_legs(a), la - fa + 1);
		CHECK_PAIR(segment_eq(a, b), fa == fb && la == lb);
		CHECK_PAIR(segment_overlaps(a, b), (fa > fb ? fa : fb) <= (la < lb ? la : lb));
		CHECK_PAIR(segment_contains(a, b), fa <= fb && lb <= la);
		CHECK_PAIR(segment_left_of(a, b), la < fb);
		CHECK_PAIR(segment_right_of(a, b), fa > lb);
		CHECK_PAIR(segment_overleft(a, b), la <= lb);
		CHECK_PAIR(segment_overright(a, b), fa >= fb);
		CHECK_PAIR(segment_adjacent(a, b), la + 1 == fb || lb + 1 == fa);
		CHECK_PAIR(segment_contains_stop(a, fb), fa <= fb && fb <= la);
		CHECK_PAIR(segment_contains_stop(a, lb + 1), fa <= lb + 1 && lb + 1 <= la);
	}
	return pairs;
}

int
main(int argc, char **argv)
{
	long		n = 200000;
	long		packed;
	long		pairs;
	long		table_accepted;
	long		table_rejected;

	if (argc > 1)
		n = strtol(argv[1], NULL, 10);
	rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : UINT64_C(20240601);
	if (n < 0)
	{
		fprintf(stderr, "usage: %s [N [SEED]]\n", argv[0]);
		return 2;
	}

	test_cases();
	test_validate();
	test_format();
	table_accepted = n_accepted;
	table_rejected = n_rejected;
	printf("fuzz_segment: %zu hand-written cases (%ld accepted, %ld rejected)\n",
		   sizeof(cases) / sizeof(cases[0]), table_accepted, table_rejected);

	packed = test_packing();
	printf("fuzz_segment: %ld segments packed and unpacked, order checked\n", packed);
	pairs = test_predicates();
	printf("fuzz_segment: %ld segment pairs checked against definitions on legs\n", pairs);

	n_accepted = n_rejected = 0;
	fuzz(n);
	printf("fuzz_segment: %ld inputs, %ld accepted, %ld rejected, %ld failures\n",
		   n, n_accepted, n_rejected, failures);
	return failures == 0 ? 0 : 1;
}
