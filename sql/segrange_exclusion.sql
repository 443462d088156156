-- The exclusion constraint that makes double booking impossible.
SET search_path = ticket, public;

CREATE TABLE public.seat_hold (
	run_id bigint NOT NULL,
	seat_id integer NOT NULL,
	legs segrange NOT NULL,
	EXCLUDE USING gist (run_id WITH =, seat_id WITH =, legs WITH &&)
);

INSERT INTO public.seat_hold VALUES (1, 1, '[0,3)');
-- adjacent legs share the seat
INSERT INTO public.seat_hold VALUES (1, 1, '[3,5)');
INSERT INTO public.seat_hold VALUES (1, 1, '[5,9)');
-- overlapping legs on another seat or another run are fine
INSERT INTO public.seat_hold VALUES (1, 2, '[1,4)');
INSERT INTO public.seat_hold VALUES (2, 1, '[1,4)');

-- overlapping legs on the same run and seat are refused
SELECT regress_error($q$INSERT INTO public.seat_hold VALUES (1, 1, '[2,4)')$q$);
SELECT regress_error($q$INSERT INTO public.seat_hold VALUES (1, 1, '[0,9)')$q$);
SELECT regress_error($q$INSERT INTO public.seat_hold VALUES (1, 1, '[4,5)')$q$);
SELECT regress_error($q$UPDATE public.seat_hold SET legs = '[2,5)' WHERE seat_id = 2$q$);
SELECT regress_error($q$UPDATE public.seat_hold SET legs = '[2,4)' WHERE run_id = 1 AND seat_id = 1 AND legs = '[3,5)'$q$);

-- the error is catchable by its condition name
DO $$
BEGIN
	INSERT INTO public.seat_hold VALUES (1, 1, '[8,10)');
EXCEPTION WHEN exclusion_violation THEN
	RAISE NOTICE 'caught exclusion_violation (SQLSTATE %)', SQLSTATE;
END
$$;

SELECT run_id, seat_id, legs FROM public.seat_hold ORDER BY run_id, seat_id, legs;

-- the constraint can be added to a full table (sorted GiST build)
CREATE TABLE public.bulk_hold AS
SELECT (i % 50) AS run_id, (i / 50) % 200 AS seat_id,
       segrange((i / 10000) * 2, (i / 10000) * 2 + 2) AS legs
FROM generate_series(0, 99999) i;
SELECT count(*), count(DISTINCT (run_id, seat_id, legs)) FROM public.bulk_hold;
ALTER TABLE public.bulk_hold ADD EXCLUDE USING gist (run_id WITH =, seat_id WITH =, legs WITH &&);
-- (which of the overlapping rows the error names depends on the index scan)
SELECT split_part(regress_error($q$INSERT INTO public.bulk_hold VALUES (7, 7, '[0,20)')$q$), ':', 1) AS sqlstate;

DROP TABLE public.seat_hold, public.bulk_hold;
