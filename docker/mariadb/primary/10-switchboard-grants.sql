-- Run once by the mariadb image's entrypoint, on the primary's first start, after it made the
-- `switchboard` user (MARIADB_USER, all privileges on the `switchboard` database). Written to
-- the binary log, so the replicas replay it with the user itself.
--
-- The controller reads each replica's replication threads and lag with SHOW REPLICA STATUS,
-- which needs REPLICA MONITOR; without it every replica would look broken and leave the
-- read pool.
GRANT REPLICA MONITOR ON *.* TO 'switchboard'@'%';
