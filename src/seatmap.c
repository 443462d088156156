/*-------------------------------------------------------------------------
 *
 * seatmap.c
 *	  Search and update of per-seat leg bitmaps (see seatmap.h).
 *
 *-------------------------------------------------------------------------
 */
#include "seatmap.h"

#include <string.h>

size_t
seatmap_size(int n_seats, int n_legs)
{
	if (n_seats < 1 || n_seats > SEATMAP_MAX_SEATS ||
		n_legs < 1 || n_legs > SEGMENT_MAX_STOP)
		return 0;
	return offsetof(SeatMap, words) +
		sizeof(uint32_t) * (size_t) n_seats * seatmap_words_per_seat(n_legs);
}

bool
seatmap_valid(const SeatMap *map, size_t len)
{
	size_t		expected;

	if (len < offsetof(SeatMap, words))
		return false;
	expected = seatmap_size(map->n_seats, map->n_legs);
	return expected != 0 && expected == len;
}

void
seatmap_init(SeatMap *map, int n_seats, int n_legs)
{
	map->n_seats = n_seats;
	map->n_legs = n_legs;
	memset(map->words, 0,
		   sizeof(uint32_t) * (size_t) n_seats * seatmap_words_per_seat(n_legs));
}

bool
seatmap_fits(const SeatMap *map, Segment legs)
{
	return legs.lower >= 0 && legs.lower < legs.upper && legs.upper <= map->n_legs;
}

/* The mask of legs [lower, upper) within word w (legs 32w .. 32w+31). */
static inline uint32_t
word_mask(Segment legs, int w)
{
	int			first = w * 32;
	int			lo = legs.lower > first ? legs.lower - first : 0;
	int			hi = legs.upper < first + 32 ? legs.upper - first : 32;
	uint32_t	upto_hi;
	uint32_t	from_lo;

	/* a segment that misses this word entirely: no shift may see its bounds */
	if (lo >= hi)
		return 0;
	upto_hi = hi >= 32 ? UINT32_MAX : ((uint32_t) 1 << hi) - 1;
	from_lo = ((uint32_t) 1 << lo) - 1;
	return upto_hi & ~from_lo;
}

static inline const uint32_t *
seat_words(const SeatMap *map, int seat)
{
	return map->words + (size_t) seat * seatmap_words_per_seat(map->n_legs);
}

static inline bool
leg_taken(const uint32_t *words, int leg)
{
	return (words[leg / 32] >> (leg % 32)) & 1;
}

static bool
words_free(const uint32_t *words, Segment legs)
{
	int			w;

	for (w = legs.lower / 32; w <= (legs.upper - 1) / 32; w++)
		if (words[w] & word_mask(legs, w))
			return false;
	return true;
}

bool
seatmap_is_free(const SeatMap *map, int seat, Segment legs)
{
	return words_free(seat_words(map, seat), legs);
}

/* Every leg of the segment is taken on the seat. */
bool
seatmap_is_taken(const SeatMap *map, int seat, Segment legs)
{
	const uint32_t *words = seat_words(map, seat);
	int			w;

	for (w = legs.lower / 32; w <= (legs.upper - 1) / 32; w++)
	{
		uint32_t	m = word_mask(legs, w);

		if ((words[w] & m) != m)
			return false;
	}
	return true;
}

void
seatmap_take(SeatMap *map, int seat, Segment legs)
{
	uint32_t   *words = (uint32_t *) seat_words(map, seat);
	int			w;

	for (w = legs.lower / 32; w <= (legs.upper - 1) / 32; w++)
		words[w] |= word_mask(legs, w);
}

void
seatmap_release(SeatMap *map, int seat, Segment legs)
{
	uint32_t   *words = (uint32_t *) seat_words(map, seat);
	int			w;

	for (w = legs.lower / 32; w <= (legs.upper - 1) / 32; w++)
		words[w] &= ~word_mask(legs, w);
}

/*
 * The best free seat for a journey, or -1.  A seat scores one point for
 * each end of the journey that meets a taken leg or the end of the route:
 * such a seat fills a gap exactly and keeps whole seats free for long
 * journeys.  Ties go to the lowest seat.
 */
int
seatmap_best(const SeatMap *map, Segment legs, int *score)
{
	int			best = -1;
	int			best_score = -1;
	int			seat;

	for (seat = 0; seat < map->n_seats; seat++)
	{
		const uint32_t *words = seat_words(map, seat);
		int			s;

		if (!words_free(words, legs))
			continue;
		s = (legs.lower == 0 || leg_taken(words, legs.lower - 1)) +
			(legs.upper == map->n_legs || leg_taken(words, legs.upper));
		if (s > best_score)
		{
			best = seat;
			best_score = s;
			if (s == 2)
				break;
		}
	}
	if (score)
		*score = best_score;
	return best;
}

int
seatmap_count_free(const SeatMap *map, Segment legs)
{
	int			n = 0;
	int			seat;

	for (seat = 0; seat < map->n_seats; seat++)
		n += words_free(seat_words(map, seat), legs);
	return n;
}

/*
 * Free seats for a journey if the given (seat, legs) bookings were released
 * first: how remaining() counts holds that have expired but are still in
 * the map.  Works on a copy of each touched seat; the map is not changed.
 */
int
seatmap_count_free_releasing(const SeatMap *map, Segment legs,
							 const int *seats, const Segment *released,
							 int n_released)
{
	int			n = seatmap_count_free(map, legs);
	int			i;

	for (i = 0; i < n_released; i++)
	{
		const uint32_t *words;
		int			seat = seats[i];
		bool		free = true;
		int			j;
		int			w;

		if (seat < 0 || seat >= map->n_seats)
			continue;
		/* each seat once: skip it if it appeared earlier in the list */
		for (j = 0; j < i; j++)
			if (seats[j] == seat)
				break;
		if (j < i)
			continue;
		words = seat_words(map, seat);
		if (words_free(words, legs))
			continue;			/* counted already */
		for (w = legs.lower / 32; free && w <= (legs.upper - 1) / 32; w++)
		{
			uint32_t	releasing = 0;

			for (j = i; j < n_released; j++)
				if (seats[j] == seat && seatmap_fits(map, released[j]))
					releasing |= word_mask(released[j], w);
			if (words[w] & ~releasing & word_mask(legs, w))
				free = false;
		}
		n += free;
	}
	return n;
}

/*
 * Adds, for every journey [a, b) of the route, the number of seats free on
 * all its legs to counts[seatmap_journey_index(n_legs, a, b)]: the whole
 * remaining-tickets table of a carriage in one pass over its seats.
 */
void
seatmap_add_free_matrix(const SeatMap *map, int32_t *counts)
{
	int			n = map->n_legs;
	int			seat;

	for (seat = 0; seat < map->n_seats; seat++)
	{
		const uint32_t *words = seat_words(map, seat);
		int			a;

		for (a = 0; a < n; a++)
		{
			int			b;

			/* every journey from a that stays on free legs */
			for (b = a + 1; b <= n && !leg_taken(words, b - 1); b++)
				counts[seatmap_journey_index(n, a, b)]++;
		}
	}
}
