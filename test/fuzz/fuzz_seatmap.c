/*
 * fuzz_seatmap.c
 *	  Unit test and fuzzer for the server-independent seat map code
 *	  (src/seatmap.h, src/seatmap.c, on top of src/segment.h).
 *
 *	  make test/fuzz/fuzz_seatmap && ./test/fuzz/fuzz_seatmap [N [SEED]]
 *
 * 1. Hand-written checks: seatmap_size bounds and exact sizes, seatmap_valid,
 *    seatmap_init, seatmap_fits, take / release / is_free / is_taken on
 *    single-word and multi-word maps with segments crossing word boundaries
 *    (bit for bit, including the documented word layout and the padding bits
 *    after the last leg), the documented rule of seatmap_best, seatmap_count_free
 *    and seatmap_count_free_releasing.
 * 2. N (default 200000) random operations on a sequence of random maps
 *    (1..200 seats, 1..100 legs, word-boundary leg counts favoured), each
 *    checked against a reference model, a plain bool taken[seat][leg] array
 *    plus the list of bookings made.  Bookings never overlap on a seat, like
 *    live tickets.  Operations: take (on a random seat or on the seat
 *    seatmap_best picks), release of a whole booking or of part of it,
 *    seatmap_best, seatmap_count_free, seatmap_count_free_releasing with a
 *    random subset of the bookings (plus duplicated entries, seats out of
 *    range and segments that do not fit, which must be ignored), is_free and
 *    is_taken.  Every result is compared with the model; every few operations
 *    and at the end of each map the whole map is compared bit by bit.
 *
 * Prints a summary line and exits non-zero on any failure.  A run is fully
 * determined by N and SEED: failures name the map and operation number, and
 * rerunning with the same N and SEED replays them.  Under AddressSanitizer a
 * sanitizer error also prints the operation that was running.
 */
#include "seatmap.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_SANITIZER_CALLBACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_SANITIZER_CALLBACK 1
#endif
#endif
#ifdef HAVE_SANITIZER_CALLBACK
#include <dlfcn.h>
#include <sanitizer/common_interface_defs.h>
#endif

#define DEFAULT_N		200000
#define DEFAULT_SEED	UINT64_C(20240615)
#define MAX_REPORTS		30

/* The reference model's limits, which are also the fuzzer's map sizes. */
#define MODEL_SEATS		200
#define MODEL_LEGS		100

/* ------------------------------------------------------------------------
 * Failure reports, with the context needed to replay them.
 * ------------------------------------------------------------------------
 */
static long failures = 0;
static long checks = 0;
static uint64_t seed;
static long n_ops;

static const char *phase = "setup";	/* the unit test or "fuzz" */
static long cur_map = -1;
static long cur_op = -1;
static int	cur_n_seats;
static int	cur_n_legs;
static const char *cur_opname = "";

static void
print_context(FILE *f)
{
	if (cur_map >= 0)
		fprintf(f, "[fuzz N=%ld seed=%" PRIu64 " map #%ld op #%ld: %d seats, %d legs, %s] ",
				n_ops, seed, cur_map, cur_op, cur_n_seats, cur_n_legs, cur_opname);
	else
		fprintf(f, "[unit test %s] ", phase);
}

static void fail(const char *fmt,...) __attribute__((format(printf, 1, 2)));

