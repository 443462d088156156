/*
 * fuzz_seatassign.c
 *	  Unit test and fuzzer for batch seat assignment (src/seatassign.h), the
 *	  seating a queue server does for many requests in one transaction.
 *
 *	  make test/fuzz/fuzz_seatassign && ./test/fuzz/fuzz_seatassign [N [SEED]]
 *
 * 1. Hand-written checks of the documented rule: requests in order, each the
 *    best-scoring seat of a matching carriage, ties to the higher class
 *    number, then the earlier carriage; skipped requests get nothing.
 * 2. N (default 20000) random batches: 1..8 carriages of one route
 *    (1..70 legs, so multi-word maps too), random classes, randomly
 *    pre-filled, then 1..60 requests (random journeys, classes, "any" and
 *    "skip").  Each batch is also seated by a reference built on a plain
 *    bool taken[carriage][seat][leg] array that scores every seat itself;
 *    every request's carriage and seat, and every map bit afterwards, must
 *    agree.  Reference and code share nothing but seatmap_init.
 *
 * Prints a summary line and exits non-zero on any failure; a run is fully
 * determined by N and SEED.
 */
#include "seatassign.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_N		20000
#define DEFAULT_SEED	UINT64_C(20261127)
#define MAX_CARRIAGES	8
#define MAX_SEATS		40
#define MAX_LEGS		70
#define MAX_REQUESTS	60

static long failures = 0;
static long checks = 0;
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static int
rng_below(int n)
{
	return n <= 0 ? 0 : (int) (rng_next() % (uint64_t) n);
}

static void
check(int ok, const char *what, long batch, int request)
{
	checks++;
	if (!ok)
	{
		failures++;
		if (failures <= 30)
			fprintf(stderr, "fuzz_seatassign: FAIL batch %ld request %d: %s\n", batch, request, what);
	}
}

/* the reference: bools and the rule written out plainly */
static bool taken[MAX_CARRIAGES][MAX_SEATS][MAX_LEGS];

static void
reference_assign(int n_carriages, int n_seats, int n_legs, const int *cls,
				 const Segment *legs, const int *wanted, int n_requests,
				 int *carriage, int *seat)
{
	for (int i = 0; i < n_requests; i++)
	{
		int			best_c = -1,
					best_s = -1,
					best_score = -1;

		carriage[i] = seat[i] = -1;
		if (wanted[i] == SEATASSIGN_SKIP)
			continue;
		for (int c = 0; c < n_carriages; c++)
		{
			if (wanted[i] != SEATASSIGN_ANY && cls[c] != wanted[i])
				continue;
			for (int s = 0; s < n_seats; s++)
			{
				bool		free_seat = true;
				int			score;

				for (int l = legs[i].lower; l < legs[i].upper; l++)
					free_seat = free_seat && !taken[c][s][l];
				if (!free_seat)
					continue;
				score = (legs[i].lower == 0 || taken[c][s][legs[i].lower - 1])
					+ (legs[i].upper == n_legs || taken[c][s][legs[i].upper]);
				if (score > best_score ||
					(score == best_score && c != best_c && cls[c] > cls[best_c]))
				{
					best_c = c;
					best_s = s;
					best_score = score;
				}
			}
		}
		if (best_c >= 0)
		{
			for (int l = legs[i].lower; l < legs[i].upper; l++)
				taken[best_c][best_s][l] = true;
			carriage[i] = best_c;
			seat[i] = best_s;
		}
	}
}

static Segment
random_journey(int n_legs)
{
	int			a = rng_below(n_legs);
	int			b = a + 1 + rng_below(n_legs - a);

	return (Segment) {a, b};
}

