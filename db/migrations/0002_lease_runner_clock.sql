-- lakesync state store, schema version 2.
--
-- leases.runner_clock_at: when the holder took the lease, by the holder's own clock (NULL for
-- leases taken by lakesync before version 2). Several daemons sharing the database each keep a
-- job's schedule; a daemon about to start a scheduled run asks for the lease only on condition
-- that no other runner took it after the run's schedule tick (Coordination::AcquireLease). The
-- comparison uses the runners' clocks because a schedule's ticks are the runners' clock times
-- (a cron fire at 02:00 is 02:00 by the clock of the daemon that fires it).
ALTER TABLE leases ADD COLUMN runner_clock_at timestamptz;