/* Counts a failure; reports the first few. */
static void
fail(const char *fmt,...)
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
	print_context(stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

#define CHECK(cond, ...) \
	do { \
		checks++; \
		if (!(cond)) \
			fail(__VA_ARGS__); \
	} while (0)

/* Compares two integers; the description names what was computed. */
static void check_eq(long got, long want, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static void
check_eq(long got, long want, const char *fmt,...)
{
	char		what[512];
	va_list		ap;

	checks++;
	if (got == want)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fail("%s: got %ld, expected %ld", what, got, want);
}

#ifdef HAVE_SANITIZER_CALLBACK
static void
on_sanitizer_death(void)
{
	fprintf(stderr, "fuzz_seatmap: sanitizer error while running ");
	print_context(stderr);
	fprintf(stderr, "(%ld failures before it)\n", failures);
}

/*
 * Names the running operation when a sanitizer stops the program.  GCC
 * links UBSan as a runtime of its own, with its own copy of the callback:
 * set that one too when it is loaded.
 */
static void
install_sanitizer_callback(void)
{
	void	   *ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);

	__sanitizer_set_death_callback(on_sanitizer_death);
	if (ubsan != NULL)
	{
		void		(*set_callback) (void (*) (void));

		*(void **) &set_callback = dlsym(ubsan, "__sanitizer_set_death_callback");
		if (set_callback != NULL && set_callback != __sanitizer_set_death_callback)
			set_callback(on_sanitizer_death);
	}
}
#endif

/* ------------------------------------------------------------------------
 * Random numbers: splitmix64, seeded from the command line.
 * ------------------------------------------------------------------------
 */
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

/* ------------------------------------------------------------------------
 * The reference model: taken[seat][leg], and the bookings that made it.
 * ------------------------------------------------------------------------
 */
typedef struct Booking
{
	int			seat;
	Segment		legs;
} Booking;

static bool taken[MODEL_SEATS][MODEL_LEGS];
static int	m_seats;
static int	m_legs;
static Booking bookings[MODEL_SEATS * MODEL_LEGS];
static int	n_bookings;

static Segment
seg(int lower, int upper)
{
	Segment		s;

	s.lower = lower;
	s.upper = upper;
	return s;
}

static void
model_reset(int n_seats, int n_legs)
{
	m_seats = n_seats;
	m_legs = n_legs;
	memset(taken, 0, sizeof(taken));
	n_bookings = 0;
}

static bool
model_fits(Segment legs)
{
	return legs.lower >= 0 && legs.lower < legs.upper && legs.upper <= m_legs;
}

static void
model_set(int seat, Segment legs, bool value)
{
	int			i;

	for (i = legs.lower; i < legs.upper; i++)
		taken[seat][i] = value;
}

static bool
model_is_free(int seat, Segment legs)
{
	int			i;

	for (i = legs.lower; i < legs.upper; i++)
		if (taken[seat][i])
			return false;
	return true;
}

static bool
model_is_taken(int seat, Segment legs)
{
	int			i;

	for (i = legs.lower; i < legs.upper; i++)
		if (!taken[seat][i])
			return false;
	return true;
}

/* The documented rule, by brute force over every seat. */
static int
model_score(int seat, Segment legs)
{
	int			s = 0;

	if (legs.lower == 0 || taken[seat][legs.lower - 1])
		s++;
	if (legs.upper == m_legs || taken[seat][legs.upper])
		s++;
	return s;
}

static int
model_best(Segment legs, int *score)
{
	int			best = -1;
	int			best_score = -1;
	int			seat;

	for (seat = 0; seat < m_seats; seat++)
	{
		int			s;

		if (!model_is_free(seat, legs))
			continue;
		s = model_score(seat, legs);
		if (s > best_score)
		{
			best = seat;
			best_score = s;
		}
	}
	*score = best_score;
	return best;
}

static int
model_count_free(Segment legs)
{
	int			n = 0;
	int			seat;

	for (seat = 0; seat < m_seats; seat++)
		n += model_is_free(seat, legs);
	return n;
}

/*
 * Free seats if the listed bookings were released: a seat counts when each
 * leg of the journey is free or released by one of its entries.  Entries
 * with a seat out of range or a segment that does not fit are ignored.
 */
static int
model_count_free_releasing(Segment legs, const int *seats,
						   const Segment *released, int n)
{
	static bool rel[MODEL_SEATS][MODEL_LEGS];
	int			count = 0;
	int			seat;
	int			i;
	int			leg;

	memset(rel, 0, sizeof(bool) * MODEL_LEGS * (size_t) m_seats);
	for (i = 0; i < n; i++)
	{
		if (seats[i] < 0 || seats[i] >= m_seats || !model_fits(released[i]))
			continue;
		for (leg = released[i].lower; leg < released[i].upper; leg++)
			rel[seats[i]][leg] = true;
	}
	for (seat = 0; seat < m_seats; seat++)
	{
		bool		free = true;

		for (leg = legs.lower; leg < legs.upper; leg++)
			if (taken[seat][leg] && !rel[seat][leg])
				free = false;
		count += free;
	}
	return count;
}

/* A seat's legs as text, leg 0 first: x taken, . free. */
static const char *
model_row(int seat, char *buf)
{
	int			i;

	if (seat < 0 || seat >= m_seats)
		return "(no such seat)";
	for (i = 0; i < m_legs; i++)
		buf[i] = taken[seat][i] ? 'x' : '.';
	buf[m_legs] = '\0';
	return buf;
}

/*
 * The whole map against the model, bit by bit: the header, is_free and
 * is_taken on every single leg, the raw bits in the documented layout, and
 * the padding bits after the last leg, which must stay zero.  Reports the
 * first difference only.
 */
static void compare_matrix(const SeatMap *map, const char *when);

static void
compare_map(const SeatMap *map, const char *when)
{
	int			wps = seatmap_words_per_seat(m_legs);
	int			seat;
	int			leg;

	checks++;
	if (map->n_seats != m_seats || map->n_legs != m_legs)
	{
		fail("%s: header says %d seats, %d legs; expected %d, %d",
			 when, (int) map->n_seats, (int) map->n_legs, m_seats, m_legs);
		return;
	}
	if (!seatmap_valid(map, seatmap_size(m_seats, m_legs)))
	{
		fail("%s: seatmap_valid rejects the map", when);
		return;
	}
	for (seat = 0; seat < m_seats; seat++)
	{
		for (leg = 0; leg < wps * 32; leg++)
		{
			bool		want = leg < m_legs && taken[seat][leg];
			bool		raw = (map->words[seat * wps + leg / 32] >> (leg % 32)) & 1;

			if (raw != want)
			{
				fail("%s: seat %d leg %d: bit %d of word %d is %d, expected %d%s",
					 when, seat, leg, leg % 32, seat * wps + leg / 32, raw, want,
					 leg >= m_legs ? " (padding after the last leg)" : "");
				return;
			}
			if (leg >= m_legs)
				continue;
			if (seatmap_is_free(map, seat, seg(leg, leg + 1)) != !want ||
				seatmap_is_taken(map, seat, seg(leg, leg + 1)) != want)
			{
				fail("%s: seat %d leg %d: is_free %d, is_taken %d, expected the leg %s",
					 when, seat, leg,
					 seatmap_is_free(map, seat, seg(leg, leg + 1)),
					 seatmap_is_taken(map, seat, seg(leg, leg + 1)),
					 want ? "taken" : "free");
				return;
			}
		}
	}
	compare_matrix(map, when);
}

/*
 * The journey matrix against the model: for every [a, b), the seats whose
 * legs a .. b-1 are all free.  Routes up to 64 legs keep this cheap.
 */
static void
compare_matrix(const SeatMap *map, const char *when)
{
	int			n = m_legs;
	int32_t    *counts;
	int			a;
	int			b;

	if (n > 64)
		return;
	counts = calloc((size_t) seatmap_journey_count(n), sizeof(int32_t));
	/* the function adds to what is there: start one entry off zero */
	counts[0] = 7;
	seatmap_add_free_matrix(map, counts);
	counts[0] -= 7;
	for (a = 0; a < n; a++)
		for (b = a + 1; b <= n; b++)
		{
			int			want = 0;
			int			seat;
			int			leg;

			for (seat = 0; seat < m_seats; seat++)
			{
				bool		is_free = true;

				for (leg = a; leg < b && is_free; leg++)
					is_free = !taken[seat][leg];
				want += is_free;
			}
			checks++;
			if (counts[seatmap_journey_index(n, a, b)] != want)
			{
				fail("%s: matrix [%d,%d) says %d free seats, expected %d",
					 when, a, b, (int) counts[seatmap_journey_index(n, a, b)], want);
				free(counts);
				return;
			}
		}
	if (seatmap_journey_index(n, n - 1, n) != seatmap_journey_count(n) - 1)
		fail("%s: the last journey of %d legs is not the last matrix entry", when, n);
	free(counts);
}

/* A map of exactly seatmap_size bytes, so that ASan sees any overrun. */
static SeatMap *
map_new(int n_seats, int n_legs)
{
	size_t		size = seatmap_size(n_seats, n_legs);
	SeatMap    *map;

	if (size == 0)
	{
		fprintf(stderr, "fuzz_seatmap: seatmap_size(%d, %d) is 0\n", n_seats, n_legs);
		exit(1);
	}
	map = malloc(size);
	if (map == NULL)
	{
		perror("malloc");
		exit(2);
	}
	memset(map, 0xA5, size);	/* garbage: init must clear everything */
	seatmap_init(map, n_seats, n_legs);
	return map;
}

/* ------------------------------------------------------------------------
 * 1. Hand-written checks.
 * ------------------------------------------------------------------------
 */
static size_t
expected_size(int n_seats, int n_legs)
{
	return 8 + 4 * (size_t) n_seats * (size_t) ((n_legs + 31) / 32);
}

static void
test_size(void)
{
	static const struct
	{
		int			n_seats;
		int			n_legs;
		size_t		size;
	}			t[] = {
		{0, 1, 0},
		{0, 0, 0},
		{1, 0, 0},
		{-1, 1, 0},
		{1, -1, 0},
		{INT_MIN, 1, 0},
		{1, INT_MIN, 0},
		{INT_MAX, 1, 0},
		{1, INT_MAX, 0},
		{SEATMAP_MAX_SEATS + 1, 1, 0},
		{1, SEGMENT_MAX_STOP + 1, 0},
		{SEATMAP_MAX_SEATS + 1, SEGMENT_MAX_STOP + 1, 0},
		{SEATMAP_MAX_SEATS, 0, 0},
		{0, SEGMENT_MAX_STOP, 0},
		{1, 1, 12},
		{1, 31, 12},
		{1, 32, 12},
		{1, 33, 16},
		{1, 64, 16},
		{1, 65, 20},
		{1, 100, 24},
		{2, 1, 16},
		{3, 100, 56},
		{200, 100, 8 + 200 * 4 * 4},
		{SEATMAP_MAX_SEATS, 1, 8 + 4 * SEATMAP_MAX_SEATS},
		{1, SEGMENT_MAX_STOP, 8 + 4 * 1024},
		{SEATMAP_MAX_SEATS, SEGMENT_MAX_STOP, 8 + 4 * (size_t) SEATMAP_MAX_SEATS * 1024},
	};
	size_t		i;
	int			n_seats;
	int			n_legs;

	phase = "seatmap_size";
	check_eq((long) offsetof(SeatMap, words), 8, "offsetof(SeatMap, words)");
	check_eq(SEATMAP_MAX_SEATS, 1024, "SEATMAP_MAX_SEATS");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		check_eq((long) seatmap_size(t[i].n_seats, t[i].n_legs), (long) t[i].size,
				 "seatmap_size(%d, %d)", t[i].n_seats, t[i].n_legs);
	for (n_seats = 1; n_seats <= 40; n_seats++)
		for (n_legs = 1; n_legs <= 200; n_legs++)
			check_eq((long) seatmap_size(n_seats, n_legs),
					 (long) expected_size(n_seats, n_legs),
					 "seatmap_size(%d, %d)", n_seats, n_legs);

	check_eq(seatmap_words_per_seat(1), 1, "seatmap_words_per_seat(1)");
	check_eq(seatmap_words_per_seat(32), 1, "seatmap_words_per_seat(32)");
	check_eq(seatmap_words_per_seat(33), 2, "seatmap_words_per_seat(33)");
	check_eq(seatmap_words_per_seat(64), 2, "seatmap_words_per_seat(64)");
	check_eq(seatmap_words_per_seat(65), 3, "seatmap_words_per_seat(65)");
	check_eq(seatmap_words_per_seat(SEGMENT_MAX_STOP), 1024,
			 "seatmap_words_per_seat(SEGMENT_MAX_STOP)");
}

static void
test_valid(void)
{
	static const int dims[][2] = {
		{1, 1}, {1, 32}, {1, 33}, {3, 64}, {5, 65}, {7, 100}, {200, 31},
		{SEATMAP_MAX_SEATS, 1}, {2, SEGMENT_MAX_STOP},
	};
	size_t		d;

	phase = "seatmap_valid";
	for (d = 0; d < sizeof(dims) / sizeof(dims[0]); d++)
	{
		int			n_seats = dims[d][0];
		int			n_legs = dims[d][1];
		size_t		size = seatmap_size(n_seats, n_legs);
		SeatMap    *map = malloc(size + 8);	/* room for the longer lengths */

		memset(map, 0, size + 8);
		seatmap_init(map, n_seats, n_legs);
		CHECK(seatmap_valid(map, size), "%d x %d map of %zu bytes rejected", n_seats, n_legs, size);
		CHECK(!seatmap_valid(map, size - 1), "%d x %d map accepted at length %zu", n_seats, n_legs, size - 1);
		CHECK(!seatmap_valid(map, size + 1), "%d x %d map accepted at length %zu", n_seats, n_legs, size + 1);
		CHECK(!seatmap_valid(map, size - 4), "%d x %d map accepted at length %zu", n_seats, n_legs, size - 4);
		CHECK(!seatmap_valid(map, size + 4), "%d x %d map accepted at length %zu", n_seats, n_legs, size + 4);
		CHECK(!seatmap_valid(map, 8), "%d x %d map accepted at length 8", n_seats, n_legs);

		/* header disagrees with the length */
		map->n_seats = n_seats + 1;
		CHECK(!seatmap_valid(map, size), "header %d seats accepted for a %d-seat length", n_seats + 1, n_seats);
		map->n_seats = n_seats - 1;
		CHECK(!seatmap_valid(map, size), "header %d seats accepted for a %d-seat length", n_seats - 1, n_seats);
		map->n_seats = -n_seats;
		CHECK(!seatmap_valid(map, size), "header %d seats accepted", -n_seats);
		map->n_seats = n_seats;
		map->n_legs = n_legs + 32;
		CHECK(!seatmap_valid(map, size), "header %d legs accepted for a %d-leg length", n_legs + 32, n_legs);
		map->n_legs = 0;
		CHECK(!seatmap_valid(map, size), "header 0 legs accepted");
		map->n_legs = -n_legs;
		CHECK(!seatmap_valid(map, size), "header %d legs accepted", -n_legs);
		map->n_legs = n_legs;
		CHECK(seatmap_valid(map, size), "%d x %d map rejected after restoring its header", n_seats, n_legs);
		free(map);
	}

	/* out-of-range headers, whatever the length */
	{
		static const int bad[][2] = {
			{0, 10}, {10, 0}, {-1, 10}, {10, -1}, {SEATMAP_MAX_SEATS + 1, 1},
			{1, SEGMENT_MAX_STOP + 1}, {INT_MAX, INT_MAX}, {INT_MIN, 1},
		};
		size_t		i;
		SeatMap    *map = malloc(64);

		memset(map, 0, 64);
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			size_t		len;

			map->n_seats = bad[i][0];
			map->n_legs = bad[i][1];
			for (len = 0; len <= 64; len++)
				CHECK(!seatmap_valid(map, len), "header (%d seats, %d legs) accepted at length %zu",
					  bad[i][0], bad[i][1], len);
		}
		free(map);
	}

	/* too short for a header: must not read it (ASan checks) */
	{
		size_t		len;

		for (len = 0; len < 8; len++)
		{
			SeatMap    *tiny = malloc(len == 0 ? 1 : len);

			memset(tiny, 0x01, len == 0 ? 1 : len);
			CHECK(!seatmap_valid(tiny, len), "a %zu-byte value accepted", len);
			free(tiny);
		}
	}

	/* dimensions and length agree: 33 and 64 legs use the same words */
	{
		size_t		size = seatmap_size(4, 33);
		SeatMap    *map = malloc(size);

		seatmap_init(map, 4, 33);
		map->n_legs = 64;
		CHECK(seatmap_valid(map, size), "4 x 64 header rejected at the 4 x 33 length, which is the same");
		free(map);
	}
}

