# db/ sources and tests of the daemon area (target_sources(db PRIVATE ...), lakesync_test(...)).
