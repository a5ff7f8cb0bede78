"""Login, tokens, sessions."""
