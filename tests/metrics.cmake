# End-to-end tests of the metrics area.
