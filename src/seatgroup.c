/*-------------------------------------------------------------------------
 *
 * seatgroup.c
 *	  Seats for a group in one carriage (see seatgroup.h for the rule).
 *
 *-------------------------------------------------------------------------
 */
#include "seatgroup.h"

static int
popcount(uint32_t x)
{
	int			n = 0;

	for (; x; x &= x - 1)
		n++;
	return n;
}

/* Free positions of a row, as a bitmask. */
static uint32_t
row_free(const SeatMap *map, int row, int row_len, Segment legs)
{
	uint32_t	mask = 0;
	int			p;

	for (p = 0; p < row_len; p++)
		if (seatmap_is_free(map, row * row_len + p, legs))
			mask |= (uint32_t) 1 << p;
	return mask;
}

static uint32_t
left_mask(int row_len, int aisle)
{
	if (aisle <= 0 || aisle >= row_len)
		return ((uint32_t) 1 << row_len) - 1;	/* no aisle: one side */
	return ((uint32_t) 1 << aisle) - 1;
}

/* Does k fit on one side of the aisle among the free positions? */
static bool
fits_one_side(uint32_t free, int row_len, int aisle, int k)
{
	uint32_t	left = left_mask(row_len, aisle);

	return popcount(free & left) >= k || popcount(free & ~left) >= k;
}

/* The k free positions of side with the smallest span, leftmost first. */
static uint32_t
tightest(uint32_t side, int row_len, int k)
{
	int			pos[SEATGROUP_MAX_ROW];
	int			n = 0;
	int			best = -1;
	int			i;
	uint32_t	result = 0;

	for (i = 0; i < row_len; i++)
		if (side & ((uint32_t) 1 << i))
			pos[n++] = i;
	for (i = 0; i + k <= n; i++)
		if (best < 0 || pos[i + k - 1] - pos[i] < pos[best + k - 1] - pos[best])
			best = i;
	for (i = 0; i < k; i++)
		result |= (uint32_t) 1 << pos[best + i];
	return result;
}

/*
 * k of the free positions of a row (popcount(free) >= k): on one side if a
 * side holds them, the side with fewer free seats first; else the fuller
 * side whole and the rest nearest the aisle on the other.
 */
static uint32_t
pick_in_row(uint32_t free, int row_len, int aisle, int k)
{
	uint32_t	left = free & left_mask(row_len, aisle);
	uint32_t	right = free & ~left_mask(row_len, aisle);
	int			nl = popcount(left);
	int			nr = popcount(right);
	uint32_t	result;
	int			rest;
	int			p;

	if (k <= 0)
		return 0;
	if (nl >= k && (nr < k || nl <= nr))
		return tightest(left, row_len, k);
	if (nr >= k)
		return tightest(right, row_len, k);
	if (nl >= nr)
	{
		result = left;
		rest = k - nl;
		for (p = 0; rest > 0 && p < row_len; p++)
			if (right & ((uint32_t) 1 << p))
			{
				result |= (uint32_t) 1 << p;
				rest--;
			}
	}
	else
	{
		result = right;
		rest = k - nr;
		for (p = row_len - 1; rest > 0 && p >= 0; p--)
			if (left & ((uint32_t) 1 << p))
			{
				result |= (uint32_t) 1 << p;
				rest--;
			}
	}
	return result;
}

/*
 * k positions of free nearest to the fixed ones (the seats asked for):
 * distance in seats, crossing the aisle counting one more.
 */
static uint32_t
pick_near(uint32_t free, uint32_t fixed, int row_len, int aisle, int k)
{
	uint32_t	result = 0;

	while (k-- > 0)
	{
		int			best = -1;
		int			best_d = 0;
		int			p;

		for (p = 0; p < row_len; p++)
		{
			int			d = -1;
			int			q;

			if (!(free & ~result & ((uint32_t) 1 << p)))
				continue;
			for (q = 0; q < row_len; q++)
			{
				int			dq;

				if (!((fixed | result) & ((uint32_t) 1 << q)))
					continue;
				dq = p > q ? p - q : q - p;
				if (aisle > 0 && aisle < row_len && (p < aisle) != (q < aisle))
					dq++;
				if (d < 0 || dq < d)
					d = dq;
			}
			if (best < 0 || d < best_d)
			{
				best = p;
				best_d = d;
			}
		}
		result |= (uint32_t) 1 << best;
	}
	return result;
}

int
seatgroup_level(const int *seats, int n, int row_len)
{
	int			lo = seats[0] / row_len;
	int			hi = lo;
	int			i;

	for (i = 1; i < n; i++)
	{
		int			r = seats[i] / row_len;

		if (r < lo)
			lo = r;
		if (r > hi)
			hi = r;
	}
	return hi == lo ? 1 : hi == lo + 1 ? 2 : 3;
}

