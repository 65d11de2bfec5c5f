# runner/ sources and tests of the snapshot area (target_sources(runner PRIVATE ...), lakesync_test(...)).
