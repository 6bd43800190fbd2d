"""Files written safely and traced to their origin: atomic writes, the git commit, content digests."""
