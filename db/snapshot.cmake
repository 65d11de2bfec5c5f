# db/ sources and tests of the snapshot area (target_sources(db PRIVATE ...), lakesync_test(...)).
