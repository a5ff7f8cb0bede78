"""Files attached to hosts: streamed uploads, downloads, retention."""
