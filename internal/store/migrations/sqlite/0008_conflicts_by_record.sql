-- Version 7: the console's case page reads the conflicts of its records.
CREATE INDEX conflicts_a ON conflicts (a_ref);
CREATE INDEX conflicts_b ON conflicts (b_ref);
