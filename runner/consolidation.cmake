# runner/ sources and tests of the consolidation area (target_sources(runner PRIVATE ...), lakesync_test(...)).
