/*-------------------------------------------------------------------------
 *
 * seatmap_sql.c
 *	  SQL access to carriage seat maps (bytea values, see seatmap.h).
 *	  Thin wrappers: every one checks its input and calls seatmap.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "seatmap.h"
#include "seatmap_sql.h"
#include "segrange.h"

PG_FUNCTION_INFO_V1(seatmap_new);
PG_FUNCTION_INFO_V1(seatmap_take_sql);
PG_FUNCTION_INFO_V1(seatmap_release_sql);
PG_FUNCTION_INFO_V1(seatmap_take_seats_sql);
PG_FUNCTION_INFO_V1(seatmap_best_sql);
PG_FUNCTION_INFO_V1(seatmap_best_score_sql);
PG_FUNCTION_INFO_V1(seatmap_free_sql);
PG_FUNCTION_INFO_V1(seatmap_free_releasing_sql);
PG_FUNCTION_INFO_V1(seatmap_free_matrix_sql);

const SeatMap *
seatmap_checked(bytea *value)
{
	const SeatMap *map = (const SeatMap *) VARDATA_ANY(value);

	if (!seatmap_valid(map, VARSIZE_ANY_EXHDR(value)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid seat map"),
				 errdetail("The value's length does not match its seat and leg counts.")));
	return map;
}

void
seatmap_check_legs(const SeatMap *map, Segment legs)
{
	if (!seatmap_fits(map, legs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment [%d,%d) does not fit a seat map of %d legs",
						legs.lower, legs.upper, map->n_legs)));
}

static void
check_seat(const SeatMap *map, int32 seat)
{
	if (seat < 0 || seat >= map->n_seats)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seat %d is not in a seat map of %d seats", seat, map->n_seats)));
}

/*
 * Taking and releasing set and clear bits without asking what was there:
 * the exclusion constraint on tickets, not the map, decides whether a seat
 * may be sold, and idempotent updates let pg_restore load tickets and maps
 * in either order.
 */

/* seats int[] and legs segrange[] that pair up; returns how many pairs */
static int
seat_leg_arrays(ArrayType *seats_array, ArrayType *legs_array, Datum **seat_datums, bool **seat_nulls,
				Datum **leg_datums, bool **leg_nulls)
{
	int			n_seats;
	int			n_legs;

	deconstruct_array(seats_array, INT4OID, 4, true, TYPALIGN_INT, seat_datums, seat_nulls, &n_seats);
	deconstruct_array(legs_array, ARR_ELEMTYPE(legs_array), 4, true, TYPALIGN_INT,
					  leg_datums, leg_nulls, &n_legs);
	if (n_seats != n_legs)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("seat and leg arrays must have the same length, not %d and %d",
						n_seats, n_legs)));
	return n_seats;
}

/* A modifiable copy of the map argument. */
static bytea *
copy_map(bytea *value, SeatMap **map)
{
	const SeatMap *source = seatmap_checked(value);
	size_t		len = VARSIZE_ANY_EXHDR(value);
	bytea	   *result = palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), source, len);
	*map = (SeatMap *) VARDATA(result);
	return result;
}

Datum
seatmap_new(PG_FUNCTION_ARGS)
{
	int32		n_seats = PG_GETARG_INT32(0);
	int32		n_legs = PG_GETARG_INT32(1);
	size_t		len = seatmap_size(n_seats, n_legs);
	bytea	   *result;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a seat map has 1 to %d seats and 1 to %d legs, not %d and %d",
						SEATMAP_MAX_SEATS, SEGMENT_MAX_STOP, n_seats, n_legs)));
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	seatmap_init((SeatMap *) VARDATA(result), n_seats, n_legs);
	PG_RETURN_BYTEA_P(result);
}

/* seatmap_take() and seatmap_release(): a copy of the map with one change */
static bytea *
change_seat(FunctionCallInfo fcinfo, void (*change) (SeatMap *, int, Segment))
{
	SeatMap    *map;
	bytea	   *result = copy_map(PG_GETARG_BYTEA_PP(0), &map);
	int32		seat = PG_GETARG_INT32(1);
	Segment		legs = PG_GETARG_SEGMENT(2);

	check_seat(map, seat);
	seatmap_check_legs(map, legs);
	change(map, seat, legs);
	return result;
}

Datum
seatmap_take_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(change_seat(fcinfo, seatmap_take));
}

Datum
seatmap_release_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(change_seat(fcinfo, seatmap_release));
}

/*
 * seatmap_take(map, seats int[], legs segrange[]): a copy of the map with
 * the legs of every seat taken, as many seatmap_take() calls would make it
 * (the tickets one statement inserted into one carriage, say).
 */