static void
test_init(void)
{
	static const int dims[][2] = {{1, 1}, {3, 31}, {3, 32}, {3, 33}, {4, 64}, {4, 65}, {5, 100}};
	size_t		d;

	phase = "seatmap_init";
	for (d = 0; d < sizeof(dims) / sizeof(dims[0]); d++)
	{
		int			n_seats = dims[d][0];
		int			n_legs = dims[d][1];
		SeatMap    *map = map_new(n_seats, n_legs);
		size_t		w;
		size_t		n_words = (seatmap_size(n_seats, n_legs) - 8) / 4;
		int			score = -7;

		check_eq(map->n_seats, n_seats, "n_seats after init");
		check_eq(map->n_legs, n_legs, "n_legs after init");
		for (w = 0; w < n_words; w++)
			check_eq(map->words[w], 0, "word %zu of a new %d x %d map", w, n_seats, n_legs);
		model_reset(n_seats, n_legs);
		compare_map(map, "new map");
		check_eq(seatmap_count_free(map, seg(0, n_legs)), n_seats,
				 "count_free of the whole route on a new %d x %d map", n_seats, n_legs);
		check_eq(seatmap_best(map, seg(0, n_legs), &score), 0, "best of the whole route on a new map");
		check_eq(score, 2, "score of the whole route on a new map");
		free(map);
	}
}

