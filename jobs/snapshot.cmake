# jobs/ sources and tests of the snapshot area (target_sources(jobs PRIVATE ...), lakesync_test(...)).