static void
run_batch(long batch, int n_carriages, int n_seats, int n_legs, int n_requests,
		  const int *cls, int fill_percent)
{
	SeatMap    *maps[MAX_CARRIAGES];
	Segment		legs[MAX_REQUESTS];
	int			wanted[MAX_REQUESTS];
	int			got_c[MAX_REQUESTS],
				got_s[MAX_REQUESTS],
				want_c[MAX_REQUESTS],
				want_s[MAX_REQUESTS];

	memset(taken, 0, sizeof(taken));
	for (int c = 0; c < n_carriages; c++)
	{
		maps[c] = malloc(seatmap_size(n_seats, n_legs));
		seatmap_init(maps[c], n_seats, n_legs);
		for (int s = 0; s < n_seats; s++)
			for (int tries = 0; tries < 3; tries++)
			{
				Segment		j = random_journey(n_legs);
				bool		clash = false;

				if (rng_below(100) >= fill_percent)
					continue;
				for (int l = j.lower; l < j.upper; l++)
					clash = clash || taken[c][s][l];
				if (clash)
					continue;
				seatmap_take(maps[c], s, j);
				for (int l = j.lower; l < j.upper; l++)
					taken[c][s][l] = true;
			}
	}
	for (int i = 0; i < n_requests; i++)
	{
		int			kind = rng_below(10);

		legs[i] = random_journey(n_legs);
		wanted[i] = kind == 0 ? SEATASSIGN_SKIP : kind < 4 ? SEATASSIGN_ANY : rng_below(3);
	}

	seatmaps_assign(maps, cls, n_carriages, legs, wanted, n_requests, got_c, got_s);
	reference_assign(n_carriages, n_seats, n_legs, cls, legs, wanted, n_requests, want_c, want_s);

	for (int i = 0; i < n_requests; i++)
	{
		check(got_c[i] == want_c[i] && got_s[i] == want_s[i], "seat differs from the reference", batch, i);
		check((got_c[i] < 0) == (got_s[i] < 0), "carriage and seat disagree on none", batch, i);
	}
	for (int c = 0; c < n_carriages; c++)
	{
		for (int s = 0; s < n_seats; s++)
			for (int l = 0; l < n_legs; l++)
			{
				Segment		one = {l, l + 1};

				if (seatmap_is_taken(maps[c], s, one) != taken[c][s][l])
				{
					check(0, "map bit differs from the reference after the batch", batch, -1);
					goto next_carriage;
				}
			}
		checks++;
next_carriage:
		free(maps[c]);
	}
}

static void
hand_written(void)
{
	/* two second-class (2) carriages and one first-class (1), 3 seats, 4 legs */
	int			cls[3] = {2, 1, 2};
	SeatMap    *maps[3];
	Segment		legs[5] = {{0, 4}, {0, 2}, {2, 4}, {0, 4}, {1, 3}};
	int			wanted[5] = {SEATASSIGN_ANY, 1, SEATASSIGN_ANY, SEATASSIGN_SKIP, 2};
	int			c[5],
				s[5];

	for (int i = 0; i < 3; i++)
	{
		maps[i] = malloc(seatmap_size(3, 4));
		seatmap_init(maps[i], 3, 4);
	}
	/* carriage 2 (index 2) has seat 1 taken on legs [0,2): a perfect fit for [2,4) */
	seatmap_take(maps[2], 1, (Segment) {0, 2});
	seatmaps_assign(maps, cls, 3, legs, wanted, 5, c, s);
	/* whole route, any class: score 2 everywhere; cheaper class, first carriage */
	check(c[0] == 0 && s[0] == 0, "whole route goes to carriage 0 seat 0", 0, 0);
	/* first class only: carriage 1, seat 0 */
	check(c[1] == 1 && s[1] == 0, "first class goes to carriage 1", 0, 1);
	/* [2,4) fits exactly behind the booking in carriage 2 seat 1 (score 2) */
	check(c[2] == 2 && s[2] == 1, "best fit wins over an earlier carriage", 0, 2);
	check(c[3] == -1 && s[3] == -1, "a skipped request gets nothing", 0, 3);
	/* [1,3) in second class: nothing scores 2 or 1; score 0 ties go to carriage 0, seat 1 */
	check(c[4] == 0 && s[4] == 1, "score-0 tie goes to the first carriage and lowest seat", 0, 4);
	for (int i = 0; i < 3; i++)
		free(maps[i]);
}

int
main(int argc, char **argv)
{
	long		n = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_N;
	long		assigned = 0;

	rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : DEFAULT_SEED;
	hand_written();
	printf("fuzz_seatassign: %ld hand-written checks, %ld failures\n", checks, failures);
	for (long b = 1; b <= n; b++)
	{
		int			n_carriages = 1 + rng_below(MAX_CARRIAGES);
		int			cls[MAX_CARRIAGES];

		for (int c = 0; c < n_carriages; c++)
			cls[c] = rng_below(3);
		run_batch(b, n_carriages, 1 + rng_below(MAX_SEATS),
				  rng_below(4) == 0 ? 31 + rng_below(3) : 1 + rng_below(MAX_LEGS),
				  1 + rng_below(MAX_REQUESTS), cls, rng_below(101));
		assigned++;
	}
	printf("fuzz_seatassign: %ld random batches, %ld checks, %ld failures\n", assigned, checks, failures);
	return failures == 0 ? 0 : 1;
}
