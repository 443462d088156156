/*-------------------------------------------------------------------------
 *
 * seatassign_sql.c
 *	  SQL access to batch seat assignment (seatassign.h): checks the input,
 *	  copies the maps and calls seatassign.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "seatassign.h"
#include "seatmap_sql.h"
#include "segrange.h"

PG_FUNCTION_INFO_V1(seatmap_assign_sql);

static void
deconstruct_any(ArrayType *array, Datum **values, bool **nulls, int *n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("seat assignment takes one-dimensional arrays")));
	get_typlenbyvalalign(ARR_ELEMTYPE(array), &typlen, &typbyval, &typalign);
	deconstruct_array(array, ARR_ELEMTYPE(array), typlen, typbyval, typalign,
					  values, nulls, n);
}

/*
 * seatmap_assign(maps bytea[], classes integer[], legs segrange[],
 *				  wanted integer[]) returns integer[]
 *
 * Carriage c has map maps[c] and class classes[c]; request i wants legs[i]
 * (NULL: skip it) in class wanted[i] (NULL: any).  The result holds two
 * numbers per request, in order: the 1-based carriage position in maps and
 * the seat index, or two NULLs when nothing is free.
 */
Datum
seatmap_assign_sql(PG_FUNCTION_ARGS)
{
	Datum	   *map_datums,
			   *class_datums,
			   *legs_datums,
			   *wanted_datums;
	bool	   *map_nulls,
			   *class_nulls,
			   *legs_nulls,
			   *wanted_nulls;
	int			n_maps,
				n_classes,
				n_requests,
				n_wanted;
	SeatMap   **maps;
	int		   *classes;
	Segment    *legs;
	int		   *wanted;
	int		   *carriage;
	int		   *seat;
	Datum	   *result;
	bool	   *result_nulls;
	int			dims[1];
	int			lbs[1] = {1};

	deconstruct_any(PG_GETARG_ARRAYTYPE_P(0), &map_datums, &map_nulls, &n_maps);
	deconstruct_any(PG_GETARG_ARRAYTYPE_P(1), &class_datums, &class_nulls, &n_classes);
	deconstruct_any(PG_GETARG_ARRAYTYPE_P(2), &legs_datums, &legs_nulls, &n_requests);
	deconstruct_any(PG_GETARG_ARRAYTYPE_P(3), &wanted_datums, &wanted_nulls, &n_wanted);
	if (n_classes != n_maps || n_wanted != n_requests)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("seat assignment needs one class per map and one class per request"),
				 errdetail("There are %d maps, %d classes, %d requests and %d wanted classes.",
						   n_maps, n_classes, n_requests, n_wanted)));

	maps = palloc(sizeof(SeatMap *) * (n_maps + 1));
	classes = palloc(sizeof(int) * (n_maps + 1));
	for (int c = 0; c < n_maps; c++)
	{
		bytea	   *value;
		Size		len;

		if (map_nulls[c] || class_nulls[c])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("seat maps and their classes must not be null")));
		value = DatumGetByteaPP(map_datums[c]);
		len = VARSIZE_ANY_EXHDR(value);
		/* a private copy: the assignment takes seats in it */
		maps[c] = palloc(len);
		memcpy(maps[c], seatmap_checked(value), len);
		classes[c] = DatumGetInt32(class_datums[c]);
		if (classes[c] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("seat class numbers must not be negative")));
	}

	legs = palloc(sizeof(Segment) * (n_requests + 1));
	wanted = palloc(sizeof(int) * (n_requests + 1));
	for (int i = 0; i < n_requests; i++)
	{
		if (legs_nulls[i])
		{
			legs[i] = (Segment) {0, 0};
			wanted[i] = SEATASSIGN_SKIP;
			continue;
		}
		legs[i] = DatumGetSegment(legs_datums[i]);
		wanted[i] = wanted_nulls[i] ? SEATASSIGN_ANY : DatumGetInt32(wanted_datums[i]);
		if (wanted[i] < 0 && !wanted_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("seat class numbers must not be negative")));
	}

	carriage = palloc(sizeof(int) * (n_requests + 1));
	seat = palloc(sizeof(int) * (n_requests + 1));
	seatmaps_assign(maps, classes, n_maps, legs, wanted, n_requests, carriage, seat);

	result = palloc(sizeof(Datum) * (2 * n_requests + 1));
	result_nulls = palloc(sizeof(bool) * (2 * n_requests + 1));
	for (int i = 0; i < n_requests; i++)
	{
		result[2 * i] = Int32GetDatum(carriage[i] + 1);
		result[2 * i + 1] = Int32GetDatum(seat[i]);
		result_nulls[2 * i] = result_nulls[2 * i + 1] = carriage[i] < 0;
	}
	dims[0] = 2 * n_requests;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(result, result_nulls, 1, dims, lbs,
											 INT4OID, 4, true, TYPALIGN_INT));
}