static void
test_fits(void)
{
	static const int legs_counts[] = {1, 31, 32, 33, 64, 65, 100};
	size_t		k;

	phase = "seatmap_fits";
	for (k = 0; k < sizeof(legs_counts) / sizeof(legs_counts[0]); k++)
	{
		int			n = legs_counts[k];
		SeatMap    *map = map_new(2, n);
		int			lower;
		int			upper;

		for (lower = -2; lower <= n + 2; lower++)
			for (upper = -2; upper <= n + 2; upper++)
			{
				bool		want = lower >= 0 && lower < upper && upper <= n;

				CHECK(seatmap_fits(map, seg(lower, upper)) == want,
					  "seatmap_fits([%d,%d)) on %d legs is %d", lower, upper, n,
					  seatmap_fits(map, seg(lower, upper)));
			}
		CHECK(!seatmap_fits(map, seg(INT32_MIN, 1)), "seatmap_fits([INT32_MIN,1))");
		CHECK(!seatmap_fits(map, seg(0, INT32_MAX)), "seatmap_fits([0,INT32_MAX))");
		free(map);
	}
}

/* Segments that matter: word boundaries at 32 and 64, route ends. */
static const int edge_segs[][2] = {
	{0, 1}, {30, 34}, {31, 32}, {32, 33}, {0, 64}, {63, 65}, {0, 32}, {32, 64},
	{1, 31}, {31, 33}, {33, 64}, {64, 65}, {0, 33}, {33, 100}, {95, 96},
	{96, 100}, {1, 99}, {62, 66}, {0, 65}, {0, 100}, {5, 6}, {40, 50},
};

static void
test_take_release(void)
{
	static const int legs_counts[] = {1, 2, 31, 32, 33, 63, 64, 65, 96, 97, 100};
	size_t		k;

	phase = "take/release/is_free/is_taken";
	for (k = 0; k < sizeof(legs_counts) / sizeof(legs_counts[0]); k++)
	{
		int			n = legs_counts[k];
		Segment		segs[sizeof(edge_segs) / sizeof(edge_segs[0]) + 2];
		int			n_segs = 0;
		size_t		e;
		int			a;
		int			b;

		/* the edge segments that fit, plus the whole route and the last leg */
		m_legs = n;
		for (e = 0; e < sizeof(edge_segs) / sizeof(edge_segs[0]); e++)
			if (model_fits(seg(edge_segs[e][0], edge_segs[e][1])))
				segs[n_segs++] = seg(edge_segs[e][0], edge_segs[e][1]);
		segs[n_segs++] = seg(0, n);
		segs[n_segs++] = seg(n - 1, n);

		for (a = 0; a < n_segs; a++)
		{
			Segment		s = segs[a];
			SeatMap    *map = map_new(3, n);
			char		when[128];
			int			score;

			model_reset(3, n);
			seatmap_take(map, 1, s);
			model_set(1, s, true);
			snprintf(when, sizeof(when), "%d legs, after take(1, [%d,%d))", n, s.lower, s.upper);
			compare_map(map, when);

			CHECK(seatmap_is_taken(map, 1, s), "%s: is_taken(1, the segment) false", when);
			CHECK(!seatmap_is_free(map, 1, s), "%s: is_free(1, the segment) true", when);
			CHECK(seatmap_is_free(map, 0, s) && seatmap_is_free(map, 2, s),
				  "%s: the segment is not free on seats 0 and 2", when);
			CHECK(!seatmap_is_taken(map, 0, s) && !seatmap_is_taken(map, 2, s),
				  "%s: the segment is taken on seat 0 or 2", when);
			CHECK(seatmap_is_taken(map, 1, seg(s.lower, s.lower + 1)) &&
				  seatmap_is_taken(map, 1, seg(s.upper - 1, s.upper)),
				  "%s: first or last leg not taken", when);
			check_eq(seatmap_count_free(map, s), 2, "%s: count_free(the segment)", when);
			check_eq(seatmap_count_free(map, seg(0, n)), 2, "%s: count_free(whole route)", when);
			if (s.lower > 0)
			{
				Segment		before = seg(s.lower - 1, s.lower);
				Segment		wider = seg(s.lower - 1, s.upper);

				CHECK(seatmap_is_free(map, 1, before), "%s: leg %d before it not free", when, s.lower - 1);
				CHECK(!seatmap_is_taken(map, 1, before), "%s: leg %d before it taken", when, s.lower - 1);
				CHECK(!seatmap_is_free(map, 1, wider), "%s: [%d,%d) free", when, wider.lower, wider.upper);
				CHECK(!seatmap_is_taken(map, 1, wider), "%s: [%d,%d) wholly taken", when, wider.lower, wider.upper);
				check_eq(seatmap_count_free(map, wider), 2, "%s: count_free([%d,%d))", when, wider.lower, wider.upper);
				/* seat 1 meets a taken leg at the upper end, seat 0 does not */
				check_eq(seatmap_best(map, before, &score), 1, "%s: best([%d,%d))", when, before.lower, before.upper);
				check_eq(score, (before.lower == 0) + 1, "%s: score of best([%d,%d))", when, before.lower, before.upper);
			}
			if (s.upper < n)
			{
				Segment		after = seg(s.upper, s.upper + 1);
				Segment		wider = seg(s.lower, s.upper + 1);

				CHECK(seatmap_is_free(map, 1, after), "%s: leg %d after it not free", when, s.upper);
				CHECK(!seatmap_is_taken(map, 1, after), "%s: leg %d after it taken", when, s.upper);
				CHECK(!seatmap_is_free(map, 1, wider), "%s: [%d,%d) free", when, wider.lower, wider.upper);
				CHECK(!seatmap_is_taken(map, 1, wider), "%s: [%d,%d) wholly taken", when, wider.lower, wider.upper);
				/* seat 1 meets a taken leg at the lower end, seat 0 does not */
				check_eq(seatmap_best(map, after, &score), 1, "%s: best([%d,%d))", when, after.lower, after.upper);
				check_eq(score, 1 + (after.upper == n), "%s: score of best([%d,%d))", when, after.lower, after.upper);
			}

			seatmap_release(map, 1, s);
			model_set(1, s, false);
			snprintf(when, sizeof(when), "%d legs, after take and release of (1, [%d,%d))", n, s.lower, s.upper);
			compare_map(map, when);

			/* two segments on one seat, then the first released */
			for (b = 0; b < n_segs; b++)
			{
				Segment		t = segs[b];

				seatmap_take(map, 2, s);
				seatmap_take(map, 2, t);
				model_set(2, s, true);
				model_set(2, t, true);
				snprintf(when, sizeof(when), "%d legs, take(2, [%d,%d)) and take(2, [%d,%d))",
						 n, s.lower, s.upper, t.lower, t.upper);
				compare_map(map, when);
				seatmap_release(map, 2, s);
				model_set(2, s, false);
				snprintf(when, sizeof(when), "%d legs, take(2, [%d,%d)), take(2, [%d,%d)), release(2, [%d,%d))",
						 n, s.lower, s.upper, t.lower, t.upper, s.lower, s.upper);
				compare_map(map, when);
				seatmap_release(map, 2, t);
				model_set(2, t, false);
			}
			free(map);
		}
	}
}