/* Fill out->seats from per-row chosen masks, ascending. */
static void
collect(const uint32_t *chosen, int rows, int row_len, SeatGroup *out)
{
	int			r;
	int			p;

	out->n = 0;
	for (r = 0; r < rows; r++)
		for (p = 0; p < row_len; p++)
			if (chosen[r] & ((uint32_t) 1 << p))
				out->seats[out->n++] = r * row_len + p;
	out->level = seatgroup_level(out->seats, out->n, row_len);
}

/*
 * The group around the asked positions in row r (all free there): the rest
 * in the same row, then the neighbouring row with more free seats (the
 * lower on a tie), then rows by distance from r.  Fills chosen[].
 */
static void
place_around(const uint32_t *free, int rows, int row_len, int aisle, int r,
			 uint32_t wanted, int n, uint32_t *chosen)
{
	int			rest = n - popcount(wanted);
	int			k;
	int			d;

	chosen[r] = wanted;
	k = popcount(free[r] & ~wanted);
	k = k < rest ? k : rest;
	chosen[r] |= pick_near(free[r] & ~wanted, wanted, row_len, aisle, k);
	rest -= k;
	for (d = 1; rest > 0 && d < rows; d++)
	{
		int			order[2];
		int			i;

		order[0] = r + d;
		order[1] = r - d;
		if (r - d >= 0 && (r + d >= rows || popcount(free[r - d]) >= popcount(free[r + d])))
		{
			order[0] = r - d;
			order[1] = r + d;
		}
		for (i = 0; i < 2 && rest > 0; i++)
		{
			int			q = order[i];

			if (q < 0 || q >= rows)
				continue;
			k = popcount(free[q]);
			k = k < rest ? k : rest;
			chosen[q] = pick_in_row(free[q], row_len, aisle, k);
			rest -= k;
		}
	}
}

bool
seatgroup_place(const SeatMap *map, int row_len, int aisle, Segment legs,
				int n, uint32_t wanted, SeatGroup *out)
{
	uint32_t	free[SEATMAP_MAX_SEATS];
	uint32_t	chosen[SEATMAP_MAX_SEATS];
	int			rows;
	int			total = 0;
	int			pass;
	int			r;

	if (n < 1 || n > SEATGROUP_MAX || row_len < 1 || row_len > SEATGROUP_MAX_ROW ||
		aisle < 0 || aisle > row_len || !seatmap_fits(map, legs) ||
		(wanted >> row_len) != 0 || popcount(wanted) > n)
		return false;
	rows = map->n_seats / row_len;
	for (r = 0; r < rows; r++)
	{
		free[r] = row_free(map, r, row_len, legs);
		chosen[r] = 0;
		total += popcount(free[r]);
	}
	if (total < n)
		return false;

	out->letters_ok = false;
	if (wanted != 0)
	{
		int			best_r = -1;
		int			best_level = 4;

		/* the row with the asked seats free that keeps the group closest */
		for (r = 0; r < rows; r++)
		{
			int			level;

			if ((free[r] & wanted) != wanted)
				continue;
			if (popcount(free[r]) >= n)
				level = 1;
			else if ((r > 0 && popcount(free[r]) + popcount(free[r - 1]) >= n) ||
					 (r + 1 < rows && popcount(free[r]) + popcount(free[r + 1]) >= n))
				level = 2;
			else
				level = 3;
			if (level < best_level)
			{
				best_level = level;
				best_r = r;
			}
		}
		if (best_r >= 0)
		{
			place_around(free, rows, row_len, aisle, best_r, wanted, n, chosen);
			collect(chosen, rows, row_len, out);
			out->letters_ok = true;
			return true;
		}
	}

	/* level 1: one row, a one-side fit first */
	for (pass = 0; pass < 2; pass++)
		for (r = 0; r < rows; r++)
			if (popcount(free[r]) >= n &&
				(pass == 1 || fits_one_side(free[r], row_len, aisle, n)))
			{
				chosen[r] = pick_in_row(free[r], row_len, aisle, n);
				collect(chosen, rows, row_len, out);
				return true;
			}

	/* level 2: two adjacent rows */
	for (r = 0; r + 1 < rows; r++)
	{
		int			a = popcount(free[r]);
		int			b = popcount(free[r + 1]);

		if (a + b >= n)
		{
			int			big = a >= b ? r : r + 1;
			int			small = big == r ? r + 1 : r;

			chosen[big] = free[big];
			chosen[small] = pick_in_row(free[small], row_len, aisle, n - popcount(free[big]));
			collect(chosen, rows, row_len, out);
			return true;
		}
	}

	/* level 3: row by row */
	{
		int			rest = n;

		for (r = 0; r < rows && rest > 0; r++)
		{
			int			k = popcount(free[r]);

			k = k < rest ? k : rest;
			chosen[r] = pick_in_row(free[r], row_len, aisle, k);
			rest -= k;
		}
	}
	collect(chosen, rows, row_len, out);
	return true;
}
