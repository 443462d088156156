/*-------------------------------------------------------------------------
 *
 * seatgroup.h
 *	  Seats for a group of passengers in one carriage: together if the seat
 *	  map allows, honouring the seat letters asked for (选座) when they are
 *	  free.  Plain C on top of seatmap.h, no server dependency, so the rule
 *	  can be unit-tested and fuzzed against a brute-force reference.
 *
 * A carriage's seats are row-major: seat index = row * row_len + position,
 * position 0 being letter A's side (the order of carriage.layout).  An aisle
 * splits every row after position aisle - 1; aisle 0 means no aisle (a
 * sleeper compartment is one block).
 *
 * The rule, best placement first (doc/passengers.md says the same):
 *	  level 1: every seat in one row.  Rows where the whole group fits on
 *			   one side of the aisle come first (a group is never split
 *			   across the aisle while such a row exists); within those the
 *			   lowest row.  In a row, the side taken is the one with the
 *			   fewest free seats that still holds the group (so 2 get D-F and
 *			   3 get A-B-C in an empty second-class row), and on that side the
 *			   tightest run of free seats.  If no side holds the group, the
 *			   side with more free seats is filled and the rest sit on the
 *			   other side nearest the aisle.
 *	  level 2: two adjacent rows, the lowest such pair, the fuller part in
 *			   the row with more free seats.
 *	  level 3: anywhere in the carriage, row by row.
 *	  Seat letters: if some row has every asked position free, the lowest
 *	  such row gives those seats and the rest of the group joins them by
 *	  the same rule restricted to that row, then its neighbours, then the
 *	  carriage; letters_ok tells whether that happened.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TICKET_SEATGROUP_H
#define TICKET_SEATGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "seatmap.h"

#define SEATGROUP_MAX		5	/* one order holds at most 5 tickets */
#define SEATGROUP_MAX_ROW	8	/* seats in one row of a layout */

typedef struct SeatGroup
{
	int			level;			/* 1 one row, 2 two adjacent rows, 3 carriage */
	bool		letters_ok;		/* the asked positions were given */
	int			n;
	int			seats[SEATGROUP_MAX];	/* seat indexes, ascending */
} SeatGroup;

/*
 * Places n (1 .. SEATGROUP_MAX) passengers for the journey legs in a
 * carriage with rows of row_len seats (1 .. SEATGROUP_MAX_ROW; seats after
 * the last whole row are never used) and an aisle after position aisle - 1.
 * wanted is a bitmask of positions in a row (bit p: position p), at most n
 * bits, 0 for no wish.  Returns false, leaving out undefined, when the
 * carriage has fewer than n seats free on the whole journey or the
 * arguments are out of range.
 */
extern bool seatgroup_place(const SeatMap *map, int row_len, int aisle,
							Segment legs, int n, uint32_t wanted,
							SeatGroup *out);

/* The level a set of seats has: 1 one row, 2 two adjacent rows, else 3. */
extern int	seatgroup_level(const int *seats, int n, int row_len);

#endif							/* TICKET_SEATGROUP_H */
