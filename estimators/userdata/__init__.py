"""A practitioner's own files: the column map of the weekly data, test readouts with partial
columns, and the monitor (test age, information decay). Input checks live here so that they can
be folded into a shared validation layer later."""
