"""The wire between the two sides: length-prefixed msgpack frames over a Unix socket, the typed
messages they carry, and the cell-event vocabulary. Both sides import it; it imports neither."""
