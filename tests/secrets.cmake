# Secret-leak end-to-end tests (issue 10). Owned by the limits work.
