/*-------------------------------------------------------------------------
 *
 * seatgroup_sql.c
 *	  SQL access to the group seat search (seatgroup.h).  Thin wrapper: it
 *	  checks its input and calls seatgroup.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "seatgroup.h"
#include "seatmap_sql.h"
#include "segrange.h"

PG_FUNCTION_INFO_V1(seatgroup_place_sql);

/*
 * seatgroup_place(map bytea, row_len int, aisle int, legs segrange, n int,
 * wanted int) returns int[]: {level, letters_ok (0 or 1), seat indexes...},
 * or NULL when the carriage has fewer than n seats free on the journey.
 */
Datum
seatgroup_place_sql(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	int32		row_len = PG_GETARG_INT32(1);
	int32		aisle = PG_GETARG_INT32(2);
	Segment		legs = PG_GETARG_SEGMENT(3);
	int32		n = PG_GETARG_INT32(4);
	int32		wanted = PG_GETARG_INT32(5);
	const SeatMap *map = seatmap_checked(value);
	SeatGroup	group;
	Datum		result[SEATGROUP_MAX + 2];
	int			i;

	seatmap_check_legs(map, legs);
	if (n < 1 || n > SEATGROUP_MAX || row_len < 1 || row_len > SEATGROUP_MAX_ROW ||
		aisle < 0 || aisle > row_len || wanted < 0 || (wanted >> row_len) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid group search: %d seats, rows of %d, aisle %d, positions %d",
						n, row_len, aisle, wanted),
				 errdetail("A group has 1 to %d seats, a row 1 to %d seats, and the positions asked for must be in the row and no more than the group.",
						   SEATGROUP_MAX, SEATGROUP_MAX_ROW)));
	if (!seatgroup_place(map, row_len, aisle, legs, n, (uint32_t) wanted, &group))
		PG_RETURN_NULL();
	result[0] = Int32GetDatum(group.level);
	result[1] = Int32GetDatum(group.letters_ok ? 1 : 0);
	for (i = 0; i < group.n; i++)
		result[i + 2] = Int32GetDatum(group.seats[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(result, group.n + 2, INT4OID, 4, true, TYPALIGN_INT));
}
