/*-------------------------------------------------------------------------
 *
 * seatmap.h
 *	  The seat map of one carriage on one run: for every seat, the legs
 *	  that are taken, as a bitmap.  Plain C, no server dependency, so the
 *	  search and the updates can be unit-tested and fuzzed on their own.
 *
 * Layout (also the bytes of the SQL value, after the varlena header):
 *	  int32 n_seats, int32 n_legs, then n_seats * words_per_seat uint32 words;
 *	  leg i of seat s is bit (i % 32) of word s * words_per_seat + i / 32.
 *	  32-bit words keep every field 4-byte aligned, as bytea data is.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_SEATMAP_H
#define TICKET_SEATMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#define SEATMAP_MAX_SEATS	1024

typedef struct SeatMap
{
	int32_t		n_seats;
	int32_t		n_legs;
	uint32_t	words[];		/* n_seats * seatmap_words_per_seat(n_legs) */
} SeatMap;

static inline int
seatmap_words_per_seat(int n_legs)
{
	return (n_legs + 31) / 32;
}

/* Bytes of a map; 0 when the dimensions are out of range. */
extern size_t seatmap_size(int n_seats, int n_legs);
/* Checks a map read from outside: dimensions and length agree. */
extern bool seatmap_valid(const SeatMap *map, size_t len);
extern void seatmap_init(SeatMap *map, int n_seats, int n_legs);
extern bool seatmap_fits(const SeatMap *map, Segment legs);
extern bool seatmap_is_free(const SeatMap *map, int seat, Segment legs);
extern bool seatmap_is_taken(const SeatMap *map, int seat, Segment legs);
extern void seatmap_take(SeatMap *map, int seat, Segment legs);
extern void seatmap_release(SeatMap *map, int seat, Segment legs);
extern int	seatmap_best(const SeatMap *map, Segment legs, int *score);
extern int	seatmap_count_free(const SeatMap *map, Segment legs);
extern int	seatmap_count_free_releasing(const SeatMap *map, Segment legs,
										 const int *seats, const Segment *released,
										 int n_released);

/* Journeys [a, b) of a route of n legs, numbered a-major: (0,1) (0,2) .. (0,n) (1,2) .. */
#define SEATMAP_MATRIX_MAX_LEGS	256
static inline int
seatmap_journey_index(int n_legs, int a, int b)
{
	return a * n_legs - a * (a - 1) / 2 + (b - a - 1);
}
static inline int
seatmap_journey_count(int n_legs)
{
	return n_legs * (n_legs + 1) / 2;
}
extern void seatmap_add_free_matrix(const SeatMap *map, int32_t *counts);

#endif							/* TICKET_SEATMAP_H */
