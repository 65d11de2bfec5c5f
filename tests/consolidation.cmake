# End-to-end tests of the consolidation area.
