"""Offline side of inttower: data fetching and encoding, the training loop, bundle export."""
