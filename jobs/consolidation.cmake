# jobs/ sources and tests of the consolidation area (target_sources(jobs PRIVATE ...), lakesync_test(...)).
