-- P2, Redis: one key per seat per leg ("seat:RUN:SEAT:LEG" exists = sold).
-- ARGV[1] is redis-benchmark's __rand_int__ in [0, 76000), mapped to a run
-- and a journey [a, b) exactly as the pgbench scripts map theirs (see
-- pgbench/w1_ticket.pgbench).  Takes the first seat (1..1000) whose legs
-- a..b-1 are all free and sets them, atomically (a script runs alone).
-- Returns the seat, or 0 when no seat is free on every leg.  The hash
-- "stat" counts grabs and legs sold, for bench/run's correctness check.
--
-- Written as a careful Redis user writes it: a seat is given up at its
-- first taken leg (one EXISTS per leg, stopping there), instead of asking
-- for every leg of every seat with one multi-key EXISTS; on a run that
-- fills up, most seats are rejected at their first leg.
local r = tonumber(ARGV[1])
local run = math.floor(r / 380)
local x = math.floor((r % 380) / 19)
local y = r % 19
if y >= x then y = y + 1 end
local a, b = math.min(x, y), math.max(x, y)
local run_prefix = 'seat:' .. run .. ':'
for seat = 1, 1000 do
	local prefix = run_prefix .. seat .. ':'
	local free = true
	for leg = a, b - 1 do
		if redis.call('EXISTS', prefix .. leg) == 1 then
			free = false
			break
		end
	end
	if free then
		local grab = redis.call('HINCRBY', 'stat', 'grabs', 1)
		local pairs = {}
		for leg = a, b - 1 do
			pairs[#pairs + 1] = prefix .. leg
			pairs[#pairs + 1] = grab
		end
		redis.call('MSET', unpack(pairs))
		redis.call('HINCRBY', 'stat', 'legs', b - a)
		return seat
	end
end
redis.call('HINCRBY', 'stat', 'sold_out', 1)
return 0
