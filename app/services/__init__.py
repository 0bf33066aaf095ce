"""Business logic: plain typed functions that raise small domain errors."""
