# The fault-storm suite (issue 10): tests/chaos/. Owned by the chaos work.
