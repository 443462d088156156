/*
 * fuzz_seatgroup.c
 *	  Unit test and fuzzer for the group seat search (src/seatgroup.h),
 *	  checked against a brute-force reference.
 *
 *	  make test/fuzz/fuzz_seatgroup && ./test/fuzz/fuzz_seatgroup [N [SEED]]
 *
 * 1. Hand-written cases: the documented placements on an empty second-class
 *    row (1 gets D, 2 get D-F, 3 get A-B-C, 4 A-B-C-D, 5 the row), first
 *    class, business, a sleeper compartment (no aisle), the one-side rule
 *    over a fragmented row, the adjacent-row and carriage fallbacks, seat
 *    letters honoured and not, and argument checks.
 * 2. N (default 200000) random searches on random maps (1..30 rows of 1..6
 *    seats, any aisle, 1..40 legs, random bookings) with random journeys,
 *    group sizes and asked positions.  The reference is a plain
 *    bool taken[seat][leg] model, searched exhaustively: it must agree on
 *    whether the group fits, and the answer must be n distinct free seats,
 *    ascending, reporting their true level; the level must be the best any
 *    placement reaches (or, with letters honoured, the best reachable around
 *    a row holding them); letters_ok must be true exactly when some row has
 *    every asked position free, and then the asked seats are in one row;
 *    a one-row group must sit on one side of the aisle whenever some row
 *    lets it.
 *
 * Prints a summary line and exits non-zero on any failure; N and SEED
 * replay a run.
 */
#include "seatgroup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_N		200000
#define DEFAULT_SEED	UINT64_C(20261127)
#define MAX_REPORTS		30
#define MODEL_ROWS		30
#define MODEL_ROW		6
#define MODEL_SEATS		(MODEL_ROWS * MODEL_ROW)
#define MODEL_LEGS		40

static long failures = 0;
static long checks = 0;
static long cur_case = -1;
static uint64_t seed;
static long seen[2][5];			/* [letters_ok][level]; level 0: no fit */

#define CHECK(cond, ...) \
	do { \
		checks++; \
		if (!(cond)) \
		{ \
			if (++failures <= MAX_REPORTS) \
			{ \
				fprintf(stderr, "FAIL [case %ld seed %" PRIu64 "]: ", cur_case, seed); \
				fprintf(stderr, __VA_ARGS__); \
				fprintf(stderr, "\n"); \
			} \
		} \
	} while (0)

static uint64_t rng_state;