/* Takes each listed (seat, [lower, upper)) on the map and the model. */
static void
take_all(SeatMap *map, const int (*list)[3], int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		seatmap_take(map, list[i][0], seg(list[i][1], list[i][2]));
		model_set(list[i][0], seg(list[i][1], list[i][2]), true);
	}
}

static void
expect_best(const SeatMap *map, Segment legs, int want_seat, int want_score, const char *what)
{
	int			score = -7;
	int			got = seatmap_best(map, legs, &score);

	check_eq(got, want_seat, "%s: best([%d,%d)) seat", what, legs.lower, legs.upper);
	check_eq(score, want_score, "%s: best([%d,%d)) score", what, legs.lower, legs.upper);
	check_eq(seatmap_best(map, legs, NULL), want_seat, "%s: best([%d,%d)) without a score", what, legs.lower, legs.upper);
}

static void
test_best(void)
{
	phase = "seatmap_best";

	/* 10 legs, 4 seats */
	{
		SeatMap    *map = map_new(4, 10);

		model_reset(4, 10);
		expect_best(map, seg(2, 5), 0, 0, "empty map, inner journey");
		expect_best(map, seg(0, 5), 0, 1, "empty map, from the start");
		expect_best(map, seg(5, 10), 0, 1, "empty map, to the end");
		expect_best(map, seg(0, 10), 0, 2, "empty map, whole route");
		expect_best(map, seg(9, 10), 0, 1, "empty map, last leg");

		/* seat 2 has [0,2), seat 3 has [5,7): both meet [2,5) at one end */
		seatmap_take(map, 2, seg(0, 2));
		seatmap_take(map, 3, seg(5, 7));
		expect_best(map, seg(2, 5), 2, 1, "one end each on seats 2 and 3, tie to the lower");
		expect_best(map, seg(7, 10), 3, 2, "gap on seat 3 up to the end of the route");
		expect_best(map, seg(7, 9), 3, 1, "after a taken leg on seat 3");
		expect_best(map, seg(3, 5), 3, 1, "before a taken leg on seat 3");
		expect_best(map, seg(4, 6), 0, 0, "overlaps seat 3; nobody meets anything");
		expect_best(map, seg(2, 10), 2, 2, "gap on seat 2 from a taken leg to the end");
		expect_best(map, seg(0, 10), 0, 2, "whole route: the lowest empty seat");

		/* seat 1: [0,2) and [5,8), an exact gap [2,5) */
		seatmap_take(map, 1, seg(0, 2));
		seatmap_take(map, 1, seg(5, 8));
		expect_best(map, seg(2, 5), 1, 2, "exact gap on seat 1");
		expect_best(map, seg(3, 5), 1, 1, "seat 1 meets [5,8), lower than seat 3");
		expect_best(map, seg(2, 4), 1, 1, "seat 1 meets [0,2), lower than seat 2");
		expect_best(map, seg(8, 10), 1, 2, "seat 1 from [5,8) to the end");

		/* seat 0 gets an exact gap too: the lowest seat with 2 wins */
		seatmap_take(map, 0, seg(0, 2));
		seatmap_take(map, 0, seg(5, 10));
		expect_best(map, seg(2, 5), 0, 2, "exact gaps on seats 0 and 1");
		expect_best(map, seg(5, 7), 2, 0, "only seat 2 free, it meets nothing");

		/* nothing free */
		seatmap_take(map, 2, seg(3, 4));
		seatmap_take(map, 3, seg(3, 4));
		seatmap_take(map, 1, seg(3, 4));
		seatmap_take(map, 0, seg(3, 4));
		expect_best(map, seg(2, 5), -1, -1, "nothing free");
		expect_best(map, seg(0, 10), -1, -1, "nothing free, whole route");
		expect_best(map, seg(3, 4), -1, -1, "the leg taken everywhere");
		free(map);
	}

	/* 1 leg: the whole route is the only journey, score 2 */
	{
		SeatMap    *map = map_new(3, 1);

		expect_best(map, seg(0, 1), 0, 2, "1 leg");
		seatmap_take(map, 0, seg(0, 1));
		expect_best(map, seg(0, 1), 1, 2, "1 leg, seat 0 taken");
		seatmap_take(map, 1, seg(0, 1));
		seatmap_take(map, 2, seg(0, 1));
		expect_best(map, seg(0, 1), -1, -1, "1 leg, all taken");
		free(map);
	}

	/* across words: 100 legs, the neighbours of the journey in other words */
	{
		static const int list[][3] = {
			{1, 0, 32},				/* seat 1: meets [32,..) at leg 31 */
			{2, 20, 32}, {2, 64, 70},	/* seat 2: exact gap [32,64) */
			{3, 31, 32}, {3, 64, 65},	/* seat 3: exact gap [32,64) too */
			{4, 63, 64},				/* seat 4: meets [..,63) at leg 63 */
			{5, 33, 34},				/* seat 5: leg 33 */
			{6, 96, 100},				/* seat 6: [0,96) to a taken leg */
		};
		SeatMap    *map = map_new(8, 100);

		model_reset(8, 100);
		take_all(map, list, sizeof(list) / sizeof(list[0]));
		compare_map(map, "100-leg map for best");
		expect_best(map, seg(32, 64), 2, 2, "exact gaps across words on seats 2 and 3");
		expect_best(map, seg(32, 63), 1, 1, "seats 1-3 meet leg 31, seat 4 meets leg 63: tie to 1");
		expect_best(map, seg(33, 63), 4, 1, "only seat 4 meets leg 63");
		expect_best(map, seg(34, 63), 4, 1, "seat 5 meets leg 33, seat 4 meets leg 63: tie to 4");
		expect_best(map, seg(34, 40), 5, 1, "seat 5 meets leg 33");
		expect_best(map, seg(32, 33), 1, 1, "one leg after leg 31");
		expect_best(map, seg(64, 96), 4, 1, "seat 4 meets leg 63, seat 6 meets leg 96: tie to 4");
		expect_best(map, seg(70, 96), 2, 1, "seat 2 meets leg 69");
		expect_best(map, seg(65, 96), 3, 1, "seat 3 meets leg 64, seat 6 leg 96: tie to 3");
		expect_best(map, seg(66, 96), 6, 1, "seat 6 meets leg 96");
		expect_best(map, seg(0, 96), 6, 2, "seat 6 from the start to leg 96");
		expect_best(map, seg(0, 100), 0, 2, "whole route");
		free(map);
	}

	/* 65 legs: the end of the route in a word of its own */
	{
		SeatMap    *map = map_new(3, 65);

		seatmap_take(map, 0, seg(0, 64));
		seatmap_take(map, 1, seg(0, 63));
		expect_best(map, seg(64, 65), 0, 2, "last leg of 65 after a taken leg 63");
		expect_best(map, seg(63, 65), 1, 2, "[63,65) after a taken leg 62");
		expect_best(map, seg(32, 65), 2, 1, "[32,65) only on seat 2");
		free(map);
	}
}

