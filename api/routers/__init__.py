"""One router per concern; each only translates HTTP to calls into geogrid."""
