-- lakesync state store, schema version 2.
--
-- Several daemons sharing the database each keep every job's schedule. So that a schedule tick
-- runs once, not once per daemon, a daemon about to start a scheduled run asks for the job's
-- lease only on condition that no other runner's run served the tick already
-- (Coordination::AcquireLease with a TickServed):
--
-- runner_clock_at: when the holder took the lease, by the holder's own clock. A cron fire is a
--   time on the clocks of the daemons that fire it, so a take at or after the fire by the
--   taker's clock serves it.
-- released_at: when the holder released the lease after running the job (the database's
--   clock). Only a take that ended in such a release (released_at >= acquired_at) served
--   anything: a holder that died mid-run, or that took the lease but did not run the job,
--   served nothing, and a daemon whose order for the tick comes later still runs it.
--
-- Both are NULL for leases taken before version 2; a lakesync of version 1 still running after
-- the migration updates neither, which the released_at >= acquired_at rule tells apart.
ALTER TABLE leases ADD COLUMN runner_clock_at timestamptz;
ALTER TABLE leases ADD COLUMN released_at timestamptz;