static void
test_count_free(void)
{
	SeatMap    *map;
	SeatMap    *copy;
	size_t		size;
	int			seats[16];
	Segment		rel[16];

	phase = "seatmap_count_free";
	map = map_new(4, 10);
	model_reset(4, 10);
	check_eq(seatmap_count_free(map, seg(0, 10)), 4, "empty 4 x 10 map");
	seatmap_take(map, 1, seg(2, 5));
	seatmap_take(map, 2, seg(0, 3));
	seatmap_take(map, 2, seg(6, 8));
	seatmap_take(map, 3, seg(4, 6));
	check_eq(seatmap_count_free(map, seg(2, 6)), 1, "[2,6)");
	check_eq(seatmap_count_free(map, seg(0, 10)), 1, "[0,10)");
	check_eq(seatmap_count_free(map, seg(8, 10)), 4, "[8,10)");
	check_eq(seatmap_count_free(map, seg(3, 4)), 3, "[3,4)");
	check_eq(seatmap_count_free(map, seg(5, 6)), 3, "[5,6)");

	phase = "seatmap_count_free_releasing";
	size = seatmap_size(4, 10);
	copy = malloc(size);
	memcpy(copy, map, size);

#define RELEASING(want, legs, what, ...) \
	do { \
		int			seats_[] = {__VA_ARGS__}; \
		int			n_ = (int) (sizeof(seats_) / sizeof(seats_[0])) / 3; \
		int			i_; \
		for (i_ = 0; i_ < n_; i_++) \
		{ \
			seats[i_] = seats_[3 * i_]; \
			rel[i_] = seg(seats_[3 * i_ + 1], seats_[3 * i_ + 2]); \
		} \
		check_eq(seatmap_count_free_releasing(map, legs, seats, rel, n_), want, \
				 "count_free_releasing([%d,%d)) %s", (legs).lower, (legs).upper, what); \
	} while (0)

	check_eq(seatmap_count_free_releasing(map, seg(2, 6), seats, rel, 0), 1, "no releases");
	RELEASING(2, seg(2, 6), "releasing seat 1's booking", 1, 2, 5);
	RELEASING(2, seg(2, 6), "seat 1 listed twice", 1, 2, 5, 1, 2, 5);
	RELEASING(1, seg(2, 6), "half of seat 1's booking", 1, 2, 3);
	RELEASING(2, seg(2, 6), "seat 1's booking in two pieces", 1, 2, 3, 1, 3, 5);
	RELEASING(2, seg(2, 6), "seat 2's first booking", 2, 0, 3);
	RELEASING(1, seg(0, 10), "seat 2's first booking, whole route", 2, 0, 3);
	RELEASING(2, seg(0, 10), "both of seat 2's bookings", 2, 0, 3, 2, 6, 8);
	RELEASING(2, seg(0, 10), "both of seat 2's bookings, apart", 2, 6, 8, 3, 4, 5, 2, 0, 3);
	RELEASING(3, seg(0, 10), "seats 1 and 2", 2, 6, 8, 1, 2, 5, 2, 0, 3);
	RELEASING(4, seg(2, 6), "everything", 1, 2, 5, 2, 0, 3, 2, 6, 8, 3, 4, 6);
	RELEASING(4, seg(2, 6), "everything, twice", 1, 2, 5, 2, 0, 3, 2, 6, 8, 3, 4, 6,
			  3, 4, 6, 2, 6, 8, 2, 0, 3, 1, 2, 5);
	RELEASING(1, seg(2, 6), "seat 0, which is free already", 0, 2, 6);
	RELEASING(2, seg(2, 6), "seat 0 and seat 3", 0, 2, 6, 3, 4, 6);
	RELEASING(1, seg(2, 6), "seats out of range", -1, 2, 5, 4, 2, 5, 1000, 2, 5,
			  INT_MIN, 0, 10, INT_MAX, 0, 10);
	RELEASING(2, seg(2, 6), "seats out of range and seat 3", -1, 2, 5, 3, 4, 6, 4, 4, 6);
	RELEASING(1, seg(2, 6), "segments that do not fit", 1, 2, 11, 1, -1, 5, 1, 5, 2,
			  1, 3, 3, 3, 4, 11, 3, -1, 6, 3, 10, 11, 3, INT_MIN, INT_MAX);
	RELEASING(2, seg(2, 6), "a segment that fits next to one that does not", 1, 2, 11, 1, 2, 5);
	RELEASING(2, seg(2, 6), "one that does not fit after one that does", 1, 2, 5, 1, 2, 11);
	RELEASING(4, seg(5, 6), "seat 3", 3, 4, 6);
	free(map);

	/* multi-word: 100 legs, bookings in other words than the journey */
	{
		static const int list[][3] = {
			{0, 0, 10}, {0, 40, 50}, {0, 70, 100},
			{1, 31, 33},
			{2, 63, 65}, {2, 0, 1},
			{3, 64, 65},
			{4, 95, 100},
		};

		map = map_new(6, 100);
		model_reset(6, 100);
		take_all(map, list, sizeof(list) / sizeof(list[0]));
		free(copy);
		size = seatmap_size(6, 100);
		copy = malloc(size);
		memcpy(copy, map, size);
		check_eq(seatmap_count_free(map, seg(0, 100)), 1, "100 legs, whole route");
		RELEASING(1, seg(0, 100), "seat 0's middle booking only", 0, 40, 50);
		RELEASING(2, seg(0, 100), "all of seat 0's bookings", 0, 40, 50, 0, 70, 100, 0, 0, 10);
		RELEASING(6, seg(40, 50), "seat 0's middle booking, journey [40,50)", 0, 40, 50, 0, 0, 10);
		RELEASING(4, seg(32, 64), "seat 1 across leg 32", 1, 31, 33);
		RELEASING(5, seg(32, 64), "seats 0 and 1", 1, 31, 33, 0, 40, 50);
		RELEASING(5, seg(63, 65), "seat 2 across leg 64", 2, 63, 65, 2, 0, 1);
		RELEASING(6, seg(63, 65), "seats 2 and 3", 2, 63, 65, 3, 64, 65);
		RELEASING(3, seg(64, 96), "seat 3 [64,65)", 3, 64, 65);
		RELEASING(2, seg(64, 96), "seat 3 stretched past the route", 3, 64, 101);
		RELEASING(4, seg(0, 100), "seats 1, 3 and 4 in every word", 4, 95, 100, 3, 64, 65, 1, 31, 33);
		RELEASING(6, seg(0, 100), "everything", 0, 0, 10, 0, 40, 50, 0, 70, 100, 1, 31, 33,
				  2, 63, 65, 2, 0, 1, 3, 64, 65, 4, 95, 100);
		CHECK(memcmp(copy, map, size) == 0, "count_free_releasing changed the map");
		free(map);
	}
	free(copy);
#undef RELEASING
}

