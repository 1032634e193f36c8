"""What every GEKO service runs on: settings, database, cache, gRPC bootstrap, errors, identity."""
