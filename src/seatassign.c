/*-------------------------------------------------------------------------
 *
 * seatassign.c
 *	  Seats for a batch of requests over a run's seat maps (seatassign.h).
 *
 *-------------------------------------------------------------------------
 */
#include "seatassign.h"

void
seatmaps_assign(SeatMap **maps, const int *carriage_class, int n_carriages,
				const Segment *legs, const int *wanted, int n_requests,
				int *carriage, int *seat)
{
	for (int i = 0; i < n_requests; i++)
	{
		int			best_carriage = -1;
		int			best_seat = -1;
		int			best_score = -1;

		carriage[i] = -1;
		seat[i] = -1;
		if (wanted[i] == SEATASSIGN_SKIP)
			continue;
		for (int c = 0; c < n_carriages; c++)
		{
			int			score;
			int			s;

			if (wanted[i] != SEATASSIGN_ANY && carriage_class[c] != wanted[i])
				continue;
			if (!seatmap_fits(maps[c], legs[i]))
				continue;
			s = seatmap_best(maps[c], legs[i], &score);
			if (s < 0)
				continue;
			if (score > best_score
				|| (score == best_score && carriage_class[c] > carriage_class[best_carriage]))
			{
				best_carriage = c;
				best_seat = s;
				best_score = score;
			}
		}
		if (best_carriage >= 0)
		{
			seatmap_take(maps[best_carriage], best_seat, legs[i]);
			carriage[i] = best_carriage;
			seat[i] = best_seat;
		}
	}
}