/* ------------------------------------------------------------------------
 * 2. Random operations against the model.
 * ------------------------------------------------------------------------
 */
#define MAX_RELEASED	96

static long stat_takes;
static long stat_takes_refused;
static long stat_releases;
static long stat_partial_releases;
static long stat_best[4];		/* by score + 1: none, 0, 1, 2 */
static long stat_releasing;
static long stat_releasing_gain;	/* calls where releasing freed some seat */
static long stat_compares;

static int
interesting_stop(int n)
{
	static const int stops[] = {0, 1, 30, 31, 32, 33, 34, 62, 63, 64, 65, 66, 95, 96, 97};
	int			r = rng_below(sizeof(stops) / sizeof(stops[0]) + 3);
	int			s;

	if (r == sizeof(stops) / sizeof(stops[0]))
		s = n;
	else if (r == sizeof(stops) / sizeof(stops[0]) + 1)
		s = n - 1;
	else if (r == sizeof(stops) / sizeof(stops[0]) + 2)
		s = n / 2;
	else
		s = stops[r];
	return s < 0 ? 0 : s > n ? n : s;
}

/* A segment that fits n legs: often short, at word edges or the whole route. */
static Segment
random_legs(int n)
{
	int			a;
	int			b;

	switch (rng_below(8))
	{
		case 0:
			return seg(0, n);
		case 1:
		case 2:
			a = rng_below(n);
			return seg(a, a + 1 + rng_below(n - a < 3 ? n - a : 3));
		case 3:
		case 4:
			a = interesting_stop(n);
			b = rng_below(2) ? interesting_stop(n) : rng_below(n + 1);
			break;
		default:
			a = rng_below(n + 1);
			b = rng_below(n + 1);
			break;
	}
	if (a == b)
	{
		if (b < n)
			b++;
		else
			a--;
	}
	return a < b ? seg(a, b) : seg(b, a);
}

/* Checks is_free and is_taken of one seat and segment against the model. */
static void
check_seat(const SeatMap *map, int seat, Segment legs)
{
	bool		f = seatmap_is_free(map, seat, legs);
	bool		t = seatmap_is_taken(map, seat, legs);
	char		row[MODEL_LEGS + 1];

	checks += 2;
	if (f != model_is_free(seat, legs) || t != model_is_taken(seat, legs))
		fail("seat %d [%d,%d): is_free %d is_taken %d, expected %d %d; seat %d is %s",
			 seat, legs.lower, legs.upper, f, t, model_is_free(seat, legs),
			 model_is_taken(seat, legs), seat, model_row(seat, row));
}

static int
check_best(const SeatMap *map, Segment legs)
{
	int			score = -7;
	int			got = rng_below(8) == 0 ? seatmap_best(map, legs, NULL) : seatmap_best(map, legs, &score);
	int			want_score;
	int			want = model_best(legs, &want_score);
	char		row1[MODEL_LEGS + 1];
	char		row2[MODEL_LEGS + 1];

	if (score == -7)
		score = want_score;		/* called without a score */
	checks++;
	if (got != want || score != want_score)
		fail("best([%d,%d)) gave seat %d score %d, expected seat %d score %d; "
			 "seat %d is %s, seat %d is %s",
			 legs.lower, legs.upper, got, score, want, want_score,
			 got, model_row(got, row1), want, model_row(want, row2));
	stat_best[want_score + 1]++;
	return want;
}

static void
do_take(SeatMap *map)
{
	Segment		legs = random_legs(m_legs);
	int			seat;

	if (rng_below(2) == 0)
	{
		cur_opname = "take on the best seat";
		seat = check_best(map, legs);
		if (seat < 0)
		{
			stat_takes_refused++;
			return;
		}
	}
	else
	{
		cur_opname = "take on a random seat";
		seat = rng_below(m_seats);
	}
	check_seat(map, seat, legs);
	if (!model_is_free(seat, legs))
	{
		stat_takes_refused++;
		return;
	}
	seatmap_take(map, seat, legs);
	model_set(seat, legs, true);
	bookings[n_bookings].seat = seat;
	bookings[n_bookings].legs = legs;
	n_bookings++;
	stat_takes++;
	check_seat(map, seat, legs);
	if (legs.lower > 0)
		check_seat(map, seat, seg(legs.lower - 1, legs.upper));
	if (legs.upper < m_legs)
		check_seat(map, seat, seg(legs.lower, legs.upper + 1));
}

static void
do_release(SeatMap *map)
{
	int			k;
	Booking		b;
	Segment		part;

	cur_opname = "release";
	if (n_bookings == 0)
		return;
	k = rng_below(n_bookings);
	b = bookings[k];
	check_seat(map, b.seat, b.legs);
	if (rng_below(4) == 0)
	{
		/* part of the booking; what is left stays booked, in up to two pieces */
		int			lo = b.legs.lower + rng_below(segment_legs(b.legs));
		int			hi = lo + 1 + rng_below(b.legs.upper - lo);

		cur_opname = "partial release";
		part = seg(lo, hi);
		stat_partial_releases++;
		bookings[k] = bookings[--n_bookings];
		if (lo > b.legs.lower)
		{
			bookings[n_bookings].seat = b.seat;
			bookings[n_bookings++].legs = seg(b.legs.lower, lo);
		}
		if (hi < b.legs.upper)
		{
			bookings[n_bookings].seat = b.seat;
			bookings[n_bookings++].legs = seg(hi, b.legs.upper);
		}
	}
	else
	{
		part = b.legs;
		bookings[k] = bookings[--n_bookings];
	}
	seatmap_release(map, b.seat, part);
	model_set(b.seat, part, false);
	stat_releases++;
	check_seat(map, b.seat, part);
	check_seat(map, b.seat, b.legs);
	if (part.lower > 0)
		check_seat(map, b.seat, seg(part.lower - 1, part.upper));
	if (part.upper < m_legs)
		check_seat(map, b.seat, seg(part.lower, part.upper + 1));
}

