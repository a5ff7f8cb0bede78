"""Host and container metrics: collection, time-series storage, downsampling and queries."""