Datum
seatmap_take_seats_sql(PG_FUNCTION_ARGS)
{
	SeatMap    *map;
	bytea	   *result = copy_map(PG_GETARG_BYTEA_PP(0), &map);
	Datum	   *seat_datums;
	Datum	   *leg_datums;
	bool	   *seat_nulls;
	bool	   *leg_nulls;
	int			n_seats = seat_leg_arrays(PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2),
										  &seat_datums, &seat_nulls, &leg_datums, &leg_nulls);

	for (int i = 0; i < n_seats; i++)
	{
		Segment		legs;

		if (seat_nulls[i] || leg_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("seats and legs to take must not be null")));
		legs = DatumGetSegment(leg_datums[i]);
		check_seat(map, DatumGetInt32(seat_datums[i]));
		seatmap_check_legs(map, legs);
		seatmap_take(map, DatumGetInt32(seat_datums[i]), legs);
	}
	PG_RETURN_BYTEA_P(result);
}

Datum
seatmap_best_sql(PG_FUNCTION_ARGS)
{
	const SeatMap *map = seatmap_checked(PG_GETARG_BYTEA_PP(0));
	Segment		legs = PG_GETARG_SEGMENT(1);
	int			seat;

	seatmap_check_legs(map, legs);
	seat = seatmap_best(map, legs, NULL);
	if (seat < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(seat);
}

Datum
seatmap_best_score_sql(PG_FUNCTION_ARGS)
{
	const SeatMap *map = seatmap_checked(PG_GETARG_BYTEA_PP(0));
	Segment		legs = PG_GETARG_SEGMENT(1);
	int			score;

	seatmap_check_legs(map, legs);
	if (seatmap_best(map, legs, &score) < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(score);
}

Datum
seatmap_free_sql(PG_FUNCTION_ARGS)
{
	const SeatMap *map = seatmap_checked(PG_GETARG_BYTEA_PP(0));
	Segment		legs = PG_GETARG_SEGMENT(1);

	seatmap_check_legs(map, legs);
	PG_RETURN_INT32(seatmap_count_free(map, legs));
}

/* seatmap_free(map, legs, seats int[], released segrange[]) */
Datum
seatmap_free_releasing_sql(PG_FUNCTION_ARGS)
{
	const SeatMap *map = seatmap_checked(PG_GETARG_BYTEA_PP(0));
	Segment		legs = PG_GETARG_SEGMENT(1);
	Datum	   *seat_datums;
	Datum	   *leg_datums;
	bool	   *seat_nulls;
	bool	   *leg_nulls;
	int			n_seats;
	int		   *seats;
	Segment    *released;
	int			n = 0;
	int			i;

	seatmap_check_legs(map, legs);
	n_seats = seat_leg_arrays(PG_GETARG_ARRAYTYPE_P(2), PG_GETARG_ARRAYTYPE_P(3),
							  &seat_datums, &seat_nulls, &leg_datums, &leg_nulls);
	seats = palloc(sizeof(int) * (n_seats + 1));
	released = palloc(sizeof(Segment) * (n_seats + 1));
	for (i = 0; i < n_seats; i++)
	{
		if (seat_nulls[i] || leg_nulls[i])
			continue;
		seats[n] = DatumGetInt32(seat_datums[i]);
		released[n] = DatumGetSegment(leg_datums[i]);
		n++;
	}
	PG_RETURN_INT32(seatmap_count_free_releasing(map, legs, seats, released, n));
}

/*
 * seatmap_free_matrix(maps bytea[]) returns int[]: for every journey of the
 * route, in seatmap_journey_index() order, the seats free on all its legs,
 * summed over the given maps (one class of a run, say).
 */
Datum
seatmap_free_matrix_sql(PG_FUNCTION_ARGS)
{
	ArrayType  *maps_array = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *map_datums;
	bool	   *map_nulls;
	int			n_maps;
	int			n_legs = -1;
	int32	   *counts = NULL;
	Datum	   *result;
	int			n_journeys = 0;
	int			i;

	deconstruct_array(maps_array, BYTEAOID, -1, false, TYPALIGN_INT,
					  &map_datums, &map_nulls, &n_maps);
	for (i = 0; i < n_maps; i++)
	{
		const SeatMap *map;

		if (map_nulls[i])
			continue;
		map = seatmap_checked(DatumGetByteaPP(map_datums[i]));
		if (n_legs < 0)
		{
			n_legs = map->n_legs;
			if (n_legs > SEATMAP_MATRIX_MAX_LEGS)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("a journey matrix covers routes of at most %d legs, not %d",
								SEATMAP_MATRIX_MAX_LEGS, n_legs)));
			n_journeys = seatmap_journey_count(n_legs);
			counts = palloc0(sizeof(int32) * n_journeys);
		}
		else if (map->n_legs != n_legs)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("seat maps of %d and %d legs cannot be added up", n_legs, map->n_legs)));
		seatmap_add_free_matrix(map, counts);
	}
	result = palloc(sizeof(Datum) * (n_journeys + 1));
	for (i = 0; i < n_journeys; i++)
		result[i] = Int32GetDatum(counts[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(result, n_journeys, INT4OID, 4, true, TYPALIGN_INT));
}