static void
do_releasing(SeatMap *map, SeatMap *snapshot, size_t size)
{
	static int	seats[MAX_RELEASED];
	static Segment rel[MAX_RELEASED];
	int			limit = n_bookings < 48 ? n_bookings : 48;
	int			k = rng_below(4) == 0 ? limit : rng_below(limit + 1);
	int			n = 0;
	int			i;
	Segment		legs = random_legs(m_legs);
	int			got;
	int			want;

	cur_opname = "count_free_releasing";
	/* a random subset of the bookings: a partial shuffle of the list */
	for (i = 0; i < k; i++)
	{
		int			j = i + rng_below(n_bookings - i);
		Booking		t = bookings[i];

		bookings[i] = bookings[j];
		bookings[j] = t;
		seats[n] = bookings[i].seat;
		rel[n++] = bookings[i].legs;
	}
	/* entries that must make no difference, or be counted once */
	if (rng_below(3) == 0)
	{
		int			extra = 1 + rng_below(6);

		while (extra-- > 0 && n < MAX_RELEASED)
		{
			Booking		b = n_bookings > 0 ? bookings[rng_below(n_bookings)] : (Booking) {0, seg(0, 1)};

			switch (rng_below(4))
			{
				case 0:			/* a duplicate */
					if (n > 0)
					{
						int			j = rng_below(n);

						seats[n] = seats[j];
						rel[n++] = rel[j];
					}
					break;
				case 1:			/* a seat out of range */
					{
						static const int bad[] = {-1, -2, INT_MIN, INT_MAX, SEATMAP_MAX_SEATS};
						int			r = rng_below(7);

						seats[n] = r < 5 ? bad[r] : m_seats + r - 5;
						rel[n++] = b.legs;
					}
					break;
				default:		/* a booking that does not fit: must not free it */
					seats[n] = b.seat;
					switch (rng_below(6))
					{
						case 0:
							rel[n++] = seg(b.legs.lower, m_legs + 1);
							break;
						case 1:
							rel[n++] = seg(-1, b.legs.upper);
							break;
						case 2:
							rel[n++] = seg(b.legs.upper, b.legs.lower);
							break;
						case 3:
							rel[n++] = seg(b.legs.lower, b.legs.lower);
							break;
						case 4:
							rel[n++] = seg(m_legs, m_legs + 1 + rng_below(40));
							break;
						default:
							rel[n++] = seg(-1 - rng_below(40), rng_below(41));
							break;
					}
					break;
			}
		}
		/* shuffle, so the noise is anywhere in the list */
		for (i = n - 1; i > 0; i--)
		{
			int			j = rng_below(i + 1);
			int			ts = seats[i];
			Segment		tl = rel[i];

			seats[i] = seats[j];
			rel[i] = rel[j];
			seats[j] = ts;
			rel[j] = tl;
		}
	}

	memcpy(snapshot, map, size);
	got = seatmap_count_free_releasing(map, legs, seats, rel, n);
	want = model_count_free_releasing(legs, seats, rel, n);
	stat_releasing++;
	if (want > model_count_free(legs))
		stat_releasing_gain++;
	checks += 2;
	if (got != want)
	{
		char		list[1024];
		size_t		len = 0;

		list[0] = '\0';
		for (i = 0; i < n && len < sizeof(list) - 64; i++)
			len += snprintf(list + len, sizeof(list) - len, " (%d,[%d,%d))",
							seats[i], rel[i].lower, rel[i].upper);
		fail("count_free_releasing([%d,%d)) gave %d, expected %d (count_free %d); %d entries:%s%s",
			 legs.lower, legs.upper, got, want, model_count_free(legs), n, list,
			 i < n ? " ..." : "");
	}
	if (memcmp(snapshot, map, size) != 0)
		fail("count_free_releasing([%d,%d)) with %d entries changed the map",
			 legs.lower, legs.upper, n);
}

static void
fuzz_map(long n_ops_here)
{
	static const int legs_choices[] = {1, 2, 3, 31, 32, 33, 63, 64, 65, 96, 97, 99, 100};
	int			n_seats;
	int			n_legs;
	SeatMap    *map;
	SeatMap    *snapshot;
	size_t		size;
	long		op;

	switch (rng_below(8))
	{
		case 0:
			n_seats = 1;
			break;
		case 1:
		case 2:
		case 3:
			n_seats = 1 + rng_below(8);
			break;
		case 4:
		case 5:
			n_seats = 1 + rng_below(40);
			break;
		default:
			n_seats = rng_below(4) == 0 ? MODEL_SEATS : 1 + rng_below(MODEL_SEATS);
			break;
	}
	if (rng_below(5) < 2)
		n_legs = legs_choices[rng_below(sizeof(legs_choices) / sizeof(legs_choices[0]))];
	else
		n_legs = 1 + rng_below(MODEL_LEGS);

	cur_n_seats = n_seats;
	cur_n_legs = n_legs;
	cur_op = -1;
	cur_opname = "init";
	map = map_new(n_seats, n_legs);
	size = seatmap_size(n_seats, n_legs);
	snapshot = malloc(size);
	model_reset(n_seats, n_legs);
	compare_map(map, "new map");
	check_eq(seatmap_count_free(map, seg(0, n_legs)), n_seats, "count_free(whole route) on a new map");

	for (op = 0; op < n_ops_here; op++)
	{
		int			r = rng_below(100);

		cur_op = op;
		if (r < 32)
			do_take(map);
		else if (r < 50)
			do_release(map);
		else if (r < 62)
		{
			cur_opname = "best";
			check_best(map, random_legs(n_legs));
		}
		else if (r < 72)
		{
			Segment		legs = random_legs(n_legs);

			cur_opname = "count_free";
			check_eq(seatmap_count_free(map, legs), model_count_free(legs),
					 "count_free([%d,%d))", legs.lower, legs.upper);
		}
		else if (r < 86)
			do_releasing(map, snapshot, size);
		else
		{
			cur_opname = "is_free/is_taken";
			check_seat(map, rng_below(n_seats), random_legs(n_legs));
		}

		if (rng_below(64) == 0)
		{
			cur_opname = "whole-map comparison";
			compare_map(map, "periodic comparison");
			stat_compares++;
		}
	}
	cur_opname = "final whole-map comparison";
	compare_map(map, "final comparison");
	stat_compares++;
	free(snapshot);
	free(map);
}

static long
fuzz(long n)
{
	long		done = 0;
	long		maps = 0;

	phase = "fuzz";
	while (done < n)
	{
		long		here = 50 + rng_below(rng_below(4) == 0 ? 6000 : 1500);

		if (here > n - done)
			here = n - done;
		cur_map = maps;
		fuzz_map(here);
		done += here;
		maps++;
	}
	return maps;
}

int
main(int argc, char **argv)
{
	long		n = DEFAULT_N;
	long		maps;
	long		unit_checks;
	char	   *end;

	if (argc > 1)
	{
		n = strtol(argv[1], &end, 10);
		if (*end != '\0' || n < 0)
		{
			fprintf(stderr, "usage: %s [N [SEED]]\n", argv[0]);
			return 2;
		}
	}
	seed = argc > 2 ? strtoull(argv[2], NULL, 10) : DEFAULT_SEED;
	rng_state = seed;
	n_ops = n;
#ifdef HAVE_SANITIZER_CALLBACK
	install_sanitizer_callback();
#endif

	test_size();
	test_valid();
	test_init();
	test_fits();
	test_take_release();
	test_best();
	test_count_free();
	unit_checks = checks;
	printf("fuzz_seatmap: %ld hand-written checks, %ld failures\n", unit_checks, failures);

	maps = fuzz(n);
	printf("fuzz_seatmap: %ld takes (%ld refused), %ld releases (%ld partial), "
		   "best: %ld none / %ld score 0 / %ld score 1 / %ld score 2, "
		   "%ld count_free_releasing (%ld freeing seats), %ld whole-map comparisons, %ld checks\n",
		   stat_takes, stat_takes_refused, stat_releases, stat_partial_releases,
		   stat_best[0], stat_best[1], stat_best[2], stat_best[3],
		   stat_releasing, stat_releasing_gain, stat_compares, checks - unit_checks);
	printf("fuzz_seatmap: %ld operations on %ld maps, %ld failures\n", n, maps, failures);
	return failures == 0 ? 0 : 1;
}
