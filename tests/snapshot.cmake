# End-to-end tests of the snapshot area.
