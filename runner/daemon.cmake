# runner/ sources and tests of the daemon area (target_sources(runner PRIVATE ...), lakesync_test(...)).