static uint64_t
next_random(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static int
rand_below(int n)
{
	return (int) (next_random() % (uint64_t) n);
}

/* The model: taken legs per seat, independent of seatmap.c's bitmaps. */
static bool taken[MODEL_SEATS][MODEL_LEGS];

static bool
model_free(int seat, Segment legs)
{
	int			l;

	for (l = legs.lower; l < legs.upper; l++)
		if (taken[seat][l])
			return false;
	return true;
}

static SeatMap *
new_map(int n_seats, int n_legs)
{
	SeatMap    *map = malloc(seatmap_size(n_seats, n_legs));

	seatmap_init(map, n_seats, n_legs);
	memset(taken, 0, sizeof(taken));
	return map;
}

static void
take(SeatMap *map, int seat, Segment legs)
{
	int			l;

	seatmap_take(map, seat, legs);
	for (l = legs.lower; l < legs.upper; l++)
		taken[seat][l] = true;
}

static int
bits(uint32_t x)
{
	int			n = 0;

	for (; x; x &= x - 1)
		n++;
	return n;
}

static uint32_t
model_row_free(int row, int row_len, Segment legs)
{
	uint32_t	m = 0;
	int			p;

	for (p = 0; p < row_len; p++)
		if (model_free(row * row_len + p, legs))
			m |= (uint32_t) 1 << p;
	return m;
}

static bool
one_side_holds(uint32_t free, int row_len, int aisle, int n)
{
	uint32_t	left;

	if (aisle <= 0 || aisle >= row_len)
		return bits(free) >= n;
	left = ((uint32_t) 1 << aisle) - 1;
	return bits(free & left) >= n || bits(free & ~left) >= n;
}

/* Every property of one answer against the model. */
static void
check_search(const SeatMap *map, int rows, int row_len, int aisle, Segment legs,
			 int n, uint32_t wanted)
{
	uint32_t	free[MODEL_ROWS];
	int			total = 0;
	int			best_level = 3;
	int			letters_level = 4;
	bool		some_side = false;
	SeatGroup	g;
	bool		found;
	int			r;
	int			i;

	for (r = 0; r < rows; r++)
	{
		free[r] = model_row_free(r, row_len, legs);
		total += bits(free[r]);
	}
	for (r = 0; r < rows; r++)
	{
		int			here = bits(free[r]);
		int			up = r > 0 ? bits(free[r - 1]) : 0;
		int			down = r + 1 < rows ? bits(free[r + 1]) : 0;
		int			level;

		if (here >= n)
			best_level = 1;
		else if (r + 1 < rows && here + down >= n && best_level > 2)
			best_level = 2;
		if (here >= n && one_side_holds(free[r], row_len, aisle, n))
			some_side = true;
		if (wanted != 0 && (free[r] & wanted) == wanted)
		{
			level = here >= n ? 1 : here + (up > down ? up : down) >= n ? 2 : 3;
			if (level < letters_level)
				letters_level = level;
		}
	}

	found = seatgroup_place(map, row_len, aisle, legs, n, wanted, &g);
	seen[found && g.letters_ok][found ? g.level : 0]++;
	CHECK(found == (total >= n), "found %d but %d seats free for %d", found, total, n);
	if (!found || total < n)
		return;
	CHECK(g.n == n, "%d seats for a group of %d", g.n, n);
	for (i = 0; i < g.n; i++)
	{
		CHECK(g.seats[i] >= 0 && g.seats[i] < rows * row_len, "seat %d out of the rows", g.seats[i]);
		if (g.seats[i] < 0 || g.seats[i] >= rows * row_len)
			return;
		CHECK(model_free(g.seats[i], legs), "seat %d is taken on [%d,%d)", g.seats[i], legs.lower, legs.upper);
		CHECK(i == 0 || g.seats[i] > g.seats[i - 1], "seats not distinct and ascending");
	}
	CHECK(g.level == seatgroup_level(g.seats, g.n, row_len), "level %d reported, seats say %d",
		  g.level, seatgroup_level(g.seats, g.n, row_len));
	CHECK(g.letters_ok == (letters_level < 4), "letters_ok %d but reference %d", g.letters_ok, letters_level < 4);
	if (g.letters_ok)
	{
		bool		in_one_row = false;

		for (r = 0; r < rows; r++)
		{
			uint32_t	chosen = 0;

			for (i = 0; i < g.n; i++)
				if (g.seats[i] / row_len == r)
					chosen |= (uint32_t) 1 << (g.seats[i] % row_len);
			if ((chosen & wanted) == wanted)
				in_one_row = true;
		}
		CHECK(in_one_row, "letters_ok but the asked seats are not in one row");
		CHECK(g.level == letters_level, "level %d with letters, best around them %d", g.level, letters_level);
	}
	else
	{
		CHECK(g.level == best_level, "level %d, best reachable %d", g.level, best_level);
		if (g.level == 1 && some_side)
		{
			uint32_t	chosen = 0;

			for (i = 0; i < g.n; i++)
				chosen |= (uint32_t) 1 << (g.seats[i] % row_len);
			CHECK(one_side_holds(chosen, row_len, aisle, n) || aisle == 0,
				  "group split across the aisle though a side of a row holds it");
		}
	}
}

/* A search on a map of seats given as a string of '.' free and 'x' taken. */
static bool
place_str(const char *layout, int row_len, int aisle, int n, uint32_t wanted, SeatGroup *g)
{
	int			len = (int) strlen(layout);
	SeatMap    *map = new_map(len, 1);
	Segment		one = {0, 1};
	bool		found;
	int			i;

	for (i = 0; i < len; i++)
		if (layout[i] == 'x')
			take(map, i, one);
	found = seatgroup_place(map, row_len, aisle, one, n, wanted, g);
	free(map);
	return found;
}

static void
expect(const char *layout, int row_len, int aisle, int n, uint32_t wanted,
	   int level, bool letters_ok, const int *seats)
{
	SeatGroup	g;
	int			i;

	cur_case++;
	if (!place_str(layout, row_len, aisle, n, wanted, &g))
	{
		CHECK(seats == NULL, "%s: no placement for %d", layout, n);
		return;
	}
	CHECK(seats != NULL, "%s: a placement for %d where none was expected", layout, n);
	if (seats == NULL)
		return;
	CHECK(g.level == level && g.letters_ok == letters_ok, "%s n=%d: level %d letters %d, expected %d %d",
		  layout, n, g.level, g.letters_ok, level, letters_ok);
	for (i = 0; i < n; i++)
		CHECK(g.seats[i] == seats[i], "%s n=%d: seat %d is %d, expected %d", layout, n, i, g.seats[i], seats[i]);
}

static void
unit_tests(void)
{
	/* second class A B C | D F, three rows */
	const char *empty = "...............";

	expect(empty, 5, 3, 1, 0, 1, false, (int[]) {3});
	expect(empty, 5, 3, 2, 0, 1, false, (int[]) {3, 4});
	expect(empty, 5, 3, 3, 0, 1, false, (int[]) {0, 1, 2});
	expect(empty, 5, 3, 4, 0, 1, false, (int[]) {0, 1, 2, 3});
	expect(empty, 5, 3, 5, 0, 1, false, (int[]) {0, 1, 2, 3, 4});
	/* row 1 has A taken: three go to row 2's A-B-C, not B-C + D */
	expect("x..............", 5, 3, 3, 0, 1, false, (int[]) {5, 6, 7});
	/* every row has A taken: B-C plus D, the nearest across the aisle */
	expect("x....x....x....", 5, 3, 3, 0, 1, false, (int[]) {1, 2, 3});
	/* rows with 2, 1, 2 free: three in rows 1 and 2, four and five over the carriage */
	expect("xxx..xx.xxxxxxx", 5, 3, 3, 0, 2, false, (int[]) {3, 4, 7});
	expect("xxx..xx.xx..xxx", 5, 3, 4, 0, 3, false, (int[]) {3, 4, 7, 10});
	expect("xxx..xx.xx..xxx", 5, 3, 5, 0, 3, false, (int[]) {3, 4, 7, 10, 11});
	expect(".xxxxxxxxxxxxx.", 5, 3, 2, 0, 3, false, (int[]) {0, 14});
	expect(".xxxxxxxxxxxxx.", 5, 3, 3, 0, 0, false, NULL);
	/* letters A and F (positions 0 and 4) */
	expect(empty, 5, 3, 2, 0x11, 1, true, (int[]) {0, 4});
	expect(empty, 5, 3, 3, 0x11, 1, true, (int[]) {0, 1, 4});
	expect("x....x....x....", 5, 3, 2, 0x11, 1, false, (int[]) {1, 2});
	expect("x..............", 5, 3, 2, 0x11, 1, true, (int[]) {5, 9});
	/* first class A C | D F: a pair on the left; business A | C F: C-F */
	expect("........", 4, 2, 2, 0, 1, false, (int[]) {0, 1});
	expect("......", 3, 1, 2, 0, 1, false, (int[]) {1, 2});
	/* a sleeper compartment has no aisle: four in the first compartment */
	expect("............", 6, 0, 4, 0, 1, false, (int[]) {0, 1, 2, 3});

	/* arguments out of range: no placement */
	{
		SeatGroup	g;

		cur_case++;
		CHECK(!place_str(empty, 5, 3, 0, 0, &g), "a group of 0");
		CHECK(!place_str(empty, 5, 3, 6, 0, &g), "a group of 6");
		CHECK(!place_str(empty, 5, 3, 2, 0x20, &g), "a position outside the row");
		CHECK(!place_str(empty, 5, 3, 1, 0x3, &g), "more positions than passengers");
		CHECK(!place_str(empty, 5, 6, 2, 0, &g), "an aisle outside the row");
		CHECK(!place_str(empty, 9, 3, 2, 0, &g), "rows longer than the maximum");
	}
}

int
main(int argc, char **argv)
{
	long		n = argc > 1 ? atol(argv[1]) : DEFAULT_N;
	long		done = 0;

	seed = argc > 2 ? strtoull(argv[2], NULL, 10) : DEFAULT_SEED;
	rng_state = seed ? seed : 1;
	unit_tests();

	while (done < n)
	{
		int			row_len = 1 + rand_below(MODEL_ROW);
		int			rows = 1 + rand_below(MODEL_ROWS);
		int			n_legs = 1 + rand_below(MODEL_LEGS);
		int			aisle = rand_below(row_len + 1);
		int			n_seats = rows * row_len;
		SeatMap    *map = new_map(n_seats, n_legs);
		int			density = rand_below(100);
		int			b;
		int			q;

		/* random bookings that never overlap on a seat, like live tickets */
		for (b = 0; b < n_seats * 2; b++)
		{
			int			seat = rand_below(n_seats);
			int			lo = rand_below(n_legs);
			int			hi = lo + 1 + rand_below(n_legs - lo);
			Segment		legs = {lo, hi};

			if (rand_below(100) < density && model_free(seat, legs))
				take(map, seat, legs);
		}
		for (q = 0; q < 20 && done < n; q++, done++)
		{
			int			lo = rand_below(n_legs);
			int			hi = lo + 1 + rand_below(n_legs - lo);
			Segment		legs = {lo, hi};
			int			group = 1 + rand_below(SEATGROUP_MAX);
			uint32_t	wanted = 0;

			cur_case = done;
			if (rand_below(3) == 0)
			{
				int			k = 1 + rand_below(group < row_len ? group : row_len);

				while (bits(wanted) < k)
					wanted |= (uint32_t) 1 << rand_below(row_len);
			}
			check_search(map, rows, row_len, aisle, legs, group, wanted);
		}
		free(map);
	}
	printf("fuzz_seatgroup: no fit %ld; level 1/2/3: %ld/%ld/%ld, with letters honoured %ld/%ld/%ld\n",
		   seen[0][0], seen[0][1], seen[0][2], seen[0][3], seen[1][1], seen[1][2], seen[1][3]);
	printf("fuzz_seatgroup: %ld searches, %ld checks, %ld failures (seed %" PRIu64 ")\n",
		   n, checks, failures, seed);
	return failures ? 1 : 0;
}
